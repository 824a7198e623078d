//! The `memory` buffer: acknowledges the input as soon as a batch is stored (blocking above
//! the byte limit), sends stored batches on to the pipeline in order, and retries nacked ones
//! with backoff.
//!
//! **Handover on replace.** Acknowledged data lives only here, so a PUT must not lose it:
//! [`MemoryBuffer::hand_over_to`] points the old stream's buffer at its successor's. From
//! then on the old buffer sends nothing more to its own pipeline: every stored batch not yet
//! sent, everything its intake still stores, and every in-flight batch that comes back
//! nacked (also when a forced stop drops it) goes to the successor's store instead. Batches
//! already in the old pipeline (its workers and output batcher) finish there, so each
//! acknowledged message is written once. Successive PUTs form a chain: a batch handed to a
//! buffer whose store has closed goes on to that buffer's own successor. Only when the chain
//! ends in a closed store (the stream was deleted) does the old buffer fall back to its own
//! pipeline. A successor without a memory buffer gets no handover: the old graph drains
//! its buffer within the stop's timeout, and a forced stop says how many batches it lost.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::run::{BatchPolicy, Progress};
use super::transaction::{Batch, Nack, Transaction};
use crate::metrics::{Counter, StreamMetrics};

/// A stored batch: its messages and, for batches taken from this stream's input, the share of
/// the byte limit it holds (handed-over batches hold none: the limit bounds intake, and
/// handed-over data was already accepted).
type Stored = (Batch, Option<OwnedSemaphorePermit>);

/// A buffer's store, as its predecessors see it: where to put a batch, and where that buffer
/// itself hands over to (followed when its store has closed).
#[derive(Clone)]
struct Inlet {
    tx: mpsc::UnboundedSender<Stored>,
    next: Arc<Mutex<Option<Inlet>>>,
}

impl Inlet {
    /// Puts `batch` into this store or, if it has closed, the first open one down the chain;
    /// gives the batch back when every store of the chain has closed.
    fn put(&self, batch: Batch) -> Result<(), Batch> {
        let mut inlet = self.clone();
        let mut batch = batch;
        loop {
            match inlet.tx.send((batch, None)) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError((b, _))) => batch = b,
            }
            let next = inlet.next.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match next {
                Some(n) => inlet = n,
                None => return Err(batch),
            }
        }
    }
}

/// A running memory buffer's handle: its store (for predecessors) and its handover switch.
pub struct MemoryBuffer {
    /// This buffer's store, weakly held so it never keeps the buffer open.
    store: mpsc::WeakUnboundedSender<Stored>,
    /// The successor's store once this buffer hands over.
    successor: Arc<Mutex<Option<Inlet>>>,
    handing_over: watch::Sender<bool>,
}

impl MemoryBuffer {
    /// Hands everything this buffer holds or receives from now on to `next` (see the module
    /// doc). Does nothing if `next` has already closed.
    pub fn hand_over_to(&self, next: &MemoryBuffer) {
        let Some(tx) = next.store.upgrade() else {
            return;
        };
        let inlet = Inlet {
            tx,
            next: next.successor.clone(),
        };
        *self.successor.lock().unwrap_or_else(|p| p.into_inner()) = Some(inlet);
        let _ = self.handing_over.send(true);
    }
}

/// What the forwarding task and its retry tasks share.
#[derive(Clone)]
struct Forwarding {
    tx: mpsc::Sender<Transaction>,
    successor: Arc<Mutex<Option<Inlet>>>,
    progress: Arc<Progress>,
    sent: Counter,
    /// Retry tasks: outside the forwarding task, so a forced stop (which aborts it) does not
    /// abort them before they hand their batches over.
    retries: TaskTracker,
}

impl Forwarding {
    fn successor(&self) -> Option<Inlet> {
        self.successor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends a group into this stream's pipeline and watches it until it is acknowledged
    /// (retrying with backoff, or handing it to the successor once there is one).
    fn dispatch(&self, slot: mpsc::Permit<'_, Transaction>, stored: Vec<Stored>) {
        let parts = stored.len();
        let (batches, permits): (Vec<Batch>, Vec<_>) = stored.into_iter().unzip();
        let batch: Batch = batches.into_iter().flatten().collect();
        let (t, ack) = Transaction::new(batch.clone());
        slot.send(t);
        let me = self.clone();
        self.retries.spawn(async move {
            let _permits = permits;
            let n = batch.len() as u64;
            let mut ack = ack;
            let mut backoff = Duration::from_millis(100);
            loop {
                if ack.wait().await.is_ok() {
                    me.sent.add(n);
                    break;
                }
                // Nacked (or dropped by a forced stop): the successor takes it if there is
                // one now.
                let batch = match me.successor().map(|s| s.put(batch.clone())) {
                    Some(Ok(())) => break,
                    _ => batch.clone(),
                };
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                let (t, next) = Transaction::new(batch);
                if me.tx.send(t).await.is_err() {
                    tracing::error!(
                        messages = n,
                        "memory buffer: acknowledged messages lost, the stream stopped before they were written"
                    );
                    break;
                }
                ack = next;
            }
            me.progress.buffered.fetch_sub(parts, Ordering::SeqCst);
        });
    }

    /// Hands a batch to the successor chain; when the whole chain has closed, sends it into
    /// this stream's own pipeline instead.
    async fn hand_over(&self, next: &Inlet, stored: Stored) {
        let Err(batch) = next.put(stored.0) else {
            return;
        };
        match self.tx.reserve().await {
            Ok(slot) => {
                self.progress.buffered.fetch_add(1, Ordering::SeqCst);
                self.dispatch(slot, vec![(batch, stored.1)]);
            }
            Err(_) => tracing::error!(
                messages = batch.len(),
                "memory buffer: acknowledged messages lost, no stream left to take them"
            ),
        }
    }
}

/// Spawns the buffer between `rx` (the input) and `tx` (the pipeline): an intake task that
/// stores batches (acknowledging the input at once, blocking when `limit` bytes are held) and
/// a forwarding task that sends them on in order and retries nacked ones with backoff.
pub(crate) fn spawn(
    mut rx: mpsc::Receiver<Transaction>,
    tx: mpsc::Sender<Transaction>,
    limit: usize,
    policy: BatchPolicy,
    progress: Arc<Progress>,
    metrics: &StreamMetrics,
) -> (MemoryBuffer, JoinHandle<()>, JoinHandle<()>) {
    let limit = limit.clamp(1, u32::MAX as usize);
    let sem = Arc::new(Semaphore::new(limit));
    let (store_tx, mut store_rx) = mpsc::unbounded_channel::<Stored>();
    let received = metrics.counter("buffer_received", "", "root.buffer");
    let successor: Arc<Mutex<Option<Inlet>>> = Arc::default();
    let (handing_over, mut handover_rx) = watch::channel(false);
    let handle = MemoryBuffer {
        store: store_tx.downgrade(),
        successor: successor.clone(),
        handing_over,
    };
    // Cancelled when the intake ends (or is aborted).
    let intake_done = CancellationToken::new();
    let intake_guard = intake_done.clone().drop_guard();
    let intake = tokio::spawn(async move {
        let _done = intake_guard;
        while let Some(t) = rx.recv().await {
            let size = t.byte_size().clamp(1, limit) as u32;
            let Ok(permit) = sem.clone().acquire_many_owned(size).await else {
                break;
            };
            let (batch, _responses, acker) = t.into_parts();
            received.add(batch.len() as u64);
            if store_tx.send((batch, Some(permit))).is_err() {
                // The forwarder is gone (a forced stop): not stored, so not acknowledged.
                acker.ack(Err(Nack("buffer closed".into())));
                break;
            }
            acker.ack(Ok(()));
        }
    });
    let fwd = Forwarding {
        tx,
        successor,
        progress,
        sent: metrics.counter("buffer_sent", "", "root.buffer"),
        retries: TaskTracker::new(),
    };
    let forward = tokio::spawn(async move {
        // The group being built (one stored batch per group without a policy).
        let mut group: Vec<Stored> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            if let Some(next) = fwd.successor() {
                // Handing over: what is stored, and what the intake still stores, goes on.
                for stored in group.drain(..) {
                    fwd.progress.buffered.fetch_sub(1, Ordering::SeqCst);
                    fwd.hand_over(&next, stored).await;
                }
                loop {
                    tokio::select! {
                        biased;
                        stored = store_rx.recv() => match stored {
                            Some(s) => fwd.hand_over(&next, s).await,
                            None => break,
                        },
                        _ = intake_done.cancelled() => {
                            // No more stores: predecessors still handing over to this buffer
                            // follow the chain instead.
                            store_rx.close();
                            while let Some(s) = store_rx.recv().await {
                                fwd.hand_over(&next, s).await;
                            }
                            break;
                        }
                    }
                }
                break;
            }
            let next = tokio::select! {
                biased;
                _ = handover_rx.wait_for(|h| *h) => continue,
                n = store_rx.recv() => Some(n),
                _ = sleep_until(deadline) => None,
            };
            let closed = matches!(next, Some(None));
            let timed_out = next.is_none();
            if let Some(Some(stored)) = next {
                fwd.progress.buffered.fetch_add(1, Ordering::SeqCst);
                group.push(stored);
                if deadline.is_none() {
                    deadline = policy.period.map(|d| tokio::time::Instant::now() + d);
                }
            }
            let count: usize = group.iter().map(|(b, _)| b.len()).sum();
            let bytes: usize = group
                .iter()
                .flat_map(|(b, _)| b.iter())
                .map(|m| m.payload.len())
                .sum();
            let full = !policy.is_active()
                || (policy.count > 0 && count >= policy.count)
                || (policy.byte_size > 0 && bytes >= policy.byte_size);
            if !group.is_empty() && (full || timed_out || closed) {
                // Wait for room in the pipeline, unless a handover starts meanwhile (then the
                // group stays stored and goes to the successor).
                let slot = tokio::select! {
                    biased;
                    _ = handover_rx.wait_for(|h| *h) => continue,
                    slot = fwd.tx.reserve() => slot,
                };
                let Ok(slot) = slot else { break };
                deadline = None;
                fwd.dispatch(slot, std::mem::take(&mut group));
            }
            if closed {
                break;
            }
        }
        // Graceful stop: wait for what is still in flight.
        fwd.retries.close();
        fwd.retries.wait().await;
    });
    (handle, intake, forward)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
