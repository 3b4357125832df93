//! An external reader for our bytes: every MPTCP option variant of RFC 8684
//! section 3, inside valid IPv4 and IPv6 TCP packets, written to a pcapng
//! file and decoded by Wireshark's dissector (`tshark`). tshark must report no
//! malformed packet and no bad IP or TCP checksum, and every MPTCP field it
//! decodes must equal the value we emitted.
//!
//! Needs `tshark` (the README's test command installs it). Outside CI the
//! test skips with a printed reason when tshark is missing; under `CI=true` a
//! missing tshark is a failure.

use braid::pcap::PcapWriter;
use braid_proto::time::Instant;
use braid_proto::wire::mptcp::{AddAddr, Dss, DssMapping, MpCapable, MpJoin};
use braid_proto::wire::{IpProtocol, IpRepr, MptcpOption, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

/// One packet: the option it carries, the TCP flags that go with it, and the
/// tshark fields (name, expected value as tshark prints it) it must decode to.
struct Case {
    name: &'static str,
    option: MptcpOption,
    flags: TcpFlags,
    ack: bool,
    payload: &'static [u8],
    fields: Vec<(&'static str, String)>,
}

const KEY_A: u64 = 0x0123_4567_89ab_cdef;
const KEY_B: u64 = 0xfedc_ba98_7654_3210;

fn mpc(
    flags: u8,
    sk: Option<u64>,
    rk: Option<u64>,
    len: Option<u16>,
    csum: Option<u16>,
) -> MptcpOption {
    MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags,
        sender_key: sk,
        receiver_key: rk,
        data_len: len,
        checksum: csum,
    })
}

fn dss(
    ack: Option<(u64, bool)>,
    map: Option<(u64, bool, u32, u16, Option<u16>)>,
    fin: bool,
) -> MptcpOption {
    MptcpOption::Dss(Dss {
        data_ack: ack,
        mapping: map.map(
            |(dsn, dsn_64, subflow_seq, data_len, checksum)| DssMapping {
                dsn,
                dsn_64,
                subflow_seq,
                data_len,
                checksum,
            },
        ),
        data_fin: fin,
    })
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

fn cases() -> Vec<Case> {
    let syn = TcpFlags::SYN;
    let none = TcpFlags::empty();
    let mut v = vec![
        Case {
            name: "MP_CAPABLE SYN",
            option: mpc(0x81, None, None, None, None),
            flags: syn,
            ack: false,
            payload: b"",
            fields: vec![
                ("tcp.options.mptcp.subtype", s(0)),
                ("tcp.options.mptcp.version", s(1)),
            ],
        },
        Case {
            name: "MP_CAPABLE SYN/ACK",
            option: mpc(0x01, Some(KEY_B), None, None, None),
            flags: syn,
            ack: true,
            payload: b"",
            fields: vec![("tcp.options.mptcp.sendkey", s(KEY_B))],
        },
        Case {
            name: "MP_CAPABLE ACK",
            option: mpc(0x01, Some(KEY_A), Some(KEY_B), None, None),
            flags: none,
            ack: true,
            payload: b"",
            fields: vec![
                ("tcp.options.mptcp.sendkey", s(KEY_A)),
                ("tcp.options.mptcp.recvkey", s(KEY_B)),
            ],
        },
        Case {
            name: "MP_CAPABLE ACK with data",
            option: mpc(0x01, Some(KEY_A), Some(KEY_B), Some(5), None),
            flags: TcpFlags::PSH,
            ack: true,
            payload: b"hello",
            fields: vec![
                ("tcp.options.mptcp.sendkey", s(KEY_A)),
                ("tcp.options.mptcp.recvkey", s(KEY_B)),
                ("tcp.options.mptcp.datalvllen", s(5)),
            ],
        },
        Case {
            name: "MP_CAPABLE ACK with data and checksum",
            option: mpc(0x81, Some(KEY_A), Some(KEY_B), Some(5), Some(0xbeef)),
            flags: TcpFlags::PSH,
            ack: true,
            payload: b"hello",
            fields: vec![
                ("tcp.options.mptcp.sendkey", s(KEY_A)),
                ("tcp.options.mptcp.recvkey", s(KEY_B)),
                ("tcp.options.mptcp.datalvllen", s(5)),
                ("tcp.options.mptcp.checksum", s("0xbeef")),
            ],
        },
        Case {
            name: "MP_JOIN SYN",
            option: MptcpOption::MpJoin(MpJoin::Syn {
                backup: true,
                addr_id: 3,
                token: 0xdead_beef,
                nonce: 0x1234_5678,
            }),
            flags: syn,
            ack: false,
            payload: b"",
            fields: vec![
                ("tcp.options.mptcp.subtype", s(1)),
                ("tcp.options.mptcp.backup.flag", s(1)),
                ("tcp.options.mptcp.addrid", s(3)),
                ("tcp.options.mptcp.recvtok", s(0xdead_beef_u32)),
                ("tcp.options.mptcp.sendrand", s(0x1234_5678)),
            ],
        },
        Case {
            name: "MP_JOIN SYN/ACK",
            option: MptcpOption::MpJoin(MpJoin::SynAck {
                backup: false,
                addr_id: 7,
                hmac: 0x1122_3344_5566_7788,
                nonce: 0x9abc_def0,
            }),
            flags: syn,
            ack: true,
            payload: b"",
            fields: vec![
                ("tcp.options.mptcp.backup.flag", s(0)),
                ("tcp.options.mptcp.addrid", s(7)),
                (
                    "tcp.options.mptcp.sendtrunchmac",
                    s(0x1122_3344_5566_7788_u64),
                ),
                ("tcp.options.mptcp.sendrand", s(0x9abc_def0_u32)),
            ],
        },
        Case {
            name: "MP_JOIN ACK",
            option: MptcpOption::MpJoin(MpJoin::Ack {
                hmac: core::array::from_fn(|i| i as u8 * 11),
            }),
            flags: none,
            ack: true,
            payload: b"",
            fields: vec![(
                "tcp.options.mptcp.sendhmac",
                (0..20)
                    .map(|i| format!("{:02x}", i * 11))
                    .collect::<String>(),
            )],
        },
    ];

    // DSS: every combination of A/a/M/m/F, with and without checksum.
    for ack in [
        None,
        Some((0x1_0000_0042u64, true)),
        Some((0x4242u64, false)),
    ] {
        for map in [None, Some(true), Some(false)] {
            for fin in [false, true] {
                for csum in [None, Some(0xabcd)] {
                    if map.is_none() && csum.is_some() {
                        continue;
                    }
                    if ack.is_none() && map.is_none() && !fin {
                        continue; // an empty DSS carries nothing
                    }
                    let dsn = if map == Some(true) {
                        0x2_0000_1000u64
                    } else {
                        0x1000
                    };
                    let mapping = map.map(|dsn_64| (dsn, dsn_64, 77u32, 5u16, csum));
                    let mut fields = vec![("tcp.options.mptcp.subtype", s(2))];
                    fields.push(("tcp.options.mptcp.datafin.flag", s(u8::from(fin))));
                    if let Some((a, a8)) = ack {
                        fields.push(("tcp.options.mptcp.rawdataack", s(a)));
                        fields.push(("tcp.options.mptcp.dataack8.flag", s(u8::from(a8))));
                    }
                    if let Some(m8) = map {
                        fields.push(("tcp.options.mptcp.rawdataseqno", s(dsn)));
                        fields.push(("tcp.options.mptcp.dseqn8.flag", s(u8::from(m8))));
                        fields.push(("tcp.options.mptcp.subflowseqno", s(77)));
                        fields.push(("tcp.options.mptcp.datalvllen", s(5)));
                    }
                    // The option length tells tshark whether a checksum is
                    // present. Wireshark 4.0 (Debian 12) only prints the DSS
                    // checksum field when four or more bytes follow the
                    // data-level length, which never happens with RFC 8684's
                    // (and Linux's) layout, so the value itself is checked by
                    // our own vectors in wire::mptcp, not here.
                    let opt_len = 4
                        + ack.map_or(0, |(_, a8)| if a8 { 8 } else { 4 })
                        + map.map_or(0, |m8| if m8 { 8 } else { 4 } + 6)
                        + csum.map_or(0, |_| 2);
                    // Timestamps (length 10) come first, then the DSS.
                    fields.push(("tcp.option_len", format!("10,{opt_len}")));
                    v.push(Case {
                        name: "DSS",
                        option: dss(ack, mapping, fin),
                        flags: if fin {
                            TcpFlags::PSH
                        } else {
                            TcpFlags::empty()
                        },
                        ack: true,
                        payload: if map.is_some() { b"hello" } else { b"" },
                        fields,
                    });
                }
            }
        }
    }

    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77));
    for (addr, field) in [
        (v4, "tcp.options.mptcp.ipv4"),
        (v6, "tcp.options.mptcp.ipv6"),
    ] {
        for port in [None, Some(8080u16)] {
            for hmac in [Some(0x0102_0304_0506_0708u64), None] {
                let mut fields = vec![
                    ("tcp.options.mptcp.subtype", s(3)),
                    ("tcp.options.mptcp.addrid", s(9)),
                    (field, s(addr)),
                    ("tcp.options.mptcp.echo", s(u8::from(hmac.is_none()))),
                ];
                if let Some(p) = port {
                    fields.push(("tcp.options.mptcp.port", s(p)));
                }
                if let Some(h) = hmac {
                    fields.push(("tcp.options.mptcp.addaddrtrunchmac", s(h)));
                }
                v.push(Case {
                    name: "ADD_ADDR",
                    option: MptcpOption::AddAddr(AddAddr {
                        addr_id: 9,
                        addr,
                        port,
                        hmac,
                    }),
                    flags: TcpFlags::empty(),
                    ack: true,
                    payload: b"",
                    fields,
                });
            }
        }
    }

    v.push(Case {
        name: "REMOVE_ADDR",
        option: MptcpOption::RemoveAddr([2u8, 5, 9].into_iter().collect()),
        flags: none,
        ack: true,
        payload: b"",
        fields: vec![
            ("tcp.options.mptcp.subtype", s(4)),
            ("tcp.options.mptcp.addrid", s("2,5,9")),
        ],
    });
    for backup in [true, false] {
        v.push(Case {
            name: "MP_PRIO",
            option: MptcpOption::MpPrio { backup },
            flags: none,
            ack: true,
            payload: b"",
            fields: vec![
                ("tcp.options.mptcp.subtype", s(5)),
                ("tcp.options.mptcp.backup.flag", s(u8::from(backup))),
            ],
        });
    }
    v.push(Case {
        name: "MP_FAIL",
        option: MptcpOption::MpFail {
            dsn: 0x0102_0304_0506_0708,
        },
        flags: none,
        ack: true,
        payload: b"",
        fields: vec![
            ("tcp.options.mptcp.subtype", s(6)),
            (
                "tcp.options.mptcp.rawdataseqno",
                s(0x0102_0304_0506_0708u64),
            ),
        ],
    });
    v.push(Case {
        name: "MP_FASTCLOSE",
        option: MptcpOption::MpFastclose {
            receiver_key: KEY_B,
        },
        flags: TcpFlags::RST,
        ack: true,
        payload: b"",
        fields: vec![
            ("tcp.options.mptcp.subtype", s(7)),
            ("tcp.options.mptcp.recvkey", s(KEY_B)),
        ],
    });
    v.push(Case {
        name: "MP_TCPRST",
        option: MptcpOption::MpTcpRst {
            flags: 0x1,
            reason: 0x06,
        },
        flags: TcpFlags::RST,
        ack: true,
        payload: b"",
        fields: vec![
            ("tcp.options.mptcp.subtype", s(8)),
            ("tcp.options.mptcp.flag_T.flag", s(1)),
            ("tcp.options.mptcp.rst_reason", s("0x06")),
        ],
    });
    v
}

fn packet(case: &Case, src: IpAddr, dst: IpAddr, seq: u32) -> Vec<u8> {
    let mut options = TcpOptions::default();
    if case.flags.contains(TcpFlags::SYN) {
        options.mss = Some(1460);
        options.sack_permitted = true;
        options.window_scale = Some(7);
    }
    options.mptcp.push(case.option.clone());
    // Timestamps as Linux sends them, where they still fit (an IPv6 ADD_ADDR
    // with port and HMAC takes 30 of the 40 option bytes).
    options.timestamps = Some((1000 + seq, 500));
    if options.buffer_len() > 40 {
        options.timestamps = None;
    }
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 5201,
        seq_number: SeqNum(seq),
        ack_number: case.ack.then_some(SeqNum(0x5555_0000)),
        flags: case.flags,
        window_len: 512,
        urgent_ptr: 0,
        options,
        payload: case.payload,
    };
    let ip = IpRepr::new(src, dst, IpProtocol::Tcp, tcp.buffer_len(), 64).unwrap();
    let mut buf = vec![0u8; ip.total_len()];
    ip.emit(&mut buf).unwrap();
    let hl = ip.header_len();
    tcp.emit(&mut buf[hl..], src, dst).unwrap();
    // Our own parser reads back what we wrote.
    {
        let (ip2, seg) = IpRepr::parse(&buf).unwrap();
        let tcp2 = TcpRepr::parse(seg, ip2.src_addr(), ip2.dst_addr()).unwrap();
        assert_eq!(
            tcp2, tcp,
            "{}: our parser disagrees with our emitter",
            case.name
        );
    }
    buf
}

fn tshark_available() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            braid_testkit::skip("tshark not installed (./test.sh installs it)");
            false
        }
    }
}

#[test]
fn tshark_decodes_every_mptcp_option() {
    if !tshark_available() {
        return;
    }
    let cases = cases();
    let families = [
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        ),
        (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, 2)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, 1)),
        ),
    ];

    let dir = std::env::temp_dir().join(format!("braid-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mptcp-options.pcapng");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    let ifv4 = w.add_interface("v4").unwrap();
    let ifv6 = w.add_interface("v6").unwrap();
    let mut expected = Vec::new();
    for (fi, (src, dst)) in families.iter().enumerate() {
        for (i, case) in cases.iter().enumerate() {
            let pkt = packet(case, *src, *dst, 1000 * i as u32);
            let iface = if fi == 0 { ifv4 } else { ifv6 };
            w.write_packet(
                iface,
                Instant::from_millis(expected.len() as u64),
                &pkt,
                Some(case.name),
            )
            .unwrap();
            expected.push(case);
        }
    }
    drop(w.into_inner());

    let mut field_names: Vec<&str> = vec![];
    for c in &cases {
        for (f, _) in &c.fields {
            if !field_names.contains(f) {
                field_names.push(f);
            }
        }
    }
    let base = [
        "frame.number",
        "_ws.malformed",
        "_ws.expert.severity",
        "tcp.checksum.status",
        "ip.checksum.status",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(&path)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ])
        .args(["-o", "tcp.analyze_sequence_numbers:FALSE"])
        .args([
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]);
    for f in base.iter().chain(field_names.iter()) {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "tshark printed {} packets:\n{text}",
        lines.len()
    );

    let mut failures = Vec::new();
    for (line, case) in lines.iter().zip(&expected) {
        let cols: Vec<&str> = line.split('\t').collect();
        let get = |name: &str| -> &str {
            let idx = base.len() + field_names.iter().position(|f| *f == name).unwrap();
            cols.get(idx).copied().unwrap_or("")
        };
        let frame = cols[0];
        if !cols[1].is_empty() {
            failures.push(format!("frame {frame} ({}): malformed", case.name));
        }
        // Expert severity: 0x00800000 is error; checksum or malformed errors show up here.
        if cols[2].split(',').any(|sev| sev == "8388608") {
            failures.push(format!("frame {frame} ({}): expert error", case.name));
        }
        // Checksum status 1 = good (0 bad, 2 unverified).
        if cols[3] != "1" {
            failures.push(format!(
                "frame {frame} ({}): TCP checksum status {:?}",
                case.name, cols[3]
            ));
        }
        if !cols[4].is_empty() && cols[4] != "1" {
            failures.push(format!(
                "frame {frame} ({}): IP checksum status {:?}",
                case.name, cols[4]
            ));
        }
        for (name, want) in &case.fields {
            let got = get(name);
            if !got.eq_ignore_ascii_case(want) {
                failures.push(format!(
                    "frame {frame} ({}): {name} = {got:?}, want {want:?}",
                    case.name
                ));
            }
        }
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
