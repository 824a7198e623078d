//! Processors: `mapping`, `mutation`, `bloblang` (compiled Bloblang), `log`, and the
//! structural ones `switch`, `catch`, `try` that run child processors.
//!
//! A message a processor fails on is flagged (`Message::error`) and goes on, as in the
//! reference; only `root = deleted()` removes a message. Every processor is wrapped in
//! [`Metered`], which counts `processor_received`, `processor_sent` and `processor_error`
//! under its config path.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::jit::Layered;
use sluice_compiler::{Mapping, MappingOutcome, Message, StructuredOutcome, Value};

use crate::config::stream::ComponentConfig;
use crate::metrics::{Counter, Timer};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
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

/// `mapping`, `bloblang` and `mutation`: a compiled mapping (its back end recorded in the
/// stream's metrics).
pub fn mapping(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let p = MappingProcessor::new(mapping_source(cfg)?, cfg.name == "mutation")?;
    record_backend(ctx, &p.mapping);
    Ok(Arc::new(p))
}

/// `log`.
pub fn log(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Log::new(cfg, ctx)?))
}

/// `switch`.
pub fn switch(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Switch::new(cfg, ctx)?))
}

/// `catch`: child processors run on the messages that failed.
pub fn catch(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Catch {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
}

/// `try`: child processors run until one fails a message.
pub fn r#try(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Try {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
}

fn mapping_source(cfg: &ComponentConfig) -> Result<&str, ComponentError> {
    cfg.config
        .as_str()
        .ok_or_else(|| ComponentError::new("expected a mapping string"))
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
    received: Counter,
    batch_received: Counter,
    sent: Counter,
    batch_sent: Counter,
    error: Counter,
    latency: Timer,
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
    fn new(inner: SharedProcessor, ctx: &BuildContext) -> Metered {
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

/// True for the processors that [`FusedMappings`] can chain: `mapping`, `mutation`,
/// `bloblang`.
pub fn is_mapping(cfg: &ComponentConfig) -> bool {
    matches!(cfg.name, "mapping" | "mutation" | "bloblang")
}

/// One stage of a fused chain.
struct FusedStage {
    mapping: Mapping,
    mutation: bool,
    metrics: StageMetrics,
}

/// Consecutive `mapping`/`mutation`/`bloblang` processors fused into one step: the payload is
/// parsed once (only as far as the first stage reads it), each stage hands the next its
/// document in memory, and the result is serialised once. Results, error flags and
/// per-processor metrics are exactly those of the unfused chain: a document handed over is
/// first made [`Value::into_json_equivalent`], and a stage that reads the raw payload
/// (`content()`) gets current bytes.
pub struct FusedMappings {
    stages: Vec<FusedStage>,
}

impl FusedMappings {
    /// Compiles every stage; `configs` are the consecutive processors with their contexts.
    /// A failure names the index (in `configs`) of the processor that failed.
    pub fn new(
        configs: &[(&ComponentConfig, BuildContext)],
    ) -> Result<FusedMappings, (usize, ComponentError)> {
        let mut stages = Vec::with_capacity(configs.len());
        for (i, (cfg, ctx)) in configs.iter().enumerate() {
            let mapping = mapping_source(cfg)
                .and_then(|src| {
                    Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))
                })
                .map_err(|e| (i, e))?;
            record_backend(ctx, &mapping);
            stages.push(FusedStage {
                mapping,
                mutation: cfg.name == "mutation",
                metrics: StageMetrics::new(ctx),
            });
        }
        Ok(FusedMappings { stages })
    }

    /// A chain over mapping sources (`(source, mutation)`), for tests and benchmarks; stage
    /// `i` is metered under `{ctx.path}.{i}`.
    pub fn from_sources(
        sources: &[(&str, bool)],
        ctx: &BuildContext,
    ) -> Result<FusedMappings, ComponentError> {
        let mut stages = Vec::with_capacity(sources.len());
        for (i, (src, mutation)) in sources.iter().enumerate() {
            let mapping = Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))?;
            let stage_ctx = ctx.child(format!("{}.{}", ctx.path, i), ctx.label.clone());
            stages.push(FusedStage {
                mapping,
                mutation: *mutation,
                metrics: StageMetrics::new(&stage_ctx),
            });
        }
        Ok(FusedMappings { stages })
    }
}

/// A message between the stages of a fused chain: the document as the last stage left it,
/// serialised into `payload` only when a stage needs bytes or the chain ends.
struct InFlight {
    payload: Bytes,
    meta: sluice_compiler::value::Object,
    error: Option<String>,
    /// The document parsed, when the last stage produced a structured value.
    doc: Option<Value>,
    /// The document layered over the payload bytes, when the last stages ran raw plans.
    layered: Option<Layered>,
}

impl InFlight {
    fn new(msg: Message) -> InFlight {
        InFlight {
            payload: msg.payload,
            meta: msg.metadata,
            error: msg.error,
            doc: None,
            layered: None,
        }
    }

    /// The message the chain outputs.
    fn finish(mut self) -> Message {
        if let Some(l) = self.layered.take() {
            self.payload = l.into_payload();
        }
        if let Some(d) = self.doc.take() {
            self.payload = d.to_payload();
        }
        Message {
            payload: self.payload,
            metadata: self.meta,
            error: self.error,
        }
    }
}

impl FusedStage {
    /// Runs this stage on one message; false when it deleted the message.
    ///
    /// The message travels in the cheapest form the next stage takes: as a layered document
    /// (payload bytes plus the top-level fields written so far) through stages the JIT
    /// compiled to raw-payload plans, as a parsed document through the others.
    fn apply(&self, it: &mut InFlight) -> bool {
        let view = Message {
            payload: Bytes::new(),
            metadata: std::mem::take(&mut it.meta),
            error: it.error.take(),
        };
        if it.doc.is_none() && self.mapping.runs_layered(self.mutation) {
            let l = it
                .layered
                .get_or_insert_with(|| Layered::new(it.payload.clone()));
            if let Some(r) = self.mapping.run_layered(l, &view, self.mutation) {
                match r {
                    Ok(metadata) => {
                        it.meta = metadata;
                        it.error = view.error;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "mapping failed");
                        it.meta = view.metadata;
                        it.error = Some(e.to_string());
                    }
                }
                return true;
            }
        }
        // This stage takes bytes or a parsed document: settle a layered document first.
        if let Some(l) = it.layered.take() {
            it.payload = l.into_payload();
        }
        if self.mapping.reads_payload() {
            if let Some(d) = &it.doc {
                it.payload = d.to_payload();
            }
        }
        let view = Message {
            payload: it.payload.clone(),
            ..view
        };
        match self
            .mapping
            .run_structured(&view, it.doc.as_ref(), self.mutation)
        {
            Ok(StructuredOutcome::Unchanged { metadata }) => {
                it.meta = metadata;
                it.error = view.error;
            }
            Ok(StructuredOutcome::Replaced { root, metadata }) => {
                it.meta = metadata;
                it.error = view.error;
                match root {
                    Value::Str(_) | Value::Bytes(_) => {
                        it.payload = root.to_payload();
                        it.doc = None;
                    }
                    other => it.doc = Some(other.into_json_equivalent()),
                }
            }
            Ok(StructuredOutcome::Deleted) => return false,
            Err(e) => {
                tracing::debug!(error = %e, "mapping failed");
                it.meta = view.metadata;
                it.error = Some(e.to_string());
            }
        }
        true
    }
}

/// What one stage of a fused chain did over a batch, recorded into its metrics once the
/// batch is done.
#[derive(Default, Clone, Copy)]
struct StageTally {
    received: u64,
    sent: u64,
    errored_in: u64,
    errored_out: u64,
    /// The messages this stage was timed on, and the time they took.
    timed: u64,
    timed_for: std::time::Duration,
}

/// A fused stage is timed on one message in this many (and on the first it receives):
/// reading the clock around every stage of every message cost more than some stages.
const TIME_ONE_IN: u64 = 32;

impl Processor for FusedMappings {
    /// Runs each message through every stage before the next message (its document stays
    /// hot in the cache, and what a stage allocates for it is freed before the next message
    /// allocates again), tallying per stage what [`Metered`] would count for an unfused
    /// processor over the batch: messages in and out, and new errors, exactly; and the time
    /// spent, which is the batch's measured time shared out by each stage's mean time over
    /// the messages it was timed on. Each stage's tally is recorded once per batch, and not
    /// at all for a stage no message reached (as the pipeline skips processors on an empty
    /// batch).
    fn process(&self, batch: Batch) -> Batch {
        let start = Instant::now();
        let mut tally = vec![StageTally::default(); self.stages.len()];
        let mut out = Vec::with_capacity(batch.len());
        let size = batch.len();
        for (i, msg) in batch.into_iter().enumerate() {
            let mut it = InFlight::new(msg);
            let mut alive = true;
            let _position = sluice_compiler::batch::Position::enter(i, size);
            for (stage, t) in self.stages.iter().zip(tally.iter_mut()) {
                let timed = t.received % TIME_ONE_IN == 0;
                t.received += 1;
                t.errored_in += u64::from(it.error.is_some());
                let clock = timed.then(Instant::now);
                alive = stage.apply(&mut it);
                if let Some(c) = clock {
                    t.timed += 1;
                    t.timed_for += c.elapsed();
                }
                if !alive {
                    break;
                }
                t.sent += 1;
                t.errored_out += u64::from(it.error.is_some());
            }
            if alive {
                out.push(it.finish());
            }
        }
        let elapsed = start.elapsed();
        // Each stage's estimated share: its mean timed latency times the messages it took.
        let estimate = |t: &StageTally| {
            if t.timed == 0 {
                0.0
            } else {
                t.timed_for.as_secs_f64() / t.timed as f64 * t.received as f64
            }
        };
        let total: f64 = tally.iter().map(estimate).sum();
        for (stage, t) in self.stages.iter().zip(&tally) {
            if t.received == 0 {
                break;
            }
            let m = &stage.metrics;
            m.received.add(t.received);
            m.batch_received.incr();
            let share = if total > 0.0 {
                estimate(t) / total
            } else {
                1.0 / self.stages.len() as f64
            };
            m.latency.record(elapsed.mul_f64(share));
            m.error.add(t.errored_out.saturating_sub(t.errored_in));
            m.sent.add(t.sent);
            if t.sent > 0 {
                m.batch_sent.incr();
            }
        }
        out
    }
}

/// `mapping` / `bloblang` (root starts empty) and `mutation` (root starts as the input).
pub struct MappingProcessor {
    mapping: Mapping,
    mutation: bool,
}

impl MappingProcessor {
    /// Compiles the mapping.
    pub fn new(src: &str, mutation: bool) -> Result<MappingProcessor, ComponentError> {
        let mapping = Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(MappingProcessor { mapping, mutation })
    }
}

impl Processor for MappingProcessor {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        let size = batch.len();
        for (i, msg) in batch.into_iter().enumerate() {
            let r = sluice_compiler::batch::with_position(i, size, || {
                if self.mutation {
                    self.mapping.run_mutation(&msg)
                } else {
                    self.mapping.run(&msg)
                }
            });
            match r {
                Ok(MappingOutcome::Message(m)) => out.push(m),
                Ok(MappingOutcome::Deleted) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "mapping failed");
                    let mut msg = msg;
                    msg.error = Some(e.to_string());
                    out.push(msg);
                }
            }
        }
        out
    }
}

/// `log`: emits a log line per message at `level`, with `message` interpolated and
/// `fields_mapping` evaluated; messages pass through unchanged.
pub struct Log {
    level: tracing::Level,
    message: Interpolation,
    fields: Option<Mapping>,
    path: String,
}

impl Log {
    fn new(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<Log, ComponentError> {
        let level = match cfg
            .str("level")
            .unwrap_or("INFO")
            .to_ascii_uppercase()
            .as_str()
        {
            "TRACE" | "ALL" => tracing::Level::TRACE,
            "DEBUG" => tracing::Level::DEBUG,
            "WARN" => tracing::Level::WARN,
            "ERROR" | "FATAL" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        let message = Interpolation::compile(cfg.str("message").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("message: {}", e)))?;
        let fields = match cfg.str("fields_mapping") {
            Some(s) if !s.trim().is_empty() => Some(
                Mapping::compile(s)
                    .map_err(|e| ComponentError::new(format!("fields_mapping: {}", e)))?,
            ),
            _ => None,
        };
        Ok(Log {
            level,
            message,
            fields,
            path: ctx.path.clone(),
        })
    }
}

impl Processor for Log {
    fn process(&self, batch: Batch) -> Batch {
        for msg in &batch {
            let text = self
                .message
                .render(msg)
                .unwrap_or_else(|e| format!("<log message failed: {}>", e));
            let fields = match &self.fields {
                Some(m) => match m.query(msg) {
                    Ok(v) => v.to_json_string(),
                    Err(e) => format!("<fields_mapping failed: {}>", e),
                },
                None => String::new(),
            };
            let path = self.path.as_str();
            match self.level {
                tracing::Level::TRACE => tracing::trace!(path, fields = %fields, "{}", text),
                tracing::Level::DEBUG => tracing::debug!(path, fields = %fields, "{}", text),
                tracing::Level::INFO => tracing::info!(path, fields = %fields, "{}", text),
                tracing::Level::WARN => tracing::warn!(path, fields = %fields, "{}", text),
                tracing::Level::ERROR => tracing::error!(path, fields = %fields, "{}", text),
            }
        }
        batch
    }
}

/// One case of a `switch`.
struct Case {
    check: Option<Mapping>,
    processors: Vec<SharedProcessor>,
    fallthrough: bool,
}

/// `switch`: runs the processors of the first case whose `check` holds for a message (and of
/// the following cases while `fallthrough` is set).
pub struct Switch {
    cases: Vec<Case>,
}

impl Switch {
    fn new(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<Switch, ComponentError> {
        let mut cases = Vec::new();
        for (i, item) in cfg.config.as_array().unwrap_or(&[]).iter().enumerate() {
            let check = match item.get("check").and_then(|f| f.as_str()) {
                Some(s) if !s.trim().is_empty() => Some(
                    Mapping::compile(s)
                        .map_err(|e| ComponentError::new(format!("case {} check: {}", i, e)))?,
                ),
                _ => None,
            };
            let procs = item
                .get("processors")
                .and_then(|f| f.as_array())
                .unwrap_or(&[]);
            let case_ctx = ctx.child(format!("{}.{}.processors", ctx.path, i), String::new());
            let processors = children(procs, &case_ctx)?;
            let fallthrough = item
                .get("fallthrough")
                .and_then(|f| f.as_bool())
                .unwrap_or(false);
            cases.push(Case {
                check,
                processors,
                fallthrough,
            });
        }
        Ok(Switch { cases })
    }

    fn matches(case: &Case, msg: &Message) -> Result<bool, String> {
        match &case.check {
            None => Ok(true),
            Some(m) => match m.query(msg) {
                Ok(sluice_compiler::Value::Bool(b)) => Ok(b),
                Ok(other) => Err(format!("expected bool value, got {}", other.type_name())),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

impl Processor for Switch {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        for mut msg in batch {
            let mut pending = vec![msg.clone()];
            let mut entered = false;
            let mut failed = None;
            for case in &self.cases {
                if !entered {
                    match Switch::matches(case, &msg) {
                        Ok(true) => entered = true,
                        Ok(false) => continue,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                pending = run_all(&case.processors, pending);
                if !case.fallthrough {
                    break;
                }
            }
            if let Some(e) = failed {
                msg.error = Some(e);
                out.push(msg);
            } else {
                out.extend(pending);
            }
        }
        out
    }
}

/// `catch`: runs its processors on errored messages only, then clears their error flag.
pub struct Catch {
    processors: Vec<SharedProcessor>,
}

impl Processor for Catch {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            if msg.error.is_none() {
                out.push(msg);
                continue;
            }
            for mut m in run_all(&self.processors, vec![msg]) {
                m.error = None;
                out.push(m);
            }
        }
        out
    }
}

/// `try`: runs its processors in order; a message that fails one skips the rest.
pub struct Try {
    processors: Vec<SharedProcessor>,
}

impl Processor for Try {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            let mut current = vec![msg];
            for p in &self.processors {
                let (failed, ok): (Vec<Message>, Vec<Message>) =
                    current.into_iter().partition(|m| m.error.is_some());
                out.extend(failed);
                if ok.is_empty() {
                    current = ok;
                    break;
                }
                current = p.process(ok);
            }
            out.extend(current);
        }
        out
    }
}

// ------------------------------------------------------------------------------------ specs

/// A processor whose whole config is one Bloblang mapping string.
pub(crate) fn mapping_processor_spec(name: &'static str, summary: &'static str) -> ComponentSpec {
    ComponentSpec::with_value(
        name,
        ComponentKind::Processor,
        summary,
        F::string("", "A Bloblang mapping.").bloblang(),
    )
}

/// `bloblang`: the older name of `mapping`.
pub fn bloblang_spec() -> ComponentSpec {
    mapping_processor_spec(
        "bloblang",
        "Executes a Bloblang mapping on messages (the older name of `mapping`).",
    )
}

/// `mapping`: replaces each message with the result of a Bloblang mapping.
pub fn mapping_spec() -> ComponentSpec {
    mapping_processor_spec("mapping", "Executes a Bloblang mapping on messages, creating a new document that replaces (or filters) the original message.")
}

/// `mutation`: modifies each message in place with a Bloblang mapping.
pub fn mutation_spec() -> ComponentSpec {
    mapping_processor_spec("mutation", "Executes a Bloblang mapping and directly transforms the contents of messages, mutating (or deleting) them.")
}

/// `catch`: runs processors only on messages flagged with an error, then clears the flag.
pub fn catch_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "catch",
        ComponentKind::Processor,
        "Applies a list of child processors only when a previous processing step has failed.",
        F::processors("", "The processors to apply to failed messages."),
    )
}

/// `try`: runs processors in order, skipping the rest for a message once one fails.
pub fn try_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "try",
        ComponentKind::Processor,
        "Executes a list of child processors on messages only if no prior processors have failed (or the errors have been cleared).",
        F::processors("", "The processors to apply."),
    )
}

/// `log`: logs a message (and structured fields) for each message passing through.
pub fn log_spec() -> ComponentSpec {
    ComponentSpec::new(
        "log",
        ComponentKind::Processor,
        "Prints a log event for each message. Messages always remain unchanged.",
        vec![
            F::string("level", "The log level to use.")
                .default("INFO")
                .options(&["ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL", "ALL"]),
            F::string("fields_mapping", "An optional Bloblang mapping that can be used to specify extra fields to add to the log.")
                .bloblang()
                .optional(),
            F::string("message", "The message to print.").default("").interpolated(),
            F::string("fields", "A map of fields to print along with the log message.")
                .map()
                .interpolated()
                .optional()
                .advanced(),
        ],
    )
}

/// `switch`: routes each message to the processors of the first case whose check passes.
pub fn switch_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "switch",
        ComponentKind::Processor,
        "Conditionally processes messages based on their contents.",
        F::object(
            "",
            "A list of switch cases, outlining outputs that can be routed to.",
            vec![
                F::string("check", "A Bloblang query that should return a boolean value indicating whether a message should have the processors of this case executed on it. If left empty the case always passes.")
                    .default("")
                    .bloblang(),
                F::processors("processors", "A list of processors to execute on a message."),
                F::bool("fallthrough", "Indicates whether, if this case passes for a message, the next case should also be executed.")
                    .default(false)
                    .advanced(),
            ],
        )
        .array(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::EndpointRegistry;
    use crate::metrics::StreamMetrics;

    fn ctx() -> BuildContext {
        BuildContext {
            stream: "t".into(),
            prefix_endpoints: true,
            endpoints: EndpointRegistry::new(),
            rate_limits: Default::default(),
            caches: Default::default(),
            pipes: Default::default(),
            resources: Default::default(),
            metrics: StreamMetrics::new("t"),
            path: "root.pipeline.processors.0".into(),
            label: String::new(),
            offline: false,
        }
    }

    /// A fused chain records exactly the processor counters the unfused, metered chain
    /// records (per batch, with errors and deletions), stage by stage.
    #[test]
    fn fusion_does_not_change_metrics() {
        let chain: &[(&str, bool)] = &[
            (
                "root = if this.drop == true { deleted() } else { this }",
                false,
            ),
            ("root = this\nroot.x = this.n.number()", false),
            ("root = this\nroot.y = this.x + 1", false),
        ];
        let batch: Batch = [
            r#"{"n":"1"}"#,
            r#"{"n":"nope"}"#,
            r#"{"n":"2","drop":true}"#,
            r#"{"n":"3"}"#,
        ]
        .iter()
        .map(|d| Message::new(d.as_bytes().to_vec()))
        .collect();
        let counters = |m: &StreamMetrics| -> Vec<(String, serde_json::Value)> {
            m.stats()
                .into_iter()
                .filter(|(k, _)| !k.starts_with("processor_latency_ns"))
                .collect()
        };

        let fused_ctx = ctx();
        let fused = FusedMappings::from_sources(chain, &fused_ctx).unwrap();
        let fused_out = fused.process(batch.clone());

        let unfused_ctx = ctx();
        let metered: Vec<SharedProcessor> = chain
            .iter()
            .enumerate()
            .map(|(i, (src, mutation))| {
                let c = unfused_ctx.child(
                    format!("{}.{}", unfused_ctx.path, i),
                    unfused_ctx.label.clone(),
                );
                let p: SharedProcessor = Arc::new(MappingProcessor::new(src, *mutation).unwrap());
                Arc::new(Metered::new(p, &c)) as SharedProcessor
            })
            .collect();
        let unfused_out = run_all(&metered, batch);
        assert_eq!(fused_out, unfused_out);
        // A batch that stage 0 deletes entirely: the later stages see no batch at all.
        let gone: Batch = vec![Message::new(r#"{"drop":true}"#.as_bytes().to_vec())];
        assert!(fused.process(gone.clone()).is_empty());
        assert!(run_all(&metered, gone).is_empty());

        let (f, u) = (counters(&fused_ctx.metrics), counters(&unfused_ctx.metrics));
        assert_eq!(f, u);
        // The chain really counted: 4 + 1 in, 2 deleted by stage 0, 1 flagged by stage 1.
        let get = |name: &str| {
            f.iter()
                .find(|(k, _)| k.starts_with(name))
                .map(|(_, v)| v.as_u64().unwrap())
        };
        assert_eq!(
            get("processor_received{label=\"\",path=\"root.pipeline.processors.0.0\""),
            Some(5)
        );
        assert_eq!(
            get("processor_error{label=\"\",path=\"root.pipeline.processors.0.1\""),
            Some(1)
        );
        assert_eq!(
            get("processor_sent{label=\"\",path=\"root.pipeline.processors.0.2\""),
            Some(3)
        );
    }

    /// Fused chains give exactly what the unfused chain gives: payloads, metadata, flags.
    #[test]
    fn fusion_does_not_change_results() {
        let chains: &[&[(&str, bool)]] = &[
            &[
                ("root = this\nroot.b = this.a * 2", false),
                ("root.c = this.b / 4\nroot.t = this.b.type()", false),
            ],
            &[
                ("root = this.a.string()", false),
                ("root = content().uppercase()", false),
                ("root = this", false),
            ],
            &[
                ("meta x = this.a\nroot.n = now().ts_unix() > 0", false),
                ("root.m = @x\nroot.f = 3.0", false),
                ("root.g = this.f.string()", false),
            ],
            &[
                ("root.a = this.a.number()", false),
                ("root = this.missing.uppercase()", false),
                ("root.after = true", false),
            ],
            &[
                ("root = if this.a == 1 { deleted() }", false),
                ("root.z = 1", true),
            ],
            &[
                (
                    "root.ts = \"2024-01-02T03:04:05Z\".ts_parse(\"2006-01-02T15:04:05Z07:00\")",
                    false,
                ),
                ("root.kind = this.ts.type()", false),
            ],
            &[
                ("root.nested = {\"x\": [1.0, 2.5, content()]}", false),
                ("root = this.nested.x", false),
            ],
            // Raw-plan stages (splices and projections) pass a layered document along.
            &[
                ("root = this\nroot.score = this.a * 2", false),
                (
                    "root = this\nroot.k = this.score.string() + \"!\"\nroot.s = deleted()",
                    false,
                ),
                (
                    "root = {\"id\": this.u.id, \"k\": this.k, \"s\": this.s, \"f\": this.f}",
                    false,
                ),
            ],
            &[
                ("root = {\"a\": this.a, \"u\": this.u}", false),
                ("root.x = this.u.id.uppercase()", true),
                ("root = this\nroot.f = this.a / 3", false),
                ("root = this\nroot.e = this.x.number()", false),
                (
                    "root = this\nroot.after = this.e.or(\"failed before\")",
                    false,
                ),
            ],
            // A projection after a splice looks nested paths up in the scanned payload.
            &[
                ("root = this\nroot.b = this.a", false),
                (
                    "root = {\"id\": this.u.id, \"q\": this.u.z.1.q, \"r\": this.u.z.7, \"ab\": this.u.ab, \"w\": this.u.z, \"n\": this.a.x}",
                    false,
                ),
            ],
            &[
                ("root = this\nroot.s = deleted()\nroot.n = 1.5", false),
                ("root = this\nroot.z = this.n * 2", false),
            ],
            &[
                ("root = this\nroot.t = now()", false),
                (
                    "root = this\nroot.tt = this.t.type()\nmeta m = this.a",
                    false,
                ),
                ("root = this.u", false),
            ],
        ];
        let inputs = [
            r#"{"a":1}"#,
            r#"{"a":2,"s":"hi"}"#,
            r#"{"a":"7"}"#,
            "not json",
            r#"{"a":1.5}"#,
            "",
            r#"{"u":{"id":"x1","z":[1,2]},"a":3,"s":"gone","f":1e2,"a":4}"#,
            r#" {"u" : {"id":"\u00e9"}, "a": 2.5} "#,
            r#"[1,2]"#,
            r#"{"u":{"id":"a","id":"b","a\u0062":1,"z":[{"q":1},{"q":2, "p" : [ 1.50 ]}]},"a":1}"#,
            r#"{"u":{"z":{"1":{"q":"key, not index"}},"ab":[]},"a":{"x":null}}"#,
        ];
        for chain in chains {
            let c = ctx();
            let fused = FusedMappings::from_sources(chain, &c).unwrap();
            let unfused: Vec<MappingProcessor> = chain
                .iter()
                .map(|(src, mutation)| MappingProcessor::new(src, *mutation).unwrap())
                .collect();
            for input in inputs {
                let msg = Message::new(input.as_bytes().to_vec());
                let mut expected = vec![msg.clone()];
                for p in &unfused {
                    expected = p.process(expected);
                }
                let got = fused.process(vec![msg]);
                assert_eq!(got, expected, "chain {:?} on {:?}", chain, input);
            }
        }
    }
}
