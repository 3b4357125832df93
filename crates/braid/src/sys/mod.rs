//! Operating-system calls that neither the standard library nor socket2
//! expose.
//!
//! This is the only place in the runtime where `unsafe` code is allowed. Each
//! `unsafe` block carries a `SAFETY:` comment stating why it is sound; every
//! function exported from here is safe to call.

#[cfg(target_os = "linux")]
pub mod mptcp;
