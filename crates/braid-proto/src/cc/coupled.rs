//! The skeleton the coupled controllers share (LIA, OLIA, BALIA): slow
//! start with appropriate byte counting (RFC 3465, L = 2) and HyStart++
//! for the first one, the RTO response of RFC 5681, and a congestion
//! avoidance increase and loss decrease that each algorithm computes from
//! its own subflow and its siblings' [`CcView`]s. Windows are in bytes;
//! the algorithms' formulas, written for windows in packets, are applied
//! per acknowledged MSS.

use super::window::{Window, window_accessors};
use super::{AckInfo, CcView, CongestionEvent, Controller};
use crate::time::{Duration, Instant};

/// One subflow of the coupled set, as the formulas see it.
#[derive(Debug, Clone, Copy)]
pub struct Path {
    /// Window, packets.
    pub w: f64,
    /// Smoothed RTT, seconds.
    pub rtt: f64,
    /// OLIA's inter-loss distance, bytes (0 for other controllers).
    pub loss_interval: u64,
}

impl Path {
    fn of(v: &CcView) -> Path {
        Path {
            w: v.cwnd as f64 / v.mss.max(1) as f64,
            rtt: secs(v.srtt),
            loss_interval: v.loss_interval,
        }
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_micros() as f64 / 1e6).max(1e-4)
}

/// What makes a coupled controller: its congestion-avoidance increase and
/// its loss decrease, in packets, given this subflow (`me`, index 0 of
/// `all`) and every subflow of the connection (`all`, this one first).
pub trait Coupling: core::fmt::Debug + Send + Clone {
    /// Window change in packets for one acknowledged packet (negative:
    /// the window shrinks).
    fn increase(&self, all: &[Path]) -> f64;
    /// The window after a loss, packets.
    fn decrease(&self, all: &[Path]) -> f64;
    /// Name for logs.
    fn name(&self) -> &'static str;
}

/// A coupled controller: the shared skeleton around a [`Coupling`].
#[derive(Debug, Clone)]
pub struct Coupled<C> {
    coupling: C,
    w: Window,
    /// Fractional window growth carried between ACKs, bytes.
    carry: f64,
    /// Bytes acknowledged since the last loss, and over the interval
    /// between the two losses before (OLIA's `l`).
    since_loss: u64,
    last_interval: u64,
}

impl<C: Coupling> Coupled<C> {
    /// A controller for a subflow with this MSS around `coupling`.
    pub fn with(coupling: C, mss: usize) -> Self {
        Coupled {
            coupling,
            w: Window::new(mss),
            carry: 0.0,
            since_loss: 0,
            last_interval: 0,
        }
    }

    /// This subflow first, then its siblings.
    fn paths(&self, srtt: Duration, siblings: &[CcView]) -> Vec<Path> {
        let me = CcView {
            cwnd: self.w.cwnd,
            srtt,
            bytes_in_flight: 0,
            mss: self.w.mss,
            loss_interval: self.loss_interval(),
        };
        core::iter::once(&me)
            .chain(siblings)
            .map(Path::of)
            .collect()
    }
}

impl<C: Coupling> Controller for Coupled<C> {
    fn on_ack(&mut self, _now: Instant, ack: &AckInfo, siblings: &[CcView]) {
        self.w.started = true;
        self.since_loss += ack.bytes_acked as u64;
        if ack.app_limited {
            return;
        }
        if !self.w.slow_start(ack) {
            let all = self.paths(ack.srtt, siblings);
            let packets = ack.bytes_acked as f64 / self.w.mss as f64;
            // OLIA's increase may be negative: a path of the largest
            // window gives some to better ones (never below two segments).
            let delta = self.coupling.increase(&all) * packets * self.w.mss as f64;
            if delta.is_finite() {
                self.carry += delta;
                let whole = self.carry.trunc();
                self.carry -= whole;
                let w = (self.w.cwnd as f64 + whole).max((2 * self.w.mss) as f64);
                self.w.cwnd = w as usize;
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, ev: &CongestionEvent, siblings: &[CcView]) {
        let all = self.paths(ev.srtt, siblings);
        let w = self.coupling.decrease(&all) * self.w.mss as f64;
        self.w.cwnd = (w as usize).max(2 * self.w.mss);
        self.w.ssthresh = self.w.cwnd;
        self.carry = 0.0;
        self.last_interval = self.since_loss;
        self.since_loss = 0;
    }

    fn on_rto(&mut self, _now: Instant, bytes_in_flight: usize, first: bool) {
        if first {
            self.w.ssthresh = self.w.half_flight(bytes_in_flight);
            self.last_interval = self.since_loss;
            self.since_loss = 0;
        }
        self.w.cwnd = self.w.mss;
    }

    window_accessors!();

    fn name(&self) -> &'static str {
        self.coupling.name()
    }

    fn loss_interval(&self) -> u64 {
        self.since_loss.max(self.last_interval)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `n` paths of window `w` packets and RTT `rtt_ms`.
    pub fn paths(spec: &[(f64, f64)]) -> Vec<Path> {
        spec.iter()
            .map(|&(w, rtt_ms)| Path {
                w,
                rtt: rtt_ms / 1000.0,
                loss_interval: 0,
            })
            .collect()
    }
}
