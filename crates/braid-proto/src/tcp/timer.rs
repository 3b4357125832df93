//! The socket's timers: one [`Timer`] enum, one deadline table, and
//! `poll_timeout` as its minimum; and what the socket does when each fires
//! (RFC 6298 section 5 for retransmissions, RFC 8985 section 7 for tail
//! loss probes, RFC 9293 section 3.8.6.1 for the persist timer, section
//! 3.6 for TIME-WAIT).

use super::{CloseReason, Recovery, RecoveryKind, State, TcpSocket};
use crate::time::{Duration, Instant};

/// A TCP timer. The discriminants index [`TimerTable`]'s deadlines.
// Kept as it is: `duplicates` pairs it by shape with braid-gateway's
// `socks5::Reply`, another enum of numbered variants; the two share no
// logic, only the look of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Timer {
    /// Retransmission of SYN, SYN-ACK, data or FIN (RFC 6298).
    Retransmit = 0,
    /// Delayed ACK (RFC 9293 section 3.8.6.3, RFC 5681 section 4.2).
    DelayedAck = 1,
    /// Zero-window probing (RFC 9293 section 3.8.6.1).
    Persist = 2,
    /// TIME-WAIT, 2*MSL (RFC 9293 section 3.6).
    TimeWait = 3,
    /// The pacer lets the next data segment go (see `tcp/pacing.rs`).
    Pace = 4,
    /// A keepalive probe is due (RFC 9293 section 3.8.4).
    Keepalive = 5,
}

impl Timer {
    /// All timers.
    pub const ALL: [Timer; 6] = [
        Timer::Retransmit,
        Timer::DelayedAck,
        Timer::Persist,
        Timer::TimeWait,
        Timer::Pace,
        Timer::Keepalive,
    ];
}

/// Deadlines, one per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 6],
}

impl TimerTable {
    /// Arm `timer` to fire at `at` (replacing any previous deadline).
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }
    /// Disarm `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }
    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }
    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }
    /// Disarm all timers.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 6];
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
    /// Timers due at `now`; each is disarmed as it is returned.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut due = arrayvec::ArrayVec::<Timer, 6>::new();
        for t in Timer::ALL {
            if self.get(t).is_some_and(|d| d <= now) {
                self.stop(t);
                due.push(t);
            }
        }
        due.into_iter()
    }
}

/// WCDelAckT, the worst-case delayed-ACK time a probe timeout allows for
/// when one segment is in flight (RFC 8985 section 7.2: 200 ms).
const WC_DEL_ACK_T: Duration = Duration::from_millis(200);

impl TcpSocket {
    /// Handle expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in self.timers.expired(now) {
            match t {
                Timer::Retransmit => self.on_retransmit_timeout(now),
                Timer::DelayedAck => self.ack_now = true,
                Timer::Persist => self.on_persist_timeout(now),
                // "If the time-wait timeout expires on a connection, delete
                // the TCB, enter the CLOSED state, and return."
                Timer::TimeWait => self.enter_closed(CloseReason::Normal),
                // Nothing to do: the next `poll_transmit` sends.
                Timer::Pace => {}
                Timer::Keepalive => self.on_keepalive_timeout(now),
            }
        }
    }

    /// RFC 8985 section 7.2: whether a tail loss probe may be scheduled:
    /// SACK in use, data outstanding, none of it SACKed, not in loss
    /// recovery, and no probe already in flight.
    fn tlp_may_schedule(&self) -> bool {
        self.neg.sack
            && self.state.is_synchronized()
            && self.recovery.is_none()
            && self.tlp.is_none()
            && !self.tlp_pending
            && !self.scoreboard.is_empty()
            && self.scoreboard.sacked_count() == 0
    }

    /// Arms the retransmission timer with the probe timeout if a probe may
    /// be scheduled and the PTO comes before the RTO (RFC 8985 section
    /// 7.2: PTO = 2 SRTT, plus WCDelAckT when one segment is in flight --
    /// its ACK may be delayed -- or 2 ms otherwise). Returns whether it
    /// did; the caller arms the RTO otherwise.
    pub(super) fn arm_pto(&mut self, now: Instant) -> bool {
        let Some(srtt) = self.rtt.srtt() else {
            return false;
        };
        if !self.tlp_may_schedule() {
            return false;
        }
        let extra = if self.bytes_in_flight() <= self.data_mss(0) {
            WC_DEL_ACK_T
        } else {
            Duration::from_millis(2)
        };
        let quick = self.quick_probe && self.bytes_in_flight() >= 4 * self.data_mss(0);
        let pto = if quick { srtt } else { srtt * 2 } + extra;
        if pto >= self.rtt.rto() {
            return false;
        }
        self.timers.set(Timer::Retransmit, now + pto);
        self.pto_armed = true;
        true
    }

    /// Arms the retransmission timer with the RTO (RFC 6298 section 5).
    pub(super) fn arm_rto(&mut self, now: Instant) {
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        self.pto_armed = false;
    }

    /// Probe after one SRTT of silence instead of two while at least four
    /// segments are in flight (an MPTCP subflow whose data another can
    /// take: `ConnConfig::quick_stall`). Takes effect when the timer is
    /// next armed.
    pub fn set_quick_probe(&mut self, on: bool) {
        self.quick_probe = on;
    }

    /// Bound the backed-off RTO (see `RttEstimator::set_backoff_cap`); a
    /// retransmission timer armed past the new bound is brought forward.
    pub fn set_backoff_cap(&mut self, now: Instant, cap: Option<Duration>) {
        self.rtt.set_backoff_cap(cap);
        if let Some(at) = self.timers.get(Timer::Retransmit)
            && !self.pto_armed
            && at > now + self.rtt.rto()
        {
            self.arm_rto(now);
        }
    }

    /// The path is known to work again (an interface came up): forget the
    /// RTO backoff and, if a retransmission timer is waiting, retransmit
    /// now instead of at its backed-off deadline.
    pub fn probe_now(&mut self, now: Instant) {
        self.rtt.reset_backoff();
        if self
            .timers
            .get(Timer::Retransmit)
            .is_some_and(|at| at > now)
        {
            self.timers.set(Timer::Retransmit, now);
            self.pto_armed = false;
        }
    }

    /// Consecutive retransmission timeouts (or SYN retransmissions) since
    /// the last progress.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        if self.pto_armed {
            // RFC 8985 section 7.3: the PTO fired; send a probe (next
            // `poll_transmit`) and arm the RTO. No congestion response
            // yet: section 7.4 decides once the probe is acknowledged.
            self.pto_armed = false;
            if self.state.is_synchronized() && !self.scoreboard.is_empty() {
                self.tlp_pending = true;
                self.counters.tail_loss_probes += 1;
                self.arm_rto(now);
                return;
            }
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                self.retries += 1;
                if self.retries > self.config.syn_retries {
                    self.enter_closed(CloseReason::Timeout);
                    return;
                }
                self.rtt.back_off();
                self.syn_retransmitted = true;
                self.syn_pending = true;
                self.counters.rto_count += 1;
            }
            s if s.is_synchronized() && !self.scoreboard.is_empty() => {
                self.retries += 1;
                if self.retries > self.config.max_retransmissions {
                    self.enter_closed(CloseReason::Timeout);
                    return;
                }
                self.counters.rto_count += 1;
                let first = self.recovery.is_none_or(|r| r.kind != RecoveryKind::Rto);
                self.cc.on_rto(now, self.bytes_in_flight(), first);
                let n = self.scoreboard.mark_all_lost();
                self.counters.lost_segments += n as u64;
                // RFC 6298 section 5.5: "The host MUST set RTO <- RTO * 2".
                self.rtt.back_off();
                self.recovery = Some(Recovery {
                    kind: RecoveryKind::Rto,
                    point: self.snd_nxt,
                });
                self.inflation = 0;
                self.prr = None;
                self.dupacks = 0;
                self.fast_rtx_pending = true;
                self.tlp_pending = false;
                self.tlp = None;
                tracing::debug!(local = %self.local, rto = ?self.rtt.rto(), "retransmission timeout");
            }
            _ => {}
        }
    }

    /// A segment was accepted: the peer is alive; the keepalive clock
    /// starts over.
    pub(super) fn heard(&mut self, now: Instant) {
        self.keepalive_sent = 0;
        if let Some(k) = self.config.keepalive
            && self.state.is_synchronized()
        {
            self.timers.set(Timer::Keepalive, now + k.idle);
        }
    }

    /// RFC 1122 section 4.2.3.6: after `idle` without a segment from the
    /// peer, probe with <SEQ=SND.UNA-1><ACK=RCV.NXT> (which any TCP
    /// answers with an ACK), every `interval`; after `probes` unanswered,
    /// the connection is dropped as timed out. While data is outstanding
    /// the retransmission timer watches the path instead.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if self.snd_una != self.snd_nxt {
            self.timers.set(Timer::Keepalive, now + k.idle);
            return;
        }
        if self.keepalive_sent >= k.probes {
            self.counters.keepalive_timeouts += 1;
            self.enter_closed(CloseReason::Timeout);
            return;
        }
        self.keepalive_sent += 1;
        self.counters.keepalive_probes += 1;
        self.probe_pending = true;
        self.timers.set(Timer::Keepalive, now + k.interval);
    }

    fn on_persist_timeout(&mut self, now: Instant) {
        if !self.state.is_synchronized() || self.send_buf.end() == self.snd_nxt {
            return;
        }
        if self.snd_wnd == 0 {
            self.probe_pending = true;
        } else {
            self.sws_override = true;
        }
        self.persist_backoff = self.persist_backoff.saturating_add(1);
        self.arm_persist(now);
    }

    pub(super) fn arm_persist(&mut self, now: Instant) {
        let factor = 1u32 << self.persist_backoff.min(10);
        let d = self
            .rtt
            .base_rto()
            .saturating_mul(factor)
            .min(self.config.rto_max);
        self.timers.set(Timer::Persist, now + d);
    }
}
