//! The MPTCP handshakes: MP_CAPABLE (RFC 8684 section 3.1) and MP_JOIN
//! (section 3.2), as seen from incoming segments. What the subflow sends
//! during them is in `subflow.rs` (the outgoing hook).

use super::sendbuf::SendBuf;
use super::subflow::Role;
use super::{ConnConfig, ConnError, Connection};
use super::{Event, MptcpEvent};
use crate::crypto;
use crate::pm::PmEvent;
use crate::tcp::TcpSocket;
use crate::time::Instant;
use crate::wire::mptcp::{MpCapable, MpJoin, MptcpOption, VERSION, rst_reason};
use crate::wire::{IgnoredOptions, SeqNum, TcpFlags, TcpRepr};
use core::net::SocketAddr;
use rand::Rng;

/// What a SYN cookie fixes for the connection it opens: our ISN and our
/// MPTCP key (the endpoint derives both from the cookie secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOpen {
    /// Our initial sequence number: the cookie.
    pub iss: SeqNum,
    /// Our MPTCP key, sent in the SYN-ACK and echoed in the third ACK.
    pub key: u64,
    /// Whether the SYN-ACK already left (statelessly): the connection then
    /// waits for the third ACK with nothing to send. Otherwise its first
    /// segment is the SYN-ACK.
    pub syn_ack_sent: bool,
}

impl Connection {
    /// Passive open of an MPTCP connection whose ISN and key come from a
    /// SYN cookie, for a listener under pressure. RFC 8684 section 3.1 lets
    /// the server stay stateless until the third ACK, which "MUST include
    /// the MP_CAPABLE option with both keys"; with RFC 4987 SYN cookies the
    /// endpoint answers the SYN from a throw-away connection built here
    /// (`syn_ack_sent` false) and builds the real one (`syn_ack_sent` true)
    /// only when the third ACK's cookie and echoed key check out. `syn`
    /// must carry a usable MP_CAPABLE (version 1, flag `H`, no `B`; the
    /// endpoint checks); its flag `A` turns checksums on.
    pub fn accept_cookie<R: Rng + ?Sized>(
        now: Instant,
        config: &ConnConfig,
        (local, remote): (SocketAddr, SocketAddr),
        syn: &TcpRepr<'_>,
        cookie: CookieOpen,
        rng: &mut R,
    ) -> Result<Connection, ConnError> {
        let mut c = Connection::new(config, false, local, rng);
        c.local_key = cookie.key;
        c.local_token = crypto::token(cookie.key);
        let idsn = c.config.first_dsn(cookie.key);
        c.send = SendBuf::new(idsn, c.config.send_buffer);
        c.peer_window_right = idsn;
        c.orp_mark = idsn;
        c.data_rtx_una = idsn;
        let tcp = c.config.tcp.clone();
        let tcp = if cookie.syn_ack_sent {
            TcpSocket::accept_cookie(now, tcp, local, remote, syn, cookie.iss)
        } else {
            TcpSocket::accept(now, tcp, local, remote, syn, cookie.iss)
        }
        .map_err(|_| ConnError::NotSyn)?;
        let flags = syn.options.mptcp.iter().find_map(|o| match o {
            MptcpOption::MpCapable(m) => Some(m.flags),
            _ => None,
        });
        c.checksum |= flags.unwrap_or(0) & MpCapable::FLAG_CHECKSUM != 0;
        c.mib.mp_capable_syn_rx += 1;
        c.add_subflow(tcp, Role::CapableServer);
        Ok(c)
    }

    /// Count in the MIB the options the wire layer skipped in a segment of
    /// this connection (the endpoint calls this for every segment, the
    /// opening SYN included). Skipping, not dropping the segment, is what
    /// Linux does: `mptcp_parse_option` ignores an option it cannot use.
    pub fn count_ignored_options(&mut self, ignored: &IgnoredOptions) {
        self.mib.mptcp_unknown_subtype_rx += u64::from(ignored.mptcp_unknown_subtype);
        self.mib.mp_capable_bad_version += u64::from(ignored.mptcp_bad_version);
        self.mib.malformed_option_rx +=
            u64::from(ignored.mptcp_malformed) + u64::from(ignored.tcp_malformed);
        self.mib.excess_option_rx += u64::from(ignored.excess);
    }

    /// Handshake options; returns whether the subflow is now established
    /// and the segment's other options should be processed.
    pub(super) fn handshake(&mut self, now: Instant, i: usize, seg: &TcpRepr<'_>) -> bool {
        let synack = seg.flags.contains(TcpFlags::SYN) && seg.ack_number.is_some();
        let synchronized = self.subflows[i].tcp.state().is_synchronized();
        match self.subflows[i].role() {
            Role::CapableClient if synack => {
                // After SYNs without MP_CAPABLE (see `drop_mp_capable`) a
                // SYN/ACK with one answers an earlier SYN; the third ACK
                // will carry none, and the server falls back too.
                let mpc = seg
                    .options
                    .mptcp
                    .iter()
                    .find_map(|o| match o {
                        MptcpOption::MpCapable(m) => Some(*m),
                        _ => None,
                    })
                    .filter(|_| !self.subflows[i].mp_capable_dropped());
                match mpc {
                    Some(MpCapable {
                        version: VERSION,
                        flags,
                        sender_key: Some(key),
                        ..
                    }) if flags & MpCapable::FLAG_HMAC_SHA256 != 0
                        && flags & MpCapable::FLAG_EXTENSIBILITY == 0 =>
                    {
                        self.checksum |= flags & MpCapable::FLAG_CHECKSUM != 0;
                        self.peer_no_join_initial = flags & MpCapable::FLAG_NO_JOIN_TO_SRC != 0;
                        self.set_remote_key(key);
                        self.subflows[i].set_established();
                        let wnd = self.subflows[i].tcp.stats().snd_wnd;
                        self.peer_window_right = self.send.una() + wnd as u64;
                    }
                    Some(_) => {
                        self.mib.mp_capable_bad_version += 1;
                        self.mib.mp_capable_active_fallback += 1;
                        self.enter_fallback(i);
                    }
                    None => {
                        // RFC 8684 section 3.7: MP_CAPABLE missing from the
                        // SYN/ACK (peer without MPTCP, or stripped): plain
                        // TCP.
                        self.mib.mp_capable_active_fallback += 1;
                        self.enter_fallback(i);
                    }
                }
                false
            }
            Role::CapableServer if synchronized => {
                let mpc = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpCapable(m) => Some(*m),
                    _ => None,
                });
                match mpc {
                    Some(MpCapable {
                        sender_key: Some(key),
                        receiver_key: Some(ours),
                        ..
                    }) if ours == self.local_key => {
                        self.set_remote_key(key);
                        self.subflows[i].set_established();
                        let wnd = self.subflows[i].tcp.stats().snd_wnd;
                        self.peer_window_right = self.send.una() + wnd as u64;
                        true
                    }
                    Some(_) => {
                        self.mib.mp_capable_bad_key += 1;
                        self.mib.mp_capable_passive_fallback += 1;
                        self.enter_fallback(i);
                        false
                    }
                    None => {
                        // The third ACK lost its MP_CAPABLE: fall back (as
                        // Linux MPCapableFallbackACK).
                        self.mib.mp_capable_passive_fallback += 1;
                        self.enter_fallback(i);
                        false
                    }
                }
            }
            Role::JoinInitiator if synack => {
                let Some(remote_key) = self.remote_key else {
                    return false;
                };
                let join = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::SynAck {
                        backup,
                        addr_id,
                        hmac,
                        nonce,
                    }) => Some((*backup, *addr_id, *hmac, *nonce)),
                    _ => None,
                });
                let rto = self.subflows_rto(i);
                let local_key = self.local_key;
                // RFC 8684 section 3.2: "If the HMAC ... is not valid, the
                // initiator MUST close the subflow with a RST".
                let good = join.is_some_and(|j| {
                    self.subflows[i].on_join_synack(now, rto, local_key, remote_key, j)
                });
                if !good {
                    self.mib.mp_join_synack_hmac_failure += 1;
                    self.reset_subflow(i, rst_reason::MPTCP_ERROR);
                }
                false
            }
            Role::JoinInitiator if synchronized && self.subflows[i].join_ack_pending() => {
                // RFC 8684 section 3.2: the initiator waits for the ACK of
                // its third ACK before sending data; any later segment
                // from the responder is that ACK.
                self.subflow_established(now, i);
                true
            }
            Role::JoinResponder if synchronized => {
                let hmac = seg.options.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::Ack { hmac }) => Some(*hmac),
                    _ => None,
                });
                let s = &self.subflows[i];
                let valid = match (hmac, self.remote_key) {
                    (Some(h), Some(k)) => s.join_ack_valid(self.local_key, k, &h),
                    _ => false,
                };
                // RFC 8684 section 3.2: "If the HMAC is invalid ... the
                // subflow MUST be closed with a RST". The MP_TCPRST reason
                // is "MPTCP-specific error", as current Linux uses on both
                // sides (subflow.c, after a 2025 stable fix moved the
                // server side off "administratively prohibited").
                if valid {
                    self.mib.mp_join_ack_rx += 1;
                    self.subflow_established(now, i);
                    // The fourth ACK tells the initiator it may send.
                    self.subflows[i].tcp.request_ack();
                    true
                } else {
                    self.mib.mp_join_ack_hmac_failure += 1;
                    self.reset_subflow(i, rst_reason::MPTCP_ERROR);
                    false
                }
            }
            _ => false,
        }
    }

    fn subflow_established(&mut self, now: Instant, i: usize) {
        let s = &mut self.subflows[i];
        s.join_established();
        let (id, local, remote, backup) = (s.id(), s.tcp.local(), s.tcp.remote(), s.is_backup());
        self.events
            .push_back(Event::Mptcp(MptcpEvent::SubflowEstablished {
                id,
                local,
                remote,
            }));
        self.note_success(local.ip(), remote);
        self.pm_event(
            now,
            PmEvent::SubflowEstablished {
                local,
                remote,
                backup,
            },
        );
    }

    fn set_remote_key(&mut self, key: u64) {
        if self.remote_key.is_none() {
            self.remote_key = Some(key);
            self.recv.reset(self.config.first_dsn(key));
        }
    }
}
