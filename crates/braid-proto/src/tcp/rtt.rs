//! Round-trip time estimation and the retransmission timeout, RFC 6298.
//! The bounds are configurable; the defaults follow Linux (min 200 ms) where
//! RFC 6298 section 2.4 would say 1 s ("MAY be greater than ... 1 second").

use crate::time::Duration;

/// RFC 6298 estimator: SRTT, RTTVAR, RTO with exponential backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    min_rtt: Option<Duration>,
    latest: Option<Duration>,
    /// Number of backoffs applied (RFC 6298 section 5.5).
    backoff: u32,
    initial: Duration,
    min: Duration,
    max: Duration,
    /// Bound on the backed-off RTO (see [`RttEstimator::set_backoff_cap`]).
    backoff_cap: Option<Duration>,
}

/// Clock granularity G (1 ms).
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    /// An estimator with no sample yet: RTO = `initial` (section 2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rtt: None,
            latest: None,
            backoff: 0,
            initial,
            min,
            max,
            backoff_cap: None,
        }
    }

    /// Feed one RTT measurement (sections 2.2 and 2.3).
    pub fn sample(&mut self, r: Duration) {
        self.latest = Some(r);
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        match self.srtt {
            None => {
                // 2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // 2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|,
                //      SRTT <- 7/8 SRTT + 1/8 R'.
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
    }

    /// The RTO before backoff: SRTT + max(G, 4 RTTVAR), bounded.
    pub fn base_rto(&self) -> Duration {
        match self.srtt {
            None => self.initial,
            Some(srtt) => (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max),
        }
    }

    /// The current RTO including backoff (section 5.5: "RTO <- RTO * 2"),
    /// capped at the maximum and at the backoff cap (never below the
    /// RTO before backoff).
    pub fn rto(&self) -> Duration {
        let base = self.base_rto();
        let factor = 1u32.checked_shl(self.backoff.min(16)).unwrap_or(u32::MAX);
        let cap = self.backoff_cap.map_or(self.max, |c| c.min(self.max));
        base.saturating_mul(factor).min(cap.max(base))
    }

    /// Bound the backed-off RTO at `cap` (`None`: only the maximum).
    /// RFC 6298 section 5.5 lets a TCP connection cap its RTO at no less
    /// than 60 s; MPTCP caps a subflow's much lower while another subflow
    /// carries the connection's data (which is reinjected there), so that
    /// its retransmissions probe the dead path often and it is used again
    /// soon after it returns. Each probe is one segment.
    pub fn set_backoff_cap(&mut self, cap: Option<Duration>) {
        self.backoff_cap = cap;
    }

    /// Raise the initial RTO used until the first sample (RFC 6298 section
    /// 5.7).
    pub fn raise_initial(&mut self, initial: Duration) {
        self.initial = self.initial.max(initial);
    }

    /// Double the RTO (a retransmission timeout fired).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }
    /// Forget the backoff (new data acknowledged with a valid sample).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }
    /// Backoff count.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }
    /// Smoothed RTT, if any sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
    /// Smoothed RTT, or the initial RTO before the first sample.
    pub fn srtt_or_initial(&self) -> Duration {
        self.srtt.unwrap_or(self.initial)
    }
    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
    /// Minimum RTT seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }
    /// Latest sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        )
    }

    #[test]
    fn first_sample_sets_srtt_and_half_var() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // 100 + 4 * 50 = 300 ms.
        assert_eq!(e.rto(), Duration::from_millis(300));
    }

    #[test]
    fn rto_bounded_and_backed_off() {
        let mut e = est();
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200));
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(800));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
    }
}
