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

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use braid_lab::{LabGuard, Side};
use perf_common::{NobodyBin, json, lab_of, server_output, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_braid");
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
    wait_bound(lab, &mut child);
    child
}

/// Waits (bounded) until the server's UDP port is bound.
fn wait_bound(lab: &LabGuard, child: &mut Child) {
    for _ in 0..250 {
        if let Some(status) = child.try_wait().expect("wait server") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("server exited early ({status}): {err}");
        }
        let out = lab
            .command(Side::Server, "ss")
            .args(["-H", "-l", "-u", "-n", &format!("sport = :{PORT}")])
            .output()
            .expect("ss");
        if out.status.success() && !out.stdout.trim_ascii().is_empty() {
            return;
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
    let bin = NobodyBin::new("two-paths", BIN);
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
    let bin = NobodyBin::new("blackout", BIN);
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

/// `nft -f -` inside the lab router's namespace.
fn nft(lab: &LabGuard, script: &str) {
    use std::io::Write;
    let mut child = lab
        .command(Side::Emu, "nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write nft script");
    let out = child.wait_with_output().expect("nft");
    assert!(out.status.success(), "nft: {}\n{script}", stderr(&out));
}

/// Packets the masquerade rule with `comment` matched (only a flow's first
/// packet reaches a NAT chain: one per new mapping).
fn masquerade_count(lab: &LabGuard, comment: &str) -> u64 {
    let out = lab
        .command(Side::Emu, "nft")
        .args(["list", "chain", "ip", "braidnat", "natpost"])
        .output()
        .expect("nft list");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains(comment))
        .and_then(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "packets")?;
            w.get(i + 1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The client is behind a NAT (nftables masquerade on the lab router, both
/// paths; the server cannot open anything toward the client). Mid-transfer
/// the router's masquerade moves to another port range and its conntrack
/// table is flushed: every subflow's outer source port changes. The
/// client's next datagrams (ACKs; keepalives after 0.5 s of silence, here)
/// reach the server from the new ports, the server validates them (path
/// challenge and response) and the download completes byte-exact, both
/// paths carrying data after the rebinding; the server's counters show
/// the rebindings. The client, which
/// cannot be reached, opened both subflows (the initial one and the join).
#[test]
fn a_nat_rebinding_mid_transfer_is_survived_as_nobody() {
    let no_conntrack = || match Command::new("conntrack").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no `conntrack` (Debian package conntrack)".to_string()),
    };
    if !braid_testkit::ready(unavailable().or_else(no_conntrack)) {
        return;
    }
    const LEN: u64 = 40 << 20;
    let bin = NobodyBin::new("nat", BIN);
    let lab = lab_of(
        r#"
name = "udp-nat"
[[path]]
rate_mbit = 40
delay_ms = 5
queue_packets = 100
[[path]]
rate_mbit = 40
delay_ms = 10
queue_packets = 100
"#,
    );
    // Client traffic is tracked once, after the emulator (from its p<i>up
    // TUN), and masqueraded out of the server-side veths; the emulator's
    // first pass and the downstream re-injection are not tracked. New
    // flows from the server side are dropped: a real NAT.
    // (nft's wildcard is a trailing `*` only: the p<i>dn TUNs are listed.)
    let downstream: Vec<String> = (1..=lab.paths()).map(|i| format!("\"p{i}dn\"")).collect();
    nft(
        &lab,
        &format!(
            r#"
table ip braidnat {{
  chain untracked {{
    type filter hook prerouting priority raw; policy accept;
    iifname "c*" notrack
    iifname {{ {} }} notrack
  }}
  chain inbound {{
    type filter hook forward priority filter; policy accept;
    iifname "s*" ct state new counter drop
  }}
  chain natpre {{
    type nat hook prerouting priority dstnat; policy accept;
  }}
  chain natpost {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "s*" ip saddr 10.0.0.0/16 meta l4proto udp counter masquerade to :30000-39999 comment "before"
  }}
}}
"#,
            downstream.join(", ")
        ),
    );
    let srv = {
        let listen = format!("{}:{PORT}", lab.server_addr(1));
        let mut child = bin
            .command(&lab, Side::Server)
            .args([
                "perf",
                "server",
                "--stack",
                "braid-udp",
                "--listen",
                &listen,
            ])
            .args(["--once", "--json", "--udp-keepalive", "0.5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        wait_bound(&lab, &mut child);
        child
    };
    let connect = format!("{}:{PORT}", lab.server_addr(1));
    let locals: Vec<String> = (1..=lab.paths())
        .flat_map(|i| ["--local".to_string(), lab.client_addr(i).to_string()])
        .collect();
    let client = bin
        .command(&lab, Side::Client)
        .args(["perf", "client", "--json", "--stack", "braid-udp"])
        .args(["--connect", &connect, "--direction", "download"])
        .args(["--bytes", &LEN.to_string(), "--timeout", "60"])
        .args(["--udp-keepalive", "0.5"])
        .args(&locals)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    // Mid-transfer (once both paths carried 8 MiB down, about 1.9 s of
    // 4.5 on an idle machine; bounded wait): a new port range, and the
    // mappings forgotten.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let carried = lab
            .stats()
            .iter()
            .all(|p| p.down.delivered_bytes >= 8 << 20);
        if carried {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let before_rebind = lab.stats();
    let old = masquerade_count(&lab, "before");
    nft(
        &lab,
        r#"
flush chain ip braidnat natpost
table ip braidnat {
  chain natpost {
    oifname "s*" ip saddr 10.0.0.0/16 meta l4proto udp counter masquerade to :40000-49999 comment "after"
  }
}
"#,
    );
    let flush = lab
        .command(Side::Emu, "conntrack")
        .arg("-F")
        .output()
        .expect("conntrack -F");
    assert!(flush.status.success(), "conntrack -F: {}", stderr(&flush));
    let rebound_at = started.elapsed();
    let c = client.wait_with_output().expect("client output");
    let s = server_output(srv, &c);
    assert!(c.status.success(), "client: {}", stderr(&c));
    assert!(s.status.success(), "server: {}", stderr(&s));
    let (c, s) = (json(&c.stdout), json(&s.stdout));
    check(&lab, &c, &s, LEN, 1 << 20);
    // The NAT was in the path before and after: each subflow's first
    // packet took a mapping from the old range, then from the new one.
    let new = masquerade_count(&lab, "after");
    println!(
        "NAT mappings: {old} before, {new} after the rebinding at {:.1} s",
        rebound_at.as_secs_f64()
    );
    assert!(old >= 2, "the masquerade saw {old} flows before");
    assert!(new >= 2, "the masquerade saw {new} flows after");
    let (su, cu) = (&s["udp"], &c["udp"]);
    println!(
        "server udp: {su}\nclient udp: {cu}\nclient subflows: {}\nbraid-udp behind a NAT, rebinding at {:.1} s: {:.1} Mbit/s, max stall {} ms",
        c["subflows"],
        rebound_at.as_secs_f64(),
        c["goodput_bps"].as_f64().unwrap() / 1e6,
        c["max_stall_ms"]
    );
    // Both paths carried data after the rebinding.
    let after = lab.stats();
    for (i, (b, a)) in before_rebind.iter().zip(&after).enumerate() {
        let moved = a.down.delivered_bytes - b.down.delivered_bytes;
        assert!(
            moved >= 1 << 20,
            "path {} carried {moved} B after the rebinding: {after:?}",
            i + 1
        );
    }
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    assert!(n(su, "rebindings") >= 2, "one rebinding per subflow: {su}");
    assert_eq!(n(su, "validation_failures"), 0, "{su}");
    assert!(n(cu, "path_responses") >= n(su, "rebindings"), "{cu}");
    lab.down().expect("lab down");
}
