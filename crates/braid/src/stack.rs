//! The stack: one endpoint, one device, one driver task.

use crate::device::{Device, UdpCommands, UdpCounters, UdpDevice, UdpDeviceStats};
use crate::driver;
use crate::shared::Shared;
use crate::tap::Tap;
use braid_proto::cc::CcAlgorithm;
use braid_proto::endpoint::{Endpoint, EndpointConfig, EndpointCounters};
use braid_proto::pm::PathManagerChoice;
use braid_proto::sched::SchedulerChoice;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A Braid network stack: the protocol endpoint driven by a tokio task over
/// a [`Device`]. Cheap to clone; [`crate::Stream`]s and
/// [`crate::Listener`]s are made from it.
///
/// The driver task keeps running while any `Stack`, `Stream` or `Listener`
/// of it lives, and afterwards until its connections have closed (at most
/// 30 s).
#[derive(Clone)]
pub struct Stack {
    user: UserRef,
    /// A UDP stack's device counters, and the queue through which
    /// `add_address`/`remove_address` open and close its sockets.
    udp: Option<(Arc<UdpDeviceStats>, Arc<UdpCommands>)>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack").finish_non_exhaustive()
    }
}

/// Builds a [`Stack`].
#[derive(Debug, Default)]
pub struct StackBuilder {
    addresses: Vec<IpAddr>,
    config: Option<EndpointConfig>,
    scheduler: Option<SchedulerChoice>,
    congestion: Option<CcAlgorithm>,
    path_manager: Option<PathManagerChoice>,
    pcap: Option<PathBuf>,
    seed: Option<[u8; 32]>,
}

impl StackBuilder {
    /// An address the stack owns: the source of its connections and where
    /// it accepts them. Call once per address; the first of each family is
    /// the source for `connect`.
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.addresses.push(addr);
        self
    }

    /// The endpoint configuration (TCP buffers, MSS, ...). Its MTU is
    /// lowered to the device's if larger.
    pub fn config(mut self, config: EndpointConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The packet scheduler of every MPTCP connection: a built-in
    /// (`SchedulerKind::Blest.into()`) or the user's own
    /// ([`crate::policy::SchedulerChoice::custom`]). Applied on top of
    /// [`StackBuilder::config`], whichever comes first.
    pub fn scheduler(mut self, scheduler: impl Into<SchedulerChoice>) -> Self {
        self.scheduler = Some(scheduler.into());
        self
    }

    /// The path manager of every MPTCP connection: a built-in
    /// (`PmKind::NDiffPorts`) or the user's own
    /// (`PathManagerChoice::custom`). Applied on top of
    /// [`StackBuilder::config`].
    pub fn path_manager(mut self, pm: impl Into<PathManagerChoice>) -> Self {
        self.path_manager = Some(pm.into());
        self
    }

    /// The congestion controller of every TCP connection and subflow: a
    /// built-in (`CcAlgorithm::Lia`) or the user's own
    /// (`CcAlgorithm::Custom`). Applied on top of [`StackBuilder::config`].
    pub fn congestion(mut self, cc: CcAlgorithm) -> Self {
        self.congestion = Some(cc);
        self
    }

    /// Write every packet the device sends and receives to a pcapng file at
    /// `path` (raw IP, one interface), from a thread of its own.
    pub fn pcap(mut self, path: impl Into<PathBuf>) -> Self {
        self.pcap = Some(path.into());
        self
    }

    /// Seed the endpoint's randomness (ISNs, ephemeral ports) instead of
    /// taking it from the OS: for reproducible tests only.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Start the stack over UDP (docs/udp-encapsulation.md): like
    /// [`StackBuilder::build`], and the device's counters stay reachable
    /// through [`Stack::udp_stats`]. With no [`StackBuilder::address`],
    /// the stack owns the device's local addresses.
    pub fn build_udp(mut self, device: UdpDevice) -> io::Result<Stack> {
        if self.addresses.is_empty() {
            for local in device.local_addrs() {
                if !self.addresses.contains(&local.ip()) {
                    self.addresses.push(local.ip());
                }
            }
        }
        let handles = (device.stats(), device.commands());
        let mut stack = self.build(device)?;
        stack.udp = Some(handles);
        Ok(stack)
    }

    /// Start the stack on `device`: spawns the driver on the current tokio
    /// runtime (panics outside one, like `tokio::spawn`).
    pub fn build<D: Device>(self, device: D) -> io::Result<Stack> {
        if self.addresses.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a stack needs at least one address",
            ));
        }
        let mut config = self.config.unwrap_or_default();
        config.mtu = config.mtu.min(device.mtu());
        if let Some(s) = self.scheduler {
            config.conn.scheduler = s;
        }
        if let Some(pm) = self.path_manager {
            config.conn.path_manager = pm;
        }
        if let Some(cc) = self.congestion {
            config.tcp.congestion = cc;
        }
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(io::Error::other)?;
                s
            }
        };
        let tap = self.pcap.as_deref().map(Tap::create).transpose()?;
        let shared = Arc::new(Shared::new(Endpoint::new(config, seed), self.addresses));
        let user = UserRef::new(shared.clone());
        tokio::spawn(driver::run(device, shared, tap));
        Ok(Stack { user, udp: None })
    }
}

impl Stack {
    /// Start building a stack.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// The addresses the stack owns.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.user.shared().lock().addresses.clone()
    }

    /// Own one more address from now on: a source for new connections, and
    /// (client side, full mesh) a subflow from it on every connection,
    /// within the subflow limit. The device must deliver its packets
    /// (for a TUN: the address routed to it; a UDP device opens a socket
    /// bound to it). Already owned: nothing changes.
    pub fn add_address(&self, ip: IpAddr) {
        if let Some((_, commands)) = &self.udp {
            commands.open(ip);
        }
        let shared = self.user.shared();
        let mut inner = shared.lock();
        if inner.addresses.contains(&ip) {
            return;
        }
        inner.addresses.push(ip);
        let now = shared.now();
        inner.endpoint.add_local_addr(now, ip);
        inner.endpoint.local_addr_up(now, ip);
        drop(inner);
        shared.wake_driver();
    }

    /// Stop owning an address: every connection resets its subflows from
    /// it (their data goes again over the others), tells the peer with
    /// REMOVE_ADDR and stops using it. A connection with no other subflow
    /// keeps its subflow (the address may return; TCP's timers decide).
    /// A UDP device closes the address's socket (shortly after, so that
    /// the RSTs leave by it).
    pub fn remove_address(&self, ip: IpAddr) {
        let shared = self.user.shared();
        let mut inner = shared.lock();
        inner.addresses.retain(|a| *a != ip);
        let now = shared.now();
        inner.endpoint.local_addr_down(now, ip);
        drop(inner);
        if let Some((_, commands)) = &self.udp {
            commands.close(ip);
        }
        shared.wake_driver();
    }

    /// The interface behind an owned address went down (the address
    /// stays owned): as [`Stack::remove_address`] for the connections, so
    /// that they move to their other paths at once instead of after
    /// retransmission timeouts.
    pub fn link_down(&self, ip: IpAddr) {
        let shared = self.user.shared();
        let now = shared.now();
        shared.lock().endpoint.local_addr_down(now, ip);
        shared.wake_driver();
    }

    /// The interface behind an owned address came (back) up: subflows
    /// from it retransmit now instead of at their backed-off timer, and
    /// the path manager opens subflows from it again.
    pub fn link_up(&self, ip: IpAddr) {
        let shared = self.user.shared();
        let now = shared.now();
        shared.lock().endpoint.local_addr_up(now, ip);
        shared.wake_driver();
    }

    /// A snapshot of the endpoint's counters (packets, drops, RSTs).
    pub fn counters(&self) -> EndpointCounters {
        *self.user.shared().lock().endpoint.counters()
    }

    /// The UDP device's counters (datagrams sent, received, dropped and
    /// why), for a stack made by [`StackBuilder::build_udp`].
    pub fn udp_stats(&self) -> Option<UdpCounters> {
        self.udp.as_ref().map(|(s, _)| s.snapshot())
    }

    /// Connections the endpoint holds, in any state.
    pub fn connection_count(&self) -> usize {
        self.user.shared().lock().endpoint.connection_count()
    }

    pub(crate) fn user(&self) -> &UserRef {
        &self.user
    }
}

/// A counted reference to the shared state: the driver winds down once the
/// last one is dropped.
#[derive(Debug)]
pub(crate) struct UserRef(Arc<Shared>);

impl UserRef {
    fn new(shared: Arc<Shared>) -> UserRef {
        shared.lock().users += 1;
        UserRef(shared)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Clone for UserRef {
    fn clone(&self) -> UserRef {
        UserRef::new(self.0.clone())
    }
}

impl Drop for UserRef {
    fn drop(&mut self) {
        self.0.lock().users -= 1;
        self.0.wake_driver();
    }
}
