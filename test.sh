#!/usr/bin/env bash
# Runs every Braid test. Installs what the tests need when missing: tshark;
# for the lab tests (root: network namespaces) ip, ping, and iperf3 (the lab's
# suggested load tool); for the gateway's lab tests python3, curl, mptcpize
# and nft; conntrack for the UDP NAT rebinding lab test.
# Usage: ./test.sh            (as root, or with sudo available, for apt-get)
set -euo pipefail
cd "$(dirname "$0")"

need_pkgs=()
command -v tshark >/dev/null 2>&1 || need_pkgs+=(tshark)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v ping >/dev/null 2>&1 || need_pkgs+=(iputils-ping)
command -v iperf3 >/dev/null 2>&1 || need_pkgs+=(iperf3)
# The gateway lab tests: an HTTP server, curl through the proxy, a kernel
# MPTCP client (mptcpize), nftables for the transparent-mode redirect.
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v mptcpize >/dev/null 2>&1 || need_pkgs+=(mptcpize)
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)
# The UDP NAT lab test flushes the lab router's connection tracking.
command -v conntrack >/dev/null 2>&1 || need_pkgs+=(conntrack)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_pkgs[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "test.sh: cargo build --release (the braid binary the long lab runs use)"
cargo build --release --locked -p braid-cli
export BRAID_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/braid"
echo "test.sh: cargo test"
cargo test --workspace --locked
echo "test.sh: long simulated transfer past 2^32 bytes (release build)"
cargo test --release --locked -p braid-sim --test seq_boundaries -- --ignored
