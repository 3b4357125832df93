//! `braid perf --stack braid` as a user runs it: the built `braid` binary
//! inside the namespaces of a `braid-lab` run (one clean path,
//! `scenarios/clean.toml`), against the kernel's stack on the other side.
//!
//! The TUN device is created beforehand (`ip tuntap add`, persistent) and
//! routed with `LabGuard::route_braid`, as a user would do; `braid perf`
//! attaches to it.
//!
//! Needs root, /dev/net/tun and `ip netns`; without them each test prints
//! `SKIP <reason>` and passes, except under `CI=true`, where it fails.

mod perf_common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use braid_lab::{LabGuard, Side};
use perf_common::{json, lab_of, server_output, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_braid");
const CLEAN: &str = include_str!("../../../scenarios/clean.toml");
const TUN: &str = "braid0";
/// Bytes per run.
const BYTES: &str = "8M";
const LEN: u64 = 8 << 20;

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip netns` unavailable".into()),
    }
}

/// Two paths of 50 Mbit/s, 5 and 10 ms one way.
const TWO_PATHS: &str = r#"
name = "two-50"
[[path]]
rate_mbit = 50
delay_ms = 5
queue_packets = 200
[[path]]
rate_mbit = 50
delay_ms = 10
queue_packets = 200
"#;

fn lab() -> LabGuard {
    lab_of(CLEAN)
}

fn run_ok(mut cmd: Command) {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A persistent TUN device on `side`, up and routed for that side's Braid
/// addresses.
fn tun(lab: &LabGuard, side: Side) {
    let mut add = lab.command(side, "ip");
    add.args(["tuntap", "add", "dev", TUN, "mode", "tun"]);
    run_ok(add);
    let mut up = lab.command(side, "ip");
    up.args(["link", "set", TUN, "up"]);
    run_ok(up);
    lab.route_braid(side, TUN).expect("route braid");
}

/// `braid perf server --once --json` in the server namespace.
fn server(lab: &LabGuard, stack: &str, listen: &str) -> Child {
    lab.command(Side::Server, BIN)
        .args([
            "perf", "server", "--stack", stack, "--listen", listen, "--tun", TUN, "--once",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server")
}

/// `braid perf client --json` in the client namespace, retrying (bounded)
/// while the server is not listening yet.
fn client(lab: &LabGuard, args: &[&str]) -> Output {
    let run = || {
        lab.command(Side::Client, BIN)
            .args(["perf", "client", "--json", "--bytes", BYTES, "--tun", TUN])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run client")
    };
    let mut out = run();
    for _ in 0..50 {
        if out.status.success() || !stderr(&out).contains("connection refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        out = run();
    }
    out
}

/// Waits (bounded) until a process has attached to the server's TUN device
/// (its carrier is up).
fn wait_for_tun_reader(lab: &LabGuard) {
    for _ in 0..250 {
        let out = lab
            .command(Side::Server, "ip")
            .args(["link", "show", TUN])
            .output()
            .expect("ip link show");
        if out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("NO-CARRIER") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no process attached to {TUN} in the server namespace");
}

/// The client's figures: verified, all bytes, one subflow between the
/// expected addresses that carried them.
fn check_client(v: &serde_json::Value, stack: &str, dir: &str, local_ip: &str, remote: &str) {
    assert_eq!(v["stack"], stack, "{v}");
    assert_eq!(v["mode"], "bulk", "{v}");
    assert_eq!(v["direction"], dir, "{v}");
    assert_eq!(v["bytes"], LEN, "{v}");
    assert_eq!(v["limit_bytes"], LEN, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["goodput_bps"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["completion_s"].as_f64().unwrap() > 0.0, "{v}");
    for k in ["duration_s", "max_stall_ms", "cpu_s"] {
        assert!(v[k].is_number(), "{k}: {v}");
    }
    assert!(v["intervals"].is_array(), "{v}");
    let sf = &v["subflows"][0];
    assert!(
        sf["local"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("{local_ip}:"))),
        "{sf}"
    );
    assert_eq!(sf["remote"], remote, "{sf}");
    assert!(sf["bytes"].as_u64().unwrap() >= LEN, "{sf}");
}

fn check_server(o: &Output, stack: &str, dir: &str) -> serde_json::Value {
    assert!(o.status.success(), "server: {}", stderr(o));
    let v = json(&o.stdout);
    assert_eq!(v["stack"], stack, "{v}");
    assert_eq!(v["direction"], dir, "{v}");
    assert_eq!(v["bytes"], LEN, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    v
}

/// (a) Braid client -> kernel MPTCP server, upload and download.
#[test]
fn braid_client_kernel_server() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let lab = lab();
    tun(&lab, Side::Client);
    let braid_ip = lab.braid_addresses(Side::Client)[0].to_string();
    let remote = format!("{}:5201", lab.server_addr(1));
    for dir in ["upload", "download"] {
        let srv = server(&lab, "kernel", &remote);
        let c = client(
            &lab,
            &[
                "--stack",
                "braid",
                "--local",
                &braid_ip,
                "--connect",
                &remote,
                "--direction",
                dir,
            ],
        );
        let s = server_output(srv, &c);
        assert!(c.status.success(), "client ({dir}): {}", stderr(&c));
        let v = json(&c.stdout);
        check_client(&v, "braid", dir, &braid_ip, &remote);
        // Braid and the kernel agreed on MPTCP.
        assert_eq!(v["mptcp_fallback"], false, "{v}");
        let sv = check_server(&s, "kernel", dir);
        assert!(
            sv["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("{braid_ip}:"))),
            "{sv}"
        );
        println!(
            "braid client -> kernel server, {dir}: {:.1} Mbit/s",
            v["goodput_bps"].as_f64().unwrap() / 1e6
        );
    }
    lab.down().expect("lab down");
}

/// (b) Kernel client -> Braid server, upload and download.
#[test]
fn kernel_client_braid_server() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let lab = lab();
    tun(&lab, Side::Server);
    let braid_ip = lab.braid_addresses(Side::Server)[0];
    let listen = format!("{braid_ip}:5201");
    let client_ip = lab.client_addr(1).to_string();
    for dir in ["upload", "download"] {
        let srv = server(&lab, "braid", &listen);
        wait_for_tun_reader(&lab);
        let c = client(
            &lab,
            &[
                "--stack",
                "kernel",
                "--connect",
                &listen,
                "--direction",
                dir,
            ],
        );
        let s = server_output(srv, &c);
        assert!(c.status.success(), "client ({dir}): {}", stderr(&c));
        let v = json(&c.stdout);
        check_client(&v, "kernel", dir, &client_ip, &listen);
        assert_eq!(v["mptcp_fallback"], false, "{v}");
        let sv = check_server(&s, "braid", dir);
        // The Braid server's probe: its one subflow, Braid's address.
        let sf = &sv["subflows"][0];
        assert_eq!(sf["local"], listen, "{sv}");
        assert!(sf["bytes"].as_u64().unwrap() >= LEN, "{sv}");
        println!(
            "kernel client -> braid server, {dir}: {:.1} Mbit/s",
            v["goodput_bps"].as_f64().unwrap() / 1e6
        );
    }
    lab.down().expect("lab down");
}

/// (c) Braid client with one `--local` per path -> kernel MPTCP server:
/// one subflow per path, each carrying part of the data, both directions.
#[test]
fn braid_client_two_paths_kernel_server() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let lab = lab_of(TWO_PATHS);
    tun(&lab, Side::Client);
    let locals: Vec<String> = lab
        .braid_addresses(Side::Client)
        .iter()
        .map(|a| a.to_string())
        .collect();
    let remote = format!("{}:5201", lab.server_addr(1));
    for dir in ["upload", "download"] {
        let srv = server(&lab, "kernel", &remote);
        let c = client(
            &lab,
            &[
                "--stack",
                "braid",
                "--local",
                &locals[0],
                "--local",
                &locals[1],
                "--connect",
                &remote,
                "--direction",
                dir,
            ],
        );
        let s = server_output(srv, &c);
        assert!(c.status.success(), "client ({dir}): {}", stderr(&c));
        let v = json(&c.stdout);
        assert_eq!(v["verified"], true, "{v}");
        assert_eq!(v["bytes"], LEN, "{v}");
        assert_eq!(v["mptcp_fallback"], false, "{v}");
        check_server(&s, "kernel", dir);
        let subflows = v["subflows"].as_array().unwrap();
        assert_eq!(subflows.len(), 2, "{v}");
        let mut total = 0;
        for (sf, local) in subflows.iter().zip(&locals) {
            assert!(
                sf["local"]
                    .as_str()
                    .is_some_and(|l| l.starts_with(&format!("{local}:"))),
                "{sf}"
            );
            let bytes = sf["bytes"].as_u64().unwrap();
            assert!(bytes > 64 * 1024, "{dir}: a path carried {bytes} B: {v}");
            total += bytes;
        }
        assert!(total >= LEN, "{v}");
        println!(
            "braid client (2 paths) -> kernel server, {dir}: {:.1} Mbit/s, {} / {} bytes",
            v["goodput_bps"].as_f64().unwrap() / 1e6,
            subflows[0]["bytes"],
            subflows[1]["bytes"]
        );
    }
    lab.down().expect("lab down");
}

/// A TUN device that cannot be opened is one line naming it, exit 1 (no
/// root needed: the name is invalid, or the open is refused).
#[test]
fn unopenable_tun_is_one_line() {
    let o = Command::new(BIN)
        .args([
            "perf",
            "client",
            "--stack",
            "braid",
            "--tun",
            "no/such",
            "--local",
            "10.0.1.100",
            "--connect",
            "10.1.1.2:5201",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run braid");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("braid perf: cannot open TUN device no/such: "),
        "{err:?}"
    );
    assert_eq!(err.lines().count(), 1, "{err:?}");
}

/// Not root: one line that says so, exit 1 (run as nobody when we are
/// root; as ourselves otherwise).
#[test]
fn not_root_is_one_line() {
    let args = [
        "perf",
        "server",
        "--stack",
        "braid",
        "--listen",
        "10.1.1.100:5201",
    ];
    let o = if nix::unistd::geteuid().is_root() {
        let Ok(o) = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(args)
            .stdin(Stdio::null())
            .output()
        else {
            braid_testkit::skip("no setpriv");
            return;
        };
        o
    } else {
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run braid")
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("braid perf: cannot open TUN device braid0: ") && err.contains("not root"),
        "{err:?}"
    );
    assert_eq!(err.lines().count(), 1, "{err:?}");
}

/// The unshaped path of the CPU bench: as fast as the emulator goes.
const UNSHAPED: &str = include_str!("../../../scenarios/cpu-one-path-unshaped.toml");
/// Bytes per long run: past 2^31 and 2^32 of every sequence space (the
/// TCP sequence, the relative subflow sequence, the 32-bit DSN, the data
/// level's relative offsets). Issue #10: a Braid receiver stopped at
/// exactly 2 GiB.
const LONG: &str = "5G";
const LONG_LEN: u64 = 5 << 30;

/// The `braid` binary for long runs: `BRAID_BIN` (test.sh sets it to the
/// release build), else the one cargo built for these tests (optimised
/// less: a long run then takes minutes).
fn long_bin() -> String {
    std::env::var("BRAID_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// One long upload, the client's figures checked: `LONG_LEN` bytes,
/// verified by both ends, MPTCP all along.
fn long_upload(lab: &LabGuard, server_stack: &str, listen: &str, client_args: &[&str]) -> f64 {
    let bin = long_bin();
    let srv = lab
        .command(Side::Server, &bin)
        .args([
            "perf",
            "server",
            "--stack",
            server_stack,
            "--listen",
            listen,
            "--tun",
            TUN,
            "--once",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    if server_stack == "braid" {
        wait_for_tun_reader(lab);
    }
    let run = || {
        lab.command(Side::Client, &bin)
            .args(["perf", "client", "--json", "--bytes", LONG, "--tun", TUN])
            .args([
                "--connect",
                listen,
                "--direction",
                "upload",
                "--cc",
                "cubic",
            ])
            .args(client_args)
            .stdin(Stdio::null())
            .output()
            .expect("run client")
    };
    let mut c = run();
    for _ in 0..50 {
        if c.status.success() || !stderr(&c).contains("connection refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        c = run();
    }
    let s = server_output(srv, &c);
    assert!(c.status.success(), "client: {}", stderr(&c));
    let v = json(&c.stdout);
    assert_eq!(v["bytes"], LONG_LEN, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["mptcp_fallback"], false, "{v}");
    assert!(s.status.success(), "server: {}", stderr(&s));
    let sv = json(&s.stdout);
    assert_eq!(sv["bytes"], LONG_LEN, "{sv}");
    assert_eq!(sv["verified"], true, "{sv}");
    v["goodput_bps"].as_f64().unwrap_or(0.0) / 1e6
}

/// 5 GiB byte-exact on one unshaped path, each sender/receiver pairing:
/// Braid -> Braid, kernel -> Braid, Braid -> kernel (uploads: the client
/// sends; both ends verify the seeded payload).
#[test]
fn five_gib_each_way() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let lab = lab_of(UNSHAPED);
    tun(&lab, Side::Client);
    tun(&lab, Side::Server);
    let braid_client = lab.braid_addresses(Side::Client)[0].to_string();
    let braid_listen = format!("{}:5201", lab.braid_addresses(Side::Server)[0]);
    let kernel_listen = format!("{}:5201", lab.server_addr(1));
    let started = Instant::now();
    let bb = long_upload(
        &lab,
        "braid",
        &braid_listen,
        &["--stack", "braid", "--local", &braid_client],
    );
    println!("5 GiB braid -> braid: {bb:.0} Mbit/s");
    let kb = long_upload(&lab, "braid", &braid_listen, &["--stack", "kernel"]);
    println!("5 GiB kernel -> braid: {kb:.0} Mbit/s");
    let bk = long_upload(
        &lab,
        "kernel",
        &kernel_listen,
        &["--stack", "braid", "--local", &braid_client],
    );
    println!("5 GiB braid -> kernel: {bk:.0} Mbit/s");
    println!(
        "five_gib_each_way: {:.0} s with {}",
        started.elapsed().as_secs_f64(),
        long_bin()
    );
    lab.down().expect("lab down");
}
