//! The endpoint's MPTCP path-management API (RFC 8684 sections 3.2 to
//! 3.4, 3.3.8): per-connection subflows, addresses, backup flags and
//! scheduler, and the MPTCP events and figures that come out of it. The
//! endpoint routes each call to the connection's [`Connection`]; a plain TCP
//! connection (or one fallen back, for calls that need a live MPTCP
//! connection) answers [`PathError::NotMptcp`].

use super::slot::Slot;
use super::{ConnHandle, Endpoint, EndpointError, PathError};
use crate::conn::{Connection, Mode, MptcpEvent, SubflowId, SubflowInfo};
use crate::mib::Mib;
use crate::sched::SchedulerKind;
use crate::time::Instant;
use core::net::{IpAddr, SocketAddr};

impl Endpoint {
    /// The next MPTCP path event (subflows, announcements, fallback).
    pub fn poll_mptcp_event(&mut self) -> Option<(ConnHandle, MptcpEvent)> {
        self.mptcp_events.pop_front()
    }

    fn mptcp(&self, h: ConnHandle) -> Result<&Connection, PathError> {
        match self.table.get(h) {
            Some(Slot::Mptcp(c)) => Ok(c),
            Some(Slot::Tcp(_)) => Err(PathError::NotMptcp),
            None => Err(PathError::UnknownConnection),
        }
    }

    /// Run `f` on the MPTCP connection `h` (not fallen back when `live`),
    /// then queue it for output.
    fn with_mptcp<T>(
        &mut self,
        h: ConnHandle,
        live: bool,
        f: impl FnOnce(&mut Connection) -> Result<T, PathError>,
    ) -> Result<T, PathError> {
        let r = match self.table.get_mut(h) {
            Some(Slot::Mptcp(c)) if live && c.is_fallback() => Err(PathError::NotMptcp),
            Some(Slot::Mptcp(c)) => f(c),
            Some(Slot::Tcp(_)) => Err(PathError::NotMptcp),
            None => Err(PathError::UnknownConnection),
        };
        self.touch(h);
        r
    }

    /// Whether `h` speaks MPTCP (false for plain TCP and after fallback).
    pub fn is_mptcp(&self, h: ConnHandle) -> Result<bool, EndpointError> {
        match self.slot(h)? {
            Slot::Mptcp(c) => Ok(!c.is_fallback()),
            Slot::Tcp(_) => Ok(false),
        }
    }

    /// Every subflow of `h` with its addresses and the data-level bytes
    /// it carried (a plain TCP connection has none).
    pub fn subflows(&self, h: ConnHandle) -> Result<Vec<SubflowInfo>, PathError> {
        Ok(self.mptcp(h)?.subflows())
    }

    /// Whether `h` checksums its data (DSS checksums, RFC 8684 section
    /// 3.3.1): negotiated at the handshake, on when either side asked for
    /// it ([`crate::conn::ConnConfig::checksum`]). Read-only.
    pub fn mptcp_checksum(&self, h: ConnHandle) -> Result<bool, PathError> {
        Ok(self.mptcp(h)?.checksum_enabled())
    }

    /// The MPTCP counters of `h` (Linux-style MIB).
    pub fn mptcp_mib(&self, h: ConnHandle) -> Result<Mib, PathError> {
        Ok(*self.mptcp(h)?.mib())
    }

    /// Use `ip` for extra subflows: for connections opened from now on
    /// (the full-mesh path manager opens one subflow from every such
    /// address to the server's address and to each address it announces),
    /// and right away for established client connections.
    pub fn add_local_addr(&mut self, now: Instant, ip: IpAddr) {
        if !self.config.conn.pm.local_addrs.contains(&ip) {
            self.config.conn.pm.local_addrs.push(ip);
        }
        let handles: Vec<ConnHandle> = self
            .table
            .handles()
            .into_iter()
            .filter(|h| matches!(self.table.get(*h), Some(Slot::Mptcp(c)) if c.is_client()))
            .collect();
        for h in handles {
            let _ = self.with_mptcp(h, true, |c| {
                c.add_local_addr(now, ip);
                Ok(())
            });
        }
    }

    /// A local address can be used again (an interface came up): every
    /// MPTCP connection retransmits at once on its subflows from `ip`
    /// that wait in retransmission timeouts, and its path manager opens
    /// what it wants from `ip` (full mesh, client side: a subflow to every
    /// remote address). See `Connection::local_addr_up`.
    pub fn local_addr_up(&mut self, now: Instant, ip: IpAddr) {
        self.each_mptcp(|c| c.local_addr_up(now, ip));
    }

    /// A local address is gone (an interface went down): every MPTCP
    /// connection with another working subflow resets its subflows from
    /// `ip`, tells the peer with REMOVE_ADDR, and stops using `ip` until
    /// [`Endpoint::local_addr_up`]. See `Connection::local_addr_down`.
    pub fn local_addr_down(&mut self, now: Instant, ip: IpAddr) {
        self.each_mptcp(|c| c.local_addr_down(now, ip));
    }

    fn each_mptcp(&mut self, mut f: impl FnMut(&mut Connection)) {
        let handles: Vec<ConnHandle> = self
            .table
            .handles()
            .into_iter()
            .filter(|h| matches!(self.table.get(*h), Some(Slot::Mptcp(_))))
            .collect();
        for h in handles {
            let _ = self.with_mptcp(h, true, |c| {
                f(c);
                Ok(())
            });
        }
    }

    /// Open a subflow of `h` with MP_JOIN (RFC 8684 section 3.2) from
    /// `local` (port 0: any) to `remote`.
    pub fn open_subflow(
        &mut self,
        h: ConnHandle,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> Result<SubflowId, PathError> {
        self.with_mptcp(h, true, |c| Ok(c.open_subflow(now, local, remote, backup)?))
    }

    /// Reset one subflow of `h` (MP_TCPRST); the others carry on.
    pub fn close_subflow(&mut self, h: ConnHandle, id: SubflowId) -> Result<(), PathError> {
        self.with_mptcp(h, true, |c| {
            c.close_subflow(id);
            Ok(())
        })
    }

    /// Announce `addr` under address ID `id` on `h` (ADD_ADDR, RFC 8684
    /// section 3.4.1; resent until echoed). To announce on every new
    /// connection, use `EndpointConfig::conn.pm.announce`.
    pub fn announce_addr(
        &mut self,
        h: ConnHandle,
        now: Instant,
        id: u8,
        addr: SocketAddr,
    ) -> Result<(), PathError> {
        self.with_mptcp(h, true, |c| {
            c.announce(now, id, addr);
            Ok(())
        })
    }

    /// Withdraw address IDs on `h` (REMOVE_ADDR, RFC 8684 section 3.4.2).
    pub fn remove_addr(&mut self, h: ConnHandle, ids: &[u8]) -> Result<(), PathError> {
        self.with_mptcp(h, true, |c| {
            c.remove_addr(ids);
            Ok(())
        })
    }

    /// Mark a subflow of `h` backup or not (MP_PRIO, RFC 8684 section
    /// 3.3.8).
    pub fn set_backup(
        &mut self,
        h: ConnHandle,
        id: SubflowId,
        backup: bool,
    ) -> Result<(), PathError> {
        self.with_mptcp(h, true, |c| {
            c.set_backup(id, backup);
            Ok(())
        })
    }

    /// Change the mode of `h` (see `Connection::set_mode`).
    pub fn set_mode(&mut self, h: ConnHandle, mode: Mode) -> Result<(), PathError> {
        self.with_mptcp(h, false, |c| {
            c.set_mode(mode);
            Ok(())
        })
    }

    /// Withdraw every address `h` announced (REMOVE_ADDR; Linux's `ip
    /// mptcp endpoint flush`), resetting its subflows on them.
    pub fn flush_addrs(&mut self, h: ConnHandle) -> Result<(), PathError> {
        self.with_mptcp(h, true, |c| {
            c.flush_addrs();
            Ok(())
        })
    }

    /// Replace the scheduler of `h`.
    pub fn set_scheduler(&mut self, h: ConnHandle, kind: SchedulerKind) -> Result<(), PathError> {
        self.with_mptcp(h, false, |c| {
            c.set_scheduler(kind.build());
            Ok(())
        })
    }
}
