//! NewReno congestion control: slow start and congestion avoidance of
//! RFC 5681 section 3.1, the window reduction of section 3.2 and RFC 6582.
//! Recovery itself (retransmitting, partial ACKs) is the socket's job.

use super::window::{Window, window_accessors};
use super::{AckInfo, CcView, CongestionEvent, Controller};
use crate::time::Instant;

/// NewReno window arithmetic, in bytes.
#[derive(Debug, Clone)]
pub struct NewReno {
    w: Window,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance.
    bytes_acked_ca: usize,
}

impl NewReno {
    /// A controller with the RFC 6928 initial window.
    pub fn new(mss: usize) -> NewReno {
        NewReno {
            w: Window::new(mss),
            bytes_acked_ca: 0,
        }
    }
}

impl Controller for NewReno {
    fn on_ack(&mut self, _now: Instant, ack: &AckInfo, _siblings: &[CcView]) {
        self.w.started = true;
        if ack.app_limited {
            return;
        }
        if !self.w.slow_start(ack) {
            // Congestion avoidance: one SMSS per window of acknowledged data.
            self.bytes_acked_ca += ack.bytes_acked;
            if self.bytes_acked_ca >= self.w.cwnd {
                self.bytes_acked_ca -= self.w.cwnd;
                self.w.cwnd += self.w.mss;
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, ev: &CongestionEvent, _s: &[CcView]) {
        self.w.ssthresh = self.w.half_flight(ev.bytes_in_flight);
        self.w.cwnd = self.w.ssthresh;
        self.bytes_acked_ca = 0;
    }

    fn on_rto(&mut self, _now: Instant, bytes_in_flight: usize, first: bool) {
        if first {
            self.w.ssthresh = self.w.half_flight(bytes_in_flight);
        }
        // RFC 5681: "cwnd MUST be set to no more than the loss window, LW,
        // which equals 1 full-sized segment".
        self.w.cwnd = self.w.mss;
        self.bytes_acked_ca = 0;
    }

    window_accessors!();

    fn name(&self) -> &'static str {
        "newreno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn ack(bytes: usize) -> AckInfo {
        AckInfo {
            bytes_acked: bytes,
            rtt_sample: None,
            srtt: Duration::from_millis(100),
            min_rtt: Duration::from_millis(100),
            prior_in_flight: 0,
            app_limited: false,
        }
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = NewReno::new(1000);
        assert_eq!(cc.cwnd(), 10_000);
        for _ in 0..10 {
            cc.on_ack(Instant::ZERO, &ack(1000), &[]);
        }
        assert_eq!(cc.cwnd(), 20_000);
    }

    #[test]
    fn congestion_avoidance_one_mss_per_window() {
        let mut cc = NewReno::new(1000);
        let ev = CongestionEvent {
            bytes_in_flight: 20_000,
            srtt: Duration::from_millis(100),
            flight_at_loss: None,
        };
        cc.on_congestion_event(Instant::ZERO, &ev, &[]);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, 10_000));
        for _ in 0..10 {
            cc.on_ack(Instant::ZERO, &ack(1000), &[]);
        }
        assert_eq!(cc.cwnd(), 11_000);
    }

    #[test]
    fn rto_collapses_to_one_segment_and_halves_once() {
        let mut cc = NewReno::new(1000);
        cc.on_rto(Instant::ZERO, 40_000, true);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (1000, 20_000));
        cc.on_rto(Instant::ZERO, 1000, false);
        assert_eq!(cc.ssthresh(), 20_000);
    }

    #[test]
    fn app_limited_ack_does_not_grow() {
        let mut cc = NewReno::new(1000);
        let mut a = ack(1000);
        a.app_limited = true;
        cc.on_ack(Instant::ZERO, &a, &[]);
        assert_eq!(cc.cwnd(), 10_000);
    }
}
