//! The socket's timers: one [`Timer`] enum, one deadline table, and
//! `poll_timeout` as its minimum.

use crate::time::Instant;

/// A TCP timer.
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
}

impl Timer {
    /// All timers.
    pub const ALL: [Timer; 4] = [
        Timer::Retransmit,
        Timer::DelayedAck,
        Timer::Persist,
        Timer::TimeWait,
    ];
}

/// Deadlines, one per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 4],
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
        self.deadlines = [None; 4];
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
    /// Timers due at `now`; each is disarmed as it is returned.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut due = arrayvec::ArrayVec::<Timer, 4>::new();
        for t in Timer::ALL {
            if self.get(t).is_some_and(|d| d <= now) {
                self.stop(t);
                due.push(t);
            }
        }
        due.into_iter()
    }
}
