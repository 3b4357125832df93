//! Lowest smoothed RTT first, among subflows with room (Linux's default
//! picks by a similar "linger time"): every path with congestion-window
//! room is used while the data-level window allows.

use super::{Decision, SchedContext, Scheduler, fastest_with_room};

/// Lowest smoothed RTT first.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinRtt;

impl Scheduler for MinRtt {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        fastest_with_room(ctx.subflows).map_or(Decision::Wait, |v| Decision::send(v.id))
    }

    fn name(&self) -> &'static str {
        "minrtt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SubflowId;
    use crate::sched::tests::{ctx, view};

    #[test]
    fn picks_the_fastest_with_room() {
        let mut s = MinRtt;
        let v = [view(0, 50, false, 1000), view(1, 10, false, 1000)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(1)));
        // The fast one is full: the slow one keeps busy.
        let v = [view(0, 50, false, 1000), view(1, 10, false, 0)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::send(SubflowId(0)));
        let v = [view(0, 50, false, 0), view(1, 10, false, 0)];
        assert_eq!(s.schedule(&ctx(&v)), Decision::Wait);
    }
}
