//! Malformed and unknown options, one segment at a time: a bad option never
//! costs the segment. Each test says what RFC 8684 asks and what Linux
//! (net/mptcp/options.c `mptcp_parse_option`, net/ipv4/tcp_input.c
//! `tcp_parse_options`, net/mptcp/subflow.c) does; Braid must answer the
//! same way.

use super::tests::{drain, parse, v4};
use super::*;
use crate::crypto;
use crate::time::Duration;
use crate::wire::mptcp::{Dss, DssMapping, MpCapable};
use crate::wire::{SeqNum, checksum};

const CLIENT_ISN: u32 = 1000;
const CLIENT_KEY: u64 = 0x0102_0304_0506_0708;

/// A segment from `peer` to `me` whose option area is exactly `area`
/// (padded with EOL), as an IP packet. Built by hand so that any option
/// bytes at all can be sent.
fn raw_segment(
    peer: SocketAddr,
    me: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    area: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header_len = 20 + area.len().next_multiple_of(4);
    assert!(header_len <= 60, "options too long for a header");
    let mut seg = vec![0u8; header_len];
    seg[0..2].copy_from_slice(&peer.port().to_be_bytes());
    seg[2..4].copy_from_slice(&me.port().to_be_bytes());
    seg[4..8].copy_from_slice(&seq.to_be_bytes());
    seg[8..12].copy_from_slice(&ack.unwrap_or(0).to_be_bytes());
    let mut f = flags;
    f.set(TcpFlags::ACK, ack.is_some());
    seg[12] = ((header_len / 4) as u8) << 4;
    seg[13] = f.0 as u8;
    seg[14..16].copy_from_slice(&65535u16.to_be_bytes());
    seg[20..20 + area.len()].copy_from_slice(area);
    seg.extend_from_slice(payload);
    let pseudo = checksum::pseudo_header(peer.ip(), me.ip(), 6, seg.len() as u32);
    let c = !checksum::fold(checksum::sum(pseudo, &seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    let ip = IpRepr::new(peer.ip(), me.ip(), IpProtocol::Tcp, seg.len(), 64).unwrap();
    let mut p = vec![0u8; ip.total_len()];
    ip.emit(&mut p).unwrap();
    p[ip.header_len()..].copy_from_slice(&seg);
    p
}

/// MSS 1460, then `extra`.
fn syn_area(extra: &[u8]) -> Vec<u8> {
    let mut area = vec![2, 4, 0x05, 0xb4];
    area.extend_from_slice(extra);
    area
}

/// MP_CAPABLE v1 on a SYN, flag H (as Linux sends it).
const MPC_SYN: [u8; 4] = [30, 4, 0x01, 0x01];

/// Feed a SYN with `extra` options to a listening endpoint and return the
/// one answer, the endpoint and the connection.
fn answer_to_syn(extra: &[u8]) -> (Endpoint, ConnHandle, TcpRepr<'static>) {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    ep.listen(me).unwrap();
    let p = raw_segment(
        peer,
        me,
        CLIENT_ISN,
        None,
        TcpFlags::SYN,
        &syn_area(extra),
        &[],
    );
    ep.handle_packet(Instant::ZERO, &p);
    let (h, e) = ep.poll_event().expect("the SYN was not accepted");
    assert_eq!(e, ConnEvent::Accepted);
    let out = drain(&mut ep, Instant::ZERO);
    assert_eq!(out.len(), 1, "one SYN-ACK");
    let bytes: &'static [u8] = Vec::leak(out[0].1.clone());
    let (_, synack) = parse(bytes);
    assert_eq!(synack.flags, TcpFlags::SYN);
    assert_eq!(synack.ack_number, Some(SeqNum(CLIENT_ISN + 1)));
    (ep, h, synack)
}

fn mp_capable(seg: &TcpRepr<'_>) -> Option<MpCapable> {
    seg.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m) => Some(*m),
        _ => None,
    })
}

/// RFC 8684 section 3.1: "If a host receives an MP_CAPABLE option with a
/// version it does not support, it MUST NOT use MPTCP (and therefore fall
/// back to regular TCP)" is the initiator's side; a responder that gets a
/// version below its own answers without MP_CAPABLE. An RFC 6824 SYN is
/// version 0 and carries the sender's key (length 12). Linux
/// `mptcp_parse_option` ignores it (the length is not the SYN's 4 octets)
/// and answers with a plain TCP SYN-ACK.
#[test]
fn v0_mp_capable_syn_gets_a_plain_tcp_syn_ack() {
    let v0 = [30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8];
    let (mut ep, h, synack) = answer_to_syn(&v0);
    assert!(synack.options.mptcp.is_empty(), "{:?}", synack.options);
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(ep.is_mptcp(h), Ok(false));
    assert_eq!(ep.counters().options_ignored, 1);
    assert_eq!(ep.counters().malformed, 0);
    // The handshake completes and data flows as plain TCP.
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    let iss = synack.seq_number.0;
    let ack = raw_segment(
        peer,
        me,
        CLIENT_ISN + 1,
        Some(iss + 1),
        TcpFlags::PSH,
        &[],
        b"hello",
    );
    ep.handle_packet(Instant::from_millis(1), &ack);
    assert_eq!(ep.state(h), Ok(State::Established));
    let mut buf = [0u8; 16];
    assert_eq!(ep.read(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
}

/// RFC 8684 section 3 leaves subtypes 0x9-0xf undefined (0xf is for
/// private use); Linux `mptcp_parse_option` skips an unknown subtype
/// (`default: break`). Alone, the SYN is a plain TCP SYN; next to a valid
/// MP_CAPABLE, the MP_CAPABLE is honoured.
#[test]
fn unknown_subtype_alone_gets_a_plain_syn_ack() {
    let (ep, h, synack) = answer_to_syn(&[30, 4, 0xf0, 0]);
    assert!(synack.options.mptcp.is_empty());
    assert_eq!(ep.is_mptcp(h), Ok(false));
    assert_eq!(ep.counters().options_ignored, 1);
}

#[test]
fn unknown_subtype_beside_mp_capable_is_ignored() {
    for area in [
        [&[30u8, 4, 0xf0, 0][..], &MPC_SYN].concat(),
        [&MPC_SYN[..], &[30u8, 6, 0x9f, 1, 2, 3]].concat(),
    ] {
        let (ep, h, synack) = answer_to_syn(&area);
        let mpc = mp_capable(&synack).expect("MP_CAPABLE honoured");
        assert_eq!(mpc.version, 1);
        assert!(mpc.sender_key.is_some());
        assert_eq!(ep.is_mptcp(h), Ok(true));
        let mib = ep.mptcp_mib(h).unwrap();
        assert_eq!(mib.mptcp_unknown_subtype_rx, 1);
        assert_eq!(mib.mp_capable_syn_rx, 1);
    }
}

/// Linux `tcp_parse_options` skips options of kinds it does not know,
/// however many; Braid keeps four and skips the rest. A SYN with six
/// unknown kinds and MP_CAPABLE is answered with MP_CAPABLE.
#[test]
fn syn_with_more_than_four_unknown_kinds_is_answered() {
    let mut area = Vec::new();
    for kind in [6u8, 7, 9, 10, 11, 12] {
        area.extend_from_slice(&[kind, 2]);
    }
    area.extend_from_slice(&MPC_SYN);
    let (ep, h, synack) = answer_to_syn(&area);
    assert!(mp_capable(&synack).is_some());
    assert_eq!(ep.mptcp_mib(h).unwrap().excess_option_rx, 2);
}

/// Bad lengths: Linux checks each MPTCP option against the lengths its
/// subtype allows and skips it otherwise (an MP_CAPABLE of 5 octets on a
/// SYN is no MP_CAPABLE: plain TCP); a known TCP option of the wrong
/// length is skipped too (`opsize == TCPOLEN_MSS` etc.).
#[test]
fn bad_lengths_are_skipped_and_the_syn_answered() {
    // MP_CAPABLE of 5 octets: plain TCP.
    let (ep, h, synack) = answer_to_syn(&[30, 5, 0x01, 0x01, 0]);
    assert!(synack.options.mptcp.is_empty());
    assert_eq!(ep.is_mptcp(h), Ok(false));
    // Window scale of 4 octets beside a good MP_CAPABLE: MPTCP, and the
    // skipped option counted.
    let (ep, h, synack) = answer_to_syn(&[[3u8, 4, 7, 0].as_slice(), &MPC_SYN].concat());
    assert!(mp_capable(&synack).is_some());
    assert_eq!(synack.options.window_scale, None, "no window scale offered");
    assert_eq!(ep.mptcp_mib(h).unwrap().malformed_option_rx, 1);
}

/// A DSS on a SYN means nothing (RFC 8684 section 3.3 sends DSS once the
/// connection is established); Linux parses it and the SYN path ignores
/// it. The MP_CAPABLE beside it is honoured.
#[test]
fn dss_in_a_syn_is_ignored() {
    let dss = [30, 8, 0x20, Dss::FLAG_DATA_ACK, 0, 0, 0, 9];
    let (ep, h, synack) = answer_to_syn(&[&MPC_SYN[..], &dss].concat());
    assert!(mp_capable(&synack).is_some());
    assert_eq!(ep.is_mptcp(h), Ok(true));
}

/// An established MPTCP connection, scripted: SYN, SYN-ACK, third ACK.
/// Returns the endpoint, the handle, the server's ISN and key.
fn established() -> (Endpoint, ConnHandle, u32, u64) {
    let (mut ep, h, synack) = answer_to_syn(&MPC_SYN);
    let server_key = mp_capable(&synack).unwrap().sender_key.unwrap();
    let iss = synack.seq_number.0;
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    let mut third = vec![30, 20, 0x01, 0x01];
    third.extend_from_slice(&CLIENT_KEY.to_be_bytes());
    third.extend_from_slice(&server_key.to_be_bytes());
    let p = raw_segment(
        peer,
        me,
        CLIENT_ISN + 1,
        Some(iss + 1),
        TcpFlags::empty(),
        &third,
        &[],
    );
    ep.handle_packet(Instant::from_millis(1), &p);
    assert_eq!(ep.state(h), Ok(State::Established));
    assert_eq!(ep.is_mptcp(h), Ok(true));
    drain(&mut ep, Instant::from_millis(1));
    (ep, h, iss, server_key)
}

/// A data segment of the client carrying `dss` (option bytes) and
/// `payload` at relative subflow sequence `rel`.
fn data_segment(iss: u32, rel: u32, dss: &[u8], payload: &[u8]) -> Vec<u8> {
    let (peer, me) = (v4("10.0.0.2:5555"), v4("10.0.0.1:80"));
    raw_segment(
        peer,
        me,
        CLIENT_ISN + rel,
        Some(iss + 1),
        TcpFlags::PSH,
        dss,
        payload,
    )
}

/// A well-formed DSS mapping `len` bytes at relative subflow sequence
/// `rel` to the client's data sequence `rel` (the first byte is IDSN + 1).
fn good_dss(server_key: u64, rel: u32, len: u16) -> Vec<u8> {
    let dss = MptcpOption::Dss(Dss {
        data_ack: Some((crypto::idsn(server_key).wrapping_add(1), true)),
        mapping: Some(DssMapping {
            dsn: crypto::idsn(CLIENT_KEY).wrapping_add(u64::from(rel)),
            dsn_64: true,
            subflow_seq: rel,
            data_len: len,
            checksum: None,
        }),
        data_fin: false,
    });
    let mut buf = vec![0u8; dss.buffer_len()];
    dss.emit(&mut buf).unwrap();
    buf
}

/// A DSS whose flags announce a mapping and a DATA_ACK its 4 octets do not
/// hold: Linux `mptcp_parse_option` skips it ("expected_opsize" check).
const BAD_DSS: [u8; 4] = [30, 4, 0x20, Dss::FLAG_MAPPING | Dss::FLAG_DATA_ACK];

/// What the server sent, parsed.
fn sent(ep: &mut Endpoint, now: Instant) -> Vec<TcpRepr<'static>> {
    drain(ep, now)
        .into_iter()
        .map(|(_, b)| parse(Vec::leak(b)).1)
        .collect()
}

/// A malformed DSS on the first data segment: the option is ignored, so the
/// data has no mapping. RFC 8684 section 3.7: when the first data arrives
/// without a mapping on the only subflow, the connection falls back to
/// regular TCP (the "infinite mapping" case; later unmapped data would
/// mean a subflow that "MUST be closed with a RST"). Linux
/// (`subflow_check_data_avail`: MAPPING_INVALID, then `mptcp_try_fallback`)
/// falls back while no DSS was received and acknowledges the data. Never a
/// silent stall: the bytes are acknowledged and delivered.
#[test]
fn malformed_dss_on_first_data_falls_back_and_is_acknowledged() {
    let (mut ep, h, iss, _) = established();
    let now = Instant::from_millis(2);
    ep.handle_packet(now, &data_segment(iss, 1, &BAD_DSS, b"hello"));
    let mut out = sent(&mut ep, now);
    // A delayed ACK counts too.
    let later = now + Duration::from_millis(500);
    ep.handle_timeout(later);
    out.extend(sent(&mut ep, later));
    assert!(
        out.iter()
            .any(|s| s.ack_number == Some(SeqNum(CLIENT_ISN + 1 + 5))
                && !s.flags.contains(TcpFlags::RST)),
        "the data was not acknowledged: {out:?}"
    );
    let mut buf = [0u8; 16];
    assert_eq!(ep.read(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(ep.is_mptcp(h), Ok(false), "fell back");
    let mib = ep.mptcp_mib(h).unwrap();
    assert_eq!(mib.malformed_option_rx, 1);
    assert_eq!(mib.dss_unmapped_data, 1);
}

/// A malformed DSS after mapped data: the data is unmapped and fallback is
/// no longer possible (a mapping was seen). RFC 8684 section 3.7: the
/// subflow is closed with a RST. Linux resets the subflow with MP_TCPRST
/// reason "MPTCP-specific error" (`MPTCP_RST_EMPTCP`). Never a silent
/// stall: the peer hears a RST at once.
#[test]
fn malformed_dss_after_mapped_data_resets_the_subflow() {
    let (mut ep, h, iss, server_key) = established();
    let now = Instant::from_millis(2);
    ep.handle_packet(
        now,
        &data_segment(iss, 1, &good_dss(server_key, 1, 5), b"hello"),
    );
    let mut buf = [0u8; 16];
    assert_eq!(ep.read(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    drain(&mut ep, now);
    ep.handle_packet(now, &data_segment(iss, 6, &BAD_DSS, b"world"));
    let out = sent(&mut ep, now);
    let rst = out
        .iter()
        .find(|s| s.flags.contains(TcpFlags::RST))
        .unwrap_or_else(|| panic!("no RST: {out:?}"));
    assert!(
        rst.options.mptcp.iter().any(|o| matches!(
            o,
            MptcpOption::MpTcpRst {
                reason: rst_reason::MPTCP_ERROR,
                ..
            }
        )),
        "{rst:?}"
    );
    // The unmapped bytes never reach the application.
    assert_eq!(ep.read(h, &mut buf).unwrap_or(0), 0);
}
