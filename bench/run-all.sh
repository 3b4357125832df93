#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: every benchmark scenario, both stacks
# alternating, RUNS runs each (default 3), JSON and SVG per scenario in
# bench/results/, then the markdown table. Needs root (network namespaces).
#
#   sudo bench/run-all.sh                 # everything (RUNS=3: about 40 minutes; CC=cubic)
#   RUNS=1 sudo bench/run-all.sh simult   # only scenarios whose name has "simult"
#   bench/run-all.sh --render-only        # rebuild BENCHMARKS.md from bench/results
#
# A filter keeps bench/results/machine.txt and appends a line saying what
# was re-run when (the table's other rows keep their own date).
#
# The shared-bottleneck-* scenarios run once per congestion control in
# BOTTLENECK_CCS (default "cubic lia olia balia"; results
# <scenario>-<cc>.json|svg): both stacks with cubic, Braid alone with the
# coupled ones (the kernel has none). They get their own table: MPTCP
# goodput / the competing TCP flow's goodput.
#
# The emulator is timing-sensitive and runs in the bench process: the
# machine should be otherwise idle (note it in bench/notes.md if not).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
# Congestion control of both stacks (braid perf --cc): without it the
# kernel's subflows would run the host's default (bbr on some machines).
CC=${CC:-cubic}
results=bench/results
scenarios=(scenarios/simult-flows-*.toml scenarios/hetero-wifi-lte-*.toml
  scenarios/failover-*.toml scenarios/trace-wifi-cellular-*.toml
  scenarios/cpu-one-path-unshaped.toml)
bottleneck_scenarios=(scenarios/shared-bottleneck-*.toml)
BOTTLENECK_CCS=${BOTTLENECK_CCS:-cubic lia olia balia}

if ! command -v jq >/dev/null 2>&1; then
  echo "run-all.sh: installing jq with apt-get"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq jq >/dev/null
fi

if [ "${1:-}" != "--render-only" ]; then
  filter=${1:-}
  cargo build --release -p braid-cli
  mkdir -p "$results"
  load_start=$(uptime | sed 's/.*load average: //')
  for f in "${scenarios[@]}"; do
    name=$(basename "$f" .toml)
    [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
    echo "run-all.sh: $name"
    # A scenario where no stack ran leaves its JSON empty (not rendered).
    ./target/release/braid lab bench "$f" --stack both --runs "$RUNS" --cc "$CC" \
      --json --svg "$results/$name.svg" > "$results/$name.json" ||
      echo "run-all.sh: $name: no stack ran" >&2
  done
  for f in "${bottleneck_scenarios[@]}"; do
    name=$(basename "$f" .toml)
    [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
    for cc in $BOTTLENECK_CCS; do
      # The kernel has no coupled congestion control: Braid alone there.
      stack=braid; [ "$cc" = cubic ] && stack=both
      echo "run-all.sh: $name --cc $cc"
      ./target/release/braid lab bench "$f" --stack "$stack" --runs "$RUNS" --cc "$cc" \
        --json --svg "$results/$name-$cc.svg" > "$results/$name-$cc.json" ||
        echo "run-all.sh: $name --cc $cc: no stack ran" >&2
    done
  done
  load_end=$(uptime | sed 's/.*load average: //')
  if [ -n "$filter" ] && [ -f "$results/machine.txt" ]; then
    echo "re-run $(date -u +%Y-%m-%dT%H:%MZ): scenarios matching \"$filter\", RUNS=$RUNS, load $load_start to $load_end" \
      >> "$results/machine.txt"
  else
    {
      echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
      echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), Linux $(uname -r)"
      echo "build: release, $(rustc --version)"
      echo "runs per stack: $RUNS, alternating kernel, braid"
      echo "congestion control asked for: $CC (both stacks; kernel as read back in the cc column)"
      echo "load average (1, 5, 15 min) at start: $load_start; at end: $load_end"
    } > "$results/machine.txt"
  fi
fi

# The markdown table from the JSON reports: two rows per scenario, kernel
# then braid; a stack that did not run says so with its error.
render() {
  jq -r -s '
    def n(x; d): if x == null then "–" else ((x * pow(10; d) | round) / pow(10; d) | tostring) end;
    def spread(s; k; f; d):
      if s.available and s[k] != null then
        n(s[k] / f; d) + " [" +
        n(if s.min[k] == null then null else s.min[k] / f end; d) + "–" +
        n(if s.max[k] == null then null else s.max[k] / f end; d) + "]"
      else "–" end;
    def paths(s): [s.subflows[] | "\(.name) \(n(.bytes / 1048576; 1))"] | join(", ");
    def verdict(s): if s.bound_ms == null then "" elif s.pass then "PASS \(s.passed_runs)/\(s.runs | length) (≤ \(n(s.bound_ms; 0)) ms)" else "**FAIL** \(s.passed_runs)/\((s.runs | length) + (s.failed_runs | length)) (≤ \(n(s.bound_ms; 0)) ms)" end;
    def failures(s): if (s.failed_runs | length) == 0 then "" else "\(s.failed_runs | length) run(s) failed: \(s.failed_runs[0] | gsub("\\|"; "/"))" end;
    def row(name; w; s; ratio):
      if s == null then "| `\(name)` | \(w) | – | not run | | | | | | | |"
      elif s.available | not then
        "| `\(name)` | \(w) | \(s.stack) | **failed**: \((s.error // "no run succeeded") | gsub("\\|"; "/")) | | | | | \(verdict(s)) | \(s.cc // "") | |"
      else
        "| `\(name)` | \(w) | \(s.stack) | \(spread(s; "goodput_bps"; 1e6; 2)) | \(spread(s; "completion_s"; 1; 2)) | \(spread(s; "max_stall_ms"; 1; 0)) | \(n(s.cpu_s_per_gb; 1)) | \(paths(s)) | \([verdict(s), failures(s)] | map(select(. != "")) | join("; ")) | \(s.cc // "?") | \(ratio) |"
      end;
    "| scenario | workload | stack | goodput Mbit/s, median [min–max] | completion s | max stall ms | CPU s/GB | per path MiB (median) | bound / failures | cc | ratio braid/kernel (goodput, completion, stall) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    (.[] |
      row(.scenario; .workload; .kernel; ""),
      row(.scenario; ""; .braid; "\(n(.ratio.goodput; 2)), \(n(.ratio.completion; 2)), \(n(.ratio.max_stall; 2))"))
  ' "$@"
}

# The shared-bottleneck table: one row per stack and congestion control,
# MPTCP goodput against the competing plain TCP flow's, each run's ratio.
render_bottleneck() {
  jq -r -s '
    def n(x; d): if x == null then "–" else ((x * pow(10; d) | round) / pow(10; d) | tostring) end;
    def sp(x; f; d): if x == null then "–" else n(x.median / f; d) + " [" + n(x.min / f; d) + "–" + n(x.max / f; d) + "]" end;
    def coupled(s): (s.cc // "") | test("^(lia|olia|balia)");
    def goal(s):
      if (coupled(s) | not) or s.mptcp_to_tcp == null then ""
      elif s.mptcp_to_tcp.median >= 0.85 and s.mptcp_to_tcp.median <= 1.1 then "within [0.85, 1.1]"
      else "**outside** [0.85, 1.1]" end;
    def row(name; s):
      if s == null then empty
      elif s.available | not then
        "| `\(name)` | \(s.stack) | \(s.cc // "?") | **failed**: \((s.error // "no run succeeded") | gsub("\\|"; "/")) | | | | |"
      else
        "| `\(name)` | \(s.stack) | \(s.cc // "?") | \(sp({median: s.goodput_bps, min: s.min.goodput_bps, max: s.max.goodput_bps}; 1e6; 2)) | \(sp(s.competitor_goodput_bps; 1e6; 2)) | \(s.competitor_cc // "?") | \(sp(s.mptcp_to_tcp; 1; 2)) | \(goal(s)) |"
      end;
    "| scenario | stack | cc | MPTCP goodput Mbit/s, median [min–max] | TCP goodput Mbit/s | TCP cc | MPTCP/TCP per run, median [min–max] | goal (coupled) |",
    "|---|---|---|---|---|---|---|---|",
    (.[] | row(.scenario; .kernel), row(.scenario; .braid))
  ' "$@"
}

# The path-return table: scenarios where a path comes back within the run
# (issue #12), how long after its return it carried payload again.
render_returns() {
  jq -r -s '
    def n(x; d): if x == null then "–" else ((x * pow(10; d) | round) / pow(10; d) | tostring) end;
    def back(s):
      if s == null or (s.available | not) then "–"
      else
        (if s.path_return_s == null then "–"
         else n(s.path_return_s.median; 2) + " [" + n(s.path_return_s.min; 2) + "–" + n(s.path_return_s.max; 2) + "]" end)
        + (if (s.path_never_returned_runs // 0) > 0 then "; **never back** in \(s.path_never_returned_runs) run(s)" else "" end)
      end;
    def returns: [(.kernel, .braid) | select(. != null) | .runs[] | (.path_returns // []) | length] | add // 0;
    (map(select(returns > 0)) | if length == 0 then empty else
      "| scenario | kernel: path return s, median [min–max] | braid | ratio braid/kernel |",
      "|---|---|---|---|",
      (.[] | "| `\(.scenario)` | \(back(.kernel)) | \(back(.braid)) | \(n(.ratio.path_return; 2)) |")
    end)
  ' "$@"
}

bfiles=()
for f in "${bottleneck_scenarios[@]}"; do
  for cc in $BOTTLENECK_CCS; do
    j="$results/$(basename "$f" .toml)-$cc.json"
    [ -s "$j" ] && bfiles+=("$j")
  done
done

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

Both stacks run the same congestion control, CUBIC by default (`--cc`,
`CC=` here): the lab namespaces otherwise inherit the host's default,
which on this machine is BBR, while Braid runs CUBIC. The kernel's
sockets get `TCP_CONGESTION` (an MPTCP socket passes it to its subflows)
and the `cc` column is what the kernel socket reads back; Braid's is its
own controller. A stack that did not run is shown as failed with its
error, never with numbers.

Regenerate (root; RUNS=3 took 29 minutes here on an idle machine, plus 11 for the shared-bottleneck rows;
"where Braid loses" and the fairness caveats are in the notes below the table):

```sh
sudo RUNS=3 bench/run-all.sh   # writes bench/results/*.json|svg and this file
```

HEAD
  echo '```'
  cat "$results/machine.txt"
  echo '```'
  echo
  render "${files[@]}"
  echo
  echo "Throughput over time per path, first run of each stack: \`bench/results/<scenario>.svg\`."
  returns=$(render_returns "${files[@]}")
  if [ -n "$returns" ]; then
    echo
    echo "## Path return"
    echo
    echo "A path that comes back after a blackout: seconds from its return to the end"
    echo "of the first 100 ms sampling interval in which its subflows moved payload"
    echo "(\`path_return_s\` in the JSON; the client's per-subflow counters, the same"
    echo "probe for both stacks; an upper bound, at most one interval late)."
    echo
    echo "$returns"
  fi
  if [ ${#bfiles[@]} -gt 0 ]; then
    echo
    echo "## Shared bottleneck: MPTCP against one TCP flow"
    echo
    echo "\`shared-bottleneck-N\`: N subflows, one path each, all crossing one 20 Mbit/s"
    echo "link (15 ms one way, 75-packet drop-tail queue) that one plain kernel TCP flow"
    echo "(CUBIC) crosses too, both flows timed alike (20 s upload). The ratio is MPTCP"
    echo "goodput / TCP goodput per run: RFC 6356's second goal is that a coupled"
    echo "controller (LIA, OLIA, BALIA) takes no more than one TCP flow would (about 1;"
    echo "the goal set here: within [0.85, 1.1]). Uncoupled CUBIC subflows each act as one"
    echo "TCP. The kernel has no coupled controller, so only Braid runs those rows."
    echo
    render_bottleneck "${bfiles[@]}"
    echo
    echo "Per cc: \`bench/results/<scenario>-<cc>.json|svg\`."
  fi
  if [ -f bench/notes.md ]; then echo; cat bench/notes.md; fi
} > BENCHMARKS.md
echo "run-all.sh: wrote BENCHMARKS.md"
