//! The story the demo plays: paths, their timeline, how long, which seed.
//!
//! A story is a lab scenario (`scenarios/README.md`): the built-in one is
//! `scenarios/demo.toml`, compiled in, whose paths replay the shared
//! WiFi/cellular traces (located with [`braid_sim::trace::shared_trace_dir`]).
//! Without those traces it falls back to [`scripted_ramp`]: the same
//! timeline with a WiFi capacity written out second by second.
//! `--scenario FILE` plays any scenario file instead.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use braid_lab::Scenario;
use braid_proto::time::{Duration, Instant};
use braid_sim::{Blackout, Capacity, CsvEnd, CsvTrace, LinkConfig, QueueLimit};

/// The built-in story, in the lab's scenario format.
pub const DEMO_TOML: &str = include_str!("../../../../scenarios/demo.toml");

/// How long a story without a `workload.duration_s` runs, simulated.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// The scripted WiFi capacity of [`scripted_ramp`], Mbit/s for each second
/// from t = 0: steady, a fade from t = 13 s, nothing from 20 s (the
/// blackout), back from 28 s.
const RAMP_WIFI_MBIT: [u32; 36] = [
    45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 36, 30, 24, 18, 12, 6, 3, 0, 0, 0, 0, 0, 0,
    0, 0, 30, 50, 60, 60, 60, 60, 60, 60,
];

/// One path of the story.
#[derive(Debug, Clone)]
pub struct PathDef {
    /// Label ("WiFi").
    pub name: String,
    /// Joins as a backup subflow (MP_PRIO after the join).
    pub backup: bool,
    /// Phone to server.
    pub up: LinkConfig,
    /// Server to phone: the direction the download uses.
    pub down: LinkConfig,
}

impl PathDef {
    /// The outage windows of the download direction.
    pub fn blackouts(&self) -> &[Blackout] {
        &self.down.blackouts
    }
}

/// What the demo plays.
#[derive(Debug, Clone)]
pub struct Story {
    /// Name (the scenario's).
    pub name: String,
    /// Where it came from, for the banner.
    pub origin: String,
    /// Paths; path 1 carries the initial subflow.
    pub paths: Vec<PathDef>,
    /// Simulated length of the download.
    pub duration: Duration,
    /// Seed (the scenario's, unless `--seed`).
    pub seed: u64,
    /// Stop after this many bytes instead of at the end of `duration`.
    pub bytes: Option<u64>,
    /// The server announces a second address (ADD_ADDR).
    pub announce: bool,
    /// Receive buffer, bytes (absent: the demo's default).
    pub rcvbuf: Option<usize>,
    /// Send buffer, bytes (absent: the demo's default).
    pub sndbuf: Option<usize>,
    /// Things the user should know about how the story was read.
    pub notes: Vec<String>,
}

impl Story {
    /// The built-in story: `scenarios/demo.toml` over the shared traces,
    /// or [`scripted_ramp`] if they are missing.
    pub fn built_in() -> Story {
        let traces = braid_sim::trace::shared_trace_dir();
        let present = [
            "wifi-cellular/13_5_wifi.csv",
            "wifi-cellular/13_5_cellular.csv",
        ]
        .iter()
        .all(|t| traces.join(t).is_file());
        let parsed = present
            .then(|| Scenario::parse(DEMO_TOML, &traces).ok())
            .flatten();
        match parsed {
            Some(s) => {
                let mut story = from_scenario(s, "built-in (scenarios/demo.toml)".into());
                story.name = "demo".into();
                story
            }
            None => {
                let mut story = scripted_ramp();
                story.notes.push(format!(
                    "shared traces not found under {}: playing the scripted WiFi ramp",
                    traces.display()
                ));
                story
            }
        }
    }

    /// A scenario file.
    pub fn from_file(path: &Path) -> anyhow::Result<Story> {
        // The lab's error already names the file and the problem.
        let s = Scenario::from_file(path).map_err(anyhow::Error::from)?;
        Ok(from_scenario(s, path.display().to_string()))
    }

    /// The same story over path `i` alone.
    pub fn only_path(&self, i: usize) -> Story {
        let mut s = self.clone();
        s.paths = vec![self.paths[i].clone()];
        s.announce = false;
        s
    }

    /// Every outage of the download direction: (path, window), by start.
    pub fn outages(&self) -> Vec<(usize, Blackout)> {
        let mut v: Vec<_> = self
            .paths
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.blackouts().iter().map(move |b| (i, *b)))
            .collect();
        v.sort_by_key(|(i, b)| (b.start, *i));
        v
    }
}

fn from_scenario(s: Scenario, origin: String) -> Story {
    let mut notes = Vec::new();
    let w = s.workload.clone().unwrap_or_default();
    if w.direction == braid_lab::WorkloadDirection::Upload && s.workload.is_some() {
        notes.push("the demo is a download (server to phone); workload.direction ignored".into());
    }
    let duration = w
        .duration_s
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_DURATION);
    Story {
        name: s.name,
        origin,
        paths: s
            .paths
            .into_iter()
            .map(|p| PathDef {
                name: p.name,
                backup: p.backup,
                up: p.up,
                down: p.down,
            })
            .collect(),
        duration,
        seed: s.seed,
        bytes: w.bytes,
        announce: w.announce,
        rcvbuf: w.rcvbuf_bytes.map(|b| b as usize),
        sndbuf: w.sndbuf_bytes.map(|b| b as usize),
        notes,
    }
}

/// The built-in story without the traces: WiFi follows [`RAMP_WIFI_MBIT`]
/// (and blacks out from 20 s to 28 s), LTE is a steady 25 Mbit/s.
pub fn scripted_ramp() -> Story {
    let csv: String = RAMP_WIFI_MBIT
        .iter()
        .enumerate()
        .map(|(t, m)| format!("{},{}\n", t + 1, u64::from(*m) * 1_000_000 / 8))
        .collect();
    // The ramp is a constant above; it always parses and is never all zero.
    let ramp = CsvTrace::parse(&csv, CsvEnd::HoldLast).expect("scripted ramp parses");
    let path = |capacity: Capacity, delay_ms: u64| {
        LinkConfig::default()
            .capacity(capacity)
            .delay(Duration::from_millis(delay_ms))
            .jitter(Duration::from_millis(1), false)
            .queue(QueueLimit::Packets(200))
    };
    let wifi = path(Capacity::Csv(Arc::new(ramp)), 10)
        .blackout(Instant::from_secs(20), Instant::from_secs(28));
    let lte = path(Capacity::Rate(25_000_000), 35);
    Story {
        name: "demo (scripted ramp)".into(),
        origin: "built-in scripted ramp".into(),
        paths: vec![
            PathDef {
                name: "WiFi".into(),
                backup: false,
                up: wifi.clone(),
                down: wifi,
            },
            PathDef {
                name: "LTE".into(),
                backup: false,
                up: lte.clone(),
                down: lte,
            },
        ],
        duration: Duration::from_secs(36),
        seed: 1,
        bytes: None,
        announce: false,
        rcvbuf: None,
        sndbuf: None,
        notes: Vec::new(),
    }
}

/// Reads `--scenario`, or the built-in story.
pub fn load(scenario: Option<&Path>) -> anyhow::Result<Story> {
    match scenario {
        None => Ok(Story::built_in()),
        Some(p) => Story::from_file(p).with_context(|| "--scenario".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_story_is_wifi_then_lte_with_one_outage() {
        for story in [Story::built_in(), scripted_ramp()] {
            assert_eq!(story.paths.len(), 2);
            assert_eq!(story.paths[0].name, "WiFi");
            assert_eq!(story.paths[1].name, "LTE");
            assert_eq!(
                story.outages(),
                vec![(
                    0,
                    Blackout {
                        start: Instant::from_secs(20),
                        end: Instant::from_secs(28)
                    }
                )]
            );
            assert_eq!(story.duration, Duration::from_secs(36));
        }
    }

    #[test]
    fn ramp_fades_before_the_outage_and_returns_after() {
        let s = scripted_ramp();
        let Capacity::Csv(t) = &s.paths[0].down.capacity else {
            panic!("ramp is a CSV trace")
        };
        assert!(t.rate_at_second(5) > t.rate_at_second(16));
        assert!(t.rate_at_second(16) > t.rate_at_second(19));
        assert!(t.rate_at_second(30) > t.rate_at_second(5));
    }

    #[test]
    fn shipped_demo_scenario_matches_the_built_in_one() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/demo.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, DEMO_TOML);
    }

    #[test]
    fn missing_scenario_is_named() {
        let e = load(Some(Path::new("/nonexistent/demo.toml"))).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("/nonexistent/demo.toml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}
