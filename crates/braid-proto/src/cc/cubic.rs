//! CUBIC congestion control, RFC 9438: the cubic window function
//! (section 4.2), the Reno-friendly region (4.3), concave and convex regions
//! (4.4, 4.5), multiplicative decrease (4.6), fast convergence (4.7) and
//! timeouts (4.8). Slow start is that of RFC 5681; the initial one ends
//! with HyStart++ (RFC 9406, as section 4.10 allows).
//!
//! Windows are kept in bytes for the socket and in segments (f64) for the
//! cubic arithmetic, whose constants are defined in segments and seconds.

use super::hystart::rtt_thresh;
use super::window::{Window, window_accessors};
use super::{AckInfo, CcView, CongestionEvent, Controller};
use crate::time::{Duration, Instant};

/// CUBIC parameters (RFC 9438 section 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CubicConfig {
    /// C, the cubic scaling constant (0.4).
    pub c: f64,
    /// beta_cubic, the multiplicative decrease factor (0.7).
    pub beta: f64,
    /// Fast convergence (section 4.7), on by default.
    pub fast_convergence: bool,
}

impl Default for CubicConfig {
    fn default() -> CubicConfig {
        CubicConfig {
            c: 0.4,
            beta: 0.7,
            fast_convergence: true,
        }
    }
}

/// CUBIC state for one subflow.
#[derive(Debug, Clone)]
pub struct Cubic {
    config: CubicConfig,
    w: Window,
    /// W_max, segments: the window just before the last reduction.
    w_max: f64,
    /// cwnd_prior, segments: the window at the last reduction (before fast
    /// convergence lowers W_max below it). Fast convergence compares the
    /// next reduction with it, and the Reno-friendly region switches to
    /// alpha = 1 once W_est reaches it (section 4.3).
    w_last_max: f64,
    /// K, seconds.
    k: f64,
    /// Start of the current congestion avoidance epoch.
    epoch_start: Option<Instant>,
    /// W_est, segments: the Reno-friendly estimate (section 4.3).
    w_est: f64,
    /// Fractional cwnd growth carried between ACKs, bytes.
    carry: f64,
    /// The minimum RTT the last ACK reported.
    min_rtt: Option<Duration>,
}

impl Cubic {
    /// A CUBIC controller with the RFC 6928 initial window.
    pub fn new(mss: usize, config: CubicConfig) -> Cubic {
        Cubic {
            config,
            w: Window::new(mss),
            w_max: 0.0,
            w_last_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            carry: 0.0,
            min_rtt: None,
        }
    }

    fn segments(&self, bytes: usize) -> f64 {
        bytes as f64 / self.w.mss as f64
    }

    /// W_cubic(t) of RFC 9438 eq. 1, segments.
    fn w_cubic(&self, t: f64) -> f64 {
        self.config.c * (t - self.k).powi(3) + self.w_max
    }

    /// Section 4.6 and 4.7: remember W_max, reduce ssthresh, for a
    /// congestion event that happened at a window of `window` bytes.
    fn reduce(&mut self, window: usize) {
        let cwnd = self.segments(window);
        let beta = self.config.beta;
        // Fast convergence: "if cwnd < W_max and fast convergence is
        // enabled, further reduce W_max".
        self.w_max = if self.config.fast_convergence && cwnd < self.w_last_max {
            cwnd * (1.0 + beta) / 2.0
        } else {
            cwnd
        };
        self.w_last_max = cwnd;
        let reduced = ((window as f64) * beta) as usize;
        self.w.ssthresh = reduced.max(2 * self.w.mss);
        self.epoch_start = None;
        self.carry = 0.0;
    }

    /// The window at which the loss of `ev` happened, bytes.
    ///
    /// In congestion avoidance it is cwnd (section 4.6; cwnd does not grow
    /// while the sender is application-limited, as section 4.6 requires of
    /// implementations that use cwnd rather than the flight size).
    ///
    /// In the initial slow start, when the RTT shows a standing queue
    /// (HyStart++'s RttThresh above the minimum, RFC 9406 section 4.2), the
    /// loss is the window overshooting the path: it kept doubling (RFC 5681
    /// section 3.1, RFC 3465 L = 2) during the round trip the loss took to
    /// be detected. The window it happened at is the flight the first lost
    /// segment joined when it was sent (the socket reports it): what the
    /// path held, bottleneck queue included. Reducing from the doubled
    /// window instead leaves ssthresh above what the path holds, so the
    /// recovery loses another window and reduces again (section 4.10 asks
    /// that the end of slow start and the first decrease work together).
    /// Without that report, the flight at the start of the previous round
    /// (a lower bound: the lost segment was sent during that round).
    ///
    /// The flight at the start of the previous round is only a lower
    /// bound, up to half the window the loss happened at: the window
    /// doubles during a round. Used when the socket knows better, it put
    /// ssthresh below the bandwidth-delay product (a path of 250 kB BDP and
    /// 225 kB queue lost a segment sent at 475 kB, the previous round
    /// began at 217 kB, ssthresh became 152 kB) and CUBIC then took
    /// seconds to fill the path again.
    ///
    /// Without a queue the loss is not an overshoot and cwnd is used.
    fn loss_window(&self, ev: &CongestionEvent) -> usize {
        if self.w.ssthresh != usize::MAX {
            return self.w.cwnd;
        }
        let queued = self
            .min_rtt
            .is_some_and(|min| ev.srtt >= min + rtt_thresh(min));
        if !queued {
            return self.w.cwnd;
        }
        ev.flight_at_loss
            .or(self.w.hystart.previous_round_flight())
            .map_or(self.w.cwnd, |f| f.min(self.w.cwnd))
            .max(2 * self.w.mss)
    }
}

impl Controller for Cubic {
    fn on_ack(&mut self, now: Instant, ack: &AckInfo, _siblings: &[CcView]) {
        self.w.started = true;
        self.min_rtt = Some(ack.min_rtt);
        if ack.app_limited {
            return;
        }
        if self.w.slow_start(ack) {
            return;
        }
        let cwnd_seg = self.segments(self.w.cwnd);
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                // A new epoch (section 4.2): K from eq. 2, W_est = cwnd.
                self.epoch_start = Some(now);
                if self.w_max < cwnd_seg {
                    self.w_max = cwnd_seg;
                    self.k = 0.0;
                } else {
                    self.k = ((self.w_max - cwnd_seg) / self.config.c).cbrt();
                }
                self.w_est = cwnd_seg;
                now
            }
        };
        let beta = self.config.beta;
        let acked_seg = self.segments(ack.bytes_acked);
        // Section 4.3, eq. 4: alpha_cubic = 3 (1 - beta) / (1 + beta); "once
        // W_est has grown to reach the cwnd at the time of most recently
        // setting ssthresh -- that is, W_est >= cwnd_prior -- the sender
        // SHOULD set alpha_cubic to 1". cwnd_prior, not W_max: after fast
        // convergence W_max is below cwnd_prior, and switching there would
        // grow faster than the RFC's Reno-friendly estimate.
        let alpha = if self.w_est >= self.w_last_max {
            1.0
        } else {
            3.0 * (1.0 - beta) / (1.0 + beta)
        };
        self.w_est += alpha * acked_seg / cwnd_seg;

        let t = (now - epoch).as_secs_f64();
        let rtt = ack.srtt.max(Duration::from_millis(1)).as_secs_f64();
        let target_seg = if self.w_cubic(t) < self.w_est {
            // Reno-friendly region: "cwnd SHOULD be set to W_est".
            self.w_est
        } else {
            // Concave/convex regions: target = W_cubic(t + RTT), clamped to
            // [cwnd, 1.5 cwnd] (section 4.2).
            self.w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg)
        };
        if target_seg > cwnd_seg {
            // Grow by (target - cwnd) / cwnd segments per acknowledged
            // segment.
            let inc = (target_seg - cwnd_seg) / cwnd_seg * acked_seg * self.w.mss as f64;
            self.carry += inc;
            let whole = self.carry.floor();
            self.carry -= whole;
            self.w.cwnd += whole as usize;
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, ev: &CongestionEvent, _s: &[CcView]) {
        self.reduce(self.loss_window(ev));
        self.w.cwnd = self.w.ssthresh;
    }

    fn on_rto(&mut self, _now: Instant, _bytes_in_flight: usize, first: bool) {
        // Section 4.8: reduce as for a congestion event, then cwnd = 1 SMSS
        // and slow start.
        if first {
            self.reduce(self.w.cwnd);
        }
        self.epoch_start = None;
        self.w.cwnd = self.w.mss;
    }

    window_accessors!();

    fn name(&self) -> &'static str {
        "cubic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ack(bytes: usize, srtt_ms: u64) -> AckInfo {
        AckInfo {
            bytes_acked: bytes,
            rtt_sample: None,
            srtt: Duration::from_millis(srtt_ms),
            min_rtt: Duration::from_millis(srtt_ms),
            prior_in_flight: 0,
            app_limited: false,
        }
    }

    /// A controller in congestion avoidance at `segments` segments.
    fn avoiding(segments: usize, config: CubicConfig) -> Cubic {
        let mut cc = Cubic::new(MSS, config);
        cc.w.cwnd = segments * MSS;
        cc.w.ssthresh = cc.w.cwnd;
        cc
    }

    fn congestion(cc: &mut Cubic) {
        let ev = CongestionEvent {
            bytes_in_flight: cc.cwnd(),
            srtt: Duration::from_millis(100),
            flight_at_loss: None,
        };
        cc.on_congestion_event(Instant::ZERO, &ev, &[]);
    }

    #[test]
    fn decrease_is_beta_cubic() {
        let mut cc = avoiding(100, CubicConfig::default());
        congestion(&mut cc);
        assert_eq!(cc.cwnd(), 70 * MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        assert!((cc.w_max - 100.0).abs() < 1e-9);
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut cc = avoiding(100, CubicConfig::default());
        congestion(&mut cc);
        // Second loss below the previous W_max: W_max = cwnd (1 + beta) / 2.
        congestion(&mut cc);
        assert!((cc.w_max - 70.0 * 1.7 / 2.0).abs() < 1e-6, "{}", cc.w_max);
        let mut off = avoiding(
            100,
            CubicConfig {
                fast_convergence: false,
                ..CubicConfig::default()
            },
        );
        congestion(&mut off);
        congestion(&mut off);
        assert!((off.w_max - 70.0).abs() < 1e-6);
    }

    /// After a reduction the window climbs back to W_max in about K seconds
    /// (concave region) and grows past it afterwards (convex region).
    #[test]
    fn concave_then_convex_growth() {
        let mut cc = avoiding(100, CubicConfig::default());
        congestion(&mut cc);
        // K = cbrt(100 * 0.3 / 0.4) = 4.2 s.
        let rtt_ms = 100;
        let mut now = Instant::ZERO;
        let mut at_k = 0;
        for step in 0..120u64 {
            // One RTT: a window's worth of ACKs.
            let n = cc.cwnd() / MSS;
            for _ in 0..n {
                cc.on_ack(now, &ack(MSS, rtt_ms), &[]);
            }
            now += Duration::from_millis(rtt_ms);
            if step == 42 {
                at_k = cc.cwnd();
            }
        }
        assert!(
            (95 * MSS..=106 * MSS).contains(&at_k),
            "cwnd at K: {}",
            at_k / MSS
        );
        assert!(cc.cwnd() > 150 * MSS, "convex growth: {}", cc.cwnd() / MSS);
    }

    /// With a short RTT and small W_max, the Reno-friendly estimate governs:
    /// cwnd grows at least as fast as alpha_cubic segments per RTT.
    #[test]
    fn reno_friendly_region() {
        let mut cc = avoiding(10, CubicConfig::default());
        congestion(&mut cc);
        let start = cc.cwnd();
        let mut now = Instant::ZERO;
        for _ in 0..20 {
            let n = cc.cwnd() / MSS;
            for _ in 0..n {
                cc.on_ack(now, &ack(MSS, 1), &[]);
            }
            now += Duration::from_millis(1);
        }
        // 20 RTTs of 1 ms: W_cubic barely moves (t tiny), so growth comes
        // from W_est: about 0.53 segments per RTT.
        let grown = (cc.cwnd() - start) as f64 / MSS as f64;
        assert!(grown > 8.0, "grew {grown} segments");
    }

    /// Section 4.3: alpha_cubic becomes 1 once W_est reaches cwnd_prior
    /// (the window at the last reduction), not the W_max that fast
    /// convergence lowered below it.
    #[test]
    fn reno_friendly_alpha_switches_at_cwnd_prior() {
        let mut cc = avoiding(100, CubicConfig::default());
        congestion(&mut cc);
        // A second loss at 80 segments: cwnd_prior = 80, fast convergence
        // puts W_max at 80 * 1.7 / 2 = 68, cwnd and W_est start at 56.
        cc.w.cwnd = 80 * MSS;
        congestion(&mut cc);
        assert!((cc.w_max - 68.0).abs() < 1e-9 && (cc.w_last_max - 80.0).abs() < 1e-9);
        // One ACK starts the epoch; then W_est is put between W_max and
        // cwnd_prior: growth there is still 3 (1 - beta) / (1 + beta) per
        // window, not 1.
        let t0 = Instant::ZERO;
        cc.on_ack(t0, &ack(MSS, 1), &[]);
        cc.w_est = 70.0;
        let before = cc.w_est;
        let cwnd = cc.segments(cc.cwnd());
        cc.on_ack(t0, &ack(MSS, 1), &[]);
        let alpha = (cc.w_est - before) * cwnd;
        assert!((alpha - 0.9 / 1.7).abs() < 1e-6, "alpha {alpha}");
        // At cwnd_prior, alpha = 1.
        cc.w_est = 80.0;
        let cwnd = cc.segments(cc.cwnd());
        cc.on_ack(t0, &ack(MSS, 1), &[]);
        let alpha = (cc.w_est - 80.0) * cwnd;
        assert!((alpha - 1.0).abs() < 1e-6, "alpha {alpha}");
    }

    /// A loss detected in the initial slow start with a queue built (srtt
    /// 100 ms over a 40 ms minimum) is an overshoot: it happened while the
    /// previous round was sent, so W_max and ssthresh come from the flight
    /// at that round's start, not from the window that kept doubling while
    /// the loss was being detected. Without a queue, from cwnd.
    #[test]
    fn slow_start_overshoot_reduces_from_the_previous_round() {
        let rounds = |min_rtt_ms: u64| {
            let mut cc = Cubic::new(MSS, CubicConfig::default());
            let ss_ack = |bytes: usize, prior: usize| AckInfo {
                bytes_acked: bytes * MSS,
                rtt_sample: Some(Duration::from_millis(min_rtt_ms)),
                prior_in_flight: prior * MSS,
                ..ack(0, min_rtt_ms)
            };
            // Rounds begin with 10, 20 and 40 segments in flight.
            cc.on_ack(Instant::ZERO, &ss_ack(10, 10), &[]);
            cc.on_ack(Instant::ZERO, &ss_ack(20, 20), &[]);
            cc.on_ack(Instant::ZERO, &ss_ack(20, 40), &[]);
            cc.w.cwnd = 80 * MSS;
            // The loss is detected with srtt = 100 ms.
            congestion(&mut cc);
            cc
        };
        let mut cc = rounds(40);
        assert!((cc.w_max - 20.0).abs() < 1e-9, "{}", cc.w_max);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (14 * MSS, 14 * MSS));
        // Out of slow start, the reduction is from cwnd again.
        cc.w.cwnd = 100 * MSS;
        congestion(&mut cc);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        // No queue (srtt at the minimum): a random loss, from cwnd.
        let cc = rounds(100);
        assert_eq!(cc.ssthresh(), 56 * MSS);
    }

    /// The socket knows the flight the first lost segment joined when it
    /// was sent; an overshoot reduces from that, not from the start of the
    /// previous round (up to half of it: the window doubles each round).
    /// Regression: two 50 Mbit/s paths of 250 kB BDP and 225 kB queue lost
    /// a segment sent at 475 kB in flight; from the previous round's 217 kB
    /// ssthresh fell to 152 kB, below the BDP, and the MPTCP aggregate
    /// dropped from 93.7 to 84.7 Mbit/s.
    #[test]
    fn slow_start_overshoot_reduces_from_the_flight_of_the_lost_segment() {
        let mut cc = Cubic::new(MSS, CubicConfig::default());
        let ss_ack = |bytes: usize, prior: usize| AckInfo {
            bytes_acked: bytes * MSS,
            rtt_sample: Some(Duration::from_millis(40)),
            prior_in_flight: prior * MSS,
            ..ack(0, 40)
        };
        cc.on_ack(Instant::ZERO, &ss_ack(10, 10), &[]);
        cc.on_ack(Instant::ZERO, &ss_ack(20, 20), &[]);
        cc.on_ack(Instant::ZERO, &ss_ack(20, 40), &[]);
        cc.w.cwnd = 80 * MSS;
        let ev = CongestionEvent {
            bytes_in_flight: cc.cwnd(),
            srtt: Duration::from_millis(100),
            flight_at_loss: Some(30 * MSS),
        };
        cc.on_congestion_event(Instant::ZERO, &ev, &[]);
        assert!((cc.w_max - 30.0).abs() < 1e-9, "{}", cc.w_max);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (21 * MSS, 21 * MSS));
        // Never above cwnd.
        let mut cc = avoiding(50, CubicConfig::default());
        cc.w.ssthresh = usize::MAX;
        cc.min_rtt = Some(Duration::from_millis(40));
        let ev = CongestionEvent {
            flight_at_loss: Some(90 * MSS),
            ..ev
        };
        cc.on_congestion_event(Instant::ZERO, &ev, &[]);
        assert_eq!(cc.ssthresh(), 35 * MSS);
    }

    #[test]
    fn timeout_resets_to_one_segment() {
        let mut cc = Cubic::new(MSS, CubicConfig::default());
        cc.w.cwnd = 50 * MSS;
        cc.on_rto(Instant::ZERO, 50 * MSS, true);
        assert_eq!(cc.cwnd(), MSS);
        assert_eq!(cc.ssthresh(), 35 * MSS);
    }
}
