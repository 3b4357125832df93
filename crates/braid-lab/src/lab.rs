//! Bringing a lab run up and down.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration as StdDuration;

use nix::sys::signal::{SigSet, Signal};

use crate::emulator::{Emulator, PathStats, SharedLink};
use crate::topology::{self, Side};
use crate::{LabError, Scenario, netns};

/// Prefix of every namespace the lab creates.
const PREFIX: &str = "braid-";

/// Fails with [`LabError::NotRoot`] unless the effective user is root.
pub fn ensure_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// Entry point: `Lab::up(&scenario)`.
#[derive(Debug)]
pub struct Lab;

impl Lab {
    /// Creates the namespaces, veths and routes of `scenario` and starts
    /// the emulator. `t = 0` of every timeline (blackouts, traces) is the
    /// moment this returns ([`LabGuard::elapsed`]). On error everything
    /// created so far is removed.
    pub fn up(scenario: &Scenario) -> Result<LabGuard, LabError> {
        ensure_root()?;
        let run = format!(
            "{PREFIX}{}-{:06x}",
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        );
        let mut guard = LabGuard {
            run,
            paths: scenario.paths.len(),
            emulator: None,
            start: std::time::Instant::now(),
            torn_down: false,
        };
        guard.build(scenario)?;
        Ok(guard)
    }

    /// The addresses a Braid process owns on `side` for a lab of `paths`
    /// paths: `10.0.<i>.100` (client) or `10.1.<i>.100` (server), path 1
    /// first. See [`LabGuard::route_braid`].
    pub fn braid_addresses(side: Side, paths: usize) -> Vec<Ipv4Addr> {
        (1..=paths).map(|i| topology::braid_addr(side, i)).collect()
    }
}

/// A running lab. Dropping it stops the emulator and deletes the
/// namespaces (also while unwinding from a panic).
#[derive(Debug)]
pub struct LabGuard {
    run: String,
    paths: usize,
    emulator: Option<Emulator>,
    start: std::time::Instant,
    torn_down: bool,
}

impl LabGuard {
    fn build(&mut self, scenario: &Scenario) -> Result<(), LabError> {
        for side in Side::ALL {
            netns::ip(&["netns", "add", &self.namespace(side)])?;
            netns::run_in(&self.namespace(side), || {
                for (key, value) in topology::SYSCTLS {
                    netns::sysctl(key, value)?;
                }
                Ok(())
            })?;
        }
        let ns = |side: Side| self.namespace(side);
        netns::ip_batch(None, &topology::veth_commands(&ns, self.paths))?;
        netns::ip_batch(
            Some(&ns(Side::Emu)),
            &topology::emu_link_commands(self.paths),
        )?;
        for side in [Side::Client, Side::Server] {
            netns::ip_batch(Some(&ns(side)), &topology::end_commands(side, self.paths))?;
            let paths = self.paths;
            netns::run_in(&ns(side), || {
                for i in 1..=paths {
                    let dev = topology::veth_name(side, i);
                    netns::sysctl(&format!("net.ipv4.conf.{dev}.proxy_arp"), "1")?;
                    netns::sysctl(&format!("net.ipv4.conf.{dev}.rp_filter"), "0")?;
                    // Proxy ARP answers at once, not after a random delay
                    // of up to 0.8 s (the kernel's default proxy_delay).
                    netns::sysctl(&format!("net.ipv4.neigh.{dev}.proxy_delay"), "0")?;
                }
                Ok(())
            })?;
        }
        let configs = scenario
            .paths
            .iter()
            .map(|p| (p.up.clone(), p.down.clone()))
            .collect();
        let shared = scenario
            .bottlenecks
            .iter()
            .map(|b| SharedLink {
                up: b.up.clone(),
                down: b.down.clone(),
                paths: b.paths.clone(),
            })
            .collect();
        let mut emulator = Emulator::spawn(&ns(Side::Emu), configs, shared, scenario.seed)?;
        netns::ip_batch(
            Some(&ns(Side::Emu)),
            &topology::emu_route_commands(self.paths),
        )?;
        self.start = std::time::Instant::now();
        emulator.start(self.start);
        self.emulator = Some(emulator);
        tracing::info!(run = %self.run, paths = self.paths, "lab up");
        Ok(())
    }

    /// The run's name, `braid-<pid>-<hex>`; its namespaces are
    /// `<name>-cli`, `<name>-emu`, `<name>-srv`.
    pub fn name(&self) -> &str {
        &self.run
    }

    /// The name of `side`'s namespace.
    pub fn namespace(&self, side: Side) -> String {
        format!("{}-{}", self.run, side.suffix())
    }

    /// Number of paths.
    pub fn paths(&self) -> usize {
        self.paths
    }

    /// The client kernel's address on path `path` (1-based): `10.0.<path>.2`.
    pub fn client_addr(&self, path: usize) -> Ipv4Addr {
        topology::host_addr(Side::Client, path)
    }

    /// The server kernel's address on path `path` (1-based): `10.1.<path>.2`.
    pub fn server_addr(&self, path: usize) -> Ipv4Addr {
        topology::host_addr(Side::Server, path)
    }

    /// Time since `t = 0` of the scenario's timeline.
    pub fn elapsed(&self) -> StdDuration {
        self.start.elapsed()
    }

    /// `t = 0` of the scenario's timeline.
    pub fn start_time(&self) -> std::time::Instant {
        self.start
    }

    /// Sleeps until `t` seconds into the timeline (returns at once if past).
    pub fn sleep_until(&self, t: StdDuration) {
        std::thread::sleep((self.start + t).saturating_duration_since(std::time::Instant::now()));
    }

    /// A command that runs `program` inside `side`'s namespace
    /// (`ip netns exec <ns> program`); add arguments and run it.
    pub fn command(&self, side: Side, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespace(side), program]);
        cmd
    }

    /// Runs `f` on a new thread inside `side`'s namespace: sockets and TUN
    /// devices it opens live there.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        side: Side,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T, LabError>> {
        netns::spawn_in(&self.namespace(side), f)
    }

    /// False if the emulator thread has ended on its own (a failure;
    /// [`LabGuard::down`] returns its error).
    pub fn emulator_running(&self) -> bool {
        self.emulator.as_ref().is_some_and(|e| e.is_running())
    }

    /// The emulator's counters, per path (refreshed every 100 ms).
    pub fn stats(&self) -> Vec<PathStats> {
        self.emulator
            .as_ref()
            .map(|e| e.stats())
            .unwrap_or_default()
    }

    /// The counters of each shared bottleneck, in the scenario's order
    /// (`up`/`down` as for a path; refreshed every 100 ms).
    pub fn bottleneck_stats(&self) -> Vec<PathStats> {
        self.emulator
            .as_ref()
            .map(|e| e.shared_stats())
            .unwrap_or_default()
    }

    /// The addresses a Braid process owns on `side`, path 1 first
    /// (`10.0.<i>.100` client side, `10.1.<i>.100` server side).
    pub fn braid_addresses(&self, side: Side) -> Vec<Ipv4Addr> {
        Lab::braid_addresses(side, self.paths)
    }

    /// Routes `side`'s Braid addresses to TUN device `tun`, which the
    /// caller has already created (and brought up) in that namespace, for
    /// example from [`LabGuard::spawn_in`]. The namespace already forwards
    /// (`ip_forward=1`), does no reverse-path filtering (`rp_filter=0`),
    /// answers ARP for the Braid addresses on its path veths
    /// (`proxy_arp=1`), and routes by source (`ip rule from 10.x.<i>.0/24
    /// lookup 10<i>`, which covers `10.x.<i>.100`). This adds, per path:
    /// `ip route add 10.x.<i>.100/32 dev <tun>` and `ip rule add to
    /// 10.x.<i>.100 lookup main pref 100`. A SYN Braid writes into the TUN
    /// from `10.x.<i>.100` leaves by path `i`; the answer comes back into
    /// the TUN; the kernel never owns the address, so it never answers
    /// Braid's segments with resets.
    pub fn route_braid(&self, side: Side, tun: &str) -> Result<(), LabError> {
        if side == Side::Emu {
            return Err(LabError::Invalid(
                "Braid addresses live on the client or server side".into(),
            ));
        }
        let ns = self.namespace(side);
        netns::run_in(&ns, || {
            netns::sysctl(&format!("net.ipv4.conf.{tun}.rp_filter"), "0")
        })?;
        netns::ip_batch(Some(&ns), &topology::braid_commands(side, self.paths, tun))
    }

    /// Stops the emulator and deletes the namespaces, reporting errors
    /// (dropping the guard does the same and ignores them). Returns the
    /// emulator's final counters.
    pub fn down(mut self) -> Result<Vec<PathStats>, LabError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<Vec<PathStats>, LabError> {
        if self.torn_down {
            return Ok(Vec::new());
        }
        self.torn_down = true;
        let (mut result, stats) = match self.emulator.take() {
            Some(mut e) => {
                let r = e.stop();
                (r, e.stats())
            }
            None => (Ok(()), Vec::new()),
        };
        for side in Side::ALL {
            if let Err(e) = netns::delete(&self.namespace(side)) {
                result = result.and(Err(e));
            }
        }
        tracing::info!(run = %self.run, "lab down");
        result.map(|()| stats)
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::warn!(run = %self.run, error = %e, "lab teardown");
        }
    }
}

/// Splits a lab namespace name into (run, side suffix) if it is one:
/// `braid-<pid>-<hex>-<cli|emu|srv>`.
fn parse_ns(name: &str) -> Option<(&str, u32)> {
    let (run, suffix) = name.rsplit_once('-')?;
    if !["cli", "emu", "srv"].contains(&suffix) {
        return None;
    }
    let rest = run.strip_prefix(PREFIX)?;
    let (pid, hex) = rest.split_once('-')?;
    let pid: u32 = pid.parse().ok()?;
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some((run, pid))
}

/// Best-effort cleanup of leftovers from killed processes. `Some(run)`
/// deletes that run's namespaces; `None` deletes every lab namespace
/// whose owning process (the pid in its name) no longer exists, so runs
/// in progress are left alone. Returns the namespaces deleted.
pub fn down(run: Option<&str>) -> Result<Vec<String>, LabError> {
    ensure_root()?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for ns in netns::list() {
        let Some((ns_run, pid)) = parse_ns(&ns) else {
            continue;
        };
        let wanted = match run {
            Some(r) => r == ns_run,
            None => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        };
        if wanted {
            match netns::delete(&ns) {
                Ok(()) => deleted.push(ns),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    if let Some(r) = run {
        if deleted.is_empty() && errors.is_empty() {
            return Err(LabError::Invalid(format!(
                "no lab run named {r:?} (see `ip netns list`)"
            )));
        }
    }
    if errors.is_empty() {
        Ok(deleted)
    } else {
        Err(LabError::Invalid(errors.join("; ")))
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread (and threads it spawns
/// later) and returns the set, for [`SigSet::wait`]. Call it before
/// [`Lab::up`], then wait: the signal ends the wait instead of the process,
/// so the guard's cleanup runs.
pub fn termination_signals() -> Result<SigSet, LabError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().map_err(|e| LabError::Io {
        what: "blocking SIGINT/SIGTERM".into(),
        error: e.into(),
    })?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_parse() {
        assert_eq!(
            parse_ns("braid-123-0abcde-cli"),
            Some(("braid-123-0abcde", 123))
        );
        assert_eq!(parse_ns("braid-9-ff-srv"), Some(("braid-9-ff", 9)));
        assert_eq!(parse_ns("braid-9-ff-xyz"), None);
        assert_eq!(parse_ns("other-9-ff-cli"), None);
        assert_eq!(parse_ns("braid-x-ff-cli"), None);
    }
}
