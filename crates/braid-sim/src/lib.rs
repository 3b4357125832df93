//! # braid-sim: a deterministic network simulator
//!
//! Virtual time, hosts with several interfaces, full-duplex links with rate,
//! delay, jitter, queues, loss, reordering, duplication, blackouts and trace
//! replay. Seeded: the same seed replays the same run exactly. Every
//! simulator story and benchmark of Braid's core runs on it.
#![forbid(unsafe_code)]
