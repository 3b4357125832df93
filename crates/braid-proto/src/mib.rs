//! Counters for every drop and anomaly of an MPTCP connection, in the
//! spirit of Linux `net/mptcp/mib.h` (one field per counter). Names follow
//! the Linux counters where one exists (`MPTcpExt...` in `nstat`).

/// Per-connection MPTCP counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mib {
    /// A SYN with MP_CAPABLE was answered with MP_CAPABLE (MPCapableSYNRX).
    pub mp_capable_syn_rx: u64,
    /// The SYN/ACK had no (usable) MP_CAPABLE: fell back to TCP
    /// (MPCapableActiveFallback).
    pub mp_capable_active_fallback: u64,
    /// SYNs with MP_CAPABLE went unanswered
    /// (`ConnConfig::syn_retrans_before_fallback` times): the next went
    /// without, and the connection is plain TCP (a middlebox that drops
    /// unknown options; Linux's MPCapableSYNTXDrop).
    pub mp_capable_syn_dropped: u64,
    /// Joins not made or refused because they were to the initial
    /// address and port of a side that set MP_CAPABLE's C flag.
    pub mp_join_denied: u64,
    /// The SYN or third ACK had no MP_CAPABLE: fell back to TCP
    /// (MPCapableFallbackACK / MPCapablePassiveFallback).
    pub mp_capable_passive_fallback: u64,
    /// MP_CAPABLE with an unsupported version (RFC 6824's version 0 is
    /// ignored on any segment) or without the `H` flag.
    pub mp_capable_bad_version: u64,
    /// The third ACK's MP_CAPABLE echoed a key that is not ours.
    pub mp_capable_bad_key: u64,
    /// MP_JOIN SYNs accepted (MPJoinSynRx).
    pub mp_join_syn_rx: u64,
    /// MP_JOIN SYN refused: subflow limit reached.
    pub mp_join_syn_limit: u64,
    /// MP_JOIN SYN/ACK with a bad HMAC (MPJoinSynAckHMacFailure).
    pub mp_join_synack_hmac_failure: u64,
    /// MP_JOIN third ACK with a bad or missing HMAC (MPJoinAckHMacFailure).
    pub mp_join_ack_hmac_failure: u64,
    /// Subflows fully established by a join (MPJoinAckRx).
    pub mp_join_ack_rx: u64,
    /// Data mappings received and accepted (DSSMapping-like).
    pub dss_mappings_rx: u64,
    /// Mapping identical to one already known (every segment of a
    /// multi-segment mapping repeats it; also retransmissions).
    pub dss_duplicate_mapping: u64,
    /// Invalid mapping (DSSNotMatching): subflow reset.
    pub dss_invalid_mapping: u64,
    /// Too many mappings held for one subflow: the oldest was dropped.
    pub dss_mapping_overflow: u64,
    /// Data on a subflow without any mapping (DSSNoMatchTCP).
    pub dss_unmapped_data: u64,
    /// DSS checksum failures (DataCsumErr).
    pub dss_checksum_error: u64,
    /// Data-level bytes received that were already received (duplicates
    /// from reinjection or retransmission), trimmed.
    pub duplicate_data_bytes: u64,
    /// Data-level out-of-order segments queued (OFOQueue).
    pub ofo_queued: u64,
    /// DATA_ACKs beyond what was sent, ignored.
    pub data_ack_invalid: u64,
    /// DATA_FIN without a mapping, ignored.
    pub data_fin_without_mapping: u64,
    /// Bytes reinjected on another subflow.
    pub reinjected_bytes: u64,
    /// Opportunistic reinjections: chunks of a slow subflow sent again
    /// over an idle faster one, window-blocked or at the tail.
    pub opportunistic_reinjections: u64,
    /// Data-level retransmission timeouts that sent the oldest
    /// unacknowledged data again (Linux `mptcp_retransmit_timer`): the
    /// subflows had acknowledged it, the peer never DATA_ACKed it.
    pub data_rtx_timeouts: u64,
    /// Subflows the path manager re-created after a failure, once their
    /// backoff ran out.
    pub subflows_recreated: u64,
    /// Joins at the subflow limit that replaced a silent subflow from the
    /// same address (the peer came back on a path it left).
    pub mp_join_stale_replaced: u64,
    /// Slow subflows penalised for blocking the data level (their
    /// controller cut the window as for a congestion event).
    pub subflow_penalized: u64,
    /// ADD_ADDR received with a valid HMAC (AddAddr).
    pub add_addr_rx: u64,
    /// ADD_ADDR with a bad HMAC, ignored (AddAddrDrop).
    pub add_addr_hmac_failure: u64,
    /// ADD_ADDR beyond the accepted-address limit, echoed and ignored.
    pub add_addr_over_limit: u64,
    /// ADD_ADDR echoes received.
    pub add_addr_echo_rx: u64,
    /// ADD_ADDR retransmissions (AddAddrTx retransmits).
    pub add_addr_retransmits: u64,
    /// REMOVE_ADDR received (RmAddr).
    pub rm_addr_rx: u64,
    /// REMOVE_ADDR queued for a local address that went down (RmAddrTx).
    pub rm_addr_tx: u64,
    /// MP_PRIO received (MPPrioRx).
    pub mp_prio_rx: u64,
    /// MP_FAIL sent (MPFailTx).
    pub mp_fail_tx: u64,
    /// MP_FAIL received (MPFailRx).
    pub mp_fail_rx: u64,
    /// Fell back to TCP with an infinite mapping (InfiniteMapRx).
    pub infinite_map_rx: u64,
    /// MP_FASTCLOSE sent (MPFastcloseTx).
    pub mp_fastclose_tx: u64,
    /// MP_FASTCLOSE received with our key (MPFastcloseRx).
    pub mp_fastclose_rx: u64,
    /// MP_FASTCLOSE with a wrong key, ignored.
    pub mp_fastclose_bad_key: u64,
    /// Subflow RSTs sent with MP_TCPRST (MPRstTx).
    pub mp_rst_tx: u64,
    /// Subflow RSTs received with MP_TCPRST (MPRstRx).
    pub mp_rst_rx: u64,
    /// MPTCP options whose context was wrong (e.g. MP_JOIN after the
    /// handshake), ignored.
    pub unexpected_option: u64,
    /// Option that did not fit the segment and was dropped.
    pub option_no_space: u64,
    /// Pure ACKs that left the DSS out to make room for an address option
    /// (ADD_ADDR with a port or IPv6, its echo, REMOVE_ADDR), as Linux's
    /// "drop other suboptions".
    pub dss_left_out_for_addr: u64,
    /// MPTCP options received with a subtype RFC 8684 does not define,
    /// ignored (Linux `mptcp_parse_option` skips them).
    pub mptcp_unknown_subtype_rx: u64,
    /// Options received with a length that does not fit their kind or
    /// MPTCP subtype, ignored as Linux ignores them; the segment is
    /// processed without them.
    pub malformed_option_rx: u64,
    /// Options received beyond the four MPTCP and four unknown-kind ones a
    /// segment keeps, ignored.
    pub excess_option_rx: u64,
}
