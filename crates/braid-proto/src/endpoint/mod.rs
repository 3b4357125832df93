//! The endpoint: whole IP packets in and out, connections by handle.
//!
//! [`Endpoint`] owns every connection of one host (one Braid instance) and
//! demultiplexes incoming packets to them, so drivers (the simulator, the
//! tokio runtime) deal only in whole IPv4/IPv6 packets, instants and
//! [`ConnHandle`]s.
//!
//! What it implements:
//! - Demultiplexing by 4-tuple (RFC 9293 section 3.10.7: "If the state is
//!   CLOSED (i.e., TCB does not exist) ..."; otherwise the segment goes to
//!   its connection).
//! - Listening (section 3.10.7.2, LISTEN state): a RST is ignored; "any
//!   acknowledgment is bad if it arrives on a connection still in the
//!   LISTEN state. An acceptable reset segment should be formed for any
//!   arriving ACK-bearing segment"; a SYN creates a connection
//!   ([`TcpSocket::accept`]); anything else is dropped.
//! - Segments for no connection (section 3.10.7.1): answered by
//!   [`tcp::rst_for`], never answering a RST.
//! - Initial sequence numbers per RFC 6528 ([`IsnGenerator`]) and ephemeral
//!   ports per RFC 6056 section 3.3.1 (Algorithm 1, simple port
//!   randomization) in the RFC 6335 dynamic range, both from an RNG the
//!   caller seeds.
//! - Peer input is never trusted: a packet that does not parse, fails a
//!   checksum or is not TCP is dropped and counted ([`EndpointCounters`]);
//!   nothing panics. Options that cannot be used are skipped, not fatal
//!   (as Linux): see [`crate::wire::tcp`].
//! - SYN floods (RFC 4987): half-open connections (SYN-RECEIVED after a
//!   passive open) have their own bound, [`EndpointConfig::max_half_open`],
//!   below the table's. Past it a listener answers with SYN cookies
//!   (section 3.6, [`SynCookies`]): one SYN-ACK per SYN, no state, never
//!   retransmitted; a third ACK whose cookie checks out opens the
//!   connection (for MPTCP, RFC 8684 section 3.1's stateless server: the
//!   third ACK's MP_CAPABLE carries both keys, ours derived from the
//!   cookie). Without cookies the oldest half-open connection makes room
//!   (early drop, section 3.4's "random drop" done oldest-first).
//!
//! # Call order (sans-IO)
//! 1. Feed packets with [`Endpoint::handle_packet`] and, when the instant of
//!    [`Endpoint::poll_timeout`] comes, call [`Endpoint::handle_timeout`].
//!    The application calls [`Endpoint::connect`], [`Endpoint::write`],
//!    [`Endpoint::read`], [`Endpoint::close`], [`Endpoint::abort`] at any
//!    time.
//! 2. After any of these, call [`Endpoint::poll_transmit`] until it returns
//!    `None` and send each packet (by its source address if the host has
//!    several interfaces); then [`Endpoint::poll_event`] until `None`; then
//!    [`Endpoint::poll_timeout`].
//!
//! # Connection lifetime
//! A handle stays valid until its connection is CLOSED (after TIME-WAIT,
//! a reset, a timeout or an abort) and has nothing left to send or to read;
//! the endpoint then reaps it and every call with the handle returns
//! [`EndpointError::UnknownConnection`]. A [`ConnEvent::Closed`] is always
//! delivered before that. Handles are never reused for another connection.
//!
//! # MPTCP (RFC 8684)
//! With [`EndpointConfig::mptcp`] (the default) connections are MPTCP
//! [`Connection`]s behind the same [`ConnHandle`] API:
//! - [`Endpoint::connect`] sends a SYN with MP_CAPABLE (section 3.1); if
//!   the peer or a middlebox drops the option the connection falls back to
//!   plain TCP inside (section 3.7, [`MptcpEvent::Fallback`]).
//! - A SYN to a listener with MP_CAPABLE becomes an MPTCP connection; one
//!   without stays plain TCP; either way the application sees
//!   [`ConnEvent::Accepted`].
//! - Every MPTCP connection's token (section 3.2) is unique in the
//!   endpoint: on a collision the key is drawn again (as Linux `token.c`
//!   does), counted in [`EndpointCounters::mptcp_token_collisions`].
//! - A SYN with MP_JOIN to a listener is routed by its token to
//!   [`Connection::accept_join`]; an unknown token or a refused join is
//!   answered with a RST carrying MP_TCPRST (section 3.6; reason
//!   "MPTCP-specific error" for an unknown token, "administratively
//!   prohibited" over the subflow limit, as Linux `subflow.c`).
//! - Subflows a connection opens itself (its path manager, or
//!   [`Endpoint::open_subflow`]) have their 4-tuple registered when their
//!   SYN goes out of [`Endpoint::poll_transmit`].
//! - Path management per connection: [`Endpoint::add_local_addr`],
//!   [`Endpoint::open_subflow`], [`Endpoint::announce_addr`] (ADD_ADDR,
//!   section 3.4.1), [`Endpoint::remove_addr`] (3.4.2),
//!   [`Endpoint::set_backup`] (MP_PRIO, 3.3.8), [`Endpoint::set_scheduler`];
//!   MPTCP-specific events come out of [`Endpoint::poll_mptcp_event`] and
//!   per-subflow figures out of [`Endpoint::subflows`].

mod counters;
mod paths;
mod slot;
mod syncookie;

#[cfg(test)]
mod cookie_tests;
#[cfg(test)]
mod option_tests;
#[cfg(test)]
mod tests;

pub use counters::EndpointCounters;

use crate::cc::CcAlgorithm;
pub use crate::conn::MptcpEvent;
use crate::conn::{self, ConnConfig, Connection, CookieOpen, Mode};
use crate::pm::PathManagerChoice;
use crate::sched::SchedulerChoice;
use crate::tcp::{self, CloseReason, IsnGenerator, State, SubflowStats, TcpSocket};
use crate::time::Duration;
use crate::time::Instant;
use crate::wire::mptcp::{MpCapable, MptcpOption, VERSION, rst_reason};
use crate::wire::{self, IpProtocol, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::ops::RangeInclusive;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slot::{Slot, SlotEvent, Table, Tuple};
use std::collections::VecDeque;
use syncookie::CookieJar;

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Configuration of each TCP connection. Its MSS is further clamped to
    /// what [`EndpointConfig::mtu`] allows for the address family.
    pub tcp: tcp::Config,
    /// Largest IP packet, bytes (default 1500). The MSS announced is at most
    /// `mtu - 40` over IPv4 and `mtu - 60` over IPv6 (RFC 9293 section
    /// 3.7.1, RFC 8200 section 8.3).
    pub mtu: usize,
    /// TTL / hop limit of outgoing packets (default 64).
    pub hop_limit: u8,
    /// Most connections at once, in any state (default 16384). SYNs beyond
    /// it are dropped; `connect` fails.
    pub max_connections: usize,
    /// Ports picked for `connect` with port 0 (default the RFC 6335 dynamic
    /// range, 49152-65535).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// RSTs for segments matching no connection waiting to be sent, at most
    /// (default 256); beyond it they are not sent (a flood of segments to
    /// closed ports cannot grow memory).
    pub max_pending_rsts: usize,
    /// Speak MPTCP (RFC 8684): `connect` offers MP_CAPABLE and listeners
    /// accept MP_CAPABLE and MP_JOIN SYNs (default true). Off, everything
    /// is plain TCP.
    pub mptcp: bool,
    /// MPTCP connection settings: checksums, buffers, scheduler, path
    /// manager (extra local addresses, addresses to announce) and its
    /// limits (Linux `ip mptcp limits`). Its `tcp` field is ignored: every
    /// subflow uses [`EndpointConfig::tcp`], MSS clamped to the MTU.
    pub conn: ConnConfig,
    /// Most passive opens still in SYN-RECEIVED at once (default 1024,
    /// Linux's `tcp_max_syn_backlog` scale), and never more than half of
    /// `max_connections` ([`Endpoint::half_open_limit`]). They count in
    /// `max_connections` too; past this bound a SYN gets a SYN cookie or,
    /// with [`SynCookies::Never`], the oldest half-open connection is
    /// dropped to make room.
    pub max_half_open: usize,
    /// When listeners answer with SYN cookies (default
    /// [`SynCookies::WhenFull`], Linux `net.ipv4.tcp_syncookies = 1`).
    pub syn_cookies: SynCookies,
}

/// When a listener answers SYNs statelessly with SYN cookies (RFC 4987
/// section 3.6; RFC 8684 section 3.1 for MP_CAPABLE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynCookies {
    /// Never (Linux `tcp_syncookies = 0`); at the half-open bound the
    /// oldest half-open connection is dropped (its application sees
    /// [`ConnEvent::Closed`] with [`CloseReason::Timeout`]).
    Never,
    /// Once [`EndpointConfig::max_half_open`] connections are half-open
    /// (Linux `tcp_syncookies = 1`).
    #[default]
    WhenFull,
    /// For every SYN (Linux `tcp_syncookies = 2`).
    Always,
}

/// What one connection (or the connections one listener accepts) runs
/// instead of the endpoint's configuration: [`Endpoint::connect_with`],
/// [`Endpoint::listen_with`]. `None` keeps the endpoint's.
#[derive(Debug, Clone, Default)]
pub struct ConnOptions {
    /// Packet scheduler (MPTCP connections).
    pub scheduler: Option<SchedulerChoice>,
    /// Congestion controller of every subflow (or of the TCP connection).
    pub congestion: Option<CcAlgorithm>,
    /// Path manager (MPTCP connections).
    pub path_manager: Option<PathManagerChoice>,
    /// Mode (MPTCP connections): aggregate, handover or interactive.
    pub mode: Option<Mode>,
}

impl EndpointConfig {
    /// Buffer sizes of every connection, both levels (each TCP connection
    /// or subflow, and MPTCP's data level): fixed at `send` / `recv`
    /// bytes, or, with `autotune`, caps on buffers that start small and
    /// grow with what the path carries ([`crate::tcp::autotune`]). `None`
    /// leaves that side at its default.
    pub fn set_buffers(&mut self, send: Option<usize>, recv: Option<usize>, autotune: bool) {
        self.tcp.set_buffers(send, recv, autotune);
        self.conn.set_buffers(send, recv, autotune);
    }
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            tcp: tcp::Config::default(),
            mtu: 1500,
            hop_limit: 64,
            max_connections: 16384,
            ephemeral_ports: 49152..=65535,
            max_pending_rsts: 256,
            mptcp: true,
            conn: ConnConfig::default(),
            max_half_open: 1024,
            syn_cookies: SynCookies::WhenFull,
        }
    }
}

/// Names a connection of an [`Endpoint`]. Copyable; stays harmless after
/// the connection is gone (calls return [`EndpointError::UnknownConnection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnHandle {
    index: u32,
    generation: u32,
}

impl fmt::Display for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}

/// Something the application should know about a connection.
// Kept apart from `tcp::Event`, whose variants it repeats (`duplicates`
// pairs the two): it adds `Accepted`, which only the endpoint knows, and
// `tcp::Event` is matched exhaustively where a subflow's events are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// A SYN to a listening address created this connection (it completes
    /// its handshake later: [`ConnEvent::Connected`]).
    Accepted,
    /// The handshake completed.
    Connected,
    /// Data, or the end of the stream, can be read.
    Readable,
    /// Send buffer space became free after a short write.
    Writable,
    /// The connection is closed; the handle soon becomes unknown.
    Closed {
        /// Why. An MPTCP connection's reason reads as TCP's, as Linux
        /// reports an MPTCP socket's error like a TCP one: `Timeout` when
        /// every subflow failed ([`conn::CloseReason::SubflowsFailed`]; each
        /// subflow's own reason comes as [`MptcpEvent::SubflowClosed`]) or
        /// a half-open connection was dropped ([`SynCookies::Never`]),
        /// `Reset` for a reset, MP_FASTCLOSE or a DSS checksum failure on
        /// the only subflow.
        reason: CloseReason,
    },
}

/// Why a path-management call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The handle names no connection.
    #[error("unknown connection")]
    UnknownConnection,
    /// The connection is plain TCP (or fell back).
    #[error("not an MPTCP connection")]
    NotMptcp,
    /// The subflow cannot be opened.
    #[error("join: {0}")]
    Join(#[from] conn::JoinError),
}

/// One packet written by [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Source address (a driver with several interfaces routes by it).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Bytes written into the buffer (the whole IP packet).
    pub len: usize,
}

/// Statistics of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnStats {
    /// Connection state.
    pub state: State,
    /// One entry per subflow (plain TCP: exactly one).
    pub subflows: Vec<SubflowStats>,
}

/// Why a call about a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The handle names no connection (never did, or it was reaped).
    #[error("unknown connection")]
    UnknownConnection,
    /// The sending direction is closed (after `close`, or the connection is
    /// closing).
    #[error("sending direction closed")]
    SendClosed,
}

/// Why `connect` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The local address is unspecified (0.0.0.0 or ::): packets need a
    /// source address.
    #[error("unspecified local address")]
    UnspecifiedLocal,
    /// The remote address is unspecified, multicast or broadcast, or its
    /// port is zero.
    #[error("invalid remote address")]
    InvalidRemote,
    /// Local and remote addresses are of different families.
    #[error("address families differ")]
    AddressFamilyMismatch,
    /// The 4-tuple is already in use.
    #[error("address in use")]
    AddrInUse,
    /// Every ephemeral port towards this remote is in use.
    #[error("no ephemeral port free")]
    NoEphemeralPort,
    /// `max_connections` reached.
    #[error("too many connections")]
    TooManyConnections,
}

/// Why `listen` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    /// Already listening on this address.
    #[error("already listening")]
    AlreadyListening,
    /// Port zero.
    #[error("cannot listen on port 0")]
    PortZero,
}

/// A reply sent without a connection: a RST answering a segment that
/// matched no connection, or a SYN-ACK carrying a SYN cookie.
#[derive(Debug)]
struct PendingReply {
    local: SocketAddr,
    remote: SocketAddr,
    seg: TcpRepr<'static>,
}

/// The packet-level demultiplexer owning all connections of a host.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    isn: IsnGenerator,
    listeners: Vec<(SocketAddr, ConnOptions)>,
    table: Table,
    events: VecDeque<(ConnHandle, ConnEvent)>,
    mptcp_events: VecDeque<(ConnHandle, MptcpEvent)>,
    /// Stateless replies, at most `max_pending_rsts`.
    rsts: VecDeque<PendingReply>,
    counters: EndpointCounters,
    cookies: CookieJar,
    /// When the last SYN cookie went out: third ACKs are checked for
    /// cookies only for two cookie periods after it.
    last_cookie: Option<Instant>,
}

impl Endpoint {
    /// An endpoint whose randomness (ISN secret, ephemeral ports) comes
    /// from `seed`. The runtime passes 32 bytes from the OS; tests pass a
    /// fixed seed and replay exactly.
    pub fn new(config: EndpointConfig, seed: [u8; 32]) -> Endpoint {
        let mut rng = StdRng::from_seed(seed);
        let isn = IsnGenerator::from_rng(&mut rng);
        // From the seed rather than the RNG, so that the draws of every
        // seeded run stay what they were.
        let cookie_secret = crate::crypto::hmac_sha256(&seed, b"braid SYN cookie secret");
        Endpoint {
            config,
            rng,
            isn,
            listeners: Vec::new(),
            table: Table::default(),
            events: VecDeque::new(),
            mptcp_events: VecDeque::new(),
            rsts: VecDeque::new(),
            counters: EndpointCounters::default(),
            cookies: CookieJar::new(cookie_secret),
            last_cookie: None,
        }
    }

    /// Like [`Endpoint::new`] with a 64-bit seed (simulator, tests).
    pub fn with_seed(config: EndpointConfig, seed: u64) -> Endpoint {
        let mut key = [0u8; 32];
        StdRng::seed_from_u64(seed).fill_bytes(&mut key);
        Endpoint::new(config, key)
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> &EndpointCounters {
        &self.counters
    }

    /// Connections currently in the table.
    pub fn connection_count(&self) -> usize {
        self.table.len()
    }

    /// MPTCP tokens registered (RFC 8684 section 2.2: one per MPTCP
    /// connection held); none once every connection is reaped.
    pub fn mptcp_token_count(&self) -> usize {
        self.table.token_count()
    }

    /// Passive opens currently half-open (SYN-RECEIVED).
    pub fn half_open_count(&self) -> usize {
        self.table.half_open_len()
    }

    /// The half-open bound in force: `max_half_open`, but never more than
    /// half the table, so that half-open connections cannot crowd
    /// established ones out.
    pub fn half_open_limit(&self) -> usize {
        self.config
            .max_half_open
            .min(self.config.max_connections / 2)
            .max(1)
    }

    /// Accept connections to `local`: a port on one address, or on every
    /// address when the address is unspecified (0.0.0.0 and :: both mean
    /// "any address of either family").
    pub fn listen(&mut self, local: SocketAddr) -> Result<(), ListenError> {
        self.listen_with(local, ConnOptions::default())
    }

    /// [`Endpoint::listen`], the connections accepted there running
    /// `options` instead of the endpoint's scheduler and controller.
    pub fn listen_with(
        &mut self,
        local: SocketAddr,
        options: ConnOptions,
    ) -> Result<(), ListenError> {
        if local.port() == 0 {
            return Err(ListenError::PortZero);
        }
        if self.listeners.iter().any(|(l, _)| *l == local) {
            return Err(ListenError::AlreadyListening);
        }
        self.listeners.push((local, options));
        Ok(())
    }

    /// Stop accepting connections to `local` (existing ones are untouched).
    /// Returns whether it was listening.
    pub fn unlisten(&mut self, local: SocketAddr) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|(l, _)| *l != local);
        self.listeners.len() != before
    }

    /// The listener `local` reaches (one on its very address before one
    /// on the unspecified address), with its options.
    fn listener(&self, local: SocketAddr) -> Option<&ConnOptions> {
        let on = |exact: bool| {
            self.listeners.iter().find(|(l, _)| {
                l.port() == local.port()
                    && if exact {
                        l.ip() == local.ip()
                    } else {
                        l.ip().is_unspecified()
                    }
            })
        };
        on(true).or_else(|| on(false)).map(|(_, o)| o)
    }

    /// The TCP configuration for a connection of `family`, MSS clamped to
    /// the MTU, with `options` applied.
    fn tcp_config(&self, local: IpAddr, options: &ConnOptions) -> tcp::Config {
        let mut c = self.config.tcp.clone();
        if let Some(cc) = &options.congestion {
            c.congestion = cc.clone();
        }
        let overhead = if local.is_ipv4() { 40 } else { 60 };
        let limit = self
            .config
            .mtu
            .saturating_sub(overhead)
            .min(usize::from(u16::MAX));
        c.mss = c.mss.min(limit as u16);
        c
    }

    /// Open a connection (RFC 9293 section 3.10.1) from `local` to
    /// `remote`. Port 0 in `local` picks a free ephemeral port. The SYN
    /// comes out of the next [`Endpoint::poll_transmit`].
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnHandle, ConnectError> {
        self.connect_with(now, local, remote, &ConnOptions::default())
    }

    /// [`Endpoint::connect`] with this connection's own scheduler and
    /// controller (`options`) instead of the endpoint's.
    pub fn connect_with(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        options: &ConnOptions,
    ) -> Result<ConnHandle, ConnectError> {
        if local.ip().is_unspecified() {
            return Err(ConnectError::UnspecifiedLocal);
        }
        if !is_unicast(remote.ip()) || remote.port() == 0 {
            return Err(ConnectError::InvalidRemote);
        }
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(ConnectError::AddressFamilyMismatch);
        }
        if self.table.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local = if local.port() == 0 {
            let port = self
                .ephemeral_port(local.ip(), remote)
                .ok_or(ConnectError::NoEphemeralPort)?;
            SocketAddr::new(local.ip(), port)
        } else {
            if self.table.contains_tuple(&(local, remote)) {
                return Err(ConnectError::AddrInUse);
            }
            local
        };
        self.counters.connected += 1;
        let slot = if self.config.mptcp {
            let config = self.conn_config(local.ip(), options);
            let mut c = Connection::connect(now, &config, local, remote, &mut self.rng);
            self.unique_token(&mut c);
            self.counters.mptcp_connected += 1;
            Slot::Mptcp(Box::new(c))
        } else {
            let iss = self.isn.isn(now, local, remote);
            let config = self.tcp_config(local.ip(), options);
            let socket = TcpSocket::connect(now, config, local, remote, iss);
            Slot::Tcp(socket)
        };
        let h = self.table.insert(slot);
        tracing::debug!(conn = %h, %local, %remote, "connect");
        Ok(h)
    }

    /// The MPTCP configuration for a connection from `local`, with
    /// `options` applied.
    fn conn_config(&self, local: IpAddr, options: &ConnOptions) -> ConnConfig {
        let mut c = self.config.conn.clone();
        c.tcp = self.tcp_config(local, options);
        if let Some(p) = &options.path_manager {
            c.path_manager = p.clone();
        }
        if let Some(s) = &options.scheduler {
            c.scheduler = s.clone();
        }
        if let Some(m) = options.mode {
            c.mode = m;
        }
        c
    }

    /// RFC 8684 section 3.2: "the token MUST be unique" locally; redraw
    /// the key until it is (Linux `mptcp_token_new_connect` retries a
    /// bounded number of times too).
    fn unique_token(&mut self, c: &mut Connection) {
        for _ in 0..64 {
            if !self.table.contains_token(c.local_token()) {
                return;
            }
            self.counters.mptcp_token_collisions += 1;
            if !c.rekey(&mut self.rng) {
                return;
            }
        }
    }

    /// RFC 6056 section 3.3.1, Algorithm 1: start at a random port of the
    /// range and take the first one whose 4-tuple is free.
    fn ephemeral_port(&mut self, ip: IpAddr, remote: SocketAddr) -> Option<u16> {
        let (lo, hi) = (
            *self.config.ephemeral_ports.start(),
            *self.config.ephemeral_ports.end(),
        );
        if lo == 0 || lo > hi {
            return None;
        }
        let count = u32::from(hi - lo) + 1;
        let start = self.rng.next_u32() % count;
        (0..count)
            .map(|i| lo + ((start + i) % count) as u16)
            .find(|&port| {
                !self
                    .table
                    .contains_tuple(&(SocketAddr::new(ip, port), remote))
            })
    }

    /// An IP packet arrived. Anything wrong with it is counted and the
    /// packet dropped; it never panics.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.counters.packets_in += 1;
        self.counters.bytes_in += packet.len() as u64;
        let (ip, payload) = match IpRepr::parse(packet) {
            Ok(x) => x,
            Err(e) => return self.count_parse_error(e),
        };
        if ip.protocol() != IpProtocol::Tcp {
            self.counters.not_tcp += 1;
            return;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let seg = match TcpRepr::parse(payload, src, dst) {
            Ok(s) => s,
            Err(e) => return self.count_parse_error(e),
        };
        if seg.options.ignored.any() {
            self.counters.options_ignored += 1;
        }
        // RFC 9293 section 3.10.7.2 and RFC 1122 section 4.2.3.10: a segment
        // from a broadcast or multicast address is not a connection; port 0
        // is reserved.
        if seg.src_port == 0 || seg.dst_port == 0 || !is_unicast(src) || !is_unicast(dst) {
            self.counters.malformed += 1;
            return;
        }
        let local = SocketAddr::new(dst, seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
        if let Some(h) = self.table.lookup(&(local, remote)) {
            if let Some(slot) = self.table.get_mut(h) {
                slot.handle_segment(now, (local, remote), &seg);
            }
            self.touch(h);
            return;
        }
        if self.listener(local).is_some() {
            self.on_listen(now, local, remote, &seg);
        } else {
            self.answer_with_rst(local, remote, &seg);
        }
    }

    fn count_parse_error(&mut self, e: wire::Error) {
        match e {
            wire::Error::Checksum => self.counters.bad_checksum += 1,
            wire::Error::Unsupported(_) => self.counters.unsupported += 1,
            wire::Error::Truncated(_) | wire::Error::Malformed(_) | wire::Error::Emit(_) => {
                self.counters.malformed += 1
            }
        }
    }

    /// RFC 9293 section 3.10.7.2, a segment for a listening address with
    /// no connection.
    fn on_listen(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        // "First, check for a RST: An incoming RST segment could not be
        // valid since it could not have been sent in response to anything
        // sent by this incarnation of the connection. An incoming RST
        // should be ignored."
        if seg.flags.contains(TcpFlags::RST) {
            self.counters.no_socket_dropped += 1;
            return;
        }
        // "Second, check for an ACK: ... An acceptable reset segment should
        // be formed for any arriving ACK-bearing segment." Unless it is the
        // third ACK of a handshake answered with a SYN cookie.
        if seg.ack_number.is_some() {
            if !seg.flags.contains(TcpFlags::SYN) && self.cookies_in_use(now) {
                if self.accept_cookie_ack(now, local, remote, seg) {
                    return;
                }
                self.counters.syn_cookies_invalid += 1;
            }
            self.answer_with_rst(local, remote, seg);
            return;
        }
        // "Third, check for a SYN".
        if !seg.flags.contains(TcpFlags::SYN) {
            // "Fourth, other data or control: ... drop the segment".
            self.counters.no_socket_dropped += 1;
            return;
        }
        let has = |join: bool| {
            seg.options.mptcp.iter().any(|o| match o {
                MptcpOption::MpJoin(_) => join,
                MptcpOption::MpCapable(_) => !join,
                _ => false,
            })
        };
        if self.config.mptcp && has(true) {
            self.on_join_syn(now, local, remote, seg);
            return;
        }
        if self.table.len() >= self.config.max_connections {
            self.counters.syn_table_full += 1;
            return;
        }
        let pressure = self.table.half_open_len() >= self.half_open_limit();
        match self.config.syn_cookies {
            SynCookies::Always => return self.answer_with_cookie(now, local, remote, seg),
            SynCookies::WhenFull if pressure => {
                return self.answer_with_cookie(now, local, remote, seg);
            }
            SynCookies::Never if pressure => self.drop_oldest_half_open(),
            _ => {}
        }
        if self.config.mptcp && has(false) {
            let options = self.listener(local).cloned().unwrap_or_default();
            let config = self.conn_config(local.ip(), &options);
            match Connection::accept(now, &config, local, remote, seg, &mut self.rng) {
                Ok(mut c) => {
                    c.count_ignored_options(&seg.options.ignored);
                    self.unique_token(&mut c);
                    self.counters.accepted += 1;
                    self.counters.mptcp_accepted += 1;
                    let h = self.table.insert_half_open(Slot::Mptcp(Box::new(c)));
                    tracing::debug!(conn = %h, %local, %remote, "accept (MPTCP)");
                    self.events.push_back((h, ConnEvent::Accepted));
                    self.touch(h);
                }
                Err(conn::ConnError::NotSyn) => self.counters.no_socket_dropped += 1,
            }
            return;
        }
        let iss = self.isn.isn(now, local, remote);
        let options = self.listener(local).cloned().unwrap_or_default();
        let config = self.tcp_config(local.ip(), &options);
        match TcpSocket::accept(now, config, local, remote, seg, iss) {
            Ok(socket) => {
                self.counters.accepted += 1;
                let h = self.table.insert_half_open(Slot::Tcp(socket));
                tracing::debug!(conn = %h, %local, %remote, "accept");
                self.events.push_back((h, ConnEvent::Accepted));
                self.touch(h);
            }
            // SYN with FIN: not an acceptable opening segment.
            Err(tcp::AcceptError::NotSyn) => self.counters.no_socket_dropped += 1,
        }
    }

    /// RFC 8684 section 3.2: a SYN with MP_JOIN goes to the connection
    /// holding its token; otherwise (or when the connection refuses it) a
    /// RST with MP_TCPRST answers it.
    fn on_join_syn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        let token = seg.options.mptcp.iter().find_map(|o| match o {
            MptcpOption::MpJoin(crate::wire::mptcp::MpJoin::Syn { token, .. }) => Some(*token),
            _ => None,
        });
        let Some(h) = token.and_then(|t| self.table.lookup_token(t)) else {
            self.counters.mp_join_no_token += 1;
            self.answer_with_rst_reason(local, remote, seg, Some(rst_reason::MPTCP_ERROR));
            return;
        };
        let result = match self.table.get_mut(h) {
            Some(Slot::Mptcp(c)) => c.accept_join(now, local, remote, seg, &mut self.rng),
            _ => Err(conn::JoinError::UnknownToken),
        };
        match result {
            Ok(_) if self.table.register_tuple(h, (local, remote)) => {
                self.counters.mp_join_accepted += 1;
                tracing::debug!(conn = %h, %local, %remote, "join accepted");
                self.touch(h);
            }
            Ok(id) => {
                // Cannot happen (the tuple matched no connection); undo.
                if let Some(Slot::Mptcp(c)) = self.table.get_mut(h) {
                    c.close_subflow(id);
                }
                self.counters.mp_join_refused += 1;
            }
            Err(e) => {
                self.counters.mp_join_refused += 1;
                let reason = match e {
                    conn::JoinError::LimitReached
                    | conn::JoinError::NotReady
                    | conn::JoinError::Denied => rst_reason::PROHIBITED,
                    conn::JoinError::NotJoin | conn::JoinError::UnknownToken => {
                        rst_reason::MPTCP_ERROR
                    }
                };
                self.answer_with_rst_reason(local, remote, seg, Some(reason));
                self.touch(h);
            }
        }
    }

    /// RFC 9293 section 3.10.7.1: answer a segment for no connection.
    fn answer_with_rst(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
        self.answer_with_rst_reason(local, remote, seg, None);
    }

    /// Like `answer_with_rst`, with an MP_TCPRST reason (RFC 8684 section
    /// 3.6) when given.
    fn answer_with_rst_reason(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        reason: Option<u8>,
    ) {
        let Some(mut rst) = tcp::rst_for(seg) else {
            self.counters.no_socket_dropped += 1;
            return;
        };
        if self.rsts.len() >= self.config.max_pending_rsts {
            self.counters.rst_queue_full += 1;
            return;
        }
        self.counters.no_socket_rst += 1;
        if let Some(reason) = reason {
            self.counters.mp_tcprst_sent += 1;
            rst.options
                .mptcp
                .push(MptcpOption::MpTcpRst { flags: 0, reason });
        }
        self.rsts.push_back(PendingReply {
            local,
            remote,
            seg: rst,
        });
    }

    /// Collect the connection's events and queue it for output.
    fn touch(&mut self, h: ConnHandle) {
        self.table.forget_tuples(h);
        self.collect_events(h);
        self.table.update_half_open(h);
        self.table.mark_dirty(h);
    }

    /// Fire the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(h) = self.table.pop_expired(now) {
            if let Some(slot) = self.table.get_mut(h) {
                slot.handle_timeout(now);
            }
            self.touch(h);
        }
    }

    /// Write the next packet to send into `buf` (cleared first; its
    /// allocation is reused) and say where it goes. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        loop {
            if let Some(rst) = self.rsts.pop_front() {
                match self.emit(buf, rst.local, rst.remote, &rst.seg) {
                    Some(t) => return Some(t),
                    None => continue,
                }
            }
            let h = self.table.first_dirty()?;
            let next = self.table.get_mut(h).and_then(|s| s.poll_transmit(now));
            match next {
                Some(((local, remote), seg)) => {
                    // A subflow the connection opened itself introduces its
                    // 4-tuple here; one already used by another connection
                    // (an ephemeral port clash) cannot be routed back.
                    if !self.table.register_tuple(h, (local, remote)) {
                        self.counters.subflow_tuple_conflicts += 1;
                        continue;
                    }
                    if let Some(t) = self.emit(buf, local, remote, &seg.repr()) {
                        return Some(t);
                    }
                }
                None => {
                    // Drained: events produced while sending, then the timer
                    // and possibly the end of the connection.
                    self.collect_events(h);
                    if self.table.settle(h) {
                        self.counters.reaped += 1;
                        tracing::debug!(conn = %h, "reaped");
                    }
                }
            }
        }
    }

    /// Move the connection's events to the endpoint's queues.
    fn collect_events(&mut self, h: ConnHandle) {
        let Some(slot) = self.table.get_mut(h) else {
            return;
        };
        while let Some(e) = slot.poll_event() {
            match e {
                SlotEvent::Conn(e) => self.events.push_back((h, e)),
                SlotEvent::Mptcp(e) => {
                    // Bounded: an application that never asks loses the
                    // oldest.
                    if self.mptcp_events.len() >= MAX_MPTCP_EVENTS {
                        self.mptcp_events.pop_front();
                        self.counters.mptcp_events_dropped += 1;
                    }
                    self.mptcp_events.push_back((h, e));
                }
            }
        }
    }

    /// Encode `seg` from `local` to `remote` as an IP packet into `buf`.
    fn emit(
        &mut self,
        buf: &mut Vec<u8>,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> Option<Transmit> {
        let (src, dst) = (local.ip(), remote.ip());
        let tcp_len = seg.buffer_len();
        let result = IpRepr::new(src, dst, IpProtocol::Tcp, tcp_len, self.config.hop_limit)
            .and_then(|ip| {
                let header = ip.header_len();
                buf.clear();
                buf.resize(header + tcp_len, 0);
                ip.emit(buf)?;
                seg.emit(&mut buf[header..], src, dst)?;
                Ok(header + tcp_len)
            });
        match result {
            Ok(len) => {
                self.counters.packets_out += 1;
                self.counters.bytes_out += len as u64;
                Some(Transmit { src, dst, len })
            }
            Err(e) => {
                tracing::warn!(%local, %remote, error = %e, "cannot emit segment");
                self.counters.emit_errors += 1;
                None
            }
        }
    }

    /// When [`Endpoint::handle_timeout`] must next be called: the earliest
    /// timer of any connection (kept in a heap; not a scan).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.table.next_timeout()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<(ConnHandle, ConnEvent)> {
        self.events.pop_front()
    }

    fn slot(&self, h: ConnHandle) -> Result<&Slot, EndpointError> {
        self.table.get(h).ok_or(EndpointError::UnknownConnection)
    }

    /// Run `f` on the connection and queue it for output.
    fn with_slot<T>(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&mut Slot) -> T,
    ) -> Result<T, EndpointError> {
        let slot = self
            .table
            .get_mut(h)
            .ok_or(EndpointError::UnknownConnection)?;
        let r = f(slot);
        self.touch(h);
        Ok(r)
    }

    /// Read in-order data; `Ok(0)` means nothing now (see
    /// [`Endpoint::is_read_closed`] for the end of the stream).
    pub fn read(&mut self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, EndpointError> {
        self.with_slot(h, |s| s.read(buf))
    }

    /// Whether the peer closed its direction and everything was read.
    pub fn is_read_closed(&self, h: ConnHandle) -> Result<bool, EndpointError> {
        Ok(self.slot(h)?.is_read_closed())
    }

    /// Queue data; returns the bytes accepted (0 when the send buffer is
    /// full: wait for [`ConnEvent::Writable`]).
    pub fn write(&mut self, h: ConnHandle, data: &[u8]) -> Result<usize, EndpointError> {
        if !self.slot(h)?.can_send() {
            return Err(EndpointError::SendClosed);
        }
        self.with_slot(h, |s| s.write(data))
    }

    /// Free send buffer space (0 once the sending direction is closed).
    pub fn send_capacity(&self, h: ConnHandle) -> Result<usize, EndpointError> {
        Ok(self.slot(h)?.send_capacity())
    }

    /// Close the sending direction: a FIN follows the queued data.
    pub fn close(&mut self, h: ConnHandle) -> Result<(), EndpointError> {
        self.with_slot(h, Slot::close)
    }

    /// Abort: send a RST and drop the connection's data.
    pub fn abort(&mut self, h: ConnHandle) -> Result<(), EndpointError> {
        self.with_slot(h, Slot::abort)
    }

    /// The connection's state.
    pub fn state(&self, h: ConnHandle) -> Result<State, EndpointError> {
        Ok(self.slot(h)?.state())
    }

    /// The connection's statistics.
    pub fn stats(&self, h: ConnHandle) -> Result<ConnStats, EndpointError> {
        Ok(self.slot(h)?.stats())
    }

    /// The connection's local address.
    pub fn local_addr(&self, h: ConnHandle) -> Result<SocketAddr, EndpointError> {
        Ok(self.slot(h)?.local())
    }

    /// The connection's remote address.
    pub fn remote_addr(&self, h: ConnHandle) -> Result<SocketAddr, EndpointError> {
        Ok(self.slot(h)?.remote())
    }

    /// The connection a 4-tuple demultiplexes to, if any.
    pub fn find(&self, local: SocketAddr, remote: SocketAddr) -> Option<ConnHandle> {
        let tuple: Tuple = (local, remote);
        self.table.lookup(&tuple)
    }
}

/// MPTCP events kept for [`Endpoint::poll_mptcp_event`] at most.
const MAX_MPTCP_EVENTS: usize = 4096;

/// A unicast address: not unspecified, multicast or IPv4 broadcast.
fn is_unicast(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && !matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}
