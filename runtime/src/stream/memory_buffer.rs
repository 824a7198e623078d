//! The `memory` buffer: acknowledges the input as soon as a batch is stored (blocking above
//! the byte limit), sends stored batches on to the pipeline in order, and retries nacked ones
//! with backoff.
//!
//! **Handover on replace.** Acknowledged data lives only here, so a PUT must not lose it:
//! [`MemoryBuffer::hand_over_to`] points the old stream's buffer at its successor's. From
//! then on the old buffer sends nothing more to its own pipeline: every stored batch not yet
//! sent, everything it still receives, and every in-flight batch that comes back nacked goes
//! to the successor's store instead. Batches already in the old pipeline finish there
//! (at most one per pipeline worker), so each acknowledged message is written once.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::run::{BatchPolicy, Progress};
use super::transaction::{Batch, Transaction};
use crate::metrics::StreamMetrics;

/// A stored batch: its messages and, for batches taken from this stream's input, the share of
/// the byte limit it holds (handed-over batches hold none: the limit bounds intake, and
/// handed-over data was already accepted).
type Stored = (Batch, Option<OwnedSemaphorePermit>);

/// Where a predecessor puts the batches it hands over (the successor's store).
type Inlet = mpsc::UnboundedSender<Stored>;

/// A running memory buffer's handle: its store (for predecessors) and its handover switch.
pub struct MemoryBuffer {
    /// This buffer's store, weakly held so it never keeps the buffer open.
    inlet: mpsc::WeakUnboundedSender<Stored>,
    /// The successor's store once this buffer hands over.
    successor: Arc<Mutex<Option<Inlet>>>,
    handing_over: watch::Sender<bool>,
}

impl MemoryBuffer {
    /// Hands everything this buffer holds or receives from now on to `next` (see the module
    /// doc). Does nothing if `next` has already closed.
    pub fn hand_over_to(&self, next: &MemoryBuffer) {
        let Some(inlet) = next.inlet.upgrade() else {
            return;
        };
        *self.successor.lock().unwrap_or_else(|p| p.into_inner()) = Some(inlet);
        let _ = self.handing_over.send(true);
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
    let sent = metrics.counter("buffer_sent", "", "root.buffer");
    let successor: Arc<Mutex<Option<Inlet>>> = Arc::default();
    let (handing_over, mut handover_rx) = watch::channel(false);
    let handle = MemoryBuffer {
        inlet: store_tx.downgrade(),
        successor: successor.clone(),
        handing_over,
    };
    let intake = tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            let size = t.byte_size().clamp(1, limit) as u32;
            let Ok(permit) = sem.clone().acquire_many_owned(size).await else {
                break;
            };
            let (batch, _responses, acker) = t.into_parts();
            received.add(batch.len() as u64);
            if store_tx.send((batch, Some(permit))).is_err() {
                // The forwarder is gone (a forced stop): not stored, so not acknowledged.
                acker.ack(Err(super::transaction::Nack("buffer closed".into())));
                break;
            }
            acker.ack(Ok(()));
        }
    });
    let forward = tokio::spawn(async move {
        let successor_of =
            |s: &Arc<Mutex<Option<Inlet>>>| s.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut retries = tokio::task::JoinSet::new();
        // The group being built (one stored batch per group without a policy).
        let mut group: Vec<Stored> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            if let Some(next) = successor_of(&successor) {
                // Handing over: everything stored or still arriving goes to the successor.
                for stored in group.drain(..) {
                    progress.buffered.fetch_sub(1, Ordering::SeqCst);
                    let _ = next.send((stored.0, None));
                }
                while let Some(stored) = store_rx.recv().await {
                    let _ = next.send((stored.0, None));
                }
                break;
            }
            let next = tokio::select! {
                n = store_rx.recv() => Some(n),
                _ = sleep_until(deadline) => None,
                _ = handover_rx.wait_for(|h| *h) => continue,
            };
            let closed = matches!(next, Some(None));
            let timed_out = next.is_none();
            if let Some(Some(stored)) = next {
                progress.buffered.fetch_add(1, Ordering::SeqCst);
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
                    slot = tx.reserve() => slot,
                    _ = handover_rx.wait_for(|h| *h) => continue,
                };
                let Ok(slot) = slot else { break };
                deadline = None;
                let stored = std::mem::take(&mut group);
                let parts = stored.len();
                let (batch, permits): (Vec<Batch>, Vec<_>) = stored.into_iter().unzip();
                let batch: Batch = batch.into_iter().flatten().collect();
                let n = batch.len() as u64;
                let (t, ack) = Transaction::new(batch.clone());
                slot.send(t);
                let tx = tx.clone();
                let progress = progress.clone();
                let sent = sent.clone();
                let successor = successor.clone();
                retries.spawn(async move {
                    let _permits = permits;
                    let mut ack = ack;
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        if ack.wait().await.is_ok() {
                            sent.add(n);
                            break;
                        }
                        // Nacked: the successor takes it if there is one now.
                        if let Some(next) = successor_of(&successor) {
                            if next.send((batch.clone(), None)).is_ok() {
                                break;
                            }
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        let (t, next) = Transaction::new(batch.clone());
                        if tx.send(t).await.is_err() {
                            break;
                        }
                        ack = next;
                    }
                    progress.buffered.fetch_sub(parts, Ordering::SeqCst);
                });
                while retries.try_join_next().is_some() {}
            }
            if closed {
                break;
            }
        }
        // Graceful stop: flush what is still in flight.
        while retries.join_next().await.is_some() {}
    });
    (handle, intake, forward)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
