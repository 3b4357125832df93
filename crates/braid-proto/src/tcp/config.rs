//! Socket configuration: buffers, options offered, timers, congestion
//! control.

use super::autotune::sized;
use crate::cc::CcAlgorithm;
use crate::time::Duration;

/// Socket configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The MSS we announce and the clamp on the peer's (RFC 9293 section
    /// 3.7.1). Default 1460 (Ethernet, IPv4).
    pub mss: u16,
    /// Initial send buffer capacity, bytes; it grows with the congestion
    /// window up to `send_buffer_max` (`tcp/autotune.rs`).
    pub send_buffer: usize,
    /// The most the send buffer grows to (Linux `tcp_wmem[2]`, 4 MiB); at
    /// or below `send_buffer` the buffer stays fixed.
    pub send_buffer_max: usize,
    /// Initial receive buffer capacity, bytes; the receive window is its
    /// free space. It grows toward twice what the application consumes per
    /// RTT up to `recv_buffer_max` (dynamic right-sizing).
    pub recv_buffer: usize,
    /// The most the receive buffer grows to (Linux `tcp_rmem[2]`, 32 MiB
    /// since 6.x); at or below `recv_buffer` the buffer stays fixed. The
    /// window scale offered on the SYN covers it.
    pub recv_buffer_max: usize,
    /// Offer window scaling (RFC 7323 section 2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 section 3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Nagle's algorithm (RFC 9293 section 3.7.4), on by default.
    pub nagle: bool,
    /// Initial RTO (RFC 6298 section 2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (Linux: 200 ms).
    pub rto_min: Duration,
    /// Upper bound of the RTO (120 s).
    pub rto_max: Duration,
    /// Retransmissions of one SYN before giving up.
    pub syn_retries: u32,
    /// Consecutive retransmission timeouts of data before giving up (R2 of
    /// RFC 9293 section 3.8.3).
    pub max_retransmissions: u32,
    /// Delayed ACK timeout (default 40 ms; capped at 500 ms, RFC 9293
    /// section 3.8.6.3: "MUST be less than 0.5 seconds").
    pub delayed_ack: Duration,
    /// Maximum segment lifetime; TIME-WAIT lasts 2*MSL.
    pub msl: Duration,
    /// Challenge ACKs allowed per second (RFC 5961 section 7).
    pub challenge_ack_limit: u32,
    /// Congestion control algorithm.
    pub congestion: CcAlgorithm,
    /// Start every connection's send sequence space at this initial send
    /// sequence number instead of RFC 6528's (default `None`: RFC 6528).
    /// For tests that must cross the 2^32 sequence wrap without moving
    /// 4 GiB first (an ISN a few bytes below the wrap); a predictable ISN
    /// invites off-path attacks (RFC 6528 section 1), so never set it in
    /// production.
    pub initial_seq: Option<u32>,
    /// Internal pacing of data segments at cwnd/srtt times 2 in slow
    /// start, 1.2 after (`tcp/pacing.rs`, as Linux paces without an `fq`
    /// qdisc). Off by default: on a plain TCP connection it lifts goodput
    /// through shallow queues (braid-sim `tcp_stories`), but MPTCP's
    /// schedulers read bytes the pacer holds as a busy subflow and move
    /// data to slower paths (the scheduler tests in braid-sim lose 20 % and
    /// more with it on); until the scheduler view accounts for it, it stays
    /// opt-in.
    pub pacing: bool,
    /// Keepalive probes on an idle connection (RFC 9293 section 3.8.4,
    /// RFC 1122 section 4.2.3.6); off by default, as TCP's are. MPTCP
    /// uses it per subflow, so that an idle subflow whose middlebox state
    /// expired is found dead (and re-created by the path manager) before
    /// data needs it.
    pub keepalive: Option<Keepalive>,
}

/// Keepalive timing (Linux `tcp_keepalive_time`, `_intvl`, `_probes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (as a timeout).
    pub probes: u32,
}

impl Default for Keepalive {
    /// Linux's defaults: 2 hours idle, then 9 probes 75 s apart.
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            send_buffer: 256 * 1024,
            send_buffer_max: 4 * 1024 * 1024,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 32 * 1024 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nagle: true,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            syn_retries: 6,
            max_retransmissions: 15,
            delayed_ack: Duration::from_millis(40),
            msl: Duration::from_secs(30),
            challenge_ack_limit: 100,
            congestion: CcAlgorithm::default(),
            initial_seq: None,
            pacing: false,
            keepalive: None,
        }
    }
}

impl Config {
    /// Fixed buffers of `send` and `recv` bytes (no autotuning), or caps
    /// when `autotune`: the initial sizes are then the defaults, capped.
    pub fn set_buffers(&mut self, send: Option<usize>, recv: Option<usize>, autotune: bool) {
        let d = Config::default();
        if let Some(b) = send {
            (self.send_buffer, self.send_buffer_max) = sized(b, d.send_buffer, autotune);
        }
        if let Some(b) = recv {
            (self.recv_buffer, self.recv_buffer_max) = sized(b, d.recv_buffer, autotune);
        }
    }

    /// The receive buffer the window scale must cover.
    pub(crate) fn recv_buffer_limit(&self) -> usize {
        self.recv_buffer.max(self.recv_buffer_max)
    }
}
