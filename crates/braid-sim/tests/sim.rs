//! The event loop: determinism, seeding, timers, routing, livelock.

mod common;

use braid_proto::time::{Duration, Instant};
use braid_sim::{Dir, Host, LinkConfig, QueueLimit, Sim, SimError, seed_from_env};
use common::{Cbr, Node, Sink};

/// Everything at once, on two links.
fn rich_run(seed: u64) -> (u64, u64, u64) {
    let cfg = LinkConfig::default()
        .rate_bps(10_000_000)
        .delay(Duration::from_millis(15))
        .jitter(Duration::from_millis(3), false)
        .queue(QueueLimit::Packets(20))
        .loss(0.05)
        .reorder(0.05, Duration::from_millis(4))
        .duplicate(0.05)
        .blackout(Instant::from_millis(300), Instant::from_millis(350));
    let mut sim = Sim::new(seed);
    let mut sinks = Vec::new();
    for i in 0..2 {
        let tx = sim.add_host(Node::Cbr(Cbr::new(
            800,
            1000 + 200 * i,
            Duration::from_micros(700),
        )));
        let rx = sim.add_host(Node::Sink(Sink::default()));
        sim.connect_symmetric((tx, 0), (rx, 0), cfg.clone())
            .unwrap();
        sinks.push(rx);
    }
    sim.run_until(Instant::from_secs(1)).unwrap();
    (
        sim.host(sinks[0]).sink().log_hash(),
        sim.host(sinks[1]).sink().log_hash(),
        sim.digest(),
    )
}

#[test]
fn same_seed_replays_exactly() {
    let seed = seed_from_env(1234);
    assert_eq!(rich_run(seed), rich_run(seed), "seed {seed}");
}

#[test]
fn different_seeds_differ() {
    let seed = seed_from_env(1234);
    let a = rich_run(seed);
    let b = rich_run(seed.wrapping_add(1));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    assert_ne!(a.2, b.2);
}

#[test]
fn adding_a_link_does_not_perturb_existing_ones() {
    let lossy = LinkConfig::default()
        .loss(0.2)
        .jitter(Duration::from_millis(2), true);
    let run = |extra: bool| {
        let mut sim = Sim::new(77);
        let tx = sim.add_host(Node::Cbr(Cbr::new(500, 100, Duration::from_millis(1))));
        let rx = sim.add_host(Node::Sink(Sink::default()));
        sim.connect((tx, 0), (rx, 0), lossy.clone(), LinkConfig::default())
            .unwrap();
        if extra {
            let tx2 = sim.add_host(Node::Cbr(Cbr::new(500, 100, Duration::from_millis(1))));
            let rx2 = sim.add_host(Node::Sink(Sink::default()));
            sim.connect_symmetric((tx2, 0), (rx2, 0), lossy.clone())
                .unwrap();
        }
        sim.run_until(Instant::from_secs(1)).unwrap();
        sim.host(rx).sink().log_hash()
    };
    assert_eq!(run(false), run(true));
}

#[test]
fn run_while_stops_when_condition_fails() {
    let cfg = LinkConfig::default().delay(Duration::from_millis(10));
    let (mut sim, _, rx, _) = common::pair(1, Cbr::new(100, 100, Duration::from_millis(1)), cfg);
    let stopped = sim
        .run_while(
            |s| s.host(rx).sink().arrivals.len() < 10,
            Instant::from_secs(1),
        )
        .unwrap();
    assert!(stopped);
    assert_eq!(sim.now(), Instant::from_millis(19));
    // And the deadline case.
    let stopped = sim.run_while(|_| true, Instant::from_millis(50)).unwrap();
    assert!(!stopped);
    assert_eq!(sim.now(), Instant::from_millis(50));
    assert_eq!(sim.host(rx).sink().arrivals.len(), 41);
}

/// Fires at each deadline in `pending` (earliest last), records firings.
#[derive(Debug, Default)]
struct Alarm {
    pending: Vec<Instant>,
    fired: Vec<Instant>,
}

impl Host for Alarm {
    fn handle_packet(&mut self, _: Instant, _: usize, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        self.pending.retain(|&t| t > now);
        self.fired.push(now);
    }
    fn poll_transmit(&mut self, _: Instant) -> Option<(usize, Vec<u8>)> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.pending.iter().min().copied()
    }
}

#[test]
fn timers_fire_once_and_rearm_after_host_mut() {
    let mut sim = Sim::new(1);
    let h = sim.add_host(Alarm {
        pending: vec![Instant::from_millis(100)],
        fired: Vec::new(),
    });
    sim.run_until(Instant::from_millis(10)).unwrap();
    // The test moves the alarm earlier; the old deadline must not fire.
    sim.host_mut(h).pending = vec![Instant::from_millis(50)];
    sim.run_until(Instant::from_secs(1)).unwrap();
    assert_eq!(sim.host(h).fired, vec![Instant::from_millis(50)]);
}

/// A host that never lets time advance.
#[derive(Debug)]
struct Spinner;

impl Host for Spinner {
    fn handle_packet(&mut self, _: Instant, _: usize, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<(usize, Vec<u8>)> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
}

/// Answers every packet with one packet back.
#[derive(Debug, Default)]
struct Echo {
    outbox: Vec<Vec<u8>>,
}

impl Host for Echo {
    fn handle_packet(&mut self, _: Instant, _: usize, packet: &[u8]) {
        self.outbox.push(packet.to_vec());
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<(usize, Vec<u8>)> {
        self.outbox.pop().map(|p| (0, p))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

#[test]
fn livelock_is_an_error_not_a_hang() {
    let mut sim: Sim<Box<dyn Host>> = Sim::new(42);
    sim.set_max_events_per_instant(10_000);
    sim.add_host(Box::new(Spinner));
    let err = sim.run_until(Instant::from_secs(1)).unwrap_err();
    assert!(matches!(
        err,
        SimError::Livelock {
            at: Instant::ZERO,
            seed: 42,
            ..
        }
    ));

    // Two echoes ping-ponging over zero-delay links.
    let mut sim: Sim<Box<dyn Host>> = Sim::new(43);
    sim.set_max_events_per_instant(10_000);
    let a = sim.add_host(Box::new(Echo {
        outbox: vec![vec![1]],
    }));
    let b = sim.add_host(Box::new(Echo::default()));
    sim.connect_symmetric((a, 0), (b, 0), LinkConfig::default())
        .unwrap();
    assert!(matches!(
        sim.run_until(Instant::from_secs(1)),
        Err(SimError::Livelock { .. })
    ));
}

#[test]
fn interfaces_route_to_their_links() {
    let mut sim = Sim::new(1);
    let mut cbr = Cbr::new(10, 100, Duration::from_millis(1));
    cbr.iface = 1;
    let tx = sim.add_host(Node::Cbr(cbr));
    let rx0 = sim.add_host(Node::Sink(Sink::default()));
    let rx1 = sim.add_host(Node::Sink(Sink::default()));
    let slow = LinkConfig::default().delay(Duration::from_millis(50));
    sim.connect_symmetric((tx, 0), (rx0, 0), LinkConfig::default())
        .unwrap();
    let l1 = sim.connect_symmetric((tx, 1), (rx1, 3), slow).unwrap();
    assert!(matches!(
        sim.connect_symmetric((tx, 1), (rx0, 1), LinkConfig::default()),
        Err(SimError::InterfaceInUse { iface: 1, .. })
    ));
    sim.run_until(Instant::from_secs(1)).unwrap();
    assert!(sim.host(rx0).sink().arrivals.is_empty());
    let got = &sim.host(rx1).sink().arrivals;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|a| a.1 == 3));
    assert_eq!(got[0].0, Instant::from_millis(50));
    assert_eq!(sim.link_stats(l1, Dir::AtoB).delivered_packets, 10);
    assert_eq!(sim.link_stats(l1, Dir::BtoA).delivered_packets, 0);

    // A packet on an interface with no link is counted, not delivered.
    let mut sim = Sim::new(1);
    let mut cbr = Cbr::new(3, 100, Duration::ZERO);
    cbr.iface = 7;
    sim.add_host(Node::Cbr(cbr));
    sim.run_until(Instant::from_secs(1)).unwrap();
    assert_eq!(sim.unrouted(), 3);
}

#[test]
fn simultaneous_events_keep_send_order() {
    // Ten packets sent at the same instant over a zero-delay ideal link
    // arrive at the same instant, in the order sent.
    let (mut sim, _, rx, _) =
        common::pair(1, Cbr::new(10, 100, Duration::ZERO), LinkConfig::default());
    sim.run_until(Instant::from_secs(1)).unwrap();
    let sink = sim.host(rx).sink();
    assert!(sink.times().iter().all(|&t| t == Instant::ZERO));
    assert_eq!(sink.seqs(), (0..10).collect::<Vec<_>>());
}
