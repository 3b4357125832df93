//! The send buffer: bytes written by the application and not yet
//! acknowledged, addressed by sequence number.

use crate::ring::ByteQueue;
use crate::wire::SeqNum;

/// Unacknowledged and unsent data. The first byte held has sequence number
/// `start`.
#[derive(Debug, Clone)]
pub(crate) struct SendBuffer {
    bytes: ByteQueue,
    start: SeqNum,
}

impl SendBuffer {
    /// An empty buffer whose first byte will have sequence number `start`.
    pub fn new(capacity: usize, start: SeqNum) -> SendBuffer {
        SendBuffer {
            bytes: ByteQueue::new(capacity),
            start,
        }
    }

    /// Queue as much of `bytes` as fits; returns the count.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        self.bytes.push(bytes)
    }

    /// Raise the capacity to `capacity` (autotuning); never lowers it.
    pub fn grow_to(&mut self, capacity: usize) {
        self.bytes.grow_to(capacity);
    }

    /// Sequence number just after the last held byte.
    pub fn end(&self) -> SeqNum {
        self.start + self.bytes.len()
    }

    /// Drop bytes acknowledged up to `ack`; returns how many were dropped.
    pub fn ack_to(&mut self, ack: SeqNum) -> usize {
        if ack <= self.start {
            return 0;
        }
        let n = self.bytes.drop_front(ack - self.start);
        self.start += n;
        n
    }

    /// Copy up to `len` bytes starting at `seq` (clamped to what is held).
    pub fn copy(&self, seq: SeqNum, len: usize) -> Vec<u8> {
        if seq < self.start {
            return Vec::new();
        }
        self.bytes.copy(seq - self.start, len)
    }
}

/// Read-only access to the bytes held: `free`, `capacity`, `len` (sent
/// and unacknowledged plus unsent). Changes go through [`SendBuffer`]'s own
/// methods, which keep `start` in step.
impl core::ops::Deref for SendBuffer {
    type Target = ByteQueue;

    fn deref(&self) -> &ByteQueue {
        &self.bytes
    }
}
