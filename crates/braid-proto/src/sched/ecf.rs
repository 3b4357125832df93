//! ECF, Earliest Completion First (Y. Lim, E. Nahum, D. Towsley, R. Gibbens,
//! "ECF: An MPTCP Path Scheduler to Manage Heterogeneous Paths", CoNEXT
//! 2017, Algorithm 1).
//!
//! When the fastest subflow `f` has no room, a slower one `s` is used only
//! if the `k` bytes still to send would not complete sooner by waiting for
//! `f`: with `n = 1 + k / cwnd_f` rounds on `f`, wait when
//! `n * rtt_f < (1 + waiting * beta) * (rtt_s + delta)` and
//! `(k / cwnd_s) * rtt_s >= 2 * rtt_f + delta`, where `delta` is the larger
//! RTT variation and `beta = 0.25` the hysteresis once waiting. This keeps
//! the tail of a transfer (and each burst of an application-limited one)
//! off a path whose queue would deliver it last.

use super::{Decision, SchedContext, Scheduler, fast_or_weigh};

/// Hysteresis of the waiting decision (the paper's beta).
const BETA: f64 = 0.25;

/// Earliest Completion First.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ecf {
    waiting: bool,
}

impl Scheduler for Ecf {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        let (f, s) = match fast_or_weigh(ctx) {
            Ok(d) => return d,
            Err(pair) => pair,
        };
        let secs = |d: crate::time::Duration| d.as_micros() as f64 / 1e6;
        let (rtt_f, rtt_s) = (secs(f.srtt()), secs(s.srtt()));
        let delta = secs(f.stats.rttvar.max(s.stats.rttvar));
        let k = ctx.unsent as f64;
        let n = 1.0 + k / f.stats.cwnd.max(1) as f64;
        let u = k / s.stats.cwnd.max(1) as f64;
        let beta = if self.waiting { BETA } else { 0.0 };
        if n * rtt_f < (1.0 + beta) * (rtt_s + delta) {
            if u * rtt_s >= 2.0 * rtt_f + delta {
                self.waiting = true;
                return Decision::Wait;
            }
            return Decision::send(s.id);
        }
        self.waiting = false;
        Decision::send(s.id)
    }

    fn name(&self) -> &'static str {
        "ecf"
    }

    /// ECF already decides which bytes wait for the fast path; reinjecting
    /// and penalising on top undoes its choice (measured: 32 MiB over
    /// 50M/10ms + 10M/60ms with 256 KiB buffers took 8.6 s with, 7.2 s
    /// without).
    fn opportunistic_reinjection(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SubflowId;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn fast_path_first_then_slow_while_much_is_left() {
        let mut s = Ecf::default();
        let v = [view(0, 10, false, 1000), view(1, 100, false, 1000)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(0)));
        // The fast path is full and 1 MiB is left: 100 rounds of 10 ms on
        // the fast path take longer than one slow RTT, so use the slow.
        let v = [view(0, 10, false, 0), view(1, 100, false, 1000)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(1)));
    }

    #[test]
    fn waits_for_the_fast_path_near_the_end() {
        let mut s = Ecf::default();
        let v = [view(0, 10, false, 0), view(1, 100, false, 1000)];
        // 20 kB left: two rounds on the fast path (20 ms) beat one slow
        // RTT (100 ms), and the slow path would take 2 RTTs > 20 ms.
        let c = SchedContext {
            unsent: 20_000,
            ..ctx(&v)
        };
        assert_eq!(s.schedule(&c), Decision::Wait);
        // Reinjections never wait.
        let c = SchedContext {
            unsent: 20_000,
            reinjection: true,
            ..ctx(&v)
        };
        assert_eq!(s.schedule(&c), Decision::send(SubflowId(1)));
    }
}
