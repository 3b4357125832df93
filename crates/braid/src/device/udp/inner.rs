//! The acceptance checks of docs/udp-encapsulation.md on one UDP payload:
//! is it a whole inner IPv4/IPv6 packet carrying a complete TCP header, and
//! which inner 4-tuple does it belong to. Checksums are left to the core.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a UDP payload is, by its first nibble and its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A version 1 data packet: a whole inner IP packet with TCP.
    Segment(Segment),
    /// First nibble 0: a Braid control message (none in version 1).
    Control,
    /// First nibble neither 0, 4 nor 6 (or an empty datagram).
    NotOurs,
    /// The inner header, or the TCP header, is cut short; or the packet's
    /// length field says more than the datagram holds.
    Truncated,
    /// The inner packet does not parse as one IP packet carrying TCP:
    /// trailing bytes, a bad header length, not TCP, extension headers.
    Malformed,
}

/// The parts of an inner segment the device needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Inner source address and TCP port.
    pub(crate) src: SocketAddr,
    /// Inner destination address and TCP port.
    pub(crate) dst: SocketAddr,
    /// SYN set and ACK clear: the first segment of a (sub)flow.
    pub(crate) syn_only: bool,
    /// The TCP flags byte (RFC 9293 section 3.1).
    pub(crate) flags: u8,
    /// Sequence number.
    pub(crate) seq: u32,
    /// Acknowledgment number (meaningful with ACK set).
    pub(crate) ack: u32,
    /// Payload bytes after the TCP header.
    pub(crate) payload: u32,
}

impl Segment {
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The sequence number just past this segment (SYN and FIN count one).
    pub(crate) fn seq_end(&self) -> u32 {
        let extra = u32::from(self.has(TCP_SYN)) + u32::from(self.has(TCP_FIN));
        self.seq.wrapping_add(self.payload).wrapping_add(extra)
    }
}

/// TCP flag bits (RFC 9293 section 3.1), in the 14th byte of the header.
pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_ACK: u8 = 0x10;
const TCP_MIN_HEADER: usize = 20;
const PROTO_TCP: u8 = 6;

/// Classify one UDP payload.
pub(crate) fn classify(p: &[u8]) -> Verdict {
    let Some(&first) = p.first() else {
        return Verdict::NotOurs;
    };
    match first >> 4 {
        0 => Verdict::Control,
        4 => ipv4(p),
        6 => ipv6(p),
        _ => Verdict::NotOurs,
    }
}

fn ipv4(p: &[u8]) -> Verdict {
    if p.len() < 20 {
        return Verdict::Truncated;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 {
        return Verdict::Malformed;
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if total > p.len() {
        return Verdict::Truncated;
    }
    // One datagram is exactly one packet: no padding after it.
    if total < p.len() || total < ihl {
        return Verdict::Malformed;
    }
    if p[9] != PROTO_TCP {
        return Verdict::Malformed;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    tcp(&p[ihl..], src.into(), dst.into())
}

fn ipv6(p: &[u8]) -> Verdict {
    if p.len() < 40 {
        return Verdict::Truncated;
    }
    let total = 40 + usize::from(u16::from_be_bytes([p[4], p[5]]));
    if total > p.len() {
        return Verdict::Truncated;
    }
    if total < p.len() {
        return Verdict::Malformed;
    }
    // Braid sends no extension headers: TCP follows the fixed header.
    if p[6] != PROTO_TCP {
        return Verdict::Malformed;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&p[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&p[24..40]);
    let dst = Ipv6Addr::from(a);
    tcp(&p[40..], src.into(), dst.into())
}

fn tcp(t: &[u8], src: IpAddr, dst: IpAddr) -> Verdict {
    if t.len() < TCP_MIN_HEADER {
        return Verdict::Truncated;
    }
    let offset = usize::from(t[12] >> 4) * 4;
    if offset < TCP_MIN_HEADER {
        return Verdict::Malformed;
    }
    if offset > t.len() {
        return Verdict::Truncated;
    }
    let sport = u16::from_be_bytes([t[0], t[1]]);
    let dport = u16::from_be_bytes([t[2], t[3]]);
    let flags = t[13];
    let word = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Verdict::Segment(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        syn_only: flags & (TCP_SYN | TCP_ACK) == TCP_SYN,
        flags,
        seq: word(4),
        ack: word(8),
        payload: (t.len() - offset) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_proto::wire::{IpProtocol, IpRepr};

    /// An inner IPv4 (or IPv6) packet with a TCP header of `flags` and
    /// `payload` bytes, built with the core's own emitter.
    fn packet(src: &str, dst: &str, flags: u8, payload: usize) -> Vec<u8> {
        let src: IpAddr = src.parse().unwrap();
        let dst: IpAddr = dst.parse().unwrap();
        let tcp_len = TCP_MIN_HEADER + payload;
        let ip = IpRepr::new(src, dst, IpProtocol::Tcp, tcp_len, 64).unwrap();
        let mut buf = vec![0u8; ip.header_len() + tcp_len];
        ip.emit(&mut buf).unwrap();
        let t = &mut buf[ip.header_len()..];
        t[0..2].copy_from_slice(&4000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        buf
    }

    #[test]
    fn a_whole_ipv4_syn_is_a_segment_with_its_inner_tuple() {
        let p = packet("10.0.0.1", "10.0.0.2", TCP_SYN, 0);
        assert_eq!(
            classify(&p),
            Verdict::Segment(Segment {
                src: "10.0.0.1:4000".parse().unwrap(),
                dst: "10.0.0.2:80".parse().unwrap(),
                syn_only: true,
                flags: TCP_SYN,
                seq: 0,
                ack: 0,
                payload: 0,
            })
        );
        let p = packet("10.0.0.1", "10.0.0.2", TCP_SYN | TCP_ACK, 10);
        assert!(matches!(classify(&p), Verdict::Segment(s) if !s.syn_only));
    }

    #[test]
    fn a_whole_ipv6_segment_is_accepted() {
        let p = packet("fd00::1", "fd00::2", TCP_ACK, 100);
        assert_eq!(
            classify(&p),
            Verdict::Segment(Segment {
                src: "[fd00::1]:4000".parse().unwrap(),
                dst: "[fd00::2]:80".parse().unwrap(),
                syn_only: false,
                flags: TCP_ACK,
                seq: 0,
                ack: 0,
                payload: 100,
            })
        );
    }

    #[test]
    fn every_truncation_of_a_segment_is_refused() {
        for p in [
            packet("10.0.0.1", "10.0.0.2", TCP_ACK, 30),
            packet("fd00::1", "fd00::2", TCP_ACK, 30),
        ] {
            for len in 1..p.len() {
                assert_eq!(classify(&p[..len]), Verdict::Truncated, "len {len}");
            }
        }
    }

    #[test]
    fn padding_other_protocols_and_foreign_payloads_are_refused() {
        let mut p = packet("10.0.0.1", "10.0.0.2", TCP_ACK, 0);
        p.push(0);
        assert_eq!(classify(&p), Verdict::Malformed, "trailing byte");
        let mut p = packet("10.0.0.1", "10.0.0.2", TCP_ACK, 0);
        p[9] = 17;
        assert_eq!(classify(&p), Verdict::Malformed, "UDP inside");
        let mut p = packet("10.0.0.1", "10.0.0.2", TCP_ACK, 0);
        p[20 + 12] = 4 << 4;
        assert_eq!(classify(&p), Verdict::Malformed, "TCP offset 16");
        let mut p = packet("10.0.0.1", "10.0.0.2", TCP_ACK, 0);
        p[0] = 0x44;
        assert_eq!(classify(&p), Verdict::Malformed, "IHL 4");
        assert_eq!(classify(b""), Verdict::NotOurs);
        assert_eq!(classify(b"\x17\x03\x03\x00\x10tls"), Verdict::NotOurs);
        // 'G' is 0x47: read as IPv4, and refused as such.
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Verdict::Truncated);
        assert_eq!(classify(b"\x00BRD\x02\x01"), Verdict::Control);
    }
}
