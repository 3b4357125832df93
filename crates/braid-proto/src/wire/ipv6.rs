//! IPv6 header (RFC 8200 section 3) and extension headers (section 4).
//!
//! Parsing walks the extension header chain to reach the upper layer:
//! hop-by-hop options (section 4.3, only directly after the fixed header),
//! routing (4.4), destination options (4.6) and atomic fragments (4.5, RFC
//! 6946) are skipped; a real fragment is [`Error::Unsupported`]; the
//! authentication header (RFC 4302 section 2.2) is skipped using its own
//! length unit. ESP (50) and No Next Header (59) end the walk and are
//! reported as the next header. Every header moves the cursor forward by at
//! least 8 bytes, so the walk ends on any input.

use super::ip::IpProtocol;
use super::{Error, Result};
use core::net::Ipv6Addr;

/// Byte offsets of the fixed IPv6 header fields (RFC 8200 section 3).
pub mod field {
    use crate::wire::Field;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Field = 0..4;
    /// Payload length: everything after the fixed header.
    pub const PAYLOAD_LEN: Field = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Field = 8..24;
    /// Destination address.
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Next-header values of the extension headers Braid knows.
pub mod ext {
    /// Hop-by-hop options (RFC 8200 section 4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing (RFC 8200 section 4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment (RFC 8200 section 4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// Authentication header (RFC 4302).
    pub const AUTH: u8 = 51;
    /// No next header (RFC 8200 section 4.7).
    pub const NO_NEXT: u8 = 59;
    /// Destination options (RFC 8200 section 4.6).
    pub const DEST_OPTS: u8 = 60;
}

/// A zero-copy view of an IPv6 packet's fixed header.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap without checking; accessors may panic until
    /// [`check_len`](Self::check_len) succeeds.
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wrap and [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the buffer holds the fixed header and the payload length
    /// it announces.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated("IPv6 header"));
        }
        if len < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(Error::Truncated("IPv6 payload length"));
        }
        Ok(())
    }

    /// Consume the view.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Version (6 for a valid packet).
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }
    /// Payload length field (extension headers included).
    pub fn payload_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        let f = field::PAYLOAD_LEN;
        u16::from_be_bytes([b[f.start], b[f.start + 1]])
    }
    /// The first next-header value (an extension header or the upper layer).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr_at(self.buffer.as_ref(), field::SRC_ADDR.start))
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr_at(self.buffer.as_ref(), field::DST_ADDR.start))
    }
    /// Everything after the fixed header up to the payload length (link
    /// padding excluded), extension headers included.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

fn addr_at(b: &[u8], start: usize) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&b[start..start + 16]);
    a
}

/// Walk the extension header chain starting with `next_header` at the front
/// of `data` (the bytes after the fixed header). Returns the upper-layer
/// protocol number and the number of extension header bytes skipped.
fn skip_extension_headers(mut next_header: u8, data: &[u8]) -> Result<(u8, usize)> {
    let mut offset = 0;
    loop {
        let rest = data.get(offset..).unwrap_or(&[]);
        let header_len = match next_header {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                // RFC 8200 section 4.3: "The Hop-by-Hop Options header, when
                // present, MUST immediately follow the IPv6 header."
                if next_header == ext::HOP_BY_HOP && offset != 0 {
                    return Err(Error::Malformed("IPv6 hop-by-hop header not first"));
                }
                let len = *rest
                    .get(1)
                    .ok_or(Error::Truncated("IPv6 extension header"))?;
                (usize::from(len) + 1) * 8
            }
            ext::FRAGMENT => {
                let frag = rest
                    .get(..8)
                    .ok_or(Error::Truncated("IPv6 fragment header"))?;
                let off_m = u16::from_be_bytes([frag[2], frag[3]]);
                // An atomic fragment (offset 0, M clear; RFC 6946) carries the
                // whole packet and is skipped; anything else needs reassembly.
                if off_m & 0xfff9 != 0 {
                    return Err(Error::Unsupported("IPv6 fragment"));
                }
                8
            }
            ext::AUTH => {
                // RFC 4302 section 2.2: the payload length is in 32-bit words,
                // minus 2.
                let len = *rest.get(1).ok_or(Error::Truncated("IPv6 AH header"))?;
                (usize::from(len) + 2) * 4
            }
            // ESP, No Next Header and every upper-layer protocol end the walk.
            _ => return Ok((next_header, offset)),
        };
        if rest.len() < header_len {
            return Err(Error::Truncated("IPv6 extension header"));
        }
        next_header = rest[0];
        offset += header_len;
    }
}

/// A high-level IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Upper-layer protocol (after any extension headers).
    pub next_header: IpProtocol,
    /// Upper-layer payload length (excluding extension headers).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Defaults for fields callers rarely set.
    pub const DEFAULT: Ipv6Repr = Ipv6Repr {
        src_addr: Ipv6Addr::UNSPECIFIED,
        dst_addr: Ipv6Addr::UNSPECIFIED,
        next_header: IpProtocol::Tcp,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };

    /// Parse a whole packet, skipping extension headers; return the repr and
    /// the upper-layer payload.
    ///
    /// Errors: [`Error::Malformed`] for a version other than 6 or a
    /// misplaced hop-by-hop header; [`Error::Truncated`] when the buffer is
    /// shorter than the fixed header, the payload length or an extension
    /// header; [`Error::Unsupported`] for a fragment or a jumbogram (RFC
    /// 2675).
    pub fn parse_packet(packet: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
        if packet.first().is_some_and(|b| b >> 4 != 6) {
            return Err(Error::Malformed("IPv6 version"));
        }
        let view = Ipv6Packet::new_checked(packet)?;
        let data = packet
            .get(HEADER_LEN..HEADER_LEN + usize::from(view.payload_len()))
            .ok_or(Error::Truncated("IPv6 payload length"))?;
        if view.payload_len() == 0 && view.next_header() == ext::HOP_BY_HOP {
            return Err(Error::Unsupported("IPv6 jumbogram"));
        }
        let (next_header, ext_len) = skip_extension_headers(view.next_header(), data)?;
        let payload = data
            .get(ext_len..)
            .ok_or(Error::Truncated("IPv6 extension header"))?;
        let repr = Ipv6Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            next_header: IpProtocol::from(next_header),
            payload_len: payload.len(),
            hop_limit: view.hop_limit(),
            traffic_class: view.traffic_class(),
            flow_label: view.flow_label(),
        };
        Ok((repr, payload))
    }

    /// Header length this repr emits (40: Braid emits no extension headers).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit the fixed header into the front of `buf`.
    ///
    /// Errors with [`Error::Emit`] when `buf` is shorter than 40 bytes, the
    /// payload length does not fit 16 bits or the flow label 20 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let payload_len = u16::try_from(self.payload_len)
            .map_err(|_| Error::Emit("IPv6 payload exceeds 65535"))?;
        if self.flow_label > 0x000f_ffff {
            return Err(Error::Emit("IPv6 flow label wider than 20 bits"));
        }
        let header = buf
            .get_mut(..HEADER_LEN)
            .ok_or(Error::Emit("buffer too small for IPv6 header"))?;
        let ver_tc_flow = (6 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label;
        header[field::VER_TC_FLOW].copy_from_slice(&ver_tc_flow.to_be_bytes());
        header[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
        header[field::NXT_HDR] = u8::from(self.next_header);
        header[field::HOP_LIMIT] = self.hop_limit;
        header[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        header[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        Ok(())
    }
}
