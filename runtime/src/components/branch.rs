//! The `branch` processor: each message is mapped into a request (`request_map`), the
//! requests run through child processors, and each result is mapped back onto its original
//! message (`result_map`), as upstream's. A request mapped to `deleted()` skips the branch for
//! that message; a failed request map, a child error or a failed result map flags the
//! original message (`request mapping failed: ...`, `processors failed: ...`, `result
//! mapping failed: ...`), which `catch`/`try` then see. The children must keep the number of
//! messages: otherwise every message is flagged.
//!
//! [`Branch`] is also the unit a `workflow` runs: [`Branch::request`] and [`Branch::overlay`]
//! are the two halves.

use std::sync::Arc;

use sluice_compiler::{Mapping, MappingOutcome, Message};

use super::processors::{children, run_all};
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The fields of a branch (shared with `workflow`'s `branches`).
pub fn fields() -> Vec<F> {
    vec![
        F::string("request_map", "A Bloblang mapping that describes how to create a request payload suitable for the child processors of this branch. If left empty then the branch will begin with an exact copy of the origin message (including metadata).")
            .default("")
            .bloblang(),
        F::processors("processors", "A list of processors to apply to mapped requests. When processing message batches the resulting batch must match the size and ordering of the input batch, therefore filtering, grouping should not be performed within these processors."),
        F::string("result_map", "A Bloblang mapping that describes how the resulting messages from branched processing should be mapped back into the original payload. If left empty the origin message will remain unchanged (including metadata).")
            .default("")
            .bloblang(),
    ]
}

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "branch",
        ComponentKind::Processor,
        "The `branch` processor allows you to create a new request message via a Bloblang mapping, execute a list of processors on the request messages, and, finally, map the result back into the source message using another mapping.",
        fields(),
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Branch::new(
        cfg.field("request_map").and_then(Field::as_str),
        cfg.field("processors").and_then(Field::as_array),
        cfg.field("result_map").and_then(Field::as_str),
        ctx,
    )?))
}

/// A compiled branch.
pub struct Branch {
    request_map: Option<Mapping>,
    processors: Vec<SharedProcessor>,
    result_map: Option<Mapping>,
}

fn compile(text: Option<&str>, what: &str) -> Result<Option<Mapping>, ComponentError> {
    match text {
        Some(t) if !t.trim().is_empty() => Mapping::compile(t)
            .map(Some)
            .map_err(|e| ComponentError::new(format!("failed to parse {} mapping: {}", what, e))),
        _ => Ok(None),
    }
}

/// What a branch made of one message: a result to overlay, nothing (skipped), or an error.
pub enum Outcome {
    /// The child processors' result for the message.
    Result(Message),
    /// `request_map` deleted the request: the branch does not apply to the message.
    Skipped,
    /// The branch failed for the message.
    Failed(String),
}

impl Branch {
    /// Compiles a branch from its fields; its children are built under `ctx.path`.
    pub fn new(
        request_map: Option<&str>,
        processors: Option<&[Field]>,
        result_map: Option<&str>,
        ctx: &BuildContext,
    ) -> Result<Branch, ComponentError> {
        let pctx = ctx.child(format!("{}.processors", ctx.path), String::new());
        let processors = children(processors.unwrap_or(&[]), &pctx)?;
        if processors.is_empty() {
            return Err(ComponentError::new(
                "the branch processor requires at least one child processor",
            ));
        }
        Ok(Branch {
            request_map: compile(request_map, "request")?,
            processors,
            result_map: compile(result_map, "result")?,
        })
    }

    /// The paths of the message the request map reads (for `workflow`'s ordering).
    pub fn targets_used(&self) -> Vec<Vec<String>> {
        self.request_map
            .as_ref()
            .map(Mapping::read_paths)
            .unwrap_or_default()
    }

    /// The paths of the message the result map writes (for `workflow`'s ordering).
    pub fn targets_provided(&self) -> Vec<Vec<String>> {
        self.result_map
            .as_ref()
            .map(Mapping::assigned_paths)
            .unwrap_or_default()
    }

    /// Runs the request map and the child processors over `batch` (messages `None` are
    /// skipped): one outcome per message, in order.
    pub fn request(&self, batch: &[Option<&Message>]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        let mut requests = Vec::new();
        for m in batch {
            let Some(m) = m else {
                outcomes.push(Some(Outcome::Skipped));
                continue;
            };
            // Errors of the original are not carried into the branch.
            let clean = Message {
                payload: m.payload.clone(),
                metadata: m.metadata.clone(),
                error: None,
            };
            let request = match &self.request_map {
                None => Ok(Some(clean)),
                Some(map) => {
                    let empty = Message {
                        payload: Default::default(),
                        metadata: m.metadata.clone(),
                        error: None,
                    };
                    match map.run_onto(&clean, &empty) {
                        Ok(MappingOutcome::Message(r)) => Ok(Some(r)),
                        Ok(MappingOutcome::Deleted) => Ok(None),
                        Err(e) => Err(format!("request mapping failed: {}", e)),
                    }
                }
            };
            match request {
                Ok(Some(r)) => {
                    requests.push(r);
                    outcomes.push(None);
                }
                Ok(None) => outcomes.push(Some(Outcome::Skipped)),
                Err(e) => outcomes.push(Some(Outcome::Failed(e))),
            }
        }
        let sent = requests.len();
        if sent > 0 {
            let results = run_all(&self.processors, requests);
            if results.len() != sent {
                let why = if results.is_empty() {
                    "child processors resulted in zero messages".to_string()
                } else {
                    format!(
                        "message count from branch processors does not match request, started with {} messages, finished with {}",
                        sent,
                        results.len()
                    )
                };
                return outcomes
                    .into_iter()
                    .map(|o| match o {
                        None => Outcome::Failed(why.clone()),
                        Some(o) => o,
                    })
                    .collect();
            }
            let mut results = results.into_iter();
            for o in outcomes.iter_mut().filter(|o| o.is_none()) {
                let r = results.next().expect("counted above");
                *o = Some(match &r.error {
                    Some(e) => Outcome::Failed(format!("processors failed: {}", e)),
                    None => Outcome::Result(r),
                });
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skipped))
            .collect()
    }

    /// Maps a result back onto its original message. `Err` is why the result map failed
    /// (the original is then unchanged).
    pub fn overlay(&self, original: &mut Message, result: &Message) -> Result<(), String> {
        let Some(map) = &self.result_map else {
            return Ok(());
        };
        match map.run_onto(result, original) {
            Ok(MappingOutcome::Message(m)) => {
                original.payload = m.payload;
                original.metadata = m.metadata;
                Ok(())
            }
            // Upstream does not filter here: the original stays.
            Ok(MappingOutcome::Deleted) => Ok(()),
            Err(e) => Err(format!("result mapping failed: {}", e)),
        }
    }
}

impl Processor for Branch {
    fn process(&self, mut batch: Batch) -> Batch {
        let refs: Vec<Option<&Message>> = batch.iter().map(Some).collect();
        let outcomes = self.request(&refs);
        for (m, o) in batch.iter_mut().zip(outcomes) {
            match o {
                Outcome::Result(r) => {
                    if let Err(e) = self.overlay(m, &r) {
                        tracing::error!(error = %e, "branch error");
                        m.error = Some(e);
                    }
                }
                Outcome::Skipped => {}
                Outcome::Failed(e) => {
                    tracing::debug!(error = %e, "branch error");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
