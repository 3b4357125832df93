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
    /// A UDP stack's device counters.
    udp: Option<Arc<UdpDeviceStats>>,
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
    interfaces: Vec<String>,
}

impl StackBuilder {
    /// An address the stack owns: the source of its connections and where
    /// it accepts them. Call once per address; the first of each family is
    /// the source for `connect`.
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.addresses.push(addr);
        self
    }

    /// Own the addresses of the OS interface `name` and follow it (Linux;
    /// call once per interface). With a [`crate::TunDevice`] (root) the
    /// stack owns the interface's IPv4 addresses; with a
    /// [`crate::UdpDevice`] ([`StackBuilder::build_udp`], no privileges:
    /// nothing in the routing changes) its IPv4 and global IPv6 addresses,
    /// each with a UDP socket the device opens and closes as addresses
    /// come and go ([`crate::UdpDevice::unbound`] makes a device that has
    /// none to begin with). Either way
    /// the stack learns the interface's addresses at start and, watching
    /// the kernel through rtnetlink, owns the addresses that appear
    /// ([`Stack::add_address`]), gives up those that go
    /// ([`Stack::remove_address`]) and tells its connections when the link
    /// goes down or up ([`Stack::link_down`], [`Stack::link_up`]): a link
    /// going down reaches the path manager within about a millisecond.
    /// Interface order is preference order: the first interface's address
    /// is the source of `connect`; the path manager opens subflows from the
    /// others.
    ///
    /// With a TUN device the stack also sets up the routing that makes it own
    /// those addresses, and undoes it when the stack's driver ends: the
    /// kernel's `local` route of each address is deleted (the address stays
    /// on the interface; the kernel no longer takes its packets for
    /// itself), one routing table per interface (`0x42520000` + its
    /// index) routes the address to the TUN and holds the interface's
    /// subnet and gateway, two rules per address (priority 90, `to ADDR`
    /// and `from ADDR`) select it, and the sysctls `ip_forward=1`,
    /// `rp_filter=0`, `proxy_arp=1` and `proxy_delay=0` (the interface),
    /// `accept_local=1` (the TUN) are set and later restored. Everything
    /// goes through netlink and `/proc/sys`; no `ip` command runs. While
    /// Braid owns an address, the host's own sockets cannot use it.
    ///
    /// The interfaces are looked up, and the routing set up, in the
    /// network namespace of the thread that calls [`StackBuilder::build`]
    /// (make the TUN device in the same one).
    ///
    /// [`StackBuilder::build`] fails with a one-line error if an interface
    /// does not exist, the device is neither a TUN nor a UDP device, or
    /// (TUN) the process may not change the routing (not root).
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.interfaces.push(name.into());
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
        self.start(device, Some(handles))
    }

    /// Start the stack on `device`: spawns the driver on the current tokio
    /// runtime (panics outside one, like `tokio::spawn`).
    ///
    /// With [`StackBuilder::interface`]s, first sets up their routing
    /// (blocking the calling thread for the netlink round trips, a few
    /// milliseconds).
    pub fn build<D: Device>(self, device: D) -> io::Result<Stack> {
        self.start(device, None)
    }

    /// `build`, or `build_udp` with the UDP device's counters and command
    /// queue.
    fn start<D: Device>(
        self,
        device: D,
        udp: Option<(Arc<UdpDeviceStats>, Arc<UdpCommands>)>,
    ) -> io::Result<Stack> {
        let mut addresses = self.addresses;
        // Addresses of interfaces that are up, and of those that are down.
        let mut iface_up = Vec::new();
        let mut iface_down = Vec::new();
        #[cfg(target_os = "linux")]
        let mut watcher = None;
        if !self.interfaces.is_empty() {
            #[cfg(target_os = "linux")]
            {
                // Over UDP the stack only follows the interfaces; a TUN
                // device is routed to.
                let tun = match (&udp, device.interface_name()) {
                    (Some(_), _) => None,
                    (None, Some(tun)) => Some(tun.to_string()),
                    (None, None) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "interface watching needs a TUN or UDP device",
                        ));
                    }
                };
                let (w, found) = crate::iface::start(self.interfaces.clone(), tun)?;
                for (ip, up) in found.addresses {
                    if up {
                        iface_up.push(ip);
                    } else {
                        iface_down.push(ip);
                    }
                }
                watcher = Some(w);
            }
            #[cfg(not(target_os = "linux"))]
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "interface watching needs Linux",
            ));
        }
        for ip in iface_up.iter().chain(&iface_down) {
            if !addresses.contains(ip) {
                addresses.push(*ip);
            }
        }
        if addresses.is_empty() {
            let msg = if self.interfaces.is_empty() {
                "a stack needs at least one address".to_string()
            } else {
                format!(
                    "a stack needs at least one address: interface(s) {} have no {}",
                    self.interfaces.join(", "),
                    if udp.is_some() {
                        "IPv4 or global IPv6 address"
                    } else {
                        "IPv4 address"
                    }
                )
            };
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        let mut config = self.config.unwrap_or_default();
        for ip in &iface_up {
            if !config.conn.pm.local_addrs.contains(ip) {
                config.conn.pm.local_addrs.push(*ip);
            }
        }
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
        let (stats, commands) = udp.unzip();
        if let Some(c) = &commands {
            // Sockets for the interfaces' addresses (the device has those
            // it was bound to already), opened when the driver starts.
            iface_up
                .iter()
                .chain(&iface_down)
                .for_each(|ip| c.open(*ip));
        }
        let shared = Arc::new(Shared::new(
            Endpoint::new(config, seed),
            addresses,
            commands,
        ));
        let user = UserRef::new(shared.clone());
        #[cfg(target_os = "linux")]
        let watcher = watcher.map(|mut w| {
            w.attach(Arc::downgrade(&shared));
            w
        });
        tokio::spawn(async move {
            driver::run(device, shared, tap).await;
            // The routing goes when the driver does (also when the runtime
            // drops the task).
            #[cfg(target_os = "linux")]
            drop(watcher);
        });
        Ok(Stack { user, udp: stats })
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
        self.user.shared().add_address(ip);
    }

    /// Stop owning an address: every connection resets its subflows from
    /// it (their data goes again over the others), tells the peer with
    /// REMOVE_ADDR and stops using it. A connection with no other subflow
    /// keeps its subflow (the address may return; TCP's timers decide).
    /// A UDP device closes the address's socket (shortly after, so that
    /// the RSTs leave by it).
    pub fn remove_address(&self, ip: IpAddr) {
        self.user.shared().remove_address(ip);
    }

    /// The interface behind an owned address went down (the address
    /// stays owned): as [`Stack::remove_address`] for the connections, so
    /// that they move to their other paths at once instead of after
    /// retransmission timeouts.
    pub fn link_down(&self, ip: IpAddr) {
        self.user.shared().link_down(ip);
    }

    /// The interface behind an owned address came (back) up: subflows
    /// from it retransmit now instead of at their backed-off timer, and
    /// the path manager opens subflows from it again.
    pub fn link_up(&self, ip: IpAddr) {
        self.user.shared().link_up(ip);
    }

    /// A snapshot of the endpoint's counters (packets, drops, RSTs).
    pub fn counters(&self) -> EndpointCounters {
        *self.user.shared().lock().endpoint.counters()
    }

    /// The UDP device's counters (datagrams sent, received, dropped and
    /// why), for a stack made by [`StackBuilder::build_udp`].
    pub fn udp_stats(&self) -> Option<UdpCounters> {
        self.udp.as_ref().map(|s| s.snapshot())
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
