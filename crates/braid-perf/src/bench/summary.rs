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
            cc: match (&client.cc, server.and_then(|s| s.cc.as_ref())) {
                (Some(c), Some(s)) if c != s => Some(format!("{c} (server {s})")),
                (c, s) => c.clone().or_else(|| s.cloned()),
            },
            scheduler: client.scheduler.clone(),
            competitor_goodput_bps: competitor.map(|c| c.goodput_bps),
            competitor_cc: competitor.and_then(|c| c.cc.clone()),
            mptcp_to_tcp: competitor
                .filter(|c| c.goodput_bps > 0.0)
                .map(|c| client.goodput_bps / c.goodput_bps),
        }
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

    #[test]
    fn ratio_is_missing_without_both_sides() {
        let k = StackSummary::new(Stack::Kernel, Vec::new(), vec!["x".into()], None);
        let r = Ratio::of(None, Some(&k));
        assert_eq!(r.goodput, None);
        assert!(!k.available);
        assert_eq!(k.error.as_deref(), Some("x"));
    }
}
