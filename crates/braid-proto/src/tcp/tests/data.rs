//! Receiving and sending data (RFC 9293 section 3.10.7.4), Nagle and
//! RFC 7323 (window scaling, PAWS, timestamps).

use super::*;

// ---- Data transfer (RFC 9293 section 3.10.7.4, seventh) ----

#[test]
fn in_order_data_delivered_and_ack_delayed() {
    let mut t = established();
    t.send(data(0, b"abcdef"));
    assert_eq!(t.events(), vec![Event::Readable]);
    // RFC 9293 section 3.8.6.3: the ACK may be delayed (40 ms here).
    t.recv_nothing();
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(40)));
    t.advance(Duration::from_millis(40));
    t.recv_expect(our_ack(6, BUF - 6));
    let mut buf = [0u8; 16];
    let (n, seq) = t.s.read_with_seq(&mut buf);
    assert_eq!(&buf[..n], b"abcdef");
    assert_eq!(seq, REMOTE_SEQ + 1);
    assert_eq!(t.s.read_seq(), REMOTE_SEQ + 7);
}

#[test]
fn delayed_ack_timeout_capped_at_500ms() {
    let mut t = established_with(
        Config {
            delayed_ack: Duration::from_secs(2),
            ..config()
        },
        mss_opts(),
    );
    t.send(data(0, b"a"));
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(500)));
}

/// RFC 5681 section 4.2: "an ACK SHOULD be generated for at least every
/// second full-sized segment".
#[test]
fn ack_every_second_full_segment() {
    let mut t = established();
    t.send(data(0, &KB));
    t.recv_nothing();
    t.send(data(1000, &KB));
    t.recv_expect(our_ack(2000, BUF - 2000));
    assert_eq!(t.s.poll_timeout(), None);
}

/// RFC 5681 section 4.2: out-of-order data is acknowledged at once (a
/// duplicate ACK), and so is the segment that fills the hole.
#[test]
fn out_of_order_reassembly_with_immediate_acks() {
    let mut t = established();
    t.send(data(3, b"def"));
    t.recv_expect(our_ack(0, BUF));
    assert_eq!(t.s.recv_queue(), 0);
    t.send(data(9, b"jkl"));
    t.recv_expect(our_ack(0, BUF));
    t.send(data(0, b"abc"));
    t.recv_expect(our_ack(6, BUF - 6));
    // Overlapping retransmission filling the last hole.
    t.send(data(5, b"fghi"));
    t.recv_expect(our_ack(12, BUF - 12));
    assert_eq!(t.read_all(), b"abcdefghijkl");
}

/// RFC 2018 section 4: the receiver reports out-of-order blocks, the most
/// recent first.
#[test]
fn sack_blocks_generated_most_recent_first() {
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
    t.send(data(3, b"def"));
    let blocks = |v: &[(usize, usize)]| {
        v.iter()
            .map(|&(l, r)| (REMOTE_SEQ + 1 + l, REMOTE_SEQ + 1 + r))
            .collect::<arrayvec::ArrayVec<_, 4>>()
    };
    let seg = t.recv();
    assert_eq!(seg.header.options.sack_blocks, blocks(&[(3, 6)]));
    t.send(data(9, b"jkl"));
    let seg = t.recv();
    assert_eq!(seg.header.options.sack_blocks, blocks(&[(9, 12), (3, 6)]));
    t.send(data(6, b"ghi"));
    let seg = t.recv();
    assert_eq!(seg.header.options.sack_blocks, blocks(&[(3, 12)]));
    t.send(data(0, b"abc"));
    let seg = t.recv();
    assert!(seg.header.options.sack_blocks.is_empty());
    assert_eq!(seg.header.ack_number, Some(REMOTE_SEQ + 13));
}

/// The receive window is the free buffer space; a full buffer advertises a
/// zero window, and reading reopens it (RFC 9293 section 3.8.6.2.2).
#[test]
fn receive_buffer_full_advertises_zero_window() {
    let mut t = established();
    t.send(data(0, &KB));
    t.send(data(1000, &KB));
    t.recv_expect(our_ack(2000, BUF - 2000));
    t.send(data(2000, &KB));
    t.send(data(3000, &KB));
    t.recv_expect(our_ack(4000, BUF - 4000));
    t.send(data(4000, &KB[..96]));
    t.advance(Duration::from_millis(40));
    t.recv_expect(our_ack(4096, 0));
    // Data beyond a zero window is dropped and answered.
    t.send(data(4096, b"x"));
    t.recv_expect(our_ack(4096, 0));
    let mut buf = [0u8; 2048];
    assert_eq!(t.s.read(&mut buf), 2048);
    t.recv_expect(our_ack(4096, 2048));
}

/// Receiver SWS avoidance (RFC 9293 section 3.8.6.2.2): a reader that
/// keeps up frees a segment or two after each ACK; that window growth rides
/// on the next ACK instead of a pure ACK repeating the last ACK number (a
/// kernel interop capture showed every ACK followed by such an update).
/// A window that had nearly closed is still announced on the read.
#[test]
fn read_sends_no_duplicate_window_update() {
    let mut t = established();
    let mut buf = [0u8; 4096];
    for round in 0..3 {
        let off = round * 2000;
        t.send(data(off, &KB));
        t.send(data(off + 1000, &KB));
        t.recv_expect(our_ack(off + 2000, BUF - 2000));
        assert_eq!(t.s.read(&mut buf), 2000);
        t.recv_nothing();
    }
    // Nearly closed (192 bytes left): reading announces the window.
    t.send(data(6000, &KB));
    t.send(data(7000, &KB));
    t.recv_expect(our_ack(8000, BUF - 2000));
    t.send(data(8000, &KB));
    t.send(data(9000, &KB[..904]));
    t.advance(Duration::from_millis(40));
    t.recv_expect(our_ack(9904, 192));
    assert_eq!(t.s.read(&mut buf), 3904);
    t.recv_expect(our_ack(9904, BUF));
}

// ---- Sending ----

/// RFC 9293 section 3.7.4: with Nagle, a small segment waits while data is
/// unacknowledged.
#[test]
fn nagle_holds_small_segment() {
    let mut t = established();
    t.s.write(b"a");
    t.recv_expect(our_data(0, b"a", TcpFlags::PSH));
    t.s.write(b"b");
    t.recv_nothing();
    t.send(ack(1));
    t.recv_expect(our_data(1, b"b", TcpFlags::PSH));
}

#[test]
fn nagle_off_sends_small_segments_at_once() {
    let mut t = established_with(
        Config {
            nagle: false,
            ..config()
        },
        mss_opts(),
    );
    t.s.write(b"a");
    t.recv_expect(our_data(0, b"a", TcpFlags::PSH));
    t.s.write(b"b");
    t.recv_expect(our_data(1, b"b", TcpFlags::PSH));
}

#[test]
fn segments_sized_to_mss_and_send_buffer_bounded() {
    let mut t = established_with(
        Config {
            send_buffer: 2500,
            ..config()
        },
        mss_opts(),
    );
    assert_eq!(t.s.write(&[7u8; 4000]), 2500);
    assert_eq!(t.recv().payload.len(), 1000);
    assert_eq!(t.recv().payload.len(), 1000);
    // Nagle: the 500-byte tail waits for the ACK.
    t.recv_nothing();
    t.send(ack(2000));
    assert_eq!(t.events(), vec![Event::Writable]);
    assert_eq!(t.recv().payload.len(), 500);
    t.send(ack(2500));
    assert_eq!(t.s.stats().bytes_acked, 2500);
}

// ---- RFC 7323 ----

/// RFC 7323 section 2: the window scale is applied to the peer's window we
/// receive and to the window we send (never in SYNs).
#[test]
fn window_scaling_applied_both_ways() {
    let opts = TcpOptions {
        window_scale: Some(2),
        ..mss_opts()
    };
    let syn = TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        options: opts,
        ..templ()
    };
    let cfg = Config {
        window_scaling: true,
        recv_buffer: 256 * 1024,
        recv_buffer_max: 256 * 1024,
        ..config()
    };
    let mut t = T {
        s: TcpSocket::accept(Instant::ZERO, cfg, local(), remote(), &syn, LOCAL_SEQ).unwrap(),
        now: Instant::ZERO,
    };
    let synack = t.recv();
    assert_eq!(synack.header.options.window_scale, Some(3));
    assert_eq!(synack.header.window_len, 65535);
    t.send(TcpRepr {
        window_len: 1000,
        ..ack(0)
    });
    t.s.write(&[1u8; 10_000]);
    let mut sent = 0;
    while let Some(seg) = t.s.poll_transmit(t.now) {
        assert_eq!(seg.header.window_len, ((256 * 1024) >> 3) as u16);
        sent += seg.payload.len();
    }
    assert_eq!(sent, 4000);
}

/// RFC 7323 section 5 (PAWS): a segment with an older TSval is dropped and
/// answered with an ACK.
#[test]
fn paws_drops_old_timestamp() {
    let mut t = established_with(
        Config {
            timestamps: true,
            ..config()
        },
        ts_opts(),
    );
    let ts = |tsval: u32| TcpOptions {
        timestamps: Some((tsval, 0)),
        ..TcpOptions::default()
    };
    t.send(TcpRepr {
        options: ts(100),
        ..data(0, b"abc")
    });
    t.send(TcpRepr {
        options: ts(50),
        ..data(3, b"def")
    });
    let reply = t.recv();
    assert_eq!(reply.header.ack_number, Some(REMOTE_SEQ + 4));
    assert_eq!(reply.header.options.timestamps.map(|t| t.1), Some(100));
    assert_eq!(t.read_all(), b"abc");
}

/// RFC 7323 section 4: RTT measured from the echoed timestamp, even for
/// retransmitted data.
#[test]
fn rtt_from_timestamps() {
    let mut t = established_with(
        Config {
            timestamps: true,
            ..config()
        },
        ts_opts(),
    );
    t.s.write(b"x");
    let seg = t.recv();
    let (tsval, _) = seg.header.options.timestamps.unwrap();
    assert_eq!(seg.payload.len(), 1);
    t.now += Duration::from_millis(50);
    t.send(TcpRepr {
        options: TcpOptions {
            timestamps: Some((2, tsval)),
            ..TcpOptions::default()
        },
        ..ack(1)
    });
    assert_eq!(t.s.stats().latest_rtt, Some(Duration::from_millis(50)));
}

// ---- More receive-side rules ----

/// RFC 9293 section 3.10.7.4, eighth: a FIN is processed only once all data
/// before it arrived; an early FIN waits in the reassembly queue.
#[test]
fn out_of_order_fin_waits_for_the_hole() {
    let mut t = established();
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..data(3, b"def")
    });
    t.recv_expect(our_ack(0, BUF));
    assert_eq!(t.s.state(), State::Established);
    t.send(data(0, b"abc"));
    // The hole is filled: data and FIN are acknowledged at once.
    t.recv_expect(our_ack(7, BUF - 6));
    assert_eq!(t.s.state(), State::CloseWait);
    assert_eq!(t.read_all(), b"abcdef");
    assert!(t.s.is_read_closed());
}

/// A data segment carries the pending ACK, cancelling the delayed-ACK timer.
#[test]
fn delayed_ack_piggybacked_on_data() {
    let mut t = established();
    t.send(data(0, b"ping"));
    t.s.write(b"pong");
    let seg = t.recv();
    assert_eq!(seg.header.ack_number, Some(REMOTE_SEQ + 5));
    assert_eq!(seg.payload, b"pong");
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(300)));
    t.advance(Duration::from_millis(40));
    assert_eq!(t.s.poll_transmit(t.now), None);
}

/// RFC 7323 section 3.2: timestamps are used only when both SYNs carry them;
/// the SYN,ACK echoes the peer's TSval.
#[test]
fn timestamps_negotiated_only_when_offered() {
    let cfg = Config {
        timestamps: true,
        ..config()
    };
    let t = syn_received_with(cfg.clone(), mss_opts());
    assert!(!t.s.neg.timestamps);
    let mut t = T {
        s: TcpSocket::accept(
            Instant::ZERO,
            cfg,
            local(),
            remote(),
            &TcpRepr {
                flags: TcpFlags::SYN,
                seq_number: REMOTE_SEQ,
                options: TcpOptions {
                    timestamps: Some((777, 0)),
                    ..mss_opts()
                },
                ..templ()
            },
            LOCAL_SEQ,
        )
        .unwrap(),
        now: Instant::ZERO,
    };
    let synack = t.recv();
    assert_eq!(synack.header.options.timestamps.map(|t| t.1), Some(777));
    // Full segments leave room for the 12 bytes of TSopt.
    assert_eq!(t.s.stats().mss, 988);
}
