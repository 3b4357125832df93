//! Links: one configuration and one state per direction.
//!
//! A packet handed to a link direction at time `now` goes through, in order:
//! 1. blackout: entering during a blackout window drops it;
//! 2. the filter hook (a middlebox), which may rewrite or drop it;
//! 3. random loss;
//! 4. duplication (the copy follows the original through every later stage);
//! 5. the drop-tail queue in front of the transmitter;
//! 6. serialization at the direction's [`Capacity`] (FIFO);
//! 7. propagation delay, plus jitter, plus the reordering delay if drawn;
//! 8. a blackout window beginning while the packet is queued or in flight
//!    drops it (the queue is flushed at the window's start).
//!
//! Jitter is uniform in `[0, jitter]`. By default it does not reorder: a
//! packet is never delivered before the one sent ahead of it, as on a real
//! FIFO path ([`LinkConfig::jitter_reorders`] lifts that). The FIFO rule
//! delays a packet drawn short to its predecessor's arrival, so under dense
//! traffic delays lean towards `delay + jitter`. Reordering is
//! explicit: with probability [`LinkConfig::reorder_prob`] a packet gets
//! [`LinkConfig::reorder_delay`] extra and later packets may overtake it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use braid_proto::time::{Duration, Instant};
use rand_chacha::ChaCha8Rng;

use crate::rng::{chance, up_to};
use crate::stats::{DirStats, DropCause};
use crate::trace::{CsvTrace, MAHIMAHI_OPPORTUNITY_BYTES, MahimahiTrace};

/// Identifies a link in a [`crate::Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// A direction of a link: `AtoB` carries packets from the first endpoint
/// given to [`crate::Sim::connect`] to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// From endpoint `a` to endpoint `b`.
    AtoB,
    /// From endpoint `b` to endpoint `a`.
    BtoA,
}

impl Dir {
    pub(crate) fn index(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
}

/// How fast a link direction serializes packets.
#[derive(Debug, Clone, Default)]
pub enum Capacity {
    /// No serialization delay and no queue.
    #[default]
    Unlimited,
    /// A constant rate, bit/s (0 means no packet ever leaves).
    Rate(u64),
    /// Replay of a mahimahi trace (trace time 0 = simulation time 0).
    Mahimahi(Arc<MahimahiTrace>),
    /// Replay of a per-second rate trace (trace time 0 = simulation time 0).
    Csv(Arc<CsvTrace>),
}

/// The drop-tail limit of a link direction's queue. The packet being
/// serialized counts as queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueLimit {
    /// No limit (the default; give congestion-controlled tests a limit).
    #[default]
    Unlimited,
    /// At most this many bytes queued.
    Bytes(u64),
    /// At most this many packets queued.
    Packets(u64),
}

/// A window `[start, end)` during which a link direction passes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blackout {
    /// First instant of the outage.
    pub start: Instant,
    /// First instant after the outage.
    pub end: Instant,
}

/// The configuration of one link direction. Build with the methods:
/// `LinkConfig::default().rate_bps(12_000_000).delay(Duration::from_millis(20))`.
#[derive(Debug, Clone, Default)]
pub struct LinkConfig {
    /// Serialization capacity.
    pub capacity: Capacity,
    /// Propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// Let jitter reorder packets (default false: FIFO delivery).
    pub jitter_reorders: bool,
    /// Drop-tail queue limit.
    pub queue: QueueLimit,
    /// Probability of random loss per packet.
    pub loss: f64,
    /// Probability that a packet is held back by `reorder_delay`.
    pub reorder_prob: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a packet is duplicated.
    pub duplicate: f64,
    /// Outage windows, in any order.
    pub blackouts: Vec<Blackout>,
}

impl LinkConfig {
    /// Constant rate in bit/s.
    pub fn rate_bps(mut self, bps: u64) -> Self {
        self.capacity = Capacity::Rate(bps);
        self
    }
    /// Any capacity.
    pub fn capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = capacity;
        self
    }
    /// Propagation delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Jitter bound; `reorders` lets jitter reorder packets.
    pub fn jitter(mut self, jitter: Duration, reorders: bool) -> Self {
        self.jitter = jitter;
        self.jitter_reorders = reorders;
        self
    }
    /// Queue limit.
    pub fn queue(mut self, queue: QueueLimit) -> Self {
        self.queue = queue;
        self
    }
    /// Random loss probability.
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }
    /// Reordering: probability and the extra delay of a reordered packet.
    pub fn reorder(mut self, p: f64, extra: Duration) -> Self {
        self.reorder_prob = p;
        self.reorder_delay = extra;
        self
    }
    /// Duplication probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }
    /// Adds an outage `[start, end)`.
    pub fn blackout(mut self, start: Instant, end: Instant) -> Self {
        self.blackouts.push(Blackout { start, end });
        self
    }
}

/// What a filter decides about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterVerdict {
    /// Let the (possibly rewritten) packet continue.
    Pass,
    /// Drop it (counted as [`DropCause::Filter`]).
    Drop,
}

/// A middlebox on a link direction: sees each packet as it enters, may
/// rewrite it in place or drop it.
pub type Filter = Box<dyn FnMut(Instant, &mut Vec<u8>) -> FilterVerdict>;

/// Where the transmitter is.
#[derive(Debug, Clone, Copy)]
enum Transmitter {
    /// Constant rate: busy until this many nanoseconds.
    Rate { busy_until_ns: u128 },
    /// Mahimahi: next opportunity index and bytes left in it.
    Mahimahi { next: u64, left: u64 },
    /// CSV: busy until this many nanoseconds.
    Csv { busy_until_ns: u128 },
}

/// One direction of a link: configuration, RNG, queue and counters.
///
/// This is the state machine both [`crate::Sim`] and Braid's lab emulator
/// (`braid-lab`, driven by the wall clock) run, so a scenario means the same
/// thing in both. Time is whatever the caller says it is: pass
/// non-decreasing `now` values to [`LinkDirection::admit`], hand each
/// returned packet on at its due time, and report that hand-over with
/// [`LinkDirection::record_delivery`] (only the statistics depend on it).
///
/// A capacity that can never send (a zero rate, a CSV trace holding a zero
/// rate) keeps packets in its queue; [`LinkDirection::reconfigure`] drops them
/// (counted as queue drops).
///
/// ```
/// use braid_proto::time::{Duration, Instant};
/// use braid_sim::{LinkConfig, LinkDirection};
///
/// let config = LinkConfig::default().rate_bps(12_000_000).delay(Duration::from_millis(20));
/// let mut dir = LinkDirection::new(config, 7);
/// let mut out = Vec::new();
/// dir.admit(Instant::ZERO, vec![0u8; 1500], &mut out);
/// // 1 ms to serialize 1500 bytes at 12 Mbit/s, then 20 ms of delay.
/// assert_eq!(out[0].0, Instant::from_millis(21));
/// ```
pub struct LinkDirection {
    config: LinkConfig,
    filter: Option<Filter>,
    rng: ChaCha8Rng,
    transmitter: Transmitter,
    /// Packets queued or in service: (leaves the queue at, bytes).
    queued: VecDeque<(Instant, u64)>,
    queued_bytes: u64,
    /// Latest in-order delivery time (for FIFO jitter).
    last_delivery: Instant,
    /// Entry time of the latest packet admitted to the queue.
    last_admitted: Instant,
    pub(crate) stats: DirStats,
}

impl fmt::Debug for LinkDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDirection")
            .field("config", &self.config)
            .field("filter", &self.filter.is_some())
            .field("queued_bytes", &self.queued_bytes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LinkDirection {
    /// A direction with its own random stream derived from `seed` (the
    /// same seed and the same packet arrivals give the same decisions), and
    /// 100 ms statistics buckets.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Self::with_rng(
            config,
            crate::rng::stream_rng(seed, 0),
            Duration::from_millis(100),
        )
    }

    pub(crate) fn with_rng(mut config: LinkConfig, rng: ChaCha8Rng, bucket: Duration) -> Self {
        config.blackouts.retain(|b| b.start < b.end);
        config.blackouts.sort_by_key(|b| (b.start, b.end));
        let transmitter = Self::idle_transmitter(&config.capacity, Instant::ZERO);
        LinkDirection {
            config,
            filter: None,
            rng,
            transmitter,
            queued: VecDeque::new(),
            queued_bytes: 0,
            last_delivery: Instant::ZERO,
            last_admitted: Instant::ZERO,
            stats: DirStats::new(bucket),
        }
    }

    fn idle_transmitter(capacity: &Capacity, now: Instant) -> Transmitter {
        match capacity {
            Capacity::Unlimited | Capacity::Rate(_) => Transmitter::Rate {
                busy_until_ns: u128::from(now.total_micros()) * 1000,
            },
            Capacity::Mahimahi(trace) => Transmitter::Mahimahi {
                next: trace.first_at_or_after(now),
                left: MAHIMAHI_OPPORTUNITY_BYTES,
            },
            Capacity::Csv(_) => Transmitter::Csv {
                busy_until_ns: u128::from(now.total_micros()) * 1000,
            },
        }
    }

    /// The current configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the configuration at `now`. Packets already queued or in
    /// flight keep their schedule; new packets see the new settings. A
    /// constant-rate transmitter keeps its backlog across a rate change;
    /// any other change of capacity starts the transmitter idle at `now`.
    pub fn reconfigure(&mut self, now: Instant, mut config: LinkConfig) {
        config.blackouts.retain(|b| b.start < b.end);
        config.blackouts.sort_by_key(|b| (b.start, b.end));
        let keep = matches!(
            (&self.config.capacity, &config.capacity),
            (Capacity::Rate(_), Capacity::Rate(_))
        );
        if !keep {
            self.transmitter = Self::idle_transmitter(&config.capacity, now);
        }
        // Packets a dead capacity held forever are lost with it.
        while self.queued.back().is_some_and(|q| q.0 == NEVER) {
            if let Some((_, bytes)) = self.queued.pop_back() {
                self.queued_bytes -= bytes;
                self.stats.record_drop(DropCause::Queue);
            }
        }
        self.config = config;
    }

    /// Installs (or with `None` removes) the middlebox hook.
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
    }

    /// The counters of this direction.
    pub fn stats(&self) -> &DirStats {
        &self.stats
    }

    /// Counts a packet returned by [`LinkDirection::admit`] as delivered
    /// at `at` (call it when the packet is handed on).
    pub fn record_delivery(&mut self, at: Instant, bytes: usize) {
        self.stats.record_delivery(at, bytes);
    }

    fn in_blackout(&self, at: Instant) -> bool {
        self.config
            .blackouts
            .iter()
            .take_while(|b| b.start <= at)
            .any(|b| at < b.end)
    }

    /// The start of the first blackout that overlaps `[from, to]`.
    fn blackout_during(&self, from: Instant, to: Instant) -> Option<Instant> {
        self.config
            .blackouts
            .iter()
            .take_while(|b| b.start <= to)
            .find(|b| from < b.end)
            .map(|b| b.start.max(from))
    }

    fn drop(&mut self, cause: DropCause) {
        tracing::trace!(?cause, "link drop");
        self.stats.record_drop(cause);
    }

    /// Offers `packet` at `now`; pushes each resulting delivery (due time
    /// and bytes) onto `out`: none if dropped, two if duplicated. Due times
    /// are not sorted across calls when jitter may reorder or reordering
    /// is on. `now` must not go backwards between calls.
    pub fn admit(&mut self, now: Instant, mut packet: Vec<u8>, out: &mut Vec<(Instant, Vec<u8>)>) {
        self.stats.offered_packets += 1;
        if self.in_blackout(now) {
            return self.drop(DropCause::Blackout);
        }
        if let Some(filter) = self.filter.as_mut() {
            if filter(now, &mut packet) == FilterVerdict::Drop {
                return self.drop(DropCause::Filter);
            }
        }
        if chance(&mut self.rng, self.config.loss) {
            return self.drop(DropCause::Loss);
        }
        if chance(&mut self.rng, self.config.duplicate) {
            self.stats.duplicated += 1;
            self.enqueue(now, packet.clone(), out);
        }
        self.enqueue(now, packet, out);
    }

    fn enqueue(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<(Instant, Vec<u8>)>) {
        let bytes = packet.len() as u64;
        let departure = if matches!(self.config.capacity, Capacity::Unlimited) {
            Some(now)
        } else {
            self.flush_after_blackout(now);
            // Forget packets that have left the queue.
            while let Some(&(leaves, b)) = self.queued.front() {
                if leaves > now {
                    break;
                }
                self.queued.pop_front();
                self.queued_bytes -= b;
            }
            let full = match self.config.queue {
                QueueLimit::Unlimited => false,
                QueueLimit::Bytes(limit) => self.queued_bytes + bytes > limit,
                QueueLimit::Packets(limit) => self.queued.len() as u64 >= limit,
            };
            if full {
                return self.drop(DropCause::Queue);
            }
            self.last_admitted = now;
            let departure = self.serialize(now, bytes);
            // A blackout starting while queued flushes the packet at its start.
            let leaves = match departure.and_then(|d| self.blackout_during(now, d)) {
                Some(start) => start,
                None => departure.unwrap_or(NEVER),
            };
            self.queued.push_back((leaves, bytes));
            self.queued_bytes += bytes;
            self.stats
                .record_queue(self.queued_bytes, self.queued.len() as u64);
            departure
        };
        let Some(departure) = departure else {
            return; // Held forever by a dead trace; it just occupies the queue.
        };
        let mut arrival = departure + self.config.delay;
        if !self.config.jitter.is_zero() {
            let extra = up_to(&mut self.rng, self.config.jitter.as_micros() as u64);
            arrival += Duration::from_micros(extra);
            if !self.config.jitter_reorders {
                arrival = arrival.max(self.last_delivery);
            }
        }
        let reordered = chance(&mut self.rng, self.config.reorder_prob);
        if reordered {
            arrival += self.config.reorder_delay;
        }
        if self.blackout_during(now, arrival).is_some() {
            return self.drop(DropCause::Blackout);
        }
        if reordered {
            self.stats.reordered += 1;
        } else {
            self.last_delivery = self.last_delivery.max(arrival);
        }
        out.push((arrival, packet));
    }

    /// If a blackout began after the last admitted packet while the
    /// transmitter was still busy, the queue was flushed then: the
    /// transmitter is idle now.
    fn flush_after_blackout(&mut self, now: Instant) {
        let since = self.last_admitted;
        let Some(b) = self.config.blackouts.iter().find(|b| b.start > since) else {
            return;
        };
        if b.start > now {
            return;
        }
        let busy = match self.transmitter {
            Transmitter::Rate { busy_until_ns } | Transmitter::Csv { busy_until_ns } => {
                busy_until_ns > u128::from(b.start.total_micros()) * 1000
            }
            Transmitter::Mahimahi { .. } => true,
        };
        if busy {
            self.transmitter = Self::idle_transmitter(&self.config.capacity, now);
        }
    }

    /// Schedules `bytes` on the transmitter; returns when the last bit
    /// leaves, or `None` if never.
    fn serialize(&mut self, now: Instant, bytes: u64) -> Option<Instant> {
        let now_ns = u128::from(now.total_micros()) * 1000;
        match (&mut self.transmitter, &self.config.capacity) {
            (Transmitter::Rate { busy_until_ns }, Capacity::Rate(bps)) => {
                if *bps == 0 {
                    return None;
                }
                let start = (*busy_until_ns).max(now_ns);
                let done =
                    start + (u128::from(bytes) * 8 * 1_000_000_000).div_ceil(u128::from(*bps));
                *busy_until_ns = done;
                Some(Instant::from_micros(
                    u64::try_from(done.div_ceil(1000)).unwrap_or(u64::MAX),
                ))
            }
            (Transmitter::Mahimahi { next, left }, Capacity::Mahimahi(trace)) => {
                if trace.time_of(*next) < now {
                    // Idle: the opportunities in between were wasted.
                    *next = trace.first_at_or_after(now);
                    *left = MAHIMAHI_OPPORTUNITY_BYTES;
                }
                let mut need = bytes;
                while need > *left {
                    need -= *left;
                    *next += 1;
                    *left = MAHIMAHI_OPPORTUNITY_BYTES;
                }
                *left -= need;
                let departure = trace.time_of(*next);
                if *left == 0 {
                    *next += 1;
                    *left = MAHIMAHI_OPPORTUNITY_BYTES;
                }
                Some(departure)
            }
            (Transmitter::Csv { busy_until_ns }, Capacity::Csv(trace)) => {
                let start = (*busy_until_ns).max(now_ns);
                let done = trace.finish_time_ns(start, bytes);
                *busy_until_ns = done.unwrap_or(u128::MAX);
                done.map(ns_to_instant)
            }
            // The transmitter always matches the capacity (set together).
            _ => Some(now),
        }
    }
}

/// The queue exit time of a packet a dead capacity holds forever.
const NEVER: Instant = Instant::from_micros(u64::MAX);

/// The first microsecond at or after `ns` nanoseconds.
fn ns_to_instant(ns: u128) -> Instant {
    Instant::from_micros(u64::try_from(ns.div_ceil(1000)).unwrap_or(u64::MAX))
}
