//! A running stream: the tasks that move transactions from the input through the buffer and
//! the pipeline workers to the output, and the bounded stop.
//!
//! ```text
//! input task ──mpsc──▶ [memory buffer] ──mpsc──▶ N pipeline workers ──▶ output.write ──▶ ack
//! ```
//! Channels are bounded (backpressure). The output resolves each transaction; the memory
//! buffer acknowledges the input as soon as it stored a batch and retries nacked batches
//! itself. A stop first tells the input to stop taking messages and lets everything in flight
//! finish; past the graceful budget it aborts the tasks, raises the stream's
//! [`Interrupt`] (running evaluations fail at their next check) and names the component that
//! was busy.
//!
//! Tasks run on the data-plane runtime given to [`RunningStream::start`]. Pipeline workers
//! run each batch's processors on a thread of the runtime's blocking pool (with the runtime's
//! thread stack size), so a slow or spinning mapping never holds a thread that I/O tasks need.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_compiler::limits::{self, Interrupt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::component::{Input, InputSink, SharedOutput, SharedProcessor};
use super::memory_buffer::{self, MemoryBuffer};
use super::transaction::{Acker, Batch, Nack, ResponseStore, Transaction};
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
        /// How stored batches are grouped before they go to the pipeline.
        batch_policy: BatchPolicy,
    },
}

/// When an output's batches are flushed (the output's `batching` field): at `count`
/// messages, at `byte_size` bytes, or `period` after the first message, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchPolicy {
    /// Messages per batch (0: no limit).
    pub count: usize,
    /// Bytes per batch (0: no limit).
    pub byte_size: usize,
    /// Longest wait for a batch to fill.
    pub period: Option<Duration>,
}

impl BatchPolicy {
    /// True when the policy groups anything (a count of 1 or less alone does not).
    pub fn is_active(&self) -> bool {
        self.count > 1 || self.byte_size > 0 || self.period.is_some()
    }
}

/// The most pipeline workers a stream runs (each can hold a blocking-pool thread while it
/// processes a batch, so one stream cannot take the whole pool).
pub const MAX_PIPELINE_THREADS: usize = 256;

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
    /// The output's batching policy.
    pub output_batching: BatchPolicy,
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
pub(crate) struct Progress {
    input_running: AtomicBool,
    /// Batches a memory buffer holds (stored, or sent on and not yet acknowledged).
    pub(crate) buffered: AtomicUsize,
    processing: AtomicUsize,
    writing: AtomicUsize,
}

/// A stream whose tasks are running.
pub struct RunningStream {
    input_connected: Option<Arc<AtomicBool>>,
    stop_input: CancellationToken,
    /// Cancelled when a stop is forced: pipeline workers leave at their next await.
    force: CancellationToken,
    /// Raised when a stop is forced: running evaluations fail at their next check.
    interrupt: Interrupt,
    created: Instant,
    stopped_at: Arc<Mutex<Option<Instant>>>,
    done: watch::Receiver<bool>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    progress: Arc<Progress>,
    output: SharedOutput,
    names: (String, String),
    metrics: StreamMetrics,
    /// The memory buffer, when the stream has one.
    buffer: Option<MemoryBuffer>,
}

impl std::fmt::Debug for RunningStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStream")
            .field("active", &self.active())
            .finish()
    }
}

impl RunningStream {
    /// Starts a plan's tasks on the runtime of `handle`.
    pub fn start(plan: StreamPlan, handle: &tokio::runtime::Handle) -> RunningStream {
        let _runtime = handle.enter();
        let StreamPlan {
            input: (input, input_name),
            buffer,
            processors,
            threads,
            output: (output, output_name),
            output_batching,
            metrics,
        } = plan;
        let stop_input = CancellationToken::new();
        let force = CancellationToken::new();
        let interrupt = Interrupt::new();
        let progress = Arc::new(Progress::default());
        let (done_tx, done) = watch::channel(false);
        let stopped_at = Arc::new(Mutex::new(None));
        if threads > MAX_PIPELINE_THREADS {
            tracing::warn!(
                threads,
                "pipeline.threads is capped at {}",
                MAX_PIPELINE_THREADS
            );
        }
        let threads = threads.clamp(1, MAX_PIPELINE_THREADS);
        let mut tasks = Vec::new();

        let (in_tx, in_rx) = mpsc::channel::<Transaction>(threads);
        progress.input_running.store(true, Ordering::SeqCst);
        let input_received = metrics.counter("input_received", "", "root.input");
        let p = progress.clone();
        let sink = InputSink::new(in_tx, stop_input.clone()).with_interrupt(interrupt.clone());
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

        let mut memory_buffer = None;
        let work_rx = match buffer {
            BufferPlan::None => in_rx,
            BufferPlan::Memory {
                limit,
                batch_policy,
            } => {
                let (out_tx, out_rx) = mpsc::channel::<Transaction>(threads);
                let (handle, t1, t2) = memory_buffer::spawn(
                    in_rx,
                    out_tx,
                    limit,
                    batch_policy,
                    progress.clone(),
                    &metrics,
                );
                tasks.push(t1);
                tasks.push(t2);
                memory_buffer = Some(handle);
                out_rx
            }
        };

        let work_rx = Arc::new(tokio::sync::Mutex::new(work_rx));
        let writer = Arc::new(Writer::new(&metrics, output.clone(), output_name.clone()));
        let (batcher_tx, batcher) = if output_batching.is_active() {
            let (tx, rx) = mpsc::channel::<Pending>(threads * 4);
            let t = tokio::spawn(run_batcher(
                rx,
                output_batching,
                writer.clone(),
                progress.clone(),
            ));
            (Some(tx), Some(t))
        } else {
            (None, None)
        };
        let batcher_abort = batcher.as_ref().map(JoinHandle::abort_handle);
        let stage = Arc::new(Stage {
            processors,
            writer,
            batcher: batcher_tx,
            input_received,
            interrupt: interrupt.clone(),
        });
        let mut workers = Vec::new();
        for _ in 0..threads {
            let rx = work_rx.clone();
            let stage = stage.clone();
            let p = progress.clone();
            let force = force.clone();
            // A forced stop cancels `force`: the loop leaves at its next await.
            let w = tokio::spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = force.cancelled() => None,
                        n = async { rx.lock().await.recv().await } => n,
                    };
                    let Some(t) = next else { break };
                    tokio::select! {
                        _ = force.cancelled() => break,
                        _ = Stage::run(&stage, t, &p) => {}
                    }
                }
            });
            workers.push(w);
        }
        let out = output.clone();
        let sa = stopped_at.clone();
        tasks.push(tokio::spawn(async move {
            for w in workers {
                let _ = w.await;
            }
            // The workers are done: the batcher flushes what it holds and ends.
            drop(stage);
            if let Some(b) = batcher {
                let _ = b.await;
            }
            out.close().await;
            *sa.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            let _ = done_tx.send(true);
        }));

        let mut tasks: Vec<tokio::task::AbortHandle> =
            tasks.iter().map(JoinHandle::abort_handle).collect();
        tasks.extend(batcher_abort);
        RunningStream {
            input_connected,
            stop_input,
            force,
            interrupt,
            created: Instant::now(),
            stopped_at,
            done,
            tasks: Mutex::new(tasks),
            progress,
            output,
            names: (input_name, output_name),
            metrics,
            buffer: memory_buffer,
        }
    }

    /// Before this stream stops for `next` (a PUT): if both have memory buffers, what this
    /// one holds and has not yet sent to its pipeline goes to `next`'s (see
    /// [`memory_buffer`]), so a replace never loses acknowledged data nor waits for a slow
    /// output to drain it.
    pub fn hand_over_buffer_to(&self, next: &RunningStream) {
        if let (Some(mine), Some(theirs)) = (&self.buffer, &next.buffer) {
            mine.hand_over_to(theirs);
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
        self.interrupt.raise();
        self.force.cancel();
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
            format!(
                "buffer (root.buffer) still held {} acknowledged batches, which are lost",
                p.buffered.load(Ordering::SeqCst)
            )
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
        self.interrupt.raise();
        self.force.cancel();
    }
}

/// A processed batch waiting to be written, with its acknowledgement.
type Pending = (Batch, Option<ResponseStore>, Acker);

/// Writes batches to the output, with its metrics.
struct Writer {
    output: SharedOutput,
    output_name: String,
    sent: Counter,
    batch_sent: Counter,
    error: Counter,
    latency: Timer,
}

impl Writer {
    fn new(metrics: &StreamMetrics, output: SharedOutput, output_name: String) -> Writer {
        Writer {
            output,
            output_name,
            sent: metrics.counter("output_sent", "", "root.output"),
            batch_sent: metrics.counter("output_batch_sent", "", "root.output"),
            error: metrics.counter("output_error", "", "root.output"),
            latency: metrics.timer("output_latency_ns", "", "root.output"),
        }
    }

    async fn write(
        &self,
        batch: Batch,
        responses: Option<&ResponseStore>,
        p: &Progress,
    ) -> Result<(), Nack> {
        let n = batch.len() as u64;
        p.writing.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let result = self.output.write(batch, responses).await;
        p.writing.fetch_sub(1, Ordering::SeqCst);
        match &result {
            Ok(()) => {
                self.latency.record(start.elapsed());
                self.sent.add(n);
                self.batch_sent.incr();
            }
            Err(e) => {
                self.error.incr();
                tracing::warn!(output = %self.output_name, error = %e, "Failed to send message to {}", self.output_name);
            }
        }
        result
    }
}

/// The pipeline stage every worker runs: the processors, then the output (directly, or
/// through the batcher when the output has a batching policy).
struct Stage {
    processors: Vec<SharedProcessor>,
    writer: Arc<Writer>,
    batcher: Option<mpsc::Sender<Pending>>,
    input_received: Counter,
    interrupt: Interrupt,
}

impl Stage {
    /// Runs the processors over a batch on a thread of the blocking pool (never on a runtime
    /// worker: CPU-bound processing must not hold the threads I/O tasks run on, and each
    /// busy batch gets a thread of its own, so the OS shares the cores fairly between
    /// streams), then hands the batch to the output.
    async fn run(self: &Arc<Stage>, t: Transaction, p: &Progress) {
        let (batch, responses, acker) = t.into_parts();
        self.input_received.add(batch.len() as u64);
        p.processing.fetch_add(1, Ordering::SeqCst);
        let stage = self.clone();
        let store = responses.clone();
        let processed = tokio::task::spawn_blocking(move || {
            limits::with_interrupt(&stage.interrupt, || {
                super::component::with_responses(store, || {
                    super::component::process_all(&stage.processors, batch)
                })
            })
        })
        .await;
        p.processing.fetch_sub(1, Ordering::SeqCst);
        let batches = match processed {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "a processor panicked; the batch is rejected");
                acker.ack(Err(Nack("processing failed".into())));
                return;
            }
        };
        // Everything filtered: the transaction is done (`split` of zero parts acks it).
        let ackers = acker.split(batches.len());
        for (batch, acker) in batches.into_iter().zip(ackers) {
            match &self.batcher {
                Some(tx) => {
                    if let Err(mpsc::error::SendError((_, _, acker))) =
                        tx.send((batch, responses.clone(), acker)).await
                    {
                        acker.ack(Err(Nack("output batcher closed".into())));
                    }
                }
                None => {
                    let result = self.writer.write(batch, responses.as_ref(), p).await;
                    acker.ack(result);
                }
            }
        }
    }
}

/// Groups processed batches by the output's policy and writes each group once; every
/// transaction in a group gets the group's outcome.
async fn run_batcher(
    mut rx: mpsc::Receiver<Pending>,
    policy: BatchPolicy,
    writer: Arc<Writer>,
    p: Arc<Progress>,
) {
    let mut messages: Batch = Vec::new();
    let mut ackers: Vec<Acker> = Vec::new();
    let mut bytes = 0usize;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = match deadline {
            Some(d) => tokio::select! {
                n = rx.recv() => Some(n),
                _ = tokio::time::sleep_until(d) => None,
            },
            None => Some(rx.recv().await),
        };
        let closed = matches!(next, Some(None));
        let timed_out = next.is_none();
        if let Some(Some((batch, _responses, acker))) = next {
            bytes += batch.iter().map(|m| m.payload.len()).sum::<usize>();
            messages.extend(batch);
            ackers.push(acker);
            if deadline.is_none() {
                deadline = policy.period.map(|d| tokio::time::Instant::now() + d);
            }
        }
        let full = (policy.count > 0 && messages.len() >= policy.count)
            || (policy.byte_size > 0 && bytes >= policy.byte_size);
        if !messages.is_empty() && (full || timed_out || closed) {
            let result = writer.write(std::mem::take(&mut messages), None, &p).await;
            for a in ackers.drain(..) {
                a.ack(result.clone());
            }
            bytes = 0;
            deadline = None;
        }
        if closed {
            return;
        }
    }
}
