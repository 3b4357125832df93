//! Path management (RFC 8684 sections 3.2 and 3.4): which subflows to open,
//! which addresses to announce.
//!
//! A [`PathManager`] returns [`PmAction`]s from a read-only [`PmContext`];
//! the connection carries them out and enforces the [`Limits`] (as Linux
//! `ip mptcp limits`: additional subflows and accepted ADD_ADDRs), so a
//! policy cannot exceed them.
//!
//! Policies, one file each, chosen per connection with
//! [`PathManagerChoice`] (`ConnConfig::path_manager`, or per connection
//! through the endpoint's `ConnOptions`):
//! - [`FullMesh`] (`fullmesh`, the default), like Linux's in-kernel path
//!   manager with `subflow` and `signal` endpoints;
//! - [`NDiffPorts`] (`ndiffports`), extra subflows between the initial
//!   pair of addresses on other ports (one path with several flows through
//!   ECMP or per-flow queues);
//! - the user's own: [`PathManagerChoice::custom`].

mod endpoint;
mod fullmesh;
mod ndiffports;

pub use endpoint::{EndpointFlags, EndpointParseError, PmEndpoint};
pub use fullmesh::FullMesh;
pub use ndiffports::NDiffPorts;

use core::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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
    /// Local addresses whose subflows join as backup (Linux `backup`
    /// endpoints): they carry data only while no regular subflow can.
    /// With the regular path's interface events this is handover as
    /// phones do it: the backup is ready, used while the primary is
    /// down, and left when it returns.
    pub backup_addrs: Vec<IpAddr>,
    /// Endpoints with Linux's flags (signal, subflow, backup, fullmesh;
    /// see [`PmEndpoint`]), on top of the lists above: a `subflow`
    /// address joins the peer's initial address only, a `fullmesh` one
    /// also every address the peer announces, and `signal` addresses are
    /// announced by either side.
    pub endpoints: Vec<PmEndpoint>,
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

/// What else a path manager hears about (see [`PathManager::on_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmEvent {
    /// A subflow completed its MPTCP handshake.
    SubflowEstablished {
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
        /// Whether it is a backup subflow.
        backup: bool,
    },
    /// A subflow closed while the connection stays open.
    SubflowClosed {
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
        /// It failed (reset, timed out, refused) rather than closing in
        /// order or at our request.
        failed: bool,
    },
    /// A local address can be used (an interface came up, an address was
    /// added).
    LocalAddrUp(IpAddr),
    /// A local address is gone (an interface went down, an address was
    /// removed); its subflows are closed.
    LocalAddrDown(IpAddr),
    /// The peer withdrew an address ID (REMOVE_ADDR).
    AddrRemoved {
        /// The address ID.
        id: u8,
    },
    /// The peer changed a subflow's priority (MP_PRIO).
    PriorityChanged {
        /// Local address of the subflow.
        local: SocketAddr,
        /// Remote address of the subflow.
        remote: SocketAddr,
        /// Whether the peer now treats it as backup.
        backup: bool,
    },
}

/// Path management policy.
pub trait PathManager: core::fmt::Debug + Send {
    /// The connection became fully established (MP_CAPABLE done).
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction>;
    /// The peer announced an address (HMAC verified, within limits).
    fn on_addr_announced(&mut self, ctx: &PmContext<'_>, id: u8, addr: SocketAddr)
    -> Vec<PmAction>;
    /// Anything else about the connection's paths. The default does
    /// nothing. The connection rate-limits re-creating a subflow that
    /// failed (see `ConnConfig::dead_path_probe`), so a policy may ask
    /// again at once.
    fn on_event(&mut self, ctx: &PmContext<'_>, event: &PmEvent) -> Vec<PmAction> {
        let _ = (ctx, event);
        Vec::new()
    }
}

/// Builds a path manager for a connection from the configuration.
pub type PathManagerFactory = Arc<dyn Fn(&PmConfig) -> Box<dyn PathManager> + Send + Sync>;

/// A built-in path manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PmKind {
    /// [`FullMesh`].
    #[default]
    FullMesh,
    /// [`NDiffPorts`].
    NDiffPorts,
}

/// Names of the built-in path managers.
pub const PM_NAMES: &[&str] = &["fullmesh", "ndiffports"];

/// A path manager name that is not a built-in one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown path manager {0:?} (choices: fullmesh, ndiffports)")]
pub struct UnknownPathManager(pub String);

impl PmKind {
    /// The built-in called `name`.
    pub fn from_name(name: &str) -> Result<PmKind, UnknownPathManager> {
        match name {
            "fullmesh" => Ok(PmKind::FullMesh),
            "ndiffports" => Ok(PmKind::NDiffPorts),
            _ => Err(UnknownPathManager(name.to_string())),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            PmKind::FullMesh => "fullmesh",
            PmKind::NDiffPorts => "ndiffports",
        }
    }

    /// A fresh one.
    pub fn build(self, config: &PmConfig) -> Box<dyn PathManager> {
        match self {
            PmKind::FullMesh => Box::new(FullMesh::new(config.clone())),
            PmKind::NDiffPorts => Box::new(NDiffPorts::new(config.clone())),
        }
    }
}

/// The path manager of a connection: a built-in or the user's own.
#[derive(Clone)]
pub enum PathManagerChoice {
    /// A built-in.
    Builtin(PmKind),
    /// A user-defined path manager.
    Custom {
        /// Name for logs and reports.
        name: &'static str,
        /// Builds one per connection.
        factory: PathManagerFactory,
    },
}

impl Default for PathManagerChoice {
    fn default() -> PathManagerChoice {
        PathManagerChoice::Builtin(PmKind::default())
    }
}

impl PathManagerChoice {
    /// A user-defined path manager, built by `factory` for every
    /// connection from the connection's [`PmConfig`].
    pub fn custom<F>(name: &'static str, factory: F) -> PathManagerChoice
    where
        F: Fn(&PmConfig) -> Box<dyn PathManager> + Send + Sync + 'static,
    {
        PathManagerChoice::Custom {
            name,
            factory: Arc::new(factory),
        }
    }

    /// A fresh path manager.
    pub fn build(&self, config: &PmConfig) -> Box<dyn PathManager> {
        match self {
            PathManagerChoice::Builtin(k) => k.build(config),
            PathManagerChoice::Custom { factory, .. } => factory(config),
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            PathManagerChoice::Builtin(k) => k.name(),
            PathManagerChoice::Custom { name, .. } => name,
        }
    }
}

impl From<PmKind> for PathManagerChoice {
    fn from(k: PmKind) -> PathManagerChoice {
        PathManagerChoice::Builtin(k)
    }
}

impl core::fmt::Debug for PathManagerChoice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the path managers' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::PmContext;
    use core::net::SocketAddr;

    pub fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The context of a connection whose initial subflow is
    /// `subflows[0]`, on the client's side or the server's.
    pub fn context(client: bool, subflows: &[(SocketAddr, SocketAddr)]) -> PmContext<'_> {
        PmContext {
            client,
            initial: subflows[0],
            subflows,
        }
    }
}
