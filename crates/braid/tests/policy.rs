//! A user plugs in their own packet scheduler and congestion controller
//! through `braid`'s public API only (issue #11): for every connection of
//! a stack (`StackBuilder::scheduler`, `StackBuilder::congestion`) and for
//! one connection (`Stream::connect_with`). Two stacks over an in-memory
//! link; bytes arrive intact and the user's policies are the ones called.

use braid::policy::{
    AckInfo, CcAlgorithm, CcView, CongestionEvent, ConnOptions, Controller, Decision, SchedContext,
    Scheduler, SchedulerChoice,
};
use braid::proto::time::Instant;
use braid::{Listener, MemoryDevice, Stack, Stream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Sends on the first subflow with room; counts its decisions.
#[derive(Debug)]
struct FirstWithRoom(Arc<AtomicUsize>);

impl Scheduler for FirstWithRoom {
    fn schedule(&mut self, ctx: &SchedContext<'_>) -> Decision {
        self.0.fetch_add(1, Ordering::Relaxed);
        ctx.subflows
            .iter()
            .find(|v| v.has_room())
            .map_or(Decision::Wait, |v| Decision::send(v.id))
    }

    fn name(&self) -> &'static str {
        "first-with-room"
    }
}

/// A fixed 64 KiB window that halves on loss; counts ACKs.
#[derive(Debug)]
struct Fixed {
    cwnd: usize,
    acks: Arc<AtomicUsize>,
}

impl Controller for Fixed {
    fn on_ack(&mut self, _now: Instant, _ack: &AckInfo, _siblings: &[CcView]) {
        self.acks.fetch_add(1, Ordering::Relaxed);
    }

    fn on_congestion_event(&mut self, _: Instant, _: &CongestionEvent, _: &[CcView]) {
        self.cwnd = (self.cwnd / 2).max(4 * 1460);
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.cwnd
    }

    fn name(&self) -> &'static str {
        "fixed"
    }
}

fn fixed(acks: &Arc<AtomicUsize>) -> CcAlgorithm {
    let acks = acks.clone();
    CcAlgorithm::Custom(Arc::new(move |_mss| {
        Box::new(Fixed {
            cwnd: 64 * 1024,
            acks: acks.clone(),
        }) as Box<dyn Controller>
    }))
}

fn scheduler(calls: &Arc<AtomicUsize>) -> SchedulerChoice {
    let calls = calls.clone();
    SchedulerChoice::custom("first-with-room", move || {
        Box::new(FirstWithRoom(calls.clone())) as Box<dyn Scheduler>
    })
}

const SERVER: &str = "10.8.0.2";

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends `len` bytes client -> server over `connect`, returns what the
/// server read.
async fn upload(
    client: &Stack,
    server: &Stack,
    port: u16,
    options: Option<ConnOptions>,
) -> Vec<u8> {
    let addr = SocketAddr::new(SERVER.parse().unwrap(), port);
    let listener = Listener::bind(server, addr).unwrap();
    let sent = data(2 << 20);
    let rx = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut s = match options {
        Some(o) => Stream::connect_with(client, addr, &o).await.unwrap(),
        None => Stream::connect(client, addr).await.unwrap(),
    };
    s.write_all(&sent).await.unwrap();
    s.shutdown().await.unwrap();
    let got = timeout(Duration::from_secs(60), rx).await.unwrap().unwrap();
    assert!(got == sent, "{} bytes of {}", got.len(), sent.len());
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_scheduler_and_controller_run_stack_wide_and_per_connection() {
    let (calls, acks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, b) = MemoryDevice::pair(1500);
    let client = Stack::builder()
        .address("10.8.0.1".parse().unwrap())
        .seed([3; 32])
        .scheduler(scheduler(&calls))
        .congestion(fixed(&acks))
        .build(a)
        .unwrap();
    let server = Stack::builder()
        .address(SERVER.parse().unwrap())
        .seed([4; 32])
        .build(b)
        .unwrap();
    upload(&client, &server, 7001, None).await;
    // Let the first connection finish closing before taking the counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (c1, a1) = (calls.load(Ordering::Relaxed), acks.load(Ordering::Relaxed));
    assert!(c1 > 0, "the stack's scheduler was never asked");
    assert!(a1 > 0, "the stack's controller saw no ACK");

    // One connection with policies of its own: only they are called.
    let (calls2, acks2) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let options = ConnOptions {
        scheduler: Some(scheduler(&calls2)),
        congestion: Some(fixed(&acks2)),
    };
    upload(&client, &server, 7002, Some(options)).await;
    assert!(calls2.load(Ordering::Relaxed) > 0);
    assert!(acks2.load(Ordering::Relaxed) > 0);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        c1,
        "the stack's scheduler ran"
    );
    assert_eq!(
        acks.load(Ordering::Relaxed),
        a1,
        "the stack's controller ran"
    );
}
