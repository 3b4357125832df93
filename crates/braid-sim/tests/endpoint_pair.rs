//! Two endpoints in conversation on the simulator: handshakes, transfers
//! and closes driven through the endpoint's API, over one link of 5 ms
//! each way (no loss, no rate limit). These were braid-proto's in-memory
//! `Net` of two endpoints (endpoint/tests.rs, endpoint/cookie_tests.rs);
//! on the simulator, timing is modelled in one place. Tests of single
//! packets built by hand stay in braid-proto.

mod pair;

use braid_proto::endpoint::{
    ConnEvent, ConnHandle, EndpointConfig, EndpointError, MptcpEvent, PathError, SynCookies,
};
use braid_proto::tcp::{CloseReason, State};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::rst_reason;
use braid_proto::wire::{IpRepr, TcpRepr};
use braid_sim::{Dir, FilterVerdict};
use pair::{Net, transfer_between};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Send `n` bytes from `ca` (on a) to `cb` (on b); whether they arrived
/// byte for byte.
fn transfer(net: &mut Net, ca: ConnHandle, cb: ConnHandle, n: usize) -> bool {
    let data: Vec<u8> = (0..n as u32).map(|i| (i * 13 % 251) as u8).collect();
    let (a, b) = (net.a, net.b);
    transfer_between(net, (a, ca), (b, cb), &data)
}

fn mptcp_client(extra: &str) -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.conn.pm.local_addrs = vec![extra.parse().unwrap()];
    c
}

fn cookie_server(cookies: SynCookies, max_half_open: usize) -> EndpointConfig {
    EndpointConfig {
        syn_cookies: cookies,
        max_half_open,
        ..EndpointConfig::default()
    }
}

fn conversation(client: SocketAddr, server: SocketAddr) {
    let mut net = Net::new();
    let ca = net.open(client, server);
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a().state(ca), Ok(State::Established));
    assert_eq!(net.events_a(), vec![(ca, ConnEvent::Connected)]);
    let cb = net.events_b()[0].0;
    assert_eq!(
        net.events_b(),
        vec![(cb, ConnEvent::Accepted), (cb, ConnEvent::Connected)]
    );
    let local = net.a().local_addr(ca).unwrap();
    assert_eq!(local.ip(), client.ip());
    assert!(net.a().config().ephemeral_ports.contains(&local.port()));
    assert_eq!(net.b().remote_addr(cb), Ok(local));

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < data.len() && net.now() < Instant::from_secs(10) {
        if sent < data.len() {
            sent += net.a().write(ca, &data[sent..]).unwrap();
        }
        net.step();
        loop {
            let n = net.b().read(cb, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(got == data, "byte stream differs");

    net.a().close(ca).unwrap();
    assert_eq!(net.a().write(ca, b"x"), Err(EndpointError::SendClosed));
    let t = net.now() + Duration::from_millis(100);
    net.run_until(t);
    assert_eq!(net.b().is_read_closed(cb), Ok(true));
    net.b().close(cb).unwrap();
    let t = net.now() + Duration::from_millis(100);
    net.run_until(t);
    // b went LAST-ACK -> CLOSED and is reaped; a waits in TIME-WAIT (2 MSL).
    assert!(net.events_b().contains(&(
        cb,
        ConnEvent::Closed {
            reason: CloseReason::Normal
        }
    )));
    assert_eq!(net.b().state(cb), Err(EndpointError::UnknownConnection));
    assert_eq!(
        net.b().read(cb, &mut buf),
        Err(EndpointError::UnknownConnection)
    );
    assert_eq!(net.a().state(ca), Ok(State::TimeWait));
    let t = net.now() + Duration::from_secs(3);
    net.run_until(t);
    assert_eq!(net.a().state(ca), Err(EndpointError::UnknownConnection));
    assert_eq!(net.a().connection_count(), 0);
    assert_eq!(net.a().counters().reaped, 1);
    assert_eq!(net.a().poll_timeout(), None);
}

#[test]
fn handshake_transfer_and_close_ipv4() {
    conversation(addr("10.0.0.1:0"), addr("10.0.0.2:443"));
}

#[test]
fn handshake_transfer_and_close_ipv6() {
    conversation(addr("[2001:db8::1]:0"), addr("[2001:db8::2]:443"));
}

#[test]
fn ipv6_mss_leaves_room_for_the_larger_header() {
    let mut net = Net::new();
    // Every packet from a to b, as sent.
    let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = sent.clone();
    net.sim.set_filter(
        net.links[0],
        Dir::AtoB,
        Some(Box::new(move |_, p: &mut Vec<u8>| {
            seen.lock().unwrap().push(p.clone());
            FilterVerdict::Pass
        })),
    );
    let server = addr("[2001:db8::2]:443");
    net.b().listen(addr("[::]:443")).unwrap();
    let ca = net
        .a()
        .connect(Instant::ZERO, addr("[2001:db8::1]:0"), server)
        .unwrap();
    net.run_until(Instant::from_millis(50));
    {
        let sent = sent.lock().unwrap();
        let p = &sent[0];
        let (ip, payload) = IpRepr::parse(p).unwrap();
        let syn = TcpRepr::parse(payload, ip.src_addr(), ip.dst_addr()).unwrap();
        assert_eq!(p.len(), 40 + syn.buffer_len());
        assert_eq!(syn.options.mss, Some(1440));
    }
    net.a().write(ca, &[1; 10_000]).unwrap();
    net.run_until(Instant::from_millis(100));
    let sent = sent.lock().unwrap();
    assert!(sent.len() > 8, "the data went out: {} packets", sent.len());
    assert!(sent.iter().all(|p| p.len() <= 1500));
}

#[test]
fn abort_resets_the_peer_and_forgets_the_handle() {
    let mut net = Net::new();
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(50));
    let cb = net.events_b()[0].0;
    net.a().abort(ca).unwrap();
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a().state(ca), Err(EndpointError::UnknownConnection));
    assert!(net.events_b().contains(&(
        cb,
        ConnEvent::Closed {
            reason: CloseReason::Reset
        }
    )));
    assert_eq!(net.b().state(cb), Err(EndpointError::UnknownConnection));
    assert_eq!(net.b().connection_count(), 0);
}

/// A full table (established connections; half-open ones have their own
/// bound, see braid-proto's `cookie_tests.rs`) drops further SYNs, cookies
/// or not.
#[test]
fn syns_beyond_the_table_limit_are_dropped() {
    let server = EndpointConfig {
        max_connections: 2,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(EndpointConfig::default(), server);
    let me = addr("10.0.0.2:80");
    net.b().listen(me).unwrap();
    for i in 0..2 {
        let now = net.now();
        let c = net.a().connect(now, addr("10.0.0.1:0"), me).unwrap();
        net.run_until(now + Duration::from_millis(100));
        assert_eq!(net.a().state(c), Ok(State::Established), "client {i}");
    }
    assert_eq!(net.b().connection_count(), 2);
    let now = net.now();
    let third = net.a().connect(now, addr("10.0.0.1:0"), me).unwrap();
    net.run_until(now + Duration::from_millis(100));
    assert_eq!(net.a().state(third), Ok(State::SynSent));
    assert_eq!(net.b().connection_count(), 2);
    assert_eq!(net.b().counters().syn_table_full, 1);
    assert_eq!(net.b().counters().syn_cookies_sent, 0);
}

// ---- MPTCP (RFC 8684) through the endpoint ----

#[test]
fn mptcp_connect_to_a_closed_port_is_reset() {
    // No listener: the MP_CAPABLE SYN is answered with a RST, which the
    // application sees as a reset (connection refused), not a timeout.
    let mut net = Net::new();
    let ca = net
        .a()
        .connect(Instant::ZERO, addr("10.0.0.1:0"), addr("10.0.0.2:443"))
        .unwrap();
    net.run_until(Instant::from_millis(100));
    assert_eq!(
        net.events_a(),
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
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b()[0].0;
    assert_eq!(net.a().is_mptcp(ca), Ok(true));
    assert_eq!(net.b().is_mptcp(cb), Ok(true));
    // The full-mesh path manager joined from the second address, routed
    // by token on b.
    assert_eq!(net.a().subflows(ca).unwrap().len(), 2);
    let sb = net.b().subflows(cb).unwrap();
    assert_eq!(sb.len(), 2);
    assert_eq!(sb[1].remote.ip(), addr("10.0.0.3:1").ip());
    assert!(sb.iter().all(|s| s.established));
    assert_eq!(net.b().counters().mptcp_accepted, 1);
    assert_eq!(net.b().counters().mp_join_accepted, 1);
    assert_eq!(net.a().counters().mptcp_connected, 1);
    assert_eq!(net.a().find(sb[1].remote, sb[1].local), Some(ca));
    assert_eq!(net.b().find(sb[1].local, sb[1].remote), Some(cb));
    let ev_a = net.mptcp_events_a();
    assert!(
        ev_a.iter()
            .any(|(h, e)| *h == ca && matches!(e, MptcpEvent::SubflowEstablished { .. })),
        "{ev_a:?}"
    );
    assert!(transfer(&mut net, ca, cb, 300_000));
    let stats = net.a().stats(ca).unwrap();
    assert_eq!(stats.subflows.len(), 2);
    let carried: u64 = net
        .a()
        .subflows(ca)
        .unwrap()
        .iter()
        .map(|s| s.data_sent)
        .sum();
    assert!(carried >= 300_000);

    // DATA_FINs both ways, then the subflows close and both sides reap.
    net.a().close(ca).unwrap();
    let t = net.now() + Duration::from_millis(200);
    net.run_until(t);
    assert_eq!(net.b().is_read_closed(cb), Ok(true));
    net.b().close(cb).unwrap();
    let t = net.now() + Duration::from_secs(5);
    net.run_until(t);
    assert!(net.events_a().contains(&(
        ca,
        ConnEvent::Closed {
            reason: CloseReason::Normal
        }
    )));
    assert_eq!(net.a().connection_count(), 0);
    assert_eq!(net.b().connection_count(), 0);
    assert_eq!(
        (net.a().mptcp_token_count(), net.b().mptcp_token_count()),
        (0, 0)
    );
    assert_eq!(net.a().poll_timeout(), None);
}

#[test]
fn join_over_the_limit_gets_rst_administratively_prohibited() {
    let mut b = EndpointConfig::default();
    b.conn.pm.limits.subflows = 0;
    let mut net = Net::with_configs(mptcp_client("10.0.0.3"), b);
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(200));
    assert_eq!(net.b().counters().mp_join_refused, 1);
    assert_eq!(net.b().counters().mp_tcprst_sent, 1);
    let reasons: Vec<_> = net
        .mptcp_events_a()
        .into_iter()
        .filter_map(|(_, e)| match e {
            MptcpEvent::SubflowClosed { reason, .. } => Some(reason.peer_reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, vec![Some(rst_reason::PROHIBITED)]);
    let cb = net.events_b()[0].0;
    assert!(transfer(&mut net, ca, cb, 50_000));
}

#[test]
fn plain_tcp_client_gets_plain_tcp() {
    let a = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(a, EndpointConfig::default());
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b()[0].0;
    assert_eq!(net.events_b()[0].1, ConnEvent::Accepted);
    assert_eq!(net.b().is_mptcp(cb), Ok(false));
    assert_eq!(net.b().subflows(cb).unwrap_err(), PathError::NotMptcp);
    assert_eq!(net.b().counters().mptcp_accepted, 0);
    assert!(transfer(&mut net, ca, cb, 100_000));
}

#[test]
fn mptcp_client_falls_back_against_plain_tcp_server() {
    let b = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(mptcp_client("10.0.0.3"), b);
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(100));
    let cb = net.events_b()[0].0;
    assert_eq!(net.a().is_mptcp(ca), Ok(false));
    assert_eq!(
        net.mptcp_events_a().first(),
        Some(&(ca, MptcpEvent::Fallback))
    );
    assert_eq!(net.a().subflows(ca).unwrap().len(), 1);
    let now = net.now();
    assert_eq!(
        net.a()
            .open_subflow(ca, now, addr("10.0.0.3:0"), server, false),
        Err(PathError::NotMptcp)
    );
    assert!(transfer(&mut net, ca, cb, 100_000));
}

// ---- SYN cookies (RFC 4987; RFC 8684 section 3.1's stateless server) ----

/// The whole handshake through cookies, both stacks Braid: MPTCP, window
/// scaling and SACK survive (timestamps carry them), data flows both ways
/// byte for byte.
#[test]
fn mptcp_through_a_cookie_transfers_byte_exact() {
    let mut net = Net::with_configs(
        EndpointConfig::default(),
        cookie_server(SynCookies::Always, 16),
    );
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a().state(ca), Ok(State::Established));
    let cb = net.events_b()[0].0;
    assert_eq!(net.events_b()[0].1, ConnEvent::Accepted);
    assert_eq!(net.b().counters().syn_cookies_sent, 1);
    assert_eq!(net.b().counters().syn_cookies_accepted, 1);
    assert_eq!(net.a().is_mptcp(ca), Ok(true));
    assert_eq!(net.b().is_mptcp(cb), Ok(true));
    assert_eq!(net.b().mptcp_mib(cb).unwrap().mp_capable_bad_key, 0);
    assert!(transfer(&mut net, ca, cb, 300_000), "a -> b not byte-exact");
    // And the other way (the server's key, derived from the cookie, gives
    // its data sequence numbers).
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let (a, b) = (net.a, net.b);
    assert!(
        transfer_between(&mut net, (b, cb), (a, ca), &data),
        "b -> a not byte-exact"
    );
    let stats = net.b().stats(cb).unwrap();
    assert_eq!(net.b().half_open_count(), 0);
    assert!(stats.subflows[0].snd_wnd > 65535, "window scaling lost");
}

/// A plain TCP client through cookies.
#[test]
fn plain_tcp_through_a_cookie_transfers() {
    let client = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut net = Net::with_configs(client, cookie_server(SynCookies::Always, 16));
    let server = addr("10.0.0.2:80");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a().state(ca), Ok(State::Established));
    let cb = net.events_b()[0].0;
    assert_eq!(net.b().is_mptcp(cb), Ok(false));
    assert_eq!(net.b().counters().syn_cookies_accepted, 1);
    assert!(transfer(&mut net, ca, cb, 100_000));
}

/// A half-open connection that completes its handshake leaves the
/// half-open count (and frees its room).
#[test]
fn an_established_connection_is_no_longer_half_open() {
    let mut net = Net::with_configs(
        EndpointConfig::default(),
        cookie_server(SynCookies::WhenFull, 4),
    );
    let server = addr("10.0.0.2:443");
    let ca = net.open(addr("10.0.0.1:0"), server);
    net.step();
    assert_eq!(net.b().half_open_count(), 1);
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.a().state(ca), Ok(State::Established));
    assert_eq!(net.b().half_open_count(), 0);
    assert_eq!(net.b().connection_count(), 1);
}
