//! `braid gateway` and `braid proxy` as users run them, in the lab:
//!
//! ```text
//! client ns: curl --socks5-hostname 127.0.0.1:1080 -> braid proxy (Braid, one
//!            address per path) ==MPTCP over paths 1 and 2==>
//! server ns: braid gateway (Braid or kernel MPTCP) --TCP-->
//! inet ns:   python3 -m http.server on 10.9.0.2, reachable only from the gateway
//! ```
//! The downloaded file must be byte-exact (SHA-256), both paths must carry
//! data (the gateway's metrics), bad input must get the RFC's codes and be
//! counted, and SIGTERM must end the gateway cleanly.
//!
//! Needs root, /dev/net/tun, `ip netns`, python3 and curl (and mptcpize for
//! the kernel client); without them each test prints `SKIP <reason>` and
//! passes, except under `CI=true`, where it fails. `BRAID_BIN` picks the
//! binary (test.sh passes the release build); `BRAID_GATEWAY_MIB` the file
//! size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use braid_lab::{Lab, LabGuard, Scenario, Side};

/// Two paths of 100 Mbit/s, 5 and 10 ms one way.
const TWO_PATHS: &str = include_str!("../../../scenarios/gateway.toml");
const SERVER_IP: &str = "10.9.0.2";
const HTTP_PORT: u16 = 8000;
const GW_PORT: u16 = 4000;
const METRICS: &str = "127.0.0.1:9100";
const SOCKS: &str = "127.0.0.1:1080";
const TRANSPARENT: &str = "127.0.0.1:1081";

fn bin() -> String {
    std::env::var("BRAID_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_braid").to_string())
}

/// File size: `BRAID_GATEWAY_MIB`, else 100 MiB with a release binary
/// (`BRAID_BIN`), 32 MiB otherwise.
fn file_mib() -> u64 {
    std::env::var("BRAID_GATEWAY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var("BRAID_BIN").is_ok() {
            100
        } else {
            32
        })
}

fn unavailable(tools: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    for t in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{t} not installed"));
        }
    }
    None
}

/// Whether the test must stop: prints SKIP outside CI, fails under
/// `CI=true` (`braid_testkit`). `_test` names it in the caller.
fn skip(_test: &str, tools: &[&str]) -> bool {
    !braid_testkit::ready(unavailable(tools))
}

fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The "internet" namespace: joined to the server (gateway) namespace by
/// one veth pair, `10.9.0.1` on the gateway's side and `10.9.0.2` on its
/// own, no other route (the client cannot reach it). Deleted on drop.
struct Internet {
    ns: String,
    dir: PathBuf,
    http: Option<Child>,
}

impl Internet {
    fn up(lab: &LabGuard) -> Internet {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "bgw-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ns = format!("{tag}-inet");
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let net = Internet {
            ns: ns.clone(),
            dir,
            http: None,
        };
        run_ok(cmd("ip", &["netns", "add", &ns]));
        let srv = lab.namespace(Side::Server);
        let steps: [&[&str]; 6] = [
            &[
                "-n", &srv, "link", "add", "gwinet", "type", "veth", "peer", "name", "inet0",
                "netns", &ns,
            ],
            &["-n", &srv, "addr", "add", "10.9.0.1/24", "dev", "gwinet"],
            &["-n", &srv, "link", "set", "gwinet", "up"],
            &["-n", &ns, "addr", "add", "10.9.0.2/24", "dev", "inet0"],
            &["-n", &ns, "link", "set", "inet0", "up"],
            &["-n", &ns, "link", "set", "lo", "up"],
        ];
        for s in steps {
            run_ok(cmd("ip", s));
        }
        net
    }

    /// Writes `name` of `len` pseudo-random bytes into the served directory
    /// and returns its SHA-256 (hex).
    fn file(&self, name: &str, len: u64) -> String {
        let path = self.dir.join(name);
        // A xorshift stream: incompressible enough, no RNG crate needed.
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create file"));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len;
        let mut left = len;
        let mut chunk = vec![0u8; 1 << 16];
        while left > 0 {
            for b in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).expect("write file");
            left -= n as u64;
        }
        f.flush().expect("flush file");
        drop(f);
        sha256(&path)
    }

    /// Starts `python3 -m http.server` on 10.9.0.2 and waits (bounded)
    /// until the gateway's namespace reaches it.
    fn serve(&mut self, lab: &LabGuard) {
        let child = cmd(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns,
                "python3",
                "-m",
                "http.server",
                "--bind",
                SERVER_IP,
                "--directory",
            ],
        )
        .arg(&self.dir)
        .arg(HTTP_PORT.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn http.server");
        self.http = Some(child);
        for _ in 0..100 {
            let ok = lab
                .command(Side::Server, "curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    &format!("http://{SERVER_IP}:{HTTP_PORT}/"),
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("http.server in {} never answered", self.ns);
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        if let Some(mut c) = self.http.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn sha256(path: &Path) -> String {
    let out = run_ok(cmd("sha256sum", &[path.to_str().expect("utf-8 path")]));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string()
}

/// A persistent TUN device `tun` on `side`, up and routed for that side's
/// Braid addresses.
fn tun(lab: &LabGuard, side: Side, tun: &str) {
    let mut add = lab.command(side, "ip");
    add.args(["tuntap", "add", "dev", tun, "mode", "tun"]);
    run_ok(add);
    let mut up = lab.command(side, "ip");
    up.args(["link", "set", tun, "up"]);
    run_ok(up);
    lab.route_braid(side, tun).expect("route braid");
}

/// A child process killed (and reaped) on drop.
struct Proc(Option<Child>, &'static str);

impl Proc {
    fn spawn(mut c: Command, name: &'static str) -> Proc {
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc(Some(child), name)
    }

    /// Sends SIGTERM.
    fn sigterm(&self) {
        let child = self.0.as_ref().expect("child");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    fn terminate(mut self, within: Duration) -> Output {
        self.sigterm();
        let mut child = self.0.take().expect("child");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                return child.wait_with_output().expect("output");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!(
            "{} did not exit within {within:?} of SIGTERM: {}",
            self.1,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (bounded) until `side` has something listening on TCP `addr`.
fn wait_listening(lab: &LabGuard, side: Side, addr: &str) {
    let port = addr.rsplit(':').next().expect("port");
    for _ in 0..250 {
        let out = lab
            .command(side, "ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .expect("ss");
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addr} in {side:?}");
}

/// Waits (bounded) until a process has attached to `tun` on `side`.
fn wait_for_tun_reader(lab: &LabGuard, side: Side, tun: &str) {
    for _ in 0..250 {
        let out = lab
            .command(side, "ip")
            .args(["link", "show", tun])
            .output()
            .expect("ip link show");
        if out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("NO-CARRIER") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no process attached to {tun}");
}

/// The gateway's metrics, scraped from inside the server namespace.
fn metrics(lab: &LabGuard) -> String {
    let out = run_ok({
        let mut c = lab.command(Side::Server, "curl");
        c.args([
            "-s",
            "--max-time",
            "5",
            &format!("http://{METRICS}/metrics"),
        ]);
        c
    });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the metric line starting with `name` (labels included).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `curl` in the client namespace, the body written to `out`.
fn curl(lab: &LabGuard, proxy_args: &[&str], url: &str, out: &Path, mptcpize: bool) -> Command {
    let mut c = if mptcpize {
        let mut c = lab.command(Side::Client, "mptcpize");
        c.args(["run", "curl"]);
        c
    } else {
        lab.command(Side::Client, "curl")
    };
    c.args(["-sS", "--max-time", "120", "-o"])
        .arg(out)
        .args(proxy_args)
        .arg(url);
    c
}

/// Opens a plain TCP connection from the client namespace to the gateway,
/// writes `input` and closes its sending side, and returns everything the
/// gateway sent before closing (bounded by a 20 s read timeout).
fn exchange(lab: &LabGuard, gateway: SocketAddr, input: Vec<u8>) -> Vec<u8> {
    lab.spawn_in(Side::Client, move || {
        let mut s = TcpStream::connect_timeout(&gateway, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&input).expect("write");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    })
    .join()
    .expect("thread")
    .expect("netns")
}

/// A Convert message (RFC 8803 section 4) with one Connect TLV for
/// `ip:port`, written out by hand from the RFC's figures.
fn convert_connect(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut m = vec![1, 6, 0, 0, 10, 5];
    m.extend_from_slice(&port.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    m.extend_from_slice(&ip);
    m
}

/// The Error TLV's code in a converter's reply (fixed header, then the
/// Error TLV: type 30, length, code).
fn error_code(reply: &[u8]) -> Option<u8> {
    (reply.len() >= 8 && reply[0] == 1 && reply[4] == 30).then(|| reply[6])
}

/// Braid proxy -> Braid gateway over two paths; a kernel MPTCP client
/// (mptcpize) -> the same gateway; bad input of every kind while a
/// download runs; SIGTERM.
#[test]
fn braid_proxy_braid_gateway_two_paths() {
    if skip(
        "braid_proxy_braid_gateway_two_paths",
        &["python3", "curl", "ss", "sha256sum", "mptcpize"],
    ) {
        return;
    }
    let scenario = Scenario::parse(TWO_PATHS, Path::new(".")).expect("scenario");
    let lab = Lab::up(&scenario).expect("lab up");
    let mut net = Internet::up(&lab);
    let mib = file_mib();
    let want = net.file("file", mib << 20);
    net.file("small", 100_000);
    net.serve(&lab);
    tun(&lab, Side::Server, "braidg");
    tun(&lab, Side::Client, "braidp");
    let gw_ips = lab.braid_addresses(Side::Server);
    let cl_ips = lab.braid_addresses(Side::Client);
    let gw = format!("{}:{GW_PORT}", gw_ips[0]);

    let gateway = Proc::spawn(
        {
            let mut c = lab.command(Side::Server, &bin());
            c.args([
                "gateway",
                "--stack",
                "braid",
                "--tun",
                "braidg",
                "--listen",
                &gw,
                "--address",
            ])
            .arg(gw_ips[1].to_string())
            .args(["--allow", "10.9.0.0/24", "--metrics", METRICS]);
            c
        },
        "gateway",
    );
    wait_for_tun_reader(&lab, Side::Server, "braidg");
    wait_listening(&lab, Side::Server, METRICS);
    let proxy = Proc::spawn(
        {
            let mut c = lab.command(Side::Client, &bin());
            c.args([
                "proxy",
                "--stack",
                "braid",
                "--tun",
                "braidp",
                "--gateway",
                &gw,
            ]);
            for ip in &cl_ips {
                c.args(["--via", &ip.to_string()]);
            }
            c.args(["--listen", SOCKS, "--stats", "1", "--json"]);
            c
        },
        "proxy",
    );
    wait_listening(&lab, Side::Client, SOCKS);

    // The download, in the background while bad input arrives.
    let got = net.dir.join("got");
    let url = format!("http://{SERVER_IP}:{HTTP_PORT}/file");
    let start = Instant::now();
    let download = curl(&lab, &["--socks5-hostname", SOCKS], &url, &got, false)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn curl");

    // Bad input, each over its own connection (plain TCP to the Braid
    // gateway's address).
    let gw_addr: SocketAddr = gw.parse().unwrap();
    // A zero-length TLV: Malformed Message (1).
    let r = exchange(&lab, gw_addr, vec![1, 2, 0, 0, 10, 0, 0, 0]);
    assert_eq!(error_code(&r), Some(1), "{r:?}");
    // An unknown TLV type: Unsupported Message (2), the type as value.
    let r = exchange(&lab, gw_addr, vec![1, 2, 0, 0, 99, 1, 0, 0]);
    assert_eq!((error_code(&r), r.get(7)), (Some(2), Some(&99)), "{r:?}");
    // A TLV longer than the message: Malformed Message.
    let r = exchange(&lab, gw_addr, vec![1, 2, 0, 0, 22, 200, 0, 0]);
    assert_eq!(error_code(&r), Some(1), "{r:?}");
    // An oversized header: Total Length 255 words, but the client sends
    // less and closes: Malformed Message. A version 2 header: Unsupported
    // Version (0), value 1.
    let r = exchange(&lab, gw_addr, vec![1, 255, 0, 0, 10, 5]);
    assert_eq!(error_code(&r), Some(1), "{r:?}");
    let r = exchange(&lab, gw_addr, vec![2, 1, 0, 0]);
    assert_eq!((error_code(&r), r.get(7)), (Some(0), Some(&1)), "{r:?}");
    // A denied destination (the gateway's own network): Not Authorized.
    let r = exchange(&lab, gw_addr, convert_connect([10, 1, 1, 2], 22));
    assert_eq!(error_code(&r), Some(32), "{r:?}");
    // A closed port: Connection Reset (96). An absent host: Destination
    // Unreachable (97).
    let r = exchange(&lab, gw_addr, convert_connect([10, 9, 0, 2], 9));
    assert_eq!(error_code(&r), Some(96), "{r:?}");
    let r = exchange(&lab, gw_addr, convert_connect([10, 9, 0, 99], 80));
    assert_eq!(error_code(&r), Some(97), "{r:?}");
    // SOCKS5 garbage: no acceptable method (X'FF'); BIND: command not
    // supported (7); a denied destination: not allowed by ruleset (2).
    let r = exchange(&lab, gw_addr, vec![5, 1, 0x80]);
    assert_eq!(r, [5, 0xff]);
    let r = exchange(&lab, gw_addr, vec![5, 1, 0, 5, 2, 0, 1, 10, 9, 0, 2, 0, 80]);
    assert_eq!(r.get(..4), Some(&[5, 0, 5, 7][..]), "{r:?}");
    let r = exchange(
        &lab,
        gw_addr,
        vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80],
    );
    assert_eq!(r.get(..4), Some(&[5, 0, 5, 2][..]), "{r:?}");
    // Through the proxy: the gateway's refusal becomes SOCKS5 reply 2,
    // which curl reports as a proxy handshake failure (exit 97).
    let denied = net.dir.join("denied");
    let o = curl(
        &lab,
        &["--socks5-hostname", SOCKS],
        "http://127.0.0.1:22/",
        &denied,
        false,
    )
    .output()
    .expect("curl");
    assert_eq!(
        o.status.code(),
        Some(97),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An RFC 8803 client written from the RFC: the Convert message and the
    // request in one write, then the converter's empty reply and the
    // server's bytes.
    let mut m = convert_connect([10, 9, 0, 2], HTTP_PORT);
    m.extend_from_slice(b"GET /small HTTP/1.0\r\n\r\n");
    let r = exchange(&lab, gw_addr, m);
    assert_eq!(r.get(..4), Some(&[1, 1, 0, 0][..]), "{:?}", r.get(..16));
    assert!(r[4..].starts_with(b"HTTP/1.0 200"), "{:?}", r.get(..40));
    assert!(r.len() > 100_000, "{}", r.len());

    // The download completed, byte-exact, while all that went on.
    let out = download.wait_with_output().expect("curl");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&got), want, "downloaded file differs");
    println!(
        "braid proxy -> braid gateway: {mib} MiB in {secs:.1} s ({:.0} Mbit/s)",
        (mib << 20) as f64 * 8.0 / secs / 1e6
    );

    // Both paths carried data (the gateway's per-subflow counters).
    let text = metrics(&lab);
    let sf0 = metric(
        &text,
        "braid_gateway_subflow_bytes_total{subflow=\"0\",direction=\"tx\"}",
    );
    let sf1 = metric(
        &text,
        "braid_gateway_subflow_bytes_total{subflow=\"1\",direction=\"tx\"}",
    );
    println!("gateway subflow 0 sent {sf0} B, subflow 1 sent {sf1} B");
    let len = (mib << 20) as f64;
    assert!(sf0 >= 0.05 * len && sf1 >= 0.05 * len, "{text}");
    assert!(sf0 + sf1 >= len, "{text}");
    // Every refusal was counted by reason.
    for (reason, at_least) in [
        ("malformed_message", 3.0),
        ("unsupported_message", 1.0),
        ("unsupported_version", 1.0),
        ("denied_network", 3.0),
        ("refused", 1.0),
        ("unreachable", 1.0),
        ("socks_no_method", 1.0),
        ("socks_command", 1.0),
    ] {
        let v = metric(
            &text,
            &format!("braid_gateway_connections_failed_total{{reason=\"{reason}\"}}"),
        );
        assert!(v >= at_least, "{reason}: {v}\n{text}");
    }

    // Time to first byte through the proxy (no TFO): MPTCP handshake,
    // Convert exchange (the gateway connects meanwhile), request/response:
    // about three round trips of path 1 (5 ms one way).
    let small = net.dir.join("small-got");
    let o = curl(
        &lab,
        &["--socks5-hostname", SOCKS, "-w", "%{time_starttransfer}"],
        &format!("http://{SERVER_IP}:{HTTP_PORT}/small"),
        &small,
        false,
    )
    .output()
    .expect("curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ttfb: f64 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    println!(
        "time to first byte through the proxy: {:.1} ms ({:.1} RTTs of 10 ms)",
        ttfb * 1e3,
        ttfb / 0.010
    );

    // A kernel MPTCP client (mptcpize) speaking SOCKS5 to the Braid gateway.
    let got2 = net.dir.join("got2");
    let o = curl(
        &lab,
        &["--socks5", &gw],
        &format!("http://{SERVER_IP}:{HTTP_PORT}/small"),
        &got2,
        true,
    )
    .output()
    .expect("mptcpize curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        sha256(&got2),
        sha256(&net.dir.join("small")),
        "kernel client's file differs"
    );

    // The proxy's own per-path counters (its last JSON line, printed on
    // SIGTERM): both of its addresses received part of the file.
    let out = proxy.terminate(Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).expect("proxy JSON line");
    for ip in &cl_ips {
        let rx = v["paths"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["local"] == ip.to_string()))
            .and_then(|p| p["rx"].as_u64())
            .unwrap_or(0);
        assert!(rx as f64 >= 0.05 * len, "proxy path {ip}: {last}");
    }

    // SIGTERM: the gateway stops and exits cleanly.
    let out = gateway.terminate(Duration::from_secs(40));
    assert!(
        out.status.success(),
        "gateway exit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(net);
    lab.down().expect("lab down");
}

/// Braid proxy -> gateway on the kernel's MPTCP sockets, through SOCKS5
/// and through the transparent mode (nftables redirect); SIGTERM during a
/// download drains it.
#[test]
fn braid_proxy_kernel_gateway() {
    if skip(
        "braid_proxy_kernel_gateway",
        &["python3", "curl", "ss", "sha256sum", "nft"],
    ) {
        return;
    }
    let scenario = Scenario::parse(TWO_PATHS, Path::new(".")).expect("scenario");
    let lab = Lab::up(&scenario).expect("lab up");
    let mut net = Internet::up(&lab);
    let want = net.file("file", 8 << 20);
    net.serve(&lab);
    tun(&lab, Side::Client, "braidp");
    let gw = format!("{}:{GW_PORT}", lab.server_addr(1));
    let gateway = Proc::spawn(
        {
            let mut c = lab.command(Side::Server, &bin());
            c.args(["gateway", "--stack", "kernel", "--listen", &gw])
                .args(["--allow", "10.9.0.0/24", "--metrics", METRICS]);
            c
        },
        "gateway",
    );
    wait_listening(&lab, Side::Server, &gw);
    let proxy = Proc::spawn(
        {
            let mut c = lab.command(Side::Client, &bin());
            c.args([
                "proxy",
                "--stack",
                "braid",
                "--tun",
                "braidp",
                "--gateway",
                &gw,
            ]);
            for ip in lab.braid_addresses(Side::Client) {
                c.args(["--via", &ip.to_string()]);
            }
            c.args(["--listen", SOCKS, "--transparent", TRANSPARENT]);
            c
        },
        "proxy",
    );
    wait_listening(&lab, Side::Client, SOCKS);
    wait_listening(&lab, Side::Client, TRANSPARENT);
    let got = net.dir.join("got");
    let o = curl(
        &lab,
        &["--socks5-hostname", SOCKS],
        &format!("http://{SERVER_IP}:{HTTP_PORT}/file"),
        &got,
        false,
    )
    .output()
    .expect("curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&got), want, "downloaded file differs");
    // Transparent mode: the README's nftables recipe redirects the client
    // namespace's connections to the server's network to the proxy; a
    // plain curl, no proxy flags, downloads through the gateway.
    let port = TRANSPARENT.rsplit(':').next().unwrap();
    let rules = format!(
        "table ip braid_proxy {{\n chain output {{\n  type nat hook output priority -100; policy accept;\n  ip daddr 10.9.0.0/24 tcp dport {HTTP_PORT} redirect to :{port}\n }}\n}}\n"
    );
    let rules_file = net.dir.join("redirect.nft");
    std::fs::write(&rules_file, rules).expect("write nft rules");
    let mut nft = lab.command(Side::Client, "nft");
    nft.arg("-f").arg(&rules_file);
    run_ok(nft);
    let got_t = net.dir.join("got-transparent");
    let url = format!("http://{SERVER_IP}:{HTTP_PORT}/file");
    let o = curl(&lab, &[], &url, &got_t, false).output().expect("curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&got_t), want, "transparent download differs");

    let text = metrics(&lab);
    let convert = metric(
        &text,
        "braid_gateway_connections_total{protocol=\"convert\"}",
    );
    assert!(convert >= 2.0, "{text}");
    let down = metric(&text, "braid_gateway_bytes_total{direction=\"downstream\"}");
    assert!(down >= (16 << 20) as f64, "{text}");

    // SIGTERM with a download under way: the gateway stops accepting new
    // connections, lets the download finish byte-exact, then exits 0.
    let got_d = net.dir.join("got-drain");
    let draining = curl(
        &lab,
        &["--socks5-hostname", SOCKS, "--limit-rate", "4M"],
        &format!("http://{SERVER_IP}:{HTTP_PORT}/file"),
        &got_d,
        false,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn curl");
    let mut active = 0.0;
    for _ in 0..100 {
        active = metric(&metrics(&lab), "braid_gateway_connections_active");
        if active >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(active >= 1.0, "the download never reached the gateway");
    gateway.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    let gw_addr: SocketAddr = gw.parse().unwrap();
    let refused = lab
        .spawn_in(Side::Client, move || {
            TcpStream::connect_timeout(&gw_addr, Duration::from_secs(5)).map(|_| ())
        })
        .join()
        .expect("thread")
        .expect("netns");
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "a new connection after SIGTERM"
    );
    let o = draining.wait_with_output().expect("curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&got_d), want, "download across SIGTERM differs");
    drop(proxy);
    let out = gateway.terminate(Duration::from_secs(40));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("draining 1 connection"), "{err}");
    drop(net);
    lab.down().expect("lab down");
}

/// Two paths of 20 Mbit/s; path 1 (the initial subflow's) goes dark for
/// good 4 s into the run, in the middle of the download.
const BLACKOUT: &str = r#"
name = "gateway-blackout"
[[path]]
rate_mbit = 20
delay_ms = 5
queue_packets = 100
blackouts = [[4, 600]]
[[path]]
rate_mbit = 20
delay_ms = 10
queue_packets = 100
"#;

/// Braid proxy -> Braid gateway; one path dies mid-download and curl
/// still completes byte-exact over the other.
#[test]
fn blackout_mid_download() {
    if skip(
        "blackout_mid_download",
        &["python3", "curl", "ss", "sha256sum"],
    ) {
        return;
    }
    let scenario = Scenario::parse(BLACKOUT, Path::new(".")).expect("scenario");
    let lab = Lab::up(&scenario).expect("lab up");
    let mut net = Internet::up(&lab);
    let len: u64 = 24 << 20;
    let want = net.file("file", len);
    net.serve(&lab);
    tun(&lab, Side::Server, "braidg");
    tun(&lab, Side::Client, "braidp");
    let gw = format!("{}:{GW_PORT}", lab.braid_addresses(Side::Server)[0]);
    let gateway = Proc::spawn(
        {
            let mut c = lab.command(Side::Server, &bin());
            c.args([
                "gateway", "--stack", "braid", "--tun", "braidg", "--listen", &gw,
            ])
            .args(["--allow", "10.9.0.0/24", "--metrics", METRICS]);
            c
        },
        "gateway",
    );
    wait_for_tun_reader(&lab, Side::Server, "braidg");
    let proxy = Proc::spawn(
        {
            let mut c = lab.command(Side::Client, &bin());
            c.args([
                "proxy",
                "--stack",
                "braid",
                "--tun",
                "braidp",
                "--gateway",
                &gw,
            ]);
            for ip in lab.braid_addresses(Side::Client) {
                c.args(["--via", &ip.to_string()]);
            }
            c.args(["--listen", SOCKS]);
            c
        },
        "proxy",
    );
    wait_listening(&lab, Side::Client, SOCKS);
    let got = net.dir.join("got");
    let started = lab.elapsed();
    assert!(
        started < Duration::from_secs(3),
        "setup took {started:?}: the download would start after the blackout"
    );
    let url = format!("http://{SERVER_IP}:{HTTP_PORT}/file");
    let o = curl(&lab, &["--socks5-hostname", SOCKS], &url, &got, false)
        .output()
        .expect("curl");
    let ended = lab.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&got), want, "downloaded file differs");
    // The blackout (t = 4 s) fell inside the download.
    assert!(
        ended > Duration::from_secs(4),
        "download ended at {ended:?}, before the blackout"
    );
    println!(
        "blackout mid-download: {} MiB from {started:.1?} to {ended:.1?}",
        len >> 20
    );
    drop(proxy);
    drop(gateway);
    drop(net);
    lab.down().expect("lab down");
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

/// The gateway process's pid: `ip netns exec` execs the program, so the
/// child's pid is the gateway's.
fn pid(p: &Proc) -> u32 {
    p.0.as_ref().expect("child").id()
}

const CONNS: usize = 1000;
const PER_CONN: usize = 16 * 1024;

/// 1,000 concurrent connections from kernel MPTCP clients through the
/// Braid gateway to an echo server behind it: every connection's bytes
/// come back byte-exact; memory per idle connection and the rate of new
/// connections are reported.
#[test]
fn thousand_connections_braid_gateway() {
    if skip("thousand_connections_braid_gateway", &["ss"]) {
        return;
    }
    let want_fds = 4 * CONNS as u64 + 256;
    braid_testkit::raise_nofile(want_fds);
    let scenario = Scenario::parse(TWO_PATHS, Path::new(".")).expect("scenario");
    let lab = Lab::up(&scenario).expect("lab up");
    let net = Internet::up(&lab);
    // The echo server, in the internet namespace, until `stop` drops.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let echo = braid_lab::netns::spawn_in(&net.ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind((SERVER_IP, 7)).await.unwrap();
            let serve = async {
                while let Ok((mut s, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let (mut r, mut w) = s.split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
                    });
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stopped => {}
            }
        });
    });
    tun(&lab, Side::Server, "braidg");
    let gw = format!("{}:{GW_PORT}", lab.braid_addresses(Side::Server)[0]);
    let gateway = Proc::spawn(
        {
            let mut c = lab.command(Side::Server, &bin());
            c.args([
                "gateway", "--stack", "braid", "--tun", "braidg", "--listen", &gw,
            ])
            .args(["--allow", "10.9.0.0/24", "--max-per-client", "5000"]);
            c
        },
        "gateway",
    );
    wait_for_tun_reader(&lab, Side::Server, "braidg");
    std::thread::sleep(Duration::from_millis(300));
    let gw_pid = pid(&gateway);
    let rss0 = rss_kib(gw_pid);
    let gw_addr: SocketAddr = gw.parse().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (rtx, rrx) = std::sync::mpsc::channel::<()>();
    let clients = lab.spawn_in(Side::Client, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let t0 = Instant::now();
            let mut conns = Vec::with_capacity(CONNS);
            for i in 0..CONNS {
                let sock = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM,
                    Some(socket2::Protocol::MPTCP),
                )
                .unwrap();
                sock.set_nonblocking(true).unwrap();
                let connect = tokio::net::TcpSocket::from_std_stream(sock.into()).connect(gw_addr);
                let mut s = tokio::time::timeout(Duration::from_secs(20), connect)
                    .await
                    .unwrap_or_else(|_| panic!("connect {i} timed out"))
                    .unwrap_or_else(|e| panic!("connect {i}: {e}"));
                s.write_all(&convert_connect([10, 9, 0, 2], 7))
                    .await
                    .unwrap();
                conns.push(s);
            }
            for (i, s) in conns.iter_mut().enumerate() {
                let mut reply = [0u8; 4];
                tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut reply))
                    .await
                    .unwrap_or_else(|_| panic!("reply {i} timed out"))
                    .unwrap();
                assert_eq!(reply, [1, 1, 0, 0], "connection {i}");
            }
            let opened = t0.elapsed();
            // Idle: let the test measure, then echo.
            tx.send(()).unwrap();
            rrx.recv().unwrap();
            let tasks: Vec<_> = conns
                .into_iter()
                .enumerate()
                .map(|(i, mut s)| {
                    tokio::spawn(async move {
                        let data: Vec<u8> = (0..PER_CONN).map(|j| (i * 31 + j * 7) as u8).collect();
                        let (mut r, mut w) = s.split();
                        let send = async {
                            w.write_all(&data).await?;
                            w.shutdown().await
                        };
                        let mut back = Vec::new();
                        let (sent, got) = tokio::join!(send, r.read_to_end(&mut back));
                        sent.and(got.map(|_| ()))?;
                        assert_eq!(back, data, "connection {i}");
                        Ok::<_, std::io::Error>(())
                    })
                })
                .collect();
            for t in tasks {
                tokio::time::timeout(Duration::from_secs(60), t)
                    .await
                    .expect("echo within 60 s")
                    .expect("task")
                    .expect("echo");
            }
            opened
        })
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("1,000 connections opened within 120 s");
    std::thread::sleep(Duration::from_millis(500));
    let rss1 = rss_kib(gw_pid);
    rtx.send(()).unwrap();
    let opened = clients.join().expect("client thread").expect("netns");
    let per_conn = rss1.saturating_sub(rss0) as f64 / CONNS as f64;
    println!(
        "braid gateway: {CONNS} kernel MPTCP connections relayed in {opened:.2?} \
         ({:.0} conn/s); RSS {rss0} -> {rss1} KiB, {per_conn:.1} KiB per idle connection; \
         every connection echoed {PER_CONN} B byte-exact",
        CONNS as f64 / opened.as_secs_f64()
    );
    assert!(per_conn <= 64.0, "{per_conn} KiB per idle connection");
    drop(stop);
    let _ = echo.join();
    drop(gateway);
    drop(net);
    lab.down().expect("lab down");
}
