//! Paths: joins in both roles (RFC 8684 section 3.2), address signalling
//! (ADD_ADDR section 3.4.1, REMOVE_ADDR 3.4.2), MP_PRIO (3.3.8) and the
//! glue to the [`crate::pm::PathManager`], whose limits are enforced here.

use super::subflow::Role;
use super::{Announcement, Connection, Event, JoinError, MptcpEvent, SubflowId};
use crate::crypto;
use crate::pm::{PmAction, PmContext};
use crate::tcp::{State, TcpSocket};
use crate::time::Instant;
use crate::wire::TcpRepr;
use crate::wire::mptcp::{AddAddr, MpJoin, MptcpOption};
use core::net::SocketAddr;
use rand::Rng;

impl Connection {
    /// The endpoint found our token in an MP_JOIN SYN (RFC 8684 section
    /// 3.2): check it and answer with a SYN/ACK carrying our truncated
    /// HMAC. The third ACK's HMAC is checked in `handle_segment`.
    pub fn accept_join<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr<'_>,
        rng: &mut R,
    ) -> Result<SubflowId, JoinError> {
        let Some((backup, addr_id, token, nonce)) =
            syn.options.mptcp.iter().find_map(|o| match o {
                MptcpOption::MpJoin(MpJoin::Syn {
                    backup,
                    addr_id,
                    token,
                    nonce,
                }) => Some((*backup, *addr_id, *token, *nonce)),
                _ => None,
            })
        else {
            return Err(JoinError::NotJoin);
        };
        if token != self.local_token {
            return Err(JoinError::UnknownToken);
        }
        if !self.mptcp_ready() {
            return Err(JoinError::NotReady);
        }
        if self.extra_subflows >= self.config.pm.limits.subflows {
            self.mib.mp_join_syn_limit += 1;
            return Err(JoinError::LimitReached);
        }
        let iss = self.isn.isn(now, local, remote);
        let tcp = TcpSocket::accept(now, self.config.tcp.clone(), local, remote, syn, iss)
            .map_err(|_| JoinError::NotJoin)?;
        self.extra_subflows += 1;
        self.mib.mp_join_syn_rx += 1;
        let i = self.add_subflow(tcp, Role::JoinResponder);
        let local_id = self.local_addr_id(local);
        let s = &mut self.subflows[i];
        s.init_join_responder(rng.next_u32(), nonce, addr_id, backup, local_id);
        Ok(s.id())
    }

    fn local_addr_id(&mut self, local: SocketAddr) -> u8 {
        let ip = local.ip();
        let i = match self.local_ids.iter().position(|a| *a == ip) {
            Some(i) => i,
            None => {
                self.local_ids.push(ip);
                self.local_ids.len() - 1
            }
        };
        u8::try_from(i).unwrap_or(u8::MAX)
    }

    /// Open a subflow with MP_JOIN (RFC 8684 section 3.2) from `local` to
    /// `remote`; a local port of 0 picks an ephemeral one.
    pub fn open_subflow(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> Result<SubflowId, JoinError> {
        if !self.mptcp_ready() || !self.connected {
            return Err(JoinError::NotReady);
        }
        if self.extra_subflows >= self.config.pm.limits.subflows {
            return Err(JoinError::LimitReached);
        }
        let mut local = local;
        if local.port() == 0 {
            let p = 49152 + (self.next_nonce() % 16384) as u16;
            local.set_port(p);
        }
        let iss = self.isn.isn(now, local, remote);
        let tcp = TcpSocket::connect(now, self.config.tcp.clone(), local, remote, iss);
        self.extra_subflows += 1;
        let nonce = self.next_nonce();
        let local_id = self.local_addr_id(local);
        let remote_id = self
            .remote_addrs
            .iter()
            .find(|(_, a)| a.ip() == remote.ip())
            .map_or(0, |(id, _)| *id);
        let i = self.add_subflow(tcp, Role::JoinInitiator);
        let s = &mut self.subflows[i];
        s.init_join_initiator(nonce, local_id, remote_id, backup);
        Ok(s.id())
    }

    /// Announce a local address with ADD_ADDR (RFC 8684 section 3.4.1);
    /// retransmitted until echoed.
    pub fn announce(&mut self, now: Instant, id: u8, addr: SocketAddr) {
        if self.announced.iter().any(|a| a.id == id) {
            return;
        }
        self.announced.push(Announcement {
            id,
            addr,
            next: now,
            tries: 0,
            echoed: false,
        });
    }

    /// Withdraw address IDs with REMOVE_ADDR (RFC 8684 section 3.4.2).
    pub fn remove_addr(&mut self, ids: &[u8]) {
        let mut v = arrayvec::ArrayVec::new();
        for id in ids.iter().take(crate::wire::mptcp::LINUX_RM_IDS_MAX) {
            v.push(*id);
        }
        self.announced.retain(|a| !ids.contains(&a.id));
        if let Some(s) = self
            .subflows
            .iter_mut()
            .find(|s| s.is_established() && !s.is_closed())
        {
            s.queue_remove(v);
        }
    }

    /// Ask the peer to treat a subflow as backup or not (MP_PRIO, RFC 8684
    /// section 3.3.8); our scheduler treats it so as well.
    pub fn set_backup(&mut self, id: SubflowId, backup: bool) {
        if let Some(i) = self.index(id) {
            self.subflows[i].set_backup(backup);
        }
    }

    pub(super) fn on_add_addr(&mut self, now: Instant, i: usize, a: &AddAddr) {
        if a.is_echo() {
            self.mib.add_addr_echo_rx += 1;
            for ann in &mut self.announced {
                if ann.id == a.addr_id {
                    ann.echoed = true;
                }
            }
            return;
        }
        let Some(remote_key) = self.remote_key else {
            return;
        };
        // RFC 8684 section 3.4.1: the HMAC authenticates the announcement;
        // a forged one is ignored.
        let expected = crypto::add_addr_hmac(remote_key, self.local_key, a.addr_id, a.addr, a.port);
        if a.hmac != Some(expected) {
            self.mib.add_addr_hmac_failure += 1;
            return;
        }
        self.mib.add_addr_rx += 1;
        let echo = AddAddr { hmac: None, ..*a };
        self.subflows[i].queue_echo(echo);
        let port = a
            .port
            .unwrap_or_else(|| self.subflows[0].tcp.remote().port());
        let addr = SocketAddr::new(a.addr, port);
        if self.remote_addrs.iter().any(|(id, _)| *id == a.addr_id) {
            return;
        }
        if self.remote_addrs.len() >= self.config.pm.limits.add_addr_accepted {
            self.mib.add_addr_over_limit += 1;
            return;
        }
        self.remote_addrs.push((a.addr_id, addr));
        self.events
            .push_back(Event::Mptcp(MptcpEvent::AddrAnnounced {
                id: a.addr_id,
                addr,
            }));
        let pairs = self.pairs();
        let ctx = PmContext {
            client: self.client,
            initial: (self.subflows[0].tcp.local(), self.subflows[0].tcp.remote()),
            subflows: &pairs,
        };
        let actions = self.pm.on_addr_announced(&ctx, a.addr_id, addr);
        self.run_pm(now, actions);
    }

    /// Send or resend ADD_ADDRs that are due.
    pub(super) fn announce_due(&mut self, now: Instant) {
        if !self.mptcp_ready() || !self.connected {
            return;
        }
        let Some(remote_key) = self.remote_key else {
            return;
        };
        let Some(i) = self
            .subflows
            .iter()
            .position(|s| Self::usable(s) && s.tcp.state() == State::Established)
        else {
            return;
        };
        for a in &mut self.announced {
            if a.echoed || a.tries >= self.config.add_addr_max_tries || a.next > now {
                continue;
            }
            if a.tries > 0 {
                self.mib.add_addr_retransmits += 1;
            }
            a.tries += 1;
            a.next = now + self.config.add_addr_timeout;
            let port =
                (a.addr.port() != self.subflows[i].tcp.local().port()).then_some(a.addr.port());
            let ip = a.addr.ip();
            let hmac = crypto::add_addr_hmac(self.local_key, remote_key, a.id, ip, port);
            self.subflows[i].queue_announce(AddAddr {
                addr_id: a.id,
                addr: ip,
                port,
                hmac: Some(hmac),
            });
            // One announcement per pure ACK; the next goes at the next
            // timeout check.
            break;
        }
    }

    pub(super) fn pairs(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.subflows
            .iter()
            .filter(|s| !s.is_closed())
            .map(|s| (s.tcp.local(), s.tcp.remote()))
            .collect()
    }

    pub(super) fn run_pm(&mut self, now: Instant, actions: Vec<PmAction>) {
        for a in actions {
            match a {
                PmAction::OpenSubflow {
                    local,
                    remote,
                    backup,
                } => {
                    if let Err(e) = self.open_subflow(now, local, remote, backup) {
                        tracing::debug!(%e, "path manager: subflow not opened");
                    }
                }
                PmAction::Announce { id, addr } => self.announce(now, id, addr),
            }
        }
    }
}
