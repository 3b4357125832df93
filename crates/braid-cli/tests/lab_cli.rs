//! `braid lab` on bad input: one line naming the problem, non-zero exit.

use std::process::Command;

fn braid(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .output()
        .expect("run braid");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("braid-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn assert_one_line_error(args: &[&str], needle: &str) {
    let (ok, stderr) = braid(args);
    assert!(!ok, "{args:?} succeeded");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
}

#[test]
fn missing_scenario_file_is_named() {
    assert_one_line_error(
        &["lab", "up", "/nonexistent/braid.toml"],
        "cannot read scenario /nonexistent/braid.toml",
    );
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let file = scenario("unknown.toml", "[[path]]\ndelay_ms = 5\nrate_mbps = 10\n");
    assert_one_line_error(
        &["lab", "up", &file],
        "line 3, column 1: unknown field `rate_mbps`",
    );
}

#[test]
fn malformed_toml_is_reported() {
    let file = scenario("malformed.toml", "[[path]\n");
    assert_one_line_error(&["lab", "up", &file], "line 1");
}

#[test]
fn bad_value_is_reported() {
    let file = scenario("bad.toml", "[[path]]\n[path.down]\nloss_pct = 101\n");
    assert_one_line_error(&["lab", "up", &file], "path 1 (down): loss_pct = 101");
}

#[test]
fn unknown_run_is_reported() {
    if !is_root() {
        assert_one_line_error(&["lab", "down", "braid-1-ffffff"], "needs root");
        return;
    }
    assert_one_line_error(&["lab", "down", "braid-1-ffffff"], "no lab run named");
    assert_one_line_error(
        &["lab", "exec", "braid-1-ffffff", "client", "--", "true"],
        "no namespace braid-1-ffffff-cli",
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
