//! The figures of a bench: one run's, a stack's over its runs (median,
//! min, max), and the ratio braid/kernel of the medians. This is the JSON
//! `braid lab bench --json` prints.

use serde::{Deserialize, Serialize};

use crate::report::{PerfResult, ServerSession};
use crate::stack::Stack;

/// Bytes one path carried in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathBytes {
    /// Path number, 1-based.
    pub path: usize,
    /// The path's name in the scenario.
    pub name: String,
    /// Payload-direction bytes of every subflow on this path, seen from
    /// the client (upload: acked by the server; download: received).
    pub bytes: u64,
}

/// A window in which a path carried nothing in the payload's direction
/// (a scenario blackout), in seconds of the lab's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// Path number, 1-based.
    pub path: usize,
    /// The path's name in the scenario.
    pub name: String,
    /// First second of the outage.
    pub start_s: f64,
    /// First second after it.
    pub end_s: f64,
}

/// How long after an outage ended its path carried payload again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathReturn {
    /// Path number, 1-based.
    pub path: usize,
    /// The path's name in the scenario.
    pub name: String,
    /// When the path came back, seconds of the lab's timeline.
    pub back_at_s: f64,
    /// From its return to the end of the first sampling interval in which
    /// the path's subflows moved payload (client view, as `subflows`), s:
    /// an upper bound, at most one interval (100 ms) late. `None`: not
    /// before the run ended.
    pub delay_s: Option<f64>,
    /// From its return to the end of the run, s (how long it had).
    pub run_left_s: f64,
    /// Payload bytes the path's subflows moved in the sampling intervals
    /// that lie wholly inside the outage (0 when the path was dark).
    pub bytes_while_dark: u64,
    /// End of the last sampling interval, before the outage's end, in
    /// which the path moved payload, lab seconds: just after the outage's
    /// start when the path was busy then (a check of the clocks' lining
    /// up). `None`: it moved nothing before.
    #[serde(default)]
    pub last_before_s: Option<f64>,
}

/// Every outage that ended before the run did, and when its path carried
/// payload again. The client's interval samples are lined up with the
/// lab's timeline by wall-clock time: `lab_start_unix_s` is the lab's
/// `t = 0`, the client's `intervals_start_unix_s` its intervals' start.
pub fn path_returns(
    client: &PerfResult,
    outages: &[Outage],
    lab_start_unix_s: f64,
) -> Vec<PathReturn> {
    let Some(start) = client.intervals_start_unix_s else {
        return Vec::new();
    };
    let offset = start - lab_start_unix_s;
    // (from, to, interval) in lab seconds: each interval covers (from, to].
    let mut spans = Vec::with_capacity(client.intervals.len());
    let mut from = offset;
    for iv in &client.intervals {
        let to = offset + iv.t_s;
        spans.push((from, to, iv));
        from = to;
    }
    let run_end = from;
    outages
        .iter()
        .filter(|o| o.end_s < run_end)
        .map(|o| {
            let carried = |iv: &crate::report::IntervalSample| -> u64 {
                iv.subflows
                    .iter()
                    .filter(|s| s.local.and_then(path_of) == Some(o.path))
                    .map(|s| s.bytes)
                    .sum()
            };
            let delay_s = spans
                .iter()
                .find(|(from, to, iv)| *from >= o.start_s && *to > o.end_s && carried(iv) > 0)
                .map(|(_, to, _)| to - o.end_s);
            let bytes_while_dark = spans
                .iter()
                .filter(|(from, to, _)| *from >= o.start_s && *to <= o.end_s)
                .map(|(_, _, iv)| carried(iv))
                .sum();
            let last_before_s = spans
                .iter()
                .filter(|(_, to, iv)| *to <= o.end_s && carried(iv) > 0)
                .map(|(_, to, _)| *to)
                .reduce(f64::max);
            PathReturn {
                path: o.path,
                name: o.name.clone(),
                back_at_s: o.end_s,
                delay_s,
                run_left_s: run_end - o.end_s,
                bytes_while_dark,
                last_before_s,
            }
        })
        .collect()
}

/// One run of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Run number within the stack, 1-based.
    pub run: usize,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Goodput, bit/s.
    pub goodput_bps: f64,
    /// Completion time of a fixed-size transfer, seconds.
    pub completion_s: Option<f64>,
    /// Longest delivery gap at the receiving application, ms.
    pub max_stall_ms: f64,
    /// CPU seconds of client and server together.
    pub cpu_s: f64,
    /// CPU seconds (client + server) per 10^9 payload bytes.
    pub cpu_s_per_gb: f64,
    /// Every byte arrived intact and in order.
    pub verified: bool,
    /// Kernel MPTCP: the connection fell back to TCP.
    pub mptcp_fallback: Option<bool>,
    /// Bytes per path.
    pub subflows: Vec<PathBytes>,
    /// Within the scenario's pass bound (when it has one).
    pub pass: Option<bool>,
    /// Congestion control in use: the kernel's as read back from the
    /// client's socket (`TCP_CONGESTION`), "server" added when the server's
    /// differs; the braid stack's controller.
    #[serde(default)]
    pub cc: Option<String>,
    /// MPTCP packet scheduler of the client's connection.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Goodput of the scenario's competing plain TCP flow, bit/s, run
    /// over the same time (scenarios with a `[competitor]`).
    #[serde(default)]
    pub competitor_goodput_bps: Option<f64>,
    /// The competing flow's congestion control, as its socket reads it back.
    #[serde(default)]
    pub competitor_cc: Option<String>,
    /// MPTCP goodput / the competing TCP flow's goodput.
    #[serde(default)]
    pub mptcp_to_tcp: Option<f64>,
    /// Every blackout of a path (payload direction) that ended before the
    /// run did, and how long after it the path carried payload again.
    #[serde(default)]
    pub path_returns: Vec<PathReturn>,
    /// The longest of `path_returns`' delays, s. `None` when no blackout
    /// ended within the run, or when a path never carried payload again
    /// (then `path_returns` says which).
    #[serde(default)]
    pub path_return_s: Option<f64>,
}

impl RunFigures {
    /// Puts a run's client and server reports together; `paths` names the
    /// scenario's paths (path `i` is the client subnet `10.0.<i>.0/24`).
    pub fn new(
        run: usize,
        client: &PerfResult,
        server: Option<&ServerSession>,
        competitor: Option<&PerfResult>,
        paths: &[String],
        bound_ms: Option<f64>,
    ) -> Self {
        let mut subflows: Vec<PathBytes> = paths
            .iter()
            .enumerate()
            .map(|(i, name)| PathBytes {
                path: i + 1,
                name: name.clone(),
                bytes: 0,
            })
            .collect();
        for s in &client.subflows {
            if let Some(p) = s
                .local
                .and_then(path_of)
                .and_then(|p| subflows.get_mut(p - 1))
            {
                p.bytes += s.bytes;
            }
        }
        let cpu_s = client.cpu_s + server.map_or(0.0, |s| s.cpu_s);
        Self {
            run,
            bytes: client.bytes,
            goodput_bps: client.goodput_bps,
            completion_s: client.completion_s,
            max_stall_ms: client.max_stall_ms,
            cpu_s,
            cpu_s_per_gb: if client.bytes > 0 {
                cpu_s / (client.bytes as f64 / 1e9)
            } else {
                0.0
            },
            verified: client.verified,
            mptcp_fallback: client.mptcp_fallback,
            subflows,
            pass: bound_ms.map(|b| client.completion_s.is_some_and(|c| c * 1000.0 <= b)),
            cc: match (&client.used.cc, server.and_then(|s| s.used.cc.as_ref())) {
                (Some(c), Some(s)) if c != s => Some(format!("{c} (server {s})")),
                (c, s) => c.clone().or_else(|| s.cloned()),
            },
            scheduler: client.used.scheduler.clone(),
            competitor_goodput_bps: competitor.map(|c| c.goodput_bps),
            competitor_cc: competitor.and_then(|c| c.used.cc.clone()),
            mptcp_to_tcp: competitor
                .filter(|c| c.goodput_bps > 0.0)
                .map(|c| client.goodput_bps / c.goodput_bps),
            path_returns: Vec::new(),
            path_return_s: None,
        }
    }

    /// Sets `path_returns` and `path_return_s`.
    pub fn set_path_returns(&mut self, returns: Vec<PathReturn>) {
        self.path_return_s = if returns.iter().all(|r| r.delay_s.is_some()) {
            returns.iter().filter_map(|r| r.delay_s).reduce(f64::max)
        } else {
            None
        };
        self.path_returns = returns;
    }

    /// A path came back within the run and never carried payload again.
    pub fn path_never_returned(&self) -> bool {
        self.path_returns.iter().any(|r| r.delay_s.is_none())
    }
}

/// The path a local address is on: `10.0.<i>.x` or `10.1.<i>.x` is path i.
pub fn path_of(addr: std::net::SocketAddr) -> Option<usize> {
    match addr.ip() {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            (o[0] == 10 && o[1] <= 1 && o[2] >= 1).then_some(usize::from(o[2]))
        }
        std::net::IpAddr::V6(_) => None,
    }
}

/// Median, minimum and maximum of one figure over the runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Spread {
    /// `None` for no values.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// The minimum or maximum of each figure over a stack's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extremes {
    /// Goodput, bit/s.
    pub goodput_bps: f64,
    /// Completion time, seconds (fixed-size transfers).
    pub completion_s: Option<f64>,
    /// Longest stall, ms.
    pub max_stall_ms: f64,
    /// CPU seconds per 10^9 bytes.
    pub cpu_s_per_gb: f64,
}

/// One stack's results over its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSummary {
    /// The stack.
    pub stack: Stack,
    /// At least one run succeeded.
    pub available: bool,
    /// Why the stack could not run (when it could not), or the first
    /// failed run's error.
    pub error: Option<String>,
    /// Median goodput, bit/s.
    pub goodput_bps: Option<f64>,
    /// Median completion time, seconds (fixed-size transfers).
    pub completion_s: Option<f64>,
    /// Median longest stall, ms.
    pub max_stall_ms: Option<f64>,
    /// Median CPU seconds (client + server) per 10^9 payload bytes.
    pub cpu_s_per_gb: Option<f64>,
    /// Median bytes per path.
    pub subflows: Vec<PathBytes>,
    /// Minimum of each figure.
    pub min: Option<Extremes>,
    /// Maximum of each figure.
    pub max: Option<Extremes>,
    /// Congestion control in use in the first run (see [`RunFigures::cc`]).
    #[serde(default)]
    pub cc: Option<String>,
    /// MPTCP packet scheduler in the first run.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Pass bound of the scenario, ms (simult_flows cases).
    pub bound_ms: Option<f64>,
    /// Runs within the bound, when there is one.
    pub passed_runs: Option<usize>,
    /// Every run passed (and there was at least one).
    pub pass: Option<bool>,
    /// The competing plain TCP flow's goodput, bit/s, over the runs
    /// (scenarios with a `[competitor]`).
    #[serde(default)]
    pub competitor_goodput_bps: Option<Spread>,
    /// Its congestion control in the first run, as read back.
    #[serde(default)]
    pub competitor_cc: Option<String>,
    /// MPTCP goodput / competing TCP goodput, over the runs (each run's
    /// ratio; the median is not the ratio of the medians).
    #[serde(default)]
    pub mptcp_to_tcp: Option<Spread>,
    /// How long after a blackout ended its path carried payload again
    /// (each run's `path_return_s`), over the runs where it did.
    #[serde(default)]
    pub path_return_s: Option<Spread>,
    /// Runs in which a path came back and never carried payload again
    /// before the run ended (not in `path_return_s`).
    #[serde(default)]
    pub path_never_returned_runs: usize,
    /// Each successful run's figures.
    pub runs: Vec<RunFigures>,
    /// Runs that failed, with their errors.
    pub failed_runs: Vec<String>,
}

impl StackSummary {
    /// Summarizes `runs`; `failed` are the errors of runs that failed.
    pub fn new(
        stack: Stack,
        runs: Vec<RunFigures>,
        failed: Vec<String>,
        bound_ms: Option<f64>,
    ) -> Self {
        let goodput = Spread::of(runs.iter().map(|r| r.goodput_bps));
        let completion = Spread::of(runs.iter().filter_map(|r| r.completion_s));
        let stall = Spread::of(runs.iter().map(|r| r.max_stall_ms));
        let cpu = Spread::of(runs.iter().map(|r| r.cpu_s_per_gb));
        let extremes = |pick: fn(&Spread) -> f64| {
            Some(Extremes {
                goodput_bps: pick(goodput.as_ref()?),
                completion_s: completion.as_ref().map(pick),
                max_stall_ms: pick(stall.as_ref()?),
                cpu_s_per_gb: cpu.as_ref().map_or(0.0, pick),
            })
        };
        let subflows = runs
            .first()
            .map(|first| {
                first
                    .subflows
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PathBytes {
                        bytes: Spread::of(
                            runs.iter()
                                .map(|r| r.subflows.get(i).map_or(0.0, |s| s.bytes as f64)),
                        )
                        .map_or(0, |s| s.median.round() as u64),
                        ..p.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let passed_runs = bound_ms.map(|_| runs.iter().filter(|r| r.pass == Some(true)).count());
        Self {
            stack,
            available: !runs.is_empty(),
            error: failed.first().cloned(),
            goodput_bps: goodput.map(|s| s.median),
            completion_s: completion.map(|s| s.median),
            max_stall_ms: stall.map(|s| s.median),
            cpu_s_per_gb: cpu.map(|s| s.median),
            subflows,
            min: extremes(|s| s.min),
            max: extremes(|s| s.max),
            cc: runs.first().and_then(|r| r.cc.clone()),
            scheduler: runs.first().and_then(|r| r.scheduler.clone()),
            bound_ms,
            passed_runs,
            pass: passed_runs.map(|p| !runs.is_empty() && p == runs.len() && failed.is_empty()),
            competitor_goodput_bps: Spread::of(
                runs.iter().filter_map(|r| r.competitor_goodput_bps),
            ),
            competitor_cc: runs.first().and_then(|r| r.competitor_cc.clone()),
            mptcp_to_tcp: Spread::of(runs.iter().filter_map(|r| r.mptcp_to_tcp)),
            path_return_s: Spread::of(runs.iter().filter_map(|r| r.path_return_s)),
            path_never_returned_runs: runs.iter().filter(|r| r.path_never_returned()).count(),
            runs,
            failed_runs: failed,
        }
    }
}

/// braid / kernel of the medians; `None` when either side is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Goodput ratio (above 1: Braid faster).
    pub goodput: Option<f64>,
    /// Completion time ratio (below 1: Braid faster).
    pub completion: Option<f64>,
    /// Longest stall ratio (below 1: Braid stalls less).
    pub max_stall: Option<f64>,
    /// Path return delay ratio (below 1: Braid uses a returning path
    /// sooner); `None` when either stack had a run whose path never came
    /// back.
    #[serde(default)]
    pub path_return: Option<f64>,
}

impl Ratio {
    /// The ratios of `braid` to `kernel`.
    pub fn of(braid: Option<&StackSummary>, kernel: Option<&StackSummary>) -> Self {
        let r = |f: fn(&StackSummary) -> Option<f64>| {
            let (b, k) = (f(braid?)?, f(kernel?)?);
            (k > 0.0).then_some(b / k)
        };
        Self {
            goodput: r(|s| s.goodput_bps),
            completion: r(|s| s.completion_s),
            max_stall: r(|s| s.max_stall_ms),
            path_return: r(|s| {
                (s.path_never_returned_runs == 0).then_some(s.path_return_s?.median)
            }),
        }
    }
}

/// The whole bench: `braid lab bench --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's description.
    pub description: String,
    /// Workload in words: "16.00 MiB upload" or "10 s download".
    pub workload: String,
    /// Runs asked for per stack.
    pub runs_per_stack: usize,
    /// The competing plain TCP flow, in words, when the scenario has one:
    /// "plain TCP (kernel, cubic) on path 1, same direction and time".
    #[serde(default)]
    pub competitor: Option<String>,
    /// The kernel's results, if it was benched.
    pub kernel: Option<StackSummary>,
    /// Braid's results, if it was benched.
    pub braid: Option<StackSummary>,
    /// braid / kernel of the medians.
    pub ratio: Ratio,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([4.0, 1.0]).unwrap().median, 2.5);
        assert!(Spread::of([]).is_none());
    }

    #[test]
    fn addresses_map_to_paths() {
        assert_eq!(path_of("10.0.2.2:40000".parse().unwrap()), Some(2));
        assert_eq!(path_of("10.0.1.100:1".parse().unwrap()), Some(1));
        assert_eq!(path_of("192.168.1.1:1".parse().unwrap()), None);
    }

    /// A client report with nothing in it but what the test sets.
    const MINIMAL_RESULT: &str = r#"{"stack": "tcp", "mode": "bulk", "direction": "upload",
        "remote": "10.1.1.2:5202", "local": null, "limit_bytes": null, "limit_time_s": 5.0,
        "bytes": 1, "duration_s": 1.0, "goodput_bps": 0.0, "completion_s": null,
        "max_stall_ms": 0.0, "cpu_s": 0.0, "peer_cpu_s": null, "verified": true,
        "first_mismatch": null, "mptcp_fallback": null, "subflows": [], "peer_subflows": [],
        "transactions": null, "latency_us": null, "intervals": []}"#;

    #[test]
    fn competitor_ratio_is_per_run() {
        let result = |goodput_bps: f64| PerfResult {
            goodput_bps,
            ..serde_json::from_str(MINIMAL_RESULT).unwrap()
        };
        let paths = ["a".to_string()];
        let runs: Vec<RunFigures> = [(10e6, 10e6), (12e6, 8e6), (9e6, 12e6)]
            .iter()
            .enumerate()
            .map(|(i, &(m, t))| {
                RunFigures::new(i + 1, &result(m), None, Some(&result(t)), &paths, None)
            })
            .collect();
        assert_eq!(runs[1].mptcp_to_tcp, Some(1.5));
        assert_eq!(runs[1].competitor_goodput_bps, Some(8e6));
        let s = StackSummary::new(Stack::Braid, runs, Vec::new(), None);
        let r = s.mptcp_to_tcp.unwrap();
        assert_eq!((r.median, r.min, r.max), (1.0, 0.75, 1.5));
        assert_eq!(s.competitor_goodput_bps.unwrap().median, 10e6);
        let none = RunFigures::new(1, &result(1e6), None, None, &paths, None);
        assert_eq!(
            (none.mptcp_to_tcp, none.competitor_goodput_bps),
            (None, None)
        );
    }

    /// A download whose intervals (100 ms, starting 0.5 s into the lab's
    /// timeline) carry `path1[i]` bytes on path 1 in interval `i`.
    fn sampled(path1: &[u64]) -> PerfResult {
        let mut r: PerfResult = serde_json::from_str(MINIMAL_RESULT).unwrap();
        r.intervals_start_unix_s = Some(1000.5);
        r.intervals = path1
            .iter()
            .enumerate()
            .map(|(i, &b)| crate::report::IntervalSample {
                t_s: (i + 1) as f64 * 0.1,
                bytes: b + 1000,
                bps: 0.0,
                subflows: vec![
                    crate::report::IntervalSubflow {
                        local: Some("10.0.1.100:40000".parse().unwrap()),
                        remote: None,
                        bytes: b,
                        bps: 0.0,
                    },
                    crate::report::IntervalSubflow {
                        local: Some("10.0.2.100:40001".parse().unwrap()),
                        remote: None,
                        bytes: 1000,
                        bps: 0.0,
                    },
                ],
            })
            .collect();
        r
    }

    #[test]
    fn path_return_is_the_first_interval_with_bytes_after_the_outage() {
        // Lab t = 0 at unix 1000; the client's intervals end at lab
        // 0.6, 0.7, ... Outage of path 1 from lab 1.0 to 2.0.
        let outage = Outage {
            path: 1,
            name: "wifi".into(),
            start_s: 1.0,
            end_s: 2.0,
        };
        // Path 1 carries data up to lab 1.0, nothing until the interval
        // ending at lab 2.8, then again.
        let mut bytes = vec![5000u64; 5];
        bytes.extend([0; 17]);
        bytes.extend([3000; 5]);
        let client = sampled(&bytes);
        let r = path_returns(&client, std::slice::from_ref(&outage), 1000.0);
        assert_eq!(r.len(), 1);
        let d = r[0].delay_s.expect("path 1 came back");
        assert!((d - 0.8).abs() < 1e-6, "{d}");
        assert!((r[0].run_left_s - 1.2).abs() < 1e-6, "{r:?}");
        assert_eq!(r[0].bytes_while_dark, 0);
        assert!((r[0].last_before_s.unwrap() - 1.0).abs() < 1e-6, "{r:?}");
        let mut fig = RunFigures::new(1, &client, None, None, &["wifi".into()], None);
        fig.set_path_returns(r);
        assert!((fig.path_return_s.unwrap() - 0.8).abs() < 1e-6);

        // Never back: a `None` delay, no figure, counted in the summary.
        let never = sampled(&[
            5000, 5000, 5000, 5000, 5000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let r = path_returns(&never, std::slice::from_ref(&outage), 1000.0);
        assert_eq!(r[0].delay_s, None);
        let mut missed = RunFigures::new(2, &never, None, None, &["wifi".into()], None);
        missed.set_path_returns(r);
        assert_eq!(missed.path_return_s, None);
        let s = StackSummary::new(Stack::Braid, vec![fig, missed], Vec::new(), None);
        assert_eq!(s.path_never_returned_runs, 1);
        assert!((s.path_return_s.unwrap().median - 0.8).abs() < 1e-6);

        // An outage that ends after the run: nothing to report.
        let late = Outage {
            start_s: 1.0,
            end_s: 9.0,
            ..outage
        };
        assert!(path_returns(&client, &[late], 1000.0).is_empty());
    }

    #[test]
    fn ratio_is_missing_without_both_sides() {
        let k = StackSummary::new(Stack::Kernel, Vec::new(), vec!["x".into()], None);
        let r = Ratio::of(None, Some(&k));
        assert_eq!(r.goodput, None);
        assert!(!k.available);
        assert_eq!(k.error.as_deref(), Some("x"));
    }
}
