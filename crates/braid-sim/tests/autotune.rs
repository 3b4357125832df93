//! Buffers that size themselves (issue #11): on a long fat path the
//! default buffers (256 KiB per subflow, 1 MiB at the data level, to start
//! with) must grow until the window no longer limits the transfer, and
//! never past a cap the user set.
//!
//! One path, 100 Mbit/s, 50 ms one way (100 ms RTT): the bandwidth-delay
//! product is 1.25 MB, so a fixed 256 KiB window allows at most
//! 256 KiB / 100 ms = 21 Mbit/s.
//!
//! `BRAID_SEED=<n> cargo test -p braid-sim --test autotune` replays.

mod bulk;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::time::{Duration, Instant};
use braid_sim::{LinkConfig, QueueLimit, seed_from_env};
use bulk::Bulk;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const RATE: u64 = 100_000_000;

/// The receiving end's figures.
#[derive(Debug)]
struct Run {
    goodput_mbit: f64,
    /// The receiver's subflow receive buffer at the end.
    subflow_recv_buffer: usize,
    /// The sender's subflow send buffer at the end.
    subflow_send_buffer: usize,
}

fn transfer(test: &str, config: EndpointConfig, size: usize, download: bool) -> Run {
    let seed = seed_from_env(11);
    let replay = format!(
        "{test}: seed {seed}, replay with BRAID_SEED={seed} cargo test -p braid-sim --test autotune {test}"
    );
    let link = LinkConfig::default()
        .rate_bps(RATE)
        .delay(Duration::from_millis(50))
        .queue(QueueLimit::Packets(1000));
    let mut t = Bulk {
        seed,
        client: config.clone(),
        server: config,
        links: vec![link],
        size,
        download,
    }
    .start();
    let secs = t
        .run_to_completion(Instant::from_secs(300), &replay)
        .eof_at
        .expect("complete")
        .as_secs_f64();
    let goodput_mbit = size as f64 * 8.0 / secs / 1e6;
    let stats = |h: braid_sim::HostId| {
        t.sim
            .host(h)
            .mptcp
            .subflows
            .first()
            .map(|s| s.stats)
            .unwrap_or_else(|| panic!("no subflow; {replay}"))
    };
    let run = Run {
        goodput_mbit,
        subflow_recv_buffer: stats(t.rx).recv_buffer,
        subflow_send_buffer: stats(t.tx).send_buffer,
    };
    println!("{test}: {} {run:?}", if download { "down" } else { "up" });
    run
}

#[test]
fn default_buffers_grow_to_fill_a_long_fat_path() {
    for download in [false, true] {
        let run = transfer(
            "default_buffers_grow_to_fill_a_long_fat_path",
            EndpointConfig::default(),
            48 * MIB,
            download,
        );
        // Three times what the initial window allows; slow start and the
        // first RTTs of growth included.
        assert!(run.goodput_mbit > 65.0, "{run:?}");
        assert!(run.subflow_recv_buffer > 1_250_000, "{run:?}");
        assert!(run.subflow_send_buffer > 1_250_000, "{run:?}");
    }
}

#[test]
fn fixed_buffers_stay_fixed() {
    let mut c = EndpointConfig::default();
    c.set_buffers(Some(256 * KIB), Some(256 * KIB), false);
    let run = transfer("fixed_buffers_stay_fixed", c, 8 * MIB, true);
    assert_eq!(run.subflow_recv_buffer, 256 * KIB, "{run:?}");
    assert_eq!(run.subflow_send_buffer, 256 * KIB, "{run:?}");
    assert!(run.goodput_mbit < 22.0, "the window limits: {run:?}");
}

#[test]
fn growth_stops_at_the_cap() {
    let mut c = EndpointConfig::default();
    c.set_buffers(Some(512 * KIB), Some(512 * KIB), true);
    let run = transfer("growth_stops_at_the_cap", c, 16 * MIB, true);
    assert!(run.subflow_recv_buffer <= 512 * KIB, "{run:?}");
    assert!(run.subflow_send_buffer <= 512 * KIB, "{run:?}");
    // 512 KiB per 100 ms: at most 42 Mbit/s.
    assert!(run.goodput_mbit < 43.0, "{run:?}");
    assert!(run.goodput_mbit > 20.0, "{run:?}");
}
