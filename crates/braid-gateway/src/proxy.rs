//! `braid proxy`: the client end. A local SOCKS5 server (and, with
//! `--transparent`, a target for connections redirected by nftables) that
//! carries each accepted TCP connection to a `braid gateway` over one
//! MPTCP connection, the RFC 8803 Convert message (a Connect TLV naming
//! the destination) in front of the client's bytes.
//!
//! With `--stack braid` every `--via` address is Braid's (routed to its
//! TUN device, one per path): the first carries each connection's initial
//! subflow, the path manager opens one more subflow from each of the
//! others. With `--stack kernel` the kernel's MPTCP path manager decides
//! (`ip mptcp endpoint`); the first `--via` is bound as the source.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{StackKind, Transport, parse_addr, parse_hex};
use crate::convert::{self, ErrorCode, Message, Tlv};
use crate::relay::{self, Abort};
use crate::socks5::{self, Reply};

/// `braid proxy` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// The gateway (`braid gateway --listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub gateway: String,
    /// Local SOCKS5 address.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:1080")]
    pub listen: String,
    /// Also accept connections redirected here by nftables (`redirect to
    /// :PORT`); their original destination comes from `SO_ORIGINAL_DST`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub transparent: Option<String>,
    /// The MPTCP stack towards the gateway.
    #[arg(long, value_enum, default_value = "braid")]
    pub stack: StackKind,
    /// A local address to send from, one per path (repeatable). Braid
    /// stack: addresses Braid owns, routed to its TUN device; kernel
    /// stack: the first is bound.
    #[arg(long = "via", value_name = "ADDR")]
    pub via: Vec<String>,
    /// How the braid stack's packets travel: tun (root; Braid owns the
    /// --via addresses, routed to the TUN device) or udp (no root; UDP
    /// sockets on the host's own --via addresses, to the gateway's
    /// address at its port's number; the gateway must be `braid gateway
    /// --stack braid --transport udp`).
    #[arg(long, value_enum, default_value = "tun")]
    pub transport: Transport,
    /// TUN device of the braid stack.
    #[arg(long, value_name = "NAME", default_value = "braid0")]
    pub tun: String,
    /// Convert Cookie TLV value to send, hex.
    #[arg(long, value_name = "HEX")]
    pub cookie: Option<String>,
    /// Print per-path byte counters every this many seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub stats: u64,
    /// Print the counters as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Close a connection after this many seconds without a byte.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub idle_timeout: u64,
}

/// A byte stream to the gateway.
trait Upstream: AsyncRead + AsyncWrite + Unpin + Send {
    /// [`Abort`] for the boxed stream.
    fn abort_boxed(self: Box<Self>);
}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Abort> Upstream for T {
    fn abort_boxed(self: Box<Self>) {
        (*self).abort()
    }
}
impl Abort for Box<dyn Upstream> {
    fn abort(self) {
        self.abort_boxed()
    }
}

/// Per-path data bytes (Braid stack), keyed by the subflow's local address.
type PathBytes = Arc<Mutex<BTreeMap<IpAddr, (u64, u64)>>>;

#[derive(Debug)]
struct Proxy {
    gateway: SocketAddr,
    stack: Option<braid::Stack>,
    kernel_source: Option<IpAddr>,
    cookie: Option<Vec<u8>>,
    idle: Duration,
    paths: PathBytes,
    up: Counter,
    down: Counter,
}

/// `braid proxy`: runs until SIGTERM or SIGINT.
pub fn run(args: &ProxyArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: &ProxyArgs) -> anyhow::Result<()> {
    let gateway = parse_addr("gateway", &args.gateway)?;
    let listen = parse_addr("listen", &args.listen)?;
    let via = args
        .via
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|_| anyhow!("via: bad IP address '{a}'"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cookie = args
        .cookie
        .as_deref()
        .map(|c| parse_hex(c).ok_or_else(|| anyhow!("cookie: bad hex value '{c}'")))
        .transpose()?;
    if args.idle_timeout == 0 {
        return Err(anyhow!("idle-timeout: must be at least 1 second"));
    }
    let stack = match args.stack {
        StackKind::Braid => Some(braid_stack(args, &via, gateway)?),
        StackKind::Kernel if args.transport == Transport::Udp => {
            return Err(anyhow!(
                "--transport udp needs --stack braid (the kernel's MPTCP does not speak it)"
            ));
        }
        StackKind::Kernel => None,
    };
    let proxy = Arc::new(Proxy {
        gateway,
        stack,
        kernel_source: via.first().copied(),
        cookie,
        idle: Duration::from_secs(args.idle_timeout),
        paths: PathBytes::default(),
        up: Counter::default(),
        down: Counter::default(),
    });
    let socks = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow!("listen: {listen}: {e}"))?;
    eprintln!("braid proxy: SOCKS5 on {listen}, gateway {gateway}");
    tokio::spawn(accept_socks(socks, proxy.clone()));
    if let Some(t) = &args.transparent {
        let addr = parse_addr("transparent", t)?;
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow!("transparent: {addr}: {e}"))?;
        eprintln!("braid proxy: redirected connections on {addr}");
        tokio::spawn(accept_transparent(l, proxy.clone()));
    }
    if args.stats > 0 {
        tokio::spawn(print_stats(
            proxy.clone(),
            Duration::from_secs(args.stats),
            args.json,
        ));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    print_line(&proxy, args.json);
    Ok(())
}

/// Braid's stack owning every `via` address (of the gateway's family
/// first); extra subflows from all but the first.
fn braid_stack(
    args: &ProxyArgs,
    via: &[IpAddr],
    gateway: SocketAddr,
) -> anyhow::Result<braid::Stack> {
    let tun = &args.tun;
    let family: Vec<IpAddr> = via
        .iter()
        .copied()
        .filter(|a| a.is_ipv4() == gateway.is_ipv4())
        .collect();
    if family.is_empty() {
        return Err(match args.transport {
            Transport::Tun => anyhow!(
                "via: --stack braid needs at least one --via ADDR of the gateway's family \
                 (an address Braid owns, routed to the TUN device {tun})"
            ),
            Transport::Udp => anyhow!(
                "via: --transport udp needs at least one --via ADDR of the gateway's family \
                 (an address of this host, one per path)"
            ),
        });
    }
    let mut ep = braid::proto::endpoint::EndpointConfig::default();
    ep.conn.pm.local_addrs = family[1..].to_vec();
    ep.conn.pm.limits.subflows = ep.conn.pm.limits.subflows.max(family.len());
    let mut b = braid::Stack::builder().config(ep);
    for a in &family {
        b = b.address(*a);
    }
    match args.transport {
        Transport::Tun => {
            let tun_dev = braid::TunDevice::create(tun, 1500)
                .map_err(|e| anyhow!("TUN device {tun}: {e} (root needed)"))?;
            b.build(tun_dev)
        }
        Transport::Udp => {
            let locals: Vec<SocketAddr> = family.iter().map(|&a| SocketAddr::new(a, 0)).collect();
            let dev = braid::UdpDevice::bind(&locals)
                .map_err(|e| anyhow!("--transport udp: {e}"))?
                .default_port(gateway.port());
            b.build_udp(dev)
        }
    }
    .context("start the braid stack")
}

async fn accept_socks(listener: TcpListener, proxy: Arc<Proxy>) {
    // Runs for the life of the process; each turn accepts one connection.
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let no_auth = socks5::Auth::default();
            let handshake = tokio::time::timeout(
                Duration::from_secs(10),
                socks5::accept(&mut client, &no_auth),
            );
            let Ok(Ok((target, _))) = handshake.await else {
                return;
            };
            let dest = match target.resolve().await {
                Ok(d) => d,
                Err(_) => {
                    let _ = socks5::send_reply(&mut client, Reply::HostUnreachable, None).await;
                    return;
                }
            };
            match proxy.open(dest).await {
                Ok(upstream) => {
                    if socks5::send_reply(&mut client, Reply::Succeeded, None)
                        .await
                        .is_ok()
                    {
                        proxy.relay(client, upstream).await;
                    }
                }
                Err(reply) => {
                    let _ = socks5::send_reply(&mut client, reply, None).await;
                }
            }
        });
    }
}

async fn accept_transparent(listener: TcpListener, proxy: Arc<Proxy>) {
    // Runs for the life of the process; each turn accepts one connection.
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let sock = socket2::SockRef::from(&client);
            let dest = match client.local_addr() {
                Ok(SocketAddr::V6(_)) => sock.original_dst_v6(),
                _ => sock.original_dst_v4(),
            };
            let Some(dest) = dest.ok().and_then(|a| a.as_socket()) else {
                return;
            };
            if let Ok(upstream) = proxy.open(dest).await {
                proxy.relay(client, upstream).await;
            }
        });
    }
}

impl Proxy {
    /// Opens an MPTCP connection to the gateway asking for `dest`, and
    /// reads the gateway's answer; on refusal, the SOCKS5 reply for it.
    async fn open(&self, dest: SocketAddr) -> Result<Box<dyn Upstream>, Reply> {
        let mut up: Box<dyn Upstream> = match &self.stack {
            Some(stack) => {
                let s = tokio::time::timeout(
                    Duration::from_secs(15),
                    braid::Stream::connect(stack, self.gateway),
                )
                .await
                .map_err(|_| Reply::GeneralFailure)?
                .map_err(|_| Reply::GeneralFailure)?;
                let stats = s.stats_handle();
                let paths = self.paths.clone();
                tokio::spawn(sample_paths(stats, paths));
                Box::new(s)
            }
            None => Box::new(
                kernel_connect(self.gateway, self.kernel_source)
                    .await
                    .map_err(|_| Reply::GeneralFailure)?,
            ),
        };
        let mut msg = Message {
            tlvs: vec![Tlv::Connect {
                remote: dest,
                options: Vec::new(),
            }],
        };
        if let Some(c) = &self.cookie {
            msg.tlvs.push(Tlv::Cookie(c.clone()));
        }
        let bytes = msg.to_bytes().ok_or(Reply::GeneralFailure)?;
        // The Convert message leads the byte stream: it rides the first
        // data segment after the handshake.
        up.write_all(&bytes)
            .await
            .map_err(|_| Reply::GeneralFailure)?;
        let reply = tokio::time::timeout(Duration::from_secs(30), read_reply(&mut up))
            .await
            .map_err(|_| Reply::GeneralFailure)?
            .map_err(|_| Reply::GeneralFailure)?;
        match reply.error() {
            None => Ok(up),
            Some((code, _)) => Err(socks_reply_for(code)),
        }
    }

    async fn relay<S: AsyncRead + AsyncWrite + Unpin + Abort>(
        &self,
        client: S,
        up: Box<dyn Upstream>,
    ) {
        let _ = relay::relay(client, up, self.idle, &self.up, &self.down, || {}).await;
    }
}

/// The SOCKS5 reply that tells a client what the gateway's Error TLV said.
pub fn socks_reply_for(code: ErrorCode) -> Reply {
    match code {
        ErrorCode::NotAuthorized | ErrorCode::MissingCookie => Reply::NotAllowed,
        ErrorCode::ConnectionReset => Reply::ConnectionRefused,
        ErrorCode::DestinationUnreachable => Reply::HostUnreachable,
        ErrorCode::NetworkFailure => Reply::NetworkUnreachable,
        _ => Reply::GeneralFailure,
    }
}

/// Reads the converter's Convert message.
async fn read_reply<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Message> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    let bad = |e: convert::ConvertError| io::Error::new(io::ErrorKind::InvalidData, e);
    let len = convert::message_len(&head)
        .map_err(bad)?
        .unwrap_or(convert::HEADER_LEN);
    let mut buf = vec![0u8; len];
    buf[..2].copy_from_slice(&head);
    s.read_exact(&mut buf[2..]).await?;
    Message::parse(&buf).map_err(bad)
}

/// A kernel MPTCP connection to `gateway`, from `source` if given.
async fn kernel_connect(gateway: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(gateway),
        Type::STREAM,
        Some(Protocol::MPTCP),
    )?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.set_nonblocking(true)?;
    let std: std::net::TcpStream = socket.into();
    let s = tokio::net::TcpSocket::from_std_stream(std)
        .connect(gateway)
        .await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Adds a Braid connection's per-subflow data bytes to `paths` (by local
/// address) once a second until the connection is gone.
async fn sample_paths(stats: braid::StatsHandle, paths: PathBytes) {
    let mut seen: BTreeMap<(SocketAddr, SocketAddr), (u64, u64)> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Ends when the connection is forgotten (bounded by its life).
    loop {
        tick.tick().await;
        let Ok(Some(subflows)) = stats.subflows() else {
            return;
        };
        let mut p = paths.lock().unwrap_or_else(|e| e.into_inner());
        for s in subflows {
            let e = seen.entry((s.local, s.remote)).or_default();
            let t = p.entry(s.local.ip()).or_default();
            t.0 += s.data_sent.saturating_sub(e.0);
            t.1 += s.data_received.saturating_sub(e.1);
            e.0 = e.0.max(s.data_sent);
            e.1 = e.1.max(s.data_received);
        }
    }
}

async fn print_stats(proxy: Arc<Proxy>, every: Duration, json: bool) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    // Runs for the life of the process.
    loop {
        tick.tick().await;
        print_line(&proxy, json);
    }
}

fn print_line(proxy: &Proxy, json: bool) {
    let paths = proxy
        .paths
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if json {
        let per: Vec<_> = paths
            .iter()
            .map(|(ip, (tx, rx))| serde_json::json!({"local": ip.to_string(), "tx": tx, "rx": rx}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"upstream": proxy.up.get(), "downstream": proxy.down.get(), "paths": per})
        );
    } else {
        let per: Vec<String> = paths
            .iter()
            .map(|(ip, (tx, rx))| format!("{ip} tx {tx} rx {rx}"))
            .collect();
        println!(
            "upstream {} downstream {} | {}",
            proxy.up.get(),
            proxy.down.get(),
            per.join(" | ")
        );
    }
}
