//! TCP options (RFC 9293 section 3.2): EOL, NOP, MSS, window scale and
//! timestamps (RFC 7323 sections 2.2 and 3.2), SACK-permitted and SACK
//! (RFC 2018 sections 2 and 3), MPTCP (kind 30, RFC 8684 section 3; see
//! [`crate::wire::mptcp`]). Options of unknown kinds are kept raw so that
//! nothing the peer sent is silently dropped.
//!
//! One option at a time ([`TcpOption::parse`], [`TcpOptionIter`]) parsing
//! is strict about lengths: an option whose length byte is below 2, runs
//! past the option area, or does not fit its kind is [`Error::Malformed`].
//!
//! A whole option area ([`TcpOptions::parse`], hence
//! [`super::TcpRepr::parse`]) is parsed the way Linux does
//! (`tcp_parse_options` in net/ipv4/tcp_input.c, `mptcp_parse_option` in
//! net/mptcp/options.c): a bad option never costs the segment. An option of
//! a known kind with the wrong length, an MPTCP option with an unknown
//! subtype, a length that does not fit its subtype or an MP_CAPABLE version
//! other than 1, and options beyond the four MPTCP and four unknown ones
//! kept are skipped; a length byte below 2 or past the option area ends the
//! option list (what came before it counts). Each skip is counted in
//! [`TcpOptions::ignored`], so a connection can count it in its MIB. When a
//! known option appears twice, the last one wins (as in Linux).

use crate::wire::mptcp::MptcpOption;
use crate::wire::{Error, Result, SeqNum};
use arrayvec::ArrayVec;

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
                        _ if whole.len() >= 3
                            && whole[2] >> 4 > crate::wire::mptcp::subtype::MAX =>
                        {
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
