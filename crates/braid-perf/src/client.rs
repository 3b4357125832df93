//! The client: connects, asks for a test, runs its side of it and puts the
//! figures of both ends together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bulk;
use crate::control::{self, ACK_LEN, Direction, Header, Limit, Mode, Report};
use crate::error::PerfError;
use crate::payload::{Payload, StreamId, Verifier};
use crate::progress::{Display, Sampler, Watch};
use crate::report::{PerfResult, Role, StackUsed, SubflowTracker, bits_per_second, process_cpu_s};
use crate::rr;
use crate::stack::{BraidOptions, Connection, PerfStream, Stack, settle};

/// Longest wait for the connection to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read while waiting for the peer to close after the report.
const DRAIN_LIMIT: u64 = 1 << 20;

/// What the client is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Stack under test.
    pub stack: Stack,
    /// Server address.
    pub remote: SocketAddr,
    /// Local addresses: kernel stacks bind the first subflow to the first;
    /// the braid stack owns them all (one per path).
    pub locals: Vec<SocketAddr>,
    /// The braid stack's TUN device and extra addresses.
    pub braid: BraidOptions,
    /// Workload.
    pub mode: Mode,
    /// Direction of bulk data.
    pub direction: Direction,
    /// When the workload ends.
    pub limit: Limit,
    /// Request and response size (rr).
    pub rr_size: u32,
    /// Payload seed.
    pub seed: u64,
    /// Sampling interval.
    pub interval: Duration,
    /// How progress is shown.
    pub display: Display,
    /// Longest the whole test may take once connected.
    pub timeout: Duration,
}

/// Runs one test and returns its figures.
pub async fn run(cfg: &ClientConfig) -> Result<PerfResult, PerfError> {
    let connect = cfg.stack.connect(cfg.remote, &cfg.locals, &cfg.braid);
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| PerfError::Timeout(format!("connect to {}", cfg.remote), CONNECT_TIMEOUT))??;
    let probe = conn.probe.clone();
    let result = match tokio::time::timeout(cfg.timeout, session(cfg, conn)).await {
        Ok(r) => r,
        Err(_) => Err(PerfError::Timeout("the test".into(), cfg.timeout)),
    };
    // The stream is closed; a userspace stack still has to send its FIN.
    settle(probe.as_ref()).await;
    result
}

/// The figures of the data phase, before they become a [`PerfResult`].
struct Measured {
    bytes: u64,
    duration: Duration,
    max_stall: Duration,
    verified: bool,
    first_mismatch: Option<u64>,
    peer: Option<Report>,
    transactions: Option<u64>,
    latency: Option<crate::report::Latency>,
}

async fn session(cfg: &ClientConfig, conn: Connection) -> Result<PerfResult, PerfError> {
    let Connection {
        mut stream,
        probe,
        local,
        remote,
        cc,
        scheduler,
    } = conn;
    let header = Header {
        mode: cfg.mode,
        direction: cfg.direction,
        limit: cfg.limit,
        rr_size: cfg.rr_size,
        seed: cfg.seed,
    };
    stream
        .write_all(&header.encode())
        .await
        .map_err(|e| PerfError::io("send the test header", e))?;
    let mut ack = [0u8; ACK_LEN];
    stream
        .read_exact(&mut ack)
        .await
        .map_err(|e| PerfError::io("read the server's answer", e))?;
    control::check_ack(&ack).map_err(PerfError::Protocol)?;

    let role = match (cfg.mode, cfg.direction) {
        (Mode::Rr, _) => Role::Both,
        (Mode::Bulk, Direction::Upload) => Role::Sender,
        (Mode::Bulk, Direction::Download) => Role::Receiver,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let total = match (cfg.limit, cfg.mode) {
        (Limit::Bytes(n), Mode::Bulk) => Some(n),
        (Limit::Bytes(n), Mode::Rr) => Some(n.saturating_mul(2)),
        (Limit::Time(_), _) => None,
    };
    let watch = Watch {
        probe: probe.clone(),
        counter: counter.clone(),
        role,
        total,
    };
    let sampler = Sampler::spawn(watch, cfg.interval, cfg.display);
    let cpu0 = process_cpu_s();
    let measured = data_phase(cfg, &mut *stream, &counter, role, probe.as_ref()).await;
    let cpu_s = process_cpu_s() - cpu0;
    let sampled = sampler.finish().await;
    let m = measured?;

    let duration_s = m.duration.as_secs_f64();
    Ok(PerfResult {
        stack: cfg.stack,
        mode: cfg.mode,
        direction: cfg.direction,
        remote,
        local,
        limit_bytes: match cfg.limit {
            Limit::Bytes(n) => Some(n),
            Limit::Time(_) => None,
        },
        limit_time_s: match cfg.limit {
            Limit::Time(d) => Some(d.as_secs_f64()),
            Limit::Bytes(_) => None,
        },
        bytes: m.bytes,
        duration_s,
        goodput_bps: bits_per_second(m.bytes, duration_s),
        completion_s: match cfg.limit {
            Limit::Bytes(_) if m.verified => Some(duration_s),
            _ => None,
        },
        max_stall_ms: m.max_stall.as_secs_f64() * 1e3,
        cpu_s,
        peer_cpu_s: m.peer.as_ref().map(|p| p.cpu_s),
        verified: m.verified,
        first_mismatch: m.first_mismatch,
        mptcp_fallback: sampled.fallback,
        subflows: sampled.tracker.reports(),
        peer_subflows: m.peer.map(|p| p.subflows).unwrap_or_default(),
        transactions: m.transactions,
        latency_us: m.latency,
        intervals: sampled.intervals,
        intervals_start_unix_s: sampled.start_unix_s,
        used: StackUsed {
            cc,
            scheduler,
            udp: probe.udp(),
        },
    })
}

async fn data_phase(
    cfg: &ClientConfig,
    stream: &mut dyn PerfStream,
    counter: &AtomicU64,
    role: Role,
    probe: &dyn crate::stack::Probe,
) -> Result<Measured, PerfError> {
    let start = Instant::now();
    match (cfg.mode, cfg.direction) {
        (Mode::Bulk, Direction::Upload) => {
            let mut payload = Payload::new(cfg.seed, StreamId::Forward);
            let sent = bulk::send(stream, &mut payload, cfg.limit, counter)
                .await
                .map_err(|e| PerfError::io("send", e))?;
            let peer = finish_reading_report(stream).await?;
            Ok(Measured {
                bytes: peer.bytes,
                duration: Duration::from_secs_f64(peer.duration_s.max(0.0)),
                max_stall: Duration::from_secs_f64(peer.max_stall_ms.max(0.0) / 1e3),
                verified: peer.verified && peer.bytes == sent,
                first_mismatch: peer.first_mismatch,
                peer: Some(peer),
                transactions: None,
                latency: None,
            })
        }
        (Mode::Bulk, Direction::Download) => {
            let mut verifier = Verifier::new(cfg.seed, StreamId::Forward);
            let got = bulk::receive(stream, &mut verifier, counter, start)
                .await
                .map_err(|e| PerfError::io("receive", e))?;
            let mut tracker = SubflowTracker::new(role);
            tracker.update(&probe.sample().subflows);
            let ours = got.report(&verifier, cfg.limit, 0.0, tracker.reports());
            reply(stream, &ours).await?;
            Ok(Measured {
                bytes: got.bytes,
                duration: got.deliveries.duration(),
                max_stall: got.deliveries.max_stall(),
                verified: ours.verified,
                first_mismatch: ours.first_mismatch,
                peer: None,
                transactions: None,
                latency: None,
            })
        }
        (Mode::Rr, _) => {
            let out = rr::client(stream, cfg.limit, cfg.rr_size, cfg.seed, counter)
                .await
                .map_err(|e| PerfError::io("request/response", e))?;
            let peer = finish_reading_report(stream).await?;
            let bytes = out
                .transactions
                .saturating_mul(2)
                .saturating_mul(u64::from(cfg.rr_size));
            Ok(Measured {
                bytes,
                duration: out.deliveries.duration(),
                max_stall: out.deliveries.max_stall(),
                verified: out.verifier.ok()
                    && peer.verified
                    && peer.bytes == out.transactions * u64::from(cfg.rr_size),
                first_mismatch: out.verifier.first_mismatch().or(peer.first_mismatch),
                peer: Some(peer),
                transactions: Some(out.transactions),
                latency: Some(out.latency),
            })
        }
    }
}

/// Reads the receiver's report, then waits for the server to close.
async fn finish_reading_report(stream: &mut dyn PerfStream) -> Result<Report, PerfError> {
    let report = control::read_report(stream)
        .await
        .map_err(|e| PerfError::io("read the server's report", e))?;
    drain(stream).await?;
    Ok(report)
}

/// Sends the receiver's report, half-closes and waits for the peer to close
/// (the receiving end of a test, client or server).
pub(crate) async fn reply(stream: &mut dyn PerfStream, report: &Report) -> Result<(), PerfError> {
    control::write_report(stream, report)
        .await
        .map_err(|e| PerfError::io("send the report", e))?;
    stream
        .shutdown()
        .await
        .map_err(|e| PerfError::io("close", e))?;
    drain(stream).await
}

/// Reads until the peer closes (bounded by [`DRAIN_LIMIT`] bytes).
pub(crate) async fn drain(stream: &mut dyn PerfStream) -> Result<(), PerfError> {
    let mut buf = [0u8; 4096];
    let mut total = 0u64;
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| PerfError::io("wait for the peer to close", e))?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > DRAIN_LIMIT {
            return Err(PerfError::Protocol(
                "the peer sent data after its report".into(),
            ));
        }
    }
}
