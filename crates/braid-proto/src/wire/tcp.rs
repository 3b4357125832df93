//! TCP header (RFC 9293 section 3.1) and options (RFC 9293 section 3.2):
//! EOL, NOP, MSS, window scale and timestamps (RFC 7323 sections 2.2 and
//! 3.2), SACK-permitted and SACK (RFC 2018 sections 2 and 3), MPTCP (kind 30,
//! RFC 8684 section 3; see [`super::mptcp`]). Options of unknown kinds are
//! kept raw so that nothing the peer sent is silently dropped.
//!
//! Parsing is strict about lengths: an option whose length byte is below 2,
//! runs past the option area, or does not fit its kind is
//! [`Error::Malformed`]. When a known option appears twice, the last one
//! wins (as in Linux); more than four MPTCP or four unknown options is
//! [`Error::Malformed`] rather than silently dropping some.

use super::mptcp::MptcpOption;
use super::{Error, Result, SeqNum, checksum};
use arrayvec::ArrayVec;
use core::net::IpAddr;

/// TCP option kinds.
pub mod kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No-operation.
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
    /// Multipath TCP.
    pub const MPTCP: u8 = 30;
}

/// Maximum bytes of options in a TCP header (data offset 15 words).
pub const MAX_OPTIONS_LEN: usize = 40;

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

/// One TCP option, as found on the wire (used when iterating raw options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0.
    EndOfList,
    /// Kind 1.
    Nop,
    /// Kind 2.
    Mss(u16),
    /// Kind 3: shift count.
    WindowScale(u8),
    /// Kind 4.
    SackPermitted,
    /// Kind 5: left and right edges.
    Sack(ArrayVec<(SeqNum, SeqNum), 4>),
    /// Kind 8: TSval, TSecr.
    Timestamps { tsval: u32, tsecr: u32 },
    /// Kind 30.
    Mptcp(MptcpOption),
    /// Any other kind, with its data (the bytes after kind and length).
    Unknown { kind: u8, data: &'a [u8] },
}

impl<'a> TcpOption<'a> {
    /// Parse the option at the front of `data` (the rest of the option area);
    /// returns it with the bytes it occupies.
    ///
    /// Errors with [`Error::Malformed`] for a length byte below 2, a length
    /// past the end of `data`, or a length that does not fit the kind (MSS 4,
    /// window scale 3, SACK-permitted 2, SACK 2 + 8n with 1 <= n <= 4,
    /// timestamps 10); MPTCP options are checked by [`MptcpOption::parse`].
    pub fn parse(data: &'a [u8]) -> Result<(TcpOption<'a>, usize)> {
        let (&kind, rest) = data.split_first().ok_or(Error::Truncated("TCP option"))?;
        match kind {
            kind::EOL => return Ok((TcpOption::EndOfList, 1)),
            kind::NOP => return Ok((TcpOption::Nop, 1)),
            _ => {}
        }
        let len = usize::from(
            *rest
                .first()
                .ok_or(Error::Malformed("TCP option length beyond the option area"))?,
        );
        if len < 2 {
            return Err(Error::Malformed("TCP option length below 2"));
        }
        let whole = data
            .get(..len)
            .ok_or(Error::Malformed("TCP option length beyond the option area"))?;
        let body = &whole[2..];
        let option = match kind {
            kind::MSS => match *body {
                [a, b] => TcpOption::Mss(u16::from_be_bytes([a, b])),
                _ => return Err(Error::Malformed("TCP MSS option length")),
            },
            kind::WINDOW_SCALE => match *body {
                // RFC 7323 section 2.3 (use 14 for a larger shift) is the
                // subflow's business; the wire keeps what the peer sent.
                [shift] => TcpOption::WindowScale(shift),
                _ => return Err(Error::Malformed("TCP window scale option length")),
            },
            kind::SACK_PERMITTED => match *body {
                [] => TcpOption::SackPermitted,
                _ => return Err(Error::Malformed("TCP SACK-permitted option length")),
            },
            kind::SACK => {
                if body.is_empty() || body.len() % 8 != 0 || body.len() > 32 {
                    return Err(Error::Malformed("TCP SACK option length"));
                }
                let mut blocks = ArrayVec::new();
                for b in body.chunks_exact(8) {
                    let left = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    let right = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                    // At most 4 chunks, checked above.
                    blocks.push((SeqNum(left), SeqNum(right)));
                }
                TcpOption::Sack(blocks)
            }
            kind::TIMESTAMPS => match *body {
                [a, b, c, d, e, f, g, h] => TcpOption::Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                },
                _ => return Err(Error::Malformed("TCP timestamps option length")),
            },
            kind::MPTCP => TcpOption::Mptcp(MptcpOption::parse(whole)?),
            kind => TcpOption::Unknown { kind, data: body },
        };
        Ok((option, len))
    }
}

/// An iterator over the raw options of an option area, in wire order. It
/// yields [`TcpOption::EndOfList`] and then stops; after an error it yields
/// nothing more.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterate over `options`, the bytes between the fixed header and the
    /// data offset.
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((TcpOption::EndOfList, _)) => {
                // RFC 9293 section 3.2: EOL "indicates the end of the option
                // list"; what follows is padding.
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            Ok((option, len)) => {
                self.rest = self.rest.get(len..).unwrap_or(&[]);
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The options of one segment, in canonical form. Emitted in a fixed order
/// (MSS, SACK-permitted + timestamps, window scale, SACK, MPTCP, unknown) and
/// padded with NOPs to 32-bit alignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcpOptions<'a> {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift count (SYN only).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge), at most 4 (3 with timestamps).
    pub sack_blocks: ArrayVec<(SeqNum, SeqNum), 4>,
    /// Timestamps: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// MPTCP options, in order of appearance.
    pub mptcp: ArrayVec<MptcpOption, 4>,
    /// Options of unknown kinds: (kind, data after kind and length).
    pub unknown: ArrayVec<(u8, &'a [u8]), 4>,
}

/// Append `bytes` at `*pos` in `out`, advancing `pos`.
fn put(out: &mut [u8], pos: &mut usize, bytes: &[u8]) -> Result<()> {
    let end = *pos + bytes.len();
    out.get_mut(*pos..end)
        .ok_or(Error::Emit("buffer too small for TCP options"))?
        .copy_from_slice(bytes);
    *pos = end;
    Ok(())
}

impl<'a> TcpOptions<'a> {
    /// Parse an option area (the bytes between the fixed header and the data
    /// offset). A known option that appears twice replaces the earlier one;
    /// more than four MPTCP or four unknown options is [`Error::Malformed`].
    pub fn parse(area: &'a [u8]) -> Result<TcpOptions<'a>> {
        let mut options = TcpOptions::default();
        for option in TcpOptionIter::new(area) {
            match option? {
                TcpOption::EndOfList => break,
                TcpOption::Nop => {}
                TcpOption::Mss(mss) => options.mss = Some(mss),
                TcpOption::WindowScale(shift) => options.window_scale = Some(shift),
                TcpOption::SackPermitted => options.sack_permitted = true,
                TcpOption::Sack(blocks) => options.sack_blocks = blocks,
                TcpOption::Timestamps { tsval, tsecr } => options.timestamps = Some((tsval, tsecr)),
                TcpOption::Mptcp(option) => options
                    .mptcp
                    .try_push(option)
                    .map_err(|_| Error::Malformed("more than 4 MPTCP options"))?,
                TcpOption::Unknown { kind, data } => options
                    .unknown
                    .try_push((kind, data))
                    .map_err(|_| Error::Malformed("more than 4 unknown TCP options"))?,
            }
        }
        Ok(options)
    }

    /// Bytes of the options before the final NOP padding.
    fn unpadded_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12; // SACK-permitted (or NOP NOP) + timestamps
        } else if self.sack_permitted {
            len += 4; // NOP NOP SACK-permitted
        }
        if self.window_scale.is_some() {
            len += 4; // NOP + window scale
        }
        if !self.sack_blocks.is_empty() {
            len += 4 + 8 * self.sack_blocks.len(); // NOP NOP SACK
        }
        len += self
            .mptcp
            .iter()
            .map(MptcpOption::buffer_len)
            .sum::<usize>();
        len += self.unknown.iter().map(|(_, d)| 2 + d.len()).sum::<usize>();
        len
    }

    /// Bytes these options occupy on the wire, padded to a multiple of 4.
    pub fn buffer_len(&self) -> usize {
        self.unpadded_len().next_multiple_of(4)
    }

    /// Emit the options in canonical order into the front of `buf`, padded
    /// with NOPs to a multiple of 4 bytes; returns the bytes written
    /// ([`buffer_len`](Self::buffer_len)).
    ///
    /// The layout of the fixed options is the one Linux uses (and middleboxes
    /// expect): `MSS`, `SACK-permitted TS` (or `NOP NOP TS`, or `NOP NOP
    /// SACK-permitted`), `NOP WS`, `NOP NOP SACK`. MPTCP and unknown options
    /// follow unaligned; NOPs pad the end.
    ///
    /// Errors with [`Error::Emit`] when the options exceed 40 bytes or `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > MAX_OPTIONS_LEN {
            return Err(Error::Emit("TCP options exceed 40 bytes"));
        }
        let out = buf
            .get_mut(..len)
            .ok_or(Error::Emit("buffer too small for TCP options"))?;
        let mut pos = 0;
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            put(out, &mut pos, &[kind::MSS, 4, a, b])?;
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_permitted, Some((tsval, tsecr))) => {
                if sack_permitted {
                    put(out, &mut pos, &[kind::SACK_PERMITTED, 2])?;
                } else {
                    put(out, &mut pos, &[kind::NOP, kind::NOP])?;
                }
                put(out, &mut pos, &[kind::TIMESTAMPS, 10])?;
                put(out, &mut pos, &tsval.to_be_bytes())?;
                put(out, &mut pos, &tsecr.to_be_bytes())?;
            }
            (true, None) => put(
                out,
                &mut pos,
                &[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2],
            )?,
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            put(out, &mut pos, &[kind::NOP, kind::WINDOW_SCALE, 3, shift])?;
        }
        if !self.sack_blocks.is_empty() {
            // At most 4 blocks: 2 + 32 fits a u8.
            let sack_len = (2 + 8 * self.sack_blocks.len()) as u8;
            put(out, &mut pos, &[kind::NOP, kind::NOP, kind::SACK, sack_len])?;
            for (left, right) in &self.sack_blocks {
                put(out, &mut pos, &left.0.to_be_bytes())?;
                put(out, &mut pos, &right.0.to_be_bytes())?;
            }
        }
        for option in &self.mptcp {
            let rest = out
                .get_mut(pos..)
                .ok_or(Error::Emit("buffer too small for TCP options"))?;
            pos += option.emit(rest)?;
        }
        for (kind, data) in &self.unknown {
            let option_len = u8::try_from(2 + data.len())
                .map_err(|_| Error::Emit("TCP option longer than 255 bytes"))?;
            put(out, &mut pos, &[*kind, option_len])?;
            put(out, &mut pos, data)?;
        }
        while pos < len {
            put(out, &mut pos, &[kind::NOP])?;
        }
        Ok(len)
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
    /// or its data offset; [`Error::Malformed`] for a data offset below 5 or
    /// a bad option; [`Error::Checksum`].
    pub fn parse(segment: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<TcpRepr<'a>> {
        let packet = TcpPacket::new_checked(segment)?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let wire_flags = packet.flags();
        let options = TcpOptions::parse(packet.options_bytes())?;
        let mut flags = wire_flags;
        flags.set(TcpFlags::ACK, false);
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            // RFC 9293 section 3.1: the acknowledgment number is meaningful
            // only "if the ACK control bit is set".
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
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated("TCP header"));
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed("TCP data offset below 5"));
        }
        if len < header_len {
            return Err(Error::Truncated("TCP data offset beyond segment"));
        }
        Ok(())
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
    /// All nine flags as on the wire, ACK included.
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
