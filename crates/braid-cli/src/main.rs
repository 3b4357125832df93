//! The `braid` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod lab;

/// Braid: Multipath TCP (RFC 8684) in userspace.
#[derive(Debug, Parser)]
#[command(name = "braid", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Watch MPTCP at work: a phone on WiFi and LTE downloads over one
    /// connection while WiFi fades, dies and comes back (simulated, no root).
    Demo(demo::DemoArgs),
    /// Network namespaces joined by emulated paths (Linux, root).
    #[command(subcommand)]
    Lab(LabCommand),
    /// Measure throughput and latency over the kernel's MPTCP, plain TCP or Braid.
    Perf(braid_perf::cli::PerfArgs),
    /// An RFC 8803 Transport Converter and SOCKS5 server: accepts MPTCP
    /// (kernel or Braid) and relays to plain TCP.
    Gateway(braid_gateway::config::GatewayArgs),
    /// A local SOCKS5 proxy that carries each connection to a `braid
    /// gateway` over one MPTCP connection on every path.
    Proxy(braid_gateway::proxy::ProxyArgs),
}

/// `braid lab ...`
#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build a scenario's namespaces and run its link emulator until
    /// Ctrl-C or SIGTERM, then remove everything.
    Up {
        /// The scenario file (TOML, see scenarios/README.md).
        scenario: PathBuf,
    },
    /// Remove a run's namespaces (leftovers of a killed `lab up`).
    Down {
        /// The run's name (`braid-<pid>-<hex>`, as `lab up` printed it).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        run: Option<String>,
        /// Remove every lab run whose process is gone.
        #[arg(long)]
        all: bool,
    },
    /// Run a scenario's workload over the kernel's MPTCP and Braid on the
    /// same emulated paths; report medians and ratios (root).
    Bench(braid_perf::bench::BenchArgs),
    /// Run a command inside one of a run's namespaces (`ip netns exec`).
    Exec {
        /// The run's name.
        run: String,
        /// Which namespace: client, server or emu.
        side: braid_lab::Side,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command()
                .print_help()
                .map_err(anyhow::Error::from)
                .map(|()| println!())
        }
        Some(Command::Demo(args)) => demo::run(&args),
        Some(Command::Perf(args)) => return ExitCode::from(braid_perf::cli::run(args) as u8),
        Some(Command::Gateway(args)) => braid_gateway::gateway::run(&args),
        Some(Command::Proxy(args)) => braid_gateway::proxy::run(&args),
        Some(Command::Lab(LabCommand::Up { scenario })) => lab::up(&scenario),
        Some(Command::Lab(LabCommand::Down { run, all: _ })) => lab::down(run.as_deref()),
        Some(Command::Lab(LabCommand::Bench(args))) => braid_perf::bench::run(&args),
        Some(Command::Lab(LabCommand::Exec { run, side, command })) => {
            lab::exec(&run, side, &command)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("braid: {e:#}");
            ExitCode::FAILURE
        }
    }
}
