//! Per-interval sampling and live progress.
//!
//! A sampler task wakes every interval, reads the application byte counter
//! the workload bumps and the stack's [`Probe`], records an
//! [`IntervalSample`] and shows it: indicatif bars on a terminal, one plain
//! line per interval otherwise, nothing with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::report::{
    IntervalSample, IntervalSubflow, Role, SubflowTracker, bits_per_second, human_bytes, human_rate,
};
use crate::stack::Probe;

/// Most interval samples kept (a day at one per second).
const MAX_INTERVALS: usize = 86_400;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// indicatif bars on stdout.
    Terminal,
    /// One plain line per interval on stdout.
    Lines,
    /// Nothing (JSON output, tests).
    Quiet,
}

impl Display {
    /// Bars if stdout is a terminal, plain lines otherwise; quiet for JSON.
    pub fn detect(json: bool) -> Self {
        if json {
            Display::Quiet
        } else if std::io::stdout().is_terminal() {
            Display::Terminal
        } else {
            Display::Lines
        }
    }
}

/// What the sampler gathered.
#[derive(Debug)]
pub struct SamplerOutput {
    /// One sample per interval.
    pub intervals: Vec<IntervalSample>,
    /// Every subflow seen, with its last counters.
    pub tracker: SubflowTracker,
    /// Kernel MPTCP: whether the connection fell back to TCP.
    pub fallback: Option<bool>,
    /// Wall-clock time the intervals' `t_s` count from, seconds since the
    /// UNIX epoch.
    pub start_unix_s: Option<f64>,
}

/// A running sampler task.
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<SamplerOutput>,
}

/// What the sampler watches.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The stack's probe.
    pub probe: Arc<dyn Probe>,
    /// Payload bytes the client application has moved so far.
    pub counter: Arc<AtomicU64>,
    /// Which counters count as "the bytes" of a subflow.
    pub role: Role,
    /// Expected total, for a progress bar with an end.
    pub total: Option<u64>,
}

impl Sampler {
    /// Starts sampling every `every`.
    pub fn spawn(watch: Watch, every: Duration, display: Display) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(watch, every, display, stopped));
        Self { stop, task }
    }

    /// Stops the sampler, takes a last probe sample and returns everything.
    pub async fn finish(self) -> SamplerOutput {
        // The task may have ended already; then the send fails harmlessly.
        let _ = self.stop.send(());
        match self.task.await {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

async fn run(
    watch: Watch,
    every: Duration,
    display: Display,
    mut stopped: oneshot::Receiver<()>,
) -> SamplerOutput {
    let start = Instant::now();
    let start_unix_s = unix_now_s();
    let mut tracker = SubflowTracker::new(watch.role);
    let mut shown = Shown::new(display, watch.total);
    let mut out: Vec<IntervalSample> = Vec::new();
    let mut last_t = start;
    let mut last_bytes = 0u64;
    // Length of the last interval recorded, seconds.
    let mut last_dt = 0.0;
    let mut fallback = None;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            _ = &mut stopped => stopping = true,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let dt = now.duration_since(last_t).as_secs_f64();
        let bytes = watch.counter.load(Ordering::Relaxed);
        if stopping && bytes == last_bytes {
            // Nothing worth a last, partial interval.
            break;
        }
        if stopping
            && dt < 1e-3
            && let Some(last) = out.last_mut()
        {
            // Too short for an interval of its own (its rate would mean
            // nothing): the last bytes join the previous interval, so the
            // intervals still add up to the total.
            last.bytes += bytes.saturating_sub(last_bytes);
            last.bps = bits_per_second(last.bytes, last_dt + dt);
            break;
        }
        let before = tracker.clone();
        let sample = watch.probe.sample();
        fallback = sample.fallback.or(fallback);
        tracker.update(&sample.subflows);
        let subflows = tracker
            .reports()
            .iter()
            .map(|r| {
                let delta = r.bytes.saturating_sub(before.bytes_of(r));
                IntervalSubflow {
                    local: r.local,
                    remote: r.remote,
                    bytes: delta,
                    bps: bits_per_second(delta, dt),
                }
            })
            .collect();
        let delta = bytes.saturating_sub(last_bytes);
        let s = IntervalSample {
            t_s: now.duration_since(start).as_secs_f64(),
            bytes: delta,
            bps: bits_per_second(delta, dt),
            subflows,
        };
        shown.show(&s, bytes);
        if out.len() < MAX_INTERVALS {
            out.push(s);
        }
        last_t = now;
        last_bytes = bytes;
        last_dt = dt;
    }
    let sample = watch.probe.sample();
    fallback = sample.fallback.or(fallback);
    tracker.update(&sample.subflows);
    shown.finish();
    SamplerOutput {
        intervals: out,
        tracker,
        fallback,
        start_unix_s,
    }
}

/// Now, seconds since the UNIX epoch (`None` for a clock set before it).
pub fn unix_now_s() -> Option<f64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

/// The live display.
struct Shown {
    display: Display,
    multi: Option<MultiProgress>,
    total_bar: Option<ProgressBar>,
    subflow_bars: Vec<ProgressBar>,
}

impl Shown {
    fn new(display: Display, total: Option<u64>) -> Self {
        let mut shown = Self {
            display,
            multi: None,
            total_bar: None,
            subflow_bars: Vec::new(),
        };
        if display == Display::Terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template(
                        "{elapsed:>4} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{elapsed:>4} {spinner} {bytes} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            shown.total_bar = Some(multi.add(bar));
            shown.multi = Some(multi);
        }
        shown
    }

    fn show(&mut self, s: &IntervalSample, total: u64) {
        match self.display {
            Display::Quiet => {}
            Display::Lines => {
                let mut line = format!(
                    "[{:6.2}s] {} {:>11} total",
                    s.t_s,
                    human_rate(s.bps),
                    human_bytes(total)
                );
                for (i, sf) in s.subflows.iter().enumerate() {
                    line.push_str(&format!(
                        " | sf{} {} -> {} {}",
                        i,
                        addr(sf.local),
                        addr(sf.remote),
                        human_rate(sf.bps)
                    ));
                }
                // A closed stdout (`| head`) must not stop the test.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Display::Terminal => {
                if let Some(bar) = &self.total_bar {
                    bar.set_position(total);
                    bar.set_message(human_rate(s.bps));
                }
                while self.subflow_bars.len() < s.subflows.len() {
                    let bar = ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("  {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    let bar = match &self.multi {
                        Some(m) => m.add(bar),
                        None => bar,
                    };
                    self.subflow_bars.push(bar);
                }
                for (bar, sf) in self.subflow_bars.iter().zip(&s.subflows) {
                    bar.set_message(format!(
                        "{} -> {}  {}",
                        addr(sf.local),
                        addr(sf.remote),
                        human_rate(sf.bps)
                    ));
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.total_bar {
            bar.finish();
        }
        for bar in &self.subflow_bars {
            bar.finish();
        }
    }
}

/// An optional address for display.
pub fn addr(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "?".to_string(), |a| a.to_string())
}
