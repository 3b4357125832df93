//! The pcap tap: every packet the device sends or receives, written to a
//! pcapng file by a thread of its own.
//!
//! The driver copies packets into a chunk (one per batch) and hands the
//! chunk over a bounded channel; the writer thread returns emptied chunks
//! for reuse, so a tap allocates nothing per packet once warm. If the
//! writer falls behind, whole chunks are dropped and counted rather than
//! stalling the data path.

use crate::pcap::PcapWriter;
use braid_proto::time::Instant;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc;

/// Chunks in flight to the writer thread, at most.
const CHUNKS_IN_FLIGHT: usize = 64;

#[derive(Debug, Default)]
struct Chunk {
    data: Vec<u8>,
    /// (time, end offset in `data`) per packet.
    packets: Vec<(Instant, usize)>,
}

/// The driver's side of the tap.
#[derive(Debug)]
pub(crate) struct Tap {
    chunk: Chunk,
    /// `None` only while dropping.
    to_writer: Option<mpsc::SyncSender<Chunk>>,
    recycled: mpsc::Receiver<Chunk>,
    dropped_chunks: u64,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Tap {
    /// Create `path` and start the writer thread.
    pub(crate) fn create(path: &Path) -> io::Result<Tap> {
        let mut file = File::create(path)?;
        let (to_writer, from_driver) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let (to_driver, recycled) = mpsc::channel::<Chunk>();
        let path_name = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("braid-pcap".into())
            .spawn(move || {
                // The encoder writes into `pending`; after each chunk the
                // bytes go to the file in one write, so the file is always
                // whole blocks.
                let pending = SharedBuf::default();
                let mut writer = match PcapWriter::new(pending.clone()) {
                    Ok(w) => w,
                    Err(e) => return tracing::warn!(error = %e, "pcap tap failed"),
                };
                let Ok(iface) = writer.add_interface("braid") else {
                    return;
                };
                for mut chunk in from_driver {
                    let mut start = 0;
                    for &(time, end) in &chunk.packets {
                        let packet = &chunk.data[start..end];
                        start = end;
                        if let Err(e) = writer.write_packet(iface, time, packet, None) {
                            tracing::warn!(path = %path_name, error = %e, "pcap tap stops");
                            return;
                        }
                    }
                    if let Err(e) = pending.drain_to(&mut file) {
                        tracing::warn!(path = %path_name, error = %e, "pcap tap stops");
                        return;
                    }
                    chunk.data.clear();
                    chunk.packets.clear();
                    let _ = to_driver.send(chunk);
                }
            })?;
        Ok(Tap {
            chunk: Chunk::default(),
            to_writer: Some(to_writer),
            recycled,
            dropped_chunks: 0,
            writer: Some(writer),
        })
    }

    /// Record one packet seen at `now`.
    pub(crate) fn record(&mut self, now: Instant, packet: &[u8]) {
        self.chunk.data.extend_from_slice(packet);
        self.chunk.packets.push((now, self.chunk.data.len()));
    }

    /// Hand what was recorded to the writer.
    pub(crate) fn flush(&mut self) {
        if self.chunk.packets.is_empty() {
            return;
        }
        let next = self.recycled.try_recv().unwrap_or_default();
        let chunk = std::mem::replace(&mut self.chunk, next);
        let Some(to_writer) = &self.to_writer else {
            return;
        };
        match to_writer.try_send(chunk) {
            Ok(()) => {}
            Err(
                mpsc::TrySendError::Full(mut chunk) | mpsc::TrySendError::Disconnected(mut chunk),
            ) => {
                self.dropped_chunks += 1;
                if self.dropped_chunks.is_power_of_two() {
                    tracing::warn!(
                        dropped = self.dropped_chunks,
                        "pcap tap behind: chunks dropped"
                    );
                }
                chunk.data.clear();
                chunk.packets.clear();
                self.chunk = chunk;
            }
        }
    }
}

impl Drop for Tap {
    /// Hand over the last packets and wait for the writer to finish the
    /// file (at most `CHUNKS_IN_FLIGHT` chunks), so that a capture is whole
    /// once its stack's driver has stopped.
    fn drop(&mut self) {
        self.flush();
        self.to_writer = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// A byte buffer the pcap encoder writes into and the thread drains.
#[derive(Debug, Default, Clone)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl SharedBuf {
    fn drain_to(&self, file: &mut File) -> io::Result<()> {
        let mut buf = self.0.borrow_mut();
        file.write_all(&buf)?;
        buf.clear();
        Ok(())
    }
}

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
