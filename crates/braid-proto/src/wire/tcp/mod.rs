//! TCP header (RFC 9293 section 3.1): the zero-copy [`TcpPacket`] view and
//! the [`TcpRepr`] a segment parses into and is emitted from.
//!
//! The options (RFC 9293 section 3.2: EOL, NOP, MSS, window scale and
//! timestamps of RFC 7323, SACK-permitted and SACK of RFC 2018, MPTCP of
//! RFC 8684 section 3, unknown kinds kept raw) live in `options`: strict one
//! option at a time ([`TcpOption::parse`], [`TcpOptionIter`]), lenient like
//! Linux for a whole option area ([`TcpOptions::parse`], hence
//! [`TcpRepr::parse`]): a bad option never costs the segment, it is skipped
//! and counted in [`TcpOptions::ignored`]. The tests (with their byte
//! vectors) are in `tests`.

use super::{Error, Result, SeqNum, checksum};
use core::net::IpAddr;

mod options;
#[cfg(test)]
mod tests;

pub use options::{IgnoredOptions, MAX_OPTIONS_LEN, TcpOption, TcpOptionIter, TcpOptions, kind};

/// Byte offsets of the fixed TCP header fields (RFC 9293 section 3.1).
pub mod field {
    use crate::wire::Field;

    /// Source port.
    pub const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub const DST_PORT: Field = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Field = 4..8;
    /// Acknowledgment number.
    pub const ACK_NUM: Field = 8..12;
    /// Data offset (high nibble), reserved bits, AE and the eight flags.
    pub const FLAGS: Field = 12..14;
    /// Window.
    pub const WIN_SIZE: Field = 14..16;
    /// Checksum.
    pub const CHECKSUM: Field = 16..18;
    /// Urgent pointer.
    pub const URGENT: Field = 18..20;
    /// First byte of the options.
    pub const OPTIONS: usize = 20;
}

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = field::OPTIONS;

/// IANA protocol number of TCP, for the pseudo-header.
const PROTOCOL_TCP: u8 = 6;

/// TCP header flags (the low 8 bits of the flags field, plus the NS/AE bit as
/// bit 8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// AE (formerly NS, RFC 3540 / AccECN).
    pub const AE: TcpFlags = TcpFlags(0x100);

    /// No flags.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }
    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether any flag in `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// Set or clear `other`.
    pub fn set(&mut self, other: TcpFlags, on: bool) {
        if on {
            self.0 |= other.0
        } else {
            self.0 &= !other.0
        }
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0
    }
}

impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(TcpFlags, &str); 9] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::AE, "AE"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A high-level TCP segment: header fields, options and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: SeqNum,
    /// Acknowledgment number; `Some` exactly when the ACK flag is set.
    pub ack_number: Option<SeqNum>,
    /// Flags other than ACK (ACK is derived from `ack_number`).
    pub flags: TcpFlags,
    /// Raw (unscaled) window field.
    pub window_len: u16,
    /// Urgent pointer (meaningful with URG).
    pub urgent_ptr: u16,
    /// Options.
    pub options: TcpOptions<'a>,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parse a TCP segment (header, options and payload) carried between
    /// `src` and `dst`; the checksum is verified over the pseudo-header.
    ///
    /// Errors: [`Error::Truncated`] when the segment is shorter than 20 bytes
    /// or its data offset; [`Error::Malformed`] for a data offset below 5;
    /// [`Error::Checksum`]. Bad options are skipped, not errors
    /// ([`TcpOptions::parse`]).
    pub fn parse(segment: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<TcpRepr<'a>> {
        let packet = TcpPacket::new_checked(segment)?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let wire_flags = packet.flags();
        let options = TcpOptions::parse(packet.options_bytes());
        let mut flags = wire_flags;
        flags.set(TcpFlags::ACK, false);
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            // RFC 9293 section 3.1: "If the ACK control bit is set, this
            // field contains the value of the next sequence number the
            // sender of the segment is expecting to receive." Otherwise it
            // means nothing and is dropped here.
            ack_number: wire_flags
                .contains(TcpFlags::ACK)
                .then(|| packet.ack_number()),
            flags,
            window_len: packet.window_len(),
            urgent_ptr: packet.urgent_ptr(),
            options,
            payload: packet.payload_bytes(),
        })
    }

    /// Header length (20 + padded options).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Emit header, options and payload into `buf` (at least `buffer_len()`
    /// bytes) and fill in the checksum for `src` -> `dst`; returns the bytes
    /// written. The ACK bit is set exactly when `ack_number` is `Some`
    /// (whatever `flags` says); flags above AE are not emitted.
    ///
    /// Errors with [`Error::Emit`] when the options exceed 40 bytes or `buf`
    /// is too small.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize> {
        let header_len = self.header_len();
        if header_len > HEADER_LEN + MAX_OPTIONS_LEN {
            return Err(Error::Emit("TCP options exceed 40 bytes"));
        }
        let total = header_len + self.payload.len();
        let out = buf
            .get_mut(..total)
            .ok_or(Error::Emit("buffer too small for TCP segment"))?;
        let (header, payload) = out.split_at_mut(header_len);
        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack_number.is_some());
        // Data offset in the high nibble, AE in the lowest bit of byte 12.
        let offset_flags = ((header_len as u16 / 4) << 12) | (flags.0 & 0x01ff);
        header[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        header[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        header[field::SEQ_NUM].copy_from_slice(&self.seq_number.0.to_be_bytes());
        let ack = self.ack_number.map_or(0, |a| a.0);
        header[field::ACK_NUM].copy_from_slice(&ack.to_be_bytes());
        header[field::FLAGS].copy_from_slice(&offset_flags.to_be_bytes());
        header[field::WIN_SIZE].copy_from_slice(&self.window_len.to_be_bytes());
        header[field::CHECKSUM].copy_from_slice(&[0, 0]);
        header[field::URGENT].copy_from_slice(&self.urgent_ptr.to_be_bytes());
        self.options.emit(&mut header[HEADER_LEN..])?;
        payload.copy_from_slice(self.payload);
        let pseudo = checksum::pseudo_header(src, dst, PROTOCOL_TCP, total as u32);
        let sum = !checksum::fold(checksum::sum(pseudo, out));
        out[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }

    /// Segment length in sequence space: payload plus one for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// A zero-copy view of a TCP header.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap without checking; accessors may panic until
    /// [`check_len`](Self::check_len) succeeds.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wrap and [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the buffer holds the fixed header and the options its data
    /// offset announces, and that the data offset is at least 5.
    pub fn check_len(&self) -> Result<()> {
        super::check_header_len(
            self.buffer.as_ref().len(),
            HEADER_LEN,
            || self.header_len(),
            [
                "TCP header",
                "TCP data offset below 5",
                "TCP data offset beyond segment",
            ],
        )
        .map(|_| ())
    }

    /// Consume the view.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, f: super::Field) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[f.start], b[f.start + 1]])
    }

    fn u32_at(&self, f: super::Field) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    /// Sequence number.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(self.u32_at(field::SEQ_NUM))
    }
    /// Acknowledgment number field (meaningful only with ACK).
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(self.u32_at(field::ACK_NUM))
    }
    /// Header length in bytes (data offset times 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }
    /// All nine flags as on the wire, ACK included; the three reserved bits
    /// (RFC 9293 section 3.1: "must be zero") are ignored, not rejected.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.u16_at(field::FLAGS) & 0x01ff)
    }
    /// Raw (unscaled) window.
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WIN_SIZE)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Urgent pointer.
    pub fn urgent_ptr(&self) -> u16 {
        self.u16_at(field::URGENT)
    }
    /// The option area (between the fixed header and the data offset).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload (after the data offset).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// Whether the checksum verifies for a segment carried from `src` to
    /// `dst` (the whole buffer is the segment).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let b = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header(src, dst, PROTOCOL_TCP, b.len() as u32);
        checksum::fold(checksum::sum(pseudo, b)) == 0xffff
    }
}

impl<'a> TcpPacket<&'a [u8]> {
    /// The option area, borrowed for the buffer's lifetime.
    pub fn options_bytes(&self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..self.header_len()]
    }
    /// The payload, borrowed for the buffer's lifetime.
    pub fn payload_bytes(&self) -> &'a [u8] {
        &self.buffer[self.header_len()..]
    }
    /// Iterate over the raw options.
    pub fn options_iter(&self) -> TcpOptionIter<'a> {
        TcpOptionIter::new(self.options_bytes())
    }
}
