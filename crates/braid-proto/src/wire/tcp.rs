//! TCP header (RFC 9293 section 3.1) and options: EOL, NOP, MSS, window
//! scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018), MPTCP
//! (kind 30, RFC 8684; see [`super::mptcp`]). Options of unknown kinds are
//! kept raw so that nothing the peer sent is silently dropped.

use super::mptcp::MptcpOption;
use super::{Result, SeqNum};
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

impl TcpOptions<'_> {
    /// Bytes these options occupy on the wire, padded to a multiple of 4.
    pub fn buffer_len(&self) -> usize {
        todo!("wire::tcp")
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
    pub fn parse(segment: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<TcpRepr<'a>> {
        let _ = (segment, src, dst);
        todo!("wire::tcp")
    }

    /// Header length (20 + padded options).
    pub fn header_len(&self) -> usize {
        20 + self.options.buffer_len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Emit header, options and payload into `buf` (at least `buffer_len()`
    /// bytes) and fill in the checksum for `src` -> `dst`.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize> {
        let _ = (buf, src, dst);
        todo!("wire::tcp")
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
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }
    /// Consume the view.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}
