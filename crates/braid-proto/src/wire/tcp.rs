//! TCP header (RFC 9293 section 3.1) and options (RFC 9293 section 3.2):
//! EOL, NOP, MSS, window scale and timestamps (RFC 7323 sections 2.2 and
//! 3.2), SACK-permitted and SACK (RFC 2018 sections 2 and 3), MPTCP (kind 30,
//! RFC 8684 section 3; see [`super::mptcp`]). Options of unknown kinds are
//! kept raw so that nothing the peer sent is silently dropped.
//!
//! One option at a time ([`TcpOption::parse`], [`TcpOptionIter`]) parsing
//! is strict about lengths: an option whose length byte is below 2, runs
//! past the option area, or does not fit its kind is [`Error::Malformed`].
//!
//! A whole option area ([`TcpOptions::parse`], hence [`TcpRepr::parse`]) is
//! parsed the way Linux does (`tcp_parse_options` in net/ipv4/tcp_input.c,
//! `mptcp_parse_option` in net/mptcp/options.c): a bad option never costs
//! the segment. An option of a known kind with the wrong length, an MPTCP
//! option with an unknown subtype, a length that does not fit its subtype
//! or an MP_CAPABLE version other than 1, and options beyond the four
//! MPTCP and four unknown ones kept are skipped; a length byte below 2 or
//! past the option area ends the option list (what came before it counts).
//! Each skip is counted in [`TcpOptions::ignored`], so a connection can
//! count it in its MIB. When a known option appears twice, the last one
//! wins (as in Linux).

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
    /// What parsing skipped (never emitted).
    pub ignored: IgnoredOptions,
}

/// Options [`TcpOptions::parse`] skipped instead of failing the segment,
/// by reason (each count saturates at 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IgnoredOptions {
    /// Options of a known TCP kind with a length that does not fit it, and
    /// option lists cut short by a length byte below 2 or past the option
    /// area.
    pub tcp_malformed: u8,
    /// Options beyond the four unknown kinds or four MPTCP options kept.
    pub excess: u8,
    /// MPTCP options with a subtype RFC 8684 does not define.
    pub mptcp_unknown_subtype: u8,
    /// MPTCP options whose length does not fit their subtype (and flags).
    pub mptcp_malformed: u8,
    /// MP_CAPABLE of a version other than 1 (RFC 6824's version 0; on a
    /// SYN, any version below 1).
    pub mptcp_bad_version: u8,
}

impl IgnoredOptions {
    /// Whether anything was skipped.
    pub fn any(&self) -> bool {
        *self != IgnoredOptions::default()
    }

    /// Options skipped in all.
    pub fn total(&self) -> u32 {
        [
            self.tcp_malformed,
            self.excess,
            self.mptcp_unknown_subtype,
            self.mptcp_malformed,
            self.mptcp_bad_version,
        ]
        .iter()
        .map(|&n| u32::from(n))
        .sum()
    }
}

/// Count one more in `n`.
fn bump(n: &mut u8) {
    *n = n.saturating_add(1);
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
    /// offset). Never fails: what Linux ignores is skipped and counted in
    /// [`TcpOptions::ignored`] (see the module documentation). A known
    /// option that appears twice replaces the earlier one.
    pub fn parse(area: &'a [u8]) -> TcpOptions<'a> {
        let mut options = TcpOptions::default();
        let mut rest = area;
        while let Some(&kind) = rest.first() {
            match kind {
                kind::EOL => break,
                kind::NOP => {
                    rest = &rest[1..];
                    continue;
                }
                _ => {}
            }
            // Linux `tcp_parse_options`: a length below 2 is a "silly
            // option" and one past the area a partial one; either ends the
            // list.
            let len = rest.get(1).map_or(0, |&l| usize::from(l));
            let Some(whole) = rest.get(..len).filter(|_| len >= 2) else {
                bump(&mut options.ignored.tcp_malformed);
                break;
            };
            rest = &rest[len..];
            match TcpOption::parse(whole) {
                Ok((option, _)) => options.take(option),
                Err(e) if kind == kind::MPTCP => {
                    let ignored = &mut options.ignored;
                    let reason = match e {
                        _ if whole.len() >= 3 && whole[2] >> 4 > super::mptcp::subtype::MAX => {
                            &mut ignored.mptcp_unknown_subtype
                        }
                        Error::Unsupported(_) => &mut ignored.mptcp_bad_version,
                        _ => &mut ignored.mptcp_malformed,
                    };
                    bump(reason);
                }
                // A known kind of the wrong length: Linux checks `opsize`
                // per kind and skips the option.
                Err(_) => bump(&mut options.ignored.tcp_malformed),
            }
        }
        options
    }

    /// Keep one parsed option.
    fn take(&mut self, option: TcpOption<'a>) {
        match option {
            TcpOption::EndOfList | TcpOption::Nop => {}
            TcpOption::Mss(mss) => self.mss = Some(mss),
            TcpOption::WindowScale(shift) => self.window_scale = Some(shift),
            TcpOption::SackPermitted => self.sack_permitted = true,
            TcpOption::Sack(blocks) => self.sack_blocks = blocks,
            TcpOption::Timestamps { tsval, tsecr } => self.timestamps = Some((tsval, tsecr)),
            TcpOption::Mptcp(option) => {
                if self.mptcp.try_push(option).is_err() {
                    bump(&mut self.ignored.excess);
                }
            }
            TcpOption::Unknown { kind, data } => {
                if self.unknown.try_push((kind, data)).is_err() {
                    bump(&mut self.ignored.excess);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
    const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 199));
    const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

    /// A SYN as Linux sends it (54321 -> 80), options MSS 1460,
    /// SACK-permitted, timestamps (123456, 0), NOP, window scale 7; checksum
    /// computed independently for V4_SRC -> V4_DST.
    const SYN: [u8; 40] = [
        0xd4, 0x31, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xab, 0x86, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01,
        0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// PSH|ACK 443 -> 50000 with NOP NOP timestamps (1, 2) and "hello";
    /// checksum computed independently for V6_SRC -> V6_DST.
    const DATA_V6: [u8; 37] = [
        0x01, 0xbb, 0xc3, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x80, 0x18, 0x02,
        0x00, 0x04, 0xa3, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x02, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 54321,
            dst_port: 80,
            seq_number: SeqNum(0x1234_5678),
            ack_number: None,
            flags: TcpFlags::SYN,
            window_len: 64240,
            urgent_ptr: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((123_456, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    /// A segment template for edits: header of `header_len` bytes whose
    /// option area is `options` (the rest zero), plus `payload`, with a
    /// correct checksum for V4_SRC -> V4_DST.
    fn segment(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let header_len = HEADER_LEN + options.len().next_multiple_of(4);
        let mut s = vec![0; header_len];
        s[..4].copy_from_slice(&[0x30, 0x39, 0x00, 0x50]);
        s[12] = ((header_len / 4) as u8) << 4;
        s[13] = 0x10; // ACK
        s[HEADER_LEN..HEADER_LEN + options.len()].copy_from_slice(options);
        s.extend_from_slice(payload);
        fix_checksum(&mut s, V4_SRC, V4_DST);
        s
    }

    fn fix_checksum(s: &mut [u8], src: IpAddr, dst: IpAddr) {
        s[16..18].copy_from_slice(&[0, 0]);
        let pseudo = checksum::pseudo_header(src, dst, 6, s.len() as u32);
        let c = !checksum::fold(checksum::sum(pseudo, s));
        s[16..18].copy_from_slice(&c.to_be_bytes());
    }

    fn parse_options(options: &[u8]) -> Result<TcpOptions<'static>> {
        let s: &'static [u8] = Vec::leak(segment(options, &[]));
        TcpRepr::parse(s, V4_SRC, V4_DST).map(|r| r.options)
    }

    #[test]
    fn parses_linux_syn() {
        assert_eq!(TcpRepr::parse(&SYN, V4_SRC, V4_DST), Ok(syn_repr()));
    }

    #[test]
    fn emits_linux_syn_byte_exact() {
        let repr = syn_repr();
        assert_eq!(repr.buffer_len(), 40);
        let mut buf = [0xaa; 48];
        assert_eq!(repr.emit(&mut buf, V4_SRC, V4_DST), Ok(40));
        assert_eq!(&buf[..40], &SYN[..]);
        assert_eq!(&buf[40..], &[0xaa; 8], "wrote past the segment");
    }

    #[test]
    fn parses_v6_data_segment_without_ack_in_flags() {
        let repr = TcpRepr::parse(&DATA_V6, V6_SRC, V6_DST).unwrap();
        assert_eq!(repr.ack_number, Some(SeqNum(2000)));
        assert_eq!(repr.flags, TcpFlags::PSH);
        assert_eq!(repr.seq_number, SeqNum(1000));
        assert_eq!(repr.window_len, 512);
        assert_eq!(repr.options.timestamps, Some((1, 2)));
        assert_eq!(repr.payload, b"hello");
        let mut buf = [0; 37];
        assert_eq!(repr.emit(&mut buf, V6_SRC, V6_DST), Ok(37));
        assert_eq!(buf, DATA_V6);
    }

    #[test]
    fn ack_bit_follows_ack_number_on_emit() {
        // ACK in `flags` without an ack number is not emitted...
        let repr = TcpRepr {
            flags: TcpFlags::SYN | TcpFlags::ACK,
            ..syn_repr()
        };
        let mut buf = [0; 40];
        repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
        assert_eq!(buf[13], 0x02);
        assert_eq!(&buf[8..12], &[0; 4]);
        // ... and an ack number sets it.
        let repr = TcpRepr {
            ack_number: Some(SeqNum(7)),
            ..syn_repr()
        };
        repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
        assert_eq!(buf[13], 0x12);
        assert_eq!(&buf[8..12], &[0, 0, 0, 7]);
        let parsed = TcpRepr::parse(&buf, V4_SRC, V4_DST).unwrap();
        assert_eq!(parsed.flags, TcpFlags::SYN);
        assert_eq!(parsed.ack_number, Some(SeqNum(7)));
    }

    #[test]
    fn ack_number_ignored_without_ack_bit() {
        let mut s = SYN;
        s[8..12].copy_from_slice(&[1, 2, 3, 4]);
        fix_checksum(&mut s, V4_SRC, V4_DST);
        assert_eq!(TcpRepr::parse(&s, V4_SRC, V4_DST).unwrap().ack_number, None);
    }

    #[test]
    fn ae_flag_round_trips() {
        let repr = TcpRepr {
            flags: TcpFlags::SYN | TcpFlags::AE | TcpFlags::ECE | TcpFlags::CWR,
            ..syn_repr()
        };
        let mut buf = [0; 40];
        repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
        assert_eq!(&buf[12..14], &[0xa1, 0xc2]);
        assert_eq!(TcpRepr::parse(&buf, V4_SRC, V4_DST), Ok(repr));
    }

    #[test]
    fn every_prefix_is_an_error() {
        for n in 0..SYN.len() {
            assert!(TcpRepr::parse(&SYN[..n], V4_SRC, V4_DST).is_err(), "{n}");
        }
        for n in 0..DATA_V6.len() {
            assert!(
                TcpRepr::parse(&DATA_V6[..n], V6_SRC, V6_DST).is_err(),
                "{n}"
            );
        }
    }

    #[test]
    fn data_offset_below_five_is_malformed() {
        for off in 0..5u8 {
            let mut s = segment(&[], b"abcd");
            s[12] = off << 4;
            fix_checksum(&mut s, V4_SRC, V4_DST);
            assert_eq!(
                TcpRepr::parse(&s, V4_SRC, V4_DST),
                Err(Error::Malformed("TCP data offset below 5"))
            );
        }
    }

    #[test]
    fn data_offset_beyond_segment_is_truncated() {
        let mut s = segment(&[], &[1, 1, 1]);
        s[12] = 6 << 4; // 24 bytes of header in 23 bytes
        fix_checksum(&mut s, V4_SRC, V4_DST);
        assert!(matches!(
            TcpRepr::parse(&s, V4_SRC, V4_DST),
            Err(Error::Truncated(_))
        ));
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let mut s = SYN;
        s[15] ^= 1;
        assert_eq!(TcpRepr::parse(&s, V4_SRC, V4_DST), Err(Error::Checksum));
        // The right bytes between the wrong addresses.
        assert_eq!(TcpRepr::parse(&SYN, V4_DST, V4_SRC), Ok(syn_repr()));
        assert_eq!(
            TcpRepr::parse(&SYN, V4_SRC, IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2))),
            Err(Error::Checksum)
        );
    }

    /// Linux `tcp_parse_options` checks each known kind's length and skips
    /// an option that does not fit, keeping the segment and its other
    /// options.
    #[test]
    fn wrong_lengths_for_known_kinds_are_skipped() {
        let cases: [&[u8]; 9] = [
            &[kind::MSS, 3, 5],
            &[kind::MSS, 5, 5, 0, 0],
            &[kind::WINDOW_SCALE, 4, 7, 0],
            &[kind::SACK_PERMITTED, 3, 0],
            &[kind::TIMESTAMPS, 8, 0, 0, 0, 0, 0, 0],
            &[kind::TIMESTAMPS, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[kind::SACK, 2],
            &[kind::SACK, 9, 0, 0, 0, 0, 0, 0, 0],
            &[kind::SACK, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ];
        for bad in cases {
            // The bad option between two good ones.
            let mut area = vec![kind::NOP, kind::WINDOW_SCALE, 3, 9];
            area.extend_from_slice(bad);
            area.extend_from_slice(&[kind::MSS, 4, 0x05, 0xb4]);
            let options = parse_options(&area).unwrap();
            assert_eq!(options.window_scale, Some(9), "{bad:?}");
            assert_eq!(options.mss, Some(1460), "{bad:?}");
            assert!(options.sack_blocks.is_empty() && options.timestamps.is_none());
            assert_eq!(
                options.ignored,
                IgnoredOptions {
                    tcp_malformed: 1,
                    ..IgnoredOptions::default()
                },
                "{bad:?}"
            );
        }
        // Five SACK blocks cannot fit a header, but the option parser alone
        // must still refuse them.
        let mut five = vec![kind::SACK, 42];
        five.resize(42, 0);
        assert_eq!(
            TcpOption::parse(&five),
            Err(Error::Malformed("TCP SACK option length"))
        );
    }

    /// Linux: "silly options" (length below 2) and partial ones (past the
    /// area) end the option list; what came before is kept and the segment
    /// is processed.
    #[test]
    fn option_lengths_below_two_or_past_the_area_end_the_list() {
        for (area, mss) in [
            (&[99u8, 0][..], None),
            (&[99, 1], None),
            (&[kind::MSS, 0, 0, 0], None),
            (&[99, 5, 0, 0], None),     // runs past a 4-byte area
            (&[1, 1, 1, 99][..], None), // kind with no length byte
            (&[kind::MSS, 4, 5, 0xb4, 99, 9, 0, 0], Some(1460)),
            (
                &[kind::MSS, 4, 5, 0xb4, 99, 1, kind::WINDOW_SCALE, 3, 7],
                Some(1460),
            ),
        ] {
            let options = parse_options(area).unwrap();
            assert_eq!(options.mss, mss, "{area:?}");
            assert_eq!(options.window_scale, None, "{area:?}");
            assert!(options.unknown.is_empty(), "{area:?}");
            assert_eq!(options.ignored.tcp_malformed, 1, "{area:?}");
            assert_eq!(options.ignored.total(), 1, "{area:?}");
        }
    }

    #[test]
    fn eol_ends_parsing() {
        // Garbage after EOL (an option claiming length 0) is padding.
        let options = parse_options(&[kind::MSS, 4, 0x05, 0xb4, kind::EOL, 99, 0, 0]).unwrap();
        assert_eq!(options.mss, Some(1460));
        assert!(options.unknown.is_empty());
    }

    #[test]
    fn sack_blocks_one_to_four() {
        let mut option = vec![kind::NOP, kind::NOP, kind::SACK, 34];
        for i in 1..=8u32 {
            option.extend_from_slice(&(i * 100).to_be_bytes());
        }
        let options = parse_options(&option).unwrap();
        let expected: ArrayVec<(SeqNum, SeqNum), 4> = (0..4u32)
            .map(|i| (SeqNum(200 * i + 100), SeqNum(200 * i + 200)))
            .collect();
        assert_eq!(options.sack_blocks, expected);
        // One block.
        let one = [kind::SACK, 10, 0, 0, 0, 100, 0, 0, 0, 200];
        let options = parse_options(&one).unwrap();
        assert_eq!(options.sack_blocks.as_slice(), &expected[..1]);
    }

    #[test]
    fn unknown_options_are_kept_raw() {
        let options = parse_options(&[254, 4, 0xf9, 0x89, 6, 2]).unwrap();
        assert_eq!(
            options.unknown.as_slice(),
            &[(254, &[0xf9, 0x89][..]), (6, &[][..])]
        );
    }

    /// Linux skips unknown kinds whatever their number; four are kept raw
    /// here, more are counted and skipped, and the options after them still
    /// count.
    #[test]
    fn more_than_four_unknown_options_are_skipped() {
        let four = [99u8, 2, 99, 2, 99, 2, 99, 2];
        let options = parse_options(&four).unwrap();
        assert_eq!(options.unknown.len(), 4);
        assert!(!options.ignored.any());
        let six = [
            99u8,
            2,
            98,
            2,
            97,
            2,
            96,
            2,
            95,
            2,
            94,
            2,
            kind::MSS,
            4,
            0x05,
            0xb4,
        ];
        let options = parse_options(&six).unwrap();
        assert_eq!(
            options.unknown.as_slice(),
            &[(99, &[][..]), (98, &[][..]), (97, &[][..]), (96, &[][..])]
        );
        assert_eq!(options.ignored.excess, 2);
        assert_eq!(options.mss, Some(1460));
    }

    /// Linux `mptcp_parse_option` ignores an MPTCP option it cannot use
    /// (`default: break` for an unknown subtype, `break` on a length that
    /// does not fit or an MP_CAPABLE version other than 1); the rest of
    /// the segment is processed.
    #[test]
    fn unusable_mptcp_options_are_skipped_by_reason() {
        let mpc_syn = [kind::MPTCP, 4, 0x01, 0x01];
        let cases: [(&[u8], IgnoredOptions); 4] = [
            // Subtype 0xf (private use).
            (
                &[kind::MPTCP, 4, 0xf0, 0],
                IgnoredOptions {
                    mptcp_unknown_subtype: 1,
                    ..IgnoredOptions::default()
                },
            ),
            // RFC 6824 MP_CAPABLE SYN: version 0, sender's key, length 12.
            (
                &[kind::MPTCP, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8],
                IgnoredOptions {
                    mptcp_bad_version: 1,
                    ..IgnoredOptions::default()
                },
            ),
            // DSS whose flags announce a DATA_ACK its length lacks.
            (
                &[kind::MPTCP, 4, 0x20, 0x01],
                IgnoredOptions {
                    mptcp_malformed: 1,
                    ..IgnoredOptions::default()
                },
            ),
            // Subtype byte missing.
            (
                &[kind::MPTCP, 2],
                IgnoredOptions {
                    mptcp_malformed: 1,
                    ..IgnoredOptions::default()
                },
            ),
        ];
        for (bad, ignored) in cases {
            let mut area = bad.to_vec();
            area.extend_from_slice(&mpc_syn);
            area.extend_from_slice(&[kind::MSS, 4, 0x05, 0xb4]);
            let options = parse_options(&area).unwrap();
            assert_eq!(options.ignored, ignored, "{bad:?}");
            assert_eq!(options.mss, Some(1460), "{bad:?}");
            assert!(
                matches!(options.mptcp.as_slice(), [MptcpOption::MpCapable(m)] if m.version == 1),
                "{bad:?}: {:?}",
                options.mptcp
            );
        }
    }

    #[test]
    fn duplicate_known_option_last_wins() {
        let options = parse_options(&[kind::MSS, 4, 0, 100, kind::MSS, 4, 0, 200]).unwrap();
        assert_eq!(options.mss, Some(200));
    }

    #[test]
    fn option_iterator_yields_wire_order() {
        let packet = TcpPacket::new_checked(&SYN[..]).unwrap();
        let options: Vec<_> = packet.options_iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            options,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 123_456,
                    tsecr: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
        let mut it = TcpOptionIter::new(&[kind::NOP, 99, 1, kind::NOP]);
        assert_eq!(it.next(), Some(Ok(TcpOption::Nop)));
        assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn canonical_layouts() {
        let emit = |options: TcpOptions<'_>| {
            let mut buf = [0; 40];
            let n = options.emit(&mut buf).unwrap();
            assert_eq!(n, options.buffer_len());
            buf[..n].to_vec()
        };
        assert_eq!(emit(TcpOptions::default()), Vec::<u8>::new());
        assert_eq!(
            emit(TcpOptions {
                timestamps: Some((1, 2)),
                ..TcpOptions::default()
            }),
            [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]
        );
        assert_eq!(
            emit(TcpOptions {
                sack_permitted: true,
                ..TcpOptions::default()
            }),
            [1, 1, 4, 2]
        );
        let mut sack_blocks = ArrayVec::new();
        sack_blocks.push((SeqNum(1), SeqNum(2)));
        assert_eq!(
            emit(TcpOptions {
                sack_blocks,
                unknown: [(99u8, &[7u8][..])].into_iter().collect(),
                ..TcpOptions::default()
            }),
            [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 99, 3, 7, 1]
        );
    }

    #[test]
    fn emit_errors() {
        let mut sack_blocks = ArrayVec::new();
        for i in 0..4 {
            sack_blocks.push((SeqNum(i), SeqNum(i + 1)));
        }
        let too_many = TcpRepr {
            options: TcpOptions {
                timestamps: Some((1, 2)),
                sack_blocks,
                ..TcpOptions::default()
            },
            ..syn_repr()
        };
        assert_eq!(too_many.options.buffer_len(), 48);
        assert_eq!(
            too_many.emit(&mut [0; 100], V4_SRC, V4_DST),
            Err(Error::Emit("TCP options exceed 40 bytes"))
        );
        let payload = [1, 2, 3];
        let repr = TcpRepr {
            payload: &payload,
            ..syn_repr()
        };
        assert!(matches!(
            repr.emit(&mut [0; 42], V4_SRC, V4_DST),
            Err(Error::Emit(_))
        ));
        assert_eq!(repr.emit(&mut [0; 43], V4_SRC, V4_DST), Ok(43));
    }

    #[test]
    fn view_accessors() {
        let p = TcpPacket::new_checked(&DATA_V6[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (443, 50000));
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.flags(), TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(p.checksum(), 0x04a3);
        assert_eq!(p.urgent_ptr(), 0);
        assert_eq!(p.options().len(), 12);
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(V6_SRC, V6_DST));
    }

    fn arb_seq() -> impl Strategy<Value = SeqNum> {
        any::<u32>().prop_map(SeqNum)
    }

    /// Options without MPTCP; unknown kinds avoid the known ones.
    fn arb_options() -> impl Strategy<Value = TcpOptions<'static>> {
        let unknown_kind =
            any::<u8>().prop_filter("known kind", |k| ![0, 1, 2, 3, 4, 5, 8, 30].contains(k));
        let unknown = proptest::collection::vec(
            (unknown_kind, proptest::collection::vec(any::<u8>(), 0..8)),
            0..=2,
        );
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::collection::vec((arb_seq(), arb_seq()), 0..=3),
            proptest::option::of(any::<(u32, u32)>()),
            unknown,
            proptest::collection::vec(crate::wire::mptcp::strategies::mptcp_option(), 0..=2),
        )
            .prop_map(
                |(mss, window_scale, sack_permitted, sack, timestamps, unknown, mptcp)| {
                    TcpOptions {
                        mss,
                        window_scale,
                        sack_permitted,
                        sack_blocks: sack.into_iter().collect(),
                        timestamps,
                        mptcp: mptcp.into_iter().collect(),
                        unknown: unknown
                            .into_iter()
                            .map(|(k, d)| (k, &*Vec::leak(d)))
                            .collect(),
                        ignored: IgnoredOptions::default(),
                    }
                },
            )
            .prop_filter("fits the 40-byte option space", |o| {
                o.buffer_len() <= MAX_OPTIONS_LEN
            })
    }

    prop_compose! {
        fn arb_repr()(
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            seq_number in arb_seq(),
            ack_number in proptest::option::of(arb_seq()),
            flags in (0u16..0x200).prop_map(|f| TcpFlags(f & !TcpFlags::ACK.0)),
            window_len in any::<u16>(),
            urgent_ptr in any::<u16>(),
            options in arb_options(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) -> TcpRepr<'static> {
            TcpRepr {
                src_port,
                dst_port,
                seq_number,
                ack_number,
                flags,
                window_len,
                urgent_ptr,
                options,
                payload: Vec::leak(payload),
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr(), v6 in any::<bool>()) {
            prop_assume!(repr.options.buffer_len() <= MAX_OPTIONS_LEN);
            let (src, dst) = if v6 { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
            let mut buf = vec![0; repr.buffer_len()];
            prop_assert_eq!(repr.emit(&mut buf, src, dst), Ok(buf.len()));
            prop_assert_eq!(TcpRepr::parse(&buf, src, dst), Ok(repr));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = TcpRepr::parse(&bytes, V4_SRC, V4_DST);
        }

        #[test]
        fn arbitrary_options_with_valid_checksum_never_panic(
            offset in 5u8..16,
            mut bytes in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5), Just(8), Just(30), 0u8..12, any::<u8>()],
                20..80,
            ),
        ) {
            bytes[12] = offset << 4;
            fix_checksum(&mut bytes, V4_SRC, V4_DST);
            // A header that fits the segment never fails on its options.
            let parsed = TcpRepr::parse(&bytes, V4_SRC, V4_DST);
            prop_assert_eq!(parsed.is_err(), usize::from(offset) * 4 > bytes.len());
            let Ok(mut repr) = parsed else { return Ok(()) };
            // What parses re-emits to something that parses the same, minus
            // what was skipped (which is not emitted).
            repr.options.ignored = IgnoredOptions::default();
            if repr.options.buffer_len() <= MAX_OPTIONS_LEN {
                let mut buf = vec![0; repr.buffer_len()];
                repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
                prop_assert_eq!(TcpRepr::parse(&buf, V4_SRC, V4_DST), Ok(repr));
            }
        }
    }
}
