//! The `braid` command-line tool.

use clap::{Parser, Subcommand};

/// Braid: Multipath TCP (RFC 8684) in userspace.
#[derive(Debug, Parser)]
#[command(name = "braid", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the MPTCP option layouts Braid speaks (RFC 8684 section 3).
    Options,
    /// Measure throughput and latency over the kernel's MPTCP, plain TCP or Braid.
    Perf(braid_perf::cli::PerfArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            println!();
        }
        Some(Command::Options) => {
            println!(
                "MP_CAPABLE MP_JOIN DSS ADD_ADDR REMOVE_ADDR MP_PRIO MP_FAIL MP_FASTCLOSE MP_TCPRST"
            );
        }
        Some(Command::Perf(args)) => std::process::exit(braid_perf::cli::run(args)),
    }
    Ok(())
}
