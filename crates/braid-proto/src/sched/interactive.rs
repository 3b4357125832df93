//! Interactive: the lowest latency for request/response traffic (the
//! scheduler of [`crate::conn::Mode::Interactive`], after Apple's
//! interactive mode). Bytes go on the fastest subflow with room, as
//! [`super::MinRtt`]; while the fastest regular subflow degrades they also
//! go, duplicated, on every other working subflow, so a fading path costs
//! the application no wait and a healthy one costs no duplicate.
//!
//! A subflow degrades when it stalled (a probe or retransmission timeout),
//! is in loss recovery, lost a segment within the last [`LOSS_MEMORY`],
//! or its latest RTT sample exceeds twice its minimum plus
//! [`QUEUE_SLACK`] (a queue building up, as when WiFi fades).

use super::{Decision, SchedContext, Scheduler, SubflowView, fastest_with_room};
use crate::id::SubflowId;
use crate::time::{Duration, Instant};

/// RTT growth ignored on top of doubling: jitter and delayed ACKs on
/// short paths.
pub const QUEUE_SLACK: Duration = Duration::from_millis(10);

/// How long a loss (a segment deemed lost, a probe or retransmission
/// timeout) keeps a subflow degraded: a fading path loses every few
/// hundred milliseconds, and a call should not flap between duplicating
/// and not at each one.
pub const LOSS_MEMORY: Duration = Duration::from_secs(1);

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Interactive {
    /// Per subflow: its loss signals as last seen, and when they last
    /// grew.
    losses: Vec<(SubflowId, u64, Instant)>,
}

impl Interactive {
    /// Whether `v` shows the signs of a failing path now.
    fn degraded(&mut self, v: &SubflowView, now: Instant) -> bool {
        let s = &v.stats;
        let signals = s.lost_segments + s.rto_count + s.tail_loss_probes;
        let lost_recently = match self.losses.iter_mut().find(|l| l.0 == v.id) {
            Some(l) => {
                if signals > l.1 {
                    (l.1, l.2) = (signals, now);
                }
                signals > 0 && now.saturating_duration_since(l.2) < LOSS_MEMORY
            }
            None => {
                self.losses.push((v.id, signals, now));
                signals > 0
            }
        };
        let inflated = match (s.latest_rtt, s.min_rtt) {
            (Some(latest), Some(min)) => latest > min * 2 + QUEUE_SLACK,
            _ => false,
        };
        v.stalled || s.in_recovery || lost_recently || inflated
    }
}

impl Scheduler for Interactive {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        if self.losses.len() > 2 * ctx.subflows.len() {
            self.losses
                .retain(|l| ctx.subflows.iter().any(|v| v.id == l.0));
        }
        // The primary: the fastest active regular subflow, stalled or not
        // (a stalled one is the very case to duplicate for).
        let primary = ctx
            .subflows
            .iter()
            .filter(|v| v.active && !v.backup)
            .min_by_key(|v| v.stats.min_rtt.or(v.stats.srtt));
        if let Some(p) = primary
            && self.degraded(p, ctx.now)
        {
            let working: Vec<_> = ctx
                .subflows
                .iter()
                .filter(|v| v.active && !v.stalled)
                .map(|v| v.id)
                .collect();
            let room = ctx
                .subflows
                .iter()
                .any(|v| v.has_room() && working.contains(&v.id));
            if working.len() > 1 && room {
                return Decision::Duplicate(working);
            }
        }
        fastest_with_room(ctx.subflows).map_or(Decision::Wait, |v| Decision::send(v.id))
    }

    fn name(&self) -> &'static str {
        "interactive"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SubflowId;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn a_healthy_primary_is_used_alone() {
        let mut s = Interactive::default();
        let v = [view(0, 10, false, 1000), view(1, 50, false, 1000)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(0)));
    }

    #[test]
    fn a_degrading_primary_is_duplicated_on_the_others() {
        let mut s = Interactive::default();
        let dup = Decision::Duplicate(vec![SubflowId(0), SubflowId(1), SubflowId(2)]);
        let mut backup = view(2, 60, true, 1000);
        backup.active = true;
        // Loss recovery.
        let mut p = view(0, 10, false, 1000);
        p.stats.in_recovery = true;
        assert_eq!(
            s.schedule(&ctx(&[p, view(1, 50, false, 1000), backup])),
            dup
        );
        // A queue building: latest RTT 35 ms over a minimum of 10 ms.
        let mut p = view(0, 10, false, 1000);
        p.stats.min_rtt = Some(Duration::from_millis(10));
        p.stats.latest_rtt = Some(Duration::from_millis(35));
        assert_eq!(
            s.schedule(&ctx(&[p, view(1, 50, false, 1000), backup])),
            dup
        );
        // Within twice the minimum plus slack: not degraded.
        p.stats.latest_rtt = Some(Duration::from_millis(29));
        assert_eq!(
            s.schedule(&ctx(&[p, view(1, 50, false, 1000), backup])),
            Decision::send(SubflowId(0))
        );
    }

    #[test]
    fn a_stalled_primary_is_left_to_the_others() {
        let mut s = Interactive::default();
        let mut p = view(0, 10, false, 1000);
        p.stalled = true;
        // Only one working subflow: plain sending on it, no duplicate.
        assert_eq!(
            s.schedule(&ctx(&[p, view(1, 50, false, 1000)])),
            Decision::send(SubflowId(1))
        );
        let v = [p, view(1, 50, false, 1000), view(2, 70, false, 1000)];
        assert_eq!(
            s.schedule(&ctx(&v)),
            Decision::Duplicate(vec![SubflowId(1), SubflowId(2)])
        );
        // Nobody has room: wait.
        let v = [p, view(1, 50, false, 0), view(2, 70, false, 0)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::Wait);
    }
}

#[cfg(test)]
mod loss_memory {
    use super::*;
    use crate::sched::tests::{ctx, view};

    /// A loss keeps the primary degraded for `LOSS_MEMORY`, then it is
    /// used alone again.
    #[test]
    fn a_loss_is_remembered_for_a_while() {
        let mut s = Interactive::default();
        let mut p = view(0, 10, false, 1000);
        let other = view(1, 50, false, 1000);
        let at = |ms| Instant::ZERO + Duration::from_millis(ms);
        let decide = |s: &mut Interactive, p, now| {
            s.schedule(&SchedContext {
                now,
                ..ctx(&[p, other])
            })
        };
        let dup = Decision::Duplicate(vec![SubflowId(0), SubflowId(1)]);
        assert_eq!(decide(&mut s, p, at(0)), Decision::send(SubflowId(0)));
        p.stats.lost_segments = 1;
        assert_eq!(decide(&mut s, p, at(100)), dup);
        assert_eq!(decide(&mut s, p, at(1099)), dup);
        assert_eq!(decide(&mut s, p, at(1100)), Decision::send(SubflowId(0)));
        p.stats.tail_loss_probes = 1;
        assert_eq!(decide(&mut s, p, at(1200)), dup);
    }
}
