//! MPTCP cryptography (RFC 8684 sections 3.1, 3.2, 3.3.1, 3.4.1): keys,
//! tokens, initial data sequence numbers, HMAC-SHA256 for MP_JOIN and
//! ADD_ADDR, and the DSS checksum.
//!
//! Every function is pure; randomness comes from the caller
//! ([`generate_key`] takes the RNG), so the simulator stays deterministic.
//! Byte orders and message layouts follow RFC 8684 and are checked against
//! Linux `net/mptcp/crypto.c`, `subflow.c` and `options.c`, whose MPTCP
//! implementation Braid must interoperate with:
//! - keys enter SHA-256 and HMAC-SHA256 in network byte order;
//! - the HMAC key of MP_JOIN and ADD_ADDR is the 16 octets
//!   `key_1 || key_2`, the sender of the HMAC'd option first.

use crate::wire::checksum;
use core::net::IpAddr;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};

/// Generate a host's 64-bit MPTCP key (RFC 8684 section 3.1, carried in
/// MP_CAPABLE). The key is never zero: zero is what an unset key looks
/// like in traces. The caller supplies the RNG; in production it must be a
/// cryptographically secure one (the key guards MP_JOIN and ADD_ADDR), the
/// simulator passes a seeded one.
///
/// Uniqueness of the derived token among live connections is the caller's
/// business (RFC 8684 section 3.1, Linux `mptcp_token_new_request` retries).
pub fn generate_key<R: Rng + ?Sized>(rng: &mut R) -> u64 {
    loop {
        let key = rng.next_u64();
        if key != 0 {
            return key;
        }
    }
}

fn sha256_of_key(key: u64) -> [u8; 32] {
    Sha256::digest(key.to_be_bytes()).into()
}

/// The token of a key (RFC 8684 sections 3.1 and 3.2): the most significant
/// 32 bits of the SHA-256 hash of the key, the key hashed in network byte
/// order (as Linux `mptcp_crypto_key_sha` does).
pub fn token(key: u64) -> u32 {
    token_and_idsn(key).0
}

/// The initial data sequence number of a key (RFC 8684 section 3.1): the
/// least significant 64 bits of the SHA-256 hash of the key.
pub fn idsn(key: u64) -> u64 {
    token_and_idsn(key).1
}

/// [`token`] and [`idsn`] from one hash.
pub fn token_and_idsn(key: u64) -> (u32, u64) {
    let h = sha256_of_key(key);
    let token = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let mut low = [0u8; 8];
    low.copy_from_slice(&h[24..32]);
    (token, u64::from_be_bytes(low))
}

/// HMAC-SHA256 (RFC 2104, RFC 6234) of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length (longer ones are hashed first), so
        // `new_from_slice` has no error to report for it.
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The HMAC key of MP_JOIN and ADD_ADDR: `key_1 || key_2`, network order.
fn two_keys(key_1: u64, key_2: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&key_1.to_be_bytes());
    k[8..].copy_from_slice(&key_2.to_be_bytes());
    k
}

/// The MP_JOIN HMAC as the host computing it sees it (RFC 8684 section 3.2):
/// `HMAC(Key=(key_local || key_remote), Msg=(nonce_local || nonce_remote))`.
///
/// "Local" is the host that sends the option carrying the HMAC. Prefer
/// [`join_synack_hmac`] and [`join_ack_hmac`], which truncate and name the
/// roles.
pub fn join_hmac(key_local: u64, key_remote: u64, nonce_local: u32, nonce_remote: u32) -> [u8; 32] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&nonce_local.to_be_bytes());
    msg[4..].copy_from_slice(&nonce_remote.to_be_bytes());
    hmac_sha256(&two_keys(key_local, key_remote), &msg)
}

/// The truncated HMAC of the MP_JOIN SYN/ACK (RFC 8684 section 3.2): the
/// leftmost 64 bits of `HMAC-B = HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A))`.
///
/// Host B is the responder (it sends the SYN/ACK), host A the initiator.
/// B computes it to send; A computes the same to check it (Linux
/// `subflow_thmac_valid`).
pub fn join_synack_hmac(key_b: u64, key_a: u64, nonce_b: u32, nonce_a: u32) -> u64 {
    let h = join_hmac(key_b, key_a, nonce_b, nonce_a);
    let mut left = [0u8; 8];
    left.copy_from_slice(&h[..8]);
    u64::from_be_bytes(left)
}

/// The HMAC of the MP_JOIN third ACK (RFC 8684 section 3.2): the leftmost
/// 160 bits of `HMAC-A = HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B))`.
///
/// Host A is the initiator (it sends the third ACK), host B the responder.
pub fn join_ack_hmac(key_a: u64, key_b: u64, nonce_a: u32, nonce_b: u32) -> [u8; 20] {
    let h = join_hmac(key_a, key_b, nonce_a, nonce_b);
    let mut left = [0u8; 20];
    left.copy_from_slice(&h[..20]);
    left
}

/// The ADD_ADDR HMAC (RFC 8684 section 3.4.1): the rightmost 64 bits of
/// `HMAC(Key=(key_sender || key_receiver), Msg=(addr_id || address || port))`,
/// the keys of the hosts sending and receiving the ADD_ADDR.
///
/// The message always ends with two port octets, zero when the option
/// carries no port: that is what Linux `add_addr_generate_hmac` hashes, the
/// implementation Braid must interoperate with. (Early Linux versions hashed
/// two zero octets even when a port was sent; current ones hash the port.)
/// The address is 4 or 16 octets by family.
pub fn add_addr_hmac(
    key_sender: u64,
    key_receiver: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let mut msg = [0u8; 1 + 16 + 2];
    msg[0] = addr_id;
    let end = match addr {
        IpAddr::V4(a) => {
            msg[1..5].copy_from_slice(&a.octets());
            5
        }
        IpAddr::V6(a) => {
            msg[1..17].copy_from_slice(&a.octets());
            17
        }
    };
    msg[end..end + 2].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    let h = hmac_sha256(&two_keys(key_sender, key_receiver), &msg[..end + 2]);
    let mut right = [0u8; 8];
    right.copy_from_slice(&h[24..]);
    u64::from_be_bytes(right)
}

/// The one's-complement sum of the DSS pseudo-header with `checksum` in its
/// last 16 bits, plus the payload, folded (not complemented).
fn dss_sum(dsn: u64, subflow_seq: u32, data_len: u16, checksum_field: u16, payload: &[u8]) -> u16 {
    let mut header = [0u8; 16];
    header[..8].copy_from_slice(&dsn.to_be_bytes());
    header[8..12].copy_from_slice(&subflow_seq.to_be_bytes());
    header[12..14].copy_from_slice(&data_len.to_be_bytes());
    header[14..].copy_from_slice(&checksum_field.to_be_bytes());
    checksum::fold(checksum::sum(checksum::sum(0, &header), payload))
}

/// The DSS checksum (RFC 8684 section 3.3.1): the Internet checksum over a
/// pseudo-header of the 64-bit DSN, the 32-bit relative subflow sequence
/// number, the 16-bit data-level length and 16 zero bits, followed by the
/// mapped payload. `dsn` is always the full 64-bit DSN, even when the option
/// carries 32 bits. `data_len` is the mapping's length as sent (including a
/// DATA_FIN's octet, Linux does the same); `payload` is the mapped data.
pub fn dss_checksum(dsn: u64, subflow_seq: u32, data_len: u16, payload: &[u8]) -> u16 {
    !dss_sum(dsn, subflow_seq, data_len, 0, payload)
}

/// Verify a received DSS checksum: summing the pseudo-header with the
/// received checksum in place of the zero bits, plus the payload, gives all
/// ones (as Linux `__mptcp_check_data_csum` checks). What a failure leads to
/// (MP_FAIL, fallback or reset, RFC 8684 sections 3.3.1 and 3.7) is decided
/// by the connection layer.
pub fn dss_checksum_ok(
    dsn: u64,
    subflow_seq: u32,
    data_len: u16,
    payload: &[u8],
    received: u16,
) -> bool {
    dss_sum(dsn, subflow_seq, data_len, received, payload) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::convert::Infallible;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Linux's own MPTCP crypto KUnit self-test, net/mptcp/crypto_test.c
    /// (`mptcp_crypto_test_basic`). Its key and message strings are used as
    /// raw ASCII octets, not decoded as hex: `key1 = be64(key[0..8])`,
    /// `key2 = be64(key[8..16])`, `nonce1 = be32(msg[0..4])`, `nonce2 =
    /// be32(msg[4..8])`, then `mptcp_crypto_hmac_sha(key1, key2, nonce1 ||
    /// nonce2)`, which is our `join_hmac`.
    #[test]
    fn linux_kunit_crypto_test_vectors() {
        let cases: [(&[u8; 16], &[u8; 8], &str); 3] = [
            (
                b"0b0b0b0b0b0b0b0b",
                b"48692054",
                "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa",
            ),
            (
                b"aaaaaaaaaaaaaaaa",
                b"dddddddd",
                "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9",
            ),
            (
                b"0102030405060708",
                b"cdcdcdcd",
                "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d",
            ),
        ];
        for (key, msg, result) in cases {
            let word64 = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 octets"));
            let word32 = |b: &[u8]| u32::from_be_bytes(b.try_into().expect("4 octets"));
            let h = join_hmac(
                word64(&key[..8]),
                word64(&key[8..]),
                word32(&msg[..4]),
                word32(&msg[4..]),
            );
            assert_eq!(hex(&h), result);
            // The same through the generic HMAC on the raw octets.
            assert_eq!(hex(&hmac_sha256(key, msg)), result);
        }
    }

    /// RFC 4231 section 4.2 and 4.3, HMAC-SHA-256 results.
    #[test]
    fn rfc4231_test_cases_1_and_2() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Expected values computed independently with Python:
    /// `d = hashlib.sha256(struct.pack(">Q", key)).digest()`,
    /// token = `d[0:4]` big-endian, IDSN = `d[24:32]` big-endian.
    /// SHA-256(01 02 03 04 05 06 07 08) =
    /// 66840dda154e8a113c31dd0ad32f7f3a366a80e8136979d8f5a101d3d29d6f72.
    #[test]
    fn token_and_idsn_from_sha256() {
        assert_eq!(token(0x0102_0304_0506_0708), 0x6684_0dda);
        assert_eq!(idsn(0x0102_0304_0506_0708), 0xf5a1_01d3_d29d_6f72);
        assert_eq!(
            token_and_idsn(0xd2f0_c7a8_e9b1_c3f4),
            (0x264c_cc78, 0x1ba7_835c_5a69_0088)
        );
    }

    const KEY_A: u64 = 0x0102_0304_0506_0708;
    const KEY_B: u64 = 0x1112_1314_1516_1718;
    const NONCE_A: u32 = 0xa1a2_a3a4;
    const NONCE_B: u32 = 0xb1b2_b3b4;

    /// Expected values from Python `hmac.new(key, msg, hashlib.sha256)` with
    /// the RFC 8684 section 3.2 layouts: SYN/ACK key `Key-B||Key-A`, msg
    /// `R-B||R-A`, leftmost 64 bits; ACK key `Key-A||Key-B`, msg `R-A||R-B`,
    /// leftmost 160 bits.
    #[test]
    fn join_hmacs_truncate_and_order_roles() {
        assert_eq!(
            join_synack_hmac(KEY_B, KEY_A, NONCE_B, NONCE_A),
            0x864b_4042_8762_fd06
        );
        assert_eq!(
            hex(&join_ack_hmac(KEY_A, KEY_B, NONCE_A, NONCE_B)),
            "53037f2899475529844115fd07e665d23d3554fb"
        );
        // Swapping the roles gives a different HMAC: the order matters.
        assert_ne!(
            join_synack_hmac(KEY_A, KEY_B, NONCE_A, NONCE_B),
            join_synack_hmac(KEY_B, KEY_A, NONCE_B, NONCE_A)
        );
    }

    /// Expected values from Python: rightmost 64 bits of
    /// `hmac.new(pack(">QQ", key_sender, key_receiver), msg, sha256)` with
    /// `msg = id || address || port (2 octets, 0 when absent)` as Linux
    /// `add_addr_generate_hmac` builds it.
    #[test]
    fn add_addr_hmac_matches_linux_message_layout() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            add_addr_hmac(KEY_A, KEY_B, 1, v4, None),
            0x4e42_b6a2_5d2d_16fb
        );
        // Absent port hashes as port 0.
        assert_eq!(
            add_addr_hmac(KEY_A, KEY_B, 1, v4, None),
            add_addr_hmac(KEY_A, KEY_B, 1, v4, Some(0))
        );
        assert_eq!(
            add_addr_hmac(KEY_A, KEY_B, 1, v4, Some(8080)),
            0x6222_0c00_a0eb_2116
        );
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(
            add_addr_hmac(KEY_A, KEY_B, 7, v6, Some(443)),
            0x6cba_e5a6_4ac0_daa1
        );
        // The receiver checks with the keys in the sender's order.
        assert_ne!(
            add_addr_hmac(KEY_B, KEY_A, 1, v4, None),
            add_addr_hmac(KEY_A, KEY_B, 1, v4, None)
        );
    }

    /// Expected values from a Python one's-complement sum over
    /// `pack(">QIHH", dsn, subflow_seq, data_len, 0) + payload`, complemented.
    #[test]
    fn dss_checksum_vectors() {
        let payload = b"hello, multipath";
        let c = dss_checksum(0x0123_4567_89ab_cdef, 1, payload.len() as u16, payload);
        assert_eq!(c, 0x2ebe);
        assert!(dss_checksum_ok(
            0x0123_4567_89ab_cdef,
            1,
            payload.len() as u16,
            payload,
            c
        ));
        // Odd payload length, data_len counting a DATA_FIN octet.
        let c = dss_checksum(0xffff_ffff_ffff_fff0, 0xdead_beef, 4, b"abc");
        assert_eq!(c, 0x9e0a);
        assert!(dss_checksum_ok(
            0xffff_ffff_ffff_fff0,
            0xdead_beef,
            4,
            b"abc",
            c
        ));
        assert!(!dss_checksum_ok(
            0xffff_ffff_ffff_fff0,
            0xdead_beef,
            3,
            b"abc",
            c
        ));
    }

    /// An RNG that replays a script of values.
    struct Script(Vec<u64>);

    impl rand::TryRng for Script {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(self.0.remove(0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for chunk in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(())
        }
    }

    #[test]
    fn generate_key_is_never_zero() {
        let mut rng = Script(vec![0, 0, 0x42]);
        assert_eq!(generate_key(&mut rng), 0x42);
    }

    #[test]
    fn generate_key_from_seeded_rng_is_deterministic() {
        use rand::SeedableRng;
        let a = generate_key(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
        let b = generate_key(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
        assert_eq!(a, b);
        assert_ne!(a, 0);
    }

    proptest! {
        /// Corrupting any single payload octet is detected.
        #[test]
        fn dss_checksum_detects_any_flipped_byte(
            dsn in any::<u64>(),
            ssn in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 1..300),
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let data_len = payload.len() as u16;
            let c = dss_checksum(dsn, ssn, data_len, &payload);
            prop_assert!(dss_checksum_ok(dsn, ssn, data_len, &payload, c));
            let mut bad = payload.clone();
            let i = idx.index(bad.len());
            bad[i] ^= flip;
            prop_assert!(!dss_checksum_ok(dsn, ssn, data_len, &bad, c));
        }

        /// The pseudo-header is covered too.
        #[test]
        fn dss_checksum_covers_the_pseudo_header(
            dsn in any::<u64>(),
            ssn in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            bit in 0u32..64,
        ) {
            let data_len = payload.len() as u16;
            let c = dss_checksum(dsn, ssn, data_len, &payload);
            prop_assert!(!dss_checksum_ok(dsn ^ (1 << bit), ssn, data_len, &payload, c));
            prop_assert!(!dss_checksum_ok(dsn, ssn ^ (1 << (bit % 32)), data_len, &payload, c));
        }
    }
}
