//! etherparse as an independent oracle for the IPv4, IPv6 and TCP wire
//! format: packets Braid emits must parse in etherparse with every header
//! field equal and both checksums valid by etherparse's own calculation; and
//! packets etherparse writes must parse in Braid to the same fields.
//!
//! MPTCP options (kind 30, which etherparse does not decode) are compared as
//! raw option bytes.

use braid_proto::wire::mptcp::{Dss, DssMapping, MpCapable, MpJoin};
use braid_proto::wire::tcp::MAX_OPTIONS_LEN;
use braid_proto::wire::{IpProtocol, IpRepr, MptcpOption, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use etherparse::{NetHeaders, PacketHeaders, TcpHeader, TcpOptionElement, TransportHeader};
use proptest::prelude::*;

/// The IP header fields a test chooses: addresses, hop limit and the
/// family-specific extras.
#[derive(Debug, Clone)]
enum IpParams {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        tos: u8,
        ident: u16,
        dont_frag: bool,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        traffic_class: u8,
        flow_label: u32,
    },
}

impl IpParams {
    fn addrs(&self) -> (IpAddr, IpAddr) {
        match *self {
            IpParams::V4 { src, dst, .. } => (src.into(), dst.into()),
            IpParams::V6 { src, dst, .. } => (src.into(), dst.into()),
        }
    }

    fn repr(&self, payload_len: usize) -> IpRepr {
        let (src, dst) = self.addrs();
        let repr = IpRepr::new(src, dst, IpProtocol::Tcp, payload_len, 0).unwrap();
        match (repr, self) {
            (
                IpRepr::V4(r),
                &IpParams::V4 {
                    ttl,
                    tos,
                    ident,
                    dont_frag,
                    ..
                },
            ) => IpRepr::V4(braid_proto::wire::ipv4::Ipv4Repr {
                ttl,
                tos,
                ident,
                dont_frag,
                ..r
            }),
            (
                IpRepr::V6(r),
                &IpParams::V6 {
                    hop_limit,
                    traffic_class,
                    flow_label,
                    ..
                },
            ) => IpRepr::V6(braid_proto::wire::ipv6::Ipv6Repr {
                hop_limit,
                traffic_class,
                flow_label,
                ..r
            }),
            _ => unreachable!("IpRepr::new keeps the family"),
        }
    }
}

fn arb_ip() -> impl Strategy<Value = IpParams> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<bool>()
        )
            .prop_map(|(s, d, ttl, tos, ident, dont_frag)| IpParams::V4 {
                src: s.into(),
                dst: d.into(),
                ttl,
                tos,
                ident,
                dont_frag,
            }),
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            any::<u8>(),
            0u32..=0xf_ffff
        )
            .prop_map(|(s, d, hop_limit, traffic_class, flow_label)| {
                IpParams::V6 {
                    src: s.into(),
                    dst: d.into(),
                    hop_limit,
                    traffic_class,
                    flow_label,
                }
            }),
    ]
}

/// A few MPTCP options of different lengths (the full set is covered by the
/// unit tests of `wire::mptcp`): etherparse sees them as unknown kind 30.
fn arb_mptcp() -> impl Strategy<Value = MptcpOption> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_flat_map(|(a, b, c, d, e)| {
            prop_oneof![
                Just(MptcpOption::MpCapable(MpCapable {
                    version: 1,
                    flags: 0x81,
                    sender_key: Some(a),
                    receiver_key: Some(b),
                    data_len: Some(d),
                    checksum: e.then_some(d ^ 0x5a5a),
                })),
                Just(MptcpOption::MpJoin(MpJoin::Syn {
                    backup: e,
                    addr_id: d as u8,
                    token: c,
                    nonce: c ^ 7
                })),
                Just(MptcpOption::Dss(Dss {
                    data_ack: Some((a, true)),
                    mapping: Some(DssMapping {
                        dsn: b,
                        dsn_64: true,
                        subflow_seq: c,
                        data_len: d,
                        checksum: e.then_some(0x1234),
                    }),
                    data_fin: e,
                })),
                Just(MptcpOption::MpPrio { backup: e }),
                Just(MptcpOption::MpTcpRst {
                    flags: (d & 0xf) as u8,
                    reason: 6
                }),
            ]
        })
}

fn arb_options() -> impl Strategy<Value = TcpOptions<'static>> {
    let unknown_kind =
        any::<u8>().prop_filter("known kind", |k| ![0, 1, 2, 3, 4, 5, 8, 30].contains(k));
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::collection::vec(any::<(u32, u32)>(), 0..=3),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(
            (unknown_kind, proptest::collection::vec(any::<u8>(), 0..6)),
            0..=2,
        ),
        proptest::option::of(arb_mptcp()),
    )
        .prop_map(
            |(mss, window_scale, sack_permitted, sack, timestamps, unknown, mptcp)| TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks: sack
                    .into_iter()
                    .map(|(l, r)| (SeqNum(l), SeqNum(r)))
                    .collect(),
                timestamps,
                mptcp: mptcp.into_iter().collect(),
                unknown: unknown
                    .into_iter()
                    .map(|(k, d)| (k, &*Vec::leak(d)))
                    .collect(),
                ignored: Default::default(),
            },
        )
}

prop_compose! {
    fn arb_tcp()(
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in proptest::option::of(any::<u32>()),
        flags in (0u16..0x200).prop_map(|f| TcpFlags(f & !TcpFlags::ACK.0)),
        window_len in any::<u16>(),
        urgent_ptr in any::<u16>(),
        options in arb_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) -> TcpRepr<'static> {
        TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq_number: SeqNum(seq),
            ack_number: ack.map(SeqNum),
            flags,
            window_len,
            urgent_ptr,
            options,
            payload: Vec::leak(payload),
        }
    }
}

/// Emit `tcp` inside an IP packet built from `ip`.
fn emit_packet(ip: &IpParams, tcp: &TcpRepr<'_>) -> (IpRepr, Vec<u8>) {
    let ip_repr = ip.repr(tcp.buffer_len());
    let mut buf = vec![0; ip_repr.total_len()];
    ip_repr.emit(&mut buf).unwrap();
    let (src, dst) = ip.addrs();
    let n = tcp
        .emit(&mut buf[ip_repr.header_len()..], src, dst)
        .unwrap();
    assert_eq!(n, tcp.buffer_len());
    (ip_repr, buf)
}

/// The option elements etherparse should decode from our canonical layout
/// (NOPs left out).
fn expected_elements(o: &TcpOptions<'_>) -> Vec<TcpOptionElement> {
    let mut v = Vec::new();
    if let Some(mss) = o.mss {
        v.push(TcpOptionElement::MaximumSegmentSize(mss));
    }
    if o.sack_permitted {
        v.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
    }
    if let Some((a, b)) = o.timestamps {
        v.push(TcpOptionElement::Timestamp(a, b));
    }
    if let Some(ws) = o.window_scale {
        v.push(TcpOptionElement::WindowScale(ws));
    }
    if let Some((first, rest)) = o.sack_blocks.split_first() {
        let mut more = [None; 3];
        for (slot, (l, r)) in more.iter_mut().zip(rest) {
            *slot = Some((l.0, r.0));
        }
        v.push(TcpOptionElement::SelectiveAcknowledgement(
            (first.0.0, first.1.0),
            more,
        ));
    }
    v
}

fn assert_tcp_fields(t: &TcpHeader, repr: &TcpRepr<'_>) {
    assert_eq!(t.source_port, repr.src_port);
    assert_eq!(t.destination_port, repr.dst_port);
    assert_eq!(t.sequence_number, repr.seq_number.0);
    assert_eq!(t.ack, repr.ack_number.is_some());
    assert_eq!(t.acknowledgment_number, repr.ack_number.map_or(0, |a| a.0));
    let f = repr.flags;
    assert_eq!(t.fin, f.contains(TcpFlags::FIN));
    assert_eq!(t.syn, f.contains(TcpFlags::SYN));
    assert_eq!(t.rst, f.contains(TcpFlags::RST));
    assert_eq!(t.psh, f.contains(TcpFlags::PSH));
    assert_eq!(t.urg, f.contains(TcpFlags::URG));
    assert_eq!(t.ece, f.contains(TcpFlags::ECE));
    assert_eq!(t.cwr, f.contains(TcpFlags::CWR));
    assert_eq!(t.ns, f.contains(TcpFlags::AE));
    assert_eq!(t.window_size, repr.window_len);
    assert_eq!(t.urgent_pointer, repr.urgent_ptr);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Braid emits, etherparse parses: every field agrees.
    #[test]
    fn etherparse_reads_what_braid_writes(ip in arb_ip(), tcp in arb_tcp()) {
        prop_assume!(tcp.options.buffer_len() <= MAX_OPTIONS_LEN);
        let (ip_repr, buf) = emit_packet(&ip, &tcp);
        let headers = PacketHeaders::from_ip_slice(&buf).expect("etherparse rejects our packet");
        let Some(TransportHeader::Tcp(t)) = &headers.transport else {
            panic!("no TCP header: {:?}", headers.transport);
        };
        let payload = headers.payload.slice();
        prop_assert_eq!(payload, tcp.payload);
        let checksum = match (&headers.net, &ip) {
            (
                Some(NetHeaders::Ipv4(h, exts)),
                &IpParams::V4 { src, dst, ttl, tos, ident, dont_frag },
            ) => {
                prop_assert!(exts.is_empty());
                prop_assert_eq!(h.source, src.octets());
                prop_assert_eq!(h.destination, dst.octets());
                prop_assert_eq!(h.time_to_live, ttl);
                prop_assert_eq!((h.dscp.value() << 2) | h.ecn.value(), tos);
                prop_assert_eq!(h.identification, ident);
                prop_assert_eq!(h.dont_fragment, dont_frag);
                prop_assert!(!h.more_fragments);
                prop_assert_eq!(h.fragment_offset.value(), 0);
                prop_assert_eq!(h.protocol, etherparse::IpNumber::TCP);
                prop_assert_eq!(usize::from(h.total_len), buf.len());
                prop_assert_eq!(h.header_len(), 20);
                prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
                t.calc_checksum_ipv4(h, payload).unwrap()
            }
            (
                Some(NetHeaders::Ipv6(h, exts)),
                &IpParams::V6 { src, dst, hop_limit, traffic_class, flow_label },
            ) => {
                prop_assert!(exts.is_empty());
                prop_assert_eq!(h.source, src.octets());
                prop_assert_eq!(h.destination, dst.octets());
                prop_assert_eq!(h.hop_limit, hop_limit);
                prop_assert_eq!(h.traffic_class, traffic_class);
                prop_assert_eq!(h.flow_label.value(), flow_label);
                prop_assert_eq!(h.next_header, etherparse::IpNumber::TCP);
                prop_assert_eq!(usize::from(h.payload_length), buf.len() - 40);
                t.calc_checksum_ipv6(h, payload).unwrap()
            }
            (net, _) => panic!("family mismatch: {net:?}"),
        };
        prop_assert_eq!(t.checksum, checksum);
        assert_tcp_fields(t, &tcp);
        prop_assert_eq!(t.header_len(), tcp.header_len());
        let hl = ip_repr.header_len();
        prop_assert_eq!(t.options.as_slice(), &buf[hl + 20..hl + tcp.header_len()]);
        // etherparse decodes the option kinds it knows and stops at others
        // (MPTCP among them); those are covered by the raw bytes above.
        if tcp.options.unknown.is_empty() && tcp.options.mptcp.is_empty() {
            let elements: Vec<_> = t
                .options_iterator()
                .filter(|e| !matches!(e, Ok(TcpOptionElement::Noop)))
                .collect::<Result<_, _>>()
                .expect("etherparse rejects our options");
            prop_assert_eq!(elements, expected_elements(&tcp.options));
        }
    }

    /// etherparse writes, Braid parses: every field agrees.
    #[test]
    fn braid_reads_what_etherparse_writes(
        ip in arb_ip(),
        tcp in arb_tcp(),
        shuffle in any::<proptest::sample::Index>(),
    ) {
        // Build the same segment with etherparse, known options in an order
        // of its own (a rotation of the canonical one).
        let mut elements = expected_elements(&tcp.options);
        if !elements.is_empty() {
            let k = shuffle.index(elements.len());
            elements.rotate_left(k);
        }
        let mut t = TcpHeader::new(tcp.src_port, tcp.dst_port, tcp.seq_number.0, tcp.window_len);
        prop_assume!(t.set_options(&elements).is_ok());
        t.acknowledgment_number = tcp.ack_number.map_or(0, |a| a.0);
        t.ack = tcp.ack_number.is_some();
        let f = tcp.flags;
        t.fin = f.contains(TcpFlags::FIN);
        t.syn = f.contains(TcpFlags::SYN);
        t.rst = f.contains(TcpFlags::RST);
        t.psh = f.contains(TcpFlags::PSH);
        t.urg = f.contains(TcpFlags::URG);
        t.ece = f.contains(TcpFlags::ECE);
        t.cwr = f.contains(TcpFlags::CWR);
        t.ns = f.contains(TcpFlags::AE);
        t.urgent_pointer = tcp.urgent_ptr;
        let tcp_len = t.header_len() + tcp.payload.len();
        let ip_repr = ip.repr(tcp_len);
        let mut buf = vec![0; ip_repr.header_len()];
        ip_repr.emit(&mut buf).unwrap();
        t.checksum = match &ip {
            IpParams::V4 { src, dst, .. } => {
                t.calc_checksum_ipv4_raw(src.octets(), dst.octets(), tcp.payload).unwrap()
            }
            IpParams::V6 { src, dst, .. } => {
                t.calc_checksum_ipv6_raw(src.octets(), dst.octets(), tcp.payload).unwrap()
            }
        };
        t.write(&mut buf).unwrap();
        buf.extend_from_slice(tcp.payload);

        let (parsed_ip, segment) = IpRepr::parse(&buf).unwrap();
        prop_assert_eq!(parsed_ip, ip_repr);
        let (src, dst) = ip.addrs();
        let parsed = TcpRepr::parse(segment, src, dst).unwrap();
        assert_tcp_fields(&t, &parsed);
        prop_assert_eq!(segment.len() - parsed.payload.len(), t.header_len());
        let expected = TcpRepr {
            options: TcpOptions {
                unknown: Default::default(),
                mptcp: Default::default(),
                ..tcp.options.clone()
            },
            ..tcp.clone()
        };
        prop_assert_eq!(parsed, expected);
    }
}
