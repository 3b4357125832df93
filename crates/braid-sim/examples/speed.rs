//! Simulator speed: a saturating 1500-byte packet flow (offered at 120
//! Mbit/s) through a 100 Mbit/s, 20 ms link with a 100-packet drop-tail
//! queue; the receiver answers each packet with a 60-byte ack.
//!
//! `cargo run --release -p braid-sim --example speed -- [simulated seconds]`

use braid_proto::time::{Duration, Instant};
use braid_sim::{Dir, Host, LinkConfig, QueueLimit, Sim};

#[derive(Debug)]
enum Node {
    Sender {
        next_at: Instant,
        interval: Duration,
        seq: u64,
        acks: u64,
    },
    Receiver {
        pending_acks: u64,
    },
}

impl Host for Node {
    fn handle_packet(&mut self, _now: Instant, _iface: usize, _packet: &[u8]) {
        match self {
            Node::Sender { acks, .. } => *acks += 1,
            Node::Receiver { pending_acks } => *pending_acks += 1,
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        match self {
            Node::Sender {
                next_at,
                interval,
                seq,
                ..
            } if *next_at <= now => {
                *next_at += *interval;
                *seq += 1;
                let mut packet = vec![0u8; 1500];
                packet[..8].copy_from_slice(&seq.to_be_bytes());
                Some((0, packet))
            }
            Node::Receiver { pending_acks } if *pending_acks > 0 => {
                *pending_acks -= 1;
                Some((0, vec![0u8; 60]))
            }
            _ => None,
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Node::Sender { next_at, .. } => Some(*next_at),
            Node::Receiver { .. } => None,
        }
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut sim = Sim::new(braid_sim::seed_from_env(1));
    let tx = sim.add_host(Node::Sender {
        next_at: Instant::ZERO,
        interval: Duration::from_micros(100), // 120 Mbit/s offered
        seq: 0,
        acks: 0,
    });
    let rx = sim.add_host(Node::Receiver { pending_acks: 0 });
    let link = LinkConfig::default()
        .rate_bps(100_000_000)
        .delay(Duration::from_millis(20))
        .queue(QueueLimit::Packets(100));
    let id = sim
        .connect_symmetric((tx, 0), (rx, 0), link)
        .expect("fresh interfaces");

    let start = std::time::Instant::now();
    sim.run_until(Instant::from_secs(secs))
        .expect("no livelock");
    let wall = start.elapsed().as_secs_f64();

    let fwd = sim.link_stats(id, Dir::AtoB);
    let goodput = fwd.throughput_bps(Instant::from_secs(1), Instant::from_secs(secs));
    println!("simulated {secs} s in {wall:.3} s wall");
    println!(
        "  {:.1} simulated seconds per wall second",
        secs as f64 / wall
    );
    println!(
        "  {} events, {:.2} M events per wall second",
        sim.events_processed(),
        sim.events_processed() as f64 / wall / 1e6
    );
    println!(
        "  forward: {} packets delivered, {} queue drops, {:.2} Mbit/s",
        fwd.delivered_packets,
        fwd.dropped_queue,
        goodput / 1e6
    );
}
