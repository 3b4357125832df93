//! MP_CAPABLE, RFC 8684 section 3.1 (figure 4): the keys exchanged on the
//! initial subflow's handshake and the first data packet.

use super::{MptcpOption, VERSION, Writer, be16, be64, len};
use crate::wire::{Error, Result};

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

impl MpCapable {
    /// MP_CAPABLE, RFC 8684 section 3.1 (figure 4). The variant follows from the
    /// length alone: 4 SYN, 12 SYN/ACK, 20 third ACK, 22 first data, 24 first
    /// data with checksum. Linux additionally uses the SYN/ACK flags of the
    /// segment to pick the expected length; the connection layer does that check
    /// here. Flags (`H` required, `B` unknown) are left to the connection layer,
    /// which must ignore the option as Linux does when `H` is clear or `B` set.
    pub(super) fn parse(b: &[u8]) -> Result<MptcpOption> {
        let len = b.len();
        if !matches!(
            len,
            len::MPC_SYN
                | len::MPC_SYNACK
                | len::MPC_ACK
                | len::MPC_ACK_DATA
                | len::MPC_ACK_DATA_CSUM
        ) {
            return Err(Error::Malformed(
                "MP_CAPABLE length not 4, 12, 20, 22 or 24",
            ));
        }
        let version = b[2] & 0x0f;
        // Like Linux: be gentle with future versions on the SYN (the responder
        // answers with the version it speaks), demand version 1 afterwards.
        if (len == len::MPC_SYN && version < VERSION) || (len != len::MPC_SYN && version != VERSION)
        {
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

    /// Length on the wire: the variant follows from the fields present.
    pub(super) fn wire_len(&self) -> usize {
        if self.checksum.is_some() {
            len::MPC_ACK_DATA_CSUM
        } else if self.data_len.is_some() {
            len::MPC_ACK_DATA
        } else if self.receiver_key.is_some() {
            len::MPC_ACK
        } else if self.sender_key.is_some() {
            len::MPC_SYNACK
        } else {
            len::MPC_SYN
        }
    }

    /// Whether this repr has exactly one encoding that parses back to it.
    pub(super) fn check_emit(&self) -> Result<()> {
        if self.receiver_key.is_some() && self.sender_key.is_none() {
            return Err(Error::Emit("MP_CAPABLE receiver key without sender key"));
        }
        if self.data_len.is_some() && self.receiver_key.is_none() {
            return Err(Error::Emit("MP_CAPABLE data-level length without keys"));
        }
        if self.checksum.is_some() && self.data_len.is_none() {
            return Err(Error::Emit("MP_CAPABLE checksum without data-level length"));
        }
        let syn = self.sender_key.is_none();
        if self.version > 0x0f
            || (syn && self.version < VERSION)
            || (!syn && self.version != VERSION)
        {
            return Err(Error::Emit("MP_CAPABLE version not encodable or not 1"));
        }
        Ok(())
    }

    /// Everything after kind and length; `st` is the subtype, shifted.
    pub(super) fn emit_body(&self, st: u8, w: &mut Writer<'_>) {
        w.put(&[st | self.version, self.flags]);
        for key in [self.sender_key, self.receiver_key].into_iter().flatten() {
            w.put(&key.to_be_bytes());
        }
        for v in [self.data_len, self.checksum].into_iter().flatten() {
            w.put(&v.to_be_bytes());
        }
    }
}
