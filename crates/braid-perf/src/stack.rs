//! The stacks `braid perf` measures, behind one interface.
//!
//! A [`Stack`] opens a [`Connection`]: a byte stream (anything
//! `AsyncRead + AsyncWrite`) plus a [`Probe`] that reports the stack's view
//! of its subflows. The workload code in `bulk` and `rr` sees only the
//! stream, so every stack runs exactly the same code above its socket.
//!
//! - [`Stack::Kernel`]: a Linux MPTCP socket (`IPPROTO_MPTCP`). Which extra
//!   subflows open is up to the kernel path manager (`ip mptcp endpoint`,
//!   `ip mptcp limits`), configured by the caller or `braid lab`.
//! - [`Stack::Tcp`]: a plain TCP socket, for baselines and sanity checks
//!   against any TCP peer.
//! - [`Stack::Braid`]: Braid's userspace stack ([`braid::Stack`]) on a TUN
//!   device opened in the current network namespace ([`BraidOptions`]).
//!   The workload runs over a [`braid::Stream`]; the probe reads the
//!   endpoint's per-subflow statistics (addresses, bytes, RTT). MPTCP by
//!   default ([`BraidOptions::mptcp`]): the client's first local address
//!   carries the initial subflow and Braid's path manager opens one more
//!   from each further one; a server announces (ADD_ADDR) its addresses
//!   besides the listening one.
//!
//! # Routing for the braid stack
//! Braid owns its addresses itself; the kernel must not (it would answer
//! Braid's segments with RSTs). Before `braid perf ... --stack braid`, the
//! caller routes each Braid address to the TUN device and lets the kernel
//! forward between the TUN and the real interface. With Braid owning
//! `10.0.1.100` on a path whose interface `eth1` is `10.0.1.1/24`:
//! ```text
//! ip tuntap add dev braid0 mode tun && ip link set braid0 up  # or let braid create it
//! sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
//!           net.ipv4.conf.braid0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0 \
//!           net.ipv4.conf.eth1.proxy_arp=1
//! ip route add 10.0.1.100/32 dev braid0        # Braid's address -> the TUN
//! ip rule add from 10.0.1.100 table 101        # its packets leave by its path
//! ip route add default via 10.0.1.254 dev eth1 table 101   # (the path's next hop)
//! ```
//! One `/32` route and one source rule per address (per path). A TUN
//! created beforehand (`ip tuntap add`) is persistent: the routes can be
//! set up once and survive `braid perf` restarts; `braid perf` attaches to
//! it. In the lab, `braid_lab::LabGuard::route_braid` does all of this.

use braid::proto::sched::SchedulerKind;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use braid::sys::mptcp::{self, SubflowInfo};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::error::PerfError;

/// The transport under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    /// The Linux kernel's MPTCP.
    Kernel,
    /// Plain TCP.
    Tcp,
    /// Braid's userspace MPTCP over a TUN device (root).
    Braid,
    /// Braid's userspace MPTCP with every packet in a UDP datagram
    /// (docs/udp-encapsulation.md): no root, both ends Braid.
    #[value(name = "braid-udp")]
    #[serde(rename = "braid-udp")]
    BraidUdp,
}

/// A byte stream the workload runs over.
pub trait PerfStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PerfStream for T {}

/// One look at a connection's subflows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeSample {
    /// `Some(true)` if an MPTCP connection fell back to TCP; `None` where
    /// the question does not apply or could not be answered.
    pub fallback: Option<bool>,
    /// The subflows alive now.
    pub subflows: Vec<SubflowInfo>,
}

/// Reports a connection's subflows while the workload runs.
pub trait Probe: Send + Sync + fmt::Debug {
    /// Takes a sample; an empty one if the stack cannot tell.
    fn sample(&self) -> ProbeSample;

    /// True once the stack needs no more time for this (closed)
    /// connection: our FIN is acknowledged or the connection is gone. A
    /// kernel socket's close goes on in the kernel after the process exits,
    /// so the default is true; a userspace stack lives in this process and
    /// must keep running until then.
    fn settled(&self) -> bool {
        true
    }

    /// The UDP device's counters by name (`--stack braid-udp` only).
    fn udp(&self) -> Option<BTreeMap<String, u64>> {
        None
    }
}

/// Longest wait for a closed connection to settle ([`settle`]).
const SETTLE_LIMIT: Duration = Duration::from_secs(3);

/// Waits (at most 3 s) until `probe` reports its connection settled, so a
/// userspace stack gets to send its FIN and the peer does not wait for it
/// after this process is gone.
pub async fn settle(probe: &dyn Probe) {
    let step = Duration::from_millis(5);
    for _ in 0..SETTLE_LIMIT.as_millis() / step.as_millis() {
        if probe.settled() {
            return;
        }
        tokio::time::sleep(step).await;
    }
}

/// How the braid stack is set up: its TUN device and the addresses it owns.
#[derive(Debug, Clone)]
pub struct BraidOptions {
    /// The TUN device to open (or attach to) in the current network
    /// namespace.
    pub tun: String,
    /// The TUN device's MTU.
    pub mtu: u16,
    /// Addresses the stack owns besides the client's `--local` addresses or
    /// the server's listening address.
    pub addresses: Vec<IpAddr>,
    /// Write every packet of the TUN device to this pcapng file.
    pub pcap: Option<PathBuf>,
    /// Send buffer of each connection, bytes (None: the endpoint's default).
    pub send_buffer: Option<usize>,
    /// Receive buffer of each connection, bytes (None: the endpoint's
    /// default).
    pub recv_buffer: Option<usize>,
    /// Speak MPTCP (the default); off, every connection is plain TCP.
    pub mptcp: bool,
    /// Congestion control, every stack: kernel sockets get it as
    /// `TCP_CONGESTION` (an MPTCP socket passes it on to its subflows; any
    /// algorithm the kernel has loaded, root needed for one outside
    /// `net.ipv4.tcp_allowed_congestion_control`); the braid stack takes
    /// `cubic` or `newreno` ([`braid_cc`]). `None`: the stack's default
    /// (the namespace's sysctl; Braid's CUBIC).
    pub cc: Option<String>,
    /// The braid stack's packet scheduler by name ([`braid_scheduler`]);
    /// `None`: min-RTT.
    pub scheduler: Option<String>,
    /// Subflows beyond the initial one a braid connection opens or
    /// accepts (Linux `ip mptcp limits set subflow N`); `None`: the
    /// path manager's default (2), raised to what the client's `--local`
    /// addresses need.
    pub subflow_limit: Option<usize>,
    /// `--stack braid-udp`: the UDP device's keepalive interval (None:
    /// its default, 15 s).
    pub udp_keepalive: Option<Duration>,
    /// Interfaces whose IPv4 addresses the braid stack owns and follows
    /// (`braid::StackBuilder::interface`): it learns their addresses, sets
    /// up the routing to the TUN device itself (and undoes it at exit), and
    /// moves its subflows when a link goes down or comes back. In
    /// addition to, or instead of, the client's `--local` addresses.
    pub interfaces: Vec<String>,
}

impl Default for BraidOptions {
    fn default() -> Self {
        Self {
            tun: DEFAULT_TUN.to_string(),
            mtu: 1500,
            addresses: Vec::new(),
            pcap: None,
            send_buffer: None,
            recv_buffer: None,
            mptcp: true,
            cc: None,
            scheduler: None,
            subflow_limit: None,
            udp_keepalive: None,
            interfaces: Vec::new(),
        }
    }
}

/// The TUN device the braid stack opens unless told otherwise.
pub const DEFAULT_TUN: &str = "braid0";

/// An open connection of some stack.
pub struct Connection {
    /// The byte stream.
    pub stream: Box<dyn PerfStream>,
    /// The subflow probe.
    pub probe: Arc<dyn Probe>,
    /// Local address of the (first) subflow.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub remote: SocketAddr,
    /// The congestion control in use: a kernel socket's `TCP_CONGESTION`
    /// read back after it was set (or not), the braid stack's controller.
    pub cc: Option<String>,
    /// The MPTCP packet scheduler: the braid stack's, or the kernel's
    /// `net.mptcp.scheduler` (MPTCP sockets only).
    pub scheduler: Option<String>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Kernel => "kernel",
            Stack::Tcp => "tcp",
            Stack::Braid => "braid",
            Stack::BraidUdp => "braid-udp",
        }
    }

    /// Braid's own stack, over TUN or UDP.
    pub fn is_braid(self) -> bool {
        matches!(self, Stack::Braid | Stack::BraidUdp)
    }

    /// Opens a connection to `remote`. `locals` are the local addresses:
    /// kernel stacks bind the first (if any); the braid stack owns them all
    /// (its first of the remote's family is the source of the first
    /// subflow) and needs at least one.
    pub async fn connect(
        self,
        remote: SocketAddr,
        locals: &[SocketAddr],
        braid: &BraidOptions,
    ) -> Result<Connection, PerfError> {
        if self.is_braid() {
            let mut addresses: Vec<IpAddr> = locals.iter().map(SocketAddr::ip).collect();
            addresses.extend(&braid.addresses);
            if braid.interfaces.is_empty()
                && !addresses.iter().any(|a| a.is_ipv4() == remote.is_ipv4())
            {
                return Err(PerfError::BraidNoAddress(format!(
                    "--stack braid needs --local ADDR of the same family as {remote} \
                     (an address Braid owns, routed to the TUN device; see --help)"
                )));
            }
            // The first address of the remote's family is the initial
            // subflow's source; the path manager opens one more subflow from
            // each of the others.
            let first = addresses
                .iter()
                .position(|a| a.is_ipv4() == remote.is_ipv4());
            let extra: Vec<IpAddr> = addresses
                .iter()
                .enumerate()
                .filter(|&(i, a)| Some(i) != first && a.is_ipv4() == remote.is_ipv4())
                .map(|(_, a)| *a)
                .collect();
            let udp = UdpPorts {
                server: false,
                port: remote.port(),
            };
            let stack = braid_stack(self, braid, &addresses, &extra, &[], udp)?;
            if !stack
                .addresses()
                .iter()
                .any(|a| a.is_ipv4() == remote.is_ipv4())
            {
                return Err(PerfError::BraidNoAddress(format!(
                    "--stack braid: the interfaces {} have no address of the same family as {remote}",
                    braid.interfaces.join(", ")
                )));
            }
            let stream = braid::Stream::connect(&stack, remote)
                .await
                .map_err(|source| PerfError::Connect {
                    addr: remote,
                    source,
                })?;
            return Ok(braid_connection(stream, stack, braid));
        }
        let local = locals.first().copied();
        let socket = self.socket(remote)?;
        set_cc(&socket, braid.cc.as_deref())?;
        if let Some(addr) = local {
            socket
                .bind(&addr.into())
                .map_err(|source| PerfError::Bind { addr, source })?;
        }
        socket
            .set_nonblocking(true)
            .map_err(|e| PerfError::io("socket", e))?;
        let probe_fd = socket
            .try_clone()
            .map_err(|e| PerfError::io("dup socket", e))?;
        let std_stream: std::net::TcpStream = socket.into();
        let stream = TcpSocket::from_std_stream(std_stream)
            .connect(remote)
            .await
            .map_err(|source| PerfError::Connect {
                addr: remote,
                source,
            })?;
        Ok(self.wrap(stream, probe_fd.into(), braid.cc.as_deref()))
    }

    /// Listens on `addr`. The braid stack owns `addr`'s IP (unless
    /// unspecified) and `braid.addresses`, and needs at least one address.
    pub async fn listen(
        self,
        addr: SocketAddr,
        braid: &BraidOptions,
    ) -> Result<PerfListener, PerfError> {
        if self.is_braid() {
            let mut addresses = Vec::new();
            if !addr.ip().is_unspecified() {
                addresses.push(addr.ip());
            }
            addresses.extend(&braid.addresses);
            if addresses.is_empty() && braid.interfaces.is_empty() {
                return Err(PerfError::BraidNoAddress(
                    "--stack braid needs an address to own: --listen ADDR:PORT with a specific \
                     address, or --address ADDR (routed to the TUN device; see --help)"
                        .into(),
                ));
            }
            if addr.port() == 0 {
                return Err(PerfError::BraidNoAddress(
                    "--stack braid cannot listen on port 0: give a port".into(),
                ));
            }
            // Addresses besides the listening one are announced (ADD_ADDR)
            // to MPTCP clients, which may join them.
            let announce: Vec<SocketAddr> = addresses
                .iter()
                .filter(|&&a| a != addr.ip())
                .map(|&a| SocketAddr::new(a, addr.port()))
                .collect();
            let udp = UdpPorts {
                server: true,
                port: addr.port(),
            };
            let stack = braid_stack(self, braid, &addresses, &[], &announce, udp)?;
            let listener = braid::Listener::bind(&stack, addr)
                .map_err(|source| PerfError::Bind { addr, source })?;
            return Ok(PerfListener {
                inner: ListenerInner::Braid(listener),
                stack: self,
                braid: Some(stack),
                cc: braid.cc.clone(),
                scheduler: braid.scheduler.clone(),
            });
        }
        let socket = self.socket(addr)?;
        set_cc(&socket, braid.cc.as_deref())?;
        let listen = |e| PerfError::io(format!("listen on {addr}"), e);
        socket.set_reuse_address(true).map_err(listen)?;
        socket
            .bind(&addr.into())
            .map_err(|source| PerfError::Bind { addr, source })?;
        socket.listen(128).map_err(listen)?;
        socket.set_nonblocking(true).map_err(listen)?;
        let inner = TcpListener::from_std(socket.into()).map_err(listen)?;
        Ok(PerfListener {
            inner: ListenerInner::Kernel(inner),
            stack: self,
            braid: None,
            cc: braid.cc.clone(),
            scheduler: None,
        })
    }

    /// A fresh socket of this stack for the family of `addr`.
    fn socket(self, addr: SocketAddr) -> Result<Socket, PerfError> {
        let domain = Domain::for_address(addr);
        match self {
            // `connect` and `listen` handle the braid stack before this.
            Stack::Braid | Stack::BraidUdp => Err(PerfError::Protocol(
                "the braid stack has no kernel socket".into(),
            )),
            Stack::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
                .map_err(|e| PerfError::io("socket", e)),
            Stack::Kernel => Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP))
                .map_err(PerfError::MptcpUnavailable),
        }
    }

    /// Wraps a connected kernel socket; `probe_fd` refers to the same socket.
    /// `cc` is set on it (again: an accepted socket may not have inherited
    /// the listener's) and read back.
    fn wrap(self, stream: TcpStream, probe_fd: OwnedFd, cc: Option<&str>) -> Connection {
        let sock = socket2::SockRef::from(&probe_fd);
        // Set on the listening or connecting socket already, which failed
        // loudly then; here best effort, the read-back tells.
        if let Some(name) = cc {
            let _ = sock.set_tcp_congestion(name.as_bytes());
        }
        let cc = sock.tcp_congestion().ok().map(|b| cc_name(&b));
        let local = stream.local_addr().ok();
        // A connected stream has a peer; fall back to the unspecified address
        // only if the peer vanished between connect and here.
        let remote = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let probe = Arc::new(SocketProbe {
            fd: probe_fd,
            mptcp: self == Stack::Kernel,
            local,
            remote: Some(remote),
        });
        let scheduler = (self == Stack::Kernel)
            .then(|| std::fs::read_to_string("/proc/sys/net/mptcp/scheduler").ok())
            .flatten()
            .map(|s| format!("kernel {}", s.trim()));
        Connection {
            stream: Box::new(stream),
            probe,
            local,
            remote,
            cc,
            scheduler,
        }
    }
}

/// The congestion controls the kernel has loaded.
const AVAILABLE_CC: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/// Sets `TCP_CONGESTION` on a kernel socket (nothing for `None`), after
/// checking the kernel has it loaded.
fn set_cc(socket: &Socket, cc: Option<&str>) -> Result<(), PerfError> {
    let Some(name) = cc else { return Ok(()) };
    // An MPTCP socket takes any name and its subflows then silently run the
    // namespace's default (seen: `lia` became bbr), so check the kernel's
    // list first.
    if let Ok(list) = std::fs::read_to_string(AVAILABLE_CC) {
        if !list.split_whitespace().any(|a| a == name) {
            return Err(PerfError::Unsupported(format!(
                "congestion control '{name}' is not loaded in this kernel (available: {}); \
                 the braid stack has lia, olia and balia",
                list.trim()
            )));
        }
    }
    socket.set_tcp_congestion(name.as_bytes()).map_err(|e| {
        PerfError::io(
            format!(
                "congestion control '{name}' (TCP_CONGESTION; loaded: \
                 /proc/sys/net/ipv4/tcp_available_congestion_control, root for one not in \
                 tcp_allowed_congestion_control)"
            ),
            e,
        )
    })
}

/// An algorithm name as `TCP_CONGESTION` returns it (NUL-padded).
fn cc_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Braid's packet scheduler for a `--scheduler` name.
pub fn braid_scheduler(name: &str) -> Result<SchedulerKind, PerfError> {
    SchedulerKind::from_name(name).map_err(|e| PerfError::Protocol(format!("--scheduler: {e}")))
}

/// Braid's controller for a `--cc` name: `cubic`, `newreno`, or a
/// coupled one, `lia`, `olia`, `balia`.
pub fn braid_cc(name: &str) -> Result<braid::proto::cc::CcAlgorithm, PerfError> {
    braid::proto::cc::CcAlgorithm::from_name(name)
        .map_err(|e| PerfError::Protocol(format!("--cc for --stack braid: {e}")))
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A listening socket of some stack.
#[derive(Debug)]
pub struct PerfListener {
    inner: ListenerInner,
    stack: Stack,
    /// The braid stack behind a braid listener (for its UDP counters).
    braid: Option<braid::Stack>,
    cc: Option<String>,
    scheduler: Option<String>,
}

#[derive(Debug)]
enum ListenerInner {
    Kernel(TcpListener),
    Braid(braid::Listener),
}

impl PerfListener {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            ListenerInner::Kernel(l) => l.local_addr(),
            ListenerInner::Braid(l) => l.local_addr(),
        }
    }

    /// The stack of the connections it accepts.
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> Result<Connection, PerfError> {
        let inner = match &self.inner {
            ListenerInner::Kernel(l) => l,
            ListenerInner::Braid(l) => {
                let (stream, _) = l.accept().await.map_err(|e| PerfError::io("accept", e))?;
                return Ok(braid_connection_cc(
                    stream,
                    self.braid.clone(),
                    self.cc.as_deref(),
                    self.scheduler.as_deref(),
                ));
            }
        };
        let (stream, _) = inner
            .accept()
            .await
            .map_err(|e| PerfError::io("accept", e))?;
        let probe_fd = stream
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| PerfError::io("dup socket", e))?;
        Ok(self.stack.wrap(stream, probe_fd, self.cc.as_deref()))
    }
}

/// Probes a kernel socket through a duplicate of its descriptor.
#[derive(Debug)]
struct SocketProbe {
    fd: OwnedFd,
    mptcp: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
}

impl Probe for SocketProbe {
    fn sample(&self) -> ProbeSample {
        if self.mptcp {
            if let Ok(full) = mptcp::mptcp_full_info(self.fd.as_fd()) {
                return ProbeSample {
                    fallback: Some(full.fallback()),
                    subflows: full.subflows,
                };
            }
        }
        match mptcp::tcp_info(self.fd.as_fd()) {
            Ok(info) => ProbeSample {
                fallback: None,
                subflows: vec![SubflowInfo {
                    local: self.local,
                    remote: self.remote,
                    ..info
                }],
            },
            Err(_) => ProbeSample::default(),
        }
    }
}

/// The UDP ports of `--stack braid-udp`.
#[derive(Debug, Clone, Copy)]
struct UdpPorts {
    /// The listening side (binds `port`) or the connecting one (sends to
    /// `port`).
    server: bool,
    port: u16,
}

/// Starts a Braid stack owning `addresses` over its device (`stack`: the
/// TUN device, or UDP sockets on those addresses); its MPTCP connections
/// open extra subflows from `subflows_from` and announce `announce`.
///
/// Over UDP the server binds its sockets to UDP port `udp.port` (its TCP
/// port's number) on each of its addresses; a client binds ephemeral ports
/// and sends to the server's addresses at `udp.port`.
fn braid_stack(
    stack: Stack,
    opts: &BraidOptions,
    addresses: &[IpAddr],
    subflows_from: &[IpAddr],
    announce: &[SocketAddr],
    udp: UdpPorts,
) -> Result<braid::Stack, PerfError> {
    let mut builder = braid::Stack::builder();
    let mut seen = Vec::new();
    for &a in addresses {
        if !seen.contains(&a) {
            seen.push(a);
            builder = builder.address(a);
        }
    }
    if let Some(p) = &opts.pcap {
        builder = builder.pcap(p);
    }
    for name in &opts.interfaces {
        builder = builder.interface(name);
    }
    let mut config = braid::proto::endpoint::EndpointConfig {
        mptcp: opts.mptcp,
        ..Default::default()
    };
    if let Some(name) = &opts.cc {
        config.tcp.congestion = braid_cc(name)?;
    }
    if let Some(name) = &opts.scheduler {
        config.conn.scheduler = braid_scheduler(name)?.into();
    }
    // Both levels: each subflow's TCP buffers and MPTCP's data-level ones;
    // caps on autotuned buffers (as the kernel's tcp_rmem[2]/tcp_wmem[2]).
    config.set_buffers(opts.send_buffer, opts.recv_buffer, true);
    let pm = &mut config.conn.pm;
    pm.local_addrs = subflows_from.to_vec();
    pm.announce = announce.to_vec();
    pm.limits.subflows = opts
        .subflow_limit
        .unwrap_or(pm.limits.subflows)
        .max(subflows_from.len() + announce.len())
        .max(opts.interfaces.len().saturating_sub(1) + announce.len());
    builder = builder.config(config);
    let start = |e| PerfError::io("start the braid stack", e);
    if stack == Stack::BraidUdp {
        let port = if udp.server { udp.port } else { 0 };
        let locals: Vec<SocketAddr> = seen.iter().map(|&a| SocketAddr::new(a, port)).collect();
        // With --interface only, the sockets come with the interfaces'
        // addresses.
        let dev = if locals.is_empty() && !opts.interfaces.is_empty() {
            braid::UdpDevice::unbound(port)
        } else {
            braid::UdpDevice::bind(&locals)
                .map_err(|e| PerfError::io("open the UDP sockets of --stack braid-udp", e))?
        };
        let mut dev = dev.outer_mtu(usize::from(opts.mtu));
        if !udp.server {
            dev = dev.default_port(udp.port);
        }
        if let Some(k) = opts.udp_keepalive {
            dev = dev.keepalive(Some(k));
        }
        return builder.build_udp(dev).map_err(start);
    }
    let tun = braid::TunDevice::create(&opts.tun, opts.mtu).map_err(|source| PerfError::Tun {
        name: opts.tun.clone(),
        not_root: !nix::unistd::geteuid().is_root(),
        source,
    })?;
    builder.build(tun).map_err(start)
}

/// Wraps an open Braid stream of a stack set up with `opts`.
fn braid_connection(stream: braid::Stream, stack: braid::Stack, opts: &BraidOptions) -> Connection {
    braid_connection_cc(
        stream,
        Some(stack),
        opts.cc.as_deref(),
        opts.scheduler.as_deref(),
    )
}

/// Wraps an open Braid stream whose controller is `cc` (None: CUBIC) and
/// scheduler `scheduler` (None: min-RTT).
fn braid_connection_cc(
    stream: braid::Stream,
    stack: Option<braid::Stack>,
    cc: Option<&str>,
    scheduler: Option<&str>,
) -> Connection {
    let stats = stream.stats_handle();
    let local = stats.local_addr();
    let remote = stats.peer_addr();
    Connection {
        stream: Box::new(stream),
        probe: Arc::new(BraidProbe { stats, stack }),
        local: Some(local),
        remote,
        cc: Some(cc.unwrap_or("cubic").to_string()),
        scheduler: Some(
            scheduler
                .and_then(|s| SchedulerKind::from_name(s).ok())
                .unwrap_or_default()
                .name()
                .to_string(),
        ),
    }
}

/// Probes a Braid connection through the endpoint's statistics.
#[derive(Debug)]
struct BraidProbe {
    stats: braid::StatsHandle,
    stack: Option<braid::Stack>,
}

impl Probe for BraidProbe {
    fn sample(&self) -> ProbeSample {
        let fallback = self.stats.is_mptcp().ok().map(|m| !m);
        // MPTCP (also fallen back): every subflow, with its own addresses.
        if let Ok(Some(list)) = self.stats.subflows() {
            let subflows = list
                .iter()
                .map(|s| SubflowInfo {
                    id: s.id.0,
                    local: Some(s.local),
                    remote: Some(s.remote),
                    ..subflow_info(&s.stats)
                })
                .collect();
            return ProbeSample { fallback, subflows };
        }
        let Ok(stats) = self.stats.stats() else {
            return ProbeSample::default();
        };
        let subflows = stats
            .subflows
            .iter()
            .enumerate()
            .map(|(i, s)| SubflowInfo {
                id: u32::try_from(i).unwrap_or(u32::MAX),
                // Plain TCP: the one subflow is the stream's 4-tuple.
                local: Some(self.stats.local_addr()),
                remote: Some(self.stats.peer_addr()),
                ..subflow_info(s)
            })
            .collect();
        // Plain TCP: "fell back" only says something if MPTCP was offered,
        // which the stream cannot tell; leave it open.
        ProbeSample {
            fallback: None,
            subflows,
        }
    }

    fn udp(&self) -> Option<BTreeMap<String, u64>> {
        let c = self.stack.as_ref()?.udp_stats()?;
        Some(
            c.fields()
                .iter()
                .map(|&(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn settled(&self) -> bool {
        use braid::proto::tcp::State;
        match self.stats.stats() {
            Ok(s) => matches!(s.state, State::FinWait2 | State::TimeWait | State::Closed),
            Err(_) => true,
        }
    }
}

/// The kernel-shaped figures of one Braid subflow (addresses left empty).
fn subflow_info(s: &braid::proto::tcp::SubflowStats) -> SubflowInfo {
    use braid::proto::tcp::State;
    let mss = s.mss.max(1);
    SubflowInfo {
        id: 0,
        local: None,
        remote: None,
        bytes_acked: s.bytes_acked,
        bytes_received: s.bytes_received,
        // Braid counts retransmitted segments, not bytes: full-sized
        // segments are assumed.
        bytes_retrans: s.retransmitted_segments.saturating_mul(mss as u64),
        rtt_us: s
            .srtt
            .map_or(0, |d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
        snd_cwnd: u32::try_from(s.cwnd / mss).unwrap_or(u32::MAX),
        // Linux's TCP state numbers (include/net/tcp_states.h).
        state: match s.state {
            State::Established => 1,
            State::SynSent => 2,
            State::SynReceived => 3,
            State::FinWait1 => 4,
            State::FinWait2 => 5,
            State::TimeWait => 6,
            State::Closed => 7,
            State::CloseWait => 8,
            State::LastAck => 9,
            State::Listen => 10,
            State::Closing => 11,
        },
    }
}
