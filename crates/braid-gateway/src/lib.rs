//! # braid-gateway: MPTCP to plain TCP, both ends
//!
//! ```text
//! app --TCP--> braid proxy ==MPTCP (every path)==> braid gateway --TCP--> any server
//!       (SOCKS5 or redirected)   (RFC 8803 Convert header)
//! ```
//! - [`gateway`]: `braid gateway`, an RFC 8803 Transport Converter that
//!   also speaks SOCKS5, on the kernel's MPTCP sockets or Braid's stack.
//! - [`proxy`]: `braid proxy`, a local SOCKS5 server (and a target for
//!   redirected connections) that carries each connection to the gateway
//!   over one MPTCP connection.
//! - [`convert`]: the Convert protocol's messages; [`socks5`]: the
//!   server side of SOCKS5; [`policy`], [`config`], [`metrics`], [`relay`].

#![forbid(unsafe_code)]

pub mod config;
pub mod convert;
pub mod gateway;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod relay;
pub mod socks5;
