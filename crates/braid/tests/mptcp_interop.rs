//! Braid's MPTCP against the Linux kernel's, over a two-path `braid-lab`
//! scenario (client, emulator and server namespaces; path `i` joins
//! `10.0.<i>.0/24` on the client side to `10.1.<i>.0/24` on the server
//! side, and the path a packet takes is chosen by its client-side address).
//!
//! - `braid_client_kernel_server`: Braid (owning `10.0.1.100` and
//!   `10.0.2.100`) connects to a kernel MPTCP listener on `10.1.1.2`
//!   whose namespace has a `signal` endpoint `10.1.2.2`. Braid joins the
//!   kernel from its second address, the kernel announces `10.1.2.2`
//!   (ADD_ADDR) and Braid joins that too.
//! - `kernel_client_braid_server`: a kernel MPTCP client on `10.0.1.2`
//!   with a `subflow` endpoint `10.0.2.2` connects to Braid on
//!   `10.1.1.100`; the kernel joins Braid from `10.0.2.2`, Braid
//!   announces `10.1.2.100` and the kernel (`add_addr_accepted 2`) joins
//!   it.
//! - `kernel_without_mptcp_falls_back`: `net.mptcp.enabled=0` on the
//!   kernel side: both directions of initiative end up plain TCP, data
//!   byte-exact.
//!
//! Each exchange sends [`size`] bytes each way (client first, then
//! server), compared by SHA-256, then closes with DATA_FINs. Both sides
//! are sampled while data flows: Braid's per-subflow data counts
//! (`Stream::mptcp`) and the kernel's per-subflow `tcp_info`
//! (`MPTCP_FULL_INFO`). The kernel's `MPTcpExt*` counters (`nstat`) are
//! read before and after and must show no checksum, mapping, HMAC or
//! fallback error; Braid's pcap tap is decoded by tshark, which must find
//! MP_CAPABLE, MP_JOIN, DSS and ADD_ADDR, no malformed packet and no bad
//! checksum.
//!
//! Needs root, network namespaces, `/dev/net/tun`, a kernel with MPTCP,
//! `nstat` and `tshark`; without them each test prints `SKIP <reason>`
//! and passes, except under `CI=true`, where it fails. Run with
//! `--nocapture` for the figures.

#[allow(dead_code)]
mod kernel_lab;
#[allow(dead_code)]
mod netns;

use braid::proto::endpoint::EndpointConfig;
use braid::sys::mptcp::{IPPROTO_MPTCP, mptcp_full_info};
use braid::{Listener, Stack, Stream};
use braid_lab::{LabGuard, Side};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Two identical paths, each limited to 100 Mbit/s so that one subflow
/// cannot carry everything and the schedulers of both stacks use both.
const SCENARIO: &str = r#"
name = "mptcp-interop"
description = "two paths, 100 Mbit/s and 2 ms one way each"
seed = 8684
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 300
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 300
"#;

/// Bytes each way per exchange by default (MiB); `BRAID_MPTCP_INTEROP_MIB`
/// overrides it.
const DEFAULT_MIB: usize = 50;
/// Bytes each way in the fallback test.
const FALLBACK_LEN: usize = 4 << 20;

fn size() -> usize {
    std::env::var("BRAID_MPTCP_INTEROP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MIB)
        << 20
}

/// Bound on one whole exchange: generous next to the ~2 s per direction a
/// 50 MiB run takes at 200 Mbit/s.
fn exchange_timeout(len: usize) -> Duration {
    Duration::from_secs((2 * (len >> 20) as u64).max(60))
}

/// The kernel's MPTCP counters that must stay zero in a clean run.
const KERNEL_ERRORS: &[&str] = &[
    "MPTcpExtMPCapableFallbackACK",
    "MPTcpExtMPCapableFallbackSYNACK",
    "MPTcpExtMPFallbackTokenInit",
    "MPTcpExtMPJoinNoTokenFound",
    "MPTcpExtMPJoinSynAckHMacFailure",
    "MPTcpExtMPJoinAckHMacFailure",
    "MPTcpExtDSSNotMatching",
    "MPTcpExtDSSCorruptionFallback",
    "MPTcpExtDSSCorruptionReset",
    "MPTcpExtInfiniteMapTx",
    "MPTcpExtInfiniteMapRx",
    "MPTcpExtDSSNoMatchTCP",
    "MPTcpExtDataCsumErr",
    "MPTcpExtAddAddrDrop",
    "MPTcpExtMPFailTx",
    "MPTcpExtMPFailRx",
    "MPTcpExtMPCapableDataFallback",
    "MPTcpExtDssFallback",
    "MPTcpExtFallbackFailed",
    "MPTcpExtMismatchPortSynRx",
    "MPTcpExtMismatchPortAckRx",
    // A clean close: DATA_FINs, then the subflows' FINs; no reset.
    "MPTcpExtMPFastcloseTx",
    "MPTcpExtMPFastcloseRx",
    "MPTcpExtMPRstTx",
    "MPTcpExtMPRstRx",
];

/// `ip mptcp ...` in `side`'s namespace.
fn ip_mptcp(lab: &LabGuard, side: Side, args: &str) -> io::Result<()> {
    let mut all = vec!["mptcp"];
    all.extend(args.split_whitespace());
    kernel_lab::run(lab, side, "ip", &all).map(drop)
}

/// The namespace's `MPTcpExt*` counters (absolute, history untouched).
fn nstat(lab: &LabGuard, side: Side) -> io::Result<BTreeMap<String, u64>> {
    kernel_lab::nstat(lab, side, |name| name.starts_with("MPTcpExt"))
}

/// Print the counters that moved and check the kernel saw no error.
fn check_kernel_mib(label: &str, delta: &BTreeMap<String, u64>) {
    println!("kernel MIB ({label}): {delta:?}");
    for name in KERNEL_ERRORS {
        assert_eq!(
            delta.get(*name).copied().unwrap_or(0),
            0,
            "{label}: kernel counter {name} moved: {delta:?}"
        );
    }
}

/// The kernel's TCP sockets (MPTCP subflows and plain) on `port` in
/// `side`'s namespace, one `ss` line each, listeners excluded.
fn kernel_sockets(lab: &LabGuard, side: Side, port: u16) -> io::Result<Vec<String>> {
    let out = kernel_lab::run(lab, side, "ss", &["-Htan"])?;
    let port = format!(":{port}");
    Ok(out
        .lines()
        .filter(|l| !l.starts_with("LISTEN") && l.contains(&port))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect())
}

/// After a clean close (DATA_FINs, then every subflow's FINs) the kernel
/// keeps only TIME-WAIT sockets of the exchange: none established or half
/// closed.
fn check_closed(lab: &LabGuard, side: Side, port: u16) -> io::Result<()> {
    let socks = kernel_sockets(lab, side, port)?;
    println!("kernel sockets after close: {socks:?}");
    let open: Vec<&String> = socks
        .iter()
        .filter(|l| !l.starts_with("TIME-WAIT"))
        .collect();
    assert!(open.is_empty(), "kernel sockets not closed: {socks:?}");
    Ok(())
}

/// Braid's MPTCP counters after a clean run: no error of any kind.
fn check_braid_mib(label: &str, mib: Option<braid::proto::mib::Mib>) {
    println!("braid MIB ({label}): {mib:?}");
    let Some(m) = mib else {
        panic!("{label}: Braid's connection is not MPTCP");
    };
    let errors = [
        ("mp_capable_active_fallback", m.mp_capable_active_fallback),
        ("mp_capable_passive_fallback", m.mp_capable_passive_fallback),
        ("mp_capable_bad_version", m.mp_capable_bad_version),
        ("mp_capable_bad_key", m.mp_capable_bad_key),
        ("mp_join_synack_hmac_failure", m.mp_join_synack_hmac_failure),
        ("mp_join_ack_hmac_failure", m.mp_join_ack_hmac_failure),
        ("dss_invalid_mapping", m.dss_invalid_mapping),
        ("dss_unmapped_data", m.dss_unmapped_data),
        ("dss_checksum_error", m.dss_checksum_error),
        ("data_ack_invalid", m.data_ack_invalid),
        ("data_fin_without_mapping", m.data_fin_without_mapping),
        ("add_addr_hmac_failure", m.add_addr_hmac_failure),
        ("mp_fail_rx", m.mp_fail_rx),
        ("mp_fail_tx", m.mp_fail_tx),
        ("infinite_map_rx", m.infinite_map_rx),
        ("unexpected_option", m.unexpected_option),
        ("option_no_space", m.option_no_space),
        ("mp_rst_rx", m.mp_rst_rx),
        ("mp_fastclose_rx", m.mp_fastclose_rx),
        ("mp_fastclose_tx", m.mp_fastclose_tx),
    ];
    for (name, v) in errors {
        assert_eq!(v, 0, "{label}: Braid counter {name} moved: {m:?}");
    }
}

fn counter(delta: &BTreeMap<String, u64>, name: &str) -> u64 {
    delta.get(name).copied().unwrap_or(0)
}

/// A Braid stack on a TUN in `side`'s namespace owning every Braid
/// address of that side, capturing to `pcap` if given.
fn lab_stack(
    lab: &LabGuard,
    side: Side,
    config: EndpointConfig,
    pcap: Option<&Path>,
) -> io::Result<Stack> {
    let tun = kernel_lab::braid_tun(lab, side)?;
    let mut builder = Stack::builder().config(config);
    for a in lab.braid_addresses(side) {
        builder = builder.address(a.into());
    }
    if let Some(p) = pcap {
        builder = builder.pcap(p);
    }
    builder.build(tun)
}

/// A kernel socket in the calling thread's namespace: MPTCP when the
/// namespace allows it, plain TCP otherwise (as `mptcpize` does).
fn kernel_socket() -> io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(IPPROTO_MPTCP)),
    )
    .or_else(|_| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)))
}

/// A kernel listener on `addr` in `side`'s namespace. Joins to an address
/// the kernel announces need a listener that covers it (Linux looks the
/// MP_JOIN SYN up like any SYN): bind the unspecified address for those.
fn kernel_listener(
    lab: &LabGuard,
    side: Side,
    addr: SocketAddr,
) -> io::Result<tokio::net::TcpListener> {
    let l = kernel_lab::lab_in(lab, side, move || {
        let s = kernel_socket()?;
        s.set_reuse_address(true)?;
        s.bind(&addr.into())?;
        s.listen(16)?;
        s.set_nonblocking(true)?;
        Ok(std::net::TcpListener::from(s))
    })?;
    tokio::net::TcpListener::from_std(l)
}

/// A kernel client connection from `side`'s namespace to `remote`.
async fn kernel_connect(
    lab: &LabGuard,
    side: Side,
    remote: SocketAddr,
) -> io::Result<tokio::net::TcpStream> {
    let s = kernel_lab::lab_in(lab, side, move || {
        let s = kernel_socket()?;
        s.set_nonblocking(true)?;
        Ok(std::net::TcpStream::from(s))
    })?;
    tokio::net::TcpSocket::from_std_stream(s)
        .connect(remote)
        .await
}

/// Per-subflow byte counts of one side, the latest sample of each
/// subflow (keyed `local -> remote`).
#[derive(Debug, Default)]
struct Sampled {
    /// MPTCP in use at the last sample (None: never sampled).
    mptcp: Option<bool>,
    /// (sent, received) per subflow.
    subflows: BTreeMap<String, (u64, u64)>,
}

impl Sampled {
    /// Subflows that carried data in the given direction.
    fn carrying(&self, sent: bool) -> usize {
        self.subflows
            .values()
            .filter(|(s, r)| if sent { *s > 0 } else { *r > 0 })
            .count()
    }
}

/// Either end of an exchange.
trait Peer: AsyncRead + AsyncWrite + Unpin {
    /// Record the per-subflow figures now.
    fn sample(&self, into: &mut Sampled);
}

impl Peer for Stream {
    fn sample(&self, into: &mut Sampled) {
        match self.mptcp() {
            Ok(Some(v)) => {
                into.mptcp = Some(v.active);
                for s in v.subflows {
                    let e = into
                        .subflows
                        .entry(format!("{} -> {}", s.local, s.remote))
                        .or_default();
                    e.0 = e.0.max(s.data_sent);
                    e.1 = e.1.max(s.data_received);
                }
            }
            Ok(None) => into.mptcp = Some(false),
            Err(_) => {}
        }
    }
}

impl Peer for tokio::net::TcpStream {
    fn sample(&self, into: &mut Sampled) {
        match mptcp_full_info(self.as_fd()) {
            Ok(info) => {
                into.mptcp = Some(!info.fallback());
                for s in info.subflows {
                    let name = match (s.local, s.remote) {
                        (Some(l), Some(r)) => format!("{l} -> {r}"),
                        _ => format!("#{}", s.id),
                    };
                    let e = into.subflows.entry(name).or_default();
                    e.0 = e.0.max(s.bytes_acked);
                    e.1 = e.1.max(s.bytes_received);
                }
            }
            // A plain TCP socket (MPTCP disabled in its namespace).
            Err(_) => into.mptcp = Some(false),
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Write `len` pattern bytes, sampling as it goes, shut down; the SHA-256.
async fn send(p: &mut impl Peer, len: usize, seed: u64, s: &mut Sampled) -> io::Result<Vec<u8>> {
    let mut pattern = Pattern(seed | 1);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        pattern.fill(&mut buf[..n]);
        hash.update(&buf[..n]);
        p.write_all(&buf[..n]).await?;
        p.sample(s);
        left -= n;
    }
    p.shutdown().await?;
    Ok(hash.finalize().to_vec())
}

/// Read to EOF, sampling as it goes; byte count and SHA-256.
async fn recv(p: &mut impl Peer, s: &mut Sampled) -> io::Result<(usize, Vec<u8>)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = p.read(&mut buf).await?;
        p.sample(s);
        if n == 0 {
            return Ok((total, hash.finalize().to_vec()));
        }
        hash.update(&buf[..n]);
        total += n;
    }
}

/// What an exchange measured.
#[derive(Debug, Default)]
struct Exchange {
    up_secs: f64,
    down_secs: f64,
    client: Sampled,
    server: Sampled,
}

/// Client sends `len` bytes and shuts down; the server reads to EOF, then
/// sends `len` bytes back and shuts down; the client reads to EOF. Both
/// directions are hash-checked and timed.
async fn exchange(c: &mut impl Peer, s: &mut impl Peer, len: usize) -> io::Result<Exchange> {
    let mut x = Exchange::default();
    c.sample(&mut x.client);
    s.sample(&mut x.server);
    let start = Instant::now();
    let (sent, (got_len, got)) =
        tokio::try_join!(send(c, len, 0x1234, &mut x.client), recv(s, &mut x.server))?;
    x.up_secs = start.elapsed().as_secs_f64();
    assert_eq!(got_len, len, "client -> server: wrong length");
    assert_eq!(sent, got, "client -> server: bytes differ");
    let start = Instant::now();
    let (sent, (got_len, got)) =
        tokio::try_join!(send(s, len, 0x5678, &mut x.server), recv(c, &mut x.client))?;
    x.down_secs = start.elapsed().as_secs_f64();
    assert_eq!(got_len, len, "server -> client: wrong length");
    assert_eq!(sent, got, "server -> client: bytes differ");
    // The senders' last samples predate the last acknowledgments.
    c.sample(&mut x.client);
    s.sample(&mut x.server);
    Ok(x)
}

fn report(label: &str, len: usize, x: &Exchange) {
    println!(
        "THROUGHPUT {label} client -> server: {:.1} MB/s ({len} bytes in {:.2} s)",
        len as f64 / 1e6 / x.up_secs,
        x.up_secs
    );
    println!(
        "THROUGHPUT {label} server -> client: {:.1} MB/s ({len} bytes in {:.2} s)",
        len as f64 / 1e6 / x.down_secs,
        x.down_secs
    );
    for (who, s) in [("client", &x.client), ("server", &x.server)] {
        println!("{label} {who}: mptcp {:?}", s.mptcp);
        for (k, (sent, recv)) in &s.subflows {
            println!("  subflow {k}: sent {sent} received {recv}");
        }
    }
}

/// A fresh run directory for captures.
fn run_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("braid-mptcp-interop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("capture directory");
    dir
}

/// What tshark found in a capture.
#[derive(Debug, Default)]
struct Decoded {
    packets: usize,
    malformed: usize,
    bad_checksum: usize,
    /// TCP checksums sent as 0xffff where 0x0000 is computed (equal).
    minus_zero: usize,
    /// MPTCP option subtype -> packets carrying it.
    subtypes: BTreeMap<u32, usize>,
}

/// tshark preferences that skip analyses these checks do not read (about
/// a third less CPU and memory on a 120 MB capture), and decode every TCP
/// payload as opaque data: the payload is random bytes, and a heuristic
/// dissector that takes it for its protocol (DRDA did, once) reports a
/// "malformed" packet that says nothing about our headers.
const TSHARK_LEAN: [&str; 8] = [
    "-o",
    "mptcp.analyze_mptcp:FALSE",
    "-o",
    "tcp.analyze_sequence_numbers:FALSE",
    "-o",
    "tcp.desegment_tcp_streams:FALSE",
    "-d",
    "tcp.port==1-65535,data",
];

/// Decode `pcap` with tshark (TCP checksums checked).
fn tshark(pcap: &Path) -> Decoded {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(TSHARK_LEAN)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "tcp",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-e",
            "_ws.malformed",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.options.mptcp.subtype",
            "-e",
            "tcp.checksum",
            "-e",
            "tcp.checksum_calculated",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut d = Decoded::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        d.packets += 1;
        if f.first().is_some_and(|m| !m.is_empty()) {
            d.malformed += 1;
        }
        // 0xffff and 0x0000 are the same one's complement sum (RFC 1624):
        // Linux sends either, tshark 4.0 calls 0xffff bad.
        let minus_zero = f.get(4) == Some(&"0xffff") && f.get(5) == Some(&"0x0000");
        if minus_zero {
            d.minus_zero += 1;
        } else if f.get(1).is_some_and(|c| *c != "1") || f.get(2).is_some_and(|c| *c != "1") {
            d.bad_checksum += 1;
        }
        if let Some(types) = f.get(3) {
            let mut seen: Vec<u32> = types
                .split(',')
                .filter_map(|t| {
                    let t = t.trim();
                    t.strip_prefix("0x")
                        .map_or_else(|| t.parse().ok(), |h| u32::from_str_radix(h, 16).ok())
                })
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *d.subtypes.entry(t).or_default() += 1;
            }
        }
    }
    d
}

/// MPTCP option subtypes (RFC 8684 section 3).
const MP_CAPABLE: u32 = 0;
const MP_JOIN: u32 = 1;
const DSS: u32 = 2;
const ADD_ADDR: u32 = 3;

fn check_capture(label: &str, pcap: &Path, min_packets: usize) {
    let d = tshark(pcap);
    println!(
        "tshark ({label}): {} TCP packets, {} malformed, {} bad checksums \
         ({} sent as 0xffff for 0x0000), MPTCP subtypes {:?}",
        d.packets, d.malformed, d.bad_checksum, d.minus_zero, d.subtypes
    );
    assert!(d.packets >= min_packets, "{label}: too few packets: {d:?}");
    assert_eq!(
        d.malformed,
        0,
        "{label}: malformed packets in {}",
        pcap.display()
    );
    assert_eq!(
        d.bad_checksum,
        0,
        "{label}: bad checksums in {}",
        pcap.display()
    );
    for (t, name) in [
        (MP_CAPABLE, "MP_CAPABLE"),
        (MP_JOIN, "MP_JOIN"),
        (DSS, "DSS"),
        (ADD_ADDR, "ADD_ADDR"),
    ] {
        assert!(
            d.subtypes.get(&t).is_some_and(|n| *n > 0),
            "{label}: no {name} in {}",
            pcap.display()
        );
    }
}

/// Bring the two-path lab up, run `body` on a two-worker runtime, tear
/// everything down (runtime first, so the TUN and its tap go before the
/// namespaces).
fn with_lab(body: impl AsyncFnOnce(&LabGuard) -> io::Result<()>) {
    if !braid_testkit::ready(kernel_lab::unavailable(&["nstat", "tshark"])) {
        return;
    }
    let (lab, rt) = kernel_lab::up(SCENARIO);
    let result = rt.block_on(body(&lab));
    drop(rt);
    let stats = lab.down();
    result.expect("MPTCP interop run failed");
    let stats = stats.expect("lab down");
    for (i, p) in stats.iter().enumerate() {
        println!(
            "lab path {}: up {} packets, down {} packets",
            i + 1,
            p.up.delivered_packets,
            p.down.delivered_packets
        );
    }
}

async fn timed<T>(
    len: usize,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(exchange_timeout(len), f)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))?
}

/// Braid client (two addresses) -> kernel MPTCP server with a `signal`
/// endpoint: Braid joins the kernel, the kernel announces to Braid.
#[test]
fn braid_client_kernel_server() {
    let dir = run_dir("client");
    let pcap = dir.join("braid-client.pcapng");
    let len = size();
    let mut ran = false;
    with_lab(async |lab| {
        ran = true;
        let server_ip = lab.server_addr(1);
        let port = 5401;
        ip_mptcp(
            lab,
            Side::Server,
            "limits set subflow 3 add_addr_accepted 2",
        )?;
        let signal = format!("endpoint add {} dev srv2 signal", lab.server_addr(2));
        ip_mptcp(lab, Side::Server, &signal)?;
        let before = nstat(lab, Side::Server)?;

        let braid_addrs = lab.braid_addresses(Side::Client);
        let mut config = EndpointConfig::default();
        config.conn.pm.local_addrs = vec![IpAddr::from(braid_addrs[1])];
        config.conn.pm.limits.subflows = 3;
        config.conn.pm.limits.add_addr_accepted = 2;
        let stack = lab_stack(lab, Side::Client, config, Some(&pcap))?;
        let listener = kernel_listener(lab, Side::Server, SocketAddr::from(([0, 0, 0, 0], port)))?;
        let (x, mib) = timed(len, async {
            let (mut c, (mut s, _)) = tokio::try_join!(
                Stream::connect(&stack, SocketAddr::from((server_ip, port))),
                listener.accept()
            )?;
            let x = exchange(&mut c, &mut s, len).await?;
            // Let the DATA_FIN exchange and the subflows' FINs complete.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mib = c.mptcp()?.map(|v| v.mib);
            Ok((x, mib))
        })
        .await?;
        report("braid-client/kernel-server", len, &x);
        check_braid_mib("client", mib);
        assert!(
            mib.is_some_and(|m| m.add_addr_rx >= 1),
            "no ADD_ADDR: {mib:?}"
        );
        // Both ends dropped: let the last packets pass.
        tokio::time::sleep(Duration::from_millis(300)).await;
        check_closed(lab, Side::Server, port)?;
        let delta = kernel_lab::moved(&before, &nstat(lab, Side::Server)?);
        check_kernel_mib("server", &delta);

        assert_eq!(x.client.mptcp, Some(true), "Braid fell back: {x:?}");
        assert_eq!(x.server.mptcp, Some(true), "the kernel fell back: {x:?}");
        assert!(x.client.subflows.len() >= 2, "Braid: one subflow: {x:?}");
        assert!(x.server.subflows.len() >= 2, "kernel: one subflow: {x:?}");
        for (who, s) in [("Braid", &x.client), ("kernel", &x.server)] {
            assert!(s.carrying(true) >= 2, "{who} sent on <2 subflows: {x:?}");
            assert!(
                s.carrying(false) >= 2,
                "{who} received on <2 subflows: {x:?}"
            );
        }
        assert!(counter(&delta, "MPTcpExtMPCapableSYNRX") >= 1, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtMPCapableACKRX") >= 1, "{delta:?}");
        // Braid joined the kernel: its second address, and the announced one.
        assert!(counter(&delta, "MPTcpExtMPJoinSynRx") >= 2, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtMPJoinAckRx") >= 2, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtAddAddrTx") >= 1, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtEchoAdd") >= 1, "{delta:?}");
        let to_announced = format!("{}:{port}", lab.server_addr(2));
        assert!(
            x.client.subflows.keys().any(|k| k.ends_with(&to_announced)),
            "Braid did not join the announced address: {x:?}"
        );
        Ok(())
    });
    if ran {
        check_capture("braid-client", &pcap, 2 * len / 1460);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kernel MPTCP client with a `subflow` endpoint -> Braid server (two
/// addresses): the kernel joins Braid, Braid announces to the kernel.
#[test]
fn kernel_client_braid_server() {
    let dir = run_dir("server");
    let pcap = dir.join("braid-server.pcapng");
    let len = size();
    let mut ran = false;
    with_lab(async |lab| {
        ran = true;
        let port = 5402;
        ip_mptcp(
            lab,
            Side::Client,
            "limits set subflow 3 add_addr_accepted 2",
        )?;
        let subflow = format!("endpoint add {} dev path2 subflow", lab.client_addr(2));
        ip_mptcp(lab, Side::Client, &subflow)?;
        let before = nstat(lab, Side::Client)?;

        let braid_addrs = lab.braid_addresses(Side::Server);
        let mut config = EndpointConfig::default();
        config.conn.pm.limits.subflows = 3;
        let stack = lab_stack(lab, Side::Server, config, Some(&pcap))?;
        let listener = Listener::bind(&stack, SocketAddr::from(([0, 0, 0, 0], port)))?;
        let remote = SocketAddr::from((braid_addrs[0], port));
        let announced = SocketAddr::from((braid_addrs[1], port));
        let (x, mib) = timed(len, async {
            let (mut c, (mut s, _)) =
                tokio::try_join!(kernel_connect(lab, Side::Client, remote), listener.accept())?;
            s.announce_addr(1, announced)?;
            let x = exchange(&mut c, &mut s, len).await?;
            // Let the DATA_FIN exchange and the subflows' FINs complete.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mib = s.mptcp()?.map(|v| v.mib);
            Ok((x, mib))
        })
        .await?;
        report("kernel-client/braid-server", len, &x);
        check_braid_mib("server", mib);
        assert!(
            mib.is_some_and(|m| m.mp_join_syn_rx >= 2 && m.add_addr_echo_rx >= 1),
            "joins or ADD_ADDR echo missing: {mib:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        check_closed(lab, Side::Client, port)?;
        let delta = kernel_lab::moved(&before, &nstat(lab, Side::Client)?);
        check_kernel_mib("client", &delta);

        assert_eq!(x.client.mptcp, Some(true), "the kernel fell back: {x:?}");
        assert_eq!(x.server.mptcp, Some(true), "Braid fell back: {x:?}");
        assert!(x.client.subflows.len() >= 2, "kernel: one subflow: {x:?}");
        assert!(x.server.subflows.len() >= 2, "Braid: one subflow: {x:?}");
        for (who, s) in [("kernel", &x.client), ("Braid", &x.server)] {
            assert!(s.carrying(true) >= 2, "{who} sent on <2 subflows: {x:?}");
            assert!(
                s.carrying(false) >= 2,
                "{who} received on <2 subflows: {x:?}"
            );
        }
        assert!(
            counter(&delta, "MPTcpExtMPCapableSYNACKRX") >= 1,
            "{delta:?}"
        );
        // The kernel joined Braid: from its subflow endpoint, and to the
        // address Braid announced.
        assert!(counter(&delta, "MPTcpExtMPJoinSynAckRx") >= 2, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtAddAddr") >= 1, "{delta:?}");
        assert!(counter(&delta, "MPTcpExtEchoAddTx") >= 1, "{delta:?}");
        let announced = announced.to_string();
        assert!(
            x.server.subflows.keys().any(|k| k.starts_with(&announced)),
            "the kernel did not join the announced address: {x:?}"
        );
        Ok(())
    });
    if ran {
        check_capture("braid-server", &pcap, 2 * len / 1460);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// MPTCP disabled in the kernel's namespaces: Braid's MP_CAPABLE SYN gets
/// a plain SYN/ACK (Braid falls back), a plain SYN reaches Braid's
/// listener (a plain TCP connection); data byte-exact both ways.
#[test]
fn kernel_without_mptcp_falls_back() {
    with_lab(async |lab| {
        for side in [Side::Client, Side::Server] {
            kernel_lab::run(lab, side, "sysctl", &["-qw", "net.mptcp.enabled=0"])?;
        }
        let server_ip = lab.server_addr(1);
        let port = 5403;

        // Braid client -> kernel server.
        let stack = lab_stack(lab, Side::Client, EndpointConfig::default(), None)?;
        let listener = kernel_listener(lab, Side::Server, SocketAddr::from((server_ip, port)))?;
        let x = timed(FALLBACK_LEN, async {
            let (mut c, (mut s, _)) = tokio::try_join!(
                Stream::connect(&stack, SocketAddr::from((server_ip, port))),
                listener.accept()
            )?;
            let view = c.mptcp()?;
            assert!(
                view.as_ref()
                    .is_some_and(|v| !v.active && v.mib.mp_capable_active_fallback == 1),
                "Braid did not fall back: {view:?}"
            );
            exchange(&mut c, &mut s, FALLBACK_LEN).await
        })
        .await?;
        report("fallback braid-client", FALLBACK_LEN, &x);
        assert_eq!(x.client.mptcp, Some(false));
        assert_eq!(x.server.mptcp, Some(false));

        // Kernel client -> Braid server (on the other side's lab addresses:
        // a second stack in the server namespace).
        let server = lab_stack(lab, Side::Server, EndpointConfig::default(), None)?;
        let local = SocketAddr::from((lab.braid_addresses(Side::Server)[0], port));
        let listener = Listener::bind(&server, local)?;
        let x = timed(FALLBACK_LEN, async {
            let (mut c, (mut s, _)) =
                tokio::try_join!(kernel_connect(lab, Side::Client, local), listener.accept())?;
            exchange(&mut c, &mut s, FALLBACK_LEN).await
        })
        .await?;
        report("fallback braid-server", FALLBACK_LEN, &x);
        assert_eq!(x.client.mptcp, Some(false));
        assert_eq!(x.server.mptcp, Some(false));
        assert!(x.client.carrying(true) <= 1 && x.server.carrying(true) <= 1);
        Ok(())
    });
}

/// Bytes each way in the DSS checksum test.
const CHECKSUM_LEN: usize = 8 << 20;

/// DSS checksums (RFC 8684 section 3.3.1) both ways of asking: the kernel
/// server asks (`net.mptcp.checksum_enabled=1`) and Braid, not asking,
/// must checksum; then Braid's server asks and the kernel client, not
/// asking, must checksum. Two subflows each time; no checksum error on
/// either side, and tshark sees checksums in the DSS options.
#[test]
fn dss_checksums_when_either_side_asks() {
    let dir = run_dir("checksum");
    let pcap_client = dir.join("braid-client.pcapng");
    let pcap_server = dir.join("braid-server.pcapng");
    let mut ran = false;
    with_lab(async |lab| {
        ran = true;
        kernel_lab::run(
            lab,
            Side::Server,
            "sysctl",
            &["-qw", "net.mptcp.checksum_enabled=1"],
        )?;
        for side in [Side::Client, Side::Server] {
            ip_mptcp(lab, side, "limits set subflow 3 add_addr_accepted 2")?;
        }
        let subflow = format!("endpoint add {} dev path2 subflow", lab.client_addr(2));
        ip_mptcp(lab, Side::Client, &subflow)?;
        let before = (nstat(lab, Side::Client)?, nstat(lab, Side::Server)?);
        let port = 5404;

        // Braid client (not asking) -> kernel server (asking).
        let mut config = EndpointConfig::default();
        config.conn.pm.local_addrs = vec![IpAddr::from(lab.braid_addresses(Side::Client)[1])];
        let stack = lab_stack(lab, Side::Client, config, Some(&pcap_client))?;
        let listener = kernel_listener(lab, Side::Server, SocketAddr::from(([0, 0, 0, 0], port)))?;
        let server_ip = lab.server_addr(1);
        let (x, mib) = timed(CHECKSUM_LEN, async {
            let (mut c, (mut s, _)) = tokio::try_join!(
                Stream::connect(&stack, SocketAddr::from((server_ip, port))),
                listener.accept()
            )?;
            let x = exchange(&mut c, &mut s, CHECKSUM_LEN).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok((x, c.mptcp()?.map(|v| v.mib)))
        })
        .await?;
        report("checksum braid-client", CHECKSUM_LEN, &x);
        check_braid_mib("checksum client", mib);
        assert_eq!(x.client.mptcp, Some(true));
        assert!(x.client.carrying(true) >= 2 && x.client.carrying(false) >= 2);

        // Kernel client (not asking) -> Braid server (asking).
        let mut config = EndpointConfig::default();
        config.conn.checksum = true;
        let server = lab_stack(lab, Side::Server, config, Some(&pcap_server))?;
        let local = SocketAddr::from((lab.braid_addresses(Side::Server)[0], port));
        let listener = Listener::bind(&server, local)?;
        let (x, mib) = timed(CHECKSUM_LEN, async {
            let (mut c, (mut s, _)) =
                tokio::try_join!(kernel_connect(lab, Side::Client, local), listener.accept())?;
            let x = exchange(&mut c, &mut s, CHECKSUM_LEN).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok((x, s.mptcp()?.map(|v| v.mib)))
        })
        .await?;
        report("checksum braid-server", CHECKSUM_LEN, &x);
        check_braid_mib("checksum server", mib);
        assert_eq!(x.server.mptcp, Some(true));
        assert!(x.server.carrying(true) >= 2 && x.server.carrying(false) >= 2);

        tokio::time::sleep(Duration::from_millis(300)).await;
        check_kernel_mib(
            "checksum client",
            &kernel_lab::moved(&before.0, &nstat(lab, Side::Client)?),
        );
        check_kernel_mib(
            "checksum server",
            &kernel_lab::moved(&before.1, &nstat(lab, Side::Server)?),
        );
        Ok(())
    });
    if ran {
        for pcap in [&pcap_client, &pcap_server] {
            let (dss, with_checksum) = dss_checksums(pcap);
            println!(
                "tshark ({}): {dss} DSS mappings, {with_checksum} with a checksum",
                pcap.display()
            );
            assert!(dss > 100, "too few DSS mappings in {}", pcap.display());
            assert_eq!(dss, with_checksum, "DSS mappings without checksum");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// (DSS options with a mapping, those of them with a checksum) in `pcap`.
/// tshark 4.0 does not show the DSS checksum as a field, so its presence
/// is told by the option's length: 4, plus the DATA_ACK (4 or 8), plus
/// the mapping (DSN 4 or 8, subflow sequence number 4, length 2), plus 2
/// for the checksum (RFC 8684 section 3.3, figure 9).
fn dss_checksums(pcap: &Path) -> (usize, usize) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(TSHARK_LEAN)
        .args([
            "-Y",
            "tcp.options.mptcp.dseqnpresent.flag == 1",
            "-T",
            "fields",
            "-e",
            "tcp.option_kind",
            "-e",
            "tcp.option_len",
            "-e",
            "tcp.options.mptcp.dataackpresent.flag",
            "-e",
            "tcp.options.mptcp.dataack8.flag",
            "-e",
            "tcp.options.mptcp.dseqn8.flag",
        ])
        .output()
        .expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut dss, mut with) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let list = |i: usize| -> Vec<&str> { f.get(i).map_or(vec![], |v| v.split(',').collect()) };
        let (kinds, lens) = (list(0), list(1));
        // EOL and NOP have no length byte.
        let with_len: Vec<&str> = kinds
            .into_iter()
            .filter(|k| *k != "0" && *k != "1")
            .collect();
        let mptcp: Vec<usize> = with_len
            .iter()
            .zip(&lens)
            .filter(|(k, _)| **k == "30")
            .filter_map(|(_, l)| l.parse().ok())
            .collect();
        // One MPTCP option (the DSS) and one flag set, or ambiguous: skip.
        let (ack, ack8, dsn8) = (list(2), list(3), list(4));
        if mptcp.len() != 1 || ack.len() != 1 || ack8.len() != 1 || dsn8.len() != 1 {
            continue;
        }
        let ack_len = match (ack[0], ack8[0]) {
            ("1", "1") => 8,
            ("1", _) => 4,
            _ => 0,
        };
        let dsn_len = if dsn8[0] == "1" { 8 } else { 4 };
        let plain = 4 + ack_len + dsn_len + 4 + 2;
        dss += 1;
        if mptcp[0] == plain + 2 {
            with += 1;
        }
    }
    (dss, with)
}
