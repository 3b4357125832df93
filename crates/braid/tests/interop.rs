//! Braid's TCP against the Linux kernel's, over real packets: a TUN device
//! in one network namespace, the kernel's TCP in another (see `netns`).
//!
//! Clean path: a veth between two namespaces (`netns`), nothing between
//! the stacks. Lossy path: a `braid-lab` scenario, the lab's userspace
//! link emulator between client and server namespaces.
//!
//! Needs root and network namespaces; without them each test prints
//! `SKIP <reason>` and passes, except under `CI=true`, where it fails.
//! Run with `--nocapture` to see the throughput lines.

#[allow(dead_code)]
mod kernel_lab;
mod netns;

use braid::proto::tcp::SubflowStats;
use braid::{Listener, Stack, Stream, TunDevice};
use braid_lab::{LabGuard, Side};
use netns::{BRAID_IP, KERNEL_IP, Lab};
use sha2::{Digest, Sha256};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes each way in the throughput runs.
const BIG: usize = 50 << 20;
/// Bytes each way in the captured run (tshark reads every packet).
const SMALL: usize = 4 << 20;
/// Bytes each way over the lossy path by default: 50 MiB, as the interop
/// acceptance asks. At 1 % loss a CUBIC sender, Braid's or the kernel's,
/// moves about 1 MB/s (near the Mathis bound for Reno at 20 ms RTT), so
/// each lossy test takes about a minute (the two run in parallel).
/// `BRAID_INTEROP_LOSSY_MIB` overrides it (the lossy timeout grows with it).
const LOSSY_DEFAULT_MIB: usize = 50;

fn lossy_len() -> usize {
    std::env::var("BRAID_INTEROP_LOSSY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LOSSY_DEFAULT_MIB)
        << 20
}
/// Bound on one whole exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on one whole exchange over the lossy path: about 10x the time a
/// run takes on an idle machine (10 s per MiB each way, at least 90 s).
fn lossy_timeout(len: usize) -> Duration {
    Duration::from_secs((10 * (len >> 20) as u64).max(90))
}

/// The lossy path: 1 % random loss each way, 10 ms each way (20 ms RTT),
/// no rate limit, a 1000-packet queue.
const LOSSY_SCENARIO: &str = r#"
name = "interop-lossy"
description = "1 % loss each way, 20 ms RTT"
seed = 8684
[[path]]
delay_ms = 10
loss_pct = 1.0
queue_packets = 1000
"#;

/// A Braid stack on a fresh TUN in the lab's Braid namespace.
fn braid_stack(lab: &Lab, pcap: Option<&Path>) -> io::Result<Stack> {
    let handle = tokio::runtime::Handle::current();
    let name = lab.tun.clone();
    let tun = Lab::in_netns(&lab.braid_ns, move || {
        let _rt = handle.enter();
        TunDevice::create(&name, 1500)
    })?;
    lab.route_tun()?;
    let mut builder = Stack::builder().address(BRAID_IP.into());
    if let Some(p) = pcap {
        builder = builder.pcap(p);
    }
    builder.build(tun)
}

/// A kernel TCP listener in the lab's kernel namespace.
fn kernel_listener(lab: &Lab, port: u16) -> io::Result<tokio::net::TcpListener> {
    let l = Lab::in_netns(&lab.kernel_ns, move || {
        let l = std::net::TcpListener::bind((KERNEL_IP, port))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })?;
    tokio::net::TcpListener::from_std(l)
}

/// A kernel TCP socket (unconnected) in the lab's kernel namespace.
fn kernel_socket(lab: &Lab) -> io::Result<tokio::net::TcpSocket> {
    Lab::in_netns(&lab.kernel_ns, tokio::net::TcpSocket::new_v4)
}

/// Deterministic pseudo-random bytes (xorshift64*), cheap enough for
/// 50 MiB.
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

/// Write `len` pattern bytes, shut down, return their SHA-256.
async fn send(w: &mut (impl AsyncWrite + Unpin), len: usize, seed: u64) -> io::Result<Vec<u8>> {
    let mut pattern = Pattern(seed | 1);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        pattern.fill(&mut buf[..n]);
        hash.update(&buf[..n]);
        w.write_all(&buf[..n]).await?;
        left -= n;
    }
    w.shutdown().await?;
    Ok(hash.finalize().to_vec())
}

/// Read to EOF; return the byte count and SHA-256.
async fn recv(r: &mut (impl AsyncRead + Unpin)) -> io::Result<(usize, Vec<u8>)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((total, hash.finalize().to_vec()));
        }
        hash.update(&buf[..n]);
        total += n;
    }
}

/// What one exchange measured.
#[derive(Debug)]
struct Exchange {
    up_secs: f64,
    down_secs: f64,
    /// The Braid side's subflow statistics at the end.
    braid: Option<SubflowStats>,
}

/// Either end of an exchange: a Braid stream or a kernel socket.
trait Peer: AsyncRead + AsyncWrite + Unpin {
    fn braid_stats(&self) -> Option<SubflowStats> {
        None
    }
}

impl Peer for Stream {
    fn braid_stats(&self) -> Option<SubflowStats> {
        self.stats().ok()?.subflows.into_iter().next()
    }
}

impl Peer for tokio::net::TcpStream {}

/// Client sends `len` bytes and shuts down; the server reads to EOF, then
/// sends `len` bytes back and shuts down; the client reads to EOF. Both
/// directions are checked by hash and timed separately.
async fn exchange(
    client: impl std::future::Future<Output = io::Result<impl Peer>>,
    server: impl std::future::Future<Output = io::Result<impl Peer>>,
    len: usize,
) -> io::Result<Exchange> {
    let (mut c, mut s) = tokio::try_join!(client, server)?;
    let start = Instant::now();
    let (up_sent, (up_len, up_got)) = tokio::try_join!(send(&mut c, len, 0x1234), recv(&mut s))?;
    let up_secs = start.elapsed().as_secs_f64();
    assert_eq!(up_len, len, "client -> server: wrong length");
    assert_eq!(up_sent, up_got, "client -> server: bytes differ");
    let start = Instant::now();
    let (down_sent, (down_len, down_got)) =
        tokio::try_join!(send(&mut s, len, 0x5678), recv(&mut c))?;
    let down_secs = start.elapsed().as_secs_f64();
    assert_eq!(down_len, len, "server -> client: wrong length");
    assert_eq!(down_sent, down_got, "server -> client: bytes differ");
    let braid = c.braid_stats().or_else(|| s.braid_stats());
    Ok(Exchange {
        up_secs,
        down_secs,
        braid,
    })
}

fn mb_per_s(len: usize, secs: f64) -> f64 {
    len as f64 / 1e6 / secs
}

/// Run `body` on a fresh lab with a two-worker runtime. The runtime (and
/// with it the driver and the TUN) goes before the lab's namespaces.
fn with_lab(body: impl AsyncFnOnce(&Lab) -> io::Result<()>) {
    if !braid_testkit::ready(netns::unavailable()) {
        return;
    }
    let lab = Lab::new().expect("lab setup");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(body(&lab));
    drop(rt);
    result.expect("interop run failed");
}

/// Braid client -> kernel server, 50 MiB each way.
#[test]
fn braid_client_kernel_server_clean() {
    with_lab(async |lab| {
        let stack = braid_stack(lab, None)?;
        let listener = kernel_listener(lab, 5201)?;
        let remote = SocketAddr::from((KERNEL_IP, 5201));
        let run = exchange(
            Stream::connect(&stack, remote),
            async { Ok(listener.accept().await?.0) },
            BIG,
        );
        let x = tokio::time::timeout(EXCHANGE_TIMEOUT, run)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))??;
        report(
            "clean",
            BIG,
            &x,
            "braid-client -> kernel-server",
            "kernel-server -> braid-client",
        );
        Ok(())
    });
}

/// Kernel client -> Braid server, 50 MiB each way.
#[test]
fn kernel_client_braid_server_clean() {
    with_lab(async |lab| {
        let stack = braid_stack(lab, None)?;
        let local = SocketAddr::from((BRAID_IP, 5202));
        let listener = Listener::bind(&stack, local)?;
        let socket = kernel_socket(lab)?;
        let run = exchange(
            socket.connect(local),
            async { Ok(listener.accept().await?.0) },
            BIG,
        );
        let x = tokio::time::timeout(EXCHANGE_TIMEOUT, run)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))??;
        report(
            "clean",
            BIG,
            &x,
            "kernel-client -> braid-server",
            "braid-server -> kernel-client",
        );
        Ok(())
    });
}

/// A closed port on the kernel host answers Braid's SYN with a RST.
#[test]
fn braid_connect_to_closed_kernel_port_is_refused() {
    with_lab(async |lab| {
        let stack = braid_stack(lab, None)?;
        let remote = SocketAddr::from((KERNEL_IP, 5299));
        let err = tokio::time::timeout(Duration::from_secs(10), Stream::connect(&stack, remote))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to SYN"))?
            .expect_err("connect to a closed port succeeded");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok(())
    });
}

/// The pcap tap of an interop run reads cleanly in tshark: no malformed
/// packet, every IPv4 and TCP checksum good.
#[test]
fn pcap_tap_of_interop_run_is_clean_in_tshark() {
    let dir = std::env::temp_dir().join(format!("braid-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("interop.pcapng");
    let mut ran = false;
    with_lab(async |lab| {
        ran = true;
        {
            let stack = braid_stack(lab, Some(&pcap))?;
            let local = SocketAddr::from((BRAID_IP, 5203));
            let listener = Listener::bind(&stack, local)?;
            let socket = kernel_socket(lab)?;
            let run = exchange(
                socket.connect(local),
                async { Ok(listener.accept().await?.0) },
                SMALL,
            );
            tokio::time::timeout(EXCHANGE_TIMEOUT, run)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))??;
            // Let the last FIN and ACKs pass through the tap.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        }
    });
    if !ran {
        return;
    }
    // The runtime is gone: the driver dropped its tap, which finished the file.
    let tshark = |filter: &str| -> usize {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args([
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
                // Payload is random bytes: decode it as data so no heuristic
                // dissector mistakes it for its protocol and calls it
                // malformed.
                "-d",
                "tcp.port==1-65535,data",
            ])
            .args(["-Y", filter])
            .output()
            .expect("tshark runs (./test.sh installs it)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let tcp = tshark("tcp");
    // A TCP checksum sent as 0xffff where 0x0000 is computed is the same
    // value in one's complement (RFC 1624); the kernel sends it now and
    // then and Wireshark 4.0 calls it bad. It is counted as good here.
    const TCP_OK: &str = "(tcp.checksum.status == 1 \
                          || (tcp.checksum == 0xffff && tcp.checksum_calculated == 0x0000))";
    let good = tshark(&format!("{TCP_OK} && ip.checksum.status == 1"));
    let bad = tshark(&format!(
        "_ws.malformed || (tcp && !{TCP_OK}) || ip.checksum.status != 1"
    ));
    println!("tshark: {tcp} TCP packets, {bad} malformed or with bad checksums");
    assert!(tcp > 2 * SMALL / 1460, "too few packets captured: {tcp}");
    assert_eq!(good, tcp, "not every packet's checksums were verified good");
    assert_eq!(bad, 0, "tshark flags packets in {}", pcap.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run `body` on a `braid-lab` lab of the lossy scenario, like `with_lab`.
fn with_lossy_lab(body: impl AsyncFnOnce(&LabGuard) -> io::Result<()>) {
    if !braid_testkit::ready(netns::unavailable()) {
        return;
    }
    let (lab, rt) = kernel_lab::up(LOSSY_SCENARIO);
    for side in [Side::Client, Side::Server] {
        // Zero the kernel's counters (nstat keeps its history per user).
        let _ = lab.command(side, "nstat").arg("-n").output();
    }
    println!("kernel congestion control: {}", kernel_cc());
    let result = rt.block_on(body(&lab));
    drop(rt);
    for side in [Side::Client, Side::Server] {
        kernel_loss_counters(&lab, side);
    }
    let stats = lab.down().expect("lab down");
    result.expect("lossy interop run failed");
    // The run really went through loss recovery, both directions.
    let path = &stats[0];
    println!(
        "lossy path: up {} delivered, {} lost; down {} delivered, {} lost",
        path.up.delivered_packets,
        path.up.dropped_loss,
        path.down.delivered_packets,
        path.down.dropped_loss
    );
    assert!(
        path.up.dropped_loss > 0 && path.down.dropped_loss > 0,
        "the emulator dropped nothing: {path:?}"
    );
}

/// The kernel's congestion control in the lossy runs: CUBIC, Braid's
/// default, unless `BRAID_INTEROP_KERNEL_CC` names another (e.g. `bbr`).
fn kernel_cc() -> String {
    std::env::var("BRAID_INTEROP_KERNEL_CC").unwrap_or_else(|_| "cubic".into())
}

/// Sets the kernel socket `fd`'s congestion control to [`kernel_cc`]
/// (`TCP_CONGESTION`; a listener passes it on to the sockets it accepts).
/// The namespace default is inherited from the host and may be BBR, which
/// ignores random loss: no reference for Braid's CUBIC on a lossy path.
fn pin_kernel_cc(fd: &impl std::os::fd::AsFd) -> io::Result<()> {
    let name = kernel_cc();
    socket2::SockRef::from(fd)
        .set_tcp_congestion(name.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("TCP_CONGESTION {name}: {e}")))
}

/// Prints the kernel's loss-recovery counters (`nstat`) of `side`'s
/// namespace: how its TCP recovered (and undid reductions) in the run.
fn kernel_loss_counters(lab: &LabGuard, side: Side) {
    const KEYS: &[&str] = &[
        "TcpRetransSegs",
        "TCPSackRecovery",
        "TCPLossProbes",
        "TCPLossUndo",
        "TCPPartialUndo",
        "TCPFullUndo",
        "TCPDSACKUndo",
        "TCPDSACKRecv",
        "TCPDSACKOldSent",
        "TCPSACKReorder",
        "TCPTSReorder",
        "TCPTimeouts",
        "TCPSpuriousRTOs",
        "TCPLostRetransmit",
    ];
    let Ok(out) = lab.command(side, "nstat").arg("-az").output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let counters: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let name = name.strip_prefix("TcpExt").unwrap_or(name);
            let value = words.next()?;
            (KEYS.contains(&name) && value != "0").then(|| format!("{name}={value}"))
        })
        .collect();
    println!("kernel {side:?} nstat: {}", counters.join(" "));
}

/// A Braid stack on a TUN in the lab's `side` namespace, owning that
/// side's path-1 Braid address.
fn lab_stack(lab: &LabGuard, side: Side) -> io::Result<Stack> {
    let tun = kernel_lab::braid_tun(lab, side)?;
    let mut config = braid::proto::endpoint::EndpointConfig::default();
    // `BRAID_INTEROP_BUFFER_KIB` sizes the Braid side's send and receive
    // buffers (the receive buffer is the window the kernel sender sees).
    if let Some(kib) = std::env::var("BRAID_INTEROP_BUFFER_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.tcp.send_buffer = kib << 10;
        config.tcp.recv_buffer = kib << 10;
    }
    Stack::builder()
        .address(lab.braid_addresses(side)[0].into())
        .config(config)
        .build(tun)
}

fn report(label: &str, len: usize, x: &Exchange, up: &str, down: &str) {
    println!(
        "THROUGHPUT {label} {up}: {:.2} MB/s ({len} bytes in {:.2} s)",
        mb_per_s(len, x.up_secs),
        x.up_secs
    );
    println!(
        "THROUGHPUT {label} {down}: {:.2} MB/s ({len} bytes in {:.2} s)",
        mb_per_s(len, x.down_secs),
        x.down_secs
    );
    if let Some(b) = &x.braid {
        println!(
            "braid subflow ({label}): srtt {:?}, cwnd {}, lost {}, retransmitted {}, RTOs {}",
            b.srtt, b.cwnd, b.lost_segments, b.retransmitted_segments, b.rto_count
        );
    }
}

/// Braid client -> kernel server over 1 % loss and 20 ms RTT.
#[test]
fn braid_client_kernel_server_lossy() {
    with_lossy_lab(async |lab| {
        let len = lossy_len();
        let stack = lab_stack(lab, Side::Client)?;
        let server_ip = lab.server_addr(1);
        let listener = kernel_lab::lab_in(lab, Side::Server, move || {
            let l = std::net::TcpListener::bind((server_ip, 5301))?;
            pin_kernel_cc(&l)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let run = exchange(
            Stream::connect(&stack, SocketAddr::from((server_ip, 5301))),
            async { Ok(listener.accept().await?.0) },
            len,
        );
        let x = tokio::time::timeout(lossy_timeout(len), run)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))??;
        report(
            "lossy",
            len,
            &x,
            "braid-client -> kernel-server",
            "kernel-server -> braid-client",
        );
        Ok(())
    });
}

/// Kernel client -> Braid server over 1 % loss and 20 ms RTT.
#[test]
fn kernel_client_braid_server_lossy() {
    with_lossy_lab(async |lab| {
        let len = lossy_len();
        let stack = lab_stack(lab, Side::Server)?;
        let local = SocketAddr::from((lab.braid_addresses(Side::Server)[0], 5302));
        let listener = Listener::bind(&stack, local)?;
        let socket = kernel_lab::lab_in(lab, Side::Client, tokio::net::TcpSocket::new_v4)?;
        pin_kernel_cc(&socket)?;
        let run = exchange(
            socket.connect(local),
            async { Ok(listener.accept().await?.0) },
            len,
        );
        let x = tokio::time::timeout(lossy_timeout(len), run)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange stalled"))??;
        report(
            "lossy",
            len,
            &x,
            "kernel-client -> braid-server",
            "braid-server -> kernel-client",
        );
        Ok(())
    });
}
