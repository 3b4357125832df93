#!/usr/bin/env bash
# The long seeded sweep (issue #14): SEEDS simulator seeds (default 10,000)
# from FIRST (default 1), each one transfer between two Braid endpoints on
# braid-sim over 1 to 3 paths with random impairments (delay, jitter,
# reordering, loss, duplication, rate limits, blackouts), upload or
# download, checked byte for byte (crates/braid-sim/tests/seed_sweep.rs).
# Bounded: at most MINUTES of wall-clock time (default 60); seeds not run
# by then are reported. Prints seeds run, failures with the command that
# replays each, and the runtime. Not part of CI (./test.sh).
#
# The build takes the shared build lock when BUILD_LOCK names one
# (e.g. BUILD_LOCK=/tmp/braid-build.lock); the sweep itself runs niced,
# without it.
# Usage: scripts/seed-sweep.sh [SEEDS] [FIRST] [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-10000}"
first="${2:-1}"
minutes="${3:-60}"
for v in "$seeds" "$first" "$minutes"; do
  case "$v" in
    ''|*[!0-9]*) echo "seed-sweep.sh: SEEDS, FIRST and MINUTES must be whole numbers, got '$v'" >&2; exit 2 ;;
  esac
done
[ "$seeds" -ge 1 ] && [ "$minutes" -ge 1 ] || { echo "seed-sweep.sh: SEEDS and MINUTES must be at least 1" >&2; exit 2; }

lock=()
[ -n "${BUILD_LOCK:-}" ] && lock=(flock "$BUILD_LOCK")
echo "seed-sweep.sh: building (release)"
bin=$("${lock[@]}" cargo test --release --locked -p braid-sim --test seed_sweep --no-run \
  --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "seed_sweep":
        print(m["executable"])')
[ -n "$bin" ] || { echo "seed-sweep.sh: build failed (run the cargo command above by hand to see why)" >&2; exit 1; }

echo "seed-sweep.sh: $seeds seeds from $first, at most $minutes min"
start=$(date +%s)
status=0
# The test stops itself at the budget; the hard kill a minute later only
# catches a hang inside one seed.
SWEEP_SEEDS="$seeds" SWEEP_FIRST="$first" SWEEP_SECS=$(( minutes * 60 )) \
  timeout -s KILL $(( minutes * 60 + 60 )) nice -n 19 "$bin" --ignored --nocapture --test-threads 1 seed_sweep \
  || status=$?
end=$(date +%s)
echo "seed-sweep.sh: wall-clock $(( end - start )) s, exit status $status"
[ "$status" -eq 137 ] && echo "seed-sweep.sh: KILLED after the time budget: one seed hung (the last seed-sweep progress line says where)" >&2
exit "$status"
