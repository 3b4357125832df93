//! What the gateway allows: destinations (networks and ports), clients
//! (credentials, Convert cookies) and how many connections at once.
//!
//! Destinations: an address must be inside one of the `allow` networks and
//! outside every `deny` network. Private, loopback, link-local and other
//! special-purpose ranges ([`is_special`]) are refused unless an `allow`
//! network that names them explicitly (any prefix longer than /0) covers
//! the address: a gateway facing the Internet must not become a way into
//! its own network by default.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True if `ip` is inside the network (IPv4-mapped IPv6 addresses
    /// count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

/// An IPv4-mapped IPv6 address as IPv4; others unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("bad network '{s}': not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("bad network '{s}': prefix must be 0-{max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Private, loopback, link-local, shared (CGNAT), unspecified, multicast,
/// broadcast and documentation ranges: never the destination of a public
/// gateway unless explicitly allowed.
pub fn is_special(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

/// Why a destination or client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The destination address is outside the allowed networks.
    #[error("destination network not allowed")]
    Network,
    /// The destination port is not allowed.
    #[error("destination port not allowed")]
    Port,
    /// Credentials or cookie missing or wrong.
    #[error("client not authorized")]
    Client,
    /// Too many connections at once (overall or from this client).
    #[error("connection limit reached")]
    Limit,
}

/// The destination rules.
#[derive(Debug, Clone)]
pub struct Destinations {
    /// Allowed networks.
    pub allow: Vec<Cidr>,
    /// Refused networks (checked after `allow`).
    pub deny: Vec<Cidr>,
    /// Allowed ports as inclusive ranges; empty: every port.
    pub ports: Vec<(u16, u16)>,
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations {
            allow: vec![
                Cidr {
                    addr: Ipv4Addr::UNSPECIFIED.into(),
                    prefix: 0,
                },
                Cidr {
                    addr: Ipv6Addr::UNSPECIFIED.into(),
                    prefix: 0,
                },
            ],
            deny: Vec::new(),
            ports: Vec::new(),
        }
    }
}

impl Destinations {
    /// Checks a destination.
    pub fn check(&self, dest: SocketAddr) -> Result<(), Denied> {
        let ip = canonical(dest.ip());
        let allowed = self
            .allow
            .iter()
            .any(|n| n.contains(ip) && (n.prefix() > 0 || !is_special(ip)));
        if !allowed || self.deny.iter().any(|n| n.contains(ip)) {
            return Err(Denied::Network);
        }
        if !self.ports.is_empty()
            && !self
                .ports
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&dest.port()))
        {
            return Err(Denied::Port);
        }
        Ok(())
    }
}

/// Parses a port or an inclusive port range (`443`, `8000-8999`).
pub fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("bad port range '{s}': expected PORT or LOW-HIGH within 1-65535");
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo == 0 || hi < lo {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Connection limits, overall and per client address, shared by every
/// accept loop of a gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    inner: Arc<Mutex<LimitState>>,
    max_total: usize,
    max_per_client: usize,
}

#[derive(Debug, Default)]
struct LimitState {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Holds one connection's place in the [`Limits`]; released on drop.
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Mutex<LimitState>>,
    client: IpAddr,
}

impl Limits {
    /// At most `max_total` connections, `max_per_client` from one address.
    pub fn new(max_total: usize, max_per_client: usize) -> Limits {
        Limits {
            inner: Arc::default(),
            max_total,
            max_per_client,
        }
    }

    /// Takes a place for a connection from `client`, if one is free.
    pub fn acquire(&self, client: IpAddr) -> Result<Slot, Denied> {
        let client = canonical(client);
        // A poisoned lock only means another task panicked mid-update of
        // two counters; the counts stay usable.
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mine = s.per_client.get(&client).copied().unwrap_or(0);
        if s.total >= self.max_total || mine >= self.max_per_client {
            return Err(Denied::Limit);
        }
        s.total += 1;
        *s.per_client.entry(client).or_default() += 1;
        Ok(Slot {
            inner: self.inner.clone(),
            client,
        })
    }

    /// Connections holding a place now.
    pub fn active(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                s.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains() {
        let n: Cidr = "10.9.0.0/24".parse().unwrap();
        assert!(n.contains("10.9.0.7".parse().unwrap()));
        assert!(n.contains("::ffff:10.9.0.7".parse().unwrap()));
        assert!(!n.contains("10.9.1.7".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("ten/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn default_denies_private_and_loopback() {
        let d = Destinations::default();
        assert_eq!(d.check(sa("127.0.0.1:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("10.1.2.3:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("192.168.1.1:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("169.254.169.254:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("[::1]:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("[::ffff:127.0.0.1]:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("[fd00::1]:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("8.8.8.8:53")), Ok(()));
    }

    #[test]
    fn explicit_private_network_is_allowed() {
        let d = Destinations {
            allow: vec!["10.9.0.0/24".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(d.check(sa("10.9.0.2:8000")), Ok(()));
        assert_eq!(d.check(sa("10.9.1.2:8000")), Err(Denied::Network));
        assert_eq!(d.check(sa("8.8.8.8:53")), Err(Denied::Network));
    }

    #[test]
    fn deny_and_ports() {
        let d = Destinations {
            deny: vec!["198.51.100.0/24".parse().unwrap()],
            ports: vec![(80, 80), (8000, 8999)],
            ..Default::default()
        };
        assert_eq!(d.check(sa("198.51.100.1:80")), Err(Denied::Network));
        assert_eq!(d.check(sa("8.8.8.8:80")), Ok(()));
        assert_eq!(d.check(sa("8.8.8.8:8443")), Ok(()));
        assert_eq!(d.check(sa("8.8.8.8:22")), Err(Denied::Port));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("443"), Ok((443, 443)));
        assert_eq!(parse_ports("8000-8999"), Ok((8000, 8999)));
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("9-8").is_err());
        assert!(parse_ports("http").is_err());
    }

    #[test]
    fn limits_overall_and_per_client() {
        let l = Limits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = l.acquire(a).unwrap();
        let _a2 = l.acquire(a).unwrap();
        assert_eq!(l.acquire(a).unwrap_err(), Denied::Limit);
        let _b1 = l.acquire(b).unwrap();
        assert_eq!(l.acquire(b).unwrap_err(), Denied::Limit); // overall
        drop(a1);
        assert_eq!(l.active(), 2);
        assert!(l.acquire(b).is_ok());
    }
}
