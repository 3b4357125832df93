//! The driver: one tokio task that owns the device and runs the endpoint.
//!
//! Each turn it (1) fires due timers, (2) collects the packets the endpoint
//! wants to send into a reused batch, (3) hands events to waiting tasks,
//! (4) sends the batch, then (5) waits for whichever comes first: packets
//! from the device, the endpoint's next timeout (one `Sleep`, re-armed each
//! turn) or a nudge from an application call. Packets that arrive are fed
//! to the endpoint in one batch under one lock.

use crate::device::{Batch, Device};
use crate::shared::Shared;
use crate::tap::Tap;
use std::sync::Arc;
use std::time::Duration;

/// Packets moved per device call.
const BATCH_PACKETS: usize = 64;

/// After the last user handle is dropped, the driver keeps running while
/// connections still close (FIN exchange, TIME-WAIT), at most this long.
const LINGER: Duration = Duration::from_secs(30);

/// Run the stack until every user handle is gone and its connections have
/// closed (or `LINGER` passed), or the device fails.
pub(crate) async fn run<D: Device>(mut device: D, shared: Arc<Shared>, mut tap: Option<Tap>) {
    let size = device.mtu();
    let mut rx = Batch::new(BATCH_PACKETS, size);
    let mut tx = Batch::new(BATCH_PACKETS, size);
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut linger_until: Option<tokio::time::Instant> = None;

    loop {
        // Steps 1 to 3, under the lock.
        let (next_timeout, tx_full) = {
            let now = shared.now();
            let mut inner = shared.lock();
            if inner.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                inner.endpoint.handle_timeout(now);
            }
            while let Some(buf) = tx.next_buf() {
                if inner.endpoint.poll_transmit(now, buf).is_none() {
                    break;
                }
                tx.commit();
            }
            inner.dispatch_events();
            if inner.users == 0 && inner.endpoint.connection_count() == 0 {
                tracing::debug!("stack dropped and idle: driver exits");
                return;
            }
            if inner.users == 0 && linger_until.is_none() {
                linger_until = Some(tokio::time::Instant::now() + LINGER);
            }
            (inner.endpoint.poll_timeout(), tx.free() == 0)
        };

        // Step 4.
        if !tx.is_empty() {
            if let Some(tap) = &mut tap {
                let now = shared.now();
                for p in tx.iter() {
                    tap.record(now, p);
                }
                tap.flush();
            }
            if let Err(e) = device.send(&tx).await {
                return fail(&shared, e);
            }
            tx.clear();
            if tx_full {
                // The endpoint may have more to send: another turn first.
                continue;
            }
        }
        if linger_until.is_some_and(|t| tokio::time::Instant::now() >= t) {
            tracing::debug!("linger time over: driver exits");
            return;
        }

        // Step 5.
        let deadline = match (next_timeout.map(|t| shared.to_tokio(t)), linger_until) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => tokio::time::Instant::now() + Duration::from_secs(3600),
        };
        sleep.as_mut().reset(deadline);
        tokio::select! {
            r = device.recv(&mut rx) => {
                if let Err(e) = r {
                    return fail(&shared, e);
                }
                let now = shared.now();
                if let Some(tap) = &mut tap {
                    for p in rx.iter() {
                        tap.record(now, p);
                    }
                    tap.flush();
                }
                let mut inner = shared.lock();
                for p in rx.iter() {
                    inner.endpoint.handle_packet(now, p);
                }
                rx.clear();
            }
            () = &mut sleep => {}
            () = shared.driver.notified() => {}
        }
    }
}

/// The device failed: record why, wake everyone so their calls fail.
fn fail(shared: &Shared, e: std::io::Error) {
    tracing::error!(error = %e, "device failed: stack stops");
    let mut inner = shared.lock();
    inner.failure = Some((e.kind(), format!("braid device failed: {e}")));
    for state in inner.conns.values_mut() {
        for w in [
            state.read_waker.take(),
            state.write_waker.take(),
            state.connect_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            w.wake();
        }
    }
    for l in inner.listeners.values_mut() {
        if let Some(w) = l.accept_waker.take() {
            w.wake();
        }
    }
}
