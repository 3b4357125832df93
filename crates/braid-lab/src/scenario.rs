//! Scenarios: what a lab run looks like, read from TOML.
//!
//! A scenario names the paths between client and server and, for each path
//! and direction, the impairments braid-sim's [`LinkConfig`] models: rate or
//! trace replay, delay, jitter, queue, loss, duplication, reordering and
//! blackout windows (the timeline). Keys a path sets apply to both
//! directions; its `up` (client to server) and `down` (server to client)
//! tables override them key by key. Every table rejects unknown keys.
//! The format is documented in `scenarios/README.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use braid_proto::time::{Duration, Instant};
use braid_sim::{Blackout, Capacity, CsvEnd, CsvTrace, LinkConfig, MahimahiTrace, QueueLimit};
use serde::Deserialize;

/// The largest number of paths a scenario may have.
pub const MAX_PATHS: usize = 8;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or mistyped key.
    #[error("{origin}: {message}")]
    Toml {
        /// The file (or `<string>`).
        origin: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// The values are well formed but make no sense together.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file (or `<string>`).
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// One direction's settings as written; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Constant rate, Mbit/s (10^6 bit/s). Absent: unlimited.
    pub rate_mbit: Option<f64>,
    /// Capacity trace: mahimahi (any extension but `.csv`) or
    /// `time,bytesPerSecond` CSV. Resolved against the scenario's
    /// directory, then the shared trace directory.
    pub trace: Option<String>,
    /// A CSV trace's end: `"loop"` (default) or `"hold"`.
    pub trace_end: Option<String>,
    /// One-way propagation delay, ms.
    pub delay_ms: Option<f64>,
    /// Extra delay, uniform in `[0, jitter_ms]`, FIFO unless `jitter_reorders`.
    pub jitter_ms: Option<f64>,
    /// Let jitter reorder packets.
    pub jitter_reorders: Option<bool>,
    /// Drop-tail queue limit in packets.
    pub queue_packets: Option<u64>,
    /// Drop-tail queue limit in bytes.
    pub queue_bytes: Option<u64>,
    /// Random loss, percent of packets.
    pub loss_pct: Option<f64>,
    /// Duplication, percent of packets.
    pub duplicate_pct: Option<f64>,
    /// Reordering, percent of packets held back by `reorder_ms`.
    pub reorder_pct: Option<f64>,
    /// Extra delay of a reordered packet, ms.
    pub reorder_ms: Option<f64>,
    /// Outage windows in seconds since the emulator started: `[[3, 8]]`
    /// means down from t = 3 s to t = 8 s.
    pub blackouts: Option<Vec<[f64; 2]>>,
}

impl DirSpec {
    /// `self` with every key `over` sets replaced.
    fn overridden_by(&self, over: &DirSpec) -> DirSpec {
        macro_rules! pick {
            ($($f:ident),*) => { DirSpec { $($f: over.$f.clone().or_else(|| self.$f.clone()),)* } };
        }
        pick!(
            rate_mbit,
            trace,
            trace_end,
            delay_ms,
            jitter_ms,
            jitter_reorders,
            queue_packets,
            queue_bytes,
            loss_pct,
            duplicate_pct,
            reorder_pct,
            reorder_ms,
            blackouts
        )
    }
}

/// Declares a table that takes [`DirSpec`]'s keys beside its own ones, with
/// `shared()`: those keys as a [`DirSpec`]. Written as a macro because
/// serde's `flatten` cannot be combined with `deny_unknown_fields`.
macro_rules! with_link_keys {
    ($(#[$meta:meta])* struct $name:ident { $($own:tt)* }) => {
        with_link_keys!(@table $(#[$meta])* struct $name { $($own)* } link keys {
            rate_mbit: Option<f64>,
            trace: Option<String>,
            trace_end: Option<String>,
            delay_ms: Option<f64>,
            jitter_ms: Option<f64>,
            jitter_reorders: Option<bool>,
            queue_packets: Option<u64>,
            queue_bytes: Option<u64>,
            loss_pct: Option<f64>,
            duplicate_pct: Option<f64>,
            reorder_pct: Option<f64>,
            reorder_ms: Option<f64>,
            blackouts: Option<Vec<[f64; 2]>>,
        });
    };
    (@table $(#[$meta:meta])* struct $name:ident {
        $($(#[$field_meta:meta])* $field:ident: $ty:ty,)*
    } link keys { $($key:ident: $key_ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$field_meta])* $field: $ty,)*
            $($key: $key_ty,)*
        }

        impl $name {
            fn shared(&self) -> DirSpec {
                DirSpec { $($key: self.$key.clone(),)* }
            }
        }
    };
}

with_link_keys! {
    /// One path as written: shared keys (flattened [`DirSpec`]) plus overrides.
    struct RawPath {
        name: Option<String>,
        #[serde(default)]
        backup: bool,
        up: Option<DirSpec>,
        down: Option<DirSpec>,
    }
}

with_link_keys! {
    /// A shared bottleneck as written: which paths cross it, its own link
    /// keys (flattened [`DirSpec`]) plus overrides per direction.
    struct RawBottleneck {
        name: Option<String>,
        #[serde(default)]
        paths: Vec<i64>,
        up: Option<DirSpec>,
        down: Option<DirSpec>,
    }
}

/// A link several paths cross, in each direction one queue and one rate
/// for all of them: their packets compete there as they would at a
/// shared router. A packet of a member path crosses its own path first,
/// then the bottleneck.
#[derive(Debug, Clone)]
pub struct BottleneckSpec {
    /// Label (default `bottleneck<i>`, 1-based).
    pub name: String,
    /// The paths that cross it, 1-based, in the order written.
    pub paths: Vec<usize>,
    /// Client to server.
    pub up: LinkConfig,
    /// Server to client.
    pub down: LinkConfig,
}

/// A plain TCP bulk flow of the kernel that `braid lab bench` runs next to
/// the MPTCP transfer, in the same direction and for the same time
/// (`workload.duration_s`), between the kernel's addresses of one path
/// (`10.0.<path>.2` to `10.1.<path>.2`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Competitor {
    /// The path it crosses, 1-based (default 1).
    #[serde(default = "one")]
    pub path: usize,
    /// Its congestion control, `TCP_CONGESTION` (default `cubic`).
    #[serde(default = "cubic")]
    pub cc: String,
}

fn one() -> usize {
    1
}

fn cubic() -> String {
    "cubic".into()
}

/// What a benchmark (`braid lab bench`) does over the lab; the lab itself
/// only carries it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Bytes to transfer (absent: run for `duration_s`).
    pub bytes: Option<u64>,
    /// How long to run, seconds.
    pub duration_s: Option<f64>,
    /// Who sends the bulk data (default: upload, client to server).
    #[serde(default)]
    pub direction: WorkloadDirection,
    /// Receive buffer size, bytes (absent: the stack's default).
    pub rcvbuf_bytes: Option<u64>,
    /// Send buffer size, bytes (absent: the stack's default).
    pub sndbuf_bytes: Option<u64>,
    /// The server announces its addresses on paths 2.. (ADD_ADDR).
    #[serde(default)]
    pub announce: bool,
    /// A pass bound on the completion time the bench checks.
    pub bound: Option<Bound>,
}

/// Who sends a workload's bulk data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadDirection {
    /// The client sends, the server receives.
    #[default]
    Upload,
    /// The server sends, the client receives.
    Download,
}

/// A pass bound on a fixed-size transfer's completion time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The Linux selftest `simult_flows.sh`: `1000 * bytes * 8 * 10 /
    /// ((sum of the path rates in Mbit/s) * 10^6 * 9) + 450` ms: the
    /// transfer at the aggregate rate with 10 % for headers, plus 400 ms
    /// for its tool's join sleeps and 50 ms of slack.
    SimultFlows,
}

impl Workload {
    /// Validates the workload against its paths; returns the pass bound
    /// in milliseconds if the workload has one.
    fn check(&self, paths: &[PathSpec]) -> Result<Option<f64>, String> {
        match (self.bytes, self.duration_s) {
            (Some(_), Some(_)) => return Err("workload: bytes and duration_s are exclusive".into()),
            (Some(0), None) => return Err("workload.bytes must be > 0".into()),
            (None, Some(d)) if !(d.is_finite() && d > 0.0 && d <= 86_400.0) => {
                return Err(format!(
                    "workload.duration_s = {d}: must be within (0, 86400]"
                ));
            }
            _ => {}
        }
        for (key, v) in [
            ("rcvbuf_bytes", self.rcvbuf_bytes),
            ("sndbuf_bytes", self.sndbuf_bytes),
        ] {
            if let Some(b) = v.filter(|b| !(4096..=1 << 30).contains(b)) {
                return Err(format!("workload.{key} = {b}: must be within 4096..=1 GiB"));
            }
        }
        let Some(Bound::SimultFlows) = self.bound else {
            return Ok(None);
        };
        let bytes = self
            .bytes
            .ok_or("workload.bound = \"simult_flows\" needs workload.bytes")?;
        let mut sum_bps = 0u64;
        for (i, p) in paths.iter().enumerate() {
            let c = match self.direction {
                WorkloadDirection::Upload => &p.up,
                WorkloadDirection::Download => &p.down,
            };
            match c.capacity {
                Capacity::Rate(bps) if bps > 0 => sum_bps += bps,
                _ => {
                    return Err(format!(
                        "workload.bound = \"simult_flows\" needs a constant rate_mbit on every \
                         path; path {} has none",
                        i + 1
                    ));
                }
            }
        }
        Ok(Some(simult_flows_bound_ms(bytes, sum_bps)))
    }
}

/// The pass bound of the Linux selftest `simult_flows.sh`, in ms, for
/// `bytes` over paths whose rates add up to `sum_bps` bit/s.
pub fn simult_flows_bound_ms(bytes: u64, sum_bps: u64) -> f64 {
    1000.0 * bytes as f64 * 8.0 * 10.0 / (sum_bps as f64 * 9.0) + 450.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    seed: Option<u64>,
    workload: Option<Workload>,
    #[serde(default)]
    path: Vec<RawPath>,
    #[serde(default)]
    bottleneck: Vec<RawBottleneck>,
    competitor: Option<Competitor>,
}

/// One path of a loaded scenario.
#[derive(Debug, Clone)]
pub struct PathSpec {
    /// Label (default `path<i>`, 1-based).
    pub name: String,
    /// The path is a backup path (MP_JOIN's B flag / `ip mptcp endpoint
    /// ... backup`); the lab only carries the flag.
    pub backup: bool,
    /// Client to server.
    pub up: LinkConfig,
    /// Server to client.
    pub down: LinkConfig,
}

/// A loaded scenario: ready-to-run link configurations.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Label (default: the file stem).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Seed of the emulator's random streams (default 1).
    pub seed: u64,
    /// The paths, path 1 first.
    pub paths: Vec<PathSpec>,
    /// Links shared by several paths (no path is in two).
    pub bottlenecks: Vec<BottleneckSpec>,
    /// A plain TCP flow `braid lab bench` runs next to the MPTCP one.
    pub competitor: Option<Competitor>,
    /// Optional workload for benchmarks.
    pub workload: Option<Workload>,
    /// The workload's pass bound on the completion time, ms, if it has one.
    pub bound_ms: Option<f64>,
}

impl Scenario {
    /// Reads and checks a scenario file. Traces resolve against the file's
    /// directory first, then [`braid_sim::trace::shared_trace_dir`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Io {
            path: path.to_owned(),
            error,
        })?;
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let default_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        Self::parse_with(&text, &path.display().to_string(), &dir, &default_name)
    }

    /// Parses scenario text; traces resolve against `base_dir`, then the
    /// shared trace directory.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
        Self::parse_with(text, "<string>", base_dir, "scenario")
    }

    fn parse_with(
        text: &str,
        origin: &str,
        base_dir: &Path,
        default_name: &str,
    ) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError::Toml {
            origin: origin.to_owned(),
            message: one_line(&e, text),
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        if raw.path.is_empty() {
            return Err(invalid("no [[path]]: a scenario needs at least one".into()));
        }
        if raw.path.len() > MAX_PATHS {
            return Err(invalid(format!(
                "{} paths; at most {MAX_PATHS} are supported",
                raw.path.len()
            )));
        }
        let mut paths = Vec::new();
        for (i, p) in raw.path.iter().enumerate() {
            let shared = p.shared();
            let dir_config = |which: &str, over: &Option<DirSpec>| {
                let spec = shared.overridden_by(over.as_ref().unwrap_or(&DirSpec::default()));
                link_config(&spec, base_dir)
                    .map_err(|m| invalid(format!("path {} ({which}): {m}", i + 1)))
            };
            paths.push(PathSpec {
                name: p.name.clone().unwrap_or_else(|| format!("path{}", i + 1)),
                backup: p.backup,
                up: dir_config("up", &p.up)?,
                down: dir_config("down", &p.down)?,
            });
        }
        let bound_ms = match &raw.workload {
            Some(w) => w.check(&paths).map_err(invalid)?,
            None => None,
        };
        let bottlenecks = bottlenecks(&raw.bottleneck, paths.len(), base_dir).map_err(invalid)?;
        if let Some(c) = &raw.competitor {
            check_competitor(c, raw.workload.as_ref(), paths.len()).map_err(invalid)?;
        }
        Ok(Scenario {
            name: raw.name.unwrap_or_else(|| default_name.to_owned()),
            description: raw.description.unwrap_or_default(),
            seed: raw.seed.unwrap_or(1),
            paths,
            bottlenecks,
            competitor: raw.competitor,
            workload: raw.workload,
            bound_ms,
        })
    }
}

/// Checks the `[[bottleneck]]` tables against `paths` paths and builds
/// their link configurations.
fn bottlenecks(
    raw: &[RawBottleneck],
    paths: usize,
    base_dir: &Path,
) -> Result<Vec<BottleneckSpec>, String> {
    // owner[p] = the bottleneck (0-based) path p + 1 is already in.
    let mut owner: Vec<Option<usize>> = vec![None; paths];
    let mut out = Vec::new();
    for (b, r) in raw.iter().enumerate() {
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("bottleneck{}", b + 1));
        let at = format!("bottleneck {} ({name})", b + 1);
        if r.paths.is_empty() {
            return Err(format!(
                "{at}: paths is empty; name the paths that cross it"
            ));
        }
        let mut members = Vec::new();
        for &p in &r.paths {
            let i = usize::try_from(p)
                .ok()
                .filter(|i| (1..=paths).contains(i))
                .ok_or_else(|| {
                    format!("{at}: path {p} does not exist (the scenario has {paths} paths)")
                })?;
            match owner[i - 1] {
                Some(o) if o == b => return Err(format!("{at}: path {i} is listed twice")),
                Some(o) => {
                    return Err(format!(
                        "path {i} is in bottleneck {} and bottleneck {}: a path crosses at most one",
                        o + 1,
                        b + 1
                    ));
                }
                None => owner[i - 1] = Some(b),
            }
            members.push(i);
        }
        let shared = r.shared();
        let dir = |which: &str, over: &Option<DirSpec>| {
            let spec = shared.overridden_by(over.as_ref().unwrap_or(&DirSpec::default()));
            link_config(&spec, base_dir).map_err(|m| format!("{at} ({which}): {m}"))
        };
        out.push(BottleneckSpec {
            up: dir("up", &r.up)?,
            down: dir("down", &r.down)?,
            name,
            paths: members,
        });
    }
    Ok(out)
}

/// A competitor runs on an existing path, for the workload's time.
fn check_competitor(c: &Competitor, w: Option<&Workload>, paths: usize) -> Result<(), String> {
    if !(1..=paths).contains(&c.path) {
        return Err(format!(
            "competitor.path = {}: no such path (the scenario has {paths} paths)",
            c.path
        ));
    }
    if c.cc.is_empty() {
        return Err("competitor.cc is empty".into());
    }
    if w.and_then(|w| w.duration_s).is_none() {
        return Err(
            "[competitor] needs workload.duration_s: both flows run for the same time".into(),
        );
    }
    Ok(())
}

/// One direction's settings in a few words, for people:
/// `20 Mbit/s, 30 ms, queue 200 pkt, loss 1%, down [3 s, 8 s)`.
pub fn describe(c: &LinkConfig) -> String {
    let mut parts = vec![match &c.capacity {
        Capacity::Unlimited => "unlimited".to_string(),
        Capacity::Rate(bps) => format!("{} Mbit/s", *bps as f64 / 1e6),
        Capacity::Mahimahi(t) => format!(
            "mahimahi trace (mean {:.1} Mbit/s)",
            t.mean_rate_bps() / 1e6
        ),
        Capacity::Csv(_) => "CSV rate trace".to_string(),
    }];
    parts.push(format!("{} ms", c.delay.as_micros() as f64 / 1000.0));
    if !c.jitter.is_zero() {
        parts.push(format!(
            "jitter {} ms",
            c.jitter.as_micros() as f64 / 1000.0
        ));
    }
    match c.queue {
        QueueLimit::Unlimited => {}
        QueueLimit::Packets(p) => parts.push(format!("queue {p} pkt")),
        QueueLimit::Bytes(b) => parts.push(format!("queue {b} B")),
    }
    for (name, p) in [
        ("loss", c.loss),
        ("dup", c.duplicate),
        ("reorder", c.reorder_prob),
    ] {
        if p > 0.0 {
            parts.push(format!("{name} {}%", p * 100.0));
        }
    }
    for b in &c.blackouts {
        parts.push(format!(
            "down [{} s, {} s)",
            b.start.as_secs_f64(),
            b.end.as_secs_f64()
        ));
    }
    parts.join(", ")
}

/// A TOML error on one line (the parser's message spans several).
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

fn ms(name: &str, v: Option<f64>) -> Result<Duration, String> {
    match v {
        None => Ok(Duration::ZERO),
        Some(x) if (0.0..1e9).contains(&x) => {
            Ok(Duration::from_micros((x * 1000.0).round() as u64))
        }
        Some(x) => Err(format!("{name} = {x}: must be >= 0 ms")),
    }
}

fn pct(name: &str, v: Option<f64>) -> Result<f64, String> {
    match v {
        None => Ok(0.0),
        Some(x) if (0.0..=100.0).contains(&x) => Ok(x / 100.0),
        Some(x) => Err(format!("{name} = {x}: must be within 0..=100 percent")),
    }
}

fn secs(x: f64) -> Result<Instant, String> {
    if (0.0..1e9).contains(&x) {
        Ok(Instant::from_micros((x * 1e6).round() as u64))
    } else {
        Err(format!("blackout time {x}: must be >= 0 s"))
    }
}

/// Finds a trace file: relative to the scenario, then the shared traces.
fn resolve_trace(name: &str, base_dir: &Path) -> Result<PathBuf, String> {
    let candidates = [
        base_dir.join(name),
        braid_sim::trace::shared_trace_dir().join(name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "trace {name:?} not found (looked in {} and {})",
                base_dir.display(),
                braid_sim::trace::shared_trace_dir().display()
            )
        })
}

/// Turns one direction's settings into braid-sim's configuration.
fn link_config(spec: &DirSpec, base_dir: &Path) -> Result<LinkConfig, String> {
    let capacity = match (&spec.rate_mbit, &spec.trace) {
        (Some(_), Some(_)) => return Err("rate_mbit and trace are exclusive".into()),
        (None, None) => Capacity::Unlimited,
        (Some(r), None) => {
            if !(r.is_finite() && *r >= 0.0 && *r < 1e6) {
                return Err(format!("rate_mbit = {r}: must be >= 0"));
            }
            Capacity::Rate((r * 1e6).round() as u64)
        }
        (None, Some(t)) => {
            let file = resolve_trace(t, base_dir)?;
            if file.extension().is_some_and(|e| e == "csv") {
                let end = match spec.trace_end.as_deref() {
                    None | Some("loop") => CsvEnd::Loop,
                    Some("hold") => CsvEnd::HoldLast,
                    Some(other) => {
                        return Err(format!("trace_end = {other:?}: use \"loop\" or \"hold\""));
                    }
                };
                Capacity::Csv(Arc::new(
                    CsvTrace::from_file(&file, end).map_err(|e| e.to_string())?,
                ))
            } else {
                if spec.trace_end.is_some() {
                    return Err("trace_end applies to CSV traces only".into());
                }
                Capacity::Mahimahi(Arc::new(
                    MahimahiTrace::from_file(&file).map_err(|e| e.to_string())?,
                ))
            }
        }
    };
    if spec.trace.is_none() && spec.trace_end.is_some() {
        return Err("trace_end without trace".into());
    }
    let queue = match (spec.queue_packets, spec.queue_bytes) {
        (Some(_), Some(_)) => return Err("queue_packets and queue_bytes are exclusive".into()),
        (Some(0), None) | (None, Some(0)) => return Err("a queue limit must be > 0".into()),
        (Some(p), None) => QueueLimit::Packets(p),
        (None, Some(b)) => QueueLimit::Bytes(b),
        (None, None) => QueueLimit::Unlimited,
    };
    let mut blackouts = Vec::new();
    for &[from, to] in spec.blackouts.as_deref().unwrap_or_default() {
        let (start, end) = (secs(from)?, secs(to)?);
        if start >= end {
            return Err(format!("blackout [{from}, {to}]: start must be before end"));
        }
        blackouts.push(Blackout { start, end });
    }
    Ok(LinkConfig {
        capacity,
        delay: ms("delay_ms", spec.delay_ms)?,
        jitter: ms("jitter_ms", spec.jitter_ms)?,
        jitter_reorders: spec.jitter_reorders.unwrap_or(false),
        queue,
        loss: pct("loss_pct", spec.loss_pct)?,
        reorder_prob: pct("reorder_pct", spec.reorder_pct)?,
        reorder_delay: ms("reorder_ms", spec.reorder_ms)?,
        duplicate: pct("duplicate_pct", spec.duplicate_pct)?,
        blackouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("."))
    }

    fn scenarios_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
    }

    #[test]
    fn every_checked_in_scenario_parses() {
        let mut n = 0;
        for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = Scenario::from_file(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!s.paths.is_empty());
                n += 1;
            }
        }
        assert!(n >= 4, "expected the example scenarios, found {n}");
    }

    #[test]
    fn one_path_scenario_means_what_it_says() {
        let s = Scenario::from_file(scenarios_dir().join("one-path-20mbit-30ms.toml")).unwrap();
        assert_eq!(s.paths.len(), 1);
        for c in [&s.paths[0].up, &s.paths[0].down] {
            assert!(matches!(c.capacity, Capacity::Rate(20_000_000)));
            assert_eq!(c.delay, Duration::from_millis(30));
        }
    }

    #[test]
    fn directions_override_shared_keys() {
        let s = parse(
            "[[path]]\nrate_mbit = 10\ndelay_ms = 5\nloss_pct = 1\n\
             [path.down]\nrate_mbit = 50\nloss_pct = 0\nblackouts = [[3, 8]]\n",
        )
        .unwrap();
        let p = &s.paths[0];
        assert!(matches!(p.up.capacity, Capacity::Rate(10_000_000)));
        assert!(matches!(p.down.capacity, Capacity::Rate(50_000_000)));
        assert_eq!(p.up.loss, 0.01);
        assert_eq!(p.down.loss, 0.0);
        assert_eq!(p.down.delay, Duration::from_millis(5));
        assert!(p.up.blackouts.is_empty());
        assert_eq!(
            p.down.blackouts,
            vec![Blackout {
                start: Instant::from_secs(3),
                end: Instant::from_secs(8)
            }]
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("[[path]]\nrate_mbps = 10\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `rate_mbps`"), "{e}");
        let e = parse("[[path]]\n[path.up]\nlos_pct = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `los_pct`"), "{e}");
        let e = parse("seeed = 3\n[[path]]\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `seeed`"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn malformed_toml_and_bad_values_are_reported() {
        let e = parse("[[path]\nrate_mbit = 1").unwrap_err();
        assert!(matches!(e, ScenarioError::Toml { .. }), "{e}");
        let e = parse("[[path]]\nrate_mbit = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type"), "{e}");
        let e = parse("").unwrap_err().to_string();
        assert!(e.contains("at least one"), "{e}");
        let e = parse("[[path]]\nloss_pct = 150\n").unwrap_err().to_string();
        assert!(e.contains("path 1 (up): loss_pct = 150"), "{e}");
        let e = parse("[[path]]\nblackouts = [[8, 3]]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("start must be before end"), "{e}");
        let e = parse("[[path]]\nrate_mbit = 1\ntrace = \"x.csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exclusive"), "{e}");
        let e = parse("[[path]]\ntrace = \"no-such-trace.up\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not found"), "{e}");
        let e = parse("[[path]]\nqueue_packets = 5\nqueue_bytes = 9000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exclusive"), "{e}");
    }

    #[test]
    fn workload_keys_are_checked() {
        let two = "[[path]]\nrate_mbit = 15\n[[path]]\nrate_mbit = 5\n";
        let s = parse(&format!(
            "{two}[workload]\nbytes = 16_777_216\nbound = \"simult_flows\"\n"
        ))
        .unwrap();
        // 16 MiB at 20 Mbit/s with 10 % overhead: 7456 ms, plus 450.
        assert_eq!(s.bound_ms.map(|b| b.floor()), Some(7906.0));
        let w = s.workload.unwrap();
        assert_eq!(w.direction, WorkloadDirection::Upload);
        let e = parse(&format!("{two}[workload]\nbytes = 1\nduration_s = 2\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exclusive"), "{e}");
        let e = parse(&format!("{two}[workload]\ndirection = \"sideways\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `sideways`"), "{e}");
        let e = parse("[[path]]\n[workload]\nbytes = 5\nbound = \"simult_flows\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("path 1 has none"), "{e}");
        let e = parse(&format!(
            "{two}[workload]\nduration_s = 5\nbound = \"simult_flows\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs workload.bytes"), "{e}");
        let e = parse(&format!("{two}[workload]\nrcvbuf_bytes = 10\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rcvbuf_bytes = 10"), "{e}");
    }

    #[test]
    fn bottleneck_is_shared_by_its_paths() {
        let s = parse(
            "[[path]]\n[[path]]\ndelay_ms = 5\n[[path]]\n\
             [[bottleneck]]\nname = \"core\"\npaths = [2, 1]\nrate_mbit = 20\ndelay_ms = 15\n\
             queue_packets = 100\n[bottleneck.down]\nrate_mbit = 50\n\
             [competitor]\npath = 3\n[workload]\nduration_s = 5\n",
        )
        .unwrap();
        assert_eq!(s.bottlenecks.len(), 1);
        let b = &s.bottlenecks[0];
        assert_eq!((b.name.as_str(), b.paths.as_slice()), ("core", &[2, 1][..]));
        assert!(matches!(b.up.capacity, Capacity::Rate(20_000_000)));
        assert!(matches!(b.down.capacity, Capacity::Rate(50_000_000)));
        assert_eq!(b.down.delay, Duration::from_millis(15));
        assert_eq!(b.up.queue, QueueLimit::Packets(100));
        // The paths keep their own settings.
        assert_eq!(s.paths[1].up.delay, Duration::from_millis(5));
        let c = s.competitor.unwrap();
        assert_eq!((c.path, c.cc.as_str()), (3, "cubic"));
    }

    #[test]
    fn bad_bottlenecks_and_competitors_are_named() {
        let two = "[[path]]\n[[path]]\n";
        let e = |text: &str| parse(&format!("{two}{text}")).unwrap_err().to_string();
        let m = e("[[bottleneck]]\npaths = [1, 3]\n");
        assert!(
            m.contains("bottleneck 1 (bottleneck1): path 3 does not exist"),
            "{m}"
        );
        assert!(!m.contains('\n'), "one line: {m}");
        let m = e("[[bottleneck]]\npaths = [0]\n");
        assert!(m.contains("path 0 does not exist"), "{m}");
        let m = e("[[bottleneck]]\npaths = [1]\n[[bottleneck]]\npaths = [2, 1]\n");
        assert!(
            m.contains("path 1 is in bottleneck 1 and bottleneck 2"),
            "{m}"
        );
        let m = e("[[bottleneck]]\npaths = [2, 2]\n");
        assert!(m.contains("path 2 is listed twice"), "{m}");
        let m = e("[[bottleneck]]\nrate_mbit = 20\n");
        assert!(m.contains("paths is empty"), "{m}");
        let m = e("[[bottleneck]]\npaths = [1]\nrate_mbit = -1\n");
        assert!(
            m.contains("bottleneck 1 (bottleneck1) (up): rate_mbit = -1"),
            "{m}"
        );
        let m = e("[[bottleneck]]\npaths = [1]\nrat_mbit = 1\n");
        assert!(m.contains("unknown field `rat_mbit`"), "{m}");
        let m = e("[competitor]\npath = 3\n[workload]\nduration_s = 5\n");
        assert!(m.contains("competitor.path = 3: no such path"), "{m}");
        let m = e("[competitor]\n[workload]\nbytes = 5000\n");
        assert!(m.contains("needs workload.duration_s"), "{m}");
        let m = e("[competitor]\nstack = \"kernel\"\n");
        assert!(m.contains("unknown field `stack`"), "{m}");
    }

    #[test]
    fn missing_file_is_named() {
        let e = Scenario::from_file("/nonexistent/x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.toml"), "{e}");
    }

    #[test]
    fn shared_traces_resolve() {
        let s = parse(
            "[[path]]\ntrace = \"wifi-cellular/7_1_wifi.csv\"\n\
             [[path]]\n[path.up]\ntrace = \"mahimahi/TMobile-LTE-short.up\"\n\
             [path.down]\ntrace = \"mahimahi/TMobile-LTE-short.down\"\n",
        );
        let dir = braid_sim::trace::shared_trace_dir();
        if !dir.is_dir() {
            braid_testkit::skip(format!("shared traces not present in {}", dir.display()));
            return;
        }
        let s = s.unwrap();
        assert!(matches!(s.paths[0].up.capacity, Capacity::Csv(_)));
        assert!(matches!(s.paths[1].down.capacity, Capacity::Mahimahi(_)));
    }
}
