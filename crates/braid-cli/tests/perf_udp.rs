//! `braid perf --stack braid-udp` with no privileges: both ends run as the
//! user `nobody` (uid 65534, via `setpriv`) inside the namespaces of a
//! two-path `braid-lab` run, Braid client to Braid server, every packet in
//! a UDP datagram (docs/udp-encapsulation.md). No TUN device, no routes:
//! the UDP sockets bind the lab's own addresses (`10.0.<i>.2`, `10.1.1.2`),
//! and the lab's source routing sends each out by its own path.
//!
//! Creating the lab needs root, `ip netns` and `setpriv`; without them each
//! test prints `SKIP <reason>` and passes, except under `CI=true`, where it
//! fails.

mod perf_common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use braid_lab::{LabGuard, Side};
use perf_common::{json, lab_of, server_output, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_braid");
const NOBODY: &str = "65534";
const PORT: u16 = 5201;

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (the lab's namespaces need it; braid does not)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("`ip netns` unavailable".into()),
    }
    match Command::new("setpriv").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no `setpriv` (util-linux)".into()),
    }
}

/// The `braid` binary copied where `nobody` may run it (the build
/// directory may not be reachable for other users); removed on drop.
struct NobodyBin {
    dir: PathBuf,
    path: PathBuf,
}

impl NobodyBin {
    fn new(test: &str) -> NobodyBin {
        let dir = std::env::temp_dir().join(format!("braid-udp-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join("braid");
        std::fs::copy(BIN, &path).expect("copy braid");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        NobodyBin { dir, path }
    }

    /// `braid ARGS` as `nobody` inside `side`'s namespace.
    fn command(&self, lab: &LabGuard, side: Side) -> Command {
        let mut cmd = lab.command(side, "setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(&self.path);
        cmd
    }
}

impl Drop for NobodyBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `braid perf server --stack braid-udp --once --json` as nobody, once its
/// UDP socket is bound (bounded wait).
fn server(lab: &LabGuard, bin: &NobodyBin) -> Child {
    let listen = format!("{}:{PORT}", lab.server_addr(1));
    let mut child = bin
        .command(lab, Side::Server)
        .args([
            "perf",
            "server",
            "--stack",
            "braid-udp",
            "--listen",
            &listen,
            "--once",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    for _ in 0..250 {
        if let Some(status) = child.try_wait().expect("wait server") {
            let out = child.wait_with_output().expect("server output");
            panic!("server exited early ({status}): {}", stderr(&out));
        }
        let out = lab
            .command(Side::Server, "ss")
            .args(["-H", "-l", "-u", "-n", &format!("sport = :{PORT}")])
            .output()
            .expect("ss");
        if out.status.success() && !out.stdout.trim_ascii().is_empty() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("the braid-udp server did not bind UDP port {PORT}");
}

/// A braid-udp client as nobody with one `--local` per path, downloading
/// `bytes`; returns its JSON and the server's.
fn transfer(lab: &LabGuard, bin: &NobodyBin, bytes: u64) -> (serde_json::Value, serde_json::Value) {
    let srv = server(lab, bin);
    let connect = format!("{}:{PORT}", lab.server_addr(1));
    let locals: Vec<String> = (1..=lab.paths())
        .flat_map(|i| ["--local".to_string(), lab.client_addr(i).to_string()])
        .collect();
    let c = bin
        .command(lab, Side::Client)
        .args(["perf", "client", "--json", "--stack", "braid-udp"])
        .args(["--connect", &connect, "--direction", "download"])
        .args(["--bytes", &bytes.to_string(), "--timeout", "60"])
        .args(&locals)
        .stdin(Stdio::null())
        .output()
        .expect("run client");
    let s = server_output(srv, &c);
    assert!(c.status.success(), "client: {}", stderr(&c));
    assert!(s.status.success(), "server: {}", stderr(&s));
    (json(&c.stdout), json(&s.stdout))
}

/// Both ends agree every byte arrived intact, over MPTCP, and each path's
/// subflow carried at least `min_per_path` bytes.
fn check(
    lab: &LabGuard,
    c: &serde_json::Value,
    s: &serde_json::Value,
    len: u64,
    min_per_path: u64,
) {
    for v in [c, s] {
        assert_eq!(v["stack"], "braid-udp", "{v}");
        assert_eq!(v["bytes"], len, "{v}");
        assert_eq!(v["verified"], true, "{v}");
    }
    assert_eq!(c["mptcp_fallback"], false, "{c}");
    let subflows = c["subflows"].as_array().expect("subflows");
    for i in 1..=lab.paths() {
        let local = format!("{}:", lab.client_addr(i));
        let bytes: u64 = subflows
            .iter()
            .filter(|sf| sf["local"].as_str().is_some_and(|l| l.starts_with(&local)))
            .map(|sf| sf["bytes"].as_u64().unwrap_or(0))
            .sum();
        assert!(
            bytes >= min_per_path,
            "path {i} carried {bytes} B (< {min_per_path}): {c}"
        );
    }
    // The emulator saw the datagrams on every path.
    for (i, p) in lab.stats().iter().enumerate() {
        assert!(
            p.down.delivered_bytes >= min_per_path,
            "emulator path {}: {p:?}",
            i + 1
        );
    }
}

/// Two paths of 100 Mbit/s: 100 MiB byte-exact, both paths carrying data,
/// as nobody at both ends.
#[test]
fn hundred_mib_over_two_paths_as_nobody() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    const LEN: u64 = 100 << 20;
    let bin = NobodyBin::new("two-paths");
    let lab = lab_of(
        r#"
name = "udp-two-100"
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 200
[[path]]
rate_mbit = 100
delay_ms = 2
queue_packets = 200
"#,
    );
    let (c, s) = transfer(&lab, &bin, LEN);
    check(&lab, &c, &s, LEN, 8 << 20);
    println!(
        "braid-udp, 2 x 100 Mbit/s, nobody: {:.1} Mbit/s",
        c["goodput_bps"].as_f64().unwrap() / 1e6
    );
    lab.down().expect("lab down");
}

/// Path 1 passes nothing from 2 s to 5 s: the transfer carries on over
/// path 2 and completes byte-exact.
#[test]
fn a_path_blackout_is_survived_as_nobody() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    const LEN: u64 = 32 << 20;
    let bin = NobodyBin::new("blackout");
    let lab = lab_of(
        r#"
name = "udp-blackout"
[[path]]
rate_mbit = 40
delay_ms = 5
queue_packets = 100
blackouts = [[2, 5]]
[[path]]
rate_mbit = 40
delay_ms = 10
queue_packets = 100
"#,
    );
    let (c, s) = transfer(&lab, &bin, LEN);
    check(&lab, &c, &s, LEN, 1 << 20);
    let stats = lab.stats();
    assert!(
        stats[0].down.dropped_blackout + stats[0].up.dropped_blackout > 0,
        "the blackout dropped nothing (the transfer ended before it?): {stats:?}"
    );
    println!(
        "braid-udp, blackout on path 1 (2-5 s): {:.1} Mbit/s, max stall {} ms",
        c["goodput_bps"].as_f64().unwrap() / 1e6,
        c["max_stall_ms"]
    );
    lab.down().expect("lab down");
}
