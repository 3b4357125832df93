//! What the window-based controllers (NewReno, CUBIC and the coupled ones)
//! share: the congestion window and slow-start threshold in bytes, the MSS
//! they count in, the initial window (RFC 6928), and slow start: RFC 5681
//! section 3.1 with appropriate byte counting (RFC 3465, L = 2), HyStart++
//! (RFC 9406) for the initial one. Each controller keeps its own congestion
//! avoidance, loss and RTO responses.

use super::hystart::HyStart;
use super::{AckInfo, initial_window};

/// The window state every controller starts from, bytes.
#[derive(Debug, Clone)]
pub(super) struct Window {
    pub(super) mss: usize,
    pub(super) cwnd: usize,
    /// `usize::MAX` until the first loss (the initial slow start).
    pub(super) ssthresh: usize,
    /// Whether an ACK has come; before that the MSS may still change the
    /// initial window.
    pub(super) started: bool,
    /// HyStart++ for the initial slow start (ssthresh still infinite).
    pub(super) hystart: HyStart,
}

impl Window {
    /// The RFC 6928 initial window for this MSS, no threshold yet.
    pub(super) fn new(mss: usize) -> Window {
        let mss = mss.max(1);
        Window {
            mss,
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            started: false,
            hystart: HyStart::default(),
        }
    }

    /// Grows the window for `ack` if in slow start and returns true; in
    /// congestion avoidance (cwnd at or above ssthresh) changes nothing and
    /// returns false, the controller's own increase applies.
    pub(super) fn slow_start(&mut self, ack: &AckInfo) -> bool {
        if self.ssthresh == usize::MAX {
            // RFC 9406 section 4.2: HyStart++ only for the initial slow
            // start.
            let step = self.hystart.on_ack(ack, self.mss);
            self.cwnd += step.increase;
            if step.enter_congestion_avoidance {
                self.ssthresh = self.cwnd;
            }
            true
        } else if self.cwnd < self.ssthresh {
            // RFC 5681 section 3.1, eq. 2 with appropriate byte counting
            // (RFC 3465, L = 2): cwnd += min(N, 2*SMSS).
            self.cwnd += ack.bytes_acked.min(2 * self.mss);
            true
        } else {
            false
        }
    }

    /// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
    pub(super) fn half_flight(&self, bytes_in_flight: usize) -> usize {
        (bytes_in_flight / 2).max(2 * self.mss)
    }

    /// The sender MSS changed: before any ACK the initial window follows.
    pub(super) fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
        if !self.started {
            self.cwnd = initial_window(self.mss);
        }
    }
}

/// The [`Controller`](super::Controller) methods that only read or resize
/// the [`Window`] in field `w`, the same for every controller that has one:
/// `on_mss_change`, `cwnd` and `ssthresh`.
macro_rules! window_accessors {
    () => {
        fn on_mss_change(&mut self, mss: usize) {
            self.w.set_mss(mss);
        }

        fn cwnd(&self) -> usize {
            self.w.cwnd
        }

        fn ssthresh(&self) -> usize {
            self.w.ssthresh
        }
    };
}
pub(super) use window_accessors;
