//! Coupled congestion control against RFC 6356's goals (section 2), in the
//! simulator, seeded (issue #11):
//! - goal 2, "do no harm": two subflows crossing one bottleneck with a
//!   plain TCP flow take about what one TCP would, where two uncoupled
//!   subflows take about twice as much;
//! - goals 1 and 3, "improve throughput" and "balance congestion": with one
//!   path shared with a TCP flow and another path free, the connection gets
//!   at least what one TCP gets on the free path, and carries most of its
//!   data there.
//!
//! Routers here are test hosts that forward by destination address, so
//! flows of different hosts can share a link. The competing TCP flows run
//! NewReno: LIA, OLIA and BALIA all reduce to it on a single path, which
//! makes it the TCP they must be fair to.
//!
//! `BRAID_SEED=<n> cargo test -p braid-sim --test coupled -- --nocapture`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use braid_proto::cc::CcAlgorithm;
use braid_proto::endpoint::{Endpoint, EndpointConfig};
use braid_proto::time::{Duration, Instant};
use braid_sim::stack::{App, EndpointHost, payload};
use braid_sim::{Host, HostId, LinkConfig, QueueLimit, Sim, seed_from_env};

/// A Braid endpoint or a router.
#[derive(Debug)]
enum Node {
    End(Box<EndpointHost>),
    Router(Router),
}

/// Forwards every packet by destination address to an interface.
#[derive(Debug, Default)]
struct Router {
    routes: Vec<(Ipv4Addr, usize)>,
    default: usize,
    out: VecDeque<(usize, Vec<u8>)>,
}

impl Router {
    fn node(default: usize, routes: &[(&str, usize)]) -> Node {
        Node::Router(Router {
            routes: routes
                .iter()
                .map(|(a, i)| (a.parse().unwrap(), *i))
                .collect(),
            default,
            out: VecDeque::new(),
        })
    }
}

impl Host for Node {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]) {
        match self {
            Node::End(h) => h.handle_packet(now, iface, packet),
            Node::Router(r) => {
                let Some(dst) = packet.get(16..20) else {
                    return;
                };
                let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
                let out = r
                    .routes
                    .iter()
                    .find(|(a, _)| *a == dst)
                    .map_or(r.default, |(_, i)| *i);
                r.out.push_back((out, packet.to_vec()));
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Node::End(h) = self {
            h.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        match self {
            Node::End(h) => h.poll_transmit(now),
            Node::Router(r) => r.out.pop_front(),
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Node::End(h) => h.poll_timeout(),
            Node::Router(_) => None,
        }
    }
}

fn end(sim: &Sim<Node>, id: HostId) -> &EndpointHost {
    match sim.host(id) {
        Node::End(h) => h,
        Node::Router(_) => panic!("host {id:?} is a router"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn link(rate_bps: u64, delay_ms: u64, queue: u64) -> LinkConfig {
    LinkConfig::default()
        .rate_bps(rate_bps)
        .delay(Duration::from_millis(delay_ms))
        .jitter(Duration::from_millis(1), false)
        .queue(QueueLimit::Packets(queue))
}

/// An access link: fast, never the bottleneck.
fn access() -> LinkConfig {
    link(1_000_000_000, 2, 1000)
}

const BIG: usize = 150 << 20;
const MPTCP_SERVER: &str = "10.0.9.1";
const TCP_SERVER: &str = "10.0.9.2";
/// Goodput is counted from here (slow starts and joins done)...
const FROM: Instant = Instant::from_secs(10);
/// ...to here.
const TO: Instant = Instant::from_secs(60);

/// An MPTCP client on 10.0.1.1 (and 10.0.2.1) running `cc`, uploading to
/// the MPTCP server.
fn mptcp_client(seed: u64, cc: &CcAlgorithm, data: Arc<[u8]>) -> Node {
    let mut c = EndpointConfig::default();
    c.tcp.congestion = cc.clone();
    c.conn.pm.local_addrs = vec![ip("10.0.2.1")];
    let local = SocketAddr::new(ip("10.0.1.1"), 0);
    let remote = SocketAddr::new(ip(MPTCP_SERVER), 5000);
    Node::End(Box::new(
        EndpointHost::new(
            Endpoint::with_seed(c, seed * 8 + 1),
            App::sender(Instant::ZERO, local, remote, data),
        )
        .route(ip("10.0.1.1"), 0)
        .route(ip("10.0.2.1"), 1),
    ))
}

/// A receiving server on `addr`; `ifaces` routes replies to client
/// addresses.
fn server(
    seed: u64,
    addr: &str,
    mptcp: bool,
    salt: u64,
    data: Arc<[u8]>,
    ifaces: &[(&str, usize)],
) -> Node {
    let c = EndpointConfig {
        mptcp,
        ..EndpointConfig::default()
    };
    let mut h = EndpointHost::new(
        Endpoint::with_seed(c, seed * 8 + salt),
        App::receiver(SocketAddr::new(ip(addr), 5000), data),
    );
    for (a, i) in ifaces {
        h = h.route_to(ip(a), *i);
    }
    Node::End(Box::new(h))
}

/// A plain NewReno TCP client on `addr` uploading to the TCP server.
fn tcp_client(seed: u64, addr: &str, salt: u64, data: Arc<[u8]>) -> Node {
    let mut c = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    c.tcp.congestion = CcAlgorithm::NewReno;
    let local = SocketAddr::new(ip(addr), 0);
    let remote = SocketAddr::new(ip(TCP_SERVER), 5000);
    Node::End(Box::new(EndpointHost::new(
        Endpoint::with_seed(c, seed * 8 + salt),
        App::sender(Instant::ZERO, local, remote, data),
    )))
}

/// Receiver goodput over [FROM, TO], Mbit/s, bytes intact.
fn goodput(sim: &Sim<Node>, rx: HostId, what: &str) -> f64 {
    let r = end(sim, rx).app.receiver_state().expect("receiver");
    assert!(
        r.mismatch.is_none(),
        "{what}: CORRUPTED at {:?}",
        r.mismatch
    );
    let at = |t: Instant| {
        r.progress
            .iter()
            .take_while(|p| p.0 <= t)
            .last()
            .map_or(0, |p| p.1)
    };
    (at(TO) - at(FROM)) as f64 * 8.0 / (TO - FROM).as_secs_f64() / 1e6
}

/// Data-level bytes each subflow of the MPTCP server delivered.
fn per_subflow(sim: &Sim<Node>, rx: HostId) -> Vec<u64> {
    end(sim, rx)
        .mptcp
        .subflows
        .iter()
        .map(|s| s.data_received)
        .collect()
}

/// Two subflows and one TCP flow through one 20 Mbit/s bottleneck:
/// (MPTCP goodput, TCP goodput), Mbit/s.
fn shared_bottleneck(cc: &CcAlgorithm) -> (f64, f64) {
    let seed = seed_from_env(13);
    let mut sim = Sim::new(seed);
    let (md, td) = (payload(seed, BIG), payload(seed + 3, BIG));
    let m = sim.add_host(mptcp_client(seed, cc, md.clone()));
    let t = sim.add_host(tcp_client(seed, "10.0.3.1", 3, td.clone()));
    let r1 = sim.add_host(Router::node(
        3,
        &[("10.0.1.1", 0), ("10.0.2.1", 1), ("10.0.3.1", 2)],
    ));
    let r2 = sim.add_host(Router::node(0, &[(MPTCP_SERVER, 1), (TCP_SERVER, 2)]));
    let s1 = sim.add_host(server(seed, MPTCP_SERVER, true, 0, md, &[]));
    let s2 = sim.add_host(server(seed, TCP_SERVER, false, 3, td, &[]));
    sim.connect_symmetric((m, 0), (r1, 0), access()).unwrap();
    sim.connect_symmetric((m, 1), (r1, 1), access()).unwrap();
    sim.connect_symmetric((t, 0), (r1, 2), access()).unwrap();
    sim.connect_symmetric((r1, 3), (r2, 0), link(20_000_000, 10, 100))
        .unwrap();
    sim.connect_symmetric((r2, 1), (s1, 0), access()).unwrap();
    sim.connect_symmetric((r2, 2), (s2, 0), access()).unwrap();
    sim.run_until(TO).unwrap();
    let (mp, tcp) = (goodput(&sim, s1, "mptcp"), goodput(&sim, s2, "tcp"));
    println!(
        "shared bottleneck, {}: MPTCP {mp:.2} Mbit/s over subflows {:?} bytes, TCP {tcp:.2} Mbit/s, ratio {:.2}",
        cc.name(),
        per_subflow(&sim, s1),
        mp / tcp
    );
    assert_eq!(per_subflow(&sim, s1).len(), 2, "two subflows");
    (mp, tcp)
}

#[test]
fn coupled_subflows_take_one_tcp_share_of_a_shared_bottleneck() {
    let (mp, tcp) = shared_bottleneck(&CcAlgorithm::NewReno);
    let uncoupled = mp / tcp;
    for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia] {
        let (mp, tcp) = shared_bottleneck(&cc);
        let ratio = mp / tcp;
        assert!(
            (0.6..=1.35).contains(&ratio),
            "{}: MPTCP/TCP {ratio:.2} (uncoupled {uncoupled:.2})",
            cc.name()
        );
        assert!(
            ratio < 0.8 * uncoupled,
            "{}: {ratio:.2} vs uncoupled {uncoupled:.2}",
            cc.name()
        );
        assert!(
            mp + tcp > 16.0,
            "{}: the link is used: {:.2}",
            cc.name(),
            mp + tcp
        );
    }
    // The comparison means something: two uncoupled subflows take more.
    assert!(uncoupled > 1.4, "uncoupled MPTCP/TCP {uncoupled:.2}");
}

/// Path 1 crosses a 10 Mbit/s bottleneck shared with a TCP flow, path 2
/// a 10 Mbit/s bottleneck of its own: (MPTCP goodput, bytes per subflow).
fn disjoint(cc: &CcAlgorithm) -> (f64, Vec<u64>) {
    let seed = seed_from_env(14);
    let mut sim = Sim::new(seed);
    let (md, td) = (payload(seed, BIG), payload(seed + 3, BIG));
    let m = sim.add_host(mptcp_client(seed, cc, md.clone()));
    let t = sim.add_host(tcp_client(seed, "10.0.3.1", 3, td.clone()));
    let ra = sim.add_host(Router::node(2, &[("10.0.1.1", 0), ("10.0.3.1", 1)]));
    let rb = sim.add_host(Router::node(0, &[(MPTCP_SERVER, 1), (TCP_SERVER, 2)]));
    let s1 = sim.add_host(server(
        seed,
        MPTCP_SERVER,
        true,
        0,
        md,
        &[("10.0.1.1", 0), ("10.0.2.1", 1)],
    ));
    let s2 = sim.add_host(server(seed, TCP_SERVER, false, 3, td, &[]));
    sim.connect_symmetric((m, 0), (ra, 0), access()).unwrap();
    sim.connect_symmetric((t, 0), (ra, 1), access()).unwrap();
    sim.connect_symmetric((ra, 2), (rb, 0), link(10_000_000, 10, 60))
        .unwrap();
    sim.connect_symmetric((rb, 1), (s1, 0), access()).unwrap();
    sim.connect_symmetric((rb, 2), (s2, 0), access()).unwrap();
    // Path 2: its own bottleneck, straight to the server.
    sim.connect_symmetric((m, 1), (s1, 1), link(10_000_000, 12, 60))
        .unwrap();
    sim.run_until(TO).unwrap();
    let mp = goodput(&sim, s1, "mptcp");
    let tcp = goodput(&sim, s2, "tcp");
    let subs = per_subflow(&sim, s1);
    println!(
        "disjoint, {}: MPTCP {mp:.2} Mbit/s over subflows {subs:?} bytes (shared path first), TCP {tcp:.2} Mbit/s",
        cc.name()
    );
    (mp, subs)
}

#[test]
fn coupled_subflows_beat_the_best_path_and_leave_the_congested_one() {
    for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia] {
        let (mp, subs) = disjoint(&cc);
        // Goal 1: at least what one TCP gets on the best path (the free
        // 10 Mbit/s path; 9 Mbit/s leaves room for headers).
        assert!(mp >= 9.0, "{}: {mp:.2} Mbit/s", cc.name());
        // Goal 3: most of the data goes over the uncongested path.
        assert_eq!(subs.len(), 2, "{}", cc.name());
        assert!(subs[1] > subs[0], "{}: {subs:?}", cc.name());
    }
}
