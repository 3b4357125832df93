//! The UDP device's I/O through `quinn-udp`: `recvmmsg` into a few large
//! buffers, split by the GRO stride into single datagrams; on send,
//! consecutive packets to the same peer by the same socket, all of one size
//! but the last, go as one GSO train (one `sendmsg`), where the kernel has
//! UDP GSO (Linux 4.18+; `quinn-udp` falls back to one datagram per call
//! where it does not, or after a device refuses GSO).

use super::nat::Route;
use super::{Batch, UdpDevice, bump};
use quinn_udp::{RecvMeta, Transmit};
use std::future::poll_fn;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::task::Poll;
use tokio::io::Interest;

/// Receive buffers per `recvmmsg`.
const RX_BUFS: usize = 8;
/// One receive buffer: a GRO train of up to 64 KiB, or one datagram of any
/// size (so an oversized one shows as such, not cut to a plausible size).
const RX_BUF_LEN: usize = 1 << 16;
/// Largest GSO train, bytes (below the 65,507-byte UDP payload limit of
/// IPv4).
pub(super) const GSO_MAX_BYTES: usize = 65_000;

/// Datagrams received but not yet handed to the stack: a GRO buffer may
/// hold more than the batch has room for. Fixed memory (512 KiB).
pub(super) struct Rx {
    buf: Vec<u8>,
    meta: [RecvMeta; RX_BUFS],
    /// The socket they came from.
    socket: usize,
    /// Buffers filled by the last `recvmmsg`.
    msgs: usize,
    /// Next buffer to hand on, and the offset of its next datagram.
    msg: usize,
    offset: usize,
}

impl std::fmt::Debug for Rx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rx")
            .field("pending", &(self.msgs - self.msg))
            .finish_non_exhaustive()
    }
}

impl Rx {
    pub(super) fn new() -> Rx {
        Rx {
            buf: vec![0; RX_BUFS * RX_BUF_LEN],
            meta: [RecvMeta::default(); RX_BUFS],
            socket: 0,
            msgs: 0,
            msg: 0,
            offset: 0,
        }
    }

    fn pending(&self) -> bool {
        self.msg < self.msgs
    }

    /// Socket `i` is closed: drop what it left here.
    pub(super) fn forget(&mut self, i: usize) {
        if self.socket == i {
            self.msg = self.msgs;
        }
    }
}

/// Packets of one GSO train.
#[derive(Debug, Clone, Copy)]
struct Train {
    socket: usize,
    outer: SocketAddr,
    /// Size of each segment (the first packet's); only the last may be
    /// shorter.
    segment: usize,
    count: usize,
    closed: bool,
}

impl UdpDevice {
    /// [`crate::Device::recv`]: cancel safe, since a datagram taken from a
    /// socket is kept in `self.rx` until it is in a batch.
    pub(super) async fn recv_batch(&mut self, batch: &mut Batch) -> io::Result<()> {
        loop {
            self.housekeeping().await?;
            let mut got = self.drain(batch);
            if got > 0 || batch.free() == 0 {
                return Ok(());
            }
            let n = self.sockets.len();
            // Wait for readiness (or the NAT timers) only: cancelling here
            // loses nothing.
            let readiness = poll_fn(|cx| {
                let mut ready = Poll::Pending;
                for b in self.sockets.iter().flatten() {
                    match b.socket.poll_recv_ready(cx) {
                        Poll::Ready(Ok(())) => ready = Poll::Ready(Ok(())),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {}
                    }
                }
                ready
            });
            tokio::select! {
                r = readiness => r?,
                () = tokio::time::sleep_until(self.next_tick) => continue,
            }
            // One `recvmmsg` per socket, round robin, so one busy socket
            // cannot starve the others.
            let start = self.next;
            self.next = (self.next + 1) % n.max(1);
            for i in (0..n).map(|k| (start + k) % n) {
                match self.read(i) {
                    Ok(true) => got += self.drain(batch),
                    Ok(false) => {}
                    Err(e) => {
                        // An ICMP error queued on the socket and the like:
                        // it costs that datagram only.
                        tracing::debug!(error = %e, socket = i, "udp receive error");
                        bump(&self.stats.recv_errors);
                    }
                }
                if batch.free() == 0 {
                    return Ok(());
                }
            }
            if got > 0 {
                return Ok(());
            }
        }
    }

    /// One `recvmmsg` from socket `i` into `self.rx` (which must be
    /// drained); false if it had nothing.
    fn read(&mut self, i: usize) -> io::Result<bool> {
        debug_assert!(!self.rx.pending());
        let Some(b) = &self.sockets[i] else {
            return Ok(false);
        };
        let rx = &mut self.rx;
        let mut chunks = rx.buf.chunks_mut(RX_BUF_LEN);
        // `buf` is exactly RX_BUFS chunks long (Rx::new).
        let mut iovs: [IoSliceMut<'_>; RX_BUFS] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let meta = &mut rx.meta;
        match b.socket.try_io(Interest::READABLE, || {
            b.state.recv((&b.socket).into(), &mut iovs, meta)
        }) {
            Ok(n) => {
                bump(&self.stats.recv_calls);
                rx.socket = i;
                rx.msgs = n.min(RX_BUFS);
                rx.msg = 0;
                rx.offset = 0;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Move pending datagrams that pass [`accept`] into `batch`, until it
    /// is full; returns how many went in.
    fn drain(&mut self, batch: &mut Batch) -> usize {
        let UdpDevice {
            rx,
            nat,
            stats,
            mtu,
            ..
        } = self;
        let now = tokio::time::Instant::now();
        let mut got = 0;
        while rx.pending() {
            let m = rx.meta[rx.msg];
            let base = rx.msg * RX_BUF_LEN;
            let data = &rx.buf[base..base + m.len.min(RX_BUF_LEN)];
            if data.is_empty() {
                bump(&stats.not_ours);
            }
            let stride = if m.stride == 0 { data.len() } else { m.stride };
            while rx.offset < data.len() {
                let Some(buf) = batch.next_buf() else {
                    return got;
                };
                let end = (rx.offset + stride).min(data.len());
                let datagram = &data[rx.offset..end];
                rx.offset = end;
                if datagram.len() > *mtu {
                    bump(&stats.malformed);
                } else if nat.accept(rx.socket, m.addr, datagram, now) {
                    buf.extend_from_slice(datagram);
                    batch.commit();
                    bump(&stats.received);
                    got += 1;
                }
            }
            rx.msg += 1;
            rx.offset = 0;
        }
        got
    }

    /// [`crate::Device::send`]: every packet of `batch`, in GSO trains.
    pub(super) async fn send_batch(&mut self, batch: &Batch) -> io::Result<()> {
        self.housekeeping().await?;
        let now = tokio::time::Instant::now();
        let mut tx = std::mem::take(&mut self.tx);
        tx.clear();
        let mut train: Option<Train> = None;
        for packet in batch.iter() {
            let Route::Send(socket, outer) = self.route_at(packet, now) else {
                continue;
            };
            if let Some(t) = &mut train {
                let max = self.sockets[t.socket]
                    .as_ref()
                    .map_or(1, |b| b.state.max_gso_segments());
                if t.socket == socket
                    && t.outer == outer
                    && !t.closed
                    && t.count < max
                    && packet.len() <= t.segment
                    && tx.len() + packet.len() <= GSO_MAX_BYTES
                {
                    tx.extend_from_slice(packet);
                    t.count += 1;
                    t.closed = packet.len() < t.segment;
                    continue;
                }
                let t = *t;
                self.transmit(&tx, t).await?;
                tx.clear();
            }
            train = Some(Train {
                socket,
                outer,
                segment: packet.len(),
                count: 1,
                closed: false,
            });
            tx.extend_from_slice(packet);
        }
        if let Some(t) = train {
            self.transmit(&tx, t).await?;
        }
        self.tx = tx;
        Ok(())
    }

    /// Send one train. A refusal (no route, too big, buffers full) drops
    /// its packets, as a link would; TCP retransmits them.
    async fn transmit(&self, contents: &[u8], t: Train) -> io::Result<()> {
        let Some(b) = &self.sockets[t.socket] else {
            return Ok(());
        };
        let transmit = Transmit {
            destination: t.outer,
            ecn: None,
            contents,
            segment_size: (t.count > 1).then_some(t.segment),
            src_ip: None,
        };
        let count = t.count as u64;
        loop {
            b.socket.writable().await?;
            match b.socket.try_io(Interest::WRITABLE, || {
                b.state.try_send((&b.socket).into(), &transmit)
            }) {
                Ok(()) => {
                    self.stats
                        .sent
                        .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                    bump(&self.stats.send_calls);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    tracing::debug!(error = %e, to = %t.outer, count, "udp send dropped packets");
                    self.stats
                        .send_errors
                        .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
            }
        }
    }
}

impl UdpDevice {
    /// Send the datagrams the device made itself (control messages,
    /// packets released by a validation). Cancel safe: one leaves the
    /// queue once sent.
    pub(super) async fn flush_out(&mut self) -> io::Result<()> {
        while let Some(o) = self.nat.out.front() {
            let t = Train {
                socket: o.socket,
                outer: o.to,
                segment: o.data.len(),
                count: 1,
                closed: true,
            };
            self.transmit(&o.data, t).await?;
            self.nat.out.pop_front();
        }
        Ok(())
    }
}
