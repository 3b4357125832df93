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

mod inner;
mod io;
mod mapping;

use super::{Batch, Device};
use inner::Verdict;
use mapping::{Key, Mapping, MappingTable};
use quinn_udp::UdpSocketState;
use std::collections::HashMap;
use std::io as stdio;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::UdpSocket;

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

/// A [`Device`] that carries inner IP packets in UDP datagrams.
#[derive(Debug)]
pub struct UdpDevice {
    sockets: Vec<Bound>,
    peers: HashMap<IpAddr, SocketAddr>,
    default_port: Option<u16>,
    mappings: MappingTable,
    /// The inner MTU: the outer path MTU less the outer headers.
    mtu: usize,
    /// Socket the next receive starts with (round robin, so one busy
    /// socket cannot starve the others).
    next: usize,
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
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("local", &self.local)
            .field("gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .finish_non_exhaustive()
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
    /// Dropped on receive: a Braid control message (none in version 1).
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
    /// endpoint (a NAT rebinding or a spoof; version 1 does not follow).
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
    /// route, buffers full).
    pub send_errors: AtomicU64,
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
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl UdpDevice {
    /// Bind one UDP socket to each of `locals` (port 0: an ephemeral one).
    /// Each local address is also the inner address the stack uses on it.
    /// Needs a tokio runtime; no privileges.
    pub fn bind(locals: &[SocketAddr]) -> stdio::Result<UdpDevice> {
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
        let mut sockets = Vec::with_capacity(locals.len());
        for &addr in locals {
            if sockets.iter().any(|b: &Bound| b.local.ip() == addr.ip()) {
                return Err(stdio::Error::new(
                    stdio::ErrorKind::InvalidInput,
                    format!("UDP device: address {} given twice", addr.ip()),
                ));
            }
            let socket = open(addr).map_err(|e| {
                stdio::Error::new(e.kind(), format!("cannot bind UDP socket to {addr}: {e}"))
            })?;
            let local = socket.local_addr()?;
            let state = UdpSocketState::new((&socket).into())?;
            sockets.push(Bound {
                local,
                socket,
                state,
            });
        }
        let dev = UdpDevice {
            sockets,
            peers: HashMap::new(),
            default_port: None,
            mappings: MappingTable::new(mapping::DEFAULT_MAX_MAPPINGS),
            mtu: 0,
            next: 0,
            stats: Arc::default(),
            rx: io::Rx::new(),
            tx: Vec::with_capacity(io::GSO_MAX_BYTES),
        };
        Ok(dev.outer_mtu(DEFAULT_OUTER_MTU))
    }

    /// The bound sockets' addresses (with the ports the kernel picked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|b| b.local).collect()
    }

    /// Packets to inner address `inner` go to the outer endpoint `outer`
    /// (until a mapping learned for their 4-tuple says otherwise).
    pub fn add_peer(mut self, inner: IpAddr, outer: SocketAddr) -> Self {
        self.peers.insert(inner, outer);
        self
    }

    /// Packets to an inner address with no peer entry go to that address
    /// at this UDP port.
    pub fn default_port(mut self, port: u16) -> Self {
        self.default_port = Some(port);
        self
    }

    /// The outer path MTU (default 1500): the device carries inner packets
    /// of up to `outer_mtu - 28` bytes (outer IPv4 and UDP headers), or
    /// `outer_mtu - 48` if any of its sockets is IPv6; at least 576.
    pub fn outer_mtu(mut self, outer_mtu: usize) -> Self {
        let overhead = if self.sockets.iter().all(|b| b.local.is_ipv4()) {
            OUTER_OVERHEAD_V4
        } else {
            OUTER_OVERHEAD_V6
        };
        self.mtu = outer_mtu.saturating_sub(overhead).max(576);
        self
    }

    /// At most this many inner 4-tuples mapped at once (default 65536).
    pub fn max_mappings(mut self, max: usize) -> Self {
        self.mappings = MappingTable::new(max);
        self
    }

    /// The device's counters (shared: readable after the device moves into
    /// a stack).
    pub fn stats(&self) -> Arc<UdpDeviceStats> {
        self.stats.clone()
    }

    /// Accept or drop one received datagram ([`accept`]).
    #[cfg(test)]
    fn accept(&mut self, socket: usize, from: SocketAddr, payload: &[u8]) -> bool {
        accept(&mut self.mappings, &self.stats, socket, from, payload)
    }

    /// Where one of the core's packets goes: (socket index, outer peer).
    fn route(&mut self, packet: &[u8]) -> Option<(usize, SocketAddr)> {
        let Verdict::Segment(seg) = inner::classify(packet) else {
            bump(&self.stats.no_route);
            return None;
        };
        let key: Key = (seg.src, seg.dst);
        if let Some(m) = self.mappings.get(&key) {
            let found = (m.socket, m.outer);
            if !seg.syn_only {
                self.mappings.confirm(&key);
            }
            return Some(found);
        }
        let Some(socket) = self
            .sockets
            .iter()
            .position(|b| b.local.ip() == seg.src.ip())
        else {
            bump(&self.stats.no_socket);
            return None;
        };
        let outer = match (self.peers.get(&seg.dst.ip()), self.default_port) {
            (Some(&o), _) => o,
            (None, Some(port)) => SocketAddr::new(seg.dst.ip(), port),
            (None, None) => {
                bump(&self.stats.no_route);
                return None;
            }
        };
        // We chose this peer ourselves: confirmed. A full table only means
        // the next packet looks the route up again.
        let _ = self.mappings.insert(
            key,
            Mapping {
                outer,
                socket,
                confirmed: true,
            },
        );
        Some((socket, outer))
    }
}

/// Accept or drop one received datagram (docs/udp-encapsulation.md,
/// "Acceptance checks"), learning the mapping a SYN teaches.
fn accept(
    mappings: &mut MappingTable,
    stats: &UdpDeviceStats,
    socket: usize,
    from: SocketAddr,
    payload: &[u8],
) -> bool {
    let seg = match inner::classify(payload) {
        Verdict::Segment(s) => s,
        Verdict::Control => return drop_as(&stats.control),
        Verdict::NotOurs => return drop_as(&stats.not_ours),
        Verdict::Truncated => return drop_as(&stats.truncated),
        Verdict::Malformed => return drop_as(&stats.malformed),
    };
    let key: Key = (seg.dst, seg.src);
    match mappings.get(&key) {
        Some(m) if m.outer == from && m.socket == socket => {
            if !seg.syn_only {
                mappings.confirm(&key);
            }
            true
        }
        // A known peer's 4-tuple from elsewhere: a spoof, or a rebinding
        // (not followed in version 1). Even a SYN may not move a confirmed
        // mapping, or anyone who guessed a subflow's 4-tuple could redirect
        // its traffic to themselves.
        Some(m) if m.confirmed || !seg.syn_only => drop_as(&stats.outer_changed),
        // A SYN (new, or retransmitted from elsewhere before anything else
        // was seen) teaches the mapping; the core decides whether anyone
        // listens.
        _ if seg.syn_only => {
            let m = Mapping {
                outer: from,
                socket,
                confirmed: false,
            };
            match mappings.insert(key, m) {
                Ok(()) => true,
                Err(_) => drop_as(&stats.mapping_table_full),
            }
        }
        _ => drop_as(&stats.unknown_peer),
    }
}

fn drop_as(counter: &AtomicU64) -> bool {
    bump(counter);
    false
}

/// A non-blocking UDP socket bound to `addr`, with large buffers.
fn open(addr: SocketAddr) -> stdio::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these for an unprivileged process.
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
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
