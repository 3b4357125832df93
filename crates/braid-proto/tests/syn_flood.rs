//! A SYN flood through the sans-IO endpoint (issue #14's availability
//! check, without the network): 20,000 spoofed MP_CAPABLE SYNs at 5,000/s
//! from 20,000 addresses, while a legitimate MPTCP client connects and
//! transfers during the flood and right after it.
//!
//! What must hold (RFC 4987; RFC 8684 section 3.1's stateless server):
//! - both legitimate transfers arrive byte for byte;
//! - state stays bounded: half-open connections never exceed
//!   `max_half_open`, the table never exceeds that plus the legitimate
//!   connections, and the process's resident memory grows by at most
//!   16 MiB;
//! - SYN-ACKs sent to spoofed sources, retransmissions included, are at
//!   most 1.5 per spoofed SYN; each cookie SYN gets exactly one.
//!
//! One test in this binary, so that the resident-memory figure is its own.

use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, EndpointConfig};
use braid_proto::tcp::State;
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{MpCapable, MptcpOption};
use braid_proto::wire::{IpProtocol, IpRepr, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

const SPOOFED: u32 = 20_000;
const RATE_PER_SEC: u64 = 5_000;
const MAX_HALF_OPEN: usize = 1024;

/// Spoofed sources: 10.200.0.0/16 (never the client's 10.0.1.1).
fn spoofed_source(i: u32) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 0)) + i);
    SocketAddr::new(IpAddr::V4(ip), 1024 + (i % 60_000) as u16)
}

fn is_spoofed(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [10, 200])
}

/// A SYN as Linux sends it with MPTCP: MSS, SACK-permitted, timestamps,
/// window scale, MP_CAPABLE v1 with flag H.
fn spoofed_syn(i: u32, server: SocketAddr) -> Vec<u8> {
    let src = spoofed_source(i);
    let mut options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((i.wrapping_mul(7919), 0)),
        ..TcpOptions::default()
    };
    options.mptcp.push(MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: MpCapable::FLAG_HMAC_SHA256,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    }));
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: server.port(),
        seq_number: SeqNum(i.wrapping_mul(2_654_435_761)),
        ack_number: None,
        flags: TcpFlags::SYN,
        window_len: 64240,
        urgent_ptr: 0,
        options,
        payload: &[],
    };
    let ip = IpRepr::new(src.ip(), server.ip(), IpProtocol::Tcp, seg.buffer_len(), 64).unwrap();
    let mut p = vec![0; ip.total_len()];
    ip.emit(&mut p).unwrap();
    seg.emit(&mut p[ip.header_len()..], src.ip(), server.ip())
        .unwrap();
    p
}

/// Resident memory of this process, bytes (Linux /proc; None elsewhere).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Client and server endpoints joined by a 5 ms wire; what the server
/// sends to spoofed addresses is counted and dropped (nobody is there).
struct World {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    /// (arrival, to server, packet)
    wire: Vec<(Instant, bool, Vec<u8>)>,
    synacks_to_spoofed: u64,
    /// Most SYN-ACKs any one spoofed source got.
    max_synacks_per_source: u32,
    synacks_per_source: Vec<u32>,
    client_events: Vec<(ConnHandle, ConnEvent)>,
    server_events: Vec<(ConnHandle, ConnEvent)>,
    max_half_open: usize,
    max_connections: usize,
}

impl World {
    fn flush(&mut self) {
        let mut buf = Vec::new();
        while self.client.poll_transmit(self.now, &mut buf).is_some() {
            let at = self.now + Duration::from_millis(5);
            self.wire.push((at, true, buf.clone()));
        }
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            if is_spoofed(t.dst) {
                let (ip, tcp) = IpRepr::parse(&buf).unwrap();
                let seg = TcpRepr::parse(tcp, ip.src_addr(), ip.dst_addr()).unwrap();
                if seg.flags.contains(TcpFlags::SYN) {
                    self.synacks_to_spoofed += 1;
                    let IpAddr::V4(v4) = t.dst else { continue };
                    let i = (u32::from(v4) - u32::from(Ipv4Addr::new(10, 200, 0, 0))) as usize;
                    self.synacks_per_source[i] += 1;
                    self.max_synacks_per_source =
                        self.max_synacks_per_source.max(self.synacks_per_source[i]);
                }
                continue;
            }
            let at = self.now + Duration::from_millis(5);
            self.wire.push((at, false, buf.clone()));
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        self.max_half_open = self.max_half_open.max(self.server.half_open_count());
        self.max_connections = self.max_connections.max(self.server.connection_count());
    }

    /// Process the next packet or timer due by `deadline`, or move the
    /// clock to `deadline`.
    fn step_until(&mut self, deadline: Instant) {
        self.flush();
        let next_pkt = self.wire.iter().map(|w| w.0).min();
        let next = [
            next_pkt,
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next.filter(|&t| t <= deadline) {
            None => self.now = self.now.max(deadline),
            Some(t) => {
                self.now = self.now.max(t);
                if next_pkt == Some(t) {
                    let i = self.wire.iter().position(|w| w.0 == t).unwrap();
                    let (_, to_server, p) = self.wire.remove(i);
                    let ep = if to_server {
                        &mut self.server
                    } else {
                        &mut self.client
                    };
                    ep.handle_packet(self.now, &p);
                } else {
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
            }
        }
        self.flush();
    }
}

/// One legitimate connection's transfer: `data` from client to server.
struct Transfer {
    client: ConnHandle,
    server: Option<ConnHandle>,
    data: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
}

impl Transfer {
    fn start(w: &mut World, server: SocketAddr, len: usize, seed: u32) -> Transfer {
        let client = w
            .client
            .connect(w.now, "10.0.1.1:0".parse().unwrap(), server)
            .unwrap();
        let data = (0..len as u32)
            .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
            .collect();
        Transfer {
            client,
            server: None,
            data,
            sent: 0,
            got: Vec::new(),
        }
    }

    /// Write what fits, read what came; true once every byte arrived.
    fn pump(&mut self, w: &mut World) -> bool {
        if self.server.is_none() {
            let remote = w.client.local_addr(self.client).ok();
            self.server = w
                .server_events
                .iter()
                .map(|(h, _)| *h)
                .find(|h| w.server.remote_addr(*h).ok() == remote);
        }
        if w.client.state(self.client) == Ok(State::Established) && self.sent < self.data.len() {
            self.sent += w
                .client
                .write(self.client, &self.data[self.sent..])
                .unwrap();
        }
        if let Some(h) = self.server {
            let mut buf = [0u8; 16384];
            while let Ok(n @ 1..) = w.server.read(h, &mut buf) {
                self.got.extend_from_slice(&buf[..n]);
            }
        }
        self.got.len() >= self.data.len()
    }
}

#[test]
fn listener_survives_a_syn_flood_and_serves_during_and_after() {
    let rss_before = rss_bytes();
    let server_addr: SocketAddr = "10.0.2.1:443".parse().unwrap();
    let server_config = EndpointConfig {
        max_half_open: MAX_HALF_OPEN,
        ..EndpointConfig::default()
    };
    let mut w = World {
        client: Endpoint::with_seed(EndpointConfig::default(), 1),
        server: Endpoint::with_seed(server_config, 2),
        now: Instant::ZERO,
        wire: Vec::new(),
        synacks_to_spoofed: 0,
        max_synacks_per_source: 0,
        synacks_per_source: vec![0; SPOOFED as usize],
        client_events: Vec::new(),
        server_events: Vec::new(),
        max_half_open: 0,
        max_connections: 0,
    };
    w.server.listen(server_addr).unwrap();
    let interval = Duration::from_micros(1_000_000 / RATE_PER_SEC);
    let flood_start = Instant::from_millis(10);
    let syn_at = |i: u32| flood_start + interval * i;
    let flood_end = syn_at(SPOOFED);

    let mut during: Option<Transfer> = None;
    let mut after: Option<Transfer> = None;
    let (mut during_done, mut after_done) = (None, None);
    let mut next_syn = 0u32;
    // Bounded: the flood lasts 4 s; everything is over well before 240 s
    // of virtual time (the last half-open SYN-ACK retransmission is about
    // 127 s after its SYN), and each loop turn moves the clock or handles
    // one event.
    let end = Instant::from_secs(240);
    let during_start = Instant::from_secs(1);
    let mut turns = 0u64;
    while w.now < end {
        turns += 1;
        assert!(turns < 5_000_000, "the simulation does not progress");
        while next_syn < SPOOFED && syn_at(next_syn) <= w.now {
            let p = spoofed_syn(next_syn, server_addr);
            w.server.handle_packet(w.now, &p);
            next_syn += 1;
        }
        // The legitimate client connects 1 s into the flood (half-open
        // full, cookies in use) and again right after it.
        if during.is_none() && w.now >= during_start {
            during = Some(Transfer::start(&mut w, server_addr, 200_000, 1));
        }
        if after.is_none() && w.now >= flood_end {
            after = Some(Transfer::start(&mut w, server_addr, 200_000, 2));
        }
        if let Some(t) = during.as_mut()
            && during_done.is_none()
            && t.pump(&mut w)
        {
            during_done = Some(w.now);
        }
        if let Some(t) = after.as_mut()
            && after_done.is_none()
            && t.pump(&mut w)
        {
            after_done = Some(w.now);
        }
        let deadline = [
            (next_syn < SPOOFED).then(|| syn_at(next_syn)),
            during.is_none().then_some(during_start),
            after.is_none().then_some(flood_end),
            Some(end),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end);
        w.step_until(deadline);
    }
    let rss_after = rss_bytes();

    let during = during.unwrap();
    let after = after.unwrap();
    let during_done = during_done.expect("the transfer during the flood never completed");
    let after_done = after_done.expect("the transfer after the flood never completed");
    assert!(
        during.got == during.data,
        "transfer during the flood not byte-exact"
    );
    assert!(
        after.got == after.data,
        "transfer after the flood not byte-exact"
    );
    let c = *w.server.counters();
    let synacks_per_syn = w.synacks_to_spoofed as f64 / f64::from(SPOOFED);
    let rss_growth = rss_before.zip(rss_after).map(|(b, a)| a.saturating_sub(b));
    println!(
        "syn flood: {SPOOFED} spoofed SYNs at {RATE_PER_SEC}/s; transfer during the flood done at \
         {during_done:?} (started 1 s), after it at {after_done:?} (flood ended {flood_end:?}); \
         SYN-ACKs to spoofed sources {} ({synacks_per_syn:.3} per SYN, at most {} to one source); \
         cookies sent {}, accepted {}; half-open at most {}, table at most {}; resident memory \
         growth {:?} KiB",
        w.synacks_to_spoofed,
        w.max_synacks_per_source,
        c.syn_cookies_sent,
        c.syn_cookies_accepted,
        w.max_half_open,
        w.max_connections,
        rss_growth.map(|g| g / 1024),
    );
    // The client got through during the flood by a cookie.
    assert!(c.syn_cookies_accepted >= 1, "{c:?}");
    assert!(during_done < flood_end, "served only after the flood");
    assert!(
        after_done < flood_end + Duration::from_secs(1),
        "slow to serve after the flood"
    );
    // Bounded state.
    assert!(w.max_half_open <= MAX_HALF_OPEN);
    assert!(w.max_connections <= MAX_HALF_OPEN + 2);
    assert_eq!(w.server.half_open_count(), 0, "half-open left at the end");
    // One SYN-ACK per cookie SYN; the stateful ones retransmit, and all of
    // it stays within 1.5 per spoofed SYN.
    assert_eq!(
        c.syn_cookies_sent + MAX_HALF_OPEN as u64,
        u64::from(SPOOFED) + 2,
        "every spoofed SYN past the bound, and both clients' SYNs, got a cookie"
    );
    assert!(synacks_per_syn <= 1.5, "{synacks_per_syn}");
    if let Some(g) = rss_growth {
        assert!(g <= 16 << 20, "resident memory grew {g} bytes");
    }
}
