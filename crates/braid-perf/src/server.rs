//! The server: accepts one test at a time and plays the side the client
//! asked for. Tests run one after the other, never side by side, so one
//! test's figures are not shared with another's.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bulk;
use crate::client::{drain, reply};
use crate::control::{self, Direction, HEADER_LEN, Header, HeaderError, Limit, Mode, Report};
use crate::error::PerfError;
use crate::payload::{Payload, StreamId, Verifier};
use crate::report::{
    Role, ServerSession, StackUsed, SubflowTracker, bits_per_second, process_cpu_s,
};
use crate::rr;
use crate::stack::{BraidOptions, Connection, PerfListener, PerfStream, Probe, Stack, settle};

/// Longest wait for a client's header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a fixed-size test may take on the server.
const BYTES_TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Slack added to a fixed-time test's duration.
const TIME_TEST_SLACK: Duration = Duration::from_secs(30);

/// A listening perf server.
#[derive(Debug)]
pub struct Server {
    listener: PerfListener,
}

impl Server {
    /// Listens on `addr` with `stack` (the braid stack with default
    /// options: TUN device `braid0`).
    pub async fn bind(stack: Stack, addr: SocketAddr) -> Result<Self, PerfError> {
        Self::bind_with(stack, addr, &BraidOptions::default()).await
    }

    /// Listens on `addr` with `stack`; `braid` sets up the braid stack.
    pub async fn bind_with(
        stack: Stack,
        addr: SocketAddr,
        braid: &BraidOptions,
    ) -> Result<Self, PerfError> {
        Ok(Self {
            listener: stack.listen(addr, braid).await?,
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, PerfError> {
        self.listener
            .local_addr()
            .map_err(|e| PerfError::io("local address", e))
    }

    /// Accepts one connection and runs its test.
    pub async fn serve_one(&self) -> Result<ServerSession, PerfError> {
        let conn = self.listener.accept().await?;
        handle(self.listener.stack(), conn).await
    }
}

/// Runs the server side of one test.
pub async fn handle(stack: Stack, conn: Connection) -> Result<ServerSession, PerfError> {
    let probe = conn.probe.clone();
    let result = session(stack, conn).await;
    // The stream is closed; a userspace stack still has to send its FIN.
    settle(probe.as_ref()).await;
    result
}

async fn session(stack: Stack, conn: Connection) -> Result<ServerSession, PerfError> {
    let Connection {
        mut stream,
        probe,
        remote,
        cc,
        scheduler,
        ..
    } = conn;
    let mut raw = [0u8; HEADER_LEN];
    tokio::time::timeout(HEADER_TIMEOUT, stream.read_exact(&mut raw))
        .await
        .map_err(|_| PerfError::Timeout(format!("header from {remote}"), HEADER_TIMEOUT))?
        .map_err(|e| PerfError::io(format!("read header from {remote}"), e))?;
    let header = match Header::decode(&raw) {
        Ok(h) => h,
        Err(e) => {
            let status = match e {
                HeaderError::BadVersion(_) => control::STATUS_BAD_VERSION,
                _ => control::STATUS_BAD_HEADER,
            };
            // The client may be gone already; the error below says enough.
            let _ = stream.write_all(&control::encode_ack(status)).await;
            return Err(PerfError::Protocol(format!("client {remote}: {e}")));
        }
    };
    stream
        .write_all(&control::encode_ack(control::STATUS_OK))
        .await
        .map_err(|e| PerfError::io("send ack", e))?;
    let limit = match header.limit {
        Limit::Bytes(_) => BYTES_TEST_TIMEOUT,
        Limit::Time(d) => d.saturating_add(TIME_TEST_SLACK),
    };
    let report = tokio::time::timeout(limit, run(&header, &mut *stream, probe.as_ref()))
        .await
        .map_err(|_| PerfError::Timeout(format!("test from {remote}"), limit))??;
    Ok(ServerSession {
        stack,
        peer: remote,
        mode: header.mode,
        direction: header.direction,
        bytes: report.bytes,
        duration_s: report.duration_s,
        goodput_bps: bits_per_second(report.bytes, report.duration_s),
        max_stall_ms: report.max_stall_ms,
        verified: report.verified,
        cpu_s: report.cpu_s,
        subflows: report.subflows,
        used: StackUsed {
            cc,
            scheduler,
            udp: probe.udp(),
        },
    })
}

/// The data phase; returns the receiver's report (ours or the client's).
async fn run(
    header: &Header,
    stream: &mut dyn PerfStream,
    probe: &dyn Probe,
) -> Result<Report, PerfError> {
    let start = Instant::now();
    let cpu0 = process_cpu_s();
    let counter = AtomicU64::new(0);
    let subflows = |role| {
        let mut t = SubflowTracker::new(role);
        t.update(&probe.sample().subflows);
        t.reports()
    };
    match (header.mode, header.direction) {
        (Mode::Bulk, Direction::Upload) => {
            let mut verifier = Verifier::new(header.seed, StreamId::Forward);
            let got = bulk::receive(stream, &mut verifier, &counter, start)
                .await
                .map_err(|e| PerfError::io("receive", e))?;
            let report = got.report(
                &verifier,
                header.limit,
                process_cpu_s() - cpu0,
                subflows(Role::Receiver),
            );
            reply(stream, &report).await?;
            Ok(report)
        }
        (Mode::Bulk, Direction::Download) => {
            let mut payload = Payload::new(header.seed, StreamId::Forward);
            bulk::send(stream, &mut payload, header.limit, &counter)
                .await
                .map_err(|e| PerfError::io("send", e))?;
            let mut report = control::read_report(stream)
                .await
                .map_err(|e| PerfError::io("read the client's report", e))?;
            drain(stream).await?;
            report.cpu_s = process_cpu_s() - cpu0;
            report.subflows = subflows(Role::Sender);
            Ok(report)
        }
        (Mode::Rr, _) => {
            let out = rr::server(stream, header.rr_size, header.seed, start)
                .await
                .map_err(|e| PerfError::io("request/response", e))?;
            let report = Report {
                bytes: out.verifier.bytes(),
                verified: out.verifier.ok() && !out.partial,
                first_mismatch: out.verifier.first_mismatch(),
                max_stall_ms: out.deliveries.max_stall().as_secs_f64() * 1e3,
                duration_s: out.deliveries.duration().as_secs_f64(),
                cpu_s: process_cpu_s() - cpu0,
                subflows: subflows(Role::Both),
            };
            reply(stream, &report).await?;
            Ok(report)
        }
    }
}
