//! Sequence-space boundaries, byte-exact (issue #10: a Braid receiver
//! stopped at exactly 2 GiB).
//!
//! Two Braid endpoints over two simulated 50 Mbit/s paths (the client on
//! 10.0.1.1 and 10.0.2.1, the server on 10.0.9.1), every transfer upload
//! and download, compared byte for byte, with both subflows carrying data.
//! Chosen starting points put each boundary a few hundred kilobytes into
//! the transfer, so no test needs gigabytes:
//! - `tcp::Config::initial_seq` puts every subflow's ISN (both ends, both
//!   subflows) just below 2^32: each subflow's sequence numbers wrap;
//! - `ConnConfig::fixed_idsn` puts the IDSN just below 2^32 (the low 32
//!   bits of the DSN wrap, with 4-octet DSNs and DATA_ACKs on the wire
//!   that the receiver expands) and just below 2^64 (the DSN itself
//!   wraps, with 8-octet ones).
//!
//! The boundaries only a real transfer reaches (2^31 and 2^32 bytes of
//! relative subflow sequence and of merged mappings) are covered by
//! `conn::mapping`'s unit tests and by `long_transfer_crosses_4_gib`
//! below, which moves 4.5 GiB; it is long in the test profile, so
//! `scripts/long-transfers.sh` and CI run it in release.
//!
//! `BRAID_SEED=<n> cargo test -p braid-sim --test seq_boundaries` replays.

mod bulk;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::time::{Duration, Instant};
use braid_sim::{LinkConfig, QueueLimit, seed_from_env};
use bulk::Bulk;

const MIB: usize = 1024 * 1024;

fn path(rate_bps: u64) -> LinkConfig {
    LinkConfig::default()
        .rate_bps(rate_bps)
        .delay(Duration::from_millis(10))
        .jitter(Duration::from_millis(1), false)
        .queue(QueueLimit::Packets(150))
}

/// Where the sequence spaces start, on both ends.
#[derive(Debug, Clone, Copy, Default)]
struct Start {
    isn: Option<u32>,
    idsn: Option<u64>,
    dss_64bit: bool,
    checksum: bool,
}

fn config(start: Start) -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.tcp.send_buffer = 2 * MIB;
    c.tcp.recv_buffer = 2 * MIB;
    c.conn.send_buffer = 4 * MIB;
    c.conn.recv_buffer = 4 * MIB;
    c.tcp.initial_seq = start.isn;
    c.conn.fixed_idsn = start.idsn;
    c.conn.dss_64bit = start.dss_64bit;
    c.conn.checksum = start.checksum;
    c
}

/// What a run showed.
#[derive(Debug)]
struct Run {
    /// Data-level bytes each subflow delivered to the receiver.
    per_subflow: Vec<u64>,
    mib_rx: braid_proto::mib::Mib,
    done_at: Instant,
}

/// Move `size` bytes client -> server (`download` false) or server ->
/// client, and check them; panics with the seed on any failure.
fn transfer(test: &str, start: Start, size: usize, download: bool) -> Run {
    transfer_over(test, start, size, download, [50_000_000; 2])
}

/// [`transfer`] over paths of the given rates.
fn transfer_over(test: &str, start: Start, size: usize, download: bool, rates: [u64; 2]) -> Run {
    let seed = seed_from_env(10);
    let replay = format!(
        "{test}: seed {seed}, replay with BRAID_SEED={seed} cargo test -p braid-sim --test seq_boundaries {test}"
    );
    let mut t = Bulk {
        seed,
        client: config(start),
        server: config(start),
        links: rates.into_iter().map(path).collect(),
        size,
        download,
    }
    .start();
    let seconds = size as u64 * 8 / rates.iter().sum::<u64>();
    let deadline = Instant::from_secs(60 + 2 * seconds);
    t.run_to_completion(deadline, &replay);
    let host = t.sim.host(t.rx);
    let r = host.app.receiver_state().expect("receiver");
    assert!(r.accepted <= 1, "one connection; {replay}");
    assert!(host.mptcp.is_mptcp, "still MPTCP (no fallback); {replay}");
    let per_subflow: Vec<u64> = host
        .mptcp
        .subflows
        .iter()
        .map(|s| s.data_received)
        .collect();
    assert_eq!(per_subflow.len(), 2, "two subflows; {replay}");
    let mib_rx = host.mptcp.mib;
    assert_eq!(mib_rx.dss_unmapped_data, 0, "{replay}");
    assert_eq!(mib_rx.dss_invalid_mapping, 0, "{replay}");
    assert_eq!(mib_rx.data_ack_invalid, 0, "{replay}");
    assert_eq!(mib_rx.mp_rst_tx, 0, "no subflow reset; {replay}");
    let done_at = r.eof_at.expect("complete implies eof");
    println!(
        "{test}: {} MiB {} in {:.2} s simulated, per subflow {per_subflow:?} bytes",
        size / MIB,
        if download { "down" } else { "up" },
        done_at.as_secs_f64()
    );
    Run {
        per_subflow,
        mib_rx,
        done_at,
    }
}

/// Both directions; each subflow carries more than `min` bytes.
fn both_ways(test: &str, start: Start, size: usize, min: u64) {
    for download in [false, true] {
        let run = transfer(test, start, size, download);
        assert!(
            run.per_subflow.iter().all(|&b| b > min),
            "{test}: every subflow must cross the boundary ({min} bytes in): {:?}",
            run.per_subflow
        );
    }
}

/// Every subflow's ISN (both ends, both subflows) 50,000 bytes below the
/// 2^32 wrap of TCP sequence numbers.
#[test]
fn tcp_sequence_wraps_on_every_subflow() {
    let start = Start {
        isn: Some(u32::MAX - 50_000),
        dss_64bit: true,
        ..Start::default()
    };
    both_ways(
        "tcp_sequence_wraps_on_every_subflow",
        start,
        8 * MIB,
        100_000,
    );
}

/// The ISN one below the wrap: the SYN takes the last number, the first
/// data byte is sequence number 0.
#[test]
fn isn_just_below_the_wrap() {
    let start = Start {
        isn: Some(u32::MAX),
        dss_64bit: true,
        ..Start::default()
    };
    both_ways("isn_just_below_the_wrap", start, 2 * MIB, 0);
}

/// The DSN's low 32 bits wrap 1 MiB in, carried as 4-octet DSNs and
/// DATA_ACKs that the receiver expands (`Dsn::expand`), with DSS
/// checksums (the pseudo-header uses the 64-bit DSN, RFC 8684 section
/// 3.3.1).
#[test]
fn dsn_32bit_wrap_with_4_octet_dss() {
    let start = Start {
        idsn: Some((1 << 32) - MIB as u64 - 1),
        dss_64bit: false,
        ..Start::default()
    };
    both_ways("dsn_32bit_wrap_with_4_octet_dss", start, 8 * MIB, 0);
    let start = Start {
        checksum: true,
        ..start
    };
    both_ways("dsn_32bit_wrap_with_4_octet_dss", start, 4 * MIB, 0);
}

/// The 64-bit DSN itself wraps 1 MiB in (a random IDSN may lie anywhere),
/// with 8-octet DSNs; and with 4-octet ones; and the DATA_FIN right at
/// the wrap.
#[test]
fn dsn_64bit_wrap() {
    let near = u64::MAX - MIB as u64;
    for dss_64bit in [true, false] {
        let start = Start {
            idsn: Some(near),
            dss_64bit,
            ..Start::default()
        };
        both_ways("dsn_64bit_wrap", start, 8 * MIB, 0);
    }
    // The DATA_FIN takes DSN 2^64 - 1 and the DATA_ACK of it is 0.
    let start = Start {
        idsn: Some(u64::MAX - 1 - (3 * MIB) as u64),
        dss_64bit: true,
        ..Start::default()
    };
    for download in [false, true] {
        transfer("dsn_64bit_wrap", start, 3 * MIB, download);
    }
}

/// Every boundary at once: ISNs and the IDSN just below their wraps.
#[test]
fn all_boundaries_at_once() {
    let start = Start {
        isn: Some(u32::MAX - 10_000),
        idsn: Some(u64::MAX - 200_000),
        dss_64bit: false,
        checksum: false,
    };
    both_ways("all_boundaries_at_once", start, 4 * MIB, 20_000);
}

/// 4.75 GiB over two subflows (200 and 20 Mbit/s), upload: the fast
/// subflow's relative sequence (its DSS `subflow_seq`, and its merged
/// mappings) passes 2^31 and 2^32 bytes, which only that much data does,
/// and the data level passes 2^31 and 2^32 bytes from the IDSN; the ISNs
/// start below the wrap too. About a minute in release
/// (`scripts/long-transfers.sh`; CI runs it so), several in the test
/// profile.
#[test]
#[ignore = "long (4.5 GiB simulated): run in release by scripts/long-transfers.sh and test.sh, issue #10"]
fn long_transfer_crosses_4_gib() {
    let size = 4 * 1024 * MIB + 768 * MIB;
    let start = Start {
        isn: Some(u32::MAX - 1_000_000),
        dss_64bit: true,
        ..Start::default()
    };
    let rates = [200_000_000, 20_000_000];
    let run = transfer_over("long_transfer_crosses_4_gib", start, size, false, rates);
    assert_eq!(run.mib_rx.dss_mapping_overflow, 0);
    assert!(
        run.per_subflow.iter().sum::<u64>() >= size as u64,
        "{:?}",
        run.per_subflow
    );
    assert!(
        run.per_subflow.iter().any(|&b| b > 1 << 32) && run.per_subflow.iter().all(|&b| b > 0),
        "one subflow past 2^32 bytes, both used: {:?}",
        run.per_subflow
    );
    println!(
        "long_transfer_crosses_4_gib: {:.1} Mbit/s simulated",
        size as f64 * 8.0 / run.done_at.as_secs_f64() / 1e6
    );
}
