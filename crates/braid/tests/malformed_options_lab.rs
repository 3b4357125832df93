//! SYNs with malformed or unknown options, answered by Braid as by the
//! Linux kernel (issue #14): each probe is written by a raw socket in the
//! client namespace from `10.0.1.2` (its own address, a fresh port per
//! probe) to Braid's listener (TUN, `10.1.1.100`) and to a kernel MPTCP
//! listener (`10.1.1.2`); a second raw socket reads the answers. What is
//! compared: whether a SYN-ACK came, and whether it carries MP_CAPABLE
//! (MPTCP accepted) or not (plain TCP). The client namespace's kernel
//! resets each half-open connection when the SYN-ACK reaches it (no socket
//! owns the port), so nothing lingers.
//!
//! Needs root, namespaces, `/dev/net/tun` and a kernel with MPTCP; without
//! them it prints `SKIP <reason>` and passes, except under `CI=true`, where
//! it fails.

#[allow(dead_code)]
mod kernel_lab;
#[allow(dead_code)]
mod netns;

use braid::proto::endpoint::EndpointConfig;
use braid::proto::wire::{IpRepr, MptcpOption, TcpFlags, TcpRepr, checksum};
use braid::sys::mptcp::IPPROTO_MPTCP;
use braid::{Listener, Stack};
use braid_lab::{LabGuard, Side};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
name = "malformed-options"
description = "one path, 2 ms one way"
seed = 6824
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 100
"#;

/// MP_CAPABLE v1 on a SYN, flag H.
const MPC: [u8; 4] = [30, 4, 0x01, 0x01];

/// The probes: a name and the options after MSS 1460.
fn probes() -> Vec<(&'static str, Vec<u8>)> {
    let six_unknown: Vec<u8> = [6u8, 7, 9, 10, 11, 12]
        .iter()
        .flat_map(|&k| [k, 2])
        .collect();
    vec![
        ("valid MP_CAPABLE (control)", MPC.to_vec()),
        (
            "MP_CAPABLE v0 (RFC 6824, with key)",
            vec![30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8],
        ),
        ("unknown subtype 0xf alone", vec![30, 4, 0xf0, 0]),
        (
            "unknown subtype 0xf, then MP_CAPABLE",
            [&[30u8, 4, 0xf0, 0][..], &MPC].concat(),
        ),
        (
            "MP_CAPABLE, then six unknown kinds",
            [&MPC[..], &six_unknown].concat(),
        ),
        ("MP_CAPABLE of length 5", vec![30, 5, 0x01, 0x01, 0]),
        (
            "MP_CAPABLE, then a DSS",
            [&MPC[..], &[30, 8, 0x20, 0x01, 0, 0, 0, 9]].concat(),
        ),
        (
            "window scale of length 4, then MP_CAPABLE",
            [&[3u8, 4, 7, 0][..], &MPC].concat(),
        ),
        (
            "MP_CAPABLE, then an option running past the area",
            [&MPC[..], &[99, 30]].concat(),
        ),
        (
            "an option of length 1, then MP_CAPABLE",
            [&[99u8, 1][..], &MPC].concat(),
        ),
    ]
}

/// A SYN from `src` to `dst` whose options are MSS 1460 then `extra`
/// (padded with EOL), as a whole IPv4 packet.
fn probe_syn(src: SocketAddrV4, dst: SocketAddrV4, extra: &[u8]) -> Vec<u8> {
    let mut area = vec![2, 4, 0x05, 0xb4];
    area.extend_from_slice(extra);
    let header_len = 20 + area.len().next_multiple_of(4);
    assert!(header_len <= 60, "probe options too long");
    let mut seg = vec![0u8; header_len];
    seg[0..2].copy_from_slice(&src.port().to_be_bytes());
    seg[2..4].copy_from_slice(&dst.port().to_be_bytes());
    seg[4..8].copy_from_slice(&0x1000_0000u32.to_be_bytes());
    seg[12] = ((header_len / 4) as u8) << 4;
    seg[13] = TcpFlags::SYN.0 as u8;
    seg[14..16].copy_from_slice(&64240u16.to_be_bytes());
    seg[20..20 + area.len()].copy_from_slice(&area);
    let (s, d) = (IpAddr::V4(*src.ip()), IpAddr::V4(*dst.ip()));
    let pseudo = checksum::pseudo_header(s, d, 6, seg.len() as u32);
    let c = !checksum::fold(checksum::sum(pseudo, &seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    let ip =
        IpRepr::new(s, d, braid::proto::wire::IpProtocol::Tcp, seg.len(), 64).expect("IP header");
    let mut p = vec![0u8; ip.total_len()];
    ip.emit(&mut p).expect("IP emit");
    p[ip.header_len()..].copy_from_slice(&seg);
    p
}

/// How a listener answered a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Nothing within the wait.
    Silent,
    /// A RST.
    Reset,
    /// A SYN-ACK; whether it carried MP_CAPABLE.
    SynAck { mp_capable: bool },
}

/// Send every probe to `dst` from fresh ports starting at `first_port`
/// and collect the answers, in probe order.
fn ask(lab: &LabGuard, dst: SocketAddrV4, first_port: u16) -> io::Result<Vec<Answer>> {
    let src_ip = lab.client_addr(1);
    kernel_lab::lab_in(lab, Side::Client, move || {
        let tx = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))?;
        let rx = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))?;
        rx.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut answers = Vec::new();
        for (i, (_, extra)) in probes().iter().enumerate() {
            let src = SocketAddrV4::new(src_ip, first_port + i as u16);
            tx.send_to(&probe_syn(src, dst, extra), &SockAddr::from(dst))?;
            answers.push(wait_answer(&rx, src, dst)?);
        }
        Ok(answers)
    })
}

/// The first segment from `dst` to `src` within 2 s.
fn wait_answer(rx: &Socket, src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<Answer> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut bytes = [0u8; 2048];
    while Instant::now() < deadline {
        let n = match (&*rx).read(&mut bytes) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let bytes = &bytes[..n];
        let Ok((ip, payload)) = IpRepr::parse(bytes) else {
            continue;
        };
        let Ok(seg) = TcpRepr::parse(payload, ip.src_addr(), ip.dst_addr()) else {
            continue;
        };
        if ip.src_addr() != IpAddr::V4(*dst.ip())
            || seg.src_port != dst.port()
            || seg.dst_port != src.port()
        {
            continue;
        }
        if seg.flags.contains(TcpFlags::RST) {
            return Ok(Answer::Reset);
        }
        if seg.flags.contains(TcpFlags::SYN) && seg.ack_number.is_some() {
            let mp_capable = seg
                .options
                .mptcp
                .iter()
                .any(|o| matches!(o, MptcpOption::MpCapable(_)));
            return Ok(Answer::SynAck { mp_capable });
        }
    }
    Ok(Answer::Silent)
}

#[test]
fn braid_answers_malformed_options_as_the_kernel_does() {
    if !braid_testkit::ready(kernel_lab::unavailable(&[])) {
        return;
    }
    let (lab, rt) = kernel_lab::up(SCENARIO);
    let result: io::Result<(Vec<Answer>, Vec<Answer>, u64)> = rt.block_on(async {
        let tun = kernel_lab::braid_tun(&lab, Side::Server)?;
        let braid_ip = lab.braid_addresses(Side::Server)[0];
        let stack = Stack::builder()
            .config(EndpointConfig::default())
            .address(braid_ip.into())
            .build(tun)?;
        let _listener = Listener::bind(&stack, SocketAddr::from((braid_ip, 5420)))?;
        let kaddr = SocketAddrV4::new(lab.server_addr(1), 5421);
        let _klistener = kernel_lab::lab_in(&lab, Side::Server, move || {
            let s = Socket::new(
                Domain::IPV4,
                Type::STREAM,
                Some(Protocol::from(IPPROTO_MPTCP)),
            )?;
            s.set_reuse_address(true)?;
            s.bind(&SockAddr::from(kaddr))?;
            s.listen(64)?;
            Ok(s)
        })?;
        let braid_target = SocketAddrV4::new(braid_ip, 5420);
        let lab = &lab;
        let braid = tokio::task::block_in_place(|| ask(lab, braid_target, 40_000))?;
        let kernel = tokio::task::block_in_place(|| ask(lab, kaddr, 41_000))?;
        Ok((braid, kernel, stack.counters().options_ignored))
    });
    drop(rt);
    let down = lab.down();
    let (braid, kernel, ignored) = result.expect("malformed-options lab run failed");
    down.expect("lab down");
    let mut differ = Vec::new();
    for (((name, _), b), k) in probes().iter().zip(&braid).zip(&kernel) {
        println!("{name}: Braid {b:?}, kernel {k:?}");
        if b != k {
            differ.push(*name);
        }
    }
    println!("Braid segments with ignored options: {ignored}");
    assert_eq!(
        kernel[0],
        Answer::SynAck { mp_capable: true },
        "the control probe: the kernel does not speak MPTCP here"
    );
    assert!(
        differ.is_empty(),
        "Braid answers unlike the kernel: {differ:?}"
    );
    // Every probe but the control and the DSS one (valid, only useless on
    // a SYN) had an option Braid skipped.
    assert_eq!(
        ignored, 8,
        "segments with ignored options, as Braid counted"
    );
}
