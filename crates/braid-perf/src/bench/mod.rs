//! `braid lab bench`: the same scenario, the same emulated paths, both
//! stacks, one run; medians and the ratio braid/kernel.
//!
//! Each run brings a fresh lab up ([`braid_lab::Lab::up`]: blackouts and
//! traces start at its t = 0), prepares it for the stack ([`setup`]),
//! starts `braid perf server --once --json` in the server namespace and
//! `braid perf client --json` in the client namespace (this very binary,
//! `std::env::current_exe()`), collects both reports and tears the lab
//! down. With `--stack both` the runs alternate kernel, braid, kernel, ...
//! so slow drift of a shared machine hits both stacks alike.
//!
//! A scenario with a `[competitor]` also gets a plain kernel TCP flow
//! (`braid perf --stack tcp`, its own server on [`COMPETITOR_PORT`])
//! between the kernel's addresses of the competitor's path, started with
//! the MPTCP client and timed like it (`workload.duration_s`); each run
//! reports its goodput and the ratio MPTCP / TCP.
//!
//! A stack whose first run fails is not run again and is reported
//! unavailable with that error; numbers are never made up for it.
//!
//! The emulator runs in this process: build it with `--release` for
//! benchmarks (timing matters); debug builds are for the smoke test.

mod setup;
pub mod summary;
pub mod svg;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use braid_lab::{Lab, LabGuard, Scenario, Side, WorkloadDirection};
use clap::Args;

use crate::report::{PerfResult, ServerSession, human_bytes, human_rate};
use crate::stack::Stack;
pub use setup::PORT;
use summary::{BenchReport, Extremes, Outage, Ratio, RunFigures, StackSummary};

/// How long the server may take to start listening.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to print its report after the client ends.
const SERVER_EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-interval sampling of the client (the SVG's resolution).
const INTERVAL_MS: u64 = 100;
/// The port the competing plain TCP flow's server listens on.
pub const COMPETITOR_PORT: u16 = PORT + 1;

/// Which stacks to bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stacks {
    /// Braid's userspace MPTCP.
    Braid,
    /// The Linux kernel's MPTCP.
    Kernel,
    /// Both, alternating runs.
    Both,
    /// Braid over UDP (`braid perf --stack braid-udp`), reported in the
    /// braid column.
    #[value(name = "braid-udp")]
    BraidUdp,
}

/// `braid lab bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The scenario file (TOML with a [workload], see scenarios/README.md).
    pub scenario: PathBuf,
    /// Which stacks to run.
    #[arg(long, value_enum, default_value_t = Stacks::Both)]
    pub stack: Stacks,
    /// Runs per stack.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub runs: u16,
    /// Print one JSON object (the report) on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Plot throughput over time per path, first run of each stack, to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Congestion control of both stacks (`braid perf --cc`): the kernel's
    /// sockets get it as TCP_CONGESTION (the lab namespaces otherwise
    /// inherit the host's default, maybe bbr), Braid takes cubic or
    /// newreno. The kernel's, as read back, is in the report (`cc`).
    #[arg(long, value_name = "NAME", default_value = "cubic")]
    pub cc: String,
    /// Braid's packet scheduler (`braid perf --scheduler`): minrtt
    /// (default), roundrobin, redundant, ecf, blest or interactive. The kernel's is
    /// its net.mptcp.scheduler, reported.
    #[arg(long, value_name = "NAME")]
    pub scheduler: Option<String>,
}

/// Runs `braid lab bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let scenario = Scenario::from_file(&args.scenario)?;
    let Some(workload) = &scenario.workload else {
        bail!(
            "{}: no [workload]: a bench needs workload.bytes or workload.duration_s",
            args.scenario.display()
        );
    };
    if workload.bytes.is_none() && workload.duration_s.is_none() {
        bail!(
            "{}: [workload] needs bytes or duration_s",
            args.scenario.display()
        );
    }
    if let Some(name) = &args.scheduler {
        crate::stack::braid_scheduler(name)?;
    }
    braid_lab::ensure_root()?;
    let exe = std::env::current_exe().context("finding the braid binary")?;
    let stacks: &[Stack] = match args.stack {
        Stacks::Braid => &[Stack::Braid],
        Stacks::Kernel => &[Stack::Kernel],
        Stacks::Both => &[Stack::Kernel, Stack::Braid],
        Stacks::BraidUdp => &[Stack::BraidUdp],
    };
    let paths: Vec<String> = scenario.paths.iter().map(|p| p.name.clone()).collect();
    let outages = outages(&scenario);
    let runs = usize::from(args.runs);
    let mut state: Vec<StackRuns> = stacks.iter().map(|&s| StackRuns::new(s)).collect();
    for run in 1..=runs {
        for st in state.iter_mut() {
            if st.given_up {
                continue;
            }
            match run_once(
                &scenario,
                st.stack,
                &exe,
                &args.cc,
                args.scheduler.as_deref(),
            ) {
                Ok(Outcome {
                    client,
                    server,
                    competitor,
                    lab_start_unix_s,
                }) => {
                    let mut fig = RunFigures::new(
                        run,
                        &client,
                        server.as_ref(),
                        competitor.as_ref(),
                        &paths,
                        scenario.bound_ms,
                    );
                    if let Some(t0) = lab_start_unix_s {
                        fig.set_path_returns(summary::path_returns(&client, &outages, t0));
                    }
                    progress(&format!(
                        "{} run {run}/{runs}: {}",
                        st.stack,
                        run_line(&fig)
                    ));
                    st.figures.push(fig);
                    if st.plotted.is_none() {
                        st.plotted = Some(client);
                    }
                }
                Err(e) => {
                    // Reported in the summary (and the error when no
                    // stack ran), not here: one line for `--stack braid`.
                    let msg = format!("{e:#}");
                    st.given_up = st.figures.is_empty();
                    st.failed.push(msg);
                }
            }
        }
    }
    if let Some(file) = &args.svg {
        let panels: Vec<svg::Panel<'_>> = state
            .iter()
            .filter_map(|st| {
                Some(svg::Panel {
                    title: format!("{}, run 1", st.stack),
                    result: st.plotted.as_ref()?,
                })
            })
            .collect();
        if !panels.is_empty() {
            svg::draw(file, &scenario.name, &paths, &panels)?;
            progress(&format!("wrote {}", file.display()));
        }
    }
    let all_failed = state.iter().all(|st| st.figures.is_empty());
    let mut summaries = state
        .into_iter()
        .map(|st| StackSummary::new(st.stack, st.figures, st.failed, scenario.bound_ms));
    let (mut kernel, mut braid) = (None, None);
    for s in summaries.by_ref() {
        match s.stack {
            Stack::Braid | Stack::BraidUdp => braid = Some(s),
            _ => kernel = Some(s),
        }
    }
    let report = BenchReport {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        workload: describe_workload(&scenario),
        runs_per_stack: runs,
        competitor: scenario.competitor.as_ref().map(|c| {
            format!(
                "plain TCP (kernel, {}) on path {}, same direction and time",
                c.cc, c.path
            )
        }),
        ratio: Ratio::of(braid.as_ref(), kernel.as_ref()),
        kernel,
        braid,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !all_failed {
        print_table(&report);
    }
    if all_failed {
        let first = [&report.kernel, &report.braid]
            .into_iter()
            .flatten()
            .find_map(|s| {
                s.error
                    .clone()
                    .map(|e| format!("{} stack unavailable: {e}", s.stack))
            })
            .unwrap_or_else(|| "no run succeeded".into());
        bail!("{first}");
    }
    Ok(())
}

/// One stack's runs so far.
#[derive(Debug)]
struct StackRuns {
    stack: Stack,
    figures: Vec<RunFigures>,
    failed: Vec<String>,
    given_up: bool,
    plotted: Option<PerfResult>,
}

impl StackRuns {
    fn new(stack: Stack) -> Self {
        Self {
            stack,
            figures: Vec::new(),
            failed: Vec::new(),
            given_up: false,
            plotted: None,
        }
    }
}

/// Progress lines go to stderr, so `--json` leaves stdout to the report.
fn progress(line: &str) {
    eprintln!("bench: {line}");
}

/// "16.00 MiB upload" / "10 s download".
fn describe_workload(s: &Scenario) -> String {
    let Some(w) = &s.workload else {
        return String::new();
    };
    let size = match (w.bytes, w.duration_s) {
        (Some(b), _) => human_bytes(b),
        (None, Some(d)) => format!("{d} s"),
        (None, None) => String::new(),
    };
    let dir = match w.direction {
        WorkloadDirection::Upload => "upload",
        WorkloadDirection::Download => "download",
    };
    let mut out = format!("{size} {dir}");
    if let Some(r) = w.rcvbuf_bytes {
        out.push_str(&format!(", rcvbuf {}", human_bytes(r)));
    }
    out
}

/// Every blackout window of every path in the payload's direction
/// (download: server to client), lab seconds.
fn outages(s: &Scenario) -> Vec<Outage> {
    let download = s
        .workload
        .as_ref()
        .is_some_and(|w| w.direction == WorkloadDirection::Download);
    s.paths
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let link = if download { &p.down } else { &p.up };
            link.blackouts.iter().map(move |b| Outage {
                path: i + 1,
                name: p.name.clone(),
                start_s: b.start.as_secs_f64(),
                end_s: b.end.as_secs_f64(),
            })
        })
        .collect()
}

/// What one run produced.
struct Outcome {
    /// The lab's `t = 0`, seconds since the UNIX epoch.
    lab_start_unix_s: Option<f64>,
    /// The MPTCP client's report.
    client: PerfResult,
    /// The MPTCP server's report, if it printed one.
    server: Option<ServerSession>,
    /// The competing TCP flow's client report (scenarios with one).
    competitor: Option<PerfResult>,
}

/// The competing flow's `braid perf` client and server.
struct CompetitorRun {
    server: Spawned,
    client: Option<Spawned>,
}

/// Starts the competing flow's server (plain TCP, kernel) and waits until
/// it listens.
fn start_competitor_server(
    lab: &LabGuard,
    exe: &Path,
    c: &braid_lab::Competitor,
) -> anyhow::Result<CompetitorRun> {
    let mut server = Spawned(
        lab.command(Side::Server, &exe.to_string_lossy())
            .args(["perf", "server", "--once", "--json", "--stack", "tcp"])
            .arg("--listen")
            .arg(format!("0.0.0.0:{COMPETITOR_PORT}"))
            .args(["--cc", &c.cc])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the competing flow's braid perf server")?,
    );
    wait_listening(lab, &mut server, Stack::Tcp, COMPETITOR_PORT)
        .context("the competing flow's server")?;
    Ok(CompetitorRun {
        server,
        client: None,
    })
}

/// The competing flow's client: plain TCP from the kernel's address on
/// the competitor's path, the workload's direction and duration.
fn start_competitor_client(
    lab: &LabGuard,
    exe: &Path,
    c: &braid_lab::Competitor,
    w: &braid_lab::Workload,
    run: &mut CompetitorRun,
) -> anyhow::Result<()> {
    let Some(secs) = w.duration_s else {
        bail!("[competitor] needs workload.duration_s");
    };
    let child = lab
        .command(Side::Client, &exe.to_string_lossy())
        .args(["perf", "client", "--json", "--stack", "tcp"])
        // Few samples: its stdout is read once it has exited.
        .args(["--interval-ms", "1000"])
        .arg("--connect")
        .arg(format!("{}:{COMPETITOR_PORT}", lab.server_addr(c.path)))
        .arg("--local")
        .arg(format!("{}:0", lab.client_addr(c.path)))
        .args(["--direction", direction_name(w.direction)])
        .args(["--time", &secs.to_string()])
        .args(["--cc", &c.cc])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the competing flow's braid perf client")?;
    run.client = Some(Spawned(child));
    Ok(())
}

/// Waits for the competing flow to end and returns its client's report.
fn finish_competitor(mut run: CompetitorRun) -> anyhow::Result<PerfResult> {
    let Some(mut client) = run.client.take() else {
        bail!("the competing flow's client did not start");
    };
    let (out, err) = client.finish(SERVER_EXIT_TIMEOUT);
    let (_, server_err) = run.server.finish(SERVER_EXIT_TIMEOUT);
    let result: Option<PerfResult> = serde_json::from_str(out.trim()).ok();
    let Some(result) = result else {
        bail!(
            "competing TCP flow: {}",
            err.or(server_err)
                .unwrap_or_else(|| "its client printed no report".into())
        );
    };
    if !result.verified {
        bail!("competing TCP flow: payload not verified");
    }
    Ok(result)
}

fn direction_name(d: WorkloadDirection) -> &'static str {
    match d {
        WorkloadDirection::Upload => "upload",
        WorkloadDirection::Download => "download",
    }
}

/// One run: a fresh lab, a server, a client, both reports (and the
/// competing flow's, if the scenario has one).
fn run_once(
    scenario: &Scenario,
    stack: Stack,
    exe: &Path,
    cc: &str,
    scheduler: Option<&str>,
) -> anyhow::Result<Outcome> {
    let lab = Lab::up(scenario)?;
    let ends = setup::prepare(&lab, scenario, stack)?;
    let mut competitor = match &scenario.competitor {
        Some(c) => Some(start_competitor_server(&lab, exe, c)?),
        None => None,
    };
    let mut server = Spawned(
        lab.command(Side::Server, &exe.to_string_lossy())
            .args([
                "perf",
                "server",
                "--once",
                "--json",
                "--stack",
                stack.name(),
            ])
            .arg("--listen")
            .arg(ends.listen.to_string())
            .args(braid_buffers(scenario, stack))
            .args(braid_subflow_limit(scenario, stack))
            .args(braid_scheduler_args(stack, scheduler))
            .args(["--cc", cc])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting braid perf server")?,
    );
    wait_listening(&lab, &mut server, stack, PORT)?;
    // Defaults above (Some) by construction: checked in `run`.
    let w = scenario.workload.clone().unwrap_or_default();
    let mut client = lab.command(Side::Client, &exe.to_string_lossy());
    client
        .args(["perf", "client", "--json", "--stack", stack.name()])
        .args(["--interval-ms", &INTERVAL_MS.to_string()])
        .args(["--connect", &ends.connect.to_string()])
        .args(["--direction", direction_name(w.direction)]);
    for l in &ends.local {
        client.args(["--local", &l.to_string()]);
    }
    client.args(braid_buffers(scenario, stack));
    client.args(braid_subflow_limit(scenario, stack));
    client.args(braid_scheduler_args(stack, scheduler));
    client.args(["--cc", cc]);
    match (w.bytes, w.duration_s) {
        (Some(b), _) => client.args(["--bytes", &b.to_string()]),
        (None, Some(d)) => client.args(["--time", &d.to_string()]),
        (None, None) => bail!("the workload has neither bytes nor duration_s"),
    };
    if let (Some(c), Some(run)) = (&scenario.competitor, competitor.as_mut()) {
        start_competitor_client(&lab, exe, c, &w, run)?;
    }
    let out = client.output().context("running braid perf client")?;
    let client_err = last_line(&out.stderr);
    let result: Option<PerfResult> = serde_json::from_slice(&out.stdout).ok();
    let (server_out, server_err) = server.finish(SERVER_EXIT_TIMEOUT);
    let competitor = competitor.map(finish_competitor).transpose();
    let lab_start_unix_s =
        crate::progress::unix_now_s().map(|now| now - lab.elapsed().as_secs_f64());
    drop(lab);
    let Some(result) = result else {
        let why = [client_err, server_err]
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| format!("client exited with {}", out.status));
        bail!("{why}");
    };
    if !result.verified {
        bail!(
            "payload not verified (first wrong byte at {:?})",
            result.first_mismatch
        );
    }
    let session = server_out
        .lines()
        .find_map(|l| serde_json::from_str(l).ok());
    Ok(Outcome {
        lab_start_unix_s,
        client: result,
        server: session,
        competitor: competitor?,
    })
}

/// A child process that is killed if still running when dropped.
struct Spawned(Child);

impl Spawned {
    /// Waits up to `timeout` for the process to exit (killing it then);
    /// returns its stdout and the last line of its stderr.
    fn finish(&mut self, timeout: Duration) -> (String, Option<String>) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.0.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut stdout = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_string(&mut stdout);
        }
        let mut stderr = Vec::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_end(&mut stderr);
        }
        (stdout, last_line(&stderr))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last non-empty line of a process's stderr.
fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("braid perf: ").to_string())
}

/// `--scheduler` for the braid stack (the kernel's is a sysctl).
fn braid_scheduler_args(stack: Stack, scheduler: Option<&str>) -> Vec<String> {
    match scheduler {
        Some(name) if stack.is_braid() => vec!["--scheduler".into(), name.into()],
        _ => Vec::new(),
    }
}

/// `--subflow-limit N` (N paths) for the braid stack, as `setup` gives the
/// kernel `ip mptcp limits set subflow N`: without it a braid server
/// accepts its path manager's default of 2 joins, 3 subflows in all.
fn braid_subflow_limit(scenario: &Scenario, stack: Stack) -> Vec<String> {
    if stack.is_braid() {
        vec!["--subflow-limit".into(), scenario.paths.len().to_string()]
    } else {
        Vec::new()
    }
}

/// The braid stack's buffer options from the workload's buffer keys (the
/// kernel stacks get them as sysctls, see `setup`).
fn braid_buffers(scenario: &Scenario, stack: Stack) -> Vec<String> {
    let mut args = Vec::new();
    let Some(w) = scenario.workload.as_ref().filter(|_| stack.is_braid()) else {
        return args;
    };
    if let Some(r) = w.rcvbuf_bytes {
        args.extend(["--rcvbuf".to_string(), r.to_string()]);
    }
    if let Some(s) = w.sndbuf_bytes {
        args.extend(["--sndbuf".to_string(), s.to_string()]);
    }
    args
}

/// True once the server listens: a kernel socket on `port` shows in `ss`;
/// the braid stack has attached to its TUN device (carrier up), and it
/// binds its listener before its driver first runs.
fn listening(lab: &LabGuard, stack: Stack, port: u16) -> anyhow::Result<bool> {
    if stack == Stack::Braid {
        let out = lab
            .command(Side::Server, "ip")
            .args(["link", "show", setup::BRAID_TUN])
            .output()
            .context("running ip in the server namespace")?;
        return Ok(
            out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("NO-CARRIER")
        );
    }
    let proto = if stack == Stack::BraidUdp { "-u" } else { "-t" };
    let out = lab
        .command(Side::Server, "ss")
        .args(["-H", "-l", proto, "-n", &format!("sport = :{port}")])
        .output()
        .context("running ss in the server namespace")?;
    Ok(out.status.success() && !out.stdout.trim_ascii().is_empty())
}

/// Waits until the server namespace has a socket listening on `port`,
/// or fails with the server's own error if it exited.
fn wait_listening(
    lab: &LabGuard,
    server: &mut Spawned,
    stack: Stack,
    port: u16,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.0.try_wait() {
            let (_, err) = server.finish(Duration::ZERO);
            bail!(
                "{}",
                err.unwrap_or_else(|| format!("the server exited with {status}"))
            );
        }
        if listening(lab, stack, port)? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the server did not listen on port {port} within {LISTEN_TIMEOUT:?}")
}

fn run_line(f: &RunFigures) -> String {
    let paths: Vec<String> = f
        .subflows
        .iter()
        .map(|p| format!("path{} {}", p.path, human_bytes(p.bytes)))
        .collect();
    let competitor = match (f.competitor_goodput_bps, f.mptcp_to_tcp) {
        (Some(g), Some(r)) => format!(
            ", TCP competitor {}, MPTCP/TCP {r:.2}",
            human_rate(g).trim()
        ),
        (Some(g), None) => format!(", TCP competitor {}", human_rate(g).trim()),
        _ => String::new(),
    };
    let returns: String = f
        .path_returns
        .iter()
        .map(|r| match r.delay_s {
            Some(d) => format!(", path{} back after {d:.2} s", r.path),
            None => format!(", path{} never back ({:.1} s left)", r.path, r.run_left_s),
        })
        .collect();
    format!(
        "{}{}, max stall {:.0} ms, {:.2} cpu s/GB, {}{}{competitor}{returns}",
        human_rate(f.goodput_bps).trim(),
        f.completion_s
            .map_or_else(String::new, |c| format!(", completion {c:.3} s")),
        f.max_stall_ms,
        f.cpu_s_per_gb,
        paths.join(" "),
        match f.pass {
            Some(true) => ", PASS",
            Some(false) => ", FAIL",
            None => "",
        }
    )
}

fn print_table(r: &BenchReport) {
    println!(
        "scenario {}: {}, {} run(s) per stack",
        r.scenario, r.workload, r.runs_per_stack
    );
    if let Some(c) = &r.competitor {
        println!("  competing flow: {c}");
    }
    let spread = |m: Option<f64>, lo: Option<f64>, hi: Option<f64>, unit: &str, k: f64| match m {
        Some(m) => format!(
            "{:.2}{unit} [{:.2}, {:.2}]",
            m / k,
            lo.unwrap_or(m) / k,
            hi.unwrap_or(m) / k
        ),
        None => "-".into(),
    };
    for s in [&r.kernel, &r.braid].into_iter().flatten() {
        if !s.available {
            println!(
                "  {:<6} unavailable: {}",
                s.stack.name(),
                s.error.as_deref().unwrap_or("no run succeeded")
            );
            continue;
        }
        // One figure's median with the extremes of its runs.
        let figure = |m: Option<f64>, of: fn(&Extremes) -> Option<f64>, unit: &str, k: f64| {
            let end = |e: &Option<Extremes>| e.as_ref().and_then(of);
            spread(m, end(&s.min), end(&s.max), unit, k)
        };
        println!(
            "  {:<6} goodput {}  completion {}  max stall {}  cpu {:.2} s/GB",
            s.stack.name(),
            figure(s.goodput_bps, |e| Some(e.goodput_bps), " Mbit/s", 1e6),
            figure(s.completion_s, |e| e.completion_s, " s", 1.0),
            figure(s.max_stall_ms, |e| Some(e.max_stall_ms), " ms", 1.0),
            s.cpu_s_per_gb.unwrap_or(0.0),
        );
        let paths: Vec<String> = s
            .subflows
            .iter()
            .map(|p| format!("path {} ({}) {}", p.path, p.name, human_bytes(p.bytes)))
            .collect();
        println!("         per path (median): {}", paths.join(", "));
        println!(
            "         congestion control: {}, scheduler: {}",
            s.cc.as_deref().unwrap_or("unknown"),
            s.scheduler.as_deref().unwrap_or("unknown")
        );
        if let (Some(b), Some(p)) = (s.bound_ms, s.passed_runs) {
            println!(
                "         simult_flows bound {:.0} ms: {} ({p}/{} runs within)",
                b,
                if s.pass == Some(true) { "PASS" } else { "FAIL" },
                s.runs.len() + s.failed_runs.len()
            );
        }
        if let (Some(g), Some(r)) = (&s.competitor_goodput_bps, &s.mptcp_to_tcp) {
            println!(
                "         competing TCP flow ({}): goodput {}; MPTCP/TCP {:.2} [{:.2}, {:.2}]",
                s.competitor_cc.as_deref().unwrap_or("cc unknown"),
                spread(Some(g.median), Some(g.min), Some(g.max), " Mbit/s", 1e6),
                r.median,
                r.min,
                r.max
            );
        }
        if let Some(p) = &s.path_return_s {
            println!(
                "         path return (data again after a blackout ended): {:.2} s [{:.2}, {:.2}]{}",
                p.median,
                p.min,
                p.max,
                if s.path_never_returned_runs > 0 {
                    format!("; never back in {} run(s)", s.path_never_returned_runs)
                } else {
                    String::new()
                }
            );
        } else if s.path_never_returned_runs > 0 {
            println!(
                "         path return: never back in {} run(s)",
                s.path_never_returned_runs
            );
        }
        for e in &s.failed_runs {
            println!("         failed run: {e}");
        }
    }
    let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    println!(
        "  ratio braid/kernel: goodput {}, completion {}, max stall {}{}",
        ratio(r.ratio.goodput),
        ratio(r.ratio.completion),
        ratio(r.ratio.max_stall),
        r.ratio
            .path_return
            .map_or_else(String::new, |v| format!(", path return {v:.3}"))
    );
}
