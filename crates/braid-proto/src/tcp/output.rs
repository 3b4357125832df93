//! Segment generation: SYN and SYN,ACK with their options, retransmissions
//! (RFC 6675 NextSeg rule 1; RFC 6582; RFC 6298 section 5.4), new data under
//! the congestion and receive windows with Nagle (RFC 9293 section 3.7.4)
//! and sender SWS avoidance (section 3.8.6.2.1), FIN, zero-window probes
//! (section 3.8.6.1) and ACKs carrying SACK blocks (RFC 2018 section 4).

use super::sack::SentSegment;
use super::{
    NoHooks, OutgoingInfo, Segment, SegmentHooks, State, TcpSocket, Timer, TlpEpisode, pacing,
    window_shift_for,
};
use crate::time::Instant;
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// Option bytes our own options take, each padded to 32 bits the way they
/// are laid out on the wire (MSS; SACK-permitted with timestamps; NOP +
/// window scale; NOP NOP + SACK blocks).
pub(super) fn own_options_len(o: &TcpOptions<'_>) -> usize {
    let mut n = 0;
    if o.mss.is_some() {
        n += 4;
    }
    if o.timestamps.is_some() {
        n += 12;
    } else if o.sack_permitted {
        n += 4;
    }
    if o.window_scale.is_some() {
        n += 4;
    }
    if !o.sack_blocks.is_empty() {
        n += 4 + 8 * o.sack_blocks.len();
    }
    n
}

/// Maximum TCP option space.
const OPTION_SPACE: usize = 40;

fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl TcpSocket {
    /// The next segment to send, if any. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        self.poll_transmit_with(now, &mut NoHooks)
    }

    /// Like [`TcpSocket::poll_transmit`], letting `hooks` add options to the
    /// segment (MPTCP).
    pub fn poll_transmit_with<H: SegmentHooks + ?Sized>(
        &mut self,
        now: Instant,
        hooks: &mut H,
    ) -> Option<Segment> {
        // The abort's own RST (with the hooks' options: MPTCP's reason)
        // first: the replies answer segments that arrived after it.
        if let Some(seq) = self.abort_rst.take() {
            let mut rst = self.bare_segment(seq, None, TcpFlags::RST);
            let info = OutgoingInfo {
                seq,
                len: 0,
                flags: TcpFlags::RST,
                ack: None,
                retransmission: false,
                option_space_left: OPTION_SPACE,
            };
            hooks.outgoing(&info, &mut rst.header.options);
            self.counters.segments_sent += 1;
            return Some(rst);
        }
        if let Some(mut r) = self.replies.pop_front() {
            // A RST answering a segment after an abort carries the hooks'
            // options too (MPTCP: the reset reason), so the peer learns
            // the reason whichever RST reaches it first.
            if r.header.flags.contains(TcpFlags::RST) && r.header.options.mptcp.is_empty() {
                let info = OutgoingInfo {
                    seq: r.header.seq_number,
                    len: 0,
                    flags: TcpFlags::RST,
                    ack: r.header.ack_number,
                    retransmission: false,
                    option_space_left: OPTION_SPACE,
                };
                hooks.outgoing(&info, &mut r.header.options);
            }
            self.counters.segments_sent += 1;
            return Some(r);
        }
        let seg = match self.state {
            State::Closed | State::Listen => None,
            State::SynSent | State::SynReceived if self.syn_pending => {
                Some(self.send_syn(now, hooks))
            }
            State::SynSent => None,
            State::SynReceived => self
                .ack_now
                .then(|| self.send_ack(now, hooks, self.snd_nxt)),
            _ => {
                let data = match self.pace_hold(now) {
                    Some(_) => None,
                    None => self.send_data(now, hooks),
                };
                if let Some(s) = data {
                    if self.config.pacing && !s.payload.is_empty() {
                        let rate = self.pacing_rate();
                        self.pacer.on_send(now, s.payload.len(), rate);
                    }
                    Some(s)
                } else if self.probe_pending {
                    // RFC 9293 section 3.8.6.1: "The sending TCP must regularly
                    // retransmit to the receiving TCP even when the window is
                    // zero". The probe is <SEQ=SND.UNA-1><ACK=RCV.NXT>, which
                    // any receiver answers with an ACK carrying its window (as
                    // Linux does).
                    self.probe_pending = false;
                    Some(self.send_ack(now, hooks, self.snd_una - 1))
                } else if self.ack_now {
                    Some(self.send_ack(now, hooks, self.snd_nxt))
                } else {
                    None
                }
            }
        };
        if seg.is_none() && self.state.is_synchronized() {
            self.update_persist(now);
        }
        seg
    }

    /// The pacing rate now, bytes per second (`tcp/pacing.rs`).
    pub(super) fn pacing_rate(&self) -> Option<u64> {
        pacing::rate(
            self.cc.cwnd() + self.inflation,
            self.cc.ssthresh(),
            self.rtt.srtt(),
        )
    }

    /// Whether the pacer holds data now; if so, and data waits, the pace
    /// timer is armed for when it may go.
    fn pace_hold(&mut self, now: Instant) -> Option<Instant> {
        if !self.config.pacing {
            return None;
        }
        let t = self.pacer.hold(now)?;
        let waiting = self.send_buf.end() > self.snd_nxt
            || self.scoreboard.first_lost().is_some()
            || self.tlp_pending;
        if waiting {
            self.timers.set(Timer::Pace, t);
        }
        Some(t)
    }

    /// Payload bytes in a full segment when `extra` option bytes are added
    /// to the timestamps (RFC 9293 section 3.7.1: the MSS excludes options).
    pub(super) fn data_mss(&self, extra: usize) -> usize {
        let ts = if self.neg.timestamps { 12 } else { 0 };
        self.neg.send_mss.saturating_sub(ts + extra).max(1)
    }

    /// Payload bytes in a full data segment carrying `option_bytes` of
    /// options besides timestamps (rounded up to 4 as on the wire), for a
    /// layer above that sizes its writes in whole segments.
    pub fn segment_payload(&self, option_bytes: usize) -> usize {
        self.data_mss(round4(option_bytes))
    }

    /// Our timestamp clock: milliseconds plus a per-connection offset.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// The window field: free receive space, scaled (never in a SYN, RFC
    /// 7323 section 2.2).
    fn window_field(&self, syn: bool) -> u16 {
        let w = self.recv.window();
        let w = if syn { w } else { w >> self.neg.rcv_wscale };
        w.min(65535) as u16
    }

    /// SACK blocks that fit next to `reserved` bytes of hook options.
    fn sack_block_count(&self, reserved: usize) -> usize {
        if !self.neg.sack || !self.recv.has_holes() {
            return 0;
        }
        let ts = if self.neg.timestamps { 12 } else { 0 };
        let room = OPTION_SPACE.saturating_sub(ts + reserved);
        if room < 12 {
            0
        } else {
            ((room - 4) / 8).min(4)
        }
    }

    /// A segment with no options (RSTs).
    pub(super) fn bare_segment(
        &self,
        seq: SeqNum,
        ack: Option<SeqNum>,
        flags: TcpFlags,
    ) -> Segment {
        Segment {
            header: TcpRepr {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq_number: seq,
                ack_number: ack,
                flags,
                window_len: 0,
                urgent_ptr: 0,
                options: TcpOptions::default(),
                payload: &[],
            },
            payload: Vec::new(),
        }
    }

    /// Build a segment with our options, run the hook, and do the
    /// bookkeeping of an ACK sent.
    #[allow(clippy::too_many_arguments)]
    fn build<H: SegmentHooks + ?Sized>(
        &mut self,
        now: Instant,
        hooks: &mut H,
        seq: SeqNum,
        flags: TcpFlags,
        with_ack: bool,
        payload: Vec<u8>,
        retransmission: bool,
        reserved: usize,
    ) -> Segment {
        let syn = flags.contains(TcpFlags::SYN);
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(self.config.mss);
            if self.state == State::SynSent {
                // Active open: offer what the configuration allows.
                if self.config.window_scaling {
                    options.window_scale = Some(window_shift_for(self.config.recv_buffer_limit()));
                }
                options.sack_permitted = self.config.sack;
                if self.config.timestamps {
                    options.timestamps = Some((self.ts_now(now), 0));
                }
            } else {
                // SYN,ACK: answer only what the peer offered (RFC 7323
                // sections 2.2 and 3.2, RFC 2018 section 2).
                if self.neg.window_scaling {
                    options.window_scale = Some(self.neg.rcv_wscale);
                }
                options.sack_permitted = self.neg.sack;
                if self.neg.timestamps {
                    options.timestamps = Some((self.ts_now(now), self.ts_recent.unwrap_or(0)));
                }
            }
        } else if self.neg.timestamps {
            // RFC 7323 section 3.2: "once TSopt has been successfully
            // negotiated ... the TSopt MUST be sent in every non-<RST>
            // segment".
            options.timestamps = Some((self.ts_now(now), self.ts_recent.unwrap_or(0)));
        }
        if with_ack && !syn {
            let n = self.sack_block_count(reserved);
            options.sack_blocks = self.recv.sack_blocks(n);
        }
        let ack = with_ack.then(|| self.recv.rcv_nxt());
        let mut window_len = self.window_field(syn);
        if let Some(limit) = hooks.window_limit().filter(|_| !syn) {
            let scaled = (limit >> self.neg.rcv_wscale).min(65535) as u16;
            window_len = window_len.min(scaled);
        }
        let info = OutgoingInfo {
            seq,
            len: payload.len(),
            flags,
            ack,
            retransmission,
            option_space_left: OPTION_SPACE.saturating_sub(own_options_len(&options)),
        };
        hooks.outgoing(&info, &mut options);
        if let Some(a) = ack {
            let shift = if syn { 0 } else { self.neg.rcv_wscale };
            self.last_ack_sent = a;
            self.adv_right = a + (usize::from(window_len) << shift);
            self.ack_now = false;
            self.bytes_unacked = 0;
            self.timers.stop(Timer::DelayedAck);
        }
        self.counters.segments_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        Segment {
            header: TcpRepr {
                window_len,
                options,
                ..self.bare_segment(seq, ack, flags).header
            },
            payload,
        }
    }

    fn send_syn<H: SegmentHooks + ?Sized>(&mut self, now: Instant, hooks: &mut H) -> Segment {
        let with_ack = self.state == State::SynReceived;
        if self.syn_sent_at.is_some() {
            self.syn_retransmitted = true;
        }
        self.syn_sent_at = Some(now);
        self.syn_pending = false;
        let retransmission = self.syn_retransmitted;
        let seg = self.build(
            now,
            hooks,
            self.iss,
            TcpFlags::SYN,
            with_ack,
            Vec::new(),
            retransmission,
            0,
        );
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        seg
    }

    fn send_ack<H: SegmentHooks + ?Sized>(
        &mut self,
        now: Instant,
        hooks: &mut H,
        seq: SeqNum,
    ) -> Segment {
        let reserved = round4(hooks.reserve_option_space_for(TcpFlags::empty(), false));
        self.build(
            now,
            hooks,
            seq,
            TcpFlags::empty(),
            true,
            Vec::new(),
            false,
            reserved,
        )
    }

    /// A retransmission or new data (and the FIN), if the windows allow.
    fn send_data<H: SegmentHooks + ?Sized>(
        &mut self,
        now: Instant,
        hooks: &mut H,
    ) -> Option<Segment> {
        let reserved = round4(hooks.reserve_option_space_for(TcpFlags::empty(), true));
        let sack_len = match self.sack_block_count(reserved) {
            0 => 0,
            n => 4 + 8 * n,
        };
        let max_payload = self.data_mss(reserved + sack_len);
        let cwnd = self.cc.cwnd() + self.inflation;
        let pipe = self.scoreboard.pipe();
        // What the congestion window lets out now: cwnd - pipe, or during
        // SACK fast recovery the PRR send quantity (RFC 6937).
        let mut budget = match self.prr {
            Some(prr) => prr.budget(pipe, self.cc.ssthresh(), self.data_mss(0)),
            None => cwnd.saturating_sub(pipe),
        };
        let probe = std::mem::take(&mut self.tlp_pending);
        if probe && self.scoreboard.first_lost().is_none() {
            // RFC 8985 section 7.3: the loss probe goes out regardless of
            // cwnd: "If such a segment is available [new data the receive
            // window allows], then transmit it; otherwise, retransmit the
            // most recently sent segment".
            let unsent = self.send_buf.end() - self.snd_nxt;
            let win_avail = (self.snd_una + self.snd_wnd) - self.snd_nxt;
            if unsent > 0 && win_avail >= unsent.min(max_payload) {
                budget = budget.max(max_payload);
                self.sws_override = true;
                // The probe's length as `send_data` below will cut it (the
                // hooks may end it early, at a DSS mapping's end).
                let limit = hooks.segment_limit(self.snd_nxt).unwrap_or(usize::MAX);
                self.tlp = Some(TlpEpisode {
                    end_seq: self.snd_nxt + unsent.min(max_payload).min(limit),
                    is_retrans: false,
                    seq: self.snd_nxt,
                });
            } else if let Some(last) = self.scoreboard.len().checked_sub(1) {
                self.scoreboard.split(last, max_payload);
                let last = self.scoreboard.len() - 1;
                let (seq, _, flags, payload) = self.resend_entry(last, now)?;
                self.tlp = Some(TlpEpisode {
                    end_seq: self.snd_nxt,
                    is_retrans: true,
                    seq,
                });
                return Some(self.build(now, hooks, seq, flags, true, payload, true, reserved));
            }
        }

        if let Some(i) = self.scoreboard.first_lost() {
            // RFC 6675 NextSeg rule 1 / RFC 6298 section 5.4: retransmit the
            // earliest segment deemed lost. The first retransmission of a
            // recovery ignores cwnd (RFC 5681 section 3.2 step 4).
            if !(self.fast_rtx_pending || budget > 0) {
                return None;
            }
            self.fast_rtx_pending = false;
            self.scoreboard.split(i, max_payload);
            self.scoreboard.clear_lost(i);
            self.scoreboard.get_mut(i)?.recovery_rtx = true;
            let (seq, len, flags, payload) = self.resend_entry(i, now)?;
            if let Some(prr) = &mut self.prr {
                prr.out += len;
            }
            if !self.timers.is_armed(Timer::Retransmit) {
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
            return Some(self.build(now, hooks, seq, flags, true, payload, true, reserved));
        }

        let unsent = self.send_buf.end() - self.snd_nxt;
        let win_avail = (self.snd_una + self.snd_wnd) - self.snd_nxt;
        let limit = hooks.segment_limit(self.snd_nxt);
        let len = unsent
            .min(max_payload)
            .min(win_avail)
            .min(budget)
            .min(limit.unwrap_or(usize::MAX));
        let may_fin = matches!(
            self.state,
            State::FinWait1 | State::LastAck | State::Closing
        );
        let want_fin = self.fin_queued && may_fin && self.fin_seq.is_none() && len == unsent;
        if len == 0 && !want_fin {
            return None;
        }
        if len > 0 {
            // Nagle (RFC 9293 section 3.7.4) and sender SWS avoidance
            // (section 3.8.6.2.1): send a full segment, or everything queued
            // when nothing is unacknowledged, or at least half the largest
            // window the peer offered, or when the override timer fired.
            let full = len >= max_payload || limit == Some(len);
            let idle = self.snd_nxt == self.snd_una;
            let nagle_ok = !self.config.nagle || idle || want_fin;
            let all = len == unsent;
            let half_window = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
            if !(full || (nagle_ok && (all || half_window)) || self.sws_override) {
                return None;
            }
        }
        self.sws_override = false;
        let seq = self.snd_nxt;
        let payload = self.send_buf.copy(seq, len);
        let mut flags = TcpFlags::empty();
        if len > 0 && len == unsent {
            flags |= TcpFlags::PSH;
        }
        if want_fin {
            flags |= TcpFlags::FIN;
            self.fin_seq = Some(seq + len);
        }
        self.scoreboard.push(SentSegment {
            seq,
            len,
            fin: want_fin,
            sent_at: now,
            retransmitted: false,
            recovery_rtx: false,
            sacked: false,
            lost: false,
            flight_at_send: pipe + len,
        });
        // Not cwnd-limited: RFC 7661 says not to grow cwnd on such ACKs.
        self.app_limited = pipe + len + max_payload <= cwnd;
        self.snd_nxt = seq + len + usize::from(want_fin);
        if let Some(prr) = &mut self.prr {
            prr.out += len;
        }
        // RFC 6298 section 5.1: "Every time a packet containing data is sent
        // ... if the timer is not running, start it running". RFC 8985
        // section 7.2: new data (not itself a probe) restarts the probe
        // timeout when a probe may be scheduled.
        let pto = len > 0 && !probe && self.arm_pto(now);
        if !pto && !self.timers.is_armed(Timer::Retransmit) {
            self.arm_rto(now);
        }
        Some(self.build(now, hooks, seq, flags, true, payload, false, reserved))
    }

    /// Arm the persist timer when queued data waits for the peer's window
    /// with nothing in flight (RFC 9293 section 3.8.6.1); disarm otherwise.
    /// Mark scoreboard entry `i` retransmitted at `now` and count it; its
    /// sequence number, length, flags (FIN when it carries the FIN) and
    /// payload, to send again. Shared by the tail loss probe and the
    /// retransmission of a segment deemed lost.
    fn resend_entry(
        &mut self,
        i: usize,
        now: Instant,
    ) -> Option<(SeqNum, usize, TcpFlags, Vec<u8>)> {
        let seg = self.scoreboard.get_mut(i)?;
        seg.retransmitted = true;
        seg.sent_at = now;
        let (seq, len, fin) = (seg.seq, seg.len, seg.fin);
        let payload = self.send_buf.copy(seq, len);
        let flags = if fin {
            TcpFlags::FIN
        } else {
            TcpFlags::empty()
        };
        self.counters.retransmitted_segments += 1;
        Some((seq, len, flags, payload))
    }

    fn update_persist(&mut self, now: Instant) {
        let unsent = self.send_buf.end() - self.snd_nxt;
        let win_avail = (self.snd_una + self.snd_wnd) - self.snd_nxt;
        let blocked =
            unsent > 0 && self.snd_nxt == self.snd_una && win_avail < unsent.min(self.data_mss(0));
        if blocked {
            if !self.timers.is_armed(Timer::Persist) {
                self.arm_persist(now);
            }
        } else {
            self.timers.stop(Timer::Persist);
            self.persist_backoff = 0;
        }
    }
}
