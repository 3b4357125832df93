//! The full-mesh path manager, like Linux's in-kernel one with `subflow`
//! and `signal` endpoints: the client opens one subflow from each
//! configured local address to the server's initial address and to every
//! address the server announced; the server announces its configured extra
//! addresses once the connection is established.
//!
//! Beyond Linux's: the client re-creates a subflow that failed (the
//! connection spaces the attempts), stops using a local address that went
//! down, and opens subflows from one that comes (back) up.
//!
//! Addresses of `PmConfig::local_addrs` (and the initial subflow's) join
//! every address of the peer. Endpoints (`PmConfig::endpoints`) follow
//! Linux's flags: `subflow` joins the peer's initial address only,
//! `fullmesh` every address, `signal` is announced (address IDs: the
//! endpoint's, else the next free one after `PmConfig::announce`'s), and
//! `backup` makes its subflows backup. Unlike Linux, the server opens no
//! subflows (its `subflow` endpoints are unused), and an address the peer
//! announces is also joined from the initial subflow's address.

use super::{PathManager, PmAction, PmConfig, PmContext, PmEvent};
use core::net::{IpAddr, SocketAddr};

/// The default, full-mesh path manager.
#[derive(Debug, Clone, Default)]
pub struct FullMesh {
    config: PmConfig,
    /// Local addresses that went down (no subflows from them until they
    /// come up).
    down: Vec<IpAddr>,
    /// Remote addresses the peer announced and has not withdrawn.
    remotes: Vec<(u8, SocketAddr)>,
}

impl FullMesh {
    /// A path manager with this configuration.
    pub fn new(config: PmConfig) -> FullMesh {
        FullMesh {
            config,
            down: Vec::new(),
            remotes: Vec::new(),
        }
    }

    /// The local addresses in use: the initial one, the configured and
    /// the added ones, less those that are down.
    fn locals(&self, ctx: &PmContext<'_>) -> Vec<IpAddr> {
        let mut locals = vec![ctx.initial.0.ip()];
        let joining = self
            .config
            .endpoints
            .iter()
            .filter(|e| e.flags.subflow || e.flags.fullmesh)
            .map(|e| &e.addr);
        for ip in self.config.local_addrs.iter().chain(joining) {
            if !locals.contains(ip) {
                locals.push(*ip);
            }
        }
        locals.retain(|ip| !self.down.contains(ip));
        locals
    }

    /// Every remote address: the initial one and those announced.
    fn remotes(&self, ctx: &PmContext<'_>) -> Vec<SocketAddr> {
        let mut r = vec![ctx.initial.1];
        r.extend(self.remotes.iter().map(|(_, a)| *a));
        r
    }

    /// Whether the address `ip` joins `remote`: an endpoint with only
    /// `subflow` joins the peer's initial address alone.
    fn joins(&self, ctx: &PmContext<'_>, ip: IpAddr, remote: SocketAddr) -> bool {
        let meshed = ip == ctx.initial.0.ip() || self.config.local_addrs.contains(&ip);
        meshed
            || remote == ctx.initial.1
            || self
                .config
                .endpoints
                .iter()
                .any(|e| e.addr == ip && e.flags.fullmesh)
    }

    /// Whether subflows from `ip` are backup.
    fn backup(&self, ip: IpAddr) -> bool {
        self.config.backup_addrs.contains(&ip)
            || self
                .config
                .endpoints
                .iter()
                .any(|e| e.addr == ip && e.flags.backup)
    }

    /// Announcements: `PmConfig::announce` (server only) as IDs 1, 2, ...,
    /// then the `signal` endpoints (either side) under their own ID or
    /// the next free one, on the listener's port unless they name one.
    fn announcements(&self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        let mut out = Vec::new();
        if !ctx.client {
            for (i, addr) in self.config.announce.iter().enumerate() {
                let id = u8::try_from(i + 1).unwrap_or(u8::MAX);
                out.push(PmAction::Announce { id, addr: *addr });
            }
        }
        let signal = self.config.endpoints.iter().filter(|e| e.flags.signal);
        let mut used: Vec<u8> = self.config.endpoints.iter().filter_map(|e| e.id).collect();
        used.extend(out.iter().filter_map(|a| match a {
            PmAction::Announce { id, .. } => Some(*id),
            PmAction::OpenSubflow { .. } => None,
        }));
        for e in signal {
            let id = match e.id {
                Some(id) => id,
                None => {
                    let Some(free) = (1..=u8::MAX).find(|id| !used.contains(id)) else {
                        continue;
                    };
                    used.push(free);
                    free
                }
            };
            let port = e.port.unwrap_or(ctx.initial.0.port());
            out.push(PmAction::Announce {
                id,
                addr: SocketAddr::new(e.addr, port),
            });
        }
        out
    }

    fn open_to(&self, ctx: &PmContext<'_>, remote: SocketAddr, out: &mut Vec<PmAction>) {
        for ip in self.locals(ctx) {
            if ip.is_ipv4() != remote.is_ipv4() || !self.joins(ctx, ip, remote) {
                continue;
            }
            let exists = ctx
                .subflows
                .iter()
                .any(|(l, r)| l.ip() == ip && *r == remote);
            if !exists {
                out.push(PmAction::OpenSubflow {
                    local: SocketAddr::new(ip, 0),
                    remote,
                    backup: self.backup(ip),
                });
            }
        }
    }
}

impl PathManager for FullMesh {
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        let mut out = self.announcements(ctx);
        if ctx.client {
            self.open_to(ctx, ctx.initial.1, &mut out);
        }
        out
    }

    fn on_addr_announced(
        &mut self,
        ctx: &PmContext<'_>,
        id: u8,
        addr: SocketAddr,
    ) -> Vec<PmAction> {
        self.remotes.retain(|(i, _)| *i != id);
        self.remotes.push((id, addr));
        let mut out = Vec::new();
        if ctx.client {
            self.open_to(ctx, addr, &mut out);
        }
        out
    }

    fn on_event(&mut self, ctx: &PmContext<'_>, event: &PmEvent) -> Vec<PmAction> {
        let mut out = Vec::new();
        match *event {
            // Re-create it, if its addresses are still in use.
            PmEvent::SubflowClosed {
                local,
                remote,
                failed: true,
            } if ctx.client
                && self.locals(ctx).contains(&local.ip())
                && self.remotes(ctx).contains(&remote) =>
            {
                self.open_to(ctx, remote, &mut out);
            }
            PmEvent::LocalAddrUp(ip) => {
                self.down.retain(|a| *a != ip);
                if !self.config.local_addrs.contains(&ip) && ip != ctx.initial.0.ip() {
                    self.config.local_addrs.push(ip);
                }
                if ctx.client {
                    for remote in self.remotes(ctx) {
                        self.open_to(ctx, remote, &mut out);
                    }
                }
            }
            PmEvent::LocalAddrDown(ip) if !self.down.contains(&ip) => self.down.push(ip),
            PmEvent::AddrRemoved { id } => self.remotes.retain(|(i, _)| *i != id),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::PmEvent;
    use crate::pm::testing::{context, sa};

    #[test]
    fn client_opens_from_each_extra_local_address() {
        let mut pm = FullMesh::new(PmConfig {
            local_addrs: vec!["10.0.2.1".parse().unwrap()],
            ..PmConfig::default()
        });
        let subflows = [(sa("10.0.1.1:4000"), sa("10.0.9.9:80"))];
        let ctx = context(true, &subflows);
        let a = pm.on_established(&ctx);
        assert_eq!(
            a,
            vec![PmAction::OpenSubflow {
                local: sa("10.0.2.1:0"),
                remote: sa("10.0.9.9:80"),
                backup: false
            }]
        );
        let a = pm.on_addr_announced(&ctx, 1, sa("10.0.8.8:80"));
        assert_eq!(a.len(), 2);
    }

    /// A failed subflow is asked for again, an orderly close is not; a
    /// local address that went down is not used until it comes up, and
    /// then at once.
    #[test]
    fn client_recreates_failures_and_follows_its_addresses() {
        let lte: core::net::IpAddr = "10.0.2.1".parse().unwrap();
        let mut pm = FullMesh::new(PmConfig {
            local_addrs: vec![lte],
            ..PmConfig::default()
        });
        let server = sa("10.0.9.9:80");
        let open = [(sa("10.0.1.1:4000"), server)];
        let ctx = context(true, &open);
        let reopen = vec![PmAction::OpenSubflow {
            local: sa("10.0.2.1:0"),
            remote: server,
            backup: false,
        }];
        let closed = |failed| PmEvent::SubflowClosed {
            local: sa("10.0.2.1:5000"),
            remote: server,
            failed,
        };
        assert_eq!(pm.on_event(&ctx, &closed(true)), reopen);
        assert_eq!(pm.on_event(&ctx, &closed(false)), vec![]);
        assert_eq!(pm.on_event(&ctx, &PmEvent::LocalAddrDown(lte)), vec![]);
        assert_eq!(pm.on_event(&ctx, &closed(true)), vec![]);
        assert_eq!(pm.on_event(&ctx, &PmEvent::LocalAddrUp(lte)), reopen);
        // The server side never opens subflows.
        let server_ctx = PmContext {
            client: false,
            ..ctx.clone()
        };
        assert_eq!(pm.on_event(&server_ctx, &closed(true)), vec![]);
    }

    #[test]
    fn server_announces() {
        let mut pm = FullMesh::new(PmConfig {
            announce: vec![sa("10.0.3.3:80")],
            ..PmConfig::default()
        });
        let subflows = [(sa("10.0.9.9:80"), sa("10.0.1.1:4000"))];
        let ctx = context(false, &subflows);
        assert_eq!(
            pm.on_established(&ctx),
            vec![PmAction::Announce {
                id: 1,
                addr: sa("10.0.3.3:80")
            }]
        );
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;
    use crate::pm::PmEndpoint;
    use crate::pm::testing::{context, sa};

    fn config(endpoints: &[&str]) -> PmConfig {
        PmConfig {
            endpoints: endpoints
                .iter()
                .map(|e| e.parse::<PmEndpoint>().unwrap())
                .collect(),
            ..PmConfig::default()
        }
    }

    /// `subflow` joins the initial address only, `fullmesh` every
    /// announced one too, `backup` flags its subflows.
    #[test]
    fn client_endpoints_follow_linux_flags() {
        let mut pm = FullMesh::new(config(&["10.0.2.1 subflow backup", "10.0.3.1 fullmesh"]));
        let subflows = [(sa("10.0.1.1:4000"), sa("10.0.9.9:80"))];
        let ctx = context(true, &subflows);
        let open = |local: &str, remote: &str, backup| PmAction::OpenSubflow {
            local: sa(local),
            remote: sa(remote),
            backup,
        };
        assert_eq!(
            pm.on_established(&ctx),
            vec![
                open("10.0.2.1:0", "10.0.9.9:80", true),
                open("10.0.3.1:0", "10.0.9.9:80", false),
            ]
        );
        // An announced address: the initial address and the fullmesh
        // endpoint join it; the subflow-only endpoint does not.
        assert_eq!(
            pm.on_addr_announced(&ctx, 1, sa("10.0.8.8:80")),
            vec![
                open("10.0.1.1:0", "10.0.8.8:80", false),
                open("10.0.3.1:0", "10.0.8.8:80", false),
            ]
        );
    }

    /// `signal` endpoints are announced under their ID or the next free
    /// one after the announce list's, on the listener's port unless they
    /// name one.
    #[test]
    fn signal_endpoints_are_announced() {
        let mut pm = FullMesh::new(PmConfig {
            announce: vec![sa("10.0.3.3:80")],
            ..config(&["10.0.4.4 signal", "10.0.5.5 port 8080 id 9 signal backup"])
        });
        let subflows = [(sa("10.0.9.9:443"), sa("10.0.1.1:4000"))];
        let ctx = context(false, &subflows);
        assert_eq!(
            pm.on_established(&ctx),
            vec![
                PmAction::Announce {
                    id: 1,
                    addr: sa("10.0.3.3:80")
                },
                PmAction::Announce {
                    id: 2,
                    addr: sa("10.0.4.4:443")
                },
                PmAction::Announce {
                    id: 9,
                    addr: sa("10.0.5.5:8080")
                },
            ]
        );
    }
}
