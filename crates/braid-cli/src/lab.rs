//! `braid lab up | down | exec`.

use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{Context, bail};
use braid_lab::scenario::describe;
use braid_lab::{Lab, Scenario, Side};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// `braid lab up <scenario>`: build, print how to use it, emulate until
/// SIGINT/SIGTERM, tear down.
pub fn up(path: &Path) -> anyhow::Result<()> {
    let scenario = Scenario::from_file(path)?;
    braid_lab::ensure_root()?;
    // Block the signals before any thread exists, so every thread inherits
    // the mask and the signal ends `wait` below instead of the process.
    let signals = braid_lab::termination_signals()?;
    let lab = Lab::up(&scenario)?;
    let run = lab.name();
    println!(
        "lab {run} up: scenario {:?}, {} path(s)",
        scenario.name,
        lab.paths()
    );
    for side in Side::ALL {
        println!(
            "  namespace {:<6} {}",
            format!("{side:?}").to_lowercase(),
            lab.namespace(side)
        );
    }
    for (i, p) in scenario.paths.iter().enumerate() {
        let n = i + 1;
        println!(
            "  path {n} {:?}{}: client {} <-> server {} (emu gateways {} / {})",
            p.name,
            if p.backup { " (backup)" } else { "" },
            lab.client_addr(n),
            lab.server_addr(n),
            braid_lab::topology::gateway_addr(Side::Client, n),
            braid_lab::topology::gateway_addr(Side::Server, n),
        );
        println!("    up   (client -> server): {}", describe(&p.up));
        println!("    down (server -> client): {}", describe(&p.down));
    }
    println!(
        "  Braid addresses: client {:?}, server {:?}",
        lab.braid_addresses(Side::Client),
        lab.braid_addresses(Side::Server)
    );
    println!("run commands inside:");
    println!("  braid lab exec {run} server -- iperf3 -s");
    println!(
        "  braid lab exec {run} client -- iperf3 -c {}",
        lab.server_addr(1)
    );
    println!(
        "  (or: ip netns exec {} <command>)",
        lab.namespace(Side::Client)
    );
    println!("emulating; Ctrl-C or SIGTERM stops and removes everything");
    // A watcher turns an emulator failure into SIGTERM, so the wait below
    // also ends then (and `down` reports the failure).
    let done = std::sync::atomic::AtomicBool::new(false);
    let signal = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if !lab.emulator_running() {
                    let _ = kill(Pid::this(), Signal::SIGTERM);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let signal = signals.wait();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        signal
    })
    .context("waiting for SIGINT/SIGTERM")?;
    let run = run.to_owned();
    let stats = lab.down()?;
    println!("{signal:?}: lab {run} down");
    for (i, s) in stats.iter().enumerate() {
        for (dir, d) in [("up", &s.up), ("down", &s.down)] {
            println!(
                "  path {} {dir:<4}: {} offered, {} delivered, drops: {} queue, {} loss, {} blackout",
                i + 1,
                d.offered_packets,
                d.delivered_packets,
                d.dropped_queue,
                d.dropped_loss,
                d.dropped_blackout
            );
        }
    }
    Ok(())
}

/// `braid lab down [<run> | --all]`.
pub fn down(run: Option<&str>) -> anyhow::Result<()> {
    let deleted = braid_lab::down(run)?;
    if deleted.is_empty() {
        println!("no leftover lab namespaces");
    }
    for ns in deleted {
        println!("deleted {ns}");
    }
    Ok(())
}

/// `braid lab exec <run> <side> -- command...`: becomes `ip netns exec`.
pub fn exec(run: &str, side: Side, command: &[String]) -> anyhow::Result<()> {
    braid_lab::ensure_root()?;
    let ns = format!("{run}-{}", side.suffix());
    if !braid_lab::netns::list().contains(&ns) {
        bail!("no namespace {ns} (is lab {run} up? see `ip netns list`)");
    }
    let err = std::process::Command::new("ip")
        .args(["netns", "exec", &ns])
        .args(command)
        .exec();
    Err(err).context("running ip netns exec")
}
