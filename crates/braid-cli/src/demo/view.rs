//! What the user watches: a live view redrawn in place when stdout is a
//! terminal, plain lines (one a simulated second, one per event) when it
//! is not, nothing with `--json`.

use std::io::Write;

use braid_proto::time::{Duration, Instant};

/// How the demo talks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal: a block of bars redrawn with ANSI escapes.
    Live,
    /// Lines only.
    Plain,
    /// Nothing (the JSON summary is the output).
    Quiet,
}

/// One path's row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Throughput over the last half second, Mbit/s.
    pub mbit: f64,
    /// The server's smoothed RTT on the path.
    pub rtt: Option<Duration>,
    /// What the path is doing, in a few words.
    pub status: &'static str,
}

/// One frame of the live view.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Simulated time.
    pub t: Instant,
    /// End of the story.
    pub end: Instant,
    /// Per path.
    pub rows: Vec<Row>,
    /// Bytes the application read, all checked so far.
    pub delivered: u64,
    /// No byte differed so far.
    pub intact: bool,
}

/// The live view or the plain lines.
#[derive(Debug)]
pub struct View {
    mode: Mode,
    names: Vec<String>,
    /// Lines of the live block on screen now.
    drawn: usize,
    last_plain_second: Option<u64>,
    scale: f64,
}

const BAR: usize = 32;
/// ANSI colours of the paths (blue, orange, green, magenta), matching the
/// chart's.
const COLOURS: [&str; 4] = ["\x1b[34m", "\x1b[33m", "\x1b[32m", "\x1b[35m"];

impl View {
    /// A view of paths named `names`.
    pub fn new(mode: Mode, names: Vec<String>) -> View {
        View {
            mode,
            names,
            drawn: 0,
            last_plain_second: None,
            scale: 10.0,
        }
    }

    /// Prints a line (not an event): banners, notes.
    pub fn line(&mut self, text: &str) {
        if self.mode != Mode::Quiet {
            self.erase();
            println!("{text}");
        }
    }

    /// An event at simulated time `t`.
    pub fn event(&mut self, t: Instant, text: &str) {
        self.line(&format!("  [{:>6.2} s] {text}", t.as_secs_f64()));
    }

    /// Draws a frame (live) or a line per simulated second (plain).
    pub fn frame(&mut self, f: &Frame) {
        let peak = f.rows.iter().map(|r| r.mbit).fold(0.0, f64::max);
        while peak > self.scale {
            self.scale = next_scale(self.scale);
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let sec = f.t.total_millis() / 1000;
                if self.last_plain_second.is_some_and(|s| s >= sec) {
                    return;
                }
                self.last_plain_second = Some(sec);
                let paths: Vec<String> = f
                    .rows
                    .iter()
                    .zip(&self.names)
                    .map(|(r, n)| {
                        format!(
                            "{n} {:5.1} Mbit/s rtt {} ({})",
                            r.mbit,
                            rtt(r.rtt),
                            r.status
                        )
                    })
                    .collect();
                println!(
                    "  t = {:>5.1} s  {}  delivered {}",
                    f.t.as_secs_f64(),
                    paths.join("  "),
                    bytes(f.delivered)
                );
            }
            Mode::Live => {
                self.erase();
                let mut out = String::new();
                out.push_str(&format!(
                    "\x1b[1m  t = {:5.1} s of {:.0} s simulated\x1b[0m   delivered {} {}\n",
                    f.t.as_secs_f64(),
                    f.end.as_secs_f64(),
                    bytes(f.delivered),
                    if f.intact {
                        "(every byte checked: intact)"
                    } else {
                        "\x1b[31m(CORRUPTED)\x1b[0m"
                    }
                ));
                let width = self.names.iter().map(|n| n.len()).max().unwrap_or(4);
                for (i, (r, n)) in f.rows.iter().zip(&self.names).enumerate() {
                    let fill = ((r.mbit / self.scale) * BAR as f64).round() as usize;
                    let fill = fill.min(BAR);
                    out.push_str(&format!(
                        "  {c}{n:<width$} {bar}{rest}\x1b[0m {:6.1} Mbit/s  rtt {:>7}  {}\n",
                        r.mbit,
                        rtt(r.rtt),
                        r.status,
                        c = COLOURS[i % COLOURS.len()],
                        bar = "█".repeat(fill),
                        rest = "·".repeat(BAR - fill),
                    ));
                }
                let total: f64 = f.rows.iter().map(|r| r.mbit).sum();
                out.push_str(&format!(
                    "  {:<width$} {:>w2$} {total:6.1} Mbit/s  (bar scale {} Mbit/s)\n",
                    "total",
                    "",
                    self.scale,
                    w2 = BAR
                ));
                print!("{out}");
                self.drawn = f.rows.len() + 2;
            }
        }
        let _ = std::io::stdout().flush();
    }

    /// Leaves the last frame on screen.
    pub fn finish(&mut self) {
        self.drawn = 0;
        let _ = std::io::stdout().flush();
    }

    fn erase(&mut self) {
        if self.drawn > 0 {
            print!("\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }
}

fn next_scale(s: f64) -> f64 {
    // 10, 20, 50, 100, 200, 500, ...
    let m = s / 10f64.powf(s.log10().floor());
    if m < 1.5 {
        s * 2.0
    } else if m < 3.0 {
        s * 2.5
    } else {
        s * 2.0
    }
}

fn rtt(r: Option<Duration>) -> String {
    r.map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
}

/// Bytes for people: `12.3 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        let mut s = 10.0;
        let mut seen = vec![];
        for _ in 0..5 {
            s = next_scale(s);
            seen.push(s);
        }
        assert_eq!(seen, vec![20.0, 50.0, 100.0, 200.0, 500.0]);
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
    }
}
