//! Per-subflow congestion control: the [`Controller`] trait, [`NewReno`]
//! (RFC 5681, RFC 6582) and [`Cubic`] (RFC 9438), both leaving their
//! initial slow start with HyStart++ (RFC 9406, `hystart.rs`).
//!
//! Shaped like quinn's `congestion.rs`: a small trait with default no-op
//! hooks, one file per algorithm. The TCP socket ([`crate::tcp`]) owns one
//! controller per subflow and calls it on every ACK, congestion event and
//! retransmission timeout. Every hook also receives a read-only slice of
//! [`CcView`]s of the *other* subflows of the same MPTCP connection, so
//! coupled algorithms (LIA, RFC 6356; OLIA; BALIA) can be added later
//! without changing the trait. Uncoupled algorithms ignore it.
//!
//! Windows are in bytes. The controller never sees sequence numbers: loss
//! detection and recovery (RFC 6675, RFC 6582) live in the socket, which
//! tells the controller *that* a congestion event happened.

mod balia;
mod coupled;
mod cubic;
mod hystart;
mod lia;
mod newreno;
mod olia;
mod window;

pub use balia::{Balia, BaliaCoupling};
pub use coupled::{Coupled, Coupling, Path};
pub use cubic::{Cubic, CubicConfig};
pub use lia::{Lia, LiaCoupling};
pub use newreno::NewReno;
pub use olia::{Olia, OliaCoupling};

use crate::time::{Duration, Instant};
use std::fmt;
use std::sync::Arc;

/// A read-only view of one subflow, for coupled congestion control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcView {
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Smoothed RTT (the initial RTO's guess before the first sample).
    pub srtt: Duration,
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: usize,
    /// Sender maximum segment size.
    pub mss: usize,
    /// Bytes acknowledged between the subflow's last two losses, or since
    /// the last one if more ([`Controller::loss_interval`]; OLIA's `l`).
    pub loss_interval: u64,
}

/// What an acknowledgment of new data tells the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckInfo {
    /// Bytes newly acknowledged (cumulatively).
    pub bytes_acked: usize,
    /// The RTT sample this ACK gave, if any (RFC 6298: none from
    /// retransmitted segments unless timestamps disambiguate).
    pub rtt_sample: Option<Duration>,
    /// Smoothed RTT after this ACK.
    pub srtt: Duration,
    /// Minimum RTT seen on this subflow.
    pub min_rtt: Duration,
    /// Bytes in flight before this ACK was processed.
    pub prior_in_flight: usize,
    /// Whether the sender was limited by the application (not by cwnd) when
    /// this data was sent; RFC 7661: do not grow cwnd then.
    pub app_limited: bool,
}

/// A loss detected by duplicate ACKs or SACK (fast retransmit), RFC 5681
/// section 3.2 / RFC 6675 section 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CongestionEvent {
    /// Bytes in flight when the loss was detected (FlightSize).
    pub bytes_in_flight: usize,
    /// Smoothed RTT.
    pub srtt: Duration,
    /// Bytes that were in flight when the first segment deemed lost was
    /// originally sent, if the socket knows: the window the loss happened
    /// at, which in slow start can be well below `bytes_in_flight` (the
    /// window kept growing during the round trip the loss took to show).
    pub flight_at_loss: Option<usize>,
}

/// A congestion controller for one subflow.
///
/// Call order (by the socket): [`Controller::on_ack`] for every ACK that
/// acknowledges new data outside recovery, [`Controller::on_congestion_event`]
/// once when entering fast recovery, [`Controller::on_recovery_end`] when
/// recovery completes, [`Controller::on_rto`] on a retransmission timeout.
pub trait Controller: fmt::Debug + Send {
    /// New data was acknowledged (outside loss recovery).
    fn on_ack(&mut self, now: Instant, ack: &AckInfo, siblings: &[CcView]) {
        let _ = (now, ack, siblings);
    }
    /// Fast retransmit: entering loss recovery. Sets ssthresh and cwnd.
    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, siblings: &[CcView]) {
        let _ = (now, event, siblings);
    }
    /// Loss recovery ended (the recovery point was acknowledged).
    fn on_recovery_end(&mut self, now: Instant) {
        let _ = now;
    }
    /// The retransmission timer expired (RFC 5681 section 3.1 eq. 4: cwnd
    /// to one segment). `first` is false for back-to-back timeouts of the
    /// same data, which must not lower ssthresh again.
    fn on_rto(&mut self, now: Instant, bytes_in_flight: usize, first: bool) {
        let _ = (now, bytes_in_flight, first);
    }
    /// The sender MSS became known or changed.
    fn on_mss_change(&mut self, mss: usize) {
        let _ = mss;
    }
    /// Congestion window, bytes.
    fn cwnd(&self) -> usize;
    /// Slow-start threshold, bytes (`usize::MAX` before the first loss).
    fn ssthresh(&self) -> usize;
    /// Short name for logs and statistics.
    fn name(&self) -> &'static str;
    /// Bytes acknowledged between the last two losses, or since the last
    /// one if more; 0 when the controller does not track it (only OLIA's
    /// siblings need it).
    fn loss_interval(&self) -> u64 {
        0
    }
}

/// Initial window, RFC 6928: `min(10*MSS, max(2*MSS, 14600))`.
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14_600))
}

/// Builds a controller for a new subflow, given its MSS.
pub type ControllerFactory = Arc<dyn Fn(usize) -> Box<dyn Controller> + Send + Sync>;

/// Which congestion controller a socket uses.
#[derive(Clone, Default)]
pub enum CcAlgorithm {
    /// NewReno (RFC 5681 + RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438), the default as in Linux.
    #[default]
    Cubic,
    /// LIA, coupled (RFC 6356).
    Lia,
    /// OLIA, coupled (Khalili et al., CoNEXT 2012).
    Olia,
    /// BALIA, coupled (Peng et al., ToN 2016).
    Balia,
    /// A caller-supplied controller (e.g. a coupled one).
    Custom(ControllerFactory),
}

impl CcAlgorithm {
    /// Build a controller for a subflow with this MSS.
    pub fn build(&self, mss: usize) -> Box<dyn Controller> {
        match self {
            CcAlgorithm::NewReno => Box::new(NewReno::new(mss)),
            CcAlgorithm::Cubic => Box::new(Cubic::new(mss, CubicConfig::default())),
            CcAlgorithm::Lia => Box::new(Lia::new(mss)),
            CcAlgorithm::Olia => Box::new(Olia::new(mss)),
            CcAlgorithm::Balia => Box::new(Balia::new(mss)),
            CcAlgorithm::Custom(f) => f(mss),
        }
    }

    /// The built-in names, as the command line takes them.
    pub const NAMES: [&'static str; 5] = ["cubic", "newreno", "lia", "olia", "balia"];

    /// The built-in called `name` (`cubic`, `newreno`, `lia`, `olia`,
    /// `balia`), or an error naming the choices.
    pub fn from_name(name: &str) -> Result<CcAlgorithm, UnknownCc> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "cubic" => CcAlgorithm::Cubic,
            "newreno" => CcAlgorithm::NewReno,
            "lia" => CcAlgorithm::Lia,
            "olia" => CcAlgorithm::Olia,
            "balia" => CcAlgorithm::Balia,
            _ => return Err(UnknownCc(name.to_string())),
        })
    }

    /// Its name (`custom` for a caller-supplied one).
    pub fn name(&self) -> &'static str {
        match self {
            CcAlgorithm::NewReno => "newreno",
            CcAlgorithm::Cubic => "cubic",
            CcAlgorithm::Lia => "lia",
            CcAlgorithm::Olia => "olia",
            CcAlgorithm::Balia => "balia",
            CcAlgorithm::Custom(_) => "custom",
        }
    }
}

/// A congestion control name that is not a built-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion control {0:?} (choices: cubic, newreno, lia, olia, balia)")]
pub struct UnknownCc(pub String);

impl fmt::Debug for CcAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CcAlgorithm::NewReno => f.write_str("NewReno"),
            CcAlgorithm::Cubic => f.write_str("Cubic"),
            CcAlgorithm::Lia => f.write_str("Lia"),
            CcAlgorithm::Olia => f.write_str("Olia"),
            CcAlgorithm::Balia => f.write_str("Balia"),
            CcAlgorithm::Custom(_) => f.write_str("Custom"),
        }
    }
}
