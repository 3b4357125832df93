//! Simulator speed with the real stack: one bulk transfer between two Braid
//! endpoints over a 100 Mbit/s, 20 ms link with a one-BDP queue, as plain
//! TCP or as MPTCP over one subflow (against TCP, what the MPTCP layer
//! costs). Prints simulated seconds per wall second and goodput.
//!
//! `cargo run --release -p braid-sim --example tcp_speed -- [MiB] [tcp|mptcp|mptcp-checksum]`
//! (default 100 MiB, plain TCP). `BRAID_VERBOSE=1` prints both sides'
//! MPTCP counters and subflows.

mod common;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::time::{Duration, Instant};
use braid_sim::{Dir, LinkConfig, QueueLimit};

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let size = mib * 1024 * 1024;
    let mode = std::env::args().nth(2).unwrap_or_else(|| "tcp".into());
    let (mptcp, checksum) = match mode.as_str() {
        "tcp" => (false, false),
        "mptcp" => (true, false),
        "mptcp-checksum" => (true, true),
        other => {
            eprintln!("tcp_speed: mode must be tcp, mptcp or mptcp-checksum, not {other:?}");
            std::process::exit(2);
        }
    };
    let seed = braid_sim::seed_from_env(1);
    let mut config = EndpointConfig {
        mptcp,
        ..EndpointConfig::default()
    };
    config.tcp.send_buffer = 4 << 20;
    config.tcp.recv_buffer = 4 << 20;
    config.conn.send_buffer = 4 << 20;
    config.conn.recv_buffer = 4 << 20;
    config.conn.checksum = checksum;
    let (mut sim, tx, rx) = common::bulk_world(seed, config, size);
    let link = LinkConfig::default()
        .rate_bps(100_000_000)
        .delay(Duration::from_millis(20))
        .queue(QueueLimit::Bytes(500_000));
    let id = sim
        .connect_symmetric((tx, 0), (rx, 0), link)
        .expect("fresh interfaces");

    let start = std::time::Instant::now();
    sim.run_while(|s| !s.host(rx).app.is_done(), Instant::from_secs(3600))
        .expect("no livelock");
    let wall = start.elapsed().as_secs_f64();
    let r = sim.host(rx).app.receiver_state().expect("receiver");
    if !r.complete() || std::env::var_os("BRAID_VERBOSE").is_some() {
        for (name, h) in [("sender", tx), ("receiver", rx)] {
            let v = &sim.host(h).mptcp;
            eprintln!("{name} mib: {:?}", v.mib);
            eprintln!("{name} events: {:?}", v.events);
            for s in &v.subflows {
                eprintln!("{name} subflow: {s:?}");
            }
        }
    }
    assert!(
        r.complete(),
        "transfer incomplete or corrupted: received {} of {}, mismatch {:?}, eof {:?}, closed {:?}",
        r.received,
        r.expected.len(),
        r.mismatch,
        r.eof_at,
        r.closed
    );
    let simulated = sim.now().as_secs_f64();
    println!("{mib} MiB over {mode}: {simulated:.3} s simulated in {wall:.3} s wall");
    println!(
        "  {:.1} simulated seconds per wall second",
        simulated / wall
    );
    println!(
        "  goodput {:.2} Mbit/s; {} events ({:.2} M/s wall); {} data packets",
        size as f64 * 8.0 / simulated / 1e6,
        sim.events_processed(),
        sim.events_processed() as f64 / wall / 1e6,
        sim.link_stats(id, Dir::AtoB).delivered_packets
    );
}
