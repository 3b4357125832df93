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

/// The longest a merged mapping may grow (see [`insert`]). Every
/// comparison of subflow sequence numbers is modulo 2^32 and only
/// meaningful within 2^31, so a mapping must stay well below that; a
/// subflow's window (at most 2^30, RFC 7323 section 2.3) bounds what a
/// mapping holds beyond the read edge, and [`consume`] trims what the
/// connection read.
pub const MAX_MERGED_LEN: usize = 1 << 30;

/// Judge a new mapping against those already held for the subflow.
/// `consumed` is the subflow's read edge: the first subflow byte not yet
/// moved to the data level; a mapping wholly before it is a retransmission
/// of bytes already delivered.
pub fn check(
    maps: &VecDeque<RxMap>,
    new: &RxMap,
    checksum_required: bool,
    consumed: SeqNum,
) -> MappingStatus {
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
    if new.end() <= consumed {
        return MappingStatus::Duplicate;
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
        let fits = |m: &RxMap| m.len + new.len <= MAX_MERGED_LEN;
        if let Some(m) = maps
            .iter_mut()
            .find(|m| m.end() == new.ssn && m.dsn + m.len as u64 == new.dsn && fits(m))
        {
            m.len += new.len;
            return false;
        }
        if let Some(m) = maps
            .iter_mut()
            .find(|m| new.end() == m.ssn && new.dsn + new.len as u64 == m.dsn && fits(m))
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

/// Forget what the connection read: mappings that end at or before the
/// read edge `seq` go, and without checksums a mapping that `seq` falls in
/// loses its consumed head (its DSN moves with it). Merged mappings thus
/// stay as long as the bytes still to read, never growing with the
/// transfer; a mapping longer than 2^31 would make every wrapping
/// comparison on it meaningless (the receiver used to stop at exactly
/// 2 GiB that way). With checksums a mapping stays whole: its checksum
/// covers exactly it, and it is consumed whole.
pub fn consume(maps: &mut VecDeque<RxMap>, seq: SeqNum, checksum_required: bool) {
    maps.retain_mut(|m| {
        if m.end() <= seq {
            return false;
        }
        if !checksum_required && m.ssn < seq {
            let head = seq - m.ssn;
            m.ssn = seq;
            m.dsn += head as u64;
            m.len -= head;
        }
        true
    });
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
        assert_eq!(check(&maps, &a, false, SeqNum(0)), MappingStatus::Ok);
        maps.push_back(a);
        assert_eq!(check(&maps, &a, false, SeqNum(0)), MappingStatus::Duplicate);
        // Consistent overlap (a retransmission with other boundaries).
        assert_eq!(
            check(&maps, &map(5, 104, 10), false, SeqNum(0)),
            MappingStatus::Ok
        );
        // Contradicting overlap.
        assert_eq!(
            check(&maps, &map(5, 200, 10), false, SeqNum(0)),
            MappingStatus::Invalid
        );
        // Infinite mapping and a zero length with a sequence number.
        let mut inf = map(0, 100, 0);
        assert_eq!(
            check(&maps, &inf, false, SeqNum(0)),
            MappingStatus::Infinite
        );
        inf.wire_ssn = 7;
        assert_eq!(check(&maps, &inf, false, SeqNum(0)), MappingStatus::Invalid);
        // Missing checksum when negotiated.
        assert_eq!(
            check(&maps, &map(20, 120, 5), true, SeqNum(0)),
            MappingStatus::Invalid
        );
        let mut c = map(20, 120, 5);
        c.checksum = Some(1);
        assert_eq!(check(&maps, &c, true, SeqNum(0)), MappingStatus::Ok);
    }

    #[test]
    fn wrapping_subflow_sequence() {
        let mut maps = VecDeque::new();
        let a = map(u32::MAX - 4, 1000, 10);
        maps.push_back(a);
        assert!(a.contains(SeqNum(3)));
        assert_eq!(a.dsn_of(SeqNum(3)), Dsn(1008));
        assert_eq!(
            check(&maps, &map(2, 1007, 4), false, SeqNum(0)),
            MappingStatus::Ok
        );
        assert_eq!(
            check(&maps, &map(2, 1006, 4), false, SeqNum(0)),
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
            assert_eq!(check(&maps, &m, false, SeqNum(0)), MappingStatus::Ok);
            insert(&mut maps, m, false);
        }
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].len, 10_000 * 1448);
        let again = map(1000 + 17 * 1448, 5000 + 17 * 1448, 1448);
        assert_eq!(
            check(&maps, &again, false, SeqNum(0)),
            MappingStatus::Duplicate
        );
        let conflicting = map(1000 + 17 * 1448, 6000 + 17 * 1448, 1448);
        assert_eq!(
            check(&maps, &conflicting, false, SeqNum(0)),
            MappingStatus::Invalid
        );
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

    /// The 2 GiB receiver stop: a bulk transfer mapped one segment at a
    /// time merged into one mapping that grew with the transfer; past
    /// 2^31 bytes its wrapping comparisons failed and the next in-order
    /// byte was "unmapped". Consumed, the mapping keeps only what is left
    /// to read, across 2^31 and 2^32 of subflow sequence (from an ISN just
    /// below the wrap) and the 32-bit DSN wrap.
    #[test]
    fn merged_mapping_consumed_across_every_boundary() {
        let irs = SeqNum(u32::MAX - 1000);
        let first_dsn = Dsn((1u64 << 32) - 5000);
        let seg = 60_000usize;
        let mut maps = VecDeque::new();
        let mut read = irs + 1;
        let mut dsn = first_dsn;
        // A window of 16 segments ahead of the read edge.
        let mut next_ssn = irs + 1;
        let mut next_dsn = first_dsn;
        let total: u64 = (1 << 33) + 12_345;
        let mut moved: u64 = 0;
        while moved < total {
            while next_ssn - read < 16 * seg {
                let m = RxMap {
                    ssn: next_ssn,
                    dsn: next_dsn,
                    len: seg,
                    checksum: None,
                    wire_len: seg as u16,
                    wire_ssn: next_ssn.0.wrapping_sub(irs.0),
                };
                assert_eq!(
                    check(&maps, &m, false, read),
                    MappingStatus::Ok,
                    "at {moved}"
                );
                insert(&mut maps, m, false);
                next_ssn += seg;
                next_dsn += seg as u64;
            }
            // A retransmitted old segment's mapping is a duplicate.
            if moved > seg as u64 {
                let old = RxMap {
                    ssn: read - seg,
                    dsn: dsn + 0u64,
                    len: seg,
                    checksum: None,
                    wire_len: seg as u16,
                    wire_ssn: 0,
                };
                let old = RxMap {
                    dsn: Dsn(old.dsn.0.wrapping_sub(seg as u64)),
                    ..old
                };
                assert_eq!(check(&maps, &old, false, read), MappingStatus::Duplicate);
            }
            consume(&mut maps, read, false);
            let m = maps.iter().find(|m| m.contains(read)).copied();
            let m = m.unwrap_or_else(|| panic!("unmapped at {moved} bytes"));
            assert_eq!(m.dsn_of(read), dsn, "at {moved} bytes");
            assert!(m.len <= 17 * seg, "mapping grew to {} at {moved}", m.len);
            // Read an odd amount so the edge falls inside segments.
            let n = 7 * seg / 3;
            read += n;
            dsn += n as u64;
            moved += n as u64;
        }
        assert!(dsn.0 > 1 << 33, "crossed the 32-bit DSN wrap");
    }

    /// Merging stops at [`MAX_MERGED_LEN`], whatever the peer sends.
    #[test]
    fn merging_is_bounded() {
        let mut maps = VecDeque::new();
        let seg = 65_000usize;
        let n = MAX_MERGED_LEN / seg + 10;
        for k in 0..n {
            let m = map((k * seg) as u32, (k * seg) as u64, seg);
            insert(&mut maps, m, false);
        }
        assert_eq!(maps.len(), 2);
        assert!(maps.iter().all(|m| m.len <= MAX_MERGED_LEN));
    }
}
