//! State shared by the driver task and the application's handles: the
//! endpoint, and per connection and per listener the wakers of the tasks
//! waiting on it.
//!
//! One mutex guards it all. Every operation holds it briefly (one endpoint
//! call and some waker bookkeeping), never across an `.await`. A task that
//! registers a waker does so under the same lock under which the driver
//! hands out events, so no wake-up is lost.

use crate::device::UdpCommands;
use crate::error;
use braid_proto::endpoint::{ConnEvent, ConnHandle, Endpoint, MptcpEvent};
use braid_proto::tcp::CloseReason;
use braid_proto::time::Instant;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use tokio::sync::Notify;

/// Everything the driver and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the driver: an application call may have produced output.
    pub(crate) driver: Notify,
    /// The runtime's epoch: `Instant::ZERO` for the core.
    epoch: tokio::time::Instant,
    /// A UDP device's queue: it opens a socket for each address gained and
    /// closes the socket of each lost.
    udp: Option<Arc<UdpCommands>>,
}

impl Shared {
    pub(crate) fn new(
        endpoint: Endpoint,
        addresses: Vec<IpAddr>,
        udp: Option<Arc<UdpCommands>>,
    ) -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                endpoint,
                addresses,
                conns: HashMap::new(),
                listeners: HashMap::new(),
                failure: None,
                users: 0,
                scratch: vec![0; 16 * 1024],
            }),
            driver: Notify::new(),
            epoch: tokio::time::Instant::now(),
            udp,
        }
    }

    /// Now, as the core counts time.
    pub(crate) fn now(&self) -> Instant {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        Instant::from_micros(elapsed.as_micros() as u64)
    }

    /// A core instant as a tokio instant.
    pub(crate) fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_micros(t.total_micros())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the endpoint in a state we
        // cannot trust less than any other: keep going with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask the driver to run (send what an application call queued).
    pub(crate) fn wake_driver(&self) {
        self.driver.notify_one();
    }

    /// `Stack::add_address`.
    pub(crate) fn add_address(&self, ip: IpAddr) {
        // Also when already owned: the device keeps a socket it was about
        // to close (the address removed and added again).
        if let Some(udp) = &self.udp {
            udp.open(ip);
        }
        let mut inner = self.lock();
        if inner.addresses.contains(&ip) {
            return;
        }
        inner.addresses.push(ip);
        let now = self.now();
        inner.endpoint.add_local_addr(now, ip);
        inner.endpoint.local_addr_up(now, ip);
        drop(inner);
        self.wake_driver();
    }

    /// `Stack::remove_address`.
    pub(crate) fn remove_address(&self, ip: IpAddr) {
        let mut inner = self.lock();
        inner.addresses.retain(|a| *a != ip);
        let now = self.now();
        inner.endpoint.local_addr_down(now, ip);
        drop(inner);
        // After the endpoint: the socket closes shortly after, so that the
        // subflows' RSTs leave by it.
        if let Some(udp) = &self.udp {
            udp.close(ip);
        }
        self.wake_driver();
    }

    /// `Stack::link_down`.
    pub(crate) fn link_down(&self, ip: IpAddr) {
        let now = self.now();
        self.lock().endpoint.local_addr_down(now, ip);
        self.wake_driver();
    }

    /// `Stack::link_up`.
    pub(crate) fn link_up(&self, ip: IpAddr) {
        let now = self.now();
        self.lock().endpoint.local_addr_up(now, ip);
        self.wake_driver();
    }
}

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Accepted by a listener, handshake not yet complete or not yet
    /// returned by `accept`.
    Listener(SocketAddr),
    /// A `Stream` (or its halves) holds it.
    Stream,
    /// Its `Stream` was dropped; the driver discards data that still arrives
    /// until the connection closes.
    Orphan,
}

/// Per connection bookkeeping.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) owner: Owner,
    pub(crate) connected: bool,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) connect_waker: Option<Waker>,
    /// Path events not yet taken by `Stream::path_event`, oldest first.
    pub(crate) path_events: VecDeque<MptcpEvent>,
    /// Path events dropped because `path_events` was full.
    pub(crate) path_events_lost: u64,
    pub(crate) path_waker: Option<Waker>,
}

/// Most path events kept per connection for the application; beyond it
/// the newest are dropped and counted (`Stream::path_events_lost`).
pub(crate) const PATH_EVENTS_MAX: usize = 1024;

impl ConnState {
    pub(crate) fn new(owner: Owner) -> ConnState {
        ConnState {
            owner,
            connected: false,
            closed: None,
            read_waker: None,
            write_waker: None,
            connect_waker: None,
            path_events: VecDeque::new(),
            path_events_lost: 0,
            path_waker: None,
        }
    }

    fn wake_all(&mut self) {
        for w in [
            self.read_waker.take(),
            self.write_waker.take(),
            self.connect_waker.take(),
            self.path_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            w.wake();
        }
    }
}

/// Per listener bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct ListenerState {
    /// Established connections not yet returned by `accept`.
    pub(crate) ready: VecDeque<ConnHandle>,
    pub(crate) accept_waker: Option<Waker>,
}

/// Most connections waiting in one listener's accept queue; beyond it new
/// ones are reset (like a full kernel backlog, but visible to the peer).
pub(crate) const ACCEPT_BACKLOG: usize = 1024;

/// The state behind the lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) endpoint: Endpoint,
    /// Addresses this stack owns (sources for `connect`).
    pub(crate) addresses: Vec<IpAddr>,
    pub(crate) conns: HashMap<ConnHandle, ConnState>,
    pub(crate) listeners: HashMap<SocketAddr, ListenerState>,
    /// Set when the driver stopped (device error): every call fails with it.
    pub(crate) failure: Option<(io::ErrorKind, String)>,
    /// Live user handles (`Stack`, `Stream`, `Listener`); the driver winds
    /// down when it reaches zero.
    pub(crate) users: usize,
    /// Where data of orphaned connections is read to and discarded.
    scratch: Vec<u8>,
}

impl Inner {
    /// The error every call returns once the driver is gone.
    pub(crate) fn check_failed(&self) -> io::Result<()> {
        match &self.failure {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// A source address for a connection to `remote`: the first owned
    /// address of the same family.
    pub(crate) fn source_for(&self, remote: IpAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
    }

    /// The listener a connection accepted on `local` belongs to.
    fn listener_for(&self, local: SocketAddr) -> Option<SocketAddr> {
        if self.listeners.contains_key(&local) {
            return Some(local);
        }
        self.listeners
            .keys()
            .copied()
            .find(|l| l.port() == local.port() && l.ip().is_unspecified())
    }

    /// Hand every pending endpoint event to the task waiting for it.
    pub(crate) fn dispatch_events(&mut self) {
        // Path events first: a connection's SubflowClosed comes before its
        // Closed, which may forget it.
        while let Some((h, event)) = self.endpoint.poll_mptcp_event() {
            let Some(state) = self.conns.get_mut(&h) else {
                continue;
            };
            if state.path_events.len() < PATH_EVENTS_MAX {
                state.path_events.push_back(event);
            } else {
                state.path_events_lost += 1;
            }
            if let Some(w) = state.path_waker.take() {
                w.wake();
            }
        }
        while let Some((h, event)) = self.endpoint.poll_event() {
            self.on_event(h, event);
        }
    }

    fn on_event(&mut self, h: ConnHandle, event: ConnEvent) {
        if let ConnEvent::Accepted = event {
            let listener = self
                .endpoint
                .local_addr(h)
                .ok()
                .and_then(|l| self.listener_for(l));
            match listener {
                Some(l) => {
                    self.conns.insert(h, ConnState::new(Owner::Listener(l)));
                }
                // The listener went away between the SYN and now.
                None => {
                    let _ = self.endpoint.abort(h);
                }
            }
            return;
        }
        let Some(state) = self.conns.get_mut(&h) else {
            return;
        };
        match event {
            ConnEvent::Accepted => {}
            ConnEvent::Connected => {
                state.connected = true;
                if let Some(w) = state.connect_waker.take() {
                    w.wake();
                }
                if let Owner::Listener(l) = state.owner {
                    match self.listeners.get_mut(&l) {
                        Some(ls) if ls.ready.len() < ACCEPT_BACKLOG => {
                            ls.ready.push_back(h);
                            if let Some(w) = ls.accept_waker.take() {
                                w.wake();
                            }
                        }
                        _ => {
                            let _ = self.endpoint.abort(h);
                        }
                    }
                }
            }
            ConnEvent::Readable => match state.owner {
                Owner::Orphan => self.discard_input(h),
                _ => {
                    if let Some(w) = state.read_waker.take() {
                        w.wake();
                    }
                }
            },
            ConnEvent::Writable => {
                if let Some(w) = state.write_waker.take() {
                    w.wake();
                }
            }
            ConnEvent::Closed { reason } => {
                tracing::debug!(conn = %h, ?reason, "closed");
                state.closed = Some(reason);
                state.wake_all();
                match state.owner {
                    Owner::Orphan => {
                        self.conns.remove(&h);
                    }
                    Owner::Listener(l) => {
                        // Never handed out: forget it (also from the queue).
                        self.conns.remove(&h);
                        if let Some(ls) = self.listeners.get_mut(&l) {
                            ls.ready.retain(|x| *x != h);
                        }
                    }
                    Owner::Stream => {}
                }
            }
        }
    }

    /// Read and drop what an orphaned connection received (bounded: at most
    /// the receive buffer's worth is there).
    fn discard_input(&mut self, h: ConnHandle) {
        for _ in 0..1024 {
            match self.endpoint.read(h, &mut self.scratch) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }

    /// The application dropped its last handle on `h`: close gracefully,
    /// discard what still arrives, forget it once closed.
    pub(crate) fn release(&mut self, h: ConnHandle) {
        let Some(state) = self.conns.get_mut(&h) else {
            return;
        };
        state.read_waker = None;
        state.write_waker = None;
        state.connect_waker = None;
        if state.closed.is_some() {
            self.conns.remove(&h);
            // Unread data keeps a closed connection in the endpoint.
            self.discard_input(h);
            return;
        }
        state.owner = Owner::Orphan;
        let _ = self.endpoint.close(h);
        self.discard_input(h);
    }

    /// The error for an operation on a connection that is gone or closing.
    pub(crate) fn closed_error(&self, h: ConnHandle, writing: bool) -> io::Error {
        match self.conns.get(&h).and_then(|s| s.closed) {
            Some(reason) => error::closed(reason, writing),
            None => io::ErrorKind::NotConnected.into(),
        }
    }
}
