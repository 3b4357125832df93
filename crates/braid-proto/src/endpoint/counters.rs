//! Endpoint counters: one per packet fate, in the spirit of Linux's MIB
//! counters. Every packet `Endpoint::handle_packet` drops bumps exactly one
//! of the drop counters.

/// What happened to the packets an endpoint saw and sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    /// Packets handed to `handle_packet`.
    pub packets_in: u64,
    /// Bytes handed to `handle_packet`.
    pub bytes_in: u64,
    /// Packets returned by `poll_transmit`.
    pub packets_out: u64,
    /// Bytes returned by `poll_transmit`.
    pub bytes_out: u64,
    /// Dropped: the IP or TCP header does not parse (truncated, bad length
    /// field, port zero, a broadcast or multicast source).
    pub malformed: u64,
    /// Segments processed without some of their options, which were
    /// malformed, unknown MPTCP subtypes, an MP_CAPABLE version other than
    /// 1, or beyond the four unknown kinds kept (the options are ignored,
    /// as Linux ignores them; the segment is not dropped). The MPTCP
    /// connection's MIB counts them by reason.
    pub options_ignored: u64,
    /// Dropped: the IPv4 header checksum or the TCP checksum is wrong.
    pub bad_checksum: u64,
    /// Dropped: valid IP we do not handle (IPv4 fragments).
    pub unsupported: u64,
    /// Dropped: not TCP.
    pub not_tcp: u64,
    /// Segments matching no connection that were answered with a RST
    /// (RFC 9293 section 3.10.7.1, or an ACK to a listening port, section
    /// 3.10.7.2).
    pub no_socket_rst: u64,
    /// Segments matching no connection dropped without an answer (RSTs,
    /// and segments to a listening port with neither SYN nor ACK).
    pub no_socket_dropped: u64,
    /// RSTs not sent because too many were already queued.
    pub rst_queue_full: u64,
    /// SYNs to a listening port dropped because the table was full (and
    /// third ACKs of cookie handshakes, which the peer retransmits).
    pub syn_table_full: u64,
    /// SYNs answered with a SYN cookie (RFC 4987 section 3.6): one
    /// SYN-ACK, no state, no retransmission.
    pub syn_cookies_sent: u64,
    /// Connections opened by a third ACK whose cookie checked out.
    pub syn_cookies_accepted: u64,
    /// ACKs to a listening port, while cookies were in use, whose cookie
    /// did not check out (answered with a RST).
    pub syn_cookies_invalid: u64,
    /// Cookie SYN-ACKs not sent because too many stateless replies were
    /// queued.
    pub syn_cookie_queue_full: u64,
    /// Half-open connections dropped, oldest first, to make room for a
    /// new SYN (without SYN cookies).
    pub half_open_dropped: u64,
    /// Passive opens (SYN to a listening port).
    pub accepted: u64,
    /// Active opens.
    pub connected: u64,
    /// Connections removed after reaching CLOSED.
    pub reaped: u64,
    /// Outgoing segments that could not be encoded (a bug or a hook that
    /// overfilled the option space); dropped.
    pub emit_errors: u64,
    /// MPTCP connections opened (SYN with MP_CAPABLE, RFC 8684 section
    /// 3.1).
    pub mptcp_connected: u64,
    /// MPTCP connections accepted (SYN with MP_CAPABLE to a listener).
    pub mptcp_accepted: u64,
    /// Keys drawn again because their token was taken (section 3.2).
    pub mptcp_token_collisions: u64,
    /// MP_JOIN SYNs handed to their connection and accepted.
    pub mp_join_accepted: u64,
    /// MP_JOIN SYNs with a token no connection holds (answered with RST +
    /// MP_TCPRST).
    pub mp_join_no_token: u64,
    /// MP_JOIN SYNs the connection refused (limit, not ready; RST +
    /// MP_TCPRST).
    pub mp_join_refused: u64,
    /// RSTs with MP_TCPRST sent for segments matching no subflow.
    pub mp_tcprst_sent: u64,
    /// Segments of a new subflow whose 4-tuple another connection uses
    /// (dropped).
    pub subflow_tuple_conflicts: u64,
    /// MPTCP events dropped because nobody polled them.
    pub mptcp_events_dropped: u64,
}
