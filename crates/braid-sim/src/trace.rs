//! Capacity traces: recorded link capacity replayed by a link direction.
//!
//! Two formats (see `shared/traces/README.md`):
//! - [`MahimahiTrace`]: one line per delivery opportunity of one 1500-byte
//!   packet, the number being the millisecond since the trace start; a
//!   repeated number means several opportunities in that millisecond. The
//!   trace loops with a period equal to its last timestamp, as in mahimahi's
//!   `mm-link` (a file holding just `1` is a 12 Mbit/s link).
//! - [`CsvTrace`]: lines `timeInSeconds,bytesPerSecond`, one a second. Line
//!   `k` (counting from 0) gives the rate during `[k s, (k+1) s)` of the
//!   trace: the rate is piecewise constant. The time column must increase
//!   but is otherwise not used. After the last line the trace either loops
//!   or holds the last rate ([`CsvEnd`]).
//!
//! Trace time zero is simulation time zero.

use std::path::{Path, PathBuf};

use braid_proto::time::Instant;

/// Bytes one mahimahi delivery opportunity carries.
pub const MAHIMAHI_OPPORTUNITY_BYTES: u64 = 1500;

/// The directory holding Braid's shared traces (`mahimahi/`, `wifi-cellular/`).
///
/// Locally this is `/work/shared/traces`; CI has the same layout at
/// `../shared/traces` relative to the repository root.
pub fn shared_trace_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/traces"
    ))
}

/// Why a trace could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("reading trace {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line did not parse.
    #[error("trace line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The trace offers no capacity at all (empty, all zero, or zero period).
    #[error("trace has no capacity")]
    NoCapacity,
}

fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|source| TraceError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A mahimahi packet-delivery trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MahimahiTrace {
    /// Opportunity times in milliseconds, non-decreasing.
    opportunities_ms: Vec<u64>,
    /// Loop period in milliseconds (the last timestamp), > 0.
    period_ms: u64,
}

impl MahimahiTrace {
    /// Reads a trace file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Self::parse(&read(path.as_ref())?)
    }

    /// Parses trace text; blank lines are ignored.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let mut opportunities_ms = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let ms: u64 = line.parse().map_err(|_| TraceError::Parse {
                line: i + 1,
                reason: "not a millisecond count",
            })?;
            if opportunities_ms.last().is_some_and(|&last| ms < last) {
                return Err(TraceError::Parse {
                    line: i + 1,
                    reason: "timestamps decrease",
                });
            }
            opportunities_ms.push(ms);
        }
        let period_ms = *opportunities_ms.last().ok_or(TraceError::NoCapacity)?;
        if period_ms == 0 {
            return Err(TraceError::NoCapacity);
        }
        Ok(MahimahiTrace {
            opportunities_ms,
            period_ms,
        })
    }

    /// Delivery opportunities in one period.
    pub fn opportunities(&self) -> usize {
        self.opportunities_ms.len()
    }

    /// The loop period.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// Mean capacity over one period, bit/s.
    pub fn mean_rate_bps(&self) -> f64 {
        (self.opportunities() as u64 * MAHIMAHI_OPPORTUNITY_BYTES * 8) as f64
            / (self.period_ms as f64 / 1000.0)
    }

    /// Time of opportunity number `index` (counting across loops).
    pub(crate) fn time_of(&self, index: u64) -> Instant {
        let n = self.opportunities_ms.len() as u64;
        let lap = index / n;
        let ms = lap
            .saturating_mul(self.period_ms)
            .saturating_add(self.opportunities_ms[(index % n) as usize]);
        Instant::from_micros(ms.saturating_mul(1000))
    }

    /// Index of the first opportunity at or after `at`.
    pub(crate) fn first_at_or_after(&self, at: Instant) -> u64 {
        let n = self.opportunities_ms.len() as u64;
        // Opportunities fall on whole milliseconds.
        let ms = at.total_micros().div_ceil(1000);
        let lap = ms / self.period_ms;
        let within = ms % self.period_ms;
        let idx = self.opportunities_ms.partition_point(|&t| t < within) as u64;
        lap.saturating_mul(n).saturating_add(idx)
    }
}

/// What a [`CsvTrace`] does after its last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEnd {
    /// Start over from the first line (default, like mahimahi).
    #[default]
    Loop,
    /// Keep the last line's rate forever.
    HoldLast,
}

/// A per-second rate trace (`timeInSeconds,bytesPerSecond`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTrace {
    bytes_per_sec: Vec<u64>,
    /// Bytes one pass over the trace carries (> 0).
    period_bytes: u64,
    end: CsvEnd,
}

impl CsvTrace {
    /// Reads a trace file.
    pub fn from_file(path: impl AsRef<Path>, end: CsvEnd) -> Result<Self, TraceError> {
        Self::parse(&read(path.as_ref())?, end)
    }

    /// Parses trace text. Blank lines are ignored, and so is a first line
    /// that is not numeric (a header).
    pub fn parse(text: &str, end: CsvEnd) -> Result<Self, TraceError> {
        let mut bytes_per_sec = Vec::new();
        let mut last_time: Option<f64> = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason| TraceError::Parse {
                line: i + 1,
                reason,
            };
            let (time, rate) = line
                .split_once(',')
                .ok_or(err("expected `seconds,bytesPerSecond`"))?;
            let (time, rate) = match (time.trim().parse::<f64>(), rate.trim().parse::<f64>()) {
                (Ok(t), Ok(r)) => (t, r),
                _ if bytes_per_sec.is_empty() && last_time.is_none() && i == 0 => continue,
                _ => return Err(err("not a number")),
            };
            if !(time.is_finite() && rate.is_finite() && rate >= 0.0) {
                return Err(err("out of range"));
            }
            if last_time.is_some_and(|last| time <= last) {
                return Err(err("time does not increase"));
            }
            last_time = Some(time);
            bytes_per_sec.push(rate.round() as u64);
        }
        let period_bytes = bytes_per_sec.iter().fold(0u64, |a, &r| a.saturating_add(r));
        if period_bytes == 0 {
            return Err(TraceError::NoCapacity);
        }
        Ok(CsvTrace {
            bytes_per_sec,
            period_bytes,
            end,
        })
    }

    /// The rates, bytes per second, one per second of trace.
    pub fn rates(&self) -> &[u64] {
        &self.bytes_per_sec
    }

    /// Behaviour after the last line.
    pub fn end(&self) -> CsvEnd {
        self.end
    }

    /// Rate (bytes/s) during second `sec` of the simulation.
    pub fn rate_at_second(&self, sec: u64) -> u64 {
        let n = self.bytes_per_sec.len() as u64;
        let idx = match self.end {
            CsvEnd::Loop => sec % n,
            CsvEnd::HoldLast => sec.min(n - 1),
        };
        self.bytes_per_sec[idx as usize]
    }

    /// When `bytes` entering service at `start_ns` (nanoseconds) finish, in
    /// nanoseconds, or `None` if they never do (a held zero rate).
    /// Nanosecond bookkeeping keeps rounding from accumulating over packets.
    pub(crate) fn finish_time_ns(&self, start_ns: u128, bytes: u64) -> Option<u128> {
        const SEC: u128 = 1_000_000_000;
        // Work in byte-nanoseconds per second so all arithmetic is exact.
        let mut need = u128::from(bytes) * SEC;
        let mut t = start_ns;
        let n = self.bytes_per_sec.len() as u64;
        // Each pass over the trace carries `period_bytes`: this many
        // one-second steps always suffice unless a zero rate is held.
        let mut budget = (bytes / self.period_bytes + 3).saturating_mul(n);
        loop {
            let sec = u64::try_from(t / SEC).ok()?;
            let rate = u128::from(self.rate_at_second(sec));
            let seg_end = (t / SEC + 1) * SEC;
            let capacity = rate * (seg_end - t);
            if rate > 0 && capacity >= need {
                return Some(t + need.div_ceil(rate));
            }
            need -= capacity;
            t = seg_end;
            if self.end == CsvEnd::HoldLast && sec >= n && rate == 0 {
                return None;
            }
            budget = budget.checked_sub(1)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mahimahi_parse_and_seek() {
        let t = MahimahiTrace::parse("0\n0\n5\n10\n").unwrap();
        assert_eq!(t.opportunities(), 4);
        assert_eq!(t.period_ms(), 10);
        assert_eq!(t.first_at_or_after(Instant::ZERO), 0);
        assert_eq!(t.first_at_or_after(Instant::from_micros(1)), 2);
        assert_eq!(t.first_at_or_after(Instant::from_millis(6)), 3);
        assert_eq!(t.first_at_or_after(Instant::from_millis(11)), 6);
        assert_eq!(t.time_of(6), Instant::from_millis(15));
        assert!(MahimahiTrace::parse("").is_err());
        assert!(MahimahiTrace::parse("0\n").is_err());
        assert!(MahimahiTrace::parse("5\n3\n").is_err());
        assert!(MahimahiTrace::parse("x").is_err());
    }

    #[test]
    fn csv_parse_and_finish() {
        let t = CsvTrace::parse("t,b\n1,1000\n2,0\n3,2000\n", CsvEnd::Loop).unwrap();
        assert_eq!(t.rates(), &[1000, 0, 2000]);
        // 500 bytes at 1000 B/s: half a second.
        let ms = |m: u128| m * 1_000_000;
        assert_eq!(t.finish_time_ns(0, 500), Some(ms(500)));
        // 1500 bytes from 0: 1000 in s0, 0 in s1, 500 in s2 at 2000 B/s.
        assert_eq!(t.finish_time_ns(0, 1500), Some(ms(2250)));
        let held = CsvTrace::parse("1,1000\n2,0\n", CsvEnd::HoldLast).unwrap();
        assert_eq!(held.finish_time_ns(ms(5000), 1), None);
        assert!(CsvTrace::parse("1,0\n", CsvEnd::Loop).is_err());
        assert!(CsvTrace::parse("1,5\n1,5\n", CsvEnd::Loop).is_err());
        assert!(CsvTrace::parse("1,-5\n", CsvEnd::Loop).is_err());
    }
}
