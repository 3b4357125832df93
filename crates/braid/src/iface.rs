//! Interface watching and routing on Linux (`StackBuilder::interface`).
//!
//! For every interface the user names, the stack owns the interface's
//! IPv4 addresses and makes its TUN device own them towards the network:
//!
//! - the kernel's `local` route of each address is deleted (table `local`),
//!   so that the kernel no longer takes the address's packets for itself
//!   and never answers Braid's segments with resets; the address stays on
//!   the interface, so the interface's other state (ARP, DHCP) is as
//!   before;
//! - per interface, one routing table ([`TABLE_BASE`] + the interface's
//!   index) holds `ADDR/32 dev <tun>` for each owned address, the
//!   interface's subnet (`dev <iface>`) and its default gateway if the OS
//!   has one through the interface (in any table);
//! - two rules per address, priority [`RULE_PRIORITY`]: `to ADDR lookup T`
//!   (what arrives for Braid goes into the TUN) and `from ADDR lookup T`
//!   (what Braid writes into the TUN leaves by its interface);
//! - sysctls: `ip_forward=1`, `rp_filter=0` (all, the interface, the TUN),
//!   `proxy_arp=1` and `proxy_delay=0` on the interface (the kernel answers
//!   ARP for the address on Braid's behalf), `accept_local=1` on the TUN.
//!
//! All of it goes through netlink (the `rtnetlink` crate), the sysctls
//! through `/proc/sys`; no `ip` command is run. Everything is undone when
//! the stack's driver ends (dropped, or its runtime shut down) and when
//! setting up fails half way: the rules and tables are deleted, the
//! `local` routes put back, the sysctls restored to their old values. A
//! process killed without unwinding leaves them; the next stack on the
//! same interface deletes leftover rules and tables, and `ip link set dev
//! IFACE down && ip link set dev IFACE up` (or re-adding the address) puts
//! the kernel's `local` route back.
//!
//! One thread of its own (a current-thread tokio runtime) listens to the
//! kernel's link, IPv4 address and IPv4 route notifications and acts on
//! each at once: a link going down reaches the endpoint
//! (`Shared::link_down`) within the time the kernel takes to tell us, a
//! few hundred microseconds. A `local` route the kernel puts back (it does
//! when an interface comes up) is deleted again as soon as it is announced.
//! IPv6 addresses are not owned (yet).
//!
//! **Following only** (a stack over UDP, [`start`] without a TUN): the
//! same thread learns the interfaces' IPv4 and IPv6 addresses (global
//! scope: a link-local IPv6 address needs a scope the inner packets cannot
//! carry) and follows their links and addresses, but changes no routing
//! and no sysctl, so it needs no privileges. The UDP device opens a socket
//! for each address the stack gains and closes the socket of each it
//! loses (`Shared::add_address`/`remove_address`).

use crate::shared::Shared;
use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// Routing table of the interface with index `i`: `TABLE_BASE + i`.
pub const TABLE_BASE: u32 = 0x4252_0000;
/// Largest interface index whose table is in Braid's range.
const TABLE_SPAN: u32 = 0x1_0000;
/// Priority of Braid's rules: before the main table (32766) and before
/// rules added without a priority.
pub const RULE_PRIORITY: u32 = 90;
/// The kernel's `local` table (`RT_TABLE_LOCAL`).
const LOCAL_TABLE: u32 = 255;
/// After a link comes up, `link_up` is said again after these delays
/// (each from the previous one), unless the link changed meanwhile.
const LINK_UP_REPEATS: [Duration; 2] = [Duration::from_millis(30), Duration::from_millis(100)];
/// Longest `StackBuilder::build` waits for the routing to be set up.
const SETUP_LIMIT: Duration = Duration::from_secs(10);

/// What `start` found: the addresses owned, and whether each one's
/// interface is up.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) addresses: Vec<(IpAddr, bool)>,
}

/// The watcher thread. Dropping it stops the thread, which undoes the
/// routing before it ends; the drop waits for that.
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    attach: Option<oneshot::Sender<Weak<Shared>>>,
}

impl Watcher {
    /// Let the watcher feed `shared` from now on.
    pub(crate) fn attach(&mut self, shared: Weak<Shared>) {
        if let Some(tx) = self.attach.take() {
            let _ = tx.send(shared);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.attach.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

/// Sets up the routing for `names` with TUN device `tun` and starts
/// watching them; returns once the routing is in place (or failed, then
/// undone). Without a TUN (`None`), only follows them: no routing.
pub(crate) fn start(names: Vec<String>, tun: Option<String>) -> io::Result<(Watcher, Found)> {
    let (found_tx, found_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (attach_tx, attach_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("braid-iface".into())
        .spawn(move || watch_thread(names, tun, found_tx, stop_rx, attach_rx))?;
    let watcher = Watcher {
        stop: Some(stop_tx),
        thread: Some(thread),
        attach: Some(attach_tx),
    };
    match found_rx.recv_timeout(SETUP_LIMIT) {
        Ok(Ok(found)) => Ok((watcher, found)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "interface watching: the routing setup did not finish",
        )),
    }
}

fn watch_thread(
    names: Vec<String>,
    tun: Option<String>,
    found: mpsc::Sender<io::Result<Found>>,
    stop: oneshot::Receiver<()>,
    attach: oneshot::Receiver<Weak<Shared>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = found.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        // Subscribe before reading the state, so nothing that changes in
        // between is missed (what is seen twice is handled once).
        let groups = [
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Ipv4Route,
        ];
        let (conn, handle, mut messages) = match rtnetlink::new_multicast_connection(&groups) {
            Ok(c) => c,
            Err(e) => {
                let _ = found.send(Err(io::Error::new(
                    e.kind(),
                    format!("interface watching: open a netlink socket: {e}"),
                )));
                return;
            }
        };
        tokio::spawn(conn);
        let mut routing = Routing {
            handle,
            tun,
            tun_index: 0,
            ifaces: Vec::new(),
            sysctls: Vec::new(),
            shared: None,
        };
        let addresses = match routing.setup(&names).await {
            Ok(a) => a,
            Err(e) => {
                routing.teardown().await;
                let _ = found.send(Err(e));
                return;
            }
        };
        if found.send(Ok(Found { addresses })).is_err() {
            routing.teardown().await;
            return;
        }
        let Ok(shared) = attach.await else {
            routing.teardown().await;
            return;
        };
        routing.shared = Some(shared);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                m = messages.next() => match m {
                    Some((msg, _)) => routing.on_message(msg).await,
                    None => break,
                },
            }
        }
        routing.teardown().await;
    });
}

/// A named interface.
#[derive(Debug)]
struct Iface {
    name: String,
    index: u32,
    up: bool,
    /// Counts the link's transitions: a delayed repeat of `link_up` checks
    /// that none happened meanwhile.
    transitions: Arc<AtomicU64>,
    gateway: Option<Ipv4Addr>,
    /// Owned (or, following only, followed) addresses and their prefix
    /// lengths. Routing owns IPv4 addresses only.
    addrs: Vec<(IpAddr, u8)>,
}

impl Iface {
    fn has(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|(a, _)| *a == ip)
    }

    fn v4_addrs(&self) -> impl Iterator<Item = (Ipv4Addr, u8)> + '_ {
        self.addrs.iter().filter_map(|&(a, p)| match a {
            IpAddr::V4(v4) => Some((v4, p)),
            IpAddr::V6(_) => None,
        })
    }
}

impl Iface {
    fn table(&self) -> u32 {
        TABLE_BASE + self.index
    }
}

struct Routing {
    handle: Handle,
    /// The TUN device the owned addresses are routed to; `None`: follow
    /// the interfaces only, change no routing.
    tun: Option<String>,
    tun_index: u32,
    ifaces: Vec<Iface>,
    /// Sysctls changed: path and old value, in the order changed.
    sysctls: Vec<(String, String)>,
    shared: Option<Weak<Shared>>,
}

/// The one-line error for a failed netlink request.
fn nl_error(what: &str, e: rtnetlink::Error) -> io::Error {
    if let rtnetlink::Error::NetlinkError(m) = &e
        && let Some(code) = m.code
    {
        let errno = -code.get();
        let os = io::Error::from_raw_os_error(errno);
        if errno == libc::EPERM || errno == libc::EACCES {
            return io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{what}: permission denied (needs root or CAP_NET_ADMIN)"),
            );
        }
        return io::Error::new(os.kind(), format!("{what}: {os}"));
    }
    io::Error::other(format!("{what}: {e}"))
}

fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.code.is_some_and(|c| -c.get() == errno))
}

fn link_up(flags: LinkFlags) -> bool {
    flags.contains(LinkFlags::Up)
        && (flags.contains(LinkFlags::LowerUp) || flags.contains(LinkFlags::Running))
}

/// The address of an address message that a stack can use: IPv4, or
/// with `v6` an IPv6 address of global scope (not link-local, not
/// loopback).
fn addr_of(msg: &AddressMessage, v6: bool) -> Option<IpAddr> {
    match msg.header.family {
        AddressFamily::Inet => v4_of(msg).map(IpAddr::V4),
        AddressFamily::Inet6 if v6 => {
            let ip = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V6(ip)) => Some(*ip),
                _ => None,
            })?;
            let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
            (!link_local && !ip.is_loopback() && !ip.is_multicast() && !ip.is_unspecified())
                .then_some(IpAddr::V6(ip))
        }
        _ => None,
    }
}

/// The IPv4 address of an address message, if it is one.
fn v4_of(msg: &AddressMessage) -> Option<Ipv4Addr> {
    if msg.header.family != AddressFamily::Inet {
        return None;
    }
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        })
    })
}

fn route_table(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

fn route_dst(msg: &RouteMessage) -> Option<Ipv4Addr> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })
}

fn route_oif(msg: &RouteMessage) -> Option<u32> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

fn route_gateway(msg: &RouteMessage) -> Option<Ipv4Addr> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })
}

/// The kernel's `local` route of `ip` on interface `index`?
fn is_local_route_of(msg: &RouteMessage, ip: Ipv4Addr) -> bool {
    msg.header.address_family == AddressFamily::Inet
        && msg.header.kind == RouteType::Local
        && msg.header.destination_prefix_length == 32
        && route_dst(msg) == Some(ip)
}

/// A rule `to|from ip/32 lookup table`, priority [`RULE_PRIORITY`].
fn rule_message(ip: Ipv4Addr, to: bool, table: u32) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.action = RuleAction::ToTable;
    m.header.table = RouteHeader::RT_TABLE_UNSPEC;
    if to {
        m.header.dst_len = 32;
        m.attributes.push(RuleAttribute::Destination(ip.into()));
    } else {
        m.header.src_len = 32;
        m.attributes.push(RuleAttribute::Source(ip.into()));
    }
    m.attributes.push(RuleAttribute::Priority(RULE_PRIORITY));
    m.attributes.push(RuleAttribute::Table(table));
    m
}

fn subnet(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(u32::from(ip) & mask)
}

impl Routing {
    async fn link_by_name(&self, name: &str) -> io::Result<LinkMessage> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(not_found(name)),
            Err(e) if is_errno(&e, libc::ENODEV) => Err(not_found(name)),
            Err(e) => Err(nl_error(&format!("look up interface {name}"), e)),
        }
    }

    async fn setup(&mut self, names: &[String]) -> io::Result<Vec<(IpAddr, bool)>> {
        if let Some(tun) = self.tun.clone() {
            self.tun_index = self.link_by_name(&tun).await?.header.index;
        }
        for name in names {
            if Some(name) == self.tun.as_ref() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("interface {name} is the stack's own TUN device"),
                ));
            }
            let link = self.link_by_name(name).await?;
            if self.ifaces.iter().any(|i| i.index == link.header.index) {
                continue;
            }
            self.ifaces.push(Iface {
                name: name.clone(),
                index: link.header.index,
                up: link_up(link.header.flags),
                transitions: Arc::new(AtomicU64::new(0)),
                gateway: None,
                addrs: Vec::new(),
            });
        }
        if self.tun.is_none() {
            let mut followed = Vec::new();
            for i in 0..self.ifaces.len() {
                for (ip, prefix) in self.read_addresses(i).await? {
                    if !self.ifaces[i].has(ip) {
                        self.ifaces[i].addrs.push((ip, prefix));
                        followed.push((ip, self.ifaces[i].up));
                    }
                }
            }
            return Ok(followed);
        }
        self.remove_leftovers().await?;
        self.set_sysctls()?;
        // Gateways: a default route through the interface, in any table
        // (the main table's first).
        let routes = self.all_routes().await?;
        for iface in &mut self.ifaces {
            let mut defaults: Vec<&RouteMessage> = routes
                .iter()
                .filter(|r| {
                    r.header.address_family == AddressFamily::Inet
                        && r.header.destination_prefix_length == 0
                        && r.header.kind == RouteType::Unicast
                        && route_oif(r) == Some(iface.index)
                        && route_gateway(r).is_some()
                })
                .collect();
            defaults.sort_by_key(|r| route_table(r) != u32::from(RouteHeader::RT_TABLE_MAIN));
            iface.gateway = defaults.first().and_then(|r| route_gateway(r));
        }
        let mut owned = Vec::new();
        for i in 0..self.ifaces.len() {
            for (ip, prefix) in self.read_addresses(i).await? {
                let IpAddr::V4(ip) = ip else { continue };
                self.own(i, ip, prefix).await?;
                owned.push((IpAddr::V4(ip), self.ifaces[i].up));
            }
        }
        // The kernel's local routes of the owned addresses.
        for r in &routes {
            if self.owner_of_local(r).is_some() {
                self.delete_local(r.clone()).await?;
            }
        }
        Ok(owned)
    }

    /// The usable addresses of interface `i` (see [`addr_of`]).
    async fn read_addresses(&self, i: usize) -> io::Result<Vec<(IpAddr, u8)>> {
        let index = self.ifaces[i].index;
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut found = Vec::new();
        loop {
            match addrs.try_next().await {
                Ok(Some(a)) => {
                    if a.header.index == index
                        && let Some(ip) = addr_of(&a, self.tun.is_none())
                    {
                        found.push((ip, a.header.prefix_len));
                    }
                }
                Ok(None) => return Ok(found),
                Err(e) => {
                    return Err(nl_error(
                        &format!("read the addresses of {}", self.ifaces[i].name),
                        e,
                    ));
                }
            }
        }
    }

    async fn all_routes(&self) -> io::Result<Vec<RouteMessage>> {
        let mut out = Vec::new();
        let mut dump = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        loop {
            match dump.try_next().await {
                Ok(Some(r)) => out.push(r),
                Ok(None) => return Ok(out),
                Err(e) => return Err(nl_error("read the routing tables", e)),
            }
        }
    }

    /// Rules and routes a stack killed earlier left for these interfaces.
    async fn remove_leftovers(&self) -> io::Result<()> {
        let tables: Vec<u32> = self.ifaces.iter().map(Iface::table).collect();
        let mut rules = self.handle.rule().get(rtnetlink::IpVersion::V4).execute();
        let mut stale = Vec::new();
        loop {
            match rules.try_next().await {
                Ok(Some(r)) => {
                    let prio = r
                        .attributes
                        .contains(&RuleAttribute::Priority(RULE_PRIORITY));
                    let table = r.attributes.iter().find_map(|a| match a {
                        RuleAttribute::Table(t) => Some(*t),
                        _ => None,
                    });
                    if prio && table.is_some_and(|t| tables.contains(&t)) {
                        stale.push(r);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(nl_error("read the routing rules", e)),
            }
        }
        for r in stale {
            self.handle
                .rule()
                .del(r)
                .execute()
                .await
                .map_err(|e| nl_error("delete a leftover routing rule", e))?;
        }
        for r in self.all_routes().await? {
            if tables.contains(&route_table(&r)) {
                let _ = self.handle.route().del(r).execute().await;
            }
        }
        Ok(())
    }

    fn set_sysctls(&mut self) -> io::Result<()> {
        let tun = self.tun.as_deref().unwrap_or_default();
        let mut wanted = vec![
            ("net/ipv4/ip_forward".to_string(), "1"),
            ("net/ipv4/conf/all/rp_filter".to_string(), "0"),
            (format!("net/ipv4/conf/{tun}/rp_filter"), "0"),
            (format!("net/ipv4/conf/{tun}/accept_local"), "1"),
        ];
        for i in &self.ifaces {
            wanted.push((format!("net/ipv4/conf/{}/rp_filter", i.name), "0"));
            wanted.push((format!("net/ipv4/conf/{}/proxy_arp", i.name), "1"));
            wanted.push((format!("net/ipv4/neigh/{}/proxy_delay", i.name), "0"));
        }
        for (key, value) in wanted {
            let path = format!("/proc/sys/{key}");
            let old = std::fs::read_to_string(&path)
                .map_err(|e| sysctl_error(&key, e))?
                .trim()
                .to_string();
            if old == value {
                continue;
            }
            std::fs::write(&path, value).map_err(|e| sysctl_error(&key, e))?;
            self.sysctls.push((path, old));
        }
        Ok(())
    }

    /// Owns `ip` of interface `i`: its TUN route, its rules, the
    /// interface's routes in its table.
    async fn own(&mut self, i: usize, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let table = self.ifaces[i].table();
        let name = self.ifaces[i].name.clone();
        if !self.ifaces[i].has(IpAddr::V4(ip)) {
            self.ifaces[i].addrs.push((IpAddr::V4(ip), prefix));
        }
        let to_tun = self.to_tun_route(ip, table);
        self.handle
            .route()
            .add(to_tun)
            .replace()
            .execute()
            .await
            .map_err(|e| {
                let tun = self.tun.as_deref().unwrap_or_default();
                nl_error(&format!("route {ip} ({name}) to {tun}"), e)
            })?;
        // Delete first: adding an existing rule again would duplicate it.
        self.delete_rules(ip, table).await;
        for to in [true, false] {
            let mut add = self.handle.rule().add();
            *add.message_mut() = rule_message(ip, to, table);
            add.execute()
                .await
                .map_err(|e| nl_error(&format!("add a routing rule for {ip} ({name})"), e))?;
        }
        self.interface_routes(i).await;
        Ok(())
    }

    /// The interface's subnets and gateway in its table, if it is up (the
    /// kernel removes them when it goes down). Failures are logged: the
    /// interface may have gone down meanwhile.
    async fn interface_routes(&self, i: usize) {
        let iface = &self.ifaces[i];
        if !iface.up {
            return;
        }
        let mut routes = Vec::new();
        for (ip, prefix) in iface.v4_addrs() {
            if prefix < 32 {
                routes.push(
                    RouteMessageBuilder::<Ipv4Addr>::new()
                        .destination_prefix(subnet(ip, prefix), prefix)
                        .output_interface(iface.index)
                        .scope(RouteScope::Link)
                        .pref_source(ip)
                        .table_id(iface.table())
                        .build(),
                );
            }
        }
        if let Some(gw) = iface.gateway {
            routes.push(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gw)
                    .output_interface(iface.index)
                    .table_id(iface.table())
                    .build(),
            );
        }
        for r in routes {
            if let Err(e) = self.handle.route().add(r).replace().execute().await {
                tracing::debug!(iface = %iface.name, error = %e, "interface route");
            }
        }
    }

    /// Which owned address a `local` route is of: (interface, address).
    fn owner_of_local(&self, r: &RouteMessage) -> Option<(usize, Ipv4Addr)> {
        self.ifaces.iter().enumerate().find_map(|(i, iface)| {
            iface
                .v4_addrs()
                .find(|(a, _)| is_local_route_of(r, *a))
                .map(|(a, _)| (i, a))
        })
    }

    /// Deletes the kernel's `local` routes of interface `i`'s owned
    /// addresses, if there are any.
    async fn delete_local_routes(&self, i: usize) {
        let Ok(routes) = self.all_routes().await else {
            return;
        };
        for r in routes {
            if self.ifaces[i]
                .v4_addrs()
                .any(|(a, _)| is_local_route_of(&r, a))
            {
                let _ = self.delete_local(r).await;
            }
        }
    }

    async fn delete_local(&self, r: RouteMessage) -> io::Result<()> {
        match self.handle.route().del(r).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::ESRCH) => Ok(()),
            Err(e) => Err(nl_error(
                "delete the kernel's local route of an owned address",
                e,
            )),
        }
    }

    /// The route of `ip` into the TUN, in `table`.
    fn to_tun_route(&self, ip: Ipv4Addr, table: u32) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip, 32)
            .output_interface(self.tun_index)
            .scope(RouteScope::Link)
            .table_id(table)
            .build()
    }

    /// Deletes both rules of `ip` (`to` and `from`), if there are any.
    async fn delete_rules(&self, ip: Ipv4Addr, table: u32) {
        for to in [true, false] {
            let _ = self
                .handle
                .rule()
                .del(rule_message(ip, to, table))
                .execute()
                .await;
        }
    }

    /// Stops owning or following `ip` of interface `i`.
    async fn give_up(&mut self, i: usize, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) if self.tun.is_some() => self.disown(i, v4, false).await,
            _ => self.ifaces[i].addrs.retain(|(a, _)| *a != ip),
        }
    }

    /// Gives `ip` back to the kernel: rules and TUN route gone, `local`
    /// route back (if the interface still has the address and is up).
    async fn disown(&mut self, i: usize, ip: Ipv4Addr, restore_local: bool) {
        let table = self.ifaces[i].table();
        self.ifaces[i].addrs.retain(|(a, _)| *a != IpAddr::V4(ip));
        self.delete_rules(ip, table).await;
        let to_tun = self.to_tun_route(ip, table);
        let _ = self.handle.route().del(to_tun).execute().await;
        if restore_local {
            let local = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(ip, 32)
                .pref_source(ip)
                .output_interface(self.ifaces[i].index)
                .kind(RouteType::Local)
                .scope(RouteScope::Host)
                .protocol(RouteProtocol::Kernel)
                .table_id(LOCAL_TABLE)
                .build();
            if let Err(e) = self.handle.route().add(local).replace().execute().await {
                tracing::debug!(%ip, error = %e, "restore the local route");
            }
        }
    }

    async fn teardown(&mut self) {
        if self.tun.is_none() {
            return;
        }
        for i in 0..self.ifaces.len() {
            let addrs: Vec<Ipv4Addr> = self.ifaces[i].v4_addrs().map(|(a, _)| a).collect();
            let up = self.ifaces[i].up;
            for ip in addrs {
                self.disown(i, ip, up).await;
            }
        }
        if let Ok(routes) = self.all_routes().await {
            let tables: Vec<u32> = self.ifaces.iter().map(Iface::table).collect();
            for r in routes {
                if tables.contains(&route_table(&r)) {
                    let _ = self.handle.route().del(r).execute().await;
                }
            }
        }
        for (path, old) in self.sysctls.drain(..).rev() {
            if let Err(e) = std::fs::write(&path, &old) {
                tracing::warn!(%path, error = %e, "restore a sysctl");
            }
        }
        tracing::debug!("interface routing undone");
    }

    /// Calls `f` on the stack, if it still exists.
    fn with_stack(&self, f: impl FnOnce(&Shared)) {
        if let Some(s) = self.shared.as_ref().and_then(Weak::upgrade) {
            f(&s);
        }
    }

    async fn on_message(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) {
        let NetlinkPayload::InnerMessage(msg) = msg.payload else {
            return;
        };
        match msg {
            RouteNetlinkMessage::NewLink(l) => {
                self.on_link(l.header.index, link_up(l.header.flags)).await
            }
            RouteNetlinkMessage::DelLink(l) => {
                let index = l.header.index;
                self.on_link(index, false).await;
                if let Some(i) = self.ifaces.iter().position(|f| f.index == index) {
                    let addrs: Vec<IpAddr> = self.ifaces[i].addrs.iter().map(|(a, _)| *a).collect();
                    for ip in addrs {
                        self.give_up(i, ip).await;
                        self.with_stack(|s| s.remove_address(ip));
                    }
                }
            }
            RouteNetlinkMessage::NewAddress(a) => {
                let Some(i) = self.ifaces.iter().position(|f| f.index == a.header.index) else {
                    return;
                };
                let Some(ip) = addr_of(&a, self.tun.is_none()) else {
                    return;
                };
                if self.ifaces[i].has(ip) {
                    return;
                }
                match ip {
                    IpAddr::V4(v4) if self.tun.is_some() => {
                        if let Err(e) = self.own(i, v4, a.header.prefix_len).await {
                            tracing::warn!(%ip, error = %e, "own a new address");
                            self.disown(i, v4, true).await;
                            return;
                        }
                        // Its local route came with it: find and delete it.
                        self.delete_local_routes(i).await;
                    }
                    _ => self.ifaces[i].addrs.push((ip, a.header.prefix_len)),
                }
                let up = self.ifaces[i].up;
                tracing::info!(%ip, iface = %self.ifaces[i].name, "address added");
                self.with_stack(|s| {
                    s.add_address(ip);
                    if !up {
                        s.link_down(ip);
                    }
                });
            }
            RouteNetlinkMessage::DelAddress(a) => {
                let Some(i) = self.ifaces.iter().position(|f| f.index == a.header.index) else {
                    return;
                };
                let Some(ip) = addr_of(&a, self.tun.is_none()) else {
                    return;
                };
                if !self.ifaces[i].has(ip) {
                    return;
                }
                tracing::info!(%ip, iface = %self.ifaces[i].name, "address removed");
                self.give_up(i, ip).await;
                self.with_stack(|s| s.remove_address(ip));
            }
            RouteNetlinkMessage::NewRoute(r) if self.tun.is_some() => {
                if self.owner_of_local(&r).is_some() {
                    let _ = self.delete_local(r).await;
                    return;
                }
                // A new default gateway through a named interface (DHCP).
                let table = route_table(&r);
                if (TABLE_BASE..TABLE_BASE + TABLE_SPAN).contains(&table)
                    || r.header.address_family != AddressFamily::Inet
                    || r.header.destination_prefix_length != 0
                    || r.header.kind != RouteType::Unicast
                {
                    return;
                }
                let (Some(oif), Some(gw)) = (route_oif(&r), route_gateway(&r)) else {
                    return;
                };
                if let Some(i) = self.ifaces.iter().position(|f| f.index == oif)
                    && self.ifaces[i].gateway != Some(gw)
                {
                    self.ifaces[i].gateway = Some(gw);
                    self.interface_routes(i).await;
                }
            }
            _ => {}
        }
    }

    async fn on_link(&mut self, index: u32, up: bool) {
        let Some(i) = self.ifaces.iter().position(|f| f.index == index) else {
            return;
        };
        if self.ifaces[i].up == up {
            return;
        }
        self.ifaces[i].up = up;
        let transition = self.ifaces[i].transitions.fetch_add(1, Ordering::SeqCst) + 1;
        let addrs: Vec<IpAddr> = self.ifaces[i].addrs.iter().map(|(a, _)| *a).collect();
        tracing::info!(iface = %self.ifaces[i].name, up, "link");
        if up {
            if self.tun.is_some() {
                // Routes first, so that what the endpoint sends at once
                // leaves.
                self.interface_routes(i).await;
                // The kernel announces the link before it puts the
                // addresses' `local` routes back (in the same locked
                // section, so they are there once a request of ours has
                // been served): delete them now, before anything is sent,
                // or an answer arriving first would be taken by the kernel
                // and reset.
                self.delete_local_routes(i).await;
            }
            self.with_stack(|s| addrs.iter().for_each(|a| s.link_up(*a)));
            // The kernel raises the carrier flag before it attaches the
            // device's queue; a packet sent in between (the first SYN of a
            // re-created subflow) is dropped and would wait for its timer
            // (0.6 s seen once in eight). Say it again, after the queue is
            // surely there: subflows from the address retransmit at once.
            if let Some(shared) = self.shared.clone() {
                let transitions = self.ifaces[i].transitions.clone();
                tokio::spawn(async move {
                    for delay in LINK_UP_REPEATS {
                        tokio::time::sleep(delay).await;
                        if transitions.load(Ordering::SeqCst) != transition {
                            return;
                        }
                        if let Some(s) = shared.upgrade() {
                            addrs.iter().for_each(|a| s.link_up(*a));
                        }
                    }
                });
            }
        } else {
            self.with_stack(|s| addrs.iter().for_each(|a| s.link_down(*a)));
        }
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("interface {name} not found"),
    )
}

fn sysctl_error(key: &str, e: io::Error) -> io::Error {
    let key = key.replace('/', ".");
    if e.kind() == io::ErrorKind::PermissionDenied {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("set sysctl {key}: permission denied (needs root)"),
        )
    } else {
        io::Error::new(e.kind(), format!("set sysctl {key}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let ip = Ipv4Addr::new(10, 0, 1, 2);
        assert_eq!(subnet(ip, 24), Ipv4Addr::new(10, 0, 1, 0));
        assert_eq!(subnet(ip, 32), ip);
        assert_eq!(subnet(ip, 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            subnet(Ipv4Addr::new(192, 168, 7, 200), 25),
            Ipv4Addr::new(192, 168, 7, 128)
        );
    }
}
