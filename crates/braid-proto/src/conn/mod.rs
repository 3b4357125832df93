//! One MPTCP connection (RFC 8684) owning its subflows, sans-IO.
//!
//! - Handshakes: MP_CAPABLE v1 in both roles (section 3.1) with the
//!   initiator repeating its keys until it sees a DSS; checksum negotiation
//!   ("If either host requires the use of checksums, checksums MUST be
//!   used", flag `A`); fallback to plain TCP when the peer (or a middlebox)
//!   drops the option (section 3.7). MP_JOIN both roles (section 3.2) with
//!   HMAC checks; a bad HMAC resets the subflow with MP_TCPRST.
//! - Data: 64-bit data sequence space, DSS mappings (section 3.3.1),
//!   DATA_ACK (3.3.2), the shared receive window whose right edge never
//!   shrinks (3.3.4, as the sender sees it), DATA_FIN (3.3.3), reinjection
//!   of data stuck on a failed or stalled subflow, MP_FASTCLOSE (3.5),
//!   MP_TCPRST (3.6), MP_FAIL and fallback (3.7), ADD_ADDR with HMAC,
//!   echo and retransmission (3.4.1), REMOVE_ADDR (3.4.2), MP_PRIO (3.3.8).
//!
//! # Call order
//! As for [`crate::tcp::TcpSocket`]: feed segments with
//! [`Connection::handle_segment`]; then call [`Connection::poll_transmit`]
//! until `None` and send each segment from the given local to the given
//! remote address; then [`Connection::poll_event`] until `None`; then
//! [`Connection::poll_timeout`], and [`Connection::handle_timeout`] when it
//! comes. After `read`, `write`, `close`, `abort`, `open_subflow`, poll
//! again.
//!
//! # For the endpoint
//! - A SYN with MP_CAPABLE (or without, for plain TCP behind the same
//!   listener) goes to [`Connection::accept`]; register
//!   [`Connection::local_token`] (unique among live connections: RFC 8684
//!   section 3.1 leaves collisions to the implementation, Linux retries).
//! - A SYN with MP_JOIN: look the token up, then
//!   [`Connection::accept_join`]; on `Err` answer with a RST.
//! - [`Connection::poll_transmit`] names the subflow and its addresses:
//!   the first segment of a subflow the connection opened itself (path
//!   manager joins) introduces a new 4-tuple to route back to it.
//!
//! # Deliberate gaps
//! - The TCP window field of each subflow is the smaller of the subflow's
//!   own free receive space and the connection-level free space right of
//!   the DATA_ACK (section 3.3.4), so a peer treating the window as
//!   connection-level (Linux: right edge = DATA_ACK + window) never sends
//!   beyond what the connection holds; bytes past `read point +
//!   recv_buffer` would still wait in the subflow.
//! - A checksum failure on the only subflow resets the connection (with
//!   MP_FAIL) instead of falling back with an infinite mapping; an
//!   infinite mapping *received* is honoured.
//! - DATA_FIN travels on pure ACKs only, never piggybacked on data.
//! - With DSS checksums a mapping is checked once complete, so a subflow's
//!   receive buffer must hold one mapping (64 KiB); the default 256 KiB
//!   does.
//! - REMOVE_ADDR of address ID 0 does not close the initial subflow.

mod handshake;
mod input;
pub mod mapping;
mod mode;
mod output;
mod paths;
pub mod reassembly;
pub mod sendbuf;
mod subflow;

#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;

pub use handshake::CookieOpen;
pub use mapping::{MappingAction, MappingStatus};
pub use mode::{Mode, UnknownMode};

use crate::crypto;
use crate::mib::Mib;
use crate::pm::{PathManager, PathManagerChoice, PmConfig};
use crate::sched::{Scheduler, SchedulerChoice, SchedulerKind};
use crate::tcp::{self, IsnGenerator, State, SubflowStats, TcpSocket};
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{MpCapable, MptcpOption, VERSION};
use crate::wire::{Dsn, TcpRepr};
use core::net::SocketAddr;
use rand::Rng;
use reassembly::Reassembly;
use sendbuf::SendBuf;
use std::collections::VecDeque;
use subflow::{Role, Subflow};

pub use crate::id::SubflowId;

/// Connection configuration.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Configuration of every subflow (Nagle is turned off: the connection
    /// hands bytes to a subflow only when it can send them).
    pub tcp: tcp::Config,
    /// Ask for DSS checksums (flag `A`).
    pub checksum: bool,
    /// Initial data-level send buffer, bytes; it grows with the sum of
    /// the subflows' congestion windows up to `send_buffer_max`.
    pub send_buffer: usize,
    /// The most the data-level send buffer grows to; at or below
    /// `send_buffer` it stays fixed.
    pub send_buffer_max: usize,
    /// Initial data-level receive buffer, bytes; it grows toward twice
    /// what the application reads per RTT of the slowest subflow (as Linux
    /// `mptcp_rcv_space_adjust`) up to `recv_buffer_max`.
    pub recv_buffer: usize,
    /// The most the data-level receive buffer grows to; at or below
    /// `recv_buffer` it stays fixed.
    pub recv_buffer_max: usize,
    /// Path manager settings and limits.
    pub pm: PmConfig,
    /// Path manager: a built-in (`PmKind`, default full mesh) or the
    /// user's own (`PathManagerChoice::custom`), built from `pm`.
    pub path_manager: PathManagerChoice,
    /// Scheduler: a built-in (`SchedulerKind`, default min-RTT) or the
    /// user's own (`SchedulerChoice::custom`).
    pub scheduler: SchedulerChoice,
    /// ADD_ADDR retransmission interval (Linux `add_addr_timeout`, 120 s).
    pub add_addr_timeout: Duration,
    /// ADD_ADDR transmissions before giving up.
    pub add_addr_max_tries: u32,
    /// Use this initial data sequence number for both directions instead
    /// of the one each key implies (RFC 8684 section 3.1: "the least
    /// significant 64 bits of the SHA-256 hash of the key"). Default
    /// `None`. For tests only, so that a transfer crosses the 32- and
    /// 64-bit DSN boundaries without moving 2^32 bytes: both ends must set
    /// the same value, and a peer that derives the IDSN as the RFC says
    /// (any other implementation) cannot talk to an endpoint that sets it.
    pub fixed_idsn: Option<u64>,
    /// Send DSNs and DATA_ACKs as 8 octets (flags `a` and `m`, the
    /// default) or as their low 4 octets, which the peer expands (RFC
    /// 8684 section 3.3: "the implementation MUST keep the upper 32
    /// bits"). Four save 8 option bytes per segment; Linux starts with a
    /// 4-octet DATA_ACK.
    pub dss_64bit: bool,
    /// Opportunistic reinjection (default on): when nothing new may be
    /// sent, bytes waiting on a slower subflow go again over an idle
    /// faster one (see `Mib::opportunistic_reinjections`).
    pub opportunistic_reinjection: bool,
    /// After this many retransmissions of a SYN with MP_CAPABLE, the next
    /// SYN goes without it and the connection is plain TCP: a path that
    /// drops segments with unknown options still connects (Linux's
    /// `net.mptcp.syn_retrans_before_tcp_fallback`, default 2). `None`:
    /// never.
    pub syn_retrans_before_fallback: Option<u32>,
    /// Accept joins to the initial subflow's address and port (Linux's
    /// `net.mptcp.allow_join_initial_addr_port`, default on). Off, a
    /// server says so with MP_CAPABLE's C flag (RFC 8684 section 3.1) and
    /// refuses such joins (MP_TCPRST "administratively prohibited");
    /// joins to announced addresses are unaffected.
    pub allow_join_initial_addr_port: bool,
    /// Probe a dead path at least this often (default 1 s): while another
    /// subflow works, a subflow in retransmission timeouts backs off to
    /// at most this interval (one segment per probe), so that a path
    /// that returns is found within it rather than after TCP's
    /// exponential backoff (which reaches 6.4 s after five timeouts).
    /// `None`: TCP's backoff only. When no other subflow works the
    /// subflow backs off as plain TCP does.
    pub dead_path_probe: Option<Duration>,
    /// Find a dead path in one smoothed RTT instead of two (default on):
    /// while another subflow works, a subflow with at least four segments
    /// in flight sends its tail loss probe after one SRTT with no
    /// acknowledgment (RFC 8985's PTO is two), and the connection moves
    /// its data to the others at once (`Subflow::detect_stall`). With
    /// that many segments in flight acknowledgments arrive throughout a
    /// round trip, so a whole SRTT of silence means the path stopped; the
    /// RFC's second SRTT guards a single segment's delayed ACK, which this
    /// leaves alone. Measured on a 20 Mbit/s path with a standing queue
    /// (SRTT 96 ms) dying for good beside a 10 Mbit/s backup: the
    /// application's stall fell from 290 to 190 ms
    /// (`braid-sim/tests/handover.rs`).
    pub quick_stall: bool,
    /// What the application asks of its paths ([`Mode`]): aggregate them
    /// (the default), hand over between them, or the lowest latency.
    pub mode: Mode,
}

impl ConnConfig {
    /// Buffer sizes for both levels (data level and every subflow): fixed
    /// at `send` / `recv` bytes, or, with `autotune`, caps on buffers that
    /// start at the defaults (or the cap, if smaller) and grow
    /// (`tcp::autotune`). `None` leaves that side as it is.
    pub fn set_buffers(&mut self, send: Option<usize>, recv: Option<usize>, autotune: bool) {
        self.tcp.set_buffers(send, recv, autotune);
        let d = ConnConfig::default();
        let sized = tcp::autotune::sized;
        if let Some(b) = send {
            (self.send_buffer, self.send_buffer_max) = sized(b, d.send_buffer, autotune);
        }
        if let Some(b) = recv {
            (self.recv_buffer, self.recv_buffer_max) = sized(b, d.recv_buffer, autotune);
        }
    }

    /// The IDSN of the side whose key is `key`, plus one: the first data
    /// sequence number (the SYN's place) is the IDSN itself.
    fn first_dsn(&self, key: u64) -> Dsn {
        Dsn(self.fixed_idsn.unwrap_or_else(|| crypto::idsn(key))) + 1
    }
}

impl Default for ConnConfig {
    fn default() -> ConnConfig {
        ConnConfig {
            tcp: tcp::Config::default(),
            checksum: false,
            send_buffer: 1024 * 1024,
            send_buffer_max: 8 * 1024 * 1024,
            recv_buffer: 1024 * 1024,
            recv_buffer_max: 32 * 1024 * 1024,
            pm: PmConfig::default(),
            path_manager: PathManagerChoice::default(),
            scheduler: SchedulerChoice::default(),
            add_addr_timeout: Duration::from_secs(120),
            add_addr_max_tries: 4,
            fixed_idsn: None,
            dss_64bit: true,
            opportunistic_reinjection: true,
            syn_retrans_before_fallback: Some(2),
            allow_join_initial_addr_port: true,
            dead_path_probe: Some(Duration::from_secs(1)),
            quick_stall: true,
            mode: Mode::Aggregate,
        }
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// DATA_FINs exchanged and acknowledged (or, after fallback, TCP's
    /// FINs).
    Normal,
    /// The peer sent MP_FASTCLOSE (or reset the fallback TCP connection,
    /// or reset every subflow, as a closed port answers the SYN).
    Reset,
    /// The local user aborted (MP_FASTCLOSE sent).
    Aborted,
    /// Every subflow failed.
    SubflowsFailed,
    /// Data failed its DSS checksum with no other subflow to carry it.
    ChecksumFailure,
}

/// Why a subflow closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowCloseReason {
    /// TCP's reason.
    pub tcp: tcp::CloseReason,
    /// The MP_TCPRST reason the peer gave, if any.
    pub peer_reason: Option<u8>,
    /// The MP_TCPRST reason we gave, if we reset it.
    pub local_reason: Option<u8>,
}

/// What the application should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The connection is established (MPTCP or fallback).
    Connected,
    /// Data or the end of the stream can be read.
    Readable,
    /// Send buffer space became free after a short write.
    Writable,
    /// Something about the connection's paths (also the endpoint's
    /// [`crate::endpoint::Endpoint::poll_mptcp_event`]).
    Mptcp(MptcpEvent),
    /// The connection closed.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Something about an MPTCP connection's paths
/// ([`crate::endpoint::Endpoint::poll_mptcp_event`], and
/// [`Event::Mptcp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MptcpEvent {
    /// A subflow completed its MPTCP handshake (MP_JOIN, section 3.2).
    SubflowEstablished {
        /// Which.
        id: SubflowId,
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
    },
    /// A subflow closed.
    SubflowClosed {
        /// Which.
        id: SubflowId,
        /// Why (with the MP_TCPRST reasons, section 3.6).
        reason: SubflowCloseReason,
    },
    /// The peer announced an address (ADD_ADDR with a valid HMAC).
    AddrAnnounced {
        /// Address ID.
        id: u8,
        /// The address.
        addr: SocketAddr,
    },
    /// The peer withdrew an address ID (REMOVE_ADDR, section 3.4.2); its
    /// subflows are closed.
    AddrRemoved {
        /// The address ID.
        id: u8,
    },
    /// The peer changed a subflow's priority (MP_PRIO, section 3.3.8).
    PriorityChanged {
        /// Which subflow.
        id: SubflowId,
        /// Whether the peer now treats it as backup.
        backup: bool,
    },
    /// The connection fell back to plain TCP (section 3.7).
    Fallback,
}

/// Why a connection cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// Not a SYN.
    #[error("not a SYN")]
    NotSyn,
}

/// Why a join cannot be accepted or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Not a SYN with MP_JOIN.
    #[error("not an MP_JOIN SYN")]
    NotJoin,
    /// The token is not this connection's.
    #[error("unknown token")]
    UnknownToken,
    /// The connection is not (or no longer) an established MPTCP
    /// connection.
    #[error("connection not ready for joins")]
    NotReady,
    /// The subflow limit is reached.
    #[error("subflow limit reached")]
    LimitReached,
    /// A join to the initial address and port, which the listener (C flag
    /// set) does not accept.
    #[error("joins to the initial address and port are not accepted (MP_CAPABLE C flag)")]
    Denied,
}

/// A subflow as reported to the user.
#[derive(Debug, Clone, Copy)]
pub struct SubflowInfo {
    /// Id.
    pub id: SubflowId,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// Established at the MPTCP level.
    pub established: bool,
    /// Backup (ours or the peer's request).
    pub backup: bool,
    /// TCP statistics.
    pub stats: SubflowStats,
    /// Data-level bytes scheduled on it (reinjections included).
    pub data_sent: u64,
    /// Data-level bytes delivered from it.
    pub data_received: u64,
}

#[derive(Debug, Clone, Copy)]
struct Announcement {
    id: u8,
    addr: SocketAddr,
    next: Instant,
    tries: u32,
    echoed: bool,
}

/// One MPTCP connection.
#[derive(Debug)]
pub struct Connection {
    config: ConnConfig,
    client: bool,
    /// Plain TCP (fallback) instead of MPTCP.
    fallback: bool,
    local_key: u64,
    remote_key: Option<u64>,
    /// The peer's MP_CAPABLE had the C flag: no joins to its initial
    /// address and port.
    peer_no_join_initial: bool,
    local_token: u32,
    checksum: bool,
    send: SendBuf,
    recv: Reassembly,
    /// Right edge of the peer's data-level window (never moves left).
    peer_window_right: Dsn,
    subflows: Vec<Subflow>,
    next_id: u32,
    rr: usize,
    sched: Box<dyn Scheduler>,
    mode: Mode,
    pm: Box<dyn PathManager>,
    pm_started: bool,
    /// When the client's path manager may start without a DSS seen.
    pm_due: Option<Instant>,
    isn: IsnGenerator,
    secret: [u8; 32],
    nonce_counter: u64,
    events: VecDeque<Event>,
    mib: Mib,
    connected: bool,
    data_fin_sent: bool,
    data_fin_rtx: Option<Instant>,
    data_fin_backoff: u32,
    /// The data-level retransmission timer (see `Connection::data_rtx`).
    data_rtx: Option<Instant>,
    /// The DATA_ACK the timer was armed for.
    data_rtx_una: Dsn,
    data_rtx_backoff: u32,
    fastclose: bool,
    closed: Option<CloseReason>,
    any_mapping_seen: bool,
    /// Reused by `pump_rx` to move subflow bytes to the data level.
    rx_scratch: Vec<u8>,
    write_blocked: bool,
    /// Bytes the application read, all told (receive autotuning).
    consumed: u64,
    /// Opportunistic reinjection sent everything before this DSN again
    /// already.
    orp_mark: Dsn,
    /// Scratch for `share_sibling_views` (every subflow's view; one's
    /// siblings).
    cc_views: Vec<(SubflowId, crate::cc::CcView)>,
    cc_others: Vec<crate::cc::CcView>,
    right_sizing: tcp::autotune::RightSizing,
    announced: Vec<Announcement>,
    /// Remote addresses accepted from ADD_ADDR.
    remote_addrs: Vec<(u8, SocketAddr)>,
    /// Address IDs of local IPs: the initial subflow's is 0, an
    /// announced one has the ID it was announced with, others the lowest
    /// free one when first used.
    local_ids: Vec<(core::net::IpAddr, u8)>,
    extra_subflows: usize,
    tcp_fin_sent: bool,
    /// Subflows the path manager asked for, held back after failures.
    pending_opens: Vec<paths::PendingOpen>,
    /// Recent failures per path (re-creation backoff).
    retries: Vec<paths::Retry>,
    /// 4-tuples of subflows forgotten by `prune_closed`, for the endpoint
    /// to stop routing ([`Connection::take_forgotten_tuples`]).
    forgotten: Vec<(SocketAddr, SocketAddr)>,
}

/// Closed subflows kept for reports beyond the initial one; older ones are
/// forgotten, so that a path that comes and goes for hours costs bounded
/// memory.
const KEEP_CLOSED: usize = 8;

impl Connection {
    fn new<R: Rng + ?Sized>(
        config: &ConnConfig,
        client: bool,
        local: SocketAddr,
        rng: &mut R,
    ) -> Connection {
        let mut config = config.clone();
        config.tcp.nagle = false;
        let local_key = crypto::generate_key(rng);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let idsn = config.first_dsn(local_key);
        Connection {
            client,
            fallback: false,
            local_key,
            remote_key: None,
            peer_no_join_initial: false,
            local_token: crypto::token(local_key),
            checksum: config.checksum,
            send: SendBuf::new(idsn, config.send_buffer),
            recv: Reassembly::new(Dsn(0), config.recv_buffer),
            peer_window_right: idsn,
            subflows: Vec::new(),
            next_id: 0,
            rr: 0,
            sched: match config.mode {
                Mode::Interactive => SchedulerKind::Interactive.build(),
                _ => config.scheduler.build(),
            },
            mode: config.mode,
            pm: config.path_manager.build(&config.pm),
            pm_started: false,
            pm_due: None,
            isn: IsnGenerator::from_rng(rng),
            secret,
            nonce_counter: 0,
            events: VecDeque::new(),
            mib: Mib::default(),
            connected: false,
            data_fin_sent: false,
            data_fin_rtx: None,
            data_fin_backoff: 0,
            data_rtx: None,
            data_rtx_una: idsn,
            data_rtx_backoff: 0,
            fastclose: false,
            closed: None,
            any_mapping_seen: false,
            rx_scratch: Vec::new(),
            write_blocked: false,
            consumed: 0,
            orp_mark: idsn,
            cc_views: Vec::new(),
            cc_others: Vec::new(),
            right_sizing: tcp::autotune::RightSizing::new(10 * usize::from(config.tcp.mss)),
            announced: Vec::new(),
            remote_addrs: Vec::new(),
            local_ids: vec![(local.ip(), 0)],
            extra_subflows: 0,
            tcp_fin_sent: false,
            pending_opens: Vec::new(),
            retries: Vec::new(),
            forgotten: Vec::new(),
            config,
        }
    }

    /// Active open: the first subflow sends a SYN with MP_CAPABLE (RFC 8684
    /// section 3.1).
    pub fn connect<R: Rng + ?Sized>(
        now: Instant,
        config: &ConnConfig,
        local: SocketAddr,
        remote: SocketAddr,
        rng: &mut R,
    ) -> Connection {
        let mut c = Connection::new(config, true, local, rng);
        let iss = c.isn.isn(now, local, remote);
        let tcp = TcpSocket::connect(now, c.config.tcp.clone(), local, remote, iss);
        c.add_subflow(tcp, Role::CapableClient);
        c
    }

    /// Passive open from a SYN. With MP_CAPABLE (version 1 or higher, flag
    /// `H`) the connection speaks MPTCP; without, it is plain TCP with the
    /// same API ([`Connection::is_fallback`]).
    pub fn accept<R: Rng + ?Sized>(
        now: Instant,
        config: &ConnConfig,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr<'_>,
        rng: &mut R,
    ) -> Result<Connection, ConnError> {
        let mut c = Connection::new(config, false, local, rng);
        let iss = c.isn.isn(now, local, remote);
        let tcp = TcpSocket::accept(now, c.config.tcp.clone(), local, remote, syn, iss)
            .map_err(|_| ConnError::NotSyn)?;
        let mpc = syn.options.mptcp.iter().find_map(|o| match o {
            MptcpOption::MpCapable(m) if m.sender_key.is_none() => Some(*m),
            _ => None,
        });
        // RFC 8684 section 3.1: a SYN asking for a version we do not speak
        // (RFC 6824's version 0) gets plain TCP; a higher version is
        // answered with ours. "If flag H is not set, the receiver MUST
        // NOT use MPTCP" is how Linux reads the crypto negotiation.
        let role = match mpc {
            Some(m)
                if m.version >= VERSION
                    && m.flags & MpCapable::FLAG_HMAC_SHA256 != 0
                    && m.flags & MpCapable::FLAG_EXTENSIBILITY == 0 =>
            {
                c.checksum |= m.flags & MpCapable::FLAG_CHECKSUM != 0;
                c.mib.mp_capable_syn_rx += 1;
                Role::CapableServer
            }
            Some(_) => {
                c.mib.mp_capable_bad_version += 1;
                Role::Plain
            }
            None => {
                c.mib.mp_capable_passive_fallback += 1;
                Role::Plain
            }
        };
        let i = c.add_subflow(tcp, role);
        if role == Role::Plain {
            c.enter_fallback(i);
        }
        Ok(c)
    }

    fn add_subflow(&mut self, tcp: TcpSocket, role: Role) -> usize {
        let id = SubflowId(self.next_id);
        self.next_id += 1;
        self.subflows.push(Subflow::new(id, role, tcp));
        self.subflows.len() - 1
    }

    /// A nonce for MP_JOIN: HMAC of a counter under a secret drawn at
    /// creation (no RNG needed later, still unpredictable).
    fn next_nonce(&mut self) -> u32 {
        self.nonce_counter += 1;
        let h = crypto::hmac_sha256(&self.secret, &self.nonce_counter.to_be_bytes());
        u32::from_be_bytes([h[0], h[1], h[2], h[3]])
    }

    /// Our token (the endpoint indexes MP_JOIN SYNs by it).
    pub fn local_token(&self) -> u32 {
        self.local_token
    }

    /// Our key.
    pub fn local_key(&self) -> u64 {
        self.local_key
    }

    /// The peer's key, once known.
    pub fn remote_key(&self) -> Option<u64> {
        self.remote_key
    }

    /// Whether the connection runs as plain TCP.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// Whether DSS checksums are in use.
    pub fn checksum_enabled(&self) -> bool {
        self.checksum
    }

    /// Why the connection closed, once closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Counters.
    pub fn mib(&self) -> &Mib {
        &self.mib
    }

    /// Replace the scheduler.
    pub fn set_scheduler(&mut self, sched: Box<dyn Scheduler>) {
        self.sched = sched;
    }

    /// Replace the path manager (before the connection is established).
    pub fn set_path_manager(&mut self, pm: Box<dyn PathManager>) {
        self.pm = pm;
    }

    /// Every subflow, open or closed (of the closed ones, the initial
    /// subflow and the last eight: see `KEEP_CLOSED`).
    pub fn subflows(&self) -> Vec<SubflowInfo> {
        self.subflows
            .iter()
            .map(|s| {
                let (data_sent, data_received) = s.data_counts();
                SubflowInfo {
                    id: s.id(),
                    local: s.tcp.local(),
                    remote: s.tcp.remote(),
                    established: s.is_established(),
                    backup: s.is_backup(),
                    stats: s.tcp.stats(),
                    data_sent,
                    data_received,
                }
            })
            .collect()
    }

    fn index(&self, id: SubflowId) -> Option<usize> {
        self.subflows.iter().position(|s| s.id() == id)
    }

    /// Queue data; returns the bytes accepted.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closed.is_some() {
            return 0;
        }
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Read in-order data; 0 when none (see [`Connection::is_read_closed`]).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let before = self.recv_window();
        let n = self.recv.read(buf);
        self.consumed += n as u64;
        if n > 0 {
            for i in 0..self.subflows.len() {
                self.pump_rx(i);
            }
            // The subflows advertise the connection-level window: announce
            // it again once reading reopened it by half the buffer (the
            // receiver SWS rule of RFC 9293 section 3.8.6.2.2 at the data
            // level), or from nearly closed.
            let after = self.recv_window();
            let half = self.recv.capacity() / 2;
            if !self.fallback && after > before && (before < half) != (after < half) {
                for s in &mut self.subflows {
                    if Self::usable(s) && s.tcp.state() == State::Established {
                        s.tcp.request_ack();
                    }
                }
            }
        }
        n
    }

    /// Free data-level receive space right of the DATA_ACK (RFC 8684
    /// section 3.3.4).
    pub(crate) fn recv_window(&self) -> usize {
        self.recv.room_at(self.recv.rcv_nxt())
    }

    /// Whether the peer's DATA_FIN (or FIN, after fallback) was reached and
    /// everything before it read.
    pub fn is_read_closed(&self) -> bool {
        self.recv.is_finished()
    }

    /// Close the sending direction: a DATA_FIN follows the data (RFC 8684
    /// section 3.3.3).
    pub fn close(&mut self) {
        self.send.close();
    }

    /// Abort: MP_FASTCLOSE on a RST on every subflow (RFC 8684 section
    /// 3.5, the RST variant Linux uses).
    pub fn abort(&mut self) {
        if self.closed.is_some() {
            return;
        }
        if !self.fallback && self.remote_key.is_some() {
            self.fastclose = true;
            self.mib.mp_fastclose_tx += 1;
        }
        for s in &mut self.subflows {
            s.tcp.abort();
        }
        self.set_closed(CloseReason::Aborted);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn set_closed(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            tracing::debug!(token = self.local_token, ?reason, "mptcp connection closed");
            self.closed = Some(reason);
            self.events.push_back(Event::Closed { reason });
        }
    }

    /// Draw a new key (and so a new token and IDSN) before anything was
    /// sent: the endpoint's answer to a token collision (RFC 8684 section
    /// 3.2 leaves uniqueness to the implementation; Linux `token.c`
    /// retries with a fresh key). Returns false, changing nothing, once a
    /// key may have left (the peer's key is known or data was written).
    pub fn rekey<R: Rng + ?Sized>(&mut self, rng: &mut R) -> bool {
        if self.remote_key.is_some() || self.fallback || !self.send.is_empty() {
            return false;
        }
        self.local_key = crypto::generate_key(rng);
        self.local_token = crypto::token(self.local_key);
        let idsn = self.config.first_dsn(self.local_key);
        self.send = SendBuf::new(idsn, self.config.send_buffer);
        self.peer_window_right = idsn;
        self.orp_mark = idsn;
        true
    }

    /// Whether we opened the connection.
    pub fn is_client(&self) -> bool {
        self.client
    }

    /// Local address of the initial subflow.
    pub fn local(&self) -> SocketAddr {
        self.subflows[0].tcp.local()
    }

    /// Remote address of the initial subflow.
    pub fn remote(&self) -> SocketAddr {
        self.subflows[0].tcp.remote()
    }

    /// The subflow a 4-tuple belongs to (the newest, if a closed subflow
    /// used the same tuple before).
    pub fn subflow_for(&self, local: SocketAddr, remote: SocketAddr) -> Option<SubflowId> {
        self.subflows
            .iter()
            .rev()
            .find(|s| s.tcp.local() == local && s.tcp.remote() == remote)
            .map(|s| s.id())
    }

    /// Forget the oldest closed subflows beyond [`KEEP_CLOSED`] (never the
    /// initial one): fully closed, their data reinjected already.
    pub(super) fn prune_closed(&mut self) {
        let closed: Vec<usize> = (1..self.subflows.len())
            .filter(|&i| {
                let s = &self.subflows[i];
                s.is_closed() && s.tcp.state() == State::Closed
            })
            .collect();
        let Some(extra) = closed.len().checked_sub(KEEP_CLOSED).filter(|n| *n > 0) else {
            return;
        };
        for &i in closed[..extra].iter().rev() {
            let s = self.subflows.remove(i);
            self.forgotten.push((s.tcp.local(), s.tcp.remote()));
        }
        self.rr = 0;
    }

    /// The 4-tuples of subflows forgotten since the last call; the
    /// endpoint stops routing them to this connection.
    pub fn take_forgotten_tuples(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        core::mem::take(&mut self.forgotten)
    }

    /// Every (local, remote) pair a subflow still listed used.
    pub fn tuples(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
        self.subflows
            .iter()
            .map(|s| (s.tcp.local(), s.tcp.remote()))
    }

    /// Whether `write` can still queue data.
    pub fn can_send(&self) -> bool {
        self.closed.is_none() && self.send.fin().is_none()
    }

    /// Free data-level send buffer space (0 once the sending direction is
    /// closed).
    pub fn send_capacity(&self) -> usize {
        if self.can_send() { self.send.free() } else { 0 }
    }

    /// A TCP-like state for the whole connection: CLOSED once the
    /// connection closed and every subflow reached CLOSED; otherwise the
    /// state of the first subflow still open (the initial one first).
    pub fn state(&self) -> State {
        if self.closed.is_some() && self.subflows.iter().all(|s| s.tcp.state() == State::Closed) {
            return State::Closed;
        }
        self.subflows
            .iter()
            .find(|s| !s.is_closed())
            .unwrap_or(&self.subflows[0])
            .tcp
            .state()
    }

    /// Whether the connection is finished and can be forgotten: closed,
    /// every subflow CLOSED, and no data left to read after an orderly
    /// end.
    pub fn is_finished(&self) -> bool {
        self.state() == State::Closed
            && (self.recv.readable() == 0 || self.closed != Some(CloseReason::Normal))
    }

    /// Reset one subflow with MP_TCPRST (reason "unspecified"); the others
    /// carry on (RFC 8684 section 3.6).
    pub fn close_subflow(&mut self, id: SubflowId) {
        if let Some(i) = self.index(id) {
            self.reset_subflow(i, crate::wire::mptcp::rst_reason::UNSPECIFIED);
        }
    }

    /// Use `ip` for extra subflows from now on (client role, full mesh):
    /// one subflow from it to the initial remote address and to every
    /// address the peer announced, within the subflow limit.
    pub fn add_local_addr(&mut self, now: Instant, ip: core::net::IpAddr) {
        if !self.client {
            return;
        }
        let mut remotes = vec![self.remote()];
        remotes.extend(self.remote_addrs.iter().map(|(_, a)| *a));
        for remote in remotes {
            let exists = self
                .subflows
                .iter()
                .any(|s| !s.is_closed() && s.tcp.local().ip() == ip && s.tcp.remote() == remote);
            if remote.is_ipv4() == ip.is_ipv4() && !exists {
                if let Err(e) = self.open_subflow(now, SocketAddr::new(ip, 0), remote, false) {
                    tracing::debug!(%e, "subflow not opened");
                }
            }
        }
    }

    /// Whether the connection can take joins.
    fn mptcp_ready(&self) -> bool {
        !self.fallback && self.remote_key.is_some() && self.closed.is_none()
    }

    /// Whether the subflow is usable for data.
    fn usable(s: &Subflow) -> bool {
        s.usable()
    }

    /// The RTO of subflow `i`.
    fn subflows_rto(&self, i: usize) -> Duration {
        self.subflows[i].tcp.stats().rto
    }

    /// Whether another subflow than `i` works: usable, established, and
    /// not in retransmission timeouts.
    fn others_working(&self, i: usize) -> bool {
        self.subflows.iter().enumerate().any(|(j, s)| {
            j != i && Self::usable(s) && s.tcp.state() == State::Established && s.tcp.retries() == 0
        })
    }

    /// While another subflow works, bound the RTO backoff of every
    /// subflow (`ConnConfig::dead_path_probe`) and let it probe after one
    /// SRTT of silence (`ConnConfig::quick_stall`).
    fn cap_backoffs(&mut self, now: Instant) {
        for i in 0..self.subflows.len() {
            let working = !self.fallback && self.others_working(i);
            let quick = working && self.config.quick_stall;
            self.subflows[i].tcp.set_quick_probe(quick);
            if let Some(probe) = self.config.dead_path_probe {
                self.subflows[i]
                    .tcp
                    .set_backoff_cap(now, working.then_some(probe));
            }
        }
    }

    fn others_usable(&self, i: usize) -> bool {
        self.subflows
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && Self::usable(s) && s.tcp.state() == State::Established)
    }
}
