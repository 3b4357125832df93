//! Every chunk on every active subflow of the best tier, as soon as one of
//! them has room: the others queue it (up to their send buffers) and send
//! it as their windows open. Throughput is the slowest path's at best, but
//! a path that blacks out costs nothing while another works (the receiver
//! drops the copies that arrive second, RFC 8684 section 3.3: data may be
//! "retransmitted on any subflow").

use super::{Decision, SchedContext, Scheduler, best_tier, candidates};

/// Every chunk on every subflow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redundant;

impl Scheduler for Redundant {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        if candidates(ctx.subflows).next().is_none() {
            return Decision::Wait;
        }
        let best = best_tier(ctx.subflows);
        let all = ctx
            .subflows
            .iter()
            .filter(|v| v.active && Some(v.tier()) == best)
            .map(|v| v.id)
            .collect();
        Decision::Duplicate(all)
    }

    fn name(&self) -> &'static str {
        "redundant"
    }

    /// Every byte already goes over every path.
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
    fn every_active_subflow_once_one_has_room() {
        let mut s = Redundant;
        let mut backup = view(3, 5, true, 1000);
        backup.active = true;
        let v = [
            view(0, 10, false, 1000),
            view(1, 50, false, 1000),
            view(2, 5, false, 0),
            backup,
        ];
        assert_eq!(
            s.schedule(&ctx(&v)),
            Decision::Duplicate(vec![SubflowId(0), SubflowId(1), SubflowId(2)])
        );
        let v = [view(0, 10, false, 0), view(1, 50, false, 0)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::Wait);
    }
}
