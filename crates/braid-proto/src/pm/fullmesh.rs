//! The full-mesh path manager, like Linux's in-kernel one with `subflow`
//! and `signal` endpoints: the client opens one subflow from each
//! configured local address to the server's initial address and to every
//! address the server announced; the server announces its configured extra
//! addresses once the connection is established.

use super::{PathManager, PmAction, PmConfig, PmContext};
use core::net::SocketAddr;

/// The default, full-mesh path manager.
#[derive(Debug, Clone, Default)]
pub struct FullMesh {
    config: PmConfig,
}

impl FullMesh {
    /// A path manager with this configuration.
    pub fn new(config: PmConfig) -> FullMesh {
        FullMesh { config }
    }

    fn open_to(&self, ctx: &PmContext<'_>, remote: SocketAddr, out: &mut Vec<PmAction>) {
        let mut locals = vec![ctx.initial.0.ip()];
        locals.extend(self.config.local_addrs.iter().copied());
        for ip in locals {
            let exists = ctx
                .subflows
                .iter()
                .any(|(l, r)| l.ip() == ip && *r == remote);
            if !exists {
                out.push(PmAction::OpenSubflow {
                    local: SocketAddr::new(ip, 0),
                    remote,
                    backup: false,
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
        _id: u8,
        addr: SocketAddr,
    ) -> Vec<PmAction> {
        let mut out = Vec::new();
        if ctx.client {
            self.open_to(ctx, addr, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
