//! Initial sequence numbers, RFC 6528 section 3:
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)` where M
//! is a 4-microsecond timer and F a keyed hash (SHA-256 here, truncated to
//! 32 bits). The secret is injected by the caller (no global RNG).

use crate::time::Instant;
use crate::wire::SeqNum;
use core::net::{IpAddr, SocketAddr};
use sha2::{Digest, Sha256};

/// Generates RFC 6528 initial sequence numbers.
#[derive(Clone)]
pub struct IsnGenerator {
    secret: [u8; 32],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator keyed with `secret`. RFC 6528: the secret "SHOULD be of
    /// at least 128 bits" and random; this takes 256.
    pub fn new(secret: [u8; 32]) -> IsnGenerator {
        IsnGenerator { secret }
    }

    /// A generator keyed from the caller's RNG.
    pub fn from_rng<R: rand::Rng + ?Sized>(rng: &mut R) -> IsnGenerator {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        IsnGenerator { secret }
    }

    /// The ISN for a connection from `local` to `remote` at `now`.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        let mut h = Sha256::new();
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(a) => h.update(a.octets()),
                IpAddr::V6(a) => h.update(a.octets()),
            }
            h.update(addr.port().to_be_bytes());
        }
        h.update(self.secret);
        let digest = h.finalize();
        let f = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        // M: a timer ticking every 4 microseconds.
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isn_depends_on_tuple_and_time() {
        let g = IsnGenerator::new([7; 32]);
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddr = "10.0.0.2:81".parse().unwrap();
        let t = Instant::from_secs(1);
        assert_eq!(g.isn(t, a, b), g.isn(t, a, b));
        assert_ne!(g.isn(t, a, b), g.isn(t, a, c));
        assert_eq!(
            g.isn(t + crate::time::Duration::from_micros(400), a, b),
            g.isn(t, a, b) + 100
        );
        assert_ne!(IsnGenerator::new([8; 32]).isn(t, a, b), g.isn(t, a, b));
    }
}
