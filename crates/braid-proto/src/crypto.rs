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

/// Generate a 64-bit MPTCP key (RFC 8684 section 3.1: "a 64-bit key ... the
/// sender's key"). The key is never zero: zero is what an unset key looks
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

/// The token of a key (RFC 8684 section 3.1: "the most significant 32 bits of
/// the SHA-256 hash of the key"), the key hashed in network byte order.
pub fn token(key: u64) -> u32 {
    token_and_idsn(key).0
}

/// The initial data sequence number of a key (RFC 8684 section 3.1: "the
/// least significant 64 bits of the SHA-256 hash of the key").
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

/// The truncated HMAC of the MP_JOIN SYN/ACK (RFC 8684 section 3.2): "the
/// leftmost 64 bits of HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A))".
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
/// 160 bits of "HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B))".
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
/// carries no port: that is what Linux `add_addr_generate_hmac` hashes (the
/// RFC says the port is included "if present"; Linux's reading is the one
/// that interoperates). The address is 4 or 16 octets by family.
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
/// ones (as Linux `__mptcp_check_data_csum` checks). RFC 8684 section 3.3.1:
/// on failure the receiver "MUST" treat the mapping as broken (MP_FAIL or
/// fallback); that decision belongs to the connection layer.
pub fn dss_checksum_ok(
    dsn: u64,
    subflow_seq: u32,
    data_len: u16,
    payload: &[u8],
    received: u16,
) -> bool {
    dss_sum(dsn, subflow_seq, data_len, received, payload) == 0xffff
}
