//! The full-mesh path manager, like Linux's in-kernel one with `subflow`
//! and `signal` endpoints: the client opens one subflow from each
//! configured local address to the server's initial address and to every
//! address the server announced; the server announces its configured extra
//! addresses once the connection is established.
//!
//! Beyond Linux's: the client re-creates a subflow that failed (the
//! connection spaces the attempts), stops using a local address that went
//! down, and opens subflows from one that comes (back) up.

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
        for ip in &self.config.local_addrs {
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

    fn open_to(&self, ctx: &PmContext<'_>, remote: SocketAddr, out: &mut Vec<PmAction>) {
        for ip in self.locals(ctx) {
            if ip.is_ipv4() != remote.is_ipv4() {
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
                    backup: self.config.backup_addrs.contains(&ip),
                });
            }
        }
    }
}

impl PathManager for FullMesh {
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        let mut out = Vec::new();
        if ctx.client {
            self.open_to(ctx, ctx.initial.1, &mut out);
        } else {
            for (i, addr) in self.config.announce.iter().enumerate() {
                let id = u8::try_from(i + 1).unwrap_or(u8::MAX);
                out.push(PmAction::Announce { id, addr: *addr });
            }
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

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn client_opens_from_each_extra_local_address() {
        let mut pm = FullMesh::new(PmConfig {
            local_addrs: vec!["10.0.2.1".parse().unwrap()],
            ..PmConfig::default()
        });
        let subflows = [(sa("10.0.1.1:4000"), sa("10.0.9.9:80"))];
        let ctx = PmContext {
            client: true,
            initial: subflows[0],
            subflows: &subflows,
        };
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
        let ctx = PmContext {
            client: true,
            initial: open[0],
            subflows: &open,
        };
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
        let ctx = PmContext {
            client: false,
            initial: subflows[0],
            subflows: &subflows,
        };
        assert_eq!(
            pm.on_established(&ctx),
            vec![PmAction::Announce {
                id: 1,
                addr: sa("10.0.3.3:80")
            }]
        );
    }
}
