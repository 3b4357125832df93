//! `braid perf` as a user runs it: the built binary, 127.0.0.1 only.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn braid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run braid")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `client_args` against a `--once` server of `stack`; returns the
/// client's output and the server's.
fn client_against_server(stack: &str, client_args: &[&str]) -> (Output, Output) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args([
            "perf", "server", "--listen", &listen, "--stack", stack, "--once", "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut args = vec![
        "perf",
        "client",
        "--connect",
        &listen,
        "--stack",
        stack,
        "--json",
    ];
    args.extend_from_slice(client_args);
    let mut client = braid(&args);
    for _ in 0..50 {
        // The server may not listen yet: retry a refused connect (bounded).
        if client.status.success() || !stderr(&client).contains("connection refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        client = braid(&args);
    }
    let server = server.wait_with_output().expect("server output");
    (client, server)
}

fn kernel_mptcp() -> bool {
    let on = std::fs::read_to_string("/proc/sys/net/mptcp/enabled")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    if !on {
        let reason = "kernel MPTCP is not enabled (/proc/sys/net/mptcp/enabled != 1)";
        braid_testkit::skip(reason);
    }
    on
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn kernel_download_json_is_verified() {
    if !kernel_mptcp() {
        return;
    }
    let (c, s) = client_against_server("kernel", &["--bytes", "2M", "--direction", "download"]);
    assert!(c.status.success(), "{}", stderr(&c));
    let v = json(&c);
    assert_eq!(v["stack"], "kernel");
    assert_eq!(v["direction"], "download");
    assert_eq!(v["bytes"], 2 * 1024 * 1024);
    assert_eq!(v["verified"], true);
    assert!(v["goodput_bps"].as_f64().unwrap() > 0.0);
    assert!(v["max_stall_ms"].is_number() && v["cpu_s"].is_number());
    assert_eq!(
        v["subflows"][0]["remote"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("127.0.0.1")
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let line: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(line["verified"], true);
}

#[test]
fn tcp_rr_json_has_percentiles() {
    let (c, _) = client_against_server(
        "tcp",
        &["--mode", "rr", "--bytes", "6400", "--rr-size", "64"],
    );
    assert!(c.status.success(), "{}", stderr(&c));
    let v = json(&c);
    assert_eq!(v["transactions"], 100);
    for p in ["p50", "p90", "p99", "max"] {
        assert!(v["latency_us"][p].as_u64().unwrap() >= 1, "{p}");
    }
}

/// A bad invocation fails with status != 0 and an error naming the problem
/// (clap's usage lines may follow the first line).
fn fails_naming(args: &[&str], needle: &str) {
    let o = braid(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{args:?}: {err:?}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

/// An unknown or misplaced `--scheduler` is one line naming it and the
/// choices, before anything is opened.
#[test]
fn bad_scheduler_is_one_line_naming_the_choices() {
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--stack",
                "braid",
                "--local",
                "127.0.0.1",
                "--scheduler",
                "fastest",
            ],
            "unknown scheduler \"fastest\" (choices: minrtt, roundrobin, redundant, ecf, blest, interactive)",
        ),
        (
            &["--stack", "kernel", "--scheduler", "ecf"],
            "only --stack braid takes a scheduler",
        ),
        (
            &[
                "--stack",
                "braid",
                "--local",
                "127.0.0.1",
                "--scheduler",
                "",
            ],
            "unknown scheduler \"\"",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["perf", "client", "--connect", "127.0.0.1:1"];
        args.extend_from_slice(extra);
        let o = braid(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    }
}

/// A congestion control the kernel lacks is refused before anything is
/// sent: an MPTCP socket would take the name and run its default instead.
#[test]
fn kernel_cc_not_loaded_is_refused() {
    let loaded = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap_or_default();
    let name = "braid-no-such-cc";
    assert!(!loaded.split_whitespace().any(|a| a == name));
    for stack in ["kernel", "tcp"] {
        let args = [
            "perf",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--stack",
            stack,
            "--cc",
            name,
        ];
        let o = braid(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        if stack == "kernel" && err.contains("kernel MPTCP is not available") {
            // No MPTCP sockets here: the check is reached only on tcp.
            braid_testkit::skip("kernel MPTCP sockets unavailable");
            continue;
        }
        assert!(
            err.contains(&format!("'{name}' is not loaded in this kernel")),
            "{args:?}: {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
}

#[test]
fn bad_arguments_fail_naming_the_problem() {
    fails_naming(&["perf", "client"], "--connect");
    fails_naming(&["perf", "client", "--connect", "nowhere"], "nowhere");
    fails_naming(
        &[
            "perf",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--stack",
            "quic",
        ],
        "quic",
    );
    fails_naming(
        &[
            "perf",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--bytes",
            "ten",
        ],
        "ten",
    );
    fails_naming(
        &[
            "perf",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--rr-size",
            "0",
        ],
        "0",
    );
    fails_naming(
        &[
            "perf",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--bytes",
            "1",
            "--time",
            "1",
        ],
        "--time",
    );
    let o = braid(&[
        "perf",
        "client",
        "--connect",
        "127.0.0.1:1",
        "--stack",
        "braid",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with("braid perf: --stack braid needs --local ADDR"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let o = braid(&[
        "perf",
        "client",
        "--connect",
        &addr,
        "--stack",
        "tcp",
        "--bytes",
        "1",
    ]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!("braid perf: connect to {addr}: connection refused\n")
    );
}
