//! A reusable batch of packets.

/// Up to a fixed number of packets, each in its own buffer. Buffers are kept
/// across [`Batch::clear`], so filling a batch again allocates nothing.
#[derive(Debug)]
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    len: usize,
    packet_size: usize,
}

impl Batch {
    /// A batch of at most `max_packets` packets of at most `packet_size`
    /// bytes each (the device MTU).
    pub fn new(max_packets: usize, packet_size: usize) -> Batch {
        let max_packets = max_packets.max(1);
        Batch {
            bufs: (0..max_packets)
                .map(|_| Vec::with_capacity(packet_size))
                .collect(),
            len: 0,
            packet_size,
        }
    }

    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left, in packets.
    pub fn free(&self) -> usize {
        self.bufs.len() - self.len
    }

    /// The largest packet a buffer is sized for.
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// Forget every packet (buffers are kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The packets, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.bufs[..self.len].iter().map(Vec::as_slice)
    }

    /// The next free buffer, emptied, for a device or the endpoint to fill;
    /// it joins the batch only after [`Batch::commit`]. `None` when full.
    pub fn next_buf(&mut self) -> Option<&mut Vec<u8>> {
        let buf = self.bufs.get_mut(self.len)?;
        buf.clear();
        Some(buf)
    }

    /// Add the buffer last returned by [`Batch::next_buf`] to the batch.
    pub fn commit(&mut self) {
        debug_assert!(self.len < self.bufs.len(), "commit without next_buf");
        self.len = (self.len + 1).min(self.bufs.len());
    }

    /// Copy `packet` into the batch; false when the batch is full.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        match self.next_buf() {
            Some(buf) => {
                buf.extend_from_slice(packet);
                self.commit();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_clear_refill_keeps_buffers() {
        let mut b = Batch::new(2, 16);
        assert!(b.push(b"one"));
        assert!(b.push(b"two"));
        assert!(!b.push(b"three"));
        assert_eq!(b.iter().collect::<Vec<_>>(), [b"one".as_slice(), b"two"]);
        let ptr = b.bufs[0].as_ptr();
        b.clear();
        assert!(b.is_empty());
        assert!(b.push(b"uno"));
        assert_eq!(b.bufs[0].as_ptr(), ptr);
        assert_eq!(b.len(), 1);
        assert_eq!(b.free(), 1);
    }
}
