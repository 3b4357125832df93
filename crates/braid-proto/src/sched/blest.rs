//! BLEST, BLocking ESTimation (S. Ferlin, O. Alay, O. Mehani, R. Boreli,
//! "BLEST: Blocking Estimation-based MPTCP Scheduler for Heterogeneous
//! Networks", IFIP Networking 2016).
//!
//! When the fastest subflow `f` has no room, sending on a slower subflow
//! `s` occupies data-level window until `s` delivers, one `rtt_s` from
//! now. Meanwhile `f` could send `X = (cwnd_f + mss_f * (r - 1) / 2) * r`
//! bytes (`r = rtt_s / rtt_f`, the window growing by one MSS per RTT); if
//! those would not fit in the data-level window left after `s`'s bytes,
//! `X * lambda > W - mss_s * (in_flight_s + 1)` (in bytes here), the slow
//! bytes would block the fast path: wait instead.
//!
//! The paper adapts `lambda` to observed head-of-line blocking; this
//! implementation keeps `lambda = 1` (no adaptation yet).

use super::{Decision, SchedContext, Scheduler, fast_or_weigh};

/// Blocking estimation.
#[derive(Debug, Clone, Copy)]
pub struct Blest {
    /// Scale of the estimate (the paper's lambda).
    pub lambda: f64,
}

impl Default for Blest {
    fn default() -> Self {
        Blest { lambda: 1.0 }
    }
}

impl Scheduler for Blest {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        let (f, s) = match fast_or_weigh(ctx) {
            Ok(d) => return d,
            Err(pair) => pair,
        };
        let rtt_f = f.srtt().as_micros().max(1) as f64;
        let r = s.srtt().as_micros() as f64 / rtt_f;
        let mss_f = f.stats.mss as f64;
        let x = (f.stats.cwnd as f64 + mss_f * (r - 1.0).max(0.0) / 2.0) * r;
        let left = ctx.window as f64 - (s.stats.bytes_in_flight + s.stats.mss) as f64;
        if x * self.lambda > left {
            Decision::Wait
        } else {
            Decision::send(s.id)
        }
    }

    fn name(&self) -> &'static str {
        "blest"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SubflowId;
    use crate::sched::SchedContext;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn slow_path_only_when_the_window_holds_both() {
        let mut s = Blest::default();
        let v = [view(0, 10, false, 0), view(1, 100, false, 1000)];
        // Large window: the slow path is used.
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(1)));
        // 10 kB cwnd on the fast path, r = 10: X = (10000 + 1400*4.5)*10
        // = 163 kB; a 128 KiB window cannot hold that: wait.
        let c = SchedContext {
            window: 128 * 1024,
            ..ctx(&v)
        };
        assert_eq!(s.schedule(&c), Decision::Wait);
        // The fast path with room always goes first.
        let v = [view(0, 10, false, 1000), view(1, 100, false, 1000)];
        let c = SchedContext {
            window: 128 * 1024,
            ..ctx(&v)
        };
        assert_eq!(s.schedule(&c), Decision::send(SubflowId(0)));
    }
}
