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

use super::{Error, Result};
use arrayvec::ArrayVec;
use core::net::IpAddr;

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
}

/// MP_CAPABLE (RFC 8684 section 3.1). Which variant it is follows from which
/// fields are present: SYN (no key, length 4), SYN/ACK (sender key, 12),
/// third ACK (both keys, 20), first data ACK (both keys and data-level length,
/// 22; plus checksum, 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpCapable {
    /// Version (1 for RFC 8684).
    pub version: u8,
    /// Flags A..H: A (0x80) checksum required, B (0x40) extensibility,
    /// C (0x20) do not join to the source address, H (0x01) HMAC-SHA256.
    pub flags: u8,
    /// The option sender's key (SYN/ACK: Key-B; ACK: Key-A).
    pub sender_key: Option<u64>,
    /// The option receiver's key (ACK: Key-B).
    pub receiver_key: Option<u64>,
    /// Data-level length (ACK with data).
    pub data_len: Option<u16>,
    /// DSS checksum (ACK with data, when checksums are in use).
    pub checksum: Option<u16>,
}

impl MpCapable {
    /// Flag A: checksum required.
    pub const FLAG_CHECKSUM: u8 = 0x80;
    /// Flag B: extensibility.
    pub const FLAG_EXTENSIBILITY: u8 = 0x40;
    /// Flag C: do not attempt to establish new subflows to this address.
    pub const FLAG_NO_JOIN_TO_SRC: u8 = 0x20;
    /// Flag H: HMAC-SHA256.
    pub const FLAG_HMAC_SHA256: u8 = 0x01;
}

/// MP_JOIN (RFC 8684 section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpJoin {
    /// On the SYN (length 12).
    Syn {
        /// Backup subflow.
        backup: bool,
        /// Address ID of the sender's address.
        addr_id: u8,
        /// Token of the receiver's key.
        token: u32,
        /// Sender's random number R-A.
        nonce: u32,
    },
    /// On the SYN/ACK (length 16).
    SynAck {
        /// Backup subflow.
        backup: bool,
        /// Address ID.
        addr_id: u8,
        /// Leftmost 64 bits of the HMAC.
        hmac: u64,
        /// Sender's random number R-B.
        nonce: u32,
    },
    /// On the third ACK (length 24): 160 bits of the HMAC.
    Ack {
        /// Leftmost 160 bits of the HMAC.
        hmac: [u8; 20],
    },
}

/// A DSS mapping (RFC 8684 section 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssMapping {
    /// Data sequence number (the low 32 bits only when `dsn_64` is false).
    pub dsn: u64,
    /// Whether the DSN is sent as 8 octets (flag `m`).
    pub dsn_64: bool,
    /// Subflow sequence number, relative to the subflow's ISN.
    pub subflow_seq: u32,
    /// Data-level length (0 with `subflow_seq` 0: infinite mapping).
    pub data_len: u16,
    /// DSS checksum, present when negotiated.
    pub checksum: Option<u16>,
}

/// DSS (RFC 8684 section 3.3): DATA_ACK, mapping and DATA_FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dss {
    /// Data ACK and whether it is sent as 8 octets (flags `A` and `a`).
    pub data_ack: Option<(u64, bool)>,
    /// Mapping (flag `M`).
    pub mapping: Option<DssMapping>,
    /// DATA_FIN (flag `F`).
    pub data_fin: bool,
}

/// ADD_ADDR (RFC 8684 section 3.4.1). Without `hmac` it is an echo (flag E).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddAddr {
    /// Address ID.
    pub addr_id: u8,
    /// The address.
    pub addr: IpAddr,
    /// Port, when it differs from the connection's.
    pub port: Option<u16>,
    /// Rightmost 64 bits of the HMAC; `None` for an echo.
    pub hmac: Option<u64>,
}

impl AddAddr {
    /// Whether this is an echo (flag E set, no HMAC).
    pub fn is_echo(&self) -> bool {
        self.hmac.is_none()
    }
}

/// MP_TCPRST (RFC 8684 section 3.6) reason codes.
pub mod rst_reason {
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0x00;
    /// MPTCP-specific error.
    pub const MPTCP_ERROR: u8 = 0x01;
    /// Lack of resources.
    pub const RESOURCES: u8 = 0x02;
    /// Administratively prohibited.
    pub const PROHIBITED: u8 = 0x03;
    /// Too much outstanding data.
    pub const TOO_MUCH_DATA: u8 = 0x04;
    /// Unacceptable performance.
    pub const UNACCEPTABLE_PERFORMANCE: u8 = 0x05;
    /// Middlebox interference.
    pub const MIDDLEBOX: u8 = 0x06;
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

impl Dss {
    /// Flag `F`: DATA_FIN.
    pub const FLAG_DATA_FIN: u8 = 0x10;
    /// Flag `m`: the DSN is 8 octets.
    pub const FLAG_DSN_64: u8 = 0x08;
    /// Flag `M`: a mapping is present.
    pub const FLAG_MAPPING: u8 = 0x04;
    /// Flag `a`: the DATA_ACK is 8 octets.
    pub const FLAG_ACK_64: u8 = 0x02;
    /// Flag `A`: a DATA_ACK is present.
    pub const FLAG_DATA_ACK: u8 = 0x01;

    /// The flags octet (byte 3) for this DSS; reserved bits are zero.
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        if self.data_fin {
            f |= Self::FLAG_DATA_FIN;
        }
        if let Some((_, ack_64)) = self.data_ack {
            f |= Self::FLAG_DATA_ACK;
            if ack_64 {
                f |= Self::FLAG_ACK_64;
            }
        }
        if let Some(m) = self.mapping {
            f |= Self::FLAG_MAPPING;
            if m.dsn_64 {
                f |= Self::FLAG_DSN_64;
            }
        }
        f
    }
}

/// Flag `E` of ADD_ADDR (low bit of byte 2).
const ADD_ADDR_ECHO: u8 = 0x01;
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
    /// - [`Error::Unsupported`] for a subtype RFC 8684 does not define (the
    ///   TCP layer keeps such an option as an unknown one) and for an
    ///   MP_CAPABLE of a version other than 1 (Linux ignores it too, so the
    ///   connection falls back to TCP).
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
            subtype::MP_CAPABLE => parse_mp_capable(b),
            subtype::MP_JOIN => parse_mp_join(b),
            subtype::DSS => parse_dss(b),
            subtype::ADD_ADDR => parse_add_addr(b),
            subtype::REMOVE_ADDR => {
                // RFC 8684 section 3.4.2: one or more address IDs.
                if len < len::RM_ADDR_BASE + 1 {
                    return Err(Error::Malformed("REMOVE_ADDR without address ID"));
                }
                let mut ids = ArrayVec::new();
                ids.try_extend_from_slice(&b[3..])
                    .map_err(|_| Error::Malformed("REMOVE_ADDR longer than option space"))?;
                Ok(MptcpOption::RemoveAddr(ids))
            }
            subtype::MP_PRIO => {
                // RFC 8684 has no address ID in MP_PRIO any more; Linux
                // accepts exactly length 3.
                if len != len::PRIO {
                    return Err(Error::Malformed("MP_PRIO length is not 3"));
                }
                Ok(MptcpOption::MpPrio {
                    backup: b[2] & BACKUP != 0,
                })
            }
            subtype::MP_FAIL => {
                if len != len::FAIL {
                    return Err(Error::Malformed("MP_FAIL length is not 12"));
                }
                Ok(MptcpOption::MpFail { dsn: be64(b, 4) })
            }
            subtype::MP_FASTCLOSE => {
                if len != len::FASTCLOSE {
                    return Err(Error::Malformed("MP_FASTCLOSE length is not 12"));
                }
                Ok(MptcpOption::MpFastclose {
                    receiver_key: be64(b, 4),
                })
            }
            subtype::MP_TCPRST => {
                if len != len::TCPRST {
                    return Err(Error::Malformed("MP_TCPRST length is not 4"));
                }
                Ok(MptcpOption::MpTcpRst {
                    flags: b[2] & 0x0f,
                    reason: b[3],
                })
            }
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
            MptcpOption::MpCapable(c) => {
                if c.checksum.is_some() {
                    len::MPC_ACK_DATA_CSUM
                } else if c.data_len.is_some() {
                    len::MPC_ACK_DATA
                } else if c.receiver_key.is_some() {
                    len::MPC_ACK
                } else if c.sender_key.is_some() {
                    len::MPC_SYNACK
                } else {
                    len::MPC_SYN
                }
            }
            MptcpOption::MpJoin(MpJoin::Syn { .. }) => len::MPJ_SYN,
            MptcpOption::MpJoin(MpJoin::SynAck { .. }) => len::MPJ_SYNACK,
            MptcpOption::MpJoin(MpJoin::Ack { .. }) => len::MPJ_ACK,
            MptcpOption::Dss(d) => {
                let ack = match d.data_ack {
                    Some((_, true)) => len::DSS_ACK64,
                    Some((_, false)) => len::DSS_ACK32,
                    None => 0,
                };
                let map = match d.mapping {
                    Some(m) => {
                        (if m.dsn_64 {
                            len::DSS_MAP64
                        } else {
                            len::DSS_MAP32
                        }) + if m.checksum.is_some() {
                            len::DSS_CHECKSUM
                        } else {
                            0
                        }
                    }
                    None => 0,
                };
                len::DSS_BASE + ack + map
            }
            MptcpOption::AddAddr(a) => {
                let addr = match a.addr {
                    IpAddr::V4(_) => 4,
                    IpAddr::V6(_) => 16,
                };
                4 + addr
                    + if a.port.is_some() { 2 } else { 0 }
                    + if a.hmac.is_some() { 8 } else { 0 }
            }
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
            MptcpOption::MpCapable(c) => {
                if c.receiver_key.is_some() && c.sender_key.is_none() {
                    return Err(Error::Emit("MP_CAPABLE receiver key without sender key"));
                }
                if c.data_len.is_some() && c.receiver_key.is_none() {
                    return Err(Error::Emit("MP_CAPABLE data-level length without keys"));
                }
                if c.checksum.is_some() && c.data_len.is_none() {
                    return Err(Error::Emit("MP_CAPABLE checksum without data-level length"));
                }
                let syn = c.sender_key.is_none();
                if c.version > 0x0f
                    || (syn && c.version < VERSION)
                    || (!syn && c.version != VERSION)
                {
                    return Err(Error::Emit("MP_CAPABLE version not encodable or not 1"));
                }
                Ok(())
            }
            MptcpOption::Dss(d) => {
                let fits = |v: u64| v <= u64::from(u32::MAX);
                if matches!(d.data_ack, Some((ack, false)) if !fits(ack)) {
                    return Err(Error::Emit("32-bit DATA_ACK above 2^32 (use Dsn::low32)"));
                }
                if matches!(d.mapping, Some(m) if !m.dsn_64 && !fits(m.dsn)) {
                    return Err(Error::Emit("32-bit DSN above 2^32 (use Dsn::low32)"));
                }
                Ok(())
            }
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
            MptcpOption::MpCapable(c) => {
                w.put(&[st | c.version, c.flags]);
                for key in [c.sender_key, c.receiver_key].into_iter().flatten() {
                    w.put(&key.to_be_bytes());
                }
                for v in [c.data_len, c.checksum].into_iter().flatten() {
                    w.put(&v.to_be_bytes());
                }
            }
            MptcpOption::MpJoin(MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            }) => {
                w.put(&[st | u8::from(*backup), *addr_id]);
                w.put(&token.to_be_bytes());
                w.put(&nonce.to_be_bytes());
            }
            MptcpOption::MpJoin(MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce,
            }) => {
                w.put(&[st | u8::from(*backup), *addr_id]);
                w.put(&hmac.to_be_bytes());
                w.put(&nonce.to_be_bytes());
            }
            MptcpOption::MpJoin(MpJoin::Ack { hmac }) => {
                w.put(&[st, 0]);
                w.put(hmac);
            }
            MptcpOption::Dss(d) => {
                w.put(&[st, d.flags()]);
                match d.data_ack {
                    // check_emit guarantees a 32-bit DATA_ACK fits.
                    Some((ack, false)) => w.put(&(ack as u32).to_be_bytes()),
                    Some((ack, true)) => w.put(&ack.to_be_bytes()),
                    None => {}
                }
                if let Some(m) = d.mapping {
                    if m.dsn_64 {
                        w.put(&m.dsn.to_be_bytes());
                    } else {
                        w.put(&(m.dsn as u32).to_be_bytes());
                    }
                    w.put(&m.subflow_seq.to_be_bytes());
                    w.put(&m.data_len.to_be_bytes());
                    if let Some(c) = m.checksum {
                        w.put(&c.to_be_bytes());
                    }
                }
            }
            MptcpOption::AddAddr(a) => {
                let echo = if a.is_echo() { ADD_ADDR_ECHO } else { 0 };
                w.put(&[st | echo, a.addr_id]);
                match a.addr {
                    IpAddr::V4(v4) => w.put(&v4.octets()),
                    IpAddr::V6(v6) => w.put(&v6.octets()),
                }
                if let Some(port) = a.port {
                    w.put(&port.to_be_bytes());
                }
                if let Some(hmac) = a.hmac {
                    w.put(&hmac.to_be_bytes());
                }
            }
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

/// MP_CAPABLE, RFC 8684 section 3.1 (figure 4). The variant follows from the
/// length alone: 4 SYN, 12 SYN/ACK, 20 third ACK, 22 first data, 24 first
/// data with checksum. Linux additionally uses the SYN/ACK flags of the
/// segment to pick the expected length; the connection layer does that check
/// here. Flags (`H` required, `B` unknown) are left to the connection layer,
/// which must ignore the option as Linux does when `H` is clear or `B` set.
fn parse_mp_capable(b: &[u8]) -> Result<MptcpOption> {
    let len = b.len();
    if !matches!(
        len,
        len::MPC_SYN | len::MPC_SYNACK | len::MPC_ACK | len::MPC_ACK_DATA | len::MPC_ACK_DATA_CSUM
    ) {
        return Err(Error::Malformed(
            "MP_CAPABLE length not 4, 12, 20, 22 or 24",
        ));
    }
    let version = b[2] & 0x0f;
    // Like Linux: be gentle with future versions on the SYN (the responder
    // answers with the version it speaks), demand version 1 afterwards.
    if (len == len::MPC_SYN && version < VERSION) || (len != len::MPC_SYN && version != VERSION) {
        return Err(Error::Unsupported("MP_CAPABLE version"));
    }
    let at_least = |n: usize| len >= n;
    Ok(MptcpOption::MpCapable(MpCapable {
        version,
        flags: b[3],
        sender_key: at_least(len::MPC_SYNACK).then(|| be64(b, 4)),
        receiver_key: at_least(len::MPC_ACK).then(|| be64(b, 12)),
        data_len: at_least(len::MPC_ACK_DATA).then(|| be16(b, 20)),
        checksum: at_least(len::MPC_ACK_DATA_CSUM).then(|| be16(b, 22)),
    }))
}

/// MP_JOIN, RFC 8684 section 3.2 (figures 5, 6, 7).
fn parse_mp_join(b: &[u8]) -> Result<MptcpOption> {
    let backup = b[2] & BACKUP != 0;
    let join = match b.len() {
        len::MPJ_SYN => MpJoin::Syn {
            backup,
            addr_id: b[3],
            token: be32(b, 4),
            nonce: be32(b, 8),
        },
        len::MPJ_SYNACK => MpJoin::SynAck {
            backup,
            addr_id: b[3],
            hmac: be64(b, 4),
            nonce: be32(b, 12),
        },
        len::MPJ_ACK => {
            let mut hmac = [0u8; 20];
            hmac.copy_from_slice(&b[4..24]);
            MpJoin::Ack { hmac }
        }
        _ => return Err(Error::Malformed("MP_JOIN length not 12, 16 or 24")),
    };
    Ok(MptcpOption::MpJoin(join))
}

/// DSS, RFC 8684 section 3.3 (figure 9).
///
/// The length must equal what the flags announce, optionally plus the
/// 2-octet checksum. As in Linux `mptcp_parse_option`:
/// - `a` without `A` and `m` without `M` are ignored (the size flag of an
///   absent field has no meaning);
/// - `F` without `M` is accepted (`data_fin` set, no mapping); RFC 8684
///   section 3.3.3 ties DATA_FIN to a mapping, the connection layer judges;
/// - two trailing octets after a DSS without mapping are accepted and
///   ignored (Linux accepts `expected + 2` whatever the flags, but only reads
///   a checksum after a mapping). Such input does not round-trip.
fn parse_dss(b: &[u8]) -> Result<MptcpOption> {
    if b.len() < len::DSS_BASE {
        return Err(Error::Malformed("DSS without flags"));
    }
    let flags = b[3];
    let has_ack = flags & Dss::FLAG_DATA_ACK != 0;
    let ack_64 = flags & Dss::FLAG_ACK_64 != 0;
    let has_map = flags & Dss::FLAG_MAPPING != 0;
    let dsn_64 = flags & Dss::FLAG_DSN_64 != 0;
    let mut expected = len::DSS_BASE;
    if has_ack {
        expected += if ack_64 {
            len::DSS_ACK64
        } else {
            len::DSS_ACK32
        };
    }
    if has_map {
        expected += if dsn_64 {
            len::DSS_MAP64
        } else {
            len::DSS_MAP32
        };
    }
    let with_checksum = if b.len() == expected {
        false
    } else if b.len() == expected + len::DSS_CHECKSUM {
        true
    } else {
        return Err(Error::Malformed("DSS length does not match its flags"));
    };
    let mut at = 4;
    let data_ack = if has_ack {
        let v = if ack_64 {
            be64(b, at)
        } else {
            u64::from(be32(b, at))
        };
        at += if ack_64 { 8 } else { 4 };
        Some((v, ack_64))
    } else {
        None
    };
    let mapping = if has_map {
        let dsn = if dsn_64 {
            be64(b, at)
        } else {
            u64::from(be32(b, at))
        };
        at += if dsn_64 { 8 } else { 4 };
        let subflow_seq = be32(b, at);
        let data_len = be16(b, at + 4);
        let checksum = with_checksum.then(|| be16(b, at + 6));
        Some(DssMapping {
            dsn,
            dsn_64,
            subflow_seq,
            data_len,
            checksum,
        })
    } else {
        None
    };
    Ok(MptcpOption::Dss(Dss {
        data_ack,
        mapping,
        data_fin: flags & Dss::FLAG_DATA_FIN != 0,
    }))
}

/// ADD_ADDR, RFC 8684 section 3.4.1 (figure 15): subtype and `E`, address
/// ID, address, optional port, then the HMAC unless `E` is set. The address
/// family and the port's presence follow from the length, as in Linux.
fn parse_add_addr(b: &[u8]) -> Result<MptcpOption> {
    let echo = b[2] & ADD_ADDR_ECHO != 0;
    // (IPv6, port present, HMAC present) by length.
    let (v6, port, hmac) = match b.len() {
        len::ADD_ADDR_BASE => (false, false, false),
        len::ADD_ADDR_BASE_PORT => (false, true, false),
        len::ADD_ADDR6_BASE => (true, false, false),
        len::ADD_ADDR6_BASE_PORT => (true, true, false),
        len::ADD_ADDR => (false, false, true),
        len::ADD_ADDR_PORT => (false, true, true),
        len::ADD_ADDR6 => (true, false, true),
        len::ADD_ADDR6_PORT => (true, true, true),
        _ => {
            return Err(Error::Malformed(
                "ADD_ADDR length not 8/10/16/18/20/22/28/30",
            ));
        }
    };
    // RFC 8684 section 3.4.1 (figure 15): the truncated HMAC is present
    // exactly when E is clear, an echo carries none. Linux picks the valid
    // lengths from E the same way and ignores any other combination.
    if echo && hmac {
        return Err(Error::Malformed("ADD_ADDR echo carrying an HMAC"));
    }
    if !echo && !hmac {
        return Err(Error::Malformed("ADD_ADDR without HMAC and without E flag"));
    }
    let mut at = 4;
    let addr = if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        at += 16;
        IpAddr::from(o)
    } else {
        let o = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        IpAddr::from(o)
    };
    let port = port.then(|| be16(b, at));
    if port.is_some() {
        at += 2;
    }
    let hmac = hmac.then(|| be64(b, at));
    Ok(MptcpOption::AddAddr(AddAddr {
        addr_id: b[3],
        addr,
        port,
        hmac,
    }))
}

/// Proptest strategies for MPTCP option reprs, for reuse by the TCP option
/// and connection tests.
#[cfg(test)]
pub(crate) mod strategies {
    use super::*;
    use proptest::prelude::*;

    /// Any IPv4 or IPv6 address.
    pub(crate) fn ip_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ]
    }

    /// A valid MP_CAPABLE of each of the five shapes.
    pub(crate) fn mp_capable() -> impl Strategy<Value = MpCapable> {
        (
            0usize..5,
            1u8..=15,
            any::<u8>(),
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(shape, syn_version, flags, ks, kr, dl, cs)| MpCapable {
                version: if shape == 0 { syn_version } else { VERSION },
                flags,
                sender_key: (shape >= 1).then_some(ks),
                receiver_key: (shape >= 2).then_some(kr),
                data_len: (shape >= 3).then_some(dl),
                checksum: (shape >= 4).then_some(cs),
            })
    }

    /// Any MP_JOIN.
    pub(crate) fn mp_join() -> impl Strategy<Value = MpJoin> {
        prop_oneof![
            (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
                |(backup, addr_id, token, nonce)| MpJoin::Syn {
                    backup,
                    addr_id,
                    token,
                    nonce
                }
            ),
            (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
                |(backup, addr_id, hmac, nonce)| MpJoin::SynAck {
                    backup,
                    addr_id,
                    hmac,
                    nonce
                }
            ),
            any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
        ]
    }

    /// A sequence number of 8 octets, or of 4 octets (then below 2^32).
    fn seq_field() -> impl Strategy<Value = (u64, bool)> {
        prop_oneof![
            any::<u64>().prop_map(|v| (v, true)),
            any::<u32>().prop_map(|v| (u64::from(v), false)),
        ]
    }

    /// A valid DSS mapping.
    pub(crate) fn dss_mapping() -> impl Strategy<Value = DssMapping> {
        (
            seq_field(),
            any::<u32>(),
            any::<u16>(),
            any::<Option<u16>>(),
        )
            .prop_map(
                |((dsn, dsn_64), subflow_seq, data_len, checksum)| DssMapping {
                    dsn,
                    dsn_64,
                    subflow_seq,
                    data_len,
                    checksum,
                },
            )
    }

    /// A valid DSS: any combination of DATA_ACK, mapping and DATA_FIN.
    pub(crate) fn dss() -> impl Strategy<Value = Dss> {
        (
            proptest::option::of(seq_field()),
            proptest::option::of(dss_mapping()),
            any::<bool>(),
        )
            .prop_map(|(data_ack, mapping, data_fin)| Dss {
                data_ack,
                mapping,
                data_fin,
            })
    }

    /// Any ADD_ADDR (echo or not, with or without port).
    pub(crate) fn add_addr() -> impl Strategy<Value = AddAddr> {
        (
            any::<u8>(),
            ip_addr(),
            any::<Option<u16>>(),
            any::<Option<u64>>(),
        )
            .prop_map(|(addr_id, addr, port, hmac)| AddAddr {
                addr_id,
                addr,
                port,
                hmac,
            })
    }

    /// A REMOVE_ADDR list of 1 to 37 IDs.
    pub(crate) fn remove_addr_ids() -> impl Strategy<Value = ArrayVec<u8, 37>> {
        proptest::collection::vec(any::<u8>(), 1..=37).prop_map(|v| v.into_iter().collect())
    }

    /// Any valid MPTCP option: `emit` succeeds and `parse` gives it back.
    pub(crate) fn mptcp_option() -> impl Strategy<Value = MptcpOption> {
        prop_oneof![
            mp_capable().prop_map(MptcpOption::MpCapable),
            mp_join().prop_map(MptcpOption::MpJoin),
            dss().prop_map(MptcpOption::Dss),
            add_addr().prop_map(MptcpOption::AddAddr),
            remove_addr_ids().prop_map(MptcpOption::RemoveAddr),
            any::<bool>().prop_map(|backup| MptcpOption::MpPrio { backup }),
            any::<u64>().prop_map(|dsn| MptcpOption::MpFail { dsn }),
            any::<u64>().prop_map(|receiver_key| MptcpOption::MpFastclose { receiver_key }),
            (0u8..16, any::<u8>())
                .prop_map(|(flags, reason)| MptcpOption::MpTcpRst { flags, reason }),
        ]
    }

    /// Any repr, including inconsistent ones `emit` must refuse.
    pub(crate) fn any_mptcp_option_repr() -> impl Strategy<Value = MptcpOption> {
        let capable = (
            any::<u8>(),
            any::<u8>(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
        )
            .prop_map(
                |(version, flags, sender_key, receiver_key, data_len, checksum)| MpCapable {
                    version,
                    flags,
                    sender_key,
                    receiver_key,
                    data_len,
                    checksum,
                },
            );
        let mapping = (
            any::<u64>(),
            any::<bool>(),
            any::<u32>(),
            any::<u16>(),
            any::<Option<u16>>(),
        )
            .prop_map(
                |(dsn, dsn_64, subflow_seq, data_len, checksum)| DssMapping {
                    dsn,
                    dsn_64,
                    subflow_seq,
                    data_len,
                    checksum,
                },
            );
        let dss = (
            any::<Option<(u64, bool)>>(),
            proptest::option::of(mapping),
            any::<bool>(),
        )
            .prop_map(|(data_ack, mapping, data_fin)| Dss {
                data_ack,
                mapping,
                data_fin,
            });
        prop_oneof![
            capable.prop_map(MptcpOption::MpCapable),
            dss.prop_map(MptcpOption::Dss),
            proptest::collection::vec(any::<u8>(), 0..=37)
                .prop_map(|v| MptcpOption::RemoveAddr(v.into_iter().collect())),
            (any::<u8>(), any::<u8>())
                .prop_map(|(flags, reason)| MptcpOption::MpTcpRst { flags, reason }),
            mptcp_option(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::strategies;
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const KEY_A: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
    const KEY_B: [u8; 8] = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn ids(list: &[u8]) -> ArrayVec<u8, 37> {
        list.iter().copied().collect()
    }

    fn v6() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
    }

    /// Hand-assembled options from the RFC 8684 figures, byte for byte, with
    /// the repr each one stands for. Lengths are Linux's `TCPOLEN_MPTCP_*`.
    fn vectors() -> Vec<(&'static str, Vec<u8>, MptcpOption)> {
        let capable = |flags, sk, rk, dl, cs| {
            MptcpOption::MpCapable(MpCapable {
                version: 1,
                flags,
                sender_key: sk,
                receiver_key: rk,
                data_len: dl,
                checksum: cs,
            })
        };
        let ka = u64::from_be_bytes(KEY_A);
        let kb = u64::from_be_bytes(KEY_B);
        let v6o = v6().octets();
        vec![
            // RFC 8684 figure 4: kind, length, subtype|version, A..H flags.
            (
                "MPC SYN",
                vec![30, 4, 0x01, 0x81],
                capable(0x81, None, None, None, None),
            ),
            (
                "MPC SYN/ACK",
                cat(&[&[30, 12, 0x01, 0x01], &KEY_B]),
                capable(0x01, Some(kb), None, None, None),
            ),
            (
                "MPC ACK",
                cat(&[&[30, 20, 0x01, 0x01], &KEY_A, &KEY_B]),
                capable(0x01, Some(ka), Some(kb), None, None),
            ),
            (
                "MPC ACK+data",
                cat(&[&[30, 22, 0x01, 0x01], &KEY_A, &KEY_B, &[0x05, 0xdc]]),
                capable(0x01, Some(ka), Some(kb), Some(1500), None),
            ),
            (
                "MPC ACK+data+csum",
                cat(&[
                    &[30, 24, 0x01, 0x81],
                    &KEY_A,
                    &KEY_B,
                    &[0x05, 0xdc, 0xbe, 0xef],
                ]),
                capable(0x81, Some(ka), Some(kb), Some(1500), Some(0xbeef)),
            ),
            // Figure 5: subtype|B, address ID, token, nonce.
            (
                "MPJ SYN",
                vec![
                    30, 12, 0x11, 3, 0xde, 0xad, 0xbe, 0xef, 0xa1, 0xa2, 0xa3, 0xa4,
                ],
                MptcpOption::MpJoin(MpJoin::Syn {
                    backup: true,
                    addr_id: 3,
                    token: 0xdead_beef,
                    nonce: 0xa1a2_a3a4,
                }),
            ),
            // Figure 6: subtype|B, address ID, truncated HMAC, nonce.
            (
                "MPJ SYN/ACK",
                cat(&[&[30, 16, 0x10, 0], &KEY_B, &[0xb1, 0xb2, 0xb3, 0xb4]]),
                MptcpOption::MpJoin(MpJoin::SynAck {
                    backup: false,
                    addr_id: 0,
                    hmac: kb,
                    nonce: 0xb1b2_b3b4,
                }),
            ),
            // Figure 7: subtype, 12 reserved bits, 160-bit HMAC.
            (
                "MPJ ACK",
                cat(&[&[30, 24, 0x10, 0], &[0x5a; 20]]),
                MptcpOption::MpJoin(MpJoin::Ack { hmac: [0x5a; 20] }),
            ),
            // Figure 9: subtype, flags (F m M a A), DATA_ACK, DSN, subflow
            // sequence number, data-level length, checksum.
            (
                "DSS empty",
                vec![30, 4, 0x20, 0x00],
                MptcpOption::Dss(Dss::default()),
            ),
            (
                "DSS DATA_FIN only",
                vec![30, 4, 0x20, 0x10],
                MptcpOption::Dss(Dss {
                    data_fin: true,
                    ..Dss::default()
                }),
            ),
            (
                "DSS ack32",
                vec![30, 8, 0x20, 0x01, 0x01, 0x02, 0x03, 0x04],
                MptcpOption::Dss(Dss {
                    data_ack: Some((0x0102_0304, false)),
                    ..Dss::default()
                }),
            ),
            (
                "DSS ack64",
                cat(&[&[30, 12, 0x20, 0x03], &KEY_A]),
                MptcpOption::Dss(Dss {
                    data_ack: Some((ka, true)),
                    ..Dss::default()
                }),
            ),
            (
                "DSS map32",
                vec![30, 14, 0x20, 0x04, 0, 0, 0, 9, 0, 0, 0, 1, 0, 100],
                MptcpOption::Dss(Dss {
                    mapping: Some(DssMapping {
                        dsn: 9,
                        dsn_64: false,
                        subflow_seq: 1,
                        data_len: 100,
                        checksum: None,
                    }),
                    ..Dss::default()
                }),
            ),
            (
                // What Linux sends with checksums on: 64-bit ack and DSN.
                "DSS ack64 map64 csum",
                cat(&[
                    &[30, 28, 0x20, 0x0f],
                    &KEY_A,
                    &KEY_B,
                    &[0, 0, 0x10, 0, 0x05, 0xa0, 0x12, 0x34],
                ]),
                MptcpOption::Dss(Dss {
                    data_ack: Some((ka, true)),
                    mapping: Some(DssMapping {
                        dsn: kb,
                        dsn_64: true,
                        subflow_seq: 0x1000,
                        data_len: 1440,
                        checksum: Some(0x1234),
                    }),
                    data_fin: false,
                }),
            ),
            (
                // Linux's DATA_FIN without data: mapping subflow seq 0, len 1.
                "DSS DATA_FIN ack32 map64",
                cat(&[
                    &[30, 22, 0x20, 0x1d, 0, 0, 0, 7],
                    &KEY_B,
                    &[0, 0, 0, 0, 0, 1],
                ]),
                MptcpOption::Dss(Dss {
                    data_ack: Some((7, false)),
                    mapping: Some(DssMapping {
                        dsn: kb,
                        dsn_64: true,
                        subflow_seq: 0,
                        data_len: 1,
                        checksum: None,
                    }),
                    data_fin: true,
                }),
            ),
            // Figure 15: subtype|E, address ID, address, [port], [HMAC].
            (
                "ADD_ADDR v4 hmac",
                cat(&[&[30, 16, 0x30, 1, 10, 0, 0, 2], &KEY_A]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 1,
                    addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                    port: None,
                    hmac: Some(ka),
                }),
            ),
            (
                "ADD_ADDR v4 port hmac",
                cat(&[&[30, 18, 0x30, 1, 10, 0, 0, 2, 0x1f, 0x90], &KEY_A]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 1,
                    addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                    port: Some(8080),
                    hmac: Some(ka),
                }),
            ),
            (
                "ADD_ADDR v4 echo",
                vec![30, 8, 0x31, 1, 10, 0, 0, 2],
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 1,
                    addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                    port: None,
                    hmac: None,
                }),
            ),
            (
                "ADD_ADDR v4 echo port",
                vec![30, 10, 0x31, 1, 10, 0, 0, 2, 0x1f, 0x90],
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 1,
                    addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                    port: Some(8080),
                    hmac: None,
                }),
            ),
            (
                "ADD_ADDR v6 echo",
                cat(&[&[30, 20, 0x31, 7], &v6o]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 7,
                    addr: v6().into(),
                    port: None,
                    hmac: None,
                }),
            ),
            (
                "ADD_ADDR v6 echo port",
                cat(&[&[30, 22, 0x31, 7], &v6o, &[0x01, 0xbb]]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 7,
                    addr: v6().into(),
                    port: Some(443),
                    hmac: None,
                }),
            ),
            (
                "ADD_ADDR v6 hmac",
                cat(&[&[30, 28, 0x30, 7], &v6o, &KEY_B]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 7,
                    addr: v6().into(),
                    port: None,
                    hmac: Some(kb),
                }),
            ),
            (
                "ADD_ADDR v6 port hmac",
                cat(&[&[30, 30, 0x30, 7], &v6o, &[0x01, 0xbb], &KEY_B]),
                MptcpOption::AddAddr(AddAddr {
                    addr_id: 7,
                    addr: v6().into(),
                    port: Some(443),
                    hmac: Some(kb),
                }),
            ),
            // Figure 16: subtype, address IDs.
            (
                "REMOVE_ADDR one",
                vec![30, 4, 0x40, 5],
                MptcpOption::RemoveAddr(ids(&[5])),
            ),
            (
                "REMOVE_ADDR three",
                vec![30, 6, 0x40, 1, 2, 3],
                MptcpOption::RemoveAddr(ids(&[1, 2, 3])),
            ),
            // Figure 11: subtype|B.
            (
                "MP_PRIO backup",
                vec![30, 3, 0x51],
                MptcpOption::MpPrio { backup: true },
            ),
            (
                "MP_PRIO regular",
                vec![30, 3, 0x50],
                MptcpOption::MpPrio { backup: false },
            ),
            // Figure 17: subtype, reserved, 64-bit DSN.
            (
                "MP_FAIL",
                cat(&[&[30, 12, 0x60, 0], &KEY_A]),
                MptcpOption::MpFail { dsn: ka },
            ),
            // Figure 12: subtype, reserved, receiver's key.
            (
                "MP_FASTCLOSE",
                cat(&[&[30, 12, 0x70, 0], &KEY_B]),
                MptcpOption::MpFastclose { receiver_key: kb },
            ),
            // Figure 13: subtype|U V W T, reason.
            (
                "MP_TCPRST",
                vec![30, 4, 0x81, 0x06],
                MptcpOption::MpTcpRst {
                    flags: 0x1,
                    reason: rst_reason::MIDDLEBOX,
                },
            ),
        ]
    }

    #[test]
    fn vectors_parse_and_emit_byte_exact() {
        for (name, bytes, repr) in vectors() {
            assert_eq!(MptcpOption::parse(&bytes), Ok(repr.clone()), "{name}");
            assert_eq!(repr.buffer_len(), bytes.len(), "{name}");
            let mut buf = [0xffu8; 40];
            assert_eq!(repr.emit(&mut buf), Ok(bytes.len()), "{name}");
            assert_eq!(&buf[..bytes.len()], &bytes[..], "{name}");
        }
    }

    /// Linux writes the first four octets of every option as one word,
    /// `(30 << 24) | (len << 16) | (subtype << 12) | (nibble << 8) | field`
    /// (`mptcp_option()` in net/mptcp/options.c); ours must agree.
    #[test]
    fn first_word_matches_linux_layout() {
        let word = |st: u32, len: u32, nib: u32, field: u32| {
            ((30 << 24) | (len << 16) | (st << 12) | ((nib & 0xf) << 8) | field).to_be_bytes()
        };
        let check = |repr: MptcpOption, expect: [u8; 4]| {
            let mut buf = [0u8; 40];
            repr.emit(&mut buf).expect("valid repr");
            assert_eq!(buf[..4], expect, "{repr:?}");
        };
        // MP_CAPABLE: version in the nibble, flags in the field.
        check(
            MptcpOption::MpCapable(MpCapable {
                version: 1,
                flags: MpCapable::FLAG_HMAC_SHA256 | MpCapable::FLAG_CHECKSUM,
                sender_key: None,
                receiver_key: None,
                data_len: None,
                checksum: None,
            }),
            word(0, 4, 1, 0x81),
        );
        // MP_JOIN SYN: backup in the nibble, address ID in the field.
        check(
            MptcpOption::MpJoin(MpJoin::Syn {
                backup: true,
                addr_id: 9,
                token: 0,
                nonce: 0,
            }),
            word(1, 12, 1, 9),
        );
        // DSS: flags in the field.
        check(
            MptcpOption::Dss(Dss {
                data_ack: Some((1, true)),
                mapping: Some(DssMapping {
                    dsn: 1,
                    dsn_64: true,
                    subflow_seq: 1,
                    data_len: 1,
                    checksum: None,
                }),
                data_fin: true,
            }),
            word(2, 26, 0, 0x1f),
        );
        // MP_TCPRST: flags in the nibble, reason in the field.
        check(
            MptcpOption::MpTcpRst {
                flags: 1,
                reason: 4,
            },
            word(8, 4, 1, 4),
        );
    }

    #[test]
    fn every_prefix_is_truncated() {
        for (name, bytes, _) in vectors() {
            for n in 0..bytes.len() {
                assert!(
                    matches!(MptcpOption::parse(&bytes[..n]), Err(Error::Truncated(_))),
                    "{name} prefix {n}"
                );
            }
        }
    }

    #[test]
    fn length_byte_must_match_the_slice() {
        let mut long = vec![30, 4, 0x01, 0x81, 0];
        assert!(matches!(
            MptcpOption::parse(&long),
            Err(Error::Malformed(_))
        ));
        long[0] = 2;
        long.truncate(4);
        assert!(matches!(
            MptcpOption::parse(&long),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            MptcpOption::parse(&[30, 2]),
            Err(Error::Malformed(_))
        ));
    }

    /// An option of `len` octets: kind, length, `byte2`, then `byte3` and a
    /// filler pattern.
    fn option_of(len: usize, byte2: u8, byte3: u8) -> Vec<u8> {
        let mut v: Vec<u8> = (0..len).map(|i| i as u8).collect();
        v[0] = 30;
        v[1] = len as u8;
        v[2] = byte2;
        if len > 3 {
            v[3] = byte3;
        }
        v
    }

    /// Every length from 3 to 40 not in `valid` is `Malformed`; every length
    /// in it parses.
    fn assert_lengths(what: &str, byte2: u8, byte3: u8, valid: &[usize]) {
        for len in 3..=40 {
            let r = MptcpOption::parse(&option_of(len, byte2, byte3));
            if valid.contains(&len) {
                assert!(r.is_ok(), "{what} length {len}: {r:?}");
            } else {
                assert!(
                    matches!(r, Err(Error::Malformed(_))),
                    "{what} length {len}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_length_for_the_subtype_is_malformed() {
        assert_lengths("MP_CAPABLE", 0x01, 0x01, &[4, 12, 20, 22, 24]);
        assert_lengths("MP_JOIN", 0x10, 0, &[12, 16, 24]);
        assert_lengths("DSS none", 0x20, 0x00, &[4, 6]);
        assert_lengths("DSS A", 0x20, 0x01, &[8, 10]);
        assert_lengths("DSS A a", 0x20, 0x03, &[12, 14]);
        assert_lengths("DSS M", 0x20, 0x04, &[14, 16]);
        assert_lengths("DSS M m", 0x20, 0x0c, &[18, 20]);
        assert_lengths("DSS A a M m F", 0x20, 0x1f, &[26, 28]);
        assert_lengths("ADD_ADDR", 0x30, 0, &[16, 18, 28, 30]);
        assert_lengths("ADD_ADDR echo", 0x31, 0, &[8, 10, 20, 22]);
        assert_lengths("REMOVE_ADDR", 0x40, 0, &(4..=40).collect::<Vec<_>>());
        assert_lengths("MP_PRIO", 0x50, 0, &[3]);
        assert_lengths("MP_FAIL", 0x60, 0, &[12]);
        assert_lengths("MP_FASTCLOSE", 0x70, 0, &[12]);
        assert_lengths("MP_TCPRST", 0x80, 0, &[4]);
    }

    /// Exhaustive over subtype, both extremes of the low nibble, every
    /// flags octet and every length: parse never panics, and every option
    /// that parses emits back canonically.
    #[test]
    fn every_subtype_flags_and_length_is_handled() {
        for byte2 in (0u8..16).flat_map(|st| [st << 4, (st << 4) | 0x0f, (st << 4) | 0x01]) {
            for byte3 in 0..=255u8 {
                for len in 2..=40 {
                    let mut opt = option_of(len.max(3), byte2, byte3);
                    opt.truncate(len);
                    opt[1] = len as u8;
                    if let Ok(repr) = MptcpOption::parse(&opt) {
                        let mut buf = [0u8; 40];
                        let n = repr.emit(&mut buf).expect("parsed repr emits");
                        assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
                    }
                }
            }
        }
    }

    #[test]
    fn remove_addr_longer_than_option_space_is_malformed() {
        let opt = option_of(41, 0x40, 0);
        assert!(matches!(MptcpOption::parse(&opt), Err(Error::Malformed(_))));
    }

    /// RFC 8684 section 3.4.1: an echo carries no HMAC, a non-echo does.
    #[test]
    fn add_addr_echo_flag_must_match_hmac_presence() {
        // A 16-octet (HMAC) ADD_ADDR with E set, and an 8-octet one without.
        let mut with_hmac = cat(&[&[30, 16, 0x31, 1, 10, 0, 0, 2], &KEY_A]);
        assert!(matches!(
            MptcpOption::parse(&with_hmac),
            Err(Error::Malformed(_))
        ));
        with_hmac[2] = 0x30;
        assert!(MptcpOption::parse(&with_hmac).is_ok());
        let no_hmac = [30, 8, 0x30, 1, 10, 0, 0, 2];
        assert!(matches!(
            MptcpOption::parse(&no_hmac),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn unknown_subtypes_are_unsupported() {
        for st in 9u8..=15 {
            let opt = option_of(8, st << 4, 0);
            assert!(
                matches!(MptcpOption::parse(&opt), Err(Error::Unsupported(_))),
                "subtype {st}"
            );
        }
    }

    /// Like Linux: a SYN may announce a later version (we answer with 1),
    /// every other MP_CAPABLE must be version 1; version 0 is RFC 6824.
    #[test]
    fn mp_capable_version_rules() {
        let syn = |v: u8| MptcpOption::parse(&[30, 4, v, 0x01]);
        assert!(matches!(syn(0x00), Err(Error::Unsupported(_))));
        assert!(matches!(
            syn(0x02),
            Ok(MptcpOption::MpCapable(MpCapable { version: 2, .. }))
        ));
        let synack = |v: u8| MptcpOption::parse(&cat(&[&[30, 12, v, 0x01], &KEY_B]));
        assert!(synack(0x01).is_ok());
        assert!(matches!(synack(0x00), Err(Error::Unsupported(_))));
        assert!(matches!(synack(0x02), Err(Error::Unsupported(_))));
    }

    /// Size flags of absent fields are ignored, as Linux does; a DSS without
    /// mapping followed by two stray octets is accepted as Linux does.
    #[test]
    fn dss_flag_combinations_follow_linux() {
        // `a` without `A`, `m` without `M`: plain empty DSS.
        assert_eq!(
            MptcpOption::parse(&[30, 4, 0x20, 0x0a]),
            Ok(MptcpOption::Dss(Dss::default()))
        );
        // DATA_ACK plus two trailing octets (Linux: expected + checksum size).
        assert_eq!(
            MptcpOption::parse(&[30, 10, 0x20, 0x01, 0, 0, 0, 5, 0xaa, 0xbb]),
            Ok(MptcpOption::Dss(Dss {
                data_ack: Some((5, false)),
                ..Dss::default()
            }))
        );
    }

    #[test]
    fn reserved_bits_are_ignored_and_emitted_as_zero() {
        let cases: [(Vec<u8>, Vec<u8>); 6] = [
            // MP_JOIN SYN: bits 1..3 of the nibble are reserved.
            (
                vec![30, 12, 0x1f, 3, 0, 0, 0, 1, 0, 0, 0, 2],
                vec![30, 12, 0x11, 3, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
            // MP_JOIN ACK: 12 reserved bits.
            (
                cat(&[&[30, 24, 0x1f, 0xff], &[7; 20]]),
                cat(&[&[30, 24, 0x10, 0], &[7; 20]]),
            ),
            // DSS: reserved nibble and the top three flag bits.
            (vec![30, 4, 0x2f, 0xe0], vec![30, 4, 0x20, 0x00]),
            // ADD_ADDR: three reserved bits beside E.
            (
                vec![30, 8, 0x3f, 1, 1, 2, 3, 4],
                vec![30, 8, 0x31, 1, 1, 2, 3, 4],
            ),
            // MP_PRIO: three reserved bits beside B.
            (vec![30, 3, 0x5e], vec![30, 3, 0x50]),
            // MP_FASTCLOSE: reserved nibble and octet.
            (
                cat(&[&[30, 12, 0x7f, 0xff], &KEY_A]),
                cat(&[&[30, 12, 0x70, 0], &KEY_A]),
            ),
        ];
        for (input, canonical) in cases {
            let repr = MptcpOption::parse(&input).expect("valid option");
            let mut buf = [0u8; 40];
            let n = repr.emit(&mut buf).expect("emittable");
            assert_eq!(&buf[..n], &canonical[..]);
        }
    }

    #[test]
    fn inconsistent_reprs_are_not_emitted() {
        let base = MpCapable {
            version: 1,
            flags: MpCapable::FLAG_HMAC_SHA256,
            sender_key: None,
            receiver_key: None,
            data_len: None,
            checksum: None,
        };
        let bad_capable = [
            MpCapable {
                receiver_key: Some(1),
                ..base
            },
            MpCapable {
                sender_key: Some(1),
                data_len: Some(1),
                ..base
            },
            MpCapable {
                sender_key: Some(1),
                receiver_key: Some(2),
                checksum: Some(1),
                ..base
            },
            MpCapable {
                checksum: Some(1),
                ..base
            },
            MpCapable { version: 0, ..base },
            MpCapable {
                version: 16,
                ..base
            },
            MpCapable {
                version: 2,
                sender_key: Some(1),
                ..base
            },
        ];
        let map32 = DssMapping {
            dsn: 1 << 32,
            dsn_64: false,
            subflow_seq: 1,
            data_len: 1,
            checksum: None,
        };
        let mut bad: Vec<MptcpOption> = bad_capable
            .into_iter()
            .map(MptcpOption::MpCapable)
            .collect();
        bad.extend([
            MptcpOption::Dss(Dss {
                data_ack: Some((1 << 32, false)),
                ..Dss::default()
            }),
            MptcpOption::Dss(Dss {
                mapping: Some(map32),
                ..Dss::default()
            }),
            MptcpOption::RemoveAddr(ArrayVec::new()),
            MptcpOption::MpTcpRst {
                flags: 0x10,
                reason: 0,
            },
        ]);
        for repr in bad {
            let mut buf = [0u8; 40];
            assert!(
                matches!(repr.emit(&mut buf), Err(Error::Emit(_))),
                "{repr:?}"
            );
        }
    }

    #[test]
    fn emit_into_short_buffer_fails() {
        let repr = MptcpOption::MpFail { dsn: 1 };
        let mut buf = [0u8; 11];
        assert!(matches!(repr.emit(&mut buf), Err(Error::Emit(_))));
    }

    proptest! {
        #[test]
        fn valid_reprs_round_trip(repr in strategies::mptcp_option()) {
            let mut buf = [0u8; 40];
            let n = repr.emit(&mut buf).expect("valid repr emits");
            prop_assert_eq!(n, repr.buffer_len());
            prop_assert_eq!(usize::from(buf[1]), n);
            prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
        }

        /// Whatever `emit` accepts, `parse` gives back; the rest is refused
        /// with `Error::Emit`.
        #[test]
        fn emitted_means_round_trips(repr in strategies::any_mptcp_option_repr()) {
            let mut buf = [0u8; 40];
            match repr.emit(&mut buf) {
                Ok(n) => prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr)),
                Err(e) => prop_assert!(matches!(e, Error::Emit(_))),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = MptcpOption::parse(&bytes);
        }

        /// Well-framed random options: parse never panics, and whatever
        /// parses emits canonically and parses back to the same repr.
        #[test]
        fn framed_random_options_reparse(
            byte2 in any::<u8>(),
            rest in proptest::collection::vec(any::<u8>(), 0..38),
        ) {
            let mut opt = vec![30, (rest.len() + 3) as u8, byte2];
            opt.extend_from_slice(&rest);
            if let Ok(repr) = MptcpOption::parse(&opt) {
                let mut buf = [0u8; 40];
                let n = repr.emit(&mut buf).expect("parsed repr emits");
                prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
            }
        }
    }
}
