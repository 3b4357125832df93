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
//! - [`Stack::Braid`]: Braid's userspace stack; not available until the
//!   runtime provides `braid::Stream`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

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
    /// Braid's userspace MPTCP.
    Braid,
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
}

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
        }
    }

    /// Opens a connection to `remote`, from `local` if given.
    pub async fn connect(
        self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<Connection, PerfError> {
        let socket = self.socket(remote)?;
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
        Ok(self.wrap(stream, probe_fd.into()))
    }

    /// Listens on `addr`.
    pub async fn listen(self, addr: SocketAddr) -> Result<PerfListener, PerfError> {
        let socket = self.socket(addr)?;
        let listen = |e| PerfError::io(format!("listen on {addr}"), e);
        socket.set_reuse_address(true).map_err(listen)?;
        socket
            .bind(&addr.into())
            .map_err(|source| PerfError::Bind { addr, source })?;
        socket.listen(128).map_err(listen)?;
        socket.set_nonblocking(true).map_err(listen)?;
        let inner = TcpListener::from_std(socket.into()).map_err(listen)?;
        Ok(PerfListener { inner, stack: self })
    }

    /// A fresh socket of this stack for the family of `addr`.
    fn socket(self, addr: SocketAddr) -> Result<Socket, PerfError> {
        let domain = Domain::for_address(addr);
        match self {
            Stack::Braid => Err(PerfError::BraidNotBuilt),
            Stack::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
                .map_err(|e| PerfError::io("socket", e)),
            Stack::Kernel => Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP))
                .map_err(PerfError::MptcpUnavailable),
        }
    }

    /// Wraps a connected kernel socket; `probe_fd` refers to the same socket.
    fn wrap(self, stream: TcpStream, probe_fd: OwnedFd) -> Connection {
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
        Connection {
            stream: Box::new(stream),
            probe,
            local,
            remote,
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A listening socket of some stack.
#[derive(Debug)]
pub struct PerfListener {
    inner: TcpListener,
    stack: Stack,
}

impl PerfListener {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The stack of the connections it accepts.
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> Result<Connection, PerfError> {
        let (stream, _) = self
            .inner
            .accept()
            .await
            .map_err(|e| PerfError::io("accept", e))?;
        let probe_fd = stream
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| PerfError::io("dup socket", e))?;
        Ok(self.stack.wrap(stream, probe_fd))
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
