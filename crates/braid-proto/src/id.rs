//! Identifiers shared by the connection and its policies (schedulers,
//! path managers), kept below both so that neither imports the other for
//! them.

/// A subflow's id within its connection (also `conn::SubflowId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubflowId(pub u32);
