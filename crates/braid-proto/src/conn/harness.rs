//! Test harness for scripted stories only: two [`Connection`]s over N
//! in-memory paths in virtual time, for stories that rewrite, drop, strip
//! or log single segments (a tamper function sees each [`Segment`] as the
//! connection built it) or read a connection's own state directly. A path
//! is a (client address, server address) pair with a delay (plus up to
//! 0.5 ms of seeded jitter). The client writes `to_send`; both sides read
//! what arrives. The harness is its own tiny endpoint: it demultiplexes by
//! 4-tuple and hands MP_JOIN SYNs to `accept_join`. Transfers between two
//! endpoints (loss, dead paths, schedulers, middleboxes rewriting DSS or
//! stripping options) run on braid-sim (`tests/mptcp_transfers.rs`),
//! where timing and loss are modelled once.

use super::{ConnConfig, Connection, Event, SubflowId};
use crate::tcp::Segment;
use crate::time::{Duration, Instant};
use crate::wire::TcpFlags;
use crate::wire::mptcp::MptcpOption;
use core::net::{IpAddr, SocketAddr};
use rand::{Rng, RngExt, SeedableRng};
use std::collections::HashMap;

/// One path.
#[derive(Debug, Clone)]
pub struct Path {
    pub client: IpAddr,
    pub server: IpAddr,
    pub delay: Duration,
}

impl Path {
    pub fn new(client: &str, server: &str, delay_ms: u64) -> Path {
        Path {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            delay: Duration::from_millis(delay_ms),
        }
    }
}

pub type Tamper = Box<dyn FnMut(bool, usize, &mut Segment) -> bool>;

struct InFlight {
    at: Instant,
    to_server: bool,
    src: SocketAddr,
    dst: SocketAddr,
    seg: Segment,
}

pub struct Harness {
    pub now: Instant,
    pub rng: rand_chacha::ChaCha8Rng,
    pub client: Connection,
    pub server: Option<Connection>,
    pub server_config: ConnConfig,
    pub paths: Vec<Path>,
    wire: Vec<InFlight>,
    client_map: HashMap<(SocketAddr, SocketAddr), SubflowId>,
    server_map: HashMap<(SocketAddr, SocketAddr), SubflowId>,
    pub tamper: Option<Tamper>,
    pub to_send: Vec<u8>,
    sent: usize,
    pub received: Vec<u8>,
    pub client_received: Vec<u8>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every segment carried: (to_server, path, segment).
    pub log: Vec<(bool, usize, Segment)>,
    pub keep_log: bool,
}

pub const SERVER_PORT: u16 = 443;

impl Harness {
    pub fn new(
        seed: u64,
        client_config: ConnConfig,
        server_config: ConnConfig,
        paths: Vec<Path>,
    ) -> Harness {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let local = SocketAddr::new(paths[0].client, 40000);
        let remote = SocketAddr::new(paths[0].server, SERVER_PORT);
        let client = Connection::connect(Instant::ZERO, &client_config, local, remote, &mut rng);
        Harness {
            now: Instant::ZERO,
            rng,
            client,
            server: None,
            server_config,
            paths,
            wire: Vec::new(),
            client_map: HashMap::new(),
            server_map: HashMap::new(),
            tamper: None,
            to_send: Vec::new(),
            sent: 0,
            received: Vec::new(),
            client_received: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            log: Vec::new(),
            keep_log: false,
        }
    }

    pub fn server(&self) -> &Connection {
        self.server.as_ref().expect("server accepted")
    }

    fn path_of(&self, client: IpAddr, server: IpAddr) -> Option<usize> {
        self.paths
            .iter()
            .position(|p| p.client == client && p.server == server)
    }

    fn put(&mut self, to_server: bool, src: SocketAddr, dst: SocketAddr, mut seg: Segment) {
        let (c, s) = if to_server {
            (src.ip(), dst.ip())
        } else {
            (dst.ip(), src.ip())
        };
        let Some(p) = self.path_of(c, s) else {
            return;
        };
        if self.keep_log {
            self.log.push((to_server, p, seg.clone()));
        }
        if let Some(t) = self.tamper.as_mut() {
            if !t(to_server, p, &mut seg) {
                return;
            }
        }
        let jitter = Duration::from_micros(self.rng.random_range(0..500));
        let at = self.now + self.paths[p].delay + jitter;
        self.wire.push(InFlight {
            at,
            to_server,
            src,
            dst,
            seg,
        });
    }

    fn apps(&mut self) {
        if self.sent < self.to_send.len() {
            self.sent += self.client.write(&self.to_send[self.sent..]);
        }
        let mut buf = vec![0u8; 65536];
        loop {
            let n = self.client.read(&mut buf);
            if n == 0 {
                break;
            }
            self.client_received.extend_from_slice(&buf[..n]);
        }
        if let Some(s) = self.server.as_mut() {
            loop {
                let n = s.read(&mut buf);
                if n == 0 {
                    break;
                }
                self.received.extend_from_slice(&buf[..n]);
            }
        }
    }

    fn flush(&mut self) {
        for _ in 0..10_000 {
            self.apps();
            let mut any = false;
            while let Some((id, l, r, seg)) = self.client.poll_transmit(self.now) {
                self.client_map.insert((l, r), id);
                self.put(true, l, r, seg);
                any = true;
            }
            let mut out = Vec::new();
            if let Some(s) = self.server.as_mut() {
                while let Some(x) = s.poll_transmit(self.now) {
                    out.push(x);
                }
            }
            for (id, l, r, seg) in out {
                self.server_map.insert((l, r), id);
                self.put(false, l, r, seg);
                any = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if let Some(s) = self.server.as_mut() {
                while let Some(e) = s.poll_event() {
                    self.server_events.push(e);
                }
            }
            if !any {
                break;
            }
        }
    }

    fn deliver(&mut self, f: InFlight) {
        let repr = f.seg.repr();
        if f.to_server {
            let key = (f.dst, f.src);
            if let Some(id) = self.server_map.get(&key).copied() {
                if let Some(s) = self.server.as_mut() {
                    s.handle_segment(self.now, id, &repr);
                }
                return;
            }
            if !repr.flags.contains(TcpFlags::SYN) || repr.ack_number.is_some() {
                return;
            }
            let join = repr
                .options
                .mptcp
                .iter()
                .any(|o| matches!(o, MptcpOption::MpJoin(_)));
            match self.server.as_mut() {
                Some(s) if join => {
                    if let Ok(id) = s.accept_join(self.now, f.dst, f.src, &repr, &mut self.rng) {
                        self.server_map.insert(key, id);
                    }
                }
                Some(_) => {}
                None => {
                    if let Ok(s) = Connection::accept(
                        self.now,
                        &self.server_config,
                        f.dst,
                        f.src,
                        &repr,
                        &mut self.rng,
                    ) {
                        let id = s.subflows()[0].id;
                        self.server_map.insert(key, id);
                        self.server = Some(s);
                    }
                }
            }
        } else if let Some(id) = self.client_map.get(&(f.dst, f.src)).copied() {
            self.client.handle_segment(self.now, id, &repr);
        }
    }

    /// Advance to the next thing that happens; false when nothing is left.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_wire = self.wire.iter().map(|w| w.at).min();
        let t = [
            next_wire,
            self.client.poll_timeout(),
            self.server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(t) = t else {
            return false;
        };
        self.now = self.now.max(t);
        self.wire.sort_by_key(|w| w.at);
        while self.wire.first().is_some_and(|w| w.at <= self.now) {
            let f = self.wire.remove(0);
            self.deliver(f);
        }
        if self.client.poll_timeout().is_some_and(|x| x <= self.now) {
            self.client.handle_timeout(self.now);
        }
        if let Some(s) = self.server.as_mut() {
            if s.poll_timeout().is_some_and(|x| x <= self.now) {
                s.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    /// Step until `done` or `limit` of virtual time; returns whether done.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Harness) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// `n` bytes from the harness's seeded RNG.
    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }
}
