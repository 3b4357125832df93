//! One subflow: a complete sans-IO TCP (RFC 9293) with the hooks MPTCP
//! needs.
//!
//! What is implemented, and where:
//! - [`state`]: the states of RFC 9293 section 3.3.2; transitions in
//!   `input.rs` (section 3.10.7, "SEGMENT ARRIVES") and in the user calls
//!   here (section 3.10: OPEN, SEND, RECEIVE, CLOSE, ABORT).
//! - `input.rs`: the segment arrival rules of RFC 9293 section 3.10.7,
//!   RFC 5961 (challenge ACKs, sections 3, 4, 5, rate limited per section 7),
//!   RFC 7323 (window scaling section 2, timestamps section 3, PAWS section
//!   5), RFC 5681 section 3.2 / RFC 6582 (NewReno fast retransmit and fast
//!   recovery without SACK), RFC 6675 (SACK-based loss recovery), delayed
//!   ACKs (RFC 9293 section 3.8.6.3, RFC 5681 section 4.2), the RACK
//!   time rule for lost retransmissions (RFC 8985 section 6.2) and the end
//!   of a tail loss probe episode (section 7.4).
//! - `output.rs`: segment generation: SYN options (MSS section 3.7.1, window
//!   scale, SACK-permitted RFC 2018, timestamps), Nagle (section 3.7.4),
//!   sender silly window avoidance (3.8.6.2.1), zero-window probes
//!   (3.8.6.1), SACK blocks (RFC 2018 section 4), Proportional Rate
//!   Reduction during SACK fast recovery (RFC 6937).
//! - [`rtt`]: RFC 6298; [`sack`]: the sender scoreboard; `recv.rs`:
//!   reassembly; [`isn`]: RFC 6528; [`timer`]: the timer table, with the
//!   tail loss probe timeout (RFC 8985 section 7) sharing the
//!   retransmission timer.
//!
//! # Call order (sans-IO)
//! The driver owns time, packets and randomness:
//! 1. Create a socket with [`TcpSocket::connect`] (active open) or, for an
//!    incoming SYN the endpoint demultiplexed to no socket,
//!    [`TcpSocket::accept`] (passive open). A segment matching no socket
//!    is answered with [`rst_for`].
//! 2. Feed every segment for the 4-tuple to [`TcpSocket::handle_segment`]
//!    (or [`TcpSocket::handle_segment_with`] to see the options, MPTCP).
//! 3. After any input, call [`TcpSocket::poll_transmit`] until it returns
//!    `None` and send what it returns; then [`TcpSocket::poll_event`] until
//!    `None`; then [`TcpSocket::poll_timeout`] and call
//!    [`TcpSocket::handle_timeout`] when that instant comes.
//! 4. The application uses [`TcpSocket::write`], [`TcpSocket::read`],
//!    [`TcpSocket::close`] and [`TcpSocket::abort`]; after each, poll again.
//!
//! # Deliberate choices and gaps
//! - Segments without TSopt after timestamps were negotiated are accepted
//!   (as Linux does; RFC 7323 section 3.2 says SHOULD drop). TS.Recent is
//!   not invalidated after 24 idle days.
//! - Zero-window probes are `<SEQ=SND.UNA-1><ACK>` without data (Linux
//!   style) rather than one byte past the window.
//! - Data carried on a SYN is not accepted (the peer retransmits it).
//! - Not yet: RFC 6675 NextSeg rules 3-4 and the rescue retransmission,
//!   D-SACK (RFC 2883: not generated; read only to end a loss probe
//!   episode, RFC 8985 section 7.4.2), RACK loss detection of original
//!   transmissions (RFC 8985 section 6; only its rule for retransmissions
//!   is used: without D-SACK the reordering window cannot adapt), F-RTO,
//!   ECN, keep-alives, urgent data (URG is ignored).
//!
//! # MPTCP hooks
//! [`SegmentHooks`] sees every outgoing segment (and may append options
//! within the space it reserved) and every incoming one;
//! [`TcpSocket::stats`] is the subflow view for schedulers;
//! [`TcpSocket::set_sibling_views`] feeds coupled congestion control.

pub mod autotune;
mod config;
mod hooks;
mod input;
pub mod isn;
mod output;
pub mod pacing;
mod recv;
pub mod rtt;
pub mod sack;
mod send;
pub mod state;
pub mod timer;

#[cfg(test)]
mod tests;

pub use config::{Config, Keepalive};
pub use hooks::{NoHooks, OutgoingInfo, Segment, SegmentHooks, SubflowStats};
pub use isn::IsnGenerator;
pub use state::State;
pub use timer::Timer;

use crate::cc::{CcView, CongestionEvent, Controller};
use crate::time::{Duration, Instant};
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr};
use core::net::SocketAddr;
use recv::RecvBuffer;
use rtt::RttEstimator;
use sack::Scoreboard;
use send::SendBuffer;
use std::collections::VecDeque;
use timer::TimerTable;

/// Why the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged (or the local user closed
    /// before the connection was synchronized).
    Normal,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions timed out.
    Timeout,
    /// The local user aborted.
    Aborted,
}

/// Something the application should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed (ESTABLISHED).
    Connected,
    /// Data (or the end of the stream) can be read.
    Readable,
    /// Send buffer space became free after a short write.
    Writable,
    /// The connection is CLOSED.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a SYN cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// The segment is not a SYN (or also carries ACK, RST or FIN).
    #[error("not a SYN")]
    NotSyn,
}

/// Counters kept by the socket.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    keepalive_probes: u64,
    keepalive_timeouts: u64,
    lost_segments: u64,
    retransmitted_segments: u64,
    rto_count: u64,
    tail_loss_probes: u64,
    bytes_sent: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segments_sent: u64,
    segments_received: u64,
}

/// Which loss recovery is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecoveryKind {
    /// Fast recovery (RFC 6582 / RFC 6675).
    Fast,
    /// After a retransmission timeout.
    Rto,
}

/// Proportional Rate Reduction state (RFC 6937 section 3) for one fast
/// recovery with SACK.
#[derive(Debug, Clone, Copy)]
struct Prr {
    /// "RecoverFS = snd.nxt - snd.una" when recovery began.
    recover_fs: usize,
    /// "prr_delivered": bytes delivered to the receiver during recovery.
    delivered: usize,
    /// "prr_out": bytes sent during recovery.
    out: usize,
}

impl Prr {
    /// Bytes that may be sent now (RFC 6937 section 3, with the
    /// slow-start reduction bound): "if (pipe > ssthresh) sndcnt =
    /// CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out; else sndcnt =
    /// MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData) +
    /// MSS)". Braid keeps no per-ACK DeliveredData and bounds the second
    /// case by `prr_delivered - prr_out + MSS`.
    fn budget(&self, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        if pipe > ssthresh {
            let target = (self.delivered as u128 * ssthresh as u128)
                .div_ceil(self.recover_fs.max(1) as u128);
            usize::try_from(target)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.out)
        } else {
            (ssthresh - pipe).min(self.delivered.saturating_sub(self.out) + mss)
        }
    }
}

/// A tail loss probe in flight, RFC 8985 section 7.4.
#[derive(Debug, Clone, Copy)]
struct TlpEpisode {
    /// TLP.end_seq: SND.NXT when the probe was sent.
    end_seq: SeqNum,
    /// TLP.is_retrans: the probe retransmitted the last segment.
    is_retrans: bool,
    /// First sequence number of the probe (a D-SACK for it names it).
    seq: SeqNum,
}

#[derive(Debug, Clone, Copy)]
struct Recovery {
    kind: RecoveryKind,
    /// The recovery point: SND.MAX when recovery began.
    point: SeqNum,
}

/// Options negotiated on the SYN exchange.
#[derive(Debug, Clone, Copy, Default)]
struct Negotiated {
    /// Peer's MSS clamped to ours.
    send_mss: usize,
    /// Shift we apply to the peer's window (its window scale).
    snd_wscale: u8,
    /// Shift we apply to our window (our window scale).
    rcv_wscale: u8,
    window_scaling: bool,
    timestamps: bool,
    sack: bool,
}

/// One TCP connection.
pub struct TcpSocket {
    config: Config,
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    timers: TimerTable,
    /// Whether the socket was created by `accept`.
    passive: bool,

    // Send sequence space (RFC 9293 section 3.3.1).
    iss: SeqNum,
    snd_una: SeqNum,
    /// Next new sequence number (SND.MAX: retransmissions never move it).
    snd_nxt: SeqNum,
    snd_wnd: usize,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    max_snd_wnd: usize,
    send_buf: SendBuffer,
    scoreboard: Scoreboard,
    /// Send time of the SYN (or SYN-ACK), for the first RTT sample.
    syn_sent_at: Option<Instant>,
    syn_retransmitted: bool,
    /// The SYN (SYN-ACK) must be (re)sent.
    syn_pending: bool,
    /// The user closed: a FIN follows the queued data.
    fin_queued: bool,
    /// Sequence number of our FIN, once sent.
    fin_seq: Option<SeqNum>,

    // Receive sequence space.
    irs: SeqNum,
    recv: RecvBuffer,
    /// Largest payload seen from the peer (for delayed ACKs).
    rcv_mss: usize,
    /// Bytes received in order since the last ACK we sent.
    bytes_unacked: usize,
    /// An ACK must go out at the next `poll_transmit`.
    ack_now: bool,
    /// Last ACK number we sent (RFC 7323 Last.ACK.sent).
    last_ack_sent: SeqNum,
    /// Right edge of the last window we advertised.
    adv_right: SeqNum,

    neg: Negotiated,
    ts_recent: Option<u32>,
    ts_offset: u32,

    rtt: RttEstimator,
    /// Consecutive retransmission timeouts (or SYN retransmissions).
    retries: u32,
    persist_backoff: u32,
    probe_pending: bool,
    /// Keepalive probes sent since the peer was last heard.
    keepalive_sent: u32,
    /// Force a send past sender SWS avoidance (persist timer fired).
    sws_override: bool,

    dupacks: u32,
    /// The retransmission timer holds a tail loss probe's PTO, not the RTO
    /// (RFC 8985 section 7.2).
    pto_armed: bool,
    /// PTO of one SRTT, not two, with at least four segments in flight
    /// (`set_quick_probe`).
    quick_probe: bool,
    /// The PTO fired: the next transmission is the loss probe (section 7.3).
    tlp_pending: bool,
    /// The loss probe in flight (section 7.4): at most one at a time.
    tlp: Option<TlpEpisode>,
    recovery: Option<Recovery>,
    /// RFC 6582 `recover`: the highest sequence number sent when the last
    /// fast recovery began.
    recover: SeqNum,
    /// NewReno cwnd inflation by duplicate ACKs (RFC 6582 section 3.2).
    inflation: usize,
    /// The first retransmission of a recovery goes out regardless of cwnd.
    fast_rtx_pending: bool,
    /// Proportional Rate Reduction during SACK fast recovery.
    prr: Option<Prr>,
    cc: Box<dyn Controller>,
    siblings: Vec<CcView>,
    /// Whether the last send was limited by the application.
    app_limited: bool,

    challenge_window: Instant,
    challenge_count: u32,

    replies: VecDeque<Segment>,
    /// The RST of an `abort`, to send at the next `poll_transmit`.
    abort_rst: Option<SeqNum>,
    events: VecDeque<Event>,
    write_blocked: bool,
    close_reason: Option<CloseReason>,
    counters: Counters,
    /// Bytes the application read, all told (receive autotuning).
    consumed: u64,
    /// Receiver-side RTT estimate from echoed timestamps (Linux
    /// `rcv_rtt_est`): a receiver that sends no data has no other.
    rcv_rtt: Option<Duration>,
    /// The echo of the last receiver-side RTT sample.
    rcv_rtt_last_tsecr: Option<u32>,
    right_sizing: autotune::RightSizing,
    /// When [`TcpSocket::penalize`] last cut the window.
    penalized_at: Option<Instant>,
    /// Internal pacing (`tcp/pacing.rs`), when `Config::pacing`.
    pacer: pacing::Pacer,
}

impl core::fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpSocket")
            .field("state", &self.state)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("snd_una", &self.snd_una)
            .field("snd_nxt", &self.snd_nxt)
            .field("rcv_nxt", &self.recv.rcv_nxt())
            .finish_non_exhaustive()
    }
}

/// The smallest shift such that `65535 << shift >= buffer`, at most 14
/// (RFC 7323 section 2.3).
fn window_shift_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (65535usize << shift) < buffer {
        shift += 1;
    }
    shift
}

impl TcpSocket {
    fn new(
        now: Instant,
        config: Config,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
    ) -> TcpSocket {
        let mut config = config;
        let iss = config.initial_seq.map_or(iss, SeqNum);
        config.delayed_ack = config.delayed_ack.min(Duration::from_millis(500));
        config.mss = config.mss.max(64);
        let rtt = RttEstimator::new(config.rto_initial, config.rto_min, config.rto_max);
        let cc = config.congestion.build(usize::from(config.mss));
        TcpSocket {
            state: State::Closed,
            local,
            remote,
            timers: TimerTable::default(),
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            send_buf: SendBuffer::new(config.send_buffer, iss + 1),
            scoreboard: Scoreboard::default(),
            syn_sent_at: None,
            syn_retransmitted: false,
            syn_pending: true,
            fin_queued: false,
            fin_seq: None,
            irs: SeqNum(0),
            recv: RecvBuffer::new(config.recv_buffer, SeqNum(0)),
            rcv_mss: 536,
            bytes_unacked: 0,
            ack_now: false,
            last_ack_sent: SeqNum(0),
            adv_right: SeqNum(0),
            neg: Negotiated {
                send_mss: 536,
                ..Negotiated::default()
            },
            ts_recent: None,
            ts_offset: iss.0.rotate_left(16),
            rtt,
            retries: 0,
            persist_backoff: 0,
            probe_pending: false,
            keepalive_sent: 0,
            sws_override: false,
            dupacks: 0,
            pto_armed: false,
            tlp_pending: false,
            quick_probe: false,
            tlp: None,
            recovery: None,
            recover: iss,
            inflation: 0,
            fast_rtx_pending: false,
            prr: None,
            cc,
            siblings: Vec::new(),
            app_limited: false,
            challenge_window: now,
            challenge_count: 0,
            replies: VecDeque::new(),
            abort_rst: None,
            events: VecDeque::new(),
            write_blocked: false,
            close_reason: None,
            counters: Counters::default(),
            consumed: 0,
            rcv_rtt: None,
            rcv_rtt_last_tsecr: None,
            right_sizing: autotune::RightSizing::new(10 * usize::from(config.mss)),
            penalized_at: None,
            pacer: pacing::Pacer::default(),
            config,
        }
    }

    /// Active open (RFC 9293 section 3.10.1): the socket enters SYN-SENT
    /// and its first `poll_transmit` returns the SYN. `iss` should come
    /// from an [`IsnGenerator`].
    pub fn connect(
        now: Instant,
        config: Config,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
    ) -> TcpSocket {
        let mut s = TcpSocket::new(now, config, local, remote, iss);
        s.set_state(State::SynSent);
        s
    }

    /// Passive open from an incoming SYN (RFC 9293 section 3.10.7.2, LISTEN
    /// state, "third, check for a SYN"): the socket enters SYN-RECEIVED and
    /// its first `poll_transmit` returns the SYN-ACK.
    pub fn accept(
        now: Instant,
        config: Config,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr<'_>,
        iss: SeqNum,
    ) -> Result<TcpSocket, AcceptError> {
        if !syn.flags.contains(TcpFlags::SYN)
            || syn.flags.intersects(TcpFlags::RST | TcpFlags::FIN)
            || syn.ack_number.is_some()
        {
            return Err(AcceptError::NotSyn);
        }
        let mut s = TcpSocket::new(now, config, local, remote, iss);
        s.passive = true;
        s.take_syn(syn);
        s.set_state(State::SynReceived);
        Ok(s)
    }

    /// Passive open completed by a SYN cookie (RFC 4987 section 3.6): the
    /// SYN-ACK with ISN `iss` was sent without state, and `syn` is the SYN
    /// as rebuilt from the cookie and the third ACK. The socket is in
    /// SYN-RECEIVED with its SYN-ACK counted as sent (nothing to send, no
    /// retransmission timer); feed it the third ACK next. The handshake
    /// gives an RTT sample only through a timestamp echo, and that one
    /// runs up to 31 ms long: the cookie SYN-ACK's TSval is set back to
    /// carry the SYN's options (as Linux's cookies do with 6 bits).
    // Same parameters as `accept` on purpose (`duplicates` pairs the two
    // signatures): a cookie open is an accept whose SYN-ACK already went.
    pub fn accept_cookie(
        now: Instant,
        config: Config,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr<'_>,
        iss: SeqNum,
    ) -> Result<TcpSocket, AcceptError> {
        let mut s = TcpSocket::accept(now, config, local, remote, syn, iss)?;
        s.syn_pending = false;
        Ok(s)
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Local address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Remote address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Our initial sequence number.
    pub fn iss(&self) -> SeqNum {
        self.iss
    }

    /// The peer's initial sequence number (valid once a SYN was received).
    pub fn irs(&self) -> SeqNum {
        self.irs
    }

    /// Why the connection closed, once CLOSED.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Queue data (RFC 9293 section 3.10.2, SEND). Returns the bytes
    /// accepted, bounded by free send buffer space; zero once closed.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if !self.state.can_send() || self.fin_queued {
            return 0;
        }
        let n = self.send_buf.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Free send buffer space.
    pub fn send_capacity(&self) -> usize {
        if self.state.can_send() && !self.fin_queued {
            self.send_buf.free()
        } else {
            0
        }
    }

    /// Bytes written and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.send_buf.len()
    }

    /// Read in-order data (RFC 9293 section 3.10.3, RECEIVE). Returns the
    /// count; 0 means no data now (see [`TcpSocket::is_read_closed`]).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.read_with_seq(buf).0
    }

    /// Like [`TcpSocket::read`], also returning the subflow sequence number
    /// of the first byte read (MPTCP maps it to a data sequence number).
    pub fn read_with_seq(&mut self, buf: &mut [u8]) -> (usize, SeqNum) {
        let (n, seq) = self.recv.read(buf);
        self.consumed += n as u64;
        if n > 0 && self.state.can_receive() && self.window_update_due() {
            self.ack_now = true;
        }
        (n, seq)
    }

    /// Whether reading opened the receive window enough to announce it in
    /// a segment of its own (a window update), rather than on the next ACK.
    ///
    /// RFC 9293 section 3.8.6.2.2 (receiver SWS avoidance): the window is
    /// worth announcing once it grew by min(RCV.BUFF / 2, Eff.snd.MSS). That
    /// alone is true after almost every read of a busy connection (a reader
    /// that keeps up frees a segment or two per read) and sent a pure ACK
    /// repeating the ACK just sent after every ACK. A separate update is
    /// only needed when the peer may be held back by what it was last told:
    /// the window must also have at least doubled over the advertised
    /// remainder (as Linux does), which covers a closed or nearly closed
    /// window; otherwise the next ACK carries the new window.
    fn window_update_due(&self) -> bool {
        let advertised = self.adv_right - self.recv.rcv_nxt();
        let window = self.recv.window();
        let threshold = (self.recv.capacity() / 2).min(self.neg.send_mss.max(self.rcv_mss));
        window.saturating_sub(advertised) >= threshold && window >= 2 * advertised
    }

    /// Sequence number of the next byte [`TcpSocket::read`] returns.
    pub fn read_seq(&self) -> SeqNum {
        self.recv.read_seq()
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self) -> usize {
        self.recv.readable()
    }

    /// Whether the peer's FIN arrived and all data before it was read.
    pub fn is_read_closed(&self) -> bool {
        self.recv.fin_consumed() && self.recv.readable() == 0
    }

    /// Close the sending direction (RFC 9293 section 3.10.4): a FIN follows
    /// the queued data.
    pub fn close(&mut self) {
        match self.state {
            State::Closed | State::Listen => {}
            // "Delete the TCB ... return 'closing' responses to any queued
            // SENDs". Braid accepts writes before the handshake completes,
            // so with data queued the FIN waits for ESTABLISHED instead (the
            // SYN-RECEIVED rule).
            State::SynSent if self.send_buf.len() == 0 => self.enter_closed(CloseReason::Normal),
            State::SynSent => self.fin_queued = true,
            // "If no SENDs have been issued and there is no pending data to
            // send, then form a FIN segment and send it ... otherwise, queue
            // for processing after entering ESTABLISHED state."
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// Abort (RFC 9293 section 3.10.5): in a synchronized state or
    /// SYN-RECEIVED "send a reset segment: <SEQ=SND.NXT><CTL=RST>".
    pub fn abort(&mut self) {
        if matches!(self.state, State::Closed | State::Listen) {
            return;
        }
        if self.state != State::SynSent && self.state != State::TimeWait {
            // Built at the next `poll_transmit`, so that hooks can add
            // options to it (MPTCP: MP_TCPRST, MP_FASTCLOSE).
            self.abort_rst = Some(self.snd_nxt);
        }
        self.enter_closed(CloseReason::Aborted);
    }

    /// Ask for an ACK at the next `poll_transmit` (MPTCP: to carry a
    /// DATA_ACK or an address option).
    pub fn request_ack(&mut self) {
        if self.state.is_synchronized() || self.state == State::SynReceived {
            self.ack_now = true;
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`TcpSocket::handle_timeout`] must be
    /// called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Treat the path as congested without a loss: the congestion
    /// controller responds as to a congestion event (CUBIC: cwnd times 0.7).
    /// MPTCP penalises a subflow whose queued bytes block the data level
    /// (Raiciu et al., NSDI 2012, section 4.2). At most once per smoothed
    /// RTT, never during loss recovery. Returns whether the window was cut.
    pub fn penalize(&mut self, now: Instant) -> bool {
        let srtt = self.rtt.srtt_or_initial();
        if self.recovery.is_some()
            || !self.state.is_synchronized()
            || self
                .penalized_at
                .is_some_and(|t| now.saturating_duration_since(t) < srtt)
        {
            return false;
        }
        self.penalized_at = Some(now);
        let ev = CongestionEvent {
            bytes_in_flight: self.bytes_in_flight(),
            srtt,
            flight_at_loss: None,
        };
        self.cc.on_congestion_event(now, &ev, &self.siblings);
        true
    }

    /// The views of the other subflows of the same MPTCP connection, passed
    /// to the congestion controller.
    pub fn set_sibling_views(&mut self, views: &[CcView]) {
        self.siblings.clear();
        self.siblings.extend_from_slice(views);
    }

    /// This subflow as a coupled congestion controller sees it.
    pub fn cc_view(&self) -> CcView {
        CcView {
            cwnd: self.cc.cwnd(),
            srtt: self.rtt.srtt_or_initial(),
            bytes_in_flight: self.bytes_in_flight(),
            mss: self.neg.send_mss,
            loss_interval: self.cc.loss_interval(),
        }
    }

    /// Statistics for schedulers and reports.
    pub fn stats(&self) -> SubflowStats {
        let c = &self.counters;
        SubflowStats {
            state: self.state,
            rcv_rtt: self.rcv_rtt,
            recv_buffer: self.recv.capacity(),
            send_buffer: self.send_buf.capacity(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            bytes_in_flight: self.bytes_in_flight(),
            pipe: self.scoreboard.pipe(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min_rtt(),
            latest_rtt: self.rtt.latest(),
            rto: self.rtt.rto(),
            mss: self.data_mss(0),
            snd_wnd: self.snd_wnd,
            send_buffer_free: self.send_capacity(),
            in_recovery: self.recovery.is_some(),
            lost_segments: c.lost_segments,
            retransmitted_segments: c.retransmitted_segments,
            rto_count: c.rto_count,
            tail_loss_probes: c.tail_loss_probes,
            keepalive_probes: c.keepalive_probes,
            bytes_sent: c.bytes_sent,
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            segments_sent: c.segments_sent,
            segments_received: c.segments_received,
        }
    }

    /// Bytes the congestion and receive windows let this subflow send now
    /// (for schedulers): `min(cwnd - pipe, SND.UNA + SND.WND - SND.NXT)`.
    pub fn available_window(&self) -> usize {
        if !self.state.is_synchronized() {
            return 0;
        }
        let cwnd = (self.cc.cwnd() + self.inflation).saturating_sub(self.scoreboard.pipe());
        let rwnd = (self.snd_una + self.snd_wnd) - self.snd_nxt;
        cwnd.min(rwnd)
    }

    /// Bytes sent and not yet acknowledged (sequence space).
    fn bytes_in_flight(&self) -> usize {
        self.snd_nxt - self.snd_una
    }

    /// The one place a state changes; logs the transition.
    fn set_state(&mut self, state: State) {
        if self.state != state {
            tracing::debug!(local = %self.local, remote = %self.remote, from = %self.state, to = %state, "tcp state");
            self.state = state;
        }
    }

    /// Enter CLOSED, stop every timer and report why.
    fn enter_closed(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.set_state(State::Closed);
        self.timers.stop_all();
        self.close_reason = Some(reason);
        self.ack_now = false;
        self.probe_pending = false;
        self.events.push_back(Event::Closed { reason });
    }

    /// Enter TIME-WAIT (RFC 9293 section 3.10.7.4): "Start the time-wait
    /// timer, turn off the other timers."
    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.stop_all();
        self.timers.set(Timer::TimeWait, now + self.config.msl * 2);
    }

    /// Count a challenge ACK against the RFC 5961 section 7 limit; returns
    /// whether it may be sent.
    fn challenge_ack(&mut self, now: Instant) {
        if now - self.challenge_window >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_now = true;
        } else {
            tracing::trace!(local = %self.local, "challenge ACK rate limited");
        }
    }
}

/// The reply to a segment that matches no connection, RFC 9293 section
/// 3.10.7.1 (CLOSED state): "If the ACK bit is off, sequence number zero is
/// used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK bit is on,
/// <SEQ=SEG.ACK><CTL=RST>." An incoming RST is never answered.
pub fn rst_for(seg: &TcpRepr<'_>) -> Option<TcpRepr<'static>> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let (seq_number, ack_number) = match seg.ack_number {
        Some(ack) => (ack, None),
        None => (SeqNum(0), Some(seg.seq_number + seg.segment_len())),
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq_number,
        ack_number,
        flags: TcpFlags::RST,
        window_len: 0,
        urgent_ptr: 0,
        options: TcpOptions::default(),
        payload: &[],
    })
}
