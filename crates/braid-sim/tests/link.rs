//! Link behaviour, one impairment per test, with constant-bit-rate senders
//! and a recording sink.

mod common;

use braid_proto::time::{Duration, Instant};
use braid_sim::{Dir, FilterVerdict, LinkConfig, QueueLimit, seed_from_env};
use common::{Cbr, inversions, pair};

const MS: Duration = Duration::from_millis(1);

#[test]
fn rate_serializes_1000_packets_in_one_second() {
    // 1000 x 1500 B at 12 Mbit/s = 12 Mbit = exactly 1 s of serialization.
    let cfg = LinkConfig::default().rate_bps(12_000_000);
    let (mut sim, _, rx, link) = pair(1, Cbr::new(1000, 1500, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(2)).unwrap();
    let times = sim.host(rx).sink().times();
    assert_eq!(times.len(), 1000);
    assert_eq!(times[0], Instant::from_millis(1));
    assert_eq!(times[999], Instant::from_secs(1));
    // Back to back, one per millisecond.
    assert!(times.windows(2).all(|w| w[1] - w[0] == MS));
    let stats = sim.link_stats(link, Dir::AtoB);
    assert_eq!(stats.delivered_bytes, 1_500_000);
    assert_eq!(stats.max_queue_packets, 1000);
    let bps = stats.throughput_bps(Instant::ZERO, Instant::from_secs(1));
    assert!((bps - 12e6).abs() < 0.01 * 12e6, "{bps}");
}

#[test]
fn propagation_delay_is_exact() {
    let cfg = LinkConfig::default().delay(Duration::from_micros(37_123));
    let (mut sim, _, rx, _) = pair(1, Cbr::new(50, 100, Duration::from_micros(777)), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    let arrivals = &sim.host(rx).sink().arrivals;
    assert_eq!(arrivals.len(), 50);
    for &(t, _, seq, _) in arrivals {
        let sent = Instant::from_micros(seq * 777);
        assert_eq!(t - sent, Duration::from_micros(37_123), "seq {seq}");
    }
}

#[test]
fn rate_and_delay_add_up() {
    let cfg = LinkConfig::default()
        .rate_bps(1_000_000)
        .delay(Duration::from_millis(20));
    let (mut sim, _, rx, _) = pair(1, Cbr::new(1, 1000, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    // 8000 bits at 1 Mbit/s = 8 ms, plus 20 ms.
    assert_eq!(sim.host(rx).sink().times(), vec![Instant::from_millis(28)]);
}

#[test]
fn drop_tail_by_packets_counts_drops() {
    let cfg = LinkConfig::default()
        .rate_bps(12_000_000)
        .queue(QueueLimit::Packets(10));
    let (mut sim, _, rx, link) = pair(1, Cbr::new(100, 1500, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    // The first ten (the one in service included) fit; the tail is dropped.
    assert_eq!(sim.host(rx).sink().seqs(), (0..10).collect::<Vec<_>>());
    let stats = sim.link_stats(link, Dir::AtoB);
    assert_eq!(stats.dropped_queue, 90);
    assert_eq!(stats.dropped(), 90);
    assert_eq!(stats.max_queue_packets, 10);
    assert_eq!(stats.max_queue_bytes, 15_000);
}

#[test]
fn drop_tail_by_bytes_drains_and_refills() {
    // 2 packets of 1500 B fit in 3000 B; the sender offers 2 per ms at 12
    // Mbit/s (1 per ms drains): the queue stays full and half is dropped.
    let cfg = LinkConfig::default()
        .rate_bps(12_000_000)
        .queue(QueueLimit::Bytes(3000));
    let (mut sim, _, rx, link) = pair(1, Cbr::new(200, 1500, Duration::from_micros(500)), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    let stats = sim.link_stats(link, Dir::AtoB);
    let got = sim.host(rx).sink().arrivals.len() as u64;
    assert_eq!(got + stats.dropped_queue, 200);
    assert!((99..=102).contains(&got), "{got}");
    assert_eq!(stats.max_queue_bytes, 3000);
}

#[test]
fn one_percent_loss_over_100k_packets() {
    let seed = seed_from_env(11);
    let cfg = LinkConfig::default().loss(0.01);
    let (mut sim, _, rx, link) = pair(seed, Cbr::new(100_000, 8, Duration::from_micros(10)), cfg);
    sim.run_until(Instant::from_secs(2)).unwrap();
    let stats = sim.link_stats(link, Dir::AtoB);
    // sigma = sqrt(1e5 * 0.01 * 0.99) ~ 31.5; allow 6 sigma.
    assert!(
        (810..=1190).contains(&stats.dropped_loss),
        "seed {seed}: {} lost",
        stats.dropped_loss
    );
    assert_eq!(
        sim.host(rx).sink().arrivals.len() as u64 + stats.dropped_loss,
        100_000
    );
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let seed = seed_from_env(3);
    let cfg = LinkConfig::default()
        .rate_bps(12_000_000)
        .delay(Duration::from_millis(10))
        .reorder(0.1, Duration::from_millis(5));
    let (mut sim, _, rx, link) = pair(seed, Cbr::new(1000, 1500, MS), cfg);
    sim.run_until(Instant::from_secs(2)).unwrap();
    let seqs = sim.host(rx).sink().seqs();
    assert_eq!(seqs.len(), 1000);
    let reordered = sim.link_stats(link, Dir::AtoB).reordered;
    assert!((50..=150).contains(&reordered), "seed {seed}: {reordered}");
    assert!(
        inversions(&seqs) > 0,
        "seed {seed}: no out-of-order arrival"
    );
    // A reordered packet is overtaken by the ~5 sent after it.
    assert!(inversions(&seqs) as u64 <= reordered);
}

#[test]
fn duplication_thirty_percent() {
    let seed = seed_from_env(5);
    let cfg = LinkConfig::default().duplicate(0.3);
    let (mut sim, _, rx, link) = pair(seed, Cbr::new(10_000, 8, Duration::from_micros(10)), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    let seqs = sim.host(rx).sink().seqs();
    let dups = seqs.len() as u64 - 10_000;
    // sigma = sqrt(1e4 * 0.3 * 0.7) ~ 46; allow 6 sigma.
    assert!((2724..=3276).contains(&dups), "seed {seed}: {dups}");
    assert_eq!(sim.link_stats(link, Dir::AtoB).duplicated, dups);
    // Every packet arrives at least once, a copy right after its original.
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(unique, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn blackout_passes_nothing_then_resumes() {
    let cfg = LinkConfig::default()
        .rate_bps(12_000_000)
        .delay(Duration::from_millis(10))
        .blackout(Instant::from_secs(1), Instant::from_secs(2));
    let (mut sim, _, rx, link) = pair(1, Cbr::new(3000, 1500, MS), cfg);
    sim.run_until(Instant::from_secs(4)).unwrap();
    let times = sim.host(rx).sink().times();
    let (t1, t2) = (Instant::from_secs(1), Instant::from_secs(2));
    assert!(times.iter().all(|&t| t < t1 || t >= t2));
    // Last before: sent at 989 ms, arrives at 1000 ms - not inside; first
    // after: sent at 2000 ms, arrives 2011 ms.
    let before = times.iter().filter(|&&t| t < t1).count();
    let after: Vec<_> = times.iter().filter(|&&t| t >= t2).collect();
    assert_eq!(*after[0], Instant::from_millis(2011));
    assert_eq!(after.len(), 1000);
    let stats = sim.link_stats(link, Dir::AtoB);
    assert_eq!(
        before as u64 + after.len() as u64 + stats.dropped_blackout,
        3000
    );
    assert!(stats.dropped_blackout >= 1000);
}

#[test]
fn blackout_flushes_the_queue() {
    // 100 packets queued at t=0 on a 12 Mbit/s link take 100 ms; a blackout
    // [50 ms, 60 ms) drops the ~50 still queued, and a packet sent after it
    // is not delayed behind them.
    let cfg = LinkConfig::default()
        .rate_bps(12_000_000)
        .blackout(Instant::from_millis(50), Instant::from_millis(60));
    let (mut sim, tx, rx, link) = pair(1, Cbr::new(100, 1500, Duration::ZERO), cfg);
    sim.run_until(Instant::from_millis(70)).unwrap();
    if let common::Node::Cbr(c) = sim.host_mut(tx) {
        c.count = 101;
        c.next_at = Instant::from_millis(70);
    }
    sim.run_until(Instant::from_secs(1)).unwrap();
    let sink = sim.host(rx).sink();
    assert_eq!(sink.arrivals.len(), 50);
    let last = sink.arrivals.last().unwrap();
    assert_eq!((last.0, last.2), (Instant::from_millis(71), 100));
    assert_eq!(sim.link_stats(link, Dir::AtoB).dropped_blackout, 51);
}

#[test]
fn jitter_alone_never_reorders() {
    let seed = seed_from_env(9);
    let cfg = LinkConfig::default()
        .rate_bps(100_000_000)
        .delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(10), false);
    let (mut sim, _, rx, _) = pair(seed, Cbr::new(2000, 1200, Duration::from_micros(500)), cfg);
    sim.run_until(Instant::from_secs(2)).unwrap();
    let sink = sim.host(rx).sink();
    assert_eq!(sink.seqs(), (0..2000).collect::<Vec<_>>(), "seed {seed}");
    // The jitter is real: one-way delays vary (the FIFO clamp pushes dense
    // traffic towards the upper bound, so the spread is less than 10 ms).
    let delays: Vec<u64> = sink
        .arrivals
        .iter()
        .map(|&(t, _, seq, _)| (t - Instant::from_micros(seq * 500)).as_micros() as u64)
        .collect();
    let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
    assert!(
        *lo >= 20_000 && *hi <= 30_100 && hi - lo > 5_000,
        "{lo}..{hi}"
    );
}

#[test]
fn jitter_may_reorder_when_allowed() {
    let cfg = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(10), true);
    let (mut sim, _, rx, _) = pair(9, Cbr::new(2000, 100, Duration::from_micros(500)), cfg);
    sim.run_until(Instant::from_secs(2)).unwrap();
    assert!(inversions(&sim.host(rx).sink().seqs()) > 100);
}

#[test]
fn filter_rewrites_and_drops() {
    let (mut sim, _, rx, link) = pair(1, Cbr::new(10, 20, MS), LinkConfig::default());
    sim.set_filter(
        link,
        Dir::AtoB,
        Some(Box::new(|_now, packet: &mut Vec<u8>| {
            if packet[7] % 2 == 0 {
                return FilterVerdict::Drop;
            }
            packet.truncate(12);
            FilterVerdict::Pass
        })),
    );
    sim.run_until(Instant::from_secs(1)).unwrap();
    let sink = sim.host(rx).sink();
    assert_eq!(sink.seqs(), vec![1, 3, 5, 7, 9]);
    assert!(sink.arrivals.iter().all(|a| a.3 == 12));
    assert_eq!(sim.link_stats(link, Dir::AtoB).dropped_filter, 5);
}

#[test]
fn zero_rate_passes_nothing_and_holds_its_queue() {
    let cfg = LinkConfig::default()
        .rate_bps(0)
        .queue(QueueLimit::Packets(3));
    let (mut sim, tx, rx, link) = pair(1, Cbr::new(10, 100, MS), cfg);
    sim.run_until(Instant::from_secs(1)).unwrap();
    assert!(sim.host(rx).sink().arrivals.is_empty());
    assert_eq!(sim.link_stats(link, Dir::AtoB).dropped_queue, 7);
    // Reviving the link loses the three held packets; new ones flow.
    sim.set_link_config(link, Dir::AtoB, cfg_rate(12_000_000));
    if let common::Node::Cbr(c) = sim.host_mut(tx) {
        c.count = 12;
        c.next_at = Instant::from_secs(1);
    }
    sim.run_until(Instant::from_secs(2)).unwrap();
    assert_eq!(sim.host(rx).sink().seqs(), vec![10, 11]);
    assert_eq!(sim.link_stats(link, Dir::AtoB).dropped_queue, 10);
}

fn cfg_rate(bps: u64) -> LinkConfig {
    LinkConfig::default()
        .rate_bps(bps)
        .queue(QueueLimit::Packets(3))
}

#[test]
fn reconfiguring_a_rate_applies_to_new_packets() {
    let cfg = LinkConfig::default().rate_bps(12_000_000);
    let (mut sim, _, rx, link) = pair(1, Cbr::new(200, 1500, MS), cfg.clone());
    sim.run_until(Instant::from_micros(99_500)).unwrap();
    // Halve the rate: the link now needs 2 ms per packet and falls behind.
    sim.set_link_config(link, Dir::AtoB, cfg.rate_bps(6_000_000));
    sim.run_until(Instant::from_secs(1)).unwrap();
    let times = sim.host(rx).sink().times();
    assert_eq!(times.len(), 200);
    assert_eq!(times[99], Instant::from_millis(100));
    assert_eq!(times[100], Instant::from_millis(102));
    assert_eq!(times[199], Instant::from_millis(300));
}
