//! The ends of the links: whatever protocol stack a test puts there.

use braid_proto::time::Instant;

/// A host in the simulation, driven sans-IO style.
///
/// The simulator calls, at the current virtual time:
/// - [`Host::handle_packet`] when a packet arrives on an interface, or
///   [`Host::handle_timeout`] when the host's timer fires;
/// - then [`Host::poll_transmit`] repeatedly until it returns `None`; each
///   packet enters the link attached to the given interface at once;
/// - then [`Host::poll_timeout`] to learn the next wake-up.
///
/// The same sequence runs once for every host at the start of a run, and for
/// a host after the test touched it through [`crate::Sim::host_mut`].
pub trait Host {
    /// A whole IP packet arrived on interface `iface`.
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]);
    /// The timer returned by [`Host::poll_timeout`] expired.
    fn handle_timeout(&mut self, now: Instant);
    /// The next packet to send: the interface and the whole IP packet.
    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)>;
    /// When [`Host::handle_timeout`] should next be called (a time in the
    /// past means now), or `None` for no timer.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

impl<H: Host + ?Sized> Host for Box<H> {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]) {
        (**self).handle_packet(now, iface, packet)
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now)
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        (**self).poll_transmit(now)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        (**self).poll_timeout()
    }
}

/// Identifies a host in a [`crate::Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);
