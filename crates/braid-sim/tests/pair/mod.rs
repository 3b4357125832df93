//! Two endpoints driven by the test through their API, on the simulator:
//! the thin layer the conversation tests (`endpoint_pair.rs`) and the
//! MPTCP transfer stories (`mptcp_transfers.rs`) share. Endpoint `a` is the
//! client side, `b` the server side; each path is one link, chosen by the
//! client's address.
#![allow(dead_code)]

use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, EndpointConfig, MptcpEvent};
use braid_proto::time::{Duration, Instant};
use braid_sim::stack::{Application, EndpointHost};
use braid_sim::{Dir, Filter, FilterVerdict, HostId, LinkConfig, LinkId, Sim};
use std::net::{IpAddr, SocketAddr};

/// The application of both hosts: it only records what its endpoint
/// tells; the test drives the endpoint.
#[derive(Debug, Default)]
pub struct Recorder {
    pub events: Vec<(ConnHandle, ConnEvent)>,
    pub mptcp_events: Vec<(ConnHandle, MptcpEvent)>,
}

impl Application for Recorder {
    fn drive(&mut self, endpoint: &mut Endpoint, _now: Instant) {
        while let Some(e) = endpoint.poll_event() {
            self.events.push(e);
        }
        while let Some(e) = endpoint.poll_mptcp_event() {
            self.mptcp_events.push(e);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn conn(&self) -> Option<ConnHandle> {
        None
    }
}

/// A host of the pair.
type Host = EndpointHost<Recorder>;

/// Endpoint `a` and `b` joined by one link per path; both with a 1 s MSL
/// so that TIME-WAIT ends within the tests.
pub struct Net {
    pub sim: Sim<EndpointHost<Recorder>>,
    pub a: HostId,
    pub b: HostId,
    /// One link per path, in order.
    pub links: Vec<LinkId>,
}

impl Net {
    /// Default configurations, one link of 5 ms each way.
    pub fn new() -> Net {
        let config = EndpointConfig::default();
        Net::with_configs(config.clone(), config)
    }

    /// One link of 5 ms each way (no loss, no rate limit), any addresses.
    pub fn with_configs(a: EndpointConfig, b: EndpointConfig) -> Net {
        let link = LinkConfig::default().delay(Duration::from_millis(5));
        Net::with_paths(1, a, b, vec![(None, link)])
    }

    /// Path `i` joins `a` and `b` by a link of `paths[i].1` (both ways);
    /// `a` sends from `paths[i].0` on it and `b` answers that address on
    /// it. `seed` seeds the simulation (loss, jitter) and the endpoints.
    pub fn with_paths(
        seed: u64,
        a: EndpointConfig,
        b: EndpointConfig,
        paths: Vec<(Option<IpAddr>, LinkConfig)>,
    ) -> Net {
        let (ips, links): (Vec<_>, Vec<_>) = paths.into_iter().unzip();
        Net::build(seed, a, b, links, |mut ha, mut hb| {
            for (i, ip) in ips
                .iter()
                .enumerate()
                .filter_map(|(i, ip)| Some((i, (*ip)?)))
            {
                ha = ha.route(ip, i);
                hb = hb.route_to(ip, i);
            }
            (ha, hb)
        })
    }

    /// Like [`Net::with_paths`], paths chosen by `b`'s address instead:
    /// `a` sends to `paths[i].0` on link `i` and `b` answers from it there.
    pub fn with_server_paths(
        seed: u64,
        a: EndpointConfig,
        b: EndpointConfig,
        paths: Vec<(IpAddr, LinkConfig)>,
    ) -> Net {
        let (ips, links): (Vec<_>, Vec<_>) = paths.into_iter().unzip();
        Net::build(seed, a, b, links, |mut ha, mut hb| {
            for (i, &ip) in ips.iter().enumerate() {
                ha = ha.route_to(ip, i);
                hb = hb.route(ip, i);
            }
            (ha, hb)
        })
    }

    /// The hosts (routed by `route`) and one link per path.
    fn build(
        seed: u64,
        mut a: EndpointConfig,
        mut b: EndpointConfig,
        links: Vec<LinkConfig>,
        route: impl FnOnce(Host, Host) -> (Host, Host),
    ) -> Net {
        a.tcp.msl = Duration::from_secs(1);
        b.tcp.msl = Duration::from_secs(1);
        let mut sim = Sim::new(seed);
        let seeds = (seed.wrapping_mul(2), seed.wrapping_mul(2) + 1);
        let (ha, hb) = route(
            EndpointHost::new(Endpoint::with_seed(a, seeds.0), Recorder::default()),
            EndpointHost::new(Endpoint::with_seed(b, seeds.1), Recorder::default()),
        );
        let (a, b) = (sim.add_host(ha), sim.add_host(hb));
        let links = links
            .into_iter()
            .enumerate()
            .map(|(i, link)| {
                sim.connect_symmetric((a, i), (b, i), link)
                    .expect("fresh interfaces")
            })
            .collect();
        Net { sim, a, b, links }
    }

    /// `b` listens on `server` and `a` connects to it from `client` (port
    /// 0: an ephemeral one) at the current time; the connection on `a`.
    pub fn open(&mut self, client: SocketAddr, server: SocketAddr) -> ConnHandle {
        self.b().listen(server).unwrap();
        let now = self.now();
        self.a().connect(now, client, server).unwrap()
    }

    /// Black path `path` out (every packet dropped, both ways) or bring
    /// it back.
    pub fn blackout(&mut self, path: usize, on: bool) {
        for dir in [Dir::AtoB, Dir::BtoA] {
            let drop_all: Filter = Box::new(|_, _| FilterVerdict::Drop);
            self.sim
                .set_filter(self.links[path], dir, on.then_some(drop_all));
        }
    }

    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// Endpoint `a`; the simulator polls it again before the next event.
    pub fn a(&mut self) -> &mut Endpoint {
        &mut self.sim.host_mut(self.a).endpoint
    }

    /// Endpoint `b`; the simulator polls it again before the next event.
    pub fn b(&mut self) -> &mut Endpoint {
        &mut self.sim.host_mut(self.b).endpoint
    }

    /// What `host`'s endpoint told so far, pending events included.
    pub fn recorder(&mut self, host: HostId) -> &Recorder {
        let now = self.now();
        let h = self.sim.host_mut(host);
        h.app.drive(&mut h.endpoint, now);
        &h.app
    }

    pub fn events_a(&mut self) -> Vec<(ConnHandle, ConnEvent)> {
        self.recorder(self.a).events.clone()
    }

    pub fn events_b(&mut self) -> Vec<(ConnHandle, ConnEvent)> {
        self.recorder(self.b).events.clone()
    }

    pub fn mptcp_events_a(&mut self) -> Vec<(ConnHandle, MptcpEvent)> {
        self.recorder(self.a).mptcp_events.clone()
    }

    /// The next packet arrival or timer; false when there is none.
    pub fn step(&mut self) -> bool {
        self.sim.step().expect("no livelock")
    }

    pub fn run_until(&mut self, deadline: Instant) {
        self.sim.run_until(deadline).expect("no livelock");
    }
}

/// Send `data` from `ca` on `from` to `cb` on `to`; whether it arrived
/// byte for byte within 20 s.
pub fn transfer_between(
    net: &mut Net,
    (from, ca): (HostId, ConnHandle),
    (to, cb): (HostId, ConnHandle),
    data: &[u8],
) -> bool {
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = [0u8; 8192];
    let deadline = net.now() + Duration::from_secs(20);
    while got.len() < data.len() && net.now() < deadline {
        if sent < data.len() {
            sent += net
                .sim
                .host_mut(from)
                .endpoint
                .write(ca, &data[sent..])
                .unwrap();
        }
        if !net.step() {
            break;
        }
        while let Ok(n @ 1..) = net.sim.host_mut(to).endpoint.read(cb, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    got == data
}

/// Data both ways on one connection, written and read the way
/// applications do: `up` from `a` to `b`, `down` from `b` to `a`, each
/// side writing what fits and reading all it can between events.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The connection on `a`.
    pub ca: Option<ConnHandle>,
    /// The connection on `b`, once accepted.
    pub cb: Option<ConnHandle>,
    pub up: Vec<u8>,
    pub down: Vec<u8>,
    /// What `b` read.
    pub got_up: Vec<u8>,
    /// What `a` read.
    pub got_down: Vec<u8>,
    /// `a` closes once `up` is written; `b` once `down` is.
    pub close_a: bool,
    pub close_b: bool,
    /// `b`'s application does not read while set.
    pub b_paused: bool,
    /// `a`'s application saw the end of `b`'s stream (everything read and
    /// `is_read_closed`), recorded when it happened: the endpoint forgets
    /// a closed connection soon after.
    pub eof_a: bool,
    /// `b`'s application saw the end of `a`'s stream.
    pub eof_b: bool,
    up_sent: usize,
    down_sent: usize,
    closed: (bool, bool),
}

impl Exchange {
    /// One round of both applications.
    pub fn apps(&mut self, net: &mut Net) {
        let mut buf = vec![0u8; 65536];
        if self.cb.is_none() {
            self.cb = net
                .events_b()
                .iter()
                .find(|(_, e)| *e == ConnEvent::Accepted)
                .map(|(h, _)| *h);
        }
        let sides = [
            (net.a, self.ca, self.close_a, false),
            (net.b, self.cb, self.close_b, self.b_paused),
        ];
        for (i, (host, conn, close, paused)) in sides.into_iter().enumerate() {
            let Some(h) = conn else { continue };
            let ep = &mut net.sim.host_mut(host).endpoint;
            let (data, sent, got) = if i == 0 {
                (&self.up, &mut self.up_sent, &mut self.got_down)
            } else {
                (&self.down, &mut self.down_sent, &mut self.got_up)
            };
            if *sent < data.len() {
                *sent += ep.write(h, &data[*sent..]).unwrap_or(0);
            }
            let closed = if i == 0 {
                &mut self.closed.0
            } else {
                &mut self.closed.1
            };
            if close && *sent == data.len() && !*closed {
                *closed = ep.close(h).is_ok();
            }
            if paused {
                continue;
            }
            while let Ok(n @ 1..) = ep.read(h, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if ep.is_read_closed(h) == Ok(true) {
                if i == 0 {
                    self.eof_a = true;
                } else {
                    self.eof_b = true;
                }
            }
        }
    }

    /// Runs the applications and the simulation until `done` holds, for
    /// `limit` of virtual time at most; whether `done` held.
    pub fn run_until(
        &mut self,
        net: &mut Net,
        limit: Duration,
        mut done: impl FnMut(&Exchange, &mut Net) -> bool,
    ) -> bool {
        let deadline = net.now() + limit;
        loop {
            self.apps(net);
            if done(self, net) {
                return true;
            }
            // Send what the applications wrote, then look ahead.
            let now = net.now();
            net.run_until(now);
            match net.sim.next_event_time() {
                Some(t) if t <= deadline => {
                    net.step();
                }
                _ => {
                    net.run_until(deadline);
                    self.apps(net);
                    return done(self, net);
                }
            }
        }
    }
}
