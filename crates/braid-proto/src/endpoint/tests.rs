//! Endpoint tests: packets built by hand for the demultiplexing rules. Whole
//! conversations between two endpoints (handshakes, transfers, closes) run
//! on the simulator: braid-sim's `tests/endpoint_pair.rs`.

use super::*;
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
