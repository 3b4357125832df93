//! The connection table: what sits behind a [`ConnHandle`] (a [`Slot`]),
//! the 4-tuple demultiplexing map, the set of connections with pending
//! output, and the timer heap behind `Endpoint::poll_timeout`.
//!
//! A [`Slot`] is the one internal abstraction the endpoint talks to: a
//! plain TCP socket, or an MPTCP [`Connection`] (RFC 8684) with several
//! subflows, one handle and several 4-tuples, plus a token in the token
//! table (RFC 8684 section 3.2: MP_JOIN SYNs are routed by it).

use super::{ConnEvent, ConnHandle, ConnStats, MptcpEvent};
use crate::conn::{self, Connection};
use crate::tcp::{self, CloseReason, Segment, State, TcpSocket};
use crate::time::Instant;
use crate::wire::TcpRepr;
use core::cmp::Reverse;
use core::net::SocketAddr;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// A 4-tuple from this host's point of view: (local, remote).
pub(super) type Tuple = (SocketAddr, SocketAddr);

/// What a [`ConnHandle`] names.
#[derive(Debug)]
// The plain TCP socket stays inline (no extra indirection on the plain
// path); the larger MPTCP connection is boxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Slot {
    /// A plain TCP connection (RFC 9293).
    Tcp(TcpSocket),
    /// An MPTCP connection (RFC 8684), possibly fallen back to TCP.
    Mptcp(Box<Connection>),
}

/// An event of a slot: for every application, or MPTCP-specific.
pub(super) enum SlotEvent {
    Conn(ConnEvent),
    Mptcp(MptcpEvent),
}

/// How an MPTCP close reason reads as a TCP one (see
/// [`ConnEvent::Closed`]): the application sees one reason type for TCP
/// and MPTCP, as a Linux socket gives `ETIMEDOUT` or `ECONNRESET` either
/// way. Of a live connection's reasons, `Timeout` comes from
/// `SubflowsFailed` only.
fn tcp_reason(r: conn::CloseReason) -> CloseReason {
    match r {
        conn::CloseReason::Normal => CloseReason::Normal,
        conn::CloseReason::Reset | conn::CloseReason::ChecksumFailure => CloseReason::Reset,
        conn::CloseReason::Aborted => CloseReason::Aborted,
        conn::CloseReason::SubflowsFailed => CloseReason::Timeout,
    }
}

impl Slot {
    /// The 4-tuples that demultiplex to this slot.
    pub(super) fn tuples(&self) -> Vec<Tuple> {
        match self {
            Slot::Tcp(s) => vec![(s.local(), s.remote())],
            Slot::Mptcp(c) => c.tuples().collect(),
        }
    }

    /// The MPTCP token, for MP_JOIN routing.
    pub(super) fn token(&self) -> Option<u32> {
        match self {
            Slot::Tcp(_) => None,
            Slot::Mptcp(c) => Some(c.local_token()),
        }
    }

    pub(super) fn handle_segment(&mut self, now: Instant, tuple: Tuple, seg: &TcpRepr<'_>) {
        match self {
            Slot::Tcp(s) => s.handle_segment(now, seg),
            Slot::Mptcp(c) => {
                if let Some(id) = c.subflow_for(tuple.0, tuple.1) {
                    if seg.options.ignored.any() {
                        c.count_ignored_options(&seg.options.ignored);
                    }
                    c.handle_segment(now, id, seg);
                }
            }
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Slot::Tcp(s) => s.handle_timeout(now),
            Slot::Mptcp(c) => c.handle_timeout(now),
        }
    }

    /// The next segment, with the (local, remote) addresses it travels
    /// between.
    pub(super) fn poll_transmit(&mut self, now: Instant) -> Option<(Tuple, Segment)> {
        match self {
            Slot::Tcp(s) => s
                .poll_transmit(now)
                .map(|seg| ((s.local(), s.remote()), seg)),
            Slot::Mptcp(c) => c
                .poll_transmit(now)
                .map(|(_, local, remote, seg)| ((local, remote), seg)),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Slot::Tcp(s) => s.poll_timeout(),
            Slot::Mptcp(c) => c.poll_timeout(),
        }
    }

    pub(super) fn poll_event(&mut self) -> Option<SlotEvent> {
        match self {
            Slot::Tcp(s) => s.poll_event().map(|e| {
                SlotEvent::Conn(match e {
                    tcp::Event::Connected => ConnEvent::Connected,
                    tcp::Event::Readable => ConnEvent::Readable,
                    tcp::Event::Writable => ConnEvent::Writable,
                    tcp::Event::Closed { reason } => ConnEvent::Closed { reason },
                })
            }),
            Slot::Mptcp(c) => {
                let e = c.poll_event()?;
                Some(match e {
                    conn::Event::Connected => SlotEvent::Conn(ConnEvent::Connected),
                    conn::Event::Readable => SlotEvent::Conn(ConnEvent::Readable),
                    conn::Event::Writable => SlotEvent::Conn(ConnEvent::Writable),
                    conn::Event::Closed { reason } => SlotEvent::Conn(ConnEvent::Closed {
                        reason: tcp_reason(reason),
                    }),
                    conn::Event::Mptcp(m) => SlotEvent::Mptcp(m),
                })
            }
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Slot::Tcp(s) => s.read(buf),
            Slot::Mptcp(c) => c.read(buf),
        }
    }

    pub(super) fn write(&mut self, data: &[u8]) -> usize {
        match self {
            Slot::Tcp(s) => s.write(data),
            Slot::Mptcp(c) => c.write(data),
        }
    }

    pub(super) fn can_send(&self) -> bool {
        match self {
            Slot::Tcp(s) => s.state().can_send(),
            Slot::Mptcp(c) => c.can_send(),
        }
    }

    pub(super) fn send_capacity(&self) -> usize {
        match self {
            Slot::Tcp(s) => s.send_capacity(),
            Slot::Mptcp(c) => c.send_capacity(),
        }
    }

    pub(super) fn is_read_closed(&self) -> bool {
        match self {
            Slot::Tcp(s) => s.is_read_closed(),
            Slot::Mptcp(c) => c.is_read_closed(),
        }
    }

    pub(super) fn close(&mut self) {
        match self {
            Slot::Tcp(s) => s.close(),
            Slot::Mptcp(c) => c.close(),
        }
    }

    pub(super) fn abort(&mut self) {
        match self {
            Slot::Tcp(s) => s.abort(),
            Slot::Mptcp(c) => c.abort(),
        }
    }

    pub(super) fn state(&self) -> State {
        match self {
            Slot::Tcp(s) => s.state(),
            Slot::Mptcp(c) => c.state(),
        }
    }

    pub(super) fn local(&self) -> SocketAddr {
        match self {
            Slot::Tcp(s) => s.local(),
            Slot::Mptcp(c) => c.local(),
        }
    }

    pub(super) fn remote(&self) -> SocketAddr {
        match self {
            Slot::Tcp(s) => s.remote(),
            Slot::Mptcp(c) => c.remote(),
        }
    }

    pub(super) fn stats(&self) -> ConnStats {
        match self {
            Slot::Tcp(s) => ConnStats {
                state: s.state(),
                subflows: vec![s.stats()],
            },
            Slot::Mptcp(c) => ConnStats {
                state: c.state(),
                subflows: c.subflows().iter().map(|s| s.stats).collect(),
            },
        }
    }

    /// Whether the slot can be dropped: CLOSED, nothing left to send (the
    /// caller drained `poll_transmit`), and no data the application could
    /// still read after an orderly close. A reset or timed-out connection
    /// discards unread data (RFC 9293 section 3.10.7.4: "all segment queues
    /// should be flushed").
    fn is_reapable(&self) -> bool {
        match self {
            Slot::Tcp(s) => {
                s.state() == State::Closed
                    && (s.recv_queue() == 0 || s.close_reason() != Some(CloseReason::Normal))
            }
            Slot::Mptcp(c) => c.is_finished(),
        }
    }
}

/// A live connection and its bookkeeping.
#[derive(Debug)]
struct Conn {
    slot: Slot,
    /// The deadline registered in the timer heap.
    timer: Option<Instant>,
    /// Queued in `Table::dirty`.
    dirty: bool,
    /// A passive open still in SYN-RECEIVED, counted in
    /// `Table::half_open_len`.
    half_open: bool,
}

#[derive(Debug, Default)]
struct Entry {
    generation: u32,
    conn: Option<Conn>,
}

/// Slab of connections addressed by [`ConnHandle`] (index + generation, so
/// a handle outlives its connection harmlessly), plus the demux map, the
/// dirty queue and the timer heap.
///
/// Determinism: nothing here iterates a hash map; the same inputs give the
/// same output order.
#[derive(Debug, Default)]
pub(super) struct Table {
    entries: Vec<Entry>,
    free: Vec<u32>,
    tuples: BTreeMap<Tuple, u32>,
    /// MPTCP tokens (RFC 8684 section 3.2), unique across the endpoint.
    tokens: BTreeMap<u32, u32>,
    /// Connections that may have output, events or a changed timer.
    dirty: VecDeque<ConnHandle>,
    /// (deadline, handle) with lazy deletion: an entry is live while the
    /// connection exists and its registered `timer` equals the deadline.
    timers: BinaryHeap<Reverse<(Instant, ConnHandle)>>,
    len: usize,
    /// Half-open connections, oldest first, with lazy deletion: an entry
    /// is live while its connection exists and is still `half_open`.
    half_open: VecDeque<ConnHandle>,
    half_open_len: usize,
}

impl Table {
    /// Live connections.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether a connection uses `tuple`.
    pub(super) fn contains_tuple(&self, tuple: &Tuple) -> bool {
        self.tuples.contains_key(tuple)
    }

    /// Handles of every live connection, in index order.
    pub(super) fn handles(&self) -> Vec<ConnHandle> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.conn.is_some())
            .map(|(i, e)| ConnHandle {
                index: i as u32,
                generation: e.generation,
            })
            .collect()
    }

    /// Tokens registered.
    pub(super) fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Whether a connection holds MPTCP `token`.
    pub(super) fn contains_token(&self, token: u32) -> bool {
        self.tokens.contains_key(&token)
    }

    /// The connection holding MPTCP `token`.
    pub(super) fn lookup_token(&self, token: u32) -> Option<ConnHandle> {
        let index = *self.tokens.get(&token)?;
        let generation = self.entries.get(index as usize)?.generation;
        Some(ConnHandle { index, generation })
    }

    /// Stop routing the 4-tuples of subflows `h` forgot.
    pub(super) fn forget_tuples(&mut self, h: ConnHandle) {
        let forgotten = match self.get_mut(h) {
            Some(Slot::Mptcp(c)) => c.take_forgotten_tuples(),
            _ => return,
        };
        for t in forgotten {
            if self.tuples.get(&t) == Some(&h.index) {
                self.tuples.remove(&t);
            }
        }
    }

    /// Route `tuple` to `h` (a new subflow of an MPTCP connection). Returns
    /// false, changing nothing, when another connection uses the tuple.
    pub(super) fn register_tuple(&mut self, h: ConnHandle, tuple: Tuple) -> bool {
        if self.conn(h).is_none() {
            return false;
        }
        match self.tuples.get(&tuple) {
            Some(&i) => i == h.index,
            None => {
                self.tuples.insert(tuple, h.index);
                true
            }
        }
    }

    /// The connection `tuple` demultiplexes to.
    pub(super) fn lookup(&self, tuple: &Tuple) -> Option<ConnHandle> {
        let index = *self.tuples.get(tuple)?;
        let generation = self.entries.get(index as usize)?.generation;
        Some(ConnHandle { index, generation })
    }

    /// Insert a slot; it starts dirty (its first segment is pending).
    pub(super) fn insert(&mut self, slot: Slot) -> ConnHandle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry::default());
                // The table is bounded by `max_connections`, far below 2^32.
                u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
            }
        };
        for tuple in slot.tuples() {
            self.tuples.insert(tuple, index);
        }
        if let Some(t) = slot.token() {
            self.tokens.insert(t, index);
        }
        let entry = &mut self.entries[index as usize];
        entry.conn = Some(Conn {
            slot,
            timer: None,
            dirty: false,
            half_open: false,
        });
        self.len += 1;
        let handle = ConnHandle {
            index,
            generation: entry.generation,
        };
        self.mark_dirty(handle);
        handle
    }

    /// Insert a passive open in SYN-RECEIVED: counted half-open until its
    /// state moves on ([`Table::update_half_open`]) or it is removed.
    pub(super) fn insert_half_open(&mut self, slot: Slot) -> ConnHandle {
        let h = self.insert(slot);
        if let Some(c) = self.conn_mut(h) {
            c.half_open = true;
            self.half_open_len += 1;
            self.half_open.push_back(h);
        }
        if self.half_open.len() > 2 * self.half_open_len + 64 {
            let entries = &self.entries;
            self.half_open.retain(|h| {
                entries.get(h.index as usize).is_some_and(|e| {
                    e.generation == h.generation && e.conn.as_ref().is_some_and(|c| c.half_open)
                })
            });
        }
        h
    }

    /// Half-open connections.
    pub(super) fn half_open_len(&self) -> usize {
        self.half_open_len
    }

    /// `h` may have changed state: once past SYN-RECEIVED (established,
    /// or closed) it is no longer half-open.
    pub(super) fn update_half_open(&mut self, h: ConnHandle) {
        if let Some(c) = self.conn_mut(h)
            && c.half_open
            && c.slot.state() != State::SynReceived
        {
            c.half_open = false;
            self.half_open_len -= 1;
        }
    }

    /// The oldest half-open connection.
    pub(super) fn oldest_half_open(&mut self) -> Option<ConnHandle> {
        while let Some(&h) = self.half_open.front() {
            if self.conn(h).is_some_and(|c| c.half_open) {
                return Some(h);
            }
            self.half_open.pop_front();
        }
        None
    }

    fn conn(&self, h: ConnHandle) -> Option<&Conn> {
        let e = self.entries.get(h.index as usize)?;
        if e.generation != h.generation {
            return None;
        }
        e.conn.as_ref()
    }

    fn conn_mut(&mut self, h: ConnHandle) -> Option<&mut Conn> {
        let e = self.entries.get_mut(h.index as usize)?;
        if e.generation != h.generation {
            return None;
        }
        e.conn.as_mut()
    }

    /// The slot `h` names, if it still exists.
    pub(super) fn get(&self, h: ConnHandle) -> Option<&Slot> {
        self.conn(h).map(|c| &c.slot)
    }

    /// The slot `h` names, mutably. The caller must `mark_dirty` after
    /// changing it.
    pub(super) fn get_mut(&mut self, h: ConnHandle) -> Option<&mut Slot> {
        self.conn_mut(h).map(|c| &mut c.slot)
    }

    /// Queue `h` for output, event and timer processing.
    pub(super) fn mark_dirty(&mut self, h: ConnHandle) {
        if let Some(c) = self.conn_mut(h)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push_back(h);
        }
    }

    /// The first dirty connection still alive.
    pub(super) fn first_dirty(&mut self) -> Option<ConnHandle> {
        while let Some(&h) = self.dirty.front() {
            if self.conn(h).is_some_and(|c| c.dirty) {
                return Some(h);
            }
            self.dirty.pop_front();
        }
        None
    }

    /// `h` has no more output: take it off the dirty queue, register its
    /// timer, and reap it if it is finished. Returns whether it was reaped.
    pub(super) fn settle(&mut self, h: ConnHandle) -> bool {
        if self.dirty.front() == Some(&h) {
            self.dirty.pop_front();
        }
        let Some(c) = self.conn_mut(h) else {
            return false;
        };
        c.dirty = false;
        if c.slot.is_reapable() {
            self.remove(h);
            return true;
        }
        self.refresh_timer(h);
        false
    }

    fn refresh_timer(&mut self, h: ConnHandle) {
        let Some(c) = self.conn_mut(h) else {
            return;
        };
        let t = c.slot.poll_timeout();
        if t != c.timer {
            c.timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, h)));
                self.compact_timers();
            }
        }
    }

    /// Rebuild the heap when stale entries dominate it.
    fn compact_timers(&mut self) {
        if self.timers.len() <= 4 * self.len + 1024 {
            return;
        }
        let live: Vec<_> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let c = e.conn.as_ref()?;
                let t = c.timer?;
                let h = ConnHandle {
                    index: i as u32,
                    generation: e.generation,
                };
                Some(Reverse((t, h)))
            })
            .collect();
        self.timers = BinaryHeap::from(live);
    }

    fn is_live_timer(&self, t: Instant, h: ConnHandle) -> bool {
        self.conn(h).is_some_and(|c| c.timer == Some(t))
    }

    /// The earliest timer of any connection. Dirty connections have their
    /// timers refreshed first (normally `poll_transmit` already did).
    pub(super) fn next_timeout(&mut self) -> Option<Instant> {
        for i in 0..self.dirty.len() {
            let h = self.dirty[i];
            self.refresh_timer(h);
        }
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if self.is_live_timer(t, h) {
                return Some(t);
            }
            self.timers.pop();
        }
        None
    }

    /// Pop one connection whose timer is due at `now`; its registration is
    /// consumed (the caller fires it and marks it dirty).
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<ConnHandle> {
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if t > now {
                return None;
            }
            self.timers.pop();
            if self.is_live_timer(t, h) {
                if let Some(c) = self.conn_mut(h) {
                    c.timer = None;
                }
                return Some(h);
            }
        }
        None
    }

    /// Drop the connection `h`; its handle becomes unknown.
    pub(super) fn remove(&mut self, h: ConnHandle) -> Option<Slot> {
        let e = self.entries.get_mut(h.index as usize)?;
        if e.generation != h.generation {
            return None;
        }
        let conn = e.conn.take()?;
        e.generation = e.generation.wrapping_add(1);
        for tuple in conn.slot.tuples() {
            if self.tuples.get(&tuple) == Some(&h.index) {
                self.tuples.remove(&tuple);
            }
        }
        if let Some(t) = conn.slot.token() {
            if self.tokens.get(&t) == Some(&h.index) {
                self.tokens.remove(&t);
            }
        }
        if conn.half_open {
            self.half_open_len -= 1;
        }
        self.free.push(h.index);
        self.len -= 1;
        Some(conn.slot)
    }
}
