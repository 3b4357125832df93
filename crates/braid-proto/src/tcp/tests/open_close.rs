//! Opening, closing and resets (RFC 9293 sections 3.5, 3.6, 3.5.3; RFC 5961).

use super::*;

// ---- Opening (RFC 9293 section 3.5) ----

#[test]
fn active_open() {
    let s = TcpSocket::connect(Instant::ZERO, config(), local(), remote(), LOCAL_SEQ);
    let mut t = T {
        s,
        now: Instant::ZERO,
    };
    assert_eq!(t.s.state(), State::SynSent);
    t.recv_expect(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: LOCAL_SEQ,
        options: mss_opts(),
        ..out()
    });
    t.recv_nothing();
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        ack_number: Some(LOCAL_SEQ + 1),
        options: mss_opts(),
        ..templ()
    });
    assert_eq!(t.s.state(), State::Established);
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.events(), vec![Event::Connected]);
    assert_eq!(t.s.poll_timeout(), None);
}

#[test]
fn passive_open() {
    let syn = TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        options: mss_opts(),
        ..templ()
    };
    let s = TcpSocket::accept(Instant::ZERO, config(), local(), remote(), &syn, LOCAL_SEQ).unwrap();
    let mut t = T {
        s,
        now: Instant::ZERO,
    };
    assert_eq!(t.s.state(), State::SynReceived);
    t.recv_expect(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: LOCAL_SEQ,
        ack_number: Some(REMOTE_SEQ + 1),
        options: mss_opts(),
        ..out()
    });
    t.send(ack(0));
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.events(), vec![Event::Connected]);
}

#[test]
fn accept_rejects_non_syn() {
    let seg = TcpRepr {
        flags: TcpFlags::SYN,
        ack_number: Some(SeqNum(1)),
        ..templ()
    };
    let r = TcpSocket::accept(Instant::ZERO, config(), local(), remote(), &seg, LOCAL_SEQ);
    assert_eq!(r.err(), Some(AcceptError::NotSyn));
}

/// RFC 9293 figure 8: both SYNs cross; each side answers SYN,ACK.
#[test]
fn simultaneous_open() {
    let mut t = syn_sent();
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        options: mss_opts(),
        ..templ()
    });
    assert_eq!(t.s.state(), State::SynReceived);
    t.recv_expect(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: LOCAL_SEQ,
        ack_number: Some(REMOTE_SEQ + 1),
        options: mss_opts(),
        ..out()
    });
    // The peer's SYN,ACK (its SYN again, now with an ACK).
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        ack_number: Some(LOCAL_SEQ + 1),
        ..templ()
    });
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.events(), vec![Event::Connected]);
}

#[test]
fn syn_retransmitted_with_backoff_then_timeout() {
    let mut t = syn_sent_with(Config {
        syn_retries: 2,
        ..config()
    });
    assert_eq!(t.s.poll_timeout(), Some(Instant::from_secs(1)));
    t.advance(Duration::from_secs(1));
    assert_eq!(t.recv().header.flags, TcpFlags::SYN);
    assert_eq!(t.s.poll_timeout(), Some(Instant::from_secs(3)));
    t.advance(Duration::from_secs(2));
    assert_eq!(t.recv().header.flags, TcpFlags::SYN);
    t.advance(Duration::from_secs(4));
    assert_eq!(t.s.state(), State::Closed);
    assert_eq!(
        t.events(),
        vec![Event::Closed {
            reason: CloseReason::Timeout
        }]
    );
}

#[test]
fn syn_received_retransmits_syn_ack_on_duplicate_syn() {
    let mut t = syn_received();
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        options: mss_opts(),
        ..templ()
    });
    assert_eq!(t.recv().header.flags, TcpFlags::SYN);
    assert_eq!(t.s.state(), State::SynReceived);
}

/// RFC 9293 section 3.10.7.3: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send
/// a reset".
#[test]
fn syn_sent_bad_ack_gets_rst() {
    let mut t = syn_sent();
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ,
        ack_number: Some(LOCAL_SEQ + 100),
        ..templ()
    });
    t.recv_expect(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: LOCAL_SEQ + 100,
        window_len: 0,
        ..out()
    });
    assert_eq!(t.s.state(), State::SynSent);
}

/// RFC 9293 section 3.10.7.4, SYN-RECEIVED: an unacceptable ACK is answered
/// with <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn syn_received_bad_ack_gets_rst() {
    let mut t = syn_received();
    t.send(ack(50));
    t.recv_expect(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: LOCAL_SEQ + 51,
        window_len: 0,
        ..out()
    });
    assert_eq!(t.s.state(), State::SynReceived);
}

// ---- Closing (RFC 9293 section 3.6) ----

#[test]
fn close_from_local_side_and_time_wait_expiry() {
    let mut t = time_wait();
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_secs(60)));
    t.advance(Duration::from_secs(59));
    assert_eq!(t.s.state(), State::TimeWait);
    t.advance(Duration::from_secs(1));
    assert_eq!(t.s.state(), State::Closed);
    assert!(t.events().contains(&Event::Closed {
        reason: CloseReason::Normal
    }));
}

#[test]
fn close_from_remote_side() {
    let mut t = close_wait();
    assert_eq!(t.events(), vec![Event::Readable]);
    assert!(t.s.is_read_closed());
    assert_eq!(t.s.write(b"x"), 1);
    let mut t = last_ack_after_write(t);
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ + 2,
        ..ack(2)
    });
    assert_eq!(t.s.state(), State::Closed);
    assert_eq!(
        t.events(),
        vec![Event::Closed {
            reason: CloseReason::Normal
        }]
    );
}

/// In CLOSE-WAIT data can still be sent; the FIN follows it.
fn last_ack_after_write(mut t: T) -> T {
    t.s.close();
    t.recv_expect(TcpRepr {
        flags: TcpFlags::FIN | TcpFlags::PSH,
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 2),
        payload: b"x",
        ..out()
    });
    assert_eq!(t.s.state(), State::LastAck);
    t
}

#[test]
fn last_ack_closes_on_ack_of_fin() {
    let mut t = last_ack();
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ + 2,
        ..ack(1)
    });
    assert_eq!(t.s.state(), State::Closed);
}

/// RFC 9293 figure 13: both sides close at once; CLOSING, then TIME-WAIT.
#[test]
fn simultaneous_close() {
    let mut t = closing();
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ + 2,
        ..ack(1)
    });
    assert_eq!(t.s.state(), State::TimeWait);
}

#[test]
fn fin_wait_1_fin_with_ack_goes_to_time_wait() {
    let mut t = fin_wait_1();
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..ack(1)
    });
    assert_eq!(t.s.state(), State::TimeWait);
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 2,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
}

/// "The only thing that can arrive in this state is a retransmission of the
/// remote FIN. Acknowledge it, and restart the 2 MSL timeout."
#[test]
fn time_wait_acks_retransmitted_fin_and_restarts_timer() {
    let mut t = time_wait();
    t.now += Duration::from_secs(30);
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..ack(1)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 2,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_secs(60)));
}

#[test]
fn close_in_syn_sent_deletes_tcb() {
    let mut t = syn_sent();
    t.s.close();
    assert_eq!(t.s.state(), State::Closed);
    t.recv_nothing();
}

#[test]
fn close_in_syn_sent_with_queued_data_sends_it_then_fin() {
    let mut t = syn_sent();
    t.s.write(b"hello");
    t.s.close();
    assert_eq!(t.s.state(), State::SynSent);
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        ack_number: Some(LOCAL_SEQ + 1),
        options: mss_opts(),
        ..templ()
    });
    assert_eq!(t.s.state(), State::FinWait1);
    t.recv_expect(our_data(0, b"hello", TcpFlags::PSH | TcpFlags::FIN));
}

#[test]
fn close_in_syn_received_sends_fin_once_established() {
    let mut t = syn_received();
    t.s.close();
    t.recv_nothing();
    t.send(ack(0));
    assert_eq!(t.s.state(), State::FinWait1);
    assert_eq!(t.recv().header.flags, TcpFlags::FIN);
}

#[test]
fn abort_sends_rst() {
    let mut t = established();
    t.s.abort();
    t.recv_expect(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: LOCAL_SEQ + 1,
        window_len: 0,
        ..out()
    });
    assert_eq!(t.s.state(), State::Closed);
    assert_eq!(
        t.events(),
        vec![Event::Closed {
            reason: CloseReason::Aborted
        }]
    );
}

// ---- Resets (RFC 9293 section 3.5.3, RFC 5961 section 3) ----

#[test]
fn rst_in_syn_sent_with_acceptable_ack_resets() {
    let mut t = syn_sent();
    t.send(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: SeqNum(0),
        ack_number: Some(LOCAL_SEQ + 1),
        ..templ()
    });
    assert_eq!(t.s.state(), State::Closed);
    assert_eq!(t.s.close_reason(), Some(CloseReason::Reset));
}

#[test]
fn rst_in_syn_sent_without_ack_ignored() {
    let mut t = syn_sent();
    t.send(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: SeqNum(0),
        ..templ()
    });
    assert_eq!(t.s.state(), State::SynSent);
    t.recv_nothing();
}

/// RFC 5961 section 3.2: a RST whose sequence number is exactly RCV.NXT
/// resets the connection, in every state past SYN-SENT.
#[test]
fn rst_with_exact_seq_resets_in_each_state() {
    let cases: [(fn() -> T, SeqNum); 8] = [
        (syn_received, REMOTE_SEQ + 1),
        (established, REMOTE_SEQ + 1),
        (fin_wait_1, REMOTE_SEQ + 1),
        (fin_wait_2, REMOTE_SEQ + 1),
        (close_wait, REMOTE_SEQ + 2),
        (closing, REMOTE_SEQ + 2),
        (last_ack, REMOTE_SEQ + 2),
        (time_wait, REMOTE_SEQ + 2),
    ];
    for (make, seq) in cases {
        let mut t = make();
        let before = t.s.state();
        t.send(TcpRepr {
            flags: TcpFlags::RST,
            seq_number: seq,
            ..templ()
        });
        assert_eq!(t.s.state(), State::Closed, "RST in {before}");
        assert_eq!(t.s.close_reason(), Some(CloseReason::Reset));
        t.recv_nothing();
    }
}

/// RFC 5961 section 3.2: a RST in the window but not at RCV.NXT gets a
/// challenge ACK; challenge ACKs are rate limited (section 7).
#[test]
fn rst_in_window_not_exact_gets_challenge_ack_rate_limited() {
    let mut t = established_with(
        Config {
            challenge_ack_limit: 2,
            ..config()
        },
        mss_opts(),
    );
    let challenge = TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    };
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        seq_number: REMOTE_SEQ + 10,
        ..templ()
    };
    for _ in 0..2 {
        t.send(rst.clone());
        t.recv_expect(challenge.clone());
    }
    t.send(rst.clone());
    t.recv_nothing();
    assert_eq!(t.s.state(), State::Established);
    t.now += Duration::from_secs(1);
    t.send(rst.clone());
    t.recv_expect(challenge);
}

#[test]
fn rst_outside_window_ignored() {
    let mut t = established();
    t.send(TcpRepr {
        flags: TcpFlags::RST,
        seq_number: REMOTE_SEQ + 100_000,
        ..templ()
    });
    t.recv_nothing();
    assert_eq!(t.s.state(), State::Established);
}

/// RFC 5961 section 4.2: a SYN in a synchronized state gets a challenge ACK.
#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut t = established();
    t.send(TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ + 1,
        ..templ()
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.s.state(), State::Established);
}

/// RFC 9293 / RFC 5961 section 5.2: an ACK of data not yet sent is dropped
/// and answered with an ACK.
#[test]
fn ack_of_unsent_data_dropped_and_acked() {
    let mut t = established();
    t.send(TcpRepr {
        payload: b"abc",
        ..ack(100)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.s.recv_queue(), 0);
}

/// RFC 5961 section 5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped
/// with a challenge ACK.
#[test]
fn ack_too_old_gets_challenge_ack() {
    let mut t = established();
    t.send(TcpRepr {
        payload: b"abc",
        ack_number: Some(LOCAL_SEQ - 100_000),
        ..ack(0)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.s.recv_queue(), 0);
}

#[test]
fn unacceptable_segment_gets_ack() {
    let mut t = established();
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ + 100_000,
        payload: b"abc",
        ..ack(0)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
}

/// RFC 9293 section 3.10.7.1: segments for no connection get a RST.
#[test]
fn rst_for_segments_matching_nothing() {
    let syn = TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: SeqNum(500),
        ..templ()
    };
    assert_eq!(
        rst_for(&syn),
        Some(TcpRepr {
            flags: TcpFlags::RST,
            seq_number: SeqNum(0),
            ack_number: Some(SeqNum(501)),
            window_len: 0,
            ..out()
        })
    );
    let data = TcpRepr {
        seq_number: SeqNum(500),
        ack_number: Some(SeqNum(900)),
        payload: b"abc",
        ..templ()
    };
    assert_eq!(
        rst_for(&data),
        Some(TcpRepr {
            flags: TcpFlags::RST,
            seq_number: SeqNum(900),
            window_len: 0,
            ..out()
        })
    );
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        ..templ()
    };
    assert_eq!(rst_for(&rst), None);
}

#[test]
fn closed_socket_answers_with_rst() {
    let mut t = established();
    t.s.abort();
    t.recv();
    t.send(TcpRepr {
        payload: b"abc",
        ..ack(0)
    });
    assert_eq!(t.recv().header.flags, TcpFlags::RST);
}
