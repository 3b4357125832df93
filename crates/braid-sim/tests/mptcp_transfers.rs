//! MPTCP transfers between two Braid endpoints over two paths (10 ms and
//! 15 ms one way, the client's second address joining) or one: every
//! scheduler carrying data both ways on both subflows, lossy paths over
//! seeds, a small send buffer, a slow reader, a path lost mid-transfer, a
//! path back from a blackout, both paths dead, a lossy single-subflow
//! transfer closed by DATA_FINs, checksum negotiation, a join refused at
//! the server's subflow limit, a join's third ACK counted as expected, a
//! subflow made backup by MP_PRIO, a server address announced and joined
//! (ADD_ADDR) then withdrawn (REMOVE_ADDR); and transfers through
//! middleboxes that rewrite DSS options or payload on the links' filters
//! (32-bit DSNs across the wrap, a mapping pointed at old data, random
//! hostile rewrites, a byte changed on one path under DSS checksums) or
//! strip the SYN/ACK's MPTCP options (fallback). These were braid-proto's
//! connection harness stories (conn/tests.rs); on the simulator, timing
//! and loss are modelled in one place. The scripted stories of single
//! segments stay in braid-proto.

mod pair;

use braid_proto::crypto;
use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, EndpointConfig, MptcpEvent};
use braid_proto::sched::SchedulerKind;
use braid_proto::tcp::CloseReason;
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{MpCapable, MptcpOption, rst_reason};
use braid_proto::wire::{IpRepr, TcpFlags, TcpRepr};
use braid_sim::middlebox::rewrite;
use braid_sim::stack::payload;
use braid_sim::{Dir, Filter, FilterVerdict, LinkConfig};
use pair::{Exchange, Net};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The server's address, on both paths.
fn server() -> SocketAddr {
    "10.0.9.1:443".parse().unwrap()
}

/// The client's first address and port.
fn client_addr() -> SocketAddr {
    "10.0.1.1:40000".parse().unwrap()
}

/// Client `10.0.1.1` over 10 ms one way, `10.0.2.1` over 15 ms, with the
/// given loss each way.
fn two_paths(loss: [f64; 2]) -> Vec<(Option<IpAddr>, LinkConfig)> {
    let link = |ms, loss| {
        LinkConfig::default()
            .delay(Duration::from_millis(ms))
            .loss(loss)
    };
    vec![
        (Some(ip("10.0.1.1")), link(10, loss[0])),
        (Some(ip("10.0.2.1")), link(15, loss[1])),
    ]
}

/// A client whose path manager joins from `10.0.2.1`.
fn multipath_client() -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.conn.pm.local_addrs = vec![ip("10.0.2.1")];
    c
}

/// The world: `b` listens on [`server`], `a` connects from `10.0.1.1`.
fn start(
    seed: u64,
    client: EndpointConfig,
    server_config: EndpointConfig,
    loss: [f64; 2],
) -> (Net, Exchange) {
    start_on(seed, client, server_config, two_paths(loss))
}

/// [`start`] on the given paths.
fn start_on(
    seed: u64,
    client: EndpointConfig,
    server_config: EndpointConfig,
    paths: Vec<(Option<IpAddr>, LinkConfig)>,
) -> (Net, Exchange) {
    let mut net = Net::with_paths(seed, client, server_config, paths);
    let ca = net.open(client_addr(), server());
    let mut x = Exchange::default();
    x.ca = Some(ca);
    (net, x)
}

/// Both sides closed normally.
fn closed_normally(net: &mut Net, both: bool) -> bool {
    let normal = ConnEvent::Closed {
        reason: CloseReason::Normal,
    };
    let a = net.events_a().iter().any(|(_, e)| *e == normal);
    a && (!both || net.events_b().iter().any(|(_, e)| *e == normal))
}

fn two_subflow_transfer(seed: u64, size: usize, sched: SchedulerKind) {
    let mut cc = multipath_client();
    cc.conn.scheduler = sched.into();
    let mut sc = EndpointConfig::default();
    sc.conn.scheduler = sched.into();
    let (mut net, mut x) = start(seed, cc, sc, [0.0; 2]);
    x.up = payload(seed, size).to_vec();
    x.down = payload(seed + 1, size / 2).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(60), |x, _| {
        x.got_up.len() == x.up.len() && x.got_down.len() == x.down.len()
    }));
    assert_eq!(x.got_up, x.up);
    assert_eq!(x.got_down, x.down);
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    let subs = net.a().subflows(ca).unwrap();
    assert_eq!(subs.len(), 2);
    assert!(subs.iter().all(|s| s.established));
    assert!(subs.iter().all(|s| s.data_sent > 0), "{subs:#?}");
    let server_subs = net.b().subflows(cb).unwrap();
    assert!(server_subs.iter().all(|s| s.data_received > 0));
    assert!(server_subs.iter().all(|s| s.data_sent > 0));
    assert_eq!(net.b().mptcp_mib(cb).unwrap().mp_join_ack_rx, 1);
}

#[test]
fn two_subflows_carry_data_min_rtt() {
    two_subflow_transfer(5, 2 << 20, SchedulerKind::MinRtt);
}

#[test]
fn two_subflows_carry_data_round_robin() {
    two_subflow_transfer(6, 1 << 20, SchedulerKind::RoundRobin);
}

#[test]
fn two_subflows_carry_data_redundant() {
    two_subflow_transfer(7, 1 << 20, SchedulerKind::Redundant);
}

#[test]
fn two_subflows_carry_data_ecf() {
    two_subflow_transfer(8, 2 << 20, SchedulerKind::Ecf);
}

#[test]
fn two_subflows_carry_data_blest() {
    two_subflow_transfer(9, 2 << 20, SchedulerKind::Blest);
}

#[test]
fn seeds_with_loss_two_paths() {
    for seed in 100..104 {
        let (mut net, mut x) = start(
            seed,
            multipath_client(),
            EndpointConfig::default(),
            [0.02, 0.03],
        );
        x.up = payload(seed, 400_000).to_vec();
        x.close_a = true;
        x.close_b = true;
        assert!(
            x.run_until(&mut net, Duration::from_secs(120), |_, net| {
                closed_normally(net, false)
            }),
            "seed {seed}"
        );
        assert_eq!(x.got_up, x.up, "seed {seed}");
    }
}

#[test]
fn small_send_buffer_reports_writable() {
    let mut cc = multipath_client();
    cc.conn.send_buffer = 32 * 1024;
    let (mut net, mut x) = start(24, cc, EndpointConfig::default(), [0.0; 2]);
    x.up = payload(24, 500_000).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(30), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up);
    let ca = x.ca.unwrap();
    assert!(net.events_a().contains(&(ca, ConnEvent::Writable)));
}

#[test]
fn slow_reader_bounds_memory_and_completes() {
    let mut sc = EndpointConfig::default();
    sc.conn.recv_buffer = 128 * 1024;
    let (mut net, mut x) = start(25, multipath_client(), sc, [0.0; 2]);
    x.up = payload(25, 1 << 20).to_vec();
    // The server application does not read for a while: the data level
    // holds at most its buffer, the rest waits in the subflows and then
    // at the sender.
    x.b_paused = true;
    x.run_until(&mut net, Duration::from_secs(3), |_, _| false);
    assert!(x.got_up.is_empty());
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    let held: u64 = net
        .b()
        .subflows(cb)
        .unwrap()
        .iter()
        .map(|s| s.data_received)
        .sum();
    assert!(held <= 128 * 1024, "data level took {held} bytes");
    let sent: u64 = net
        .a()
        .subflows(ca)
        .unwrap()
        .iter()
        .map(|s| s.data_sent)
        .sum();
    assert!(sent < x.up.len() as u64);
    x.b_paused = false;
    assert!(x.run_until(&mut net, Duration::from_secs(60), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up);
}

#[test]
fn blackout_mid_transfer_completes_by_reinjection() {
    let (mut net, mut x) = start(12, multipath_client(), EndpointConfig::default(), [0.0; 2]);
    x.up = payload(12, 1 << 20).to_vec();
    let ca = x.ca.unwrap();
    // Black the second path out while it carries data, so that data is
    // lost and only reinjection can deliver it (with nothing in flight,
    // every byte may already be at the receiver, DATA_ACKed via the
    // first path, and nothing needs reinjecting).
    assert!(x.run_until(&mut net, Duration::from_secs(10), |x, net| {
        let subs = net.a().subflows(ca).unwrap_or_default();
        x.got_up.len() > 300_000 && subs.get(1).is_some_and(|s| s.stats.bytes_in_flight > 0)
    }));
    // Both paths were in use; now the second dies for good.
    assert!(
        net.a()
            .subflows(ca)
            .unwrap()
            .iter()
            .all(|s| s.data_sent > 0)
    );
    net.blackout(1, true);
    let t0 = net.now();
    assert!(x.run_until(&mut net, Duration::from_secs(60), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up);
    assert!(net.a().mptcp_mib(ca).unwrap().reinjected_bytes > 0);
    // Bounded stall: a few RTOs, not the subflow's full timeout.
    let took = net.now() - t0;
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn path_revived_after_blackout_carries_data_again() {
    let (mut net, mut x) = start(22, multipath_client(), EndpointConfig::default(), [0.0; 2]);
    // No rate limit: enough data that the revived path (one backed-off
    // RTO away from its first retransmission) still has work when it
    // comes back.
    x.up = payload(22, 12 << 20).to_vec();
    let ten = Duration::from_secs(10);
    assert!(x.run_until(&mut net, ten, |x, _| x.got_up.len() > 200_000));
    net.blackout(0, true);
    assert!(x.run_until(&mut net, ten, |x, _| x.got_up.len() > 1_000_000));
    let ca = x.ca.unwrap();
    let before = net.a().subflows(ca).unwrap()[0].stats.bytes_acked;
    net.blackout(0, false);
    let dropped = net.sim.link_stats(net.links[0], Dir::AtoB).dropped_filter;
    assert!(dropped > 0, "the blackout dropped nothing");
    assert!(x.run_until(&mut net, Duration::from_secs(60), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up);
    let sub0 = net.a().subflows(ca).unwrap()[0];
    assert!(sub0.stats.bytes_acked > before + 100_000, "{sub0:?}");
}

/// Longer sweep: 4 MiB both ways over two lossy paths, 20 seeds.
#[test]
fn seed_sweep_4mib_bidirectional_lossy() {
    for seed in 1000..1020 {
        let (mut net, mut x) = start(
            seed,
            multipath_client(),
            EndpointConfig::default(),
            [0.03, 0.05],
        );
        x.up = payload(seed, 4 << 20).to_vec();
        x.down = payload(seed + 1, 4 << 20).to_vec();
        x.close_a = true;
        x.close_b = true;
        assert!(
            x.run_until(&mut net, Duration::from_secs(600), |_, net| {
                closed_normally(net, true)
            }),
            "seed {seed}"
        );
        assert!(x.got_up == x.up && x.got_down == x.down, "seed {seed}");
    }
}

/// One path, `10.0.1.1` over 10 ms one way, with `loss` each way.
fn one_path(loss: f64) -> Vec<(Option<IpAddr>, LinkConfig)> {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(10))
        .loss(loss);
    vec![(Some(ip("10.0.1.1")), link)]
}

/// Both sides saw `Connected`.
fn connected(net: &mut Net) -> bool {
    let up = |e: &[(ConnHandle, ConnEvent)]| e.iter().any(|(_, e)| *e == ConnEvent::Connected);
    up(&net.events_a()) && up(&net.events_b())
}

/// Every packet of every path, both ways, goes through `f` (a middlebox
/// rewriting its TCP segment; `f` returns whether it changed it).
fn rewrite_all(
    net: &mut Net,
    f: impl FnMut(&mut TcpRepr<'static>, &mut Vec<u8>) -> bool + 'static,
) {
    let f = Rc::new(RefCell::new(f));
    for &link in &net.links {
        for dir in [Dir::AtoB, Dir::BtoA] {
            let f = Rc::clone(&f);
            let filter: Filter = Box::new(move |_, p| {
                rewrite(p, |h, data| (f.borrow_mut())(h, data));
                FilterVerdict::Pass
            });
            net.sim.set_filter(link, dir, Some(filter));
        }
    }
}

/// The client's key, from the third ACK's MP_CAPABLE, if `p` is one.
fn client_key_in(p: &[u8]) -> Option<u64> {
    let (ip, bytes) = IpRepr::parse(p).ok()?;
    let seg = TcpRepr::parse(bytes, ip.src_addr(), ip.dst_addr()).ok()?;
    if seg.flags.contains(TcpFlags::SYN) {
        return None;
    }
    seg.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(MpCapable {
            sender_key: Some(k),
            receiver_key: Some(_),
            ..
        }) => Some(*k),
        _ => None,
    })
}

#[test]
fn single_subflow_transfer_and_data_fin_close_both_sides() {
    let (mut net, mut x) = start_on(
        3,
        EndpointConfig::default(),
        EndpointConfig::default(),
        one_path(0.02),
    );
    x.up = payload(3, 300_000).to_vec();
    x.down = b"bye".to_vec();
    x.close_a = true;
    x.close_b = true;
    assert!(x.run_until(&mut net, Duration::from_secs(60), |_, net| {
        closed_normally(net, true)
    }));
    assert_eq!(x.got_up, x.up);
    assert_eq!(x.got_down, b"bye");
    // Each application saw the other's DATA_FIN as the end of its stream.
    assert!(x.eof_a && x.eof_b);
    // An MPTCP connection throughout: DATA_FINs, not a fallback's FINs.
    assert!(
        net.mptcp_events_a()
            .iter()
            .all(|(_, e)| *e != MptcpEvent::Fallback)
    );
    assert!(
        net.recorder(net.b)
            .mptcp_events
            .iter()
            .all(|(_, e)| *e != MptcpEvent::Fallback)
    );
}

/// RFC 8684 section 3.1: "If either host requires the use of checksums,
/// checksums MUST be used."
#[test]
fn checksum_negotiated_if_either_side_asks() {
    for (client_asks, server_asks) in [(false, true), (true, false), (false, false)] {
        let mut cc = EndpointConfig::default();
        cc.conn.checksum = client_asks;
        let mut sc = EndpointConfig::default();
        sc.conn.checksum = server_asks;
        let (mut net, mut x) = start_on(4, cc, sc, one_path(0.0));
        x.up = payload(4, 100_000).to_vec();
        let case = format!("client asks {client_asks}, server asks {server_asks}");
        assert!(
            x.run_until(&mut net, Duration::from_secs(5), |_, net| connected(net)),
            "{case}: not connected"
        );
        let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
        let want = client_asks || server_asks;
        assert_eq!(net.a().mptcp_checksum(ca), Ok(want), "{case}");
        assert_eq!(net.b().mptcp_checksum(cb), Ok(want), "{case}");
        assert!(
            x.run_until(&mut net, Duration::from_secs(10), |x, _| {
                x.got_up.len() == x.up.len()
            }),
            "{case}"
        );
        assert_eq!(x.got_up, x.up, "{case}");
        assert_eq!(net.a().mptcp_mib(ca).unwrap().dss_checksum_error, 0);
        assert_eq!(net.b().mptcp_mib(cb).unwrap().dss_checksum_error, 0);
    }
}

/// Both paths die mid-transfer: every subflow times out and the
/// connection closes (`conn::CloseReason::SubflowsFailed`, which the
/// endpoint reports as `Timeout`, as Linux gives ETIMEDOUT), with no wrong
/// byte delivered.
#[test]
fn all_paths_dead_closes_with_subflows_failed() {
    let mut cc = multipath_client();
    cc.tcp.max_retransmissions = 3;
    let mut sc = EndpointConfig::default();
    sc.tcp.max_retransmissions = 3;
    let (mut net, mut x) = start(23, cc, sc, [0.0; 2]);
    x.up = payload(23, 1 << 20).to_vec();
    let ca = x.ca.unwrap();
    assert!(x.run_until(&mut net, Duration::from_secs(10), |x, net| {
        x.got_up.len() > 100_000
            && net
                .a()
                .subflows(ca)
                .is_ok_and(|s| s.len() == 2 && s.iter().all(|s| s.established))
    }));
    let ids: Vec<_> = net.a().subflows(ca).unwrap().iter().map(|s| s.id).collect();
    net.blackout(0, true);
    net.blackout(1, true);
    let timed_out = ConnEvent::Closed {
        reason: CloseReason::Timeout,
    };
    let closed = x.run_until(&mut net, Duration::from_secs(600), |_, net| {
        net.events_a().contains(&(ca, timed_out))
    });
    assert!(closed, "{:?}", net.events_a());
    assert!(x.got_up.len() < x.up.len());
    assert!(x.got_up[..] == x.up[..x.got_up.len()]);
    // Every subflow failed by retransmission timeout first: that is what
    // the connection's Timeout stands for.
    let events = net.mptcp_events_a();
    for id in ids {
        assert!(
            events.iter().any(|(h, e)| *h == ca
                && matches!(e, MptcpEvent::SubflowClosed { id: i, reason }
                    if *i == id && reason.tcp == CloseReason::Timeout)),
            "subflow {id:?}: {events:?}"
        );
    }
}

/// The client's key for `Net::with_paths(seed, ..)` on [`two_paths`]: the
/// client endpoint (seeded `2 * seed`, see `pair`) connects first thing,
/// so a bare handshake between two endpoints seeded the same way sends the
/// same key in its third ACK.
fn client_key_of(seed: u64) -> Option<u64> {
    let now = Instant::ZERO;
    let mut a = Endpoint::with_seed(multipath_client(), seed.wrapping_mul(2));
    let mut b = Endpoint::with_seed(EndpointConfig::default(), seed.wrapping_mul(2) + 1);
    b.listen(server()).ok()?;
    a.connect(now, client_addr(), server()).ok()?;
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf)?;
    b.handle_packet(now, &buf);
    buf.clear();
    b.poll_transmit(now, &mut buf)?;
    a.handle_packet(now, &buf);
    for _ in 0..8 {
        buf.clear();
        a.poll_transmit(now, &mut buf)?;
        if let Some(k) = client_key_in(&buf) {
            return Some(k);
        }
    }
    None
}

/// Whether an IDSN's low 32 bits are close enough below 2^32 that the
/// transfer crosses the wrap.
fn near_wrap(idsn: u64) -> bool {
    (u32::MAX - 400_000..u32::MAX - 10_000).contains(&(idsn as u32))
}

#[test]
fn thirty_two_bit_dsns_across_the_low_word_wrap() {
    let seed = (0u64..200_000)
        .find(|&s| client_key_of(s).is_some_and(|k| near_wrap(crypto::idsn(k))))
        .expect("a seed whose client IDSN is near the 32-bit wrap");
    let (mut net, mut x) = start(
        seed,
        multipath_client(),
        EndpointConfig::default(),
        [0.0; 2],
    );
    // Rewrite every DSN and DATA_ACK to its 32-bit form, as a peer that
    // sends short DSS fields would; note the client's key on the way.
    let key = Rc::new(Cell::new(None));
    let seen = Rc::clone(&key);
    rewrite_all(&mut net, move |h, _| {
        if !h.flags.contains(TcpFlags::SYN) && seen.get().is_none() {
            seen.set(h.options.mptcp.iter().find_map(|o| match o {
                MptcpOption::MpCapable(MpCapable {
                    sender_key: Some(k),
                    receiver_key: Some(_),
                    ..
                }) => Some(*k),
                _ => None,
            }));
        }
        let mut changed = false;
        for o in h.options.mptcp.iter_mut() {
            if let MptcpOption::Dss(d) = o {
                if let Some(m) = d.mapping.as_mut() {
                    m.dsn = u64::from(m.dsn as u32);
                    m.dsn_64 = false;
                    changed = true;
                }
                if let Some((a, wide)) = d.data_ack.as_mut() {
                    *a = u64::from(*a as u32);
                    *wide = false;
                    changed = true;
                }
            }
        }
        changed
    });
    x.up = payload(seed, 1 << 20).to_vec();
    x.close_a = true;
    x.close_b = true;
    let ca = x.ca.unwrap();
    let mut subflows = Vec::new();
    assert!(x.run_until(&mut net, Duration::from_secs(60), |_, net| {
        if let Ok(s) = net.a().subflows(ca) {
            subflows = s;
        }
        closed_normally(net, false)
    }));
    let idsn = crypto::idsn(key.get().expect("the client's key seen on the wire"));
    assert!(near_wrap(idsn), "IDSN {idsn:#x} not near the wrap");
    assert!(x.got_up == x.up);
    assert_eq!(subflows.len(), 2);
    assert!(subflows.iter().all(|s| s.data_sent > 0), "{subflows:#?}");
}

/// A receiver that drops data at the data level after its subflow
/// acknowledged it (Linux prunes its MPTCP receive queue under memory
/// pressure): emulated by a middlebox that, for one chunk, points the DSS
/// mapping at data delivered long ago, so the receiver's TCP acknowledges
/// the bytes and its data level discards them as duplicates. Only the
/// data-level retransmission timer can recover: the subflow has nothing
/// left to retransmit.
#[test]
fn data_level_timer_recovers_data_acked_by_the_subflow_only() {
    let (mut net, mut x) = start_on(
        31,
        EndpointConfig::default(),
        EndpointConfig::default(),
        one_path(0.0),
    );
    x.up = payload(31, 2 << 20).to_vec();
    let mut target: Option<(u64, u32)> = None;
    let moved = Rc::new(Cell::new(0u32));
    let count = Rc::clone(&moved);
    let filter: Filter = Box::new(move |_, p| {
        rewrite(p, |h, data| {
            if data.is_empty() {
                return false;
            }
            let mut changed = false;
            for o in h.options.mptcp.iter_mut() {
                let MptcpOption::Dss(d) = o else { continue };
                let Some(m) = d.mapping.as_mut() else {
                    continue;
                };
                if target.is_none() && m.subflow_seq > 300_000 {
                    target = Some((m.dsn, m.subflow_seq));
                }
                if let Some(t) = target.filter(|t| t.1 == m.subflow_seq) {
                    // Every copy the subflow sends of that chunk; a
                    // reinjection is a new chunk on the subflow.
                    m.dsn = t.0 - 200_000;
                    changed = true;
                    count.set(count.get() + 1);
                }
            }
            changed
        });
        FilterVerdict::Pass
    });
    net.sim.set_filter(net.links[0], Dir::AtoB, Some(filter));
    assert!(
        x.run_until(&mut net, Duration::from_secs(30), |x, _| {
            x.got_up.len() == x.up.len()
        }),
        "stalled at {} of {} bytes",
        x.got_up.len(),
        x.up.len()
    );
    assert!(x.got_up == x.up);
    assert!(moved.get() >= 1, "the middlebox moved no mapping");
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    assert!(net.a().mptcp_mib(ca).unwrap().data_rtx_timeouts >= 1);
    assert!(net.b().mptcp_mib(cb).unwrap().duplicate_data_bytes > 0);
}

/// Hostile options on a checksummed connection: random rewrites of MPTCP
/// options (one packet in 20, either way, on both paths) never panic and
/// never deliver a wrong byte.
#[test]
fn hostile_option_rewrites_never_corrupt() {
    let mut complete = 0;
    for seed in 0..12u64 {
        let mut cc = multipath_client();
        cc.conn.checksum = true;
        let (mut net, mut x) = start(seed + 200, cc, EndpointConfig::default(), [0.0; 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rewritten = Rc::new(Cell::new(0u32));
        let count = Rc::clone(&rewritten);
        rewrite_all(&mut net, move |h, _| {
            if !rng.random_bool(0.05) {
                return false;
            }
            count.set(count.get() + 1);
            let o = &mut h.options.mptcp;
            let pick = rng.random_range(0..9u32);
            let r = rng.next_u64();
            match (pick, o.first_mut()) {
                (0, Some(MptcpOption::Dss(d))) => {
                    if let Some(m) = d.mapping.as_mut() {
                        m.dsn = m.dsn.wrapping_add(r % 5000);
                    }
                }
                (1, Some(MptcpOption::Dss(d))) => {
                    if let Some(m) = d.mapping.as_mut() {
                        m.subflow_seq = m.subflow_seq.wrapping_add(r as u32 % 3000);
                        m.data_len = (r >> 32) as u16;
                    }
                }
                (2, Some(MptcpOption::Dss(d))) => d.data_fin = true,
                (3, _) => {
                    o.clear();
                    o.push(MptcpOption::MpFail { dsn: r });
                }
                (4, _) => {
                    o.clear();
                    o.push(MptcpOption::MpFastclose { receiver_key: r });
                }
                (5, _) => {
                    o.clear();
                    o.push(MptcpOption::RemoveAddr(std::iter::once(r as u8).collect()));
                }
                (6, _) => {
                    o.clear();
                    o.push(MptcpOption::MpPrio { backup: r & 1 == 1 });
                }
                (7, _) => {
                    o.clear();
                    o.push(MptcpOption::MpCapable(MpCapable {
                        version: 1,
                        flags: 1,
                        sender_key: Some(r),
                        receiver_key: Some(r.rotate_left(7)),
                        data_len: Some(r as u16),
                        checksum: Some(0),
                    }));
                }
                _ => o.clear(),
            }
            true
        });
        x.up = payload(seed + 200, 200_000).to_vec();
        x.run_until(&mut net, Duration::from_secs(30), |x, _| {
            x.got_up.len() == x.up.len()
        });
        assert!(rewritten.get() > 0, "seed {seed}: nothing rewritten");
        assert!(
            x.got_up[..] == x.up[..x.got_up.len()],
            "seed {seed}: corrupted byte delivered"
        );
        complete += usize::from(x.got_up.len() == x.up.len());
    }
    // Not every run is cut short: some stream was checked whole.
    assert!(complete >= 1, "no seed completed its transfer");
}

/// A server allowing no extra subflow refuses the client's join
/// (MP_TCPRST "administratively prohibited"); the data goes on the first.
#[test]
fn join_refused_over_subflow_limit() {
    let mut sc = EndpointConfig::default();
    sc.conn.pm.limits.subflows = 0;
    let (mut net, mut x) = start(8, multipath_client(), sc, [0.0; 2]);
    x.up = payload(8, 50_000).to_vec();
    let ca = x.ca.unwrap();
    // The transfer may end before the refusal (one path delay away)
    // arrives: wait for it too.
    assert!(x.run_until(&mut net, Duration::from_secs(30), |x, net| {
        x.got_up.len() == x.up.len()
            && net
                .mptcp_events_a()
                .iter()
                .any(|(_, e)| matches!(e, MptcpEvent::SubflowClosed { .. }))
    }));
    assert_eq!(x.got_up, x.up);
    let cb = x.cb.unwrap();
    assert!(net.b().mptcp_mib(cb).unwrap().mp_join_syn_limit >= 1);
    assert_eq!(net.b().subflows(cb).unwrap().len(), 1);
    assert!(net.mptcp_events_a().iter().any(|(h, e)| *h == ca
        && matches!(e, MptcpEvent::SubflowClosed { reason, .. }
            if reason.peer_reason == Some(rst_reason::PROHIBITED))));
}

/// MP_PRIO (RFC 8684 section 3.3.8): the client marks its second subflow
/// backup; the server then sends nothing on it.
#[test]
fn mp_prio_marks_subflow_backup_at_peer() {
    let (mut net, mut x) = start(18, multipath_client(), EndpointConfig::default(), [0.0; 2]);
    let ca = x.ca.unwrap();
    let joined = |net: &mut Net| {
        net.a()
            .subflows(ca)
            .is_ok_and(|s| s.len() == 2 && s[1].established)
    };
    assert!(x.run_until(&mut net, Duration::from_secs(5), |_, net| joined(net)));
    let id = net.a().subflows(ca).unwrap()[1].id;
    net.a().set_backup(ca, id, true).unwrap();
    assert!(x.run_until(&mut net, Duration::from_secs(5), |x, net| {
        x.cb.is_some_and(|cb| net.b().mptcp_mib(cb).is_ok_and(|m| m.mp_prio_rx == 1))
    }));
    let cb = x.cb.unwrap();
    assert!(net.b().subflows(cb).unwrap()[1].backup);
    // The server now sends on the regular subflow only.
    x.down = payload(18, 300_000).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(20), |x, _| {
        x.got_down.len() == x.down.len()
    }));
    assert_eq!(x.got_down, x.down);
    let subs = net.b().subflows(cb).unwrap();
    assert_eq!(subs[1].data_sent, 0, "{subs:#?}");
    assert!(subs[0].data_sent >= 300_000);
}

/// The client at `10.0.1.1` and a server with two addresses: `10.0.9.1`
/// over 10 ms one way, `10.0.9.2` over 12 ms; the server announces the
/// second (listening on both) and the client accepts one announcement.
fn announced_second_address(seed: u64, add_addr_timeout: Option<Duration>) -> (Net, Exchange) {
    let mut cc = EndpointConfig::default();
    cc.conn.pm.limits.add_addr_accepted = 1;
    let mut sc = EndpointConfig::default();
    sc.conn.pm.announce = vec![second_server()];
    if let Some(t) = add_addr_timeout {
        sc.conn.add_addr_timeout = t;
    }
    let link = |ms| LinkConfig::default().delay(Duration::from_millis(ms));
    let paths = vec![(server().ip(), link(10)), (second_server().ip(), link(12))];
    let mut net = Net::with_server_paths(seed, cc, sc, paths);
    net.b().listen(second_server()).unwrap();
    let ca = net.open(client_addr(), server());
    let mut x = Exchange::default();
    x.ca = Some(ca);
    (net, x)
}

/// The server's second address.
fn second_server() -> SocketAddr {
    "10.0.9.2:443".parse().unwrap()
}

/// ADD_ADDR (RFC 8684 section 3.4.1): announced, echoed, and joined while
/// data flows.
#[test]
fn add_addr_announced_echoed_and_joined() {
    let (mut net, mut x) = announced_second_address(9, Some(Duration::from_secs(1)));
    x.up = payload(9, 400_000).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(30), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert_eq!(x.got_up, x.up);
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    // The echo rides on a pure ACK, which reordering can make arrive
    // behind newer data and so fall outside the receive window (RFC 9293
    // section 3.10.7.4); ADD_ADDR is then retransmitted and echoed again.
    assert!(x.run_until(&mut net, Duration::from_secs(5), |_, net| {
        net.b().mptcp_mib(cb).unwrap().add_addr_echo_rx >= 1
    }));
    assert!(net.mptcp_events_a().contains(&(
        ca,
        MptcpEvent::AddrAnnounced {
            id: 1,
            addr: second_server()
        }
    )));
    assert!(net.a().mptcp_mib(ca).unwrap().add_addr_rx >= 1);
    let subs = net.a().subflows(ca).unwrap();
    assert_eq!(subs.len(), 2);
    assert!(subs[1].established);
    assert_eq!(subs[1].remote, second_server());
    // The join carried data on its own link.
    assert!(subs[1].data_sent > 0, "{subs:#?}");
    assert!(
        net.sim
            .link_stats(net.links[1], Dir::AtoB)
            .delivered_packets
            > 0
    );
}

/// REMOVE_ADDR (RFC 8684 section 3.4.2): the server withdraws the address
/// the client joined; the client closes that subflow and the data goes on
/// the first, byte-exact.
#[test]
fn remove_addr_closes_subflows_to_it() {
    let (mut net, mut x) = announced_second_address(20, None);
    let ca = x.ca.unwrap();
    assert!(x.run_until(&mut net, Duration::from_secs(10), |x, net| {
        x.cb.is_some()
            && net
                .a()
                .subflows(ca)
                .is_ok_and(|s| s.len() == 2 && s[1].established)
    }));
    let joined = net.a().subflows(ca).unwrap()[1].id;
    net.b().remove_addr(x.cb.unwrap(), &[1]).unwrap();
    x.up = payload(20, 100_000).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(20), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up);
    assert_eq!(net.a().mptcp_mib(ca).unwrap().rm_addr_rx, 1);
    let events = net.mptcp_events_a();
    assert!(
        events
            .iter()
            .any(|(h, e)| *h == ca && *e == MptcpEvent::AddrRemoved { id: 1 }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(h, e)| *h == ca
                && matches!(e, MptcpEvent::SubflowClosed { id, .. } if *id == joined)),
        "{events:?}"
    );
}

/// Found against Linux: the MP_JOIN ACK that completes a join was counted
/// as an unexpected option by the responder once the handshake had
/// consumed it.
#[test]
fn join_third_ack_is_no_unexpected_option() {
    let (mut net, mut x) = start(20, multipath_client(), EndpointConfig::default(), [0.0; 2]);
    let ca = x.ca.unwrap();
    assert!(x.run_until(&mut net, Duration::from_secs(10), |x, net| {
        x.cb.is_some()
            && net
                .a()
                .subflows(ca)
                .is_ok_and(|s| s.len() == 2 && s[1].established)
    }));
    let cb = x.cb.unwrap();
    // Let the third ACK's answer arrive too.
    x.run_until(&mut net, Duration::from_millis(100), |_, _| false);
    let (ma, mb) = (
        net.a().mptcp_mib(ca).unwrap(),
        net.b().mptcp_mib(cb).unwrap(),
    );
    assert_eq!(mb.mp_join_ack_rx, 1);
    assert_eq!(mb.unexpected_option, 0);
    assert_eq!(ma.unexpected_option, 0);
}

/// A middlebox on path 1 (client to server) changing one payload byte in
/// the first segment seen of every mapping (one change per mapping: the
/// Internet checksum, which it recomputes anyway, cannot miss a
/// single-byte change, while two changes may cancel). With DSS checksums
/// the server detects it, answers MP_FAIL and resets that subflow with
/// MP_TCPRST "middlebox interference"; the data goes on the other path,
/// never a corrupted byte.
#[test]
fn checksum_failure_on_one_path_resets_that_subflow() {
    let mut cc = multipath_client();
    cc.conn.checksum = true;
    let (mut net, mut x) = start(15, cc, EndpointConfig::default(), [0.0; 2]);
    let mut seen = HashSet::new();
    let changed = Rc::new(Cell::new(0u32));
    let count = Rc::clone(&changed);
    let filter: Filter = Box::new(move |_, p| {
        rewrite(p, |h, data| {
            if data.len() <= 10 {
                return false;
            }
            let key = h.options.mptcp.iter().find_map(|o| match o {
                MptcpOption::Dss(d) => d.mapping.map(|m| m.dsn),
                MptcpOption::MpCapable(m) => m.data_len.map(|_| 0),
                _ => None,
            });
            if !key.is_some_and(|k| seen.insert(k)) {
                return false;
            }
            data[5] = data[5].wrapping_add(1);
            count.set(count.get() + 1);
            true
        });
        FilterVerdict::Pass
    });
    net.sim.set_filter(net.links[1], Dir::AtoB, Some(filter));
    x.up = payload(15, 500_000).to_vec();
    assert!(x.run_until(&mut net, Duration::from_secs(30), |x, _| {
        x.got_up.len() == x.up.len()
    }));
    assert!(x.got_up == x.up, "never a corrupted byte");
    assert!(changed.get() >= 1, "the middlebox changed nothing");
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    let m = net.b().mptcp_mib(cb).unwrap();
    assert!(m.dss_checksum_error >= 1 && m.mp_fail_tx >= 1, "{m:?}");
    let events = net.mptcp_events_a();
    assert!(
        events.iter().any(|(h, e)| *h == ca
            && matches!(e, MptcpEvent::SubflowClosed { reason, .. }
                if reason.peer_reason == Some(rst_reason::MIDDLEBOX))),
        "{events:?}"
    );
}

/// A middlebox strips MPTCP's options from the SYN/ACK (RFC 8684 section
/// 3.7): both sides fall back to plain TCP and data goes both ways, byte
/// for byte, to the end of both streams.
#[test]
fn synack_options_stripped_falls_back_byte_exact() {
    let (mut net, mut x) = start_on(
        13,
        EndpointConfig::default(),
        EndpointConfig::default(),
        one_path(0.0),
    );
    let stripped = Rc::new(Cell::new(0u32));
    let count = Rc::clone(&stripped);
    let filter: Filter = Box::new(move |_, p| {
        rewrite(p, |h, _| {
            if !h.flags.contains(TcpFlags::SYN) || h.options.mptcp.is_empty() {
                return false;
            }
            h.options.mptcp.clear();
            count.set(count.get() + 1);
            true
        });
        FilterVerdict::Pass
    });
    net.sim.set_filter(net.links[0], Dir::BtoA, Some(filter));
    x.up = payload(13, 256 * 1024).to_vec();
    x.down = payload(14, 10_000).to_vec();
    x.close_a = true;
    x.close_b = true;
    assert!(x.run_until(&mut net, Duration::from_secs(60), |x, _| {
        x.got_up.len() == x.up.len() && x.eof_a
    }));
    assert_eq!(x.got_up, x.up);
    assert_eq!(x.got_down, x.down);
    assert_eq!(stripped.get(), 1);
    let (ca, cb) = (x.ca.unwrap(), x.cb.unwrap());
    assert_eq!(net.a().is_mptcp(ca), Ok(false));
    assert_eq!(net.b().is_mptcp(cb), Ok(false));
    assert!(net.mptcp_events_a().contains(&(ca, MptcpEvent::Fallback)));
    assert_eq!(net.a().mptcp_mib(ca).unwrap().mp_capable_active_fallback, 1);
    assert_eq!(
        net.b().mptcp_mib(cb).unwrap().mp_capable_passive_fallback,
        1
    );
}
