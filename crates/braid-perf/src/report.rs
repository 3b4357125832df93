//! The figures `braid perf` reports, and the JSON they serialize to.

use std::net::SocketAddr;

use braid::sys::mptcp::SubflowInfo;
use serde::{Deserialize, Serialize};

use crate::control::{Direction, Mode, SubflowReport};
use crate::stack::Stack;

/// How one end takes part in the data flow; decides which subflow counter
/// is "the bytes" of a subflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This end writes the payload: bytes = `tcpi_bytes_acked`.
    Sender,
    /// This end reads the payload: bytes = `tcpi_bytes_received`.
    Receiver,
    /// Both (request/response): bytes = acked + received.
    Both,
}

/// Remembers every subflow a connection ever had, with its last counters,
/// so a subflow that closes before the end still counts.
#[derive(Debug, Clone)]
pub struct SubflowTracker {
    role: Role,
    seen: Vec<SubflowReport>,
}

impl SubflowTracker {
    /// An empty tracker for an end playing `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            seen: Vec::new(),
        }
    }

    /// Folds in a sample.
    pub fn update(&mut self, subflows: &[SubflowInfo]) {
        for s in subflows {
            let bytes = match self.role {
                Role::Sender => s.bytes_acked,
                Role::Receiver => s.bytes_received,
                Role::Both => s.bytes_acked.saturating_add(s.bytes_received),
            };
            let slot = self
                .seen
                .iter_mut()
                .find(|r| r.local == s.local && r.remote == s.remote && r.id == s.id);
            let report = SubflowReport {
                id: s.id,
                local: s.local,
                remote: s.remote,
                bytes,
                bytes_acked: s.bytes_acked,
                bytes_received: s.bytes_received,
                bytes_retrans: s.bytes_retrans,
                rtt_us: s.rtt_us,
            };
            match slot {
                // Counters only grow; a late sample of a dying subflow may
                // read zeros, so keep the larger value.
                Some(r) if r.bytes > report.bytes => r.rtt_us = report.rtt_us,
                Some(r) => *r = report,
                None => self.seen.push(report),
            }
        }
    }

    /// Every subflow seen, in order of first appearance.
    pub fn reports(&self) -> Vec<SubflowReport> {
        self.seen.clone()
    }

    /// Bytes of the subflow `(local, remote, id)` at the last sample.
    pub fn bytes_of(&self, s: &SubflowReport) -> u64 {
        self.seen
            .iter()
            .find(|r| r.local == s.local && r.remote == s.remote && r.id == s.id)
            .map_or(0, |r| r.bytes)
    }
}

/// Latency percentiles of request/response, microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Number of transactions measured.
    pub count: u64,
}

/// One subflow during one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSubflow {
    /// Local address.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub remote: Option<SocketAddr>,
    /// Bytes in this interval (see [`Role`]).
    pub bytes: u64,
    /// The same, in bits per second.
    pub bps: f64,
}

/// What one reporting interval saw at the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSample {
    /// End of the interval, seconds since the data phase began.
    pub t_s: f64,
    /// Payload bytes the client application wrote (upload) or read
    /// (download, rr responses) during the interval.
    pub bytes: u64,
    /// The same, in bits per second.
    pub bps: f64,
    /// Per-subflow bytes during the interval.
    pub subflows: Vec<IntervalSubflow>,
}

/// The client's result: the JSON object `braid perf client --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfResult {
    /// Stack under test.
    pub stack: Stack,
    /// Workload.
    pub mode: Mode,
    /// Direction of bulk data (rr: always upload = requests from the client).
    pub direction: Direction,
    /// Server address.
    pub remote: SocketAddr,
    /// Local address of the first subflow.
    pub local: Option<SocketAddr>,
    /// The byte limit asked for, if any.
    pub limit_bytes: Option<u64>,
    /// The time limit asked for, if any.
    pub limit_time_s: Option<f64>,
    /// Payload bytes delivered to the receiving application (rr: request
    /// plus response bytes).
    pub bytes: u64,
    /// Receiver's time from ready to the last byte, seconds.
    pub duration_s: f64,
    /// bytes * 8 / duration_s.
    pub goodput_bps: f64,
    /// For a fixed-size transfer: the time to deliver all of it.
    pub completion_s: Option<f64>,
    /// Longest gap between successive deliveries to the receiving
    /// application, milliseconds (rr: between responses at the client).
    pub max_stall_ms: f64,
    /// CPU seconds (user + system) of the client process during the test.
    pub cpu_s: f64,
    /// CPU seconds of the server process, when it was the receiver.
    pub peer_cpu_s: Option<f64>,
    /// Every payload byte arrived, in order and intact, and none was missing.
    pub verified: bool,
    /// Offset of the first wrong byte, if any.
    pub first_mismatch: Option<u64>,
    /// Kernel MPTCP only: whether the connection fell back to TCP.
    pub mptcp_fallback: Option<bool>,
    /// Subflows as the client saw them at the end.
    pub subflows: Vec<SubflowReport>,
    /// Subflows as the receiving server saw them (upload and rr).
    pub peer_subflows: Vec<SubflowReport>,
    /// Request/response: completed transactions.
    pub transactions: Option<u64>,
    /// Request/response: latency percentiles.
    pub latency_us: Option<Latency>,
    /// Per-interval samples.
    pub intervals: Vec<IntervalSample>,
    /// Wall-clock time the intervals' `t_s` count from, seconds since the
    /// UNIX epoch (lines them up with another process's timeline, such as
    /// the lab's blackouts).
    #[serde(default)]
    pub intervals_start_unix_s: Option<f64>,
    /// The client's congestion control, scheduler and UDP counters.
    #[serde(flatten)]
    pub used: StackUsed,
}

/// What ran under one side's connection, in its report (the fields sit at
/// the top level of the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackUsed {
    /// Congestion control of the connection: a kernel socket's
    /// `TCP_CONGESTION` as read back, the braid stack's controller.
    #[serde(default)]
    pub cc: Option<String>,
    /// MPTCP packet scheduler of the connection: the braid stack's, or
    /// the kernel's `net.mptcp.scheduler`.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// `--stack braid-udp`: the UDP device's counters at the end
    /// (`braid::UdpCounters` by name: datagrams, drops, keepalives,
    /// rebindings...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<std::collections::BTreeMap<String, u64>>,
}

/// What a server prints after each test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSession {
    /// Stack under test.
    pub stack: Stack,
    /// Client address.
    pub peer: SocketAddr,
    /// Workload.
    pub mode: Mode,
    /// Direction of bulk data.
    pub direction: Direction,
    /// Payload bytes delivered to the receiving application.
    pub bytes: u64,
    /// Receiver's time from ready to the last byte, seconds.
    pub duration_s: f64,
    /// bytes * 8 / duration_s.
    pub goodput_bps: f64,
    /// Longest delivery gap at the receiver, milliseconds.
    pub max_stall_ms: f64,
    /// Whether the receiver verified every byte.
    pub verified: bool,
    /// CPU seconds of the server process during the test.
    pub cpu_s: f64,
    /// Subflows as the server saw them at the end.
    pub subflows: Vec<SubflowReport>,
    /// The accepted connection's congestion control, scheduler and UDP
    /// counters.
    #[serde(flatten)]
    pub used: StackUsed,
}

/// CPU seconds (user + system) this process has used so far.
pub fn process_cpu_s() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// bytes * 8 / seconds, or 0 for an empty interval.
pub fn bits_per_second(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

/// A rate for people: "9.87 Gbit/s".
pub fn human_rate(bps: f64) -> String {
    let (v, unit) = if bps >= 1e9 {
        (bps / 1e9, "Gbit/s")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbit/s")
    } else if bps >= 1e3 {
        (bps / 1e3, "kbit/s")
    } else {
        (bps, "bit/s")
    };
    format!("{v:7.2} {unit}")
}

/// A byte count for people: "1.15 GiB".
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    let k = 1024.0;
    if b >= k * k * k {
        format!("{:.2} GiB", b / (k * k * k))
    } else if b >= k * k {
        format!("{:.2} MiB", b / (k * k))
    } else if b >= k {
        format!("{:.2} KiB", b / k)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(local: &str, acked: u64) -> SubflowInfo {
        SubflowInfo {
            id: 0,
            local: local.parse().ok(),
            remote: "127.0.0.1:5201".parse().ok(),
            bytes_acked: acked,
            bytes_received: 0,
            bytes_retrans: 0,
            rtt_us: 10,
            snd_cwnd: 10,
            state: 1,
        }
    }

    #[test]
    fn tracker_keeps_subflows_that_closed() {
        let mut t = SubflowTracker::new(Role::Sender);
        t.update(&[sf("127.0.0.1:1", 10), sf("127.0.0.1:2", 5)]);
        t.update(&[sf("127.0.0.1:1", 30)]);
        let r = t.reports();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].bytes, r[1].bytes), (30, 5));
    }

    #[test]
    fn rates_read_well() {
        assert_eq!(human_rate(9.87e9).trim(), "9.87 Gbit/s");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.00 MiB");
        assert_eq!(bits_per_second(1000, 0.0), 0.0);
    }
}
