//! [`Stream`]: a connection, shaped like `tokio::net::TcpStream`.

use crate::error;
use crate::shared::{ConnState, Owner};
use crate::stack::{Stack, UserRef};
use braid_proto::conn::SubflowInfo;
use braid_proto::endpoint::ConnOptions;
use braid_proto::endpoint::{ConnHandle, ConnStats, EndpointError, MptcpEvent, PathError};
use braid_proto::id::SubflowId;
use braid_proto::mib::Mib;
use braid_proto::sched::SchedulerKind;
use braid_proto::tcp::CloseReason;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection of a [`Stack`]: an ordered, reliable byte stream.
///
/// Reads and writes through [`AsyncRead`] / [`AsyncWrite`] (use
/// `tokio::io::AsyncReadExt` and `AsyncWriteExt`). `poll_shutdown` closes
/// the sending direction (a FIN after the queued data); reads then still
/// work until the peer closes its side. Dropping the stream closes it
/// gracefully: queued data is still delivered, then a FIN; data that
/// arrives afterwards is discarded.
///
/// Errors: [`io::ErrorKind::ConnectionRefused`] when the peer answers the
/// SYN with a RST, [`io::ErrorKind::ConnectionReset`] when it resets an
/// established connection, [`io::ErrorKind::TimedOut`] when
/// retransmissions give up, [`io::ErrorKind::BrokenPipe`] for a write
/// after shutdown.
#[derive(Debug)]
pub struct Stream {
    conn: Arc<Conn>,
}

/// The shared part of a stream and its halves; the last one dropped closes
/// the connection.
#[derive(Debug)]
struct Conn {
    handle: ConnHandle,
    local: SocketAddr,
    peer: SocketAddr,
    user: UserRef,
}

impl Stream {
    /// Open a connection to `remote` from the stack's address of the same
    /// family (an ephemeral port), and wait for the handshake.
    pub async fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<Stream> {
        Self::connect_with(stack, remote, &ConnOptions::default()).await
    }

    /// [`Stream::connect`] with this connection's own scheduler and
    /// congestion controller (`options`) instead of the stack's.
    pub async fn connect_with(
        stack: &Stack,
        remote: SocketAddr,
        options: &ConnOptions,
    ) -> io::Result<Stream> {
        Self::connect_inner(stack, None, remote, options).await
    }

    /// [`Stream::connect_with`] from a chosen local address (the initial
    /// subflow's path: say, the WiFi address rather than LTE's), which the
    /// stack must own.
    pub async fn connect_from(
        stack: &Stack,
        local: IpAddr,
        remote: SocketAddr,
        options: &ConnOptions,
    ) -> io::Result<Stream> {
        Self::connect_inner(stack, Some(local), remote, options).await
    }

    async fn connect_inner(
        stack: &Stack,
        local: Option<IpAddr>,
        remote: SocketAddr,
        options: &ConnOptions,
    ) -> io::Result<Stream> {
        let user = stack.user().clone();
        let shared = user.shared().clone();
        let (handle, local) = {
            let mut inner = shared.lock();
            inner.check_failed()?;
            let ip = match local {
                Some(ip) if !inner.addresses.contains(&ip) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        format!("the stack does not own {ip}"),
                    ));
                }
                Some(ip) if ip.is_ipv4() != remote.is_ipv4() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{ip} and {remote} are of different families"),
                    ));
                }
                Some(ip) => ip,
                None => inner.source_for(remote.ip()).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        "the stack owns no address of the remote's family",
                    )
                })?,
            };
            let now = shared.now();
            let h = inner
                .endpoint
                .connect_with(now, SocketAddr::new(ip, 0), remote, options)
                .map_err(error::connect)?;
            inner.conns.insert(h, ConnState::new(Owner::Stream));
            let local = inner
                .endpoint
                .local_addr(h)
                .unwrap_or(SocketAddr::new(ip, 0));
            (h, local)
        };
        shared.wake_driver();
        // From here a drop (this future cancelled) closes the attempt.
        let stream = Stream::from_parts(handle, local, remote, user);
        poll_fn(|cx| stream.conn.poll_connected(cx)).await?;
        Ok(stream)
    }

    pub(crate) fn from_parts(
        handle: ConnHandle,
        local: SocketAddr,
        peer: SocketAddr,
        user: UserRef,
    ) -> Stream {
        Stream {
            conn: Arc::new(Conn {
                handle,
                local,
                peer,
                user,
            }),
        }
    }

    /// The connection's statistics (state, per subflow RTT, cwnd, ...);
    /// `NotConnected` once the endpoint has forgotten it.
    pub fn stats(&self) -> io::Result<ConnStats> {
        self.conn.stats()
    }

    /// A handle that reads this connection's statistics from anywhere (a
    /// monitoring task, a probe) while the stream itself is read and
    /// written elsewhere. It does not keep the connection open: once the
    /// stream is dropped and the connection closes, its calls fail with
    /// `NotConnected`. It does keep the stack's driver running.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            handle: self.conn.handle,
            local: self.conn.local,
            peer: self.conn.peer,
            user: self.conn.user.clone(),
        }
    }

    /// Reset the connection now (a RST; queued data is dropped).
    pub fn abort(self) {
        self.conn.abort();
    }

    /// Split into a read half and a write half that can move to different
    /// tasks. Dropping the write half closes the sending direction; the
    /// connection closes when both are dropped.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                conn: self.conn.clone(),
            },
            OwnedWriteHalf { conn: self.conn },
        )
    }
}

/// What an MPTCP connection looks like now ([`Stream::mptcp`]).
#[derive(Debug, Clone)]
pub struct MptcpView {
    /// MPTCP is in use: negotiated and not fallen back to plain TCP.
    pub active: bool,
    /// Every subflow the connection has now (closed ones are gone), with
    /// the data-level bytes each carried.
    pub subflows: Vec<SubflowInfo>,
    /// The connection's MPTCP counters.
    pub mib: Mib,
}

impl Stream {
    /// The connection's MPTCP state: `None` for a plain TCP connection
    /// (the stack's MPTCP is off), otherwise whether MPTCP is in use, its
    /// subflows and counters. `NotConnected` once the endpoint forgot it.
    pub fn mptcp(&self) -> io::Result<Option<MptcpView>> {
        self.conn.mptcp()
    }

    /// Announce `addr` to the peer under address ID `id` (ADD_ADDR, RFC
    /// 8684 section 3.4.1; resent until echoed). The stack must own the
    /// address and accept joins on it (a listener on it or on the
    /// unspecified address).
    pub fn announce_addr(&self, id: u8, addr: SocketAddr) -> io::Result<()> {
        self.conn
            .path_call(|ep, h, now| ep.announce_addr(h, now, id, addr))
    }

    /// Open one more subflow with MP_JOIN from `local` (port 0: any) to
    /// `remote` (RFC 8684 section 3.2); a `backup` one (flag B) carries
    /// data only while no regular subflow can. Its id comes with its
    /// [`MptcpEvent::SubflowEstablished`] (see [`Stream::path_event`]).
    pub fn open_subflow(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> io::Result<SubflowId> {
        let mut id = None;
        self.conn.path_call(|ep, h, now| {
            id = Some(ep.open_subflow(h, now, local, remote, backup)?);
            Ok(())
        })?;
        id.ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Reset one subflow (MP_TCPRST); the others carry on (RFC 8684
    /// section 3.6).
    pub fn close_subflow(&self, id: SubflowId) -> io::Result<()> {
        self.conn.path_call(|ep, h, _| ep.close_subflow(h, id))
    }

    /// Mark a subflow backup or regular, for our scheduler and the peer's
    /// (MP_PRIO, RFC 8684 section 3.3.8).
    pub fn set_backup(&self, id: SubflowId, backup: bool) -> io::Result<()> {
        self.conn.path_call(|ep, h, _| ep.set_backup(h, id, backup))
    }

    /// Change the connection's [`crate::Mode`] (aggregate, handover or
    /// interactive) from now on: the scheduler and, into or out of
    /// handover, the backup flag of every subflow off the primary path
    /// (the peer hears MP_PRIO). A connection starts in the mode of its
    /// `ConnOptions::mode`, else the stack's `EndpointConfig::conn.mode`.
    pub fn set_mode(&self, mode: crate::Mode) -> io::Result<()> {
        self.conn.path_call(|ep, h, _| ep.set_mode(h, mode))
    }

    /// Use this built-in scheduler for the connection from now on.
    pub fn set_scheduler(&self, kind: SchedulerKind) -> io::Result<()> {
        self.conn.path_call(|ep, h, _| ep.set_scheduler(h, kind))
    }

    /// The next event about the connection's paths (subflows established
    /// and closed with their reasons, addresses announced and removed,
    /// priority changes, fallback), in the order they happened; `None`
    /// once the connection closed and every event was taken. Events are
    /// kept from the start of the connection (up to 1,024 not yet taken;
    /// see [`PathEvents::lost`]). [`Stream::path_events`] gives a handle
    /// to take them from another task.
    pub async fn path_event(&self) -> Option<MptcpEvent> {
        poll_fn(|cx| poll_path_event(&self.conn.user, self.conn.handle, cx)).await
    }

    /// A handle that takes this connection's path events (see
    /// [`Stream::path_event`]) and can move to another task.
    pub fn path_events(&self) -> PathEvents {
        PathEvents {
            handle: self.conn.handle,
            user: self.conn.user.clone(),
        }
    }
}

/// Takes a connection's path events in order ([`Stream::path_events`]).
#[derive(Debug, Clone)]
pub struct PathEvents {
    handle: ConnHandle,
    user: UserRef,
}

impl PathEvents {
    /// The next path event; `None` once the connection closed (or was
    /// forgotten) and every event was taken.
    pub async fn next(&mut self) -> Option<MptcpEvent> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`PathEvents::next`] as a poll function.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<MptcpEvent>> {
        poll_path_event(&self.user, self.handle, cx)
    }

    /// Events dropped because nobody took them (more than 1,024 waiting).
    pub fn lost(&self) -> u64 {
        let inner = self.user.shared().lock();
        inner
            .conns
            .get(&self.handle)
            .map_or(0, |s| s.path_events_lost)
    }
}

fn poll_path_event(
    user: &UserRef,
    h: ConnHandle,
    cx: &mut Context<'_>,
) -> Poll<Option<MptcpEvent>> {
    let mut inner = user.shared().lock();
    let Some(state) = inner.conns.get_mut(&h) else {
        return Poll::Ready(None);
    };
    if let Some(e) = state.path_events.pop_front() {
        return Poll::Ready(Some(e));
    }
    if state.closed.is_some() {
        return Poll::Ready(None);
    }
    state.path_waker = Some(cx.waker().clone());
    Poll::Pending
}

/// `AsyncRead` for each type, by reading its `conn` (a stream and its read
/// half read the same way).
macro_rules! read_through_conn {
    ($($t:ty),+) => {$(
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.conn.poll_read(cx, buf)
            }
        }
    )+};
}

/// `AsyncWrite` for each type, by writing to its `conn` (a stream and its
/// write half write the same way).
macro_rules! write_through_conn {
    ($($t:ty),+) => {$(
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.conn.poll_write(cx, data)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Written data is in the connection's send buffer, as with a
                // kernel socket: nothing to flush.
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.conn.shutdown())
            }
        }
    )+};
}

/// `local_addr` and `peer_addr` for each type, from its `conn`.
macro_rules! addrs_of_conn {
    ($($t:ty),+) => {$(
        impl $t {
            /// The local address (Braid's address and port).
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                Ok(self.conn.local)
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                Ok(self.conn.peer)
            }
        }
    )+};
}

read_through_conn!(Stream, OwnedReadHalf);
write_through_conn!(Stream, OwnedWriteHalf);
addrs_of_conn!(Stream, OwnedReadHalf, OwnedWriteHalf);

/// Reads a connection's statistics without owning it
/// ([`Stream::stats_handle`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    handle: ConnHandle,
    local: SocketAddr,
    peer: SocketAddr,
    user: UserRef,
}

impl StatsHandle {
    /// The connection's statistics, as [`Stream::stats`]; `NotConnected`
    /// once the endpoint has forgotten the connection.
    pub fn stats(&self) -> io::Result<ConnStats> {
        let inner = self.user.shared().lock();
        inner
            .endpoint
            .stats(self.handle)
            .map_err(|_| io::ErrorKind::NotConnected.into())
    }

    /// Every subflow of an MPTCP connection (also after a fallback) with
    /// its addresses and figures, closed ones included; `None` for a plain
    /// TCP connection (its one subflow is [`StatsHandle::stats`] between
    /// the stream's addresses). `NotConnected` once the endpoint has
    /// forgotten the connection.
    pub fn subflows(&self) -> io::Result<Option<Vec<SubflowInfo>>> {
        let inner = self.user.shared().lock();
        match inner.endpoint.subflows(self.handle) {
            Ok(v) => Ok(Some(v)),
            Err(PathError::NotMptcp) => Ok(None),
            Err(_) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// The connection's MPTCP counters (reinjections, joins, ...), as in
    /// [`MptcpView::mib`]; `None` for a plain TCP connection.
    /// `NotConnected` once the endpoint has forgotten the connection.
    pub fn mib(&self) -> io::Result<Option<Mib>> {
        let inner = self.user.shared().lock();
        match inner.endpoint.mptcp_mib(self.handle) {
            Ok(m) => Ok(Some(m)),
            Err(PathError::NotMptcp) => Ok(None),
            Err(_) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Whether the connection speaks MPTCP (false for plain TCP and after
    /// a fallback).
    pub fn is_mptcp(&self) -> io::Result<bool> {
        let inner = self.user.shared().lock();
        inner
            .endpoint
            .is_mptcp(self.handle)
            .map_err(|_| io::ErrorKind::NotConnected.into())
    }

    /// The stream's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The stream's peer address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

/// The read half of a [`Stream`] ([`Stream::into_split`]).
#[derive(Debug)]
pub struct OwnedReadHalf {
    conn: Arc<Conn>,
}

/// The write half of a [`Stream`] ([`Stream::into_split`]); dropping it
/// closes the sending direction.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    conn: Arc<Conn>,
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // Like tokio's: dropping the write half shuts the direction down.
        let _ = self.conn.shutdown();
    }
}

impl Conn {
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.user.shared().lock();
        inner.check_failed()?;
        let Some(state) = inner.conns.get_mut(&self.handle) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if state.connected {
            return Poll::Ready(Ok(()));
        }
        if let Some(reason) = state.closed {
            return Poll::Ready(Err(error::connect_failed(reason)));
        }
        state.connect_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let shared = self.user.shared();
        let mut inner = shared.lock();
        inner.check_failed()?;
        let h = self.handle;
        let result = inner.endpoint.read(h, buf.initialize_unfilled());
        match result {
            Ok(n) if n > 0 => {
                buf.advance(n);
                drop(inner);
                // The receive window opened: the driver may owe an update.
                shared.wake_driver();
                return Poll::Ready(Ok(()));
            }
            Ok(_) => {}
            Err(EndpointError::UnknownConnection | EndpointError::SendClosed) => {}
        }
        let Some(state) = inner.conns.get_mut(&h) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        match state.closed {
            None | Some(CloseReason::Normal) => {}
            Some(reason) => return Poll::Ready(Err(error::closed(reason, false))),
        }
        // The end of the stream: the peer's FIN and everything before it
        // was read (or the connection is gone after a normal close).
        if state.closed.is_some() || inner.endpoint.is_read_closed(h).unwrap_or(true) {
            return Poll::Ready(Ok(()));
        }
        if let Some(state) = inner.conns.get_mut(&h) {
            state.read_waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let shared = self.user.shared();
        let mut inner = shared.lock();
        inner.check_failed()?;
        let h = self.handle;
        match inner.endpoint.write(h, data) {
            Ok(0) => {
                if inner.conns.get(&h).is_some_and(|s| s.closed.is_some()) {
                    return Poll::Ready(Err(inner.closed_error(h, true)));
                }
                if let Some(state) = inner.conns.get_mut(&h) {
                    state.write_waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Ok(n) => {
                drop(inner);
                shared.wake_driver();
                Poll::Ready(Ok(n))
            }
            Err(EndpointError::SendClosed) => Poll::Ready(Err(match inner.conns.get(&h) {
                Some(ConnState {
                    closed: Some(reason),
                    ..
                }) => error::closed(*reason, true),
                _ => io::Error::new(io::ErrorKind::BrokenPipe, "sending direction closed"),
            })),
            Err(EndpointError::UnknownConnection) => Poll::Ready(Err(inner.closed_error(h, true))),
        }
    }

    fn shutdown(&self) -> io::Result<()> {
        let shared = self.user.shared();
        let mut inner = shared.lock();
        inner.check_failed()?;
        match inner.endpoint.close(self.handle) {
            Ok(()) => {
                drop(inner);
                shared.wake_driver();
                Ok(())
            }
            Err(_) => match inner.conns.get(&self.handle).and_then(|s| s.closed) {
                Some(CloseReason::Normal) => Ok(()),
                _ => Err(inner.closed_error(self.handle, true)),
            },
        }
    }

    fn stats(&self) -> io::Result<ConnStats> {
        let inner = self.user.shared().lock();
        inner
            .endpoint
            .stats(self.handle)
            .map_err(|_| io::ErrorKind::NotConnected.into())
    }

    fn mptcp(&self) -> io::Result<Option<MptcpView>> {
        let inner = self.user.shared().lock();
        let ep = &inner.endpoint;
        let h = self.handle;
        let active = ep
            .is_mptcp(h)
            .map_err(|_| io::Error::from(io::ErrorKind::NotConnected))?;
        match (ep.subflows(h), ep.mptcp_mib(h)) {
            (Ok(subflows), Ok(mib)) => Ok(Some(MptcpView {
                active,
                subflows,
                mib,
            })),
            (Err(PathError::NotMptcp), _) | (_, Err(PathError::NotMptcp)) => Ok(None),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn path_call(
        &self,
        f: impl FnOnce(
            &mut braid_proto::endpoint::Endpoint,
            ConnHandle,
            braid_proto::time::Instant,
        ) -> Result<(), PathError>,
    ) -> io::Result<()> {
        let shared = self.user.shared();
        let mut inner = shared.lock();
        inner.check_failed()?;
        let now = shared.now();
        let r = f(&mut inner.endpoint, self.handle, now);
        drop(inner);
        shared.wake_driver();
        r.map_err(|e| match e {
            PathError::UnknownConnection => io::ErrorKind::NotConnected.into(),
            e => io::Error::new(io::ErrorKind::Unsupported, e),
        })
    }

    fn abort(&self) {
        let shared = self.user.shared();
        let _ = shared.lock().endpoint.abort(self.handle);
        shared.wake_driver();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let shared = self.user.shared();
        shared.lock().release(self.handle);
        shared.wake_driver();
    }
}
