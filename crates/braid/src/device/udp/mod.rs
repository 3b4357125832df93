//! A UDP device: every inner IP packet the core emits travels as the whole
//! payload of one UDP datagram (docs/udp-encapsulation.md, version 1). No
//! TUN, no root, no kernel MPTCP: both ends must be Braid.
//!
//! One UDP socket per local address, bound to it. Sending picks the socket
//! of the packet's inner source address and the peer's outer endpoint from,
//! in order, a mapping learned for the inner 4-tuple, a static peer entry
//! ([`UdpDevice::add_peer`]) or the inner destination address with the
//! default port ([`UdpDevice::default_port`]). Receiving accepts a whole
//! inner TCP/IP packet from a known peer or a SYN (which teaches the
//! mapping); everything else is dropped and counted in [`UdpDeviceStats`].
//!
//! I/O goes through `quinn-udp` over tokio's `UdpSocket` (see `io`):
//! `recvmmsg` with GRO on receive, GSO on send where the kernel has them.

mod control;
mod inner;
mod io;
mod mapping;
mod nat;

pub use nat::{DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEPALIVE};

use super::{Batch, Device};
use nat::{Nat, Route};
use quinn_udp::UdpSocketState;
use std::io as stdio;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::time::{Duration, Instant};

/// Outer IPv4 header (20) + UDP header (8).
const OUTER_OVERHEAD_V4: usize = 28;
/// Outer IPv6 header (40) + UDP header (8).
const OUTER_OVERHEAD_V6: usize = 48;

/// The outer path MTU assumed unless told otherwise.
pub const DEFAULT_OUTER_MTU: usize = 1500;

/// Socket buffers asked for (the kernel caps them at
/// `net.core.rmem_max` / `wmem_max` for an unprivileged process).
const SOCKET_BUFFER: usize = 4 << 20;

/// Local addresses (sockets) one device takes.
const MAX_SOCKETS: usize = 64;

/// A socket of an address the stack stopped owning stays open this long,
/// so the segments that tell the peer (RST, REMOVE_ADDR) still leave by it.
const CLOSE_DELAY: Duration = Duration::from_millis(200);

/// A [`Device`] that carries inner IP packets in UDP datagrams.
#[derive(Debug)]
pub struct UdpDevice {
    /// One slot per local address; `None` once its socket was closed (the
    /// index stays free so that mappings never point at another socket).
    sockets: Vec<Option<Bound>>,
    nat: Nat,
    /// The inner MTU: the outer path MTU less the outer headers.
    mtu: usize,
    /// The outer path MTU it was derived from.
    outer_mtu: usize,
    /// Socket the next receive starts with (round robin, so one busy
    /// socket cannot starve the others).
    next: usize,
    /// Port of the sockets opened at runtime ([`crate::Stack::add_address`]):
    /// the one all the first sockets were asked for, or 0 (ephemeral).
    runtime_port: u16,
    /// Bind each socket to its address's interface (`SO_BINDTODEVICE`).
    bind_device: bool,
    /// Addresses added or removed at runtime, not yet applied.
    commands: Arc<Commands>,
    /// When the NAT timers next need a look.
    next_tick: Instant,
    stats: Arc<UdpDeviceStats>,
    /// Datagrams received and not yet handed on.
    rx: io::Rx,
    /// The send buffer of one GSO train.
    tx: Vec<u8>,
}

struct Bound {
    local: SocketAddr,
    socket: UdpSocket,
    state: UdpSocketState,
    /// The interface it is bound to (`SO_BINDTODEVICE`), if any.
    device: Option<String>,
    /// Closing: the stack stopped owning the address.
    close_at: Option<Instant>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("local", &self.local)
            .field("device", &self.device)
            .field("gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .finish_non_exhaustive()
    }
}

/// Local addresses the stack gained or lost at runtime, for the device to
/// open or close their sockets (its driver task applies them).
#[derive(Debug, Default)]
pub(crate) struct Commands {
    queue: Mutex<Vec<Command>>,
}

#[derive(Debug, Clone, Copy)]
enum Command {
    Open(IpAddr),
    Close(IpAddr),
}

impl Commands {
    /// Open a socket for `ip` (before the stack uses it).
    pub(crate) fn open(&self, ip: IpAddr) {
        self.push(Command::Open(ip));
    }

    /// Close the socket of `ip` (after a short delay).
    pub(crate) fn close(&self, ip: IpAddr) {
        self.push(Command::Close(ip));
    }

    fn push(&self, c: Command) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a caller toggling addresses in a loop cannot grow it.
        if q.len() < 4 * MAX_SOCKETS {
            q.push(c);
        }
    }

    fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Counters of one [`UdpDevice`], readable while a stack owns it (see
/// [`crate::Stack::udp_stats`]). Every datagram received is either
/// `received` or exactly one of the drop counters.
#[derive(Debug, Default)]
pub struct UdpDeviceStats {
    /// Datagrams sent.
    pub sent: AtomicU64,
    /// Datagrams received and handed to the stack.
    pub received: AtomicU64,
    /// `sendmsg` calls that sent (one GSO train each: `sent / send_calls`
    /// datagrams per call on average).
    pub send_calls: AtomicU64,
    /// `recvmmsg` calls that returned datagrams.
    pub recv_calls: AtomicU64,
    /// Dropped on receive: the first nibble is not 0, 4 or 6 (not ours).
    pub not_ours: AtomicU64,
    /// Dropped on receive: a control message this version does not know
    /// (another version, an unknown type, a bad length) or a path response
    /// that answers no challenge of ours.
    pub control: AtomicU64,
    /// Dropped on receive: the inner packet or its TCP header is cut short.
    pub truncated: AtomicU64,
    /// Dropped on receive: not exactly one inner IP packet carrying TCP
    /// (padding, another protocol, bad header lengths, larger than the MTU).
    pub malformed: AtomicU64,
    /// Dropped on receive: neither a SYN nor from the outer endpoint the
    /// inner 4-tuple is mapped to, and the 4-tuple has no mapping.
    pub unknown_peer: AtomicU64,
    /// Dropped on receive: a known inner 4-tuple from another outer
    /// endpoint that is not a plausible rebinding (it does not acknowledge
    /// what we sent: a spoof), or when too many are being validated.
    pub outer_changed: AtomicU64,
    /// Dropped on receive: a SYN from a new peer while the mapping table
    /// was full of confirmed mappings.
    pub mapping_table_full: AtomicU64,
    /// Receive errors of the sockets (each loses at most one datagram).
    pub recv_errors: AtomicU64,
    /// Dropped on send: no socket is bound to the inner source address.
    pub no_socket: AtomicU64,
    /// Dropped on send: no mapping, peer entry or default port for the
    /// inner destination (or the core's packet did not parse).
    pub no_route: AtomicU64,
    /// Dropped on send: the kernel refused the datagram (too big, no
    /// route, buffers full), or the device's own queue was full.
    pub send_errors: AtomicU64,
    /// Keepalives sent (on subflows idle for the keepalive interval).
    pub keepalives_sent: AtomicU64,
    /// Keepalives received.
    pub keepalives_received: AtomicU64,
    /// A peer's subflow arrived from a new outer endpoint and plausibly
    /// from the peer: a rebinding began (a path challenge went there).
    pub rebinding_attempts: AtomicU64,
    /// Rebindings validated: the peer answered the challenge from its new
    /// endpoint, which now has the subflow's traffic.
    pub rebindings: AtomicU64,
    /// Rebindings never answered: the mapping went back to the old
    /// endpoint.
    pub validation_failures: AtomicU64,
    /// Path challenges sent (including retries).
    pub path_challenges: AtomicU64,
    /// Path responses sent (answers to the peer's challenges).
    pub path_responses: AtomicU64,
    /// Packets held back for an unvalidated endpoint (beyond 3x what it
    /// sent), sent once it is validated.
    pub amplification_held: AtomicU64,
    /// Packets dropped for an unvalidated endpoint when the hold was full.
    pub amplification_dropped: AtomicU64,
    /// Mappings forgotten: their subflow closed, or the peer was silent
    /// for the idle timeout.
    pub mappings_expired: AtomicU64,
    /// Sockets opened for addresses added at runtime.
    pub sockets_opened: AtomicU64,
    /// Sockets closed for addresses removed at runtime.
    pub sockets_closed: AtomicU64,
    /// Addresses added at runtime whose socket could not be opened.
    pub socket_errors: AtomicU64,
}

/// A snapshot of [`UdpDeviceStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are those of `UdpDeviceStats`
pub struct UdpCounters {
    pub sent: u64,
    pub received: u64,
    pub send_calls: u64,
    pub recv_calls: u64,
    pub not_ours: u64,
    pub control: u64,
    pub truncated: u64,
    pub malformed: u64,
    pub unknown_peer: u64,
    pub outer_changed: u64,
    pub mapping_table_full: u64,
    pub recv_errors: u64,
    pub no_socket: u64,
    pub no_route: u64,
    pub send_errors: u64,
    pub keepalives_sent: u64,
    pub keepalives_received: u64,
    pub rebinding_attempts: u64,
    pub rebindings: u64,
    pub validation_failures: u64,
    pub path_challenges: u64,
    pub path_responses: u64,
    pub amplification_held: u64,
    pub amplification_dropped: u64,
    pub mappings_expired: u64,
    pub sockets_opened: u64,
    pub sockets_closed: u64,
    pub socket_errors: u64,
}

impl UdpCounters {
    /// Datagrams dropped on receive, every reason.
    pub fn rx_dropped(&self) -> u64 {
        self.not_ours
            + self.control
            + self.truncated
            + self.malformed
            + self.unknown_peer
            + self.outer_changed
            + self.mapping_table_full
    }

    /// Every counter with its name, in declaration order (for reports).
    pub fn fields(&self) -> [(&'static str, u64); 28] {
        [
            ("sent", self.sent),
            ("received", self.received),
            ("send_calls", self.send_calls),
            ("recv_calls", self.recv_calls),
            ("not_ours", self.not_ours),
            ("control", self.control),
            ("truncated", self.truncated),
            ("malformed", self.malformed),
            ("unknown_peer", self.unknown_peer),
            ("outer_changed", self.outer_changed),
            ("mapping_table_full", self.mapping_table_full),
            ("recv_errors", self.recv_errors),
            ("no_socket", self.no_socket),
            ("no_route", self.no_route),
            ("send_errors", self.send_errors),
            ("keepalives_sent", self.keepalives_sent),
            ("keepalives_received", self.keepalives_received),
            ("rebinding_attempts", self.rebinding_attempts),
            ("rebindings", self.rebindings),
            ("validation_failures", self.validation_failures),
            ("path_challenges", self.path_challenges),
            ("path_responses", self.path_responses),
            ("amplification_held", self.amplification_held),
            ("amplification_dropped", self.amplification_dropped),
            ("mappings_expired", self.mappings_expired),
            ("sockets_opened", self.sockets_opened),
            ("sockets_closed", self.sockets_closed),
            ("socket_errors", self.socket_errors),
        ]
    }
}

impl UdpDeviceStats {
    /// The counters now.
    pub fn snapshot(&self) -> UdpCounters {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UdpCounters {
            sent: g(&self.sent),
            received: g(&self.received),
            send_calls: g(&self.send_calls),
            recv_calls: g(&self.recv_calls),
            not_ours: g(&self.not_ours),
            control: g(&self.control),
            truncated: g(&self.truncated),
            malformed: g(&self.malformed),
            unknown_peer: g(&self.unknown_peer),
            outer_changed: g(&self.outer_changed),
            mapping_table_full: g(&self.mapping_table_full),
            recv_errors: g(&self.recv_errors),
            no_socket: g(&self.no_socket),
            no_route: g(&self.no_route),
            send_errors: g(&self.send_errors),
            keepalives_sent: g(&self.keepalives_sent),
            keepalives_received: g(&self.keepalives_received),
            rebinding_attempts: g(&self.rebinding_attempts),
            rebindings: g(&self.rebindings),
            validation_failures: g(&self.validation_failures),
            path_challenges: g(&self.path_challenges),
            path_responses: g(&self.path_responses),
            amplification_held: g(&self.amplification_held),
            amplification_dropped: g(&self.amplification_dropped),
            mappings_expired: g(&self.mappings_expired),
            sockets_opened: g(&self.sockets_opened),
            sockets_closed: g(&self.sockets_closed),
            socket_errors: g(&self.socket_errors),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl UdpDevice {
    /// Bind one UDP socket to each of `locals` (port 0: an ephemeral one).
    /// Each local address is also the inner address the stack uses on it.
    /// Each socket is also bound to the interface that has its address
    /// (`SO_BINDTODEVICE`, so it leaves by that interface whatever the
    /// routes say) where the kernel permits it (Linux 5.7+ for an
    /// unprivileged process), else to the address only. Needs a tokio
    /// runtime; no privileges.
    pub fn bind(locals: &[SocketAddr]) -> stdio::Result<UdpDevice> {
        UdpDevice::bind_with(locals, true)
    }

    /// As [`UdpDevice::bind`], without `SO_BINDTODEVICE`: the sockets are
    /// bound to their addresses only and the routing table picks the
    /// interface (for an address on one interface routed out of another).
    pub fn bind_without_device(locals: &[SocketAddr]) -> stdio::Result<UdpDevice> {
        UdpDevice::bind_with(locals, false)
    }

    fn bind_with(locals: &[SocketAddr], bind_device: bool) -> stdio::Result<UdpDevice> {
        if locals.is_empty() {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                "a UDP device needs at least one local address",
            ));
        }
        if locals.len() > MAX_SOCKETS {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                format!("a UDP device takes at most {MAX_SOCKETS} local addresses"),
            ));
        }
        let mut sockets: Vec<Option<Bound>> = Vec::with_capacity(locals.len());
        for &addr in locals {
            if sockets.iter().flatten().any(|b| b.local.ip() == addr.ip()) {
                return Err(stdio::Error::new(
                    stdio::ErrorKind::InvalidInput,
                    format!("UDP device: address {} given twice", addr.ip()),
                ));
            }
            sockets.push(Some(Bound::open(addr, bind_device, false)?));
        }
        let first = locals[0].port();
        let runtime_port = if locals.iter().all(|a| a.port() == first) {
            first
        } else {
            0
        };
        Ok(UdpDevice::with_sockets(sockets, runtime_port, bind_device))
    }

    /// A device with no socket yet, for a stack that follows OS interfaces
    /// ([`crate::StackBuilder::interface`] and
    /// [`crate::StackBuilder::build_udp`]): it opens a socket on `port`
    /// (0: an ephemeral port each) for each address the stack gains, bound
    /// to its interface where permitted, and closes it when the address
    /// goes. Its families not known yet, it leaves room for IPv6 outer
    /// headers (inner MTU `outer_mtu - 48`). No privileges needed.
    pub fn unbound(port: u16) -> UdpDevice {
        UdpDevice::with_sockets(Vec::new(), port, true)
    }

    fn with_sockets(
        sockets: Vec<Option<Bound>>,
        runtime_port: u16,
        bind_device: bool,
    ) -> UdpDevice {
        let stats: Arc<UdpDeviceStats> = Arc::default();
        let dev = UdpDevice {
            sockets,
            nat: Nat::new(stats.clone()),
            mtu: 0,
            outer_mtu: DEFAULT_OUTER_MTU,
            next: 0,
            runtime_port,
            bind_device,
            commands: Arc::default(),
            next_tick: Instant::now(),
            stats,
            rx: io::Rx::new(),
            tx: Vec::with_capacity(io::GSO_MAX_BYTES),
        };
        dev.outer_mtu(DEFAULT_OUTER_MTU)
    }

    /// The bound sockets' addresses (with the ports the kernel picked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().flatten().map(|b| b.local).collect()
    }

    /// Each socket's address and the interface it is bound to
    /// (`SO_BINDTODEVICE`), if it is.
    pub fn local_devices(&self) -> Vec<(SocketAddr, Option<String>)> {
        self.sockets
            .iter()
            .flatten()
            .map(|b| (b.local, b.device.clone()))
            .collect()
    }

    /// Packets to inner address `inner` go to the outer endpoint `outer`
    /// (until a mapping learned for their 4-tuple says otherwise).
    pub fn add_peer(mut self, inner: IpAddr, outer: SocketAddr) -> Self {
        self.nat.peers.insert(inner, outer);
        self
    }

    /// Packets to an inner address with no peer entry go to that address
    /// at this UDP port.
    pub fn default_port(mut self, port: u16) -> Self {
        self.nat.default_port = Some(port);
        self
    }

    /// The outer path MTU (default 1500): the device carries inner packets
    /// of up to `outer_mtu - 28` bytes (outer IPv4 and UDP headers), or
    /// `outer_mtu - 48` if any of its sockets is IPv6 or it has none
    /// ([`UdpDevice::unbound`]); at least 576.
    pub fn outer_mtu(mut self, outer_mtu: usize) -> Self {
        let mut sockets = self.sockets.iter().flatten().peekable();
        let v4_only = sockets.peek().is_some() && sockets.all(|b| b.local.is_ipv4());
        let overhead = if v4_only {
            OUTER_OVERHEAD_V4
        } else {
            OUTER_OVERHEAD_V6
        };
        self.outer_mtu = outer_mtu;
        self.mtu = outer_mtu.saturating_sub(overhead).max(576);
        self
    }

    /// At most this many inner 4-tuples mapped at once (default 65536).
    /// Closed subflows' and unconfirmed mappings make room when it is full.
    pub fn max_mappings(mut self, max: usize) -> Self {
        self.nat.mappings = mapping::MappingTable::new(max);
        self
    }

    /// Send a keepalive on a subflow after `interval` with nothing sent or
    /// nothing received on it (default [`DEFAULT_KEEPALIVE`], 15 s; `None`:
    /// never). Keepalives hold NAT mappings open and let a peer behind a
    /// NAT that rebound be found again when it has nothing else to send.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.nat.config.keepalive = interval.map(|i| i.max(Duration::from_millis(10)));
        self
    }

    /// Forget a subflow's mapping when its peer sent nothing, not even a
    /// keepalive, for this long (default [`DEFAULT_IDLE_TIMEOUT`], 3 min).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.nat.config.idle_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// The device's counters (shared: readable after the device moves into
    /// a stack).
    pub fn stats(&self) -> Arc<UdpDeviceStats> {
        self.stats.clone()
    }

    /// The handle [`crate::Stack::add_address`] and `remove_address` use.
    pub(crate) fn commands(&self) -> Arc<Commands> {
        self.commands.clone()
    }

    /// Accept or drop one received datagram.
    #[cfg(test)]
    fn accept(&mut self, socket: usize, from: SocketAddr, payload: &[u8]) -> bool {
        self.nat.accept(socket, from, payload, Instant::now())
    }

    /// Where one of the core's packets goes: (socket index, outer peer).
    #[cfg(test)]
    fn route(&mut self, packet: &[u8]) -> Option<(usize, SocketAddr)> {
        match self.route_at(packet, Instant::now()) {
            Route::Send(s, o) => Some((s, o)),
            Route::Held | Route::Drop => None,
        }
    }

    fn route_at(&mut self, packet: &[u8], now: Instant) -> Route {
        let sockets = &self.sockets;
        self.nat.route(packet, now, |ip| {
            sockets
                .iter()
                .position(|b| b.as_ref().is_some_and(|b| b.local.ip() == ip))
        })
    }

    /// Addresses added or removed at runtime; sockets whose close delay
    /// passed.
    fn apply_commands(&mut self, now: Instant) {
        for c in self.commands.take() {
            match c {
                Command::Open(ip) => self.open_runtime(ip),
                Command::Close(ip) => {
                    for b in self.sockets.iter_mut().flatten() {
                        if b.local.ip() == ip && b.close_at.is_none() {
                            b.close_at = Some(now + CLOSE_DELAY);
                        }
                    }
                }
            }
        }
        for i in 0..self.sockets.len() {
            let due = self.sockets[i]
                .as_ref()
                .and_then(|b| b.close_at)
                .is_some_and(|t| now >= t);
            if due {
                let b = self.sockets[i].take();
                self.nat.mappings.remove_socket(i);
                self.nat.out.retain(|o| o.socket != i);
                self.rx.forget(i);
                bump(&self.stats.sockets_closed);
                if let Some(b) = b {
                    tracing::debug!(local = %b.local, "udp: socket closed (address removed)");
                }
            }
        }
    }

    /// A socket for an address the stack now owns.
    fn open_runtime(&mut self, ip: IpAddr) {
        if let Some(b) = self
            .sockets
            .iter_mut()
            .flatten()
            .find(|b| b.local.ip() == ip)
        {
            // Removed and added again before it closed.
            b.close_at = None;
            return;
        }
        let overhead = if ip.is_ipv4() {
            OUTER_OVERHEAD_V4
        } else {
            OUTER_OVERHEAD_V6
        };
        if self.outer_mtu.saturating_sub(overhead) < self.mtu {
            tracing::warn!(%ip, mtu = self.mtu, "udp: an IPv6 socket cannot carry this device's inner MTU: build it with an IPv6 address from the start");
            bump(&self.stats.socket_errors);
            return;
        }
        if self.sockets.iter().flatten().count() >= MAX_SOCKETS {
            tracing::warn!(%ip, "udp: no socket for the new address: {MAX_SOCKETS} already");
            bump(&self.stats.socket_errors);
            return;
        }
        let addr = SocketAddr::new(ip, self.runtime_port);
        match Bound::open(addr, self.bind_device, true) {
            Ok(b) => {
                tracing::debug!(local = %b.local, device = ?b.device, "udp: socket opened (address added)");
                match self.sockets.iter().position(Option::is_none) {
                    Some(i) => self.sockets[i] = Some(b),
                    None => self.sockets.push(Some(b)),
                }
                bump(&self.stats.sockets_opened);
            }
            Err(e) => {
                tracing::warn!(error = %e, "udp: no socket for the new address");
                bump(&self.stats.socket_errors);
            }
        }
    }

    /// Commands, NAT timers and the device's own datagrams, when due.
    async fn housekeeping(&mut self) -> stdio::Result<()> {
        let now = Instant::now();
        self.apply_commands(now);
        if let Some(t) = self.nat.wake.take() {
            self.next_tick = self.next_tick.min(t);
        }
        if now >= self.next_tick {
            self.next_tick = self.nat.tick(now);
        }
        self.flush_out().await
    }
}

impl Bound {
    /// A non-blocking UDP socket bound to `addr` (and to its interface,
    /// with `device`, where permitted), with large buffers. `freebind`:
    /// the address need not be up yet (IPv6 still in duplicate address
    /// detection, an interface coming up).
    fn open(addr: SocketAddr, device: bool, freebind: bool) -> stdio::Result<Bound> {
        use socket2::{Domain, Protocol, Socket, Type};
        let err = |e: stdio::Error| {
            stdio::Error::new(e.kind(), format!("cannot bind UDP socket to {addr}: {e}"))
        };
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(err)?;
        if addr.is_ipv6() {
            s.set_only_v6(true).map_err(err)?;
        }
        // Best effort: the kernel caps these for an unprivileged process.
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        #[cfg(target_os = "linux")]
        if freebind {
            let _ = if addr.is_ipv4() {
                s.set_freebind_v4(true)
            } else {
                s.set_freebind_v6(true)
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = freebind;
        let bound_to = if device {
            bind_device(&s, addr.ip())
        } else {
            None
        };
        s.set_nonblocking(true).map_err(err)?;
        s.bind(&addr.into()).map_err(err)?;
        let socket = UdpSocket::from_std(s.into()).map_err(err)?;
        let local = socket.local_addr()?;
        let state = UdpSocketState::new((&socket).into())?;
        Ok(Bound {
            local,
            socket,
            state,
            device: bound_to,
            close_at: None,
        })
    }
}

/// Bind `s` to the interface that has address `ip`, if one has it and the
/// kernel lets us (`SO_BINDTODEVICE`); the interface's name if it did.
#[cfg(target_os = "linux")]
fn bind_device(s: &socket2::Socket, ip: IpAddr) -> Option<String> {
    if ip.is_unspecified() {
        return None;
    }
    let name = nix::ifaddrs::getifaddrs().ok()?.find_map(|ifa| {
        let a = ifa.address?;
        let has = match ip {
            IpAddr::V4(v4) => a.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
            IpAddr::V6(v6) => a.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
        };
        has.then_some(ifa.interface_name)
    })?;
    match s.bind_device(Some(name.as_bytes())) {
        Ok(()) => Some(name),
        Err(e) => {
            tracing::debug!(error = %e, interface = %name, %ip, "udp: SO_BINDTODEVICE refused: bound to the address only");
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_device(_: &socket2::Socket, _: IpAddr) -> Option<String> {
    None
}

impl Device for UdpDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    async fn recv(&mut self, batch: &mut Batch) -> stdio::Result<()> {
        self.recv_batch(batch).await
    }

    async fn send(&mut self, batch: &Batch) -> stdio::Result<()> {
        self.send_batch(batch).await
    }
}

#[cfg(test)]
mod tests;
