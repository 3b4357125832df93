//! SYN cookies (RFC 4987 section 3.6) and the stateless MP_CAPABLE server
//! (RFC 8684 section 3.1) for a listener under pressure.
//!
//! RFC 4987: "SYN cookies ... encode the state in the ISN of the SYN-ACK
//! ... and recover it from the ACK". The listener keeps nothing for a SYN
//! it answers this way; the third ACK proves the peer saw the SYN-ACK
//! (its acknowledgment number is the cookie plus one) and carries what the
//! connection needs. RFC 8684 section 3.1 makes MPTCP fit: the third ACK's
//! MP_CAPABLE carries both keys, "which enables the server to be
//! stateless". Here our key is also derived from the cookie, so the third
//! ACK must echo exactly the key the SYN-ACK carried.
//!
//! The cookie (our own layout, 32 bits):
//! - bits 5..32: 27 bits of HMAC-SHA256 under a secret over the 4-tuple, the
//!   peer's ISN, the 64-second period and the MSS index;
//! - bits 0..5: the period modulo 4 (2 bits) and the MSS index (3 bits,
//!   [`MSS_TABLE`]), masked by 5 bits of a second keyed hash of the 4-tuple
//!   and the peer's ISN.
//!
//! A cookie is valid during its period and the next (64 to 128 s). A forged
//! ACK passes with probability 2^-27 per try. With timestamps, the window
//! scale and SACK-permitted of the SYN travel in the low 5 bits of our
//! TSval ([`encode_tsval`]) and come back in the TSecr of the third ACK;
//! without timestamps the SYN-ACK offers neither (as Linux does), because
//! nothing would bring them back.

use super::{
    ConnEvent, Connection, CookieOpen, Duration, Endpoint, MpCapable, MptcpOption, PendingReply,
    Slot, SynCookies, TcpFlags, TcpOptions, TcpRepr, VERSION,
};
use crate::crypto::{self, hmac_sha256};
use crate::tcp::{CloseReason, TcpSocket};
use crate::time::Instant;
use crate::wire::SeqNum;
use core::net::{IpAddr, SocketAddr};

/// MSS values a cookie can carry (3 bits): common path MSSes, IPv4 and
/// IPv6; the SYN's MSS is rounded down to the nearest.
pub(super) const MSS_TABLE: [u16; 8] = [536, 1024, 1220, 1300, 1360, 1400, 1440, 1460];

/// Length of a cookie period, seconds.
const PERIOD_SECS: u64 = 64;

/// Bits of the TSval that carry the SYN's options.
const TS_BITS: u32 = 0x1f;
/// In those bits: no window scale.
const TS_NO_WSCALE: u32 = 0x0f;
/// In those bits: SACK permitted.
const TS_SACK: u32 = 0x10;

/// The secret behind every cookie of one endpoint.
#[derive(Clone)]
pub(super) struct CookieJar {
    secret: [u8; 32],
}

impl core::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieJar { .. }")
    }
}

/// The message keyed by the secret: a tag, the 4-tuple, then `extra`.
fn message(tag: u8, local: SocketAddr, remote: SocketAddr, extra: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + 2 * 18 + extra.len());
    m.push(tag);
    for addr in [local, remote] {
        match addr.ip() {
            IpAddr::V4(a) => m.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => m.extend_from_slice(&a.octets()),
        }
        m.extend_from_slice(&addr.port().to_be_bytes());
    }
    m.extend_from_slice(extra);
    m
}

fn period(now: Instant) -> u64 {
    now.total_millis() / 1000 / PERIOD_SECS
}

impl CookieJar {
    pub(super) fn new(secret: [u8; 32]) -> CookieJar {
        CookieJar { secret }
    }

    fn mac(&self, local: SocketAddr, remote: SocketAddr, isn: SeqNum, p: u64, mss: u8) -> u32 {
        let mut extra = [0u8; 13];
        extra[..4].copy_from_slice(&isn.0.to_be_bytes());
        extra[4..12].copy_from_slice(&p.to_be_bytes());
        extra[12] = mss;
        let h = hmac_sha256(&self.secret, &message(1, local, remote, &extra));
        u32::from_be_bytes([h[0], h[1], h[2], h[3]]) >> 5
    }

    fn mask(&self, local: SocketAddr, remote: SocketAddr, isn: SeqNum) -> u32 {
        let h = hmac_sha256(
            &self.secret,
            &message(2, local, remote, &isn.0.to_be_bytes()),
        );
        u32::from(h[0]) & 0x1f
    }

    /// The cookie ISN answering a SYN with ISN `isn` and MSS `mss` (536
    /// when absent, RFC 9293 section 3.7.1), and the MSS it stands for.
    pub(super) fn cookie(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        isn: SeqNum,
        mss: Option<u16>,
    ) -> (SeqNum, u16) {
        let mss = mss.unwrap_or(MSS_TABLE[0]);
        // The largest entry not above the peer's MSS (the first if none).
        let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8;
        let p = period(now);
        let low = ((p as u32 & 3) << 3) | u32::from(index);
        let cookie =
            (self.mac(local, remote, isn, p, index) << 5) | (low ^ self.mask(local, remote, isn));
        (SeqNum(cookie), MSS_TABLE[usize::from(index)])
    }

    /// The MSS a third ACK's cookie stands for, if the cookie is ours, for
    /// this 4-tuple and peer ISN, and of this period or the previous one.
    pub(super) fn check(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        isn: SeqNum,
        cookie: SeqNum,
    ) -> Option<u16> {
        let low = (cookie.0 & 0x1f) ^ self.mask(local, remote, isn);
        let index = (low & 7) as u8;
        let current = period(now);
        let p = [current, current.saturating_sub(1)]
            .into_iter()
            .find(|p| (*p as u32 & 3) == low >> 3)?;
        (self.mac(local, remote, isn, p, index) == cookie.0 >> 5)
            .then_some(MSS_TABLE[usize::from(index)])
    }

    /// Our MPTCP key for the connection a cookie opens.
    pub(super) fn key(&self, local: SocketAddr, remote: SocketAddr, cookie: SeqNum) -> u64 {
        let h = hmac_sha256(
            &self.secret,
            &message(3, local, remote, &cookie.0.to_be_bytes()),
        );
        u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    }
}

/// Our SYN-ACK's TSval carrying the SYN's window scale and SACK-permitted
/// in its low 5 bits, never above `tsval` (the connection's later TSvals
/// must not go backwards, RFC 7323 section 5.3): at most 31 ms early.
pub(super) fn encode_tsval(tsval: u32, window_scale: Option<u8>, sack: bool) -> u32 {
    let ws = window_scale.map_or(TS_NO_WSCALE, |s| u32::from(s.min(14)));
    let bits = ws | if sack { TS_SACK } else { 0 };
    let v = (tsval & !TS_BITS) | bits;
    if (v.wrapping_sub(tsval) as i32) > 0 {
        v.wrapping_sub(TS_BITS + 1)
    } else {
        v
    }
}

/// The window scale and SACK-permitted of the SYN, from the TSecr of the
/// third ACK.
pub(super) fn decode_tsecr(tsecr: u32) -> (Option<u8>, bool) {
    let ws = tsecr & TS_NO_WSCALE;
    (
        (ws != TS_NO_WSCALE).then_some(ws as u8),
        tsecr & TS_SACK != 0,
    )
}

/// The MP_CAPABLE of a SYN if MPTCP can be used with it: version 1 or
/// higher, flag `H`, no `B` (as `Connection::accept` decides).
fn usable_mp_capable(seg: &TcpRepr<'_>) -> Option<MpCapable> {
    seg.options.mptcp.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m)
            if m.version >= VERSION
                && m.flags & MpCapable::FLAG_HMAC_SHA256 != 0
                && m.flags & MpCapable::FLAG_EXTENSIBILITY == 0 =>
        {
            Some(*m)
        }
        _ => None,
    })
}

impl Endpoint {
    /// Whether third ACKs to a listener are checked for cookies: always
    /// with [`SynCookies::Always`], else while cookies sent lately may
    /// still come back (Linux checks only after a recent overflow too, so
    /// a stray ACK is not a free guess).
    pub(super) fn cookies_in_use(&self, now: Instant) -> bool {
        match self.config.syn_cookies {
            SynCookies::Never => false,
            SynCookies::Always => true,
            SynCookies::WhenFull => self
                .last_cookie
                .is_some_and(|t| now - t < Duration::from_secs(2 * PERIOD_SECS)),
        }
    }

    /// Early drop (RFC 4987 section 3.4, oldest first): make room for a
    /// new half-open connection without SYN cookies.
    pub(super) fn drop_oldest_half_open(&mut self) {
        let Some(h) = self.table.oldest_half_open() else {
            return;
        };
        self.table.remove(h);
        self.counters.half_open_dropped += 1;
        tracing::debug!(conn = %h, "half-open connection dropped");
        self.events.push_back((
            h,
            ConnEvent::Closed {
                reason: CloseReason::Timeout,
            },
        ));
    }

    /// Answer a SYN with a SYN cookie: a SYN-ACK built by a throw-away
    /// connection whose ISN is the cookie (and, for MPTCP, whose key comes
    /// from it), sent once; nothing is kept.
    pub(super) fn answer_with_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        if self.rsts.len() >= self.config.max_pending_rsts {
            self.counters.syn_cookie_queue_full += 1;
            return;
        }
        let (cookie, mss) =
            self.cookies
                .cookie(now, local, remote, seg.seq_number, seg.options.mss);
        let mut syn = seg.clone();
        syn.options.mss = Some(mss);
        // Without timestamps nothing brings the window scale and
        // SACK-permitted back, so the SYN-ACK must not offer them (a
        // window scale offered and forgotten would let the peer overrun
        // our buffer).
        if !(self.config.tcp.timestamps && seg.options.timestamps.is_some()) {
            syn.options.window_scale = None;
            syn.options.sack_permitted = false;
        }
        let options = self.listener(local).cloned().unwrap_or_default();
        let synack = if self.config.mptcp && usable_mp_capable(seg).is_some() {
            let config = self.conn_config(local.ip(), &options);
            let open = CookieOpen {
                iss: cookie,
                key: self.cookies.key(local, remote, cookie),
                syn_ack_sent: false,
            };
            Connection::accept_cookie(now, &config, (local, remote), &syn, open, &mut self.rng)
                .ok()
                .and_then(|mut c| c.poll_transmit(now))
                .map(|(_, _, _, s)| s)
        } else {
            let config = self.tcp_config(local.ip(), &options);
            TcpSocket::accept(now, config, local, remote, &syn, cookie)
                .ok()
                .and_then(|mut s| s.poll_transmit(now))
        };
        let Some(mut synack) = synack.filter(|s| s.header.flags.contains(TcpFlags::SYN)) else {
            // A SYN that cannot open a connection (SYN with FIN).
            self.counters.no_socket_dropped += 1;
            return;
        };
        let o = &syn.options;
        if let Some((tsval, tsecr)) = synack.header.options.timestamps {
            let tsval = encode_tsval(tsval, o.window_scale, o.sack_permitted);
            synack.header.options.timestamps = Some((tsval, tsecr));
        }
        self.counters.syn_cookies_sent += 1;
        self.last_cookie = Some(now);
        self.rsts.push_back(PendingReply {
            local,
            remote,
            seg: synack.header,
        });
    }

    /// A segment with ACK to a listener while cookies are in use: if it is
    /// the third ACK of a cookie handshake, open the connection (rebuilding
    /// the SYN from the cookie, the timestamps echo and the MP_CAPABLE
    /// with both keys) and hand it the ACK. Returns false when the cookie
    /// does not check out (the caller answers with a RST).
    pub(super) fn accept_cookie_ack(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let Some(ack) = seg.ack_number else {
            return false;
        };
        let (cookie, isn) = (ack - 1, seg.seq_number - 1);
        let Some(mss) = self.cookies.check(now, local, remote, isn, cookie) else {
            return false;
        };
        if self.table.len() >= self.config.max_connections {
            // Linux drops the ACK when the accept queue is full; the peer
            // retransmits.
            self.counters.syn_table_full += 1;
            return true;
        }
        let (window_scale, sack_permitted) = match seg.options.timestamps {
            Some((_, tsecr)) => decode_tsecr(tsecr),
            None => (None, false),
        };
        let mut syn = TcpRepr {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq_number: isn,
            ack_number: None,
            flags: TcpFlags::SYN,
            window_len: seg.window_len,
            urgent_ptr: 0,
            options: TcpOptions {
                mss: Some(mss),
                window_scale,
                sack_permitted,
                timestamps: seg.options.timestamps.map(|(tsval, _)| (tsval, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        // RFC 8684 section 3.1: the third ACK's MP_CAPABLE carries both
        // keys; its flags are the negotiated ones.
        let mpc = seg.options.mptcp.iter().find_map(|o| match o {
            MptcpOption::MpCapable(
                m @ MpCapable {
                    sender_key: Some(_),
                    receiver_key: Some(_),
                    ..
                },
            ) if m.flags & MpCapable::FLAG_HMAC_SHA256 != 0
                && m.flags & MpCapable::FLAG_EXTENSIBILITY == 0 =>
            {
                Some(*m)
            }
            _ => None,
        });
        let key = self.cookies.key(local, remote, cookie);
        let options = self.listener(local).cloned().unwrap_or_default();
        let slot = match mpc {
            Some(m) if self.config.mptcp => {
                if self.table.contains_token(crypto::token(key)) {
                    // The key cannot be drawn again (the peer echoed it):
                    // plain TCP, as for a missing MP_CAPABLE.
                    self.counters.mptcp_token_collisions += 1;
                    None
                } else {
                    syn.options.mptcp.push(MptcpOption::MpCapable(MpCapable {
                        version: VERSION,
                        flags: m.flags,
                        sender_key: None,
                        receiver_key: None,
                        data_len: None,
                        checksum: None,
                    }));
                    let config = self.conn_config(local.ip(), &options);
                    let open = CookieOpen {
                        iss: cookie,
                        key,
                        syn_ack_sent: true,
                    };
                    Connection::accept_cookie(
                        now,
                        &config,
                        (local, remote),
                        &syn,
                        open,
                        &mut self.rng,
                    )
                    .ok()
                    .map(|c| Slot::Mptcp(Box::new(c)))
                }
            }
            _ => None,
        };
        let slot = match slot {
            Some(s) => s,
            None => {
                let config = self.tcp_config(local.ip(), &options);
                match TcpSocket::accept_cookie(now, config, local, remote, &syn, cookie) {
                    Ok(s) => Slot::Tcp(s),
                    Err(_) => return false,
                }
            }
        };
        if matches!(slot, Slot::Mptcp(_)) {
            self.counters.mptcp_accepted += 1;
        }
        self.counters.accepted += 1;
        self.counters.syn_cookies_accepted += 1;
        let h = self.table.insert(slot);
        tracing::debug!(conn = %h, %local, %remote, "accept (SYN cookie)");
        self.events.push_back((h, ConnEvent::Accepted));
        if let Some(slot) = self.table.get_mut(h) {
            slot.handle_segment(now, (local, remote), seg);
        }
        self.touch(h);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:5555".parse().unwrap(),
        )
    }

    #[test]
    fn a_cookie_checks_for_its_tuple_isn_and_two_periods_only() {
        let jar = CookieJar::new([7; 32]);
        let (l, r) = addrs();
        let t = Instant::from_secs(1000);
        let (c, mss) = jar.cookie(t, l, r, SeqNum(42), Some(1460));
        assert_eq!(mss, 1460);
        assert_eq!(jar.check(t, l, r, SeqNum(42), c), Some(1460));
        // Still good in the next period, not in the one after.
        assert_eq!(
            jar.check(Instant::from_secs(1000 + 64), l, r, SeqNum(42), c),
            Some(1460)
        );
        assert_eq!(
            jar.check(Instant::from_secs(1000 + 192), l, r, SeqNum(42), c),
            None
        );
        // Another ISN, port, address, secret or cookie value: refused.
        assert_eq!(jar.check(t, l, r, SeqNum(43), c), None);
        let r2: SocketAddr = "10.0.0.2:5556".parse().unwrap();
        assert_eq!(jar.check(t, l, r2, SeqNum(42), c), None);
        assert_eq!(jar.check(t, r, l, SeqNum(42), c), None);
        assert_eq!(CookieJar::new([8; 32]).check(t, l, r, SeqNum(42), c), None);
        for bit in 0..32 {
            assert_eq!(
                jar.check(t, l, r, SeqNum(42), SeqNum(c.0 ^ (1 << bit))),
                None,
                "{bit}"
            );
        }
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        let jar = CookieJar::new([1; 32]);
        let (l, r) = addrs();
        let t = Instant::from_secs(5);
        for (offered, expected) in [
            (None, 536),
            (Some(100), 536),
            (Some(1439), 1400),
            (Some(1440), 1440),
            (Some(9000), 1460),
        ] {
            let (c, mss) = jar.cookie(t, l, r, SeqNum(1), offered);
            assert_eq!(mss, expected, "{offered:?}");
            assert_eq!(jar.check(t, l, r, SeqNum(1), c), Some(expected));
        }
    }

    #[test]
    fn forged_cookies_rarely_pass() {
        // 2^-27 per guess: 100,000 guesses all fail (expected 0.0007 passes).
        let jar = CookieJar::new([3; 32]);
        let (l, r) = addrs();
        let t = Instant::from_secs(100);
        let passed = (0..100_000u32)
            .filter(|i| {
                jar.check(t, l, r, SeqNum(9), SeqNum(i.wrapping_mul(2_654_435_761)))
                    .is_some()
            })
            .count();
        assert_eq!(passed, 0);
    }

    #[test]
    fn tsval_carries_window_scale_and_sack_and_never_runs_ahead() {
        for tsval in [0u32, 5, 31, 32, 1000, u32::MAX, 0x8000_0000] {
            for ws in [None, Some(0), Some(7), Some(14), Some(15)] {
                for sack in [false, true] {
                    let v = encode_tsval(tsval, ws, sack);
                    assert!((tsval.wrapping_sub(v) as i32) >= 0, "{tsval} {v}");
                    assert!(tsval.wrapping_sub(v) < 32);
                    assert_eq!(decode_tsecr(v), (ws.map(|s| s.min(14)), sack));
                }
            }
        }
    }

    #[test]
    fn keys_differ_per_cookie_and_tuple() {
        let jar = CookieJar::new([4; 32]);
        let (l, r) = addrs();
        assert_eq!(jar.key(l, r, SeqNum(1)), jar.key(l, r, SeqNum(1)));
        assert_ne!(jar.key(l, r, SeqNum(1)), jar.key(l, r, SeqNum(2)));
        assert_ne!(jar.key(l, r, SeqNum(1)), jar.key(r, l, SeqNum(1)));
    }
}
