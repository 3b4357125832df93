//! A Braid stack as a simulated host: [`EndpointHost`] wraps a
//! [`braid_proto::endpoint::Endpoint`] and an application ([`App`]): a
//! bulk sender writing seeded pseudo-random bytes, or a bulk receiver
//! checking every byte against the same bytes and recording when each
//! arrived. Another application (the CLI's demo tells its own story)
//! implements [`Application`] and runs on the same host.
//!
//! ```
//! use braid_proto::endpoint::{Endpoint, EndpointConfig};
//! use braid_proto::time::{Duration, Instant};
//! use braid_sim::stack::{App, EndpointHost, payload};
//! use braid_sim::{LinkConfig, QueueLimit, Sim};
//!
//! let data = payload(7, 100_000);
//! let (client, server) = ("10.0.0.1:0".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
//! let mut sim = Sim::new(7);
//! let tx = sim.add_host(EndpointHost::new(
//!     Endpoint::with_seed(EndpointConfig::default(), 1),
//!     App::sender(Instant::ZERO, client, server, data.clone()),
//! ));
//! let rx = sim.add_host(EndpointHost::new(
//!     Endpoint::with_seed(EndpointConfig::default(), 2),
//!     App::receiver(server, data),
//! ));
//! let link = LinkConfig::default()
//!     .rate_bps(10_000_000)
//!     .delay(Duration::from_millis(10))
//!     .queue(QueueLimit::Packets(100));
//! sim.connect_symmetric((tx, 0), (rx, 0), link).unwrap();
//! sim.run_while(|s| !s.host(rx).app.is_done(), Instant::from_secs(10)).unwrap();
//! let r = sim.host(rx).app.receiver_state().unwrap();
//! assert_eq!(r.received, 100_000);
//! assert!(r.mismatch.is_none());
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use braid_proto::conn::SubflowInfo;
use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, MptcpEvent};
use braid_proto::mib::Mib;
use braid_proto::tcp::CloseReason;
use braid_proto::time::{Duration, Instant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::host::Host;

/// Bytes a receiver reads at a time.
const READ_BUF: usize = 64 * 1024;

/// `len` pseudo-random bytes from `seed` (ChaCha8).
pub fn payload(seed: u64, len: usize) -> Arc<[u8]> {
    let mut data = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_DA7A).fill_bytes(&mut data);
    data.into()
}

/// The two hosts of a one-way bulk transfer of `data`: `sender` connects
/// from `client` to `server` at time zero and writes it, `receiver` listens
/// on `server` and checks every byte. Add them to a simulation (after
/// [`EndpointHost::route`] when there are several interfaces).
pub fn bulk_hosts(
    sender: Endpoint,
    receiver: Endpoint,
    (client, server): (SocketAddr, SocketAddr),
    data: Arc<[u8]>,
) -> (EndpointHost, EndpointHost) {
    (
        EndpointHost::new(
            sender,
            App::sender(Instant::ZERO, client, server, data.clone()),
        ),
        EndpointHost::new(receiver, App::receiver(server, data)),
    )
}

/// The bulk sender: connects at `start` (or, as the server of a download,
/// accepts one connection on `listen`), writes `data`, then closes.
#[derive(Debug)]
pub struct BulkSender {
    /// When to connect.
    pub start: Instant,
    /// Local address (port 0: ephemeral).
    pub local: SocketAddr,
    /// Server.
    pub remote: SocketAddr,
    /// Accept one connection here instead of connecting (see
    /// [`App::download_server`]); `start`, `local` and `remote` are then
    /// unused.
    pub listen: Option<SocketAddr>,
    /// The bytes to send.
    pub data: Arc<[u8]>,
    /// Bytes handed to the endpoint so far.
    pub written: usize,
    /// The connection, once opened.
    pub conn: Option<ConnHandle>,
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// When the connection closed, and why.
    pub closed: Option<(Instant, CloseReason)>,
    /// Whether the application closed its direction (all written).
    pub closing: bool,
    /// Why `connect` failed, if it did.
    pub connect_error: Option<String>,
    /// A paced application (a call, a game): write at most this many
    /// bytes, then wait this long before writing again, from the
    /// handshake on (see [`App::write_paced`]).
    pub write_pace: Option<(usize, Duration)>,
    /// Write nothing until this long after the handshake (see
    /// [`App::write_after`]).
    pub write_delay: Option<Duration>,
    /// A paced sender's writes: (time, total bytes written) after each
    /// (to match with the receiver's `progress` for per-byte delays).
    pub written_at: Vec<(Instant, u64)>,
    next_write: Instant,
    listening: bool,
}

/// The bulk receiver: accepts one connection on `listen` (or, as the
/// client of a download, opens one), reads everything and compares it
/// with `expected`.
#[derive(Debug)]
pub struct BulkReceiver {
    /// Listening address (unused when `connect` is set).
    pub listen: SocketAddr,
    /// Open the connection instead of accepting it: when, from where
    /// (port 0: ephemeral), to where (see [`App::download_client`]).
    pub connect: Option<(Instant, SocketAddr, SocketAddr)>,
    /// Why `connect` failed, if it did.
    pub connect_error: Option<String>,
    /// The bytes that should arrive.
    pub expected: Arc<[u8]>,
    /// The connection, once accepted.
    pub conn: Option<ConnHandle>,
    /// Bytes received (and compared) so far.
    pub received: usize,
    /// Offset of the first byte that differed from `expected` (or of data
    /// beyond it).
    pub mismatch: Option<usize>,
    /// Delivery progress: (time, total bytes received) after each read.
    pub progress: Vec<(Instant, u64)>,
    /// When the end of the stream was read.
    pub eof_at: Option<Instant>,
    /// When the connection closed, and why.
    pub closed: Option<(Instant, CloseReason)>,
    /// Connections accepted (more than one is a bug in a bulk story).
    pub accepted: u32,
    /// A slow application: read at most this many bytes, then wait this
    /// long before reading again (see [`App::read_paced`]).
    pub read_pace: Option<(usize, Duration)>,
    next_read: Instant,
    listening: bool,
    read_buf: Vec<u8>,
}

impl BulkReceiver {
    /// When `fraction` (0..=1) of the expected bytes had arrived.
    pub fn time_of_fraction(&self, fraction: f64) -> Option<Instant> {
        let target = (self.expected.len() as f64 * fraction).ceil() as u64;
        self.progress
            .iter()
            .find(|&&(_, n)| n >= target)
            .map(|&(t, _)| t)
    }

    /// Whether every expected byte arrived intact, then the end of stream.
    pub fn complete(&self) -> bool {
        self.mismatch.is_none() && self.received == self.expected.len() && self.eof_at.is_some()
    }
}

/// What runs on top of the endpoint.
#[derive(Debug)]
pub enum App {
    /// Nothing: the endpoint alone (answers with RSTs, nothing listens).
    Idle,
    /// A bulk sender.
    Sender(BulkSender),
    /// A bulk receiver.
    Receiver(BulkReceiver),
}

impl App {
    /// A bulk sender connecting from `local` to `remote` at `start`.
    pub fn sender(start: Instant, local: SocketAddr, remote: SocketAddr, data: Arc<[u8]>) -> App {
        App::Sender(BulkSender {
            start,
            local,
            remote,
            listen: None,
            data,
            written: 0,
            conn: None,
            connected_at: None,
            closed: None,
            closing: false,
            connect_error: None,
            write_pace: None,
            write_delay: None,
            written_at: Vec::new(),
            next_write: Instant::ZERO,
            listening: false,
        })
    }

    /// The server of a download: accepts one connection on `listen`, sends
    /// `data` on it, then closes.
    pub fn download_server(listen: SocketAddr, data: Arc<[u8]>) -> App {
        let mut app = App::sender(Instant::ZERO, listen, listen, data);
        if let App::Sender(s) = &mut app {
            s.listen = Some(listen);
        }
        app
    }

    /// The client of a download: connects from `local` to `remote` at
    /// `start` and reads `expected`.
    pub fn download_client(
        start: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        expected: Arc<[u8]>,
    ) -> App {
        let mut app = App::receiver(local, expected);
        if let App::Receiver(r) = &mut app {
            r.connect = Some((start, local, remote));
        }
        app
    }

    /// A bulk receiver listening on `listen`, expecting `expected`.
    pub fn receiver(listen: SocketAddr, expected: Arc<[u8]>) -> App {
        App::Receiver(BulkReceiver {
            listen,
            connect: None,
            connect_error: None,
            expected,
            conn: None,
            received: 0,
            mismatch: None,
            progress: Vec::new(),
            eof_at: None,
            closed: None,
            accepted: 0,
            read_pace: None,
            next_read: Instant::ZERO,
            listening: false,
            read_buf: vec![0; READ_BUF],
        })
    }

    /// A receiver reads at most `chunk` bytes every `every` (a slow
    /// application, whose receive window closes); other apps are unchanged.
    pub fn read_paced(mut self, chunk: usize, every: Duration) -> App {
        if let App::Receiver(r) = &mut self {
            r.read_pace = Some((chunk, every));
        }
        self
    }

    /// A sender writes at most `chunk` bytes every `every`, starting when
    /// the connection is established (a constant-rate stream); other apps
    /// are unchanged.
    pub fn write_paced(mut self, chunk: usize, every: Duration) -> App {
        if let App::Sender(s) = &mut self {
            s.write_pace = Some((chunk, every));
        }
        self
    }

    /// A sender writes nothing until `delay` after the handshake (an
    /// application that connects ahead of time); other apps are
    /// unchanged.
    pub fn write_after(mut self, delay: Duration) -> App {
        if let App::Sender(s) = &mut self {
            s.write_delay = Some(delay);
        }
        self
    }

    /// The receiver's state, if this is a receiver.
    pub fn receiver_state(&self) -> Option<&BulkReceiver> {
        match self {
            App::Receiver(r) => Some(r),
            _ => None,
        }
    }

    /// The sender's state, if this is a sender.
    pub fn sender_state(&self) -> Option<&BulkSender> {
        match self {
            App::Sender(s) => Some(s),
            _ => None,
        }
    }

    /// Sender: the connection closed. Receiver: everything read (or a
    /// mismatch, or the connection closed). Idle: always.
    pub fn is_done(&self) -> bool {
        match self {
            App::Idle => true,
            App::Sender(s) => s.closed.is_some() || s.connect_error.is_some(),
            App::Receiver(r) => {
                r.eof_at.is_some()
                    || r.mismatch.is_some()
                    || r.closed.is_some()
                    || r.connect_error.is_some()
            }
        }
    }
}

/// What runs on top of an [`EndpointHost`]'s endpoint. [`App`] (bulk sender
/// and receiver) is one; a simulation with a story of its own implements
/// this and keeps the host: its routing, its wake-ups, its MPTCP view.
pub trait Application: std::fmt::Debug {
    /// React to what happened: open, accept, read, write, close. The host
    /// calls it after every input and once before its first transmission.
    fn drive(&mut self, endpoint: &mut Endpoint, now: Instant);

    /// When the application must act without any input (a start time, a
    /// deadline); `None` when only input wakes it.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The connection whose MPTCP figures the host keeps in
    /// [`EndpointHost::mptcp`].
    fn conn(&self) -> Option<ConnHandle>;
}

/// What an MPTCP host saw of its application's connection: the last
/// counters and subflows read while the connection existed (the endpoint
/// forgets a connection once it is closed), and every path event.
#[derive(Debug, Default, Clone)]
pub struct MptcpView {
    /// The connection's MPTCP counters.
    pub mib: Mib,
    /// Its subflows.
    pub subflows: Vec<SubflowInfo>,
    /// Its path events, with when they came.
    pub events: Vec<(Instant, MptcpEvent)>,
    /// Whether it spoke MPTCP (false after fallback).
    pub is_mptcp: bool,
}

/// An [`Endpoint`] and its application as a simulator [`Host`].
#[derive(Debug)]
pub struct EndpointHost<A: Application = App> {
    /// The stack.
    pub endpoint: Endpoint,
    /// The application.
    pub app: A,
    /// Source address -> interface; packets from other addresses leave on
    /// interface 0.
    pub routes: Vec<(IpAddr, usize)>,
    /// Destination address -> interface; checked before `routes` (a
    /// multihomed peer reached over one link per address).
    pub dst_routes: Vec<(IpAddr, usize)>,
    /// MPTCP figures of the application's connection.
    pub mptcp: MptcpView,
    /// The application has not run since creation.
    fresh: bool,
}

impl<A: Application> EndpointHost<A> {
    /// A host running `app` on `endpoint`, one interface (0).
    pub fn new(endpoint: Endpoint, app: A) -> EndpointHost<A> {
        EndpointHost {
            endpoint,
            app,
            routes: Vec::new(),
            dst_routes: Vec::new(),
            mptcp: MptcpView::default(),
            fresh: true,
        }
    }

    /// Send packets from `src` on interface `iface`.
    pub fn route(mut self, src: IpAddr, iface: usize) -> EndpointHost<A> {
        self.routes.push((src, iface));
        self
    }

    /// Send packets to `dst` on interface `iface`.
    pub fn route_to(mut self, dst: IpAddr, iface: usize) -> EndpointHost<A> {
        self.dst_routes.push((dst, iface));
        self
    }

    /// The application's connection.
    pub fn conn(&self) -> Option<ConnHandle> {
        self.app.conn()
    }

    /// Refresh [`EndpointHost::mptcp`].
    fn snapshot(&mut self, now: Instant) {
        let conn = self.conn();
        while let Some((h, e)) = self.endpoint.poll_mptcp_event() {
            if Some(h) == conn {
                self.mptcp.events.push((now, e));
            }
        }
        let Some(h) = conn else { return };
        if let Ok(mib) = self.endpoint.mptcp_mib(h) {
            self.mptcp.mib = mib;
        }
        if let Ok(s) = self.endpoint.subflows(h) {
            self.mptcp.subflows = s;
        }
        if let Ok(m) = self.endpoint.is_mptcp(h) {
            self.mptcp.is_mptcp = m;
        }
    }

    /// Let the application react: open, accept, read, write, close. The
    /// host calls it after every input; call it after changing the host
    /// through `Sim::host_mut`.
    pub fn drive(&mut self, now: Instant) {
        self.app.drive(&mut self.endpoint, now);
    }

    fn iface_for(&self, src: IpAddr, dst: IpAddr) -> usize {
        if let Some(&(_, i)) = self.dst_routes.iter().find(|(a, _)| *a == dst) {
            return i;
        }
        self.routes
            .iter()
            .find(|(a, _)| *a == src)
            .map_or(0, |&(_, i)| i)
    }
}

impl Application for App {
    fn drive(&mut self, ep: &mut Endpoint, now: Instant) {
        match self {
            App::Idle => {}
            App::Sender(s) => {
                if let Some(listen) = s.listen {
                    if !s.listening {
                        s.listening = ep.listen(listen).is_ok();
                    }
                } else if s.conn.is_none() && s.connect_error.is_none() && now >= s.start {
                    match ep.connect(now, s.local, s.remote) {
                        Ok(h) => s.conn = Some(h),
                        Err(e) => s.connect_error = Some(e.to_string()),
                    }
                }
                while let Some((h, e)) = ep.poll_event() {
                    if e == ConnEvent::Accepted && s.listen.is_some() && s.conn.is_none() {
                        s.conn = Some(h);
                        s.connected_at = Some(now);
                    }
                    if Some(h) != s.conn {
                        continue;
                    }
                    match e {
                        ConnEvent::Connected => s.connected_at = Some(now),
                        ConnEvent::Closed { reason } => s.closed = Some((now, reason)),
                        _ => {}
                    }
                }
                if let Some(h) = s.conn
                    && s.closed.is_none()
                {
                    let held = s
                        .write_delay
                        .is_some_and(|d| s.connected_at.is_none_or(|at| now < at + d));
                    let mut budget = match (s.write_pace, s.connected_at) {
                        _ if held => 0,
                        (None, _) => usize::MAX,
                        (Some(_), None) => 0,
                        (Some(_), Some(_)) if now < s.next_write => 0,
                        (Some((chunk, every)), Some(at)) => {
                            s.next_write = s.next_write.max(at) + every;
                            chunk
                        }
                    };
                    while s.written < s.data.len() && budget > 0 {
                        let end = s.data.len().min(s.written.saturating_add(budget));
                        match ep.write(h, &s.data[s.written..end]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                s.written += n;
                                budget -= n;
                            }
                        }
                    }
                    if s.write_pace.is_some()
                        && s.written_at.last().is_none_or(|w| w.1 < s.written as u64)
                    {
                        s.written_at.push((now, s.written as u64));
                    }
                    if s.written == s.data.len() && !s.closing {
                        s.closing = true;
                        let _ = ep.close(h);
                    }
                }
            }
            App::Receiver(r) => {
                if let Some((start, local, remote)) = r.connect {
                    if r.conn.is_none() && r.connect_error.is_none() && now >= start {
                        match ep.connect(now, local, remote) {
                            Ok(h) => r.conn = Some(h),
                            Err(e) => r.connect_error = Some(e.to_string()),
                        }
                    }
                } else if !r.listening {
                    r.listening = ep.listen(r.listen).is_ok();
                }
                while let Some((h, e)) = ep.poll_event() {
                    match e {
                        ConnEvent::Accepted => {
                            r.accepted += 1;
                            if r.conn.is_none() {
                                r.conn = Some(h);
                            }
                        }
                        ConnEvent::Closed { reason } if Some(h) == r.conn => {
                            r.closed = Some((now, reason));
                        }
                        _ => {}
                    }
                }
                let Some(h) = r.conn else { return };
                let before = r.received;
                let mut budget = match r.read_pace {
                    None => usize::MAX,
                    Some(_) if now < r.next_read => 0,
                    Some((chunk, every)) => {
                        r.next_read = now + every;
                        chunk
                    }
                };
                while budget > 0
                    && let Ok(n) = ep.read(h, &mut r.read_buf[..budget.min(READ_BUF)])
                    && n > 0
                {
                    budget -= n;
                    let chunk = &r.read_buf[..n];
                    let end = r.received + n;
                    if r.mismatch.is_none() {
                        match r.expected.get(r.received..end) {
                            Some(want) if want == chunk => {}
                            Some(want) => {
                                let at = want.iter().zip(chunk).position(|(a, b)| a != b);
                                r.mismatch = Some(r.received + at.unwrap_or(0));
                            }
                            None => r.mismatch = Some(r.expected.len().min(end)),
                        }
                    }
                    r.received = end;
                }
                if r.received != before {
                    r.progress.push((now, r.received as u64));
                }
                if r.eof_at.is_none() && ep.is_read_closed(h).unwrap_or(false) {
                    r.eof_at = Some(now);
                    let _ = ep.close(h);
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            App::Sender(s)
                if s.listen.is_none() && s.conn.is_none() && s.connect_error.is_none() =>
            {
                Some(s.start)
            }
            App::Receiver(BulkReceiver {
                connect: Some((start, ..)),
                conn: None,
                connect_error: None,
                ..
            }) => Some(*start),
            // A delayed writer wakes to start.
            App::Sender(BulkSender {
                write_delay: Some(d),
                connected_at: Some(at),
                written: 0,
                ..
            }) => Some(*at + *d),
            // A paced writer wakes to write again.
            App::Sender(s)
                if s.write_pace.is_some()
                    && s.connected_at.is_some()
                    && s.closed.is_none()
                    && s.written < s.data.len() =>
            {
                Some(s.next_write)
            }
            // A paced reader wakes to read again.
            App::Receiver(r) if r.read_pace.is_some() && r.conn.is_some() && r.eof_at.is_none() => {
                Some(r.next_read)
            }
            _ => None,
        }
    }

    fn conn(&self) -> Option<ConnHandle> {
        match self {
            App::Idle => None,
            App::Sender(s) => s.conn,
            App::Receiver(r) => r.conn,
        }
    }
}

impl<A: Application> Host for EndpointHost<A> {
    fn handle_packet(&mut self, now: Instant, _iface: usize, packet: &[u8]) {
        self.endpoint.handle_packet(now, packet);
        self.drive(now);
        self.snapshot(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.drive(now);
        self.snapshot(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        // At start-up the simulator polls before any input: let the
        // application act first.
        if self.fresh {
            self.fresh = false;
            self.drive(now);
        }
        let mut buf = Vec::with_capacity(1600);
        let t = self.endpoint.poll_transmit(now, &mut buf)?;
        Some((self.iface_for(t.src, t.dst), buf))
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let ep = self.endpoint.poll_timeout();
        match (ep, self.app.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
