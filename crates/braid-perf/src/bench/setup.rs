//! Preparing a lab for one stack: the kernel's path manager, the socket
//! buffer sysctls, and the addresses each stack's perf client and server
//! use.
//!
//! Kernel MPTCP (the in-kernel path manager, `ip mptcp`):
//! - both namespaces: `ip mptcp limits set subflow N add_addr_accepted N`
//!   (N = number of paths);
//! - client: `ip mptcp endpoint add 10.0.<i>.2 dev path<i> subflow
//!   [backup]` for every path i >= 2; path 1 carries the initial subflow,
//!   and if it is a backup path its address gets an endpoint with the
//!   `backup` flag only (no second subflow from it);
//! - server, when the workload says `announce = true`: `ip mptcp endpoint
//!   add 10.1.<i>.2 dev srv<i> signal [backup]` for i >= 2 (ADD_ADDR).
//!
//! Braid: a persistent TUN device `braid0` in the client and server
//! namespaces, routed for the side's Braid addresses
//! (`LabGuard::route_braid`); `braid perf --stack braid` attaches to it.
//!
//! Buffers (any stack whose sockets are the kernel's; the braid stack gets
//! the same workload keys as `--rcvbuf` / `--sndbuf`): `rcvbuf_bytes = R` sets
//! `net.ipv4.tcp_rmem = "4096 min(131072, R) R"` in the client and server
//! namespaces, so receive-buffer autotuning (which MPTCP's data-level
//! receive buffer follows) stops at R; `sndbuf_bytes = S` likewise sets
//! `net.ipv4.tcp_wmem = "4096 min(16384, S) S"`. The sysctls are per
//! namespace and vanish with it.

use std::net::{Ipv4Addr, SocketAddr};

use braid_lab::{LabGuard, Scenario, Side};

use crate::stack::Stack;

/// The port `braid perf server` listens on in the lab.
pub const PORT: u16 = 5201;

/// Where one stack's perf client connects from and to.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The server's listening address.
    pub listen: SocketAddr,
    /// The address the client connects to.
    pub connect: SocketAddr,
    /// The client's local addresses, path 1 first (`--local`).
    pub local: Vec<SocketAddr>,
}

/// Configures `lab` for `stack` and returns the addresses to use.
pub fn prepare(lab: &LabGuard, scenario: &Scenario, stack: Stack) -> anyhow::Result<Endpoints> {
    let workload = scenario.workload.clone().unwrap_or_default();
    for side in [Side::Client, Side::Server] {
        if let Some(r) = workload.rcvbuf_bytes {
            sysctl(
                lab,
                side,
                "net.ipv4.tcp_rmem",
                &format!("4096 {} {r}", r.min(131_072)),
            )?;
        }
        if let Some(s) = workload.sndbuf_bytes {
            sysctl(
                lab,
                side,
                "net.ipv4.tcp_wmem",
                &format!("4096 {} {s}", s.min(16_384)),
            )?;
        }
    }
    let port = |ip: Ipv4Addr, port: u16| SocketAddr::from((ip, port));
    match stack {
        Stack::Kernel => {
            kernel_path_manager(lab, scenario, workload.announce)?;
            Ok(Endpoints {
                listen: port(Ipv4Addr::UNSPECIFIED, PORT),
                connect: port(lab.server_addr(1), PORT),
                local: vec![port(lab.client_addr(1), 0)],
            })
        }
        // Over UDP the kernel owns the addresses (the UDP sockets bind
        // them): the perf server's sockets on 10.1.1.2:5201, the client's
        // on 10.0.<i>.2, one per path. No TUN, no routes.
        Stack::BraidUdp => Ok(Endpoints {
            listen: port(lab.server_addr(1), PORT),
            connect: port(lab.server_addr(1), PORT),
            local: (1..=scenario.paths.len())
                .map(|i| port(lab.client_addr(i), 0))
                .collect(),
        }),
        Stack::Tcp => Ok(Endpoints {
            listen: port(Ipv4Addr::UNSPECIFIED, PORT),
            connect: port(lab.server_addr(1), PORT),
            local: vec![port(lab.client_addr(1), 0)],
        }),
        // Braid owns addresses of its own next to the kernel (DESIGN.md,
        // "The lab"): its perf server listens on 10.1.1.100 and its client
        // owns 10.0.<i>.100, one per path. Each side gets a persistent TUN
        // device `braid0`, routed by `LabGuard::route_braid`, which
        // `braid perf --stack braid` attaches to.
        Stack::Braid => {
            for side in [Side::Client, Side::Server] {
                braid_tun(lab, side)?;
            }
            let server = lab.braid_addresses(Side::Server);
            Ok(Endpoints {
                listen: port(server[0], PORT),
                connect: port(server[0], PORT),
                local: lab
                    .braid_addresses(Side::Client)
                    .into_iter()
                    .map(|a| port(a, 0))
                    .collect(),
            })
        }
    }
}

/// The kernel path manager's configuration for `scenario`, in both
/// namespaces (see the module doc).
fn kernel_path_manager(lab: &LabGuard, scenario: &Scenario, announce: bool) -> anyhow::Result<()> {
    let n = scenario.paths.len().to_string();
    for side in [Side::Client, Side::Server] {
        ip(
            lab,
            side,
            &[
                "mptcp",
                "limits",
                "set",
                "subflow",
                &n,
                "add_addr_accepted",
                &n,
            ],
        )?;
    }
    for (index, path) in scenario.paths.iter().enumerate() {
        let i = index + 1;
        let addr = lab.client_addr(i).to_string();
        let dev = braid_lab::topology::veth_name(Side::Client, i);
        let mut args = vec!["mptcp", "endpoint", "add", &addr, "dev", &dev];
        if i > 1 {
            args.push("subflow");
        }
        if path.backup {
            args.push("backup");
        }
        if i > 1 || path.backup {
            ip(lab, Side::Client, &args)?;
        }
        if announce && i > 1 {
            let addr = lab.server_addr(i).to_string();
            let dev = braid_lab::topology::veth_name(Side::Server, i);
            let mut args = vec!["mptcp", "endpoint", "add", &addr, "dev", &dev, "signal"];
            if path.backup {
                args.push("backup");
            }
            ip(lab, Side::Server, &args)?;
        }
    }
    Ok(())
}

/// The TUN device the braid stack attaches to on each side.
pub const BRAID_TUN: &str = crate::stack::DEFAULT_TUN;

/// A persistent TUN device [`BRAID_TUN`] on `side`, up and routed for that
/// side's Braid addresses.
fn braid_tun(lab: &LabGuard, side: Side) -> anyhow::Result<()> {
    ip(
        lab,
        side,
        &["tuntap", "add", "dev", BRAID_TUN, "mode", "tun"],
    )?;
    ip(lab, side, &["link", "set", BRAID_TUN, "up"])?;
    lab.route_braid(side, BRAID_TUN)?;
    Ok(())
}

fn ip(lab: &LabGuard, side: Side, args: &[&str]) -> anyhow::Result<()> {
    run(lab, side, "ip", args)
}

fn sysctl(lab: &LabGuard, side: Side, key: &str, value: &str) -> anyhow::Result<()> {
    run(
        lab,
        side,
        "sysctl",
        &["-q", "-w", &format!("{key}={value}")],
    )
}

fn run(lab: &LabGuard, side: Side, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = lab
        .command(side, program)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("{program}: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "`{program} {}` in the {side:?} namespace failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
