//! LIA, the Linked Increases Algorithm of RFC 6356: the coupled congestion
//! control of MPTCP's RFCs. Section 4: in congestion avoidance, for each
//! ACK on subflow i, "increase cwnd_i by min(alpha*bytes_acked*MSS_i /
//! cwnd_total, bytes_acked*MSS_i / cwnd_i)", where
//! `alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i(cwnd_i / rtt_i))^2`;
//! a loss halves the subflow's window as in TCP. Its three goals (section
//! 2): do at least as well as TCP on the best path, take no more than one
//! TCP from a shared bottleneck, move traffic off congested paths.

use super::coupled::{Coupled, Coupling, Path};

/// RFC 6356's increase and TCP's halving.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiaCoupling;

/// LIA (RFC 6356).
pub type Lia = Coupled<LiaCoupling>;

impl Lia {
    /// A controller with the RFC 6928 initial window.
    pub fn new(mss: usize) -> Lia {
        Coupled::with(LiaCoupling, mss)
    }
}

impl Coupling for LiaCoupling {
    fn increase(&self, all: &[Path]) -> f64 {
        let total: f64 = all.iter().map(|p| p.w).sum();
        let best = all
            .iter()
            .map(|p| p.w / (p.rtt * p.rtt))
            .fold(0.0, f64::max);
        let sum: f64 = all.iter().map(|p| p.w / p.rtt).sum();
        let alpha = total * best / (sum * sum);
        // Per acknowledged packet: min(alpha / total, 1 / w_i).
        (alpha / total).min(1.0 / all[0].w.max(1.0))
    }

    fn decrease(&self, all: &[Path]) -> f64 {
        all[0].w / 2.0
    }

    fn name(&self) -> &'static str {
        "lia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::coupled::tests::paths;

    #[test]
    fn one_path_is_reno() {
        let c = LiaCoupling;
        let p = paths(&[(20.0, 50.0)]);
        assert!((c.increase(&p) - 1.0 / 20.0).abs() < 1e-12);
        assert_eq!(c.decrease(&p), 10.0);
    }

    #[test]
    fn two_equal_paths_together_take_one_tcp() {
        // RFC 6356 goal 2: two subflows of 10 packets over the same RTT
        // grow together like one TCP of 20 (1/20 per ACK), so each grows
        // at a quarter of what an uncoupled 10-packet TCP would.
        let c = LiaCoupling;
        let p = paths(&[(10.0, 50.0), (10.0, 50.0)]);
        let inc = c.increase(&p);
        assert!((inc - 1.0 / 40.0).abs() < 1e-12, "{inc}");
    }

    #[test]
    fn never_more_aggressive_than_tcp_on_the_path() {
        let c = LiaCoupling;
        for spec in [
            [(5.0, 10.0), (50.0, 200.0)],
            [(50.0, 10.0), (5.0, 200.0)],
            [(1.0, 10.0), (1.0, 10.0)],
        ] {
            let p = paths(&spec);
            assert!(c.increase(&p) <= 1.0 / p[0].w + 1e-12, "{spec:?}");
        }
    }
}
