//! The receive side: an in-order buffer for the application, out-of-order
//! reassembly (RFC 9293 section 3.10.7.4, "seventh, process the segment
//! text") and SACK block generation (RFC 2018 section 4).

use crate::wire::SeqNum;
use arrayvec::ArrayVec;
use std::collections::{BTreeMap, VecDeque};

/// How many recently received out-of-order segments are remembered for the
/// order of SACK blocks (RFC 2018 allows 4 blocks at most).
const RECENT: usize = 8;

/// Receive buffer of a fixed capacity. The free space is the receive
/// window; out-of-order data lies inside that window, above `rcv_nxt`.
///
/// Out-of-order data is kept per segment, never copied into merged
/// blocks: `chunks` holds non-overlapping byte runs by stream offset and
/// `blocks` the SACK-style interval set they form, so a segment costs its
/// own length plus logarithmic map work, whatever the window holds.
/// Offsets count bytes from the first byte ever received (64 bits: no
/// wrap), so that the maps have a total order.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    capacity: usize,
    ready: VecDeque<u8>,
    /// Sequence number of `ready[0]`.
    ready_seq: SeqNum,
    /// Stream offset of the first byte after `ready`.
    nxt_off: u64,
    /// Out-of-order bytes: start offset -> bytes, non-overlapping.
    chunks: BTreeMap<u64, Vec<u8>>,
    /// Contiguous out-of-order ranges: start offset -> end offset,
    /// disjoint and not touching.
    blocks: BTreeMap<u64, u64>,
    /// Start offsets of the most recent out-of-order segments, newest
    /// first (the SACK block order of RFC 2018 section 4).
    recent: VecDeque<u64>,
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
            nxt_off: 0,
            chunks: BTreeMap::new(),
            blocks: BTreeMap::new(),
            recent: VecDeque::new(),
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

    /// Raise the capacity to `capacity` (autotuning); never lowers it, so
    /// an advertised window edge never retreats.
    pub fn grow_to(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
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
        !self.blocks.is_empty()
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
                self.nxt_off += data.len() as u64;
            } else if seq > self.data_nxt() {
                self.insert_ooo(seq, data);
            }
            self.pull_ooo();
        }
        if let Some(f) = self.fin
            && !self.fin_consumed
            && f == self.data_nxt()
            && self.blocks.is_empty()
        {
            self.fin_consumed = true;
        }
        self.ready.len() - before
    }

    /// Stream offset of `seq`, at or after the in-order edge.
    fn offset(&self, seq: SeqNum) -> u64 {
        self.nxt_off + (seq - self.data_nxt()) as u64
    }

    /// Sequence number of stream offset `off`, at or after the edge.
    fn seq_of(&self, off: u64) -> SeqNum {
        self.data_nxt() + (off - self.nxt_off) as usize
    }

    fn insert_ooo(&mut self, seq: SeqNum, data: &[u8]) {
        let s = self.offset(seq);
        let e = s + data.len() as u64;
        // Store the bytes no chunk holds yet: walk the chunks overlapping
        // [s, e) in order and fill the gaps between them.
        let first = self
            .chunks
            .range(..=s)
            .next_back()
            .filter(|(cs, c)| **cs + c.len() as u64 > s)
            .map(|(cs, _)| *cs);
        let overlapping: Vec<(u64, u64)> = first
            .into_iter()
            .chain(self.chunks.range(s + 1..e).map(|(cs, _)| *cs))
            .map(|cs| (cs, cs + self.chunks[&cs].len() as u64))
            .collect();
        let mut cur = s;
        for (cs, ce) in overlapping {
            if cs > cur {
                let piece = &data[(cur - s) as usize..(cs - s) as usize];
                self.chunks.insert(cur, piece.to_vec());
            }
            cur = cur.max(ce);
        }
        if cur < e {
            self.chunks.insert(cur, data[(cur - s) as usize..].to_vec());
        }
        // Union [s, e) with every block it overlaps or touches.
        let (mut start, mut end) = (s, e);
        while let Some((&bs, &be)) = self.blocks.range(..=end).next_back() {
            if be < start {
                break;
            }
            self.blocks.remove(&bs);
            start = start.min(bs);
            end = end.max(be);
        }
        self.blocks.insert(start, end);
        self.recent.retain(|&o| o < start || o >= end);
        self.recent.push_front(s);
        self.recent.truncate(RECENT);
    }

    /// Move blocks that the in-order edge reached into `ready`.
    fn pull_ooo(&mut self) {
        while let Some((&bs, &be)) = self.blocks.first_key_value() {
            if bs > self.nxt_off {
                break;
            }
            self.blocks.remove(&bs);
            while let Some(entry) = self.chunks.first_entry() {
                if *entry.key() >= be {
                    break;
                }
                let cs = *entry.key();
                let chunk = entry.remove();
                let ce = cs + chunk.len() as u64;
                if ce > self.nxt_off {
                    let skip = self.nxt_off.saturating_sub(cs) as usize;
                    self.ready.extend(&chunk[skip..]);
                    self.nxt_off = ce;
                }
            }
            if be > self.nxt_off {
                // Not reachable: the chunks cover every block.
                break;
            }
        }
    }

    /// Copy out up to `buf.len()` in-order bytes; returns the count and the
    /// sequence number of the first byte.
    pub fn read(&mut self, buf: &mut [u8]) -> (usize, SeqNum) {
        let seq = self.ready_seq;
        let n = buf.len().min(self.ready.len());
        crate::ring::pop_into(&mut self.ready, &mut buf[..n]);
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
        let max = max.min(4);
        let mut out: ArrayVec<(u64, u64), 4> = ArrayVec::new();
        let recent = self.recent.iter().filter_map(|&o| {
            self.blocks
                .range(..=o)
                .next_back()
                .filter(|(_, be)| **be > o)
                .map(|(bs, be)| (*bs, *be))
        });
        // The blocks of the most recent segments, then any others.
        for b in recent.chain(self.blocks.iter().map(|(bs, be)| (*bs, *be))) {
            if out.len() >= max {
                break;
            }
            if b.0 >= self.nxt_off && !out.contains(&b) {
                out.push(b);
            }
        }
        out.into_iter()
            .map(|(bs, be)| (self.seq_of(bs), self.seq_of(be)))
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

    /// A 4 MiB window filled out of order: the first segment lost, every
    /// other one after it arriving first (about 1,500 holes), then the
    /// rest from the top down, then the first. Each insertion costs its
    /// segment (the merged block used to be copied on every segment:
    /// quadratic, gigabytes of copying here). The bytes come out in order
    /// and the SACK blocks stay right throughout.
    #[test]
    fn many_out_of_order_segments_into_a_4_mib_window() {
        const WINDOW: usize = 4 << 20;
        const SEG: usize = 1400;
        let base = SeqNum(u32::MAX - 100_000);
        let stream: Vec<u8> = (0..WINDOW).map(|i| (i * 7 + i / 251) as u8).collect();
        let segs: Vec<(usize, usize)> = (0..WINDOW)
            .step_by(SEG)
            .map(|o| (o, (o + SEG).min(WINDOW)))
            .collect();
        let mut r = RecvBuffer::new(WINDOW, base);
        let put =
            |r: &mut RecvBuffer, (a, b): (usize, usize)| r.insert(base + a, &stream[a..b], false);
        // Ascending odd segments: each a new block; the newest first.
        for &seg in segs.iter().skip(1).step_by(2) {
            assert_eq!(put(&mut r, seg), 0);
        }
        let blocks = r.sack_blocks(4);
        let last_odd = segs.len() - 1 - (segs.len() % 2);
        assert_eq!(blocks.len(), 4);
        assert_eq!(
            blocks[0],
            (base + segs[last_odd].0, base + segs[last_odd].1)
        );
        // Then the even ones from the top down, each merging its
        // neighbours into one block above the first hole.
        for &seg in segs.iter().skip(2).step_by(2).rev() {
            assert_eq!(put(&mut r, seg), 0);
        }
        assert_eq!(r.sack_blocks(4).as_slice(), &[(base + SEG, base + WINDOW)]);
        // Duplicates and overlaps change nothing.
        assert_eq!(
            r.insert(base + 5 * SEG - 10, &stream[5 * SEG - 10..7 * SEG], false),
            0
        );
        // The first segment releases the whole window.
        assert_eq!(put(&mut r, segs[0]), WINDOW);
        assert!(!r.has_holes());
        assert_eq!(r.rcv_nxt(), base + WINDOW);
        let mut out = vec![0u8; WINDOW];
        assert_eq!(r.read(&mut out), (WINDOW, base));
        assert!(out == stream, "bytes differ");
    }

    /// Partial overlaps with held data and in-order data that runs over
    /// out-of-order blocks.
    #[test]
    fn overlapping_segments_reassemble() {
        let mut r = RecvBuffer::new(100, SeqNum(0));
        let text = b"abcdefghijklmnopqrstuvwxyz";
        assert_eq!(r.insert(SeqNum(10), &text[10..14], false), 0);
        assert_eq!(r.insert(SeqNum(12), &text[12..20], false), 0);
        assert_eq!(r.insert(SeqNum(8), &text[8..11], false), 0);
        assert_eq!(r.insert(SeqNum(22), &text[22..24], false), 0);
        assert_eq!(
            r.sack_blocks(4).as_slice(),
            &[(SeqNum(22), SeqNum(24)), (SeqNum(8), SeqNum(20))]
        );
        assert_eq!(r.insert(SeqNum(0), &text[0..21], false), 21);
        assert_eq!(r.sack_blocks(4).as_slice(), &[(SeqNum(22), SeqNum(24))]);
        assert_eq!(r.insert(SeqNum(21), &text[21..26], true), 5);
        assert!(r.fin_consumed());
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).0, 26);
        assert_eq!(&buf[..26], text);
    }
}
