//! Tests of the TCP header and options, with Linux-captured byte vectors.

use super::*;
use crate::wire::mptcp::MptcpOption;
use arrayvec::ArrayVec;
use core::net::{Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;

const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 199));
const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

/// A SYN as Linux sends it (54321 -> 80), options MSS 1460,
/// SACK-permitted, timestamps (123456, 0), NOP, window scale 7; checksum
/// computed independently for V4_SRC -> V4_DST.
const SYN: [u8; 40] = [
    0xd4, 0x31, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
    0xab, 0x86, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// PSH|ACK 443 -> 50000 with NOP NOP timestamps (1, 2) and "hello";
/// checksum computed independently for V6_SRC -> V6_DST.
const DATA_V6: [u8; 37] = [
    0x01, 0xbb, 0xc3, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x80, 0x18, 0x02, 0x00,
    0x04, 0xa3, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0x68, 0x65, 0x6c, 0x6c, 0x6f,
];

fn syn_repr() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 54321,
        dst_port: 80,
        seq_number: SeqNum(0x1234_5678),
        ack_number: None,
        flags: TcpFlags::SYN,
        window_len: 64240,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((123_456, 0)),
            ..TcpOptions::default()
        },
        payload: &[],
    }
}

/// A segment template for edits: header of `header_len` bytes whose
/// option area is `options` (the rest zero), plus `payload`, with a
/// correct checksum for V4_SRC -> V4_DST.
fn segment(options: &[u8], payload: &[u8]) -> Vec<u8> {
    let header_len = HEADER_LEN + options.len().next_multiple_of(4);
    let mut s = vec![0; header_len];
    s[..4].copy_from_slice(&[0x30, 0x39, 0x00, 0x50]);
    s[12] = ((header_len / 4) as u8) << 4;
    s[13] = 0x10; // ACK
    s[HEADER_LEN..HEADER_LEN + options.len()].copy_from_slice(options);
    s.extend_from_slice(payload);
    fix_checksum(&mut s, V4_SRC, V4_DST);
    s
}

fn fix_checksum(s: &mut [u8], src: IpAddr, dst: IpAddr) {
    s[16..18].copy_from_slice(&[0, 0]);
    let pseudo = checksum::pseudo_header(src, dst, 6, s.len() as u32);
    let c = !checksum::fold(checksum::sum(pseudo, s));
    s[16..18].copy_from_slice(&c.to_be_bytes());
}

fn parse_options(options: &[u8]) -> Result<TcpOptions<'static>> {
    let s: &'static [u8] = Vec::leak(segment(options, &[]));
    TcpRepr::parse(s, V4_SRC, V4_DST).map(|r| r.options)
}

#[test]
fn parses_linux_syn() {
    assert_eq!(TcpRepr::parse(&SYN, V4_SRC, V4_DST), Ok(syn_repr()));
}

#[test]
fn emits_linux_syn_byte_exact() {
    let repr = syn_repr();
    assert_eq!(repr.buffer_len(), 40);
    let mut buf = [0xaa; 48];
    assert_eq!(repr.emit(&mut buf, V4_SRC, V4_DST), Ok(40));
    assert_eq!(&buf[..40], &SYN[..]);
    assert_eq!(&buf[40..], &[0xaa; 8], "wrote past the segment");
}

#[test]
fn parses_v6_data_segment_without_ack_in_flags() {
    let repr = TcpRepr::parse(&DATA_V6, V6_SRC, V6_DST).unwrap();
    assert_eq!(repr.ack_number, Some(SeqNum(2000)));
    assert_eq!(repr.flags, TcpFlags::PSH);
    assert_eq!(repr.seq_number, SeqNum(1000));
    assert_eq!(repr.window_len, 512);
    assert_eq!(repr.options.timestamps, Some((1, 2)));
    assert_eq!(repr.payload, b"hello");
    let mut buf = [0; 37];
    assert_eq!(repr.emit(&mut buf, V6_SRC, V6_DST), Ok(37));
    assert_eq!(buf, DATA_V6);
}

#[test]
fn ack_bit_follows_ack_number_on_emit() {
    // ACK in `flags` without an ack number is not emitted...
    let repr = TcpRepr {
        flags: TcpFlags::SYN | TcpFlags::ACK,
        ..syn_repr()
    };
    let mut buf = [0; 40];
    repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
    assert_eq!(buf[13], 0x02);
    assert_eq!(&buf[8..12], &[0; 4]);
    // ... and an ack number sets it.
    let repr = TcpRepr {
        ack_number: Some(SeqNum(7)),
        ..syn_repr()
    };
    repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
    assert_eq!(buf[13], 0x12);
    assert_eq!(&buf[8..12], &[0, 0, 0, 7]);
    let parsed = TcpRepr::parse(&buf, V4_SRC, V4_DST).unwrap();
    assert_eq!(parsed.flags, TcpFlags::SYN);
    assert_eq!(parsed.ack_number, Some(SeqNum(7)));
}

#[test]
fn ack_number_ignored_without_ack_bit() {
    let mut s = SYN;
    s[8..12].copy_from_slice(&[1, 2, 3, 4]);
    fix_checksum(&mut s, V4_SRC, V4_DST);
    assert_eq!(TcpRepr::parse(&s, V4_SRC, V4_DST).unwrap().ack_number, None);
}

#[test]
fn ae_flag_round_trips() {
    let repr = TcpRepr {
        flags: TcpFlags::SYN | TcpFlags::AE | TcpFlags::ECE | TcpFlags::CWR,
        ..syn_repr()
    };
    let mut buf = [0; 40];
    repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
    assert_eq!(&buf[12..14], &[0xa1, 0xc2]);
    assert_eq!(TcpRepr::parse(&buf, V4_SRC, V4_DST), Ok(repr));
}

#[test]
fn every_prefix_is_an_error() {
    for n in 0..SYN.len() {
        assert!(TcpRepr::parse(&SYN[..n], V4_SRC, V4_DST).is_err(), "{n}");
    }
    for n in 0..DATA_V6.len() {
        assert!(
            TcpRepr::parse(&DATA_V6[..n], V6_SRC, V6_DST).is_err(),
            "{n}"
        );
    }
}

#[test]
fn data_offset_below_five_is_malformed() {
    for off in 0..5u8 {
        let mut s = segment(&[], b"abcd");
        s[12] = off << 4;
        fix_checksum(&mut s, V4_SRC, V4_DST);
        assert_eq!(
            TcpRepr::parse(&s, V4_SRC, V4_DST),
            Err(Error::Malformed("TCP data offset below 5"))
        );
    }
}

#[test]
fn data_offset_beyond_segment_is_truncated() {
    let mut s = segment(&[], &[1, 1, 1]);
    s[12] = 6 << 4; // 24 bytes of header in 23 bytes
    fix_checksum(&mut s, V4_SRC, V4_DST);
    assert!(matches!(
        TcpRepr::parse(&s, V4_SRC, V4_DST),
        Err(Error::Truncated(_))
    ));
}

#[test]
fn bad_checksum_is_rejected() {
    let mut s = SYN;
    s[15] ^= 1;
    assert_eq!(TcpRepr::parse(&s, V4_SRC, V4_DST), Err(Error::Checksum));
    // The right bytes between the wrong addresses.
    assert_eq!(TcpRepr::parse(&SYN, V4_DST, V4_SRC), Ok(syn_repr()));
    assert_eq!(
        TcpRepr::parse(&SYN, V4_SRC, IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2))),
        Err(Error::Checksum)
    );
}

/// Linux `tcp_parse_options` checks each known kind's length and skips
/// an option that does not fit, keeping the segment and its other
/// options.
#[test]
fn wrong_lengths_for_known_kinds_are_skipped() {
    let cases: [&[u8]; 9] = [
        &[kind::MSS, 3, 5],
        &[kind::MSS, 5, 5, 0, 0],
        &[kind::WINDOW_SCALE, 4, 7, 0],
        &[kind::SACK_PERMITTED, 3, 0],
        &[kind::TIMESTAMPS, 8, 0, 0, 0, 0, 0, 0],
        &[kind::TIMESTAMPS, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[kind::SACK, 2],
        &[kind::SACK, 9, 0, 0, 0, 0, 0, 0, 0],
        &[kind::SACK, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for bad in cases {
        // The bad option between two good ones.
        let mut area = vec![kind::NOP, kind::WINDOW_SCALE, 3, 9];
        area.extend_from_slice(bad);
        area.extend_from_slice(&[kind::MSS, 4, 0x05, 0xb4]);
        let options = parse_options(&area).unwrap();
        assert_eq!(options.window_scale, Some(9), "{bad:?}");
        assert_eq!(options.mss, Some(1460), "{bad:?}");
        assert!(options.sack_blocks.is_empty() && options.timestamps.is_none());
        assert_eq!(
            options.ignored,
            IgnoredOptions {
                tcp_malformed: 1,
                ..IgnoredOptions::default()
            },
            "{bad:?}"
        );
    }
    // Five SACK blocks cannot fit a header, but the option parser alone
    // must still refuse them.
    let mut five = vec![kind::SACK, 42];
    five.resize(42, 0);
    assert_eq!(
        TcpOption::parse(&five),
        Err(Error::Malformed("TCP SACK option length"))
    );
}

/// Linux: "silly options" (length below 2) and partial ones (past the
/// area) end the option list; what came before is kept and the segment
/// is processed.
#[test]
fn option_lengths_below_two_or_past_the_area_end_the_list() {
    for (area, mss) in [
        (&[99u8, 0][..], None),
        (&[99, 1], None),
        (&[kind::MSS, 0, 0, 0], None),
        (&[99, 5, 0, 0], None),     // runs past a 4-byte area
        (&[1, 1, 1, 99][..], None), // kind with no length byte
        (&[kind::MSS, 4, 5, 0xb4, 99, 9, 0, 0], Some(1460)),
        (
            &[kind::MSS, 4, 5, 0xb4, 99, 1, kind::WINDOW_SCALE, 3, 7],
            Some(1460),
        ),
    ] {
        let options = parse_options(area).unwrap();
        assert_eq!(options.mss, mss, "{area:?}");
        assert_eq!(options.window_scale, None, "{area:?}");
        assert!(options.unknown.is_empty(), "{area:?}");
        assert_eq!(options.ignored.tcp_malformed, 1, "{area:?}");
        assert_eq!(options.ignored.total(), 1, "{area:?}");
    }
}

#[test]
fn eol_ends_parsing() {
    // Garbage after EOL (an option claiming length 0) is padding.
    let options = parse_options(&[kind::MSS, 4, 0x05, 0xb4, kind::EOL, 99, 0, 0]).unwrap();
    assert_eq!(options.mss, Some(1460));
    assert!(options.unknown.is_empty());
}

#[test]
fn sack_blocks_one_to_four() {
    let mut option = vec![kind::NOP, kind::NOP, kind::SACK, 34];
    for i in 1..=8u32 {
        option.extend_from_slice(&(i * 100).to_be_bytes());
    }
    let options = parse_options(&option).unwrap();
    let expected: ArrayVec<(SeqNum, SeqNum), 4> = (0..4u32)
        .map(|i| (SeqNum(200 * i + 100), SeqNum(200 * i + 200)))
        .collect();
    assert_eq!(options.sack_blocks, expected);
    // One block.
    let one = [kind::SACK, 10, 0, 0, 0, 100, 0, 0, 0, 200];
    let options = parse_options(&one).unwrap();
    assert_eq!(options.sack_blocks.as_slice(), &expected[..1]);
}

#[test]
fn unknown_options_are_kept_raw() {
    let options = parse_options(&[254, 4, 0xf9, 0x89, 6, 2]).unwrap();
    assert_eq!(
        options.unknown.as_slice(),
        &[(254, &[0xf9, 0x89][..]), (6, &[][..])]
    );
}

/// Linux skips unknown kinds whatever their number; four are kept raw
/// here, more are counted and skipped, and the options after them still
/// count.
#[test]
fn more_than_four_unknown_options_are_skipped() {
    let four = [99u8, 2, 99, 2, 99, 2, 99, 2];
    let options = parse_options(&four).unwrap();
    assert_eq!(options.unknown.len(), 4);
    assert!(!options.ignored.any());
    let six = [
        99u8,
        2,
        98,
        2,
        97,
        2,
        96,
        2,
        95,
        2,
        94,
        2,
        kind::MSS,
        4,
        0x05,
        0xb4,
    ];
    let options = parse_options(&six).unwrap();
    assert_eq!(
        options.unknown.as_slice(),
        &[(99, &[][..]), (98, &[][..]), (97, &[][..]), (96, &[][..])]
    );
    assert_eq!(options.ignored.excess, 2);
    assert_eq!(options.mss, Some(1460));
}

/// Linux `mptcp_parse_option` ignores an MPTCP option it cannot use
/// (`default: break` for an unknown subtype, `break` on a length that
/// does not fit or an MP_CAPABLE version other than 1); the rest of
/// the segment is processed.
#[test]
fn unusable_mptcp_options_are_skipped_by_reason() {
    let mpc_syn = [kind::MPTCP, 4, 0x01, 0x01];
    let cases: [(&[u8], IgnoredOptions); 4] = [
        // Subtype 0xf (private use).
        (
            &[kind::MPTCP, 4, 0xf0, 0],
            IgnoredOptions {
                mptcp_unknown_subtype: 1,
                ..IgnoredOptions::default()
            },
        ),
        // RFC 6824 MP_CAPABLE SYN: version 0, sender's key, length 12.
        (
            &[kind::MPTCP, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8],
            IgnoredOptions {
                mptcp_bad_version: 1,
                ..IgnoredOptions::default()
            },
        ),
        // DSS whose flags announce a DATA_ACK its length lacks.
        (
            &[kind::MPTCP, 4, 0x20, 0x01],
            IgnoredOptions {
                mptcp_malformed: 1,
                ..IgnoredOptions::default()
            },
        ),
        // Subtype byte missing.
        (
            &[kind::MPTCP, 2],
            IgnoredOptions {
                mptcp_malformed: 1,
                ..IgnoredOptions::default()
            },
        ),
    ];
    for (bad, ignored) in cases {
        let mut area = bad.to_vec();
        area.extend_from_slice(&mpc_syn);
        area.extend_from_slice(&[kind::MSS, 4, 0x05, 0xb4]);
        let options = parse_options(&area).unwrap();
        assert_eq!(options.ignored, ignored, "{bad:?}");
        assert_eq!(options.mss, Some(1460), "{bad:?}");
        assert!(
            matches!(options.mptcp.as_slice(), [MptcpOption::MpCapable(m)] if m.version == 1),
            "{bad:?}: {:?}",
            options.mptcp
        );
    }
}

#[test]
fn duplicate_known_option_last_wins() {
    let options = parse_options(&[kind::MSS, 4, 0, 100, kind::MSS, 4, 0, 200]).unwrap();
    assert_eq!(options.mss, Some(200));
}

#[test]
fn option_iterator_yields_wire_order() {
    let packet = TcpPacket::new_checked(&SYN[..]).unwrap();
    let options: Vec<_> = packet.options_iter().collect::<Result<_>>().unwrap();
    assert_eq!(
        options,
        vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: 123_456,
                tsecr: 0
            },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ]
    );
    let mut it = TcpOptionIter::new(&[kind::NOP, 99, 1, kind::NOP]);
    assert_eq!(it.next(), Some(Ok(TcpOption::Nop)));
    assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
    assert_eq!(it.next(), None);
}

#[test]
fn canonical_layouts() {
    let emit = |options: TcpOptions<'_>| {
        let mut buf = [0; 40];
        let n = options.emit(&mut buf).unwrap();
        assert_eq!(n, options.buffer_len());
        buf[..n].to_vec()
    };
    assert_eq!(emit(TcpOptions::default()), Vec::<u8>::new());
    assert_eq!(
        emit(TcpOptions {
            timestamps: Some((1, 2)),
            ..TcpOptions::default()
        }),
        [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]
    );
    assert_eq!(
        emit(TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        }),
        [1, 1, 4, 2]
    );
    let mut sack_blocks = ArrayVec::new();
    sack_blocks.push((SeqNum(1), SeqNum(2)));
    assert_eq!(
        emit(TcpOptions {
            sack_blocks,
            unknown: [(99u8, &[7u8][..])].into_iter().collect(),
            ..TcpOptions::default()
        }),
        [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 99, 3, 7, 1]
    );
}

#[test]
fn emit_errors() {
    let mut sack_blocks = ArrayVec::new();
    for i in 0..4 {
        sack_blocks.push((SeqNum(i), SeqNum(i + 1)));
    }
    let too_many = TcpRepr {
        options: TcpOptions {
            timestamps: Some((1, 2)),
            sack_blocks,
            ..TcpOptions::default()
        },
        ..syn_repr()
    };
    assert_eq!(too_many.options.buffer_len(), 48);
    assert_eq!(
        too_many.emit(&mut [0; 100], V4_SRC, V4_DST),
        Err(Error::Emit("TCP options exceed 40 bytes"))
    );
    let payload = [1, 2, 3];
    let repr = TcpRepr {
        payload: &payload,
        ..syn_repr()
    };
    assert!(matches!(
        repr.emit(&mut [0; 42], V4_SRC, V4_DST),
        Err(Error::Emit(_))
    ));
    assert_eq!(repr.emit(&mut [0; 43], V4_SRC, V4_DST), Ok(43));
}

#[test]
fn view_accessors() {
    let p = TcpPacket::new_checked(&DATA_V6[..]).unwrap();
    assert_eq!((p.src_port(), p.dst_port()), (443, 50000));
    assert_eq!(p.header_len(), 32);
    assert_eq!(p.flags(), TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(p.checksum(), 0x04a3);
    assert_eq!(p.urgent_ptr(), 0);
    assert_eq!(p.options().len(), 12);
    assert_eq!(p.payload(), b"hello");
    assert!(p.verify_checksum(V6_SRC, V6_DST));
}

fn arb_seq() -> impl Strategy<Value = SeqNum> {
    any::<u32>().prop_map(SeqNum)
}

/// Options without MPTCP; unknown kinds avoid the known ones.
fn arb_options() -> impl Strategy<Value = TcpOptions<'static>> {
    let unknown_kind =
        any::<u8>().prop_filter("known kind", |k| ![0, 1, 2, 3, 4, 5, 8, 30].contains(k));
    let unknown = proptest::collection::vec(
        (unknown_kind, proptest::collection::vec(any::<u8>(), 0..8)),
        0..=2,
    );
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::collection::vec((arb_seq(), arb_seq()), 0..=3),
        proptest::option::of(any::<(u32, u32)>()),
        unknown,
        proptest::collection::vec(crate::wire::mptcp::strategies::mptcp_option(), 0..=2),
    )
        .prop_map(
            |(mss, window_scale, sack_permitted, sack, timestamps, unknown, mptcp)| TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks: sack.into_iter().collect(),
                timestamps,
                mptcp: mptcp.into_iter().collect(),
                unknown: unknown
                    .into_iter()
                    .map(|(k, d)| (k, &*Vec::leak(d)))
                    .collect(),
                ignored: IgnoredOptions::default(),
            },
        )
        .prop_filter("fits the 40-byte option space", |o| {
            o.buffer_len() <= MAX_OPTIONS_LEN
        })
}

prop_compose! {
    fn arb_repr()(
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        seq_number in arb_seq(),
        ack_number in proptest::option::of(arb_seq()),
        flags in (0u16..0x200).prop_map(|f| TcpFlags(f & !TcpFlags::ACK.0)),
        window_len in any::<u16>(),
        urgent_ptr in any::<u16>(),
        options in arb_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> TcpRepr<'static> {
        TcpRepr {
            src_port,
            dst_port,
            seq_number,
            ack_number,
            flags,
            window_len,
            urgent_ptr,
            options,
            payload: Vec::leak(payload),
        }
    }
}

proptest! {
    #[test]
    fn round_trip(repr in arb_repr(), v6 in any::<bool>()) {
        prop_assume!(repr.options.buffer_len() <= MAX_OPTIONS_LEN);
        let (src, dst) = if v6 { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
        let mut buf = vec![0; repr.buffer_len()];
        prop_assert_eq!(repr.emit(&mut buf, src, dst), Ok(buf.len()));
        prop_assert_eq!(TcpRepr::parse(&buf, src, dst), Ok(repr));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = TcpRepr::parse(&bytes, V4_SRC, V4_DST);
    }

    #[test]
    fn arbitrary_options_with_valid_checksum_never_panic(
        offset in 5u8..16,
        mut bytes in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5), Just(8), Just(30), 0u8..12, any::<u8>()],
            20..80,
        ),
    ) {
        bytes[12] = offset << 4;
        fix_checksum(&mut bytes, V4_SRC, V4_DST);
        // A header that fits the segment never fails on its options.
        let parsed = TcpRepr::parse(&bytes, V4_SRC, V4_DST);
        prop_assert_eq!(parsed.is_err(), usize::from(offset) * 4 > bytes.len());
        let Ok(mut repr) = parsed else { return Ok(()) };
        // What parses re-emits to something that parses the same, minus
        // what was skipped (which is not emitted).
        repr.options.ignored = IgnoredOptions::default();
        if repr.options.buffer_len() <= MAX_OPTIONS_LEN {
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(&mut buf, V4_SRC, V4_DST).unwrap();
            prop_assert_eq!(TcpRepr::parse(&buf, V4_SRC, V4_DST), Ok(repr));
        }
    }
}
