//! Segment-level tests, smoltcp style: one RFC rule, one test. The socket
//! under test is at `LOCAL`; the test plays the peer at `REMOTE`, feeding
//! segments built from a template and asserting the exact replies.
//!
//! This file holds the template, the socket in each state and the segment
//! builders the topics share; the tests live by topic: `open_close`
//! (opening, closing, resets), `data` (receiving, sending, RFC 7323),
//! `recovery` (timers, fast retransmit, SACK, loss probes), `hooks` (the
//! MPTCP hooks, MSS and congestion control plumbing) and `hostile` (random
//! input). Transfers of many segments between two sockets run on the
//! simulator (braid-sim's `tcp_pair` tests), where timing and loss are
//! modelled once.

mod data;
mod hooks;
mod hostile;
mod keepalive;
mod open_close;
mod recovery;

use super::*;
use crate::cc::CcAlgorithm;
use crate::wire::mptcp::MptcpOption;
use rand::{RngExt, SeedableRng};

const LOCAL_PORT: u16 = 80;
const REMOTE_PORT: u16 = 49500;
const LOCAL_SEQ: SeqNum = SeqNum(10_000);
/// Close to the wrap, so receive-side arithmetic crosses 2^32.
const REMOTE_SEQ: SeqNum = SeqNum(0xffff_ff00);
const BUF: usize = 4096;

fn local() -> SocketAddr {
    SocketAddr::new("192.168.1.1".parse().unwrap(), LOCAL_PORT)
}
fn remote() -> SocketAddr {
    SocketAddr::new("192.168.1.2".parse().unwrap(), REMOTE_PORT)
}

/// A segment from the peer.
fn templ() -> TcpRepr<'static> {
    TcpRepr {
        src_port: REMOTE_PORT,
        dst_port: LOCAL_PORT,
        seq_number: SeqNum(0),
        ack_number: None,
        flags: TcpFlags::empty(),
        window_len: 65535,
        urgent_ptr: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

/// A segment from the socket under test.
fn out() -> TcpRepr<'static> {
    TcpRepr {
        src_port: LOCAL_PORT,
        dst_port: REMOTE_PORT,
        window_len: BUF as u16,
        ..templ()
    }
}

fn mss_opts() -> TcpOptions<'static> {
    TcpOptions {
        mss: Some(1000),
        ..TcpOptions::default()
    }
}

/// Plain TCP: no window scaling, timestamps or SACK, NewReno.
fn config() -> Config {
    Config {
        mss: 1000,
        send_buffer: 64 * 1024,
        recv_buffer: BUF,
        window_scaling: false,
        timestamps: false,
        sack: false,
        congestion: CcAlgorithm::NewReno,
        // The scripted tests expect a window's segments back to back.
        pacing: false,
        ..Config::default()
    }
}

struct T {
    s: TcpSocket,
    now: Instant,
}

impl T {
    fn send(&mut self, seg: TcpRepr<'_>) {
        self.s.handle_segment(self.now, &seg);
    }
    fn recv(&mut self) -> Segment {
        self.s.poll_transmit(self.now).expect("expected a segment")
    }
    fn recv_expect(&mut self, expected: TcpRepr<'_>) {
        let got = self.recv();
        assert_eq!(got.repr(), expected);
    }
    fn recv_nothing(&mut self) {
        assert_eq!(self.s.poll_transmit(self.now), None);
    }
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
    }
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }
    fn read_all(&mut self) -> Vec<u8> {
        let mut buf = vec![0; 1 << 20];
        let n = self.s.read(&mut buf);
        buf.truncate(n);
        buf
    }
}

fn syn_sent_with(config: Config) -> T {
    let s = TcpSocket::connect(Instant::ZERO, config, local(), remote(), LOCAL_SEQ);
    let mut t = T {
        s,
        now: Instant::ZERO,
    };
    let syn = t.recv();
    assert_eq!(syn.header.flags, TcpFlags::SYN);
    t
}

fn syn_sent() -> T {
    syn_sent_with(config())
}

fn syn_received_with(config: Config, opts: TcpOptions<'static>) -> T {
    let syn = TcpRepr {
        flags: TcpFlags::SYN,
        seq_number: REMOTE_SEQ,
        options: opts,
        ..templ()
    };
    let s = TcpSocket::accept(Instant::ZERO, config, local(), remote(), &syn, LOCAL_SEQ).unwrap();
    let mut t = T {
        s,
        now: Instant::ZERO,
    };
    let synack = t.recv();
    assert_eq!(synack.header.flags, TcpFlags::SYN);
    t
}

fn syn_received() -> T {
    syn_received_with(config(), mss_opts())
}

/// ESTABLISHED, with one RTT sample of 100 ms (RTO 300 ms).
fn established_with(config: Config, opts: TcpOptions<'static>) -> T {
    let mut t = syn_received_with(config, opts.clone());
    t.now += Duration::from_millis(100);
    let ts = t.s.neg.timestamps.then(|| (1, t.s.ts_now(Instant::ZERO)));
    t.send(TcpRepr {
        seq_number: REMOTE_SEQ + 1,
        ack_number: Some(LOCAL_SEQ + 1),
        options: TcpOptions {
            timestamps: ts,
            ..TcpOptions::default()
        },
        ..templ()
    });
    assert_eq!(t.s.state(), State::Established);
    t.events();
    t
}

fn established() -> T {
    established_with(config(), mss_opts())
}

/// A peer ACK in ESTABLISHED.
fn ack(n: usize) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: REMOTE_SEQ + 1,
        ack_number: Some(LOCAL_SEQ + 1 + n),
        ..templ()
    }
}

fn fin_wait_1() -> T {
    let mut t = established();
    t.s.close();
    t.recv_expect(TcpRepr {
        flags: TcpFlags::FIN,
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1),
        ..out()
    });
    assert_eq!(t.s.state(), State::FinWait1);
    t
}

fn fin_wait_2() -> T {
    let mut t = fin_wait_1();
    t.send(ack(1));
    assert_eq!(t.s.state(), State::FinWait2);
    t
}

fn close_wait() -> T {
    let mut t = established();
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..ack(0)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
    assert_eq!(t.s.state(), State::CloseWait);
    t
}

fn last_ack() -> T {
    let mut t = close_wait();
    t.s.close();
    t.recv_expect(TcpRepr {
        flags: TcpFlags::FIN,
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
    assert_eq!(t.s.state(), State::LastAck);
    t
}

fn closing() -> T {
    let mut t = fin_wait_1();
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..ack(0)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 2,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
    assert_eq!(t.s.state(), State::Closing);
    t
}

fn time_wait() -> T {
    let mut t = fin_wait_2();
    t.send(TcpRepr {
        flags: TcpFlags::FIN,
        ..ack(1)
    });
    t.recv_expect(TcpRepr {
        seq_number: LOCAL_SEQ + 2,
        ack_number: Some(REMOTE_SEQ + 2),
        ..out()
    });
    assert_eq!(t.s.state(), State::TimeWait);
    t
}

// ---- Segment builders shared by the topics ----

/// A peer data segment at offset `off` of its stream.
fn data(off: usize, payload: &'static [u8]) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: REMOTE_SEQ + 1 + off,
        payload,
        ..ack(0)
    }
}

/// Our ACK of `n` bytes of the peer's stream, with `window` free.
fn our_ack(n: usize, window: usize) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: LOCAL_SEQ + 1,
        ack_number: Some(REMOTE_SEQ + 1 + n),
        window_len: window as u16,
        ..out()
    }
}

static KB: [u8; 1000] = [b'k'; 1000];

fn our_data(off: usize, payload: &[u8], flags: TcpFlags) -> TcpRepr<'_> {
    TcpRepr {
        seq_number: LOCAL_SEQ + 1 + off,
        ack_number: Some(REMOTE_SEQ + 1),
        flags,
        payload,
        ..out()
    }
}

/// Send `n` full segments from ESTABLISHED.
fn send_segments(t: &mut T, n: usize) {
    t.s.write(&vec![9u8; n * 1000]);
    for i in 0..n {
        let seg = t.recv();
        assert_eq!(seg.header.seq_number, LOCAL_SEQ + 1 + i * 1000);
    }
    t.recv_nothing();
}

fn sack_established() -> T {
    let opts = TcpOptions {
        sack_permitted: true,
        ..mss_opts()
    };
    established_with(
        Config {
            sack: true,
            ..config()
        },
        opts,
    )
}

fn ts_opts() -> TcpOptions<'static> {
    TcpOptions {
        timestamps: Some((1, 0)),
        ..mss_opts()
    }
}
