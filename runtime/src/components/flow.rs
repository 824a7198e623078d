//! Processors that repeat or group child processors: `processors` (a list run as one
//! processor), `while` (children repeated while a check holds), `retry` (children retried
//! with backoff until their result has no error).
//!
//! Every loop checks the stream's interrupt, so a loop that never ends is stopped by a
//! forced stop rather than holding its thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_compiler::{Mapping, Value};

use super::processors::{children, children_of, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `processors` spec: the config is the list.
pub fn processors_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "processors",
        ComponentKind::Processor,
        "A processor grouping several sub-processors.",
        F::processors("", ""),
    )
}

/// Builds `processors`.
pub fn build_processors(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Group {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
}

struct Group {
    processors: Vec<SharedProcessor>,
}

impl Processor for Group {
    fn process(&self, batch: Batch) -> Batch {
        run_all(&self.processors, batch)
    }

    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        crate::stream::process_all(&self.processors, batch)
    }
}

/// `while` spec.
pub fn while_spec() -> ComponentSpec {
    ComponentSpec::new(
        "while",
        ComponentKind::Processor,
        "A processor that checks a Bloblang query against each batch of messages and executes child processors on them for as long as the query resolves to true.",
        vec![
            F::bool("at_least_once", "Whether to always run the child processors at least one time.").default(false),
            F::int("max_loops", "An optional maximum number of loops to execute. Helps protect against accidentally creating infinite loops.").default(0).advanced(),
            F::string("check", "A Bloblang query that should return a boolean value indicating whether the while loop should execute again.").default("").bloblang(),
            F::processors("processors", "A list of child processors to execute on each loop."),
        ],
    )
}

/// `while`'s typed config but for its processors (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct WhileConfig {
    at_least_once: bool,
    max_loops: i64,
    check: String,
}

/// Builds `while`.
pub fn build_while(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: WhileConfig = cfg.typed()?;
    let check = match c.check.as_str() {
        "" => None,
        c => Some(Mapping::compile(c).map_err(|e| ComponentError::new(format!("check: {}", e)))?),
    };
    Ok(Arc::new(While {
        at_least_once: c.at_least_once,
        max_loops: c.max_loops.max(0) as usize,
        check,
        processors: children_of(cfg, "processors", ctx)?,
    }))
}

struct While {
    at_least_once: bool,
    max_loops: usize,
    check: Option<Mapping>,
    processors: Vec<SharedProcessor>,
}

impl While {
    /// The check against the batch's first message; an error or a non-boolean stops the
    /// loop (and flags the batch).
    fn holds(&self, batch: &mut Batch) -> bool {
        let (Some(check), Some(first)) = (&self.check, batch.first()) else {
            return false;
        };
        match check.query(first) {
            Ok(Value::Bool(b)) => b,
            Ok(other) => {
                let e = format!("expected bool value, got {}", other.type_name());
                flag(batch, &e);
                false
            }
            Err(e) => {
                flag(batch, &e.to_string());
                false
            }
        }
    }
}

fn flag(batch: &mut Batch, e: &str) {
    tracing::debug!(error = %e, "while check failed");
    for m in batch.iter_mut() {
        m.error = Some(e.to_string());
    }
}

impl Processor for While {
    fn process(&self, mut batch: Batch) -> Batch {
        let mut loops = 0;
        loop {
            if batch.is_empty() || (self.max_loops > 0 && loops >= self.max_loops) {
                break;
            }
            let first_forced = self.at_least_once && loops == 0;
            if !first_forced && !self.holds(&mut batch) {
                break;
            }
            if let Err(e) = sluice_compiler::limits::check() {
                flag(&mut batch, &e.message);
                break;
            }
            batch = run_all(&self.processors, batch);
            loops += 1;
        }
        batch
    }
}

/// `retry` spec.
pub fn retry_spec() -> ComponentSpec {
    ComponentSpec::new(
        "retry",
        ComponentKind::Processor,
        "Attempts to execute a series of child processors until success.",
        vec![
            shared::backoff("500ms", "10s", "0s"),
            F::processors("processors", "A list of processors to execute on each message."),
            F::bool("parallel", "When processing batches of messages these batches are ignored and the processors apply to each message sequentially. However, when this field is set to `true` each message will be processed in parallel. Caution should be made to ensure that batch sizes do not surpass a point where this would cause resource (CPU, memory, API limits) contention.").default(false),
            F::int("max_retries", "The maximum number of retry attempts before the request is aborted. Setting this value to `0` will result in unbounded number of retries.").default(0),
        ],
    )
}

/// `retry`'s typed config but for its processors (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct RetryConfig {
    backoff: super::retry_output::Backoff,
    parallel: bool,
    max_retries: i64,
}

/// Builds `retry`.
pub fn build_retry(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: RetryConfig = cfg.typed()?;
    let (initial, max, max_elapsed) = c.backoff.parse()?;
    Ok(Arc::new(Retry {
        initial,
        max,
        max_elapsed,
        max_retries: c.max_retries.max(0) as usize,
        parallel: c.parallel,
        processors: children_of(cfg, "processors", ctx)?,
    }))
}

struct Retry {
    initial: Duration,
    max: Duration,
    max_elapsed: Duration,
    max_retries: usize,
    parallel: bool,
    processors: Vec<SharedProcessor>,
}

/// Sleeps `d` in slices, ending early (false) when the stream is forced to stop.
pub(crate) fn interruptible_sleep(d: Duration) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if sluice_compiler::limits::check().is_err() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    true
}

impl Retry {
    fn one(&self, m: sluice_compiler::Message) -> Batch {
        let started = Instant::now();
        let mut wait = self.initial;
        let mut retries = 0;
        loop {
            let out = run_all(&self.processors, vec![m.clone()]);
            if out.iter().all(|r| r.error.is_none()) {
                return out;
            }
            retries += 1;
            let out_of_time =
                !self.max_elapsed.is_zero() && started.elapsed() + wait > self.max_elapsed;
            if (self.max_retries > 0 && retries > self.max_retries) || out_of_time {
                return out;
            }
            tracing::debug!(retries, "retry processors failed; trying again");
            if !interruptible_sleep(wait) {
                return out;
            }
            wait = (wait * 2).min(self.max.max(self.initial));
        }
    }
}

impl Processor for Retry {
    fn process(&self, batch: Batch) -> Batch {
        if !self.parallel || batch.len() < 2 {
            return batch.into_iter().flat_map(|m| self.one(m)).collect();
        }
        super::parallel::map_in_threads(batch, |m| self.one(m))
            .into_iter()
            .flatten()
            .collect()
    }
}
