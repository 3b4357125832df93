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
        let header_len = super::check_header_len(
            len,
            HEADER_LEN,
            || self.header_len(),
            ["IPv4 header", "IPv4 IHL below 5", "IPv4 options"],
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The IP header of a real SYN (192.168.0.1 -> 192.168.0.199, 40 bytes of
    /// TCP), checksum computed independently.
    const SYN_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x9c, 0x5d, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn syn_repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Tcp,
            payload_len: 40,
            ttl: 64,
            tos: 0,
            ident: 0x1c46,
            dont_frag: true,
        }
    }

    fn syn_packet() -> Vec<u8> {
        let mut p = SYN_HEADER.to_vec();
        p.extend((0..40u8).map(|i| i.wrapping_mul(7)));
        p
    }

    /// Recompute the header checksum after a test edited the header.
    fn fix_checksum(p: &mut [u8]) {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::data(&p[..ihl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn parses_syn_header() {
        let p = syn_packet();
        let (repr, payload) = Ipv4Repr::parse_packet(&p).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(payload, &p[20..]);
    }

    #[test]
    fn emits_syn_header_byte_exact() {
        let mut buf = [0xaa; 20];
        syn_repr().emit(&mut buf).unwrap();
        assert_eq!(buf, SYN_HEADER);
    }

    #[test]
    fn rfc_example_checksum() {
        // The widely used example header "4500 0073 0000 4000 4011 b861
        // c0a8 0001 c0a8 00c7".
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Udp,
            payload_len: 0x73 - 20,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
        };
        let mut buf = [0; 20];
        repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[10..12], &[0xb8, 0x61]);
    }

    #[test]
    fn every_prefix_is_truncated() {
        let p = syn_packet();
        for n in 0..p.len() {
            assert!(
                matches!(Ipv4Repr::parse_packet(&p[..n]), Err(Error::Truncated(_))),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_trimmed() {
        let mut p = syn_packet();
        p.extend_from_slice(&[0; 6]); // Ethernet minimum-frame padding
        let (repr, payload) = Ipv4Repr::parse_packet(&p).unwrap();
        assert_eq!(repr.payload_len, 40);
        assert_eq!(payload, &syn_packet()[20..]);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one word of options (NOP NOP NOP EOL).
        let mut p = SYN_HEADER.to_vec();
        p[0] = 0x46;
        p[3] += 4;
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&[9; 40]);
        fix_checksum(&mut p);
        let (repr, payload) = Ipv4Repr::parse_packet(&p).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(payload, &[9; 40]);
    }

    #[test]
    fn bad_version_is_malformed() {
        let mut p = syn_packet();
        p[0] = 0x55;
        fix_checksum(&mut p);
        assert_eq!(
            Ipv4Repr::parse_packet(&p),
            Err(Error::Malformed("IPv4 version"))
        );
    }

    #[test]
    fn ihl_below_five_is_malformed() {
        for ihl in 0..5u8 {
            let mut p = syn_packet();
            p[0] = 0x40 | ihl;
            assert!(matches!(
                Ipv4Repr::parse_packet(&p),
                Err(Error::Malformed(_))
            ));
        }
    }

    #[test]
    fn ihl_beyond_buffer_is_truncated() {
        let mut p = SYN_HEADER.to_vec();
        p[0] = 0x4f; // 60-byte header in a 20-byte buffer
        assert!(matches!(
            Ipv4Repr::parse_packet(&p),
            Err(Error::Truncated(_))
        ));
    }

    #[test]
    fn total_length_below_header_is_malformed() {
        let mut p = syn_packet();
        p[2..4].copy_from_slice(&19u16.to_be_bytes());
        fix_checksum(&mut p);
        assert!(matches!(
            Ipv4Repr::parse_packet(&p),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let mut p = syn_packet();
        p[8] = 63; // TTL changed, checksum not updated
        assert_eq!(Ipv4Repr::parse_packet(&p), Err(Error::Checksum));
    }

    #[test]
    fn fragments_are_unsupported() {
        // MF set; offset 8 bytes; both.
        for flg_off in [0x2000u16, 0x0001, 0x2001, 0x4001] {
            let mut p = syn_packet();
            p[6..8].copy_from_slice(&flg_off.to_be_bytes());
            fix_checksum(&mut p);
            assert_eq!(
                Ipv4Repr::parse_packet(&p),
                Err(Error::Unsupported("IPv4 fragment")),
                "{flg_off:#x}"
            );
        }
    }

    #[test]
    fn view_accessors() {
        let p = syn_packet();
        let view = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(view.version(), 4);
        assert_eq!(view.header_len(), 20);
        assert_eq!(view.total_len(), 60);
        assert_eq!(view.checksum(), 0x9c5d);
        assert!(view.dont_frag() && !view.more_frags());
        assert_eq!(view.frag_offset(), 0);
        assert_eq!(view.payload().len(), 40);
    }

    #[test]
    fn emit_errors() {
        let mut small = [0; 19];
        assert!(matches!(syn_repr().emit(&mut small), Err(Error::Emit(_))));
        let big = Ipv4Repr {
            payload_len: 65516,
            ..syn_repr()
        };
        assert!(matches!(big.emit(&mut [0; 20]), Err(Error::Emit(_))));
        let max = Ipv4Repr {
            payload_len: 65515,
            ..syn_repr()
        };
        assert!(max.emit(&mut [0; 20]).is_ok());
    }

    fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            prop_oneof![0usize..2000, 65000usize..=65515],
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
        )
            .prop_map(
                |(src, dst, proto, payload_len, ttl, tos, ident, dont_frag)| Ipv4Repr {
                    src_addr: Ipv4Addr::from(src),
                    dst_addr: Ipv4Addr::from(dst),
                    protocol: IpProtocol::from(proto),
                    payload_len,
                    ttl,
                    tos,
                    ident,
                    dont_frag,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr()) {
            let mut buf = vec![0x5a; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut buf).unwrap();
            let (parsed, payload) = Ipv4Repr::parse_packet(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(payload.len(), repr.payload_len);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Ipv4Repr::parse_packet(&bytes);
        }

        #[test]
        fn arbitrary_header_with_valid_checksum_never_panics(
            mut bytes in proptest::collection::vec(any::<u8>(), 20..100),
        ) {
            bytes[0] = 0x40 | (bytes[0] & 0x0f);
            if usize::from(bytes[0] & 0x0f) * 4 <= bytes.len() && bytes[0] & 0x0f >= 5 {
                fix_checksum(&mut bytes);
            }
            if let Ok((repr, payload)) = Ipv4Repr::parse_packet(&bytes) {
                prop_assert_eq!(repr.payload_len, payload.len());
            }
        }
    }
}
