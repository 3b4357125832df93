//! The simulated world: a phone with one address per path and a server,
//! both running the real `braid-proto` endpoint on `braid-sim`, and one
//! MPTCP connection from the phone downloading the server's stream.
//!
//! Addresses: the phone is `10.0.<i>.2` on path `i` (1-based), the server
//! `10.1.0.1:443` (and `10.1.0.2:443` when it announces a second address).
//! The phone sends by source address, the server by destination, so every
//! subflow of path `i` crosses link `i`.
//!
//! The stream is pseudo-random ([`stream_byte`]); the phone checks every
//! byte it reads against it, so "byte-exact" means compared, not assumed.
//!
//! Both hosts are braid-sim's [`EndpointHost`]; what is the demo's own is
//! the application on them ([`DemoApp`]: the phone's and the server's
//! story, and the [`Happening`]s told to the user).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use braid_proto::cc::CcAlgorithm;
use braid_proto::conn::{SubflowId, SubflowInfo};
use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, EndpointConfig, MptcpEvent};
use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::stack::{Application, EndpointHost};
use braid_sim::{HostId, Sim};

use super::story::Story;

/// The server's address.
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), 443);
/// The address the server announces with ADD_ADDR, if the story says so.
pub const SERVER_ALT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)), 443);

/// The phone's address on path `i` (0-based).
pub fn phone_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, i as u8 + 1, 2))
}

/// The path (0-based) a phone address is on.
pub fn path_of(ip: IpAddr, paths: usize) -> Option<usize> {
    (0..paths).find(|&i| phone_ip(i) == ip)
}

/// Byte `offset` of the server's stream for `seed`.
pub fn stream_byte(seed: u64, offset: u64) -> u8 {
    (splitmix64(seed ^ (offset / 8)) >> (8 * (offset % 8))) as u8
}

/// Fills `buf` with the stream from `offset` on.
fn fill_stream(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(seed, offset + i as u64);
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Something worth telling the user, from one of the two stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    /// The MPTCP handshake completed on the path.
    Connected { path: usize },
    /// The connection fell back to plain TCP.
    Fallback,
    /// A subflow completed its MP_JOIN on the path.
    SubflowEstablished { path: usize, remote: SocketAddr },
    /// The phone marked the subflow as backup (MP_PRIO).
    MarkedBackup { path: usize },
    /// The server announced an address (ADD_ADDR), as the phone saw it.
    AddrAnnounced { addr: SocketAddr },
    /// A subflow closed.
    SubflowClosed { path: usize, why: String },
    /// The server's subflow on the path had a retransmission timeout with
    /// no progress: the path is treated as failed.
    PathStalled { path: usize },
    /// The server reinjected bytes (total so far) stuck on a failed path.
    Reinjected { total: u64 },
    /// A stalled subflow delivers again.
    PathRecovered { path: usize },
    /// A backup subflow started carrying data.
    BackupInUse { path: usize },
    /// The phone read the end of the stream.
    EndOfStream { bytes: u64 },
    /// The connection closed.
    Closed { why: String },
}

/// The phone: connects, reads, checks.
#[derive(Debug, Default)]
pub struct Phone {
    /// The connection.
    pub conn: Option<ConnHandle>,
    /// Bytes read (all compared).
    pub received: u64,
    /// First byte that differed from the stream.
    pub mismatch: Option<u64>,
    /// When the end of the stream was read.
    pub eof_at: Option<Instant>,
    /// When the connection closed.
    pub closed_at: Option<Instant>,
    /// When the first and the latest new bytes were read.
    pub first_read: Option<Instant>,
    /// When new bytes were last read.
    pub last_read: Option<Instant>,
    /// Longest time between two reads that brought new bytes.
    pub longest_stall: Duration,
    /// When that stall ended.
    pub longest_stall_end: Option<Instant>,
    /// Paths (0-based) whose subflows join as backup.
    backup_paths: Vec<usize>,
    /// Last figures per subflow (kept after a subflow disappears).
    pub subflows: Vec<SubflowInfo>,
}

/// The server: accepts, writes the stream, closes at the end.
#[derive(Debug, Default)]
pub struct Server {
    /// The connection.
    pub conn: Option<ConnHandle>,
    /// Connections accepted (a reconnect would make it 2).
    pub accepted: u32,
    /// Bytes written.
    pub written: u64,
    /// Stop writing (and close) at this instant...
    stop_at: Instant,
    /// ...or after this many bytes.
    limit: Option<u64>,
    closing: bool,
    /// Last figures per subflow (kept after a subflow disappears).
    pub subflows: Vec<SubflowInfo>,
    /// Subflows stalled now (a retransmission timeout, no progress since).
    pub stalled: Vec<SubflowId>,
    backup_busy: Vec<SubflowId>,
    /// Bytes reinjected so far.
    pub reinjected: u64,
}

/// What runs on an endpoint.
#[derive(Debug)]
pub enum Role {
    /// The downloading phone.
    Phone(Phone),
    /// The server.
    Server(Server),
}

/// The demo's application on a host: its role and what it tells.
#[derive(Debug)]
pub struct DemoApp {
    /// The application.
    pub role: Role,
    seed: u64,
    paths: usize,
    /// What happened, with when.
    pub log: Vec<(Instant, Happening)>,
    buf: Vec<u8>,
}

impl DemoApp {
    fn new(role: Role, seed: u64, paths: usize) -> DemoApp {
        DemoApp {
            role,
            seed,
            paths,
            log: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    fn drive_phone(&mut self, ep: &mut Endpoint, now: Instant) {
        let Role::Phone(p) = &mut self.role else {
            return;
        };
        if p.conn.is_none() && p.closed_at.is_none() {
            match ep.connect(now, SocketAddr::new(phone_ip(0), 0), SERVER) {
                Ok(h) => p.conn = Some(h),
                Err(e) => {
                    p.closed_at = Some(now);
                    self.log.push((
                        now,
                        Happening::Closed {
                            why: format!("connect failed: {e}"),
                        },
                    ));
                    return;
                }
            }
        }
        let Some(h) = p.conn else { return };
        while let Some((c, e)) = ep.poll_event() {
            if c != h {
                continue;
            }
            match e {
                ConnEvent::Connected => {
                    self.log.push((now, Happening::Connected { path: 0 }));
                    if p.backup_paths.contains(&0)
                        && let Ok(s) = ep.subflows(h)
                        && let Some(first) = s.first()
                        && ep.set_backup(h, first.id, true).is_ok()
                    {
                        self.log.push((now, Happening::MarkedBackup { path: 0 }));
                    }
                }
                ConnEvent::Closed { reason } => {
                    p.closed_at = Some(now);
                    self.log.push((
                        now,
                        Happening::Closed {
                            why: format!("{reason:?}"),
                        },
                    ));
                }
                _ => {}
            }
        }
        while let Some((c, e)) = ep.poll_mptcp_event() {
            if c != h {
                continue;
            }
            let paths = self.paths;
            let path = |ip| path_of(ip, paths).unwrap_or(0);
            match e {
                MptcpEvent::SubflowEstablished { id, local, remote } => {
                    let path = path(local.ip());
                    self.log
                        .push((now, Happening::SubflowEstablished { path, remote }));
                    if p.backup_paths.contains(&path) && ep.set_backup(h, id, true).is_ok() {
                        self.log.push((now, Happening::MarkedBackup { path }));
                    }
                }
                MptcpEvent::SubflowClosed { id, reason } => {
                    let path = p
                        .subflows
                        .iter()
                        .find(|s| s.id == id)
                        .map_or(0, |s| path(s.local.ip()));
                    let why = match (reason.peer_reason, reason.local_reason) {
                        (Some(r), _) => format!("reset by the server (MP_TCPRST reason {r})"),
                        (None, Some(r)) => format!("reset (MP_TCPRST reason {r})"),
                        (None, None) => format!("{:?}", reason.tcp).to_lowercase(),
                    };
                    self.log.push((now, Happening::SubflowClosed { path, why }));
                }
                MptcpEvent::AddrAnnounced { addr, .. } => {
                    self.log.push((now, Happening::AddrAnnounced { addr }));
                }
                MptcpEvent::Fallback => self.log.push((now, Happening::Fallback)),
                MptcpEvent::AddrRemoved { .. } | MptcpEvent::PriorityChanged { .. } => {}
            }
        }
        let before = p.received;
        while let Ok(n) = ep.read(h, &mut self.buf)
            && n > 0
        {
            if p.mismatch.is_none() {
                let at = self.buf[..n]
                    .iter()
                    .enumerate()
                    .position(|(i, b)| *b != stream_byte(self.seed, p.received + i as u64));
                p.mismatch = at.map(|i| p.received + i as u64);
            }
            p.received += n as u64;
        }
        if p.received > before {
            if let Some(last) = p.last_read {
                let gap = now - last;
                if gap > p.longest_stall {
                    p.longest_stall = gap;
                    p.longest_stall_end = Some(now);
                }
            }
            p.first_read.get_or_insert(now);
            p.last_read = Some(now);
        }
        if p.eof_at.is_none() && ep.is_read_closed(h).unwrap_or(false) {
            p.eof_at = Some(now);
            self.log
                .push((now, Happening::EndOfStream { bytes: p.received }));
            let _ = ep.close(h);
        }
        if let Ok(s) = ep.subflows(h) {
            merge(&mut p.subflows, s);
        }
    }

    fn drive_server(&mut self, ep: &mut Endpoint, now: Instant) {
        let Role::Server(s) = &mut self.role else {
            return;
        };
        while let Some((c, e)) = ep.poll_event() {
            if e == ConnEvent::Accepted {
                s.accepted += 1;
                s.conn.get_or_insert(c);
            }
        }
        while ep.poll_mptcp_event().is_some() {}
        let Some(h) = s.conn else { return };
        let limit = s.limit.unwrap_or(u64::MAX);
        while !s.closing && s.written < limit && now < s.stop_at {
            let room = ep.send_capacity(h).unwrap_or(0);
            let n = room.min(self.buf.len()).min((limit - s.written) as usize);
            if n == 0 {
                break;
            }
            fill_stream(self.seed, s.written, &mut self.buf[..n]);
            match ep.write(h, &self.buf[..n]) {
                Ok(0) | Err(_) => break,
                Ok(w) => s.written += w as u64,
            }
        }
        if !s.closing && (s.written >= limit || now >= s.stop_at) {
            s.closing = true;
            let _ = ep.close(h);
        }
        // The sender's view of each path: stalls, recoveries, reinjection,
        // backups in use.
        let Ok(subflows) = ep.subflows(h) else { return };
        for f in &subflows {
            let path = path_of(f.remote.ip(), self.paths).unwrap_or(0);
            let old = s.subflows.iter().find(|o| o.id == f.id);
            let (old_rto, old_acked, old_sent) = old.map_or((0, 0, 0), |o| {
                (o.stats.rto_count, o.stats.bytes_acked, o.data_sent)
            });
            if f.stats.rto_count > old_rto && f.established && !s.stalled.contains(&f.id) {
                s.stalled.push(f.id);
                self.log.push((now, Happening::PathStalled { path }));
            } else if f.stats.bytes_acked > old_acked && s.stalled.contains(&f.id) {
                s.stalled.retain(|x| *x != f.id);
                self.log.push((now, Happening::PathRecovered { path }));
            }
            if f.backup && f.data_sent > old_sent && !s.backup_busy.contains(&f.id) {
                s.backup_busy.push(f.id);
                self.log.push((now, Happening::BackupInUse { path }));
            }
        }
        if let Ok(mib) = ep.mptcp_mib(h)
            && mib.reinjected_bytes > s.reinjected
        {
            s.reinjected = mib.reinjected_bytes;
            self.log.push((
                now,
                Happening::Reinjected {
                    total: s.reinjected,
                },
            ));
        }
        merge(&mut s.subflows, subflows);
    }
}

/// Replace known subflows' figures, add new ones, keep vanished ones.
fn merge(known: &mut Vec<SubflowInfo>, fresh: Vec<SubflowInfo>) {
    for f in fresh {
        match known.iter_mut().find(|k| k.id == f.id) {
            Some(k) => *k = f,
            None => known.push(f),
        }
    }
}

impl Application for DemoApp {
    fn drive(&mut self, endpoint: &mut Endpoint, now: Instant) {
        match &self.role {
            Role::Phone(_) => self.drive_phone(endpoint, now),
            Role::Server(_) => self.drive_server(endpoint, now),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.role {
            // Wake to stop writing at the end of the story.
            Role::Server(s) if !s.closing && s.conn.is_some() => Some(s.stop_at),
            _ => None,
        }
    }

    fn conn(&self) -> Option<ConnHandle> {
        match &self.role {
            Role::Phone(p) => p.conn,
            Role::Server(s) => s.conn,
        }
    }
}

/// One run of a story.
#[derive(Debug)]
pub struct World {
    /// The simulation.
    pub sim: Sim<EndpointHost<DemoApp>>,
    /// The phone's host.
    pub phone: HostId,
    /// The server's host.
    pub server: HostId,
}

/// The policies a demo runs: the server's scheduler and both ends'
/// congestion control (a name of `CcAlgorithm::NAMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The server's packet scheduler.
    pub scheduler: SchedulerKind,
    /// Congestion control of both ends.
    pub cc: &'static str,
}

impl Policy {
    /// "minrtt, cubic".
    pub fn label(&self) -> String {
        format!("{}, {}", self.scheduler.name(), self.cc)
    }
}

impl World {
    /// Builds the world of `story` with the server scheduling and both
    /// ends controlling congestion by `policy`.
    pub fn new(story: &Story, policy: Policy) -> anyhow::Result<World> {
        let n = story.paths.len();
        let mut base = EndpointConfig::default();
        // Caps on autotuned buffers; the story may lower them.
        base.set_buffers(story.sndbuf, story.rcvbuf, true);
        base.conn.scheduler = policy.scheduler.into();
        base.tcp.congestion = CcAlgorithm::from_name(policy.cc)?;
        base.conn.pm.limits.subflows = 2 * n;
        let mut phone_cfg = base.clone();
        phone_cfg.conn.pm.local_addrs = (1..n).map(phone_ip).collect();
        phone_cfg.conn.pm.limits.add_addr_accepted = 1;
        let mut server_cfg = base;
        if story.announce {
            server_cfg.conn.pm.announce = vec![SERVER_ALT];
        }
        let phone = Phone {
            backup_paths: (0..n).filter(|&i| story.paths[i].backup).collect(),
            ..Phone::default()
        };
        let server = Server {
            stop_at: Instant::ZERO + story.duration,
            limit: story.bytes,
            ..Server::default()
        };
        let seed = story.seed;
        let mut sim = Sim::new(seed);
        // The phone sends by source address, the server by destination:
        // path `i` is interface `i` on both.
        let mut phone = EndpointHost::new(
            Endpoint::with_seed(phone_cfg, seed.wrapping_mul(2)),
            DemoApp::new(Role::Phone(phone), seed, n),
        );
        let mut server = EndpointHost::new(
            Endpoint::with_seed(server_cfg, seed.wrapping_mul(2) + 1),
            DemoApp::new(Role::Server(server), seed, n),
        );
        for i in 0..n {
            phone = phone.route(phone_ip(i), i);
            server = server.route_to(phone_ip(i), i);
        }
        let phone = sim.add_host(phone);
        let server = sim.add_host(server);
        for (i, p) in story.paths.iter().enumerate() {
            sim.connect((phone, i), (server, i), p.up.clone(), p.down.clone())?;
        }
        let mut w = World { sim, phone, server };
        // The server listens before anything moves.
        let ep = &mut w.sim.host_mut(w.server).endpoint;
        ep.listen(SERVER)?;
        if story.announce {
            ep.listen(SERVER_ALT)?;
        }
        Ok(w)
    }

    /// The phone's state.
    pub fn phone(&self) -> &Phone {
        match &self.sim.host(self.phone).app.role {
            Role::Phone(p) => p,
            Role::Server(_) => unreachable!("host {:?} is the phone", self.phone),
        }
    }

    /// The server's state.
    pub fn server(&self) -> &Server {
        match &self.sim.host(self.server).app.role {
            Role::Server(s) => s,
            Role::Phone(_) => unreachable!("host {:?} is the server", self.server),
        }
    }

    /// Bytes the phone received over each path so far (data level).
    pub fn bytes_per_path(&self, paths: usize) -> Vec<u64> {
        let mut v = vec![0; paths];
        for s in &self.phone().subflows {
            if let Some(i) = path_of(s.local.ip(), paths) {
                v[i] += s.data_received;
            }
        }
        v
    }

    /// The server's smoothed RTT on each path (the lowest among its
    /// subflows there), if measured and the subflow is open.
    pub fn rtt_per_path(&self, paths: usize) -> Vec<Option<Duration>> {
        let mut v: Vec<Option<Duration>> = vec![None; paths];
        for s in &self.server().subflows {
            if let (Some(i), Some(rtt)) = (path_of(s.remote.ip(), paths), s.stats.srtt)
                && s.stats.state.is_synchronized()
            {
                v[i] = Some(v[i].map_or(rtt, |r| r.min(rtt)));
            }
        }
        v
    }

    /// Paths on which the server has a stalled subflow now.
    pub fn stalled_paths(&self, paths: usize) -> Vec<bool> {
        let mut v = vec![false; paths];
        let s = self.server();
        for f in &s.subflows {
            if let Some(i) = path_of(f.remote.ip(), paths)
                && s.stalled.contains(&f.id)
            {
                v[i] = true;
            }
        }
        v
    }

    /// Whether the phone is done: end of stream read, or the connection
    /// closed.
    pub fn done(&self) -> bool {
        let p = self.phone();
        p.eof_at.is_some() || p.closed_at.is_some()
    }

    /// Everything both stacks logged, in time order.
    pub fn log(&self) -> Vec<(Instant, Happening)> {
        let mut v: Vec<_> = self
            .sim
            .host(self.phone)
            .app
            .log
            .iter()
            .chain(&self.sim.host(self.server).app.log)
            .cloned()
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_seeded_and_not_constant() {
        let a: Vec<u8> = (0..64).map(|i| stream_byte(1, i)).collect();
        let b: Vec<u8> = (0..64).map(|i| stream_byte(2, i)).collect();
        assert_ne!(a, b);
        assert!(a.windows(2).any(|w| w[0] != w[1]));
        let mut f = [0u8; 61];
        fill_stream(1, 3, &mut f);
        assert_eq!(&f[..], &a[3..]);
    }

    #[test]
    fn addresses_map_to_paths() {
        assert_eq!(path_of(phone_ip(0), 2), Some(0));
        assert_eq!(path_of(phone_ip(1), 2), Some(1));
        assert_eq!(path_of(phone_ip(2), 2), None);
    }
}
