//! Issue #14's availability check in the lab, both stacks: 20,000 spoofed
//! MP_CAPABLE SYNs at 5,000/s from the client namespace (a raw socket;
//! sources `10.0.1.10`-`10.0.1.89` with varying ports, addresses nobody in
//! the lab owns, so the SYN-ACKs die in the lab unanswered), first at
//! Braid's listener (TUN, `10.1.1.100`), then at a kernel MPTCP listener
//! (`10.1.1.2`). During each flood (1 s in) and right after it a kernel
//! MPTCP client connects and sends [`LEN`] bytes, compared by SHA-256.
//!
//! Measured and checked:
//! - both transfers byte-exact, over MPTCP, for each stack;
//! - Braid's resident memory (this process: Braid runs in it) grows by at
//!   most 16 MiB;
//! - SYN-ACKs the listener sent to spoofed sources (captured by tshark in
//!   the server namespace) per spoofed SYN, within the capture window, at
//!   most 1.5 for Braid; the kernel's figure is reported, with its
//!   `TcpExtSyncookies*` counters.
//!
//! Needs root, namespaces, `/dev/net/tun`, a kernel with MPTCP, `nstat` and
//! `tshark`; without them it prints `SKIP <reason>` and passes, except
//! under `CI=true`, where it fails. Run with `--nocapture` for the figures.

#[allow(dead_code)]
mod kernel_lab;
#[allow(dead_code)]
mod netns;

use braid::proto::endpoint::EndpointConfig;
use braid::proto::wire::mptcp::{MpCapable, MptcpOption};
use braid::proto::wire::{IpProtocol, IpRepr, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use braid::sys::mptcp::{IPPROTO_MPTCP, mptcp_full_info};
use braid::{Listener, Stack};
use braid_lab::{LabGuard, Side};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCENARIO: &str = r#"
name = "syn-flood"
description = "one path, 100 Mbit/s, 2 ms one way"
seed = 4987
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 1000
"#;

const SPOOFED: u32 = 20_000;
const RATE_PER_SEC: u32 = 5_000;
/// Bytes each legitimate client sends.
const LEN: usize = 4 << 20;
/// How long SYN-ACKs are captured from the start of a flood.
const CAPTURE_SECS: u64 = 16;

/// The namespace's SYN-cookie, listen-queue and MP_CAPABLE counters.
fn nstat(lab: &LabGuard, side: Side) -> io::Result<BTreeMap<String, u64>> {
    kernel_lab::nstat(lab, side, |name| {
        name.starts_with("TcpExtSyncookies")
            || name.starts_with("TcpExtListen")
            || name.starts_with("TcpExtTCPReqQFull")
            || name.starts_with("MPTcpExtMPCapable")
    })
}

/// A kernel MPTCP client from the client namespace's `10.0.1.2`.
async fn kernel_connect(lab: &LabGuard, remote: SocketAddr) -> io::Result<tokio::net::TcpStream> {
    let s = kernel_lab::lab_in(lab, Side::Client, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(
            Domain::IPV4,
            Type::STREAM,
            Some(Protocol::from(IPPROTO_MPTCP)),
        )?;
        s.set_nonblocking(true)?;
        Ok(std::net::TcpStream::from(s))
    })?;
    tokio::net::TcpSocket::from_std_stream(s)
        .connect(remote)
        .await
}

/// Send [`LEN`] pattern bytes over a fresh kernel MPTCP connection to
/// `remote`; the SHA-256 sent and whether MPTCP (not a fallback) carried
/// them.
async fn kernel_send(lab: &LabGuard, remote: SocketAddr, seed: u8) -> io::Result<(Vec<u8>, bool)> {
    let mut c = kernel_connect(lab, remote).await?;
    let mut hash = Sha256::new();
    let buf: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
        .collect();
    for _ in 0..LEN / buf.len() {
        hash.update(&buf);
        c.write_all(&buf).await?;
    }
    let mptcp = mptcp_full_info(c.as_fd()).is_ok_and(|i| !i.fallback());
    c.shutdown().await?;
    // Wait for the server to close its side (it read everything).
    let mut rest = [0u8; 16];
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read(&mut rest)).await;
    Ok((hash.finalize().to_vec(), mptcp))
}

/// Read a connection to EOF; the SHA-256 of what came.
async fn drain_hash<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
) -> io::Result<(usize, Vec<u8>)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            s.shutdown().await?;
            return Ok((total, hash.finalize().to_vec()));
        }
        hash.update(&buf[..n]);
        total += n;
    }
}

/// The spoofed source of SYN `i`: 80 addresses, 250 ports each.
fn spoofed_source(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(10, 0, 1, 10 + (i % 80) as u8),
        10_000 + (i / 80) as u16,
    )
}

/// An MP_CAPABLE SYN as Linux sends it, from spoofed source `i`.
fn spoofed_syn(i: u32, dst: SocketAddrV4) -> Vec<u8> {
    let src = spoofed_source(i);
    let mut options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((i.wrapping_mul(7919), 0)),
        ..TcpOptions::default()
    };
    options.mptcp.push(MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: MpCapable::FLAG_HMAC_SHA256,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    }));
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq_number: SeqNum(i.wrapping_mul(2_654_435_761)),
        ack_number: None,
        flags: TcpFlags::SYN,
        window_len: 64240,
        urgent_ptr: 0,
        options,
        payload: &[],
    };
    let (s, d) = ((*src.ip()).into(), (*dst.ip()).into());
    let ip = IpRepr::new(s, d, IpProtocol::Tcp, seg.buffer_len(), 64).expect("IP header");
    let mut p = vec![0; ip.total_len()];
    ip.emit(&mut p).expect("IP emit");
    seg.emit(&mut p[ip.header_len()..], s, d).expect("TCP emit");
    p
}

/// Send the flood from the client namespace through a raw socket
/// (`IPPROTO_RAW`: we write whole IP headers, spoofed sources included),
/// paced at [`RATE_PER_SEC`]. Bounded: [`SPOOFED`] packets. Returns how
/// long it took.
fn flood(lab: &LabGuard, dst: SocketAddrV4) -> std::thread::JoinHandle<io::Result<Duration>> {
    let handle = lab.spawn_in(Side::Client, move || -> io::Result<Duration> {
        use socket2::{Domain, Protocol, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))?;
        let to = socket2::SockAddr::from(dst);
        let start = Instant::now();
        for i in 0..SPOOFED {
            let due = start + Duration::from_secs(1) * i / RATE_PER_SEC;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            sock.send_to(&spoofed_syn(i, dst), &to)?;
        }
        Ok(start.elapsed())
    });
    std::thread::spawn(move || {
        handle
            .join()
            .map_err(|_| io::Error::other("flood thread panicked"))?
            .map_err(io::Error::other)?
    })
}

/// Capture the SYN-ACKs leaving the server namespace on `srv1` for
/// [`CAPTURE_SECS`] into `pcap`. Returns once tshark is capturing.
fn capture_synacks(lab: &LabGuard, pcap: &Path) -> io::Result<std::process::Child> {
    let mut child = lab
        .command(Side::Server, "tshark")
        .args([
            "-q",
            "-i",
            "srv1",
            "-f",
            "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
            "-a",
        ])
        .arg(format!("duration:{CAPTURE_SECS}"))
        .arg("-w")
        .arg(pcap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // tshark says "Capturing on 'srv1'" once it is; give it up to 10 s.
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| io::Error::other("tshark stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(10)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("tshark did not start capturing"));
    }
    Ok(child)
}

/// SYN-ACKs in `pcap` to spoofed sources: total, and the most any one
/// source got.
fn count_synacks(pcap: &Path) -> io::Result<(u64, u64)> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(pcap)
        .args(["-T", "fields", "-e", "ip.dst", "-e", "tcp.dstport"])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "tshark -r: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut per_source: BTreeMap<String, u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split_whitespace();
        let (Some(ip), Some(port)) = (f.next(), f.next()) else {
            continue;
        };
        let spoofed = ip
            .parse::<Ipv4Addr>()
            .is_ok_and(|a| a.octets()[..3] == [10, 0, 1] && (10..90).contains(&a.octets()[3]));
        if spoofed {
            *per_source.entry(format!("{ip}:{port}")).or_default() += 1;
        }
    }
    Ok((
        per_source.values().sum(),
        per_source.values().copied().max().unwrap_or(0),
    ))
}

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// What one flood against one listener measured.
#[derive(Debug)]
struct FloodRun {
    flood_secs: f64,
    synacks: u64,
    max_per_source: u64,
    during_ok: bool,
    during_mptcp: bool,
    during_secs: f64,
    after_ok: bool,
    after_mptcp: bool,
    after_secs: f64,
}

impl FloodRun {
    fn per_syn(&self) -> f64 {
        self.synacks as f64 / f64::from(SPOOFED)
    }

    fn report(&self, who: &str) {
        println!(
            "{who}: {SPOOFED} spoofed SYNs sent in {:.2} s; SYN-ACKs to spoofed sources in the \
             first {CAPTURE_SECS} s: {} ({:.3} per SYN, at most {} to one source); during the \
             flood {} MiB in {:.2} s (byte-exact {}, MPTCP {}); after it {:.2} s (byte-exact {}, \
             MPTCP {})",
            self.flood_secs,
            self.synacks,
            self.per_syn(),
            self.max_per_source,
            LEN >> 20,
            self.during_secs,
            self.during_ok,
            self.during_mptcp,
            self.after_secs,
            self.after_ok,
            self.after_mptcp,
        );
    }
}

/// Flood `target` while a kernel client sends to it 1 s in and right
/// after; `serve` is the server side, reading each connection to EOF and
/// returning (bytes, SHA-256), in arrival order.
async fn flood_and_serve(
    lab: &LabGuard,
    target: SocketAddrV4,
    pcap: &Path,
    serve: impl AsyncFnMut() -> io::Result<(usize, Vec<u8>)>,
) -> io::Result<FloodRun> {
    let mut serve = serve;
    let mut capture = capture_synacks(lab, pcap)?;
    let flood_started = Instant::now();
    let flooder = flood(lab, target);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let (sent, got) = tokio::try_join!(kernel_send(lab, target.into(), 1), serve())?;
    let during_secs = t0.elapsed().as_secs_f64();
    let flood_secs = tokio::task::spawn_blocking(move || flooder.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("flood thread panicked"))??
        .as_secs_f64();
    let t1 = Instant::now();
    let (sent2, got2) = tokio::try_join!(kernel_send(lab, target.into(), 2), serve())?;
    let after_secs = t1.elapsed().as_secs_f64();
    // Let the capture window close (bounded by tshark's autostop).
    let left = Duration::from_secs(CAPTURE_SECS + 5).saturating_sub(flood_started.elapsed());
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + left + Duration::from_secs(10);
        loop {
            if let Some(s) = capture.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                let _ = capture.kill();
                return capture.wait();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .map_err(io::Error::other)??;
    if !status.success() {
        return Err(io::Error::other(format!("tshark capture: {status}")));
    }
    let (synacks, max_per_source) = count_synacks(pcap)?;
    Ok(FloodRun {
        flood_secs,
        synacks,
        max_per_source,
        during_ok: got.0 == LEN && got.1 == sent.0,
        during_mptcp: sent.1,
        during_secs,
        after_ok: got2.0 == LEN && got2.1 == sent2.0,
        after_mptcp: sent2.1,
        after_secs,
    })
}

fn run_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("braid-syn-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("run dir");
    dir
}

#[test]
fn syn_flood_both_stacks() {
    if !braid_testkit::ready(kernel_lab::unavailable(&["nstat", "tshark"])) {
        return;
    }
    let dir = run_dir();
    let (lab, rt) = kernel_lab::up(SCENARIO);
    let result: io::Result<()> = rt.block_on(async {
        // Braid's listener.
        let tun = kernel_lab::braid_tun(&lab, Side::Server)?;
        let braid_ip = lab.braid_addresses(Side::Server)[0];
        let stack = Stack::builder()
            .config(EndpointConfig::default())
            .address(braid_ip.into())
            .build(tun)?;
        let port = 5410;
        let listener = Listener::bind(&stack, SocketAddr::from(([0, 0, 0, 0], port)))?;
        let target = SocketAddrV4::new(braid_ip, port);
        // Warm up (one connection) so that the memory baseline includes
        // what any first connection allocates.
        let (sent, got) = tokio::try_join!(kernel_send(&lab, target.into(), 0), async {
            drain_hash(listener.accept().await?.0).await
        })?;
        assert_eq!(got.1, sent.0, "warm-up transfer");
        let rss_before = rss_bytes();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let braid = flood_and_serve(&lab, target, &dir.join("braid.pcap"), async || {
            drain_hash(listener.accept().await?.0).await
        })
        .await?;
        sampler.abort();
        let growth = peak.load(std::sync::atomic::Ordering::Relaxed) - rss_before;
        let c = stack.counters();
        braid.report("braid");
        println!(
            "braid: resident memory growth {:.1} MiB (peak {:.1} MiB); cookies sent {}, \
             accepted {}, invalid {}; half-open dropped {}; table full {}",
            growth as f64 / f64::from(1 << 20),
            peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / f64::from(1 << 20),
            c.syn_cookies_sent,
            c.syn_cookies_accepted,
            c.syn_cookies_invalid,
            c.half_open_dropped,
            c.syn_table_full,
        );

        // The kernel's listener, same flood.
        let kport = 5411;
        let ktarget = SocketAddrV4::new(lab.server_addr(1), kport);
        let klistener = kernel_lab::lab_in(&lab, Side::Server, move || {
            use socket2::{Domain, Protocol, Socket, Type};
            let s = Socket::new(
                Domain::IPV4,
                Type::STREAM,
                Some(Protocol::from(IPPROTO_MPTCP)),
            )?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from(ktarget).into())?;
            s.listen(4096)?;
            s.set_nonblocking(true)?;
            Ok(std::net::TcpListener::from(s))
        })?;
        let klistener = tokio::net::TcpListener::from_std(klistener)?;
        let before = nstat(&lab, Side::Server)?;
        let kernel = flood_and_serve(&lab, ktarget, &dir.join("kernel.pcap"), async || {
            drain_hash(klistener.accept().await?.0).await
        })
        .await?;
        let delta = kernel_lab::moved(&before, &nstat(&lab, Side::Server)?);
        kernel.report("kernel");
        println!("kernel counters: {delta:?}");

        for (who, r) in [("braid", &braid), ("kernel", &kernel)] {
            assert!(
                r.during_ok,
                "{who}: transfer during the flood not byte-exact"
            );
            assert!(r.after_ok, "{who}: transfer after the flood not byte-exact");
            assert!(
                r.during_mptcp && r.after_mptcp,
                "{who}: fell back to TCP: {r:?}"
            );
        }
        assert!(c.syn_cookies_accepted >= 1, "Braid used no cookie: {c:?}");
        assert!(braid.per_syn() <= 1.5, "{braid:?}");
        assert!(
            growth <= 16 << 20,
            "Braid's resident memory grew {growth} bytes"
        );
        drop(listener);
        drop(stack);
        Ok(())
    });
    drop(rt);
    let down = lab.down();
    let _ = std::fs::remove_dir_all(&dir);
    result.expect("SYN flood lab run failed");
    down.expect("lab down");
}
