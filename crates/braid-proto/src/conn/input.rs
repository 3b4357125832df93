//! Incoming segments: MPTCP handshakes (RFC 8684 sections 3.1, 3.2), DSS
//! (3.3: DATA_ACK, mappings, DATA_FIN), address signalling (3.4), MP_PRIO,
//! MP_FASTCLOSE, MP_TCPRST, MP_FAIL (3.5 to 3.7), and moving received
//! bytes from subflows into data-level reassembly.

use super::mapping::{self, MappingAction, MappingStatus, RxMap};
use super::subflow::{Role, RxHooks};
use super::{CloseReason, Connection, Event, SubflowId};
use crate::crypto;
use crate::pm::PmContext;
use crate::time::Instant;
use crate::wire::mptcp::{AddAddr, MpCapable, MpJoin, MptcpOption, VERSION, rst_reason};
use crate::wire::{Dsn, SeqNum, TcpFlags, TcpRepr};
use core::net::SocketAddr;

/// Mappings held per subflow at most.
const MAX_RX_MAPS: usize = 1024;

impl Connection {
    /// Process a segment the endpoint demultiplexed to subflow `id`.
    pub fn handle_segment(&mut self, now: Instant, id: SubflowId, seg: &TcpRepr<'_>) {
        let Some(i) = self.index(id) else {
            return;
        };
        let mut hooks = RxHooks::default();
        self.subflows[i]
            .tcp
            .handle_segment_with(now, seg, &mut hooks);
        self.process_options(now, i, seg, hooks.accepted);
        self.pump_rx(i);
        self.after_input(now);
    }

    /// Bookkeeping after any input: subflow events, stalls, closing.
    pub(super) fn after_input(&mut self, now: Instant) {
        self.process_subflow_events(now);
        self.check_close();
    }

    fn process_options(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>, accepted: bool) {
        if seg.flags.contains(TcpFlags::RST) {
            for o in &seg.options.mptcp {
                match o {
                    MptcpOption::MpTcpRst { reason, .. } => {
                        self.mib.mp_rst_rx += 1;
                        self.subflows[i].mp.rst_received = Some(*reason);
                    }
                    MptcpOption::MpFastclose { receiver_key } => self.on_fastclose(*receiver_key),
                    _ => {}
                }
            }
            return;
        }
        if !accepted || self.subflows[i].mp.role == Role::Plain {
            return;
        }
        if !self.subflows[i].mp.established && !self.handshake(now, i, seg) {
            return;
        }
        for o in &seg.options.mptcp {
            self.established_option(now, i, seg, o);
        }
    }

    /// Handshake options; returns whether the subflow is now established
    /// and the segment's other options should be processed.
    fn handshake(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>) -> bool {
        let synack = seg.flags.contains(TcpFlags::SYN) && seg.ack_number.is_some();
        let synchronized = self.subflows[i].tcp.state().is_synchronized();
        match self.subflows[i].mp.role {
            Role::CapableClient if synack => {
                let mpc = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpCapable(m) => Some(*m),
                    _ => None,
                });
                match mpc {
                    Some(MpCapable {
                        version: VERSION,
                        flags,
                        sender_key: Some(key),
                        ..
                    }) if flags & MpCapable::FLAG_HMAC_SHA256 != 0
                        && flags & MpCapable::FLAG_EXTENSIBILITY == 0 =>
                    {
                        self.checksum |= flags & MpCapable::FLAG_CHECKSUM != 0;
                        self.set_remote_key(key);
                        self.subflows[i].mp.established = true;
                        let wnd = self.subflows[i].tcp.stats().snd_wnd;
                        self.peer_window_right = self.send.una() + wnd as u64;
                    }
                    Some(_) => {
                        self.mib.mp_capable_bad_version += 1;
                        self.mib.mp_capable_active_fallback += 1;
                        self.enter_fallback(i);
                    }
                    None => {
                        // RFC 8684 section 3.7: MP_CAPABLE missing from the
                        // SYN/ACK (peer without MPTCP, or stripped): plain
                        // TCP.
                        self.mib.mp_capable_active_fallback += 1;
                        self.enter_fallback(i);
                    }
                }
                false
            }
            Role::CapableServer if synchronized => {
                let mpc = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpCapable(m) => Some(*m),
                    _ => None,
                });
                match mpc {
                    Some(MpCapable {
                        sender_key: Some(key),
                        receiver_key: Some(ours),
                        ..
                    }) if ours == self.local_key => {
                        self.set_remote_key(key);
                        self.subflows[i].mp.established = true;
                        let wnd = self.subflows[i].tcp.stats().snd_wnd;
                        self.peer_window_right = self.send.una() + wnd as u64;
                        true
                    }
                    Some(_) => {
                        self.mib.mp_capable_bad_key += 1;
                        self.mib.mp_capable_passive_fallback += 1;
                        self.enter_fallback(i);
                        false
                    }
                    None => {
                        // The third ACK lost its MP_CAPABLE: fall back (as
                        // Linux MPCapableFallbackACK).
                        self.mib.mp_capable_passive_fallback += 1;
                        self.enter_fallback(i);
                        false
                    }
                }
            }
            Role::JoinInitiator if synack => {
                let Some(remote_key) = self.remote_key else {
                    return false;
                };
                let join = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::SynAck {
                        backup,
                        addr_id,
                        hmac,
                        nonce,
                    }) => Some((*backup, *addr_id, *hmac, *nonce)),
                    _ => None,
                });
                let rto = self.subflows_rto(i);
                let mp = &mut self.subflows[i].mp;
                match join {
                    // RFC 8684 section 3.2: "If the HMAC ... is not valid,
                    // the initiator MUST close the subflow with a RST".
                    Some((backup, addr_id, hmac, nonce))
                        if hmac
                            == crypto::join_synack_hmac(
                                remote_key,
                                self.local_key,
                                nonce,
                                mp.nonce_local,
                            ) =>
                    {
                        mp.nonce_remote = nonce;
                        mp.remote_addr_id = addr_id;
                        mp.peer_backup = backup;
                        mp.join_ack_rtx = Some(now + rto);
                        mp.join_ack_hmac = Some(crypto::join_ack_hmac(
                            self.local_key,
                            remote_key,
                            mp.nonce_local,
                            nonce,
                        ));
                    }
                    _ => {
                        self.mib.mp_join_synack_hmac_failure += 1;
                        self.reset_subflow(i, rst_reason::MPTCP_ERROR);
                    }
                }
                false
            }
            Role::JoinInitiator if synchronized && self.subflows[i].mp.join_ack_hmac.is_some() => {
                // RFC 8684 section 3.2: the initiator waits for the ACK of
                // its third ACK before sending data; any later segment
                // from the responder is that ACK.
                self.subflow_established(i);
                true
            }
            Role::JoinResponder if synchronized => {
                let hmac = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::Ack { hmac }) => Some(*hmac),
                    _ => None,
                });
                let mp = &self.subflows[i].mp;
                let expected = self.remote_key.map(|k| {
                    crypto::join_ack_hmac(k, self.local_key, mp.nonce_remote, mp.nonce_local)
                });
                // RFC 8684 section 3.2: "If the HMAC is invalid ... the
                // subflow MUST be closed with a RST".
                if hmac.is_some() && hmac == expected {
                    self.mib.mp_join_ack_rx += 1;
                    self.subflow_established(i);
                    // The fourth ACK tells the initiator it may send.
                    self.subflows[i].tcp.request_ack();
                    true
                } else {
                    self.mib.mp_join_ack_hmac_failure += 1;
                    self.reset_subflow(i, rst_reason::MPTCP_ERROR);
                    false
                }
            }
            _ => false,
        }
    }

    fn subflow_established(&mut self, i: usize) {
        let mp = &mut self.subflows[i].mp;
        mp.established = true;
        mp.fully_established = true;
        let id = mp.id;
        self.events.push_back(Event::SubflowEstablished { id });
    }

    fn set_remote_key(&mut self, key: u64) {
        if self.remote_key.is_none() {
            self.remote_key = Some(key);
            self.recv.reset(Dsn(crypto::idsn(key)) + 1);
        }
    }

    fn established_option(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>, o: &MptcpOption) {
        match o {
            MptcpOption::Dss(d) => {
                if self.subflows[i].mp.role == Role::CapableClient {
                    self.subflows[i].mp.fully_established = true;
                }
                if let Some((ack, ack64)) = d.data_ack {
                    let a = if ack64 {
                        Dsn(ack)
                    } else {
                        Dsn::expand(self.send.una(), ack as u32)
                    };
                    self.on_data_ack(i, a);
                }
                match d.mapping {
                    Some(m) => {
                        let dsn = if m.dsn_64 {
                            Dsn(m.dsn)
                        } else {
                            Dsn::expand(self.recv.rcv_nxt(), m.dsn as u32)
                        };
                        let fin = d.data_fin && m.data_len > 0;
                        let data_len = usize::from(m.data_len) - usize::from(fin);
                        let map = RxMap {
                            ssn: self.subflows[i].tcp.irs() + m.subflow_seq as usize,
                            dsn,
                            len: data_len,
                            checksum: m.checksum,
                            wire_len: m.data_len,
                            wire_ssn: m.subflow_seq,
                        };
                        let pure_fin = fin && m.subflow_seq == 0 && data_len == 0;
                        if pure_fin {
                            if self.checksum
                                && m.checksum
                                    .is_some_and(|c| !crypto::dss_checksum_ok(dsn.0, 0, 1, &[], c))
                            {
                                self.mib.dss_checksum_error += 1;
                            } else {
                                self.on_data_fin(i, dsn);
                            }
                        } else {
                            self.on_mapping(now, i, seg, map);
                            if fin {
                                self.on_data_fin(i, dsn + data_len as u64);
                            }
                        }
                    }
                    None if d.data_fin => self.mib.data_fin_without_mapping += 1,
                    None => {}
                }
            }
            MptcpOption::MpCapable(m) => {
                // The initiator repeats MP_CAPABLE on its first data packet
                // (RFC 8684 section 3.1): the mapping is implicit, DSN
                // IDSN+1 at relative subflow sequence number 1.
                if let (Role::CapableServer, Some(len), Some(key)) =
                    (self.subflows[i].mp.role, m.data_len, self.remote_key)
                {
                    let map = RxMap {
                        ssn: self.subflows[i].tcp.irs() + 1,
                        dsn: Dsn(crypto::idsn(key)) + 1,
                        len: usize::from(len),
                        checksum: m.checksum,
                        wire_len: len,
                        wire_ssn: 1,
                    };
                    self.on_mapping(now, i, seg, map);
                }
            }
            MptcpOption::AddAddr(a) => self.on_add_addr(now, i, a),
            MptcpOption::RemoveAddr(ids) => {
                self.mib.rm_addr_rx += 1;
                let victims: Vec<usize> = (0..self.subflows.len())
                    .filter(|&j| {
                        let mp = &self.subflows[j].mp;
                        j != 0 && !mp.closed && ids.contains(&mp.remote_addr_id)
                    })
                    .collect();
                self.remote_addrs.retain(|(id, _)| !ids.contains(id));
                for j in victims {
                    self.reset_subflow(j, rst_reason::UNSPECIFIED);
                }
            }
            MptcpOption::MpPrio { backup } => {
                self.mib.mp_prio_rx += 1;
                self.subflows[i].mp.peer_backup = *backup;
            }
            MptcpOption::MpFail { .. } => {
                self.mib.mp_fail_rx += 1;
                // With other subflows the peer resets this one; alone, we
                // cannot fall back cleanly (see the module docs): reset.
                if !self.others_usable(i) {
                    self.fastclose = self.remote_key.is_some();
                    for s in &mut self.subflows {
                        s.tcp.abort();
                    }
                    self.set_closed(CloseReason::ChecksumFailure);
                }
            }
            MptcpOption::MpFastclose { receiver_key } => self.on_fastclose(*receiver_key),
            MptcpOption::MpJoin(_) | MptcpOption::MpTcpRst { .. } => {
                self.mib.unexpected_option += 1;
            }
        }
    }

    fn on_fastclose(&mut self, key: u64) {
        // RFC 8684 section 3.5: the option carries the receiver's key, which
        // authenticates it.
        if key != self.local_key {
            self.mib.mp_fastclose_bad_key += 1;
            return;
        }
        self.mib.mp_fastclose_rx += 1;
        for s in &mut self.subflows {
            s.mp.closed = true;
            s.tcp.abort();
        }
        self.set_closed(CloseReason::Reset);
    }

    pub(super) fn on_data_ack(&mut self, i: usize, ack: Dsn) {
        match self.send.ack(ack) {
            None => self.mib.data_ack_invalid += 1,
            Some(n) => {
                if n > 0 && self.write_blocked {
                    self.write_blocked = false;
                    self.events.push_back(Event::Writable);
                }
                // RFC 8684 section 3.3.4: the window is relative to the
                // DATA_ACK; the right edge only moves right.
                let right = ack + self.subflows[i].tcp.stats().snd_wnd as u64;
                if right > self.peer_window_right {
                    self.peer_window_right = right;
                }
            }
        }
    }

    fn on_data_fin(&mut self, i: usize, fin: Dsn) {
        if self.recv.set_fin(fin) {
            self.events.push_back(Event::Readable);
        }
        // Acknowledge it promptly.
        self.subflows[i].tcp.request_ack();
    }

    fn on_mapping(&mut self, _now: Instant, i: usize, seg: &TcpRepr<'_>, map: RxMap) {
        let status = mapping::check(&self.subflows[i].mp.rx_maps, &map, self.checksum);
        match status {
            MappingStatus::Ok => {
                self.mib.dss_mappings_rx += 1;
                self.any_mapping_seen = true;
                let maps = &mut self.subflows[i].mp.rx_maps;
                if maps.len() >= MAX_RX_MAPS {
                    // Bounded state against a peer sending a mapping per
                    // byte: the oldest goes.
                    maps.pop_front();
                    self.mib.dss_mapping_overflow += 1;
                }
                maps.push_back(map);
            }
            MappingStatus::Duplicate => self.mib.dss_duplicate_mapping += 1,
            _ => {}
        }
        let fallback_at = (seg.seq_number, map.dsn);
        self.apply_status(i, status, map.dsn, fallback_at);
    }

    /// The one place a mapping verdict becomes an action.
    fn apply_status(&mut self, i: usize, status: MappingStatus, dsn: Dsn, at: (SeqNum, Dsn)) {
        let action = status.action(self.others_usable(i), self.any_mapping_seen);
        if action != MappingAction::Continue {
            tracing::debug!(?status, ?action, "mapping verdict");
        }
        match status {
            MappingStatus::Invalid => self.mib.dss_invalid_mapping += 1,
            MappingStatus::Unmapped => self.mib.dss_unmapped_data += 1,
            MappingStatus::BadChecksum => self.mib.dss_checksum_error += 1,
            MappingStatus::Infinite => self.mib.infinite_map_rx += 1,
            _ => {}
        }
        match action {
            MappingAction::Continue => {}
            MappingAction::Fallback => {
                self.enter_fallback(i);
                self.subflows[i].mp.rx_fallback = Some(at);
            }
            MappingAction::ResetSubflow => self.reset_subflow(i, rst_reason::MPTCP_ERROR),
            MappingAction::FailSubflow => {
                self.mib.mp_fail_tx += 1;
                self.subflows[i].mp.mp_fail = Some(dsn);
                self.reset_subflow(i, rst_reason::MIDDLEBOX);
            }
            MappingAction::ResetConnection => {
                self.mib.mp_fail_tx += 1;
                self.subflows[i].mp.mp_fail = Some(dsn);
                self.subflows[i].mp.rst_reason = Some(rst_reason::MIDDLEBOX);
                self.fastclose = self.remote_key.is_some();
                for s in &mut self.subflows {
                    s.tcp.abort();
                }
                self.set_closed(CloseReason::ChecksumFailure);
            }
        }
    }

    /// Reset one subflow with MP_TCPRST (RFC 8684 section 3.6).
    pub(super) fn reset_subflow(&mut self, i: usize, reason: u8) {
        let s = &mut self.subflows[i];
        if s.mp.closed {
            return;
        }
        s.mp.rst_reason = Some(reason);
        self.mib.mp_rst_tx += 1;
        s.tcp.abort();
    }

    /// Plain TCP from now on (RFC 8684 section 3.7).
    pub(super) fn enter_fallback(&mut self, i: usize) {
        if self.fallback {
            return;
        }
        self.fallback = true;
        let s = &mut self.subflows[i];
        s.mp.role = Role::Plain;
        s.mp.established = true;
        if s.mp.rx_fallback.is_none() {
            s.mp.rx_fallback = Some((s.tcp.read_seq(), self.recv.rcv_nxt()));
        }
        self.events.push_back(Event::Fallback);
    }

    /// Move in-order subflow bytes into data-level reassembly, through
    /// their mappings.
    pub(super) fn pump_rx(&mut self, i: usize) {
        let mut buf = Vec::new();
        loop {
            let s = &mut self.subflows[i];
            let avail = s.tcp.recv_queue();
            if avail == 0 || s.mp.closed {
                break;
            }
            let seq = s.tcp.read_seq();
            if let Some((base_seq, base_dsn)) = s.mp.rx_fallback {
                let dsn = base_dsn + (seq - base_seq) as u64;
                let n = avail.min(self.recv.room_at(dsn));
                if n == 0 {
                    break;
                }
                buf.resize(n, 0);
                let (got, _) = s.tcp.read_with_seq(&mut buf);
                self.deliver(i, dsn, got, &buf);
                continue;
            }
            s.mp.rx_maps.retain(|m| m.end() > seq);
            let Some(map) = s.mp.rx_maps.iter().find(|m| m.contains(seq)).copied() else {
                self.apply_status(
                    i,
                    MappingStatus::Unmapped,
                    self.recv.rcv_nxt(),
                    (seq, self.recv.rcv_nxt()),
                );
                if self.subflows[i].mp.rx_fallback.is_some() {
                    continue;
                }
                break;
            };
            let dsn = map.dsn_of(seq);
            if let Some(csum) = map.checksum.filter(|_| self.checksum) {
                // The whole mapping must be here to check it (RFC 8684
                // section 3.3.1: the checksum covers the mapped data).
                let need = map.end() - seq;
                if seq != map.ssn || avail < need || self.recv.room_at(dsn) < need {
                    if seq != map.ssn {
                        // Partly consumed (cannot happen with a fixed
                        // mapping): treat as invalid.
                        self.apply_status(i, MappingStatus::Invalid, map.dsn, (seq, dsn));
                    }
                    break;
                }
                buf.resize(need, 0);
                let (got, _) = self.subflows[i].tcp.read_with_seq(&mut buf);
                let mut ok = got == need;
                if ok && !crypto::dss_checksum_ok(map.dsn.0, map.wire_ssn, map.wire_len, &buf, csum)
                {
                    ok = false;
                }
                if !ok {
                    self.apply_status(i, MappingStatus::BadChecksum, map.dsn, (seq, dsn));
                    break;
                }
                self.deliver(i, dsn, got, &buf);
            } else {
                let n = avail.min(map.end() - seq).min(self.recv.room_at(dsn));
                if n == 0 {
                    break;
                }
                buf.resize(n, 0);
                let (got, _) = self.subflows[i].tcp.read_with_seq(&mut buf);
                self.deliver(i, dsn, got, &buf);
            }
        }
        // After fallback, the subflow's FIN is the end of the stream.
        let s = &self.subflows[i];
        if s.mp.rx_fallback.is_some() && s.tcp.is_read_closed() && !self.recv.fin_received() {
            let at = self.recv.rcv_nxt();
            if self.recv.set_fin(at) {
                self.events.push_back(Event::Readable);
            }
        }
    }

    fn deliver(&mut self, i: usize, dsn: Dsn, n: usize, buf: &[u8]) {
        let r = self.recv.insert(dsn, &buf[..n]);
        self.subflows[i].mp.data_received += n as u64;
        self.mib.duplicate_data_bytes += r.duplicate as u64;
        if r.queued > 0 {
            self.mib.ofo_queued += 1;
        }
        if r.in_order > 0 {
            // The DATA_ACK rides on the subflow's own (possibly delayed)
            // ACK, built after this with the new `rcv_nxt`.
            self.events.push_back(Event::Readable);
        }
    }

    fn on_add_addr(&mut self, now: Instant, i: usize, a: &AddAddr) {
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
        self.subflows[i].mp.echo = Some(echo);
        self.subflows[i].tcp.request_ack();
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
        self.events.push_back(Event::AddrAnnounced {
            id: a.addr_id,
            addr,
        });
        let pairs = self.pairs();
        let ctx = PmContext {
            client: self.client,
            initial: (self.subflows[0].tcp.local(), self.subflows[0].tcp.remote()),
            subflows: &pairs,
        };
        let actions = self.pm.on_addr_announced(&ctx, a.addr_id, addr);
        self.run_pm(now, actions);
    }
}
