//! DSS, RFC 8684 section 3.3 (figure 9): DATA_ACK, the mapping of subflow
//! bytes to data sequence numbers, and DATA_FIN.

use super::{MptcpOption, Writer, be16, be32, be64, len};
use crate::wire::{Error, Result};

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
    pub(super) fn parse(b: &[u8]) -> Result<MptcpOption> {
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

    /// Length on the wire: what the flags announce, plus the checksum.
    pub(super) fn wire_len(&self) -> usize {
        let ack = match self.data_ack {
            Some((_, true)) => len::DSS_ACK64,
            Some((_, false)) => len::DSS_ACK32,
            None => 0,
        };
        let map = match self.mapping {
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

    /// Whether this repr has exactly one encoding that parses back to it.
    pub(super) fn check_emit(&self) -> Result<()> {
        let fits = |v: u64| v <= u64::from(u32::MAX);
        if matches!(self.data_ack, Some((ack, false)) if !fits(ack)) {
            return Err(Error::Emit("32-bit DATA_ACK above 2^32 (use Dsn::low32)"));
        }
        if matches!(self.mapping, Some(m) if !m.dsn_64 && !fits(m.dsn)) {
            return Err(Error::Emit("32-bit DSN above 2^32 (use Dsn::low32)"));
        }
        Ok(())
    }

    /// Everything after kind and length; `st` is the subtype, shifted.
    pub(super) fn emit_body(&self, st: u8, w: &mut Writer<'_>) {
        w.put(&[st, self.flags()]);
        match self.data_ack {
            // check_emit guarantees a 32-bit DATA_ACK fits.
            Some((ack, false)) => w.put(&(ack as u32).to_be_bytes()),
            Some((ack, true)) => w.put(&ack.to_be_bytes()),
            None => {}
        }
        if let Some(m) = self.mapping {
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
}
