//! Byte copies out of a `VecDeque<u8>` by slices, not byte by byte (send
//! and receive buffers copy every payload byte through here).

use std::collections::VecDeque;

/// Copy `dst.len()` bytes starting at offset `off` of `dq` into `dst`.
/// The range must be inside `dq` (the callers bound it).
pub(crate) fn copy_out(dq: &VecDeque<u8>, off: usize, dst: &mut [u8]) {
    let (a, b) = dq.as_slices();
    if off < a.len() {
        let k = (a.len() - off).min(dst.len());
        let (head, tail) = dst.split_at_mut(k);
        head.copy_from_slice(&a[off..off + k]);
        tail.copy_from_slice(&b[..tail.len()]);
    } else {
        let o = off - a.len();
        dst.copy_from_slice(&b[o..o + dst.len()]);
    }
}

/// `len` bytes at offset `off` of `dq` as a new vector.
pub(crate) fn to_vec(dq: &VecDeque<u8>, off: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    copy_out(dq, off, &mut v);
    v
}

/// Move the first `dst.len()` bytes of `dq` into `dst`.
pub(crate) fn pop_into(dq: &mut VecDeque<u8>, dst: &mut [u8]) {
    copy_out(dq, 0, dst);
    dq.drain(..dst.len());
}

/// Bytes held in order, up to a capacity that only grows (autotuning): the
/// storage of both send buffers, a subflow's by sequence number
/// (`tcp::send`) and the connection's by DSN (`conn::sendbuf`), which add
/// their sequence space on top.
#[derive(Debug, Clone)]
pub(crate) struct ByteQueue {
    data: VecDeque<u8>,
    capacity: usize,
}

impl ByteQueue {
    /// Empty, holding at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> ByteQueue {
        ByteQueue {
            data: VecDeque::new(),
            capacity,
        }
    }

    /// Append as much of `bytes` as fits; returns the count.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Free space.
    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// The capacity now, bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raise the capacity to `capacity`; never lowers it.
    pub(crate) fn grow_to(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// Drop up to `n` bytes from the front; returns how many were dropped.
    pub(crate) fn drop_front(&mut self, n: usize) -> usize {
        let n = n.min(self.data.len());
        self.data.drain(..n);
        n
    }

    /// Up to `len` bytes from offset `off` (both clamped to what is held).
    pub(crate) fn copy(&self, off: usize, len: usize) -> Vec<u8> {
        let off = off.min(self.data.len());
        to_vec(&self.data, off, len.min(self.data.len() - off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_across_the_wrap() {
        let mut dq: VecDeque<u8> = VecDeque::with_capacity(8);
        dq.extend([0, 0, 0, 0, 0, 0]);
        dq.drain(..5);
        dq.extend([1, 2, 3, 4, 5, 6]);
        // Now [0, 1, 2, 3, 4, 5, 6], wrapped inside the ring.
        let want: Vec<u8> = dq.iter().copied().collect();
        for off in 0..want.len() {
            for len in 0..=want.len() - off {
                assert_eq!(to_vec(&dq, off, len), want[off..off + len]);
            }
        }
        let mut out = [0u8; 3];
        pop_into(&mut dq, &mut out);
        assert_eq!(out, [0, 1, 2]);
        assert_eq!(dq.iter().copied().collect::<Vec<_>>(), [3, 4, 5, 6]);
    }
}
