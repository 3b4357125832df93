//! Packet schedulers: which subflow carries the next bytes of the data
//! stream (RFC 8684 section 3.3.8 leaves the policy to the implementation;
//! sections 3.3.8 and 3.3.6 define backup subflows: "a subflow ... to be
//! used only in the event of failure of other subflows").
//!
//! Shaped like quinn's congestion controllers: a small trait that sees
//! read-only [`SubflowView`]s and the data level's state in a
//! [`SchedContext`], and returns a [`Decision`]. A scheduler never touches
//! the connection; the connection writes the bytes. One file per policy:
//!
//! - [`MinRtt`] (default, as Linux `mptcp_subflow_get_send`): the lowest
//!   smoothed RTT among subflows with congestion window space, so every
//!   path with room is kept busy while the data-level window allows.
//! - [`RoundRobin`]: the next subflow with space, in turn.
//! - [`Redundant`]: every chunk on every subflow with space (latency over
//!   throughput: a path's blackout costs nothing while another works).
//! - [`Ecf`]: Earliest Completion First (Lim et al., CoNEXT 2017): a
//!   slower subflow is used only if the bytes left would not finish sooner
//!   by waiting for the fastest.
//! - [`Blest`]: BLocking ESTimation (Ferlin et al., IFIP Networking 2016):
//!   a slower subflow is used only if what the fastest sends meanwhile
//!   still fits the data-level window (no head-of-line blocking).
//!
//! - [`Interactive`]: min-RTT, duplicating on the other subflows while the
//!   fastest degrades (the scheduler of `conn::Mode::Interactive`).
//!
//! Every built-in applies the backup tier: backup subflows (and subflows
//! that stalled) only when no regular one is active.
//!
//! Users plug in their own with [`SchedulerChoice::Custom`] in
//! `ConnConfig::scheduler` (reachable through `braid::StackBuilder`'s
//! endpoint configuration).

mod blest;
mod ecf;
mod interactive;
mod minrtt;
mod redundant;
mod roundrobin;

pub use blest::Blest;
pub use ecf::Ecf;
pub use interactive::Interactive;
pub use minrtt::MinRtt;
pub use redundant::Redundant;
pub use roundrobin::RoundRobin;

use crate::id::SubflowId;
use crate::tcp::SubflowStats;
use crate::time::{Duration, Instant};
use std::fmt;
use std::sync::Arc;

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
    /// Bytes written into the subflow and not yet acknowledged by it (in
    /// flight plus queued): what must drain before new bytes arrive.
    pub queued: usize,
    /// TCP statistics: cwnd, bytes in flight, srtt, rttvar, MSS.
    pub stats: SubflowStats,
}

impl SubflowView {
    /// Smoothed RTT, or 100 ms before the first sample.
    pub fn srtt(&self) -> Duration {
        self.stats.srtt.unwrap_or(Duration::from_millis(100))
    }

    /// The tier: 0 regular, 1 backup, 2 stalled.
    pub fn tier(&self) -> u8 {
        match (self.stalled, self.backup) {
            (false, false) => 0,
            (false, true) => 1,
            (true, _) => 2,
        }
    }

    /// Whether new bytes can go on this subflow now.
    pub fn has_room(&self) -> bool {
        self.ready && self.available > 0
    }
}

/// The data level, as the scheduler sees it.
#[derive(Debug, Clone, Copy)]
pub struct SchedContext<'a> {
    /// Every subflow.
    pub subflows: &'a [SubflowView],
    /// Data-level bytes waiting for a subflow, the next chunk included
    /// (ECF's `k`).
    pub unsent: usize,
    /// The data-level send window: bytes from the oldest unacknowledged
    /// DSN to the right edge the peer allows (RFC 8684 section 3.3.4).
    pub window: usize,
    /// Whether the next bytes are a reinjection.
    pub reinjection: bool,
    /// The time of the decision (for schedulers that remember what they
    /// saw, as [`Interactive`] remembers losses).
    pub now: Instant,
}

/// What to do with the next bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send up to `max` bytes on `subflow` (the connection also limits the
    /// chunk to the subflow's windows).
    Send {
        /// The subflow.
        subflow: SubflowId,
        /// At most this many bytes.
        max: usize,
    },
    /// Send the same bytes on every one of these subflows.
    Duplicate(Vec<SubflowId>),
    /// Send nothing now; ask again on the next event.
    Wait,
}

impl Decision {
    /// Send as much as the windows allow on `subflow`.
    pub fn send(subflow: SubflowId) -> Decision {
        Decision::Send {
            subflow,
            max: usize::MAX,
        }
    }
}

/// Chooses the subflow(s) for the next bytes.
pub trait Scheduler: fmt::Debug + Send {
    /// The decision for the next chunk. Only subflows with
    /// [`SubflowView::has_room`] can take bytes; naming another makes the
    /// connection wait.
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision;
    /// Short name for logs and reports.
    fn name(&self) -> &'static str;
    /// Whether the connection may reinject opportunistically under this
    /// scheduler (`ConnConfig::opportunistic_reinjection`): bytes held up
    /// on a slow subflow go again over an idle fast one, and the slow one
    /// is penalised. Default true; a scheduler that plans the tail itself
    /// (ECF) says no.
    fn opportunistic_reinjection(&self) -> bool {
        true
    }
}

/// Builds a scheduler for a new connection.
pub type SchedulerFactory = Arc<dyn Fn() -> Box<dyn Scheduler> + Send + Sync>;

/// Which built-in scheduler a connection uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SchedulerKind {
    /// [`MinRtt`].
    #[default]
    MinRtt,
    /// [`RoundRobin`].
    RoundRobin,
    /// [`Redundant`].
    Redundant,
    /// [`Ecf`].
    Ecf,
    /// [`Blest`].
    Blest,
    /// [`Interactive`].
    Interactive,
}

impl SchedulerKind {
    /// Every built-in, in the order of [`SchedulerKind::NAMES`].
    pub const ALL: [SchedulerKind; 6] = [
        SchedulerKind::MinRtt,
        SchedulerKind::RoundRobin,
        SchedulerKind::Redundant,
        SchedulerKind::Ecf,
        SchedulerKind::Blest,
        SchedulerKind::Interactive,
    ];
    /// Their names, as the command line takes them.
    pub const NAMES: [&'static str; 6] = [
        "minrtt",
        "roundrobin",
        "redundant",
        "ecf",
        "blest",
        "interactive",
    ];

    /// A fresh scheduler of this kind.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::MinRtt => Box::new(MinRtt),
            SchedulerKind::RoundRobin => Box::new(RoundRobin::default()),
            SchedulerKind::Redundant => Box::new(Redundant),
            SchedulerKind::Ecf => Box::new(Ecf::default()),
            SchedulerKind::Blest => Box::new(Blest::default()),
            SchedulerKind::Interactive => Box::new(Interactive::default()),
        }
    }

    /// Its name (`minrtt`, ...).
    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::NAMES[i]
    }

    /// The built-in called `name`, or an error naming the choices.
    pub fn from_name(name: &str) -> Result<SchedulerKind, UnknownScheduler> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Self::ALL[i])
            .ok_or_else(|| UnknownScheduler(name.to_string()))
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for SchedulerKind {
    type Err = UnknownScheduler;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

/// A scheduler name that is not a built-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scheduler {0:?} (choices: minrtt, roundrobin, redundant, ecf, blest, interactive)"
)]
pub struct UnknownScheduler(pub String);

/// The scheduler of a connection: a built-in or the user's own.
#[derive(Clone)]
pub enum SchedulerChoice {
    /// A built-in.
    Builtin(SchedulerKind),
    /// A user-defined scheduler: `factory` builds one per connection.
    Custom {
        /// Name for logs and reports.
        name: &'static str,
        /// Builds one per connection.
        factory: SchedulerFactory,
    },
}

impl SchedulerChoice {
    /// A user-defined scheduler, built by `factory` for every connection.
    pub fn custom<F>(name: &'static str, factory: F) -> SchedulerChoice
    where
        F: Fn() -> Box<dyn Scheduler> + Send + Sync + 'static,
    {
        SchedulerChoice::Custom {
            name,
            factory: Arc::new(factory),
        }
    }

    /// A fresh scheduler.
    pub fn build(&self) -> Box<dyn Scheduler> {
        match self {
            SchedulerChoice::Builtin(k) => k.build(),
            SchedulerChoice::Custom { factory, .. } => factory(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            SchedulerChoice::Builtin(k) => k.name(),
            SchedulerChoice::Custom { name, .. } => name,
        }
    }
}

impl Default for SchedulerChoice {
    fn default() -> Self {
        SchedulerChoice::Builtin(SchedulerKind::default())
    }
}

impl From<SchedulerKind> for SchedulerChoice {
    fn from(k: SchedulerKind) -> Self {
        SchedulerChoice::Builtin(k)
    }
}

impl fmt::Debug for SchedulerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerChoice::Builtin(k) => write!(f, "{k:?}"),
            SchedulerChoice::Custom { name, .. } => write!(f, "Custom({name})"),
        }
    }
}

/// The best tier among active subflows (regular, then backup, then
/// stalled). A backup is used only when no regular subflow is active at
/// all (as Linux); a regular subflow that is merely window-limited makes
/// the scheduler wait.
pub fn best_tier(views: &[SubflowView]) -> Option<u8> {
    views
        .iter()
        .filter(|v| v.active)
        .map(SubflowView::tier)
        .min()
}

/// The subflows of the best tier that can take bytes now.
pub fn candidates(views: &[SubflowView]) -> impl Iterator<Item = &SubflowView> {
    let best = best_tier(views);
    views
        .iter()
        .filter(move |v| v.has_room() && Some(v.tier()) == best)
}

/// The fastest (lowest smoothed RTT) active subflow of the best tier,
/// room or not: the one ECF and BLEST would rather wait for.
pub fn fastest(views: &[SubflowView]) -> Option<&SubflowView> {
    let best = best_tier(views);
    views
        .iter()
        .filter(|v| v.active && Some(v.tier()) == best)
        .min_by_key(|v| v.srtt())
}

/// What ECF and BLEST share: `Ok(decision)` when it is clear (the fastest
/// subflow has room: it; no subflow has room: wait; a reinjection: the
/// fastest with room, late bytes never wait), else `Err((fast, slow))`, the
/// fastest subflow (full) and the fastest with room, to weigh.
pub fn fast_or_weigh<'a>(
    ctx: &SchedContext<'a>,
) -> Result<Decision, (&'a SubflowView, &'a SubflowView)> {
    let Some(f) = fastest(ctx.subflows) else {
        return Ok(Decision::Wait);
    };
    if f.has_room() {
        return Ok(Decision::send(f.id));
    }
    let Some(s) = fastest_with_room(ctx.subflows) else {
        return Ok(Decision::Wait);
    };
    if ctx.reinjection {
        return Ok(Decision::send(s.id));
    }
    Err((f, s))
}

/// The fastest subflow with room now.
pub fn fastest_with_room(views: &[SubflowView]) -> Option<&SubflowView> {
    candidates(views).min_by_key(|v| v.srtt())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tcp::State;

    /// A view with `srtt_ms`, `available` bytes of room and a cwnd of
    /// `cwnd` bytes.
    pub fn view(id: u32, srtt_ms: u64, backup: bool, available: usize) -> SubflowView {
        SubflowView {
            id: SubflowId(id),
            backup,
            stalled: false,
            active: true,
            ready: true,
            available,
            queued: 0,
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
                tail_loss_probes: 0,
                mss: 1400,
                snd_wnd: 65535,
                send_buffer_free: 65535,
                in_recovery: false,
                lost_segments: 0,
                retransmitted_segments: 0,
                rto_count: 0,
                keepalive_probes: 0,
                bytes_sent: 0,
                bytes_acked: 0,
                bytes_received: 0,
                segments_sent: 0,
                segments_received: 0,
            },
        }
    }

    /// A context over `views` with plenty to send and a large window.
    pub fn ctx(views: &[SubflowView]) -> SchedContext<'_> {
        SchedContext {
            subflows: views,
            unsent: 1 << 20,
            window: 1 << 24,
            reinjection: false,
            now: Instant::ZERO,
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for k in SchedulerKind::ALL {
            assert_eq!(SchedulerKind::from_name(k.name()), Ok(k));
            assert_eq!(k.build().name(), k.name());
        }
        let e = SchedulerKind::from_name("fastest").unwrap_err().to_string();
        assert!(
            e.contains("fastest") && e.contains("minrtt, roundrobin"),
            "{e}"
        );
    }

    #[test]
    fn every_builtin_keeps_to_the_backup_tier() {
        for k in SchedulerKind::ALL {
            let mut s = k.build();
            // A regular subflow is active: the backup is not used even
            // though only it has room.
            let v = [view(0, 50, false, 0), view(1, 10, true, 1000)];
            assert_eq!(s.schedule(&ctx(&v)), Decision::Wait, "{k}");
            // No regular subflow active: the backup carries the data.
            let mut dead = view(0, 50, false, 0);
            dead.active = false;
            let v = [dead, view(1, 10, true, 1000)];
            let d = s.schedule(&ctx(&v));
            assert!(
                d == Decision::send(SubflowId(1)) || d == Decision::Duplicate(vec![SubflowId(1)]),
                "{k}: {d:?}"
            );
        }
    }

    #[test]
    fn stalled_subflows_come_last() {
        for k in SchedulerKind::ALL {
            let mut s = k.build();
            let mut a = view(0, 10, false, 1000);
            a.stalled = true;
            let v = [a, view(1, 50, true, 1000)];
            let d = s.schedule(&ctx(&v));
            assert!(
                d == Decision::send(SubflowId(1)) || d == Decision::Duplicate(vec![SubflowId(1)]),
                "{k}: {d:?}"
            );
        }
    }
}
