//! Trace replay: links whose capacity follows a recorded trace.

mod common;

use std::sync::Arc;

use braid_proto::time::{Duration, Instant};
use braid_sim::trace::shared_trace_dir;
use braid_sim::{Capacity, CsvEnd, CsvTrace, Dir, LinkConfig, MahimahiTrace};
use common::{Cbr, pair};

fn mahimahi(text: &str) -> LinkConfig {
    LinkConfig::default().capacity(Capacity::Mahimahi(Arc::new(
        MahimahiTrace::parse(text).unwrap(),
    )))
}

fn csv(text: &str, end: CsvEnd) -> LinkConfig {
    LinkConfig::default().capacity(Capacity::Csv(Arc::new(CsvTrace::parse(text, end).unwrap())))
}

#[test]
fn mahimahi_real_trace_delivers_one_packet_per_opportunity() {
    let path = shared_trace_dir().join("mahimahi/Verizon-LTE-short.down");
    let text = std::fs::read_to_string(&path).expect("shared traces present");
    let trace = MahimahiTrace::parse(&text).unwrap();
    let window_ms = 5000;
    let opportunities: Vec<u64> = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&ms: &u64| ms <= window_ms)
        .collect();
    // Keep the queue full: more packets than the window can carry.
    let burst = opportunities.len() as u64 + 500;
    let cfg = LinkConfig::default().capacity(Capacity::Mahimahi(Arc::new(trace)));
    let (mut sim, _, rx, link) = pair(1, Cbr::new(burst, 1500, Duration::ZERO), cfg);
    sim.run_until(Instant::from_millis(window_ms)).unwrap();
    let times = sim.host(rx).sink().times();
    // Each full-size packet takes exactly the next opportunity.
    let expected: Vec<Instant> = opportunities
        .iter()
        .map(|&ms| Instant::from_millis(ms))
        .collect();
    assert_eq!(times, expected);
    let stats = sim.link_stats(link, Dir::AtoB);
    let bps = stats.throughput_bps(Instant::ZERO, Instant::from_millis(window_ms));
    let trace_bps = opportunities.len() as f64 * 1500.0 * 8.0 / (window_ms as f64 / 1000.0);
    assert!(
        (bps - trace_bps).abs() <= 0.01 * trace_bps,
        "{bps} vs {trace_bps}"
    );
}

#[test]
fn mahimahi_trace_loops() {
    // Opportunities at 5 and 10 ms, period 10 ms: every 5 ms forever.
    let (mut sim, _, rx, _) = pair(1, Cbr::new(10, 1500, Duration::ZERO), mahimahi("5\n10\n"));
    sim.run_until(Instant::from_secs(1)).unwrap();
    let expected: Vec<Instant> = (1..=10).map(|i| Instant::from_millis(5 * i)).collect();
    assert_eq!(sim.host(rx).sink().times(), expected);
}

#[test]
fn mahimahi_packs_small_packets_and_wastes_idle_opportunities() {
    // "1": one 1500-byte opportunity per millisecond (12 Mbit/s).
    let (mut sim, _, rx, _) = pair(1, Cbr::new(4, 750, Duration::ZERO), mahimahi("1\n"));
    sim.run_until(Instant::from_secs(1)).unwrap();
    let ms = |m| Instant::from_millis(m);
    assert_eq!(
        sim.host(rx).sink().times(),
        vec![ms(1), ms(1), ms(2), ms(2)]
    );

    // A 3000-byte packet spans two opportunities; one sent at 2.5 ms waits
    // for the opportunity at 3 ms (those before it were wasted).
    let mut cbr = Cbr::new(2, 3000, Duration::from_micros(2500));
    cbr.next_at = Instant::ZERO;
    let (mut sim, _, rx, _) = pair(1, cbr, mahimahi("1\n"));
    sim.run_until(Instant::from_secs(1)).unwrap();
    assert_eq!(sim.host(rx).sink().times(), vec![ms(2), ms(4)]);
}

fn per_second(sim: &braid_sim::Sim<common::Node>, link: braid_sim::LinkId, secs: u64) -> Vec<u64> {
    let stats = sim.link_stats(link, Dir::AtoB);
    (0..secs)
        .map(|s| stats.delivered_bytes_between(Instant::from_secs(s), Instant::from_secs(s + 1)))
        .collect()
}

fn assert_close(got: &[u64], want: &[u64], tolerance: u64) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.abs_diff(w) <= tolerance, "second {i}: got {g}, want {w}");
    }
}

#[test]
fn csv_trace_follows_per_second_rates_and_loops() {
    let text = "1,125000\n2,250000\n3,62500\n";
    let cfg = csv(text, CsvEnd::Loop);
    let (mut sim, _, rx, link) = pair(1, Cbr::new(1000, 1000, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(5)).unwrap();
    assert_close(
        &per_second(&sim, link, 5),
        &[125_000, 250_000, 62_500, 125_000, 250_000],
        1000,
    );
    // Within a second the rate is constant: 1000 B at 125 kB/s = 8 ms each.
    let times = sim.host(rx).sink().times();
    assert_eq!(times[0], Instant::from_millis(8));
    assert_eq!(times[1], Instant::from_millis(16));
}

#[test]
fn csv_trace_holds_last_rate() {
    let cfg = csv("1,125000\n2,250000\n3,62500\n", CsvEnd::HoldLast);
    let (mut sim, _, _, link) = pair(1, Cbr::new(1000, 1000, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(5)).unwrap();
    assert_close(
        &per_second(&sim, link, 5),
        &[125_000, 250_000, 62_500, 62_500, 62_500],
        1000,
    );
}

#[test]
fn csv_real_wifi_trace_replays() {
    let path = shared_trace_dir().join("wifi-cellular/7_1_wifi.csv");
    let trace = CsvTrace::from_file(&path, CsvEnd::Loop).expect("shared traces present");
    let secs = 4;
    let want: Vec<u64> = trace.rates()[..secs].to_vec();
    let total: u64 = want.iter().sum();
    let cfg = LinkConfig::default().capacity(Capacity::Csv(Arc::new(trace)));
    let burst = total / 1500 + 100;
    let (mut sim, _, _, link) = pair(1, Cbr::new(burst, 1500, Duration::ZERO), cfg);
    sim.run_until(Instant::from_secs(secs as u64)).unwrap();
    assert_close(&per_second(&sim, link, secs as u64), &want, 1500);
}
