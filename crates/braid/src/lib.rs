//! # braid: Multipath TCP in userspace
//!
//! The tokio runtime around [`braid_proto`]: a [`Stack`] owns the protocol
//! endpoint and a [`Device`] (a Linux TUN device, UDP sockets, or an
//! in-memory pair for tests), and a driver task feeds packets and timers to the core and wakes
//! application tasks. Users get [`Stream`] and [`Listener`], shaped like
//! tokio's `TcpStream` and `TcpListener`.
//!
//! ```
//! use braid::{Listener, MemoryDevice, Stack, Stream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // Two stacks joined by an in-memory link.
//! let (a, b) = MemoryDevice::pair(1500);
//! let client = Stack::builder().address("10.0.0.1".parse().unwrap()).build(a)?;
//! let server = Stack::builder().address("10.0.0.2".parse().unwrap()).build(b)?;
//!
//! let listener = Listener::bind(&server, "10.0.0.2:7".parse().unwrap())?;
//! let echo = tokio::spawn(async move {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     let mut buf = Vec::new();
//!     stream.read_to_end(&mut buf).await?; // until the client's FIN
//!     stream.write_all(&buf).await?;
//!     stream.shutdown().await // our FIN
//! });
//!
//! let mut stream = Stream::connect(&client, "10.0.0.2:7".parse().unwrap()).await?;
//! stream.write_all(b"hello braid").await?;
//! stream.shutdown().await?;
//! let mut back = Vec::new();
//! stream.read_to_end(&mut back).await?;
//! assert_eq!(back, b"hello braid");
//! echo.await.unwrap()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Without root: over UDP
//! When both ends are Braid, a [`UdpDevice`] carries every packet in a UDP
//! datagram (the format: `docs/udp-encapsulation.md` in the repository):
//! no TUN, no routes, no privileges. The device binds one UDP socket per
//! local address (the stack owns those addresses) and is told where the
//! peer's sockets are; a server learns its clients from their SYNs.
//! ```
//! use braid::{Listener, Stack, Stream, UdpDevice};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server_dev = UdpDevice::bind(&["127.0.0.2:0".parse().unwrap()])?;
//! let server_udp = server_dev.local_addrs()[0];
//! let server = Stack::builder().build_udp(server_dev)?;
//! let client_dev = UdpDevice::bind(&["127.0.0.1:0".parse().unwrap()])?
//!     .add_peer("127.0.0.2".parse().unwrap(), server_udp);
//! let client = Stack::builder().build_udp(client_dev)?;
//!
//! let listener = Listener::bind(&server, "127.0.0.2:80".parse().unwrap())?;
//! let mut stream = Stream::connect(&client, "127.0.0.2:80".parse().unwrap()).await?;
//! let (mut accepted, _) = listener.accept().await?;
//! stream.write_all(b"no root needed").await?;
//! let mut buf = [0u8; 14];
//! accepted.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"no root needed");
//! assert_eq!(server.udp_stats().unwrap().rx_dropped(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Owning addresses next to a kernel (Linux TUN)
//! The kernel must never own Braid's addresses (it would answer Braid's
//! segments with RSTs). In the namespace where [`TunDevice`] is created,
//! with Braid owning `10.0.1.100` on the path whose veth `v0` is
//! `10.0.1.1/24`:
//! ```text
//! sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
//!           net.ipv4.conf.v0.rp_filter=0 net.ipv4.conf.v0.proxy_arp=1
//! ip route add 10.0.1.100/32 dev braid0          # Braid's address -> the TUN
//! ip rule add from 10.0.1.100 table 101          # its packets leave by its path
//! ip route add 10.0.1.0/24 dev v0 table 101      # (or: default via <next hop>)
//! ```
//! and `rp_filter=0` on `braid0`. The kernel then forwards what Braid
//! writes into the TUN, answers ARP for `10.0.1.100` on `v0` and forwards
//! the replies into the TUN.
//!
//! Or name the interfaces and let the stack do it:
//! [`StackBuilder::interface`] owns an interface's own addresses, sets up
//! (and undoes) the routing that gives them to the TUN over netlink, and
//! follows the interface's addresses and link state through rtnetlink.
//!
//! # Unsafe
//! Only in [`sys`] (MPTCP socket options of the kernel), with a safety
//! argument per block; the TUN device comes from `tun-rs`.

mod device;
mod driver;
mod error;
#[cfg(target_os = "linux")]
mod iface;
mod listener;
mod shared;
mod stack;
mod stream;
mod tap;

pub mod pcap;
pub use braid_proto as proto;
pub use braid_proto::conn::Mode;
pub use braid_proto::endpoint::MptcpEvent;
pub use braid_proto::id::SubflowId;

/// The policies a user may plug in: packet schedulers and congestion
/// controllers, built in or their own (`StackBuilder::scheduler`,
/// `StackBuilder::congestion`, per connection `Stream::connect_with` and
/// `Listener::bind_with`).
pub mod policy {
    pub use braid_proto::cc::{
        AckInfo, Balia, CcAlgorithm, CcView, CongestionEvent, Controller, ControllerFactory, Cubic,
        Lia, NewReno, Olia,
    };
    pub use braid_proto::endpoint::ConnOptions;
    pub use braid_proto::pm::{
        EndpointFlags, FullMesh, NDiffPorts, PathManager, PathManagerChoice, PmAction, PmConfig,
        PmContext, PmEndpoint, PmEvent, PmKind,
    };
    pub use braid_proto::sched::{
        Decision, SchedContext, Scheduler, SchedulerChoice, SchedulerKind, SubflowView,
    };
}
#[cfg(target_os = "linux")]
pub use device::TunDevice;
pub use device::{
    Batch, DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEPALIVE, DEFAULT_OUTER_MTU, Device, MemoryDevice,
    MemoryDeviceStats, UdpCounters, UdpDevice, UdpDeviceStats,
};
pub use listener::Listener;
pub use stack::{Stack, StackBuilder};
pub use stream::{MptcpView, OwnedReadHalf, OwnedWriteHalf, PathEvents, StatsHandle, Stream};

pub mod sys;
