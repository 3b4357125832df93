//! Wire format: zero-copy packet views and high-level representations.
//!
//! Shaped like smoltcp's `wire`: each protocol has a `Packet<T: AsRef<[u8]>>`
//! view (`new_unchecked`, `new_checked`, `check_len`, field accessors that
//! never panic after `check_len` succeeded) and a `Repr` with `parse`,
//! `buffer_len` and `emit`. `Repr::parse` validates everything a peer could get
//! wrong and returns a typed [`Error`]; nothing in this module panics on any
//! input.
//!
//! - [`ipv4`] (RFC 791), [`ipv6`] (RFC 8200, extension headers skipped),
//!   [`ip`] (the version-independent view used by the rest of the stack)
//! - [`checksum`]: the Internet checksum (RFC 1071) and the TCP pseudo-header
//! - [`tcp`]: the TCP header (RFC 9293 section 3.1) and its options (MSS,
//!   window scale and timestamps of RFC 7323, SACK of RFC 2018, unknown kinds
//!   kept raw). A whole option area never fails a segment: as in Linux, an
//!   option that cannot be used is skipped and counted
//!   ([`tcp::IgnoredOptions`])
//! - [`mptcp`]: every MPTCP option of RFC 8684 section 3
//! - [`seq`]: `SeqNum` (32-bit) and `Dsn` (64-bit) sequence numbers

pub mod checksum;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mptcp;
pub mod seq;
pub mod tcp;

pub use ip::{IpProtocol, IpRepr};
pub use mptcp::MptcpOption;
pub use seq::{Dsn, SeqNum};
pub use tcp::{IgnoredOptions, TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr};

/// Why a packet or option could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header or a length field says.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// A field holds a value the protocol does not allow (a length that does
    /// not fit the option's subtype, a bad version, ...).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The checksum does not verify.
    #[error("bad checksum")]
    Checksum,
    /// A valid but unsupported construct (a version we do not speak, ...).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The representation cannot be emitted (too many options for the TCP
    /// option space, a buffer too small, ...).
    #[error("cannot emit: {0}")]
    Emit(&'static str),
}

/// Result of wire parsing and emitting.
pub type Result<T> = core::result::Result<T, Error>;

/// The half-open byte range of a field inside a header.
pub type Field = core::ops::Range<usize>;

/// The length checks of a header that carries its own length (IPv4's IHL,
/// TCP's data offset), in the order that keeps every accessor in bounds:
/// the buffer holds the fixed header (`fixed` bytes); only then is
/// `header_len` read, which must be at least `fixed` and within the buffer.
/// `what` names the error of each check in turn. Returns the header length.
pub(crate) fn check_header_len(
    buffer_len: usize,
    fixed: usize,
    header_len: impl FnOnce() -> usize,
    what: [&'static str; 3],
) -> Result<usize> {
    if buffer_len < fixed {
        return Err(Error::Truncated(what[0]));
    }
    let header_len = header_len();
    if header_len < fixed {
        return Err(Error::Malformed(what[1]));
    }
    if buffer_len < header_len {
        return Err(Error::Truncated(what[2]));
    }
    Ok(header_len)
}
