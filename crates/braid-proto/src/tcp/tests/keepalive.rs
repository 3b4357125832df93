//! Keepalive (RFC 9293 section 3.8.4, RFC 1122 section 4.2.3.6): off by
//! default; when on, an idle connection probes with <SEQ=SND.UNA-1>
//! after `idle`, every `interval`, and is dropped as timed out after
//! `probes` unanswered ones; any segment from the peer starts over.

use super::*;

fn with_keepalive() -> T {
    established_with(
        Config {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(10),
                interval: Duration::from_secs(2),
                probes: 3,
            }),
            ..config()
        },
        mss_opts(),
    )
}

/// The probe: an ACK one below SND.UNA, no data.
fn is_probe(seg: &Segment) -> bool {
    seg.header.seq_number == LOCAL_SEQ && seg.payload.is_empty() && seg.header.ack_number.is_some()
}

#[test]
fn off_by_default_an_idle_connection_stays_silent() {
    let mut t = established();
    t.advance(Duration::from_secs(3 * 3600));
    t.recv_nothing();
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn answered_probes_keep_the_connection() {
    let mut t = with_keepalive();
    t.advance(Duration::from_secs(9));
    t.recv_nothing();
    t.advance(Duration::from_secs(1));
    let probe = t.recv();
    assert!(is_probe(&probe), "{probe:?}");
    // The peer answers: the clock starts over, no probe before `idle`.
    t.send(ack(0));
    t.advance(Duration::from_secs(9));
    t.recv_nothing();
    t.advance(Duration::from_secs(1));
    assert!(is_probe(&t.recv()));
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.s.stats().keepalive_probes, 2);
}

#[test]
fn unanswered_probes_drop_the_connection_as_timed_out() {
    let mut t = with_keepalive();
    t.advance(Duration::from_secs(10));
    for k in 0..3 {
        assert!(is_probe(&t.recv()), "probe {k}");
        t.recv_nothing();
        t.advance(Duration::from_secs(2));
    }
    assert_eq!(t.s.state(), State::Closed);
    assert!(
        t.events().contains(&Event::Closed {
            reason: CloseReason::Timeout
        }),
        "closed as timed out"
    );
}

#[test]
fn no_probe_while_data_is_outstanding() {
    let mut t = with_keepalive();
    assert_eq!(t.s.write(&KB[..100]), 100);
    let d = t.recv();
    assert_eq!(d.payload.len(), 100);
    // The retransmission timer watches the path; keepalive stays quiet.
    t.s.handle_timeout(t.now);
    let before = t.s.stats().keepalive_probes;
    t.advance(Duration::from_secs(10));
    while let Some(seg) = t.s.poll_transmit(t.now) {
        assert!(!is_probe(&seg), "{seg:?}");
    }
    assert_eq!(t.s.stats().keepalive_probes, before);
}
