//! What the tests against the Linux kernel over a `braid-lab` lab share
//! (`mptcp_interop`, `syn_flood_lab`, `malformed_options_lab` and the lossy
//! half of `interop`): whether they can run here, the lab brought up with
//! a runtime, commands and threads in a namespace, `nstat` readings, and a
//! TUN device for Braid in a namespace. Include it next to `netns`, whose
//! root and TUN checks it reuses.

use braid::TunDevice;
use braid_lab::{LabGuard, Scenario, Side};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Why a kernel lab test cannot run here, if it cannot: `netns`'s reasons
/// (root, `/dev/net/tun`, `ip netns`), a kernel without MPTCP, or one of
/// `tools` missing (each must answer `--version`).
pub fn unavailable(tools: &[&str]) -> Option<String> {
    if let Some(r) = crate::netns::unavailable() {
        return Some(r);
    }
    if !Path::new("/proc/sys/net/mptcp/enabled").exists() {
        return Some("the kernel has no MPTCP".into());
    }
    for tool in tools {
        let found = Command::new(tool)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("no `{tool}`"));
        }
    }
    None
}

/// The lab of `scenario` (TOML) and a two-worker runtime to drive it. Drop
/// the runtime before taking the lab down, so that Braid's TUN and tap go
/// before the namespaces.
pub fn up(scenario: &str) -> (LabGuard, tokio::runtime::Runtime) {
    let scenario = Scenario::parse(scenario, Path::new(".")).expect("scenario");
    let lab = braid_lab::Lab::up(&scenario).expect("lab up");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    (lab, rt)
}

/// Run `program args` in `side`'s namespace; its stdout, or an error with
/// its stderr.
pub fn run(lab: &LabGuard, side: Side, program: &str, args: &[&str]) -> io::Result<String> {
    let out = lab
        .command(side, program)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `f` on a thread in `side`'s namespace.
pub fn lab_in<T: Send + 'static>(
    lab: &LabGuard,
    side: Side,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    lab.spawn_in(side, f)
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
        .map_err(io::Error::other)?
}

/// The namespace's counters (`nstat -asz`: absolute, history untouched)
/// whose names `keep` accepts.
pub fn nstat(
    lab: &LabGuard,
    side: Side,
    keep: impl Fn(&str) -> bool,
) -> io::Result<BTreeMap<String, u64>> {
    let out = run(lab, side, "nstat", &["-asz"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            let value = f.next()?.parse().ok()?;
            keep(name).then(|| (name.to_owned(), value))
        })
        .collect())
}

/// Counters that moved between two `nstat` readings.
pub fn moved(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// A TUN device `braid0` in `side`'s namespace, with the lab's routes of
/// that side's Braid addresses through it; for a Braid stack to own those
/// addresses. Call it inside a tokio runtime.
pub fn braid_tun(lab: &LabGuard, side: Side) -> io::Result<TunDevice> {
    let handle = tokio::runtime::Handle::current();
    let tun = lab_in(lab, side, move || {
        let _rt = handle.enter();
        TunDevice::create("braid0", 1500)
    })?;
    lab.route_braid(side, "braid0").map_err(io::Error::other)?;
    Ok(tun)
}
