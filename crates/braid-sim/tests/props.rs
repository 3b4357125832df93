//! Property tests: any configuration and any packets, no panic, and every
//! offered packet (and copy) is accounted for.

mod common;

use braid_proto::time::{Duration, Instant};
use braid_sim::{Dir, Host, LinkConfig, QueueLimit, Sim};
use proptest::prelude::*;

/// Sends scripted packets (time offset in us, bytes), sorted by time.
#[derive(Debug, Default)]
struct Script {
    packets: Vec<(Instant, Vec<u8>)>,
    received: usize,
}

impl Host for Script {
    fn handle_packet(&mut self, _: Instant, _: usize, _: &[u8]) {
        self.received += 1;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        match self.packets.first() {
            Some((t, _)) if *t <= now => Some((0, self.packets.remove(0).1)),
            _ => None,
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.packets.first().map(|p| p.0)
    }
}

fn config() -> impl Strategy<Value = LinkConfig> {
    (
        prop::option::of(100_000u64..1_000_000_000),
        0u64..50_000,
        0u64..20_000,
        any::<bool>(),
        prop_oneof![
            Just(QueueLimit::Unlimited),
            (0u64..20).prop_map(QueueLimit::Packets),
            (0u64..30_000).prop_map(QueueLimit::Bytes)
        ],
        (0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
        0u64..20_000,
        prop::collection::vec((0u64..500_000, 0u64..200_000), 0..3),
    )
        .prop_map(
            |(rate, delay, jitter, reorders, queue, (loss, reorder, dup), extra, blackouts)| {
                let mut c = LinkConfig::default()
                    .delay(Duration::from_micros(delay))
                    .jitter(Duration::from_micros(jitter), reorders)
                    .queue(queue)
                    .loss(loss)
                    .reorder(reorder, Duration::from_micros(extra))
                    .duplicate(dup);
                if let Some(bps) = rate {
                    c = c.rate_bps(bps);
                }
                for (start, len) in blackouts {
                    c = c.blackout(
                        Instant::from_micros(start),
                        Instant::from_micros(start + len),
                    );
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn every_packet_is_delivered_or_counted(
        seed in any::<u64>(),
        cfg in config(),
        mut packets in prop::collection::vec((0u64..500_000, 0usize..3000), 0..100),
    ) {
        packets.sort_by_key(|p| p.0);
        let mut sim = Sim::new(seed);
        let tx = sim.add_host(Script {
            packets: packets.iter().map(|&(t, n)| (Instant::from_micros(t), vec![0xA5; n])).collect(),
            received: 0,
        });
        let rx = sim.add_host(Script::default());
        let link = sim.connect((tx, 0), (rx, 0), cfg, LinkConfig::default()).unwrap();
        // 100 x 3000 B at >= 100 kbit/s drains within 25 s.
        sim.run_until(Instant::from_secs(60)).unwrap();
        let s = sim.link_stats(link, Dir::AtoB);
        prop_assert_eq!(s.offered_packets, packets.len() as u64);
        prop_assert_eq!(s.offered_packets + s.duplicated, s.delivered_packets + s.dropped());
        prop_assert_eq!(sim.host(rx).received as u64, s.delivered_packets);
        prop_assert_eq!(sim.next_event_time(), None);
    }
}
