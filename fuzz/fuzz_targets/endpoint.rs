//! Drives two Braid endpoints, a client and a listening server, through a
//! sequence of steps chosen by the fuzzer: the network between them
//! delivers, drops, duplicates, reorders or rewrites their packets; forged
//! segments (mostly-valid TCP headers with arbitrary fields, options and
//! payloads, addressed to the endpoints' tuples) and raw byte blobs are
//! injected; time advances; the applications write, read, close, abort and
//! connect again.
//!
//! After every step: nothing panicked; each endpoint holds at most
//! `max_connections` connections and `half_open_limit` half-open ones, no
//! more MPTCP tokens than connections, no more subflows per connection
//! than the path manager allows, buffers within their configured caps, and
//! a bounded number of events and packets. What an application reads is
//! exactly the next bytes its peer wrote (no gap, no duplicate, no
//! reordering), as long as nothing forged or rewritten that could carry
//! data (a payload or an MPTCP option) has reached that endpoint: TCP
//! cannot tell such a forgery from the peer, so past it only the other
//! invariants hold.
#![no_main]

use arbitrary::Arbitrary;
use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, EndpointConfig, SynCookies};
use braid_proto::tcp::State;
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::{IpProtocol, IpRepr, TcpRepr, checksum};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use libfuzzer_sys::fuzz_target;
use std::collections::{HashMap, VecDeque};

/// The client's address, and its second one (joins).
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
/// The server's address, and the one it may announce.
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SERVER2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);
const PORT: u16 = 443;
/// The client's nth connection uses local port FIRST_PORT + n (never
/// reused, so each port names one byte stream each way).
const FIRST_PORT: u16 = 40000;
/// Steps per input, connections the client opens, packets queued per
/// direction, packets taken from an endpoint per step: each execution
/// stays cheap.
const MAX_STEPS: usize = 256;
const MAX_CLIENT_CONNS: u16 = 4;
const MAX_QUEUE: usize = 64;
const MAX_TX_PER_STEP: usize = 512;
/// Subflows of one connection, closed ones included.
const MAX_SUBFLOWS_KEPT: usize = 16;
/// Events one endpoint may queue between two steps.
const MAX_EVENTS_PER_STEP: usize = 256;

#[derive(Debug, Arbitrary)]
struct Setup {
    mptcp: bool,
    checksum: bool,
    cookies: u8,
    /// Index into BUFFERS for send and receive.
    send_buf: u8,
    recv_buf: u8,
    autotune: bool,
    /// The client joins from CLIENT2.
    join: bool,
    /// The server announces SERVER2.
    announce: bool,
    max_connections: u8,
    max_half_open: u8,
}

const BUFFERS: [usize; 4] = [2048, 8192, 32768, 65536];

#[derive(Debug, Arbitrary)]
enum Opt {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(Vec<(u32, u32)>),
    Timestamps(u32, u32),
    /// An MPTCP option: subtype in the high nibble of the first byte.
    Mptcp(u8, Vec<u8>),
    /// Any kind, length written as given.
    Raw(u8, u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Target {
    /// A connection's tuple: the nth packet queued in that direction
    /// gives addresses, ports, sequence and acknowledgment numbers.
    Queued(u8),
    /// The server's listener (or the client's ports), from any port of a
    /// known address.
    Listener { src_port: u16, second_addr: bool },
}

#[derive(Debug, Arbitrary)]
struct Forged {
    to_server: bool,
    target: Target,
    seq_delta: i32,
    ack_delta: i32,
    flags: u8,
    window: u16,
    options: Vec<Opt>,
    payload: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Deliver {
        to_server: bool,
        index: u8,
    },
    Duplicate {
        to_server: bool,
        index: u8,
    },
    Drop {
        to_server: bool,
        index: u8,
    },
    /// Rewrite a queued packet's TCP segment: XOR bytes in, shift its
    /// sequence number, then (usually) fix its checksum and deliver it.
    Rewrite {
        to_server: bool,
        index: u8,
        edits: Vec<(u8, u8)>,
        seq_delta: i32,
        fix: bool,
    },
    Forge(Forged),
    Raw {
        to_server: bool,
        bytes: Vec<u8>,
    },
    Advance {
        millis: u16,
    },
    /// Jump to the earlier of the two endpoints' next timers.
    NextTimer,
    Write {
        server: bool,
        conn: u8,
        len: u16,
    },
    Read {
        server: bool,
        conn: u8,
        len: u16,
    },
    Close {
        server: bool,
        conn: u8,
    },
    Abort {
        server: bool,
        conn: u8,
    },
    Connect,
}

#[derive(Debug, Arbitrary)]
struct Input {
    setup: Setup,
    steps: Vec<Step>,
}

/// Byte `offset` of the stream from the client's port `port` (`up`) or
/// to it: a hash, so a byte out of place shows.
fn pattern(port: u16, up: bool, offset: u64) -> u8 {
    // SplitMix64's finalizer: no short period, so a byte shifted by any
    // distance shows within a few bytes.
    let mut z = offset ^ (u64::from(port) << 40) ^ (u64::from(up) << 56);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u8
}

struct Side {
    ep: Endpoint,
    /// Packets this side sent, not yet delivered.
    queue: VecDeque<Vec<u8>>,
    /// Connections the application knows, in order of appearance.
    conns: Vec<ConnHandle>,
    /// Bytes read per connection.
    read: HashMap<ConnHandle, u64>,
    /// Something forged that could carry data reached this side.
    tainted: bool,
}

struct World {
    now: Instant,
    client: Side,
    server: Side,
    /// Bytes written into each stream: (client port, upload) -> the
    /// writing connection, count. A server connection on a tuple that had
    /// an earlier one (a forged SYN's, reset) starts a new stream.
    written: HashMap<(u16, bool), (ConnHandle, u64)>,
    next_port: u16,
    max_connections: usize,
    send_cap: usize,
    recv_cap: usize,
    max_subflows: usize,
    buf: Vec<u8>,
    /// FUZZ_DEBUG: print every delivered packet.
    debug: bool,
}

impl World {
    fn side(&mut self, server: bool) -> &mut Side {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    /// The client port naming a connection's streams, if the connection
    /// is one between the two endpoints.
    fn stream_port(&self, server: bool, h: ConnHandle) -> Option<u16> {
        if server {
            let r = self.server.ep.remote_addr(h).ok()?;
            (r.ip() == IpAddr::V4(CLIENT) || r.ip() == IpAddr::V4(CLIENT2)).then_some(r.port())
        } else {
            let l = self.client.ep.local_addr(h).ok()?;
            Some(l.port())
        }
    }

    fn deliver(&mut self, to_server: bool, packet: &[u8]) {
        let now = self.now;
        if self.debug {
            trace(now, to_server, packet);
        }
        self.side(to_server).ep.handle_packet(now, packet);
    }

    /// Delivers something not sent by an endpoint; taints the receiver if
    /// it parses and could carry data.
    fn inject(&mut self, to_server: bool, packet: &[u8]) {
        if could_carry_data(packet) {
            self.side(to_server).tainted = true;
        }
        self.deliver(to_server, packet);
    }

    fn pump(&mut self) {
        let now = self.now;
        for server in [false, true] {
            let mut buf = std::mem::take(&mut self.buf);
            let side = self.side(server);
            for _ in 0..MAX_TX_PER_STEP {
                let Some(t) = side.ep.poll_transmit(now, &mut buf) else {
                    break;
                };
                assert!(t.len <= buf.len(), "transmit length past its buffer");
                assert!(t.len <= 1500, "packet of {} bytes past the MTU", t.len);
                if side.queue.len() >= MAX_QUEUE {
                    side.queue.pop_front();
                }
                side.queue.push_back(buf[..t.len].to_vec());
            }
            self.buf = buf;
            let mut events = 0;
            while let Some((h, e)) = self.side(server).ep.poll_event() {
                events += 1;
                assert!(
                    events <= MAX_EVENTS_PER_STEP,
                    "event queue grows without bound"
                );
                let side = self.side(server);
                if matches!(e, ConnEvent::Accepted) && side.conns.len() < 64 {
                    side.conns.push(h);
                }
            }
            while self.side(server).ep.poll_mptcp_event().is_some() {
                events += 1;
                assert!(
                    events <= MAX_EVENTS_PER_STEP,
                    "MPTCP event queue grows without bound"
                );
            }
        }
    }

    fn check(&self) {
        for side in [&self.client, &self.server] {
            let ep = &side.ep;
            assert!(
                ep.connection_count() <= self.max_connections,
                "connections past max_connections"
            );
            assert!(
                ep.half_open_count() <= ep.half_open_limit(),
                "half-open past its limit"
            );
            assert!(
                ep.mptcp_token_count() <= ep.connection_count(),
                "more tokens than connections"
            );
            for &h in &side.conns {
                let Ok(stats) = ep.stats(h) else { continue };
                // Closed subflows linger a while; the open ones are
                // within the path manager's limit, and all of them within
                // a small bound.
                let open = stats
                    .subflows
                    .iter()
                    .filter(|s| s.state != State::Closed)
                    .count();
                assert!(
                    !stats.subflows.is_empty()
                        && open <= self.max_subflows
                        && stats.subflows.len() <= MAX_SUBFLOWS_KEPT,
                    "{} subflows ({open} open), at most {} open allowed: {:?}",
                    stats.subflows.len(),
                    self.max_subflows,
                    stats.subflows.iter().map(|s| s.state).collect::<Vec<_>>()
                );
                for s in &stats.subflows {
                    assert!(
                        s.recv_buffer <= self.recv_cap,
                        "receive buffer {} past {}",
                        s.recv_buffer,
                        self.recv_cap
                    );
                    assert!(
                        s.send_buffer <= self.send_cap,
                        "send buffer {} past {}",
                        s.send_buffer,
                        self.send_cap
                    );
                    assert!(
                        s.send_buffer_free <= s.send_buffer,
                        "free send buffer past the buffer"
                    );
                }
            }
        }
    }

    fn conn(&self, server: bool, i: u8) -> Option<ConnHandle> {
        let conns = if server {
            &self.server.conns
        } else {
            &self.client.conns
        };
        if conns.is_empty() {
            None
        } else {
            Some(conns[usize::from(i) % conns.len()])
        }
    }

    fn write(&mut self, server: bool, i: u8, len: u16) {
        let Some(h) = self.conn(server, i) else {
            return;
        };
        let Some(port) = self.stream_port(server, h) else {
            return;
        };
        let key = (port, !server);
        let off = match self.written.get(&key) {
            Some(&(writer, n)) if writer == h => n,
            _ => 0,
        };
        let len = usize::from(len % 8192);
        let data: Vec<u8> = (0..len as u64)
            .map(|k| pattern(port, !server, off + k))
            .collect();
        if let Ok(n) = self.side(server).ep.write(h, &data) {
            assert!(n <= len, "write took {n} of {len} bytes");
            self.written.insert(key, (h, off + n as u64));
        }
    }

    fn read(&mut self, server: bool, i: u8, len: u16) {
        let Some(h) = self.conn(server, i) else {
            return;
        };
        let port = self.stream_port(server, h);
        let mut buf = vec![0u8; usize::from(len % 8192) + 1];
        let Ok(n) = self.side(server).ep.read(h, &mut buf) else {
            return;
        };
        assert!(n <= buf.len());
        let side = self.side(server);
        let off = *side.read.entry(h).or_default();
        *side.read.get_mut(&h).unwrap() += n as u64;
        if side.tainted {
            return;
        }
        // Bytes only flow between the two endpoints (anything else is
        // forged, and tainted the reader).
        let port = port.expect("data from a connection of an unknown peer, untainted");
        let up = server;
        let written = self.written.get(&(port, up)).map_or(0, |w| w.1);
        assert!(
            off + n as u64 <= written,
            "read {} bytes up to {} of a stream written up to {written}",
            n,
            off + n as u64
        );
        if let Some(k) = (0..n).find(|&k| buf[k] != pattern(port, up, off + k as u64)) {
            let at = off + k as u64;
            panic!(
                "byte {at} of the stream of port {port} (upload {up}) out of place: \
                 {} bytes read from {off}; the {} bytes from it are the ones at {:?} \
                 (client port, upload, offset)",
                n,
                (n - k).min(16),
                locate(&buf[k..n.min(k + 16)], &self.written)
            );
        }
    }
}

/// Where `bytes` occur in the streams written so far (for the report of
/// a byte out of place).
fn locate(
    bytes: &[u8],
    written: &HashMap<(u16, bool), (ConnHandle, u64)>,
) -> Vec<(u16, bool, u64)> {
    let mut found = Vec::new();
    for (&(port, up), &(_, n)) in written {
        for o in 0..=n {
            if bytes
                .iter()
                .enumerate()
                .all(|(k, &b)| pattern(port, up, o + k as u64) == b)
            {
                found.push((port, up, o));
            }
        }
    }
    found
}

fn trace(now: Instant, to_server: bool, packet: &[u8]) {
    let dir = if to_server { "->server" } else { "->client" };
    let Ok((ip, payload)) = IpRepr::parse(packet) else {
        eprintln!("fuzz-debug: {now:?} {dir} unparsable IP");
        return;
    };
    match TcpRepr::parse(payload, ip.src_addr(), ip.dst_addr()) {
        Ok(t) => eprintln!(
            "fuzz-debug: {now:?} {dir} {}:{} > {}:{} {:?} seq {} ack {:?} len {} {:?}",
            ip.src_addr(),
            t.src_port,
            ip.dst_addr(),
            t.dst_port,
            t.flags,
            t.seq_number,
            t.ack_number,
            t.payload.len(),
            t.options.mptcp
        ),
        Err(e) => eprintln!("fuzz-debug: {now:?} {dir} unparsable TCP: {e}"),
    }
}

/// Whether a packet parses as TCP over IP and carries a payload or MPTCP
/// options (something that could place data in a stream).
fn could_carry_data(packet: &[u8]) -> bool {
    let Ok((ip, payload)) = IpRepr::parse(packet) else {
        return false;
    };
    let Ok(tcp) = TcpRepr::parse(payload, ip.src_addr(), ip.dst_addr()) else {
        return false;
    };
    !tcp.payload.is_empty() || !tcp.options.mptcp.is_empty()
}

/// Rewrites the TCP checksum of a packet in place (IPv4 only).
fn fix_checksum(packet: &mut [u8]) {
    let Ok((ip, _)) = IpRepr::parse(packet) else {
        return;
    };
    let (src, dst, hl) = (ip.src_addr(), ip.dst_addr(), ip.header_len());
    let seg = &mut packet[hl..];
    if seg.len() < 20 {
        return;
    }
    seg[16] = 0;
    seg[17] = 0;
    let sum = checksum::pseudo_header(src, dst, 6, seg.len() as u32);
    let c = !checksum::fold(checksum::sum(sum, seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

fn encode_options(opts: &[Opt]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in opts.iter().take(8) {
        match o {
            Opt::Nop => out.push(1),
            Opt::Mss(m) => out.extend([2, 4, (m >> 8) as u8, *m as u8]),
            Opt::WindowScale(s) => out.extend([3, 3, *s]),
            Opt::SackPermitted => out.extend([4, 2]),
            Opt::Sack(blocks) => {
                let blocks = &blocks[..blocks.len().min(4)];
                out.extend([5, 2 + 8 * blocks.len() as u8]);
                for (l, r) in blocks {
                    out.extend(l.to_be_bytes());
                    out.extend(r.to_be_bytes());
                }
            }
            Opt::Timestamps(v, e) => {
                out.extend([8, 10]);
                out.extend(v.to_be_bytes());
                out.extend(e.to_be_bytes());
            }
            Opt::Mptcp(sub, body) => {
                let body = &body[..body.len().min(36)];
                out.extend([30, 3 + body.len() as u8, *sub]);
                out.extend(body);
            }
            Opt::Raw(kind, len, body) => {
                out.extend([*kind, *len]);
                out.extend(&body[..body.len().min(38)]);
            }
        }
    }
    out.truncate(40);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// A TCP segment in an IPv4 packet, checksums right.
fn build(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, f: &Forged) -> Option<Vec<u8>> {
    let opts = encode_options(&f.options);
    let payload = &f.payload[..f.payload.len().min(1200)];
    let tcp_len = 20 + opts.len() + payload.len();
    let ip = IpRepr::new(src.ip(), dst.ip(), IpProtocol::Tcp, tcp_len, 64).ok()?;
    let hl = ip.header_len();
    let mut p = vec![0u8; hl + tcp_len];
    ip.emit(&mut p[..hl]).ok()?;
    let t = &mut p[hl..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = ((5 + opts.len() / 4) as u8) << 4;
    t[13] = f.flags;
    t[14..16].copy_from_slice(&f.window.to_be_bytes());
    t[20..20 + opts.len()].copy_from_slice(&opts);
    t[20 + opts.len()..].copy_from_slice(payload);
    fix_checksum(&mut p);
    Some(p)
}

fn forge(w: &World, f: &Forged) -> Option<Vec<u8>> {
    // Packets queued towards the target were sent by the other side: they
    // name the tuple and carry plausible numbers.
    let queue = if f.to_server {
        &w.client.queue
    } else {
        &w.server.queue
    };
    let (src, dst, seq, ack) = match f.target {
        Target::Queued(i) if !queue.is_empty() => {
            let p = &queue[usize::from(i) % queue.len()];
            let (ip, seg) = IpRepr::parse(p).ok()?;
            if seg.len() < 20 {
                return None;
            }
            let sport = u16::from_be_bytes([seg[0], seg[1]]);
            let dport = u16::from_be_bytes([seg[2], seg[3]]);
            let seq = u32::from_be_bytes(seg[4..8].try_into().ok()?);
            let ack = u32::from_be_bytes(seg[8..12].try_into().ok()?);
            (
                SocketAddr::new(ip.src_addr(), sport),
                SocketAddr::new(ip.dst_addr(), dport),
                seq,
                ack,
            )
        }
        Target::Queued(_) => return None,
        Target::Listener {
            src_port,
            second_addr,
        } => {
            let (peer, me, port) = if f.to_server {
                (
                    if second_addr { CLIENT2 } else { CLIENT },
                    if second_addr { SERVER2 } else { SERVER },
                    PORT,
                )
            } else {
                (SERVER, CLIENT, FIRST_PORT)
            };
            (
                SocketAddr::new(IpAddr::V4(peer), src_port),
                SocketAddr::new(IpAddr::V4(me), port),
                0,
                0,
            )
        }
    };
    build(
        src,
        dst,
        seq.wrapping_add(f.seq_delta as u32),
        ack.wrapping_add(f.ack_delta as u32),
        f,
    )
}

fn config(s: &Setup) -> (EndpointConfig, usize, usize) {
    let mut c = EndpointConfig {
        mptcp: s.mptcp,
        syn_cookies: match s.cookies % 3 {
            0 => SynCookies::Never,
            1 => SynCookies::WhenFull,
            _ => SynCookies::Always,
        },
        max_connections: 2 + usize::from(s.max_connections % 7),
        max_half_open: 1 + usize::from(s.max_half_open % 4),
        max_pending_rsts: 8,
        ..EndpointConfig::default()
    };
    c.conn.checksum = s.checksum;
    let send = BUFFERS[usize::from(s.send_buf) % BUFFERS.len()];
    let recv = BUFFERS[usize::from(s.recv_buf) % BUFFERS.len()];
    c.set_buffers(Some(send), Some(recv), s.autotune);
    (c, send, recv)
}

fn run(input: Input) {
    // `FUZZ_DEBUG=1 <binary> <crash file>` shows the steps of an input,
    // and what was verified.
    let debug = std::env::var_os("FUZZ_DEBUG").is_some();
    if debug {
        eprintln!("{input:#?}");
    }
    let (base, send_cap, recv_cap) = config(&input.setup);
    let mut client_cfg = base.clone();
    if input.setup.join {
        client_cfg.conn.pm.local_addrs = vec![IpAddr::V4(CLIENT2)];
    }
    let mut server_cfg = base.clone();
    if input.setup.announce {
        server_cfg.conn.pm.announce = vec![SocketAddr::new(IpAddr::V4(SERVER2), PORT)];
        client_cfg.conn.pm.limits.add_addr_accepted = 1;
    }
    let max_subflows = 1 + client_cfg
        .conn
        .pm
        .limits
        .subflows
        .max(server_cfg.conn.pm.limits.subflows);
    let side = |cfg: EndpointConfig, seed| Side {
        ep: Endpoint::with_seed(cfg, seed),
        queue: VecDeque::new(),
        conns: Vec::new(),
        read: HashMap::new(),
        tainted: false,
    };
    let mut w = World {
        now: Instant::ZERO,
        client: side(client_cfg, 1),
        server: side(server_cfg, 2),
        written: HashMap::new(),
        next_port: 0,
        max_connections: base.max_connections,
        send_cap,
        recv_cap,
        max_subflows,
        buf: Vec::with_capacity(2048),
        debug,
    };
    w.server
        .ep
        .listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT))
        .expect("listen");
    connect(&mut w);
    w.pump();
    w.check();

    for step in input.steps.into_iter().take(MAX_STEPS) {
        match step {
            Step::Deliver { to_server, index }
            | Step::Duplicate { to_server, index }
            | Step::Drop { to_server, index }
                if w.side(!to_server).queue.is_empty() =>
            {
                let _ = index;
            }
            Step::Deliver { to_server, index } => {
                let q = &mut w.side(!to_server).queue;
                let p = q.remove(usize::from(index) % q.len()).unwrap();
                w.deliver(to_server, &p);
            }
            Step::Duplicate { to_server, index } => {
                let q = &w.side(!to_server).queue;
                let p = q[usize::from(index) % q.len()].clone();
                w.deliver(to_server, &p);
            }
            Step::Drop { to_server, index } => {
                let q = &mut w.side(!to_server).queue;
                q.remove(usize::from(index) % q.len());
            }
            Step::Rewrite {
                to_server,
                index,
                edits,
                seq_delta,
                fix,
            } => {
                let q = &mut w.side(!to_server).queue;
                if q.is_empty() {
                    continue;
                }
                let mut p = q.remove(usize::from(index) % q.len()).unwrap();
                let hl = usize::from(p[0] & 0x0f) * 4;
                if p.len() >= hl + 20 {
                    let seq = u32::from_be_bytes(p[hl + 4..hl + 8].try_into().unwrap());
                    p[hl + 4..hl + 8]
                        .copy_from_slice(&seq.wrapping_add(seq_delta as u32).to_be_bytes());
                    for (pos, x) in edits.iter().take(8) {
                        let i = hl + usize::from(*pos) % (p.len() - hl);
                        p[i] ^= x;
                    }
                    if fix {
                        fix_checksum(&mut p);
                    }
                }
                w.inject(to_server, &p);
            }
            Step::Forge(f) => {
                if let Some(p) = forge(&w, &f) {
                    w.inject(f.to_server, &p);
                }
            }
            Step::Raw { to_server, bytes } => w.inject(to_server, &bytes),
            Step::Advance { millis } => {
                w.now += Duration::from_millis(u64::from(millis));
                let now = w.now;
                w.client.ep.handle_timeout(now);
                w.server.ep.handle_timeout(now);
            }
            Step::NextTimer => {
                let next = [w.client.ep.poll_timeout(), w.server.ep.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    w.now = w.now.max(t);
                }
                let now = w.now;
                w.client.ep.handle_timeout(now);
                w.server.ep.handle_timeout(now);
            }
            Step::Write { server, conn, len } => w.write(server, conn, len),
            Step::Read { server, conn, len } => w.read(server, conn, len),
            Step::Close { server, conn } => {
                if let Some(h) = w.conn(server, conn) {
                    let _ = w.side(server).ep.close(h);
                }
            }
            Step::Abort { server, conn } => {
                if let Some(h) = w.conn(server, conn) {
                    let _ = w.side(server).ep.abort(h);
                }
            }
            Step::Connect => connect(&mut w),
        }
        w.pump();
        w.check();
    }
    if debug {
        for (name, side) in [("client", &w.client), ("server", &w.server)] {
            eprintln!(
                "fuzz-debug: {name}: {} bytes read ({}), {} connections",
                side.read.values().sum::<u64>(),
                if side.tainted { "tainted" } else { "verified" },
                side.ep.connection_count()
            );
        }
    }
}

fn connect(w: &mut World) {
    if w.next_port >= MAX_CLIENT_CONNS {
        return;
    }
    let local = SocketAddr::new(IpAddr::V4(CLIENT), FIRST_PORT + w.next_port);
    w.next_port += 1;
    let remote = SocketAddr::new(IpAddr::V4(SERVER), PORT);
    if let Ok(h) = w.client.ep.connect(w.now, local, remote) {
        w.client.conns.push(h);
    }
}

fuzz_target!(|input: Input| run(input));
