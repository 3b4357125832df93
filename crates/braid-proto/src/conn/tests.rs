//! Connection stories over the in-memory harness: scripted ones that
//! rewrite, strip, drop or count segments on the wire. Transfers between
//! two Braid endpoints (every scheduler, lossy seeds, buffers, dead paths,
//! DSS rewrites by a middlebox) run on the simulator: braid-sim's
//! `tests/mptcp_transfers.rs`.

use super::harness::{Harness, Path, Tamper};
use super::*;
use crate::wire::TcpFlags;
use crate::wire::mptcp::{AddAddr, MpJoin, MptcpOption, rst_reason};

fn one_path() -> Vec<Path> {
    vec![Path::new("10.0.1.1", "10.0.9.1", 10)]
}

fn two_paths() -> Vec<Path> {
    vec![
        Path::new("10.0.1.1", "10.0.9.1", 10),
        Path::new("10.0.2.1", "10.0.9.1", 15),
    ]
}

fn multipath_client() -> ConnConfig {
    let mut c = ConnConfig::default();
    c.pm.local_addrs = vec!["10.0.2.1".parse().unwrap()];
    c
}

fn connected(h: &mut Harness) {
    assert!(
        h.run_until(Duration::from_secs(5), |h| {
            h.client_events.contains(&Event::Connected)
                && h.server_events.contains(&Event::Connected)
        }),
        "not connected"
    );
}

fn has_mpc(seg: &crate::tcp::Segment) -> Option<MpCapable> {
    seg.header.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m) => Some(*m),
        _ => None,
    })
}

#[test]
fn mp_capable_handshake_exchanges_keys() {
    let mut h = Harness::new(1, ConnConfig::default(), ConnConfig::default(), one_path());
    h.keep_log = true;
    connected(&mut h);
    let s = h.server();
    assert!(!h.client.is_fallback() && !s.is_fallback());
    assert_eq!(h.client.remote_key(), Some(s.local_key()));
    assert_eq!(s.remote_key(), Some(h.client.local_key()));
    // SYN: no key; SYN/ACK: server key; third ACK: both keys.
    let syn = has_mpc(&h.log[0].2).expect("MP_CAPABLE on SYN");
    assert_eq!((syn.version, syn.sender_key), (1, None));
    assert_eq!(syn.flags & MpCapable::FLAG_HMAC_SHA256, 1);
    let synack = has_mpc(&h.log[1].2).expect("MP_CAPABLE on SYN/ACK");
    assert_eq!(synack.sender_key, Some(s.local_key()));
    let ack = has_mpc(&h.log[2].2).expect("MP_CAPABLE on third ACK");
    assert_eq!(ack.sender_key, Some(h.client.local_key()));
    assert_eq!(ack.receiver_key, Some(s.local_key()));
}

#[test]
fn first_data_repeats_keys_until_peer_dss() {
    let mut h = Harness::new(2, ConnConfig::default(), ConnConfig::default(), one_path());
    h.keep_log = true;
    // Lose the third ACK: the first data packet must carry the keys.
    let mut first = true;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        if to_server
            && seg.header.flags == TcpFlags::empty()
            && seg.payload.is_empty()
            && first
            && seg
                .header
                .options
                .mptcp
                .iter()
                .any(|o| matches!(o, MptcpOption::MpCapable(_)))
        {
            first = false;
            return false;
        }
        true
    }));
    h.to_send = b"hello over mptcp".to_vec();
    assert!(h.run_until(Duration::from_secs(5), |h| h.received.len() == 16));
    assert_eq!(h.received, b"hello over mptcp");
    assert!(!h.server().is_fallback());
    let data = h
        .log
        .iter()
        .find(|(to_s, _, s)| *to_s && !s.payload.is_empty())
        .unwrap();
    let mpc = has_mpc(&data.2).expect("MP_CAPABLE with data");
    assert_eq!(mpc.data_len, Some(16));
    // Once the server's DSS arrived, the client sends DSS only.
    h.to_send.extend_from_slice(b"more");
    h.run_until(Duration::from_secs(1), |h| h.received.len() == 20);
    let last = h
        .log
        .iter()
        .rev()
        .find(|(to_s, _, s)| *to_s && !s.payload.is_empty())
        .unwrap();
    assert!(has_mpc(&last.2).is_none());
}

#[test]
fn join_with_bad_hmac_refused_with_mp_tcprst() {
    let mut h = Harness::new(7, multipath_client(), ConnConfig::default(), two_paths());
    h.keep_log = true;
    h.tamper = Some(Box::new(|to_server, _, seg| {
        if to_server {
            for o in seg.header.options.mptcp.iter_mut() {
                if let MptcpOption::MpJoin(MpJoin::Ack { hmac }) = o {
                    hmac[0] ^= 0xff;
                }
            }
        }
        true
    }));
    let data = h.random_bytes(50_000);
    h.to_send = data.clone();
    // The transfer may end before the RST (one path delay away) arrives:
    // wait for it too.
    assert!(h.run_until(Duration::from_secs(10), |h| {
        h.received.len() == data.len()
            && h.client_events
                .iter()
                .any(|e| matches!(e, Event::Mptcp(MptcpEvent::SubflowClosed { .. })))
    }));
    assert_eq!(h.received, data);
    assert_eq!(h.server().mib().mp_join_ack_hmac_failure, 1);
    assert_eq!(h.server().mib().mp_join_ack_rx, 0);
    let rst = h
        .log
        .iter()
        .find(|(to_s, _, s)| !*to_s && s.header.flags.contains(TcpFlags::RST))
        .expect("RST sent");
    assert!(rst.2.header.options.mptcp.iter().any(|o| matches!(
        o,
        MptcpOption::MpTcpRst {
            reason: rst_reason::MPTCP_ERROR,
            ..
        }
    )));
    assert!(h.client_events.iter().any(|e| matches!(
        e,
        Event::Mptcp(MptcpEvent::SubflowClosed {
            reason: SubflowCloseReason {
                peer_reason: Some(rst_reason::MPTCP_ERROR),
                ..
            },
            ..
        })
    )));
}

#[test]
fn add_addr_retransmitted_until_echoed() {
    let paths = vec![Path::new("10.0.1.1", "10.0.9.1", 10)];
    let mut sc = ConnConfig::default();
    sc.pm.announce = vec!["10.0.9.2:443".parse().unwrap()];
    sc.add_addr_timeout = Duration::from_secs(1);
    let mut h = Harness::new(10, ConnConfig::default(), sc, paths);
    let mut dropped = 0;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        let is_add = seg
            .header
            .options
            .mptcp
            .iter()
            .any(|o| matches!(o, MptcpOption::AddAddr(a) if !a.is_echo()));
        if !to_server && is_add && dropped < 2 {
            dropped += 1;
            return false;
        }
        true
    }));
    assert!(h.run_until(Duration::from_secs(10), |h| {
        h.server
            .as_ref()
            .is_some_and(|s| s.mib().add_addr_echo_rx == 1)
    }));
    assert_eq!(h.server().mib().add_addr_retransmits, 2);
    // Over the (default 0) limit: echoed, not acted on.
    assert_eq!(h.client.mib().add_addr_over_limit, 1);
}

#[test]
fn forged_add_addr_ignored() {
    let mut cc = ConnConfig::default();
    cc.pm.limits.add_addr_accepted = 4;
    let mut h = Harness::new(11, cc, ConnConfig::default(), one_path());
    let mut forged = 0;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        let o = &mut seg.header.options;
        if !to_server && o.mptcp.iter().any(|o| matches!(o, MptcpOption::Dss(_))) && forged < 3 {
            o.mptcp.clear();
            o.mptcp.push(MptcpOption::AddAddr(AddAddr {
                addr_id: 7,
                addr: "192.0.2.66".parse().unwrap(),
                port: None,
                hmac: Some(0x0123_4567_89ab_cdef),
            }));
            forged += 1;
        }
        true
    }));
    let data = h.random_bytes(20_000);
    h.to_send = data.clone();
    assert!(h.run_until(Duration::from_secs(10), |h| h.received.len() == data.len()));
    assert_eq!(h.client.mib().add_addr_hmac_failure, 3);
    assert!(
        !h.client_events
            .iter()
            .any(|e| matches!(e, Event::Mptcp(MptcpEvent::AddrAnnounced { .. })))
    );
    assert_eq!(h.client.subflows().len(), 1);
}

#[test]
fn syn_without_mp_capable_gives_plain_tcp() {
    let mut h = Harness::new(14, ConnConfig::default(), ConnConfig::default(), one_path());
    h.tamper = Some(Box::new(|to_server, _, seg| {
        if to_server && seg.header.flags.contains(TcpFlags::SYN) {
            seg.header.options.mptcp.clear();
        }
        true
    }));
    let data = h.random_bytes(50_000);
    h.to_send = data.clone();
    assert!(h.run_until(Duration::from_secs(10), |h| h.received.len() == data.len()));
    assert_eq!(h.received, data);
    assert!(h.server().is_fallback(), "server fell back");
    assert!(h.client.is_fallback(), "client followed");
}

/// A middlebox rewriting one byte in the first segment seen of every
/// mapping on path `on` (braid-sim's `mptcp_transfers.rs` has the same
/// middlebox on one of two paths) (one change per mapping: the Internet checksum
/// cannot miss a single-byte change, while two changes may cancel).
fn rewriter(on: usize) -> Tamper {
    let mut seen = std::collections::HashSet::new();
    Box::new(move |to_server, path, seg| {
        if !to_server || path != on || seg.payload.len() <= 10 {
            return true;
        }
        let key = seg.header.options.mptcp.iter().find_map(|o| match o {
            MptcpOption::Dss(d) => d.mapping.map(|m| m.dsn),
            MptcpOption::MpCapable(m) => m.data_len.map(|_| 0),
            _ => None,
        });
        if let Some(k) = key {
            if seen.insert(k) {
                seg.payload[5] = seg.payload[5].wrapping_add(1);
            }
        }
        true
    })
}

#[test]
fn checksum_failure_on_only_path_resets_connection_without_corruption() {
    let cc = ConnConfig {
        checksum: true,
        ..ConnConfig::default()
    };
    let mut h = Harness::new(16, cc, ConnConfig::default(), one_path());
    let data = h.random_bytes(100_000);
    h.to_send = data.clone();
    assert!(h.run_until(Duration::from_secs(5), |h| h.received.len() > 20_000));
    h.tamper = Some(rewriter(0));
    assert!(h.run_until(Duration::from_secs(30), |h| {
        h.server_events.contains(&Event::Closed {
            reason: CloseReason::ChecksumFailure,
        })
    }));
    assert!(h.received.len() < data.len());
    assert!(
        h.received[..] == data[..h.received.len()],
        "corrupted byte delivered"
    );
    assert!(h.run_until(Duration::from_secs(5), |h| {
        h.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    }));
}

#[test]
fn abort_sends_fastclose() {
    let mut h = Harness::new(17, ConnConfig::default(), ConnConfig::default(), one_path());
    connected(&mut h);
    h.client.abort();
    assert!(
        h.run_until(Duration::from_secs(5), |h| h.server_events.contains(
            &Event::Closed {
                reason: CloseReason::Reset
            }
        ))
    );
    assert_eq!(h.server().mib().mp_fastclose_rx, 1);
}

#[test]
fn join_third_ack_lost_is_retransmitted() {
    let mut h = Harness::new(19, multipath_client(), ConnConfig::default(), two_paths());
    let mut dropped = false;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        let is_ack = seg
            .header
            .options
            .mptcp
            .iter()
            .any(|o| matches!(o, MptcpOption::MpJoin(MpJoin::Ack { .. })));
        if to_server && is_ack && !dropped {
            dropped = true;
            return false;
        }
        true
    }));
    assert!(h.run_until(Duration::from_secs(10), |h| {
        h.client.subflows().len() == 2 && h.client.subflows()[1].established
    }));
    assert_eq!(h.server().mib().mp_join_ack_rx, 1);
}

fn syn_with(mpc: Option<MpCapable>) -> crate::tcp::Segment {
    let mut header = crate::wire::TcpRepr {
        src_port: 40000,
        dst_port: 443,
        seq_number: crate::wire::SeqNum(1000),
        ack_number: None,
        flags: TcpFlags::SYN,
        window_len: 65535,
        urgent_ptr: 0,
        options: crate::wire::TcpOptions::default(),
        payload: &[],
    };
    header.options.mss = Some(1460);
    if let Some(m) = mpc {
        header.options.mptcp.push(MptcpOption::MpCapable(m));
    }
    crate::tcp::Segment {
        header,
        payload: Vec::new(),
    }
}

fn accept_and_answer(mpc: Option<MpCapable>) -> (Connection, Option<MpCapable>) {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let syn = syn_with(mpc);
    let local: SocketAddr = "10.0.9.1:443".parse().unwrap();
    let remote: SocketAddr = "10.0.1.1:40000".parse().unwrap();
    let mut c = Connection::accept(
        Instant::ZERO,
        &ConnConfig::default(),
        local,
        remote,
        &syn.repr(),
        &mut rng,
    )
    .unwrap();
    let (_, _, _, synack) = c.poll_transmit(Instant::ZERO).unwrap();
    assert!(synack.header.flags.contains(TcpFlags::SYN));
    let answer = synack.header.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m) => Some(*m),
        _ => None,
    });
    (c, answer)
}

fn mpc_syn(version: u8, flags: u8) -> MpCapable {
    MpCapable {
        version,
        flags,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    }
}

#[test]
fn version_negotiation_on_accept() {
    // Version 1 with H: answered with our key.
    let (c, a) = accept_and_answer(Some(mpc_syn(1, MpCapable::FLAG_HMAC_SHA256)));
    let a = a.expect("MP_CAPABLE answered");
    assert_eq!((a.version, a.sender_key), (1, Some(c.local_key())));
    assert!(!c.is_fallback() && !c.checksum_enabled());
    // A higher version is answered with version 1.
    let (_, a) = accept_and_answer(Some(mpc_syn(2, MpCapable::FLAG_HMAC_SHA256)));
    assert_eq!(a.map(|a| a.version), Some(1));
    // Checksum requested by the client.
    let flags = MpCapable::FLAG_HMAC_SHA256 | MpCapable::FLAG_CHECKSUM;
    let (c, a) = accept_and_answer(Some(mpc_syn(1, flags)));
    assert!(c.checksum_enabled());
    assert_ne!(a.unwrap().flags & MpCapable::FLAG_CHECKSUM, 0);
    // Version 0 (RFC 6824), no H, or the extensibility flag: plain TCP.
    for m in [
        mpc_syn(0, MpCapable::FLAG_HMAC_SHA256),
        mpc_syn(1, 0),
        mpc_syn(
            1,
            MpCapable::FLAG_HMAC_SHA256 | MpCapable::FLAG_EXTENSIBILITY,
        ),
    ] {
        let (c, a) = accept_and_answer(Some(m));
        assert!(a.is_none() && c.is_fallback(), "{m:?}");
    }
    let (c, a) = accept_and_answer(None);
    assert!(a.is_none() && c.is_fallback());
    assert_eq!(c.mib().mp_capable_passive_fallback, 1);
}

#[test]
fn data_ack_beyond_sent_ignored() {
    let mut h = Harness::new(21, ConnConfig::default(), ConnConfig::default(), one_path());
    let mut n = 0;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        for o in seg.header.options.mptcp.iter_mut() {
            if let MptcpOption::Dss(d) = o {
                if !to_server && n < 3 {
                    if let Some((a, _)) = d.data_ack.as_mut() {
                        *a = a.wrapping_add(1 << 30);
                        n += 1;
                    }
                }
            }
        }
        true
    }));
    let data = h.random_bytes(100_000);
    h.to_send = data.clone();
    assert!(h.run_until(Duration::from_secs(20), |h| h.received.len() == data.len()));
    assert!(h.received == data);
    assert_eq!(h.client.mib().data_ack_invalid, 3);
}

/// Found by the endpoint fuzz target (issue #14): the third ACK and the
/// first data segments, which carry MP_CAPABLE, are overtaken by later
/// data with a DSS. The server falls back on the first segment without
/// MP_CAPABLE (as Linux, MPCapableFallbackACK) and answers without MPTCP
/// options; the client must fall back too (as Linux's
/// check_fully_established), or its data-level retransmission puts the
/// stream's first bytes again at the end of the server's plain byte
/// stream.
#[test]
fn server_fallback_on_overtaken_third_ack_is_followed_by_client() {
    let config = ConnConfig {
        checksum: true,
        ..ConnConfig::default()
    };
    let mut h = Harness::new(11, config.clone(), config, one_path());
    let mut dropped = 0;
    h.tamper = Some(Box::new(move |to_server, _, seg| {
        let mpc = seg
            .header
            .options
            .mptcp
            .iter()
            .any(|o| matches!(o, MptcpOption::MpCapable(_)));
        if to_server && mpc && !seg.header.flags.contains(TcpFlags::SYN) && dropped < 10 {
            dropped += 1;
            return false;
        }
        true
    }));
    let data = h.random_bytes(100_000);
    // A small first write: its mapping is the implicit one of MP_CAPABLE;
    // the rest, written after the handshake, travels under DSS mappings.
    h.to_send = data[..1000].to_vec();
    h.run_until(Duration::from_millis(25), |_| false);
    h.to_send = data.clone();
    assert!(h.run_until(Duration::from_secs(60), |h| h.received.len() >= data.len()));
    // Long enough for the client's data-level retransmission timer, which
    // no DATA_ACK stops once the server is plain TCP.
    h.run_until(Duration::from_secs(30), |_| false);
    assert_eq!(h.received.len(), data.len(), "bytes delivered twice");
    assert!(h.received == data, "byte stream differs");
    assert!(h.server().is_fallback(), "server fell back");
    assert!(h.client.is_fallback(), "client followed");
}
