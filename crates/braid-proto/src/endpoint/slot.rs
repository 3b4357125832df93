//! The connection table: what sits behind a [`ConnHandle`] (a [`Slot`]),
//! the 4-tuple demultiplexing map, the set of connections with pending
//! output, and the timer heap behind `Endpoint::poll_timeout`.
//!
//! A [`Slot`] is the one internal abstraction the endpoint talks to. Today
//! it holds a plain TCP socket; an MPTCP connection (several subflows, one
//! handle, several 4-tuples) becomes another variant, and nothing outside
//! this file needs to know the difference.

use super::{ConnEvent, ConnHandle, ConnStats};
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
pub(super) enum Slot {
    /// A plain TCP connection (RFC 9293).
    Tcp(TcpSocket),
}

impl Slot {
    /// The 4-tuples that demultiplex to this slot.
    pub(super) fn tuples(&self) -> impl Iterator<Item = Tuple> + use<> {
        match self {
            Slot::Tcp(s) => core::iter::once((s.local(), s.remote())),
        }
    }

    pub(super) fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        match self {
            Slot::Tcp(s) => s.handle_segment(now, seg),
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Slot::Tcp(s) => s.handle_timeout(now),
        }
    }

    /// The next segment, with the (local, remote) addresses it travels
    /// between.
    pub(super) fn poll_transmit(&mut self, now: Instant) -> Option<(Tuple, Segment)> {
        match self {
            Slot::Tcp(s) => s
                .poll_transmit(now)
                .map(|seg| ((s.local(), s.remote()), seg)),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Slot::Tcp(s) => s.poll_timeout(),
        }
    }

    pub(super) fn poll_event(&mut self) -> Option<ConnEvent> {
        match self {
            Slot::Tcp(s) => s.poll_event().map(|e| match e {
                tcp::Event::Connected => ConnEvent::Connected,
                tcp::Event::Readable => ConnEvent::Readable,
                tcp::Event::Writable => ConnEvent::Writable,
                tcp::Event::Closed { reason } => ConnEvent::Closed { reason },
            }),
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Slot::Tcp(s) => s.read(buf),
        }
    }

    pub(super) fn write(&mut self, data: &[u8]) -> usize {
        match self {
            Slot::Tcp(s) => s.write(data),
        }
    }

    pub(super) fn can_send(&self) -> bool {
        match self {
            Slot::Tcp(s) => s.state().can_send(),
        }
    }

    pub(super) fn send_capacity(&self) -> usize {
        match self {
            Slot::Tcp(s) => s.send_capacity(),
        }
    }

    pub(super) fn is_read_closed(&self) -> bool {
        match self {
            Slot::Tcp(s) => s.is_read_closed(),
        }
    }

    pub(super) fn close(&mut self) {
        match self {
            Slot::Tcp(s) => s.close(),
        }
    }

    pub(super) fn abort(&mut self) {
        match self {
            Slot::Tcp(s) => s.abort(),
        }
    }

    pub(super) fn state(&self) -> State {
        match self {
            Slot::Tcp(s) => s.state(),
        }
    }

    pub(super) fn local(&self) -> SocketAddr {
        match self {
            Slot::Tcp(s) => s.local(),
        }
    }

    pub(super) fn remote(&self) -> SocketAddr {
        match self {
            Slot::Tcp(s) => s.remote(),
        }
    }

    pub(super) fn stats(&self) -> ConnStats {
        match self {
            Slot::Tcp(s) => ConnStats {
                state: s.state(),
                subflows: vec![s.stats()],
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
    /// Connections that may have output, events or a changed timer.
    dirty: VecDeque<ConnHandle>,
    /// (deadline, handle) with lazy deletion: an entry is live while the
    /// connection exists and its registered `timer` equals the deadline.
    timers: BinaryHeap<Reverse<(Instant, ConnHandle)>>,
    len: usize,
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
        let entry = &mut self.entries[index as usize];
        entry.conn = Some(Conn {
            slot,
            timer: None,
            dirty: false,
        });
        self.len += 1;
        let handle = ConnHandle {
            index,
            generation: entry.generation,
        };
        self.mark_dirty(handle);
        handle
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
        self.free.push(h.index);
        self.len -= 1;
        Some(conn.slot)
    }
}
