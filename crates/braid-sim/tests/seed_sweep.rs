//! The long seeded sweep (issue #14): many simulator seeds, each one
//! transfer of 1 KiB to 4 MiB between two Braid endpoints over 1 to 3 paths with random
//! impairments (delay, jitter with or without reordering, loss, extra
//! reordering, duplication, a rate limit with a drop-tail queue, a
//! blackout), upload or download, any scheduler, MPTCP checksums on or off; every
//! transfer must arrive byte-exact, then its end of stream, within 300 s
//! of simulated time. A seed fully determines its world, so a failure
//! replays exactly.
//!
//! Too long for CI: `scripts/seed-sweep.sh` runs it (10,000 seeds by
//! default) and prints the summary. By hand:
//! `SWEEP_SEEDS=100 SWEEP_FIRST=1 cargo test --release -p braid-sim --test seed_sweep -- --ignored --nocapture`;
//! `BRAID_SEED=<n>` replays one seed.

mod bulk;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::rng::{parse_seed, stream_rng};
use braid_sim::{LinkConfig, QueueLimit};
use bulk::Bulk;
use rand::RngExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant as WallClock;

/// One seed's world, drawn from the seed.
#[derive(Debug)]
struct Scenario {
    paths: Vec<LinkConfig>,
    download: bool,
    size: usize,
    checksum: bool,
    scheduler: SchedulerKind,
}

fn scenario(seed: u64) -> Scenario {
    let mut rng = stream_rng(seed, 0x5EED_5EEB);
    let n = rng.random_range(1..=bulk::CLIENT_IPS.len());
    let paths = (0..n)
        .map(|_| {
            let mut l =
                LinkConfig::default().delay(Duration::from_micros(rng.random_range(500..80_000)));
            if rng.random_bool(0.5) {
                let jitter = Duration::from_micros(rng.random_range(0..10_000));
                l = l.jitter(jitter, rng.random_bool(0.5));
            }
            if rng.random_bool(0.7) {
                l = l.loss(rng.random_range(0.0..0.08));
            }
            if rng.random_bool(0.3) {
                let extra = Duration::from_micros(rng.random_range(0..20_000));
                l = l.reorder(rng.random_range(0.0..0.05), extra);
            }
            if rng.random_bool(0.2) {
                l = l.duplicate(rng.random_range(0.0..0.02));
            }
            if rng.random_bool(0.5) {
                l = l
                    .rate_bps(rng.random_range(2_000_000..100_000_000))
                    .queue(QueueLimit::Packets(rng.random_range(20..300)));
            }
            if rng.random_bool(0.25) {
                let start = rng.random_range(0..2_000_000);
                let len = rng.random_range(100_000..5_000_000);
                l = l.blackout(
                    Instant::from_micros(start),
                    Instant::from_micros(start + len),
                );
            }
            l
        })
        .collect();
    Scenario {
        paths,
        download: rng.random_bool(0.5),
        // 1 KiB to 4 MiB, log-uniform.
        size: 2f64.powf(rng.random_range(10.0..22.0)) as usize,
        checksum: rng.random_bool(0.3),
        scheduler: SchedulerKind::ALL[rng.random_range(0..SchedulerKind::ALL.len())],
    }
}

/// Runs one seed; panics (with its replay command) unless byte-exact.
/// Bytes verified, and when the receiver was done.
fn run_seed(seed: u64) -> (usize, Instant) {
    let s = scenario(seed);
    let mut config = EndpointConfig::default();
    config.conn.checksum = s.checksum;
    config.conn.scheduler = s.scheduler.into();
    let replay = format!(
        "replay: BRAID_SEED={seed} cargo test --release -p braid-sim --test seed_sweep -- --ignored --nocapture ({} paths, {} B {}, checksum {}, {:?})",
        s.paths.len(),
        s.size,
        if s.download { "download" } else { "upload" },
        s.checksum,
        s.scheduler
    );
    let mut t = Bulk {
        seed,
        client: config.clone(),
        server: config,
        links: s.paths,
        size: s.size,
        download: s.download,
    }
    .start();
    let received = t
        .run_to_completion(Instant::from_secs(300), &replay)
        .received;
    (received, t.sim.now())
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => parse_seed(&v).unwrap_or_else(|| panic!("{name}: not a number: {v:?}")),
        Err(_) => default,
    }
}

#[test]
#[ignore = "long (minutes): scripts/seed-sweep.sh runs it"]
fn seed_sweep() {
    let (first, count) = match std::env::var("BRAID_SEED") {
        Ok(v) => (parse_seed(&v).expect("BRAID_SEED: not a number"), 1),
        Err(_) => (env_u64("SWEEP_FIRST", 1), env_u64("SWEEP_SEEDS", 10_000)),
    };
    let budget = std::time::Duration::from_secs(env_u64("SWEEP_SECS", 3000));
    let started = WallClock::now();
    let mut failures = Vec::new();
    let mut run = 0u64;
    let (mut bytes, mut simulated) = (0usize, 0f64);
    for seed in first..first.saturating_add(count) {
        if started.elapsed() > budget {
            break;
        }
        match catch_unwind(AssertUnwindSafe(|| run_seed(seed))) {
            Ok((n, at)) => {
                bytes += n;
                simulated += at.total_micros() as f64 / 1e6;
            }
            Err(_) => failures.push(seed),
        }
        run += 1;
        if run % 500 == 0 {
            eprintln!(
                "seed-sweep: {run} seeds, {} failed, {:.0} s",
                failures.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seed-sweep: {run} of {count} seeds ({first}..{}) run in {secs:.1} s ({:.1} seeds/s), {} failed",
        first.saturating_add(run),
        run as f64 / secs.max(1e-9),
        failures.len()
    );
    println!(
        "seed-sweep: {:.1} MiB verified byte-exact, {simulated:.0} s simulated",
        bytes as f64 / (1024.0 * 1024.0)
    );
    for seed in &failures {
        println!(
            "seed-sweep: FAILED seed {seed}: BRAID_SEED={seed} cargo test --release -p braid-sim --test seed_sweep -- --ignored --nocapture"
        );
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        run, count,
        "time budget of {budget:?} spent before every seed ran"
    );
}
