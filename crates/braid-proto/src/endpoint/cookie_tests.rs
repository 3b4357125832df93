//! SYN cookies and the half-open bound (RFC 4987; RFC 8684 section 3.1's
//! stateless server), through the endpoint. The 20,000-SYN flood is
//! `tests/syn_flood.rs`; handshakes and transfers through cookies between
//! two endpoints run on the simulator (braid-sim's `tests/endpoint_pair.rs`).

use super::tests::{drain, packet, parse, syn, v4};
use super::*;
use crate::wire::SeqNum;
use crate::wire::mptcp::MpCapable;

fn server_config(cookies: SynCookies, max_half_open: usize) -> EndpointConfig {
    EndpointConfig {
        syn_cookies: cookies,
        max_half_open,
        ..EndpointConfig::default()
    }
}

fn mpc_syn(peer: SocketAddr, me: SocketAddr) -> TcpRepr<'static> {
    let mut s = syn(peer, me);
    s.options.mptcp.push(MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: MpCapable::FLAG_HMAC_SHA256,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    }));
    s
}

/// RFC 4987 section 3.6: a SYN answered with a cookie leaves no state and
/// gets exactly one SYN-ACK, never retransmitted. The SYN-ACK still
/// carries MP_CAPABLE with a key (RFC 8684 section 3.1).
#[test]
fn cookie_syn_leaves_no_state_and_one_syn_ack() {
    let mut ep = Endpoint::with_seed(server_config(SynCookies::Always, 16), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &mpc_syn(peer, me)));
    assert_eq!(ep.connection_count(), 0);
    assert!(ep.poll_event().is_none(), "nothing to accept yet");
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (_, synack) = parse(&out[0].1);
    assert_eq!(synack.flags, TcpFlags::SYN);
    assert_eq!(synack.ack_number, Some(SeqNum(1001)));
    let mpc = synack.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m) => Some(*m),
        _ => None,
    });
    assert!(mpc.is_some_and(|m| m.sender_key.is_some()), "{synack:?}");
    assert_eq!(ep.counters().syn_cookies_sent, 1);
    assert_eq!(
        ep.poll_timeout(),
        None,
        "no timer: nothing is retransmitted"
    );
    ep.handle_timeout(Instant::from_secs(10));
    assert!(drain(&mut ep, Instant::from_secs(10)).is_empty());
}

/// A forged third ACK (wrong cookie) opens nothing and is answered with a
/// RST as any ACK to a listener (RFC 9293 section 3.10.7.2).
#[test]
fn ack_with_a_wrong_cookie_gets_rst() {
    let mut ep = Endpoint::with_seed(server_config(SynCookies::Always, 16), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &mpc_syn(peer, me)));
    let out = drain(&mut ep, Instant::ZERO);
    let (_, synack) = parse(&out[0].1);
    let ack = TcpRepr {
        seq_number: SeqNum(1001),
        ack_number: Some(synack.seq_number + 2),
        flags: TcpFlags::empty(),
        options: TcpOptions::default(),
        ..syn(peer, me)
    };
    ep.handle_packet(Instant::ZERO, &packet(peer, me, &ack));
    assert_eq!(ep.connection_count(), 0);
    assert_eq!(ep.counters().syn_cookies_invalid, 1);
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert!(parse(&out[0].1).1.flags.contains(TcpFlags::RST));
}

/// With `WhenFull`, cookies start at the half-open bound: the first SYNs
/// get state (and retransmitted SYN-ACKs), later ones cookies.
#[test]
fn cookies_start_at_the_half_open_bound() {
    let mut ep = Endpoint::with_seed(server_config(SynCookies::WhenFull, 4), 1);
    let me = v4("10.0.0.1:80");
    ep.listen(me).unwrap();
    for port in 1..=10u16 {
        let peer = SocketAddr::new("10.0.0.2".parse().unwrap(), port);
        ep.handle_packet(Instant::ZERO, &packet(peer, me, &mpc_syn(peer, me)));
    }
    assert_eq!(ep.half_open_count(), 4);
    assert_eq!(ep.connection_count(), 4);
    assert_eq!(ep.counters().syn_cookies_sent, 6);
    assert_eq!(drain(&mut ep, Instant::ZERO).len(), 10);
}

/// Without cookies, the oldest half-open connection makes room for a new
/// SYN (early drop); its application hears it closed.
#[test]
fn without_cookies_the_oldest_half_open_is_dropped() {
    let mut ep = Endpoint::with_seed(server_config(SynCookies::Never, 3), 1);
    let me = v4("10.0.0.1:80");
    ep.listen(me).unwrap();
    let mut handles = Vec::new();
    for port in 1..=5u16 {
        let peer = SocketAddr::new("10.0.0.2".parse().unwrap(), port);
        ep.handle_packet(
            Instant::from_millis(u64::from(port)),
            &packet(peer, me, &mpc_syn(peer, me)),
        );
        while let Some((h, e)) = ep.poll_event() {
            if e == ConnEvent::Accepted {
                handles.push(h);
            }
        }
    }
    assert_eq!(handles.len(), 5);
    assert_eq!(ep.half_open_count(), 3);
    assert_eq!(ep.counters().half_open_dropped, 2);
    // The two oldest are gone, the three newest remain.
    assert_eq!(ep.state(handles[0]), Err(EndpointError::UnknownConnection));
    assert_eq!(ep.state(handles[1]), Err(EndpointError::UnknownConnection));
    for h in &handles[2..] {
        assert_eq!(ep.state(*h), Ok(State::SynReceived));
    }
    assert_eq!(ep.counters().syn_cookies_sent, 0);
}

/// Half-open connections never take more than half the table, whatever
/// `max_half_open` says: with a table of 8, cookies start at 4.
#[test]
fn half_open_never_takes_more_than_half_the_table() {
    let config = EndpointConfig {
        max_connections: 8,
        ..server_config(SynCookies::WhenFull, 1024)
    };
    let mut ep = Endpoint::with_seed(config, 1);
    assert_eq!(ep.half_open_limit(), 4);
    let me = v4("10.0.0.1:80");
    ep.listen(me).unwrap();
    for port in 1..=20u16 {
        let peer = SocketAddr::new("10.0.0.2".parse().unwrap(), port);
        ep.handle_packet(Instant::ZERO, &packet(peer, me, &mpc_syn(peer, me)));
    }
    assert_eq!(ep.connection_count(), 4);
    assert_eq!(ep.counters().syn_cookies_sent, 16);
    assert_eq!(ep.counters().syn_table_full, 0);
}
