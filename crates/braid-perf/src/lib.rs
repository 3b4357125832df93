//! # braid-perf: the measuring instrument behind `braid perf`
//!
//! Throughput and latency of one connection over a chosen [`Stack`]: the
//! Linux kernel's MPTCP, plain TCP, and Braid (on a TUN device, see
//! [`stack`] for the routing it needs).
//! The workload code runs above any `AsyncRead + AsyncWrite` stream, so
//! every stack is measured by exactly the same code above its socket.
//!
//! - [`control`]: the header that tells the server what to do, and the
//!   report the receiver sends back (wire format in its module doc).
//! - [`payload`]: the seeded pseudo-random payload and its byte-exact check.
//! - [`bulk`], [`rr`]: the two workloads.
//! - [`stack`]: stacks, connections and subflow probes.
//! - [`progress`]: per-interval samples and live progress.
//! - [`report`]: the figures and their JSON form.
//! - [`client`], [`server`]: the two roles; [`cli`]: `braid perf`.
//! - [`bench`]: `braid lab bench`, both stacks over a lab scenario.
//!
//! Figures (see [`PerfResult`]): goodput, completion time of a fixed-size
//! transfer, the longest stall seen by the receiving application (measured at
//! the receiver and carried back to the client), CPU seconds, per-subflow
//! bytes from `MPTCP_FULL_INFO` / `TCP_INFO`, and request/response latency
//! percentiles.

pub mod bench;
pub mod bulk;
pub mod cli;
pub mod client;
pub mod control;
pub mod error;
pub mod payload;
pub mod progress;
pub mod report;
pub mod rr;
pub mod server;
pub mod stack;

pub use client::{ClientConfig, run as run_client};
pub use control::{Direction, Limit, Mode};
pub use error::PerfError;
pub use progress::Display;
pub use report::{PerfResult, ServerSession};
pub use server::Server;
pub use stack::Stack;

/// Largest request/response size, bytes.
pub const MAX_RR_SIZE: u32 = 16 * 1024 * 1024;

/// The default payload seed ("brai").
pub const DEFAULT_SEED: u64 = 0x6272_6169;
