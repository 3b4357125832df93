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

use super::Result;
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

impl MptcpOption {
    /// Parse one whole MPTCP option: `option[0]` is the kind (30) and
    /// `option[1]` the length, which must equal `option.len()`.
    pub fn parse(option: &[u8]) -> Result<MptcpOption> {
        let _ = option;
        todo!("wire::mptcp")
    }

    /// Length of this option on the wire (kind and length bytes included).
    pub fn buffer_len(&self) -> usize {
        todo!("wire::mptcp")
    }

    /// Emit into the front of `buf` (at least `buffer_len()` bytes); returns
    /// the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let _ = buf;
        todo!("wire::mptcp")
    }
}
