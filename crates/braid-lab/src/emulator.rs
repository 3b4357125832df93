//! The real-time link emulator: braid-sim's [`LinkDirection`] on the wall
//! clock, between TUN devices in the emulator namespace.
//!
//! Per path `i` (1-based) and direction the emulator owns one TUN device:
//! `p<i>up` (client to server) and `p<i>dn` (server to client). Policy
//! routing in the emulator namespace (see `crate::topology`) sends every
//! packet arriving from the client on path `i` into `p<i>up`, and every
//! packet for a client address of path `i` into `p<i>dn`. The emulator
//! reads a packet, offers it to that direction's [`LinkDirection`] at the
//! current time, and writes each resulting copy back into the same TUN at
//! its due time; the kernel then forwards it by destination (the packet now
//! arrives *from* the TUN, so the steering rules no longer match).
//!
//! Time: `t = 0` is [`Emulator::start`]; `std::time::Instant` maps to
//! `braid_proto::time::Instant` as microseconds since then. One thread
//! serves every device: it sleeps in `ppoll(2)` until a device is readable
//! or the earliest due packet (a binary heap) is due, with the thread's
//! timer slack at 1 us, so deliveries are late by tens of microseconds, not
//! milliseconds; it runs at real-time priority `SCHED_FIFO` 1 when it can
//! (see [`RT_ENV`]). Packet buffers come from a free list and go back to it on
//! delivery: the hot path allocates nothing once warm.
//!
//! Shared bottlenecks ([`SharedLink`]): a packet of a path that crosses one
//! leaves its path's [`LinkDirection`] and, at that due time, enters the
//! bottleneck's [`LinkDirection`] for its direction, one for all its paths
//! (one queue, one rate), before it is written back into its own TUN. The
//! paths' packets therefore compete there as at a real router.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use braid_proto::time::Instant;
use braid_sim::{DirStats, LinkConfig, LinkDirection};
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::LabError;

/// MTU of the emulator's TUN devices (the veths use 1500).
pub const TUN_MTU: u16 = 1500;

/// Longest sleep between checks of the stop flag.
const MAX_SLEEP: StdDuration = StdDuration::from_millis(20);

/// Packets read from one device before the others get a turn.
const READ_BURST: usize = 64;

/// How often the shared statistics are refreshed.
const STATS_EVERY: StdDuration = StdDuration::from_millis(100);

/// Name of the TUN device of path `path` (1-based), direction `up`.
pub fn tun_name(path: usize, up: bool) -> String {
    format!("p{path}{}", if up { "up" } else { "dn" })
}

/// Counters of both directions of one path.
#[derive(Debug, Clone)]
pub struct PathStats {
    /// Client to server.
    pub up: DirStats,
    /// Server to client.
    pub down: DirStats,
    /// Packets the emulator could not write back (TUN errors).
    pub write_errors: u64,
    /// How late packets were handed on, both directions.
    pub lateness: Lateness,
}

/// How late the emulator handed packets on, relative to the due times the
/// link model computed (the emulator's timing error).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lateness {
    /// Packets handed on.
    pub packets: u64,
    /// Sum of the delays past due, microseconds.
    pub total_us: u64,
    /// Largest delay past due, microseconds.
    pub max_us: u64,
    /// Packets handed on more than 1 ms past due.
    pub over_1ms: u64,
}

impl Lateness {
    fn record(&mut self, late_us: u64) {
        self.packets += 1;
        self.total_us += late_us;
        self.max_us = self.max_us.max(late_us);
        self.over_1ms += u64::from(late_us > 1000);
    }

    fn merge(&self, other: &Lateness) -> Lateness {
        Lateness {
            packets: self.packets + other.packets,
            total_us: self.total_us + other.total_us,
            max_us: self.max_us.max(other.max_us),
            over_1ms: self.over_1ms + other.over_1ms,
        }
    }

    /// Mean delay past due, microseconds (0 if nothing was handed on).
    pub fn mean_us(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.total_us as f64 / self.packets as f64
        }
    }
}

/// A link several paths cross (a scenario's `[[bottleneck]]`).
#[derive(Debug, Clone)]
pub struct SharedLink {
    /// Client to server.
    pub up: LinkConfig,
    /// Server to client.
    pub down: LinkConfig,
    /// The paths that cross it, 1-based; a path crosses at most one.
    pub paths: Vec<usize>,
}

/// A running emulator thread.
#[derive(Debug)]
pub struct Emulator {
    paths: usize,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), LabError>>>,
    go: Option<mpsc::Sender<std::time::Instant>>,
    stats: Arc<Mutex<Vec<PathStats>>>,
}

impl Emulator {
    /// Spawns the emulator thread in namespace `ns` and creates its TUN
    /// devices (returns once they exist). `configs[i]` is path `i + 1`'s
    /// (up, down) pair; `shared` are the links several paths cross.
    /// Packets are only read after [`Emulator::start`].
    pub fn spawn(
        ns: &str,
        configs: Vec<(LinkConfig, LinkConfig)>,
        shared: Vec<SharedLink>,
        seed: u64,
    ) -> Result<Emulator, LabError> {
        let paths = configs.len();
        for link in &shared {
            if let Some(p) = link.paths.iter().find(|&&p| p == 0 || p > paths) {
                return Err(LabError::Invalid(format!(
                    "shared link: path {p} does not exist ({paths} paths)"
                )));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let empty = DirStats::default();
        let stats = Arc::new(Mutex::new(
            (0..paths + shared.len())
                .map(|_| PathStats {
                    up: empty.clone(),
                    down: empty.clone(),
                    write_errors: 0,
                    lateness: Lateness::default(),
                })
                .collect::<Vec<_>>(),
        ));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LabError>>();
        let (go_tx, go_rx) = mpsc::channel::<std::time::Instant>();
        let ns_owned = ns.to_owned();
        let thread = {
            let stop = stop.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("braid-lab-emulator".into())
                .spawn(move || {
                    let setup = (|| {
                        crate::netns::enter(&ns_owned)?;
                        // Best effort: wake-ups close to the requested time.
                        let _ = nix::sys::prctl::set_timerslack(1_000);
                        raise_priority();
                        open_devices(paths)
                    })();
                    let devices = match setup {
                        Ok(d) => {
                            let _ = ready_tx.send(Ok(()));
                            d
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    // Dropped sender (setup failed elsewhere): just exit.
                    let Ok(start) = go_rx.recv() else {
                        return Ok(());
                    };
                    run(devices, configs, shared, seed, start, &stop, &stats)
                })
                .map_err(|e| LabError::Io {
                    what: "spawning the emulator thread".into(),
                    error: e,
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Emulator {
                paths,
                stop,
                thread: Some(thread),
                go: Some(go_tx),
                stats,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(LabError::Emulator(
                    "emulator thread died during setup".into(),
                ))
            }
        }
    }

    /// Starts emulating; `start` is `t = 0` of every timeline.
    pub fn start(&mut self, start: std::time::Instant) {
        if let Some(go) = self.go.take() {
            let _ = go.send(start);
        }
    }

    /// The latest counters per path (refreshed every 100 ms and at stop).
    pub fn stats(&self) -> Vec<PathStats> {
        self.stats
            .lock()
            .map(|s| s[..self.paths].to_vec())
            .unwrap_or_default()
    }

    /// The latest counters of each shared link, in the order given to
    /// [`Emulator::spawn`] (`write_errors` and `lateness` stay zero: they
    /// count per path).
    pub fn shared_stats(&self) -> Vec<PathStats> {
        self.stats
            .lock()
            .map(|s| s[self.paths..].to_vec())
            .unwrap_or_default()
    }

    /// False once the emulator thread has ended (stopped, or failed: then
    /// [`Emulator::stop`] returns the error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and returns its outcome.
    pub fn stop(&mut self) -> Result<(), LabError> {
        self.stop.store(true, Ordering::Relaxed);
        self.go.take();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(LabError::Emulator("emulator thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The environment variable that, set to `0`, keeps the emulator thread
/// at normal priority.
pub const RT_ENV: &str = "BRAID_LAB_RT";

/// Best effort: runs the calling thread under `SCHED_FIFO` priority 1
/// (`chrt`), so other processes' CPU load does not delay deliveries. The
/// thread sleeps in `ppoll` between packets, and the kernel's RT
/// throttling (`sched_rt_runtime_us`) bounds it if traffic saturates it.
fn raise_priority() {
    if std::env::var(RT_ENV).as_deref() == Ok("0") {
        return;
    }
    let tid = nix::unistd::gettid().to_string();
    let ok = std::process::Command::new("chrt")
        .args(["-f", "-p", "1", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        tracing::debug!("emulator thread stays at normal priority (chrt failed)");
    }
}

/// Creates the TUN devices, up-direction first per path:
/// `[p1up, p1dn, p2up, p2dn, ...]`.
fn open_devices(paths: usize) -> Result<Vec<SyncDevice>, LabError> {
    let mut devices = Vec::with_capacity(2 * paths);
    for path in 1..=paths {
        for up in [true, false] {
            let name = tun_name(path, up);
            let dev = DeviceBuilder::new()
                .name(&name)
                .mtu(TUN_MTU)
                .enable(true)
                .build_sync()
                .map_err(|e| LabError::Io {
                    what: format!("creating TUN device {name}"),
                    error: e,
                })?;
            dev.set_nonblocking(true).map_err(|e| LabError::Io {
                what: format!("making {name} non-blocking"),
                error: e,
            })?;
            devices.push(dev);
        }
    }
    Ok(devices)
}

/// A packet waiting for its due time: (due, sequence, index of the link
/// direction it is crossing, index of the device it came from, bytes).
type Pending = Reverse<(Instant, u64, usize, usize, Vec<u8>)>;

fn to_sim(start: std::time::Instant, at: std::time::Instant) -> Instant {
    Instant::from_micros(
        u64::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX),
    )
}

fn to_std(start: std::time::Instant, at: Instant) -> std::time::Instant {
    start + StdDuration::from_micros(at.total_micros())
}

/// The emulator loop (see the module docs).
fn run(
    devices: Vec<SyncDevice>,
    configs: Vec<(LinkConfig, LinkConfig)>,
    links: Vec<SharedLink>,
    seed: u64,
    start: std::time::Instant,
    stop: &AtomicBool,
    shared: &Mutex<Vec<PathStats>>,
) -> Result<(), LabError> {
    // Directions: path i up at 2i, down at 2i + 1 (the device indices),
    // then shared link b's up and down at 2 * (paths + b) and + 1.
    let devs = 2 * configs.len();
    // next[d]: the shared link direction device d's packets cross next.
    let mut next: Vec<Option<usize>> = vec![None; devs];
    for (b, link) in links.iter().enumerate() {
        for &p in &link.paths {
            next[2 * (p - 1)] = Some(devs + 2 * b);
            next[2 * (p - 1) + 1] = Some(devs + 2 * b + 1);
        }
    }
    // Each direction gets its own stream: seed mixed with its index.
    let mut dirs: Vec<LinkDirection> = configs
        .into_iter()
        .chain(links.into_iter().map(|l| (l.up, l.down)))
        .flat_map(|(up, down)| [up, down])
        .enumerate()
        .map(|(i, c)| LinkDirection::new(c, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64))
        .collect();
    let mut write_errors = vec![0u64; devs];
    let mut lateness = vec![Lateness::default(); devs];
    let mut pending: BinaryHeap<Pending> = BinaryHeap::new();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut out: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut scratch = vec![0u8; 65_536];
    let mut seq = 0u64;
    let mut fds: Vec<PollFd<'_>> = devices
        .iter()
        .map(|d| PollFd::new(d.as_fd(), PollFlags::POLLIN))
        .collect();
    let mut next_stats = std::time::Instant::now();
    loop {
        // Deliver everything due.
        let now = std::time::Instant::now();
        let sim_now = to_sim(start, now);
        while pending.peek().is_some_and(|p| p.0.0 <= sim_now) {
            let Some(Reverse((due, _, dir, dev, buf))) = pending.pop() else {
                break;
            };
            if let Some(link) = next.get(dir).copied().flatten() {
                // Out of its own path, into the shared link. Pops come in
                // due order, so the shared link's arrivals never go back.
                dirs[dir].record_delivery(due, buf.len());
                dirs[link].admit(due, buf, &mut out);
                for (due, packet) in out.drain(..) {
                    seq += 1;
                    pending.push(Reverse((due, seq, link, dev, packet)));
                }
                continue;
            }
            match devices[dev].send(&buf) {
                Ok(_) => {
                    let late =
                        std::time::Instant::now().saturating_duration_since(to_std(start, due));
                    lateness[dev].record(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
                    dirs[dir].record_delivery(sim_now, buf.len());
                }
                Err(e) => {
                    write_errors[dev] += 1;
                    tracing::debug!(dev, error = %e, "TUN write failed");
                }
            }
            pool.push(buf);
        }
        if now >= next_stats || stop.load(Ordering::Relaxed) {
            publish(&dirs, &write_errors, &lateness, shared);
            next_stats = now + STATS_EVERY;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        // Sleep until a device is readable or the next packet is due.
        let sleep = pending
            .peek()
            .map(|p| to_std(start, p.0.0).saturating_duration_since(now))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        match ppoll(&mut fds, Some(TimeSpec::from_duration(sleep)), None) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(LabError::Emulator(format!("ppoll: {e}"))),
        }
        for (dev, fd) in fds.iter().enumerate() {
            if !fd.any().unwrap_or(false) {
                continue;
            }
            for _ in 0..READ_BURST {
                let n = match devices[dev].recv(&mut scratch) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(LabError::Emulator(format!("TUN read: {e}"))),
                };
                let mut buf = pool
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(usize::from(TUN_MTU) + 64));
                buf.clear();
                buf.extend_from_slice(&scratch[..n]);
                let arrived = to_sim(start, std::time::Instant::now());
                dirs[dev].admit(arrived, buf, &mut out);
                for (due, packet) in out.drain(..) {
                    seq += 1;
                    pending.push(Reverse((due, seq, dev, dev, packet)));
                }
            }
        }
    }
}

fn publish(
    dirs: &[LinkDirection],
    write_errors: &[u64],
    lateness: &[Lateness],
    shared: &Mutex<Vec<PathStats>>,
) {
    let Ok(mut s) = shared.lock() else {
        return;
    };
    for (i, p) in s.iter_mut().enumerate() {
        p.up.clone_from(dirs[2 * i].stats());
        p.down.clone_from(dirs[2 * i + 1].stats());
        if 2 * i < write_errors.len() {
            p.write_errors = write_errors[2 * i] + write_errors[2 * i + 1];
            p.lateness = lateness[2 * i].merge(&lateness[2 * i + 1]);
        }
    }
}
