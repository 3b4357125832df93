//! The receive side: an in-order buffer for the application, out-of-order
//! reassembly (RFC 9293 section 3.10.7.4, "seventh, process the segment
//! text") and SACK block generation (RFC 2018 section 4).

use crate::wire::SeqNum;
use arrayvec::ArrayVec;
use std::collections::VecDeque;

/// A contiguous run of bytes received above a hole.
#[derive(Debug, Clone)]
struct OooBlock {
    start: SeqNum,
    data: Vec<u8>,
    /// Arrival order of the most recent segment that touched this block.
    stamp: u64,
}

impl OooBlock {
    fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }
}

/// Receive buffer of a fixed capacity. The free space is the receive
/// window; out-of-order data lies inside that window, above `rcv_nxt`.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    capacity: usize,
    ready: VecDeque<u8>,
    /// Sequence number of `ready[0]`.
    ready_seq: SeqNum,
    ooo: Vec<OooBlock>,
    stamp: u64,
    /// The peer's FIN, once its sequence number is known.
    fin: Option<SeqNum>,
    fin_consumed: bool,
}

impl RecvBuffer {
    /// An empty buffer expecting `rcv_nxt` next.
    pub fn new(capacity: usize, rcv_nxt: SeqNum) -> RecvBuffer {
        RecvBuffer {
            capacity,
            ready: VecDeque::new(),
            ready_seq: rcv_nxt,
            ooo: Vec::new(),
            stamp: 0,
            fin: None,
            fin_consumed: false,
        }
    }

    /// Reset the expected sequence number (on learning the peer's ISN).
    pub fn reset(&mut self, rcv_nxt: SeqNum) {
        *self = RecvBuffer::new(self.capacity, rcv_nxt);
    }

    /// RCV.NXT: the next sequence number expected (after the FIN once it
    /// has been consumed).
    pub fn rcv_nxt(&self) -> SeqNum {
        self.ready_seq + self.ready.len() + usize::from(self.fin_consumed)
    }

    /// The next data sequence number (never counting the FIN).
    fn data_nxt(&self) -> SeqNum {
        self.ready_seq + self.ready.len()
    }

    /// Free space, the receive window.
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.ready.len())
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes ready for the application.
    pub fn readable(&self) -> usize {
        self.ready.len()
    }

    /// Whether the FIN has been consumed (all data before it arrived).
    pub fn fin_consumed(&self) -> bool {
        self.fin_consumed
    }

    /// Sequence number of the peer's FIN, once a FIN arrived.
    pub fn fin_seq(&self) -> Option<SeqNum> {
        self.fin
    }

    /// Whether data is held out of order.
    pub fn has_holes(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Store `data` starting at `seq`, already trimmed by the caller to
    /// `[rcv_nxt, rcv_nxt + window)`; `fin` marks a FIN right after it.
    /// Returns the number of bytes that became readable in order.
    pub fn insert(&mut self, seq: SeqNum, data: &[u8], fin: bool) -> usize {
        if fin && self.fin.is_none() {
            self.fin = Some(seq + data.len());
        }
        let before = self.ready.len();
        if !data.is_empty() {
            if seq == self.data_nxt() {
                self.ready.extend(data);
            } else if seq > self.data_nxt() {
                self.insert_ooo(seq, data);
            }
            self.pull_ooo();
        }
        if let Some(f) = self.fin
            && !self.fin_consumed
            && f == self.data_nxt()
            && self.ooo.is_empty()
        {
            self.fin_consumed = true;
        }
        self.ready.len() - before
    }

    fn insert_ooo(&mut self, seq: SeqNum, data: &[u8]) {
        self.stamp += 1;
        let end = seq + data.len();
        // Union with every block that overlaps or touches [seq, end).
        let (touching, rest): (Vec<OooBlock>, Vec<OooBlock>) = self
            .ooo
            .drain(..)
            .partition(|b| b.start <= end && b.end() >= seq);
        let start = touching.iter().map(|b| b.start).fold(seq, SeqNum::min);
        let stop = touching.iter().map(|b| b.end()).fold(end, SeqNum::max);
        let mut merged = vec![0u8; stop - start];
        for b in &touching {
            let off = b.start - start;
            merged[off..off + b.data.len()].copy_from_slice(&b.data);
        }
        let off = seq - start;
        merged[off..off + data.len()].copy_from_slice(data);
        self.ooo = rest;
        self.ooo.push(OooBlock {
            start,
            data: merged,
            stamp: self.stamp,
        });
        self.ooo.sort_by_key(|b| b.start);
    }

    /// Move blocks that the in-order edge reached into `ready`.
    fn pull_ooo(&mut self) {
        while let Some(first) = self.ooo.first() {
            let nxt = self.data_nxt();
            if first.start > nxt {
                break;
            }
            let b = self.ooo.remove(0);
            if b.end() > nxt {
                let skip = nxt - b.start;
                self.ready.extend(&b.data[skip..]);
            }
        }
    }

    /// Copy out up to `buf.len()` in-order bytes; returns the count and the
    /// sequence number of the first byte.
    pub fn read(&mut self, buf: &mut [u8]) -> (usize, SeqNum) {
        let seq = self.ready_seq;
        let n = buf.len().min(self.ready.len());
        for (dst, src) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *dst = src;
        }
        self.ready_seq += n;
        (n, seq)
    }

    /// Sequence number of the next byte `read` returns.
    pub fn read_seq(&self) -> SeqNum {
        self.ready_seq
    }

    /// SACK blocks for an outgoing ACK, at most `max`: RFC 2018 section 4,
    /// "The first SACK block ... MUST specify the contiguous block of data
    /// containing the segment which triggered this ACK"; the others follow
    /// in order of recency.
    pub fn sack_blocks(&self, max: usize) -> ArrayVec<(SeqNum, SeqNum), 4> {
        let mut blocks: Vec<&OooBlock> = self.ooo.iter().collect();
        blocks.sort_by_key(|b| core::cmp::Reverse(b.stamp));
        blocks
            .into_iter()
            .take(max.min(4))
            .map(|b| (b.start, b.end()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_out_of_order() {
        let mut r = RecvBuffer::new(100, SeqNum(1000));
        assert_eq!(r.insert(SeqNum(1010), b"cccccccccc", false), 0);
        assert_eq!(r.insert(SeqNum(1030), b"eeeee", true), 0);
        assert_eq!(
            r.sack_blocks(4).as_slice(),
            &[(SeqNum(1030), SeqNum(1035)), (SeqNum(1010), SeqNum(1020))]
        );
        assert_eq!(r.insert(SeqNum(1000), b"aaaaaaaaaa", false), 20);
        assert_eq!(r.rcv_nxt(), SeqNum(1020));
        assert_eq!(r.insert(SeqNum(1020), b"dddddddddd", false), 15);
        assert!(r.fin_consumed());
        assert_eq!(r.rcv_nxt(), SeqNum(1036));
        let mut buf = [0u8; 64];
        let (n, seq) = r.read(&mut buf);
        assert_eq!((n, seq), (35, SeqNum(1000)));
        assert_eq!(&buf[..35], b"aaaaaaaaaaccccccccccddddddddddeeeee");
    }
}
