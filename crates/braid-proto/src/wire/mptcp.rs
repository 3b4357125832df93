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
    // RFC 8684 section 3.4.1: the HMAC is carried exactly when E is clear
    // ("an ADD_ADDR option containing an echoed address ... does not carry
    // the HMAC"); Linux picks the valid lengths from E the same way.
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
