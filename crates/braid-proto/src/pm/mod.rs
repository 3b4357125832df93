//! Path management (RFC 8684 sections 3.2 and 3.4): which subflows to open,
//! which addresses to announce.
//!
//! A [`PathManager`] returns [`PmAction`]s from a read-only [`PmContext`];
//! the connection carries them out and enforces the [`Limits`] (as Linux
//! `ip mptcp limits`: additional subflows and accepted ADD_ADDRs), so a
//! policy cannot exceed them.
//!
//! [`FullMesh`] is the default, like Linux's in-kernel path manager with
//! `subflow` and `signal` endpoints: the client opens one subflow from each
//! configured local address to the server's initial address and to every
//! address the server announced; the server announces its configured extra
//! addresses once the connection is established.

use core::net::{IpAddr, SocketAddr};

/// Limits on a connection's paths (Linux `ip mptcp limits`; the kernel's
/// defaults are 2 subflows and 0 accepted addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Subflows beyond the initial one, opened or accepted.
    pub subflows: usize,
    /// ADD_ADDR announcements acted on (others are echoed and ignored).
    pub add_addr_accepted: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            subflows: 2,
            add_addr_accepted: 0,
        }
    }
}

/// Configuration of the default path manager.
#[derive(Debug, Clone, Default)]
pub struct PmConfig {
    /// Limits enforced by the connection.
    pub limits: Limits,
    /// Extra local addresses to open subflows from (client role; Linux
    /// `subflow` endpoints).
    pub local_addrs: Vec<IpAddr>,
    /// Extra addresses to announce with ADD_ADDR (Linux `signal`
    /// endpoints); address IDs are 1, 2, ... in this order.
    pub announce: Vec<SocketAddr>,
}

/// What the connection is, for the path manager.
#[derive(Debug, Clone)]
pub struct PmContext<'a> {
    /// Whether we opened the connection.
    pub client: bool,
    /// Addresses of the initial subflow.
    pub initial: (SocketAddr, SocketAddr),
    /// (local, remote) of every open subflow.
    pub subflows: &'a [(SocketAddr, SocketAddr)],
}

/// A decision of the path manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmAction {
    /// Open a subflow with MP_JOIN (the port is chosen by the connection
    /// when `local.port()` is 0).
    OpenSubflow {
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
        /// Join as a backup subflow.
        backup: bool,
    },
    /// Announce an address with ADD_ADDR.
    Announce {
        /// Address ID.
        id: u8,
        /// The address.
        addr: SocketAddr,
    },
}

/// Path management policy.
pub trait PathManager: core::fmt::Debug + Send {
    /// The connection became fully established (MP_CAPABLE done).
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction>;
    /// The peer announced an address (HMAC verified, within limits).
    fn on_addr_announced(&mut self, ctx: &PmContext<'_>, id: u8, addr: SocketAddr)
    -> Vec<PmAction>;
}

/// The default full-mesh path manager.
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
