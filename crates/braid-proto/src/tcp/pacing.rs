//! Internal pacing, after Linux's (used when no `fq` qdisc paces the
//! socket: `tcp_internal_pacing` and `tcp_update_pacing_rate` in
//! `net/ipv4/tcp_output.c` and `tcp_input.c`). Data segments leave at
//! cwnd / srtt times 2 in slow start (cwnd below half of ssthresh) and 1.2
//! in congestion avoidance (the `tcp_pacing_ss_ratio` = 200 and
//! `tcp_pacing_ca_ratio` = 120 defaults), so a window opened by slow start
//! is spread over the round trip instead of leaving as one burst into the
//! bottleneck's queue.
//!
//! A host's timers fire late by up to a millisecond (tokio's resolution),
//! so the pacer holds a segment only when it is due more than [`SLACK`]
//! from now, and a segment sent late takes up to [`SLACK`] of that
//! lateness as credit (Linux gives up to half a segment's interval for
//! "OS jitter"): bursts stay within about two milliseconds of data.

use crate::time::{Duration, Instant};

/// How early a segment may leave, and how much lateness counts as credit.
pub const SLACK: Duration = Duration::from_millis(1);

/// The pacing rate, bytes per second: `cwnd / srtt` times 2 in slow start
/// (`cwnd < ssthresh / 2`), else times 1.2. None without an RTT sample
/// (the first window goes unpaced, as Linux's does before one).
pub fn rate(cwnd: usize, ssthresh: usize, srtt: Option<Duration>) -> Option<u64> {
    let us = (srtt?.as_micros() as u64).max(1);
    let ratio = if cwnd < ssthresh / 2 { 200 } else { 120 };
    Some((cwnd as u64).saturating_mul(1_000_000) / us * ratio / 100)
}

/// When the next data segment may leave.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacer {
    next: Option<Instant>,
}

impl Pacer {
    /// The instant to wait for, if the next segment must wait.
    pub fn hold(&self, now: Instant) -> Option<Instant> {
        self.next.filter(|t| *t > now + SLACK)
    }

    /// A data segment of `len` bytes left at `now`; the next may leave
    /// `len / rate` later. No credit builds up while idle (beyond
    /// [`SLACK`] of lateness).
    pub fn on_send(&mut self, now: Instant, len: usize, rate: Option<u64>) {
        let Some(rate) = rate.filter(|r| *r > 0) else {
            self.next = None;
            return;
        };
        let floor = now - SLACK;
        let start = self.next.map_or(now, |t| t.max(floor));
        let us = (len as u64).saturating_mul(1_000_000) / rate;
        self.next = Some(start + Duration::from_micros(us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_doubles_in_slow_start_and_is_1_2_after() {
        let srtt = Some(Duration::from_millis(100));
        // 100 kB per 100 ms = 1 MB/s.
        assert_eq!(rate(100_000, usize::MAX, srtt), Some(2_000_000));
        assert_eq!(rate(100_000, 150_000, srtt), Some(1_200_000));
        assert_eq!(rate(100_000, 150_000, None), None);
    }

    #[test]
    fn segments_are_spaced_by_len_over_rate() {
        let mut p = Pacer::default();
        let t0 = Instant::ZERO + Duration::from_secs(1);
        assert_eq!(p.hold(t0), None);
        // 1,000,000 B/s: 1500 B every 1.5 ms.
        for k in 0..10u64 {
            p.on_send(t0, 1500, Some(1_000_000));
            let due = t0 + Duration::from_micros(1500 * (k + 1));
            assert_eq!(p.next, Some(due));
        }
        // Sent back to back at t0: the 10th is due 15 ms on, so held.
        assert_eq!(p.hold(t0), Some(t0 + Duration::from_micros(15_000)));
        // Within the slack of due: not held.
        assert_eq!(p.hold(t0 + Duration::from_micros(14_500)), None);
    }

    #[test]
    fn idle_builds_no_credit_beyond_the_slack() {
        let mut p = Pacer::default();
        let t0 = Instant::ZERO + Duration::from_secs(1);
        p.on_send(t0, 1500, Some(1_000_000));
        // Idle for a second: the next starts from now - SLACK.
        let t1 = t0 + Duration::from_secs(1);
        p.on_send(t1, 1500, Some(1_000_000));
        assert_eq!(p.next, Some(t1 - SLACK + Duration::from_micros(1500)));
        assert_eq!(p.hold(t1), None);
        p.on_send(t1, 1500, Some(1_000_000));
        p.on_send(t1, 1500, Some(1_000_000));
        assert!(p.hold(t1).is_some());
    }
}
