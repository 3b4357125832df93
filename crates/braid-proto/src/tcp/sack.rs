//! The sender's scoreboard: every segment sent and not yet cumulatively
//! acknowledged, with its SACK and loss marks. Implements the loss
//! detection of RFC 6675 (`IsLost`, section 4; `pipe`, section 4;
//! `NextSeg` rule 1, section 4) and serves NewReno (RFC 6582) and RTO
//! recovery, which mark segments lost by other rules.

use crate::time::Instant;
use crate::wire::SeqNum;
use std::collections::VecDeque;

/// DupThresh of RFC 6675 / RFC 5681.
pub const DUP_THRESH: u32 = 3;

/// One transmitted segment.
#[derive(Debug, Clone)]
pub struct SentSegment {
    /// First sequence number.
    pub seq: SeqNum,
    /// Payload bytes.
    pub len: usize,
    /// Whether the segment carries the FIN.
    pub fin: bool,
    /// Time of the latest (re)transmission.
    pub sent_at: Instant,
    /// Ever retransmitted (Karn's algorithm).
    pub retransmitted: bool,
    /// Retransmitted during the current recovery episode (not marked lost
    /// again by `IsLost`; an RTO recovers a lost retransmission).
    pub recovery_rtx: bool,
    /// Covered by a SACK block.
    pub sacked: bool,
    /// Deemed lost and waiting for retransmission.
    pub lost: bool,
    /// Bytes in flight (`pipe`, this segment included) right after its
    /// original transmission: the window a loss of it happened at.
    pub flight_at_send: usize,
}

impl SentSegment {
    /// Length in sequence space.
    pub fn seq_len(&self) -> usize {
        self.len + usize::from(self.fin)
    }
    /// Sequence number after the segment.
    pub fn end(&self) -> SeqNum {
        self.seq + self.seq_len()
    }
}

/// What a cumulative ACK removed from the scoreboard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acked {
    /// Send time of the newest fully acknowledged segment.
    pub newest_sent_at: Option<Instant>,
    /// Whether any acknowledged segment had been retransmitted.
    pub any_retransmitted: bool,
    /// Whether the FIN was acknowledged.
    pub fin: bool,
    /// Bytes that had been SACKed and are now cumulatively acknowledged
    /// (RFC 6937 DeliveredData must not count them twice).
    pub sacked_bytes: usize,
}

/// The scoreboard.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    segs: VecDeque<SentSegment>,
    /// `pipe()`, kept up to date: the sender asks for it on every
    /// segment, and a scan would cost O(window) each time.
    pipe: usize,
    /// Segments marked lost (`first_lost` needs no scan when none is).
    lost: usize,
}

impl Scoreboard {
    /// Record a transmission of new data.
    pub fn push(&mut self, seg: SentSegment) {
        if seg.lost {
            self.lost += 1;
        } else if !seg.sacked {
            self.pipe += seg.seq_len();
        }
        self.segs.push_back(seg);
    }

    /// Recount `pipe` and `lost` after flags changed on many segments.
    fn recount(&mut self) {
        self.pipe = self
            .segs
            .iter()
            .filter(|s| !s.sacked && !s.lost)
            .map(SentSegment::seq_len)
            .sum();
        self.lost = self.segs.iter().filter(|s| s.lost).count();
    }

    /// Whether no segment is outstanding.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Number of outstanding segments.
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Access a segment.
    pub fn get(&self, i: usize) -> Option<&SentSegment> {
        self.segs.get(i)
    }

    /// Mutable access to a segment, for fields other than `sacked`,
    /// `lost`, `seq`, `len` and `fin` (which the counts depend on; see
    /// [`Scoreboard::clear_lost`]).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut SentSegment> {
        self.segs.get_mut(i)
    }

    /// Segment `i` is being retransmitted: no longer lost.
    pub fn clear_lost(&mut self, i: usize) {
        if let Some(s) = self.segs.get_mut(i) {
            if s.lost {
                s.lost = false;
                self.lost -= 1;
                if !s.sacked {
                    self.pipe += s.seq_len();
                }
            }
        }
    }

    /// Remove everything below the cumulative `ack`.
    pub fn ack(&mut self, ack: SeqNum) -> Acked {
        let mut out = Acked::default();
        while let Some(front) = self.segs.front_mut() {
            if front.end() <= ack {
                out.newest_sent_at = Some(front.sent_at);
                if front.sacked {
                    out.sacked_bytes += front.seq_len();
                }
                out.any_retransmitted |= front.retransmitted;
                out.fin |= front.fin;
                if front.lost {
                    self.lost -= 1;
                } else if !front.sacked {
                    self.pipe -= front.seq_len();
                }
                self.segs.pop_front();
            } else {
                if front.seq < ack {
                    // Partially acknowledged: keep the rest.
                    let cut = (ack - front.seq).min(front.len);
                    front.seq += cut;
                    front.len -= cut;
                    if !front.sacked && !front.lost {
                        self.pipe -= cut;
                    }
                }
                break;
            }
        }
        out
    }

    /// Mark segments covered by the peer's SACK blocks (RFC 2018 section
    /// 5). Blocks outside `(snd_una, snd_max]` or inverted are ignored
    /// (RFC 6675 section 5 only considers SACKs above the cumulative ACK).
    /// Returns the number of newly SACKed bytes.
    pub fn apply_sack(
        &mut self,
        blocks: &[(SeqNum, SeqNum)],
        snd_una: SeqNum,
        snd_max: SeqNum,
    ) -> usize {
        let mut newly = 0;
        for &(left, right) in blocks {
            if left >= right || left < snd_una || right > snd_max {
                continue;
            }
            for s in self.segs.iter_mut() {
                if !s.sacked && s.seq >= left && s.end() <= right {
                    s.sacked = true;
                    s.lost = false;
                    newly += s.seq_len();
                }
            }
        }
        if newly > 0 {
            self.recount();
        }
        newly
    }

    /// A retransmission is lost when a segment sent more than `reo_wnd`
    /// after it has been SACKed: the time-based rule of RACK (RFC 8985
    /// section 6.2, "a segment is deemed lost if ... a segment sent later
    /// was delivered" beyond the reordering window). RFC 6675 alone cannot
    /// see a lost retransmission and waits for the RTO. Returns how many
    /// segments were newly marked.
    pub fn mark_lost_retransmissions(&mut self, reo_wnd: crate::time::Duration) -> usize {
        let Some(latest) = self
            .segs
            .iter()
            .filter(|s| s.sacked)
            .map(|s| s.sent_at)
            .max()
        else {
            return 0;
        };
        let mut marked = 0;
        for s in self.segs.iter_mut() {
            if s.retransmitted && !s.sacked && !s.lost && s.sent_at + reo_wnd < latest {
                s.lost = true;
                marked += 1;
            }
        }
        if marked > 0 {
            self.recount();
        }
        marked
    }

    /// RFC 6675 `IsLost`: a segment is lost when "DupThresh discontiguous
    /// SACKed sequences" or more than `(DupThresh - 1) * SMSS` bytes above it
    /// have been SACKed. Returns how many segments were newly marked.
    pub fn mark_lost_by_sack(&mut self, mss: usize) -> usize {
        let mut sacked_bytes = 0usize;
        let mut sacked_count = 0u32;
        let mut marked = 0;
        for s in self.segs.iter_mut().rev() {
            if s.sacked {
                sacked_bytes += s.seq_len();
                sacked_count += 1;
                continue;
            }
            let lost = sacked_count >= DUP_THRESH || sacked_bytes > (DUP_THRESH as usize - 1) * mss;
            if lost && !s.lost && !s.recovery_rtx {
                s.lost = true;
                marked += 1;
            }
        }
        if marked > 0 {
            self.recount();
        }
        marked
    }

    /// Whether the first outstanding segment is lost (`IsLost(HighACK+1)`).
    pub fn first_is_lost(&self) -> bool {
        self.segs.front().is_some_and(|s| s.lost)
    }

    /// Mark the first outstanding segment lost (NewReno fast retransmit and
    /// partial ACKs, RFC 6582 section 3.2). Returns whether it was newly
    /// marked.
    pub fn mark_first_lost(&mut self) -> bool {
        match self.segs.front_mut() {
            Some(s) if !s.lost && !s.sacked => {
                s.lost = true;
                self.lost += 1;
                self.pipe -= s.seq_len();
                true
            }
            _ => false,
        }
    }

    /// After a retransmission timeout: everything outstanding is lost and
    /// SACK information is discarded (RFC 2018 section 8: "the data sender
    /// SHOULD turn off all of the SACKed bits"). Returns the count marked.
    pub fn mark_all_lost(&mut self) -> usize {
        let mut n = 0;
        for s in self.segs.iter_mut() {
            s.sacked = false;
            s.recovery_rtx = false;
            if !s.lost {
                s.lost = true;
                n += 1;
            }
        }
        self.recount();
        n
    }

    /// End of a recovery episode.
    pub fn end_recovery(&mut self) {
        for s in self.segs.iter_mut() {
            s.recovery_rtx = false;
        }
    }

    /// RFC 6675 `pipe`: bytes believed in the network (neither SACKed nor
    /// lost-and-not-retransmitted).
    pub fn pipe(&self) -> usize {
        debug_assert_eq!(
            self.pipe,
            self.segs
                .iter()
                .filter(|s| !s.sacked && !s.lost)
                .map(SentSegment::seq_len)
                .sum::<usize>()
        );
        self.pipe
    }

    /// NextSeg rule 1: the first segment marked lost.
    pub fn first_lost(&self) -> Option<usize> {
        debug_assert_eq!(self.lost, self.segs.iter().filter(|s| s.lost).count());
        if self.lost == 0 {
            return None;
        }
        self.segs.iter().position(|s| s.lost)
    }

    /// Split segment `i` so that it carries at most `len` payload bytes
    /// (used when a retransmission must be smaller than the original).
    pub fn split(&mut self, i: usize, len: usize) {
        let Some(s) = self.segs.get_mut(i) else {
            return;
        };
        if len == 0 || s.len <= len {
            return;
        }
        let mut tail = s.clone();
        tail.seq = s.seq + len;
        tail.len = s.len - len;
        s.len = len;
        s.fin = false;
        self.segs.insert(i + 1, tail);
        self.recount();
    }

    /// Highest SACKed sequence number, if any.
    pub fn sacked_count(&self) -> usize {
        self.segs.iter().filter(|s| s.sacked).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(n: usize) -> Scoreboard {
        let mut b = Scoreboard::default();
        for i in 0..n {
            b.push(SentSegment {
                seq: SeqNum(1000 + 100 * i as u32),
                len: 100,
                fin: false,
                sent_at: Instant::ZERO,
                retransmitted: false,
                recovery_rtx: false,
                sacked: false,
                lost: false,
                flight_at_send: 100 * (i + 1),
            });
        }
        b
    }

    /// RACK's rule (RFC 8985 section 6.2): a retransmission is lost once
    /// a segment sent after it, beyond the reordering window, is SACKed.
    #[test]
    fn lost_retransmission_detected_by_later_sack() {
        let mut b = board(6);
        let (una, max) = (SeqNum(1000), SeqNum(1600));
        let rtx_at = Instant::from_millis(500);
        if let Some(s) = b.get_mut(0) {
            s.retransmitted = true;
            s.recovery_rtx = true;
            s.sent_at = rtx_at;
        }
        b.apply_sack(&[(SeqNum(1100), SeqNum(1300))], una, max);
        let reo = crate::time::Duration::from_millis(10);
        // The SACKed segments were sent before the retransmission.
        assert_eq!(b.mark_lost_retransmissions(reo), 0);
        if let Some(s) = b.get_mut(5) {
            s.sent_at = rtx_at + crate::time::Duration::from_millis(5);
        }
        b.apply_sack(&[(SeqNum(1500), SeqNum(1600))], una, max);
        // Sent 5 ms later: within the reordering window.
        assert_eq!(b.mark_lost_retransmissions(reo), 0);
        if let Some(s) = b.get_mut(5) {
            s.sent_at = rtx_at + crate::time::Duration::from_millis(11);
        }
        assert_eq!(b.mark_lost_retransmissions(reo), 1);
        assert!(b.first_is_lost());
        assert_eq!(b.first_lost(), Some(0));
    }

    #[test]
    fn is_lost_after_three_sacked_above() {
        let mut b = board(6);
        let (una, max) = (SeqNum(1000), SeqNum(1600));
        b.apply_sack(&[(SeqNum(1200), SeqNum(1400))], una, max);
        assert_eq!(b.mark_lost_by_sack(100), 0);
        b.apply_sack(&[(SeqNum(1200), SeqNum(1500))], una, max);
        // Segments 0 and 1 have three SACKed segments above them.
        assert_eq!(b.mark_lost_by_sack(100), 2);
        assert_eq!(b.first_lost(), Some(0));
        assert_eq!(b.pipe(), 100); // only segment 5
    }

    #[test]
    fn bogus_sack_blocks_ignored() {
        let mut b = board(2);
        let n = b.apply_sack(
            &[
                (SeqNum(900), SeqNum(1100)),
                (SeqNum(1100), SeqNum(5000)),
                (SeqNum(1200), SeqNum(1100)),
            ],
            SeqNum(1000),
            SeqNum(1200),
        );
        assert_eq!(n, 0);
    }

    #[test]
    fn partial_ack_trims_front() {
        let mut b = board(2);
        let a = b.ack(SeqNum(1150));
        assert!(a.newest_sent_at.is_some());
        assert_eq!(b.get(0).map(|s| (s.seq, s.len)), Some((SeqNum(1150), 50)));
    }
}
