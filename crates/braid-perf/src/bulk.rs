//! Bulk transfer: one side writes the seeded payload, the other reads and
//! verifies it and times every delivery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::control::{Limit, Report, SubflowReport};
use crate::payload::{Payload, Verifier};

/// Bytes per write and per read.
pub const CHUNK: usize = 128 * 1024;

/// Tracks when the receiving application gets data.
#[derive(Debug, Clone, Copy)]
pub struct Deliveries {
    start: Instant,
    last: Option<Instant>,
    max_gap: Duration,
}

impl Deliveries {
    /// Starts timing at `start` (the receiver is ready).
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            last: None,
            max_gap: Duration::ZERO,
        }
    }

    /// Records a read that returned data at `now`.
    pub fn delivered(&mut self, now: Instant) {
        if let Some(last) = self.last {
            self.max_gap = self.max_gap.max(now.saturating_duration_since(last));
        }
        self.last = Some(now);
    }

    /// Longest gap between two successive deliveries.
    pub fn max_stall(&self) -> Duration {
        self.max_gap
    }

    /// From the start to the last delivery (zero if nothing came).
    pub fn duration(&self) -> Duration {
        self.last
            .map_or(Duration::ZERO, |l| l.saturating_duration_since(self.start))
    }
}

/// Writes the payload until `limit`, then half-closes. Returns bytes sent.
pub async fn send<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    payload: &mut Payload,
    limit: Limit,
    counter: &AtomicU64,
) -> std::io::Result<u64> {
    let start = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        let n = match limit {
            Limit::Bytes(total) => {
                let left = total - sent;
                if left == 0 {
                    break;
                }
                left.min(CHUNK as u64) as usize
            }
            Limit::Time(d) => {
                if start.elapsed() >= d {
                    break;
                }
                CHUNK
            }
        };
        payload.fill(&mut buf[..n]);
        w.write_all(&buf[..n]).await?;
        sent += n as u64;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    w.shutdown().await?;
    Ok(sent)
}

/// What a bulk receiver saw.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Payload bytes read.
    pub bytes: u64,
    /// Delivery timing.
    pub deliveries: Deliveries,
}

impl Received {
    /// The receiving side's [`Report`] of this transfer: verified when
    /// every byte equalled the payload and, for a byte limit, all arrived.
    pub fn report(
        &self,
        verifier: &Verifier,
        limit: Limit,
        cpu_s: f64,
        subflows: Vec<SubflowReport>,
    ) -> Report {
        let complete = match limit {
            Limit::Bytes(n) => self.bytes == n,
            Limit::Time(_) => true,
        };
        Report {
            bytes: self.bytes,
            verified: verifier.ok() && complete,
            first_mismatch: verifier.first_mismatch(),
            max_stall_ms: self.deliveries.max_stall().as_secs_f64() * 1e3,
            duration_s: self.deliveries.duration().as_secs_f64(),
            cpu_s,
            subflows,
        }
    }
}

/// Reads and verifies until the sender half-closes.
pub async fn receive<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    verifier: &mut Verifier,
    counter: &AtomicU64,
    start: Instant,
) -> std::io::Result<Received> {
    let mut buf = vec![0u8; CHUNK];
    let mut deliveries = Deliveries::new(start);
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        deliveries.delivered(Instant::now());
        verifier.check(&buf[..n]);
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(Received {
        bytes: verifier.bytes(),
        deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::StreamId;

    #[tokio::test]
    async fn send_then_receive_verifies() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let counter = AtomicU64::new(0);
        let sender = async {
            let mut p = Payload::new(9, StreamId::Forward);
            send(&mut a, &mut p, Limit::Bytes(300_001), &AtomicU64::new(0)).await
        };
        let receiver = async {
            let mut v = Verifier::new(9, StreamId::Forward);
            let got = receive(&mut b, &mut v, &counter, Instant::now()).await;
            (got, v.ok())
        };
        let (sent, (got, ok)) = tokio::join!(sender, receiver);
        assert_eq!(sent.unwrap(), 300_001);
        assert_eq!(got.unwrap().bytes, 300_001);
        assert!(ok);
        assert_eq!(counter.load(Ordering::Relaxed), 300_001);
    }
}
