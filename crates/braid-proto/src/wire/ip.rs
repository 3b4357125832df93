//! Version-independent IP: [`IpRepr`] parses an IPv4 or IPv6 packet and
//! locates its upper-layer payload; it emits either header.

use super::{Result, ipv4, ipv6};
use core::net::IpAddr;

/// IANA protocol numbers used by Braid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1
    Icmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// 58
    Icmpv6,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            x => IpProtocol::Unknown(x),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Unknown(x) => x,
        }
    }
}

/// An IPv4 or IPv6 header, as much of it as the stack needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRepr {
    /// IPv4.
    V4(ipv4::Ipv4Repr),
    /// IPv6.
    V6(ipv6::Ipv6Repr),
}

impl IpRepr {
    /// Parse an IP packet (version from the first nibble), validate its
    /// header (and the IPv4 header checksum), and return the header with the
    /// upper-layer payload (IPv6 extension headers skipped; trailing link
    /// padding beyond the IP length removed).
    pub fn parse(packet: &[u8]) -> Result<(IpRepr, &[u8])> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => ipv4::Ipv4Repr::parse_packet(packet).map(|(r, p)| (IpRepr::V4(r), p)),
            Some(6) => ipv6::Ipv6Repr::parse_packet(packet).map(|(r, p)| (IpRepr::V6(r), p)),
            Some(_) => Err(super::Error::Malformed("IP version")),
            None => Err(super::Error::Truncated("IP header")),
        }
    }

    /// Build a header for `payload_len` bytes of `protocol` from `src` to
    /// `dst` (both of one family) with the given hop limit.
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        protocol: IpProtocol,
        payload_len: usize,
        hop_limit: u8,
    ) -> Result<IpRepr> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Ok(IpRepr::V4(ipv4::Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                protocol,
                payload_len,
                ttl: hop_limit,
                ..ipv4::Ipv4Repr::DEFAULT
            })),
            (IpAddr::V6(s), IpAddr::V6(d)) => Ok(IpRepr::V6(ipv6::Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: protocol,
                payload_len,
                hop_limit,
                ..ipv6::Ipv6Repr::DEFAULT
            })),
            _ => Err(super::Error::Emit("mixed address families")),
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src_addr),
            IpRepr::V6(r) => IpAddr::V6(r.src_addr),
        }
    }
    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst_addr),
            IpRepr::V6(r) => IpAddr::V6(r.dst_addr),
        }
    }
    /// Upper-layer protocol.
    pub fn protocol(&self) -> IpProtocol {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }
    /// Upper-layer payload length.
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }
    /// Length of the header this repr emits.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.buffer_len(),
            IpRepr::V6(r) => r.buffer_len(),
        }
    }
    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        self.header_len() + self.payload_len()
    }
    /// Emit the header (with a correct IPv4 header checksum) into the front of
    /// `buf`, which must be at least `header_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            IpRepr::V4(r) => r.emit(buf),
            IpRepr::V6(r) => r.emit(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    #[test]
    fn dispatches_on_version() {
        for (src, dst) in [
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            (
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9)),
            ),
        ] {
            let repr = IpRepr::new(src, dst, IpProtocol::Tcp, 3, 17).unwrap();
            let mut buf = vec![0; repr.total_len()];
            repr.emit(&mut buf).unwrap();
            buf[repr.header_len()..].copy_from_slice(b"abc");
            let (parsed, payload) = IpRepr::parse(&buf).unwrap();
            assert_eq!(parsed, repr);
            assert_eq!((parsed.src_addr(), parsed.dst_addr()), (src, dst));
            assert_eq!(parsed.protocol(), IpProtocol::Tcp);
            assert_eq!(payload, b"abc");
        }
    }

    #[test]
    fn mixed_families_cannot_be_built() {
        let r = IpRepr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpProtocol::Tcp,
            0,
            64,
        );
        assert!(matches!(r, Err(Error::Emit(_))));
    }

    #[test]
    fn empty_and_unknown_versions() {
        assert!(matches!(IpRepr::parse(&[]), Err(Error::Truncated(_))));
        assert!(matches!(
            IpRepr::parse(&[0x50; 40]),
            Err(Error::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok((repr, payload)) = IpRepr::parse(&bytes) {
                prop_assert_eq!(repr.payload_len(), payload.len());
            }
        }

        #[test]
        fn protocol_numbers_round_trip(n in any::<u8>()) {
            prop_assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
    }
}
