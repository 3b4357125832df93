//! Namespaces, addresses and routing of a lab run.
//!
//! Path `i` (1-based, at most [`crate::scenario::MAX_PATHS`]):
//!
//! | namespace | interface | address | peer |
//! |---|---|---|---|
//! | client | `path<i>` | `10.0.<i>.2/24` | emu `c<i>` `10.0.<i>.1/24` |
//! | server | `srv<i>` | `10.1.<i>.2/24` | emu `s<i>` `10.1.<i>.1/24` |
//! | emu | `p<i>up`, `p<i>dn` | (TUN, no address) | the emulator |
//!
//! Addresses are the same in every run: each run has its own namespaces,
//! so runs never see each other's addresses and can run in parallel.
//!
//! **The path is the client's address.** Whatever the server address, a
//! packet from `10.0.<i>.x` crosses path `i` upstream and a packet to
//! `10.0.<i>.x` crosses path `i` downstream, so every subflow is symmetric,
//! including "crossed" ones (client address 1 to server address 2). The
//! server has one address per path so it can announce them (ADD_ADDR) and
//! bind per-path listeners; they do not choose the emulated path.
//!
//! Routing:
//! - client: `ip rule from 10.0.<i>.0/24 lookup 10<i>`, table `10<i>`:
//!   `default via 10.0.<i>.1 dev path<i>` (source routing: each address
//!   leaves by its own path); main table default via path 1.
//! - server: `ip rule from 10.1.<i>.0/24 lookup 10<i>`, table `10<i>`:
//!   `default via 10.1.<i>.1 dev srv<i>`; main table default via `srv1`.
//! - emu: `ip rule iif c<i> lookup 10<i>` (table: `default dev p<i>up`),
//!   and for every server veth `s<j>`: `ip rule iif s<j> to 10.0.<i>.0/24
//!   lookup 20<i>` (table: `default dev p<i>dn`). Packets the emulator
//!   writes back arrive from a TUN, match no rule, and the main table
//!   forwards them by destination.
//! - every namespace: `ip_forward=1`, `rp_filter=0`, IPv6 off; `proxy_arp=1`
//!   and `proxy_delay=0` on the client's and server's path veths (for
//!   Braid addresses).
//!
//! Braid's own addresses (`10.0.<i>.100` client side, `10.1.<i>.100`
//! server side) live behind a TUN device the caller opens in that
//! namespace; [`crate::LabGuard::route_braid`] routes them (see its docs).

use std::net::Ipv4Addr;

/// One of the three namespaces of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client namespace (one address per path).
    Client,
    /// The emulator (router) namespace.
    Emu,
    /// The server namespace (one address per path).
    Server,
}

impl Side {
    /// The suffix of the namespace name: `cli`, `emu`, `srv`.
    pub fn suffix(self) -> &'static str {
        match self {
            Side::Client => "cli",
            Side::Emu => "emu",
            Side::Server => "srv",
        }
    }

    /// All three, in creation order.
    pub const ALL: [Side; 3] = [Side::Client, Side::Emu, Side::Server];
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client" | "cli" => Ok(Side::Client),
            "emu" | "emulator" => Ok(Side::Emu),
            "server" | "srv" => Ok(Side::Server),
            _ => Err(format!("unknown side {s:?}: use client, server or emu")),
        }
    }
}

/// Second octet of the client-side (0) and server-side (1) subnets.
fn octet(side: Side) -> u8 {
    match side {
        Side::Server => 1,
        _ => 0,
    }
}

/// The kernel's address of `side` on path `path` (1-based): client
/// `10.0.<path>.2`, server `10.1.<path>.2`.
pub fn host_addr(side: Side, path: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, octet(side), path as u8, 2)
}

/// The emulator's address facing `side` on path `path`: `10.0.<path>.1`
/// or `10.1.<path>.1` (the next hop of that side).
pub fn gateway_addr(side: Side, path: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, octet(side), path as u8, 1)
}

/// The address a Braid process owns on `side`, path `path`:
/// `10.0.<path>.100` or `10.1.<path>.100`.
pub fn braid_addr(side: Side, path: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, octet(side), path as u8, 100)
}

/// The name of `side`'s veth on path `path`.
pub fn veth_name(side: Side, path: usize) -> String {
    match side {
        Side::Client => format!("path{path}"),
        Side::Server => format!("srv{path}"),
        Side::Emu => format!("c{path}"),
    }
}

/// Commands (for `ip -batch`, root namespace) creating the veths.
pub(crate) fn veth_commands(ns: &dyn Fn(Side) -> String, paths: usize) -> Vec<String> {
    let mut v = Vec::new();
    for i in 1..=paths {
        v.push(format!(
            "link add c{i} netns {} type veth peer name path{i} netns {}",
            ns(Side::Emu),
            ns(Side::Client)
        ));
        v.push(format!(
            "link add s{i} netns {} type veth peer name srv{i} netns {}",
            ns(Side::Emu),
            ns(Side::Server)
        ));
    }
    v
}

/// Sysctls for a fresh namespace (before its interfaces exist).
pub(crate) const SYSCTLS: [(&str, &str); 6] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.ipv4.conf.all.send_redirects", "0"),
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
];

/// Addresses, links and routes of the client or server namespace.
pub(crate) fn end_commands(side: Side, paths: usize) -> Vec<String> {
    let mut v = vec!["link set lo up".to_string()];
    for i in 1..=paths {
        let dev = veth_name(side, i);
        let table = 100 + i;
        let o = octet(side);
        v.push(format!("addr add {}/24 dev {dev}", host_addr(side, i)));
        v.push(format!("link set {dev} up"));
        v.push(format!("route add 10.{o}.{i}.0/24 dev {dev} table {table}"));
        v.push(format!(
            "route add default via {} dev {dev} table {table}",
            gateway_addr(side, i)
        ));
        v.push(format!(
            "rule add from 10.{o}.{i}.0/24 lookup {table} pref 200"
        ));
    }
    v.push(format!(
        "route add default via {} dev {}",
        gateway_addr(side, 1),
        veth_name(side, 1)
    ));
    v
}

/// Addresses and links of the emulator namespace.
pub(crate) fn emu_link_commands(paths: usize) -> Vec<String> {
    let mut v = vec!["link set lo up".to_string()];
    for i in 1..=paths {
        v.push(format!(
            "addr add {}/24 dev c{i}",
            gateway_addr(Side::Client, i)
        ));
        v.push(format!(
            "addr add {}/24 dev s{i}",
            gateway_addr(Side::Server, i)
        ));
        v.push(format!("link set c{i} up"));
        v.push(format!("link set s{i} up"));
    }
    v
}

/// Policy routing of the emulator namespace (after its TUNs exist).
pub(crate) fn emu_route_commands(paths: usize) -> Vec<String> {
    let mut v = Vec::new();
    for i in 1..=paths {
        let (up, dn) = (
            crate::emulator::tun_name(i, true),
            crate::emulator::tun_name(i, false),
        );
        v.push(format!("route add default dev {up} table {}", 100 + i));
        v.push(format!("route add default dev {dn} table {}", 200 + i));
        v.push(format!("rule add iif c{i} lookup {} pref 100", 100 + i));
        for j in 1..=paths {
            v.push(format!(
                "rule add iif s{j} to 10.0.{i}.0/24 lookup {} pref 100",
                200 + i
            ));
        }
    }
    v
}

/// Routing for Braid's addresses behind TUN `tun` on `side`.
pub(crate) fn braid_commands(side: Side, paths: usize, tun: &str) -> Vec<String> {
    let mut v = Vec::new();
    for i in 1..=paths {
        let addr = braid_addr(side, i);
        v.push(format!("route add {addr}/32 dev {tun}"));
        v.push(format!("rule add to {addr} lookup main pref 100"));
    }
    v
}
