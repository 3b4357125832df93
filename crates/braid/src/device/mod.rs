//! Devices: where the runtime's IP packets come from and go to.
//!
//! A [`Device`] moves whole IP packets (no link-layer header) in batches: the
//! driver hands it a [`Batch`] to fill on receive and a [`Batch`] to write on
//! send, and reuses both, so the hot path allocates nothing per packet.
//!
//! Implementations: [`TunDevice`] (Linux TUN, the real network),
//! [`UdpDevice`] (inner packets in UDP datagrams between two Braid stacks,
//! no privileges needed) and [`MemoryDevice`] (an in-process pair for
//! tests).

mod batch;
mod memory;
#[cfg(target_os = "linux")]
mod tun;
mod udp;

pub use batch::Batch;
pub use memory::{MemoryDevice, MemoryDeviceStats};
#[cfg(target_os = "linux")]
pub use tun::TunDevice;
pub(crate) use udp::Commands as UdpCommands;
pub use udp::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEPALIVE, DEFAULT_OUTER_MTU, UdpCounters, UdpDevice,
    UdpDeviceStats,
};

use std::future::Future;
use std::io;

/// A source and sink of whole IP packets.
///
/// The driver calls [`Device::recv`] inside a `select!` next to its timer,
/// so `recv` must be cancel safe: when its future is dropped before it
/// completes, no packet may be lost (nothing is taken from the device
/// before the future returns).
pub trait Device: Send + 'static {
    /// Largest packet the device carries, bytes (the IP MTU).
    fn mtu(&self) -> usize;

    /// Wait until at least one packet is available, then move up to
    /// `batch.free()` packets into `batch` without waiting further.
    /// Cancel safe.
    fn recv(&mut self, batch: &mut Batch) -> impl Future<Output = io::Result<()>> + Send;

    /// Send every packet of `batch`. A packet the device cannot take (a full
    /// queue) may be dropped, as a link would; an error means the device is
    /// gone.
    fn send(&mut self, batch: &Batch) -> impl Future<Output = io::Result<()>> + Send;

    /// The OS network interface this device is, if it is one (a TUN
    /// device's name): `StackBuilder::interface` routes the named
    /// interfaces' addresses to it. `None` by default.
    fn interface_name(&self) -> Option<&str> {
        None
    }
}
