//! Relays bytes both ways between two streams, with half-close: when one
//! side finishes sending (EOF), the other side's sending direction is shut
//! down (a FIN) and the opposite direction goes on until it finishes too.
//! An idle timeout ends a relay in which nothing moved for too long.

use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of each direction's buffer: small, so an idle connection costs
/// little memory (two of them per relayed connection).
pub const BUF_LEN: usize = 16 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// Bytes from `a` to `b`.
    pub a_to_b: u64,
    /// Bytes from `b` to `a`.
    pub b_to_a: u64,
}

/// Relays between `a` and `b` until both directions have finished, one
/// fails, or nothing moved for `idle`. `on_tick` runs about once a second
/// (for statistics); the counters count bytes as they move.
pub async fn relay<A, B>(
    a: A,
    b: B,
    idle: Duration,
    a_to_b_bytes: &Counter,
    b_to_a_bytes: &Counter,
    mut on_tick: impl FnMut(),
) -> io::Result<Relayed>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    // Milliseconds since `start` of the last byte moved either way.
    let last = AtomicU64::new(0);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let mut up = pin!(copy_one_way(ar, bw, start, &last, a_to_b_bytes));
    let mut down = pin!(copy_one_way(br, aw, start, &last, b_to_a_bytes));
    let (mut up_done, mut down_done) = (None, None);
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(idle));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Bounded by the idle timeout: every turn either finishes a direction
    // or is a tick, and ticks end the loop once nothing moved for `idle`.
    while up_done.is_none() || down_done.is_none() {
        tokio::select! {
            r = &mut up, if up_done.is_none() => up_done = Some(r?),
            r = &mut down, if down_done.is_none() => down_done = Some(r?),
            _ = tick.tick() => {
                on_tick();
                let quiet = (start.elapsed().as_millis() as u64)
                    .saturating_sub(last.load(Ordering::Relaxed));
                if Duration::from_millis(quiet) >= idle {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"));
                }
            }
        }
    }
    on_tick();
    Ok(Relayed {
        a_to_b: up_done.unwrap_or(0),
        b_to_a: down_done.unwrap_or(0),
    })
}

/// Copies until EOF, then shuts down the writer (the half-close).
async fn copy_one_way<R, W>(
    mut r: R,
    mut w: W,
    start: Instant,
    last: &AtomicU64,
    counter: &Counter,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_LEN];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            w.shutdown().await?;
            return Ok(total);
        }
        w.write_all(&buf[..n]).await?;
        total += n as u64;
        counter.inc_by(n as u64);
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn half_close_each_way() {
        let (mut client, a) = duplex(1024);
        let (b, mut server) = duplex(1024);
        let (up, down) = (Counter::default(), Counter::default());
        let relay = tokio::spawn(async move {
            relay(a, b, Duration::from_secs(5), &up, &down, || {})
                .await
                .map(|r| (r, up.get(), down.get()))
        });
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        // The server sees the request, then EOF, and can still answer.
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        let answer = vec![7u8; 100_000];
        let sent = answer.clone();
        // Larger than the pipes: written while the client reads.
        tokio::spawn(async move {
            server.write_all(&sent).await.unwrap();
            server.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, answer);
        let (r, up, down) = relay.await.unwrap().unwrap();
        assert_eq!(
            r,
            Relayed {
                a_to_b: 7,
                b_to_a: 100_000
            }
        );
        assert_eq!((up, down), (7, 100_000));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_ends_the_relay() {
        let (_client, a) = duplex(1024);
        let (b, _server) = duplex(1024);
        let c = Counter::default();
        let r = relay(a, b, Duration::from_secs(3), &c, &c, || {}).await;
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
