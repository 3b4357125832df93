//! # braid-sim: a deterministic network simulator
//!
//! Virtual time, hosts with several interfaces, full-duplex links with rate,
//! delay, jitter, queues, loss, reordering, duplication, blackouts and trace
//! replay. Seeded: the same seed replays the same run exactly. Every
//! simulator story and benchmark of Braid's core runs on it.
//!
//! - [`Host`]: the sans-IO interface of whatever sits at the ends
//!   (`handle_packet`, `handle_timeout`, `poll_transmit`, `poll_timeout`).
//! - [`Sim`]: hosts, links and the event loop ([`Sim::run_until`],
//!   [`Sim::run_while`], [`Sim::step`]).
//! - [`LinkConfig`]: one direction of a link (see [`link`] for the order in
//!   which impairments apply); [`Capacity`] may replay a [`trace`].
//! - [`LinkDirection`]: one direction's state machine on its own, for
//!   callers with their own clock (the lab's real-time emulator).
//! - [`DirStats`]: counters per link direction.
//! - [`stack::EndpointHost`]: a Braid endpoint with a bulk sender or a
//!   byte-checking bulk receiver as a host.
//! - [`seed_from_env`]: `BRAID_SEED` overrides a test's seed; print the seed
//!   when a test fails and the run replays exactly.
//!
//! ```
//! use braid_proto::time::{Duration, Instant};
//! use braid_sim::{Dir, Host, LinkConfig, Sim};
//!
//! /// Sends one packet at start; counts what it receives.
//! #[derive(Default)]
//! struct Echo {
//!     outbox: Vec<Vec<u8>>,
//!     received: Vec<(Instant, Vec<u8>)>,
//! }
//! impl Host for Echo {
//!     fn handle_packet(&mut self, now: Instant, _iface: usize, packet: &[u8]) {
//!         self.received.push((now, packet.to_vec()));
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant) -> Option<(usize, Vec<u8>)> {
//!         self.outbox.pop().map(|p| (0, p))
//!     }
//!     fn poll_timeout(&mut self) -> Option<Instant> {
//!         None
//!     }
//! }
//!
//! let mut sim = Sim::new(braid_sim::seed_from_env(7));
//! let a = sim.add_host(Echo { outbox: vec![vec![0u8; 1500]], ..Echo::default() });
//! let b = sim.add_host(Echo::default());
//! let link = LinkConfig::default()
//!     .rate_bps(12_000_000)
//!     .delay(Duration::from_millis(20));
//! let id = sim.connect_symmetric((a, 0), (b, 0), link).unwrap();
//! sim.run_until(Instant::from_secs(1)).unwrap();
//! // 1 ms to serialize 1500 bytes at 12 Mbit/s, then 20 ms on the wire.
//! assert_eq!(sim.host(b).received[0].0, Instant::from_millis(21));
//! assert_eq!(sim.link_stats(id, Dir::AtoB).delivered_packets, 1);
//! ```
#![forbid(unsafe_code)]

mod host;
pub mod link;
pub mod middlebox;
pub mod rng;
mod sim;
pub mod stack;
pub mod stats;
pub mod trace;

pub use host::{Host, HostId};
pub use link::{
    Blackout, Capacity, Dir, Filter, FilterVerdict, LinkConfig, LinkDirection, LinkId, QueueLimit,
};
pub use rng::seed_from_env;
pub use sim::{DEFAULT_MAX_EVENTS_PER_INSTANT, MAX_INTERFACES, Sim, SimError};
pub use stats::{DirStats, DropCause};
pub use trace::{CsvEnd, CsvTrace, MahimahiTrace, TraceError};
