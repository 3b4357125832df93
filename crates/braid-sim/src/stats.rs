//! Counters for one direction of one link.

use braid_proto::time::{Duration, Instant};

/// Why a link direction dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// The drop-tail queue was full.
    Queue,
    /// Random loss.
    Loss,
    /// The packet met a blackout window: it entered during one, or was
    /// queued or in flight when one began.
    Blackout,
    /// The direction's filter returned [`crate::FilterVerdict::Drop`].
    Filter,
}

/// Statistics of one link direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStats {
    /// Packets handed to the receiving host.
    pub delivered_packets: u64,
    /// Bytes handed to the receiving host.
    pub delivered_bytes: u64,
    /// Packets offered by the sending host.
    pub offered_packets: u64,
    /// Drops because the queue was full.
    pub dropped_queue: u64,
    /// Drops by random loss.
    pub dropped_loss: u64,
    /// Drops by blackout windows.
    pub dropped_blackout: u64,
    /// Drops by the filter.
    pub dropped_filter: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Packets given the reordering delay.
    pub reordered: u64,
    /// Largest queue occupancy seen, bytes (including the packet in service).
    pub max_queue_bytes: u64,
    /// Largest queue occupancy seen, packets (including the packet in service).
    pub max_queue_packets: u64,
    bucket: Duration,
    delivered_per_bucket: Vec<u64>,
}

impl Default for DirStats {
    /// Empty counters with 100 ms delivery buckets.
    fn default() -> Self {
        DirStats::new(Duration::from_millis(100))
    }
}

impl DirStats {
    pub(crate) fn new(bucket: Duration) -> Self {
        DirStats {
            delivered_packets: 0,
            delivered_bytes: 0,
            offered_packets: 0,
            dropped_queue: 0,
            dropped_loss: 0,
            dropped_blackout: 0,
            dropped_filter: 0,
            duplicated: 0,
            reordered: 0,
            max_queue_bytes: 0,
            max_queue_packets: 0,
            bucket: if bucket.is_zero() {
                Duration::from_millis(100)
            } else {
                bucket
            },
            delivered_per_bucket: Vec::new(),
        }
    }

    /// All drops, whatever the cause.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue + self.dropped_loss + self.dropped_blackout + self.dropped_filter
    }

    /// Drops of one cause.
    pub fn dropped_by(&self, cause: DropCause) -> u64 {
        match cause {
            DropCause::Queue => self.dropped_queue,
            DropCause::Loss => self.dropped_loss,
            DropCause::Blackout => self.dropped_blackout,
            DropCause::Filter => self.dropped_filter,
        }
    }

    /// Width of the delivery time buckets.
    pub fn bucket(&self) -> Duration {
        self.bucket
    }

    /// Delivered bytes per bucket: element `i` covers `[i*bucket, (i+1)*bucket)`.
    pub fn delivered_per_bucket(&self) -> &[u64] {
        &self.delivered_per_bucket
    }

    /// Delivered bytes in `[from, to)`, counting whole buckets that start in
    /// that interval (so align both ends to the bucket width).
    pub fn delivered_bytes_between(&self, from: Instant, to: Instant) -> u64 {
        let width = self.bucket.as_micros() as u64;
        let first = (from.total_micros() / width) as usize;
        let last = (to.total_micros() / width) as usize;
        self.delivered_per_bucket
            .iter()
            .take(last)
            .skip(first)
            .sum()
    }

    /// Mean delivered rate in `[from, to)`, bit/s (see
    /// [`DirStats::delivered_bytes_between`]).
    pub fn throughput_bps(&self, from: Instant, to: Instant) -> f64 {
        let secs = (to - from).as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        self.delivered_bytes_between(from, to) as f64 * 8.0 / secs
    }

    pub(crate) fn record_delivery(&mut self, at: Instant, bytes: usize) {
        self.delivered_packets += 1;
        self.delivered_bytes += bytes as u64;
        let idx = (at.total_micros() / self.bucket.as_micros() as u64) as usize;
        if idx >= self.delivered_per_bucket.len() {
            self.delivered_per_bucket.resize(idx + 1, 0);
        }
        self.delivered_per_bucket[idx] += bytes as u64;
    }

    pub(crate) fn record_drop(&mut self, cause: DropCause) {
        match cause {
            DropCause::Queue => self.dropped_queue += 1,
            DropCause::Loss => self.dropped_loss += 1,
            DropCause::Blackout => self.dropped_blackout += 1,
            DropCause::Filter => self.dropped_filter += 1,
        }
    }

    pub(crate) fn record_queue(&mut self, bytes: u64, packets: u64) {
        self.max_queue_bytes = self.max_queue_bytes.max(bytes);
        self.max_queue_packets = self.max_queue_packets.max(packets);
    }
}
