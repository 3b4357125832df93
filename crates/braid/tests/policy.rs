//! A user plugs in their own packet scheduler, congestion controller and
//! path manager through `braid`'s public API only (issue #11): for every
//! connection of a stack (`StackBuilder::scheduler`,
//! `StackBuilder::congestion`, `StackBuilder::path_manager`) and for one
//! connection (`Stream::connect_with`). Two stacks over an in-memory link;
//! bytes arrive intact and the user's policies are the ones called.

use braid::policy::{
    AckInfo, CcAlgorithm, CcView, CongestionEvent, ConnOptions, Controller, Decision, NDiffPorts,
    PathManager, PathManagerChoice, PmAction, PmContext, PmKind, SchedContext, Scheduler,
    SchedulerChoice,
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

/// `ndiffports` with a count of the connections it managed.
#[derive(Debug)]
struct Counting {
    calls: Arc<AtomicUsize>,
    inner: NDiffPorts,
}

impl PathManager for Counting {
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.on_established(ctx)
    }

    fn on_addr_announced(
        &mut self,
        ctx: &PmContext<'_>,
        id: u8,
        addr: SocketAddr,
    ) -> Vec<PmAction> {
        self.inner.on_addr_announced(ctx, id, addr)
    }
}

fn path_manager(calls: &Arc<AtomicUsize>) -> PathManagerChoice {
    let calls = calls.clone();
    PathManagerChoice::custom("counting-ndiffports", move |config| {
        Box::new(Counting {
            calls: calls.clone(),
            inner: NDiffPorts::new(config.clone()),
        }) as Box<dyn PathManager>
    })
}

const SERVER: &str = "10.8.0.2";

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends 2 MiB client -> server over `connect`, checks what the server
/// read; returns the subflows the client's connection had.
async fn upload(client: &Stack, server: &Stack, port: u16, options: Option<ConnOptions>) -> usize {
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
    let view = s.mptcp().unwrap().expect("an MPTCP connection");
    s.shutdown().await.unwrap();
    let got = timeout(Duration::from_secs(60), rx).await.unwrap().unwrap();
    assert!(got == sent, "{} bytes of {}", got.len(), sent.len());
    view.subflows.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_policies_run_stack_wide_and_per_connection() {
    let (calls, acks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let pm_calls = Arc::new(AtomicUsize::new(0));
    let (a, b) = MemoryDevice::pair(1500);
    let client = Stack::builder()
        .address("10.8.0.1".parse().unwrap())
        .seed([3; 32])
        .scheduler(scheduler(&calls))
        .congestion(fixed(&acks))
        .path_manager(path_manager(&pm_calls))
        .build(a)
        .unwrap();
    let server = Stack::builder()
        .address(SERVER.parse().unwrap())
        .seed([4; 32])
        .build(b)
        .unwrap();
    let subflows = upload(&client, &server, 7001, None).await;
    assert_eq!(
        pm_calls.load(Ordering::Relaxed),
        1,
        "the stack's path manager"
    );
    // ndiffports: the initial subflow and the limit's 2 extra ones.
    assert_eq!(subflows, 3, "subflows of the ndiffports connection");
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
        path_manager: Some(PmKind::FullMesh.into()),
        ..Default::default()
    };
    let subflows = upload(&client, &server, 7002, Some(options)).await;
    // Full mesh with one address each side: the initial subflow only.
    assert_eq!(subflows, 1);
    assert_eq!(
        pm_calls.load(Ordering::Relaxed),
        1,
        "the stack's path manager ran"
    );
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
