//! Seeds and random number generators.
//!
//! One master seed (a `u64`) drives a whole run. Every consumer of randomness
//! (each direction of each link, each host that asks) gets its own ChaCha8
//! stream derived from the master seed and a stable stream number, so adding
//! a link or a host never perturbs the randomness of the others.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The environment variable that overrides a test's seed.
pub const SEED_ENV: &str = "BRAID_SEED";

/// The seed in `BRAID_SEED` (decimal, or hexadecimal with `0x`), else
/// `default`. An unparsable value falls back to `default` and logs a warning.
///
/// A failing test prints its seed; `BRAID_SEED=<seed> cargo test <name>`
/// replays the identical run.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(text) => parse_seed(&text).unwrap_or_else(|| {
            tracing::warn!(value = %text, "unparsable {SEED_ENV}, using default seed {default}");
            default
        }),
        Err(_) => default,
    }
}

/// Parses a seed: decimal, or hexadecimal with a `0x` prefix.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// SplitMix64 step: a bijective mixer with good avalanche.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 key derived from the master `seed` and a `stream` number.
pub fn derive_key(seed: u64, stream: u64) -> [u8; 32] {
    let mut state = seed ^ splitmix64(&mut stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    key
}

/// An independent ChaCha8 generator for `stream` under the master `seed`.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(derive_key(seed, stream))
}

/// Stream number for a label (FNV-1a), for [`crate::Sim::rng`].
pub(crate) fn label_stream(label: &str) -> u64 {
    // Top bit set so label streams never collide with link streams.
    fnv1a(FNV_OFFSET, label.as_bytes()) | (1 << 63)
}

pub(crate) const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;

/// FNV-1a over `bytes`, continuing from `hash`.
pub(crate) fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

/// A uniform float in `[0, 1)` from 53 random bits (stable across rand versions).
pub(crate) fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p` (no draw when `p <= 0`).
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && unit_f64(rng) < p
}

/// A uniform integer in `[0, max]` (no draw when `max == 0`).
pub(crate) fn up_to(rng: &mut ChaCha8Rng, max: u64) -> u64 {
    if max == 0 {
        0
    } else {
        rng.next_u64() % (max.saturating_add(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_seed_forms() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2a "), Some(42));
        assert_eq!(parse_seed("zz"), None);
    }

    #[test]
    fn streams_differ_and_repeat() {
        let mut a = stream_rng(1, 0);
        let mut b = stream_rng(1, 1);
        let mut a2 = stream_rng(1, 0);
        let mut c = stream_rng(2, 0);
        let (x, y, x2, z) = (a.next_u64(), b.next_u64(), a2.next_u64(), c.next_u64());
        assert_eq!(x, x2);
        assert_ne!(x, y);
        assert_ne!(x, z);
    }
}
