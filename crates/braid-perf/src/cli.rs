//! `braid perf server` and `braid perf client`: argument parsing, output,
//! and exit codes. Any failure is one line on stderr, `braid perf: ...`,
//! and exit status 1.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::client::{ClientConfig, run as run_client};
use crate::control::{Direction, Limit, Mode};
use crate::error::PerfError;
use crate::progress::{Display, addr};
use crate::report::{PerfResult, ServerSession, human_bytes, human_rate};
use crate::server::Server;
use crate::stack::{BraidOptions, DEFAULT_TUN, Stack, braid_cc, braid_scheduler};
use crate::{DEFAULT_SEED, MAX_RR_SIZE};

/// `println!` that ignores a closed stdout (`braid perf ... | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Default test length when neither --bytes nor --time is given.
const DEFAULT_TIME: Duration = Duration::from_secs(10);
/// Slack on top of a test's own length before the client gives up.
const CLIENT_SLACK: Duration = Duration::from_secs(30);
/// Client timeout of a fixed-size test unless --timeout says otherwise.
const CLIENT_BYTES_TIMEOUT: Duration = Duration::from_secs(300);

/// How to route the braid stack's addresses (shown by `--help`).
const BRAID_HELP: &str = "\
The braid stack (--stack braid, root) opens the TUN device --tun (default braid0; an
existing one, e.g. from `ip tuntap add dev braid0 mode tun`, is attached to) in the
current network namespace and owns the client's --local addresses (one per path) or
the server's --listen address and --address addresses. The kernel must route those
addresses to the TUN and must not own them itself. Routing is the caller's job; for
Braid owning 10.0.1.100 on a path whose interface eth1 is 10.0.1.1/24:
  ip tuntap add dev braid0 mode tun && ip link set braid0 up   # persistent TUN
  sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \\
            net.ipv4.conf.braid0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0 \\
            net.ipv4.conf.eth1.proxy_arp=1
  ip route add 10.0.1.100/32 dev braid0      # Braid's address -> the TUN
  ip rule add from 10.0.1.100 table 101      # its packets leave by its path
  ip route add default via 10.0.1.254 dev eth1 table 101
One /32 route and one source rule per address; the routes stay while the TUN exists,
across braid perf runs. Or name the interfaces and let Braid do the routing: with
--interface eth1 (repeatable) Braid owns eth1's own addresses, routes them to the TUN
over netlink while it runs (undone at exit) and follows the link going down and up. In a `braid lab` run (it already forwards, has rp_filter off
and proxy ARP on) braid_lab::LabGuard::route_braid does the rest; by hand:
  ip netns exec <run>-cli ip tuntap add dev braid0 mode tun
  ip netns exec <run>-cli ip link set braid0 up
  ip -n <run>-cli route add 10.0.1.100/32 dev braid0
  ip -n <run>-cli rule add to 10.0.1.100 lookup main pref 100
  braid lab exec <run> client -- braid perf client --stack braid --local 10.0.1.100 \\
      --connect 10.1.1.2:5201 --bytes 100M";

/// Throughput and latency over the kernel's MPTCP, plain TCP or Braid.
#[derive(Debug, Args)]
#[command(after_long_help = BRAID_HELP)]
pub struct PerfArgs {
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Debug, Subcommand)]
enum PerfCommand {
    /// Wait for clients and run the tests they ask for, one at a time.
    #[command(after_long_help = BRAID_HELP)]
    Server(ServerArgs),
    /// Run one test against a `braid perf server`.
    #[command(after_long_help = BRAID_HELP)]
    Client(ClientArgs),
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:5201")]
    listen: SocketAddr,
    /// Stack to accept connections with.
    #[arg(long, value_enum, default_value_t = Stack::Kernel)]
    stack: Stack,
    /// Exit after one test.
    #[arg(long)]
    once: bool,
    /// Print one JSON object per test instead of a line of text.
    #[arg(long)]
    json: bool,
    /// A further address the braid stack owns (repeatable; --listen with an
    /// unspecified address then accepts on all of them).
    #[arg(long = "address", value_name = "ADDR")]
    address: Vec<IpAddr>,
    #[command(flatten)]
    braid: BraidArgs,
}

/// Options of the braid stack, client and server alike.
#[derive(Debug, Args)]
struct BraidArgs {
    /// TUN device of the braid stack (created, or attached to if it exists).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TUN)]
    tun: String,
    /// MTU of the braid stack's TUN device.
    #[arg(long, value_name = "BYTES", default_value_t = 1500,
          value_parser = clap::value_parser!(u16).range(576..=9000))]
    mtu: u16,
    /// Write every packet of the braid stack's TUN device to this pcapng file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<std::path::PathBuf>,
    /// Cap on the send buffer of each braid connection, per subflow and at
    /// the MPTCP level (suffixes K, M); buffers start small and grow with
    /// the congestion windows [default caps: 4M per subflow, 8M per MPTCP
    /// connection].
    #[arg(long, value_name = "BYTES", value_parser = parse_buffer)]
    sndbuf: Option<usize>,
    /// Cap on the receive buffer of each braid connection, per subflow and
    /// at the MPTCP level (suffixes K, M), like the kernel's tcp_rmem max:
    /// buffers start small and grow toward twice what one RTT delivers
    /// [default cap: 32M at both levels].
    #[arg(long, value_name = "BYTES", value_parser = parse_buffer)]
    rcvbuf: Option<usize>,
    /// Interface whose addresses the braid stack owns and follows;
    /// repeatable, one per path, first = the first subflow's. Braid moves
    /// its subflows when a link goes down or comes back up, and takes up
    /// or gives up addresses as they come and go. --stack braid: the
    /// interface's IPv4 addresses, and Braid sets up the routing to the
    /// TUN device itself (no recipe to type; undone at exit). --stack
    /// braid-udp: its IPv4 and global IPv6 addresses, one UDP socket each,
    /// no routing changed and no privileges needed. Instead of, or besides,
    /// the client's --local addresses.
    #[arg(long = "interface", value_name = "IFACE")]
    interfaces: Vec<String>,
    /// The braid stack speaks plain TCP (no MP_CAPABLE, one subflow).
    #[arg(long)]
    no_mptcp: bool,
    /// Congestion control, any stack. Kernel and tcp: TCP_CONGESTION on
    /// the socket (any loaded algorithm, e.g. cubic, reno, bbr; an MPTCP
    /// socket passes it on to its subflows). Braid: cubic, newreno, or coupled lia, olia, balia.
    /// [default: the namespace's net.ipv4.tcp_congestion_control; Braid's
    /// cubic]
    #[arg(long, value_name = "NAME")]
    cc: Option<String>,
    /// Packet scheduler of the braid stack: minrtt (default), roundrobin,
    /// redundant, ecf, blest or interactive. The kernel's is its net.mptcp.scheduler
    /// sysctl (reported, not set).
    #[arg(long, value_name = "NAME")]
    scheduler: Option<String>,
    /// Subflows beyond the initial one a braid connection opens or accepts,
    /// like `ip mptcp limits set subflow N` [default: 2, or as many as the
    /// --local addresses need]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=64))]
    subflow_limit: Option<u8>,
    /// --stack braid-udp: send a keepalive on a subflow idle this many
    /// seconds (holds NAT mappings; finds a peer whose NAT rebound)
    /// [default: 15]
    #[arg(long, value_name = "SECS", value_parser = parse_keepalive)]
    udp_keepalive: Option<std::time::Duration>,
}

/// A keepalive interval in seconds, 0.01 to 3600.
fn parse_keepalive(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.01..=3600.0).contains(&v) {
        return Err(format!("{v} s: give 0.01 to 3600 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

impl BraidArgs {
    fn options(&self, addresses: Vec<IpAddr>) -> BraidOptions {
        BraidOptions {
            tun: self.tun.clone(),
            mtu: self.mtu,
            addresses,
            pcap: self.pcap.clone(),
            send_buffer: self.sndbuf,
            recv_buffer: self.rcvbuf,
            mptcp: !self.no_mptcp,
            cc: self.cc.clone(),
            scheduler: self.scheduler.clone(),
            subflow_limit: self.subflow_limit.map(usize::from),
            udp_keepalive: self.udp_keepalive,
            interfaces: self.interfaces.clone(),
        }
    }

    /// Rejects a congestion control the braid stack does not have before
    /// anything is opened.
    fn check(&self, stack: Stack) -> Result<(), PerfError> {
        if !self.interfaces.is_empty() && !stack.is_braid() {
            return Err(PerfError::Protocol(format!(
                "--interface {}: only --stack braid and braid-udp follow interfaces (the kernel's \
                 are its path manager endpoints: ip mptcp endpoint add ADDR dev IFACE subflow)",
                self.interfaces[0]
            )));
        }
        if let Some(name) = &self.scheduler {
            if !stack.is_braid() {
                return Err(PerfError::Protocol(format!(
                    "--scheduler {name}: only --stack braid takes a scheduler (the kernel's is net.mptcp.scheduler)"
                )));
            }
            braid_scheduler(name)?;
        }
        match (&self.cc, stack) {
            (Some(name), s) if s.is_braid() => braid_cc(name).map(|_| ()),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// Server address and port.
    #[arg(long, value_name = "ADDR:PORT")]
    connect: SocketAddr,
    /// Stack to connect with.
    #[arg(long, value_enum, default_value_t = Stack::Kernel)]
    stack: Stack,
    /// Transfer this many bytes (suffixes K, M, G: powers of 1024); in rr
    /// mode, this many request bytes.
    #[arg(long, value_parser = parse_bytes, conflicts_with = "time")]
    bytes: Option<u64>,
    /// Run for this many seconds [default: 10].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    time: Option<Duration>,
    /// Who sends the bulk data.
    #[arg(long, value_enum, default_value_t = Direction::Upload)]
    direction: Direction,
    /// Bulk transfer or request/response.
    #[arg(long, value_enum, default_value_t = Mode::Bulk)]
    mode: Mode,
    /// Request and response size in rr mode.
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RR_SIZE)))]
    rr_size: u32,
    /// Local address (IP or IP:PORT) of the first subflow; repeatable, one
    /// per path, for stacks that open subflows themselves (braid, which
    /// owns every --local address and needs at least one). The kernel's
    /// extra subflows come from its path manager (`ip mptcp endpoint`).
    #[arg(long = "local", value_name = "ADDR", value_parser = parse_local)]
    local: Vec<SocketAddr>,
    /// Print one JSON object at the end instead of text.
    #[arg(long)]
    json: bool,
    /// Sampling and progress interval, milliseconds.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    interval_ms: u64,
    /// Seed of the pseudo-random payload.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Give up after this many seconds [default: test time + 30, or 300].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<Duration>,
    #[command(flatten)]
    braid: BraidArgs,
}

/// Runs `braid perf`; returns the process exit status.
pub fn run(args: PerfArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("braid perf: cannot start the runtime: {e}");
            return 1;
        }
    };
    let outcome = rt.block_on(async {
        match args.command {
            PerfCommand::Server(a) => server(a).await,
            PerfCommand::Client(a) => client(a).await,
        }
    });
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("braid perf: {e}");
            1
        }
    }
}

async fn server(a: ServerArgs) -> Result<(), PerfError> {
    a.braid.check(a.stack)?;
    let braid = a.braid.options(a.address.clone());
    let server = Server::bind_with(a.stack, a.listen, &braid).await?;
    if !a.json {
        out!(
            "braid perf server ({}) listening on {}",
            a.stack,
            server.local_addr()?
        );
    }
    if a.once {
        let s = server.serve_one().await?;
        print_session(&s, a.json);
        return Ok(());
    }
    loop {
        match server.serve_one().await {
            Ok(s) => print_session(&s, a.json),
            Err(e) => eprintln!("braid perf: {e}"),
        }
    }
}

async fn client(a: ClientArgs) -> Result<(), PerfError> {
    a.braid.check(a.stack)?;
    if a.local.len() > 1 && !a.stack.is_braid() {
        if a.stack == Stack::Tcp {
            return Err(PerfError::Protocol(format!(
                "--stack tcp has one subflow but {} --local addresses were given",
                a.local.len()
            )));
        }
        eprintln!(
            "braid perf: note: binding {} only; the kernel opens further subflows from its \
             path manager endpoints (ip mptcp endpoint add ADDR subflow)",
            a.local[0]
        );
    }
    let limit = match (a.bytes, a.time) {
        (Some(n), _) => Limit::Bytes(n),
        (None, Some(d)) => Limit::Time(d),
        (None, None) => Limit::Time(DEFAULT_TIME),
    };
    let timeout = a.timeout.unwrap_or(match limit {
        Limit::Time(d) => d.saturating_add(CLIENT_SLACK),
        Limit::Bytes(_) => CLIENT_BYTES_TIMEOUT,
    });
    let cfg = ClientConfig {
        stack: a.stack,
        remote: a.connect,
        locals: a.local.clone(),
        braid: a.braid.options(Vec::new()),
        mode: a.mode,
        direction: a.direction,
        limit,
        rr_size: a.rr_size,
        seed: a.seed,
        interval: Duration::from_millis(a.interval_ms),
        display: Display::detect(a.json),
        timeout,
    };
    let result = run_client(&cfg).await?;
    if a.json {
        let json = serde_json::to_string_pretty(&result)
            .map_err(|e| PerfError::Protocol(format!("encode JSON: {e}")))?;
        out!("{json}");
    } else {
        print_result(&result);
    }
    if result.verified {
        Ok(())
    } else {
        Err(PerfError::Protocol(format!(
            "payload verification failed (first wrong byte at {})",
            result
                .first_mismatch
                .map_or_else(|| "the end: bytes missing".to_string(), |o| o.to_string())
        )))
    }
}

fn print_result(r: &PerfResult) {
    out!(
        "{} {} {} {}: {} in {:.3} s = {}, max stall {:.1} ms, cpu {:.2} s{}, {}",
        r.stack,
        mode_name(r.mode),
        direction_name(r.direction),
        r.remote,
        human_bytes(r.bytes),
        r.duration_s,
        human_rate(r.goodput_bps).trim(),
        r.max_stall_ms,
        r.cpu_s,
        r.peer_cpu_s
            .map_or_else(String::new, |c| format!(" (server {c:.2} s)")),
        if r.verified {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
    if let Some(l) = &r.latency_us {
        out!(
            "  {} transactions of {} B: p50 {} us, p90 {} us, p99 {} us, max {} us",
            l.count,
            r.transactions.map_or(0, |_| r.bytes / l.count.max(1) / 2),
            l.p50,
            l.p90,
            l.p99,
            l.max
        );
    }
    if let Some(s) = &r.used.scheduler {
        out!("  scheduler: {s}");
    }
    if let Some(cc) = &r.used.cc {
        out!("  congestion control: {cc}");
    }
    if r.mptcp_fallback == Some(true) {
        out!("  MPTCP fell back to TCP");
    }
    for s in &r.subflows {
        out!(
            "  subflow {} -> {}: {}",
            addr(s.local),
            addr(s.remote),
            human_bytes(s.bytes)
        );
    }
}

fn print_session(s: &ServerSession, json: bool) {
    if json {
        match serde_json::to_string(s) {
            Ok(j) => out!("{j}"),
            Err(e) => eprintln!("braid perf: encode JSON: {e}"),
        }
        return;
    }
    out!(
        "{} {} {} from {}: {} in {:.3} s = {}, max stall {:.1} ms, cpu {:.2} s, {}",
        s.stack,
        mode_name(s.mode),
        direction_name(s.direction),
        s.peer,
        human_bytes(s.bytes),
        s.duration_s,
        human_rate(s.goodput_bps).trim(),
        s.max_stall_ms,
        s.cpu_s,
        if s.verified {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Bulk => "bulk",
        Mode::Rr => "rr",
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Upload => "upload",
        Direction::Download => "download",
    }
}

/// Parses a byte count: digits with an optional K, M or G suffix.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a byte count (like 1000, 64K, 10M, 1G)"))?;
    let n = n
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    if n == 0 {
        return Err("the byte count must be at least 1".into());
    }
    Ok(n)
}

/// Parses a braid buffer size: a byte count from 4K to 1G.
fn parse_buffer(s: &str) -> Result<usize, String> {
    let n = parse_bytes(s)?;
    if !(4096..=1 << 30).contains(&n) {
        return Err(format!("'{s}' must be from 4K to 1G"));
    }
    usize::try_from(n).map_err(|_| format!("'{s}' is too large"))
}

/// Parses seconds: a positive number up to one day.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!(
            "'{s}' must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Parses a local address: `IP` (any port) or `IP:PORT`.
fn parse_local(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 0))
        .map_err(|_| format!("'{s}' is not an IP address or IP:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("10m"), Ok(10 << 20));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }

    #[test]
    fn seconds_and_locals_parse() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert_eq!(parse_local("127.0.0.1"), Ok("127.0.0.1:0".parse().unwrap()));
        assert!(parse_local("nope").is_err());
    }
}
