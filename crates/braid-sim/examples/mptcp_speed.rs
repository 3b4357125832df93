//! MPTCP speed (one subflow): one bulk MPTCP transfer between two
//! Braid endpoints over a 100 Mbit/s, 20 ms link with a one-BDP queue.
//! Prints simulated seconds per wall second.
//!
//! `cargo run --release -p braid-sim --example mptcp_speed -- [MiB] [checksum]`
//! (default 20 MiB, no DSS checksums)

use braid_proto::endpoint::{Endpoint, EndpointConfig};
use braid_proto::time::{Duration, Instant};
use braid_sim::stack::{App, EndpointHost, payload};
use braid_sim::{Dir, LinkConfig, QueueLimit, Sim};

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let size = mib * 1024 * 1024;
    let checksum = std::env::args().nth(2).as_deref() == Some("checksum");
    let seed = braid_sim::seed_from_env(1);
    // MPTCP over one subflow: against tcp_speed, this measures what the
    // MPTCP layer costs on top of TCP.
    let mut config = EndpointConfig {
        mptcp: true,
        ..EndpointConfig::default()
    };
    config.tcp.send_buffer = 4 << 20;
    config.tcp.recv_buffer = 4 << 20;
    config.conn.send_buffer = 4 << 20;
    config.conn.recv_buffer = 4 << 20;
    config.conn.checksum = checksum;
    let data = payload(seed, size);
    let (client, server) = (
        "10.0.0.1:0".parse().expect("address"),
        "10.0.0.2:443".parse().expect("address"),
    );
    let mut sim = Sim::new(seed);
    let tx = sim.add_host(EndpointHost::new(
        Endpoint::with_seed(config.clone(), 1),
        App::sender(Instant::ZERO, client, server, data.clone()),
    ));
    let rx = sim.add_host(EndpointHost::new(
        Endpoint::with_seed(config, 2),
        App::receiver(server, data),
    ));
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
    let how = if checksum { " with checksums" } else { "" };
    println!("{mib} MiB over MPTCP{how}: {simulated:.3} s simulated in {wall:.3} s wall");
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
