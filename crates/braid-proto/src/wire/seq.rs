//! Sequence numbers with wrapping comparison.
//!
//! [`SeqNum`] is a TCP subflow sequence number (RFC 9293 section 3.4,
//! modulo 2^32). [`Dsn`] is an MPTCP data sequence number (RFC 8684 section
//! 3.3, 64 bits). The only place a 32-bit DSN is widened to 64 bits is
//! [`Dsn::expand`].

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number: arithmetic modulo 2^32, ordering by the sign of the
/// wrapped difference (RFC 9293 section 3.4). Comparing numbers more than
/// 2^31 apart is meaningless, as in TCP itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The signed distance `self - other`, interpreting the wrapped difference
    /// as an `i32`.
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The larger of two sequence numbers in wrapping order.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self > other { self } else { other }
    }
    /// The smaller of two sequence numbers in wrapping order.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self < other { self } else { other }
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeqNum {
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

/// Distance in bytes from `rhs` up to `self`. Saturates at zero when `rhs` is
/// after `self` (callers compare first when that matters).
impl Sub<SeqNum> for SeqNum {
    type Output = usize;
    fn sub(self, rhs: SeqNum) -> usize {
        let d = self.diff(rhs);
        if d < 0 { 0 } else { d as usize }
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An MPTCP data sequence number (RFC 8684 section 3.3): 64 bits, wrapping.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dsn(pub u64);

impl Dsn {
    /// Signed distance `self - other`.
    pub fn diff(self, other: Dsn) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }

    /// The low 32 bits, as carried in a DSS option without the `a`/`m` flag.
    pub fn low32(self) -> u32 {
        self.0 as u32
    }

    /// Expand a 32-bit data sequence number (or DATA_ACK) received on the
    /// wire to 64 bits, choosing the 64-bit value nearest to `near` whose low
    /// 32 bits are `low` (RFC 8684 section 3.3: "the implementation MUST keep
    /// the upper 32 bits ... implicitly"). `near` is the expected value: the
    /// next expected DSN for mappings, `snd_una` for DATA_ACKs.
    ///
    /// This is the only 32-to-64-bit expansion in Braid.
    pub fn expand(near: Dsn, low: u32) -> Dsn {
        let candidate = (near.0 & !0xffff_ffff) | u64::from(low);
        let c = Dsn(candidate);
        let d = c.diff(near);
        if d > i64::from(i32::MAX) {
            Dsn(candidate.wrapping_sub(1 << 32))
        } else if d < -i64::from(i32::MAX) - 1 {
            Dsn(candidate.wrapping_add(1 << 32))
        } else {
            c
        }
    }
}

impl PartialOrd for Dsn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dsn {
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u64> for Dsn {
    type Output = Dsn;
    fn add(self, rhs: u64) -> Dsn {
        Dsn(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u64> for Dsn {
    fn add_assign(&mut self, rhs: u64) {
        *self = *self + rhs;
    }
}

/// Distance in bytes from `rhs` up to `self`, saturating at zero.
impl Sub<Dsn> for Dsn {
    type Output = u64;
    fn sub(self, rhs: Dsn) -> u64 {
        let d = self.diff(rhs);
        if d < 0 { 0 } else { d as u64 }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({})", self.0)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seq_wraps() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b, SeqNum(9));
        assert!(b > a);
        assert_eq!(b - a, 20);
        assert_eq!(a - b, 0);
        assert_eq!(a.max(b), b);
    }

    #[test]
    fn dsn_expand_examples() {
        // Same epoch.
        assert_eq!(Dsn::expand(Dsn(0x1_0000_0010), 0x20), Dsn(0x1_0000_0020));
        // Low bits wrapped forward past the expected value.
        assert_eq!(Dsn::expand(Dsn(0x1_ffff_fff0), 0x10), Dsn(0x2_0000_0010));
        // An old value just behind a wrap.
        assert_eq!(
            Dsn::expand(Dsn(0x2_0000_0010), 0xffff_fff0),
            Dsn(0x1_ffff_fff0)
        );
        // Near zero, going back does not underflow into garbage.
        assert_eq!(Dsn::expand(Dsn(5), 3), Dsn(3));
    }

    proptest! {
        #[test]
        fn dsn_expand_recovers_nearby(base in any::<u64>(), delta in -(1i64 << 31) + 1..(1i64 << 31)) {
            let target = Dsn(base.wrapping_add(delta as u64));
            prop_assert_eq!(Dsn::expand(Dsn(base), target.low32()), target);
        }

        #[test]
        fn seq_order_matches_distance(a in any::<u32>(), d in 1u32..(1 << 31)) {
            let x = SeqNum(a);
            let y = x + d as usize;
            prop_assert!(y > x);
            prop_assert_eq!(y - x, d as usize);
        }
    }
}
