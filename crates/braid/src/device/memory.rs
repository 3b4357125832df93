//! An in-process device pair: what one side sends, the other receives.

use super::{Batch, Device};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Packets one direction of a [`MemoryDevice`] pair holds before it drops
/// (a drop-tail queue, like a link's).
const QUEUE_PACKETS: usize = 4096;

/// One end of an in-memory link, for tests and examples without root.
///
/// Each direction is a drop-tail queue of 4096 packets; a
/// packet arriving at a full queue is dropped and counted. Packets are
/// copied once into the queue (a test device: not allocation free).
#[derive(Debug)]
pub struct MemoryDevice {
    mtu: usize,
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    stats: Arc<MemoryDeviceStats>,
}

/// Counters of one [`MemoryDevice`], readable while the driver owns it.
#[derive(Debug, Default)]
pub struct MemoryDeviceStats {
    /// Packets sent.
    pub sent: AtomicU64,
    /// Packets received.
    pub received: AtomicU64,
    /// Packets dropped because the peer's queue was full or the peer gone.
    pub dropped: AtomicU64,
}

impl MemoryDevice {
    /// Two devices joined back to back, each carrying packets up to `mtu`
    /// bytes (larger ones are dropped).
    pub fn pair(mtu: usize) -> (MemoryDevice, MemoryDevice) {
        let (a_tx, b_rx) = mpsc::channel(QUEUE_PACKETS);
        let (b_tx, a_rx) = mpsc::channel(QUEUE_PACKETS);
        let a = MemoryDevice {
            mtu,
            tx: a_tx,
            rx: a_rx,
            stats: Arc::default(),
        };
        let b = MemoryDevice {
            mtu,
            tx: b_tx,
            rx: b_rx,
            stats: Arc::default(),
        };
        (a, b)
    }

    /// This end's counters (shared: they stay readable after the device
    /// moves into a stack).
    pub fn stats(&self) -> Arc<MemoryDeviceStats> {
        self.stats.clone()
    }
}

impl Device for MemoryDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    async fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        // `mpsc::Receiver::recv` is cancel safe: nothing is taken before it
        // returns.
        let first = self.rx.recv().await.ok_or_else(|| {
            io::Error::new(io::ErrorKind::BrokenPipe, "memory device peer is gone")
        })?;
        let mut received = u64::from(batch.push(&first));
        while batch.free() > 0 {
            match self.rx.try_recv() {
                Ok(p) => received += u64::from(batch.push(&p)),
                Err(_) => break,
            }
        }
        self.stats.received.fetch_add(received, Ordering::Relaxed);
        Ok(())
    }

    async fn send(&mut self, batch: &Batch) -> io::Result<()> {
        for packet in batch.iter() {
            if packet.len() > self.mtu || self.tx.try_send(packet.to_vec()).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
