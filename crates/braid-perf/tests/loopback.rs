//! `braid perf` client and server in one process over 127.0.0.1, for plain
//! TCP and the kernel's MPTCP.

use std::net::SocketAddr;
use std::time::Duration;

use braid_perf::control::{self, ACK_LEN, HEADER_LEN};
use braid_perf::stack::BraidOptions;
use braid_perf::{
    ClientConfig, Direction, Display, Limit, Mode, PerfError, PerfResult, Server, ServerSession,
    Stack, run_client,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOOPBACK: &str = "127.0.0.1:0";

/// True if kernel MPTCP can be tested here. Skips with a reason otherwise;
/// under CI=true a missing MPTCP fails instead.
fn kernel_mptcp() -> bool {
    let enabled = std::fs::read_to_string("/proc/sys/net/mptcp/enabled")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    if !enabled {
        let reason = "kernel MPTCP is not enabled (/proc/sys/net/mptcp/enabled != 1)";
        braid_testkit::skip(reason);
    }
    enabled
}

fn config(
    stack: Stack,
    remote: SocketAddr,
    mode: Mode,
    dir: Direction,
    limit: Limit,
) -> ClientConfig {
    ClientConfig {
        stack,
        remote,
        locals: Vec::new(),
        braid: BraidOptions::default(),
        mode,
        direction: dir,
        limit,
        rr_size: 100,
        seed: 42,
        interval: Duration::from_millis(50),
        display: Display::Quiet,
        timeout: Duration::from_secs(10),
    }
}

async fn pair(
    stack: Stack,
    mode: Mode,
    dir: Direction,
    limit: Limit,
) -> (PerfResult, ServerSession) {
    let server = Server::bind(stack, LOOPBACK.parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let served = tokio::spawn(async move { server.serve_one().await });
    let result = run_client(&config(stack, addr, mode, dir, limit))
        .await
        .unwrap();
    let session = served.await.unwrap().unwrap();
    (result, session)
}

const BULK: u64 = 3 * 1024 * 1024 + 17;

async fn bulk_is_exact(stack: Stack, dir: Direction) {
    let (r, s) = pair(stack, Mode::Bulk, dir, Limit::Bytes(BULK)).await;
    assert!(r.verified, "{r:?}");
    assert!(s.verified, "{s:?}");
    assert_eq!(r.bytes, BULK);
    assert_eq!(s.bytes, BULK);
    assert!(r.goodput_bps > 0.0);
    assert_eq!(r.completion_s, Some(r.duration_s));
    assert!(r.max_stall_ms >= 0.0 && r.max_stall_ms <= r.duration_s * 1e3);
    assert!(r.cpu_s > 0.0);
    // Every payload byte crossed the one subflow, plus a few control bytes
    // (TCP) or data the MPTCP level sent again on the same subflow (kernel).
    assert_eq!(r.subflows.len(), 1, "{:?}", r.subflows);
    let sf = &r.subflows[0];
    let slack = match stack {
        Stack::Kernel => BULK / 10,
        _ => 4096,
    };
    assert!(sf.bytes >= BULK && sf.bytes < BULK + slack, "{sf:?}");
    assert_eq!(sf.local, r.local);
    assert_eq!(sf.remote, Some(r.remote));
    if stack == Stack::Kernel {
        assert_eq!(r.mptcp_fallback, Some(false), "loopback MPTCP fell back");
    }
}

#[tokio::test]
async fn tcp_upload_is_verified() {
    bulk_is_exact(Stack::Tcp, Direction::Upload).await;
}

#[tokio::test]
async fn tcp_download_is_verified() {
    bulk_is_exact(Stack::Tcp, Direction::Download).await;
}

#[tokio::test]
async fn kernel_upload_is_verified() {
    if kernel_mptcp() {
        bulk_is_exact(Stack::Kernel, Direction::Upload).await;
    }
}

#[tokio::test]
async fn kernel_download_is_verified() {
    if kernel_mptcp() {
        bulk_is_exact(Stack::Kernel, Direction::Download).await;
    }
}

#[tokio::test]
async fn timed_upload_stops_on_time_and_samples_intervals() {
    let limit = Limit::Time(Duration::from_millis(300));
    let (r, s) = pair(Stack::Tcp, Mode::Bulk, Direction::Upload, limit).await;
    assert!(r.verified && s.verified);
    assert!(r.bytes > 0 && r.bytes == s.bytes);
    assert!(
        r.duration_s >= 0.25 && r.duration_s < 3.0,
        "{}",
        r.duration_s
    );
    assert_eq!(r.completion_s, None);
    assert!(r.intervals.len() >= 4, "{:?}", r.intervals.len());
    let sampled: u64 = r.intervals.iter().map(|i| i.bytes).sum();
    assert_eq!(sampled, r.bytes, "interval bytes add up to the total");
}

async fn rr_gives_percentiles(stack: Stack) {
    let (r, s) = pair(stack, Mode::Rr, Direction::Upload, Limit::Bytes(300 * 100)).await;
    assert!(r.verified, "{r:?}");
    assert_eq!(r.transactions, Some(300));
    assert_eq!(s.bytes, 300 * 100);
    let l = r.latency_us.expect("rr reports latency");
    assert_eq!(l.count, 300);
    assert!(
        l.p50 >= 1 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
}

#[tokio::test]
async fn tcp_rr_gives_percentiles() {
    rr_gives_percentiles(Stack::Tcp).await;
}

#[tokio::test]
async fn kernel_rr_gives_percentiles() {
    if kernel_mptcp() {
        rr_gives_percentiles(Stack::Kernel).await;
    }
}

#[tokio::test]
async fn json_has_the_documented_fields() {
    let (r, _) = pair(
        Stack::Tcp,
        Mode::Bulk,
        Direction::Upload,
        Limit::Bytes(1000),
    )
    .await;
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "stack",
        "mode",
        "direction",
        "bytes",
        "goodput_bps",
        "completion_s",
        "max_stall_ms",
        "subflows",
        "cpu_s",
        "verified",
        "latency_us",
        "intervals",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["stack"], "tcp");
    assert_eq!(v["mode"], "bulk");
    assert_eq!(v["direction"], "upload");
    let sf = &v["subflows"][0];
    for key in ["local", "remote", "bytes"] {
        assert!(sf.get(key).is_some(), "missing subflows[0].{key}");
    }
}

/// A server that answers the header correctly but sends one wrong byte.
#[tokio::test]
async fn corrupted_download_is_not_verified() {
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let liar = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut h = [0u8; HEADER_LEN];
        s.read_exact(&mut h).await.unwrap();
        s.write_all(&control::encode_ack(control::STATUS_OK))
            .await
            .unwrap();
        let mut data = vec![0u8; 5000];
        braid_perf::payload::Payload::new(42, braid_perf::payload::StreamId::Forward)
            .fill(&mut data);
        data[1234] ^= 1;
        s.write_all(&data).await.unwrap();
        s.shutdown().await.unwrap();
        control::read_report(&mut s).await.unwrap()
    });
    let cfg = config(
        Stack::Tcp,
        addr,
        Mode::Bulk,
        Direction::Download,
        Limit::Bytes(5000),
    );
    let r = run_client(&cfg).await.unwrap();
    assert!(!r.verified);
    assert_eq!(r.first_mismatch, Some(1234));
    let report = liar.await.unwrap();
    assert!(!report.verified);
}

#[tokio::test]
async fn server_refuses_a_bad_version() {
    let server = Server::bind(Stack::Tcp, LOOPBACK.parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let served = tokio::spawn(async move { server.serve_one().await });
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&control::MAGIC);
    h[4] = 99;
    s.write_all(&h).await.unwrap();
    let mut ack = [0u8; ACK_LEN];
    s.read_exact(&mut ack).await.unwrap();
    assert!(control::check_ack(&ack).unwrap_err().contains("version"));
    let err = served.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
}

#[tokio::test]
async fn braid_stack_needs_an_address() {
    let cfg = config(
        Stack::Braid,
        "127.0.0.1:9".parse().unwrap(),
        Mode::Bulk,
        Direction::Upload,
        Limit::Bytes(1),
    );
    let err = run_client(&cfg).await.unwrap_err();
    assert!(matches!(err, PerfError::BraidNoAddress(_)), "{err}");
    assert!(err.to_string().contains("--local"), "{err}");
    let err = Server::bind(Stack::Braid, "0.0.0.0:5201".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--address"), "{err}");
}

#[tokio::test]
async fn refused_connection_reads_well() {
    let port = {
        let l = std::net::TcpListener::bind(LOOPBACK).unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg = config(
        Stack::Tcp,
        addr,
        Mode::Bulk,
        Direction::Upload,
        Limit::Bytes(1),
    );
    let err = run_client(&cfg).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("connect to {addr}: connection refused")
    );
}

/// `--cc NAME` on a kernel stack: both ends set TCP_CONGESTION and report
/// what their socket reads back. Asks for cubic (what the bench asks for,
/// whatever the host's default, here maybe bbr) and reno (so the check is
/// not just the default passing through).
async fn cc_is_set_and_read_back(stack: Stack) {
    for name in ["cubic", "reno"] {
        let braid = BraidOptions {
            cc: Some(name.to_string()),
            ..BraidOptions::default()
        };
        let server = Server::bind_with(stack, LOOPBACK.parse().unwrap(), &braid)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let served = tokio::spawn(async move { server.serve_one().await });
        let mut cfg = config(
            stack,
            addr,
            Mode::Bulk,
            Direction::Upload,
            Limit::Bytes(256 * 1024),
        );
        cfg.braid = braid;
        let r = run_client(&cfg).await.unwrap();
        let s = served.await.unwrap().unwrap();
        assert!(r.verified && s.verified);
        assert_eq!(r.used.cc.as_deref(), Some(name), "client of {stack}");
        assert_eq!(s.used.cc.as_deref(), Some(name), "server of {stack}");
    }
}

#[tokio::test]
async fn tcp_socket_reports_the_cc_asked_for() {
    cc_is_set_and_read_back(Stack::Tcp).await;
}

#[tokio::test]
async fn kernel_mptcp_socket_reports_the_cc_asked_for() {
    if kernel_mptcp() {
        cc_is_set_and_read_back(Stack::Kernel).await;
    }
}

#[tokio::test]
async fn unknown_cc_is_one_line_error() {
    let err = Stack::Tcp
        .connect(
            "127.0.0.1:9".parse().unwrap(),
            &[],
            &BraidOptions {
                cc: Some("no-such-cc".into()),
                ..BraidOptions::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-cc") && !err.contains('\n'), "{err}");
    let braid = braid_perf::stack::braid_cc("bbr").unwrap_err().to_string();
    assert!(
        braid.contains("choices: cubic, newreno, lia, olia, balia") && braid.contains("bbr"),
        "{braid}"
    );
}
