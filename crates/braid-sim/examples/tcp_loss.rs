//! Bulk TCP over a random-loss path (loss each way): goodput, recovery
//! episodes, retransmissions and RTOs of the sender, and the mean cwnd.
//!
//! `cargo run --release -p braid-sim --example tcp_loss -- [loss %] [RTT ms] [Mbit/s] [MiB]`
//! (default 1 % loss, 20 ms RTT, 100 Mbit/s, 20 MiB). `TRACE=1` prints the
//! sender's cwnd every 10 ms, `RTO_CTX=1` the sender's state just before
//! each retransmission timeout; `BRAID_SEED` picks the seed.

mod common;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::time::{Duration, Instant};
use braid_sim::{LinkConfig, QueueLimit};

fn arg(n: usize, default: f64) -> f64 {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let loss = arg(1, 1.0) / 100.0;
    let rtt_ms = arg(2, 20.0);
    let mbit = arg(3, 100.0);
    let mib = arg(4, 20.0);
    let size = (mib * 1048576.0) as usize;
    let seed = braid_sim::seed_from_env(1);
    let trace = std::env::var("TRACE").is_ok();
    let mut config = EndpointConfig::default();
    config.tcp.send_buffer = 8 << 20;
    config.tcp.recv_buffer = 8 << 20;
    let (mut sim, tx, rx) = common::bulk_world(seed, config, size);
    let one_way = Duration::from_micros((rtt_ms * 500.0) as u64);
    let bdp = (mbit * 1e6 / 8.0 * rtt_ms / 1000.0) as u64;
    let link = LinkConfig::default()
        .rate_bps((mbit * 1e6) as u64)
        .delay(one_way)
        .queue(QueueLimit::Bytes(bdp.max(30_000)))
        .loss(loss);
    sim.connect((tx, 0), (rx, 0), link.clone(), link)
        .expect("fresh interfaces");

    let mut next = Instant::ZERO;
    let mut last_rec = false;
    let mut episodes = 0u64;
    let (mut cwnd_sum, mut samples) = (0f64, 0u64);
    let mut last: Option<braid_proto::tcp::SubflowStats> = None;
    sim.run_while(
        |s| {
            if s.now() >= next
                && let Some(h) = s.host(tx).app.sender_state().and_then(|x| x.conn)
                && let Ok(st) = s.host(tx).endpoint.stats(h)
                && let Some(f) = st.subflows.first()
            {
                next = s.now() + Duration::from_millis(1);
                if f.in_recovery && !last_rec {
                    episodes += 1;
                }
                last_rec = f.in_recovery;
                cwnd_sum += f.cwnd as f64 / f.mss.max(1) as f64;
                samples += 1;
                if trace && s.now().total_micros() % 10_000 < 1_000 {
                    println!(
                        "{:>8.3} cwnd {:>4} ssthresh {:>6} srtt {:?} rec {} rtx {} rto {}",
                        s.now().as_secs_f64(),
                        f.cwnd / f.mss.max(1),
                        f.ssthresh.min(1 << 40) / f.mss.max(1),
                        f.srtt,
                        f.in_recovery,
                        f.retransmitted_segments,
                        f.rto_count
                    );
                }
                if std::env::var("RTO_CTX").is_ok()
                    && let Some(p) = last
                    && f.rto_count > p.rto_count
                {
                    println!(
                        "RTO at {:.3}: before: cwnd {} ssthresh {} inflight {} pipe {} rec {} lost {} rtx {} rto {:?} srtt {:?}",
                        s.now().as_secs_f64(),
                        p.cwnd / p.mss,
                        p.ssthresh.min(1 << 40) / p.mss,
                        p.bytes_in_flight / p.mss,
                        p.pipe / p.mss,
                        p.in_recovery,
                        p.lost_segments,
                        p.retransmitted_segments,
                        p.rto,
                        p.srtt
                    );
                }
                last = Some(*f);
            }
            !s.host(rx).app.is_done()
        },
        Instant::from_secs(3600),
    )
    .expect("no livelock");
    let r = sim.host(rx).app.receiver_state().expect("receiver");
    assert!(r.complete(), "transfer incomplete or corrupted");
    let secs = r.eof_at.expect("complete").as_secs_f64();
    let f = last.expect("sampled");
    println!(
        "loss {:.1} % each way, RTT {rtt_ms} ms, {mbit} Mbit/s, {mib} MiB, seed {seed}: \
         {:.2} MB/s ({:.2} Mbit/s) in {secs:.2} s; mean cwnd {:.1} segments; \
         {episodes} recovery episodes ({:.1}/s), {} lost, {} retransmitted, {} RTOs",
        loss * 100.0,
        size as f64 / secs / 1e6,
        size as f64 * 8.0 / secs / 1e6,
        cwnd_sum / samples.max(1) as f64,
        episodes as f64 / secs,
        f.lost_segments,
        f.retransmitted_segments,
        f.rto_count
    );
}
