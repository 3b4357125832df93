//! Every chunk on every subflow with room: throughput of the fastest path
//! at best, but a path that blacks out costs nothing while another works
//! (the receiver drops the copies that arrive second, RFC 8684 section
//! 3.3: data may be "retransmitted on any subflow").

use super::{Decision, SchedContext, Scheduler, candidates};

/// Every chunk on every subflow with room.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redundant;

impl Scheduler for Redundant {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        let all: Vec<_> = candidates(ctx.subflows).map(|v| v.id).collect();
        if all.is_empty() {
            Decision::Wait
        } else {
            Decision::Duplicate(all)
        }
    }

    fn name(&self) -> &'static str {
        "redundant"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::SubflowId;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn every_subflow_with_room() {
        let mut s = Redundant;
        let v = [
            view(0, 10, false, 1000),
            view(1, 50, false, 1000),
            view(2, 5, false, 0),
        ];
        assert_eq!(
            s.schedule(&ctx(&v)),
            Decision::Duplicate(vec![SubflowId(0), SubflowId(1)])
        );
    }
}
