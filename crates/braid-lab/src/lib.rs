//! # braid-lab: network namespaces joined by emulated paths
//!
//! The lab is where Braid meets the Linux kernel. [`Lab::up`] builds three
//! network namespaces for one run: `client`, `emu` (a router in the middle)
//! and `server`, joined by one pair of veths per path, and starts the
//! userspace link emulator in `emu`. The emulator runs braid-sim's
//! [`braid_sim::LinkDirection`] on the wall clock, so a [`Scenario`] means
//! the same thing in the simulator and in the lab: rate or trace replay,
//! delay, jitter, queue, loss, duplication, reordering, blackout windows.
//! There is no netem on these kernels and none is used.
//!
//! - [`Scenario`]: the TOML format (`scenarios/README.md`), including
//!   shared bottlenecks ([`BottleneckSpec`]: several paths through one
//!   queue and rate) and a bench's competing TCP flow ([`Competitor`]).
//! - [`Lab::up`] returns a [`LabGuard`]; dropping it (also on error and on
//!   panic unwinding) stops the emulator and deletes the namespaces.
//!   [`down`] cleans up after killed processes.
//! - Addresses and routing: see [`topology`]; Braid's own addresses next
//!   to the kernel: [`LabGuard::braid_addresses`], [`LabGuard::route_braid`].
//! - The emulator: [`emulator`].
//!
//! Everything here needs root (namespaces, veths, TUN devices).
//!
//! ```no_run
//! use braid_lab::{Lab, Scenario, Side};
//!
//! let scenario = Scenario::from_file("scenarios/one-path-20mbit-30ms.toml")?;
//! let lab = Lab::up(&scenario)?;
//! let status = lab
//!     .command(Side::Client, "ping")
//!     .args(["-c", "3", &lab.server_addr(1).to_string()])
//!     .status()?;
//! assert!(status.success());
//! drop(lab); // namespaces gone
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod emulator;
mod lab;
pub mod netns;
pub mod scenario;
pub mod topology;

pub use emulator::{Lateness, PathStats, SharedLink};
pub use lab::{Lab, LabGuard, down, ensure_root, termination_signals};
pub use scenario::{
    BottleneckSpec, Bound, Competitor, PathSpec, Scenario, ScenarioError, Workload,
    WorkloadDirection,
};
pub use topology::Side;

/// What went wrong building, running or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The process is not root.
    #[error("braid lab needs root (network namespaces, veths, TUN devices): run it as root")]
    NotRoot,
    /// The scenario did not load.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// An `ip` command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// A namespace could not be entered.
    #[error("network namespace {ns}: {message}")]
    Netns {
        /// The namespace.
        ns: String,
        /// What failed.
        message: String,
    },
    /// The emulator failed.
    #[error("link emulator: {0}")]
    Emulator(String),
    /// A bad argument (unknown run, path out of range).
    #[error("{0}")]
    Invalid(String),
}
