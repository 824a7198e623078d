//! A running stream: the tasks that move transactions from the input through the buffer and
//! the pipeline workers to the output, and the bounded stop.
//!
//! ```text
//! input task ──mpsc──▶ [memory buffer] ──mpsc──▶ N pipeline workers ──▶ output.write ──▶ ack
//! ```
//! Channels are bounded (backpressure). The output resolves each transaction; the memory
//! buffer acknowledges the input as soon as it stored a batch and retries nacked batches
//! itself. A stop first tells the input to stop taking messages and lets everything in flight
//! finish; past the graceful budget it aborts the tasks and names the component that was busy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::component::{Input, InputSink, SharedOutput, SharedProcessor};
use super::transaction::{Batch, Transaction};
use crate::metrics::{Counter, StreamMetrics, Timer};

/// The buffer between the input and the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferPlan {
    /// No buffer: acknowledgements flow end to end.
    None,
    /// An in-memory buffer of at most `limit` bytes; acknowledges on storage.
    Memory {
        /// Byte limit (backpressure above it).
        limit: usize,
    },
}

/// Everything a stream needs to run, constructed (and validated) but not started.
pub struct StreamPlan {
    /// The input, and its type name (for messages).
    pub input: (Box<dyn Input>, String),
    /// The buffer.
    pub buffer: BufferPlan,
    /// The pipeline's processors, in order.
    pub processors: Vec<SharedProcessor>,
    /// Number of pipeline workers (≥ 1).
    pub threads: usize,
    /// The output, and its type name.
    pub output: (SharedOutput, String),
    /// The stream's metrics.
    pub metrics: StreamMetrics,
}

/// Why a stop was not graceful.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    /// The graceful stop did not finish in time; tasks were aborted.
    #[error("stream did not stop gracefully within {timeout:?} and was forced: {busy}")]
    Forced {
        /// The bound.
        timeout: Duration,
        /// Which component was still busy.
        busy: String,
    },
}

/// Shared progress counters, used to name the busy component of a forced stop.
#[derive(Debug, Default)]
struct Progress {
    input_running: AtomicBool,
    buffered: AtomicUsize,
    processing: AtomicUsize,
    writing: AtomicUsize,
}

/// A stream whose tasks are running.
pub struct RunningStream {
    input_connected: Option<Arc<AtomicBool>>,
    stop_input: CancellationToken,
    created: Instant,
    stopped_at: Arc<Mutex<Option<Instant>>>,
    done: watch::Receiver<bool>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    progress: Arc<Progress>,
    output: SharedOutput,
    names: (String, String),
    metrics: StreamMetrics,
}

impl std::fmt::Debug for RunningStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStream")
            .field("active", &self.active())
            .finish()
    }
}

impl RunningStream {
    /// Starts a plan's tasks.
    pub fn start(plan: StreamPlan) -> RunningStream {
        let StreamPlan {
            input: (input, input_name),
            buffer,
            processors,
            threads,
            output: (output, output_name),
            metrics,
        } = plan;
        let stop_input = CancellationToken::new();
        let progress = Arc::new(Progress::default());
        let (done_tx, done) = watch::channel(false);
        let stopped_at = Arc::new(Mutex::new(None));
        let threads = threads.max(1);
        let mut tasks = Vec::new();

        let (in_tx, in_rx) = mpsc::channel::<Transaction>(threads);
        progress.input_running.store(true, Ordering::SeqCst);
        let input_received = metrics.counter("input_received", "", "root.input");
        let p = progress.clone();
        let sink = InputSink::new(in_tx, stop_input.clone());
        let mut input = input;
        input.attach(&sink);
        let input_connected = input.connected_flag();
        output.attach();
        let iname = input_name.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = input.run(sink).await {
                tracing::error!(input = %iname, error = %e, "input stopped with an error");
            }
            p.input_running.store(false, Ordering::SeqCst);
        }));

        let work_rx = match buffer {
            BufferPlan::None => in_rx,
            BufferPlan::Memory { limit } => {
                let (out_tx, out_rx) = mpsc::channel::<Transaction>(threads);
                let (t1, t2) =
                    spawn_memory_buffer(in_rx, out_tx, limit, progress.clone(), &metrics);
                tasks.push(t1);
                tasks.push(t2);
                out_rx
            }
        };

        let work_rx = Arc::new(tokio::sync::Mutex::new(work_rx));
        let stage = Arc::new(Stage::new(
            &metrics,
            processors,
            output.clone(),
            output_name.clone(),
            input_received,
        ));
        let mut workers = Vec::new();
        let mut worker_aborts = Vec::new();
        for _ in 0..threads {
            let rx = work_rx.clone();
            let stage = stage.clone();
            let p = progress.clone();
            let w = tokio::spawn(async move {
                loop {
                    let next = { rx.lock().await.recv().await };
                    let Some(t) = next else { break };
                    stage.run(t, &p).await;
                }
            });
            worker_aborts.push(w.abort_handle());
            workers.push(w);
        }
        let out = output.clone();
        let sa = stopped_at.clone();
        tasks.push(tokio::spawn(async move {
            for w in workers {
                let _ = w.await;
            }
            out.close().await;
            *sa.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            let _ = done_tx.send(true);
        }));

        let mut tasks: Vec<tokio::task::AbortHandle> =
            tasks.iter().map(JoinHandle::abort_handle).collect();
        tasks.extend(worker_aborts);
        RunningStream {
            input_connected,
            stop_input,
            created: Instant::now(),
            stopped_at,
            done,
            tasks: Mutex::new(tasks),
            progress,
            output,
            names: (input_name, output_name),
            metrics,
        }
    }

    /// True until the output layer has closed.
    pub fn active(&self) -> bool {
        !*self.done.borrow()
    }

    /// Time since creation, frozen once the stream stopped.
    pub fn uptime(&self) -> Duration {
        match *self.stopped_at.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(t) => t.duration_since(self.created),
            None => self.created.elapsed(),
        }
    }

    /// The stream's metrics.
    pub fn metrics(&self) -> &StreamMetrics {
        &self.metrics
    }

    /// Whether the output reports being connected.
    pub fn output_connected(&self) -> bool {
        self.output.connected()
    }

    /// Whether the input reports being connected.
    pub fn input_connected(&self) -> bool {
        self.input_connected
            .as_ref()
            .map(|f| f.load(Ordering::SeqCst))
            .unwrap_or(true)
    }

    /// Stops the stream: the input stops taking messages, in-flight messages finish and are
    /// acknowledged, the output closes. Bounded by `timeout`: past ¾ of it (when that is more
    /// than a second) the tasks are aborted and the busy component is named.
    pub async fn stop(&self, timeout: Duration) -> Result<(), StopError> {
        self.stop_input.cancel();
        self.output.closing();
        let graceful = if timeout > Duration::from_secs(1) {
            timeout.mul_f64(0.75)
        } else {
            timeout
        };
        let mut done = self.done.clone();
        let stopped =
            tokio::time::timeout(graceful, async { done.wait_for(|d| *d).await.is_ok() }).await;
        if stopped.is_ok() {
            return Ok(());
        }
        let busy = self.busy_component();
        tracing::warn!(busy = %busy, "stream did not stop gracefully, forcing it");
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        let rest = timeout
            .saturating_sub(graceful)
            .max(Duration::from_millis(100));
        let _ = tokio::time::timeout(rest, self.output.close()).await;
        *self.stopped_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Err(StopError::Forced { timeout, busy })
    }

    fn busy_component(&self) -> String {
        let p = &self.progress;
        if p.writing.load(Ordering::SeqCst) > 0 {
            format!(
                "output {} (root.output) was still writing messages",
                self.names.1
            )
        } else if p.processing.load(Ordering::SeqCst) > 0 {
            "pipeline (root.pipeline) was still processing messages".to_string()
        } else if p.buffered.load(Ordering::SeqCst) > 0 {
            "buffer (root.buffer) still held messages".to_string()
        } else if p.input_running.load(Ordering::SeqCst) {
            format!(
                "input {} (root.input) was still waiting for acknowledgements",
                self.names.0
            )
        } else {
            format!("output {} (root.output) did not close", self.names.1)
        }
    }
}

impl Drop for RunningStream {
    fn drop(&mut self) {
        self.stop_input.cancel();
    }
}

/// The pipeline and output stage that every worker runs.
struct Stage {
    processors: Vec<SharedProcessor>,
    output: SharedOutput,
    output_name: String,
    input_received: Counter,
    output_sent: Counter,
    output_batch_sent: Counter,
    output_error: Counter,
    output_latency: Timer,
}

impl Stage {
    fn new(
        metrics: &StreamMetrics,
        processors: Vec<SharedProcessor>,
        output: SharedOutput,
        output_name: String,
        input_received: Counter,
    ) -> Stage {
        Stage {
            processors,
            output,
            output_name,
            input_received,
            output_sent: metrics.counter("output_sent", "", "root.output"),
            output_batch_sent: metrics.counter("output_batch_sent", "", "root.output"),
            output_error: metrics.counter("output_error", "", "root.output"),
            output_latency: metrics.timer("output_latency_ns", "", "root.output"),
        }
    }

    async fn run(&self, t: Transaction, p: &Progress) {
        let (mut batch, responses, acker) = t.into_parts();
        self.input_received.add(batch.len() as u64);
        p.processing.fetch_add(1, Ordering::SeqCst);
        for proc in &self.processors {
            if batch.is_empty() {
                break;
            }
            batch = proc.process(batch);
        }
        p.processing.fetch_sub(1, Ordering::SeqCst);
        if batch.is_empty() {
            // Everything was filtered: the transaction is done.
            acker.ack(Ok(()));
            return;
        }
        let n = batch.len() as u64;
        p.writing.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let result = self.output.write(batch, responses.as_ref()).await;
        p.writing.fetch_sub(1, Ordering::SeqCst);
        match &result {
            Ok(()) => {
                self.output_latency.record(start.elapsed());
                self.output_sent.add(n);
                self.output_batch_sent.incr();
            }
            Err(e) => {
                self.output_error.incr();
                tracing::warn!(output = %self.output_name, error = %e, "Failed to send message to {}", self.output_name);
            }
        }
        acker.ack(result);
    }
}

/// Spawns the memory buffer: an intake task that stores batches (acknowledging the input at
/// once, blocking when `limit` bytes are held) and a forwarding task that sends them on in
/// order and retries nacked ones with backoff.
fn spawn_memory_buffer(
    mut rx: mpsc::Receiver<Transaction>,
    tx: mpsc::Sender<Transaction>,
    limit: usize,
    progress: Arc<Progress>,
    metrics: &StreamMetrics,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let limit = limit.clamp(1, u32::MAX as usize);
    let sem = Arc::new(Semaphore::new(limit));
    let (store_tx, mut store_rx) =
        mpsc::unbounded_channel::<(Batch, tokio::sync::OwnedSemaphorePermit)>();
    let received = metrics.counter("buffer_received", "", "root.buffer");
    let sent = metrics.counter("buffer_sent", "", "root.buffer");
    let p = progress.clone();
    let intake = tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            let size = t.byte_size().clamp(1, limit) as u32;
            let Ok(permit) = sem.clone().acquire_many_owned(size).await else {
                break;
            };
            let (batch, _responses, acker) = t.into_parts();
            received.add(batch.len() as u64);
            p.buffered.fetch_add(1, Ordering::SeqCst);
            acker.ack(Ok(()));
            if store_tx.send((batch, permit)).is_err() {
                break;
            }
        }
    });
    let forward = tokio::spawn(async move {
        let mut retries = tokio::task::JoinSet::new();
        while let Some((batch, permit)) = store_rx.recv().await {
            let n = batch.len() as u64;
            let (t, ack) = Transaction::new(batch.clone());
            if tx.send(t).await.is_err() {
                break;
            }
            let tx = tx.clone();
            let progress = progress.clone();
            let sent = sent.clone();
            retries.spawn(async move {
                let _permit = permit;
                let mut ack = ack;
                let mut backoff = Duration::from_millis(100);
                loop {
                    if ack.wait().await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let (t, next) = Transaction::new(batch.clone());
                    if tx.send(t).await.is_err() {
                        break;
                    }
                    ack = next;
                }
                sent.add(n);
                progress.buffered.fetch_sub(1, Ordering::SeqCst);
            });
            while retries.try_join_next().is_some() {}
        }
        // Graceful stop: flush what is still in flight.
        while retries.join_next().await.is_some() {}
    });
    (intake, forward)
}
