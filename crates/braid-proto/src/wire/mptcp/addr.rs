//! Address signalling: ADD_ADDR (RFC 8684 section 3.4.1) and REMOVE_ADDR
//! (section 3.4.2).

use super::{MptcpOption, Writer, be16, be64, len};
use crate::wire::{Error, Result};
use arrayvec::ArrayVec;
use core::net::IpAddr;

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

/// Flag `E` of ADD_ADDR (low bit of byte 2).
const ADD_ADDR_ECHO: u8 = 0x01;

impl AddAddr {
    /// Whether this is an echo (flag E set, no HMAC).
    pub fn is_echo(&self) -> bool {
        self.hmac.is_none()
    }

    /// ADD_ADDR, RFC 8684 section 3.4.1 (figure 15): subtype and `E`, address
    /// ID, address, optional port, then the HMAC unless `E` is set. The address
    /// family and the port's presence follow from the length, as in Linux.
    pub(super) fn parse(b: &[u8]) -> Result<MptcpOption> {
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

    /// Length on the wire: address family, port and HMAC as present.
    pub(super) fn wire_len(&self) -> usize {
        let addr = match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        };
        4 + addr + if self.port.is_some() { 2 } else { 0 } + if self.hmac.is_some() { 8 } else { 0 }
    }

    /// Everything after kind and length; `st` is the subtype, shifted.
    pub(super) fn emit_body(&self, st: u8, w: &mut Writer<'_>) {
        let echo = if self.is_echo() { ADD_ADDR_ECHO } else { 0 };
        w.put(&[st | echo, self.addr_id]);
        match self.addr {
            IpAddr::V4(v4) => w.put(&v4.octets()),
            IpAddr::V6(v6) => w.put(&v6.octets()),
        }
        if let Some(port) = self.port {
            w.put(&port.to_be_bytes());
        }
        if let Some(hmac) = self.hmac {
            w.put(&hmac.to_be_bytes());
        }
    }
}

/// REMOVE_ADDR, RFC 8684 section 3.4.2 (figure 16): one or more address IDs.
pub(super) fn parse_remove_addr(b: &[u8]) -> Result<MptcpOption> {
    if b.len() < len::RM_ADDR_BASE + 1 {
        return Err(Error::Malformed("REMOVE_ADDR without address ID"));
    }
    let mut ids = ArrayVec::new();
    ids.try_extend_from_slice(&b[3..])
        .map_err(|_| Error::Malformed("REMOVE_ADDR longer than option space"))?;
    Ok(MptcpOption::RemoveAddr(ids))
}
