//! What MPTCP (and the endpoint) sees of a subflow: owned outgoing
//! [`Segment`]s, the [`SegmentHooks`] called on every segment in and out,
//! and [`SubflowStats`] for schedulers.

use super::State;
use crate::time::Duration;
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// An outgoing segment that owns its options and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Header fields and options; `header.payload` is empty.
    pub header: TcpRepr<'static>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Segment {
    /// The segment as a [`TcpRepr`] borrowing the payload, ready to emit.
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            payload: &self.payload,
            ..self.header.clone()
        }
    }
}

/// What an outgoing segment is, for [`SegmentHooks::outgoing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingInfo {
    /// Sequence number.
    pub seq: SeqNum,
    /// Payload length.
    pub len: usize,
    /// Flags (ACK is `ack.is_some()`).
    pub flags: TcpFlags,
    /// Acknowledgment number.
    pub ack: Option<SeqNum>,
    /// Whether this payload was sent before.
    pub retransmission: bool,
    /// Option bytes still free (of 40) after TCP's own options.
    pub option_space_left: usize,
}

/// Hooks MPTCP uses to ride on a subflow. All methods default to no-ops.
pub trait SegmentHooks {
    /// Worst-case option bytes `outgoing` may add to a segment with these
    /// flags. TCP shrinks the payload (and SACK blocks) to leave this space.
    fn reserve_option_space(&mut self, flags: TcpFlags) -> usize {
        let _ = flags;
        0
    }
    /// Like [`SegmentHooks::reserve_option_space`], knowing whether the
    /// segment will carry data: a pure ACK may need less room (MPTCP: a
    /// DSS with only a DATA_ACK), leaving space for SACK blocks. Defaults
    /// to `reserve_option_space`.
    fn reserve_option_space_for(&mut self, flags: TcpFlags, has_data: bool) -> usize {
        let _ = has_data;
        self.reserve_option_space(flags)
    }
    /// An upper bound on the receive window to advertise, bytes (before
    /// scaling), applied after the socket's own free space: MPTCP
    /// advertises the connection-level window (RFC 8684 section 3.3.4).
    /// `None` (the default): the socket's own window.
    fn window_limit(&mut self) -> Option<usize> {
        None
    }
    /// The most payload a new segment starting at `seq` may carry, or
    /// `None` for no limit beyond TCP's own: MPTCP keeps each segment
    /// inside one DSS mapping when several are queued. A segment that ends
    /// at this limit counts as full for sender SWS avoidance.
    fn segment_limit(&mut self, seq: SeqNum) -> Option<usize> {
        let _ = seq;
        None
    }
    /// Called for every outgoing segment except RSTs answering segments
    /// that match no connection (the RST of [`super::TcpSocket::abort`] is
    /// included); may push MPTCP options into `opts.mptcp` within
    /// `info.option_space_left`. TCP cannot measure MPTCP options and trusts
    /// the hook to respect that bound.
    fn outgoing(&mut self, info: &OutgoingInfo, opts: &mut TcpOptions<'static>) {
        let _ = (info, opts);
    }
    /// Called for every segment handed to the socket; `accepted` is whether
    /// TCP accepted it (passed the sequence, PAWS and ACK checks).
    fn incoming(&mut self, seg: &TcpRepr<'_>, accepted: bool) {
        let _ = (seg, accepted);
    }
}

/// The no-op hooks of plain TCP.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl SegmentHooks for NoHooks {}

/// A subflow as a scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowStats {
    /// Connection state.
    pub state: State,
    /// Receiver-side RTT estimate (from echoed timestamps on data).
    pub rcv_rtt: Option<Duration>,
    /// Receive buffer capacity now (it grows with autotuning), bytes.
    pub recv_buffer: usize,
    /// Send buffer capacity now, bytes.
    pub send_buffer: usize,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes.
    pub ssthresh: usize,
    /// Bytes sent and not acknowledged.
    pub bytes_in_flight: usize,
    /// RFC 6675 pipe.
    pub pipe: usize,
    /// Smoothed RTT (None before the first sample).
    pub srtt: Option<Duration>,
    /// RTT variation.
    pub rttvar: Duration,
    /// Minimum RTT.
    pub min_rtt: Option<Duration>,
    /// Latest RTT sample.
    pub latest_rtt: Option<Duration>,
    /// Current RTO including backoff.
    pub rto: Duration,
    /// Payload bytes per full segment (peer MSS less TCP options).
    pub mss: usize,
    /// Peer's receive window, bytes.
    pub snd_wnd: usize,
    /// Free space in the send buffer.
    pub send_buffer_free: usize,
    /// Whether the socket is in fast or RTO recovery.
    pub in_recovery: bool,
    /// Segments deemed lost.
    pub lost_segments: u64,
    /// Segments retransmitted.
    pub retransmitted_segments: u64,
    /// Retransmission timeouts.
    pub rto_count: u64,
    /// Tail loss probe timeouts (RFC 8985 section 7.3: no acknowledgment
    /// for a PTO, about two smoothed RTTs, while data was in flight).
    pub tail_loss_probes: u64,
    /// Keepalive probes sent.
    pub keepalive_probes: u64,
    /// Payload bytes sent (including retransmissions).
    pub bytes_sent: u64,
    /// Payload bytes acknowledged.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segments_sent: u64,
    /// Segments received.
    pub segments_received: u64,
}
