#!/usr/bin/env bash
# Soak: Braid <-> Braid, one connection per direction over the two shaped,
# lossy paths of scenarios/soak-two-lossy-paths.toml, byte-exact (the
# receiver verifies every byte of the seeded payload; a wrong byte, a reset
# or a stall fails the run). Bounded: MINUTES in total (default 30), half
# upload, half download. Needs root (network namespaces).
# Usage: scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
case "$minutes" in
  ''|*[!0-9]*) echo "soak.sh: MINUTES must be a whole number, got '$minutes'" >&2; exit 2 ;;
esac
[ "$minutes" -ge 2 ] || { echo "soak.sh: MINUTES must be at least 2" >&2; exit 2; }
half=$(( minutes * 30 ))
cargo build --release --locked -p braid-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/braid"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for dir in upload download; do
  sed -e "s/^duration_s = .*/duration_s = $half.0/" \
      -e "s/^direction = .*/direction = \"$dir\"/" \
      -e "0,/^name = /s/^name = .*/name = \"soak-$dir\"/" \
      scenarios/soak-two-lossy-paths.toml > "$tmp/soak-$dir.toml"
  echo "soak.sh: $dir for $half s"
  if "$bin" lab bench "$tmp/soak-$dir.toml" --stack braid --runs 1 --json > "$tmp/$dir.json"; then
    python3 - "$tmp/$dir.json" "$dir" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b = r["braid"]
run = b["runs"][0]
paths = ", ".join(f'{p["name"]} {p["bytes"] / 2**30:.2f} GiB' for p in run["subflows"])
print(f'soak.sh: {sys.argv[2]}: {run["bytes"] / 2**30:.2f} GiB verified={run["verified"]} '
      f'goodput {run["goodput_bps"] / 1e6:.1f} Mbit/s, max stall {run["max_stall_ms"]:.0f} ms, '
      f'{run["cpu_s_per_gb"]:.1f} cpu s/GB; {paths}; scheduler {b.get("scheduler")}, cc {b.get("cc")}')
PY
  else
    echo "soak.sh: $dir FAILED" >&2
    cat "$tmp/$dir.json" >&2 || true
    status=1
  fi
done
exit $status
