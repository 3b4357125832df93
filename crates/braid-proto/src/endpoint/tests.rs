//! Endpoint tests: packets built by hand for the demultiplexing rules, and
//! two endpoints joined by an instant in-memory wire for whole
//! conversations.

use super::*;
use crate::time::Duration;
use crate::wire::mptcp::{MptcpOption, rst_reason};
use crate::wire::{SeqNum, TcpOptions};
use rand::{RngExt, SeedableRng};

pub(super) fn v4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An IP packet carrying `seg` from `src` to `dst`.
pub(super) fn packet(src: SocketAddr, dst: SocketAddr, seg: &TcpRepr<'_>) -> Vec<u8> {
    let ip = IpRepr::new(src.ip(), dst.ip(), IpProtocol::Tcp, seg.buffer_len(), 64).unwrap();
    let mut buf = vec![0; ip.total_len()];
    ip.emit(&mut buf).unwrap();
    seg.emit(&mut buf[ip.header_len()..], src.ip(), dst.ip())
        .unwrap();
    buf
}

pub(super) fn syn(src: SocketAddr, dst: SocketAddr) -> TcpRepr<'static> {
    TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq_number: SeqNum(1000),
        ack_number: None,
        flags: TcpFlags::SYN,
        window_len: 65535,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    }
}

/// Every packet the endpoint wants to send now, parsed.
pub(super) fn drain(ep: &mut Endpoint, now: Instant) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        assert_eq!(t.len, buf.len());
        out.push((t, buf.clone()));
    }
    out
}

pub(super) fn parse(p: &[u8]) -> (IpRepr, TcpRepr<'_>) {
    let (ip, payload) = IpRepr::parse(p).unwrap();
    let tcp = TcpRepr::parse(payload, ip.src_addr(), ip.dst_addr()).unwrap();
    (ip, tcp)
}

#[test]
fn syn_to_closed_port_gets_rst() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &syn(peer, me)));
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (t, bytes) = &out[0];
    assert_eq!((t.src, t.dst), (me.ip(), peer.ip()));
    let (_, rst) = parse(bytes);
    // RFC 9293 section 3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq_number, SeqNum(0));
    assert_eq!(rst.ack_number, Some(SeqNum(1001)));
    assert_eq!((rst.src_port, rst.dst_port), (80, 5555));
    assert_eq!(ep.counters().no_socket_rst, 1);
    assert_eq!(ep.connection_count(), 0);
    assert!(ep.poll_event().is_none());
}

#[test]
fn rst_to_nothing_is_not_answered() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        ..syn(peer, me)
    };
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &rst));
    let other = v4("10.0.0.1:81");
    let rst = TcpRepr {
        dst_port: 81,
        ..rst
    };
    ep.handle_packet(Instant::ZERO, &packet(peer, other, &rst));
    assert!(drain(&mut ep, Instant::ZERO).is_empty());
    assert_eq!(ep.counters().no_socket_dropped, 2);
}

#[test]
fn ack_to_listening_port_gets_rst() {
    // RFC 9293 section 3.10.7.2: "any acknowledgment is bad ...
    // <SEQ=SEG.ACK><CTL=RST>".
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("0.0.0.0:80"));
    ep.listen(me).unwrap();
    let me = v4("10.0.0.1:80");
    let ack = TcpRepr {
        flags: TcpFlags::empty(),
        ack_number: Some(SeqNum(777)),
        ..syn(peer, me)
    };
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &ack));
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (_, rst) = parse(&out[0].1);
    assert_eq!(
        (rst.flags, rst.seq_number, rst.ack_number),
        (TcpFlags::RST, SeqNum(777), None)
    );
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn syn_to_listener_is_accepted_and_answered() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &syn(peer, me)));
    let (h, e) = ep.poll_event().unwrap();
    assert_eq!(e, ConnEvent::Accepted);
    assert_eq!(ep.state(h), Ok(State::SynReceived));
    assert_eq!(ep.remote_addr(h), Ok(peer));
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (_, synack) = parse(&out[0].1);
    assert!(synack.flags.contains(TcpFlags::SYN));
    assert_eq!(synack.ack_number, Some(SeqNum(1001)));
    // A listener on another address does not take it.
    let other = v4("10.0.0.9:80");
    ep.handle_packet(Instant::ZERO, &packet(peer, other, &syn(peer, other)));
    assert_eq!(ep.counters().no_socket_rst, 1);
    assert_eq!(ep.counters().accepted, 1);
}

#[test]
fn malformed_packets_are_counted_not_fatal() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    let good = packet(peer, me, &syn(peer, me));
    let now = Instant::ZERO;

    ep.handle_packet(now, &[]);
    ep.handle_packet(now, &good[..10]);
    ep.handle_packet(now, &[0x75; 40]);
    assert_eq!(ep.counters().malformed, 3);

    let mut bad_ip = good.clone();
    bad_ip[8] ^= 1; // TTL: the IPv4 header checksum fails
    ep.handle_packet(now, &bad_ip);
    let mut bad_tcp = good.clone();
    let last = bad_tcp.len() - 1;
    bad_tcp[last] ^= 0x40; // an option byte: the TCP checksum fails
    ep.handle_packet(now, &bad_tcp);
    assert_eq!(ep.counters().bad_checksum, 2);

    let udp = IpRepr::new(peer.ip(), me.ip(), IpProtocol::Udp, 8, 64).unwrap();
    let mut p = vec![0; udp.total_len()];
    udp.emit(&mut p).unwrap();
    ep.handle_packet(now, &p);
    assert_eq!(ep.counters().not_tcp, 1);

    // A TCP header cut short inside a valid IP packet.
    let short = IpRepr::new(peer.ip(), me.ip(), IpProtocol::Tcp, 12, 64).unwrap();
    let mut p = vec![0; short.total_len()];
    short.emit(&mut p).unwrap();
    ep.handle_packet(now, &p);
    assert_eq!(ep.counters().malformed, 4);

    // Port zero and a multicast source.
    let zero = TcpRepr {
        src_port: 0,
        ..syn(peer, me)
    };
    ep.handle_packet(now, &packet(peer, me, &zero));
    let mcast = v4("224.0.0.1:5555");
    ep.handle_packet(now, &packet(mcast, me, &syn(mcast, me)));
    assert_eq!(ep.counters().malformed, 6);

    assert_eq!(ep.counters().packets_in, 9);
    assert_eq!(ep.connection_count(), 0);
    assert!(drain(&mut ep, now).is_empty());
    // The endpoint still works.
    ep.handle_packet(now, &good);
    assert_eq!(ep.counters().accepted, 1);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    let good = packet(peer, me, &syn(peer, me));
    for i in 0..20_000u64 {
        let now = Instant::from_millis(i);
        let mut p = good.clone();
        // Flip a few bytes of a valid packet, or send pure noise.
        if rng.random_bool(0.2) {
            let n = rng.random_range(0..80);
            p = (0..n).map(|_| rng.random()).collect();
            if !p.is_empty() {
                p[0] = if rng.random_bool(0.5) { 0x45 } else { 0x60 };
            }
        } else {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..p.len());
                p[at] = rng.random();
            }
        }
        ep.handle_packet(now, &p);
        drain(&mut ep, now);
        if let Some(t) = ep.poll_timeout()
            && t <= now
        {
            ep.handle_timeout(now);
        }
        while ep.poll_event().is_some() {}
    }
    let c = ep.counters();
    assert_eq!(c.packets_in, 20_000);
    assert!(c.malformed + c.bad_checksum > 10_000, "{c:?}");
}

/// Two endpoints joined by a wire with a fixed one-way delay.
pub(super) struct Net {
    pub(super) a: Endpoint,
    pub(super) b: Endpoint,
    pub(super) now: Instant,
    pub(super) delay: Duration,
    /// (arrival, to b, packet)
    pub(super) wire: Vec<(Instant, bool, Vec<u8>)>,
    pub(super) events_a: Vec<(ConnHandle, ConnEvent)>,
    pub(super) events_b: Vec<(ConnHandle, ConnEvent)>,
}

impl Net {
    pub(super) fn new() -> Net {
        let config = EndpointConfig::default();
        Net::with_configs(config.clone(), config)
    }

    pub(super) fn with_configs(mut a: EndpointConfig, mut b: EndpointConfig) -> Net {
        a.tcp.msl = Duration::from_secs(1);
        b.tcp.msl = Duration::from_secs(1);
        Net {
            a: Endpoint::with_seed(a, 1),
            b: Endpoint::with_seed(b, 2),
            now: Instant::ZERO,
            delay: Duration::from_millis(5),
            wire: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    pub(super) fn flush(&mut self) {
        let mut buf = Vec::new();
        for to_b in [true, false] {
            let ep = if to_b { &mut self.a } else { &mut self.b };
            while ep.poll_transmit(self.now, &mut buf).is_some() {
                self.wire.push((self.now + self.delay, to_b, buf.clone()));
            }
            let events = if to_b {
                &mut self.events_a
            } else {
                &mut self.events_b
            };
            while let Some(e) = ep.poll_event() {
                events.push(e);
            }
        }
    }

    /// Advance to the next packet arrival or timer if it comes by
    /// `deadline`; false when there is none.
    pub(super) fn step_until(&mut self, deadline: Instant) -> bool {
        self.flush();
        let next_pkt = self.wire.iter().map(|w| w.0).min();
        let next = [next_pkt, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next.filter(|&t| t <= deadline) else {
            return false;
        };
        self.now = self.now.max(t);
        if next_pkt == Some(t) {
            let i = self.wire.iter().position(|w| w.0 == t).unwrap();
            let (_, to_b, p) = self.wire.remove(i);
            let ep = if to_b { &mut self.b } else { &mut self.a };
            ep.handle_packet(self.now, &p);
        } else {
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
        self.flush();
        true
    }

    pub(super) fn step(&mut self) -> bool {
        self.step_until(Instant::from_secs(1 << 20))
    }

    pub(super) fn run_until(&mut self, deadline: Instant) {
        while self.step_until(deadline) {}
        self.now = self.now.max(deadline);
    }
}

fn conversation(client: SocketAddr, server: SocketAddr) {
    let mut net = Net::new();
    net.b.listen(server).unwrap();
    let ca = net.a.connect(Instant::ZERO, client, server).unwrap();
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a.state(ca), Ok(State::Established));
    assert_eq!(net.events_a, vec![(ca, ConnEvent::Connected)]);
    let cb = net.events_b[0].0;
    assert_eq!(
        net.events_b,
        vec![(cb, ConnEvent::Accepted), (cb, ConnEvent::Connected)]
    );
    let local = net.a.local_addr(ca).unwrap();
    assert_eq!(local.ip(), client.ip());
    assert!(net.a.config().ephemeral_ports.contains(&local.port()));
    assert_eq!(net.b.remote_addr(cb), Ok(local));

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < data.len() && net.now < Instant::from_secs(10) {
        if sent < data.len() {
            sent += net.a.write(ca, &data[sent..]).unwrap();
        }
        net.step();
        loop {
            let n = net.b.read(cb, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(got == data, "byte stream differs");

    net.a.close(ca).unwrap();
    assert_eq!(net.a.write(ca, b"x"), Err(EndpointError::SendClosed));
    net.run_until(net.now + Duration::from_millis(100));
    assert_eq!(net.b.is_read_closed(cb), Ok(true));
    net.b.close(cb).unwrap();
    net.run_until(net.now + Duration::from_millis(100));
    // b went LAST-ACK -> CLOSED and is reaped; a waits in TIME-WAIT (2 MSL).
    assert!(net.events_b.contains(&(
        cb,
        ConnEvent::Closed {
            reason: CloseReason::Normal
        }
    )));
    assert_eq!(net.b.state(cb), Err(EndpointError::UnknownConnection));
    assert_eq!(
        net.b.read(cb, &mut buf),
        Err(EndpointError::UnknownConnection)
    );
    assert_eq!(net.a.state(ca), Ok(State::TimeWait));
    net.run_until(net.now + Duration::from_secs(3));
    assert_eq!(net.a.state(ca), Err(EndpointError::UnknownConnection));
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.a.counters().reaped, 1);
    assert_eq!(net.a.poll_timeout(), None);
}

#[test]
fn handshake_transfer_and_close_ipv4() {
    conversation(v4("10.0.0.1:0"), v4("10.0.0.2:443"));
}

#[test]
fn handshake_transfer_and_close_ipv6() {
    conversation(v4("[2001:db8::1]:0"), v4("[2001:db8::2]:443"));
}

#[test]
fn ipv6_mss_leaves_room_for_the_larger_header() {
    let mut net = Net::new();
    let server = v4("[2001:db8::2]:443");
    net.b.listen(v4("[::]:443")).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("[2001:db8::1]:0"), server)
        .unwrap();
    net.flush();
    let (_, _, p) = &net.wire[0];
    assert_eq!(p.len(), 40 + parse(p).1.buffer_len());
    assert_eq!(parse(p).1.options.mss, Some(1440));
    net.run_until(Instant::from_millis(50));
    net.a.write(ca, &[1; 10_000]).unwrap();
    net.flush();
    assert!(net.wire.iter().all(|w| w.2.len() <= 1500));
}

#[test]
fn abort_resets_the_peer_and_forgets_the_handle() {
    let mut net = Net::new();
    let server = v4("10.0.0.2:443");
    net.b.listen(server).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(50));
    let cb = net.events_b[0].0;
    net.a.abort(ca).unwrap();
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a.state(ca), Err(EndpointError::UnknownConnection));
    assert!(net.events_b.contains(&(
        cb,
        ConnEvent::Closed {
            reason: CloseReason::Reset
        }
    )));
    assert_eq!(net.b.state(cb), Err(EndpointError::UnknownConnection));
    assert_eq!(net.b.connection_count(), 0);
}

#[test]
fn connect_errors() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let now = Instant::ZERO;
    let server = v4("10.0.0.2:443");
    assert_eq!(
        ep.connect(now, v4("0.0.0.0:0"), server),
        Err(ConnectError::UnspecifiedLocal)
    );
    assert_eq!(
        ep.connect(now, v4("10.0.0.1:0"), v4("10.0.0.2:0")),
        Err(ConnectError::InvalidRemote)
    );
    assert_eq!(
        ep.connect(now, v4("10.0.0.1:0"), v4("[::1]:80")),
        Err(ConnectError::AddressFamilyMismatch)
    );
    ep.connect(now, v4("10.0.0.1:1234"), server).unwrap();
    assert_eq!(
        ep.connect(now, v4("10.0.0.1:1234"), server),
        Err(ConnectError::AddrInUse)
    );
    // A two-port ephemeral range runs out after two connections.
    let config = EndpointConfig {
        ephemeral_ports: 50000..=50001,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::with_seed(config, 1);
    let a = ep.connect(now, v4("10.0.0.1:0"), server).unwrap();
    let b = ep.connect(now, v4("10.0.0.1:0"), server).unwrap();
    assert_ne!(ep.local_addr(a), ep.local_addr(b));
    assert_eq!(
        ep.connect(now, v4("10.0.0.1:0"), server),
        Err(ConnectError::NoEphemeralPort)
    );
}

#[test]
fn poll_timeout_is_the_earliest_connection_timer() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let server = v4("10.0.0.2:443");
    assert_eq!(ep.poll_timeout(), None);
    ep.connect(Instant::ZERO, v4("10.0.0.1:0"), server).unwrap();
    drain(&mut ep, Instant::ZERO);
    // The SYN's retransmission timer: the initial RTO, 1 s.
    assert_eq!(ep.poll_timeout(), Some(Instant::from_secs(1)));
    ep.connect(Instant::from_millis(300), v4("10.0.0.1:0"), server)
        .unwrap();
    drain(&mut ep, Instant::from_millis(300));
    assert_eq!(ep.poll_timeout(), Some(Instant::from_secs(1)));
    ep.handle_timeout(Instant::from_secs(1));
    let out = drain(&mut ep, Instant::from_secs(1));
    assert_eq!(out.len(), 1, "only the first SYN is retransmitted");
    assert_eq!(ep.poll_timeout(), Some(Instant::from_millis(1300)));
}

/// A full table (established connections; half-open ones have their own
/// bound, see `cookie_tests.rs`) drops further SYNs, cookies or not.
#[test]
fn syns_beyond_the_table_limit_are_dropped() {
    let server = EndpointConfig {
        max_connections: 2,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(EndpointConfig::default(), server);
    let me = v4("10.0.0.2:80");
    net.b.listen(me).unwrap();
    for i in 0..2 {
        let c = net.a.connect(net.now, v4("10.0.0.1:0"), me).unwrap();
        net.run_until(net.now + Duration::from_millis(100));
        assert_eq!(net.a.state(c), Ok(State::Established), "client {i}");
    }
    assert_eq!(net.b.connection_count(), 2);
    let third = net.a.connect(net.now, v4("10.0.0.1:0"), me).unwrap();
    net.run_until(net.now + Duration::from_millis(100));
    assert_eq!(net.a.state(third), Ok(State::SynSent));
    assert_eq!(net.b.connection_count(), 2);
    assert_eq!(net.b.counters().syn_table_full, 1);
    assert_eq!(net.b.counters().syn_cookies_sent, 0);
}

// ---- MPTCP (RFC 8684) through the endpoint ----

/// Send `n` bytes from `ca` (on a) to `cb` (on b); returns whether they
/// arrived byte for byte.
pub(super) fn transfer(net: &mut Net, ca: ConnHandle, cb: ConnHandle, n: usize) -> bool {
    let data: Vec<u8> = (0..n as u32).map(|i| (i * 13 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = [0u8; 8192];
    let deadline = net.now + Duration::from_secs(20);
    while got.len() < data.len() && net.now < deadline {
        if sent < data.len() {
            sent += net.a.write(ca, &data[sent..]).unwrap();
        }
        if !net.step() {
            break;
        }
        while let Ok(n @ 1..) = net.b.read(cb, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    got == data
}

pub(super) fn mptcp_client(extra: &str) -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.conn.pm.local_addrs = vec![extra.parse().unwrap()];
    c
}

#[test]
fn mptcp_connect_to_a_closed_port_is_reset() {
    // No listener: the MP_CAPABLE SYN is answered with a RST, which the
    // application sees as a reset (connection refused), not a timeout.
    let mut net = Net::new();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), v4("10.0.0.2:443"))
        .unwrap();
    net.run_until(Instant::from_millis(100));
    assert_eq!(
        net.events_a,
        vec![(
            ca,
            ConnEvent::Closed {
                reason: CloseReason::Reset
            }
        )]
    );
}

#[test]
fn mptcp_handshake_join_transfer_and_close() {
    let mut net = Net::with_configs(mptcp_client("10.0.0.3"), EndpointConfig::default());
    let server = v4("10.0.0.2:443");
    net.b.listen(server).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b[0].0;
    assert_eq!(net.a.is_mptcp(ca), Ok(true));
    assert_eq!(net.b.is_mptcp(cb), Ok(true));
    // The full-mesh path manager joined from the second address, routed
    // by token on b.
    assert_eq!(net.a.subflows(ca).unwrap().len(), 2);
    let sb = net.b.subflows(cb).unwrap();
    assert_eq!(sb.len(), 2);
    assert_eq!(sb[1].remote.ip(), v4("10.0.0.3:1").ip());
    assert!(sb.iter().all(|s| s.established));
    assert_eq!(net.b.counters().mptcp_accepted, 1);
    assert_eq!(net.b.counters().mp_join_accepted, 1);
    assert_eq!(net.a.counters().mptcp_connected, 1);
    assert_eq!(net.a.find(sb[1].remote, sb[1].local), Some(ca));
    assert_eq!(net.b.find(sb[1].local, sb[1].remote), Some(cb));
    let mut ev_a = Vec::new();
    while let Some(e) = net.a.poll_mptcp_event() {
        ev_a.push(e);
    }
    assert!(
        ev_a.iter()
            .any(|(h, e)| *h == ca && matches!(e, MptcpEvent::SubflowEstablished { .. })),
        "{ev_a:?}"
    );
    assert!(transfer(&mut net, ca, cb, 300_000));
    let stats = net.a.stats(ca).unwrap();
    assert_eq!(stats.subflows.len(), 2);
    let carried: u64 = net
        .a
        .subflows(ca)
        .unwrap()
        .iter()
        .map(|s| s.data_sent)
        .sum();
    assert!(carried >= 300_000);

    // DATA_FINs both ways, then the subflows close and both sides reap.
    net.a.close(ca).unwrap();
    net.run_until(net.now + Duration::from_millis(200));
    assert_eq!(net.b.is_read_closed(cb), Ok(true));
    net.b.close(cb).unwrap();
    net.run_until(net.now + Duration::from_secs(5));
    assert!(net.events_a.contains(&(
        ca,
        ConnEvent::Closed {
            reason: CloseReason::Normal
        }
    )));
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.b.connection_count(), 0);
    assert_eq!(
        (net.a.table.token_count(), net.b.table.token_count()),
        (0, 0)
    );
    assert_eq!(net.a.poll_timeout(), None);
}

fn join_syn(src: SocketAddr, dst: SocketAddr, token: u32) -> TcpRepr<'static> {
    let mut s = syn(src, dst);
    s.options
        .mptcp
        .push(MptcpOption::MpJoin(crate::wire::mptcp::MpJoin::Syn {
            backup: false,
            addr_id: 1,
            token,
            nonce: 42,
        }));
    s
}

#[test]
fn join_with_unknown_token_gets_rst_with_mp_tcprst() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.9:5555"), v4("10.0.0.1:443"));
    ep.listen(me).unwrap();
    ep.handle_packet(
        Instant::ZERO,
        &packet(peer, me, &join_syn(peer, me, 0xdead_beef)),
    );
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (_, rst) = parse(&out[0].1);
    assert!(rst.flags.contains(TcpFlags::RST));
    assert_eq!(rst.ack_number, Some(SeqNum(1001)));
    assert_eq!(
        rst.options.mptcp.as_slice(),
        &[MptcpOption::MpTcpRst {
            flags: 0,
            reason: rst_reason::MPTCP_ERROR
        }]
    );
    assert_eq!(ep.counters().mp_join_no_token, 1);
    assert_eq!(ep.counters().mp_tcprst_sent, 1);
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn join_over_the_limit_gets_rst_administratively_prohibited() {
    let mut b = EndpointConfig::default();
    b.conn.pm.limits.subflows = 0;
    let mut net = Net::with_configs(mptcp_client("10.0.0.3"), b);
    let server = v4("10.0.0.2:443");
    net.b.listen(server).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(200));
    assert_eq!(net.b.counters().mp_join_refused, 1);
    assert_eq!(net.b.counters().mp_tcprst_sent, 1);
    let mut reasons = Vec::new();
    while let Some((_, e)) = net.a.poll_mptcp_event() {
        if let MptcpEvent::SubflowClosed { reason, .. } = e {
            reasons.push(reason.peer_reason);
        }
    }
    assert_eq!(reasons, vec![Some(rst_reason::PROHIBITED)]);
    let cb = net.events_b[0].0;
    assert!(transfer(&mut net, ca, cb, 50_000));
}

#[test]
fn plain_tcp_client_gets_plain_tcp() {
    let a = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(a, EndpointConfig::default());
    let server = v4("10.0.0.2:443");
    net.b.listen(server).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b[0].0;
    assert_eq!(net.events_b[0].1, ConnEvent::Accepted);
    assert_eq!(net.b.is_mptcp(cb), Ok(false));
    assert_eq!(net.b.subflows(cb).unwrap_err(), PathError::NotMptcp);
    assert_eq!(net.b.counters().mptcp_accepted, 0);
    assert!(transfer(&mut net, ca, cb, 100_000));
}

#[test]
fn mptcp_client_falls_back_against_plain_tcp_server() {
    let b = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(mptcp_client("10.0.0.3"), b);
    let server = v4("10.0.0.2:443");
    net.b.listen(server).unwrap();
    let ca = net
        .a
        .connect(Instant::ZERO, v4("10.0.0.1:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b[0].0;
    assert_eq!(net.a.is_mptcp(ca), Ok(false));
    assert_eq!(net.a.poll_mptcp_event(), Some((ca, MptcpEvent::Fallback)));
    assert_eq!(net.a.subflows(ca).unwrap().len(), 1);
    assert_eq!(
        net.a
            .open_subflow(ca, net.now, v4("10.0.0.3:0"), server, false),
        Err(PathError::NotMptcp)
    );
    assert!(transfer(&mut net, ca, cb, 100_000));
}

#[test]
fn token_collision_draws_a_new_key() {
    let server = v4("10.0.0.2:443");
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 5);
    let config = ep.conn_config(server.ip(), &ConnOptions::default());
    let open = |port: u16| {
        // The same RNG seed draws the same key, hence the same token.
        let local = SocketAddr::new(v4("10.0.0.1:1").ip(), port);
        Connection::connect(
            Instant::ZERO,
            &config,
            local,
            server,
            &mut StdRng::seed_from_u64(9),
        )
    };
    let first = open(40000);
    let taken = first.local_token();
    ep.table.insert(Slot::Mptcp(Box::new(first)));
    let mut second = open(40001);
    assert_eq!(second.local_token(), taken);
    ep.unique_token(&mut second);
    assert_ne!(second.local_token(), taken);
    assert!(!ep.table.contains_token(second.local_token()));
    assert_eq!(ep.counters().mptcp_token_collisions, 1);
    // The new key is coherent: its token and IDSN derive from it.
    assert_eq!(
        second.local_token(),
        crate::crypto::token(second.local_key())
    );
}
