//! Segment arrival, RFC 9293 section 3.10.7 ("SEGMENT ARRIVES"), with the
//! RFC 5961 mitigations, RFC 7323 PAWS, loss detection (RFC 5681 section
//! 3.2, RFC 6582, RFC 6675) and the delayed-ACK rules of RFC 5681 section
//! 4.2.

use super::autotune;
use super::sack::DUP_THRESH;
use super::{
    CloseReason, Event, NoHooks, Prr, Recovery, RecoveryKind, SegmentHooks, State, TcpSocket,
    Timer, rst_for, window_shift_for,
};
use crate::cc::{AckInfo, CongestionEvent};
use crate::time::{Duration, Instant};
use crate::wire::{SeqNum, TcpFlags, TcpRepr};

impl TcpSocket {
    /// Process one incoming segment for this socket's 4-tuple.
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        self.handle_segment_with(now, seg, &mut NoHooks);
    }

    /// Process one incoming segment and report it to `hooks` (MPTCP reads
    /// its options there), with whether TCP accepted it.
    pub fn handle_segment_with<H: SegmentHooks + ?Sized>(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        hooks: &mut H,
    ) {
        if seg.dst_port != self.local.port() || seg.src_port != self.remote.port() {
            hooks.incoming(seg, false);
            return;
        }
        self.counters.segments_received += 1;
        let accepted = self.process(now, seg);
        if accepted {
            self.heard(now);
        }
        hooks.incoming(seg, accepted);
    }

    /// Record the peer's SYN: its ISN and the options it offered (RFC 9293
    /// section 3.7.1 MSS, RFC 7323 sections 2.2 and 3.2, RFC 2018 section 2).
    pub(super) fn take_syn(&mut self, syn: &TcpRepr<'_>) {
        self.irs = syn.seq_number;
        self.recv.reset(syn.seq_number + 1);
        self.last_ack_sent = self.recv.rcv_nxt();
        self.adv_right = self.recv.rcv_nxt();
        let o = &syn.options;
        // RFC 9293 section 3.7.1: "If an MSS Option is not received at
        // connection setup, TCP implementations MUST assume a default send
        // MSS of 536".
        let peer_mss = o.mss.map_or(536, usize::from);
        self.neg.send_mss = peer_mss.min(usize::from(self.config.mss)).max(64);
        match (self.config.window_scaling, o.window_scale) {
            (true, Some(shift)) => {
                self.neg.window_scaling = true;
                // RFC 7323 section 2.3: a shift above 14 "MUST use 14
                // instead".
                self.neg.snd_wscale = shift.min(14);
                self.neg.rcv_wscale = window_shift_for(self.config.recv_buffer_limit());
            }
            _ => {
                self.neg.window_scaling = false;
                self.neg.snd_wscale = 0;
                self.neg.rcv_wscale = 0;
            }
        }
        self.neg.sack = self.config.sack && o.sack_permitted;
        self.neg.timestamps = self.config.timestamps && o.timestamps.is_some();
        self.ts_recent = if self.neg.timestamps {
            o.timestamps.map(|(tsval, _)| tsval)
        } else {
            None
        };
        // "SND.WND <- SEG.WND": the window in a SYN is never scaled.
        self.snd_wnd = usize::from(syn.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq_number;
        self.cc.on_mss_change(self.data_mss(0));
    }

    /// Our SYN was acknowledged.
    fn syn_acked(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let karn = if self.syn_retransmitted {
            None
        } else {
            self.syn_sent_at.map(|t| now - t)
        };
        match self.rtt_from_ts(now, seg).or(karn) {
            Some(sample) => self.rtt.sample(sample),
            // RFC 6298 section 5.7: after a SYN timeout "the RTO MUST be
            // re-initialized to 3 seconds when data transmission begins".
            None if self.syn_retransmitted => self.rtt.raise_initial(Duration::from_secs(3)),
            None => {}
        }
        self.rtt.reset_backoff();
        self.snd_una = self.iss + 1;
        self.timers.stop(Timer::Retransmit);
        self.pto_armed = false;
        self.retries = 0;
    }

    fn process(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        match self.state {
            State::Closed | State::Listen => {
                self.reply_rst(seg);
                false
            }
            State::SynSent => self.process_syn_sent(now, seg),
            _ => self.process_other(now, seg),
        }
    }

    /// Queue the CLOSED-state answer to `seg` (never to a RST).
    fn reply_rst(&mut self, seg: &TcpRepr<'_>) {
        if let Some(rst) = rst_for(seg)
            && self.replies.len() < 8
        {
            self.replies.push_back(super::Segment {
                header: rst,
                payload: Vec::new(),
            });
        }
    }

    /// RFC 9293 section 3.10.7.3, SYN-SENT.
    fn process_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let rst = seg.flags.contains(TcpFlags::RST);
        let ack_ok = match seg.ack_number {
            Some(ack) => {
                // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
                // (unless the RST bit is set, if so drop the segment and
                // return)".
                if ack <= self.iss || ack > self.snd_nxt {
                    self.reply_rst(seg);
                    return false;
                }
                true
            }
            None => false,
        };
        if rst {
            // "If the ACK was acceptable, then signal to the user 'error:
            // connection reset', drop the segment, enter CLOSED state";
            // otherwise drop it.
            if ack_ok {
                self.enter_closed(CloseReason::Reset);
                return true;
            }
            return false;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return false;
        }
        self.take_syn(seg);
        if let Some(ack) = seg.ack_number {
            // Our SYN is acknowledged: "enter ESTABLISHED state, form an ACK
            // segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it".
            self.syn_acked(now, seg);
            self.snd_wl2 = ack;
            self.set_state(State::Established);
            self.events.push_back(Event::Connected);
            self.ack_now = true;
            if self.fin_queued {
                self.set_state(State::FinWait1);
            }
        } else {
            // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment
            // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it".
            self.set_state(State::SynReceived);
            self.syn_pending = true;
        }
        true
    }

    /// RFC 9293 section 3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn process_other(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let mut seq = seg.seq_number;
        let mut syn = seg.flags.contains(TcpFlags::SYN);
        let rst = seg.flags.contains(TcpFlags::RST);
        let mut fin = seg.flags.contains(TcpFlags::FIN);
        let mut payload = seg.payload;

        if syn && !rst {
            if self.state == State::SynReceived && seq == self.irs {
                if seg.ack_number.is_some() {
                    // Simultaneous open: the peer's SYN,ACK repeats the SYN
                    // we already have; keep its ACK.
                    syn = false;
                    seq += 1;
                } else {
                    // The peer retransmitted its SYN: our SYN,ACK was lost.
                    self.syn_pending = true;
                    return false;
                }
            } else {
                // RFC 5961 section 4.2: "If the SYN bit is set,
                // irrespective of the sequence number, TCP MUST send an ACK
                // (also referred to as challenge ACK) to the remote peer".
                self.challenge_ack(now);
                return false;
            }
        }
        let _ = syn;

        // RFC 7323 section 5.3, R1 (PAWS): "If there is a Timestamps option
        // in the arriving segment, SEG.TSval < TS.Recent, TS.Recent is valid
        // ... then treat the arriving segment as not acceptable: Send an
        // acknowledgment in reply ... and drop the segment."
        if self.neg.timestamps
            && !rst
            && let (Some((tsval, _)), Some(recent)) = (seg.options.timestamps, self.ts_recent)
            && (tsval.wrapping_sub(recent) as i32) < 0
        {
            self.ack_now = true;
            return false;
        }

        // First, check the sequence number (the four cases of the table).
        let rcv_nxt = self.recv.rcv_nxt();
        let wnd = self.recv.window();
        let seg_len = payload.len() + usize::from(fin);
        let in_window = |s: SeqNum| rcv_nxt <= s && s < rcv_nxt + wnd;
        let mut acceptable = match (seg_len, wnd) {
            (0, 0) => seq == rcv_nxt,
            (0, _) => in_window(seq),
            (_, 0) => false,
            (_, _) => in_window(seq) || in_window(seq + seg_len - 1),
        };
        if !acceptable && wnd == 0 && seq == rcv_nxt {
            // "If the RCV.WND is zero, no segments will be acceptable, but
            // special allowance should be made to accept valid ACKs, URGs,
            // and RSTs": keep the control information, drop the text (a
            // bare FIN needs no buffer space and is kept).
            acceptable = true;
            if !payload.is_empty() {
                payload = &[];
                fin = false;
                self.ack_now = true;
            }
        }
        if !acceptable {
            // "If an incoming segment is not acceptable, an acknowledgment
            // should be sent in reply (unless the RST bit is set ...)".
            if !rst {
                self.ack_now = true;
                if self.state == State::TimeWait && fin {
                    self.timers.set(Timer::TimeWait, now + self.config.msl * 2);
                }
            }
            return false;
        }

        // Second, check the RST bit (RFC 5961 section 3.2).
        if rst {
            if seq == rcv_nxt {
                // "If the RST bit is set and the sequence number exactly
                // matches the next expected sequence value, the TCP MUST
                // reset the connection."
                self.enter_closed(CloseReason::Reset);
                return true;
            }
            // "If the RST bit is set and the sequence number does not
            // exactly match ... but is within the current receive window
            // ... TCP MUST send an acknowledgment (challenge ACK)".
            self.challenge_ack(now);
            return false;
        }

        // RFC 7323 section 4.3 (R3): "If SEG.TSval >= TS.Recent and SEG.SEQ
        // <= Last.ACK.sent, then SEG.TSval is copied to TS.Recent".
        if self.neg.timestamps
            && let Some((tsval, _)) = seg.options.timestamps
            && self
                .ts_recent
                .is_none_or(|r| (tsval.wrapping_sub(r) as i32) >= 0)
            && seq <= self.last_ack_sent
        {
            self.ts_recent = Some(tsval);
        }

        // Fifth, check the ACK field: "if the ACK bit is off, drop the
        // segment and return".
        let Some(ack) = seg.ack_number else {
            return false;
        };
        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_nxt {
                // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED
                // state and continue processing with the variables below
                // set to: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <-
                // SEG.ACK".
                self.syn_acked(now, seg);
                self.snd_wnd = usize::from(seg.window_len) << self.neg.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                self.set_state(State::Established);
                self.events.push_back(Event::Connected);
                if self.fin_queued {
                    self.set_state(State::FinWait1);
                }
            } else {
                // "If the segment acknowledgment is not acceptable, form a
                // reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
                self.reply_rst(seg);
                return false;
            }
        }
        if ack > self.snd_nxt {
            // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
            // then send an ACK, drop the segment, and return."
            self.ack_now = true;
            return false;
        }
        if ack < self.snd_una - self.max_snd_wnd {
            // RFC 5961 section 5.2: acceptable ACKs satisfy "(SND.UNA -
            // MAX.SND.WND) =< SEG.ACK =< SND.NXT"; others "MUST be
            // discarded and an ACK sent back" (a challenge ACK).
            self.challenge_ack(now);
            return false;
        }

        let prior_una = self.snd_una;
        let mut newly_sacked = 0;
        if self.neg.sack && !seg.options.sack_blocks.is_empty() {
            let una = self.snd_una.max(ack);
            newly_sacked = self
                .scoreboard
                .apply_sack(&seg.options.sack_blocks, una, self.snd_nxt);
        }
        let window = usize::from(seg.window_len) << self.neg.snd_wscale;
        let mut delivered = newly_sacked;
        if ack > self.snd_una {
            // RFC 6937: "DeliveredData = (change in snd.una) + (change in
            // SACKed)".
            let advance = ack - self.snd_una;
            let unsacked = self.on_new_ack(now, seg, ack);
            delivered = (delivered + advance).saturating_sub(unsacked);
        } else if ack == self.snd_una
            && payload.is_empty()
            && !fin
            && self.snd_nxt != self.snd_una
            && (if self.neg.sack {
                newly_sacked > 0
            } else {
                window == self.snd_wnd
            })
        {
            // RFC 5681 section 2, "DUPLICATE ACKNOWLEDGMENT"; with SACK,
            // only an ACK that SACKs new data counts (RFC 6675 section 2):
            // the ACK of a duplicated segment carries nothing new and must
            // not trigger a spurious fast retransmit.
            self.on_dup_ack(now);
        }
        if let Some(prr) = &mut self.prr {
            prr.delivered += delivered;
        }
        if self.neg.sack && !self.scoreboard.is_empty() {
            self.sack_loss_detection(now);
        }
        let pure_dup = ack == prior_una && payload.is_empty() && !fin;
        self.tlp_on_ack(now, ack, seg.options.sack_blocks.first().copied(), pure_dup);
        // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
        // updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2
        // =< SEG.ACK)), set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and
        // set SND.WL2 <- SEG.ACK."
        if self.snd_una <= ack
            && (self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack))
        {
            self.snd_wnd = window;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            if window > 0 {
                self.timers.stop(Timer::Persist);
                self.persist_backoff = 0;
                self.probe_pending = false;
            }
        }

        let fin_acked = self.fin_seq.is_some_and(|f| ack > f);
        match self.state {
            // "In addition to the processing for the ESTABLISHED state, if
            // the FIN segment is now acknowledged, then enter FIN-WAIT-2".
            State::FinWait1 if fin_acked => self.set_state(State::FinWait2),
            // "if the ACK acknowledges our FIN, then enter the TIME-WAIT
            // state; otherwise, ignore the segment".
            State::Closing if fin_acked => self.enter_time_wait(now),
            // "If our FIN is now acknowledged, delete the TCB, enter the
            // CLOSED state, and return."
            State::LastAck if fin_acked => {
                self.enter_closed(CloseReason::Normal);
                return true;
            }
            // "The only thing that can arrive in this state is a
            // retransmission of the remote FIN. Acknowledge it, and restart
            // the 2 MSL timeout." (Handled by the sequence check: the
            // retransmitted FIN is old.)
            _ => {}
        }

        // Seventh, process the segment text; eighth, check the FIN bit.
        if matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) && (!payload.is_empty() || fin)
        {
            if !payload.is_empty() {
                self.sample_rcv_rtt(now, seg);
            }
            self.process_text(now, seq, payload, fin);
        }
        true
    }

    fn process_text(&mut self, now: Instant, mut seq: SeqNum, mut data: &[u8], mut fin: bool) {
        let rcv_nxt = self.recv.rcv_nxt();
        if seq < rcv_nxt {
            let cut = rcv_nxt - seq;
            if cut > data.len() {
                fin = false;
            }
            data = &data[cut.min(data.len())..];
            seq = rcv_nxt;
        }
        let end = rcv_nxt + self.recv.window();
        if seq + data.len() > end {
            data = &data[..(end - seq).min(data.len())];
            fin = false;
        }
        if let Some(f) = self.recv.fin_seq()
            && seq + data.len() > f
        {
            // Nothing exists after the peer's FIN: drop bytes beyond it.
            data = &data[..(f - seq).min(data.len())];
        }
        let had_holes = self.recv.has_holes();
        let fin_before = self.recv.fin_consumed();
        let n = self.recv.insert(seq, data, fin);
        self.counters.bytes_received += n as u64;
        self.rcv_space_adjust(now);
        if !data.is_empty() {
            self.rcv_mss = self
                .rcv_mss
                .max(data.len().min(usize::from(self.config.mss)));
        }
        let fin_now = !fin_before && self.recv.fin_consumed();
        if (n > 0 || fin_now) && self.events.back() != Some(&Event::Readable) {
            self.events.push_back(Event::Readable);
        }
        if seq != rcv_nxt || had_holes || self.recv.has_holes() || fin_now {
            // RFC 5681 section 4.2: "A TCP receiver SHOULD send an immediate
            // duplicate ACK when an out-of-order segment arrives" and "an
            // immediate ACK ... when a segment arrives that fills in all or
            // part of a gap"; a FIN is acknowledged at once.
            self.ack_now = true;
        } else if !data.is_empty() {
            // RFC 9293 section 3.8.6.3: "an ACK SHOULD be generated for at
            // least every second full-sized segment"; otherwise delay.
            self.bytes_unacked += data.len();
            if self.bytes_unacked >= 2 * self.rcv_mss {
                self.ack_now = true;
            } else if !self.timers.is_armed(Timer::DelayedAck) {
                self.timers
                    .set(Timer::DelayedAck, now + self.config.delayed_ack);
            }
        }
        if fin_now {
            match self.state {
                // "ESTABLISHED STATE: Enter the CLOSE-WAIT state."
                State::Established => self.set_state(State::CloseWait),
                // "FIN-WAIT-1 STATE: If our FIN has been ACKed ... enter
                // TIME-WAIT ...; otherwise, enter the CLOSING state." (An
                // ACKed FIN already moved us to FIN-WAIT-2.)
                State::FinWait1 => self.set_state(State::Closing),
                // "FIN-WAIT-2 STATE: Enter the TIME-WAIT state."
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    /// An ACK of new data (RFC 9293 "If SND.UNA < SEG.ACK =< SND.NXT, then
    /// set SND.UNA <- SEG.ACK").
    /// Process an ACK of new data; returns the bytes it acknowledged that
    /// had already been SACKed.
    fn on_new_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNum) -> usize {
        let prior_in_flight = self.bytes_in_flight();
        let acked_seq = ack - self.snd_una;
        let acked = self.scoreboard.ack(ack);
        let data_acked = self.send_buf.ack_to(ack);
        self.counters.bytes_acked += data_acked as u64;
        self.snd_una = ack;

        // RTT: from TSecr (RFC 7323 section 4.1) or, without timestamps,
        // Karn's algorithm (RFC 6298 section 3: "RTT samples MUST NOT be
        // made using segments that were retransmitted").
        let karn = if acked.any_retransmitted {
            None
        } else {
            acked.newest_sent_at.map(|t| now - t)
        };
        let sample = self.rtt_from_ts(now, seg).or(karn);
        if let Some(s) = sample {
            self.rtt.sample(s);
            self.rtt.reset_backoff();
        }
        self.retries = 0;

        // RFC 6298 section 5.2: "When all outstanding data has been
        // acknowledged, turn off the retransmission timer"; 5.3: "When an
        // ACK is received that acknowledges new data, restart the
        // retransmission timer".
        if self.snd_una == self.snd_nxt {
            self.timers.stop(Timer::Retransmit);
            self.pto_armed = false;
        } else if !self.arm_pto(now) {
            // RFC 8985 section 7.2: an ACK of new data restarts the probe
            // timeout when a probe may be scheduled, the RTO otherwise.
            self.arm_rto(now);
        }

        let mss = self.data_mss(0);
        match self.recovery {
            Some(r) if ack >= r.point => {
                self.recovery = None;
                self.prr = None;
                self.inflation = 0;
                self.fast_rtx_pending = false;
                self.scoreboard.end_recovery();
                if r.kind == RecoveryKind::Fast {
                    self.cc.on_recovery_end(now);
                }
            }
            Some(r) if r.kind == RecoveryKind::Fast => {
                if !self.neg.sack {
                    // RFC 6582 section 3.2 step 5 (partial ACK):
                    // "retransmit the first unacknowledged segment ...
                    // deflate the congestion window by the amount of new
                    // data acknowledged ... then add back SMSS bytes".
                    if self.scoreboard.mark_first_lost() {
                        self.counters.lost_segments += 1;
                    }
                    self.inflation = self.inflation.saturating_sub(acked_seq) + mss;
                    self.fast_rtx_pending = true;
                }
            }
            _ => {
                let info = AckInfo {
                    bytes_acked: acked_seq,
                    rtt_sample: sample,
                    srtt: self.rtt.srtt_or_initial(),
                    min_rtt: self.rtt.min_rtt().unwrap_or(self.rtt.srtt_or_initial()),
                    prior_in_flight,
                    app_limited: self.app_limited,
                };
                self.cc.on_ack(now, &info, &self.siblings);
            }
        }
        self.dupacks = 0;
        self.snd_buf_expand();
        if self.write_blocked && self.send_buf.free() > 0 && self.state.can_send() {
            self.write_blocked = false;
            self.events.push_back(Event::Writable);
        }
        acked.sacked_bytes
    }

    fn on_dup_ack(&mut self, now: Instant) {
        self.dupacks += 1;
        if self.neg.sack {
            return;
        }
        match self.recovery {
            // RFC 6582 section 3.2 step 4: "For each additional duplicate
            // ACK received (after the third), increment cwnd by SMSS".
            Some(r) if r.kind == RecoveryKind::Fast => self.inflation += self.data_mss(0),
            Some(_) => {}
            None if self.dupacks == DUP_THRESH && self.snd_una > self.recover => {
                // RFC 6582 section 3.2 step 2: on the third duplicate ACK,
                // "if the Cumulative Acknowledgment field covers more than
                // recover", enter fast retransmit; ssthresh and cwnd from
                // the controller, cwnd inflated by 3 SMSS.
                self.enter_fast_recovery(now);
                if self.scoreboard.mark_first_lost() {
                    self.counters.lost_segments += 1;
                }
                self.inflation = 3 * self.data_mss(0);
            }
            None => {}
        }
    }

    /// RFC 6675 section 5: update loss marks; enter recovery on
    /// "(DupAcks >= DupThresh) or IsLost (HighACK + 1)".
    fn sack_loss_detection(&mut self, now: Instant) {
        let mut marked = self.scoreboard.mark_lost_by_sack(self.data_mss(0));
        if self.recovery.is_some() {
            // RACK's reordering window: a quarter of the minimum RTT (RFC
            // 8985 section 6.2), at least 1 ms.
            let rtt = self.rtt.min_rtt().unwrap_or(self.rtt.srtt_or_initial());
            let reo_wnd = (rtt / 4).max(Duration::from_millis(1));
            marked += self.scoreboard.mark_lost_retransmissions(reo_wnd);
        }
        self.counters.lost_segments += marked as u64;
        if self.recovery.is_none()
            && (self.dupacks >= DUP_THRESH || self.scoreboard.first_is_lost())
        {
            if self.scoreboard.mark_first_lost() {
                self.counters.lost_segments += 1;
            }
            self.enter_fast_recovery(now);
        }
    }

    /// RFC 8985 section 7.4.2: the end of a loss probe episode, on an ACK
    /// at or above TLP.end_seq. A probe of new data needs nothing more (a
    /// loss it revealed is recovered as any other). For a retransmitted
    /// probe: a D-SACK for it (RFC 2883 section 4: a first SACK block at or
    /// below the cumulative ACK) shows it was redundant; an ACK above
    /// TLP.end_seq without one shows it repaired a loss, and "the sender
    /// MUST invoke a congestion control response equivalent to fast
    /// recovery"; a pure duplicate ACK ends the episode with no action; an
    /// ACK of exactly TLP.end_seq leaves it open (a D-SACK may follow).
    fn tlp_on_ack(
        &mut self,
        now: Instant,
        ack: SeqNum,
        first_sack: Option<(SeqNum, SeqNum)>,
        pure_dup: bool,
    ) {
        let Some(ep) = self.tlp else {
            return;
        };
        if ack < ep.end_seq {
            return;
        }
        let dsack =
            first_sack.is_some_and(|(l, r)| l < r && r <= ack && l < ep.end_seq && r > ep.seq);
        if !ep.is_retrans || dsack {
            self.tlp = None;
        } else if ack > ep.end_seq {
            self.tlp = None;
            if self.recovery.is_none() {
                let ev = CongestionEvent {
                    bytes_in_flight: self.bytes_in_flight(),
                    srtt: self.rtt.srtt_or_initial(),
                    flight_at_loss: None,
                };
                self.cc.on_congestion_event(now, &ev, &self.siblings);
                self.counters.lost_segments += 1;
                tracing::debug!(local = %self.local, cwnd = self.cc.cwnd(), "loss repaired by probe");
            }
        } else if pure_dup {
            self.tlp = None;
        }
    }

    fn enter_fast_recovery(&mut self, now: Instant) {
        // Recovery takes over: no probe, and its own congestion response.
        self.tlp = None;
        self.tlp_pending = false;
        if self.pto_armed {
            self.arm_rto(now);
        }
        // The segment fast retransmit repairs (the first hole) and the
        // flight it joined when it was first sent: the window the loss
        // happened at.
        let first_lost = self.scoreboard.first_lost().unwrap_or(0);
        let flight_at_loss = self
            .scoreboard
            .get(first_lost)
            .filter(|s| !s.retransmitted)
            .map(|s| s.flight_at_send);
        let ev = CongestionEvent {
            bytes_in_flight: self.bytes_in_flight(),
            srtt: self.rtt.srtt_or_initial(),
            flight_at_loss,
        };
        self.cc.on_congestion_event(now, &ev, &self.siblings);
        self.recovery = Some(Recovery {
            kind: RecoveryKind::Fast,
            point: self.snd_nxt,
        });
        self.recover = self.snd_nxt;
        self.fast_rtx_pending = true;
        // RFC 6937 section 3: "At the beginning of recovery, initialize the
        // PRR state" (SACK recovery only; NewReno inflates cwnd instead).
        self.prr = self.neg.sack.then(|| Prr {
            recover_fs: self.bytes_in_flight(),
            delivered: 0,
            out: 0,
        });
        tracing::debug!(local = %self.local, cwnd = self.cc.cwnd(), "fast recovery");
    }

    /// Receiver-side RTT (Linux `tcp_rcv_rtt_measure_ts`): a data segment
    /// echoes the timestamp of our latest ACK, so now minus the echo is
    /// about one round trip; smoothed by 1/8 like SRTT.
    /// Like Linux, only full-sized segments with an echo not sampled
    /// before count: after an idle period the first segment echoes an old
    /// timestamp, and the idle time is not a round trip.
    fn sample_rcv_rtt(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let Some((_, tsecr)) = seg.options.timestamps else {
            return;
        };
        if seg.payload.len() < self.rcv_mss || self.rcv_rtt_last_tsecr == Some(tsecr) {
            return;
        }
        let Some(sample) = self.rtt_from_ts(now, seg) else {
            return;
        };
        self.rcv_rtt_last_tsecr = Some(tsecr);
        let sample = sample.max(Duration::from_millis(1));
        self.rcv_rtt = Some(match self.rcv_rtt {
            None => sample,
            Some(r) => (r * 7 + sample) / 8,
        });
    }

    /// Grow the receive buffer toward what the application consumes per
    /// RTT (`autotune.rs`); called when data arrives.
    pub(super) fn rcv_space_adjust(&mut self, now: Instant) {
        let max = self.config.recv_buffer_max;
        if max <= self.recv.capacity() {
            return;
        }
        let rtt = self.rcv_rtt.or(self.rtt.srtt());
        let mss = usize::from(self.config.mss);
        if let Some(n) =
            self.right_sizing
                .on_consumed(now, self.consumed, rtt, self.recv.capacity(), max, mss)
        {
            self.recv.grow_to(n);
        }
    }

    /// Grow the send buffer with the congestion window (`autotune.rs`).
    fn snd_buf_expand(&mut self) {
        let max = self.config.send_buffer_max;
        if max <= self.send_buf.capacity() {
            return;
        }
        let want = autotune::send_buffer_for(self.cc.cwnd(), self.data_mss(0));
        self.send_buf.grow_to(want.min(max));
    }

    /// An RTT sample from the echoed timestamp, RFC 7323 section 4.
    pub(super) fn rtt_from_ts(&self, now: Instant, seg: &TcpRepr<'_>) -> Option<Duration> {
        if !self.neg.timestamps {
            return None;
        }
        let (_, tsecr) = seg.options.timestamps?;
        if tsecr == 0 {
            return None;
        }
        let d = self.ts_now(now).wrapping_sub(tsecr);
        (d < 1 << 30).then(|| Duration::from_millis(u64::from(d)))
    }
}
