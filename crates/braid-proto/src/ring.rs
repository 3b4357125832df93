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
