//! One subflow of a connection: a [`TcpSocket`] plus the MPTCP state riding
//! on it, and the [`SegmentHooks`] that write MPTCP options on its
//! segments (RFC 8684 sections 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7).
//!
//! Sending: the connection writes a *chunk* of data-level bytes into the
//! subflow only when everything written before was already segmented, so
//! no segment ever spans two chunks; each segment carries the DSS mapping
//! of its chunk (a mapping may cover several segments, section 3.3.1), and
//! the chunk's DSS checksum is computed once when it is written.

use super::SubflowId;
use crate::crypto;
use crate::mib::Mib;
use crate::tcp::{OutgoingInfo, SegmentHooks, TcpSocket};
use crate::wire::mptcp::{AddAddr, Dss, DssMapping, MpCapable, MpJoin, MptcpOption, VERSION};
use crate::wire::{Dsn, SeqNum, TcpFlags, TcpOptions, TcpRepr};
use arrayvec::ArrayVec;
use std::collections::VecDeque;

use super::mapping::RxMap;

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
}

/// MPTCP state of one subflow.
#[derive(Debug)]
pub(super) struct SubflowMp {
    pub id: SubflowId,
    pub role: Role,
    pub iss: SeqNum,
    pub local_addr_id: u8,
    pub remote_addr_id: u8,
    /// We asked for this subflow to be a backup.
    pub backup: bool,
    /// The peer asked for it (MP_JOIN or MP_PRIO `B`).
    pub peer_backup: bool,
    /// MPTCP handshake done: the subflow may carry data.
    pub established: bool,
    /// Client of MP_CAPABLE: the peer's DSS was seen, so the keys arrived
    /// and MP_CAPABLE is no longer repeated (RFC 8684 section 3.1).
    pub fully_established: bool,
    pub nonce_local: u32,
    pub nonce_remote: u32,
    /// Join initiator: the third-ACK HMAC to send until the peer ACKs it.
    pub join_ack_hmac: Option<[u8; 20]>,
    /// Join initiator: when to resend the third ACK if still unanswered.
    pub join_ack_rtx: Option<crate::time::Instant>,
    /// Join initiator: third-ACK retransmissions so far.
    pub join_ack_tries: u32,
    pub tx_chunks: VecDeque<TxChunk>,
    /// Subflow sequence number after the last byte written.
    pub write_end: SeqNum,
    pub rx_maps: VecDeque<RxMap>,
    /// Plain-TCP receive after fallback: (subflow seq, DSN) of one byte.
    pub rx_fallback: Option<(SeqNum, Dsn)>,
    /// MP_TCPRST reason on our RST.
    pub rst_reason: Option<u8>,
    /// MP_TCPRST reason on the peer's RST.
    pub rst_received: Option<u8>,
    /// MP_FAIL to send (on the RST when resetting).
    pub mp_fail: Option<Dsn>,
    pub want_data_fin: bool,
    pub send_prio: Option<bool>,
    pub echo: Option<AddAddr>,
    pub announce: Option<AddAddr>,
    pub remove: Option<ArrayVec<u8, 37>>,
    pub stalled: bool,
    pub last_rto_count: u64,
    pub last_bytes_acked: u64,
    /// Data-level bytes scheduled on / delivered from this subflow.
    pub data_sent: u64,
    pub data_received: u64,
    pub closed: bool,
}

impl SubflowMp {
    pub fn new(id: SubflowId, role: Role, iss: SeqNum) -> SubflowMp {
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
            mp_fail: None,
            want_data_fin: false,
            send_prio: None,
            echo: None,
            announce: None,
            remove: None,
            stalled: false,
            last_rto_count: 0,
            last_bytes_acked: 0,
            data_sent: 0,
            data_received: 0,
            closed: false,
        }
    }

    /// Whether options wait for a pure ACK.
    pub fn wants_pure_ack(&self) -> bool {
        self.want_data_fin
            || self.send_prio.is_some()
            || self.echo.is_some()
            || self.announce.is_some()
            || self.remove.is_some()
            || (self.join_ack_hmac.is_some() && !self.established)
    }
}

/// One subflow.
#[derive(Debug)]
pub(super) struct Subflow {
    pub tcp: TcpSocket,
    pub mp: SubflowMp,
}

impl Subflow {
    /// Written bytes not yet segmented by TCP.
    pub fn unsent(&self) -> usize {
        self.tcp
            .send_queue()
            .saturating_sub(self.tcp.stats().bytes_in_flight)
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
}

/// The hooks for one `poll_transmit_with` call.
pub(super) struct TxHooks<'a> {
    pub mp: &'a mut SubflowMp,
    pub ctx: TxCtx,
    pub mib: &'a mut Mib,
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
                flags: mpc_flags(c.checksum),
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
                    match self.chunk_at(info.seq) {
                        Some(c) if c.ssn == self.mp.iss + 1 => {
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
        if dss.data_ack.is_some() || dss.mapping.is_some() {
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
