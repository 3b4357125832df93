//! `braid gateway` without a lab: configuration errors, and 1,000
//! concurrent connections through a gateway on the kernel's MPTCP sockets
//! over loopback (each byte-exact; memory per idle connection and accept
//! rate reported). No root needed; only loopback traffic.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn bin() -> String {
    std::env::var("BRAID_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_braid").to_string())
}

/// Runs `braid gateway ARGS` expecting a quick failure; returns stderr.
fn gateway_fails(args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("gateway")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run braid");
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}

#[test]
fn config_errors_are_one_line_and_fail() {
    let err = gateway_fails(&["--config", "/nonexistent/braid-gateway.toml"]);
    assert!(err.contains("/nonexistent/braid-gateway.toml"), "{err}");

    let dir = std::env::temp_dir().join(format!("braid-gw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "listen = \"127.0.0.1:4000\"\nmax_conns = 5\n").unwrap();
    let err = gateway_fails(&["--config", unknown.to_str().unwrap()]);
    assert!(err.contains("max_conns") && err.contains("line 2"), "{err}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "metrics = \"127.0.0.1\"\n").unwrap();
    let err = gateway_fails(&["--config", bad.to_str().unwrap()]);
    assert!(
        err.contains("metrics") && err.contains("'127.0.0.1'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let err = gateway_fails(&["--listen", "localhost:4000"]);
    assert!(
        err.contains("listen") && err.contains("localhost:4000"),
        "{err}"
    );
    let err = gateway_fails(&["--allow", "10.0.0.0/99"]);
    assert!(err.contains("10.0.0.0/99"), "{err}");
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Convert message with a Connect TLV for `dest` (RFC 8803 section 4).
fn convert_connect(dest: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = dest else {
        panic!("IPv4 only")
    };
    let mut m = vec![1, 6, 0, 0, 10, 5];
    m.extend_from_slice(&v4.port().to_be_bytes());
    m.extend_from_slice(&v4.ip().to_ipv6_mapped().octets());
    m
}

const CONNS: usize = 1000;
const PER_CONN: usize = 16 * 1024;

#[test]
fn thousand_concurrent_connections_kernel_gateway() {
    // Two descriptors per connection in the gateway, two here.
    let want_fds = 4 * CONNS as u64 + 256;
    braid_testkit::raise_nofile(want_fds);
    let mptcp = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::MPTCP),
    )
    .is_ok();
    if !mptcp {
        return braid_testkit::skip("no MPTCP sockets");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The destination: an echo server, its accept queue deep enough
        // for the burst of 1,000 connects (an overflow would make the
        // kernel answer some with SYN cookies and resets: a test artefact).
        let echo = tokio::net::TcpSocket::new_v4().unwrap();
        echo.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let echo = echo.listen(4096).unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        });
        // Free ports for the gateway and its metrics.
        let free = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (gw_addr, metrics_addr) = (free(), free());
        let mut child = Command::new(bin())
            .args([
                "gateway",
                "--stack",
                "kernel",
                "--listen",
                &gw_addr.to_string(),
            ])
            .args(["--allow", "127.0.0.1/32", "--max-per-client", "5000"])
            .args(["--metrics", &metrics_addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let stderr = child.stderr.take().unwrap();
        let gw = Kill(child);
        // Wait for "accepting" (bounded by the read: the gateway either
        // prints it or exits).
        let mut stderr = BufReader::new(stderr);
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.contains("accepting"), "{line}");
        // Keep reading the gateway's stderr (a closed pipe would make its
        // next message fail), echoing it into the test's output.
        std::thread::spawn(move || {
            for l in stderr.lines().map_while(Result::ok) {
                eprintln!("gateway: {l}");
            }
        });
        let pid = gw.0.id();
        let rss0 = rss_kib(pid);

        // Open every connection and its relay (reply received): idle.
        let t0 = Instant::now();
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let sock = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::MPTCP),
            )
            .unwrap();
            sock.set_nonblocking(true).unwrap();
            let s = tokio::net::TcpSocket::from_std_stream(sock.into())
                .connect(gw_addr)
                .await
                .expect("connect to the gateway");
            conns.push(s);
        }
        let connected = t0.elapsed();
        let opened = conns.into_iter().map(|mut s| async move {
            s.write_all(&convert_connect(echo_addr)).await?;
            let mut reply = [0u8; 4];
            s.read_exact(&mut reply).await?;
            assert_eq!(reply, [1, 1, 0, 0], "the converter's reply");
            Ok::<_, std::io::Error>(s)
        });
        let conns: Vec<_> =
            tokio::time::timeout(Duration::from_secs(60), futures_join_all(opened.collect()))
                .await
                .expect("1,000 opens within 60 s")
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("open");
        let open_time = t0.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss1 = rss_kib(pid);
        let per_conn = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / CONNS as f64;
        println!(
            "kernel-socket gateway: {CONNS} connections: TCP connects in {connected:.2?}, \
             relays up in {open_time:.2?} ({:.0} conn/s); RSS {rss0} -> {rss1} KiB, \
             {:.1} KiB per idle relayed connection",
            CONNS as f64 / open_time.as_secs_f64(),
            per_conn / 1024.0
        );
        assert!(
            per_conn <= 64.0 * 1024.0,
            "{per_conn} B per idle connection"
        );

        // Every connection: its own bytes, echoed back byte-exact.
        let echoed = conns.into_iter().enumerate().map(|(i, mut s)| async move {
            let data: Vec<u8> = (0..PER_CONN).map(|j| (i * 31 + j * 7) as u8).collect();
            let (mut r, mut w) = s.split();
            let send = async {
                w.write_all(&data).await?;
                w.shutdown().await
            };
            let mut back = Vec::new();
            let (sent, got) = tokio::join!(send, r.read_to_end(&mut back));
            sent.map_err(|e| format!("connection {i}: send: {e}"))?;
            got.map_err(|e| format!("connection {i}: receive: {e}"))?;
            if back != data {
                let at = back.iter().zip(&data).position(|(a, b)| a != b);
                return Err(format!(
                    "connection {i}: {} of {} bytes echoed, first difference at {at:?}",
                    back.len(),
                    data.len()
                ));
            }
            Ok(())
        });
        let results =
            tokio::time::timeout(Duration::from_secs(60), futures_join_all(echoed.collect()))
                .await
                .expect("1,000 echoes within 60 s");
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        let metrics = scrape(metrics_addr).await;
        assert!(
            failed.is_empty(),
            "{} of {CONNS} connections not echoed byte-exact: {:?}\ngateway metrics:\n{metrics}",
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        let failures: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("braid_gateway_connections_failed_total"))
            .collect();
        assert!(
            failures.is_empty(),
            "gateway counted failures: {failures:?}"
        );
        drop(gw);
    });
}

/// The gateway's Prometheus text, fetched over plain HTTP/1.0.
async fn scrape(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

/// Awaits every future concurrently (tasks on the runtime), in order.
async fn futures_join_all<T: Send + 'static>(
    futs: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
