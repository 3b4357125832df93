//! The `ndiffports` path manager (after the out-of-tree Linux MPTCP's):
//! the client opens extra subflows between the initial pair of addresses,
//! each from another local port, up to the subflow limit. One path then
//! carries several flows, each hashed on its own by ECMP or a per-flow
//! queue, which a single TCP connection cannot use together. The server
//! announces nothing.

use super::{PathManager, PmAction, PmConfig, PmContext};
use core::net::SocketAddr;

/// Extra subflows over the initial addresses, on other ports.
#[derive(Debug, Clone, Default)]
pub struct NDiffPorts {
    config: PmConfig,
}

impl NDiffPorts {
    /// A path manager opening `config.limits.subflows` extra subflows.
    pub fn new(config: PmConfig) -> NDiffPorts {
        NDiffPorts { config }
    }
}

impl PathManager for NDiffPorts {
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        if !ctx.client {
            return Vec::new();
        }
        let (local, remote) = ctx.initial;
        let open = ctx.subflows.len().saturating_sub(1);
        let want = self.config.limits.subflows.saturating_sub(open);
        (0..want)
            .map(|_| PmAction::OpenSubflow {
                // Port 0: the connection picks a fresh one for each.
                local: SocketAddr::new(local.ip(), 0),
                remote,
                backup: false,
            })
            .collect()
    }

    fn on_addr_announced(
        &mut self,
        _ctx: &PmContext<'_>,
        _id: u8,
        _addr: SocketAddr,
    ) -> Vec<PmAction> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::Limits;
    use crate::pm::testing::{context, sa};

    #[test]
    fn client_opens_up_to_the_limit_on_the_initial_pair() {
        let mut pm = NDiffPorts::new(PmConfig {
            limits: Limits {
                subflows: 3,
                add_addr_accepted: 0,
            },
            ..PmConfig::default()
        });
        let subflows = [(sa("10.0.1.1:4000"), sa("10.0.9.9:80"))];
        let ctx = context(true, &subflows);
        let a = pm.on_established(&ctx);
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|x| *x
            == PmAction::OpenSubflow {
                local: sa("10.0.1.1:0"),
                remote: sa("10.0.9.9:80"),
                backup: false
            }));
        assert!(pm.on_addr_announced(&ctx, 1, sa("10.0.8.8:80")).is_empty());
        let server = PmContext {
            client: false,
            ..ctx
        };
        assert!(pm.on_established(&server).is_empty());
    }
}
