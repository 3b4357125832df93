//! Which outer UDP endpoint (and which local socket) carries each inner
//! 4-tuple: learned from SYNs received and from segments sent, bounded.

use std::collections::HashMap;
use std::net::SocketAddr;

/// Default bound on the table, entries.
pub(crate) const DEFAULT_MAX_MAPPINGS: usize = 65536;

/// An inner 4-tuple seen from this side: (our address and port, the peer's).
pub(crate) type Key = (SocketAddr, SocketAddr);

/// Where one inner 4-tuple goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// The peer's outer UDP endpoint.
    pub(crate) outer: SocketAddr,
    /// Index of our socket that carries it.
    pub(crate) socket: usize,
    /// Something besides a lone SYN was seen or sent on it: the peer is
    /// real. Unconfirmed mappings are evicted first when the table is full.
    pub(crate) confirmed: bool,
}

/// Inner 4-tuple -> outer endpoint, at most `max` entries.
#[derive(Debug)]
pub(crate) struct MappingTable {
    map: HashMap<Key, Mapping>,
    max: usize,
    /// Entries with `confirmed == false`: eviction scans the table only
    /// when it can free something, so a flood against a table full of
    /// confirmed mappings costs a lookup per datagram, not a scan.
    unconfirmed: usize,
}

/// Why [`MappingTable::insert`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull;

impl MappingTable {
    pub(crate) fn new(max: usize) -> MappingTable {
        MappingTable {
            map: HashMap::new(),
            max: max.max(1),
            unconfirmed: 0,
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Mapping> {
        self.map.get(key)
    }

    /// Mark a mapping as confirmed (a segment other than a lone SYN).
    pub(crate) fn confirm(&mut self, key: &Key) {
        if let Some(m) = self.map.get_mut(key) {
            if !m.confirmed {
                m.confirmed = true;
                self.unconfirmed -= 1;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Add (or replace) a mapping. When the table is full, every
    /// unconfirmed mapping (a SYN that was never followed up: a flood, a
    /// scan) is evicted first; if none was, the insert is refused.
    pub(crate) fn insert(&mut self, key: Key, m: Mapping) -> Result<(), TableFull> {
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            if self.unconfirmed == 0 {
                return Err(TableFull);
            }
            self.map.retain(|_, v| v.confirmed);
            self.unconfirmed = 0;
        }
        if let Some(old) = self.map.insert(key, m) {
            if !old.confirmed {
                self.unconfirmed -= 1;
            }
        }
        if !m.confirmed {
            self.unconfirmed += 1;
        }
        Ok(())
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
        Mapping {
            outer: "192.0.2.1:9".parse().unwrap(),
            socket: 0,
            confirmed,
        }
    }

    #[test]
    fn a_full_table_evicts_unconfirmed_then_refuses() {
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
        t.confirm(&key(5));
        assert_eq!(t.insert(key(7), m(false)), Err(TableFull));
        assert_eq!(t.unconfirmed, 0);
    }
}
