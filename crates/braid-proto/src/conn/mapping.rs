//! Receive-side DSS mappings (RFC 8684 section 3.3.1) and their validation.
//!
//! A mapping says that `data_len` bytes starting at relative subflow
//! sequence number `subflow_seq` carry the data sequence numbers starting
//! at `dsn`. Every verdict on a mapping is a [`MappingStatus`], computed
//! here, and [`MappingStatus::action`] is the one place that decides what
//! follows: carry on, fall back to TCP, send MP_FAIL, or reset the
//! subflow (as Linux `get_mapping_status` and `subflow_check_data_avail`).
//!
//! Rules enforced:
//! - "A Data Sequence Mapping ... with Data-Level Length of 0 and Subflow
//!   Sequence Number of 0 is an infinite mapping" (section 3.3.1); length 0
//!   with any other subflow sequence number is invalid.
//! - "the receiver MUST ... checksum" when negotiated: a mapping without a
//!   checksum then is invalid; a mismatch is a checksum failure (section
//!   3.3.1: "If the checksum is not present when its use has been
//!   negotiated, the receiver MUST close the subflow with a RST").
//! - A mapping that disagrees with an earlier one about the same subflow
//!   bytes is invalid (section 3.3.1: mappings are fixed once sent).

use crate::wire::{Dsn, SeqNum};
use std::collections::VecDeque;

/// One received mapping, in absolute numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMap {
    /// Absolute subflow sequence number of the first byte.
    pub ssn: SeqNum,
    /// DSN of the first byte.
    pub dsn: Dsn,
    /// Bytes of subflow data mapped (the DATA_FIN octet excluded).
    pub len: usize,
    /// The DSS checksum, when negotiated.
    pub checksum: Option<u16>,
    /// The length as sent (for the checksum pseudo-header).
    pub wire_len: u16,
    /// Relative subflow sequence number as sent (pseudo-header).
    pub wire_ssn: u32,
}

impl RxMap {
    /// One past the last mapped subflow byte.
    pub fn end(&self) -> SeqNum {
        self.ssn + self.len
    }

    /// Whether `seq` is inside the mapping.
    pub fn contains(&self, seq: SeqNum) -> bool {
        seq >= self.ssn && seq < self.end()
    }

    /// DSN of subflow byte `seq` (inside the mapping).
    pub fn dsn_of(&self, seq: SeqNum) -> Dsn {
        self.dsn + (seq - self.ssn) as u64
    }
}

/// The verdict on a mapping or on mapped data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingStatus {
    /// A new, consistent mapping.
    Ok,
    /// The same mapping again (retransmission): nothing to do.
    Duplicate,
    /// Infinite mapping (length 0, subflow sequence 0): fall back to TCP.
    Infinite,
    /// Contradicts an earlier mapping, zero length with a sequence number,
    /// or lacks the negotiated checksum.
    Invalid,
    /// Data arrived in order that no mapping covers.
    Unmapped,
    /// The DSS checksum over the mapped data did not match.
    BadChecksum,
}

/// What the connection does after a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingAction {
    /// Keep going.
    Continue,
    /// Fall back to plain TCP on this (only) subflow (section 3.7).
    Fallback,
    /// Send MP_FAIL and reset this subflow with MP_TCPRST (section 3.7:
    /// "If checksum verification fails ... the receiver MUST ... MP_FAIL";
    /// with other subflows left the subflow "MUST be closed with a RST").
    FailSubflow,
    /// Reset the subflow with MP_TCPRST "MPTCP-specific error".
    ResetSubflow,
    /// MP_FAIL and reset the whole connection: no other subflow carries the
    /// data and the bytes cannot be trusted.
    ResetConnection,
}

impl MappingStatus {
    /// The one decision: `others` is whether another usable subflow
    /// exists; `any_mapping_seen` whether the peer ever sent a mapping on
    /// this connection (if not, a middlebox stripped the options and the
    /// safe move is fallback, RFC 8684 section 3.7).
    pub fn action(self, others: bool, any_mapping_seen: bool) -> MappingAction {
        match self {
            MappingStatus::Ok | MappingStatus::Duplicate => MappingAction::Continue,
            MappingStatus::Infinite if !others => MappingAction::Fallback,
            MappingStatus::Infinite | MappingStatus::Invalid => MappingAction::ResetSubflow,
            MappingStatus::Unmapped if !others && !any_mapping_seen => MappingAction::Fallback,
            MappingStatus::Unmapped => MappingAction::ResetSubflow,
            MappingStatus::BadChecksum if others => MappingAction::FailSubflow,
            MappingStatus::BadChecksum => MappingAction::ResetConnection,
        }
    }
}

/// Judge a new mapping against those already held for the subflow.
pub fn check(maps: &VecDeque<RxMap>, new: &RxMap, checksum_required: bool) -> MappingStatus {
    if new.wire_len == 0 {
        return if new.wire_ssn == 0 {
            MappingStatus::Infinite
        } else {
            MappingStatus::Invalid
        };
    }
    if checksum_required && new.checksum.is_none() {
        return MappingStatus::Invalid;
    }
    for m in maps {
        if m == new {
            return MappingStatus::Duplicate;
        }
        // Without checksums, contiguous mappings are merged on receipt
        // (see `insert`): a retransmitted mapping inside a merged one, with
        // the same DSNs, is a duplicate.
        if !checksum_required
            && m.ssn <= new.ssn
            && new.end() <= m.end()
            && m.dsn_of(new.ssn) == new.dsn
        {
            return MappingStatus::Duplicate;
        }
        // Overlap: both must give the same DSN for the shared bytes.
        let lo = m.ssn.max(new.ssn);
        let hi = m.end().min(new.end());
        if lo < hi && m.dsn_of(lo) != new.dsn_of(lo) {
            return MappingStatus::Invalid;
        }
        if m.ssn == new.ssn && m.len != new.len && checksum_required {
            // Same start, other length: the checksummed unit changed.
            return MappingStatus::Invalid;
        }
    }
    MappingStatus::Ok
}

/// Record a mapping that [`check`] found `Ok`. Without checksums a mapping
/// that continues an earlier one in both subflow and data sequence space is
/// merged into it, so a bulk transfer mapped one segment at a time keeps a
/// handful of entries, not one per segment in the receive window. With
/// checksums every mapping stays whole (its checksum covers exactly it).
/// Returns whether a new entry was added.
pub fn insert(maps: &mut VecDeque<RxMap>, new: RxMap, checksum_required: bool) -> bool {
    if !checksum_required {
        if let Some(m) = maps
            .iter_mut()
            .find(|m| m.end() == new.ssn && m.dsn + m.len as u64 == new.dsn)
        {
            m.len += new.len;
            return false;
        }
        if let Some(m) = maps
            .iter_mut()
            .find(|m| new.end() == m.ssn && new.dsn + new.len as u64 == m.dsn)
        {
            m.ssn = new.ssn;
            m.dsn = new.dsn;
            m.len += new.len;
            m.wire_ssn = new.wire_ssn;
            return false;
        }
    }
    maps.push_back(new);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(ssn: u32, dsn: u64, len: usize) -> RxMap {
        RxMap {
            ssn: SeqNum(ssn),
            dsn: Dsn(dsn),
            len,
            checksum: None,
            wire_len: len as u16,
            wire_ssn: ssn,
        }
    }

    #[test]
    fn verdicts() {
        let mut maps = VecDeque::new();
        let a = map(1, 100, 10);
        assert_eq!(check(&maps, &a, false), MappingStatus::Ok);
        maps.push_back(a);
        assert_eq!(check(&maps, &a, false), MappingStatus::Duplicate);
        // Consistent overlap (a retransmission with other boundaries).
        assert_eq!(check(&maps, &map(5, 104, 10), false), MappingStatus::Ok);
        // Contradicting overlap.
        assert_eq!(
            check(&maps, &map(5, 200, 10), false),
            MappingStatus::Invalid
        );
        // Infinite mapping and a zero length with a sequence number.
        let mut inf = map(0, 100, 0);
        assert_eq!(check(&maps, &inf, false), MappingStatus::Infinite);
        inf.wire_ssn = 7;
        assert_eq!(check(&maps, &inf, false), MappingStatus::Invalid);
        // Missing checksum when negotiated.
        assert_eq!(check(&maps, &map(20, 120, 5), true), MappingStatus::Invalid);
        let mut c = map(20, 120, 5);
        c.checksum = Some(1);
        assert_eq!(check(&maps, &c, true), MappingStatus::Ok);
    }

    #[test]
    fn wrapping_subflow_sequence() {
        let mut maps = VecDeque::new();
        let a = map(u32::MAX - 4, 1000, 10);
        maps.push_back(a);
        assert!(a.contains(SeqNum(3)));
        assert_eq!(a.dsn_of(SeqNum(3)), Dsn(1008));
        assert_eq!(check(&maps, &map(2, 1007, 4), false), MappingStatus::Ok);
        assert_eq!(
            check(&maps, &map(2, 1006, 4), false),
            MappingStatus::Invalid
        );
    }

    #[test]
    fn actions() {
        use MappingAction::*;
        assert_eq!(MappingStatus::Ok.action(false, true), Continue);
        assert_eq!(MappingStatus::Infinite.action(false, true), Fallback);
        assert_eq!(MappingStatus::Infinite.action(true, true), ResetSubflow);
        assert_eq!(MappingStatus::Unmapped.action(false, false), Fallback);
        assert_eq!(MappingStatus::Unmapped.action(false, true), ResetSubflow);
        assert_eq!(MappingStatus::BadChecksum.action(true, true), FailSubflow);
        assert_eq!(
            MappingStatus::BadChecksum.action(false, true),
            ResetConnection
        );
        assert_eq!(MappingStatus::Invalid.action(false, true), ResetSubflow);
    }

    /// A bulk transfer mapped one segment at a time must not need one entry
    /// per segment of the window: contiguous mappings merge (without
    /// checksums), and a retransmitted segment's mapping inside the merged
    /// one is a duplicate, not a conflict. (Before, a 4 MiB window under
    /// loss overflowed the table, the oldest mapping was evicted while its
    /// data was still in a hole, and the subflow was reset as unmapped.)
    #[test]
    fn contiguous_mappings_merge_without_checksums() {
        let mut maps = VecDeque::new();
        for k in 0..10_000u32 {
            let m = map(1000 + k * 1448, 5000 + u64::from(k) * 1448, 1448);
            assert_eq!(check(&maps, &m, false), MappingStatus::Ok);
            insert(&mut maps, m, false);
        }
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].len, 10_000 * 1448);
        let again = map(1000 + 17 * 1448, 5000 + 17 * 1448, 1448);
        assert_eq!(check(&maps, &again, false), MappingStatus::Duplicate);
        let conflicting = map(1000 + 17 * 1448, 6000 + 17 * 1448, 1448);
        assert_eq!(check(&maps, &conflicting, false), MappingStatus::Invalid);
        // Out of order: a later block first, then the block before the gap,
        // then the gap, which extends the earlier block (the two blocks
        // that now touch stay two entries; both map consistently).
        let mut maps = VecDeque::new();
        insert(&mut maps, map(3000, 8000, 1000), false);
        insert(&mut maps, map(1000, 6000, 1000), false);
        insert(&mut maps, map(2000, 7000, 1000), false);
        assert_eq!(maps.len(), 2);
        assert!(maps.iter().any(|m| m.ssn == SeqNum(1000) && m.len == 2000));
        assert!(maps.iter().any(|m| m.ssn == SeqNum(3000) && m.len == 1000));
        // A block right before an existing one merges into its front.
        let mut maps = VecDeque::new();
        insert(&mut maps, map(3000, 8000, 1000), false);
        insert(&mut maps, map(2000, 7000, 1000), false);
        assert_eq!(maps.len(), 1);
        assert_eq!(
            (maps[0].ssn, maps[0].dsn, maps[0].len),
            (SeqNum(2000), Dsn(7000), 2000)
        );
        // With checksums every mapping stays whole.
        let mut maps = VecDeque::new();
        insert(&mut maps, map(1000, 6000, 1000), true);
        insert(&mut maps, map(2000, 7000, 1000), true);
        assert_eq!(maps.len(), 2);
    }
}
