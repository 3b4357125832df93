//! Loss recovery: RTO and Karn (RFC 6298), fast retransmit (RFC 5681,
//! RFC 6582), SACK recovery (RFC 6675), tail loss probes (RFC 8985), the
//! persist timer and PRR (RFC 6937).

use super::*;

/// RFC 6298 section 5: the timer fires after RTO, the earliest segment is
/// retransmitted, and RTO doubles each time.
#[test]
fn rto_fires_and_backs_off_exponentially() {
    let mut t = established();
    t.s.write(b"abcdef");
    t.recv_expect(our_data(0, b"abcdef", TcpFlags::PSH));
    // SRTT 100 ms, RTTVAR 50 ms: RTO 300 ms.
    let mut rto = Duration::from_millis(300);
    for _ in 0..3 {
        assert_eq!(t.s.poll_timeout(), Some(t.now + rto));
        t.advance(rto);
        let seg = t.recv();
        assert_eq!(seg.header.seq_number, LOCAL_SEQ + 1);
        assert_eq!(seg.payload, b"abcdef");
        t.recv_nothing();
        rto *= 2;
    }
    assert_eq!(t.s.stats().rto_count, 3);
}

/// RFC 6298 section 3 (Karn): "RTT samples MUST NOT be made using segments
/// that were retransmitted".
#[test]
fn karn_no_rtt_sample_from_retransmission() {
    let mut t = established();
    t.s.write(b"abcdef");
    t.recv();
    t.advance(Duration::from_millis(300));
    t.recv();
    t.now += Duration::from_millis(10);
    t.send(ack(6));
    assert_eq!(t.s.stats().srtt, Some(Duration::from_millis(100)));
    // A fresh segment gives a sample again.
    t.s.write(b"g");
    t.recv();
    t.now += Duration::from_millis(20);
    t.send(ack(7));
    assert_eq!(t.s.stats().srtt, Some(Duration::from_micros(90_000)));
}

#[test]
fn retransmissions_give_up_after_limit() {
    let mut t = established_with(
        Config {
            max_retransmissions: 2,
            ..config()
        },
        mss_opts(),
    );
    t.s.write(b"x");
    t.recv();
    for _ in 0..3 {
        let at = t.s.poll_timeout().unwrap();
        t.now = at;
        t.s.handle_timeout(at);
        while t.s.poll_transmit(t.now).is_some() {}
    }
    assert_eq!(t.s.state(), State::Closed);
    assert_eq!(t.s.close_reason(), Some(CloseReason::Timeout));
}

/// RFC 5681 section 3.2 / RFC 6582: without SACK, the third duplicate ACK
/// triggers a retransmission of the first unacknowledged segment.
#[test]
fn fast_retransmit_after_three_dup_acks() {
    let mut t = established();
    send_segments(&mut t, 5);
    t.send(ack(1000));
    t.recv_nothing();
    t.send(ack(1000));
    t.send(ack(1000));
    t.recv_nothing();
    t.send(ack(1000));
    let rtx = t.recv();
    assert_eq!(rtx.header.seq_number, LOCAL_SEQ + 1001);
    assert_eq!(rtx.payload.len(), 1000);
    let st = t.s.stats();
    assert!(st.in_recovery);
    assert_eq!(st.ssthresh, 2000); // FlightSize 4000 / 2
    // A partial ACK retransmits the next hole (RFC 6582 step 5) ...
    t.send(ack(3000));
    assert_eq!(t.recv().header.seq_number, LOCAL_SEQ + 3001);
    // ... and the full ACK ends recovery.
    t.send(ack(5000));
    assert!(!t.s.stats().in_recovery);
    assert_eq!(t.s.stats().cwnd, 2000);
}

/// RFC 6675: with SACK, only the holes are retransmitted.
#[test]
fn sack_recovery_retransmits_only_holes() {
    let opts = TcpOptions {
        sack_permitted: true,
        ..mss_opts()
    };
    let mut t = established_with(
        Config {
            sack: true,
            ..config()
        },
        opts,
    );
    send_segments(&mut t, 6);
    let sack = |blocks: &[(usize, usize)]| TcpRepr {
        options: TcpOptions {
            sack_blocks: blocks
                .iter()
                .map(|&(l, r)| (LOCAL_SEQ + 1 + l, LOCAL_SEQ + 1 + r))
                .collect(),
            ..TcpOptions::default()
        },
        ..ack(0)
    };
    // Segments 0 and 2 are lost.
    t.send(sack(&[(1000, 2000)]));
    t.send(sack(&[(3000, 4000), (1000, 2000)]));
    t.recv_nothing();
    t.send(sack(&[(3000, 5000), (1000, 2000)]));
    let rtx = t.recv();
    assert_eq!(rtx.header.seq_number, LOCAL_SEQ + 1);
    t.recv_nothing();
    t.send(sack(&[(3000, 6000), (1000, 2000)]));
    let rtx = t.recv();
    assert_eq!(rtx.header.seq_number, LOCAL_SEQ + 2001);
    t.recv_nothing();
    assert_eq!(t.s.stats().retransmitted_segments, 2);
    t.send(ack(6000));
    assert!(!t.s.stats().in_recovery);
}

/// Three segments out, no ACK: the loss probe (RFC 8985 section 7.3)
/// retransmits the last one at PTO = 2 SRTT + 2 ms, before the RTO.
fn probe_after_silent_tail(t: &mut T) {
    send_segments(t, 3);
    // SRTT 100 ms: PTO 202 ms, RTO 300 ms.
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(202)));
    t.advance(Duration::from_millis(202));
    let probe = t.recv();
    assert_eq!(probe.header.seq_number, LOCAL_SEQ + 1 + 2000);
    assert_eq!(probe.payload.len(), 1000);
    t.recv_nothing();
    // The RTO is armed behind the probe; no timeout happened.
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(300)));
    assert_eq!(t.s.stats().rto_count, 0);
}

/// RFC 8985 section 7.4.2: a retransmitted probe followed by an ACK above
/// TLP.end_seq (and no D-SACK) repaired a loss: the congestion response of
/// a fast recovery, not a timeout's collapse to one segment.
#[test]
fn tail_loss_probe_before_rto_then_reduction() {
    let mut t = sack_established();
    let cwnd = t.s.stats().cwnd;
    probe_after_silent_tail(&mut t);
    // ACK of exactly TLP.end_seq: undecided (a D-SACK may follow).
    t.send(ack(3000));
    assert_eq!(t.s.stats().cwnd, cwnd);
    t.s.write(&[7u8; 1000]);
    assert_eq!(t.recv().header.seq_number, LOCAL_SEQ + 1 + 3000);
    t.send(ack(4000));
    let st = t.s.stats();
    assert!(
        st.cwnd < cwnd && st.cwnd >= 2 * 1000,
        "cwnd {} after the probe repaired a loss (was {cwnd})",
        st.cwnd
    );
    assert_eq!(st.rto_count, 0);
}

/// RFC 8985 section 7.4.2 with RFC 2883: a D-SACK for the probe shows it
/// was redundant (the tail's ACKs were lost, not its data): no reduction.
#[test]
fn tail_loss_probe_dsacked_is_no_loss() {
    let mut t = sack_established();
    let cwnd = t.s.stats().cwnd;
    probe_after_silent_tail(&mut t);
    t.send(TcpRepr {
        options: TcpOptions {
            sack_blocks: [(LOCAL_SEQ + 1 + 2000, LOCAL_SEQ + 1 + 3000)]
                .into_iter()
                .collect(),
            ..TcpOptions::default()
        },
        ..ack(3000)
    });
    t.s.write(&[7u8; 1000]);
    t.recv();
    t.send(ack(4000));
    assert!(t.s.stats().cwnd >= cwnd);
    assert_eq!(t.s.poll_timeout(), None);
}

/// RFC 9293 section 3.8.6.1: a zero window is probed after the persist
/// timeout, with exponential backoff; the window reopening resumes sending.
#[test]
fn zero_window_probe_after_persist_timeout() {
    let mut t = established();
    t.send(TcpRepr {
        window_len: 0,
        ..ack(0)
    });
    t.s.write(b"abc");
    t.recv_nothing();
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(300)));
    t.advance(Duration::from_millis(300));
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(600)));
    // The probe's answer opens the window.
    t.send(ack(0));
    t.recv_expect(our_data(0, b"abc", TcpFlags::PSH));
}

/// RFC 6937 section 3: while pipe exceeds ssthresh, PRR sends
/// `ceil(prr_delivered * ssthresh / RecoverFS) - prr_out`; below it, at
/// most `ssthresh - pipe`, growing by at most one MSS past what was
/// delivered (slow-start reduction bound).
#[test]
fn prr_sends_in_proportion_to_delivery() {
    let prr = Prr {
        recover_fs: 10_000,
        delivered: 1_000,
        out: 0,
    };
    // 1000 delivered of a 10000-byte flight with ssthresh 7000: 700 may go.
    assert_eq!(prr.budget(9_000, 7_000, 1_000), 700);
    assert_eq!(Prr { out: 700, ..prr }.budget(9_000, 7_000, 1_000), 0);
    // Below ssthresh: bounded by the gap and by delivered - out + MSS.
    assert_eq!(prr.budget(6_500, 7_000, 1_000), 500);
    assert_eq!(prr.budget(1_000, 7_000, 1_000), 2_000);
}

/// RFC 6675 section 2: with SACK, a duplicate ACK must SACK new data. The
/// ACKs a receiver sends for duplicated segments carry no new SACK
/// information and do not start a fast retransmit.
#[test]
fn sack_dup_acks_without_new_sack_info_do_not_retransmit() {
    let opts = TcpOptions {
        sack_permitted: true,
        ..mss_opts()
    };
    let mut t = established_with(
        Config {
            sack: true,
            ..config()
        },
        opts,
    );
    send_segments(&mut t, 6);
    t.send(ack(1000));
    for _ in 0..5 {
        t.send(ack(1000));
    }
    t.recv_nothing();
    assert!(!t.s.stats().in_recovery);
    assert_eq!(t.s.stats().retransmitted_segments, 0);
}
