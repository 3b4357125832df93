//! Request/response: the client writes `rr_size` request bytes and waits
//! for `rr_size` response bytes before the next request; one transaction at
//! a time, timed with an HDR histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::bulk::Deliveries;
use crate::control::Limit;
use crate::payload::{Payload, Verifier};
use crate::report::Latency;

/// Highest latency the histogram tracks, microseconds (one minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// What the rr client measured.
#[derive(Debug)]
pub struct ClientOutcome {
    /// Completed transactions.
    pub transactions: u64,
    /// Latency percentiles.
    pub latency: Latency,
    /// Response bytes read and verified.
    pub verifier: Verifier,
    /// Response delivery timing.
    pub deliveries: Deliveries,
}

/// Runs transactions until `limit` (bytes = total request bytes), then
/// half-closes.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    limit: Limit,
    rr_size: u32,
    seed: u64,
    counter: &AtomicU64,
) -> std::io::Result<ClientOutcome> {
    let size = rr_size as usize;
    let mut requests = Payload::new(seed, crate::payload::StreamId::Forward);
    let mut verifier = Verifier::new(seed, crate::payload::StreamId::Reverse);
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(std::io::Error::other)?;
    let mut req = vec![0u8; size];
    let mut resp = vec![0u8; size];
    let start = Instant::now();
    let mut deliveries = Deliveries::new(start);
    let mut transactions = 0u64;
    loop {
        let more = match limit {
            Limit::Bytes(total) => transactions.saturating_mul(u64::from(rr_size)) < total,
            Limit::Time(d) => start.elapsed() < d,
        };
        if !more {
            break;
        }
        requests.fill(&mut req);
        let t0 = Instant::now();
        s.write_all(&req).await?;
        let mut got = 0;
        while got < size {
            let n = s.read(&mut resp[got..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            deliveries.delivered(Instant::now());
            got += n;
        }
        let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        hist.saturating_record(us.clamp(1, MAX_LATENCY_US));
        verifier.check(&resp);
        transactions += 1;
        counter.fetch_add(2 * u64::from(rr_size), Ordering::Relaxed);
    }
    s.shutdown().await?;
    let latency = Latency {
        p50: hist.value_at_quantile(0.50),
        p90: hist.value_at_quantile(0.90),
        p99: hist.value_at_quantile(0.99),
        max: hist.max(),
        mean: hist.mean(),
        count: hist.len(),
    };
    Ok(ClientOutcome {
        transactions,
        latency,
        verifier,
        deliveries,
    })
}

/// What the rr server saw of the requests.
#[derive(Debug)]
pub struct ServerOutcome {
    /// Request bytes read and verified.
    pub verifier: Verifier,
    /// Request delivery timing.
    pub deliveries: Deliveries,
    /// True if the client stopped in the middle of a request.
    pub partial: bool,
}

/// Answers requests until the client half-closes.
pub async fn server<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    rr_size: u32,
    seed: u64,
    start: Instant,
) -> std::io::Result<ServerOutcome> {
    let size = rr_size as usize;
    let mut responses = Payload::new(seed, crate::payload::StreamId::Reverse);
    let mut verifier = Verifier::new(seed, crate::payload::StreamId::Forward);
    let mut req = vec![0u8; size];
    let mut resp = vec![0u8; size];
    let mut deliveries = Deliveries::new(start);
    loop {
        let mut got = 0;
        while got < size {
            let n = s.read(&mut req[got..]).await?;
            if n == 0 {
                verifier.check(&req[..got]);
                return Ok(ServerOutcome {
                    verifier,
                    deliveries,
                    partial: got > 0,
                });
            }
            deliveries.delivered(Instant::now());
            got += n;
        }
        verifier.check(&req);
        responses.fill(&mut resp);
        s.write_all(&resp).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transactions_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let counter = AtomicU64::new(0);
        let (c, s) = tokio::join!(
            client(&mut a, Limit::Bytes(100 * 32), 32, 5, &counter),
            server(&mut b, 32, 5, Instant::now())
        );
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c.transactions, 100);
        assert_eq!(c.latency.count, 100);
        assert!(c.verifier.ok() && s.verifier.ok() && !s.partial);
        assert_eq!(s.verifier.bytes(), 3200);
    }
}
