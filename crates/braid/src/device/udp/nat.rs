//! The device's view of each subflow's outer path: accepting datagrams
//! (docs/udp-encapsulation.md, "Acceptance checks"), choosing where the
//! core's packets go, keepalives, NAT rebindings and their validation, and
//! expiring mappings.

use super::control::{self, Control, Kind};
use super::inner::{self, Segment, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Verdict};
use super::mapping::{self, HELD_MAX, Key, MAX_PROBES, Mapping, MappingTable, Probe};
use super::{UdpDeviceStats, bump};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::time::{Duration, Instant};

/// Default keepalive interval: at most one datagram per idle subflow every
/// 15 s (RFC 8085 section 3.5 asks keepalives to be no more frequent; NAT
/// UDP mappings often last 30 s, RFC 4787 REQ-5 asks at least 2 min).
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
/// Default: a mapping whose peer sent nothing (not even a keepalive) for
/// this long is forgotten.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// A closed subflow's mapping stays this long (late retransmissions of its
/// last segments still find their way), unless the table needs the room.
pub const CLOSED_LINGER: Duration = Duration::from_secs(30);
/// A path challenge unanswered for this long is sent again (doubling),
/// and after [`PROBE_TRIES`] sends validation fails.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
const PROBE_TRIES: u32 = 5;
/// Datagrams waiting to go out that the device made itself (control
/// messages, packets released by a validation), at most.
const OUT_MAX: usize = 1024;

/// The device's NAT settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct NatConfig {
    pub(super) keepalive: Option<Duration>,
    pub(super) idle_timeout: Duration,
}

/// A datagram the device sends on its own account.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) socket: usize,
    pub(super) to: SocketAddr,
    pub(super) data: Vec<u8>,
}

/// Where one of the core's packets goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Send(usize, SocketAddr),
    /// Kept for an outer endpoint being validated.
    Held,
    Drop,
}

#[derive(Debug)]
pub(super) struct Nat {
    pub(super) mappings: MappingTable,
    pub(super) peers: HashMap<IpAddr, SocketAddr>,
    pub(super) default_port: Option<u16>,
    pub(super) config: NatConfig,
    pub(super) out: VecDeque<Outgoing>,
    pub(super) stats: Arc<UdpDeviceStats>,
    next_scan: Option<Instant>,
    /// A timer became due sooner (a validation began): the device's next
    /// tick should be no later than this.
    pub(super) wake: Option<Instant>,
}

fn drop_as(counter: &AtomicU64) -> bool {
    bump(counter);
    false
}

impl Nat {
    pub(super) fn new(stats: Arc<UdpDeviceStats>) -> Nat {
        Nat {
            mappings: MappingTable::new(mapping::DEFAULT_MAX_MAPPINGS),
            peers: HashMap::new(),
            default_port: None,
            config: NatConfig {
                keepalive: Some(DEFAULT_KEEPALIVE),
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            },
            out: VecDeque::new(),
            stats,
            next_scan: None,
            wake: None,
        }
    }

    /// Accept or drop one datagram received by socket `socket` from `from`;
    /// true: hand it to the core.
    pub(super) fn accept(
        &mut self,
        socket: usize,
        from: SocketAddr,
        payload: &[u8],
        now: Instant,
    ) -> bool {
        let seg = match inner::classify(payload) {
            Verdict::Segment(s) => s,
            Verdict::Control => return self.control(socket, from, payload, now),
            Verdict::NotOurs => return drop_as(&self.stats.not_ours),
            Verdict::Truncated => return drop_as(&self.stats.truncated),
            Verdict::Malformed => return drop_as(&self.stats.malformed),
        };
        let key: Key = (seg.dst, seg.src);
        let len = payload.len() as u64;
        let Some(m) = self.mappings.get(&key) else {
            if seg.syn_only {
                return self.learn(key, from, socket, &seg, now);
            }
            return drop_as(&self.stats.unknown_peer);
        };
        if m.socket == socket && (from == m.outer || Some(from) == m.previous) {
            let current = from == m.outer;
            self.mappings.update(&key, |m| {
                if current && let Some(p) = &mut m.probe {
                    p.rx_bytes += len;
                }
                note_rx(m, &seg, now);
            });
            return true;
        }
        // The 4-tuple from elsewhere. A SYN may move a mapping that never
        // saw more than SYNs (retransmitted through a new NAT port) or
        // whose subflow closed (a new one on the same 4-tuple).
        if seg.syn_only && (!m.confirmed || m.closed()) {
            return self.learn(key, from, socket, &seg, now);
        }
        // Once confirmed, only a rebinding that acknowledges what we sent
        // moves it: anyone who guessed a subflow's 4-tuple cannot redirect
        // its traffic without also guessing its sequence numbers.
        let rebinding = m.socket == socket
            && m.confirmed
            && !m.closed()
            && seg.has(TCP_ACK)
            && !seg.has(TCP_SYN | TCP_RST)
            && m.plausible_ack(seg.ack);
        if !rebinding || !self.start_rebinding(key, from, len, now) {
            return drop_as(&self.stats.outer_changed);
        }
        self.mappings.update(&key, |m| note_rx(m, &seg, now));
        true
    }

    /// A SYN from `from` teaches (or replaces) the mapping of `key`; the
    /// core decides whether anyone listens.
    fn learn(
        &mut self,
        key: Key,
        from: SocketAddr,
        socket: usize,
        seg: &Segment,
        now: Instant,
    ) -> bool {
        let mut m = Mapping::new(from, socket, false, now);
        note_rx(&mut m, seg, now);
        match self.mappings.insert(key, m) {
            Ok(()) => true,
            Err(_) => drop_as(&self.stats.mapping_table_full),
        }
    }

    /// The peer of `key` now sends from `from`: send it a challenge and
    /// limit what goes there until it is answered. False if too many
    /// validations are under way.
    fn start_rebinding(&mut self, key: Key, from: SocketAddr, len: u64, now: Instant) -> bool {
        self.mappings.probing.retain(|k| *k != key);
        if self.mappings.probing.len() >= MAX_PROBES {
            return false;
        }
        let mut nonce = [0u8; 8];
        if getrandom::fill(&mut nonce).is_err() {
            return false;
        }
        let nonce = u64::from_be_bytes(nonce);
        let socket = self.mappings.update(&key, |m| {
            tracing::debug!(inner = ?key, old = %m.outer, new = %from, "udp: peer's outer endpoint changed: validating");
            // Moved again before the last move was validated (a NAT that
            // flushed twice): the newest endpoint wins (RFC 9000 section
            // 9.3), the last validated one stays the fallback, and what
            // was held goes to the new one once it answers.
            let (validated, held) = match m.probe.take() {
                Some(p) => (p.from, p.held),
                None => (m.outer, Vec::new()),
            };
            m.probe = Some(Probe {
                nonce,
                from: validated,
                rx_bytes: len,
                tx_bytes: 0,
                sent_at: now,
                tries: 0,
                held,
            });
            m.previous = Some(validated);
            m.outer = from;
            m.socket
        });
        let Some(socket) = socket else {
            return false;
        };
        self.mappings.probing.push(key);
        self.wake = Some(now + PROBE_TIMEOUT);
        bump(&self.stats.rebinding_attempts);
        self.challenge(key, socket, from, nonce, now);
        true
    }

    /// Send (again) the challenge of `key`'s probe.
    fn challenge(&mut self, key: Key, socket: usize, to: SocketAddr, nonce: u64, now: Instant) {
        let c = Control {
            kind: Kind::Challenge,
            src: key.0,
            dst: key.1,
            ack: None,
            nonce,
        };
        let sent = self.queue(socket, to, &c);
        self.mappings.update(&key, |m| {
            if let Some(p) = &mut m.probe {
                p.tries += 1;
                p.sent_at = now;
                if sent {
                    p.tx_bytes += sent_len(&c);
                }
            }
        });
        if sent {
            bump(&self.stats.path_challenges);
        }
    }

    /// A control message: never handed to the core.
    fn control(&mut self, socket: usize, from: SocketAddr, payload: &[u8], now: Instant) -> bool {
        let Some(c) = Control::parse(payload) else {
            return drop_as(&self.stats.control);
        };
        let key: Key = (c.dst, c.src);
        let Some(m) = self.mappings.get(&key) else {
            return drop_as(&self.stats.unknown_peer);
        };
        if m.socket != socket {
            return drop_as(&self.stats.unknown_peer);
        }
        let known = from == m.outer || Some(from) == m.previous;
        match c.kind {
            Kind::Keepalive if known => {
                bump(&self.stats.keepalives_received);
                let len = payload.len() as u64;
                self.mappings.update(&key, |m| {
                    m.last_rx = now;
                    if from == m.outer
                        && let Some(p) = &mut m.probe
                    {
                        p.rx_bytes += len;
                    }
                });
            }
            Kind::Keepalive => {
                // From a new outer endpoint: a rebinding, if it knows what
                // we sent (the end of what it received).
                let ok = m.confirmed && !m.closed() && c.ack.is_some_and(|a| m.plausible_ack(a));
                if !ok || !self.start_rebinding(key, from, payload.len() as u64, now) {
                    return drop_as(&self.stats.outer_changed);
                }
                bump(&self.stats.keepalives_received);
                self.mappings.update(&key, |m| m.last_rx = now);
            }
            Kind::Challenge if known => {
                let r = Control {
                    kind: Kind::Response,
                    src: c.dst,
                    dst: c.src,
                    ack: None,
                    nonce: c.nonce,
                };
                if self.queue(socket, from, &r) {
                    bump(&self.stats.path_responses);
                }
            }
            Kind::Challenge => return drop_as(&self.stats.unknown_peer),
            Kind::Response => {
                let matches =
                    from == m.outer && m.probe.as_ref().is_some_and(|p| p.nonce == c.nonce);
                if !matches {
                    return drop_as(&self.stats.control);
                }
                self.validated(key, now);
            }
        }
        false
    }

    /// The peer answered from its new endpoint: it is the peer, and it is
    /// there. Release what was held.
    fn validated(&mut self, key: Key, now: Instant) {
        let Some((socket, outer, held)) = self.mappings.update(&key, |m| {
            m.last_rx = now;
            let held = m.probe.take().map(|p| p.held).unwrap_or_default();
            (m.socket, m.outer, held)
        }) else {
            return;
        };
        self.mappings.probing.retain(|k| *k != key);
        bump(&self.stats.rebindings);
        tracing::debug!(inner = ?key, new = %outer, held = held.len(), "udp: rebinding validated");
        for data in held {
            if self.out.len() < OUT_MAX {
                self.out.push_back(Outgoing {
                    socket,
                    to: outer,
                    data,
                });
            } else {
                bump(&self.stats.send_errors);
            }
        }
    }

    /// Queue a control message; false if the queue is full.
    fn queue(&mut self, socket: usize, to: SocketAddr, c: &Control) -> bool {
        if self.out.len() >= OUT_MAX {
            bump(&self.stats.send_errors);
            return false;
        }
        let mut buf = [0u8; control::MAX_LEN];
        let n = c.encode(&mut buf);
        self.out.push_back(Outgoing {
            socket,
            to,
            data: buf[..n].to_vec(),
        });
        true
    }

    /// Where one of the core's packets goes; `socket_of` finds our socket
    /// for an inner source address.
    pub(super) fn route(
        &mut self,
        packet: &[u8],
        now: Instant,
        socket_of: impl Fn(IpAddr) -> Option<usize>,
    ) -> Route {
        let Verdict::Segment(seg) = inner::classify(packet) else {
            bump(&self.stats.no_route);
            return Route::Drop;
        };
        let key: Key = (seg.src, seg.dst);
        let len = packet.len() as u64;
        if self.mappings.get(&key).is_some() {
            let stats = &self.stats;
            return self
                .mappings
                .update(&key, |m| {
                    note_tx(m, &seg, now);
                    let Some(p) = &mut m.probe else {
                        return Route::Send(m.socket, m.outer);
                    };
                    // Unvalidated: at most 3x what it sent us (RFC 9000
                    // section 8.1); the rest waits for the response.
                    if len <= p.budget() {
                        p.tx_bytes += len;
                        Route::Send(m.socket, m.outer)
                    } else if p.held.len() < HELD_MAX {
                        p.held.push(packet.to_vec());
                        bump(&stats.amplification_held);
                        Route::Held
                    } else {
                        bump(&stats.amplification_dropped);
                        Route::Drop
                    }
                })
                .unwrap_or(Route::Drop);
        }
        let Some(socket) = socket_of(seg.src.ip()) else {
            bump(&self.stats.no_socket);
            return Route::Drop;
        };
        let outer = match (self.peers.get(&seg.dst.ip()), self.default_port) {
            (Some(&o), _) => o,
            (None, Some(port)) => SocketAddr::new(seg.dst.ip(), port),
            (None, None) => {
                bump(&self.stats.no_route);
                return Route::Drop;
            }
        };
        // We chose this peer ourselves: confirmed. A full table only means
        // the next packet looks the route up again.
        let mut m = Mapping::new(outer, socket, true, now);
        note_tx(&mut m, &seg, now);
        let _ = self.mappings.insert(key, m);
        Route::Send(socket, outer)
    }

    /// Timers: path challenges to resend or give up, and (every scan
    /// period) expiry and keepalives. Returns when to run next.
    pub(super) fn tick(&mut self, now: Instant) -> Instant {
        for key in self.mappings.probing.clone() {
            let Some(m) = self.mappings.get(&key) else {
                continue;
            };
            let Some(p) = &m.probe else {
                continue;
            };
            let wait = PROBE_TIMEOUT * (1 << p.tries.saturating_sub(1).min(8));
            if now < p.sent_at + wait {
                continue;
            }
            if p.tries >= PROBE_TRIES {
                self.mappings.update(&key, |m| {
                    if let Some(p) = m.probe.take() {
                        tracing::debug!(inner = ?key, new = %m.outer, back_to = %p.from, "udp: rebinding not validated");
                        m.outer = p.from;
                        m.previous = None;
                    }
                });
                self.mappings.probing.retain(|k| *k != key);
                bump(&self.stats.validation_failures);
            } else {
                let (socket, to, nonce) = (m.socket, m.outer, p.nonce);
                self.challenge(key, socket, to, nonce, now);
            }
        }
        let period = self.scan_period();
        if self.next_scan.is_none_or(|t| now >= t) {
            self.scan(now);
            self.next_scan = Some(now + period);
        }
        let mut next = self.next_scan.unwrap_or(now + period);
        if !self.mappings.probing.is_empty() {
            next = next.min(now + PROBE_TIMEOUT / 2);
        }
        next
    }

    fn scan_period(&self) -> Duration {
        let base = self.config.keepalive.unwrap_or(Duration::from_secs(4)) / 4;
        base.clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Expire mappings; send keepalives on idle subflows.
    fn scan(&mut self, now: Instant) {
        let gone = self
            .mappings
            .expire(now, self.config.idle_timeout, CLOSED_LINGER);
        if gone > 0 {
            self.stats
                .mappings_expired
                .fetch_add(gone as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let Some(interval) = self.config.keepalive else {
            return;
        };
        let room = OUT_MAX.saturating_sub(self.out.len());
        let mut due = Vec::new();
        self.mappings.for_each_live(|key, m| {
            if due.len() >= room || m.probe.is_some() {
                return;
            }
            let idle = now - m.last_tx >= interval || now - m.last_rx >= interval;
            if idle && now - m.last_keepalive >= interval {
                m.last_keepalive = now;
                m.last_tx = now;
                due.push((
                    m.socket,
                    m.outer,
                    Control {
                        kind: Kind::Keepalive,
                        src: key.0,
                        dst: key.1,
                        ack: m.rcv_max,
                        nonce: 0,
                    },
                ));
            }
        });
        for (socket, to, c) in due {
            if self.queue(socket, to, &c) {
                bump(&self.stats.keepalives_sent);
            }
        }
    }
}

/// The bytes of a control message on the wire (UDP payload).
fn sent_len(c: &Control) -> u64 {
    let mut buf = [0u8; control::MAX_LEN];
    c.encode(&mut buf) as u64
}

/// What a segment received tells the mapping.
fn note_rx(m: &mut Mapping, seg: &Segment, now: Instant) {
    if seg.syn_only && m.closed() {
        m.reopen();
    }
    m.last_rx = now;
    if !seg.syn_only {
        m.confirmed = true;
    }
    if seg.has(TCP_ACK) {
        mapping::raise(&mut m.ack_max, seg.ack);
    }
    mapping::raise(&mut m.rcv_max, seg.seq_end());
    m.note_close(seg.has(TCP_FIN), false, seg.has(TCP_RST), now);
}

/// What a segment sent tells the mapping.
fn note_tx(m: &mut Mapping, seg: &Segment, now: Instant) {
    if seg.syn_only && m.closed() {
        m.reopen();
    }
    m.last_tx = now;
    if !seg.has(TCP_SYN | TCP_RST) {
        m.confirmed = true;
    }
    mapping::raise(&mut m.snd_max, seg.seq_end());
    m.note_close(false, seg.has(TCP_FIN), seg.has(TCP_RST), now);
}
