//! HyStart++ (RFC 9406): leave the initial slow start when the RTT shows a
//! queue building, before the window overshoots the path by a factor of
//! two and loses half a window at once.
//!
//! The controller never sees sequence numbers, so a round ("windowEnd =
//! SND.NXT", section 4.2) is tracked in acknowledged bytes: a round that
//! starts when `A` bytes were acknowledged and `F` were in flight ends once
//! `A + F` bytes are acknowledged.
//!
//! Braid uses RFC 9406's recommended constants (section 4.3) and `L = 2`
//! (no pacing; RFC 3465 byte counting as in plain slow start).

use super::AckInfo;
use crate::time::Duration;

/// "MIN_RTT_THRESH = 4 msec".
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// "MAX_RTT_THRESH = 16 msec".
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// "MIN_RTT_DIVISOR = 8".
const MIN_RTT_DIVISOR: u32 = 8;
/// "N_RTT_SAMPLE = 8".
const N_RTT_SAMPLE: u32 = 8;
/// "CSS_GROWTH_DIVISOR = 4".
const CSS_GROWTH_DIVISOR: usize = 4;
/// "CSS_ROUNDS = 5".
const CSS_ROUNDS: u32 = 5;
/// Segments per ACK slow start may add (RFC 3465 L).
const L: usize = 2;

/// "RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
/// MAX_RTT_THRESH))": the RTT increase over `base` that means a queue.
pub(crate) fn rtt_thresh(base: Duration) -> Duration {
    (base / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH)
}

/// Conservative slow start (section 4.2).
#[derive(Debug, Clone, Copy)]
struct Css {
    /// "cssBaselineMinRtt".
    baseline: Duration,
    rounds: u32,
}

/// What one ACK does to the window during the initial slow start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlowStartStep {
    /// Bytes to add to cwnd.
    pub increase: usize,
    /// Leave slow start now: set ssthresh to cwnd (after the increase).
    pub enter_congestion_avoidance: bool,
}

/// HyStart++ state for the initial slow start of one subflow.
#[derive(Debug, Clone, Default)]
pub(crate) struct HyStart {
    acked_total: u64,
    /// `acked_total` at which the current round ends.
    round_end: Option<u64>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    css: Option<Css>,
    /// Bytes in flight when the current round began.
    round_flight: Option<usize>,
    /// Bytes in flight when the previous round began.
    previous_round_flight: Option<usize>,
}

impl HyStart {
    /// Whether conservative slow start is in progress.
    #[cfg(test)]
    pub(crate) fn in_css(&self) -> bool {
        self.css.is_some()
    }

    /// The flight when the previous round began: a segment lost during the
    /// current round was sent during the previous one, when the window was
    /// at least this. `None` during the first round.
    pub(crate) fn previous_round_flight(&self) -> Option<usize> {
        self.previous_round_flight
    }

    /// Process an ACK of new data during the initial slow start.
    pub(crate) fn on_ack(&mut self, ack: &AckInfo, mss: usize) -> SlowStartStep {
        let una_before = self.acked_total;
        self.acked_total += ack.bytes_acked as u64;
        let mut exit = false;
        if self.round_end.is_none_or(|end| self.acked_total >= end) {
            // "lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT =
            // infinity; rttSampleCount = 0".
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            self.round_end = Some(una_before + ack.prior_in_flight as u64);
            self.previous_round_flight = self.round_flight;
            self.round_flight = Some(ack.prior_in_flight);
            if let Some(css) = &mut self.css {
                css.rounds += 1;
                // "If CSS_ROUNDS rounds are complete, enter congestion
                // avoidance by setting the ssthresh to the current cwnd."
                exit = css.rounds >= CSS_ROUNDS;
            }
        }
        if let Some(rtt) = ack.rtt_sample {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
        }
        let full = ack.bytes_acked.min(L * mss);
        let increase = if self.css.is_some() {
            // "cwnd = cwnd + (min(N, L * SMSS) / CSS_GROWTH_DIVISOR)".
            full / CSS_GROWTH_DIVISOR
        } else {
            full
        };
        if self.rtt_sample_count >= N_RTT_SAMPLE
            && let (Some(current), Some(last)) =
                (self.current_round_min_rtt, self.last_round_min_rtt)
        {
            match self.css {
                None => {
                    // "RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
                    // MIN_RTT_DIVISOR, MAX_RTT_THRESH)); if
                    // (currentRoundMinRTT >= (lastRoundMinRTT + RttThresh))
                    // cssBaselineMinRtt = currentRoundMinRTT; exit slow
                    // start and enter CSS".
                    let thresh = rtt_thresh(last);
                    if current >= last + thresh {
                        self.css = Some(Css {
                            baseline: current,
                            rounds: 0,
                        });
                    }
                }
                Some(css) => {
                    // "If currentRoundMinRTT < cssBaselineMinRtt ... the
                    // previous slow start exit was spurious: resume slow
                    // start".
                    if current < css.baseline {
                        self.css = None;
                    }
                }
            }
        }
        SlowStartStep {
            increase,
            enter_congestion_avoidance: exit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ack(rtt_ms: u64, in_flight: usize) -> AckInfo {
        AckInfo {
            bytes_acked: 2 * MSS,
            rtt_sample: Some(Duration::from_millis(rtt_ms)),
            srtt: Duration::from_millis(rtt_ms),
            min_rtt: Duration::from_millis(rtt_ms),
            prior_in_flight: in_flight,
            app_limited: false,
        }
    }

    /// Play one round of `acks` ACKs with the given RTT; returns whether
    /// any asked to enter congestion avoidance.
    fn round(h: &mut HyStart, acks: usize, rtt_ms: u64) -> bool {
        // The window at the round's start plus the first ACK's own bytes:
        // the round's last ACK is the first of the next round.
        let in_flight = 2 * acks * MSS + 2 * MSS;
        let mut exit = false;
        for _ in 0..acks {
            exit |= h
                .on_ack(&ack(rtt_ms, in_flight), MSS)
                .enter_congestion_avoidance;
        }
        exit
    }

    #[test]
    fn steady_rtt_stays_in_slow_start() {
        let mut h = HyStart::default();
        for _ in 0..10 {
            assert!(!round(&mut h, 16, 40));
            assert!(!h.in_css());
        }
        assert_eq!(h.on_ack(&ack(40, 0), MSS).increase, 2 * MSS);
    }

    #[test]
    fn rising_rtt_enters_css_then_congestion_avoidance() {
        let mut h = HyStart::default();
        round(&mut h, 16, 40);
        round(&mut h, 16, 40);
        // 40 ms + max(4, min(40 / 8, 16)) = 45 ms: a 46 ms round is a queue.
        round(&mut h, 16, 46);
        assert!(h.in_css());
        assert_eq!(h.on_ack(&ack(46, 32 * MSS), MSS).increase, MSS / 2);
        let mut exits = Vec::new();
        for _ in 0..CSS_ROUNDS {
            exits.push(round(&mut h, 16, 46));
        }
        assert!(exits.iter().any(|&e| e), "CSS lasts CSS_ROUNDS rounds");
    }

    #[test]
    fn css_falls_back_when_rtt_drops() {
        let mut h = HyStart::default();
        round(&mut h, 16, 40);
        round(&mut h, 16, 40);
        round(&mut h, 16, 50);
        assert!(h.in_css());
        round(&mut h, 16, 41);
        assert!(!h.in_css(), "spurious exit: back to slow start");
    }
}
