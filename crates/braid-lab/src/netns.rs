//! Network namespaces and the `ip` tool: run commands, enter namespaces.
//!
//! Namespaces are the named ones of `ip netns` (bind mounts under
//! `/run/netns`). Entering one is per thread (`setns(2)`), so a closure run
//! by [`run_in`] or [`spawn_in`] opens its sockets and TUN devices inside
//! the namespace while the rest of the process stays where it was.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, setns};

use crate::LabError;

/// Where `ip netns` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";

fn netns_path(ns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(ns)
}

/// Moves the calling thread into namespace `ns`.
pub fn enter(ns: &str) -> Result<(), LabError> {
    let path = netns_path(ns);
    let file = File::open(&path).map_err(|e| LabError::Netns {
        ns: ns.to_owned(),
        message: format!("open {}: {e}", path.display()),
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Netns {
        ns: ns.to_owned(),
        message: format!("setns: {e}"),
    })
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result.
pub fn run_in<T: Send>(
    ns: &str,
    f: impl FnOnce() -> Result<T, LabError> + Send,
) -> Result<T, LabError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(LabError::Netns {
                ns: ns.to_owned(),
                message: "thread panicked".into(),
            })
        })
    })
}

/// Spawns a thread that enters namespace `ns` and then runs `f`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<Result<T, LabError>> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter(&ns)?;
        Ok(f())
    })
}

/// Writes `value` to `/proc/sys/<key with dots as slashes>` of the
/// calling thread's namespace.
pub fn sysctl(key: &str, value: &str) -> Result<(), LabError> {
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| LabError::Io {
        what: format!("writing {value} to {}", path.display()),
        error: e,
    })
}

/// Runs `ip` with `args`; an error carries the command and its stderr.
pub fn ip(args: &[&str]) -> Result<(), LabError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(ip_missing)?;
    ip_outcome(&out, || format!("ip {}", args.join(" ")))
}

/// The error of an `ip` that could not be started.
fn ip_missing(error: std::io::Error) -> LabError {
    LabError::Io {
        what: "running ip (is iproute2 installed?)".into(),
        error,
    }
}

/// Ok if `ip` succeeded, otherwise the command (named by `command`) and
/// its stderr on one line.
fn ip_outcome(
    out: &std::process::Output,
    command: impl FnOnce() -> String,
) -> Result<(), LabError> {
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: command(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        })
    }
}

/// Runs `ip -n <ns> -batch -` with one command per line of `lines` (no
/// leading `ip`); fails at the first failing line.
pub fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), LabError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ip_missing)?;
    let text = lines.join("\n") + "\n";
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).map_err(|e| LabError::Io {
            what: "feeding ip -batch".into(),
            error: e,
        })?;
    }
    let out = child.wait_with_output().map_err(|e| LabError::Io {
        what: "waiting for ip -batch".into(),
        error: e,
    })?;
    ip_outcome(&out, || {
        format!(
            "ip{} -batch",
            ns.map(|n| format!(" -n {n}")).unwrap_or_default()
        )
    })
}

/// The named namespaces that exist now.
pub fn list() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Deletes namespace `ns` (`ip netns del`); missing is not an error.
pub fn delete(ns: &str) -> Result<(), LabError> {
    if !netns_path(ns).exists() {
        return Ok(());
    }
    ip(&["netns", "del", ns])
}
