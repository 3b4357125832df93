//! `braid gateway` configuration: a TOML file (`--config`) and command-line
//! flags, flags winning. Every error is one line naming the file, key or
//! value at fault.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

use crate::policy::{Cidr, Destinations, parse_ports};

/// Which MPTCP stack accepts the clients' connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackKind {
    /// The Linux kernel's MPTCP sockets (`IPPROTO_MPTCP`).
    Kernel,
    /// Braid's userspace MPTCP over a TUN device.
    Braid,
}

/// How the braid stack's packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Raw IP through a TUN device (root, routes): the peer may be the
    /// kernel's MPTCP.
    #[default]
    Tun,
    /// Every packet in a UDP datagram (docs/udp-encapsulation.md): no
    /// root, the peer must be Braid over UDP too.
    Udp,
}

/// `braid gateway` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GatewayArgs {
    /// TOML configuration file (keys as the flags below, with `_` for `-`;
    /// see README.md).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address and port to accept MPTCP connections on [default:
    /// 0.0.0.0:4000].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The MPTCP stack: the kernel's sockets, or Braid's over a TUN device
    /// [default: kernel].
    #[arg(long, value_enum)]
    pub stack: Option<StackKind>,
    /// How the braid stack's packets travel: tun (root) or udp (no root;
    /// UDP sockets on the listening and --address addresses, the UDP port
    /// the listening port's number; clients must be `braid proxy
    /// --transport udp`) [default: tun].
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// TUN device of the braid stack [default: braid0].
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// More addresses the braid stack owns and announces (ADD_ADDR) to
    /// clients (repeatable).
    #[arg(long = "address", value_name = "ADDR")]
    pub addresses: Vec<String>,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Allowed destination network (repeatable) [default: 0.0.0.0/0 and
    /// ::/0, private and loopback ranges excluded unless named].
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Refused destination network (repeatable).
    #[arg(long = "deny", value_name = "CIDR")]
    pub deny: Vec<String>,
    /// Allowed destination port or range, e.g. 443 or 8000-8999
    /// (repeatable) [default: every port].
    #[arg(long = "port", value_name = "PORT[-PORT]")]
    pub ports: Vec<String>,
    /// Accepted Convert Cookie TLV value, hex (repeatable); with any,
    /// Convert clients must send one.
    #[arg(long = "cookie", value_name = "HEX")]
    pub cookies: Vec<String>,
    /// Accepted SOCKS5 user, NAME:PASSWORD (repeatable); with any, SOCKS5
    /// clients must log in (RFC 1929).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Most connections at once [default: 10000].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most connections at once from one client address [default: 256].
    #[arg(long, value_name = "N")]
    pub max_per_client: Option<usize>,
    /// Close a connection after this many seconds without a byte either
    /// way [default: 300].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Give up connecting to a destination after this many seconds
    /// [default: 10].
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// On SIGTERM, wait at most this many seconds for connections to
    /// finish [default: 30].
    #[arg(long, value_name = "SECS")]
    pub drain_timeout: Option<u64>,
}

/// The configuration file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    stack: Option<StackKind>,
    transport: Option<Transport>,
    tun: Option<String>,
    addresses: Option<Vec<String>>,
    metrics: Option<String>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    ports: Option<Vec<String>>,
    cookies: Option<Vec<String>>,
    users: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_per_client: Option<usize>,
    idle_timeout: Option<u64>,
    connect_timeout: Option<u64>,
    drain_timeout: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Which stack accepts them.
    pub stack: StackKind,
    /// How the braid stack's packets travel.
    pub transport: Transport,
    /// The braid stack's TUN device.
    pub tun: String,
    /// Further addresses of the braid stack.
    pub addresses: Vec<IpAddr>,
    /// The metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// Destination rules.
    pub destinations: Destinations,
    /// Accepted cookies (empty: none required).
    pub cookies: Vec<Vec<u8>>,
    /// Accepted SOCKS5 users (empty: no authentication).
    pub users: Vec<(String, String)>,
    /// Connections at once.
    pub max_connections: usize,
    /// Connections at once per client address.
    pub max_per_client: usize,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Drain timeout on SIGTERM.
    pub drain_timeout: Duration,
}

impl Config {
    /// Reads `--config` (if given) and applies the flags over it.
    pub fn load(args: &GatewayArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Vec<String>, file: Option<Vec<String>>| {
            if flag.is_empty() {
                file.unwrap_or_default()
            } else {
                flag.clone()
            }
        };
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "0.0.0.0:4000".into());
        let listen = parse_addr("listen", &listen)?;
        let metrics = args
            .metrics
            .clone()
            .or(file.metrics)
            .map(|m| parse_addr("metrics", &m))
            .transpose()?;
        let addresses = pick(&args.addresses, file.addresses)
            .iter()
            .map(|a| {
                a.parse::<IpAddr>()
                    .map_err(|_| anyhow!("address: bad IP address '{a}'"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let nets = |key: &str, list: Vec<String>| {
            list.iter()
                .map(|s| s.parse::<Cidr>().map_err(|e| anyhow!("{key}: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let mut destinations = Destinations::default();
        let allow = pick(&args.allow, file.allow);
        if !allow.is_empty() {
            destinations.allow = nets("allow", allow)?;
        }
        destinations.deny = nets("deny", pick(&args.deny, file.deny))?;
        destinations.ports = pick(&args.ports, file.ports)
            .iter()
            .map(|p| parse_ports(p).map_err(|e| anyhow!("port: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cookies = pick(&args.cookies, file.cookies)
            .iter()
            .map(|c| parse_hex(c).ok_or_else(|| anyhow!("cookie: bad hex value '{c}'")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let users = pick(&args.users, file.users)
            .iter()
            .map(|u| match u.split_once(':') {
                Some((n, p)) if !n.is_empty() && n.len() <= 255 && p.len() <= 255 => {
                    Ok((n.to_string(), p.to_string()))
                }
                _ => Err(anyhow!("user: expected NAME:PASSWORD (each 1-255 bytes)")),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let secs = |key: &str, v: Option<u64>, default: u64| match v.unwrap_or(default) {
            0 => Err(anyhow!("{key}: must be at least 1 second")),
            s => Ok(Duration::from_secs(s)),
        };
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(10_000);
        let max_per_client = args.max_per_client.or(file.max_per_client).unwrap_or(256);
        if max_connections == 0 || max_per_client == 0 {
            bail!("max_connections and max_per_client must be at least 1");
        }
        Ok(Config {
            listen,
            stack: args.stack.or(file.stack).unwrap_or(StackKind::Kernel),
            transport: args.transport.or(file.transport).unwrap_or_default(),
            tun: args
                .tun
                .clone()
                .or(file.tun)
                .unwrap_or_else(|| "braid0".into()),
            addresses,
            metrics,
            destinations,
            cookies,
            users,
            max_connections,
            max_per_client,
            idle_timeout: secs("idle_timeout", args.idle_timeout.or(file.idle_timeout), 300)?,
            connect_timeout: secs(
                "connect_timeout",
                args.connect_timeout.or(file.connect_timeout),
                10,
            )?,
            drain_timeout: secs(
                "drain_timeout",
                args.drain_timeout.or(file.drain_timeout),
                30,
            )?,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or(&text).matches('\n').count() + 1);
        let msg = e.message().replace('\n', " ");
        match line {
            Some(l) => anyhow!("config file {} line {l}: {msg}", path.display()),
            None => anyhow!("config file {}: {msg}", path.display()),
        }
    })
}

/// Parses `ADDR:PORT`, naming the key on error.
pub fn parse_addr(key: &str, s: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .map_err(|_| anyhow!("{key}: bad address '{s}' (expected IP:PORT, [IPv6]:PORT)"))
}

/// Parses a hex string (even length).
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile_like::TempFile {
        tempfile_like::TempFile::new(text)
    }

    /// A file removed on drop (no extra crate for it).
    mod tempfile_like {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn new(text: &str) -> TempFile {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "braid-gw-test-{}-{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                let mut f = std::fs::File::create(&p).unwrap();
                super::Write::write_all(&mut f, text.as_bytes()).unwrap();
                TempFile(p)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn load(text: &str) -> anyhow::Result<Config> {
        let f = file(text);
        Config::load(&GatewayArgs {
            config: Some(f.0.clone()),
            ..Default::default()
        })
    }

    #[test]
    fn full_file() {
        let c = load(
            r#"
listen = "10.1.1.100:4000"
stack = "braid"
addresses = ["10.1.2.100"]
metrics = "127.0.0.1:9100"
allow = ["10.9.0.0/24"]
ports = ["80", "8000-8999"]
cookies = ["c00c1e"]
users = ["ann:pw"]
max_connections = 100
max_per_client = 10
idle_timeout = 60
"#,
        )
        .unwrap();
        assert_eq!(c.listen, "10.1.1.100:4000".parse().unwrap());
        assert_eq!(c.stack, StackKind::Braid);
        assert_eq!(c.cookies, vec![vec![0xc0, 0x0c, 0x1e]]);
        assert_eq!(c.destinations.ports, vec![(80, 80), (8000, 8999)]);
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn flags_override_the_file() {
        let f = file("listen = \"127.0.0.1:1\"\nmax_connections = 5\n");
        let c = Config::load(&GatewayArgs {
            config: Some(f.0.clone()),
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.max_connections, 5);
    }

    #[test]
    fn unknown_key_is_one_line_naming_it() {
        let e = load("listen = \"127.0.0.1:1\"\nlisten_port = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_port"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_address_names_key_and_value() {
        let e = load("metrics = \"localhost\"\n").unwrap_err().to_string();
        assert!(e.contains("metrics") && e.contains("'localhost'"), "{e}");
        let e = load("allow = [\"10.0.0.0/40\"]\n").unwrap_err().to_string();
        assert!(e.contains("allow") && e.contains("10.0.0.0/40"), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let e = Config::load(&GatewayArgs {
            config: Some("/nonexistent/gw.toml".into()),
            ..Default::default()
        })
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("/nonexistent/gw.toml"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("00ff"), Some(vec![0, 255]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
