#!/usr/bin/env bash
# Long transfers past every sequence-space boundary at full size (issue #10),
# the runs test.sh also makes, with their figures printed:
# - simulator: 4.75 GiB over two paths, the fast subflow past 2^32 bytes;
# - simulator: the tcp_speed example moving 4500 MiB over MPTCP;
# - lab (root): 5 GiB byte-exact on one unshaped path, braid->braid,
#   kernel->braid, braid->kernel, with the release binary.
# Usage: scripts/long-transfers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p braid-cli
export BRAID_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/braid"
echo "long-transfers.sh: simulator, 4.75 GiB over two paths"
cargo test --release --locked -p braid-sim --test seq_boundaries -- --ignored --nocapture
echo "long-transfers.sh: simulator, tcp_speed 4500 MiB mptcp"
cargo run --release --locked -p braid-sim --example tcp_speed -- 4500 mptcp
echo "long-transfers.sh: lab, 5 GiB each way"
cargo test --locked -p braid-cli --test perf_braid five_gib_each_way -- --nocapture
