//! The Internet checksum (RFC 1071) and the TCP pseudo-header
//! (RFC 9293 section 3.1 for IPv4, RFC 8200 section 8.1 for IPv6).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Sum `data` as big-endian 16-bit words into a 32-bit accumulator (an odd
/// trailing byte is padded with zero). Fold with [`fold`].
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    // Accumulate in u64 to avoid overflow on large buffers, then fold.
    let mut wide = u64::from(acc);
    for c in &mut chunks {
        wide += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        wide += u64::from(u16::from_be_bytes([*last, 0]));
    }
    while wide > 0xffff_ffff {
        wide = (wide & 0xffff_ffff) + (wide >> 32);
    }
    acc = wide as u32;
    acc
}

/// Fold a 32-bit accumulator into the 16-bit one's-complement sum (not yet
/// complemented).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data`: the complement of its one's-complement
/// sum. Verifying a buffer that contains its own checksum yields 0.
pub fn data(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// The partial sum of the pseudo-header for an upper-layer protocol.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, protocol, length as u16),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, protocol, length),
        // Mixed families never occur in one packet; sum what we have.
        (s, d) => {
            let mut acc = 0;
            acc = sum_addr(acc, s);
            acc = sum_addr(acc, d);
            sum(acc, &[0, protocol]) + length
        }
    }
}

fn sum_addr(acc: u32, a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => sum(acc, &a.octets()),
        IpAddr::V6(a) => sum(acc, &a.octets()),
    }
}

/// IPv4 pseudo-header: source, destination, zero, protocol, length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = sum(acc, &[0, protocol]);
    sum(acc, &length.to_be_bytes())
}

/// IPv6 pseudo-header: source, destination, 32-bit length, zeros, next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, length: u32) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = sum(acc, &length.to_be_bytes());
    sum(acc, &[0, 0, 0, protocol])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &bytes)), 0xddf2);
        assert_eq!(data(&bytes), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn verifying_includes_checksum_gives_zero() {
        let mut buf = vec![
            0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = data(&buf);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(data(&buf), 0);
    }
}
