//! Paths: joins in both roles (RFC 8684 section 3.2), address signalling
//! (ADD_ADDR section 3.4.1, REMOVE_ADDR 3.4.2), MP_PRIO (3.3.8) and the
//! glue to the [`crate::pm::PathManager`], whose limits are enforced here.

use super::subflow::Role;
use super::{Announcement, Connection, Event, JoinError, Mode, MptcpEvent, SubflowId};
use crate::crypto;
use crate::pm::{PmAction, PmContext, PmEvent};
use crate::sched::SchedulerKind;
use crate::tcp::{State, TcpSocket};
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;
use crate::wire::mptcp::{AddAddr, MpJoin, MptcpOption};
use core::net::{IpAddr, SocketAddr};
use rand::Rng;

/// A subflow the path manager asked for, held back until `at` because
/// the same path failed recently.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingOpen {
    local: SocketAddr,
    remote: SocketAddr,
    backup: bool,
    at: Instant,
}

/// Recent failures of the subflows between a local IP and a remote
/// address: the next attempt waits `not_before`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retry {
    local: IpAddr,
    remote: SocketAddr,
    failures: u32,
    not_before: Instant,
}

/// The first re-creation of a failed subflow waits this long; each
/// further failure doubles it, up to `ConnConfig::dead_path_probe` (or
/// `MAX_RECREATE_BACKOFF` without one).
const RECREATE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_RECREATE_BACKOFF: Duration = Duration::from_secs(30);

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
        if !self.config.allow_join_initial_addr_port
            && self
                .subflows
                .first()
                .is_some_and(|s| s.tcp.local() == local)
        {
            self.mib.mp_join_denied += 1;
            return Err(JoinError::Denied);
        }
        if self.extra_subflows >= self.config.pm.limits.subflows {
            self.evict_stale_join(now, remote, addr_id);
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
        let ours = self.mode_backup(local, remote) || self.backup_endpoint(local.ip());
        let s = &mut self.subflows[i];
        s.init_join_responder(rng.next_u32(), nonce, addr_id, backup, (local_id, ours));
        Ok(s.id())
    }

    /// At the subflow limit, a join from the same address (IP and address
    /// ID) as an existing join subflow that heard nothing for a round trip
    /// replaces it: the peer moved away and back, and the RST it sent for
    /// the old subflow was lost on the dead path (a phone's WiFi). The old
    /// one is reset, freeing its slot; with no such subflow the join is
    /// refused as before.
    fn evict_stale_join(&mut self, now: Instant, remote: SocketAddr, addr_id: u8) {
        let stale = self.subflows.iter().position(|s| {
            let quiet = s.tcp.stats().srtt.unwrap_or(Duration::from_millis(200));
            s.is_join()
                && !s.is_closed()
                && s.tcp.remote().ip() == remote.ip()
                && s.remote_addr_id() == addr_id
                && s.quiet_for(now, quiet)
        });
        if let Some(j) = stale {
            self.mib.mp_join_stale_replaced += 1;
            self.reset_subflow(j, crate::wire::mptcp::rst_reason::UNSPECIFIED);
            self.on_subflow_closed(now, j, crate::tcp::CloseReason::Reset);
        }
    }

    /// The address ID of a local address (RFC 8684 section 3.2: an MP_JOIN
    /// names "the ID of the address" it is sent from, the ID a peer's
    /// REMOVE_ADDR will name): the initial subflow's address is 0, an
    /// address we announced keeps the ID of its ADD_ADDR (as Linux's
    /// endpoints do), any other gets the lowest ID used by neither, for
    /// good.
    fn local_addr_id(&mut self, local: SocketAddr) -> u8 {
        let ip = local.ip();
        if let Some(id) = self.known_local_id(ip) {
            return id;
        }
        let taken = |id: u8| {
            self.local_ids.iter().any(|l| l.1 == id) || self.announced.iter().any(|a| a.id == id)
        };
        let id = (1..=u8::MAX).find(|id| !taken(*id)).unwrap_or(u8::MAX);
        self.local_ids.push((ip, id));
        id
    }

    /// The address ID `ip` has (see [`Connection::local_addr_id`]), if any
    /// yet.
    fn known_local_id(&self, ip: IpAddr) -> Option<u8> {
        let first = self.local_ids.first().filter(|l| l.0 == ip);
        let announced = self.announced.iter().find(|a| a.addr.ip() == ip);
        first
            .map(|l| l.1)
            .or(announced.map(|a| a.id))
            .or_else(|| self.local_ids.iter().find(|l| l.0 == ip).map(|l| l.1))
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
        if self.peer_no_join_initial
            && self
                .subflows
                .first()
                .is_some_and(|s| s.tcp.remote() == remote)
        {
            self.mib.mp_join_denied += 1;
            return Err(JoinError::Denied);
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

    /// Withdraw address IDs with REMOVE_ADDR (RFC 8684 section 3.4.2),
    /// and, as Linux does when an endpoint is deleted, reset our subflows
    /// on those addresses (ID 0: the initial subflow's) while another
    /// subflow is left to carry the data.
    pub fn remove_addr(&mut self, ids: &[u8]) {
        let mut v = arrayvec::ArrayVec::new();
        for id in ids.iter().take(crate::wire::mptcp::LINUX_RM_IDS_MAX) {
            v.push(*id);
        }
        let gone: Vec<IpAddr> = self
            .subflows
            .iter()
            .map(|s| s.tcp.local().ip())
            .filter(|ip| self.known_local_id(*ip).is_some_and(|id| ids.contains(&id)))
            .collect();
        let victims: Vec<usize> = (0..self.subflows.len())
            .filter(|&i| {
                !self.subflows[i].is_closed() && gone.contains(&self.subflows[i].tcp.local().ip())
            })
            .collect();
        let survivor = self
            .subflows
            .iter()
            .enumerate()
            .any(|(i, s)| s.usable() && !victims.contains(&i));
        self.announced.retain(|a| !ids.contains(&a.id));
        // Carried by a subflow that stays, if there is one.
        let carrier = (0..self.subflows.len())
            .filter(|&i| self.subflows[i].is_established() && !self.subflows[i].is_closed())
            .min_by_key(|i| victims.contains(i));
        if let Some(i) = carrier {
            self.subflows[i].queue_remove(v);
        }
        if survivor {
            for i in victims {
                self.reset_subflow(i, crate::wire::mptcp::rst_reason::UNSPECIFIED);
            }
        }
    }

    /// Withdraw every address we announced (Linux's `ip mptcp endpoint
    /// flush`): REMOVE_ADDR of their IDs, and our subflows on them reset.
    pub fn flush_addrs(&mut self) {
        let ids: Vec<u8> = self.announced.iter().map(|a| a.id).collect();
        if !ids.is_empty() {
            self.remove_addr(&ids);
        }
    }

    /// The connection's [`Mode`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Change the connection's [`Mode`]. Into or out of
    /// [`Mode::Interactive`] the scheduler changes (back to the
    /// configured one). Into [`Mode::Handover`] every subflow off the
    /// primary path becomes backup, out of it regular again unless the
    /// path manager's configuration makes its address a backup one; the
    /// peer hears of each change by MP_PRIO (RFC 8684 section 3.3.8).
    pub fn set_mode(&mut self, mode: Mode) {
        let old = core::mem::replace(&mut self.mode, mode);
        if old == mode {
            return;
        }
        if mode == Mode::Interactive {
            self.sched = SchedulerKind::Interactive.build();
        } else if old == Mode::Interactive {
            self.sched = self.config.scheduler.build();
        }
        if mode != Mode::Handover && old != Mode::Handover {
            return;
        }
        for i in 0..self.subflows.len() {
            let s = &self.subflows[i];
            if s.is_closed() || !s.is_established() {
                continue;
            }
            let (local, remote) = (s.tcp.local(), s.tcp.remote());
            let want = self.mode_backup(local, remote) || self.backup_endpoint(local.ip());
            if s.local_backup() != want {
                self.subflows[i].set_backup(want);
            }
        }
    }

    /// Whether a subflow between `local` and `remote` is on the primary
    /// path: the initial subflow's local address for the side that opened
    /// the connection, its remote address for the side that accepted it.
    fn on_primary_path(&self, local: IpAddr, remote: IpAddr) -> bool {
        let Some(first) = self.subflows.first() else {
            return true;
        };
        if self.client {
            local == first.tcp.local().ip()
        } else {
            remote == first.tcp.remote().ip()
        }
    }

    /// Whether the path manager's configuration makes `ip` a backup
    /// address (`PmConfig::backup_addrs`, an endpoint flagged `backup`):
    /// a join accepted on it answers with flag B, as Linux's server does
    /// for a backup endpoint.
    fn backup_endpoint(&self, ip: IpAddr) -> bool {
        let pm = &self.config.pm;
        pm.backup_addrs.contains(&ip) || pm.endpoints.iter().any(|e| e.addr == ip && e.flags.backup)
    }

    /// Whether the connection's mode makes a subflow between `local` and
    /// `remote` backup (handover mode, off the primary path).
    fn mode_backup(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.mode == Mode::Handover && !self.on_primary_path(local.ip(), remote.ip())
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
                    let backup = backup || self.mode_backup(local, remote);
                    let wait = self
                        .retries
                        .iter()
                        .find(|r| r.local == local.ip() && r.remote == remote)
                        .map(|r| r.not_before)
                        .filter(|t| *t > now);
                    match wait {
                        Some(at) => {
                            let queued = self
                                .pending_opens
                                .iter()
                                .any(|p| p.local.ip() == local.ip() && p.remote == remote);
                            if !queued {
                                self.pending_opens.push(PendingOpen {
                                    local,
                                    remote,
                                    backup,
                                    at,
                                });
                            }
                        }
                        None => {
                            if let Err(e) = self.open_subflow(now, local, remote, backup) {
                                tracing::debug!(%e, "path manager: subflow not opened");
                            }
                        }
                    }
                }
                PmAction::Announce { id, addr } => self.announce(now, id, addr),
            }
        }
    }

    /// Tell the path manager and carry out what it decides.
    pub(super) fn pm_event(&mut self, now: Instant, event: PmEvent) {
        if self.closed.is_some() || self.fallback {
            return;
        }
        let pairs = self.pairs();
        let ctx = PmContext {
            client: self.client,
            initial: (self.subflows[0].tcp.local(), self.subflows[0].tcp.remote()),
            subflows: &pairs,
        };
        let actions = self.pm.on_event(&ctx, &event);
        self.run_pm(now, actions);
    }

    /// A subflow between `local` and `remote` failed: later attempts on
    /// that path wait, longer after each failure (bounded).
    pub(super) fn note_failure(&mut self, now: Instant, local: IpAddr, remote: SocketAddr) {
        let cap = self.config.dead_path_probe.unwrap_or(MAX_RECREATE_BACKOFF);
        let i = match self
            .retries
            .iter()
            .position(|r| r.local == local && r.remote == remote)
        {
            Some(i) => i,
            None => {
                self.retries.push(Retry {
                    local,
                    remote,
                    failures: 0,
                    not_before: now,
                });
                self.retries.len() - 1
            }
        };
        let r = &mut self.retries[i];
        let backoff = RECREATE_BACKOFF
            .saturating_mul(1 << r.failures.min(8))
            .min(cap.max(RECREATE_BACKOFF));
        r.failures = r.failures.saturating_add(1);
        r.not_before = now + backoff;
    }

    /// A subflow on this path worked: the next failure starts the backoff
    /// over.
    pub(super) fn note_success(&mut self, local: IpAddr, remote: SocketAddr) {
        self.retries
            .retain(|r| !(r.local == local && r.remote == remote));
    }

    /// Open the held-back subflows whose time came (unless one already
    /// runs on that path).
    pub(super) fn open_due(&mut self, now: Instant) {
        if self.pending_opens.iter().all(|p| p.at > now) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.pending_opens.iter().partition(|p| p.at <= now);
        self.pending_opens = later;
        for p in due {
            let exists = self.subflows.iter().any(|s| {
                !s.is_closed() && s.tcp.local().ip() == p.local.ip() && s.tcp.remote() == p.remote
            });
            if !exists {
                self.mib.subflows_recreated += 1;
                if let Err(e) = self.open_subflow(now, p.local, p.remote, p.backup) {
                    tracing::debug!(%e, "path manager: subflow not re-created");
                }
            }
        }
    }

    /// The earliest held-back subflow.
    pub(super) fn pending_open_deadline(&self) -> Option<Instant> {
        self.pending_opens.iter().map(|p| p.at).min()
    }

    /// A local address can be used again (an interface came up; or one
    /// was added): subflows on it waiting in retransmission timeouts
    /// retransmit now, failures on it are forgotten, and the path manager
    /// opens what it wants from it (Full mesh: a subflow to every remote
    /// address, at once).
    pub fn local_addr_up(&mut self, now: Instant, ip: IpAddr) {
        if self.closed.is_some() || self.fallback {
            return;
        }
        for s in &mut self.subflows {
            if !s.is_closed() && s.tcp.local().ip() == ip {
                s.tcp.probe_now(now);
            }
        }
        self.retries.retain(|r| r.local != ip);
        self.pending_opens.retain(|p| p.local.ip() != ip);
        self.pm_event(now, PmEvent::LocalAddrUp(ip));
    }

    /// A local address is gone (an interface went down, the address was
    /// removed): its subflows are reset (their data goes again on the
    /// others), the peer is told with REMOVE_ADDR of its address ID (RFC
    /// 8684 section 3.4.2) when another subflow can carry it, and the path
    /// manager stops using it until [`Connection::local_addr_up`].
    pub fn local_addr_down(&mut self, now: Instant, ip: IpAddr) {
        if self.closed.is_some() || self.fallback {
            return;
        }
        self.pm_event(now, PmEvent::LocalAddrDown(ip));
        self.pending_opens.retain(|p| p.local.ip() != ip);
        let victims: Vec<usize> = (0..self.subflows.len())
            .filter(|&i| !self.subflows[i].is_closed() && self.subflows[i].tcp.local().ip() == ip)
            .collect();
        let others = self
            .subflows
            .iter()
            .any(|s| s.usable() && !s.is_closed() && s.tcp.local().ip() != ip);
        if victims.is_empty() || !others {
            // With no other subflow, keep them: the address may return,
            // and TCP's own timers decide.
            return;
        }
        if let Some(id) = self.known_local_id(ip)
            && let Some(s) = self
                .subflows
                .iter_mut()
                .find(|s| s.usable() && s.tcp.local().ip() != ip)
        {
            let mut ids = arrayvec::ArrayVec::new();
            ids.push(id);
            s.queue_remove(ids);
            self.mib.rm_addr_tx += 1;
        }
        for i in victims {
            self.reset_subflow(i, crate::wire::mptcp::rst_reason::UNSPECIFIED);
        }
        self.after_input(now);
    }
}
