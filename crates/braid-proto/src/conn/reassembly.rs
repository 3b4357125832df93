//! Data-level reassembly by 64-bit data sequence number (RFC 8684 section
//! 3.3: bytes arrive over several subflows, in any order, possibly twice
//! after reinjection; the application reads them in DSN order).
//!
//! The receive buffer is bounded by DSN: bytes at or past
//! `read_dsn + capacity` are never accepted (the caller leaves them queued
//! in the subflow), so memory is bounded and the in-order byte is always
//! accepted. Duplicates are trimmed on the way in and on the way out.

use crate::wire::Dsn;
use std::collections::{BTreeMap, VecDeque};

/// The data-level receive side.
#[derive(Debug)]
pub struct Reassembly {
    /// Offsets are `dsn - origin` (u64, wrapping-safe for 2^63 bytes).
    origin: Dsn,
    /// Next expected DSN (the DATA_ACK we send).
    rcv_nxt: Dsn,
    /// In-order bytes the application has not read; they end at `rcv_nxt`.
    ready: VecDeque<u8>,
    /// Out-of-order bytes by offset.
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    capacity: usize,
    /// DSN of the peer's DATA_FIN, once known.
    fin: Option<Dsn>,
    fin_received: bool,
}

/// What [`Reassembly::insert`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inserted {
    /// New bytes now readable in order.
    pub in_order: usize,
    /// Bytes dropped as already received.
    pub duplicate: usize,
    /// Bytes queued out of order.
    pub queued: usize,
}

impl Reassembly {
    /// Expect `rcv_nxt` next; hold at most `capacity` bytes.
    pub fn new(rcv_nxt: Dsn, capacity: usize) -> Reassembly {
        Reassembly {
            origin: rcv_nxt,
            rcv_nxt,
            ready: VecDeque::new(),
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            capacity: capacity.max(1),
            fin: None,
            fin_received: false,
        }
    }

    /// Restart at `rcv_nxt` (the peer's IDSN + 1 becomes known), only
    /// before any data arrived.
    pub fn reset(&mut self, rcv_nxt: Dsn) {
        *self = Reassembly::new(rcv_nxt, self.capacity);
    }

    /// The next expected DSN, i.e. the DATA_ACK to send.
    pub fn rcv_nxt(&self) -> Dsn {
        self.rcv_nxt
    }

    fn off(&self, dsn: Dsn) -> u64 {
        dsn.0.wrapping_sub(self.origin.0)
    }

    /// The first DSN not accepted now.
    pub fn limit(&self) -> Dsn {
        Dsn(self.rcv_nxt.0.wrapping_sub(self.ready.len() as u64)) + self.capacity as u64
    }

    /// Bytes starting at `dsn` that fit in the buffer.
    pub fn room_at(&self, dsn: Dsn) -> usize {
        (self.limit() - dsn).min(usize::MAX as u64) as usize
    }

    /// Bytes the application can read.
    pub fn readable(&self) -> usize {
        self.ready.len()
    }

    /// The capacity now, bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raise the capacity to `capacity` (autotuning); never lowers it.
    pub fn grow_to(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    /// Whether the DATA_FIN was reached and everything before it read.
    pub fn is_finished(&self) -> bool {
        self.fin_received && self.ready.is_empty()
    }

    /// Whether the DATA_FIN was reached.
    pub fn fin_received(&self) -> bool {
        self.fin_received
    }

    /// Record the peer's DATA_FIN at `dsn`. Returns whether it was reached
    /// now. A second, different DATA_FIN is ignored.
    pub fn set_fin(&mut self, dsn: Dsn) -> bool {
        if self.fin.is_none() && dsn >= self.rcv_nxt {
            self.fin = Some(dsn);
        }
        self.advance_fin()
    }

    fn advance_fin(&mut self) -> bool {
        if !self.fin_received && self.fin == Some(self.rcv_nxt) {
            self.fin_received = true;
            self.rcv_nxt += 1;
            return true;
        }
        false
    }

    /// Insert bytes at `dsn`. Bytes before `rcv_nxt` are duplicates; bytes
    /// past [`Reassembly::limit`] or the DATA_FIN are dropped (callers only
    /// pass what [`Reassembly::room_at`] allows).
    pub fn insert(&mut self, dsn: Dsn, data: &[u8]) -> Inserted {
        let mut r = Inserted::default();
        if self.fin_received {
            r.duplicate = data.len();
            return r;
        }
        let mut start = dsn;
        let mut data = data;
        if start < self.rcv_nxt {
            let dup = ((self.rcv_nxt - start) as usize).min(data.len());
            r.duplicate += dup;
            data = &data[dup..];
            start = self.rcv_nxt;
        }
        let mut end_limit = self.limit();
        if let Some(f) = self.fin {
            end_limit = end_limit.min(f);
        }
        let room = (end_limit - start) as usize;
        if data.len() > room {
            data = &data[..room];
        }
        if data.is_empty() {
            return r;
        }
        if start == self.rcv_nxt {
            self.ready.extend(data);
            self.rcv_nxt += data.len() as u64;
            r.in_order += data.len();
            r.in_order += self.drain_ooo(&mut r.duplicate);
        } else {
            let off = self.off(start);
            let keep = match self.ooo.get(&off) {
                Some(old) => old.len() < data.len(),
                None => true,
            };
            if keep {
                if let Some(old) = self.ooo.insert(off, data.to_vec()) {
                    self.ooo_bytes -= old.len();
                    r.duplicate += old.len();
                }
                self.ooo_bytes += data.len();
                r.queued = data.len();
            } else {
                r.duplicate += data.len();
            }
        }
        self.advance_fin();
        r
    }

    /// Move out-of-order blocks that became contiguous.
    fn drain_ooo(&mut self, dup: &mut usize) -> usize {
        let mut moved = 0;
        loop {
            let next = self.off(self.rcv_nxt);
            let Some((&off, _)) = self.ooo.iter().next() else {
                break;
            };
            if off > next {
                break;
            }
            let Some(block) = self.ooo.remove(&off) else {
                break;
            };
            self.ooo_bytes -= block.len();
            let skip = ((next - off) as usize).min(block.len());
            *dup += skip;
            let fresh = &block[skip..];
            self.ready.extend(fresh);
            self.rcv_nxt += fresh.len() as u64;
            moved += fresh.len();
        }
        moved
    }

    /// Read in-order bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.ready.len());
        crate::ring::pop_into(&mut self.ready, &mut buf[..n]);
        n
    }

    /// Bytes held out of order.
    pub fn ooo_bytes(&self) -> usize {
        self.ooo_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut Reassembly) -> Vec<u8> {
        let mut v = vec![0; r.readable()];
        let n = r.read(&mut v);
        v.truncate(n);
        v
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut r = Reassembly::new(Dsn(100), 1000);
        let i = r.insert(Dsn(105), b"fghij");
        assert_eq!(i.queued, 5);
        assert_eq!(r.readable(), 0);
        let i = r.insert(Dsn(100), b"abcde");
        assert_eq!(i.in_order, 10);
        assert_eq!(read_all(&mut r), b"abcdefghij");
        assert_eq!(r.rcv_nxt(), Dsn(110));
    }

    #[test]
    fn duplicates_and_overlaps_trimmed() {
        let mut r = Reassembly::new(Dsn(0), 1000);
        r.insert(Dsn(0), b"abc");
        let i = r.insert(Dsn(1), b"bcde");
        assert_eq!(i.duplicate, 2);
        assert_eq!(i.in_order, 2);
        // Overlapping out-of-order blocks from two subflows.
        r.insert(Dsn(8), b"ijkl");
        r.insert(Dsn(6), b"ghij");
        let i = r.insert(Dsn(5), b"f");
        assert_eq!(i.in_order, 7);
        assert_eq!(i.duplicate, 2);
        assert_eq!(read_all(&mut r), b"abcdefghijkl");
    }

    #[test]
    fn capacity_bounds_acceptance() {
        let mut r = Reassembly::new(Dsn(0), 4);
        assert_eq!(r.room_at(Dsn(0)), 4);
        r.insert(Dsn(0), b"abcdef");
        assert_eq!(r.readable(), 4);
        assert_eq!(r.room_at(Dsn(4)), 0);
        let mut b = [0; 2];
        r.read(&mut b);
        assert_eq!(r.room_at(Dsn(4)), 2);
    }

    #[test]
    fn wraps_around_2_pow_64() {
        let start = Dsn(u64::MAX - 2);
        let mut r = Reassembly::new(start, 100);
        r.insert(start + 3, b"def");
        r.insert(start, b"abc");
        assert_eq!(read_all(&mut r), b"abcdef");
        assert_eq!(r.rcv_nxt(), Dsn(3));
    }

    #[test]
    fn low_32_bit_wrap_via_expand() {
        // Mappings carried with 32-bit DSNs across the 2^32 boundary of the
        // low bits: expansion near rcv_nxt gives contiguous 64-bit DSNs.
        let start = Dsn(0x7_ffff_fff0);
        let mut r = Reassembly::new(start, 1000);
        let second = Dsn::expand(r.rcv_nxt(), (start + 16).low32());
        assert_eq!(second, Dsn(0x8_0000_0000));
        r.insert(second, &[2; 16]);
        let first = Dsn::expand(r.rcv_nxt(), start.low32());
        assert_eq!(first, start);
        r.insert(first, &[1; 16]);
        assert_eq!(r.readable(), 32);
        assert_eq!(r.rcv_nxt(), Dsn(0x8_0000_0010));
        let third = Dsn::expand(r.rcv_nxt(), 0x10);
        assert_eq!(third, Dsn(0x8_0000_0010));
    }

    #[test]
    fn data_fin_consumes_one_dsn() {
        let mut r = Reassembly::new(Dsn(10), 100);
        assert!(!r.set_fin(Dsn(13)));
        r.insert(Dsn(10), b"abcdef");
        assert!(r.fin_received());
        assert_eq!(r.rcv_nxt(), Dsn(14));
        assert_eq!(read_all(&mut r), b"abc");
        assert!(r.is_finished());
    }
}
