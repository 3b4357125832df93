//! # braid-proto: the sans-IO core of Braid
//!
//! Multipath TCP (RFC 8684, MPTCP v1) without sockets, clocks, threads or a
//! global RNG. Inputs are `handle_*(now, ..)` calls, outputs are `poll_*()`
//! calls; the caller owns time, randomness and packet I/O. The same code runs
//! in the deterministic simulator (`braid-sim`) and in the tokio runtime
//! (`braid`).
//!
//! Modules, mirroring Linux `net/mptcp`:
//! - [`wire`]: zero-copy packet views and `Repr`s for IPv4, IPv6, TCP, TCP
//!   options and every MPTCP option of RFC 8684 section 3.
//! - [`crypto`]: keys, tokens, IDSN, HMAC-SHA256 and the DSS checksum
//!   (RFC 8684 sections 3.1, 3.2, 3.3.1, 3.4.1).
//! - [`time`]: the core's own `Instant` and `Duration`.
//! - [`tcp`]: one subflow, a complete RFC 9293 TCP with MPTCP hooks.
//! - [`cc`]: per-subflow congestion control (`Controller` trait).
//! - [`endpoint`]: whole IP packets in and out; demultiplexes them to
//!   connections by 4-tuple, listens, answers strays with RSTs.
//! - [`conn`]: one MPTCP connection owning its subflows (RFC 8684).
//! - [`sched`]: which subflow sends next (`Scheduler` trait).
//! - [`pm`]: which subflows to open, which addresses to announce.
//! - [`mib`]: counters for every drop and anomaly.
#![forbid(unsafe_code)]

pub mod cc;
pub mod conn;
pub mod crypto;
pub mod endpoint;
pub mod id;
pub mod mib;
pub mod pm;
mod ring;
pub mod sched;
pub mod tcp;
pub mod time;
pub mod wire;
