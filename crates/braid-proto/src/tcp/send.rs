//! The send buffer: bytes written by the application and not yet
//! acknowledged, addressed by sequence number.

use crate::wire::SeqNum;
use std::collections::VecDeque;

/// Unacknowledged and unsent data. `data[0]` has sequence number `start`.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    capacity: usize,
    data: VecDeque<u8>,
    start: SeqNum,
}

impl SendBuffer {
    /// An empty buffer whose first byte will have sequence number `start`.
    pub fn new(capacity: usize, start: SeqNum) -> SendBuffer {
        SendBuffer {
            capacity,
            data: VecDeque::new(),
            start,
        }
    }

    /// Queue as much of `bytes` as fits; returns the count.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Free space.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// The capacity now, bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raise the capacity to `capacity` (autotuning); never lowers it.
    pub fn grow_to(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    /// Bytes held (sent-unacked plus unsent).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Sequence number just after the last held byte.
    pub fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }

    /// Drop bytes acknowledged up to `ack`; returns how many were dropped.
    pub fn ack_to(&mut self, ack: SeqNum) -> usize {
        if ack <= self.start {
            return 0;
        }
        let n = (ack - self.start).min(self.data.len());
        self.data.drain(..n);
        self.start += n;
        n
    }

    /// Copy up to `len` bytes starting at `seq` (clamped to what is held).
    pub fn copy(&self, seq: SeqNum, len: usize) -> Vec<u8> {
        if seq < self.start {
            return Vec::new();
        }
        let off = seq - self.start;
        if off >= self.data.len() {
            return Vec::new();
        }
        let n = len.min(self.data.len() - off);
        crate::ring::to_vec(&self.data, off, n)
    }
}
