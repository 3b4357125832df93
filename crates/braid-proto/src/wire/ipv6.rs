//! IPv6 header (RFC 8200 section 3) and extension headers (section 4).
//!
//! Parsing walks the extension header chain to reach the upper layer:
//! hop-by-hop options (section 4.3, only directly after the fixed header),
//! routing (4.4), destination options (4.6) and atomic fragments (4.5, RFC
//! 6946) are skipped; a real fragment is [`Error::Unsupported`]; the
//! authentication header (RFC 4302 section 2.2) is skipped using its own
//! length unit; Mobility, HIP and Shim6 headers, which use the generic
//! format of section 4.8, are skipped as well. ESP (50) and No Next Header
//! (59) end the walk and are reported as the next header. Every header moves the cursor forward by at
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
    /// Mobility (RFC 6275 section 6.1).
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol (RFC 7401 section 5.1).
    pub const HIP: u8 = 139;
    /// Shim6 (RFC 5533 section 5).
    pub const SHIM6: u8 = 140;
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
            // RFC 8200 section 4.8 format: next header, length in 8-octet
            // units not counting the first 8.
            ext::HOP_BY_HOP
            | ext::ROUTING
            | ext::DEST_OPTS
            | ext::MOBILITY
            | ext::HIP
            | ext::SHIM6 => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2001:db8::1 -> 2001:db8::2, traffic class 0x2e, flow label 0x12345,
    /// hop limit 255, a hop-by-hop header and a destination options header
    /// (each one PadN option), then a 37-byte TCP segment.
    const PACKET: [u8; 93] = [
        0x62, 0xe1, 0x23, 0x45, 0x00, 0x35, 0x00, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, // fixed header
        0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // hop-by-hop, next: dest opts
        0x06, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // dest opts, next: TCP
        0x01, 0xbb, 0xc3, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x80, 0x18, 0x02,
        0x00, 0x04, 0xa3, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x02, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];

    fn addr(last: u8) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last))
    }

    /// A fixed header with `next_header` followed by `rest`.
    fn packet(next_header: u8, rest: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            src_addr: addr(1),
            dst_addr: addr(2),
            next_header: IpProtocol::from(next_header),
            payload_len: rest.len(),
            ..Ipv6Repr::DEFAULT
        };
        let mut p = vec![0; HEADER_LEN];
        repr.emit(&mut p).unwrap();
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn parses_extension_headers_byte_exact() {
        let (repr, payload) = Ipv6Repr::parse_packet(&PACKET).unwrap();
        assert_eq!(
            repr,
            Ipv6Repr {
                src_addr: addr(1),
                dst_addr: addr(2),
                next_header: IpProtocol::Tcp,
                payload_len: 37,
                hop_limit: 255,
                traffic_class: 0x2e,
                flow_label: 0x12345,
            }
        );
        assert_eq!(payload, &PACKET[56..]);
    }

    #[test]
    fn emits_fixed_header_byte_exact() {
        let (repr, _) = Ipv6Repr::parse_packet(&PACKET).unwrap();
        let mut buf = [0; 40];
        repr.emit(&mut buf).unwrap();
        // Same fields, but the payload length no longer counts the 16 bytes
        // of extension headers and the next header is TCP.
        let mut expected = PACKET[..40].to_vec();
        expected[4..6].copy_from_slice(&37u16.to_be_bytes());
        expected[6] = 6;
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn every_prefix_is_truncated() {
        for n in 0..PACKET.len() {
            assert!(
                matches!(
                    Ipv6Repr::parse_packet(&PACKET[..n]),
                    Err(Error::Truncated(_))
                ),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn payload_length_cutting_an_extension_header_is_truncated() {
        // The payload length claims only 12 of the 16 bytes of headers.
        let mut p = PACKET.to_vec();
        p[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert!(matches!(
            Ipv6Repr::parse_packet(&p),
            Err(Error::Truncated(_))
        ));
    }

    #[test]
    fn trailing_bytes_are_trimmed() {
        let mut p = PACKET.to_vec();
        p.extend_from_slice(&[0xee; 7]);
        let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
        assert_eq!(repr.payload_len, 37);
        assert_eq!(payload, &PACKET[56..]);
    }

    #[test]
    fn bad_version_is_malformed() {
        let mut p = PACKET.to_vec();
        p[0] = 0x42;
        assert_eq!(
            Ipv6Repr::parse_packet(&p),
            Err(Error::Malformed("IPv6 version"))
        );
    }

    #[test]
    fn hop_by_hop_after_another_header_is_malformed() {
        let p = packet(
            ext::DEST_OPTS,
            &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0],
        );
        assert!(matches!(
            Ipv6Repr::parse_packet(&p),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn routing_header_longer_than_eight_bytes_is_skipped() {
        // Hdr Ext Len 1: 16 bytes.
        let mut rest = vec![6, 1, 0, 0, 0, 0, 0, 0];
        rest.extend_from_slice(&[0; 8]);
        rest.extend_from_slice(b"upper");
        let p = packet(ext::ROUTING, &rest);
        let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
        assert_eq!(repr.next_header, IpProtocol::Tcp);
        assert_eq!(payload, b"upper");
        assert_eq!(repr.payload_len, 5);
    }

    #[test]
    fn generic_format_headers_are_skipped() {
        for nh in [ext::MOBILITY, ext::HIP, ext::SHIM6] {
            let p = packet(nh, &[6, 0, 0, 0, 0, 0, 0, 0, 0xab]);
            let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
            assert_eq!(repr.next_header, IpProtocol::Tcp);
            assert_eq!(payload, &[0xab]);
        }
    }

    #[test]
    fn real_fragments_are_unsupported() {
        // Offset 1 (8 bytes), M clear; offset 0, M set.
        for off_m in [0x0008u16, 0x0001] {
            let [a, b] = off_m.to_be_bytes();
            let p = packet(ext::FRAGMENT, &[6, 0, a, b, 0, 0, 0, 1, 0xaa, 0xbb]);
            assert_eq!(
                Ipv6Repr::parse_packet(&p),
                Err(Error::Unsupported("IPv6 fragment"))
            );
        }
    }

    #[test]
    fn atomic_fragment_is_skipped() {
        // Offset 0, M clear; the reserved bits are ignored.
        let p = packet(ext::FRAGMENT, &[6, 0, 0, 0x06, 0, 0, 0, 1, 0xaa, 0xbb]);
        let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
        assert_eq!(repr.next_header, IpProtocol::Tcp);
        assert_eq!(payload, &[0xaa, 0xbb]);
    }

    #[test]
    fn authentication_header_uses_four_byte_units() {
        // Payload Len 4: (4 + 2) * 4 = 24 bytes.
        let mut rest = vec![17, 4];
        rest.extend_from_slice(&[0; 22]);
        rest.extend_from_slice(b"udp");
        let p = packet(ext::AUTH, &rest);
        let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
        assert_eq!(repr.next_header, IpProtocol::Udp);
        assert_eq!(payload, b"udp");
    }

    #[test]
    fn esp_and_no_next_header_stop_the_walk() {
        for nh in [ext::ESP, ext::NO_NEXT] {
            let rest = [6, 0, 1, 4, 0, 0, 0, 0];
            let p = packet(ext::DEST_OPTS, &[nh, 0, 1, 4, 0, 0, 0, 0, 1, 2, 3]);
            let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
            assert_eq!(repr.next_header, IpProtocol::Unknown(nh));
            assert_eq!(payload, &[1, 2, 3]);
            // ESP directly after the fixed header: nothing is skipped, even
            // bytes that look like an extension header.
            let p = packet(nh, &rest);
            let (repr, payload) = Ipv6Repr::parse_packet(&p).unwrap();
            assert_eq!(repr.next_header, IpProtocol::Unknown(nh));
            assert_eq!(payload, &rest);
        }
    }

    #[test]
    fn extension_header_beyond_payload_is_truncated() {
        // Hdr Ext Len 2 (24 bytes) with only 8 present; an AH that claims
        // more than is there; a fragment header cut short.
        let cases: [(u8, &[u8]); 3] = [
            (ext::DEST_OPTS, &[6, 2, 0, 0, 0, 0, 0, 0]),
            (ext::AUTH, &[6, 4, 0, 0, 0, 0, 0, 0]),
            (ext::FRAGMENT, &[6, 0, 0, 0]),
        ];
        for (nh, rest) in cases {
            let p = packet(nh, rest);
            assert!(
                matches!(Ipv6Repr::parse_packet(&p), Err(Error::Truncated(_))),
                "{nh}"
            );
        }
    }

    #[test]
    fn long_chain_of_headers_terminates() {
        // 8000 destination-options headers, each naming the next.
        let mut rest = Vec::new();
        for _ in 0..8000 {
            rest.extend_from_slice(&[ext::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        let p = packet(ext::DEST_OPTS, &rest);
        assert!(matches!(
            Ipv6Repr::parse_packet(&p),
            Err(Error::Truncated(_))
        ));
    }

    #[test]
    fn jumbogram_is_unsupported() {
        let p = packet(ext::HOP_BY_HOP, &[]);
        assert_eq!(
            Ipv6Repr::parse_packet(&p),
            Err(Error::Unsupported("IPv6 jumbogram"))
        );
    }

    #[test]
    fn emit_errors() {
        let r = Ipv6Repr::DEFAULT;
        assert!(matches!(r.emit(&mut [0; 39]), Err(Error::Emit(_))));
        let wide = Ipv6Repr {
            flow_label: 0x10_0000,
            ..r
        };
        assert!(matches!(wide.emit(&mut [0; 40]), Err(Error::Emit(_))));
        let big = Ipv6Repr {
            payload_len: 65536,
            ..r
        };
        assert!(matches!(big.emit(&mut [0; 40]), Err(Error::Emit(_))));
    }

    fn arb_repr() -> impl Strategy<Value = Ipv6Repr> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            // Upper-layer protocols only: an extension header number would be
            // walked on parse.
            any::<u8>().prop_filter("not an extension header", |n| {
                ![0, 43, 44, 51, 60, 135, 139, 140].contains(n)
            }),
            prop_oneof![0usize..2000, 65000usize..=65535],
            any::<u8>(),
            any::<u8>(),
            0u32..=0x000f_ffff,
        )
            .prop_map(
                |(src, dst, nh, payload_len, hop_limit, tc, flow)| Ipv6Repr {
                    src_addr: Ipv6Addr::from(src),
                    dst_addr: Ipv6Addr::from(dst),
                    next_header: IpProtocol::from(nh),
                    payload_len,
                    hop_limit,
                    traffic_class: tc,
                    flow_label: flow,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr()) {
            let mut buf = vec![0x5a; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut buf).unwrap();
            let (parsed, payload) = Ipv6Repr::parse_packet(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(payload.len(), repr.payload_len);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Ipv6Repr::parse_packet(&bytes);
        }

        #[test]
        fn arbitrary_extension_chains_never_panic(
            nh in prop_oneof![Just(0u8), Just(43), Just(44), Just(51), Just(60), any::<u8>()],
            rest in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(43), Just(44), Just(51), Just(60), any::<u8>()],
                0..200,
            ),
            claimed in 0usize..220,
        ) {
            let mut p = packet(nh, &rest);
            // Let the payload length disagree with the buffer.
            p[4..6].copy_from_slice(&(claimed as u16).to_be_bytes());
            if let Ok((repr, payload)) = Ipv6Repr::parse_packet(&p) {
                prop_assert_eq!(repr.payload_len, payload.len());
                prop_assert!(payload.len() <= claimed);
            }
        }
    }
}
