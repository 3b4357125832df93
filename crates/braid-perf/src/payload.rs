//! The deterministic payload and its byte-exact check.
//!
//! Both ends derive the same byte stream from the seed in the header: a
//! ChaCha8 keystream produced in fixed blocks, so the stream does not depend
//! on how writes and reads happen to be split. The sender writes it; the
//! receiver regenerates it and compares every byte, which catches loss,
//! duplication, reordering and corruption anywhere in the data sequence
//! space.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes generated per refill; a multiple of the ChaCha block size.
const BLOCK: usize = 16 * 1024;

/// Which of the independent payload streams of one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamId {
    /// Bulk data, and requests in rr mode.
    Forward = 0,
    /// Responses in rr mode.
    Reverse = 1,
}

/// An endless pseudo-random byte stream.
#[derive(Debug)]
pub struct Payload {
    rng: ChaCha8Rng,
    block: Box<[u8; BLOCK]>,
    pos: usize,
}

impl Payload {
    /// The stream `id` of `seed`.
    pub fn new(seed: u64, id: StreamId) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(id as u64);
        Self {
            rng,
            block: Box::new([0; BLOCK]),
            pos: BLOCK,
        }
    }

    /// Fills `out` with the next `out.len()` bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let chunk = self.next_chunk(out.len() - done);
            out[done..done + chunk.len()].copy_from_slice(chunk);
            done += chunk.len();
        }
    }

    /// The next at most `max` bytes of the stream, refilling as needed.
    fn next_chunk(&mut self, max: usize) -> &[u8] {
        if self.pos == BLOCK {
            self.rng.fill_bytes(&mut self.block[..]);
            self.pos = 0;
        }
        let n = max.min(BLOCK - self.pos);
        let chunk = &self.block[self.pos..self.pos + n];
        self.pos += n;
        chunk
    }
}

/// Compares received bytes with the expected stream.
#[derive(Debug)]
pub struct Verifier {
    expected: Payload,
    offset: u64,
    first_mismatch: Option<u64>,
}

impl Verifier {
    /// A verifier for stream `id` of `seed`.
    pub fn new(seed: u64, id: StreamId) -> Self {
        Self {
            expected: Payload::new(seed, id),
            offset: 0,
            first_mismatch: None,
        }
    }

    /// Checks the next received bytes.
    pub fn check(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let expected = self.expected.next_chunk(data.len());
            let n = expected.len();
            if self.first_mismatch.is_none() && expected != &data[..n] {
                let at = expected.iter().zip(data).position(|(a, b)| a != b);
                // `at` is Some: the slices differ and have the same length.
                self.first_mismatch = Some(self.offset + at.unwrap_or(0) as u64);
            }
            self.offset += n as u64;
            data = &data[n..];
        }
    }

    /// Bytes checked so far.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    /// Offset of the first wrong byte, if any.
    pub fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }

    /// True if every byte so far was right.
    pub fn ok(&self) -> bool {
        self.first_mismatch.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_change_the_stream() {
        let mut a = Payload::new(7, StreamId::Forward);
        let mut whole = vec![0u8; 3 * BLOCK + 5];
        a.fill(&mut whole);
        let mut b = Payload::new(7, StreamId::Forward);
        let mut pieces = vec![0u8; whole.len()];
        let mut at = 0;
        for size in [1, 3, 4095, BLOCK + 7, 2].iter().cycle() {
            if at == pieces.len() {
                break;
            }
            let n = (*size).min(pieces.len() - at);
            b.fill(&mut pieces[at..at + n]);
            at += n;
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn verifier_finds_the_first_wrong_byte() {
        let mut data = vec![0u8; 40_000];
        Payload::new(3, StreamId::Reverse).fill(&mut data);
        let mut ok = Verifier::new(3, StreamId::Reverse);
        ok.check(&data[..10]);
        ok.check(&data[10..]);
        assert!(ok.ok());
        assert_eq!(ok.bytes(), 40_000);

        data[20_001] ^= 0x40;
        let mut bad = Verifier::new(3, StreamId::Reverse);
        bad.check(&data);
        assert_eq!(bad.first_mismatch(), Some(20_001));
        let mut other = Verifier::new(3, StreamId::Forward);
        other.check(&data[..100]);
        assert!(!other.ok(), "streams of one seed differ");
    }
}
