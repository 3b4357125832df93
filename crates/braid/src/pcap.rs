//! A pcapng writer for raw IP packets (LINKTYPE_RAW, 101), one interface per
//! path, so that a capture of a multipath run shows which path each packet
//! took. Used by tests, the simulator and the runtime's pcap tap; read the
//! result with Wireshark or `tshark -r file.pcapng`.
//!
//! It lives in the runtime, not in `braid-proto`: writing a capture is I/O
//! (any [`Write`]), which the sans-IO core does not do.
//!
//! Timestamps are [`Instant`]s (the caller's clock: virtual time in the
//! simulator, time since start in the runtime), written with nanosecond
//! resolution (`if_tsresol` = 9).

use braid_proto::time::Instant;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

/// Errors from writing a capture.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The underlying writer or encoder failed.
    #[error("pcapng write failed: {0}")]
    Write(#[from] pcap_file::PcapError),
    /// A packet names an interface that was never added.
    #[error("unknown pcapng interface {0}")]
    UnknownInterface(u32),
}

/// Identifies one interface (one path) in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceId(pub u32);

/// Writes raw IP packets to a pcapng stream.
pub struct PcapWriter<W: Write> {
    inner: PcapNgWriter<W>,
    interfaces: u32,
    snaplen: u32,
}

impl<W: Write> core::fmt::Debug for PcapWriter<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapWriter")
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

impl<W: Write> PcapWriter<W> {
    /// Start a capture (writes the section header block).
    pub fn new(writer: W) -> Result<Self, PcapError> {
        Ok(PcapWriter {
            inner: PcapNgWriter::new(writer)?,
            interfaces: 0,
            snaplen: 65535,
        })
    }

    /// Add an interface (for example one per path) named `name`; packets are
    /// then written against the returned id.
    pub fn add_interface(&mut self, name: &str) -> Result<InterfaceId, PcapError> {
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: self.snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(name.to_owned())),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.inner.write_pcapng_block(block)?;
        let id = InterfaceId(self.interfaces);
        self.interfaces += 1;
        Ok(id)
    }

    /// Write one raw IP packet seen on `iface` at `time`. `comment`, when
    /// given, shows up in Wireshark as the packet comment.
    pub fn write_packet(
        &mut self,
        iface: InterfaceId,
        time: Instant,
        packet: &[u8],
        comment: Option<&str>,
    ) -> Result<(), PcapError> {
        if iface.0 >= self.interfaces {
            return Err(PcapError::UnknownInterface(iface.0));
        }
        let captured = &packet[..packet.len().min(self.snaplen as usize)];
        let mut options = Vec::new();
        if let Some(c) = comment {
            options.push(EnhancedPacketOption::Comment(Cow::Borrowed(c)));
        }
        let block = EnhancedPacketBlock {
            interface_id: iface.0,
            timestamp: Duration::from_micros(time.total_micros()),
            original_len: packet.len() as u32,
            data: Cow::Borrowed(captured),
            options,
        };
        self.inner.write_pcapng_block(block)?;
        Ok(())
    }

    /// Finish and return the underlying writer (flushing is the caller's).
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};

    #[test]
    fn round_trip_through_reader() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let wifi = w.add_interface("wifi").unwrap();
        let lte = w.add_interface("lte").unwrap();
        let pkt_a = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let pkt_b = [0x60u8; 40];
        w.write_packet(wifi, Instant::from_millis(1500), &pkt_a, Some("first"))
            .unwrap();
        w.write_packet(lte, Instant::from_micros(2_000_001), &pkt_b, None)
            .unwrap();
        assert!(matches!(
            w.write_packet(InterfaceId(7), Instant::ZERO, &pkt_a, None),
            Err(PcapError::UnknownInterface(7))
        ));
        let bytes = w.into_inner();

        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        let mut packets = Vec::new();
        let mut ifaces = 0;
        while let Some(block) = r.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(idb) => {
                    assert_eq!(idb.linktype, DataLink::RAW);
                    ifaces += 1;
                }
                Block::EnhancedPacket(epb) => {
                    packets.push((epb.interface_id, epb.timestamp, epb.data.into_owned()))
                }
                _ => {}
            }
        }
        assert_eq!(ifaces, 2);
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0], (0, Duration::from_millis(1500), pkt_a.to_vec()));
        assert_eq!(
            packets[1],
            (1, Duration::from_micros(2_000_001), pkt_b.to_vec())
        );
    }
}
