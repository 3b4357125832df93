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

/// A stream that can be cut with a reset. A relay that breaks (one side
/// reset, an I/O error, the idle timeout) resets both sides, so that
/// neither end mistakes the cut for a clean end of stream: closing the
/// client with a FIN after the server reset would tell it the (empty or
/// truncated) answer was complete.
pub trait Abort {
    /// Reset the connection now (a RST; queued data is dropped).
    fn abort(self);
}

impl Abort for tokio::net::TcpStream {
    fn abort(self) {
        // SO_LINGER 0: close() sends a RST (an MP_FASTCLOSE on an MPTCP
        // socket) instead of a FIN. If the option cannot be set the close
        // is a FIN, the best left to do.
        let _ = self.set_zero_linger();
    }
}

impl Abort for braid::Stream {
    fn abort(self) {
        braid::Stream::abort(self)
    }
}

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
/// (for statistics); the counters count bytes as they move. On failure
/// both streams are reset ([`Abort`]); on success both have been shut
/// down in turn (half-close) and are dropped.
pub async fn relay<A, B>(
    a: A,
    b: B,
    idle: Duration,
    a_to_b_bytes: &Counter,
    b_to_a_bytes: &Counter,
    mut on_tick: impl FnMut(),
) -> io::Result<Relayed>
where
    A: AsyncRead + AsyncWrite + Unpin + Abort,
    B: AsyncRead + AsyncWrite + Unpin + Abort,
{
    let start = Instant::now();
    // Milliseconds since `start` of the last byte moved either way.
    let last = AtomicU64::new(0);
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let result = async {
        let mut up = pin!(copy_one_way(&mut ar, &mut bw, start, &last, a_to_b_bytes));
        let mut down = pin!(copy_one_way(&mut br, &mut aw, start, &last, b_to_a_bytes));
        let (mut up_done, mut down_done) = (None, None);
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(idle));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Bounded by the idle timeout: every turn either finishes a
        // direction or is a tick, and ticks end the loop once nothing moved
        // for `idle`.
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
    .await;
    if result.is_err() {
        ar.unsplit(aw).abort();
        br.unsplit(bw).abort();
    }
    result
}

/// Copies until EOF, then shuts down the writer (the half-close).
async fn copy_one_way<R, W>(
    r: &mut R,
    w: &mut W,
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
    use tokio::io::{DuplexStream, duplex};
    use tokio::net::{TcpListener, TcpStream};

    impl Abort for DuplexStream {
        fn abort(self) {}
    }

    /// A connected pair of loopback TCP streams.
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    /// The server resets the connection before answering: the client must
    /// see a reset, not a clean (empty) end of stream.
    #[tokio::test]
    async fn a_reset_is_passed_on_as_a_reset() {
        let (mut client, a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        let c = Counter::default();
        let relay =
            tokio::spawn(async move { relay(a, b, Duration::from_secs(5), &c, &c, || {}).await });
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = [0u8; 7];
        server.read_exact(&mut got).await.unwrap();
        // Unread data would make the close a reset anyway; be explicit.
        server.set_zero_linger().unwrap();
        drop(server);
        let r = relay.await.unwrap();
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let mut back = Vec::new();
        let e = client.read_to_end(&mut back).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{back:?}");
    }

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
