//! Test hosts: a constant-bit-rate sender and a sink. Packets are dummy byte
//! vectors whose first 8 bytes carry a big-endian sequence number.
#![allow(dead_code)]

use braid_proto::time::{Duration, Instant};
use braid_sim::{Host, HostId, LinkConfig, LinkId, Sim};

/// Sends `count` packets of `size` bytes on `iface`, one every `interval`
/// from `start` (interval zero: all at `start`).
#[derive(Debug, Clone)]
pub struct Cbr {
    pub iface: usize,
    pub size: usize,
    pub interval: Duration,
    pub count: u64,
    pub next_at: Instant,
    pub sent: u64,
}

impl Cbr {
    pub fn new(count: u64, size: usize, interval: Duration) -> Self {
        Cbr {
            iface: 0,
            size: size.max(8),
            interval,
            count,
            next_at: Instant::ZERO,
            sent: 0,
        }
    }
}

/// Records every arrival: (time, interface, sequence number, length).
#[derive(Debug, Clone, Default)]
pub struct Sink {
    pub arrivals: Vec<(Instant, usize, u64, usize)>,
}

impl Sink {
    pub fn seqs(&self) -> Vec<u64> {
        self.arrivals.iter().map(|a| a.2).collect()
    }
    pub fn times(&self) -> Vec<Instant> {
        self.arrivals.iter().map(|a| a.0).collect()
    }
    /// FNV-1a over the arrival log.
    pub fn log_hash(&self) -> u64 {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for &(t, iface, seq, len) in &self.arrivals {
            for v in [t.total_micros(), iface as u64, seq, len as u64] {
                for b in v.to_le_bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01B3);
                }
            }
        }
        h
    }
}

/// A test host: a sender or a sink.
#[derive(Debug, Clone)]
pub enum Node {
    Cbr(Cbr),
    Sink(Sink),
}

impl Node {
    pub fn sink(&self) -> &Sink {
        match self {
            Node::Sink(s) => s,
            Node::Cbr(_) => panic!("not a sink"),
        }
    }
    pub fn cbr(&self) -> &Cbr {
        match self {
            Node::Cbr(c) => c,
            Node::Sink(_) => panic!("not a sender"),
        }
    }
}

impl Host for Node {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]) {
        if let Node::Sink(s) = self {
            let seq = packet
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(u64::MAX);
            s.arrivals.push((now, iface, seq, packet.len()));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        let Node::Cbr(c) = self else { return None };
        if c.sent >= c.count || c.next_at > now {
            return None;
        }
        let mut packet = vec![0u8; c.size];
        packet[..8].copy_from_slice(&c.sent.to_be_bytes());
        c.sent += 1;
        c.next_at += c.interval;
        Some((c.iface, packet))
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Node::Cbr(c) if c.sent < c.count => Some(c.next_at),
            _ => None,
        }
    }
}

/// A sender and a sink joined by `ab` (sender to sink); the reverse
/// direction is an ideal link.
pub fn pair(seed: u64, cbr: Cbr, ab: LinkConfig) -> (Sim<Node>, HostId, HostId, LinkId) {
    let mut sim = Sim::new(seed);
    let tx = sim.add_host(Node::Cbr(cbr));
    let rx = sim.add_host(Node::Sink(Sink::default()));
    let link = sim
        .connect((tx, 0), (rx, 0), ab, LinkConfig::default())
        .expect("fresh interfaces");
    (sim, tx, rx, link)
}

/// Number of positions where a sequence is lower than its predecessor.
pub fn inversions(seqs: &[u64]) -> usize {
    seqs.windows(2).filter(|w| w[1] < w[0]).count()
}
