//! MPTCP transfers between two Braid endpoints over two paths (10 ms and
//! 15 ms one way, the client's second address joining): every scheduler
//! carrying data both ways on both subflows, lossy paths over seeds, a
//! small send buffer, a slow reader, a path lost mid-transfer, a path back
//! from a blackout. These were braid-proto's connection
//! harness stories (conn/tests.rs); on the simulator, timing and loss are
//! modelled in one place. The scripted stories that rewrite segments stay
//! in braid-proto.

mod pair;

use braid_proto::endpoint::{ConnEvent, EndpointConfig};
use braid_proto::sched::SchedulerKind;
use braid_proto::tcp::CloseReason;
use braid_proto::time::Duration;
use braid_sim::stack::payload;
use braid_sim::{Dir, LinkConfig};
use pair::{Exchange, Net};
use std::net::{IpAddr, SocketAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The server's address, on both paths.
fn server() -> SocketAddr {
    "10.0.9.1:443".parse().unwrap()
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
    let mut net = Net::with_paths(seed, client, server_config, two_paths(loss));
    let ca = net.open("10.0.1.1:40000".parse().unwrap(), server());
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
