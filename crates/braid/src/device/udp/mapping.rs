//! Which outer UDP endpoint (and which local socket) carries each inner
//! 4-tuple: learned from SYNs received and from segments sent, followed
//! through NAT rebindings once validated, bounded, and expired when closed
//! or idle.

use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::time::{Duration, Instant};

/// Default bound on the table, entries.
pub(crate) const DEFAULT_MAX_MAPPINGS: usize = 65536;

/// An inner 4-tuple seen from this side: (our address and port, the peer's).
pub(crate) type Key = (SocketAddr, SocketAddr);

/// Packets held for a peer's unvalidated new outer endpoint, at most.
pub(crate) const HELD_MAX: usize = 32;

/// Where one inner 4-tuple goes, and what the device knows of its subflow.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// The peer's outer UDP endpoint.
    pub(crate) outer: SocketAddr,
    /// Index of our socket that carries it.
    pub(crate) socket: usize,
    /// Something besides a lone SYN was received from the peer, or we
    /// chose the peer ourselves: it is real. Unconfirmed mappings are
    /// evicted first when the table is full, and a SYN may move them.
    pub(crate) confirmed: bool,
    /// The outer endpoint before the last rebinding: datagrams still in
    /// flight from it are accepted, without moving the mapping back.
    pub(crate) previous: Option<SocketAddr>,
    /// A rebinding awaiting validation (`outer` is the new endpoint).
    pub(crate) probe: Option<Probe>,
    pub(crate) last_rx: Instant,
    pub(crate) last_tx: Instant,
    pub(crate) last_keepalive: Instant,
    /// Inner TCP sequence space, wrapping: just past the highest segment
    /// we sent; the highest ACK the peer sent; just past the highest
    /// segment the peer sent.
    pub(crate) snd_max: Option<u32>,
    pub(crate) ack_max: Option<u32>,
    pub(crate) rcv_max: Option<u32>,
    pub(crate) fin_in: bool,
    pub(crate) fin_out: bool,
    pub(crate) rst: bool,
    /// When the subflow was seen closing (RST, or the second FIN).
    pub(crate) closed_at: Option<Instant>,
}

/// Path validation of a peer's new outer endpoint (QUIC-style, RFC 9000
/// sections 8.2 and 9.3): until the peer echoes `nonce` from it, we send
/// it at most three times the bytes it sent us, and hold the rest.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) nonce: u64,
    /// The endpoint the mapping had before (restored if validation fails).
    pub(crate) from: SocketAddr,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) sent_at: Instant,
    pub(crate) tries: u32,
    pub(crate) held: Vec<Vec<u8>>,
}

impl Probe {
    /// Bytes we may still send to the unvalidated endpoint.
    pub(crate) fn budget(&self) -> u64 {
        (3 * self.rx_bytes).saturating_sub(self.tx_bytes)
    }
}

impl Mapping {
    pub(crate) fn new(outer: SocketAddr, socket: usize, confirmed: bool, now: Instant) -> Mapping {
        Mapping {
            outer,
            socket,
            confirmed,
            previous: None,
            probe: None,
            last_rx: now,
            last_tx: now,
            last_keepalive: now,
            snd_max: None,
            ack_max: None,
            rcv_max: None,
            fin_in: false,
            fin_out: false,
            rst: false,
            closed_at: None,
        }
    }

    /// The subflow closed: an RST either way, or a FIN each way.
    pub(crate) fn closed(&self) -> bool {
        self.rst || (self.fin_in && self.fin_out)
    }

    /// May go first when the table is full.
    fn evictable(&self) -> bool {
        !self.confirmed || self.closed()
    }

    /// Note a FIN or RST; the first time the subflow is closed, when.
    pub(crate) fn note_close(&mut self, fin_in: bool, fin_out: bool, rst: bool, now: Instant) {
        self.fin_in |= fin_in;
        self.fin_out |= fin_out;
        self.rst |= rst;
        if self.closed() && self.closed_at.is_none() {
            self.closed_at = Some(now);
        }
    }

    /// A new SYN on the 4-tuple: a new subflow, the old one's state goes.
    pub(crate) fn reopen(&mut self) {
        self.fin_in = false;
        self.fin_out = false;
        self.rst = false;
        self.closed_at = None;
        self.snd_max = None;
        self.ack_max = None;
        self.rcv_max = None;
    }

    /// Could `ack` come from the real peer? It must acknowledge something
    /// between (a little before) the highest ACK the peer sent and the
    /// highest sequence we sent: a blind spoofer must guess it within that
    /// window of the 2^32 space, as for injecting data into TCP (RFC 5961
    /// section 5).
    pub(crate) fn plausible_ack(&self, ack: u32) -> bool {
        /// An older ACK (reordered) still counts.
        const SLACK: u32 = 1 << 16;
        let (Some(hi), Some(acked)) = (self.snd_max, self.ack_max) else {
            return false;
        };
        let lo = acked.wrapping_sub(SLACK);
        ack.wrapping_sub(lo) <= hi.wrapping_sub(lo)
    }
}

/// `a` is after `b` in the wrapping sequence space.
pub(crate) fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Raise `slot` to `v` if `v` is later.
pub(crate) fn raise(slot: &mut Option<u32>, v: u32) {
    match slot {
        Some(cur) if !seq_after(v, *cur) => {}
        _ => *slot = Some(v),
    }
}

/// Inner 4-tuple -> outer endpoint, at most `max` entries.
#[derive(Debug)]
pub(crate) struct MappingTable {
    map: HashMap<Key, Mapping>,
    max: usize,
    /// Entries that may be evicted (unconfirmed or closed): eviction scans
    /// the table only when it can free something, so a flood against a
    /// table full of live mappings costs a lookup per datagram, not a scan.
    evictable: usize,
    /// Mappings with a probe pending (bounded: [`MAX_PROBES`]).
    pub(crate) probing: Vec<Key>,
}

/// Rebindings validated at once, at most (each holds up to
/// [`HELD_MAX`] packets).
pub(crate) const MAX_PROBES: usize = 16;

/// Why [`MappingTable::insert`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull;

impl MappingTable {
    pub(crate) fn new(max: usize) -> MappingTable {
        MappingTable {
            map: HashMap::new(),
            max: max.max(1),
            evictable: 0,
            probing: Vec::new(),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Mapping> {
        self.map.get(key)
    }

    /// Change a mapping through `f`, keeping the eviction count right.
    pub(crate) fn update<R>(&mut self, key: &Key, f: impl FnOnce(&mut Mapping) -> R) -> Option<R> {
        let m = self.map.get_mut(key)?;
        let before = m.evictable();
        let r = f(m);
        let after = m.evictable();
        match (before, after) {
            (true, false) => self.evictable -= 1,
            (false, true) => self.evictable += 1,
            _ => {}
        }
        Some(r)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Add (or replace) a mapping. When the table is full, every evictable
    /// mapping (a SYN never followed up: a flood, a scan; or a subflow
    /// that closed) goes first; if none did, the insert is refused.
    pub(crate) fn insert(&mut self, key: Key, m: Mapping) -> Result<(), TableFull> {
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            if self.evictable == 0 {
                return Err(TableFull);
            }
            self.map.retain(|_, v| !v.evictable());
            self.evictable = 0;
            let map = &self.map;
            self.probing.retain(|k| map.contains_key(k));
        }
        if m.evictable() {
            self.evictable += 1;
        }
        if let Some(old) = self.map.insert(key, m) {
            if old.evictable() {
                self.evictable -= 1;
            }
        }
        Ok(())
    }

    /// Drop every mapping carried by socket `socket` (it was closed).
    pub(crate) fn remove_socket(&mut self, socket: usize) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| v.socket != socket);
        self.recount();
        before - self.map.len()
    }

    /// Drop mappings closed for `linger`, idle (nothing received) for
    /// `idle`, or unconfirmed for `idle`; returns how many went.
    pub(crate) fn expire(&mut self, now: Instant, idle: Duration, linger: Duration) -> usize {
        let before = self.map.len();
        self.map.retain(|_, m| {
            let closed_long = m.closed_at.is_some_and(|t| now - t >= linger);
            let silent = now - m.last_rx >= idle;
            !(closed_long || silent)
        });
        let removed = before - self.map.len();
        if removed > 0 {
            self.recount();
        }
        removed
    }

    fn recount(&mut self) {
        self.evictable = self.map.values().filter(|m| m.evictable()).count();
        let map = &self.map;
        self.probing.retain(|k| map.contains_key(k));
    }

    /// Every mapping, mutably, for the keepalive scan (which changes no
    /// field the eviction count depends on).
    pub(crate) fn for_each_live(&mut self, mut f: impl FnMut(&Key, &mut Mapping)) {
        for (k, m) in self.map.iter_mut() {
            if m.confirmed && !m.closed() {
                f(k, m);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn evictable_count(&self) -> usize {
        self.evictable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> Key {
        (
            "10.0.0.1:80".parse().unwrap(),
            SocketAddr::new("10.0.0.2".parse().unwrap(), n),
        )
    }

    fn m(confirmed: bool) -> Mapping {
        Mapping::new("192.0.2.1:9".parse().unwrap(), 0, confirmed, Instant::now())
    }

    #[test]
    fn a_full_table_evicts_unconfirmed_and_closed_then_refuses() {
        let mut t = MappingTable::new(3);
        t.insert(key(1), m(true)).unwrap();
        t.insert(key(2), m(false)).unwrap();
        t.insert(key(3), m(false)).unwrap();
        // Full: the two lone SYNs go, the confirmed one stays.
        t.insert(key(4), m(true)).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.get(&key(1)).is_some() && t.get(&key(2)).is_none());
        t.insert(key(5), m(true)).unwrap();
        assert_eq!(t.insert(key(6), m(false)), Err(TableFull));
        assert_eq!(t.len(), 3);
        // Replacing an existing key is always allowed.
        t.insert(key(5), m(false)).unwrap();
        t.update(&key(5), |m| m.confirmed = true);
        assert_eq!(t.insert(key(7), m(false)), Err(TableFull));
        assert_eq!(t.evictable_count(), 0);
        // A subflow that closed makes room.
        let now = Instant::now();
        t.update(&key(4), |m| m.note_close(false, false, true, now));
        assert_eq!(t.evictable_count(), 1);
        t.insert(key(7), m(false)).unwrap();
        assert!(t.get(&key(4)).is_none() && t.get(&key(7)).is_some());
    }

    #[test]
    fn closed_and_silent_mappings_expire() {
        let t0 = Instant::now();
        let mut t = MappingTable::new(10);
        t.insert(key(1), m(true)).unwrap();
        t.insert(key(2), m(true)).unwrap();
        t.insert(key(3), m(true)).unwrap();
        t.update(&key(1), |m| {
            m.note_close(true, false, false, t0);
            m.note_close(false, true, false, t0);
        });
        t.update(&key(2), |m| m.last_rx = t0 + Duration::from_secs(100));
        let (idle, linger) = (Duration::from_secs(120), Duration::from_secs(30));
        assert_eq!(t.expire(t0 + Duration::from_secs(29), idle, linger), 0);
        assert_eq!(t.expire(t0 + Duration::from_secs(30), idle, linger), 1);
        assert_eq!(t.expire(t0 + Duration::from_secs(130), idle, linger), 1);
        assert!(t.get(&key(2)).is_some() && t.get(&key(3)).is_none());
    }

    #[test]
    fn acks_are_plausible_only_inside_the_window() {
        let mut x = m(true);
        assert!(!x.plausible_ack(5), "nothing known yet");
        x.snd_max = Some(10_000);
        x.ack_max = Some(9_000);
        assert!(x.plausible_ack(10_000) && x.plausible_ack(9_000));
        assert!(x.plausible_ack(9_000u32.wrapping_sub(60_000)), "an old ACK");
        assert!(!x.plausible_ack(10_001), "acknowledges unsent data");
        assert!(!x.plausible_ack(9_000u32.wrapping_sub(70_000)));
        // Across the wrap.
        x.snd_max = Some(5);
        x.ack_max = Some(u32::MAX - 5);
        assert!(x.plausible_ack(2) && x.plausible_ack(u32::MAX));
        assert!(!x.plausible_ack(6));
    }
}
