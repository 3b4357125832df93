//! MPTCP options (TCP option kind 30), RFC 8684 section 3, every length
//! variant of every subtype.
//!
//! | subtype | name | section |
//! |---|---|---|
//! | 0x0 | MP_CAPABLE | 3.1 |
//! | 0x1 | MP_JOIN | 3.2 |
//! | 0x2 | DSS | 3.3 |
//! | 0x3 | ADD_ADDR | 3.4.1 |
//! | 0x4 | REMOVE_ADDR | 3.4.2 |
//! | 0x5 | MP_PRIO | 3.3.8 |
//! | 0x6 | MP_FAIL | 3.7 |
//! | 0x7 | MP_FASTCLOSE | 3.5 |
//! | 0x8 | MP_TCPRST | 3.6 |
//!
//! Lengths and layouts are those of the RFC 8684 figures, checked against
//! Linux `net/mptcp/options.c` (`mptcp_parse_option`, `mptcp_write_options`,
//! the `TCPOLEN_MPTCP_*` constants, mirrored in [`len`]). Where Linux is more
//! lenient or stricter than the RFC, the parser follows Linux and says so on
//! the function concerned. Differences in what is emitted:
//! - Linux pads MP_PRIO (3 octets) and the 22-octet MP_CAPABLE with NOPs to a
//!   4-octet boundary inside the same word; here the option is emitted
//!   unpadded and the TCP option layer pads, which is the same on the wire.
//! - Parsing is context-free: the TCP flags of the segment (SYN, SYN/ACK,
//!   RST), which Linux consults for MP_CAPABLE and MP_TCPRST, are checked by
//!   the caller.
//!
//! One file per option family: `capable` (MP_CAPABLE), `join` (MP_JOIN),
//! `dss` (DSS), `addr` (ADD_ADDR, REMOVE_ADDR) and `control` (MP_PRIO,
//! MP_FAIL, MP_FASTCLOSE, MP_TCPRST); this file holds what they share and
//! [`MptcpOption`], which dispatches on the subtype.

use super::{Error, Result};
use arrayvec::ArrayVec;

mod addr;
mod capable;
mod control;
mod dss;
mod join;
#[cfg(test)]
pub(crate) mod strategies;
#[cfg(test)]
mod tests;

pub use addr::AddAddr;
pub use capable::MpCapable;
pub use control::rst_reason;
pub use dss::{Dss, DssMapping};
pub use join::MpJoin;

/// MPTCP option subtypes.
pub mod subtype {
    /// MP_CAPABLE.
    pub const MP_CAPABLE: u8 = 0x0;
    /// MP_JOIN.
    pub const MP_JOIN: u8 = 0x1;
    /// DSS.
    pub const DSS: u8 = 0x2;
    /// ADD_ADDR.
    pub const ADD_ADDR: u8 = 0x3;
    /// REMOVE_ADDR.
    pub const REMOVE_ADDR: u8 = 0x4;
    /// MP_PRIO.
    pub const MP_PRIO: u8 = 0x5;
    /// MP_FAIL.
    pub const MP_FAIL: u8 = 0x6;
    /// MP_FASTCLOSE.
    pub const MP_FASTCLOSE: u8 = 0x7;
    /// MP_TCPRST.
    pub const MP_TCPRST: u8 = 0x8;
    /// The highest subtype RFC 8684 defines; 0x9-0xe are unassigned and 0xf
    /// is reserved for private use (IANA "MPTCP Option Subtypes").
    pub const MAX: u8 = MP_TCPRST;
}

/// One MPTCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpOption {
    /// MP_CAPABLE.
    MpCapable(MpCapable),
    /// MP_JOIN.
    MpJoin(MpJoin),
    /// DSS.
    Dss(Dss),
    /// ADD_ADDR.
    AddAddr(AddAddr),
    /// REMOVE_ADDR: the address IDs removed.
    RemoveAddr(ArrayVec<u8, 37>),
    /// MP_PRIO: the backup flag.
    MpPrio {
        /// Whether the subflow becomes a backup.
        backup: bool,
    },
    /// MP_FAIL: the DSN of the start of the failed mapping.
    MpFail {
        /// 64-bit data sequence number.
        dsn: u64,
    },
    /// MP_FASTCLOSE: the option receiver's key.
    MpFastclose {
        /// Receiver's key.
        receiver_key: u64,
    },
    /// MP_TCPRST: flags (U, V, W, T in the low 4 bits; T = 0x1 transient) and
    /// reason.
    MpTcpRst {
        /// U/V/W/T flags.
        flags: u8,
        /// Reason code ([`rst_reason`]).
        reason: u8,
    },
}

/// TCP option kind of every MPTCP option (RFC 8684 section 3, IANA "TCP
/// Option Kind Numbers").
pub const KIND: u8 = 30;

/// Option lengths on the wire, kind and length bytes included. Names and
/// values follow Linux `TCPOLEN_MPTCP_*` (net/mptcp/protocol.h) so that a
/// reader can compare the two implementations line by line.
pub mod len {
    /// MP_CAPABLE on the SYN (no key).
    pub const MPC_SYN: usize = 4;
    /// MP_CAPABLE on the SYN/ACK (sender's key).
    pub const MPC_SYNACK: usize = 12;
    /// MP_CAPABLE on the third ACK (both keys).
    pub const MPC_ACK: usize = 20;
    /// MP_CAPABLE on the first data packet (both keys, data-level length).
    pub const MPC_ACK_DATA: usize = 22;
    /// MP_CAPABLE on the first data packet with a DSS checksum.
    pub const MPC_ACK_DATA_CSUM: usize = 24;
    /// MP_JOIN on the SYN.
    pub const MPJ_SYN: usize = 12;
    /// MP_JOIN on the SYN/ACK.
    pub const MPJ_SYNACK: usize = 16;
    /// MP_JOIN on the third ACK.
    pub const MPJ_ACK: usize = 24;
    /// DSS: kind, length, subtype and flags.
    pub const DSS_BASE: usize = 4;
    /// DSS: a 4-octet DATA_ACK.
    pub const DSS_ACK32: usize = 4;
    /// DSS: an 8-octet DATA_ACK.
    pub const DSS_ACK64: usize = 8;
    /// DSS: a mapping with a 4-octet DSN (DSN, subflow seq, length).
    pub const DSS_MAP32: usize = 10;
    /// DSS: a mapping with an 8-octet DSN.
    pub const DSS_MAP64: usize = 14;
    /// DSS: the checksum after a mapping.
    pub const DSS_CHECKSUM: usize = 2;
    /// ADD_ADDR, IPv4, with HMAC.
    pub const ADD_ADDR: usize = 16;
    /// ADD_ADDR, IPv4, with port and HMAC.
    pub const ADD_ADDR_PORT: usize = 18;
    /// ADD_ADDR echo, IPv4.
    pub const ADD_ADDR_BASE: usize = 8;
    /// ADD_ADDR echo, IPv4, with port.
    pub const ADD_ADDR_BASE_PORT: usize = 10;
    /// ADD_ADDR, IPv6, with HMAC.
    pub const ADD_ADDR6: usize = 28;
    /// ADD_ADDR, IPv6, with port and HMAC.
    pub const ADD_ADDR6_PORT: usize = 30;
    /// ADD_ADDR echo, IPv6.
    pub const ADD_ADDR6_BASE: usize = 20;
    /// ADD_ADDR echo, IPv6, with port.
    pub const ADD_ADDR6_BASE_PORT: usize = 22;
    /// REMOVE_ADDR without any address ID (one ID is the minimum).
    pub const RM_ADDR_BASE: usize = 3;
    /// MP_PRIO (Linux pads it with one NOP to 4 octets; our TCP layer pads).
    pub const PRIO: usize = 3;
    /// MP_FAIL.
    pub const FAIL: usize = 12;
    /// MP_FASTCLOSE.
    pub const FASTCLOSE: usize = 12;
    /// MP_TCPRST.
    pub const TCPRST: usize = 4;
}

/// The MPTCP version Braid speaks (RFC 8684 is version 1).
pub const VERSION: u8 = 1;

/// Linux accepts at most this many address IDs in one REMOVE_ADDR
/// (`MPTCP_RM_IDS_MAX`) and ignores longer ones; Braid parses up to the
/// option space, but a path manager talking to Linux must not send more.
pub const LINUX_RM_IDS_MAX: usize = 8;

/// Flag `B` of MP_JOIN and MP_PRIO (low bit of byte 2).
const BACKUP: u8 = 0x01;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Append big-endian bytes to an option being emitted.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

impl MptcpOption {
    /// Parse one whole MPTCP option: `option[0]` is the kind (30) and
    /// `option[1]` the length, which must equal `option.len()`.
    ///
    /// Errors:
    /// - [`Error::Truncated`] when the slice is shorter than its length field;
    /// - [`Error::Malformed`] when the length does not fit the subtype (and
    ///   its flags), as Linux `mptcp_parse_option` would ignore the option;
    /// - [`Error::Unsupported`] for a subtype RFC 8684 does not define and
    ///   for an MP_CAPABLE of a version other than 1. The TCP layer skips
    ///   such an option and counts it ([`crate::wire::tcp::IgnoredOptions`]),
    ///   as Linux ignores it: an RFC 6824 (version 0) SYN thus opens a
    ///   plain TCP connection.
    ///
    /// Reserved bits are ignored. Nothing here panics on any input.
    pub fn parse(option: &[u8]) -> Result<MptcpOption> {
        if option.len() < 2 {
            return Err(Error::Truncated("MPTCP option without length"));
        }
        if option[0] != KIND {
            return Err(Error::Malformed("not an MPTCP option (kind != 30)"));
        }
        let len = usize::from(option[1]);
        if len > option.len() {
            return Err(Error::Truncated("MPTCP option shorter than its length"));
        }
        if len < option.len() {
            return Err(Error::Malformed("MPTCP option longer than its length"));
        }
        if len < 3 {
            return Err(Error::Malformed("MPTCP option without subtype"));
        }
        let b = option;
        match b[2] >> 4 {
            subtype::MP_CAPABLE => MpCapable::parse(b),
            subtype::MP_JOIN => MpJoin::parse(b),
            subtype::DSS => Dss::parse(b),
            subtype::ADD_ADDR => AddAddr::parse(b),
            subtype::REMOVE_ADDR => addr::parse_remove_addr(b),
            subtype::MP_PRIO => control::parse_mp_prio(b),
            subtype::MP_FAIL => control::parse_mp_fail(b),
            subtype::MP_FASTCLOSE => control::parse_mp_fastclose(b),
            subtype::MP_TCPRST => control::parse_mp_tcprst(b),
            _ => Err(Error::Unsupported("unknown MPTCP option subtype")),
        }
    }

    /// The subtype (upper nibble of byte 2) of this option.
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::MpCapable(_) => subtype::MP_CAPABLE,
            MptcpOption::MpJoin(_) => subtype::MP_JOIN,
            MptcpOption::Dss(_) => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::MpPrio { .. } => subtype::MP_PRIO,
            MptcpOption::MpFail { .. } => subtype::MP_FAIL,
            MptcpOption::MpFastclose { .. } => subtype::MP_FASTCLOSE,
            MptcpOption::MpTcpRst { .. } => subtype::MP_TCPRST,
        }
    }

    /// Length of this option on the wire (kind and length bytes included).
    ///
    /// For a repr that [`emit`](Self::emit) refuses, this is the length the
    /// present fields would take.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::MpCapable(c) => c.wire_len(),
            MptcpOption::MpJoin(j) => j.wire_len(),
            MptcpOption::Dss(d) => d.wire_len(),
            MptcpOption::AddAddr(a) => a.wire_len(),
            MptcpOption::RemoveAddr(ids) => len::RM_ADDR_BASE + ids.len(),
            MptcpOption::MpPrio { .. } => len::PRIO,
            MptcpOption::MpFail { .. } => len::FAIL,
            MptcpOption::MpFastclose { .. } => len::FASTCLOSE,
            MptcpOption::MpTcpRst { .. } => len::TCPRST,
        }
    }

    /// Check that this repr has exactly one encoding, i.e. that
    /// [`parse`](Self::parse) of the emitted bytes gives it back.
    fn check_emit(&self) -> Result<()> {
        match self {
            MptcpOption::MpCapable(c) => c.check_emit(),
            MptcpOption::Dss(d) => d.check_emit(),
            MptcpOption::RemoveAddr(ids) if ids.is_empty() => {
                Err(Error::Emit("REMOVE_ADDR without address ID"))
            }
            MptcpOption::MpTcpRst { flags, .. } if *flags > 0x0f => {
                Err(Error::Emit("MP_TCPRST flags above the low nibble"))
            }
            _ => Ok(()),
        }
    }

    /// Emit into the front of `buf` (at least `buffer_len()` bytes); returns
    /// the bytes written. Reserved bits are emitted as zero.
    ///
    /// Returns [`Error::Emit`] when `buf` is too small or the repr has no
    /// encoding that parses back to it: MP_CAPABLE with a receiver key but no
    /// sender key, a data-level length without both keys, a checksum without
    /// a data-level length, or a version other than 1 (a SYN may carry a
    /// higher one); a DSS whose 32-bit DATA_ACK or DSN does not fit 32 bits;
    /// an empty REMOVE_ADDR; MP_TCPRST flags above 0xf.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        self.check_emit()?;
        let total = self.buffer_len();
        if buf.len() < total {
            return Err(Error::Emit("buffer shorter than the MPTCP option"));
        }
        // `total` is at most 3 + 37 = 40, it fits the length octet.
        let mut w = Writer { buf, at: 0 };
        w.put(&[KIND, total as u8]);
        let st = self.subtype() << 4;
        match self {
            MptcpOption::MpCapable(c) => c.emit_body(st, &mut w),
            MptcpOption::MpJoin(j) => j.emit_body(st, &mut w),
            MptcpOption::Dss(d) => d.emit_body(st, &mut w),
            MptcpOption::AddAddr(a) => a.emit_body(st, &mut w),
            MptcpOption::RemoveAddr(ids) => {
                w.put(&[st]);
                w.put(ids);
            }
            MptcpOption::MpPrio { backup } => w.put(&[st | u8::from(*backup)]),
            MptcpOption::MpFail { dsn } => {
                w.put(&[st, 0]);
                w.put(&dsn.to_be_bytes());
            }
            MptcpOption::MpFastclose { receiver_key } => {
                w.put(&[st, 0]);
                w.put(&receiver_key.to_be_bytes());
            }
            MptcpOption::MpTcpRst { flags, reason } => w.put(&[st | flags, *reason]),
        }
        debug_assert_eq!(w.at, total);
        Ok(total)
    }
}
