//! `braid demo`: what MPTCP does, in one command and no privileges.
//!
//! A phone with WiFi and LTE downloads from a server over one MPTCP
//! connection (RFC 8684). Both ends run Braid's real protocol core
//! (`braid-proto`) on the deterministic simulator (`braid-sim`); the
//! simulated time is played back at a watchable speed. The story (a lab
//! scenario, [`story`]): both paths carry data, WiFi fades and dies, the
//! connection carries on over LTE without reconnecting, WiFi returns and
//! carries data again. At the end: bytes delivered (each one compared with
//! the server's stream), goodput against each path alone (the same story
//! with one path, run in this process), the longest stall the application
//! saw, and an SVG chart.
//!
//! Option values are parsed here rather than by clap so that a bad value
//! gives one line naming the problem (`braid: --speed abc: not a number`).

mod chart;
mod story;
mod view;
mod world;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::bail;
use braid_lab::scenario::describe;
use braid_proto::cc::CcAlgorithm;
use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use world::Policy;

use story::Story;
use view::{Frame, Mode, Row, View, bytes};
use world::{Happening, World};

/// `braid demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Playback speed: simulated seconds per wall-clock second (default:
    /// the whole story in about 20 s).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    speed: Option<String>,
    /// Run as fast as possible (no playback pacing).
    #[arg(long)]
    fast: bool,
    /// Play this lab scenario (TOML, see scenarios/README.md) instead of
    /// the built-in story (scenarios/demo.toml; without the shared traces,
    /// a scripted WiFi ramp with the same timeline).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Seed of the run (default: the scenario's, 1 for the built-in one).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    seed: Option<String>,
    /// The server's packet scheduler: minrtt (default), roundrobin,
    /// redundant, ecf, blest or interactive.
    #[arg(long, value_name = "NAME")]
    scheduler: Option<String>,
    /// Congestion control of both ends: cubic (default), newreno, or the
    /// coupled lia, olia, balia.
    #[arg(long, value_name = "NAME")]
    cc: Option<String>,
    /// Simulated length of the download, seconds (default: the scenario's
    /// workload.duration_s; 36 for the built-in story).
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    duration: Option<String>,
    /// Where to write the chart (default: braid-demo.svg here).
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// Print only a JSON summary on stdout (for scripts and tests).
    #[arg(long)]
    json: bool,
}

/// Options after checking.
#[derive(Debug)]
struct Options {
    speed: Option<f64>,
    fast: bool,
    seed: Option<u64>,
    policy: Policy,
    duration: Option<Duration>,
    svg: PathBuf,
    json: bool,
}

/// Simulated time between two samples (and live frames).
const TICK: Duration = Duration::from_millis(100);
/// Samples per chart bin and per live throughput figure (half a second).
const BIN: usize = 5;
/// How long after the story the stream may take to drain.
const DRAIN: Duration = Duration::from_secs(60);
/// Wall-clock length of a default run.
const WALL_TARGET_S: f64 = 20.0;

fn parse_options(a: &DemoArgs) -> anyhow::Result<Options> {
    let positive = |name: &str, v: &Option<String>, max: f64| -> anyhow::Result<Option<f64>> {
        let Some(s) = v else { return Ok(None) };
        let x: f64 = s
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} {s}: not a number"))?;
        if !(x.is_finite() && x > 0.0 && x <= max) {
            bail!("{name} {s}: must be greater than 0 and at most {max}");
        }
        Ok(Some(x))
    };
    let speed = positive("--speed", &a.speed, 1e6)?;
    let duration = positive("--duration", &a.duration, 3600.0)?.map(Duration::from_secs_f64);
    let seed = match &a.seed {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| anyhow::anyhow!("--seed {s}: not a whole number from 0 to 2^64-1"))?,
        ),
    };
    let scheduler = match a.scheduler.as_deref() {
        None => SchedulerKind::default(),
        Some(name) => SchedulerKind::from_name(name)
            .map_err(|e| anyhow::anyhow!("--scheduler {name}: {e}"))?,
    };
    let cc = match a.cc.as_deref() {
        None => "cubic",
        Some(name) => CcAlgorithm::from_name(name)
            .map_err(|e| anyhow::anyhow!("--cc {name}: {e}"))?
            .name(),
    };
    Ok(Options {
        speed,
        fast: a.fast,
        seed,
        policy: Policy { scheduler, cc },
        duration,
        svg: a
            .svg
            .clone()
            .unwrap_or_else(|| PathBuf::from("braid-demo.svg")),
        json: a.json,
    })
}

/// Runs `braid demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let opts = parse_options(args)?;
    let mut story = story::load(args.scenario.as_deref())?;
    if let Some(s) = opts.seed {
        story.seed = s;
    }
    if let Some(d) = opts.duration {
        story.duration = d;
    }
    // Fail on an unwritable chart path now, not after the show.
    std::fs::File::create(&opts.svg)
        .map_err(|e| anyhow::anyhow!("--svg {}: {e}", opts.svg.display()))?;
    let speed = if opts.fast {
        None
    } else {
        Some(
            opts.speed
                .unwrap_or(story.duration.as_secs_f64() / WALL_TARGET_S),
        )
    };
    let mode = if opts.json {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Live
    } else {
        Mode::Plain
    };
    let names: Vec<String> = story.paths.iter().map(|p| p.name.clone()).collect();
    let mut view = View::new(mode, names.clone());
    banner(&mut view, &story, speed, opts.policy);
    let played = play(&story, opts.policy, speed, &mut view)?;
    view.line("");
    view.line(&format!(
        "Comparing: the same story over each path alone ({}), as fast as possible...",
        names.join(", ")
    ));
    let alone: Vec<Alone> = (0..story.paths.len())
        .map(|i| run_alone(&story.only_path(i), opts.policy))
        .collect::<anyhow::Result<_>>()?;
    let svg = draw_chart(&opts.svg, &story, &played, opts.policy)?;
    let summary = Summary::new(&story, &played, &alone, opts.policy, svg);
    if opts.json {
        println!("{}", summary.json(&story));
    } else {
        summary.print(&mut view, &story);
    }
    if !summary.intact() {
        bail!("the download did not arrive intact (see the summary)");
    }
    Ok(())
}

fn banner(view: &mut View, story: &Story, speed: Option<f64>, sched: Policy) {
    view.line(
        "braid demo: a phone with WiFi and LTE downloads from a server over ONE Multipath TCP connection.",
    );
    view.line(
        "Both ends run Braid's MPTCP stack (braid-proto) over the deterministic simulator braid-sim.",
    );
    view.line(&format!(
        "Story: {} ({}), seed {}, scheduler {}; {:.0} s simulated, {}.",
        story.name,
        story.origin,
        story.seed,
        sched.label(),
        story.duration.as_secs_f64(),
        match speed {
            Some(s) => format!("played at {s:.2}x"),
            None => "as fast as possible".into(),
        }
    ));
    for (i, p) in story.paths.iter().enumerate() {
        view.line(&format!(
            "  path {} {}{}: server to phone {}",
            i + 1,
            p.name,
            if p.backup { " (backup)" } else { "" },
            describe(&p.down)
        ));
    }
    for n in &story.notes {
        view.line(&format!("  note: {n}"));
    }
    view.line("");
}

/// What the played run left behind.
#[derive(Debug)]
struct Played {
    /// Per sample: cumulative bytes per path.
    samples: Vec<(Instant, Vec<u64>)>,
    /// Bytes the application read by the end of the story.
    at_end: u64,
    delivered: u64,
    written: u64,
    intact: bool,
    complete: bool,
    accepted: u32,
    longest_stall: Duration,
    longest_stall_end: Option<Instant>,
    per_path: Vec<u64>,
    reinjected: u64,
    events: Vec<(Instant, String)>,
}

fn play(
    story: &Story,
    sched: Policy,
    speed: Option<f64>,
    view: &mut View,
) -> anyhow::Result<Played> {
    let n = story.paths.len();
    let mut w = World::new(story, sched)?;
    let end = Instant::ZERO + story.duration;
    let mut network: Vec<(Instant, String)> = Vec::new();
    for (i, b) in story.outages() {
        let name = &story.paths[i].name;
        network.push((b.start, format!("{name}: link goes dark (blackout begins)")));
        if b.end < end {
            network.push((
                b.end,
                format!(
                    "{name}: link is back (the subflow probes a dead path at least every \
                     second, so it resumes within one)"
                ),
            ));
        }
    }
    network.sort_by_key(|e| e.0);
    let mut next_network = 0;
    let mut seen = 0;
    let mut pending_reinjection: Option<(Instant, u64)> = None;
    let mut events = Vec::new();
    let mut samples = vec![(Instant::ZERO, vec![0u64; n])];
    let wall = std::time::Instant::now();
    let mut t = Instant::ZERO;
    let mut at_end = 0;
    while t < end {
        t = (t + TICK).min(end);
        w.sim.run_until(t)?;
        let log = w.log();
        let mut batch: Vec<(Instant, String)> = Vec::new();
        let mut reinjected = None;
        for (at, h) in &log[seen..] {
            if let Happening::Reinjected { total } = h {
                reinjected = Some((*at, *total));
            } else {
                batch.push((*at, say(h, &story.paths)));
            }
        }
        seen = log.len();
        // One line per burst of reinjection: said once it stops growing.
        match (reinjected, pending_reinjection) {
            (Some(r), _) => pending_reinjection = Some(r),
            (None, Some(r)) => {
                batch.push(reinjection_event(r));
                pending_reinjection = None;
            }
            (None, None) => {}
        }
        while next_network < network.len() && network[next_network].0 <= t {
            batch.push(network[next_network].clone());
            next_network += 1;
        }
        batch.sort_by_key(|e| e.0);
        for (at, text) in batch {
            view.event(at, &text);
            events.push((at, text));
        }
        let per_path = w.bytes_per_path(n);
        samples.push((t, per_path.clone()));
        view.frame(&frame(&w, story, &samples, t, end));
        if let Some(speed) = speed {
            let due = std::time::Duration::from_secs_f64(t.as_secs_f64() / speed);
            if let Some(wait) = due.checked_sub(wall.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        at_end = w.phone().received;
        if w.done() {
            break;
        }
    }
    if let Some(r) = pending_reinjection {
        let (at, text) = reinjection_event(r);
        view.event(at, &text);
        events.push((at, text));
    }
    // Leave the last frame on screen.
    view.finish();
    // The stream ends at the end of the story; let it drain (unplayed).
    let phone = w.phone;
    w.sim.run_while(
        |s| match &s.host(phone).app.role {
            world::Role::Phone(p) => p.eof_at.is_none() && p.closed_at.is_none(),
            world::Role::Server(_) => false,
        },
        end + DRAIN,
    )?;
    for (at, h) in &w.log()[seen..] {
        if !matches!(h, Happening::Reinjected { .. }) {
            let text = say(h, &story.paths);
            view.event(*at, &text);
            events.push((*at, text));
        }
    }
    let p = w.phone();
    let s = w.server();
    Ok(Played {
        samples,
        at_end,
        delivered: p.received,
        written: s.written,
        intact: p.mismatch.is_none(),
        complete: p.eof_at.is_some() && p.received == s.written,
        accepted: s.accepted,
        longest_stall: p.longest_stall,
        longest_stall_end: p.longest_stall_end,
        per_path: w.bytes_per_path(n),
        reinjected: s.reinjected,
        events,
    })
}

/// For every outage that ended before the story did: how long after its
/// end the path's byte count grew again (sampled every tick).
fn return_delays(story: &Story, samples: &[(Instant, Vec<u64>)]) -> Vec<(usize, Option<Duration>)> {
    let end = Instant::ZERO + story.duration;
    story
        .outages()
        .into_iter()
        .filter(|(_, b)| b.end < end)
        .map(|(i, b)| {
            let base = samples
                .iter()
                .take_while(|(t, _)| *t <= b.end)
                .last()
                .map_or(0, |(_, v)| v[i]);
            let again = samples
                .iter()
                .find(|(t, v)| *t > b.end && v[i] > base)
                .map(|(t, _)| *t - b.end);
            (i, again)
        })
        .collect()
}

fn reinjection_event((at, total): (Instant, u64)) -> (Instant, String) {
    (
        at,
        format!(
            "server reinjected the data stuck on the failed path onto the other path(s) \
             ({} in all so far)",
            bytes(total)
        ),
    )
}

/// The live view's frame at `t`.
fn frame(
    w: &World,
    story: &Story,
    samples: &[(Instant, Vec<u64>)],
    t: Instant,
    end: Instant,
) -> Frame {
    let n = story.paths.len();
    let back = samples.len().saturating_sub(BIN + 1);
    let (t0, b0) = &samples[back];
    let (t1, b1) = &samples[samples.len() - 1];
    let secs = (*t1 - *t0).as_secs_f64().max(1e-3);
    let rtts = w.rtt_per_path(n);
    let stalled = w.stalled_paths(n);
    let rows = (0..n)
        .map(|i| {
            let mbit = (b1[i] - b0[i]) as f64 * 8.0 / secs / 1e6;
            let dark = story.paths[i]
                .blackouts()
                .iter()
                .any(|b| b.start <= t && t < b.end);
            let status = match (dark, stalled[i], mbit > 0.05) {
                (true, _, _) => "no signal (blackout)",
                (false, true, _) => "stalled: retransmission timeout",
                (false, false, true) => "carrying data",
                (false, false, false) => "idle",
            };
            Row {
                mbit,
                // A smoothed RTT from before the outage would mislead.
                rtt: rtts[i].filter(|_| !dark && !stalled[i]),
                status,
            }
        })
        .collect();
    let p = w.phone();
    Frame {
        t,
        end,
        rows,
        delivered: p.received,
        intact: p.mismatch.is_none(),
    }
}

/// One happening in words.
fn say(h: &Happening, paths: &[story::PathDef]) -> String {
    let name = |i: &usize| paths.get(*i).map_or("?", |p| p.name.as_str());
    match h {
        Happening::Connected { path } => format!(
            "MPTCP connection established over {} (MP_CAPABLE handshake)",
            name(path)
        ),
        Happening::Fallback => "the server did not speak MPTCP: fell back to plain TCP".into(),
        Happening::SubflowEstablished { path, remote } => format!(
            "subflow over {} joined the connection (MP_JOIN to {remote})",
            name(path)
        ),
        Happening::MarkedBackup { path } => {
            format!(
                "phone marked the {} subflow as backup (MP_PRIO)",
                name(path)
            )
        }
        Happening::AddrAnnounced { addr } => {
            format!("server announced another address, {addr} (ADD_ADDR)")
        }
        Happening::SubflowClosed { path, why } => {
            format!("subflow over {} closed: {why}", name(path))
        }
        Happening::PathStalled { path } => format!(
            "{}: retransmission timeout; the server treats the path as failed",
            name(path)
        ),
        Happening::Reinjected { total } => format!("server reinjected {}", bytes(*total)),
        Happening::PathRecovered { path } => {
            format!(
                "{}: a retransmission got through; the path carries data again",
                name(path)
            )
        }
        Happening::BackupInUse { path } => format!(
            "backup subflow over {} now carries data (no regular path left)",
            name(path)
        ),
        Happening::EndOfStream { bytes: b } => {
            format!("phone read the end of the stream after {}", bytes(*b))
        }
        Happening::Closed { why } => format!("connection closed ({why})"),
    }
}

/// One path alone.
#[derive(Debug)]
struct Alone {
    at_end: u64,
    longest_stall: Duration,
    intact: bool,
}

fn run_alone(story: &Story, sched: Policy) -> anyhow::Result<Alone> {
    let mut w = World::new(story, sched)?;
    let end = Instant::ZERO + story.duration;
    w.sim.run_until(end)?;
    let at_end = w.phone().received;
    let p = w.phone();
    // A stall still going on at the end counts too.
    let ongoing = p.last_read.map_or(story.duration, |l| end - l);
    Ok(Alone {
        at_end,
        longest_stall: p.longest_stall.max(ongoing),
        intact: p.mismatch.is_none(),
    })
}

fn draw_chart(
    file: &Path,
    story: &Story,
    played: &Played,
    sched: Policy,
) -> anyhow::Result<PathBuf> {
    let n = story.paths.len();
    let series: Vec<Vec<(f64, f64)>> = (0..n)
        .map(|i| {
            played
                .samples
                .chunks(BIN)
                .zip(played.samples.iter().step_by(BIN).skip(1))
                .map(|(chunk, (t1, b1))| {
                    let (t0, b0) = &chunk[0];
                    let secs = (*t1 - *t0).as_secs_f64().max(1e-3);
                    let mid = (t0.as_secs_f64() + t1.as_secs_f64()) / 2.0;
                    (mid, (b1[i] - b0[i]) as f64 * 8.0 / secs / 1e6)
                })
                .collect()
        })
        .collect();
    let outages: Vec<(usize, f64, f64)> = story
        .outages()
        .into_iter()
        .map(|(i, b)| (i, b.start.as_secs_f64(), b.end.as_secs_f64()))
        .collect();
    let names: Vec<String> = story.paths.iter().map(|p| p.name.clone()).collect();
    chart::draw(
        file,
        &chart::Chart {
            title: format!(
                "braid demo: one MPTCP connection over {} ({}, seed {}, {})",
                names.join(" + "),
                story.name,
                story.seed,
                sched.label()
            ),
            names: &names,
            series: &series,
            outages: &outages,
            end: story.duration.as_secs_f64(),
        },
    )?;
    Ok(std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned()))
}

/// The figures at the end.
#[derive(Debug)]
struct Summary {
    /// Per outage that ended before the story did: (path, how long after
    /// it ended the path carried data again; `None`: never).
    returns: Vec<(usize, Option<Duration>)>,
    scheduler: Policy,
    seconds: f64,
    delivered: u64,
    written: u64,
    intact: bool,
    complete: bool,
    accepted: u32,
    goodput: f64,
    longest_stall: Duration,
    longest_stall_end: Option<Instant>,
    per_path: Vec<u64>,
    alone: Vec<(f64, Duration, bool)>,
    reinjected: u64,
    svg: PathBuf,
    events: Vec<(Instant, String)>,
}

impl Summary {
    fn new(story: &Story, p: &Played, alone: &[Alone], scheduler: Policy, svg: PathBuf) -> Summary {
        let seconds = story.duration.as_secs_f64();
        let mbit = |b: u64| b as f64 * 8.0 / seconds / 1e6;
        Summary {
            returns: return_delays(story, &p.samples),
            scheduler,
            seconds,
            delivered: p.delivered,
            written: p.written,
            intact: p.intact,
            complete: p.complete,
            accepted: p.accepted,
            goodput: mbit(p.at_end),
            longest_stall: p.longest_stall,
            longest_stall_end: p.longest_stall_end,
            per_path: p.per_path.clone(),
            alone: alone
                .iter()
                .map(|a| (mbit(a.at_end), a.longest_stall, a.intact))
                .collect(),
            reinjected: p.reinjected,
            svg,
            events: p.events.clone(),
        }
    }

    /// Every byte written arrived, each equal to the stream, over one
    /// connection.
    fn intact(&self) -> bool {
        self.intact && self.complete && self.accepted == 1
    }

    fn best_alone(&self) -> f64 {
        self.alone.iter().map(|a| a.0).fold(0.0, f64::max)
    }

    fn print(&self, view: &mut View, story: &Story) {
        let names: Vec<&str> = story.paths.iter().map(|p| p.name.as_str()).collect();
        let total: u64 = self.per_path.iter().sum::<u64>().max(1);
        view.line("");
        view.line(&format!(
            "Summary ({:.0} s simulated, seed {}, scheduler {})",
            self.seconds,
            story.seed,
            self.scheduler.label()
        ));
        view.line(&format!(
            "  delivered      {} bytes ({}), {}",
            self.delivered,
            bytes(self.delivered),
            if self.intact() {
                "byte-exact: every byte compared with the server's stream, end of stream read, \
                 one connection (no reconnect)"
                    .to_string()
            } else {
                format!(
                    "NOT INTACT: intact {} complete {} ({} of {} written) connections {}",
                    self.intact, self.complete, self.delivered, self.written, self.accepted
                )
            }
        ));
        let split: Vec<String> = names
            .iter()
            .zip(&self.per_path)
            .map(|(n, b)| {
                format!(
                    "{n} {} ({:.0} %)",
                    bytes(*b),
                    *b as f64 * 100.0 / total as f64
                )
            })
            .collect();
        view.line(&format!("  per path       {}", split.join(", ")));
        view.line(&format!(
            "  goodput        {:.1} Mbit/s over {} together (bytes read in the {:.0} s)",
            self.goodput,
            names.join(" + "),
            self.seconds
        ));
        for (n, (g, stall, _)) in names.iter().zip(&self.alone) {
            view.line(&format!(
                "                 {g:.1} Mbit/s over {n} alone (its longest stall {:.2} s)",
                stall.as_secs_f64()
            ));
        }
        let best = self.best_alone();
        if best > 0.0 {
            view.line(&format!(
                "                 = {:.2}x the best single path",
                self.goodput / best
            ));
        }
        view.line(&format!(
            "  longest stall  {:.2} s without a new byte for the application{}",
            self.longest_stall.as_secs_f64(),
            self.longest_stall_end
                .map(|t| format!(" (ending at t = {:.2} s)", t.as_secs_f64()))
                .unwrap_or_default()
        ));
        for (i, d) in &self.returns {
            view.line(&format!(
                "  path return    {} carried data again {}",
                names[*i],
                d.map_or("never (before the story ended)".to_string(), |d| format!(
                    "{:.2} s after it came back",
                    d.as_secs_f64()
                ))
            ));
        }
        view.line(&format!(
            "  reinjected     {} moved off a failed path by the server",
            bytes(self.reinjected)
        ));
        view.line(&format!("  chart          {}", self.svg.display()));
    }

    fn json(&self, story: &Story) -> serde_json::Value {
        let paths: Vec<serde_json::Value> = story
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (g, stall, intact) = self.alone[i];
                serde_json::json!({
                    "name": p.name,
                    "backup": p.backup,
                    "bytes": self.per_path[i],
                    "alone_goodput_mbps": g,
                    "alone_longest_stall_s": stall.as_secs_f64(),
                    "alone_byte_exact": intact,
                })
            })
            .collect();
        serde_json::json!({
            "scenario": story.name,
            "seed": story.seed,
            "scheduler": self.scheduler.scheduler.name(),
            "cc": self.scheduler.cc,
            "duration_s": self.seconds,
            "bytes_delivered": self.delivered,
            "bytes_written": self.written,
            "byte_exact": self.intact,
            "complete": self.complete,
            "connections": self.accepted,
            "goodput_mbps": self.goodput,
            "best_single_path_goodput_mbps": self.best_alone(),
            "longest_stall_s": self.longest_stall.as_secs_f64(),
            "returns": self.returns.iter().map(|(i, d)| serde_json::json!({
                "path": story.paths[*i].name,
                "delay_s": d.map(|d| d.as_secs_f64()),
            })).collect::<Vec<_>>(),
            "reinjected_bytes": self.reinjected,
            "paths": paths,
            "svg": self.svg.display().to_string(),
            "events": self.events.iter().map(|(t, e)| serde_json::json!({
                "t_s": t.as_secs_f64(), "event": e
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> DemoArgs {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct T {
            #[command(flatten)]
            a: DemoArgs,
        }
        let mut v = vec!["demo"];
        v.extend_from_slice(list);
        T::parse_from(v).a
    }

    const DEFAULT_POLICY: Policy = Policy {
        scheduler: SchedulerKind::MinRtt,
        cc: "cubic",
    };

    fn err(list: &[&str]) -> String {
        format!("{:#}", parse_options(&args(list)).unwrap_err())
    }

    #[test]
    fn bad_values_are_named_on_one_line() {
        for (a, want) in [
            (
                &["--scheduler", "fastest"][..],
                "--scheduler fastest: unknown scheduler \"fastest\" (choices: minrtt,",
            ),
            (
                &["--cc", "bbr"][..],
                "--cc bbr: unknown congestion control \"bbr\" (choices: cubic, newreno, lia,",
            ),
            (&["--speed", "abc"][..], "--speed abc: not a number"),
            (&["--speed", "0"][..], "--speed 0: must be greater than 0"),
            (&["--speed", "-2"][..], "--speed -2: must be greater than 0"),
            (&["--duration", "nan"][..], "--duration nan: must be"),
            (&["--seed", "-1"][..], "--seed -1: not a whole number"),
        ] {
            let e = err(a);
            assert!(e.contains(want), "{a:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn defaults() {
        let o = parse_options(&args(&[])).unwrap();
        assert_eq!(o.policy.scheduler, SchedulerKind::MinRtt);
        assert_eq!(o.policy.cc, "cubic");
        assert_eq!(o.svg, PathBuf::from("braid-demo.svg"));
        assert!(o.speed.is_none() && o.seed.is_none() && o.duration.is_none());
        let o = parse_options(&args(&[
            "--scheduler",
            "RoundRobin",
            "--seed",
            "7",
            "--cc",
            "lia",
        ]))
        .unwrap();
        assert_eq!(o.policy.scheduler, SchedulerKind::RoundRobin);
        assert_eq!(o.policy.cc, "lia");
        assert_eq!(o.seed, Some(7));
    }

    /// The built-in story, fast: both paths carry data, WiFi's outage is
    /// survived without a reconnect, every byte arrives intact, and the
    /// pair beats either path alone.
    #[test]
    fn built_in_story_aggregates_and_survives_the_outage() {
        aggregates_and_survives(Story::built_in());
    }

    /// The same for the fallback story (no shared traces).
    #[test]
    fn scripted_ramp_aggregates_and_survives_the_outage() {
        aggregates_and_survives(story::scripted_ramp());
    }

    fn aggregates_and_survives(story: Story) {
        let mut view = View::new(Mode::Quiet, vec![]);
        let p = play(&story, DEFAULT_POLICY, None, &mut view).unwrap();
        assert!(p.intact && p.complete, "{p:?}");
        assert_eq!(p.accepted, 1);
        assert!(
            p.per_path.iter().all(|b| *b > 1_000_000),
            "{:?}",
            p.per_path
        );
        assert!(
            p.longest_stall < Duration::from_secs(2),
            "{:?}",
            p.longest_stall
        );
        let alone: Vec<u64> = (0..2)
            .map(|i| {
                run_alone(&story.only_path(i), DEFAULT_POLICY)
                    .unwrap()
                    .at_end
            })
            .collect();
        assert!(
            alone.iter().all(|a| p.at_end > *a),
            "{} vs {alone:?}",
            p.at_end
        );
    }
}
