//! IPv4 header (RFC 791). Options are accepted and skipped; fragments are
//! reported as unsupported (Braid never fragments; the kernel reassembles).

use super::Result;
use super::ip::IpProtocol;
use core::net::Ipv4Addr;

/// A high-level IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// Upper-layer payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN (the old TOS byte).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// The don't-fragment flag.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Defaults for fields callers rarely set.
    pub const DEFAULT: Ipv4Repr = Ipv4Repr {
        src_addr: Ipv4Addr::UNSPECIFIED,
        dst_addr: Ipv4Addr::UNSPECIFIED,
        protocol: IpProtocol::Tcp,
        payload_len: 0,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
    };

    /// Parse a whole packet: validate the header and its checksum, return the
    /// repr and the payload (trimmed to the total length).
    pub fn parse_packet(packet: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let _ = packet;
        todo!("wire::ipv4")
    }

    /// Header length this repr emits (20: Braid emits no IPv4 options).
    pub fn buffer_len(&self) -> usize {
        20
    }

    /// Emit the header, with checksum, into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let _ = buf;
        todo!("wire::ipv4")
    }
}
