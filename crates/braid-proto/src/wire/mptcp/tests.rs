//! Tests of every MPTCP option: the RFC 8684 figures as byte vectors, the
//! length and flag rules of each subtype, and round-trip properties.

use super::strategies;
use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;

const KEY_A: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
const KEY_B: [u8; 8] = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn ids(list: &[u8]) -> ArrayVec<u8, 37> {
    list.iter().copied().collect()
}

fn v6() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
}

/// Hand-assembled options from the RFC 8684 figures, byte for byte, with
/// the repr each one stands for. Lengths are Linux's `TCPOLEN_MPTCP_*`.
fn vectors() -> Vec<(&'static str, Vec<u8>, MptcpOption)> {
    let capable = |flags, sk, rk, dl, cs| {
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags,
            sender_key: sk,
            receiver_key: rk,
            data_len: dl,
            checksum: cs,
        })
    };
    let ka = u64::from_be_bytes(KEY_A);
    let kb = u64::from_be_bytes(KEY_B);
    let v6o = v6().octets();
    vec![
        // RFC 8684 figure 4: kind, length, subtype|version, A..H flags.
        (
            "MPC SYN",
            vec![30, 4, 0x01, 0x81],
            capable(0x81, None, None, None, None),
        ),
        (
            "MPC SYN/ACK",
            cat(&[&[30, 12, 0x01, 0x01], &KEY_B]),
            capable(0x01, Some(kb), None, None, None),
        ),
        (
            "MPC ACK",
            cat(&[&[30, 20, 0x01, 0x01], &KEY_A, &KEY_B]),
            capable(0x01, Some(ka), Some(kb), None, None),
        ),
        (
            "MPC ACK+data",
            cat(&[&[30, 22, 0x01, 0x01], &KEY_A, &KEY_B, &[0x05, 0xdc]]),
            capable(0x01, Some(ka), Some(kb), Some(1500), None),
        ),
        (
            "MPC ACK+data+csum",
            cat(&[
                &[30, 24, 0x01, 0x81],
                &KEY_A,
                &KEY_B,
                &[0x05, 0xdc, 0xbe, 0xef],
            ]),
            capable(0x81, Some(ka), Some(kb), Some(1500), Some(0xbeef)),
        ),
        // Figure 5: subtype|B, address ID, token, nonce.
        (
            "MPJ SYN",
            vec![
                30, 12, 0x11, 3, 0xde, 0xad, 0xbe, 0xef, 0xa1, 0xa2, 0xa3, 0xa4,
            ],
            MptcpOption::MpJoin(MpJoin::Syn {
                backup: true,
                addr_id: 3,
                token: 0xdead_beef,
                nonce: 0xa1a2_a3a4,
            }),
        ),
        // Figure 6: subtype|B, address ID, truncated HMAC, nonce.
        (
            "MPJ SYN/ACK",
            cat(&[&[30, 16, 0x10, 0], &KEY_B, &[0xb1, 0xb2, 0xb3, 0xb4]]),
            MptcpOption::MpJoin(MpJoin::SynAck {
                backup: false,
                addr_id: 0,
                hmac: kb,
                nonce: 0xb1b2_b3b4,
            }),
        ),
        // Figure 7: subtype, 12 reserved bits, 160-bit HMAC.
        (
            "MPJ ACK",
            cat(&[&[30, 24, 0x10, 0], &[0x5a; 20]]),
            MptcpOption::MpJoin(MpJoin::Ack { hmac: [0x5a; 20] }),
        ),
        // Figure 9: subtype, flags (F m M a A), DATA_ACK, DSN, subflow
        // sequence number, data-level length, checksum.
        (
            "DSS empty",
            vec![30, 4, 0x20, 0x00],
            MptcpOption::Dss(Dss::default()),
        ),
        (
            "DSS DATA_FIN only",
            vec![30, 4, 0x20, 0x10],
            MptcpOption::Dss(Dss {
                data_fin: true,
                ..Dss::default()
            }),
        ),
        (
            "DSS ack32",
            vec![30, 8, 0x20, 0x01, 0x01, 0x02, 0x03, 0x04],
            MptcpOption::Dss(Dss {
                data_ack: Some((0x0102_0304, false)),
                ..Dss::default()
            }),
        ),
        (
            "DSS ack64",
            cat(&[&[30, 12, 0x20, 0x03], &KEY_A]),
            MptcpOption::Dss(Dss {
                data_ack: Some((ka, true)),
                ..Dss::default()
            }),
        ),
        (
            "DSS map32",
            vec![30, 14, 0x20, 0x04, 0, 0, 0, 9, 0, 0, 0, 1, 0, 100],
            MptcpOption::Dss(Dss {
                mapping: Some(DssMapping {
                    dsn: 9,
                    dsn_64: false,
                    subflow_seq: 1,
                    data_len: 100,
                    checksum: None,
                }),
                ..Dss::default()
            }),
        ),
        (
            // What Linux sends with checksums on: 64-bit ack and DSN.
            "DSS ack64 map64 csum",
            cat(&[
                &[30, 28, 0x20, 0x0f],
                &KEY_A,
                &KEY_B,
                &[0, 0, 0x10, 0, 0x05, 0xa0, 0x12, 0x34],
            ]),
            MptcpOption::Dss(Dss {
                data_ack: Some((ka, true)),
                mapping: Some(DssMapping {
                    dsn: kb,
                    dsn_64: true,
                    subflow_seq: 0x1000,
                    data_len: 1440,
                    checksum: Some(0x1234),
                }),
                data_fin: false,
            }),
        ),
        (
            // Linux's DATA_FIN without data: mapping subflow seq 0, len 1.
            "DSS DATA_FIN ack32 map64",
            cat(&[
                &[30, 22, 0x20, 0x1d, 0, 0, 0, 7],
                &KEY_B,
                &[0, 0, 0, 0, 0, 1],
            ]),
            MptcpOption::Dss(Dss {
                data_ack: Some((7, false)),
                mapping: Some(DssMapping {
                    dsn: kb,
                    dsn_64: true,
                    subflow_seq: 0,
                    data_len: 1,
                    checksum: None,
                }),
                data_fin: true,
            }),
        ),
        // Figure 15: subtype|E, address ID, address, [port], [HMAC].
        (
            "ADD_ADDR v4 hmac",
            cat(&[&[30, 16, 0x30, 1, 10, 0, 0, 2], &KEY_A]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 1,
                addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                port: None,
                hmac: Some(ka),
            }),
        ),
        (
            "ADD_ADDR v4 port hmac",
            cat(&[&[30, 18, 0x30, 1, 10, 0, 0, 2, 0x1f, 0x90], &KEY_A]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 1,
                addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                port: Some(8080),
                hmac: Some(ka),
            }),
        ),
        (
            "ADD_ADDR v4 echo",
            vec![30, 8, 0x31, 1, 10, 0, 0, 2],
            MptcpOption::AddAddr(AddAddr {
                addr_id: 1,
                addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                port: None,
                hmac: None,
            }),
        ),
        (
            "ADD_ADDR v4 echo port",
            vec![30, 10, 0x31, 1, 10, 0, 0, 2, 0x1f, 0x90],
            MptcpOption::AddAddr(AddAddr {
                addr_id: 1,
                addr: Ipv4Addr::new(10, 0, 0, 2).into(),
                port: Some(8080),
                hmac: None,
            }),
        ),
        (
            "ADD_ADDR v6 echo",
            cat(&[&[30, 20, 0x31, 7], &v6o]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 7,
                addr: v6().into(),
                port: None,
                hmac: None,
            }),
        ),
        (
            "ADD_ADDR v6 echo port",
            cat(&[&[30, 22, 0x31, 7], &v6o, &[0x01, 0xbb]]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 7,
                addr: v6().into(),
                port: Some(443),
                hmac: None,
            }),
        ),
        (
            "ADD_ADDR v6 hmac",
            cat(&[&[30, 28, 0x30, 7], &v6o, &KEY_B]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 7,
                addr: v6().into(),
                port: None,
                hmac: Some(kb),
            }),
        ),
        (
            "ADD_ADDR v6 port hmac",
            cat(&[&[30, 30, 0x30, 7], &v6o, &[0x01, 0xbb], &KEY_B]),
            MptcpOption::AddAddr(AddAddr {
                addr_id: 7,
                addr: v6().into(),
                port: Some(443),
                hmac: Some(kb),
            }),
        ),
        // Figure 16: subtype, address IDs.
        (
            "REMOVE_ADDR one",
            vec![30, 4, 0x40, 5],
            MptcpOption::RemoveAddr(ids(&[5])),
        ),
        (
            "REMOVE_ADDR three",
            vec![30, 6, 0x40, 1, 2, 3],
            MptcpOption::RemoveAddr(ids(&[1, 2, 3])),
        ),
        // Figure 11: subtype|B.
        (
            "MP_PRIO backup",
            vec![30, 3, 0x51],
            MptcpOption::MpPrio { backup: true },
        ),
        (
            "MP_PRIO regular",
            vec![30, 3, 0x50],
            MptcpOption::MpPrio { backup: false },
        ),
        // Figure 17: subtype, reserved, 64-bit DSN.
        (
            "MP_FAIL",
            cat(&[&[30, 12, 0x60, 0], &KEY_A]),
            MptcpOption::MpFail { dsn: ka },
        ),
        // Figure 12: subtype, reserved, receiver's key.
        (
            "MP_FASTCLOSE",
            cat(&[&[30, 12, 0x70, 0], &KEY_B]),
            MptcpOption::MpFastclose { receiver_key: kb },
        ),
        // Figure 13: subtype|U V W T, reason.
        (
            "MP_TCPRST",
            vec![30, 4, 0x81, 0x06],
            MptcpOption::MpTcpRst {
                flags: 0x1,
                reason: rst_reason::MIDDLEBOX,
            },
        ),
    ]
}

#[test]
fn vectors_parse_and_emit_byte_exact() {
    for (name, bytes, repr) in vectors() {
        assert_eq!(MptcpOption::parse(&bytes), Ok(repr.clone()), "{name}");
        assert_eq!(repr.buffer_len(), bytes.len(), "{name}");
        let mut buf = [0xffu8; 40];
        assert_eq!(repr.emit(&mut buf), Ok(bytes.len()), "{name}");
        assert_eq!(&buf[..bytes.len()], &bytes[..], "{name}");
    }
}

/// Linux writes the first four octets of every option as one word,
/// `(30 << 24) | (len << 16) | (subtype << 12) | (nibble << 8) | field`
/// (`mptcp_option()` in net/mptcp/options.c); ours must agree.
#[test]
fn first_word_matches_linux_layout() {
    let word = |st: u32, len: u32, nib: u32, field: u32| {
        ((30 << 24) | (len << 16) | (st << 12) | ((nib & 0xf) << 8) | field).to_be_bytes()
    };
    let check = |repr: MptcpOption, expect: [u8; 4]| {
        let mut buf = [0u8; 40];
        repr.emit(&mut buf).expect("valid repr");
        assert_eq!(buf[..4], expect, "{repr:?}");
    };
    // MP_CAPABLE: version in the nibble, flags in the field.
    check(
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: MpCapable::FLAG_HMAC_SHA256 | MpCapable::FLAG_CHECKSUM,
            sender_key: None,
            receiver_key: None,
            data_len: None,
            checksum: None,
        }),
        word(0, 4, 1, 0x81),
    );
    // MP_JOIN SYN: backup in the nibble, address ID in the field.
    check(
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: true,
            addr_id: 9,
            token: 0,
            nonce: 0,
        }),
        word(1, 12, 1, 9),
    );
    // DSS: flags in the field.
    check(
        MptcpOption::Dss(Dss {
            data_ack: Some((1, true)),
            mapping: Some(DssMapping {
                dsn: 1,
                dsn_64: true,
                subflow_seq: 1,
                data_len: 1,
                checksum: None,
            }),
            data_fin: true,
        }),
        word(2, 26, 0, 0x1f),
    );
    // MP_TCPRST: flags in the nibble, reason in the field.
    check(
        MptcpOption::MpTcpRst {
            flags: 1,
            reason: 4,
        },
        word(8, 4, 1, 4),
    );
}

#[test]
fn every_prefix_is_truncated() {
    for (name, bytes, _) in vectors() {
        for n in 0..bytes.len() {
            assert!(
                matches!(MptcpOption::parse(&bytes[..n]), Err(Error::Truncated(_))),
                "{name} prefix {n}"
            );
        }
    }
}

#[test]
fn length_byte_must_match_the_slice() {
    let mut long = vec![30, 4, 0x01, 0x81, 0];
    assert!(matches!(
        MptcpOption::parse(&long),
        Err(Error::Malformed(_))
    ));
    long[0] = 2;
    long.truncate(4);
    assert!(matches!(
        MptcpOption::parse(&long),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        MptcpOption::parse(&[30, 2]),
        Err(Error::Malformed(_))
    ));
}

/// An option of `len` octets: kind, length, `byte2`, then `byte3` and a
/// filler pattern.
fn option_of(len: usize, byte2: u8, byte3: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| i as u8).collect();
    v[0] = 30;
    v[1] = len as u8;
    v[2] = byte2;
    if len > 3 {
        v[3] = byte3;
    }
    v
}

/// Every length from 3 to 40 not in `valid` is `Malformed`; every length
/// in it parses.
fn assert_lengths(what: &str, byte2: u8, byte3: u8, valid: &[usize]) {
    for len in 3..=40 {
        let r = MptcpOption::parse(&option_of(len, byte2, byte3));
        if valid.contains(&len) {
            assert!(r.is_ok(), "{what} length {len}: {r:?}");
        } else {
            assert!(
                matches!(r, Err(Error::Malformed(_))),
                "{what} length {len}: {r:?}"
            );
        }
    }
}

#[test]
fn wrong_length_for_the_subtype_is_malformed() {
    assert_lengths("MP_CAPABLE", 0x01, 0x01, &[4, 12, 20, 22, 24]);
    assert_lengths("MP_JOIN", 0x10, 0, &[12, 16, 24]);
    assert_lengths("DSS none", 0x20, 0x00, &[4, 6]);
    assert_lengths("DSS A", 0x20, 0x01, &[8, 10]);
    assert_lengths("DSS A a", 0x20, 0x03, &[12, 14]);
    assert_lengths("DSS M", 0x20, 0x04, &[14, 16]);
    assert_lengths("DSS M m", 0x20, 0x0c, &[18, 20]);
    assert_lengths("DSS A a M m F", 0x20, 0x1f, &[26, 28]);
    assert_lengths("ADD_ADDR", 0x30, 0, &[16, 18, 28, 30]);
    assert_lengths("ADD_ADDR echo", 0x31, 0, &[8, 10, 20, 22]);
    assert_lengths("REMOVE_ADDR", 0x40, 0, &(4..=40).collect::<Vec<_>>());
    assert_lengths("MP_PRIO", 0x50, 0, &[3]);
    assert_lengths("MP_FAIL", 0x60, 0, &[12]);
    assert_lengths("MP_FASTCLOSE", 0x70, 0, &[12]);
    assert_lengths("MP_TCPRST", 0x80, 0, &[4]);
}

/// Exhaustive over subtype, both extremes of the low nibble, every
/// flags octet and every length: parse never panics, and every option
/// that parses emits back canonically.
#[test]
fn every_subtype_flags_and_length_is_handled() {
    for byte2 in (0u8..16).flat_map(|st| [st << 4, (st << 4) | 0x0f, (st << 4) | 0x01]) {
        for byte3 in 0..=255u8 {
            for len in 2..=40 {
                let mut opt = option_of(len.max(3), byte2, byte3);
                opt.truncate(len);
                opt[1] = len as u8;
                if let Ok(repr) = MptcpOption::parse(&opt) {
                    let mut buf = [0u8; 40];
                    let n = repr.emit(&mut buf).expect("parsed repr emits");
                    assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
                }
            }
        }
    }
}

#[test]
fn remove_addr_longer_than_option_space_is_malformed() {
    let opt = option_of(41, 0x40, 0);
    assert!(matches!(MptcpOption::parse(&opt), Err(Error::Malformed(_))));
}

/// RFC 8684 section 3.4.1: an echo carries no HMAC, a non-echo does.
#[test]
fn add_addr_echo_flag_must_match_hmac_presence() {
    // A 16-octet (HMAC) ADD_ADDR with E set, and an 8-octet one without.
    let mut with_hmac = cat(&[&[30, 16, 0x31, 1, 10, 0, 0, 2], &KEY_A]);
    assert!(matches!(
        MptcpOption::parse(&with_hmac),
        Err(Error::Malformed(_))
    ));
    with_hmac[2] = 0x30;
    assert!(MptcpOption::parse(&with_hmac).is_ok());
    let no_hmac = [30, 8, 0x30, 1, 10, 0, 0, 2];
    assert!(matches!(
        MptcpOption::parse(&no_hmac),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn unknown_subtypes_are_unsupported() {
    for st in 9u8..=15 {
        let opt = option_of(8, st << 4, 0);
        assert!(
            matches!(MptcpOption::parse(&opt), Err(Error::Unsupported(_))),
            "subtype {st}"
        );
    }
}

/// Like Linux: a SYN may announce a later version (we answer with 1),
/// every other MP_CAPABLE must be version 1; version 0 is RFC 6824.
#[test]
fn mp_capable_version_rules() {
    let syn = |v: u8| MptcpOption::parse(&[30, 4, v, 0x01]);
    assert!(matches!(syn(0x00), Err(Error::Unsupported(_))));
    assert!(matches!(
        syn(0x02),
        Ok(MptcpOption::MpCapable(MpCapable { version: 2, .. }))
    ));
    let synack = |v: u8| MptcpOption::parse(&cat(&[&[30, 12, v, 0x01], &KEY_B]));
    assert!(synack(0x01).is_ok());
    assert!(matches!(synack(0x00), Err(Error::Unsupported(_))));
    assert!(matches!(synack(0x02), Err(Error::Unsupported(_))));
}

/// Size flags of absent fields are ignored, as Linux does; a DSS without
/// mapping followed by two stray octets is accepted as Linux does.
#[test]
fn dss_flag_combinations_follow_linux() {
    // `a` without `A`, `m` without `M`: plain empty DSS.
    assert_eq!(
        MptcpOption::parse(&[30, 4, 0x20, 0x0a]),
        Ok(MptcpOption::Dss(Dss::default()))
    );
    // DATA_ACK plus two trailing octets (Linux: expected + checksum size).
    assert_eq!(
        MptcpOption::parse(&[30, 10, 0x20, 0x01, 0, 0, 0, 5, 0xaa, 0xbb]),
        Ok(MptcpOption::Dss(Dss {
            data_ack: Some((5, false)),
            ..Dss::default()
        }))
    );
}

#[test]
fn reserved_bits_are_ignored_and_emitted_as_zero() {
    let cases: [(Vec<u8>, Vec<u8>); 6] = [
        // MP_JOIN SYN: bits 1..3 of the nibble are reserved.
        (
            vec![30, 12, 0x1f, 3, 0, 0, 0, 1, 0, 0, 0, 2],
            vec![30, 12, 0x11, 3, 0, 0, 0, 1, 0, 0, 0, 2],
        ),
        // MP_JOIN ACK: 12 reserved bits.
        (
            cat(&[&[30, 24, 0x1f, 0xff], &[7; 20]]),
            cat(&[&[30, 24, 0x10, 0], &[7; 20]]),
        ),
        // DSS: reserved nibble and the top three flag bits.
        (vec![30, 4, 0x2f, 0xe0], vec![30, 4, 0x20, 0x00]),
        // ADD_ADDR: three reserved bits beside E.
        (
            vec![30, 8, 0x3f, 1, 1, 2, 3, 4],
            vec![30, 8, 0x31, 1, 1, 2, 3, 4],
        ),
        // MP_PRIO: three reserved bits beside B.
        (vec![30, 3, 0x5e], vec![30, 3, 0x50]),
        // MP_FASTCLOSE: reserved nibble and octet.
        (
            cat(&[&[30, 12, 0x7f, 0xff], &KEY_A]),
            cat(&[&[30, 12, 0x70, 0], &KEY_A]),
        ),
    ];
    for (input, canonical) in cases {
        let repr = MptcpOption::parse(&input).expect("valid option");
        let mut buf = [0u8; 40];
        let n = repr.emit(&mut buf).expect("emittable");
        assert_eq!(&buf[..n], &canonical[..]);
    }
}

#[test]
fn inconsistent_reprs_are_not_emitted() {
    let base = MpCapable {
        version: 1,
        flags: MpCapable::FLAG_HMAC_SHA256,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    };
    let bad_capable = [
        MpCapable {
            receiver_key: Some(1),
            ..base
        },
        MpCapable {
            sender_key: Some(1),
            data_len: Some(1),
            ..base
        },
        MpCapable {
            sender_key: Some(1),
            receiver_key: Some(2),
            checksum: Some(1),
            ..base
        },
        MpCapable {
            checksum: Some(1),
            ..base
        },
        MpCapable { version: 0, ..base },
        MpCapable {
            version: 16,
            ..base
        },
        MpCapable {
            version: 2,
            sender_key: Some(1),
            ..base
        },
    ];
    let map32 = DssMapping {
        dsn: 1 << 32,
        dsn_64: false,
        subflow_seq: 1,
        data_len: 1,
        checksum: None,
    };
    let mut bad: Vec<MptcpOption> = bad_capable
        .into_iter()
        .map(MptcpOption::MpCapable)
        .collect();
    bad.extend([
        MptcpOption::Dss(Dss {
            data_ack: Some((1 << 32, false)),
            ..Dss::default()
        }),
        MptcpOption::Dss(Dss {
            mapping: Some(map32),
            ..Dss::default()
        }),
        MptcpOption::RemoveAddr(ArrayVec::new()),
        MptcpOption::MpTcpRst {
            flags: 0x10,
            reason: 0,
        },
    ]);
    for repr in bad {
        let mut buf = [0u8; 40];
        assert!(
            matches!(repr.emit(&mut buf), Err(Error::Emit(_))),
            "{repr:?}"
        );
    }
}

#[test]
fn emit_into_short_buffer_fails() {
    let repr = MptcpOption::MpFail { dsn: 1 };
    let mut buf = [0u8; 11];
    assert!(matches!(repr.emit(&mut buf), Err(Error::Emit(_))));
}

proptest! {
    #[test]
    fn valid_reprs_round_trip(repr in strategies::mptcp_option()) {
        let mut buf = [0u8; 40];
        let n = repr.emit(&mut buf).expect("valid repr emits");
        prop_assert_eq!(n, repr.buffer_len());
        prop_assert_eq!(usize::from(buf[1]), n);
        prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
    }

    /// Whatever `emit` accepts, `parse` gives back; the rest is refused
    /// with `Error::Emit`.
    #[test]
    fn emitted_means_round_trips(repr in strategies::any_mptcp_option_repr()) {
        let mut buf = [0u8; 40];
        match repr.emit(&mut buf) {
            Ok(n) => prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr)),
            Err(e) => prop_assert!(matches!(e, Error::Emit(_))),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        let _ = MptcpOption::parse(&bytes);
    }

    /// Well-framed random options: parse never panics, and whatever
    /// parses emits canonically and parses back to the same repr.
    #[test]
    fn framed_random_options_reparse(
        byte2 in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 0..38),
    ) {
        let mut opt = vec![30, (rest.len() + 3) as u8, byte2];
        opt.extend_from_slice(&rest);
        if let Ok(repr) = MptcpOption::parse(&opt) {
            let mut buf = [0u8; 40];
            let n = repr.emit(&mut buf).expect("parsed repr emits");
            prop_assert_eq!(MptcpOption::parse(&buf[..n]), Ok(repr));
        }
    }
}
