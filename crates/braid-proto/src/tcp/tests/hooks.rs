//! The hooks MPTCP drives a subflow through, and the MSS and congestion
//! control plumbing.

use super::*;

// ---- MPTCP hooks ----

#[derive(Default)]
struct Recorder {
    outgoing: Vec<OutgoingInfo>,
    incoming: Vec<(SeqNum, bool)>,
}

impl SegmentHooks for Recorder {
    fn reserve_option_space(&mut self, _flags: TcpFlags) -> usize {
        12
    }
    fn outgoing(&mut self, info: &OutgoingInfo, opts: &mut TcpOptions<'static>) {
        self.outgoing.push(*info);
        let _ = opts.mptcp.try_push(MptcpOption::MpPrio { backup: true });
    }
    fn incoming(&mut self, seg: &TcpRepr<'_>, accepted: bool) {
        self.incoming.push((seg.seq_number, accepted));
    }
}

#[test]
fn hooks_see_syn_and_add_options() {
    let mut s = TcpSocket::connect(Instant::ZERO, config(), local(), remote(), LOCAL_SEQ);
    let mut h = Recorder::default();
    let syn = s.poll_transmit_with(Instant::ZERO, &mut h).unwrap();
    assert_eq!(syn.header.options.mptcp.len(), 1);
    assert_eq!(h.outgoing[0].flags, TcpFlags::SYN);
    assert_eq!(h.outgoing[0].seq, LOCAL_SEQ);
    // Only the MSS option (4 bytes) is used by TCP itself.
    assert_eq!(h.outgoing[0].option_space_left, 36);
}

/// The hook's reserved option space shrinks the payload; every data
/// segment is reported with its sequence number and length and carries the
/// option the hook added; incoming segments are reported with their fate.
#[test]
fn hooks_called_with_seq_len_and_options_appear() {
    let mut t = established();
    let mut h = Recorder::default();
    t.s.write(&[5u8; 2000]);
    let mut segs = Vec::new();
    while let Some(seg) = t.s.poll_transmit_with(t.now, &mut h) {
        segs.push(seg);
    }
    assert_eq!(segs.len(), 2);
    for (seg, info) in segs.iter().zip(&h.outgoing) {
        assert_eq!(seg.payload.len(), 1000 - 12);
        assert_eq!(info.seq, seg.header.seq_number);
        assert_eq!(info.len, seg.payload.len());
        assert!(!info.retransmission);
        assert_eq!(info.option_space_left, 40);
        assert_eq!(
            seg.header.options.mptcp.as_slice(),
            &[MptcpOption::MpPrio { backup: true }]
        );
    }
    assert_eq!(h.outgoing[1].seq, LOCAL_SEQ + 1 + 988);
    // A retransmission is flagged as such.
    t.advance(Duration::from_millis(300));
    let rtx = t.s.poll_transmit_with(t.now, &mut h).unwrap();
    assert_eq!(rtx.header.seq_number, LOCAL_SEQ + 1);
    assert!(h.outgoing.last().unwrap().retransmission);
    // Incoming: an acceptable ACK, then an out-of-window segment.
    t.s.handle_segment_with(t.now, &ack(988), &mut h);
    t.s.handle_segment_with(t.now, &data(100_000, b"zz"), &mut h);
    assert_eq!(
        h.incoming,
        vec![(REMOTE_SEQ + 1, true), (REMOTE_SEQ + 100_001, false)]
    );
    let st = t.s.stats();
    assert_eq!(st.mss, 1000);
    assert_eq!(st.bytes_acked, 988);
}

#[test]
fn hooks_add_options_to_abort_rst() {
    let mut t = established();
    let mut h = Recorder::default();
    t.s.abort();
    let rst = t.s.poll_transmit_with(t.now, &mut h).unwrap();
    assert_eq!(rst.header.flags, TcpFlags::RST);
    assert_eq!(rst.header.options.mptcp.len(), 1);
    assert_eq!(h.outgoing[0].flags, TcpFlags::RST);
    assert_eq!(t.s.poll_transmit_with(t.now, &mut h), None);
}

#[test]
fn available_window_for_schedulers() {
    let mut t = established();
    // Initial window 10 segments; the peer's window is 65535.
    assert_eq!(t.s.available_window(), 10_000);
    send_segments(&mut t, 3);
    assert_eq!(t.s.available_window(), 7_000);
    assert_eq!(t.s.stats().bytes_in_flight, 3_000);
}

#[test]
fn request_ack_sends_pure_ack() {
    let mut t = established();
    t.recv_nothing();
    t.s.request_ack();
    t.recv_expect(our_ack(0, BUF));
}

// ---- MSS and congestion control plumbing ----

/// RFC 9293 section 3.7.1: the peer's MSS is clamped to ours, and 536 is
/// assumed when the option is absent.
#[test]
fn mss_clamped_and_defaulted() {
    let big = TcpOptions {
        mss: Some(9000),
        ..TcpOptions::default()
    };
    let t = established_with(config(), big);
    assert_eq!(t.s.stats().mss, 1000);
    let t = established_with(config(), TcpOptions::default());
    assert_eq!(t.s.stats().mss, 536);
}

#[derive(Debug)]
struct FixedWindow {
    cwnd: usize,
    siblings_seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl crate::cc::Controller for FixedWindow {
    fn on_ack(&mut self, _now: Instant, _ack: &crate::cc::AckInfo, siblings: &[CcView]) {
        self.siblings_seen
            .store(siblings.len(), std::sync::atomic::Ordering::Relaxed);
    }
    fn cwnd(&self) -> usize {
        self.cwnd
    }
    fn ssthresh(&self) -> usize {
        usize::MAX
    }
    fn name(&self) -> &'static str {
        "fixed"
    }
}

/// A caller-supplied controller governs the window and sees the sibling
/// subflows' views.
#[test]
fn custom_controller_and_sibling_views() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    let cfg = Config {
        congestion: CcAlgorithm::Custom(std::sync::Arc::new(move |_mss| {
            Box::new(FixedWindow {
                cwnd: 2000,
                siblings_seen: seen2.clone(),
            })
        })),
        ..config()
    };
    let mut t = established_with(cfg, mss_opts());
    let view = CcView {
        cwnd: 5000,
        srtt: Duration::from_millis(30),
        bytes_in_flight: 0,
        mss: 1000,
        loss_interval: 0,
    };
    t.s.set_sibling_views(&[view, view]);
    t.s.write(&[0u8; 5000]);
    t.recv();
    t.recv();
    t.recv_nothing();
    t.send(ack(1000));
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(t.s.cc_view().cwnd, 2000);
}

/// CUBIC is the default and reduces by beta_cubic on a fast retransmit.
#[test]
fn cubic_is_default_controller() {
    let opts = TcpOptions {
        sack_permitted: true,
        ..mss_opts()
    };
    let mut t = established_with(
        Config {
            congestion: CcAlgorithm::default(),
            sack: true,
            ..config()
        },
        opts,
    );
    send_segments(&mut t, 10);
    let sack = |r: usize| TcpRepr {
        options: TcpOptions {
            sack_blocks: [(LOCAL_SEQ + 1001, LOCAL_SEQ + 1 + r)]
                .into_iter()
                .collect(),
            ..TcpOptions::default()
        },
        ..ack(0)
    };
    for r in [2000, 3000, 4000] {
        t.send(sack(r));
    }
    assert!(t.s.stats().in_recovery);
    assert_eq!(t.s.stats().cwnd, 7000);
}
