//! BALIA, the Balanced Linked Adaptation algorithm (Q. Peng, A. Walid, J.
//! Hwang, S. Low, "Multipath TCP: Analysis, Design, and Implementation",
//! IEEE/ACM ToN 24(1), 2016; draft-walid-mptcp-congestion-control). With
//! `x_r = w_r / rtt_r` and `alpha_r = max_k x_k / x_r`, for each ACK on
//! path r: `w_r += x_r / (rtt_r * (sum_k x_k)^2) * (1 + alpha_r) / 2 *
//! (4 + alpha_r) / 5`; for each loss: `w_r -= w_r / 2 * min(alpha_r,
//! 1.5)`. It balances LIA's friendliness with OLIA's responsiveness.

use super::coupled::{Coupled, Coupling, Path};

/// BALIA's increase and decrease.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaliaCoupling;

/// BALIA.
pub type Balia = Coupled<BaliaCoupling>;

impl Balia {
    /// A controller with the RFC 6928 initial window.
    pub fn new(mss: usize) -> Balia {
        Coupled::with(BaliaCoupling, mss)
    }
}

fn alpha(all: &[Path]) -> f64 {
    let x = |p: &Path| p.w / p.rtt;
    let best = all.iter().map(x).fold(0.0, f64::max);
    best / x(&all[0]).max(1e-9)
}

impl Coupling for BaliaCoupling {
    fn increase(&self, all: &[Path]) -> f64 {
        let me = all[0];
        let x = me.w / me.rtt;
        let sum: f64 = all.iter().map(|p| p.w / p.rtt).sum();
        let a = alpha(all);
        x / (me.rtt * sum * sum) * (1.0 + a) / 2.0 * (4.0 + a) / 5.0
    }

    fn decrease(&self, all: &[Path]) -> f64 {
        let me = all[0];
        me.w - me.w / 2.0 * alpha(all).min(1.5)
    }

    fn name(&self) -> &'static str {
        "balia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::coupled::tests::paths;

    #[test]
    fn one_path_is_reno() {
        let c = BaliaCoupling;
        let p = paths(&[(20.0, 50.0)]);
        // x/(rtt*x^2) = 1/w; alpha = 1: (2/2)*(5/5) = 1.
        assert!((c.increase(&p) - 1.0 / 20.0).abs() < 1e-12);
        assert_eq!(c.decrease(&p), 10.0);
    }

    #[test]
    fn the_slower_path_backs_off_more_and_grows_less() {
        let c = BaliaCoupling;
        // Path 0 carries a third of what path 1 does (alpha 3).
        let slow = paths(&[(10.0, 100.0), (30.0, 100.0)]);
        let fast = paths(&[(30.0, 100.0), (10.0, 100.0)]);
        assert_eq!(c.decrease(&slow), 10.0 - 5.0 * 1.5);
        assert_eq!(c.decrease(&fast), 15.0);
        // Two equal paths: together no faster than one TCP of their sum.
        let two = paths(&[(10.0, 50.0), (10.0, 50.0)]);
        assert!(c.increase(&two) <= 1.0 / 20.0 + 1e-12);
    }
}
