//! The event loop: virtual time jumps from one event to the next.
//!
//! Events are packet arrivals and host timeouts, kept in a heap ordered by
//! `(time, insertion sequence)`: simultaneous events run in the order they
//! were scheduled, so a run is a pure function of the seed and the setup.
//! Link departures need no events of their own: a direction computes a
//! packet's departure when it enters the queue (see [`crate::link`]).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use braid_proto::time::{Duration, Instant};
use rand_chacha::ChaCha8Rng;

use crate::host::{Host, HostId};
use crate::link::{Dir, Filter, LinkConfig, LinkDirection, LinkId};
use crate::rng::{FNV_OFFSET, fnv1a, label_stream, stream_rng};
use crate::stats::DirStats;

/// Default bound on events processed at one instant before the run is
/// declared a livelock.
pub const DEFAULT_MAX_EVENTS_PER_INSTANT: u64 = 1_000_000;

/// Interfaces per host (indices `0..MAX_INTERFACES`).
pub const MAX_INTERFACES: usize = 256;

/// Why a run stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Too many events at one instant: hosts keep waking each other (or
    /// themselves) without time advancing.
    #[error("livelock at {at}: more than {events} events at one instant (seed {seed})")]
    Livelock {
        /// The instant.
        at: Instant,
        /// The bound that was exceeded.
        events: u64,
        /// The run's seed, to replay it.
        seed: u64,
    },
    /// `connect` named an interface that is already attached.
    #[error("host {host:?} interface {iface} is already attached to a link")]
    InterfaceInUse {
        /// The host.
        host: HostId,
        /// The interface.
        iface: usize,
    },
    /// `connect` named an interface above [`MAX_INTERFACES`].
    #[error("interface {0} is out of range")]
    NoSuchInterface(usize),
    /// `connect` named a host that does not exist.
    #[error("no host {0:?}")]
    NoSuchHost(HostId),
}

/// What an event does.
#[derive(Debug)]
enum EventKind {
    /// A packet reaches the far end of a link direction.
    Arrival {
        link: LinkId,
        dir: Dir,
        packet: Vec<u8>,
    },
    /// A host's timer, valid if `generation` is still the host's current one.
    Timeout { host: HostId, generation: u64 },
}

#[derive(Debug)]
struct Event {
    at: Instant,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    /// Reversed: the heap's top is the earliest, then the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct HostSlot<H> {
    host: H,
    /// Link end attached to each interface.
    ifaces: Vec<Option<(LinkId, Dir)>>,
    /// The timer currently scheduled, and its generation.
    armed: Option<Instant>,
    generation: u64,
    /// Needs a poll_transmit / poll_timeout round before the next event.
    dirty: bool,
}

#[derive(Debug)]
struct Link {
    /// `ends[0]` is `a`, `ends[1]` is `b`: (host, iface).
    ends: [(HostId, usize); 2],
    dirs: [LinkDirection; 2],
}

/// A deterministic simulation of hosts `H` joined by links.
///
/// Use `Sim<Box<dyn Host>>` to mix host types.
#[derive(Debug)]
pub struct Sim<H: Host> {
    seed: u64,
    now: Instant,
    hosts: Vec<HostSlot<H>>,
    links: Vec<Link>,
    events: BinaryHeap<Event>,
    next_seq: u64,
    events_processed: u64,
    events_this_instant: u64,
    max_events_per_instant: u64,
    unrouted: u64,
    bucket: Duration,
    digest: u64,
    scratch: Vec<(Instant, Vec<u8>)>,
}

impl<H: Host> Sim<H> {
    /// An empty simulation at time zero driven by `seed`.
    pub fn new(seed: u64) -> Self {
        tracing::debug!(seed, "new simulation");
        Sim {
            seed,
            now: Instant::ZERO,
            hosts: Vec::new(),
            links: Vec::new(),
            events: BinaryHeap::new(),
            next_seq: 0,
            events_processed: 0,
            events_this_instant: 0,
            max_events_per_instant: DEFAULT_MAX_EVENTS_PER_INSTANT,
            unrouted: 0,
            bucket: Duration::from_millis(100),
            digest: FNV_OFFSET,
            scratch: Vec::new(),
        }
    }

    /// The seed this simulation was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets the livelock bound (events at one instant).
    pub fn set_max_events_per_instant(&mut self, max: u64) {
        self.max_events_per_instant = max.max(1);
    }

    /// Sets the width of the delivery buckets of links connected from now on
    /// (default 100 ms).
    pub fn set_stats_bucket(&mut self, bucket: Duration) {
        self.bucket = bucket;
    }

    /// An RNG for a host or a test, derived from the seed and `label`:
    /// the same label always gives the same stream.
    pub fn rng(&self, label: &str) -> ChaCha8Rng {
        stream_rng(self.seed, label_stream(label))
    }

    /// Adds a host; it is polled when the next run starts.
    pub fn add_host(&mut self, host: H) -> HostId {
        self.hosts.push(HostSlot {
            host,
            ifaces: Vec::new(),
            armed: None,
            generation: 0,
            dirty: true,
        });
        HostId(self.hosts.len() - 1)
    }

    /// The host `id`.
    ///
    /// # Panics
    /// If `id` was not returned by [`Sim::add_host`] on this simulation.
    pub fn host(&self, id: HostId) -> &H {
        &self.hosts[id.0].host
    }

    /// The host `id`, mutably; it is polled again before the next event.
    ///
    /// # Panics
    /// If `id` was not returned by [`Sim::add_host`] on this simulation.
    pub fn host_mut(&mut self, id: HostId) -> &mut H {
        let slot = &mut self.hosts[id.0];
        slot.dirty = true;
        &mut slot.host
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Joins interface `a.1` of host `a.0` and interface `b.1` of host
    /// `b.0` with a full-duplex link; `ab` configures the direction from `a`
    /// to `b`, `ba` the other. Each direction draws its randomness from its
    /// own stream (link index and direction), so adding links never changes
    /// the behaviour of existing ones.
    pub fn connect(
        &mut self,
        a: (HostId, usize),
        b: (HostId, usize),
        ab: LinkConfig,
        ba: LinkConfig,
    ) -> Result<LinkId, SimError> {
        for (host, iface) in [a, b] {
            if iface >= MAX_INTERFACES {
                return Err(SimError::NoSuchInterface(iface));
            }
            let slot = self.hosts.get(host.0).ok_or(SimError::NoSuchHost(host))?;
            if slot.ifaces.get(iface).is_some_and(Option::is_some) || a == b {
                return Err(SimError::InterfaceInUse { host, iface });
            }
        }
        let id = LinkId(self.links.len());
        let stream = 2 * id.0 as u64;
        self.links.push(Link {
            ends: [a, b],
            dirs: [
                LinkDirection::with_rng(ab, stream_rng(self.seed, stream), self.bucket),
                LinkDirection::with_rng(ba, stream_rng(self.seed, stream + 1), self.bucket),
            ],
        });
        for ((host, iface), dir) in [(a, Dir::AtoB), (b, Dir::BtoA)] {
            let ifaces = &mut self.hosts[host.0].ifaces;
            if ifaces.len() <= iface {
                ifaces.resize(iface + 1, None);
            }
            ifaces[iface] = Some((id, dir));
        }
        Ok(id)
    }

    /// Like [`Sim::connect`] with the same configuration both ways.
    pub fn connect_symmetric(
        &mut self,
        a: (HostId, usize),
        b: (HostId, usize),
        config: LinkConfig,
    ) -> Result<LinkId, SimError> {
        self.connect(a, b, config.clone(), config)
    }

    /// Installs (or with `None` removes) the filter of one link direction.
    ///
    /// # Panics
    /// If `link` was not returned by [`Sim::connect`] on this simulation.
    pub fn set_filter(&mut self, link: LinkId, dir: Dir, filter: Option<Filter>) {
        self.links[link.0].dirs[dir.index()].set_filter(filter);
    }

    /// Changes the configuration of one link direction from now on (see
    /// [`crate::link`]); packets already on the link keep their schedule.
    /// Use it for timelines ("the path's rate halves at t = 3 s") between
    /// runs; fixed outages are simpler as [`LinkConfig::blackout`].
    ///
    /// # Panics
    /// If `link` was not returned by [`Sim::connect`] on this simulation.
    pub fn set_link_config(&mut self, link: LinkId, dir: Dir, config: LinkConfig) {
        self.links[link.0].dirs[dir.index()].reconfigure(self.now, config);
    }

    /// The configuration of one link direction.
    ///
    /// # Panics
    /// If `link` was not returned by [`Sim::connect`] on this simulation.
    pub fn link_config(&self, link: LinkId, dir: Dir) -> &LinkConfig {
        self.links[link.0].dirs[dir.index()].config()
    }

    /// The statistics of one link direction.
    ///
    /// # Panics
    /// If `link` was not returned by [`Sim::connect`] on this simulation.
    pub fn link_stats(&self, link: LinkId, dir: Dir) -> &DirStats {
        &self.links[link.0].dirs[dir.index()].stats
    }

    /// Packets sent on interfaces attached to no link (dropped).
    pub fn unrouted(&self) -> u64 {
        self.unrouted
    }

    /// Events processed so far (arrivals, timeouts, transmitted packets).
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// A digest of everything that happened so far: each arrival (time,
    /// link, direction, length and the first 64 bytes) and each timeout
    /// (time, host). Two runs with equal digests took the same course.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The time of the next pending event, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.events.peek().map(|e| e.at)
    }

    /// Runs every event up to and including `deadline`, then sets the clock
    /// to `deadline` (if later than now).
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        self.run_while(|_| true, deadline).map(|_| ())
    }

    /// Runs for `duration` of virtual time from now.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.now + duration)
    }

    /// Runs events while `condition` holds, up to `deadline`. The condition
    /// is checked before each event. Returns `Ok(true)` if it stopped
    /// holding (the clock stays at the last event), `Ok(false)` if the
    /// deadline came first (the clock is set to `deadline`).
    pub fn run_while(
        &mut self,
        mut condition: impl FnMut(&Self) -> bool,
        deadline: Instant,
    ) -> Result<bool, SimError> {
        self.service_dirty()?;
        loop {
            if !condition(self) {
                return Ok(true);
            }
            match self.events.peek() {
                Some(event) if event.at <= deadline => {}
                _ => break,
            }
            self.step()?;
        }
        self.now = self.now.max(deadline);
        Ok(false)
    }

    /// Processes the single next event, if any; returns whether there was one.
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.service_dirty()?;
        let Some(event) = self.events.pop() else {
            return Ok(false);
        };
        if event.at > self.now {
            self.now = event.at;
            self.events_this_instant = 0;
        }
        self.count_event()?;
        match event.kind {
            EventKind::Arrival { link, dir, packet } => {
                let l = &mut self.links[link.0];
                let (host, iface) = l.ends[1 - dir.index()];
                l.dirs[dir.index()]
                    .stats
                    .record_delivery(self.now, packet.len());
                self.digest = fnv1a(self.digest, &self.now.total_micros().to_le_bytes());
                self.digest = fnv1a(
                    self.digest,
                    &(2 * link.0 as u64 + dir.index() as u64).to_le_bytes(),
                );
                self.digest = fnv1a(self.digest, &(packet.len() as u64).to_le_bytes());
                self.digest = fnv1a(self.digest, &packet[..packet.len().min(64)]);
                self.hosts[host.0]
                    .host
                    .handle_packet(self.now, iface, &packet);
                self.service(host)?;
            }
            EventKind::Timeout { host, generation } => {
                let slot = &mut self.hosts[host.0];
                if slot.generation == generation {
                    slot.armed = None;
                    self.digest = fnv1a(self.digest, &self.now.total_micros().to_le_bytes());
                    self.digest = fnv1a(self.digest, &(host.0 as u64).to_le_bytes());
                    slot.host.handle_timeout(self.now);
                    self.service(host)?;
                }
            }
        }
        Ok(true)
    }

    fn count_event(&mut self) -> Result<(), SimError> {
        self.events_processed += 1;
        self.events_this_instant += 1;
        if self.events_this_instant > self.max_events_per_instant {
            tracing::error!(at = %self.now, seed = self.seed, "livelock");
            return Err(SimError::Livelock {
                at: self.now,
                events: self.max_events_per_instant,
                seed: self.seed,
            });
        }
        Ok(())
    }

    fn service_dirty(&mut self) -> Result<(), SimError> {
        for i in 0..self.hosts.len() {
            if self.hosts[i].dirty {
                self.service(HostId(i))?;
            }
        }
        Ok(())
    }

    fn schedule(&mut self, at: Instant, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push(Event { at, seq, kind });
    }

    /// Drains a host's transmissions into its links and re-arms its timer.
    fn service(&mut self, id: HostId) -> Result<(), SimError> {
        self.hosts[id.0].dirty = false;
        while let Some((iface, packet)) = self.hosts[id.0].host.poll_transmit(self.now) {
            self.count_event()?;
            let Some(Some((link, dir))) = self.hosts[id.0].ifaces.get(iface).copied() else {
                tracing::trace!(host = id.0, iface, "packet on unattached interface");
                self.unrouted += 1;
                continue;
            };
            let mut out = std::mem::take(&mut self.scratch);
            self.links[link.0].dirs[dir.index()].admit(self.now, packet, &mut out);
            for (at, packet) in out.drain(..) {
                self.schedule(at, EventKind::Arrival { link, dir, packet });
            }
            self.scratch = out;
        }
        let slot = &mut self.hosts[id.0];
        let wanted = slot.host.poll_timeout().map(|t| t.max(self.now));
        if wanted != slot.armed {
            slot.generation += 1;
            slot.armed = wanted;
            let generation = slot.generation;
            if let Some(at) = wanted {
                self.schedule(
                    at,
                    EventKind::Timeout {
                        host: id,
                        generation,
                    },
                );
            }
        }
        Ok(())
    }
}
