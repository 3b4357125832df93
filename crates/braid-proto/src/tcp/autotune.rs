//! Buffers that size themselves: receive-buffer dynamic right-sizing and
//! send-buffer growth with the congestion window.
//!
//! Receive side: the idea of Linux's `tcp_rcv_space_adjust` (Fisher's
//! dynamic right-sizing). Once per receiver-side RTT, count the bytes the
//! application consumed in that RTT; a sender that is not limited by the
//! window delivers about one window per RTT, so a buffer of twice that
//! (plus a few segments of slack for losses and ACK spacing) never holds
//! it back. When the consumption grew since the last measurement (the
//! sender is in slow start), grow by the ratio too, so the window stays
//! ahead of a doubling congestion window. Growth only, up to a cap (Linux:
//! `tcp_rmem[2]`): a window edge once advertised must not retreat (RFC
//! 9293 section 3.8.6.2.1, "shrinking the window is strongly
//! discouraged").
//!
//! Counting bytes the application *consumed* (not bytes that arrived)
//! keeps a reader that stopped from growing its buffer: nothing is
//! consumed, so nothing grows.
//!
//! The same [`RightSizing`] serves a TCP socket (bytes read from it) and an
//! MPTCP connection's data level (bytes read from the reassembly, with the
//! slowest subflow's RTT, as Linux `mptcp_rcv_space_adjust`).

use crate::time::{Duration, Instant};

/// Receive-buffer right-sizing state.
#[derive(Debug, Clone, Copy)]
pub struct RightSizing {
    /// Start of the current measurement and the consumed count then.
    mark: Option<(Instant, u64)>,
    /// The most bytes consumed in one measurement so far.
    space: usize,
}

impl RightSizing {
    /// Start with `space` bytes per RTT assumed (Linux: ten segments).
    pub fn new(space: usize) -> RightSizing {
        RightSizing {
            mark: None,
            space: space.max(1),
        }
    }

    /// Bytes consumed so far: `consumed` (a running total). Returns the
    /// new buffer size when it should grow from `current` (never above
    /// `max`), once an `rtt` passed since the last measurement.
    pub fn on_consumed(
        &mut self,
        now: Instant,
        consumed: u64,
        rtt: Option<Duration>,
        current: usize,
        max: usize,
        mss: usize,
    ) -> Option<usize> {
        let rtt = rtt?;
        let Some((start, at)) = self.mark else {
            self.mark = Some((now, consumed));
            return None;
        };
        if now.saturating_duration_since(start) < rtt {
            return None;
        }
        self.mark = Some((now, consumed));
        let copied = usize::try_from(consumed.wrapping_sub(at)).unwrap_or(usize::MAX);
        if copied <= self.space {
            return None;
        }
        // Two windows' worth plus slack; more while consumption grows.
        let mut target = copied.saturating_mul(2).saturating_add(16 * mss);
        let grow = (target as u128 * (copied - self.space) as u128 / self.space as u128)
            .min(usize::MAX as u128) as usize;
        target = target.saturating_add(grow.saturating_mul(2));
        self.space = copied;
        let target = target.min(max);
        (target > current).then_some(target)
    }
}

/// (initial, max) of a buffer given as `bytes`: fixed at `bytes`, or with
/// `autotune` a cap on a buffer that starts at `default` (or the cap, if
/// smaller) and grows.
pub fn sized(bytes: usize, default: usize, autotune: bool) -> (usize, usize) {
    (if autotune { default.min(bytes) } else { bytes }, bytes)
}

/// The send buffer a congestion window of `cwnd` bytes wants: two windows
/// (one in flight, one queued behind it, so that an ACK always finds new
/// bytes to send), as Linux `tcp_sndbuf_expand`.
pub fn send_buffer_for(cwnd: usize, mss: usize) -> usize {
    cwnd.saturating_mul(2).saturating_add(4 * mss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn grows_to_twice_what_one_rtt_consumed() {
        let rtt = Some(Duration::from_millis(50));
        let mut r = RightSizing::new(14_600);
        assert_eq!(r.on_consumed(at(0), 0, rtt, 65_536, 1 << 25, 1460), None);
        // Within the RTT: no decision yet.
        assert_eq!(
            r.on_consumed(at(10), 200_000, rtt, 65_536, 1 << 25, 1460),
            None
        );
        // 500 kB in one RTT, up from the assumed 14.6 kB: at least two
        // windows, more while growing.
        let n = r
            .on_consumed(at(50), 500_000, rtt, 65_536, 1 << 25, 1460)
            .expect("grows");
        assert!(n >= 2 * 500_000 + 16 * 1460, "{n}");
        // Steady consumption at the same rate: two windows suffice, and
        // the buffer is already larger.
        assert_eq!(
            r.on_consumed(at(100), 1_000_000, rtt, n, 1 << 25, 1460),
            None
        );
    }

    #[test]
    fn never_above_the_cap_nor_without_an_rtt() {
        let mut r = RightSizing::new(14_600);
        assert_eq!(r.on_consumed(at(0), 0, None, 65_536, 1 << 20, 1460), None);
        assert_eq!(
            r.on_consumed(at(1000), 1 << 30, None, 65_536, 1 << 20, 1460),
            None
        );
        let rtt = Some(Duration::from_millis(10));
        r.on_consumed(at(1000), 0, rtt, 65_536, 1 << 20, 1460);
        assert_eq!(
            r.on_consumed(at(1010), 1 << 30, rtt, 65_536, 1 << 20, 1460),
            Some(1 << 20)
        );
        // At the cap already: nothing to do.
        assert_eq!(
            r.on_consumed(at(1020), 1 << 31, rtt, 1 << 20, 1 << 20, 1460),
            None
        );
    }

    #[test]
    fn a_reader_that_stopped_does_not_grow() {
        let rtt = Some(Duration::from_millis(10));
        let mut r = RightSizing::new(14_600);
        r.on_consumed(at(0), 0, rtt, 65_536, 1 << 25, 1460);
        for t in 1..100 {
            assert_eq!(
                r.on_consumed(at(t * 10), 0, rtt, 65_536, 1 << 25, 1460),
                None
            );
        }
    }
}
