//! The one-field control options: MP_PRIO (RFC 8684 section 3.3.8), MP_FAIL
//! (3.7), MP_FASTCLOSE (3.5) and MP_TCPRST (3.6). Their reprs are variants of
//! [`MptcpOption`] itself; parsing checks the one length each may have.

use super::{BACKUP, MptcpOption, be64, len};
use crate::wire::{Error, Result};

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

/// MP_PRIO, RFC 8684 section 3.3.8 (figure 12).
pub(super) fn parse_mp_prio(b: &[u8]) -> Result<MptcpOption> {
    // RFC 8684 has no address ID in MP_PRIO any more; Linux accepts
    // exactly length 3.
    if b.len() != len::PRIO {
        return Err(Error::Malformed("MP_PRIO length is not 3"));
    }
    Ok(MptcpOption::MpPrio {
        backup: b[2] & BACKUP != 0,
    })
}

/// MP_FAIL, RFC 8684 section 3.7 (figure 19).
pub(super) fn parse_mp_fail(b: &[u8]) -> Result<MptcpOption> {
    if b.len() != len::FAIL {
        return Err(Error::Malformed("MP_FAIL length is not 12"));
    }
    Ok(MptcpOption::MpFail { dsn: be64(b, 4) })
}

/// MP_FASTCLOSE, RFC 8684 section 3.5 (figure 17).
pub(super) fn parse_mp_fastclose(b: &[u8]) -> Result<MptcpOption> {
    if b.len() != len::FASTCLOSE {
        return Err(Error::Malformed("MP_FASTCLOSE length is not 12"));
    }
    Ok(MptcpOption::MpFastclose {
        receiver_key: be64(b, 4),
    })
}

/// MP_TCPRST, RFC 8684 section 3.6 (figure 18).
pub(super) fn parse_mp_tcprst(b: &[u8]) -> Result<MptcpOption> {
    if b.len() != len::TCPRST {
        return Err(Error::Malformed("MP_TCPRST length is not 4"));
    }
    Ok(MptcpOption::MpTcpRst {
        flags: b[2] & 0x0f,
        reason: b[3],
    })
}
