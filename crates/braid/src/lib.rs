//! # braid: Multipath TCP in userspace
//!
//! The tokio runtime around `braid-proto`: it owns the protocol endpoint and a
//! device (TUN or UDP-encapsulated), feeds packets and timers to the core and
//! wakes application tasks. Users get `Stream` and `Listener`, shaped like
//! tokio's `TcpStream` and `TcpListener`.
//!
//! Unsafe code, where a device needs it, lives only in the `sys` module.

pub use braid_proto as proto;

pub mod sys;
