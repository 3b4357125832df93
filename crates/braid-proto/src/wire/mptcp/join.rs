//! MP_JOIN, RFC 8684 section 3.2 (figures 5, 6, 7): the three steps of
//! adding a subflow to a connection.

use super::{BACKUP, MptcpOption, Writer, be32, be64, len};
use crate::wire::{Error, Result};

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

impl MpJoin {
    /// MP_JOIN, RFC 8684 section 3.2 (figures 5, 6, 7).
    pub(super) fn parse(b: &[u8]) -> Result<MptcpOption> {
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

    /// Length on the wire.
    pub(super) fn wire_len(&self) -> usize {
        match self {
            MpJoin::Syn { .. } => len::MPJ_SYN,
            MpJoin::SynAck { .. } => len::MPJ_SYNACK,
            MpJoin::Ack { .. } => len::MPJ_ACK,
        }
    }

    /// Everything after kind and length; `st` is the subtype, shifted.
    pub(super) fn emit_body(&self, st: u8, w: &mut Writer<'_>) {
        match self {
            MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                w.put(&[st | u8::from(*backup), *addr_id]);
                w.put(&token.to_be_bytes());
                w.put(&nonce.to_be_bytes());
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce,
            } => {
                w.put(&[st | u8::from(*backup), *addr_id]);
                w.put(&hmac.to_be_bytes());
                w.put(&nonce.to_be_bytes());
            }
            MpJoin::Ack { hmac } => {
                w.put(&[st, 0]);
                w.put(hmac);
            }
        }
    }
}
