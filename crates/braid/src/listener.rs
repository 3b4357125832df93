//! [`Listener`]: accepts connections, shaped like `tokio::net::TcpListener`.

use crate::error;
use crate::shared::{ListenerState, Owner};
use crate::stack::{Stack, UserRef};
use crate::stream::Stream;
use braid_proto::endpoint::ConnOptions;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// Accepts connections to one address and port of a [`Stack`] (or to a
/// port on every address of the stack when the address is unspecified).
///
/// Connections are handed out once their handshake completes. Dropping the
/// listener stops accepting and resets connections not yet accepted.
#[derive(Debug)]
pub struct Listener {
    local: SocketAddr,
    user: UserRef,
}

impl Listener {
    /// Listen on `local` (port 0 is refused: there is nothing to pick a port
    /// for a listener from).
    pub fn bind(stack: &Stack, local: SocketAddr) -> io::Result<Listener> {
        Self::bind_with(stack, local, ConnOptions::default())
    }

    /// [`Listener::bind`], the connections accepted here running their own
    /// scheduler and congestion controller (`options`) instead of the
    /// stack's.
    pub fn bind_with(
        stack: &Stack,
        local: SocketAddr,
        options: ConnOptions,
    ) -> io::Result<Listener> {
        let user = stack.user().clone();
        {
            let mut inner = user.shared().lock();
            inner.check_failed()?;
            inner
                .endpoint
                .listen_with(local, options)
                .map_err(error::listen)?;
            inner.listeners.insert(local, ListenerState::default());
        }
        Ok(Listener { local, user })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Wait for the next established connection.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll for the next established connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, SocketAddr)>> {
        let mut inner = self.user.shared().lock();
        inner.check_failed()?;
        // Bounded: each turn removes one entry from the queue.
        loop {
            let Some(ls) = inner.listeners.get_mut(&self.local) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let Some(h) = ls.ready.pop_front() else {
                ls.accept_waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            let addrs = inner
                .endpoint
                .local_addr(h)
                .and_then(|l| Ok((l, inner.endpoint.remote_addr(h)?)));
            match (addrs, inner.conns.get_mut(&h)) {
                (Ok((local, peer)), Some(state)) => {
                    state.owner = Owner::Stream;
                    drop(inner);
                    let stream = Stream::from_parts(h, local, peer, self.user.clone());
                    return Poll::Ready(Ok((stream, peer)));
                }
                // Closed and reaped while queued: skip it.
                _ => {
                    inner.conns.remove(&h);
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let shared = self.user.shared();
        {
            let mut inner = shared.lock();
            inner.endpoint.unlisten(self.local);
            if let Some(ls) = inner.listeners.remove(&self.local) {
                for h in ls.ready {
                    inner.conns.remove(&h);
                    let _ = inner.endpoint.abort(h);
                }
            }
        }
        shared.wake_driver();
    }
}
