//! Outgoing side: scheduling data-level bytes onto subflows (DSS mappings,
//! RFC 8684 section 3.3.1), reinjection from failed or stalled subflows,
//! DATA_FIN (3.3.3) and ADD_ADDR (3.4.1) retransmission, timers, subflow
//! events and the connection's end.

use super::subflow::{JoinTimer, Role, Subflow, TxChunk, TxCtx};
use super::{CloseReason, Connection, Event, MptcpEvent, SubflowCloseReason, SubflowId};
use crate::pm::{PmContext, PmEvent};
use crate::sched::{Decision, SchedContext, SubflowView};
use crate::tcp::{self, Segment, State};
use crate::time::{Duration, Instant};
use crate::wire::Dsn;
use core::net::SocketAddr;

/// The most a DSS mapping can cover (16-bit data-level length).
const MAX_CHUNK: usize = 65535;

impl Connection {
    /// The next segment to send: (subflow, local address, remote address,
    /// segment).
    pub fn poll_transmit(
        &mut self,
        now: Instant,
    ) -> Option<(SubflowId, SocketAddr, SocketAddr, Segment)> {
        self.schedule(now);
        let n = self.subflows.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            if let Some(seg) = self.poll_subflow(now, i) {
                self.rr = (i + 1) % n;
                let s = &self.subflows[i];
                let out = (s.id(), s.tcp.local(), s.tcp.remote(), seg);
                self.after_input(now);
                return Some(out);
            }
        }
        self.after_input(now);
        None
    }

    fn tx_ctx(&self) -> TxCtx {
        TxCtx {
            no_join_initial: !self.config.allow_join_initial_addr_port,
            first_dsn: self.config.first_dsn(self.local_key),
            local_key: self.local_key,
            remote_key: self.remote_key,
            checksum: self.checksum,
            dss_64bit: self.config.dss_64bit,
            data_ack: self.remote_key.map(|_| self.recv.rcv_nxt()),
            data_fin: self.send.fin().filter(|_| self.data_fin_sent),
            fastclose: self.fastclose,
            window: self
                .remote_key
                .filter(|_| !self.fallback)
                .map(|_| self.recv_window()),
        }
    }

    /// Option bytes on a data segment of an established subflow (see
    /// `TxHooks::reserve_option_space_for`).
    fn data_option_space(&self) -> usize {
        4 + 8 + 14 + if self.checksum { 2 } else { 0 }
    }

    fn poll_subflow(&mut self, now: Instant, i: usize) -> Option<Segment> {
        let s = &mut self.subflows[i];
        if s.role() == Role::CapableClient
            && s.tcp.state() == State::SynSent
            && self
                .config
                .syn_retrans_before_fallback
                .is_some_and(|n| s.tcp.retries() > n)
            && s.drop_mp_capable()
        {
            self.mib.mp_capable_syn_dropped += 1;
        }
        let ctx = self.tx_ctx();
        self.subflows[i].poll_transmit(now, ctx, &mut self.mib)
    }

    /// Read-only views for the scheduler.
    fn views(&self) -> Vec<SubflowView> {
        self.subflows
            .iter()
            .map(|s| {
                let available = s.tcp.available_window().min(s.tcp.send_capacity());
                let active = s.usable() && !s.is_plain() && s.tcp.state() == State::Established;
                SubflowView {
                    id: s.id(),
                    active,
                    backup: s.is_backup(),
                    stalled: s.is_stalled(),
                    ready: active && s.unsent() == 0,
                    available,
                    queued: s.tcp.send_queue(),
                    stats: s.tcp.stats(),
                }
            })
            .collect()
    }

    /// Hand data-level bytes to subflows.
    fn schedule(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if self.fallback {
            self.schedule_fallback();
            return;
        }
        if self.remote_key.is_none() {
            return;
        }
        for _ in 0..64 {
            let Some((dsn, len, reinjection)) = self.send.peek(MAX_CHUNK, self.peer_window_right)
            else {
                if self.opportunistic_reinjection(now) {
                    continue;
                }
                break;
            };
            let views = self.views();
            let ctx = SchedContext {
                subflows: &views,
                unsent: (self.send.end() - dsn) as usize,
                window: (self.peer_window_right - self.send.una()) as usize,
                reinjection,
                now,
            };
            let (targets, max, dup) = match self.sched.schedule(&ctx) {
                Decision::Wait => break,
                Decision::Send { subflow, max } => (vec![subflow], max, false),
                Decision::Duplicate(ids) => (ids, usize::MAX, true),
            };
            let mut idx = Vec::with_capacity(targets.len());
            // Duplicates also go to active subflows without room now: they
            // queue there (each segment inside its chunk's mapping) and
            // leave as the window opens, so every path carries every byte.
            let mut lagging = Vec::new();
            let mut want = max;
            for id in targets {
                let Some(i) = self.index(id) else { continue };
                let v = &views[i];
                if idx.iter().any(|&(j, _)| j == i) || lagging.contains(&i) {
                    continue;
                }
                if !v.has_room() {
                    if dup && v.active {
                        lagging.push(i);
                    }
                    continue;
                }
                // Chunks in whole segments: a chunk of exactly the window
                // (which may have opened by a few bytes) would go out as a
                // runt segment, since no segment spans two chunks. TCP
                // holds the part beyond its window until the window opens,
                // and the next chunk waits for it (`ready`).
                let s = &self.subflows[i];
                let payload = s.tcp.segment_payload(self.data_option_space());
                let cap = s.tcp.send_capacity();
                let whole = v.available.div_ceil(payload).saturating_mul(payload);
                let most = (MAX_CHUNK / payload * payload).max(payload);
                want = want.min(whole.min(most).min(cap));
                idx.push((i, payload));
            }
            let Some(&(_, payload)) = idx.first() else {
                break;
            };
            let len = len.min(want);
            if len == 0 {
                break;
            }
            // Sender SWS avoidance at the data level: a runt limited only
            // by the peer's data-level window waits for DATA_ACKs (some
            // data is outstanding, so one will come) rather than going out.
            let end_of_data = dsn + len as u64 == self.send.end();
            if !reinjection
                && len < want.min(payload)
                && !end_of_data
                && self.send.nxt() > self.send.una()
            {
                break;
            }
            let data = self.send.copy(dsn, len);
            let checksum = self.checksum;
            // Every target takes the whole chunk (`want` fits them all; a
            // lagging duplicate target only if its buffer holds all of it);
            // the data level consumes it once.
            let mut n = 0;
            let room = idx.iter().map(|&(i, _)| i);
            let lag = lagging
                .iter()
                .copied()
                .filter(|&i| self.subflows[i].tcp.send_capacity() >= data.len());
            let all: Vec<usize> = room.chain(lag).collect();
            for i in all {
                let w = self.subflows[i].write_chunk(dsn, &data, checksum);
                n = n.max(w);
            }
            if n == 0 {
                break;
            }
            self.send.consume(n, reinjection);
            if reinjection {
                self.mib.reinjected_bytes += n as u64;
            }
        }
        // RFC 8684 section 3.3.3: DATA_FIN once every byte was sent;
        // retransmitted until DATA_ACKed.
        if self.send.fin().is_some() && self.send.all_scheduled() && !self.data_fin_sent {
            self.data_fin_sent = true;
            self.send_data_fin(now);
        }
    }

    /// Opportunistic reinjection (after Raiciu et al., "How Hard Can It
    /// Be? Designing and Implementing a Deployable Multipath TCP", NSDI
    /// 2012, section 4.2): nothing new may be sent (the peer's data-level
    /// window is full, or every byte was sent) while a subflow with room
    /// idles and bytes wait on a slower one (smoothed RTT over 1.5 times
    /// the idle one's). Blocked by the window or the send buffer, the chunk holding the oldest
    /// unacknowledged byte is sent again over the idle subflow, so the
    /// window opens a slow round trip sooner; at the tail (the application
    /// closed and every byte was sent), every
    /// chunk the slower subflows hold goes again, so the transfer does not
    /// end one queue of the slow path late. Each chunk is reinjected once.
    /// Returns whether anything was queued. Blocked by the peer's window
    /// (not at the tail), the slow subflow is also penalised: its
    /// controller responds as to a congestion event, at most once per its
    /// RTT (`TcpSocket::penalize`; the paper halves the window).
    fn opportunistic_reinjection(&mut self, now: Instant) -> bool {
        let una = self.send.una();
        if una >= self.send.nxt()
            || !self.config.opportunistic_reinjection
            || !self.sched.opportunistic_reinjection()
        {
            return false;
        }
        // The tail: the application closed and every byte was sent. A full
        // send buffer (the application has more) is like a full window.
        let tail = self.send.fin().is_some() && self.send.nxt() == self.send.end();
        let window_blocked = self.peer_window_right <= self.send.nxt();
        // Each byte goes again at most once: copies written by an earlier
        // reinjection are new chunks, unmarked.
        let done = self.orp_mark.max(una);
        let holds = |c: &TxChunk| {
            let end = c.dsn + c.len as u64;
            !c.reinjected && end > done && (tail || c.dsn <= una)
        };
        // Cheap test first: is there anything to reinject at all?
        if !self
            .subflows
            .iter()
            .any(|s| s.usable() && s.holds_chunk(holds))
        {
            return false;
        }
        let views = self.views();
        let Some(f) = crate::sched::fastest_with_room(&views) else {
            return false;
        };
        let (fast, fast_rtt) = (f.id, f.srtt().as_micros());
        let mut queued = 0;
        for (s, v) in self.subflows.iter_mut().zip(&views) {
            if s.id() == fast || v.srtt().as_micros() * 2 <= fast_rtt * 3 {
                continue;
            }
            let before = queued;
            let (send, mark) = (&mut self.send, &mut self.orp_mark);
            s.reinject_chunks(holds, |c| {
                let start = c.dsn.max(done);
                let len = (c.dsn_end() - start) as usize;
                queued += send.queue_reinject(start, len);
                *mark = (*mark).max(c.dsn_end());
            });
            // Blocking the peer's window: the slow subflow's queue is too
            // long for the receiver's buffer; shrink it (the paper's
            // penalisation). Not when only our send buffer is full (a
            // sender with more to send than it buffers, the usual bulk
            // case): measured on a WiFi/cellular trace replay, penalising
            // then cost 8 % of goodput and a fifth of the cellular bytes.
            if !tail && window_blocked && queued > before && s.tcp.penalize(now) {
                self.mib.subflow_penalized += 1;
            }
        }
        if queued > 0 {
            self.mib.opportunistic_reinjections += 1;
        }
        queued > 0
    }

    fn send_data_fin(&mut self, now: Instant) {
        let mut rto = Duration::from_millis(200);
        for s in &mut self.subflows {
            if s.usable() && s.request_data_fin() {
                rto = rto.max(s.tcp.stats().rto);
            }
        }
        let backoff = 1u32 << self.data_fin_backoff.min(6);
        self.data_fin_rtx = Some(now + rto * backoff);
    }

    fn schedule_fallback(&mut self) {
        let Some(i) = self.subflows.iter().position(|s| s.is_plain()) else {
            return;
        };
        let s = &mut self.subflows[i];
        // The subflow's ACKs are the data-level ACKs now.
        let una = self.send.nxt().0.wrapping_sub(s.tcp.send_queue() as u64);
        if let Some(n) = self.send.ack(Dsn(una)) {
            if n > 0 && self.write_blocked {
                self.write_blocked = false;
                self.events.push_back(Event::Writable);
            }
        }
        let room = s.tcp.send_capacity();
        if let Some((dsn, len, reinjection)) =
            self.send.peek(room, self.send.end()).filter(|_| room > 0)
        {
            let data = self.send.copy(dsn, len);
            let n = s.write_plain(&data);
            self.send.consume(n, reinjection);
        }
        if self.send.fin().is_some() && self.send.all_scheduled() && !self.tcp_fin_sent {
            self.tcp_fin_sent = true;
            s.tcp.close();
        }
    }

    /// Handle expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in &mut self.subflows {
            if s.tcp.poll_timeout().is_some_and(|t| t <= now) {
                s.tcp.handle_timeout(now);
            }
        }
        if self.data_fin_rtx.is_some_and(|t| t <= now) {
            if self.send.fin_acked() || self.closed.is_some() {
                self.data_fin_rtx = None;
            } else {
                self.data_fin_backoff += 1;
                self.send_data_fin(now);
            }
        }
        if self.data_rtx.is_some_and(|t| t <= now) {
            self.data_rtx_expired(now);
        }
        if self.mptcp_ready() {
            self.open_due(now);
        }
        self.announce_due(now);
        self.after_input(now);
    }

    /// Arm, re-arm or stop the data-level retransmission timer (after
    /// Linux `mptcp_retransmit_timer`): it runs while data is sent but not
    /// DATA_ACKed, restarting whenever the DATA_ACK moves. Its timeout is
    /// the largest RTO of the usable subflows, doubled per expiry without
    /// progress.
    pub(super) fn arm_data_rtx(&mut self, now: Instant) {
        let una = self.send.una();
        if self.fallback
            || self.remote_key.is_none()
            || self.closed.is_some()
            || una >= self.send.nxt()
        {
            self.data_rtx = None;
            self.data_rtx_backoff = 0;
            return;
        }
        if una != self.data_rtx_una {
            self.data_rtx_una = una;
            self.data_rtx_backoff = 0;
            self.data_rtx = None;
        }
        if self.data_rtx.is_none() {
            let rto = self
                .subflows
                .iter()
                .filter(|s| s.usable())
                .map(|s| s.tcp.stats().rto)
                .max()
                .unwrap_or(Duration::from_millis(200));
            let backoff = 1u32 << self.data_rtx_backoff.min(6);
            self.data_rtx = Some(now + (rto * backoff).min(self.config.tcp.rto_max));
        }
    }

    /// The data level waited a timeout for the DATA_ACK to move. If no
    /// usable subflow still carries the oldest unacknowledged byte
    /// unacknowledged (the subflows acknowledged it and the peer dropped
    /// it at the data level, as Linux does when its receive memory is
    /// pruned), that data goes again on whichever subflow the scheduler
    /// picks; data still in flight on a subflow is left to that subflow's
    /// own retransmissions.
    fn data_rtx_expired(&mut self, now: Instant) {
        self.data_rtx = None;
        let una = self.send.una();
        if una >= self.send.nxt() || self.closed.is_some() {
            return;
        }
        let in_flight = self
            .subflows
            .iter()
            .any(|s| s.usable() && s.carries_unacked(una));
        if !in_flight {
            let len = ((self.send.nxt() - una) as usize).min(MAX_CHUNK);
            if self.send.queue_reinject(una, len) > 0 {
                self.mib.data_rtx_timeouts += 1;
                self.data_rtx_backoff += 1;
            }
        }
        self.arm_data_rtx(now);
    }

    /// The earliest instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let subflows = self.subflows.iter().filter_map(|s| s.tcp.poll_timeout());
        let announce = self
            .announced
            .iter()
            .filter(|a| !a.echoed && a.tries < self.config.add_addr_max_tries)
            .map(|a| a.next)
            .filter(|_| self.mptcp_ready() && self.connected);
        let joins = self.subflows.iter().filter_map(|s| s.join_ack_deadline());
        let pm = self
            .pm_due
            .filter(|_| !self.pm_started && self.mptcp_ready() && self.connected);
        let recreate = self.pending_open_deadline().filter(|_| self.mptcp_ready());
        subflows
            .chain(joins)
            .chain(pm)
            .chain(recreate)
            .chain(announce)
            .chain(self.data_fin_rtx.filter(|_| self.closed.is_none()))
            .chain(self.data_rtx)
            .min()
    }

    /// Subflow events, stall detection, reinjection.
    pub(super) fn process_subflow_events(&mut self, now: Instant) {
        for i in 0..self.subflows.len() {
            while let Some(ev) = self.subflows[i].tcp.poll_event() {
                match ev {
                    tcp::Event::Closed { reason } => self.on_subflow_closed(now, i, reason),
                    tcp::Event::Connected | tcp::Event::Readable | tcp::Event::Writable => {}
                }
            }
            if self.subflows[i].detect_stall() && self.others_usable(i) {
                self.reinject(i);
            }
            let data_una = self.send.una();
            self.subflows[i].release_acked(data_una);
            let (tries, rto_max) = (self.config.tcp.max_retransmissions, self.config.tcp.rto_max);
            if self.subflows[i].join_ack_timer(now, tries, rto_max) == JoinTimer::GiveUp {
                self.reset_subflow(i, crate::wire::mptcp::rst_reason::UNSPECIFIED);
            }
            // Fallback: the subflow's FIN is the stream's end.
            if self.subflows[i].in_fallback() {
                self.pump_rx(i);
            }
        }
        if !self.connected {
            let s = &self.subflows[0];
            if s.is_established() && s.tcp.state().is_synchronized() {
                self.connected = true;
                self.events.push_back(Event::Connected);
                let srtt = s.tcp.stats().srtt.unwrap_or(Duration::from_millis(200));
                self.pm_due = Some(now + srtt);
            }
        }
        // The client's path manager starts once the connection is fully
        // established (a DSS from the server proved it has our key, RFC
        // 8684 section 3.1) or one RTT after the third ACK left: a join
        // racing the third ACK would reach a server that cannot check it
        // yet, and be refused.
        let full = !self.client
            || self.subflows[0].is_fully_established()
            || self.pm_due.is_some_and(|t| t <= now);
        if self.connected && !self.pm_started && self.mptcp_ready() && full {
            self.pm_started = true;
            let pairs = self.pairs();
            let ctx = PmContext {
                client: self.client,
                initial: (self.subflows[0].tcp.local(), self.subflows[0].tcp.remote()),
                subflows: &pairs,
            };
            let actions = self.pm.on_established(&ctx);
            self.run_pm(now, actions);
            self.announce_due(now);
        }
    }

    /// Queue for reinjection everything subflow `i` carries that the
    /// peer has not DATA_ACKed.
    /// A chunk that a working subflow also carries (a duplicating
    /// scheduler's copy) needs no third copy.
    fn reinject(&mut self, i: usize) {
        let subflows = &self.subflows;
        let elsewhere: Vec<Dsn> = subflows[i]
            .chunks()
            .filter(|c| !c.reinjected)
            .map(|c| c.dsn)
            .filter(|&dsn| {
                subflows
                    .iter()
                    .enumerate()
                    .any(|(j, s)| j != i && s.usable() && !s.is_stalled() && s.carries_unacked(dsn))
            })
            .collect();
        let send = &mut self.send;
        self.subflows[i].reinject_chunks(
            |c| !c.reinjected && !elsewhere.contains(&c.dsn),
            |c| {
                send.queue_reinject(c.dsn, c.len);
            },
        );
    }

    pub(super) fn on_subflow_closed(&mut self, now: Instant, i: usize, reason: tcp::CloseReason) {
        let s: &mut Subflow = &mut self.subflows[i];
        if s.mark_closed() {
            return;
        }
        if s.is_join() {
            // The slot is free again (as Linux counts subflows).
            self.extra_subflows = self.extra_subflows.saturating_sub(1);
        }
        let id = s.id();
        let (peer_reason, local_reason) = s.rst_reasons();
        let reason = SubflowCloseReason {
            tcp: reason,
            peer_reason,
            local_reason,
        };
        tracing::debug!(?id, ?reason, "subflow closed");
        self.events
            .push_back(Event::Mptcp(MptcpEvent::SubflowClosed { id, reason }));
        if self.closed.is_none() && !self.fallback {
            // Data on a dead subflow is sent again elsewhere.
            let send = &mut self.send;
            self.subflows[i].reinject_chunks(
                |_| true,
                |c| {
                    send.queue_reinject(c.dsn, c.len);
                },
            );
            // A failure (not an orderly close, nor one we asked for): the
            // path manager may re-create it, after a backoff.
            let failed = self.subflows[i].may_recreate(reason.tcp);
            let (local, remote) = (self.subflows[i].tcp.local(), self.subflows[i].tcp.remote());
            if failed {
                self.note_failure(now, local.ip(), remote);
            }
            self.pm_event(
                now,
                PmEvent::SubflowClosed {
                    local,
                    remote,
                    failed,
                },
            );
        }
    }

    /// The end of the connection.
    pub(super) fn check_close(&mut self) {
        if self.closed.is_some() {
            return;
        }
        if self.fallback {
            let Some(s) = self.subflows.iter().find(|s| s.is_plain()) else {
                return;
            };
            match s.tcp.close_reason() {
                Some(tcp::CloseReason::Normal) => self.set_closed(CloseReason::Normal),
                Some(tcp::CloseReason::Reset) => self.set_closed(CloseReason::Reset),
                Some(_) => self.set_closed(CloseReason::SubflowsFailed),
                None if s.tcp.state() == State::TimeWait => self.set_closed(CloseReason::Normal),
                None => {}
            }
            return;
        }
        if self.send.fin_acked() && self.recv.fin_received() {
            // RFC 8684 section 3.3.3: once both DATA_FINs are acknowledged
            // the subflows are closed with FINs.
            for s in &mut self.subflows {
                s.tcp.close();
            }
            self.set_closed(CloseReason::Normal);
            return;
        }
        let any_open = self.subflows.iter().any(|s| !s.is_closed());
        if !any_open {
            // Every subflow reset (the SYN answered by a RST: a closed
            // port): a reset, as Linux reports ECONNREFUSED/ECONNRESET on
            // the MPTCP socket, not a path failure.
            let all_reset = self
                .subflows
                .iter()
                .all(|s| s.tcp.close_reason() == Some(tcp::CloseReason::Reset));
            self.set_closed(if all_reset {
                CloseReason::Reset
            } else {
                CloseReason::SubflowsFailed
            });
        }
    }
}
