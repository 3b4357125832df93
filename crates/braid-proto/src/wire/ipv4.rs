//! IPv4 header (RFC 791 section 3.1). Options are accepted and skipped;
//! fragments are reported as unsupported (Braid never fragments; the kernel
//! reassembles).
//!
//! [`Ipv4Packet`] is a zero-copy view whose accessors never panic once
//! [`Ipv4Packet::check_len`] succeeded; [`Ipv4Repr`] is the parsed header.

use super::ip::IpProtocol;
use super::{Error, Result, checksum};
use core::net::Ipv4Addr;

/// Byte offsets of the fixed IPv4 header fields (RFC 791 section 3.1).
pub mod field {
    use crate::wire::Field;

    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub const VER_IHL: usize = 0;
    /// Type of service: DSCP and ECN.
    pub const TOS: usize = 1;
    /// Total length: header and data, in bytes.
    pub const LENGTH: Field = 2..4;
    /// Identification.
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF) and fragment offset (in 8-byte units).
    pub const FLG_OFF: Field = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Upper-layer protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Field = 10..12;
    /// Source address.
    pub const SRC_ADDR: Field = 12..16;
    /// Destination address.
    pub const DST_ADDR: Field = 16..20;
}

/// Length of the IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap without checking; accessors may panic until
    /// [`check_len`](Self::check_len) succeeds.
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wrap and [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the buffer holds the fixed header, the header with its
    /// options (IHL) and the total length, and that IHL >= 5 and the total
    /// length covers the header. The version is not checked here.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated("IPv4 header"));
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed("IPv4 IHL below 5"));
        }
        if len < header_len {
            return Err(Error::Truncated("IPv4 options"));
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed("IPv4 total length below header length"));
        }
        if len < total_len {
            return Err(Error::Truncated("IPv4 total length"));
        }
        Ok(())
    }

    /// Consume the view.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, f: super::Field) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[f.start], b[f.start + 1]])
    }

    /// Version (4 for a valid packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL times 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// DSCP and ECN.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x4000 != 0
    }
    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x2000 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & 0x1fff) << 3
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Upper-layer protocol.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let f = field::SRC_ADDR;
        Ipv4Addr::new(b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3])
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let f = field::DST_ADDR;
        Ipv4Addr::new(b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3])
    }
    /// Whether the header checksum (over the header with its options)
    /// verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
    /// The payload: from the end of the header to the total length (link
    /// padding beyond it excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

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
    ///
    /// Errors: [`Error::Truncated`] when the buffer is shorter than the header
    /// or the total length; [`Error::Malformed`] for a version other than 4,
    /// IHL < 5 or a total length shorter than the header;
    /// [`Error::Checksum`]; [`Error::Unsupported`] for a fragment (MF set or
    /// a non-zero offset).
    pub fn parse_packet(packet: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let view = Ipv4Packet::new_unchecked(packet);
        if packet.first().is_some_and(|b| b >> 4 != 4) {
            return Err(Error::Malformed("IPv4 version"));
        }
        view.check_len()?;
        // RFC 791 section 3.1: "If the header checksum fails, the internet
        // datagram is discarded at once by the entity which detects the
        // error."
        if !view.verify_checksum() {
            return Err(Error::Checksum);
        }
        if view.more_frags() || view.frag_offset() != 0 {
            return Err(Error::Unsupported("IPv4 fragment"));
        }
        let repr = Ipv4Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            protocol: view.protocol(),
            payload_len: usize::from(view.total_len()) - view.header_len(),
            ttl: view.ttl(),
            tos: view.tos(),
            ident: view.ident(),
            dont_frag: view.dont_frag(),
        };
        let payload = packet
            .get(view.header_len()..usize::from(view.total_len()))
            .ok_or(Error::Truncated("IPv4 payload"))?;
        Ok((repr, payload))
    }

    /// Header length this repr emits (20: Braid emits no IPv4 options).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit the header, with checksum, into the front of `buf`.
    ///
    /// Errors with [`Error::Emit`] when `buf` is shorter than 20 bytes or the
    /// total length does not fit 16 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let total = self
            .payload_len
            .checked_add(HEADER_LEN)
            .and_then(|t| u16::try_from(t).ok())
            .ok_or(Error::Emit("IPv4 total length exceeds 65535"))?;
        let header = buf
            .get_mut(..HEADER_LEN)
            .ok_or(Error::Emit("buffer too small for IPv4 header"))?;
        header[field::VER_IHL] = 0x45;
        header[field::TOS] = self.tos;
        header[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        header[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        let flg_off: u16 = if self.dont_frag { 0x4000 } else { 0 };
        header[field::FLG_OFF].copy_from_slice(&flg_off.to_be_bytes());
        header[field::TTL] = self.ttl;
        header[field::PROTOCOL] = u8::from(self.protocol);
        header[field::CHECKSUM].copy_from_slice(&[0, 0]);
        header[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        header[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        let sum = checksum::data(header);
        header[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}
