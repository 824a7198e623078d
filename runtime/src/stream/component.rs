//! The component traits: what an input, a processor and an output must do, and the context
//! every component is built with.
//!
//! Inputs are tasks that push [`Transaction`]s into an [`InputSink`] and wait for their
//! acknowledgements; processors are synchronous batch transforms (errors flag messages, they
//! never drop them); outputs write batches asynchronously and report success or a [`Nack`].

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::transaction::{Batch, Nack, ResponseStore, Transaction};
use crate::endpoints::EndpointRegistry;
use crate::metrics::StreamMetrics;

/// An error building or running a component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ComponentError(pub String);

impl ComponentError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> ComponentError {
        ComponentError(msg.into())
    }
}

impl From<crate::config::stream::TypedConfigError> for ComponentError {
    fn from(e: crate::config::stream::TypedConfigError) -> ComponentError {
        ComponentError(e.to_string())
    }
}

/// Where and for whom a component is built.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The stream id.
    pub stream: String,
    /// Whether the component's HTTP endpoints are prefixed with `/{stream}`.
    pub prefix_endpoints: bool,
    /// The shared server's endpoint registry.
    pub endpoints: EndpointRegistry,
    /// The rate limit resources, looked up by name.
    pub rate_limits: crate::components::rate_limit::RateLimits,
    /// The cache resources, looked up by name.
    pub caches: crate::components::cache::Caches,
    /// The `inproc` pipes between streams, by name.
    pub pipes: crate::components::inproc::Pipes,
    /// The input, processor and output resource configs, by name.
    pub resources: crate::components::resource::ResourceConfigs,
    /// The stream's metrics.
    pub metrics: StreamMetrics,
    /// The component's config path (`root.input`, `root.pipeline.processors.0`, ...).
    pub path: String,
    /// Built by `compile --check`: validate everything, but open nothing that reaches
    /// outside the process (no client connects, no listener binds).
    pub offline: bool,
    /// The component's label.
    pub label: String,
}

impl BuildContext {
    /// The route a component path gets on the shared server.
    pub fn route(&self, path: &str) -> String {
        crate::endpoints::namespaced(self.prefix_endpoints.then_some(self.stream.as_str()), path)
    }

    /// The same context for a child component at `path` with `label`.
    pub fn child(&self, path: String, label: String) -> BuildContext {
        BuildContext {
            path,
            label,
            ..self.clone()
        }
    }
}

/// Where an input sends its transactions.
#[derive(Debug, Clone)]
pub struct InputSink {
    tx: mpsc::Sender<Transaction>,
    stop: CancellationToken,
    interrupt: sluice_compiler::limits::Interrupt,
}

impl InputSink {
    /// A sink over a channel, stopped by `stop`.
    pub fn new(tx: mpsc::Sender<Transaction>, stop: CancellationToken) -> InputSink {
        InputSink {
            tx,
            stop,
            interrupt: Default::default(),
        }
    }

    /// A sink for a child input (`read_until`'s): its own channel and stop token, the
    /// stream's interrupt flag.
    pub fn derive(&self, tx: mpsc::Sender<Transaction>, stop: CancellationToken) -> InputSink {
        InputSink {
            tx,
            stop,
            interrupt: self.interrupt.clone(),
        }
    }

    /// The sink with the stream's interrupt flag (raised when a stop is forced).
    pub fn with_interrupt(mut self, interrupt: sluice_compiler::limits::Interrupt) -> InputSink {
        self.interrupt = interrupt;
        self
    }

    /// Runs `f` (an evaluation the input makes, e.g. `generate`'s mapping) under the stream's
    /// interrupt flag.
    pub fn evaluate<R>(&self, f: impl FnOnce() -> R) -> R {
        sluice_compiler::limits::with_interrupt(&self.interrupt, f)
    }

    /// Sends a transaction downstream, waiting for room (backpressure). Fails when the stream
    /// is stopping or gone; the transaction is then dropped (a nack).
    pub async fn send(&self, t: Transaction) -> Result<(), Nack> {
        tokio::select! {
            r = self.tx.send(t) => r.map_err(|_| Nack("stream is closed".into())),
            _ = self.stop.cancelled() => Err(Nack("stream is stopping".into())),
        }
    }

    /// Sends a transaction the input accepted before it was told to stop (e.g. a request in
    /// flight): waits for room even while stopping, since the graph drains it.
    pub async fn send_draining(&self, t: Transaction) -> Result<(), Nack> {
        self.tx
            .send(t)
            .await
            .map_err(|_| Nack("stream is closed".into()))
    }

    /// Resolves when the input must stop taking new messages.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// True once the input has been told to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// An input: reads from its source until the source ends or the sink says stop. It returns
/// only once every transaction it sent has been resolved (so a graceful stop loses nothing).
#[async_trait]
pub trait Input: Send + 'static {
    /// Called synchronously when the stream starts, before [`Input::run`]: an input that
    /// serves HTTP endpoints registers them here, so a swap points routes at the new stream
    /// at once.
    fn attach(&mut self, _sink: &InputSink) {}

    /// A flag the input keeps up to date with its connection state, for readiness; `None`
    /// for inputs that are always connected.
    fn connected_flag(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        None
    }

    /// Runs the input.
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError>;
}

/// A processor: transforms a batch. Failures flag messages (`Message::error`) and never drop
/// them; returning fewer messages filters them (e.g. `root = deleted()`).
pub trait Processor: Send + Sync + 'static {
    /// Processes a batch. A processor that makes several batches of one (`split`,
    /// `group_by`) returns their messages together here, as nested processors (`for_each`,
    /// `branch`, ...) see them; the pipeline calls [`Processor::process_batches`].
    fn process(&self, batch: Batch) -> Batch;

    /// Processes a batch into any number of batches, each written to the output on its own;
    /// the input's transaction is acknowledged once every one of them is. By default one
    /// batch (none when every message was filtered).
    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        let out = self.process(batch);
        if out.is_empty() {
            Vec::new()
        } else {
            vec![out]
        }
    }
}

thread_local! {
    /// The synchronous-response store of the transaction whose batch this thread is
    /// processing, for the `sync_response` processor.
    static RESPONSES: std::cell::RefCell<Option<ResponseStore>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a batch's processors) with `store` as the synchronous-response store the
/// `sync_response` processor writes to.
pub fn with_responses<R>(store: Option<ResponseStore>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<ResponseStore>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RESPONSES.with(|r| *r.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(RESPONSES.with(|r| r.replace(store)));
    f()
}

/// The synchronous-response store of the batch being processed on this thread, if its
/// input has one.
pub fn current_responses() -> Option<ResponseStore> {
    RESPONSES.with(|r| r.borrow().clone())
}

/// Runs processors in order over a batch the way the pipeline does: each processor sees
/// every batch the previous one made.
pub fn process_all(processors: &[SharedProcessor], batch: Batch) -> Vec<Batch> {
    let mut batches = vec![batch];
    for p in processors {
        if batches.is_empty() {
            break;
        }
        batches = batches
            .into_iter()
            .flat_map(|b| p.process_batches(b))
            .collect();
    }
    batches.retain(|b| !b.is_empty());
    batches
}

/// An output: writes batches.
#[async_trait]
pub trait Output: Send + Sync + 'static {
    /// Called synchronously when the stream starts (an output that serves HTTP endpoints
    /// registers them here).
    fn attach(&self) {}

    /// Writes a batch; `responses` is the store of synchronous responses when the input that
    /// produced the batch has one.
    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack>;

    /// Called when the stream starts stopping, before in-flight writes are waited for: an
    /// output whose writes wait on something external (a client to read) can hand pending
    /// batches over or fail them here instead of holding the stop.
    fn closing(&self) {}

    /// Closes the output after the last write (disables endpoints, flushes files).
    async fn close(&self) {}

    /// Whether the output is connected to its sink.
    fn connected(&self) -> bool {
        true
    }
}

/// A shared output.
pub type SharedOutput = Arc<dyn Output>;
/// A shared processor.
pub type SharedProcessor = Arc<dyn Processor>;
