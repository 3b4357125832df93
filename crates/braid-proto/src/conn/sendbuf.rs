//! The data-level send buffer (RFC 8684 section 3.3): bytes the
//! application wrote, by DSN, kept until the DATA_ACK covers them so that
//! any subflow can (re)send them, plus the queue of ranges to reinject.

use crate::ring::ByteQueue;
use crate::wire::Dsn;
use std::collections::VecDeque;

/// Data-level send state.
#[derive(Debug)]
pub struct SendBuf {
    /// Oldest unacknowledged DSN (the peer's DATA_ACK).
    una: Dsn,
    /// Next DSN never handed to a subflow.
    nxt: Dsn,
    /// Bytes from `una`.
    bytes: ByteQueue,
    /// DSN of our DATA_FIN, once the application closed.
    fin: Option<Dsn>,
    /// Ranges to send again on another subflow, `(start, len)`.
    reinject: VecDeque<(Dsn, usize)>,
}

impl SendBuf {
    /// Start at `isn` (our IDSN + 1).
    pub fn new(start: Dsn, capacity: usize) -> SendBuf {
        SendBuf {
            una: start,
            nxt: start,
            bytes: ByteQueue::new(capacity),
            fin: None,
            reinject: VecDeque::new(),
        }
    }

    /// Restart at `start`, only before any data was written.
    pub fn reset(&mut self, start: Dsn) {
        self.una = start;
        self.nxt = start;
        self.fin = None;
        self.reinject.clear();
    }

    /// Queue application bytes; returns how many fit.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        if self.fin.is_some() {
            return 0;
        }
        self.bytes.push(bytes)
    }

    /// Free space.
    pub fn free(&self) -> usize {
        self.bytes.free()
    }

    /// The capacity now, bytes.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Raise the capacity to `capacity` (autotuning); never lowers it.
    pub fn grow_to(&mut self, capacity: usize) {
        self.bytes.grow_to(capacity);
    }

    /// Oldest unacknowledged DSN.
    pub fn una(&self) -> Dsn {
        self.una
    }

    /// Next new DSN.
    pub fn nxt(&self) -> Dsn {
        self.nxt
    }

    /// End of written data.
    pub fn end(&self) -> Dsn {
        self.una + self.bytes.len() as u64
    }

    /// Bytes written and not acknowledged.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is unacknowledged.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == 0
    }

    /// Close: the DATA_FIN takes the DSN after the last byte.
    pub fn close(&mut self) {
        if self.fin.is_none() {
            self.fin = Some(self.end());
        }
    }

    /// The DATA_FIN's DSN, if closed.
    pub fn fin(&self) -> Option<Dsn> {
        self.fin
    }

    /// Whether every byte was handed to a subflow (the DATA_FIN may go).
    pub fn all_scheduled(&self) -> bool {
        self.nxt == self.end()
    }

    /// Whether the DATA_FIN was acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.fin.is_some_and(|f| self.una == f + 1)
    }

    /// The highest DSN a DATA_ACK may acknowledge now.
    fn max_ack(&self) -> Dsn {
        match self.fin {
            // Once the DATA_FIN is acknowledged `end()` moved past it and
            // `all_scheduled()` no longer holds; the peer still repeats
            // that DATA_ACK on every segment it sends (Linux does), and it
            // is valid.
            Some(f) if self.all_scheduled() || self.una > f => f + 1,
            _ => self.nxt,
        }
    }

    /// Apply a DATA_ACK. Returns `None` if it acknowledges what was never
    /// sent (ignored), else the bytes newly acknowledged.
    pub fn ack(&mut self, ack: Dsn) -> Option<usize> {
        if ack > self.max_ack() {
            return None;
        }
        if ack <= self.una {
            return Some(0);
        }
        let n = (ack - self.una) as usize;
        let bytes = self.bytes.drop_front(n);
        self.una = ack;
        self.reinject.retain_mut(|(s, l)| {
            let end = *s + *l as u64;
            if end <= ack {
                return false;
            }
            if *s < ack {
                *l = (end - ack) as usize;
                *s = ack;
            }
            true
        });
        Some(bytes)
    }

    /// The next range to send: a reinjection first, else new data below
    /// `window_right`, at most `max` bytes. Does not consume it.
    pub fn peek(&self, max: usize, window_right: Dsn) -> Option<(Dsn, usize, bool)> {
        if let Some(&(s, l)) = self.reinject.front() {
            return Some((s, l.min(max), true));
        }
        let limit = self.end().min(window_right.max(self.nxt));
        let len = ((limit - self.nxt) as usize).min(max);
        (len > 0).then_some((self.nxt, len, false))
    }

    /// Mark `len` bytes of what [`SendBuf::peek`] returned as handed out.
    pub fn consume(&mut self, len: usize, reinjection: bool) {
        if reinjection {
            if let Some((s, l)) = self.reinject.front_mut() {
                if len >= *l {
                    self.reinject.pop_front();
                } else {
                    *s += len as u64;
                    *l -= len;
                }
            }
        } else {
            self.nxt += len as u64;
        }
    }

    /// Queue `[start, start+len)` for reinjection (the part not yet
    /// acknowledged). Returns the bytes queued.
    pub fn queue_reinject(&mut self, start: Dsn, len: usize) -> usize {
        let end = start + len as u64;
        let start = start.max(self.una);
        let end = end.min(self.nxt);
        if end <= start {
            return 0;
        }
        let len = (end - start) as usize;
        self.reinject.push_back((start, len));
        len
    }

    /// Copy `len` bytes at `dsn` (which must be in the buffer).
    pub fn copy(&self, dsn: Dsn, len: usize) -> Vec<u8> {
        self.bytes.copy((dsn - self.una) as usize, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_ack_and_reinject() {
        let mut s = SendBuf::new(Dsn(1000), 100);
        assert_eq!(s.write(&[7; 150]), 100);
        let (d, l, r) = s.peek(30, Dsn(2000)).unwrap();
        assert_eq!((d, l, r), (Dsn(1000), 30, false));
        s.consume(30, false);
        assert_eq!(s.ack(Dsn(1040)), None, "beyond what was sent");
        assert_eq!(s.ack(Dsn(1010)), Some(10));
        assert_eq!(s.queue_reinject(Dsn(1000), 30), 20);
        assert_eq!(s.peek(100, Dsn(2000)), Some((Dsn(1010), 20, true)));
        s.consume(5, true);
        assert_eq!(s.peek(100, Dsn(2000)), Some((Dsn(1015), 15, true)));
        assert_eq!(s.ack(Dsn(1020)), Some(10));
        assert_eq!(s.peek(100, Dsn(2000)), Some((Dsn(1020), 10, true)));
        s.consume(10, true);
        // Window limits new data.
        assert_eq!(s.peek(100, Dsn(1050)), Some((Dsn(1030), 20, false)));
    }

    #[test]
    fn data_fin_acked_after_all_data() {
        let mut s = SendBuf::new(Dsn(0), 100);
        s.write(b"abc");
        s.close();
        assert_eq!(s.write(b"x"), 0);
        assert_eq!(s.fin(), Some(Dsn(3)));
        assert_eq!(s.ack(Dsn(4)), None);
        s.consume(3, false);
        assert_eq!(s.ack(Dsn(4)), Some(3));
        assert!(s.fin_acked());
        // Found against Linux: the peer repeats the DATA_ACK of our
        // DATA_FIN on every later segment; it is a duplicate, not an
        // acknowledgment of what was never sent.
        assert_eq!(s.ack(Dsn(4)), Some(0));
        assert_eq!(s.ack(Dsn(5)), None);
        assert!(s.fin_acked());
    }
}
