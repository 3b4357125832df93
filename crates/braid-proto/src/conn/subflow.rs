//! One subflow of a connection: a [`TcpSocket`] plus the MPTCP state riding
//! on it, and the [`SegmentHooks`] that write MPTCP options on its
//! segments (RFC 8684 sections 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7).
//!
//! The subflow owns its MPTCP state (as Linux keeps it in `subflow.c`):
//! its fields are private to this module, and the connection, which keeps
//! the data level (send buffer, reassembly, DATA_ACK/DATA_FIN, verdicts),
//! works it through methods: hand it a chunk ([`Subflow::write_chunk`]),
//! take the next mapped bytes ([`Subflow::take_mapped`]), detect a stall
//! ([`Subflow::detect_stall`]), run its join handshake
//! ([`Subflow::on_join_synack`], [`Subflow::join_ack_valid`],
//! [`Subflow::join_ack_timer`]).
//!
//! Sending: the connection writes a *chunk* of data-level bytes into the
//! subflow only when everything written before was already segmented, so
//! no segment ever spans two chunks; each segment carries the DSS mapping
//! of its chunk (a mapping may cover several segments, section 3.3.1), and
//! the chunk's DSS checksum is computed once when it is written.

use super::SubflowId;
use crate::crypto;
use crate::mib::Mib;
use crate::tcp::{self, OutgoingInfo, Segment, SegmentHooks, TcpSocket};
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{AddAddr, Dss, DssMapping, MpCapable, MpJoin, MptcpOption, VERSION};
use crate::wire::{Dsn, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use arrayvec::ArrayVec;
use std::collections::VecDeque;

use super::mapping::{self, RxMap};

/// How the subflow was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// First subflow, we sent the MP_CAPABLE SYN.
    CapableClient,
    /// First subflow, we answered an MP_CAPABLE SYN.
    CapableServer,
    /// We sent the MP_JOIN SYN.
    JoinInitiator,
    /// We answered an MP_JOIN SYN.
    JoinResponder,
    /// Plain TCP (fallback): no MPTCP options at all.
    Plain,
}

/// Data-level bytes written into the subflow.
#[derive(Debug, Clone, Copy)]
pub(super) struct TxChunk {
    pub ssn: SeqNum,
    pub dsn: Dsn,
    pub len: usize,
    pub checksum: Option<u16>,
    pub reinjected: bool,
}

impl TxChunk {
    pub fn end(&self) -> SeqNum {
        self.ssn + self.len
    }

    /// Data sequence number after the chunk's last byte.
    pub fn dsn_end(&self) -> Dsn {
        self.dsn + self.len as u64
    }
}

/// MPTCP state of one subflow (private to this module).
#[derive(Debug)]
struct SubflowMp {
    id: SubflowId,
    role: Role,
    iss: SeqNum,
    local_addr_id: u8,
    remote_addr_id: u8,
    /// We asked for this subflow to be a backup.
    backup: bool,
    /// The peer asked for it (MP_JOIN or MP_PRIO `B`).
    peer_backup: bool,
    /// MPTCP handshake done: the subflow may carry data.
    established: bool,
    /// Client of MP_CAPABLE: the peer's DSS was seen, so the keys arrived
    /// and MP_CAPABLE is no longer repeated (RFC 8684 section 3.1).
    fully_established: bool,
    nonce_local: u32,
    nonce_remote: u32,
    /// Join initiator: the third-ACK HMAC to send until the peer ACKs it.
    join_ack_hmac: Option<[u8; 20]>,
    /// Join initiator: when to resend the third ACK if still unanswered.
    join_ack_rtx: Option<Instant>,
    /// Join initiator: third-ACK retransmissions so far.
    join_ack_tries: u32,
    tx_chunks: VecDeque<TxChunk>,
    /// Subflow sequence number after the last byte written.
    write_end: SeqNum,
    rx_maps: VecDeque<RxMap>,
    /// Plain-TCP receive after fallback: (subflow seq, DSN) of one byte.
    rx_fallback: Option<(SeqNum, Dsn)>,
    /// MP_TCPRST reason on our RST.
    rst_reason: Option<u8>,
    /// MP_TCPRST reason on the peer's RST.
    rst_received: Option<u8>,
    /// The peer's MP_TCPRST had the T (transient) flag: it may be
    /// re-established (RFC 8684 section 3.6).
    rst_transient: bool,
    /// The last segment accepted on the established subflow carried no
    /// MPTCP option at all (a middlebox strips them).
    options_vanished: bool,
    /// When a segment was last accepted on it.
    last_heard: Option<Instant>,
    /// MP_FAIL to send (on the RST when resetting).
    mp_fail: Option<Dsn>,
    want_data_fin: bool,
    send_prio: Option<bool>,
    echo: Option<AddAddr>,
    announce: Option<AddAddr>,
    remove: Option<ArrayVec<u8, 37>>,
    stalled: bool,
    /// SYNs no longer carry MP_CAPABLE (see `drop_mp_capable`).
    mpc_dropped: bool,
    last_rto_count: u64,
    last_tail_loss_probes: u64,
    last_bytes_acked: u64,
    /// Data-level bytes scheduled on / delivered from this subflow.
    data_sent: u64,
    data_received: u64,
    closed: bool,
}

impl SubflowMp {
    fn new(id: SubflowId, role: Role, iss: SeqNum) -> SubflowMp {
        SubflowMp {
            id,
            role,
            iss,
            local_addr_id: 0,
            remote_addr_id: 0,
            backup: false,
            peer_backup: false,
            established: false,
            fully_established: false,
            nonce_local: 0,
            nonce_remote: 0,
            join_ack_hmac: None,
            join_ack_rtx: None,
            join_ack_tries: 0,
            tx_chunks: VecDeque::new(),
            write_end: iss + 1,
            rx_maps: VecDeque::new(),
            rx_fallback: None,
            rst_reason: None,
            rst_received: None,
            rst_transient: false,
            options_vanished: false,
            last_heard: None,
            mp_fail: None,
            want_data_fin: false,
            send_prio: None,
            echo: None,
            announce: None,
            remove: None,
            stalled: false,
            mpc_dropped: false,
            last_rto_count: 0,
            last_tail_loss_probes: 0,
            last_bytes_acked: 0,
            data_sent: 0,
            data_received: 0,
            closed: false,
        }
    }

    /// Whether options wait for a pure ACK.
    fn wants_pure_ack(&self) -> bool {
        self.want_data_fin
            || self.send_prio.is_some()
            || self.echo.is_some()
            || self.announce.is_some()
            || self.remove.is_some()
            || (self.join_ack_hmac.is_some() && !self.established)
    }
}

/// One subflow: its TCP socket (driven by the connection for segment
/// I/O and timers) and its MPTCP state (worked through methods).
#[derive(Debug)]
pub(super) struct Subflow {
    pub tcp: TcpSocket,
    mp: SubflowMp,
}

/// What [`Subflow::take_mapped`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RxStep {
    /// `len` bytes at `dsn` are in the buffer.
    Data { dsn: Dsn, len: usize },
    /// Nothing to take now (no bytes, no room, or a mapping not yet
    /// complete under checksums).
    Blocked,
    /// In-order bytes no mapping covers (`seq`: the first).
    Unmapped { seq: SeqNum },
    /// A mapping entered past its start under checksums.
    Invalid { dsn: Dsn, at: (SeqNum, Dsn) },
    /// A complete mapping failed its DSS checksum.
    BadChecksum { dsn: Dsn, at: (SeqNum, Dsn) },
}

/// What the third-ACK timer of a join did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinTimer {
    /// Not due, or nothing left to resend.
    Idle,
    /// The third ACK goes again.
    Resent,
    /// Out of tries: the caller resets the subflow.
    GiveUp,
}

impl Subflow {
    pub fn new(id: SubflowId, role: Role, tcp: TcpSocket) -> Subflow {
        let mp = SubflowMp::new(id, role, tcp.iss());
        Subflow { tcp, mp }
    }

    pub fn id(&self) -> SubflowId {
        self.mp.id
    }

    pub fn role(&self) -> Role {
        self.mp.role
    }

    /// The next SYNs go without MP_CAPABLE (its SYNs went unanswered: a
    /// path that drops unknown options), and whatever SYN/ACK comes is
    /// answered as plain TCP. False if already so.
    pub fn drop_mp_capable(&mut self) -> bool {
        !core::mem::replace(&mut self.mp.mpc_dropped, true)
    }

    /// Whether [`Subflow::drop_mp_capable`] was called.
    pub fn mp_capable_dropped(&self) -> bool {
        self.mp.mpc_dropped
    }

    pub fn is_plain(&self) -> bool {
        self.mp.role == Role::Plain
    }

    /// Created by MP_JOIN, either side.
    pub fn is_join(&self) -> bool {
        matches!(self.mp.role, Role::JoinInitiator | Role::JoinResponder)
    }

    pub fn is_established(&self) -> bool {
        self.mp.established
    }

    pub fn is_fully_established(&self) -> bool {
        self.mp.fully_established
    }

    pub fn is_closed(&self) -> bool {
        self.mp.closed
    }

    /// Backup by our choice (what our MP_JOIN or MP_PRIO said).
    pub fn local_backup(&self) -> bool {
        self.mp.backup
    }

    /// Backup by our choice or the peer's.
    pub fn is_backup(&self) -> bool {
        self.mp.backup || self.mp.peer_backup
    }

    pub fn is_stalled(&self) -> bool {
        self.mp.stalled
    }

    /// May carry data: MPTCP handshake done, not closed, TCP synchronized.
    pub fn usable(&self) -> bool {
        self.mp.established && !self.mp.closed && self.tcp.state().is_synchronized()
    }

    pub fn remote_addr_id(&self) -> u8 {
        self.mp.remote_addr_id
    }

    /// Data-level bytes scheduled on / delivered from this subflow.
    pub fn data_counts(&self) -> (u64, u64) {
        (self.mp.data_sent, self.mp.data_received)
    }

    /// MP_TCPRST reasons: (the peer's, ours).
    pub fn rst_reasons(&self) -> (Option<u8>, Option<u8>) {
        (self.mp.rst_received, self.mp.rst_reason)
    }

    /// Written bytes not yet segmented by TCP.
    pub fn unsent(&self) -> usize {
        self.tcp
            .send_queue()
            .saturating_sub(self.tcp.stats().bytes_in_flight)
    }

    // ---- Handshakes ----

    /// The MP_CAPABLE handshake (or the plain fallback) is done.
    pub fn set_established(&mut self) {
        self.mp.established = true;
    }

    /// A join completed: it may carry data.
    pub fn join_established(&mut self) {
        self.mp.established = true;
        self.mp.fully_established = true;
    }

    /// A DSS arrived: a client of MP_CAPABLE stops repeating its keys.
    pub fn on_dss_seen(&mut self) {
        if self.mp.role == Role::CapableClient {
            self.mp.fully_established = true;
        }
    }

    /// Join responder: what the MP_JOIN SYN said, and our nonce.
    pub fn init_join_responder(
        &mut self,
        nonce_local: u32,
        nonce_remote: u32,
        remote_addr_id: u8,
        peer_backup: bool,
        (local_addr_id, backup): (u8, bool),
        // (our address ID, whether we answer with flag B)
    ) {
        let mp = &mut self.mp;
        (mp.nonce_local, mp.nonce_remote) = (nonce_local, nonce_remote);
        (mp.remote_addr_id, mp.peer_backup) = (remote_addr_id, peer_backup);
        (mp.local_addr_id, mp.backup) = (local_addr_id, backup);
    }

    /// Join initiator: what the MP_JOIN SYN will say.
    pub fn init_join_initiator(&mut self, nonce: u32, local_id: u8, remote_id: u8, backup: bool) {
        let mp = &mut self.mp;
        mp.nonce_local = nonce;
        mp.local_addr_id = local_id;
        mp.remote_addr_id = remote_id;
        mp.backup = backup;
    }

    /// Join initiator, SYN/ACK with MP_JOIN (RFC 8684 section 3.2):
    /// checks the responder's HMAC and, if good, arms the third ACK.
    /// Returns whether the HMAC was good.
    pub fn on_join_synack(
        &mut self,
        now: Instant,
        rto: Duration,
        local_key: u64,
        remote_key: u64,
        (backup, addr_id, hmac, nonce): (bool, u8, u64, u32),
    ) -> bool {
        let mp = &mut self.mp;
        if hmac != crypto::join_synack_hmac(remote_key, local_key, nonce, mp.nonce_local) {
            return false;
        }
        mp.nonce_remote = nonce;
        mp.remote_addr_id = addr_id;
        mp.peer_backup = backup;
        mp.join_ack_rtx = Some(now + rto);
        mp.join_ack_hmac = Some(crypto::join_ack_hmac(
            local_key,
            remote_key,
            mp.nonce_local,
            nonce,
        ));
        true
    }

    /// Join initiator: the third ACK is armed (the SYN/ACK was good).
    pub fn join_ack_pending(&self) -> bool {
        self.mp.join_ack_hmac.is_some()
    }

    /// Join responder: whether the third ACK's HMAC is the one expected.
    pub fn join_ack_valid(&self, local_key: u64, remote_key: u64, hmac: &[u8; 20]) -> bool {
        let mp = &self.mp;
        *hmac == crypto::join_ack_hmac(remote_key, local_key, mp.nonce_remote, mp.nonce_local)
    }

    /// When the third ACK of a join is resent, if it still waits.
    pub fn join_ack_deadline(&self) -> Option<Instant> {
        self.mp.join_ack_rtx
    }

    /// RFC 8684 section 3.2: the third ACK of a join is resent until the
    /// responder acknowledges it. It backs off like a retransmission and
    /// gives up after `max_tries` (as many as TCP retransmits data).
    pub fn join_ack_timer(&mut self, now: Instant, max_tries: u32, rto_max: Duration) -> JoinTimer {
        let mp = &mut self.mp;
        if mp.join_ack_rtx.is_none_or(|t| t > now) {
            return JoinTimer::Idle;
        }
        if mp.established || mp.closed {
            mp.join_ack_rtx = None;
            return JoinTimer::Idle;
        }
        if mp.join_ack_tries >= max_tries {
            mp.join_ack_rtx = None;
            return JoinTimer::GiveUp;
        }
        mp.join_ack_tries += 1;
        let rto = self.tcp.stats().rto * (1u32 << mp.join_ack_tries.min(6));
        mp.join_ack_rtx = Some(now + rto.min(rto_max));
        self.tcp.request_ack();
        JoinTimer::Resent
    }

    // ---- Sending ----

    /// Hand the subflow a chunk of data-level bytes at `dsn`; returns how
    /// many it took (its send buffer may hold fewer). With `checksum` the
    /// chunk's DSS checksum is computed once, here.
    pub fn write_chunk(&mut self, dsn: Dsn, data: &[u8], checksum: bool) -> usize {
        let w = self.tcp.write(data);
        if w == 0 {
            return 0;
        }
        let mp = &mut self.mp;
        let ssn = mp.write_end;
        let rel = ssn.0.wrapping_sub(mp.iss.0);
        mp.tx_chunks.push_back(TxChunk {
            ssn,
            dsn,
            len: w,
            checksum: checksum.then(|| crypto::dss_checksum(dsn.0, rel, w as u16, &data[..w])),
            reinjected: false,
        });
        mp.write_end += w;
        mp.data_sent += w as u64;
        w
    }

    /// After fallback: plain bytes, no mapping.
    pub fn write_plain(&mut self, data: &[u8]) -> usize {
        let n = self.tcp.write(data);
        self.mp.data_sent += n as u64;
        n
    }

    /// Whether a chunk still held (not yet acknowledged) matches `pred`.
    pub fn holds_chunk(&self, pred: impl Fn(&TxChunk) -> bool) -> bool {
        self.mp.tx_chunks.iter().any(pred)
    }

    /// The chunks still held (not yet acknowledged), oldest first.
    pub fn chunks(&self) -> impl Iterator<Item = &TxChunk> {
        self.mp.tx_chunks.iter()
    }

    /// Whether data-level byte `dsn` was written here and TCP has not yet
    /// had it acknowledged (it may still arrive through this subflow).
    pub fn carries_unacked(&self, dsn: Dsn) -> bool {
        let una = self.mp.write_end - self.tcp.send_queue();
        self.mp
            .tx_chunks
            .iter()
            .any(|c| dsn >= c.dsn && dsn < c.dsn_end() && c.ssn + (dsn - c.dsn) as usize >= una)
    }

    /// Mark every held chunk matching `pred` reinjected and hand it to
    /// `f` (which queues it at the data level).
    pub fn reinject_chunks(
        &mut self,
        pred: impl Fn(&TxChunk) -> bool,
        mut f: impl FnMut(&TxChunk),
    ) {
        for c in self.mp.tx_chunks.iter_mut().filter(|c| pred(c)) {
            c.reinjected = true;
            f(c);
        }
    }

    /// Forget chunks both the subflow and the data level acknowledged (a
    /// subflow reset after a checksum failure loses bytes it had
    /// acknowledged, so they stay reinjectable until DATA_ACKed).
    pub fn release_acked(&mut self, data_una: Dsn) {
        let una = self.mp.write_end - self.tcp.send_queue();
        let chunks = &mut self.mp.tx_chunks;
        while chunks
            .front()
            .is_some_and(|c| c.end() <= una && c.dsn_end() <= data_una)
        {
            chunks.pop_front();
        }
    }

    /// The subflow's next segment, with its MPTCP options.
    pub fn poll_transmit(&mut self, now: Instant, ctx: TxCtx, mib: &mut Mib) -> Option<Segment> {
        let mut hooks = TxHooks {
            mp: &mut self.mp,
            ctx,
            mib,
        };
        let seg = self.tcp.poll_transmit_with(now, &mut hooks)?;
        if !seg.payload.is_empty() && self.mp.wants_pure_ack() {
            // Address options and DATA_FIN ride on pure ACKs only.
            self.tcp.request_ack();
        }
        Some(seg)
    }

    /// Send (and keep sending, until DATA_ACKed) the DATA_FIN on a pure
    /// ACK. Returns false for a plain subflow.
    pub fn request_data_fin(&mut self) -> bool {
        if self.mp.role == Role::Plain {
            return false;
        }
        self.mp.want_data_fin = true;
        self.tcp.request_ack();
        true
    }

    /// Echo an ADD_ADDR on the next pure ACK.
    pub fn queue_echo(&mut self, echo: AddAddr) {
        self.mp.echo = Some(echo);
        self.tcp.request_ack();
    }

    /// Send an ADD_ADDR on the next pure ACK.
    pub fn queue_announce(&mut self, a: AddAddr) {
        self.mp.announce = Some(a);
        self.tcp.request_ack();
    }

    /// Send a REMOVE_ADDR on the next pure ACK.
    pub fn queue_remove(&mut self, ids: ArrayVec<u8, 37>) {
        self.mp.remove = Some(ids);
        self.tcp.request_ack();
    }

    /// Our backup choice, told to the peer with MP_PRIO.
    pub fn set_backup(&mut self, backup: bool) {
        self.mp.backup = backup;
        self.mp.send_prio = Some(backup);
        self.tcp.request_ack();
    }

    /// The peer's MP_PRIO.
    pub fn set_peer_backup(&mut self, backup: bool) {
        self.mp.peer_backup = backup;
    }

    // ---- Failures ----

    /// Detect a stall: a tail loss probe's timeout (no acknowledgment for
    /// about two smoothed RTTs while data is in flight, RFC 8985 section
    /// 7.3) or a retransmission timeout of an established subflow since
    /// the last call makes it stalled (the scheduler avoids it); newly
    /// acknowledged bytes clear that. Returns whether either fired: the
    /// connection then sends the subflow's unacknowledged data again on
    /// another. Waiting for the RTO instead (at least 200 ms, and about
    /// four RTTs on a path with a standing queue) is what made a dead
    /// path's data wait longest.
    pub fn detect_stall(&mut self) -> bool {
        let stats = self.tcp.stats();
        let mp = &mut self.mp;
        if stats.bytes_acked > mp.last_bytes_acked {
            mp.last_bytes_acked = stats.bytes_acked;
            mp.stalled = false;
        }
        let fired = stats.rto_count > mp.last_rto_count
            || stats.tail_loss_probes > mp.last_tail_loss_probes;
        mp.last_rto_count = stats.rto_count;
        mp.last_tail_loss_probes = stats.tail_loss_probes;
        if fired && mp.established && self.tcp.state().is_synchronized() {
            mp.stalled = true;
            return true;
        }
        false
    }

    /// Reset with MP_TCPRST `reason` (RFC 8684 section 3.6); false if
    /// already closed.
    pub fn reset(&mut self, reason: u8) -> bool {
        if self.mp.closed {
            return false;
        }
        self.mp.rst_reason = Some(reason);
        self.tcp.abort();
        true
    }

    /// Send MP_FAIL for `dsn` (on the RST when resetting).
    pub fn fail(&mut self, dsn: Dsn) {
        self.mp.mp_fail = Some(dsn);
    }

    /// The reason our RST will carry, without resetting now.
    pub fn set_rst_reason(&mut self, reason: u8) {
        self.mp.rst_reason = Some(reason);
    }

    /// The peer's MP_TCPRST reason and T flag.
    pub fn set_rst_received(&mut self, reason: u8, transient: bool) {
        self.mp.rst_received = Some(reason);
        self.mp.rst_transient = transient;
    }

    /// A segment was accepted on it at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.mp.last_heard = Some(now);
    }

    /// Whether nothing was accepted on it for `quiet` before `now`.
    pub fn quiet_for(&self, now: Instant, quiet: Duration) -> bool {
        self.mp.last_heard.is_none_or(|t| now - t >= quiet)
    }

    /// Whether an established subflow's last accepted segment carried
    /// MPTCP options.
    pub fn note_options(&mut self, present: bool) {
        if self.mp.established {
            self.mp.options_vanished = !present;
        }
    }

    /// Whether a path manager may re-create this subflow once it closed
    /// with `reason`: it failed (reset or timed out, not an orderly close
    /// and not by us), the peer did not refuse it for good (an MP_TCPRST
    /// without the T flag, RFC 8684 section 3.6: "the subflow may be
    /// re-established" only when T is set), and no middlebox stripped
    /// its options (a new subflow on the same path would fare no better).
    pub fn may_recreate(&self, reason: tcp::CloseReason) -> bool {
        reason != tcp::CloseReason::Normal
            && self.mp.rst_reason.is_none()
            && (self.mp.rst_received.is_none() || self.mp.rst_transient)
            && !self.mp.options_vanished
    }

    /// Mark closed; returns whether it already was.
    pub fn mark_closed(&mut self) -> bool {
        std::mem::replace(&mut self.mp.closed, true)
    }

    /// Plain TCP from now on (RFC 8684 section 3.7); `rcv_nxt` is the
    /// data-level byte the next subflow byte carries, unless a fallback
    /// point was set already.
    pub fn fall_back(&mut self, rcv_nxt: Dsn) {
        self.mp.role = Role::Plain;
        self.mp.established = true;
        if self.mp.rx_fallback.is_none() {
            self.mp.rx_fallback = Some((self.tcp.read_seq(), rcv_nxt));
        }
    }

    /// Fallback starting at subflow byte `at.0`, data-level `at.1`.
    pub fn set_fallback_at(&mut self, at: (SeqNum, Dsn)) {
        self.mp.rx_fallback = Some(at);
    }

    pub fn in_fallback(&self) -> bool {
        self.mp.rx_fallback.is_some()
    }

    // ---- Receiving ----

    /// Check a received mapping against those held (see
    /// [`mapping::check`]).
    pub fn check_mapping(&self, map: &RxMap, checksum: bool) -> mapping::MappingStatus {
        mapping::check(&self.mp.rx_maps, map, checksum, self.tcp.read_seq())
    }

    /// Keep a mapping; past `max` held, the oldest goes (bounded state
    /// against a peer sending a mapping per byte). Returns whether one
    /// went.
    pub fn insert_mapping(&mut self, map: RxMap, checksum: bool, max: usize) -> bool {
        let maps = &mut self.mp.rx_maps;
        if mapping::insert(maps, map, checksum) && maps.len() > max {
            maps.pop_front();
            return true;
        }
        false
    }

    /// Take the next in-order bytes through their mapping into `buf`
    /// (resized to them): at most `room_at(dsn)` of them, the data-level
    /// room there. Under checksums a mapping is taken only whole, once
    /// checked.
    pub fn take_mapped(
        &mut self,
        checksum: bool,
        room_at: impl Fn(Dsn) -> usize,
        buf: &mut Vec<u8>,
    ) -> RxStep {
        let avail = self.tcp.recv_queue();
        if avail == 0 || self.mp.closed {
            return RxStep::Blocked;
        }
        let seq = self.tcp.read_seq();
        if let Some((base_seq, base_dsn)) = self.mp.rx_fallback {
            let dsn = base_dsn + (seq - base_seq) as u64;
            let n = avail.min(room_at(dsn));
            if n == 0 {
                return RxStep::Blocked;
            }
            buf.resize(n, 0);
            let (got, _) = self.tcp.read_with_seq(buf);
            // The base follows the read edge, so the distance from it
            // never reaches 2^31 (a subtraction of sequence numbers
            // further apart is meaningless).
            self.mp.rx_fallback = Some((seq + got, dsn + got as u64));
            return self.took(dsn, got);
        }
        mapping::consume(&mut self.mp.rx_maps, seq, checksum);
        let Some(map) = self.mp.rx_maps.iter().find(|m| m.contains(seq)).copied() else {
            return RxStep::Unmapped { seq };
        };
        let dsn = map.dsn_of(seq);
        let Some(csum) = map.checksum.filter(|_| checksum) else {
            let n = avail.min(map.end() - seq).min(room_at(dsn));
            if n == 0 {
                return RxStep::Blocked;
            }
            buf.resize(n, 0);
            let (got, _) = self.tcp.read_with_seq(buf);
            return self.took(dsn, got);
        };
        // The whole mapping must be here to check it (RFC 8684 section
        // 3.3.1: the checksum covers the mapped data).
        if seq != map.ssn {
            // Partly consumed (cannot happen with a fixed mapping).
            return RxStep::Invalid {
                dsn: map.dsn,
                at: (seq, dsn),
            };
        }
        let need = map.end() - seq;
        if avail < need || room_at(dsn) < need {
            return RxStep::Blocked;
        }
        buf.resize(need, 0);
        let (got, _) = self.tcp.read_with_seq(buf);
        if got != need
            || !crypto::dss_checksum_ok(map.dsn.0, map.wire_ssn, map.wire_len, &buf[..got], csum)
        {
            return RxStep::BadChecksum {
                dsn: map.dsn,
                at: (seq, dsn),
            };
        }
        self.took(dsn, got)
    }

    fn took(&mut self, dsn: Dsn, len: usize) -> RxStep {
        self.mp.data_received += len as u64;
        RxStep::Data { dsn, len }
    }
}

/// Connection-level facts the outgoing hook needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct TxCtx {
    pub local_key: u64,
    pub remote_key: Option<u64>,
    pub checksum: bool,
    /// DSNs and DATA_ACKs as 8 octets, else their low 4.
    pub dss_64bit: bool,
    pub data_ack: Option<Dsn>,
    pub data_fin: Option<Dsn>,
    pub fastclose: bool,
    /// Connection-level receive window (RFC 8684 section 3.3.4): free
    /// data-level buffer right of the DATA_ACK.
    pub window: Option<usize>,
    /// Set MP_CAPABLE's C flag: no joins to our initial address and port.
    pub no_join_initial: bool,
    /// Our first data sequence number (IDSN + 1): the DSN that an
    /// MP_CAPABLE with a data length implies.
    pub first_dsn: Dsn,
}

/// The hooks for one `poll_transmit_with` call.
struct TxHooks<'a> {
    mp: &'a mut SubflowMp,
    ctx: TxCtx,
    mib: &'a mut Mib,
}

fn mpc_flags(checksum: bool) -> u8 {
    MpCapable::FLAG_HMAC_SHA256
        | if checksum {
            MpCapable::FLAG_CHECKSUM
        } else {
            0
        }
}

/// Push `opt` if it fits in `*space`; count it otherwise.
fn push(
    opts: &mut TcpOptions<'static>,
    space: &mut usize,
    opt: MptcpOption,
    mib: &mut Mib,
) -> bool {
    let len = opt.buffer_len();
    if len <= *space && !opts.mptcp.is_full() {
        opts.mptcp.push(opt);
        *space -= len;
        true
    } else {
        mib.option_no_space += 1;
        false
    }
}

impl TxHooks<'_> {
    /// The chunk holding subflow byte `seq`: chunks are contiguous and in
    /// subflow order, so a binary search (every data segment asks).
    fn chunk_at(&self, seq: SeqNum) -> Option<TxChunk> {
        let chunks = &self.mp.tx_chunks;
        let i = chunks.partition_point(|c| c.end() <= seq);
        chunks
            .get(i)
            .filter(|c| seq >= c.ssn && seq < c.end())
            .copied()
    }

    fn rel(&self, seq: SeqNum) -> u32 {
        seq.0.wrapping_sub(self.mp.iss.0)
    }

    fn syn_option(&mut self, info: &OutgoingInfo) -> Option<MptcpOption> {
        let c = &self.ctx;
        let mp = &*self.mp;
        Some(match mp.role {
            Role::Plain => return None,
            Role::CapableClient if mp.mpc_dropped => return None,
            Role::CapableClient => MptcpOption::MpCapable(MpCapable {
                version: VERSION,
                flags: mpc_flags(c.checksum),
                sender_key: None,
                receiver_key: None,
                data_len: None,
                checksum: None,
            }),
            Role::CapableServer => MptcpOption::MpCapable(MpCapable {
                version: VERSION,
                flags: mpc_flags(c.checksum)
                    | if c.no_join_initial {
                        MpCapable::FLAG_NO_JOIN_TO_SRC
                    } else {
                        0
                    },
                sender_key: Some(c.local_key),
                receiver_key: None,
                data_len: None,
                checksum: None,
            }),
            Role::JoinInitiator => MptcpOption::MpJoin(MpJoin::Syn {
                backup: mp.backup,
                addr_id: mp.local_addr_id,
                token: crypto::token(c.remote_key?),
                nonce: mp.nonce_local,
            }),
            Role::JoinResponder if info.ack.is_some() => MptcpOption::MpJoin(MpJoin::SynAck {
                backup: mp.backup,
                addr_id: mp.local_addr_id,
                hmac: crypto::join_synack_hmac(
                    c.local_key,
                    c.remote_key?,
                    mp.nonce_local,
                    mp.nonce_remote,
                ),
                nonce: mp.nonce_local,
            }),
            Role::JoinResponder => return None,
        })
    }

    /// Everything a pure ACK may carry besides the DSS.
    fn extras(&mut self, opts: &mut TcpOptions<'static>, space: &mut usize) {
        if let Some(dsn) = self.mp.mp_fail.take() {
            push(opts, space, MptcpOption::MpFail { dsn: dsn.0 }, self.mib);
        }
        if let Some(a) = self.mp.echo.take() {
            push(opts, space, MptcpOption::AddAddr(a), self.mib);
        }
        if let Some(a) = self.mp.announce.take() {
            push(opts, space, MptcpOption::AddAddr(a), self.mib);
        }
        if let Some(ids) = self.mp.remove.take() {
            push(opts, space, MptcpOption::RemoveAddr(ids), self.mib);
        }
        if let Some(backup) = self.mp.send_prio.take() {
            push(opts, space, MptcpOption::MpPrio { backup }, self.mib);
        }
    }
}

impl SegmentHooks for TxHooks<'_> {
    fn reserve_option_space(&mut self, flags: TcpFlags) -> usize {
        self.reserve_option_space_for(flags, true)
    }

    fn reserve_option_space_for(&mut self, _flags: TcpFlags, has_data: bool) -> usize {
        if self.mp.role == Role::Plain {
            return 0;
        }
        // A pure ACK of an established subflow with nothing else to say
        // carries a DSS with only a 64-bit DATA_ACK (12 octets), leaving
        // room for one SACK block next to timestamps, as Linux does.
        let repeats_mpc = self.mp.role == Role::CapableClient && !self.mp.fully_established;
        if !has_data
            && self.mp.established
            && !repeats_mpc
            && !self.mp.wants_pure_ack()
            && self.mp.mp_fail.is_none()
        {
            return 4 + 8;
        }
        // DSS with a 64-bit DATA_ACK and a 64-bit mapping (Linux always
        // sends 64-bit DSNs), plus the checksum when negotiated. The first
        // data packet's MP_CAPABLE (22 or 24 octets) fits in the same room.
        4 + 8 + 14 + if self.ctx.checksum { 2 } else { 0 }
    }

    fn outgoing(&mut self, info: &OutgoingInfo, opts: &mut TcpOptions<'static>) {
        let mut space = info.option_space_left;
        if self.mp.role == Role::Plain {
            return;
        }
        if info.flags.contains(TcpFlags::RST) {
            if self.ctx.fastclose {
                if let Some(k) = self.ctx.remote_key {
                    let o = MptcpOption::MpFastclose { receiver_key: k };
                    push(opts, &mut space, o, self.mib);
                }
            }
            if let Some(dsn) = self.mp.mp_fail.take() {
                push(
                    opts,
                    &mut space,
                    MptcpOption::MpFail { dsn: dsn.0 },
                    self.mib,
                );
            }
            if let Some(reason) = self.mp.rst_reason {
                let o = MptcpOption::MpTcpRst { flags: 0, reason };
                push(opts, &mut space, o, self.mib);
            }
            return;
        }
        if info.flags.contains(TcpFlags::SYN) {
            if let Some(o) = self.syn_option(info) {
                push(opts, &mut space, o, self.mib);
            }
            return;
        }
        match self.mp.role {
            Role::CapableClient if !self.mp.fully_established => {
                // RFC 8684 section 3.1: the third ACK carries both keys;
                // "the initiator ... MUST ... retransmit" them until it
                // sees a DSS from the peer, and the first data packet
                // carries them with the data-level length.
                let Some(rk) = self.ctx.remote_key else {
                    return;
                };
                let mut mpc = MpCapable {
                    version: VERSION,
                    flags: mpc_flags(self.ctx.checksum),
                    sender_key: Some(self.ctx.local_key),
                    receiver_key: Some(rk),
                    data_len: None,
                    checksum: None,
                };
                if info.len > 0 {
                    // The implied mapping is DSN IDSN+1 at subflow
                    // sequence 1: only a chunk that starts there may ride
                    // on it. When the scheduler put the first data-level
                    // bytes on a join, this subflow's first chunk starts
                    // later in the data stream and needs a DSS (the join
                    // proves the peer has our key). Mapping it on the
                    // MP_CAPABLE delivered it at the wrong DSN.
                    match self.chunk_at(info.seq) {
                        Some(c) if c.ssn == self.mp.iss + 1 && c.dsn == self.ctx.first_dsn => {
                            mpc.data_len = Some(c.len as u16);
                            mpc.checksum = c.checksum;
                        }
                        _ => return self.dss(info, opts, space),
                    }
                }
                push(opts, &mut space, MptcpOption::MpCapable(mpc), self.mib);
            }
            Role::JoinInitiator if !self.mp.established => {
                if let (Some(hmac), 0) = (self.mp.join_ack_hmac, info.len) {
                    push(
                        opts,
                        &mut space,
                        MptcpOption::MpJoin(MpJoin::Ack { hmac }),
                        self.mib,
                    );
                }
            }
            _ if !self.mp.established => {}
            _ => self.dss(info, opts, space),
        }
    }

    fn segment_limit(&mut self, seq: SeqNum) -> Option<usize> {
        if self.mp.role == Role::Plain {
            return None;
        }
        self.chunk_at(seq).map(|c| c.end() - seq)
    }

    fn window_limit(&mut self) -> Option<usize> {
        if self.mp.role == Role::Plain || !self.mp.established {
            return None;
        }
        self.ctx.window
    }

    fn incoming(&mut self, _seg: &TcpRepr<'_>, _accepted: bool) {}
}

impl TxHooks<'_> {
    /// Octets of the first address option waiting for a pure ACK (0 if
    /// none): the one [`TxHooks::extras`] puts first after MP_FAIL.
    fn pending_addr_len(&self) -> usize {
        let mp = &self.mp;
        mp.echo
            .or(mp.announce)
            .map(|a| MptcpOption::AddAddr(a).buffer_len())
            .or_else(|| {
                mp.remove
                    .as_ref()
                    .map(|ids| MptcpOption::RemoveAddr(ids.clone()).buffer_len())
            })
            .unwrap_or(0)
    }

    /// The DSS of an established subflow (RFC 8684 section 3.3), then the
    /// address and priority options on pure ACKs.
    fn dss(&mut self, info: &OutgoingInfo, opts: &mut TcpOptions<'static>, mut space: usize) {
        let wide = self.ctx.dss_64bit;
        let on_wire = |d: Dsn| if wide { d.0 } else { u64::from(d.low32()) };
        let mut dss = Dss {
            data_ack: self.ctx.data_ack.map(|a| (on_wire(a), wide)),
            mapping: None,
            data_fin: false,
        };
        if info.len > 0 {
            if let Some(c) = self.chunk_at(info.seq) {
                dss.mapping = Some(DssMapping {
                    dsn: on_wire(c.dsn),
                    dsn_64: wide,
                    subflow_seq: self.rel(c.ssn),
                    data_len: c.len as u16,
                    checksum: c.checksum,
                });
            }
        } else if self.mp.want_data_fin {
            if let Some(fin) = self.ctx.data_fin {
                // RFC 8684 section 3.3.3: a DATA_FIN without data has a
                // mapping of length 1 and subflow sequence number 0.
                self.mp.want_data_fin = false;
                dss.data_fin = true;
                dss.mapping = Some(DssMapping {
                    dsn: on_wire(fin),
                    dsn_64: wide,
                    subflow_seq: 0,
                    data_len: 1,
                    checksum: self
                        .ctx
                        .checksum
                        .then(|| crypto::dss_checksum(fin.0, 0, 1, &[])),
                });
            }
        }
        // A pure ACK whose address option does not fit beside a
        // DATA_ACK-only DSS leaves the DSS out, as Linux does (the next
        // ACK carries the DATA_ACK): else an ADD_ADDR with a port, an IPv6
        // one or its echo would never fit next to timestamps and be lost
        // at every retry.
        // Only pure ACKs look (not every data segment).
        let only_ack = info.len == 0 && dss.mapping.is_none();
        let addr_len = if only_ack { self.pending_addr_len() } else { 0 };
        let dss_len = MptcpOption::Dss(dss).buffer_len();
        if addr_len > 0 && dss_len + addr_len > space && addr_len <= space {
            self.mib.dss_left_out_for_addr += 1;
        } else if dss.data_ack.is_some() || dss.mapping.is_some() {
            push(opts, &mut space, MptcpOption::Dss(dss), self.mib);
        }
        if info.len == 0 {
            self.extras(opts, &mut space);
        }
    }
}

/// Records whether TCP accepted the segment.
#[derive(Debug, Default)]
pub(super) struct RxHooks {
    pub accepted: bool,
}

impl SegmentHooks for RxHooks {
    fn incoming(&mut self, _seg: &TcpRepr<'_>, accepted: bool) {
        self.accepted = accepted;
    }
}
