//! Each subflow with room in turn.

use super::{Decision, SchedContext, Scheduler, candidates};
use crate::id::SubflowId;

/// Each subflow in turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin {
    last: Option<SubflowId>,
}

impl Scheduler for RoundRobin {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        let c = || candidates(ctx.subflows).map(|v| v.id);
        let next = match self.last {
            Some(last) => c().find(|id| id.0 > last.0).or_else(|| c().next()),
            None => c().next(),
        };
        match next {
            Some(id) => {
                self.last = Some(id);
                Decision::send(id)
            }
            None => Decision::Wait,
        }
    }

    fn name(&self) -> &'static str {
        "roundrobin"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn alternates() {
        let mut s = RoundRobin::default();
        let v = [view(0, 10, false, 1000), view(1, 10, false, 1000)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(0)));
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(1)));
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(0)));
    }
}
