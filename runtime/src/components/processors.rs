//! Building processors: [`build`] looks a processor up in the catalog and wraps it in
//! [`Metered`], which counts `processor_received`, `processor_sent`, `processor_error` (and
//! their batch counterparts and latency) under its config path; [`children`] and
//! [`run_all`] are what processors that hold processors (`for_each`, `branch`, `switch`, ...)
//! build and run them with.
//!
//! A message a processor fails on is flagged (`Message::error`) and goes on, as in the
//! reference; only `root = deleted()` removes a message.

use std::sync::Arc;
use std::time::Instant;

use sluice_compiler::Mapping;

use crate::config::stream::ComponentConfig;
use crate::metrics::{Counter, Timer};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// Builds a processor (wrapped with its metrics) through its registration in the catalog.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let inner = match super::catalog::builder(cfg.kind, cfg.name) {
        Some(super::catalog::Builder::Processor(build)) => build(cfg, ctx)?,
        _ => {
            return Err(ComponentError::new(format!(
                "processor type '{}' is registered but cannot run in sluice yet",
                cfg.name
            )))
        }
    };
    Ok(Arc::new(Metered::new(inner, ctx)))
}

/// Builds the processors held by an array field (the items are components), each under its
/// index in `ctx.path`.
pub(crate) fn children(
    items: &[crate::config::stream::Field],
    ctx: &BuildContext,
) -> Result<Vec<SharedProcessor>, ComponentError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, f) in items.iter().enumerate() {
        let Some(c) = f.as_component() else {
            return Err(ComponentError::new("expected a processor"));
        };
        out.push(build(
            c,
            &ctx.child(format!("{}.{}", ctx.path, i), c.label.clone()),
        )?);
    }
    Ok(out)
}

/// Builds the processors of a component's array field `field`, each under
/// `{path}.{field}.{i}`.
pub(crate) fn children_of(
    cfg: &ComponentConfig,
    field: &str,
    ctx: &BuildContext,
) -> Result<Vec<SharedProcessor>, ComponentError> {
    let pctx = ctx.child(format!("{}.{}", ctx.path, field), String::new());
    children(
        cfg.field(field)
            .and_then(crate::config::stream::Field::as_array)
            .unwrap_or(&[]),
        &pctx,
    )
}

/// Runs processors in order over a batch.
pub(crate) fn run_all(processors: &[SharedProcessor], mut batch: Batch) -> Batch {
    for p in processors {
        if batch.is_empty() {
            break;
        }
        batch = p.process(batch);
    }
    batch
}

/// The counters of one processor, under its label and config path.
pub struct StageMetrics {
    pub(crate) received: Counter,
    pub(crate) batch_received: Counter,
    pub(crate) sent: Counter,
    pub(crate) batch_sent: Counter,
    pub(crate) error: Counter,
    pub(crate) latency: Timer,
}

impl StageMetrics {
    /// Registers the processor counters of `ctx`'s component.
    pub fn new(ctx: &BuildContext) -> StageMetrics {
        let m = &ctx.metrics;
        let (l, p) = (ctx.label.as_str(), ctx.path.as_str());
        StageMetrics {
            received: m.counter("processor_received", l, p),
            batch_received: m.counter("processor_batch_received", l, p),
            sent: m.counter("processor_sent", l, p),
            batch_sent: m.counter("processor_batch_sent", l, p),
            error: m.counter("processor_error", l, p),
            latency: m.timer("processor_latency_ns", l, p),
        }
    }
}

/// Records which back end runs a processor's mapping: `processor_backend_jit` is 1 when
/// native code runs it, `processor_backend_interpreter` is 1 when the interpreter does
/// (because `SLUICE_BACKEND=interpreter`, or because the JIT failed and fell back).
pub fn record_backend(ctx: &BuildContext, mapping: &Mapping) {
    let (l, p) = (ctx.label.as_str(), ctx.path.as_str());
    let jit = mapping.backend() == sluice_compiler::Backend::Jit;
    ctx.metrics
        .counter("processor_backend_jit", l, p)
        .add(jit as u64);
    ctx.metrics
        .counter("processor_backend_interpreter", l, p)
        .add(!jit as u64);
    if let Some(why) = mapping.jit_fallback() {
        tracing::warn!(stream = %ctx.stream, path = %ctx.path, reason = %why, "mapping runs on the interpreter");
    }
}

/// Counts what a processor received, sent and flagged.
pub struct Metered {
    inner: SharedProcessor,
    m: StageMetrics,
}

impl Metered {
    /// Wraps `inner` with the counters of `ctx`'s component.
    pub fn new(inner: SharedProcessor, ctx: &BuildContext) -> Metered {
        Metered {
            inner,
            m: StageMetrics::new(ctx),
        }
    }
}

impl Metered {
    /// Runs `run` over `batch`, counting what went in and what came out.
    fn count(&self, batch: Batch, run: impl FnOnce(Batch) -> Vec<Batch>) -> Vec<Batch> {
        let m = &self.m;
        m.received.add(batch.len() as u64);
        m.batch_received.incr();
        let errored_before = batch.iter().filter(|m| m.error.is_some()).count();
        let start = Instant::now();
        let out = run(batch);
        m.latency.record(start.elapsed());
        let errored_after: usize = out
            .iter()
            .map(|b| b.iter().filter(|m| m.error.is_some()).count())
            .sum();
        m.error
            .add(errored_after.saturating_sub(errored_before) as u64);
        for b in out.iter().filter(|b| !b.is_empty()) {
            m.sent.add(b.len() as u64);
            m.batch_sent.incr();
        }
        out
    }
}

impl Processor for Metered {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = self.count(batch, |b| vec![self.inner.process(b)]);
        out.pop().unwrap_or_default()
    }

    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        self.count(batch, |b| self.inner.process_batches(b))
    }
}
