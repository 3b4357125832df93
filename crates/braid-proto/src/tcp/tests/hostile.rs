//! Hostile input: random segments in every state.

use super::*;

// ---- Hostile input ----

/// Random segments thrown at sockets in every state never panic, never
/// grow the receive queue past the buffer, and never deliver bytes that
/// differ from what the peer sent at those sequence numbers.
#[test]
fn random_segments_never_panic() {
    let makers: [fn() -> T; 9] = [
        syn_sent,
        syn_received,
        established,
        fin_wait_1,
        fin_wait_2,
        close_wait,
        closing,
        last_ack,
        time_wait,
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xb4a1d);
    let mut payload_store = vec![0u8; 4000];
    for (i, b) in payload_store.iter_mut().enumerate() {
        // The peer's byte at stream offset `o` is `o as u8`.
        *b = i as u8;
    }
    let mut total_delivered = 0;
    for round in 0..300 {
        let mut t = makers[round % makers.len()]();
        t.s.write(&[1u8; 3000]);
        let mut delivered = 0usize;
        for _ in 0..200 {
            let near = rng.random_bool(0.7);
            let seq_off: i64 = if near {
                rng.random_range(-2000..6000)
            } else {
                rng.random_range(0..u32::MAX as i64)
            };
            let seq = SeqNum((REMOTE_SEQ.0 as i64 + 1 + seq_off) as u32);
            let ack = if rng.random_bool(0.8) {
                Some(SeqNum(
                    (LOCAL_SEQ.0 as i64 + rng.random_range(-70_000..5000)) as u32,
                ))
            } else {
                None
            };
            let len = if rng.random_bool(0.5) {
                0
            } else {
                rng.random_range(0..1500)
            };
            // Payload consistent with the stream offset, so delivered bytes
            // can be checked.
            let start = seq_off.rem_euclid(256) as usize;
            let payload = &payload_store[start..start + len];
            let mut flags = TcpFlags::empty();
            for f in [
                TcpFlags::SYN,
                TcpFlags::FIN,
                TcpFlags::RST,
                TcpFlags::PSH,
                TcpFlags::URG,
            ] {
                flags.set(f, rng.random_bool(0.1));
            }
            let mut options = TcpOptions::default();
            if rng.random_bool(0.3) {
                options.timestamps = Some((rng.random(), rng.random()));
            }
            if rng.random_bool(0.3) {
                for _ in 0..rng.random_range(1..=4) {
                    let l = LOCAL_SEQ + rng.random_range(0..5000usize);
                    let r = SeqNum(
                        l.0.wrapping_add(rng.random_range(0..3000u32))
                            .wrapping_sub(500),
                    );
                    options.sack_blocks.push((l, r));
                }
            }
            if rng.random_bool(0.1) {
                options.mss = Some(rng.random());
                options.window_scale = Some(rng.random());
            }
            let seg = TcpRepr {
                seq_number: seq,
                ack_number: ack,
                flags,
                window_len: rng.random(),
                options,
                payload,
                ..templ()
            };
            t.s.handle_segment(t.now, &seg);
            while t.s.poll_transmit(t.now).is_some() {}
            assert!(t.s.recv_queue() <= BUF);
            let mut buf = [0u8; 8192];
            let (n, first) = t.s.read_with_seq(&mut buf);
            for (k, b) in buf[..n].iter().enumerate() {
                let off = (first + k) - (REMOTE_SEQ + 1);
                assert_eq!(*b, off as u8, "byte at offset {off}");
            }
            delivered += n;
            if rng.random_bool(0.1) {
                t.now += Duration::from_millis(rng.random_range(0..2000));
                t.s.handle_timeout(t.now);
            }
        }
        total_delivered += delivered;
    }
    // The generator does reach the data path.
    assert!(total_delivered > 10_000, "{total_delivered}");
}
