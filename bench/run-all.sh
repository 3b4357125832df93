#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: every benchmark scenario, both stacks
# alternating, RUNS runs each (default 3), JSON and SVG per scenario in
# bench/results/, then the markdown table. Needs root (network namespaces).
#
#   sudo bench/run-all.sh                 # everything (about 15 minutes)
#   RUNS=1 sudo bench/run-all.sh simult   # only scenarios whose name has "simult"
#   bench/run-all.sh --render-only        # rebuild BENCHMARKS.md from bench/results
#
# The emulator is timing-sensitive and runs in the bench process: the
# machine should be otherwise idle (note it in bench/notes.md if not).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
results=bench/results
scenarios=(scenarios/simult-flows-*.toml scenarios/hetero-wifi-lte-*.toml
  scenarios/failover-*.toml scenarios/trace-wifi-cellular-*.toml
  scenarios/cpu-one-path-unshaped.toml)

if ! command -v jq >/dev/null 2>&1; then
  echo "run-all.sh: installing jq with apt-get"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq jq >/dev/null
fi

if [ "${1:-}" != "--render-only" ]; then
  filter=${1:-}
  cargo build --release -p braid-cli
  mkdir -p "$results"
  for f in "${scenarios[@]}"; do
    name=$(basename "$f" .toml)
    [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
    echo "run-all.sh: $name"
    ./target/release/braid lab bench "$f" --stack both --runs "$RUNS" --json \
      --svg "$results/$name.svg" > "$results/$name.json"
  done
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), Linux $(uname -r)"
    echo "build: release, $(rustc --version)"
    echo "runs per stack: $RUNS"
  } > "$results/machine.txt"
fi

# The markdown table from the JSON reports.
render() {
  jq -r -s '
    def n(x; d): if x == null then "–" else ((x * pow(10; d) | round) / pow(10; d) | tostring) end;
    def mbit(x): n(if x == null then null else x / 1e6 end; 2);
    def spread(s; k; f; d):
      if s.available and s[k] != null then
        n(if s[k] == null then null else s[k] / f end; d) + " [" +
        n(if s.min[k] == null then null else s.min[k] / f end; d) + "–" +
        n(if s.max[k] == null then null else s.max[k] / f end; d) + "]"
      else "–" end;
    def paths(s): [s.subflows[] | "\(.name) \(n(.bytes / 1048576; 1))"] | join(", ") + " MiB";
    def verdict(s): if s.bound_ms == null then "" elif s.pass then "PASS \(s.passed_runs)/\(s.runs | length) (≤ \(n(s.bound_ms; 0)) ms)" else "**FAIL** \(s.passed_runs)/\(s.runs | length + (s.failed_runs | length)) (≤ \(n(s.bound_ms; 0)) ms)" end;
    def braid(s): if s == null then "not run" elif s.available then "\(mbit(s.goodput_bps)) Mbit/s" else "not yet" end;
    "| scenario | workload | kernel goodput Mbit/s, median [min–max] | completion s | max stall ms | CPU s/GB | kernel per path (median) | bound | braid | ratio braid/kernel (goodput, completion, stall) |",
    "|---|---|---|---|---|---|---|---|---|---|",
    (.[] | .kernel as $k |
      "| `\(.scenario)` | \(.workload) | \(spread($k; "goodput_bps"; 1e6; 2)) | \(spread($k; "completion_s"; 1; 2)) | \(spread($k; "max_stall_ms"; 1; 0)) | \(n($k.cpu_s_per_gb; 1)) | \(paths($k)) | \(verdict($k)) | \(braid(.braid)) | \(n(.ratio.goodput; 2)), \(n(.ratio.completion; 2)), \(n(.ratio.max_stall; 2)) |")
  ' "$@"
}

files=()
for f in "${scenarios[@]}"; do
  j="$results/$(basename "$f" .toml).json"
  [ -s "$j" ] && files+=("$j")
done
[ ${#files[@]} -gt 0 ] || { echo "run-all.sh: no results in $results" >&2; exit 1; }

{
  cat <<'HEAD'
# Benchmarks: Braid against the Linux kernel's MPTCP

Both stacks run the same scenario on the same emulated paths (`braid lab
bench`, scenarios in `scenarios/`, format and workload keys in
`scenarios/README.md`), runs alternating kernel, braid, kernel, ...; each
figure is the median over the runs with [min–max]. Goodput and completion
are measured at the receiving application (first to last byte); max stall
is the longest gap between deliveries to it; CPU is client plus server
process time per 10^9 payload bytes. Ratios are braid/kernel of the
medians (goodput above 1, completion and stall below 1 favour Braid).
Absolute figures drift on this shared machine; the ratios are the point.

Braid's column says "not yet": its userspace stack is being wired into
its runtime, and the bench reports it as unavailable ("the braid stack
needs the runtime") rather than inventing numbers.

Regenerate (root, about 15 minutes, idle machine):

```sh
sudo bench/run-all.sh          # writes bench/results/*.json|svg and this file
```

HEAD
  echo '```'
  cat "$results/machine.txt"
  echo '```'
  echo
  render "${files[@]}"
  echo
  echo "Throughput over time per path, first run of each stack: \`bench/results/<scenario>.svg\`."
  if [ -f bench/notes.md ]; then echo; cat bench/notes.md; fi
} > BENCHMARKS.md
echo "run-all.sh: wrote BENCHMARKS.md"
