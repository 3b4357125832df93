//! How the core's outcomes become `std::io::Error`s, the way a kernel
//! socket reports them.

use braid_proto::endpoint::{ConnectError, ListenError};
use braid_proto::tcp::CloseReason;
use std::io;

/// The error for a connection that closed for `reason`, seen by a read
/// (`writing == false`) or a write.
pub(crate) fn closed(reason: CloseReason, writing: bool) -> io::Error {
    match reason {
        CloseReason::Reset => {
            io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
        }
        CloseReason::Timeout => io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
        CloseReason::Aborted => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection aborted locally",
        ),
        CloseReason::Normal if writing => {
            io::Error::new(io::ErrorKind::BrokenPipe, "connection closed")
        }
        CloseReason::Normal => io::ErrorKind::NotConnected.into(),
    }
}

/// The error for a connection attempt that ended with `reason` before it
/// was established.
pub(crate) fn connect_failed(reason: CloseReason) -> io::Error {
    match reason {
        // RFC 9293 section 3.10.7.3: a RST answering our SYN.
        CloseReason::Reset => {
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused (RST)")
        }
        CloseReason::Timeout => io::Error::new(
            io::ErrorKind::TimedOut,
            "connection timed out (no answer to SYN)",
        ),
        CloseReason::Aborted | CloseReason::Normal => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection attempt aborted",
        ),
    }
}

pub(crate) fn connect(e: ConnectError) -> io::Error {
    let kind = match e {
        ConnectError::UnspecifiedLocal
        | ConnectError::InvalidRemote
        | ConnectError::AddressFamilyMismatch => io::ErrorKind::InvalidInput,
        ConnectError::AddrInUse => io::ErrorKind::AddrInUse,
        ConnectError::NoEphemeralPort => io::ErrorKind::AddrNotAvailable,
        ConnectError::TooManyConnections => io::ErrorKind::OutOfMemory,
    };
    io::Error::new(kind, e)
}

pub(crate) fn listen(e: ListenError) -> io::Error {
    let kind = match e {
        ListenError::AlreadyListening => io::ErrorKind::AddrInUse,
        ListenError::PortZero => io::ErrorKind::InvalidInput,
    };
    io::Error::new(kind, e)
}
