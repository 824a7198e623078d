//! Transactions: a batch of messages plus the acknowledgement that flows back to the input.
//!
//! An input creates a [`Transaction`] and keeps the [`AckReceiver`]; whatever resolves the
//! transaction downstream (the output after writing, the pipeline when every message was
//! filtered, a buffer that stored it) calls [`Transaction::ack`]. Dropping a transaction
//! unresolved counts as a nack, so a forced stop never looks like a delivery.

use std::sync::{Arc, Mutex};

use sluice_compiler::Message;
use tokio::sync::oneshot;

/// A batch of messages.
pub type Batch = Vec<Message>;

/// Why a transaction was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Nack(pub String);

/// The outcome of a transaction: delivered, or not and why.
pub type AckResult = Result<(), Nack>;

/// Where synchronous responses of a request are stored (the `sync_response` output and
/// processor write here; the `http_server` input reads it after the ack).
pub type ResponseStore = Arc<Mutex<Vec<Message>>>;

/// A batch in flight, with its acknowledgement.
#[derive(Debug)]
pub struct Transaction {
    /// The messages.
    pub batch: Batch,
    /// The store for synchronous responses, when the input that made it supports them.
    pub responses: Option<ResponseStore>,
    ack: Option<oneshot::Sender<AckResult>>,
}

/// The input's end of a transaction's acknowledgement.
#[derive(Debug)]
pub struct AckReceiver(oneshot::Receiver<AckResult>);

impl AckReceiver {
    /// Waits for the outcome. A transaction dropped without a resolution is a nack.
    pub async fn wait(self) -> AckResult {
        self.0
            .await
            .unwrap_or_else(|_| Err(Nack("message was not delivered: the stream stopped".into())))
    }
}

impl Transaction {
    /// A new transaction for `batch`, and the receiver its input waits on.
    pub fn new(batch: Batch) -> (Transaction, AckReceiver) {
        let (tx, rx) = oneshot::channel();
        (
            Transaction {
                batch,
                responses: None,
                ack: Some(tx),
            },
            AckReceiver(rx),
        )
    }

    /// Attaches a store for synchronous responses.
    pub fn with_responses(mut self, store: ResponseStore) -> Transaction {
        self.responses = Some(store);
        self
    }

    /// The total payload size of the batch in bytes.
    pub fn byte_size(&self) -> usize {
        self.batch.iter().map(|m| m.payload.len()).sum()
    }

    /// Resolves the transaction.
    pub fn ack(mut self, result: AckResult) {
        if let Some(tx) = self.ack.take() {
            let _ = tx.send(result);
        }
    }

    /// Splits off the acknowledgement so the batch can be consumed separately.
    pub fn into_parts(mut self) -> (Batch, Option<ResponseStore>, Acker) {
        let batch = std::mem::take(&mut self.batch);
        (
            batch,
            self.responses.take(),
            Acker(AckTarget::Whole(self.ack.take())),
        )
    }
}

/// The acknowledgement of a transaction whose batch was taken apart.
#[derive(Debug)]
pub struct Acker(AckTarget);

#[derive(Debug)]
enum AckTarget {
    /// The transaction itself.
    Whole(Option<oneshot::Sender<AckResult>>),
    /// One of the batches a processor split the transaction's batch into.
    Part(Option<Arc<Joint>>),
}

/// The shared state of a transaction split into parts: it is resolved once every part is,
/// with the first failure if any failed.
#[derive(Debug)]
struct Joint {
    left: std::sync::atomic::AtomicUsize,
    failure: Mutex<Option<Nack>>,
    parent: Mutex<Option<Acker>>,
}

impl Joint {
    fn resolve(&self, result: AckResult) {
        use std::sync::atomic::Ordering;
        if let Err(e) = result {
            let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            f.get_or_insert(e);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let failure = self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let parent = self.parent.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(parent) = parent {
                parent.ack(failure.map_or(Ok(()), Err));
            }
        }
    }
}

impl Acker {
    /// Resolves the transaction.
    pub fn ack(mut self, result: AckResult) {
        self.resolve(result);
    }

    fn resolve(&mut self, result: AckResult) {
        match &mut self.0 {
            AckTarget::Whole(tx) => {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(result);
                }
            }
            AckTarget::Part(joint) => {
                if let Some(j) = joint.take() {
                    j.resolve(result);
                }
            }
        }
    }

    /// Splits the acknowledgement into `n` parts (one per batch a processor made of the
    /// transaction's batch): the transaction is resolved when every part is, failed if any
    /// part failed. A part dropped unresolved is a failure.
    pub fn split(self, n: usize) -> Vec<Acker> {
        if n == 1 {
            return vec![self];
        }
        if n == 0 {
            self.ack(Ok(()));
            return Vec::new();
        }
        let joint = Arc::new(Joint {
            left: std::sync::atomic::AtomicUsize::new(n),
            failure: Mutex::new(None),
            parent: Mutex::new(Some(self)),
        });
        (0..n)
            .map(|_| Acker(AckTarget::Part(Some(joint.clone()))))
            .collect()
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        if matches!(&self.0, AckTarget::Part(Some(_))) {
            self.resolve(Err(Nack(
                "message was not delivered: the stream stopped".into(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropped_transaction_is_a_nack() {
        let (t, rx) = Transaction::new(vec![Message::new("x")]);
        drop(t);
        assert!(rx.wait().await.is_err());
    }

    #[tokio::test]
    async fn split_ack_waits_for_every_part_and_keeps_the_first_failure() {
        let (t, rx) = Transaction::new(vec![Message::new("x")]);
        let (_, _, acker) = t.into_parts();
        let mut parts = acker.split(3);
        parts.pop().unwrap().ack(Ok(()));
        parts.pop().unwrap().ack(Err(Nack("first".into())));
        drop(parts);
        assert_eq!(rx.wait().await, Err(Nack("first".into())));
        let (t, rx) = Transaction::new(vec![Message::new("x")]);
        let (_, _, acker) = t.into_parts();
        for p in acker.split(2) {
            p.ack(Ok(()));
        }
        assert_eq!(rx.wait().await, Ok(()));
    }

    #[tokio::test]
    async fn ack_reaches_the_input() {
        let (t, rx) = Transaction::new(vec![Message::new("x")]);
        t.ack(Ok(()));
        assert_eq!(rx.wait().await, Ok(()));
    }
}
