//! What the TCP examples share: their world.

use braid_proto::endpoint::{Endpoint, EndpointConfig};
use braid_sim::stack::{EndpointHost, bulk_hosts, payload};
use braid_sim::{HostId, Sim};

/// `size` seeded bytes from `10.0.0.1` to `10.0.0.2:443`, both endpoints
/// with `config` (RNG seeds 1 and 2), in a simulation of `seed`; the hosts
/// are not linked yet. Returns the simulation, the sender and the receiver.
pub fn bulk_world(
    seed: u64,
    config: EndpointConfig,
    size: usize,
) -> (Sim<EndpointHost>, HostId, HostId) {
    let (tx, rx) = bulk_hosts(
        Endpoint::with_seed(config.clone(), 1),
        Endpoint::with_seed(config, 2),
        (
            "10.0.0.1:0".parse().expect("address"),
            "10.0.0.2:443".parse().expect("address"),
        ),
        payload(seed, size),
    );
    let mut sim = Sim::new(seed);
    let (tx, rx) = (sim.add_host(tx), sim.add_host(rx));
    (sim, tx, rx)
}
