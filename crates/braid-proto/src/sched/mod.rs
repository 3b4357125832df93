//! Packet schedulers: which subflow carries the next bytes of the data
//! stream (RFC 8684 section 3.3.8 leaves the policy to the implementation;
//! section 3.3.8 and 3.3.6 define backup subflows: "a subflow ... to be
//! used only in the event of failure of other subflows").
//!
//! Shaped like quinn's congestion controllers: a small trait that sees
//! read-only [`SubflowView`]s and returns a decision. A scheduler never
//! touches the connection; the connection writes the bytes.
//!
//! - [`MinRtt`] (default, as Linux `mptcp_subflow_get_send`): the lowest
//!   smoothed RTT among subflows with congestion window space; backup
//!   subflows only when no regular one can send.
//! - [`RoundRobin`]: the next subflow with space, in turn.

use crate::conn::SubflowId;
use crate::tcp::SubflowStats;
use crate::time::Duration;

/// A subflow as the scheduler sees it.
#[derive(Debug, Clone, Copy)]
pub struct SubflowView {
    /// Subflow id.
    pub id: SubflowId,
    /// Whether this is a backup subflow (set by us or by the peer's
    /// MP_PRIO / MP_JOIN `B` flag).
    pub backup: bool,
    /// Whether a retransmission timeout fired with no progress since (the
    /// path may be dead).
    pub stalled: bool,
    /// Whether the subflow is established and open (may carry data at
    /// all, window space aside).
    pub active: bool,
    /// Whether the subflow can take new bytes now: established at the MPTCP
    /// level, nothing queued and unsent, window space.
    pub ready: bool,
    /// Bytes the congestion and receive windows allow now.
    pub available: usize,
    /// TCP statistics.
    pub stats: SubflowStats,
}

/// Chooses the subflow for the next bytes.
pub trait Scheduler: core::fmt::Debug + Send {
    /// The subflow to send on, among views with `ready`; `None` to wait.
    fn select(&mut self, views: &[SubflowView]) -> Option<SubflowId>;
}

/// Which built-in scheduler a connection uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SchedulerKind {
    /// [`MinRtt`].
    #[default]
    MinRtt,
    /// [`RoundRobin`].
    RoundRobin,
}

impl SchedulerKind {
    /// A fresh scheduler of this kind.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::MinRtt => Box::new(MinRtt),
            SchedulerKind::RoundRobin => Box::new(RoundRobin::default()),
        }
    }
}

/// The candidates: the best tier among active subflows (regular, then
/// backup, then stalled), and among those the ones ready with window space.
/// A backup is used only when no regular subflow is active at all (as
/// Linux); a regular subflow that is merely window-limited makes the
/// scheduler wait.
fn candidates(views: &[SubflowView]) -> impl Iterator<Item = &SubflowView> {
    let tier = |v: &SubflowView| match (v.stalled, v.backup) {
        (false, false) => 0,
        (false, true) => 1,
        (true, _) => 2,
    };
    let best = views.iter().filter(|v| v.active).map(tier).min();
    views
        .iter()
        .filter(move |v| v.ready && v.available > 0 && Some(tier(v)) == best)
}

/// Lowest smoothed RTT first.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinRtt;

impl Scheduler for MinRtt {
    fn select(&mut self, views: &[SubflowView]) -> Option<SubflowId> {
        candidates(views)
            .min_by_key(|v| v.stats.srtt.unwrap_or(Duration::from_millis(100)))
            .map(|v| v.id)
    }
}

/// Each subflow in turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin {
    last: Option<SubflowId>,
}

impl Scheduler for RoundRobin {
    fn select(&mut self, views: &[SubflowView]) -> Option<SubflowId> {
        let c: Vec<SubflowId> = candidates(views).map(|v| v.id).collect();
        let next = match self.last {
            Some(last) => c.iter().find(|id| id.0 > last.0).or(c.first()),
            None => c.first(),
        }
        .copied();
        if next.is_some() {
            self.last = next;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::State;

    fn view(id: u32, srtt_ms: u64, backup: bool, available: usize) -> SubflowView {
        SubflowView {
            id: SubflowId(id),
            backup,
            stalled: false,
            active: true,
            ready: true,
            available,
            stats: SubflowStats {
                state: State::Established,
                rcv_rtt: None,
                recv_buffer: 65535,
                send_buffer: 65535,
                cwnd: 10_000,
                ssthresh: usize::MAX,
                bytes_in_flight: 0,
                pipe: 0,
                srtt: Some(Duration::from_millis(srtt_ms)),
                rttvar: Duration::ZERO,
                min_rtt: None,
                latest_rtt: None,
                rto: Duration::from_millis(200),
                mss: 1400,
                snd_wnd: 65535,
                send_buffer_free: 65535,
                in_recovery: false,
                lost_segments: 0,
                retransmitted_segments: 0,
                rto_count: 0,
                bytes_sent: 0,
                bytes_acked: 0,
                bytes_received: 0,
                segments_sent: 0,
                segments_received: 0,
            },
        }
    }

    #[test]
    fn min_rtt_picks_fastest_with_space() {
        let mut s = MinRtt;
        let v = [view(0, 50, false, 1000), view(1, 10, false, 1000)];
        assert_eq!(s.select(&v), Some(SubflowId(1)));
        let v = [view(0, 50, false, 1000), view(1, 10, false, 0)];
        assert_eq!(s.select(&v), Some(SubflowId(0)));
    }

    #[test]
    fn backup_only_when_no_regular_can_send() {
        let mut s = MinRtt;
        let v = [view(0, 50, false, 1000), view(1, 10, true, 1000)];
        assert_eq!(s.select(&v), Some(SubflowId(0)));
        // A window-limited regular subflow makes the scheduler wait.
        let v = [view(0, 50, false, 0), view(1, 10, true, 1000)];
        assert_eq!(s.select(&v), None);
        let mut dead = view(0, 50, false, 0);
        dead.active = false;
        let v = [dead, view(1, 10, true, 1000)];
        assert_eq!(s.select(&v), Some(SubflowId(1)));
    }

    #[test]
    fn stalled_avoided() {
        let mut s = MinRtt;
        let mut a = view(0, 10, false, 1000);
        a.stalled = true;
        let v = [a, view(1, 50, true, 1000)];
        assert_eq!(s.select(&v), Some(SubflowId(1)));
    }

    #[test]
    fn round_robin_alternates() {
        let mut s = RoundRobin::default();
        let v = [view(0, 10, false, 1000), view(1, 10, false, 1000)];
        assert_eq!(s.select(&v), Some(SubflowId(0)));
        assert_eq!(s.select(&v), Some(SubflowId(1)));
        assert_eq!(s.select(&v), Some(SubflowId(0)));
    }
}
