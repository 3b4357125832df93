//! Test-only helpers shared by Braid's crates; a dev-dependency, never a
//! dependency of a library.
//!
//! Some tests need what a developer's machine may lack: root, network
//! namespaces, `/dev/net/tun`, `tshark`, the shared traces. Outside CI such a
//! test prints `SKIP <test>: <reason>` and passes, so `cargo test` works
//! anywhere; under `CI=true` the same test fails, so CI never passes on
//! tests that did not run. This crate is the one place that rule lives.

#![forbid(unsafe_code)]

use std::fmt::Display;
use std::io::Write;

/// True when this run is CI (`CI=true`), where a test may not skip.
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips the calling test: prints `SKIP <test>: <reason>` straight to stderr
/// (past the test harness's output capture, so the skip shows without
/// `--nocapture`). Under `CI=true` it panics instead, failing the test.
///
/// The test's name is the current thread's name, which libtest sets to the
/// test's path; the caller returns from the test after this call.
#[track_caller]
pub fn skip(reason: impl Display) {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("test")
        .to_owned();
    assert!(
        !under_ci(),
        "{test} cannot run, and under CI=true that is a failure: {reason}"
    );
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// For a test's first line: `None` (nothing missing) means it may run and
/// returns true; `Some(reason)` skips it with [`skip`] and returns false.
///
/// ```
/// # fn missing() -> Option<String> { None }
/// if !braid_testkit::ready(missing()) {
///     return;
/// }
/// ```
#[track_caller]
pub fn ready<R: Display>(missing: Option<R>) -> bool {
    match missing {
        None => true,
        Some(reason) => {
            skip(reason);
            false
        }
    }
}

/// Raise this process's soft limit on open descriptors to at least `want`
/// (up to the hard limit), for tests that hold thousands of sockets;
/// children started afterwards inherit it.
///
/// # Panics
/// If the limit cannot be read or set.
pub fn raise_nofile(want: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("read RLIMIT_NOFILE");
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).expect("raise RLIMIT_NOFILE");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_runs_without_printing_or_failing() {
        assert!(ready(None::<&str>));
    }

    #[test]
    fn a_missing_tool_passes_outside_ci_and_fails_under_ci() {
        let outcome = std::panic::catch_unwind(|| ready(Some("no `tshark`")));
        if under_ci() {
            let err = outcome.expect_err("a test that cannot run must fail under CI=true");
            let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(
                msg.contains("CI=true") && msg.contains("no `tshark`"),
                "{msg}"
            );
        } else {
            assert_eq!(outcome.ok(), Some(false));
        }
    }
}
