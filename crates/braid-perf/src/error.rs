//! Errors of `braid perf`, worded for a one-line message on the terminal.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a perf client or server stopped.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// The braid stack was given no address to own.
    #[error("{0}")]
    BraidNoAddress(String),
    /// The braid stack's TUN device could not be opened.
    #[error("cannot open TUN device {name}: {}{}", describe(.source),
            if *.not_root { " (not root: the braid stack needs root or CAP_NET_ADMIN)" } else { "" })]
    Tun {
        /// The device name.
        name: String,
        /// Whether the process is not root (the likely reason).
        not_root: bool,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The kernel refused to create an MPTCP socket.
    #[error("kernel MPTCP is not available (is /proc/sys/net/mptcp/enabled 1?): {}", describe(.0))]
    MptcpUnavailable(#[source] io::Error),
    /// Connecting to the server failed.
    #[error("connect to {addr}: {}", describe(.source))]
    Connect {
        /// The server address.
        addr: SocketAddr,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// Binding a local address failed.
    #[error("bind {addr}: {}", describe(.source))]
    Bind {
        /// The local address.
        addr: SocketAddr,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// Any other I/O failure, with what was being done.
    #[error("{context}: {}", describe(.source))]
    Io {
        /// What was being done.
        context: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The peer broke the control protocol or refused the test.
    #[error("{0}")]
    Protocol(String),
    /// An option this stack or kernel cannot honour.
    #[error("{0}")]
    Unsupported(String),
    /// A step did not finish in time.
    #[error("{0} timed out after {1:?}")]
    Timeout(String, Duration),
}

impl PerfError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// An I/O error in lower case, without the "(os error N)" suffix.
pub fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::UnexpectedEof => "the peer closed the connection early".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refused_reads_well() {
        let e = PerfError::Connect {
            addr: "127.0.0.1:9".parse().unwrap(),
            source: io::Error::from_raw_os_error(111),
        };
        assert_eq!(e.to_string(), "connect to 127.0.0.1:9: connection refused");
        let e = PerfError::io("read", io::Error::from_raw_os_error(22));
        assert_eq!(e.to_string(), "read: invalid argument");
    }
}
