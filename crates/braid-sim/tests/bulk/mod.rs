//! The bulk transfer the autotuning, scheduler and sequence-space tests
//! share: a client with one address and one link per path, a server, both
//! braid-sim [`EndpointHost`]s, and one connection carrying seeded bytes one
//! way. The client sends by source address and the server by destination,
//! so path `i` is interface `i` on both; the client's path manager opens a
//! subflow from each address after the first.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use braid_proto::endpoint::{Endpoint, EndpointConfig};
use braid_proto::time::Instant;
use braid_sim::stack::{App, BulkReceiver, EndpointHost, payload};
use braid_sim::{HostId, LinkConfig, Sim};

/// The client's address on each path.
pub const CLIENT_IPS: [&str; 3] = ["10.0.1.1", "10.0.2.1", "10.0.3.1"];

/// The server.
pub fn server() -> SocketAddr {
    "10.0.9.1:443".parse().unwrap()
}

/// An address literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What to transfer, over what.
pub struct Bulk {
    /// The simulation's seed (the payload's and the endpoints' follow).
    pub seed: u64,
    /// The client's configuration (its path manager's local addresses are
    /// set here from the paths).
    pub client: EndpointConfig,
    /// The server's configuration.
    pub server: EndpointConfig,
    /// One link per path, at most [`CLIENT_IPS`]`.len()`.
    pub links: Vec<LinkConfig>,
    /// Bytes to transfer.
    pub size: usize,
    /// The server sends (a download) rather than the client (an upload).
    pub download: bool,
}

/// A transfer in its simulation.
pub struct Transfer {
    pub sim: Sim<EndpointHost>,
    pub client: HostId,
    pub server: HostId,
    /// The receiving host (client in a download, server in an upload).
    pub rx: HostId,
    /// The sending host.
    pub tx: HostId,
}

impl Bulk {
    /// Builds the world; nothing has run yet.
    pub fn start(self) -> Transfer {
        let Bulk {
            seed,
            mut client,
            server: server_cfg,
            links,
            size,
            download,
        } = self;
        let ips: Vec<IpAddr> = CLIENT_IPS[..links.len()].iter().map(|s| ip(s)).collect();
        client.conn.pm.local_addrs = ips[1..].to_vec();
        let data = payload(seed, size);
        let local = SocketAddr::new(ips[0], 0);
        let (client_app, server_app) = if download {
            (
                App::download_client(Instant::ZERO, local, server(), data.clone()),
                App::download_server(server(), data),
            )
        } else {
            (
                App::sender(Instant::ZERO, local, server(), data.clone()),
                App::receiver(server(), data),
            )
        };
        let mut c = EndpointHost::new(
            Endpoint::with_seed(client, seed.wrapping_mul(2)),
            client_app,
        );
        let mut s = EndpointHost::new(
            Endpoint::with_seed(server_cfg, seed.wrapping_mul(2) + 1),
            server_app,
        );
        for (i, a) in ips.iter().enumerate() {
            c = c.route(*a, i);
            s = s.route_to(*a, i);
        }
        let mut sim = Sim::new(seed);
        let client = sim.add_host(c);
        let server = sim.add_host(s);
        for (i, l) in links.into_iter().enumerate() {
            sim.connect_symmetric((client, i), (server, i), l).unwrap();
        }
        let (rx, tx) = if download {
            (client, server)
        } else {
            (server, client)
        };
        Transfer {
            sim,
            client,
            server,
            rx,
            tx,
        }
    }
}

impl Transfer {
    /// Runs until the receiver is done (at the latest at `deadline`) and
    /// asserts that every byte arrived intact, then the end of the stream;
    /// `replay` says how to replay a failure. The receiver's state.
    pub fn run_to_completion(&mut self, deadline: Instant, replay: &str) -> &BulkReceiver {
        let rx = self.rx;
        self.sim
            .run_while(|s| !s.host(rx).app.is_done(), deadline)
            .unwrap_or_else(|e| panic!("{e}; {replay}"));
        let host = self.sim.host(rx);
        let r = host.app.receiver_state().expect("receiver");
        assert!(
            r.mismatch.is_none(),
            "CORRUPTED at byte {:?}; {replay}",
            r.mismatch
        );
        assert!(
            r.complete(),
            "incomplete: {} of {} bytes, closed {:?}, mib {:?}; {replay}",
            r.received,
            r.expected.len(),
            r.closed,
            host.mptcp.mib
        );
        r
    }
}
