//! `braid demo` as a user runs it: the built-in story, fast, with a JSON
//! summary and an SVG chart; bad options.

use std::path::PathBuf;
use std::process::{Command, Output};

fn braid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .output()
        .expect("run braid")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("braid-demo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Attribute `name` of an SVG element's text.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

#[test]
fn fast_demo_aggregates_survives_wifi_loss_and_draws_a_line_per_path() {
    let dir = temp_dir("json");
    let svg = dir.join("demo.svg");
    let out = braid(&[
        "demo",
        "--fast",
        "--seed",
        "1",
        "--json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stderr}"));

    // Every byte the server wrote arrived, each one compared, over the
    // one connection that lived through WiFi's outage.
    assert_eq!(s["byte_exact"], true, "{s}");
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["connections"], 1, "{s}");
    assert_eq!(s["bytes_delivered"], s["bytes_written"], "{s}");
    let paths = s["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0]["name"], "WiFi");
    assert_eq!(paths[1]["name"], "LTE");
    for p in paths {
        assert!(p["bytes"].as_u64().unwrap() > 1_000_000, "{p}");
    }
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e.contains("WiFi: link goes dark")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("WiFi: retransmission timeout")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.contains("joined the connection")),
        "{events:?}"
    );

    // Both paths together beat the best of them alone.
    let goodput = s["goodput_mbps"].as_f64().unwrap();
    let best = s["best_single_path_goodput_mbps"].as_f64().unwrap();
    assert!(best > 0.0 && goodput > best, "{goodput} vs {best}");
    // The application never waits long: WiFi's outage is bridged by LTE.
    assert!(s["longest_stall_s"].as_f64().unwrap() < 2.0, "{s}");
    // WiFi carries data again within a second of its return (issue #12;
    // it took 7.2 s when the subflow waited for its backed-off timer).
    let returns = s["returns"].as_array().expect("returns");
    assert_eq!(returns.len(), 1, "{s}");
    assert_eq!(returns[0]["path"], "WiFi");
    let delay = returns[0]["delay_s"].as_f64().expect("WiFi came back");
    assert!(delay <= 1.0, "WiFi back {delay} s after its return");

    // The chart: an SVG document with one thick line per path.
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(text.trim_start().starts_with("<svg"), "not SVG");
    assert!(text.trim_end().ends_with("</svg>"), "not SVG");
    assert_eq!(text.matches("<svg").count(), 1);
    let lines: Vec<&str> = text
        .split('<')
        .filter(|e| e.starts_with("polyline") && attr(e, "stroke-width") == Some("2"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per path");
    assert_ne!(attr(lines[0], "stroke"), attr(lines[1], "stroke"));
    for l in &lines {
        let points = attr(l, "points").unwrap().split_whitespace().count();
        assert!(points > 20, "{points} points");
    }
    assert!(text.contains("WiFi blackout"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plain_output_tells_the_story_line_by_line() {
    let dir = temp_dir("plain");
    let svg = dir.join("d.svg");
    let out = braid(&[
        "demo",
        "--fast",
        "--duration",
        "22",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "MPTCP connection established over WiFi",
        "subflow over LTE joined",
        "t =  10.0 s",
        "WiFi: link goes dark",
        "Summary",
        "byte-exact",
        "the best single path",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // Not a terminal: no escape sequences.
    assert!(!stdout.contains('\x1b'));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_options_fail_with_one_line_naming_the_problem() {
    let dir = temp_dir("bad");
    let malformed = dir.join("malformed.toml");
    std::fs::write(&malformed, "[[path]\nrate_mbit = 10\n").unwrap();
    let unknown_key = dir.join("unknown.toml");
    std::fs::write(&unknown_key, "[[path]]\nrate_mbps = 10\n").unwrap();
    let svg = dir.join("x.svg");
    let svg = svg.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--scheduler", "fastest"], "--scheduler fastest"),
        (
            vec!["--scenario", "/nonexistent/demo.toml"],
            "/nonexistent/demo.toml",
        ),
        (
            vec!["--scenario", malformed.to_str().unwrap()],
            "malformed.toml",
        ),
        (
            vec!["--scenario", unknown_key.to_str().unwrap()],
            "rate_mbps",
        ),
        (vec!["--speed", "fast"], "--speed fast: not a number"),
        (vec!["--speed", "-1"], "--speed -1"),
        (vec!["--duration", "0"], "--duration 0"),
        (vec!["--seed", "x"], "--seed x"),
        (
            vec!["--svg", "/nonexistent/dir/c.svg"],
            "--svg /nonexistent/dir/c.svg",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["demo", "--fast"];
        if args[0] != "--svg" {
            all.extend(["--svg", svg]);
        }
        all.extend(&args);
        let out = braid(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing runs");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
