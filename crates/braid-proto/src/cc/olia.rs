//! OLIA, the Opportunistic Linked Increases Algorithm (R. Khalili, N.
//! Gast, M. Popovic, J.-Y. Le Boudec, "MPTCP is not Pareto-optimal",
//! CoNEXT 2012; draft-khalili-mptcp-congestion-control). For each ACK on
//! path r: `w_r += (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2 + alpha_r /
//! w_r`; a loss halves `w_r`. `alpha_r` moves window toward the "best"
//! paths (largest `l_p / rtt_p^2`, as the authors' Linux module ranks them;
//! `l_p` the bytes between the last two losses, or since the last one if
//! more) that do not already have the
//! largest window: with `M` the paths of largest window and `B` the best
//! ones, if `B \ M` is not empty, `alpha_r = 1 / (|P| |B \ M|)` on
//! `B \ M`, `-1 / (|P| |M|)` on `M`, 0 elsewhere; otherwise 0 everywhere.

use super::coupled::{Coupled, Coupling, Path};

/// OLIA's increase and TCP's halving.
#[derive(Debug, Clone, Copy, Default)]
pub struct OliaCoupling;

/// OLIA.
pub type Olia = Coupled<OliaCoupling>;

impl Olia {
    /// A controller with the RFC 6928 initial window.
    pub fn new(mss: usize) -> Olia {
        Coupled::with(OliaCoupling, mss)
    }
}

/// OLIA's `alpha` of path 0 of `all`.
fn alpha(all: &[Path]) -> f64 {
    let n = all.len() as f64;
    let eq = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let max_w = all.iter().map(|p| p.w).fold(0.0, f64::max);
    // The authors' Linux module (mptcp_olia.c) ranks paths by
    // l / rtt^2 (a TCP's rate squared goes as l / rtt^2).
    let quality = |p: &Path| p.loss_interval as f64 / (p.rtt * p.rtt);
    let best_q = all.iter().map(quality).fold(0.0, f64::max);
    let in_m = |p: &Path| eq(p.w, max_w);
    let in_b = |p: &Path| eq(quality(p), best_q);
    let b_not_m = all.iter().filter(|p| in_b(p) && !in_m(p)).count() as f64;
    if b_not_m == 0.0 {
        return 0.0;
    }
    let me = &all[0];
    if in_b(me) && !in_m(me) {
        1.0 / (n * b_not_m)
    } else if in_m(me) {
        let m = all.iter().filter(|p| in_m(p)).count() as f64;
        -1.0 / (n * m)
    } else {
        0.0
    }
}

impl Coupling for OliaCoupling {
    fn increase(&self, all: &[Path]) -> f64 {
        let me = all[0];
        let sum: f64 = all.iter().map(|p| p.w / p.rtt).sum();
        (me.w / (me.rtt * me.rtt)) / (sum * sum) + alpha(all) / me.w.max(1.0)
    }

    fn decrease(&self, all: &[Path]) -> f64 {
        all[0].w / 2.0
    }

    fn name(&self) -> &'static str {
        "olia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::coupled::tests::paths;

    #[test]
    fn one_path_is_reno() {
        let c = OliaCoupling;
        let p = paths(&[(20.0, 50.0)]);
        assert!((c.increase(&p) - 1.0 / 20.0).abs() < 1e-12);
        assert_eq!(c.decrease(&p), 10.0);
    }

    #[test]
    fn window_moves_toward_the_best_path_without_the_largest_window() {
        let c = OliaCoupling;
        // Path 0: small window but long loss-free runs (best); path 1:
        // the largest window, lossy.
        let mut p = paths(&[(10.0, 50.0), (30.0, 50.0)]);
        p[0].loss_interval = 1_000_000;
        p[1].loss_interval = 10_000;
        assert!((alpha(&p) - 0.5).abs() < 1e-12);
        let base = (10.0 / 0.0025) / (800.0f64 * 800.0);
        assert!(c.increase(&p) > base);
        p.swap(0, 1);
        assert!((alpha(&p) + 0.5).abs() < 1e-12);
    }
}
