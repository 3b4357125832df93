//! Braid control messages (docs/udp-encapsulation.md, "Control messages",
//! encapsulation version 2): keepalives that hold NAT mappings, and the
//! path challenge and response that validate a peer's new outer endpoint
//! after a NAT rebinding. Each names the subflow by its inner 4-tuple.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version byte this device writes and reads.
pub(crate) const VERSION: u8 = 2;
/// Bytes 1..4: ASCII "BRD".
const MAGIC: [u8; 3] = *b"BRD";
/// Fixed part before the inner addresses.
const FIXED: usize = 24;
/// The longest message (IPv6 inner addresses).
pub(crate) const MAX_LEN: usize = FIXED + 32;
/// Flags bit 0: the `ack` field is meaningful.
const FLAG_ACK: u8 = 0x01;

/// What a control message asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// "This subflow is alive": holds the NAT mapping; from a new outer
    /// endpoint, announces a rebinding.
    Keepalive = 1,
    /// "Echo this nonce": sent to a peer's new outer endpoint.
    Challenge = 2,
    /// The echo of a challenge's nonce.
    Response = 3,
}

/// One control message. `src` and `dst` are the inner 4-tuple as the
/// sender sees it (its own address and port first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    pub(crate) kind: Kind,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    /// Keepalive: the sequence number just past the highest inner segment
    /// the sender received on the 4-tuple, if it received any.
    pub(crate) ack: Option<u32>,
    /// Challenge and response: the nonce; 0 in a keepalive.
    pub(crate) nonce: u64,
}

impl Control {
    /// The message's bytes in `buf`; returns its length.
    pub(crate) fn encode(&self, buf: &mut [u8; MAX_LEN]) -> usize {
        buf.fill(0);
        buf[1..4].copy_from_slice(&MAGIC);
        buf[4] = VERSION;
        buf[5] = self.kind as u8;
        buf[6] = if self.src.is_ipv4() { 4 } else { 6 };
        buf[7] = if self.ack.is_some() { FLAG_ACK } else { 0 };
        buf[8..12].copy_from_slice(&self.ack.unwrap_or(0).to_be_bytes());
        buf[12..20].copy_from_slice(&self.nonce.to_be_bytes());
        buf[20..22].copy_from_slice(&self.src.port().to_be_bytes());
        buf[22..24].copy_from_slice(&self.dst.port().to_be_bytes());
        let mut at = FIXED;
        for ip in [self.src.ip(), self.dst.ip()] {
            match ip {
                IpAddr::V4(a) => {
                    buf[at..at + 4].copy_from_slice(&a.octets());
                    at += 4;
                }
                IpAddr::V6(a) => {
                    buf[at..at + 16].copy_from_slice(&a.octets());
                    at += 16;
                }
            }
        }
        at
    }

    /// Parse a control message; `None` for anything that is not exactly a
    /// version 2 message of a known type (another version, an unknown
    /// type, a wrong length, mixed address families).
    pub(crate) fn parse(p: &[u8]) -> Option<Control> {
        if p.len() < FIXED || p[0] != 0 || p[1..4] != MAGIC || p[4] != VERSION {
            return None;
        }
        let kind = match p[5] {
            1 => Kind::Keepalive,
            2 => Kind::Challenge,
            3 => Kind::Response,
            _ => return None,
        };
        let (src, dst) = match (p[6], p.len() - FIXED) {
            (4, 8) => {
                let a = |i: usize| IpAddr::V4(Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]));
                (a(FIXED), a(FIXED + 4))
            }
            (6, 32) => {
                let a = |i: usize| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(&p[i..i + 16]);
                    IpAddr::V6(Ipv6Addr::from(o))
                };
                (a(FIXED), a(FIXED + 16))
            }
            _ => return None,
        };
        let ack = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&p[12..20]);
        Some(Control {
            kind,
            src: SocketAddr::new(src, u16::from_be_bytes([p[20], p[21]])),
            dst: SocketAddr::new(dst, u16::from_be_bytes([p[22], p[23]])),
            ack: (p[7] & FLAG_ACK != 0).then_some(ack),
            nonce: u64::from_be_bytes(nonce),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(src: &str, dst: &str) -> Control {
        Control {
            kind: Kind::Challenge,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ack: Some(0xdead_beef),
            nonce: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn messages_round_trip_with_their_exact_layout() {
        let mut buf = [0u8; MAX_LEN];
        let c = sample("10.0.0.1:4000", "10.1.1.2:5201");
        let n = c.encode(&mut buf);
        assert_eq!(n, 32);
        assert_eq!(&buf[..8], b"\x00BRD\x02\x02\x04\x01");
        assert_eq!(&buf[8..12], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&buf[24..28], &[10, 0, 0, 1]);
        assert_eq!(Control::parse(&buf[..n]), Some(c));
        let c = Control {
            kind: Kind::Keepalive,
            ack: None,
            nonce: 0,
            ..sample("[fd00::1]:1", "[fd00::2]:2")
        };
        let n = c.encode(&mut buf);
        assert_eq!(n, MAX_LEN);
        assert_eq!(Control::parse(&buf[..n]), Some(c));
    }

    #[test]
    fn other_versions_types_and_lengths_are_refused() {
        let mut buf = [0u8; MAX_LEN];
        let n = sample("10.0.0.1:4000", "10.1.1.2:5201").encode(&mut buf);
        for len in 0..n {
            assert_eq!(Control::parse(&buf[..len]), None, "len {len}");
        }
        let mut long = buf[..n].to_vec();
        long.push(0);
        assert_eq!(Control::parse(&long), None, "trailing byte");
        for (i, v) in [(4, 1), (4, 3), (5, 0), (5, 4), (6, 6), (1, b'X')] {
            let mut m = buf;
            m[i] = v;
            assert_eq!(Control::parse(&m[..n]), None, "byte {i} = {v}");
        }
    }
}
