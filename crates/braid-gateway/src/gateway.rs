//! `braid gateway`: accepts MPTCP connections (kernel sockets or Braid's
//! stack), reads what the client asks for (an RFC 8803 Convert message or
//! a SOCKS5 request, told apart by the first byte), opens plain TCP to the
//! destination and relays both ways.
//!
//! RFC 8803 section 5 (the converter's behaviour) in short: the client's
//! Convert message (a Connect TLV) opens the connection to the server; the
//! converter answers with a Convert message in front of the server's bytes
//! (here: an empty one on success), or with an Error TLV and then closes.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::{Config, GatewayArgs, StackKind, Transport};
use crate::convert::{self, ConvertError, ErrorCode, Message, Tlv};
use crate::metrics::{Metrics, Subflow};
use crate::policy::{Denied, Destinations, Limits};
use crate::relay::{self, Abort};
use crate::socks5::{self, Reply};

/// How long a client has to send its Convert message or SOCKS5 request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP option kinds the converter accepts in a Connect TLV (RFC 8803
/// section 4.2.4 lets the client ask for options on the SYN to the
/// server): EOL, NOP, MSS, window scale, SACK permitted, timestamps. The
/// kernel's socket negotiates these itself; anything else is refused
/// with Unsupported TCP Option.
const ACCEPTED_OPTIONS: [u8; 6] = [0, 1, 2, 3, 4, 8];
/// The TCP extension the converter supports on the client side (RFC 8803
/// section 4.2.3 lists option kinds): Multipath TCP, kind 30.
const SUPPORTED_EXTENSIONS: [u8; 1] = [30];

/// What every connection handler shares.
#[derive(Debug)]
pub struct Ctx {
    /// Destination rules.
    pub destinations: Destinations,
    /// SOCKS5 authentication.
    pub auth: socks5::Auth,
    /// Accepted Convert cookies (empty: none needed).
    pub cookies: Vec<Vec<u8>>,
    /// Connection limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Metrics,
    /// Idle timeout of a relay.
    pub idle_timeout: Duration,
    /// Connect timeout towards destinations.
    pub connect_timeout: Duration,
}

impl Ctx {
    /// The shared state for `config`.
    pub fn new(config: &Config, metrics: Metrics) -> Ctx {
        Ctx {
            destinations: config.destinations.clone(),
            auth: socks5::Auth {
                users: config.users.clone(),
            },
            cookies: config.cookies.clone(),
            limits: Limits::new(config.max_connections, config.max_per_client),
            metrics,
            idle_timeout: config.idle_timeout,
            connect_timeout: config.connect_timeout,
        }
    }
}

/// A refusal: the Convert error, the SOCKS5 reply and the metric label.
#[derive(Debug, Clone, Copy)]
struct Failure {
    convert: ConvertError,
    socks: Reply,
    reason: &'static str,
}

impl Failure {
    fn new(code: ErrorCode, socks: Reply, reason: &'static str) -> Failure {
        Failure {
            convert: ConvertError { code, value: 0 },
            socks,
            reason,
        }
    }

    fn denied(d: Denied) -> Failure {
        match d {
            Denied::Network => Failure::new(
                ErrorCode::NotAuthorized,
                Reply::NotAllowed,
                "denied_network",
            ),
            Denied::Port => {
                Failure::new(ErrorCode::NotAuthorized, Reply::NotAllowed, "denied_port")
            }
            Denied::Client => Failure::new(
                ErrorCode::NotAuthorized,
                Reply::NotAllowed,
                "not_authorized",
            ),
            Denied::Limit => {
                Failure::new(ErrorCode::ResourceExceeded, Reply::GeneralFailure, "limit")
            }
        }
    }

    /// A failed connect to the destination.
    fn connect(e: &io::Error) -> Failure {
        const EHOSTUNREACH: i32 = 113;
        const ENETUNREACH: i32 = 101;
        match (e.kind(), e.raw_os_error()) {
            // "Connection Reset: ... the destination answered with a RST".
            (io::ErrorKind::ConnectionRefused, _) => Failure::new(
                ErrorCode::ConnectionReset,
                Reply::ConnectionRefused,
                "refused",
            ),
            (io::ErrorKind::TimedOut, _) | (_, Some(EHOSTUNREACH)) => Failure::new(
                ErrorCode::DestinationUnreachable,
                Reply::HostUnreachable,
                "unreachable",
            ),
            (_, Some(ENETUNREACH)) => Failure::new(
                ErrorCode::NetworkFailure,
                Reply::NetworkUnreachable,
                "network_unreachable",
            ),
            _ => Failure::new(
                ErrorCode::NetworkFailure,
                Reply::GeneralFailure,
                "connect_error",
            ),
        }
    }
}

/// Serves one accepted MPTCP connection from `peer` to the end.
/// `stats` (Braid stack) feeds the per-subflow metrics.
pub async fn serve<S>(
    mut client: S,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    stats: Option<braid::StatsHandle>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + Abort,
{
    let m = &ctx.metrics;
    m.active.inc();
    let _active = scopeguard(|| {
        m.active.dec();
    });
    let slot = ctx.limits.acquire(peer.ip());
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, client.read_u8()).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return m.fail("handshake_eof"),
        Err(_) => return m.fail("handshake_timeout"),
    };
    let opened = if first == socks5::VERSION {
        m.accepted("socks5");
        tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            socks_open(&mut client, &ctx, slot.is_ok()),
        )
        .await
    } else {
        m.accepted("convert");
        tokio::time::timeout(
            HANDSHAKE_TIMEOUT + ctx.connect_timeout,
            convert_open(&mut client, first, &ctx, slot.is_ok()),
        )
        .await
    };
    let server = match opened {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(_) => return m.fail("handshake_timeout"),
    };
    let up = m.bytes("upstream");
    let down = m.bytes("downstream");
    let mut sampler = stats.map(BraidSampler::new);
    let r = relay::relay(client, server, ctx.idle_timeout, &up, &down, || {
        if let Some(s) = sampler.as_mut() {
            s.sample(m);
        }
    })
    .await;
    if let Err(e) = r {
        m.fail(if e.kind() == io::ErrorKind::TimedOut {
            "idle_timeout"
        } else {
            "relay_error"
        });
    }
    drop(slot);
}

/// SOCKS5: handshake, policy, connect, reply. `None` once refused (the
/// reply is sent and the failure counted).
async fn socks_open<S>(client: &mut S, ctx: &Ctx, slot_ok: bool) -> Option<TcpStream>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let m = &ctx.metrics;
    let target = match socks5::accept_after_version(client, &ctx.auth).await {
        Ok((t, _user)) => t,
        Err(e) => {
            m.fail(e.name());
            return None;
        }
    };
    let result = async {
        if !slot_ok {
            return Err(Failure::denied(Denied::Limit));
        }
        let dest = target.resolve().await.map_err(|_| {
            Failure::new(
                ErrorCode::DestinationUnreachable,
                Reply::HostUnreachable,
                "resolve",
            )
        })?;
        connect(ctx, dest).await
    }
    .await;
    match result {
        Ok(server) => {
            let bound = server.local_addr().ok();
            socks5::send_reply(client, Reply::Succeeded, bound)
                .await
                .ok()?;
            Some(server)
        }
        Err(f) => {
            m.fail(f.reason);
            let _ = socks5::send_reply(client, f.socks, None).await;
            let _ = client.shutdown().await;
            None
        }
    }
}

/// Convert: read the message, check it, connect, reply. `None` once
/// refused (the Error TLV is sent and the failure counted).
async fn convert_open<S>(client: &mut S, first: u8, ctx: &Ctx, slot_ok: bool) -> Option<TcpStream>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let m = &ctx.metrics;
    let result = async {
        let msg = read_message(client, first).await?;
        // RFC 8803 section 4.2.2: an Info TLV asks for the Supported TCP
        // Extensions; without a Connect TLV that is the whole exchange.
        let info = msg.tlvs.iter().any(|t| matches!(t, Tlv::Info));
        check_cookie(ctx, &msg)?;
        let Some(Tlv::Connect { remote, options }) =
            msg.tlvs.iter().find(|t| matches!(t, Tlv::Connect { .. }))
        else {
            if info {
                return Ok(None);
            }
            return Err(Failure::new(
                ErrorCode::MalformedMessage,
                Reply::GeneralFailure,
                "malformed_message",
            ));
        };
        check_options(options)?;
        if !slot_ok {
            return Err(Failure::denied(Denied::Limit));
        }
        Ok(Some((connect(ctx, *remote).await?, info)))
    }
    .await;
    match result {
        Ok(Some((server, info))) => {
            let mut reply = Message::default();
            if info {
                reply
                    .tlvs
                    .push(Tlv::SupportedTcpExtensions(SUPPORTED_EXTENSIONS.to_vec()));
            }
            // Fits: at most one small TLV.
            let bytes = reply.to_bytes().unwrap_or_default();
            client.write_all(&bytes).await.ok()?;
            Some(server)
        }
        Ok(None) => {
            let reply = Message {
                tlvs: vec![Tlv::SupportedTcpExtensions(SUPPORTED_EXTENSIONS.to_vec())],
            };
            let _ = client
                .write_all(&reply.to_bytes().unwrap_or_default())
                .await;
            let _ = client.shutdown().await;
            None
        }
        Err(f) => {
            m.fail(f.reason);
            // Fits: one Error TLV of one word.
            let bytes = Message::error_reply(f.convert)
                .to_bytes()
                .unwrap_or_default();
            let _ = client.write_all(&bytes).await;
            let _ = client.shutdown().await;
            None
        }
    }
}

/// Reads one Convert message whose first byte was `first`.
async fn read_message<S: AsyncRead + Unpin>(client: &mut S, first: u8) -> Result<Message, Failure> {
    let convert_failure = |e: ConvertError| Failure {
        convert: e,
        socks: Reply::GeneralFailure,
        reason: e.code.name(),
    };
    convert::message_len(&[first]).map_err(convert_failure)?;
    let words = client.read_u8().await.map_err(|_| {
        Failure::new(
            ErrorCode::MalformedMessage,
            Reply::GeneralFailure,
            "malformed_message",
        )
    })?;
    let len = convert::message_len(&[first, words])
        .map_err(convert_failure)?
        .unwrap_or(convert::HEADER_LEN);
    let mut buf = vec![0u8; len];
    buf[0] = first;
    buf[1] = words;
    client.read_exact(&mut buf[2..]).await.map_err(|_| {
        Failure::new(
            ErrorCode::MalformedMessage,
            Reply::GeneralFailure,
            "malformed_message",
        )
    })?;
    Message::parse(&buf).map_err(convert_failure)
}

/// RFC 8803 section 4.2.6: with cookies configured, a message without one
/// gets Missing Cookie, a wrong one Not Authorized.
fn check_cookie(ctx: &Ctx, msg: &Message) -> Result<(), Failure> {
    if ctx.cookies.is_empty() {
        return Ok(());
    }
    match msg.cookie() {
        None => Err(Failure::new(
            ErrorCode::MissingCookie,
            Reply::NotAllowed,
            "missing_cookie",
        )),
        Some(c) => {
            // The value on the wire is zero-padded to a word.
            let ok = ctx.cookies.iter().any(|want| {
                c.len() >= want.len()
                    && socks5::constant_eq(&c[..want.len()], want)
                    && c[want.len()..].iter().all(|&b| b == 0)
            });
            if ok {
                Ok(())
            } else {
                Err(Failure::denied(Denied::Client))
            }
        }
    }
}

/// Walks the TCP options of a Connect TLV (kind, length, value; EOL and
/// NOP are one byte) and refuses kinds the converter does not accept.
fn check_options(options: &[u8]) -> Result<(), Failure> {
    let mut at = 0;
    // Bounded: each turn advances by at least one byte.
    while let Some(&kind) = options.get(at) {
        if !ACCEPTED_OPTIONS.contains(&kind) {
            let mut f = Failure::new(
                ErrorCode::UnsupportedTcpOption,
                Reply::GeneralFailure,
                "unsupported_tcp_option",
            );
            f.convert.value = kind;
            return Err(f);
        }
        if kind <= 1 {
            at += 1;
            continue;
        }
        let len = usize::from(options.get(at + 1).copied().unwrap_or(0));
        if len < 2 {
            return Err(Failure::new(
                ErrorCode::MalformedMessage,
                Reply::GeneralFailure,
                "malformed_message",
            ));
        }
        at += len;
    }
    Ok(())
}

/// Checks the destination and connects to it.
async fn connect(ctx: &Ctx, dest: SocketAddr) -> Result<TcpStream, Failure> {
    ctx.destinations.check(dest).map_err(Failure::denied)?;
    match tokio::time::timeout(ctx.connect_timeout, TcpStream::connect(dest)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(Failure::connect(&e)),
        Err(_) => Err(Failure::connect(&io::ErrorKind::TimedOut.into())),
    }
}

/// Feeds a Braid connection's per-subflow bytes and MPTCP counters into
/// the metrics, as differences since the last look.
struct BraidSampler {
    stats: braid::StatsHandle,
    /// Per subflow (local, remote): its index, data bytes sent and received.
    seen: HashMap<(SocketAddr, SocketAddr), (usize, u64, u64)>,
    reinjected: u64,
    reinjections: u64,
    stalls: u64,
}

impl BraidSampler {
    fn new(stats: braid::StatsHandle) -> BraidSampler {
        BraidSampler {
            stats,
            seen: HashMap::new(),
            reinjected: 0,
            reinjections: 0,
            stalls: 0,
        }
    }

    fn sample(&mut self, m: &Metrics) {
        if let Ok(Some(subflows)) = self.stats.subflows() {
            for s in subflows {
                let next = self.seen.len();
                let e = self.seen.entry((s.local, s.remote)).or_insert_with(|| {
                    m.subflows.inc();
                    (next, 0, 0)
                });
                let label = |dir: &str| Subflow {
                    subflow: e.0.min(7).to_string(),
                    direction: dir.to_string(),
                };
                let tx = s.data_sent.saturating_sub(e.1);
                let rx = s.data_received.saturating_sub(e.2);
                m.subflow_bytes.get_or_create(&label("tx")).inc_by(tx);
                m.subflow_bytes.get_or_create(&label("rx")).inc_by(rx);
                e.1 = e.1.max(s.data_sent);
                e.2 = e.2.max(s.data_received);
            }
        }
        if let Ok(Some(mib)) = self.stats.mib() {
            m.reinjected_bytes
                .inc_by(mib.reinjected_bytes.saturating_sub(self.reinjected));
            m.reinjections.inc_by(
                mib.opportunistic_reinjections
                    .saturating_sub(self.reinjections),
            );
            m.stalls
                .inc_by(mib.subflow_penalized.saturating_sub(self.stalls));
            self.reinjected = self.reinjected.max(mib.reinjected_bytes);
            self.reinjections = self.reinjections.max(mib.opportunistic_reinjections);
            self.stalls = self.stalls.max(mib.subflow_penalized);
        }
    }
}

/// Runs `f` when dropped.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// `braid gateway`: runs until SIGTERM or SIGINT, then stops accepting,
/// lets connections finish (at most the drain timeout) and returns.
pub fn run(args: &GatewayArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(run_async(config))
}

async fn run_async(config: Config) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    if let Some(addr) = config.metrics {
        let l = crate::metrics::bind(addr).await?;
        tokio::spawn(metrics.clone().serve(l));
    }
    let ctx = Arc::new(Ctx::new(&config, metrics));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("install the SIGINT handler")?;
    let accept = match config.stack {
        StackKind::Kernel if config.transport == Transport::Udp => {
            return Err(anyhow!(
                "--transport udp needs --stack braid (the kernel's MPTCP does not speak it)"
            ));
        }
        StackKind::Kernel => {
            let listener = kernel_listener(config.listen)?;
            eprintln!(
                "braid gateway: accepting MPTCP (kernel) on {}",
                config.listen
            );
            tokio::spawn(accept_kernel(listener, ctx.clone(), stop_rx))
        }
        StackKind::Braid => {
            let (stack, listeners) = braid_listener(&config)?;
            let over = match config.transport {
                Transport::Tun => config.tun.clone(),
                Transport::Udp => format!("UDP {}", config.listen),
            };
            eprintln!(
                "braid gateway: accepting MPTCP (braid, {over}) on {}",
                config.listen
            );
            tokio::spawn(accept_braid(stack, listeners, ctx.clone(), stop_rx))
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!(
        "braid gateway: stopping; draining {} connection(s)",
        ctx.limits.active()
    );
    let _ = stop_tx.send(true);
    let stack = accept.await.ok().flatten();
    let deadline = tokio::time::Instant::now() + config.drain_timeout;
    // Bounded by the drain timeout.
    while ctx.metrics.active.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(stack) = stack {
        // Let Braid's stack send the last FINs and their acknowledgements
        // (at most 3 s).
        for _ in 0..60 {
            if stack.connection_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let left = ctx.metrics.active.get();
    if left > 0 {
        eprintln!("braid gateway: drain timeout, {left} connection(s) cut");
    }
    Ok(())
}

/// A kernel MPTCP listening socket (`IPPROTO_MPTCP`).
pub fn kernel_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(Protocol::MPTCP),
    )
    .map_err(|e| anyhow!("MPTCP socket (is net.mptcp.enabled=1?): {e}"))?;
    let ctx = |e: io::Error| anyhow!("listen on {addr}: {e}");
    socket.set_reuse_address(true).map_err(ctx)?;
    socket.bind(&addr.into()).map_err(ctx)?;
    // The kernel caps this at net.core.somaxconn (4,096 by default).
    socket.listen(4096).map_err(ctx)?;
    socket.set_nonblocking(true).map_err(ctx)?;
    TcpListener::from_std(socket.into()).map_err(ctx)
}

async fn accept_kernel(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) -> Option<braid::Stack> {
    // Bounded by the stop signal.
    loop {
        tokio::select! {
            _ = stop.changed() => return None,
            r = listener.accept() => match r {
                Ok((s, peer)) => {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(serve(s, peer, ctx.clone(), None));
                }
                // Out of descriptors or similar: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Braid's stack on a TUN device (or UDP sockets), owning the listening
/// address and the `addresses`, announcing the latter to clients; a
/// listener on each (joins to an announced address need one there, and a
/// client may also open its connection to it).
fn braid_listener(config: &Config) -> anyhow::Result<(braid::Stack, Vec<braid::Listener>)> {
    let addr = config.listen;
    if addr.ip().is_unspecified() {
        return Err(anyhow!(
            "listen: --stack braid needs a specific address to own, not {addr}"
        ));
    }
    let mut ep = braid::proto::endpoint::EndpointConfig {
        // Bounds the state a SYN flood can make the stack hold: connections
        // in any state (handshakes and closings included) stay within twice
        // the relayed-connection limit. (No SYN cookies yet.)
        max_connections: config.max_connections.saturating_mul(2).max(64),
        ..Default::default()
    };
    let announce: Vec<SocketAddr> = config
        .addresses
        .iter()
        .filter(|&&a| a != addr.ip())
        .map(|&a| SocketAddr::new(a, addr.port()))
        .collect();
    ep.conn.pm.announce = announce.clone();
    ep.conn.pm.limits.subflows = ep.conn.pm.limits.subflows.max(announce.len() + 1);
    let mut b = braid::Stack::builder().address(addr.ip()).config(ep);
    for a in &announce {
        b = b.address(a.ip());
    }
    let stack = match config.transport {
        Transport::Tun => {
            let tun = braid::TunDevice::create(&config.tun, 1500)
                .map_err(|e| anyhow!("TUN device {}: {e} (root needed)", config.tun))?;
            b.build(tun)
        }
        // One UDP socket per address, on the listening port's number.
        Transport::Udp => {
            let locals: Vec<SocketAddr> = std::iter::once(addr).chain(announce.clone()).collect();
            let dev =
                braid::UdpDevice::bind(&locals).map_err(|e| anyhow!("--transport udp: {e}"))?;
            b.build_udp(dev)
        }
    }
    .context("start the braid stack")?;
    let listeners = std::iter::once(addr)
        .chain(announce)
        .map(|a| braid::Listener::bind(&stack, a).map_err(|e| anyhow!("listen on {a}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    Ok((stack, listeners))
}

async fn accept_braid(
    stack: braid::Stack,
    listeners: Vec<braid::Listener>,
    ctx: Arc<Ctx>,
    stop: watch::Receiver<bool>,
) -> Option<braid::Stack> {
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let (ctx, mut stop) = (ctx.clone(), stop.clone());
            tokio::spawn(async move {
                // Bounded by the stop signal.
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        r = listener.accept() => match r {
                            Ok((s, peer)) => {
                                let stats = s.stats_handle();
                                tokio::spawn(serve(s, peer, ctx.clone(), Some(stats)));
                            }
                            Err(e) => {
                                eprintln!("braid gateway: accept: {e}");
                                return;
                            }
                        },
                    }
                }
            })
        })
        .collect();
    for l in loops {
        let _ = l.await;
    }
    Some(stack)
}
