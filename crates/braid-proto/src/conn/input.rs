//! Incoming segments: MPTCP handshakes (RFC 8684 sections 3.1, 3.2), DSS
//! (3.3: DATA_ACK, mappings, DATA_FIN), address signalling (3.4), MP_PRIO,
//! MP_FASTCLOSE, MP_TCPRST, MP_FAIL (3.5 to 3.7), and moving received
//! bytes from subflows into data-level reassembly.

use super::mapping::{MappingAction, MappingStatus, RxMap};
use super::subflow::{Role, RxHooks, RxStep};
use super::{CloseReason, Connection, Event, MptcpEvent, SubflowId};
use crate::crypto;
use crate::pm::PmEvent;
use crate::time::Instant;
use crate::wire::mptcp::{MpJoin, MptcpOption, rst_reason};
use crate::wire::{Dsn, SeqNum, TcpFlags, TcpRepr};

/// Mappings held per subflow at least; the bound grows with the subflow's
/// receive buffer (one mapping per 512 bytes of it), since a sender may map
/// every segment separately and a whole window of them can wait behind a
/// hole.
const MIN_RX_MAPS: usize = 1024;

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
        if hooks.accepted {
            self.subflows[i].heard(now);
        }
        self.process_options(now, i, seg, hooks.accepted);
        self.pump_rx(i);
        self.after_input(now);
    }

    /// Bookkeeping after any input: subflow events, stalls, closing.
    pub(super) fn after_input(&mut self, now: Instant) {
        self.process_subflow_events(now);
        self.cap_backoffs(now);
        self.arm_data_rtx(now);
        self.autotune(now);
        self.share_sibling_views();
        self.check_close();
        self.prune_closed();
    }

    /// Data-level buffers that size themselves (`tcp::autotune`): the
    /// receive buffer toward twice what the application read in one RTT of
    /// the slowest subflow (Linux `mptcp_rcv_space_adjust` takes the
    /// largest subflow RTT too: reordering across paths costs that much),
    /// the send buffer with the subflows' congestion windows (Linux sums
    /// the subflows' send buffers).
    fn autotune(&mut self, now: Instant) {
        if self.fallback || self.remote_key.is_none() {
            return;
        }
        let rtt = self
            .subflows
            .iter()
            .filter(|s| Self::usable(s))
            .filter_map(|s| {
                let st = s.tcp.stats();
                st.rcv_rtt.or(st.srtt)
            })
            .max();
        let max = self.config.recv_buffer_max;
        if max > self.recv.capacity() {
            let mss = usize::from(self.config.tcp.mss);
            let cap = self.recv.capacity();
            if let Some(n) = self
                .right_sizing
                .on_consumed(now, self.consumed, rtt, cap, max, mss)
            {
                self.recv.grow_to(n);
                // The window opened: say so now rather than on the next ACK.
                for s in &mut self.subflows {
                    if Self::usable(s) && s.tcp.state() == crate::tcp::State::Established {
                        s.tcp.request_ack();
                    }
                }
            }
        }
        let max = self.config.send_buffer_max;
        if max > self.send.capacity() {
            let want: usize = self
                .subflows
                .iter()
                .filter(|s| Self::usable(s))
                .map(|s| {
                    let st = s.tcp.stats();
                    crate::tcp::autotune::send_buffer_for(st.cwnd, st.mss)
                })
                .sum();
            self.send.grow_to(want.min(max));
            if self.write_blocked && self.send.free() > 0 {
                self.write_blocked = false;
                self.events.push_back(Event::Writable);
            }
        }
    }

    /// Every subflow's congestion controller sees its siblings (coupled
    /// congestion control, RFC 6356).
    fn share_sibling_views(&mut self) {
        if self.subflows.len() < 2 {
            return;
        }
        // Called after every segment: scratch vectors, no allocation once
        // warm.
        let mut views = std::mem::take(&mut self.cc_views);
        let mut others = std::mem::take(&mut self.cc_others);
        views.clear();
        views.extend(
            self.subflows
                .iter()
                .filter(|s| Self::usable(s))
                .map(|s| (s.id(), s.tcp.cc_view())),
        );
        for s in &mut self.subflows {
            others.clear();
            others.extend(
                views
                    .iter()
                    .filter(|(id, _)| *id != s.id())
                    .map(|(_, v)| *v),
            );
            s.tcp.set_sibling_views(&others);
        }
        self.cc_views = views;
        self.cc_others = others;
    }

    fn process_options(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>, accepted: bool) {
        if seg.flags.contains(TcpFlags::RST) {
            for o in &seg.options.mptcp {
                match o {
                    MptcpOption::MpTcpRst { flags, reason } => {
                        self.mib.mp_rst_rx += 1;
                        self.subflows[i].set_rst_received(*reason, flags & 0x1 != 0);
                    }
                    MptcpOption::MpFastclose { receiver_key } => self.on_fastclose(*receiver_key),
                    _ => {}
                }
            }
            return;
        }
        if !accepted || self.subflows[i].is_plain() {
            return;
        }
        self.subflows[i].note_options(!seg.options.mptcp.is_empty());
        if !self.subflows[i].is_established() && !self.handshake(now, i, seg) {
            return;
        }
        // A server whose third ACK was lost or overtaken by data falls
        // back on the first segment without MP_CAPABLE (RFC 8684 section
        // 3.7) and answers without MPTCP options. Until a DSS has shown
        // that the server is MPTCP, such an answer means plain TCP (as
        // Linux's check_fully_established); staying MPTCP, a data-level
        // retransmission would land in the server's plain byte stream.
        if seg.options.mptcp.is_empty()
            && !seg.flags.contains(TcpFlags::SYN)
            && self.subflows[i].role() == Role::CapableClient
            && !self.subflows[i].is_fully_established()
        {
            self.mib.mp_capable_active_fallback += 1;
            self.enter_fallback(i);
            return;
        }
        for o in &seg.options.mptcp {
            self.established_option(now, i, seg, o);
        }
    }

    fn established_option(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>, o: &MptcpOption) {
        match o {
            MptcpOption::Dss(d) => {
                self.subflows[i].on_dss_seen();
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
                    (self.subflows[i].role(), m.data_len, self.remote_key)
                {
                    let map = RxMap {
                        ssn: self.subflows[i].tcp.irs() + 1,
                        dsn: self.config.first_dsn(key),
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
                for &id in ids.iter() {
                    self.events
                        .push_back(Event::Mptcp(MptcpEvent::AddrRemoved { id }));
                    self.pm_event(now, PmEvent::AddrRemoved { id });
                }
                let victims: Vec<usize> = (0..self.subflows.len())
                    .filter(|&j| {
                        let s = &self.subflows[j];
                        // ID 0 is the initial subflow's address.
                        !s.is_closed() && ids.contains(&s.remote_addr_id())
                    })
                    .collect();
                self.remote_addrs.retain(|(id, _)| !ids.contains(id));
                for j in victims {
                    self.reset_subflow(j, rst_reason::UNSPECIFIED);
                }
            }
            MptcpOption::MpPrio { backup } => {
                self.mib.mp_prio_rx += 1;
                let s = &mut self.subflows[i];
                s.set_peer_backup(*backup);
                let (id, local, remote) = (s.id(), s.tcp.local(), s.tcp.remote());
                self.events
                    .push_back(Event::Mptcp(MptcpEvent::PriorityChanged {
                        id,
                        backup: *backup,
                    }));
                self.pm_event(
                    now,
                    PmEvent::PriorityChanged {
                        local,
                        remote,
                        backup: *backup,
                    },
                );
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
            // The initiator's third ACK carries MP_JOIN: the handshake of
            // this very segment consumed it, and a retransmitted one
            // (Linux resends it until acknowledged) changes nothing.
            MptcpOption::MpJoin(MpJoin::Ack { .. })
                if self.subflows[i].role() == Role::JoinResponder => {}
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
            s.mark_closed();
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
        let status = self.subflows[i].check_mapping(&map, self.checksum);
        match status {
            MappingStatus::Ok => {
                self.mib.dss_mappings_rx += 1;
                self.any_mapping_seen = true;
                // As many as the subflow's buffer now holds 512-byte
                // mappings (it grows with autotuning, never ahead of it).
                let max = MIN_RX_MAPS.max(self.subflows[i].tcp.stats().recv_buffer / 512);
                if self.subflows[i].insert_mapping(map, self.checksum, max) {
                    self.mib.dss_mapping_overflow += 1;
                }
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
                self.subflows[i].set_fallback_at(at);
            }
            MappingAction::ResetSubflow => self.reset_subflow(i, rst_reason::MPTCP_ERROR),
            MappingAction::FailSubflow => {
                self.mib.mp_fail_tx += 1;
                self.subflows[i].fail(dsn);
                self.reset_subflow(i, rst_reason::MIDDLEBOX);
            }
            MappingAction::ResetConnection => {
                self.mib.mp_fail_tx += 1;
                self.subflows[i].fail(dsn);
                self.subflows[i].set_rst_reason(rst_reason::MIDDLEBOX);
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
        if self.subflows[i].reset(reason) {
            self.mib.mp_rst_tx += 1;
        }
    }

    /// Plain TCP from now on (RFC 8684 section 3.7).
    pub(super) fn enter_fallback(&mut self, i: usize) {
        if self.fallback {
            return;
        }
        self.fallback = true;
        let rcv_nxt = self.recv.rcv_nxt();
        self.subflows[i].fall_back(rcv_nxt);
        self.events.push_back(Event::Mptcp(MptcpEvent::Fallback));
    }

    /// Move in-order subflow bytes into data-level reassembly, through
    /// their mappings.
    pub(super) fn pump_rx(&mut self, i: usize) {
        // A scratch buffer kept across calls: no allocation per segment.
        let mut buf = std::mem::take(&mut self.rx_scratch);
        loop {
            let recv = &self.recv;
            let step = self.subflows[i].take_mapped(self.checksum, |d| recv.room_at(d), &mut buf);
            match step {
                RxStep::Data { dsn, len } => self.deliver(dsn, &buf[..len]),
                RxStep::Blocked => break,
                RxStep::Unmapped { seq } => {
                    let at = self.recv.rcv_nxt();
                    self.apply_status(i, MappingStatus::Unmapped, at, (seq, at));
                    // Fallen back to plain TCP: the bytes are the stream's.
                    if !self.subflows[i].in_fallback() {
                        break;
                    }
                }
                RxStep::Invalid { dsn, at } => {
                    self.apply_status(i, MappingStatus::Invalid, dsn, at);
                    break;
                }
                RxStep::BadChecksum { dsn, at } => {
                    self.apply_status(i, MappingStatus::BadChecksum, dsn, at);
                    break;
                }
            }
        }
        self.rx_scratch = buf;
        // After fallback, the subflow's FIN is the end of the stream.
        let s = &self.subflows[i];
        if s.in_fallback() && s.tcp.is_read_closed() && !self.recv.fin_received() {
            let at = self.recv.rcv_nxt();
            if self.recv.set_fin(at) {
                self.events.push_back(Event::Readable);
            }
        }
    }

    fn deliver(&mut self, dsn: Dsn, data: &[u8]) {
        let r = self.recv.insert(dsn, data);
        self.mib.duplicate_data_bytes += r.duplicate as u64;
        if r.queued > 0 {
            self.mib.ofo_queued += 1;
        }
        if r.in_order > 0 {
            // The DATA_ACK rides on the subflow's own (possibly delayed)
            // ACK, built after this with the new `rcv_nxt`.
            if self.events.back() != Some(&Event::Readable) {
                self.events.push_back(Event::Readable);
            }
        }
    }
}
