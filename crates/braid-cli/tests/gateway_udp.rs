//! `braid proxy --transport udp` -> `braid gateway --transport udp` on
//! loopback: no TUN, no root. When the test runs as root, both processes
//! run as `nobody` (uid 65534, via `setpriv`), as a user without
//! privileges would run them. The proxy sends from 127.0.0.1 and 127.0.0.2
//! (a subflow each), the gateway listens on 127.0.0.3, and a TCP server in
//! the test on 127.0.0.1 is the destination. A SOCKS5 client in the test
//! downloads 16 MiB through the chain and checks every byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_braid");
const LEN: usize = 16 << 20;

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The braid binary, as nobody when we are root (copied where nobody may
/// run it; removed on drop).
struct Runner {
    dir: Option<PathBuf>,
    path: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        if !nix::unistd::geteuid().is_root() {
            return Runner {
                dir: None,
                path: BIN.into(),
            };
        }
        let dir = std::env::temp_dir().join(format!("braid-gw-udp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join("braid");
        std::fs::copy(BIN, &path).expect("copy braid");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Runner {
            dir: Some(dir),
            path,
        }
    }

    fn command(&self) -> Command {
        if self.dir.is_none() {
            return Command::new(&self.path);
        }
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&self.path);
        cmd
    }

    /// Starts `braid ARGS` and waits (bounded) for the output line that
    /// says it is ready; later lines (stdout and stderr) come on the
    /// channel.
    fn start(&self, args: &[&str], ready: &str) -> (Proc, Receiver<String>) {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for out in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Keeps draining the pipe so the child never blocks on it.
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    eprintln!("  {line}");
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(ready) => return (Proc(child), rx),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        drop(Proc(child));
        panic!("braid {args:?} never said {ready:?}");
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn free_udp_port(ip: Ipv4Addr) -> u16 {
    UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deterministic bytes (xorshift64*).
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// SOCKS5 (RFC 1928) CONNECT through `proxy` to `dest`, no authentication.
fn socks_connect(proxy: SocketAddr, dest: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(proxy).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 0], "method selection");
    let SocketAddr::V4(d) = dest else {
        unreachable!("IPv4 destination")
    };
    let mut req = vec![5, 1, 0, 1];
    req.extend_from_slice(&d.ip().octets());
    req.extend_from_slice(&d.port().to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [5, 0], "CONNECT reply: {reply:?}");
    s
}

#[test]
fn socks5_download_through_proxy_and_gateway_over_udp() {
    let data = pattern(LEN);
    let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let dest = server.local_addr().unwrap();
    let served = data.clone();
    let origin = std::thread::spawn(move || {
        let (mut s, _) = server.accept().expect("accept");
        s.write_all(&served).expect("serve");
    });

    let gw_ip = Ipv4Addr::new(127, 0, 0, 3);
    let gw = SocketAddr::from((gw_ip, free_udp_port(gw_ip)));
    let socks = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port(Ipv4Addr::LOCALHOST)));
    let run = Runner::new();
    let (gw_s, socks_s) = (gw.to_string(), socks.to_string());
    let (_gateway, _) = run.start(
        &[
            "gateway",
            "--stack",
            "braid",
            "--transport",
            "udp",
            "--listen",
            &gw_s,
            "--allow",
            "127.0.0.0/8",
        ],
        "accepting MPTCP",
    );
    let (_proxy, proxy_out) = run.start(
        &[
            "proxy",
            "--stack",
            "braid",
            "--transport",
            "udp",
            "--via",
            "127.0.0.1",
            "--via",
            "127.0.0.2",
            "--gateway",
            &gw_s,
            "--listen",
            &socks_s,
            "--stats",
            "1",
            "--json",
        ],
        "SOCKS5 on",
    );

    let mut s = socks_connect(socks, dest);
    let mut got = Vec::with_capacity(LEN);
    s.read_to_end(&mut got).expect("download");
    origin.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "bytes differ");

    // The proxy's per-path counters (a JSON line a second): both of its
    // addresses received part of the download.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = proxy_out.recv_timeout(left) else {
            break;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let rx: Vec<u64> = v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["rx"].as_u64().unwrap_or(0))
            .collect();
        // (The per-path figures are sampled: wait until they cover it.)
        if rx.len() == 2 && rx.iter().sum::<u64>() >= LEN as u64 {
            assert!(rx.iter().all(|&b| b > 0), "a path carried nothing: {v}");
            return;
        }
        last = line;
    }
    panic!("no per-path counters covering the download; last: {last}");
}

#[test]
fn transport_udp_with_the_kernel_stack_is_one_line() {
    let out = Command::new(BIN)
        .args(["proxy", "--stack", "kernel", "--transport", "udp"])
        .args(["--gateway", "127.0.0.3:4000", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .expect("run braid");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--transport udp needs --stack braid"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
