//! The grouping processors: `group_by` (each message to the first group whose `check` holds,
//! the group's processors run on it, messages no group takes form a last group) and
//! `group_by_value` (messages grouped by an interpolated value, in order of first
//! appearance). Each group is written to the output as a batch of its own.

use std::sync::Arc;

use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Mapping, Value};

use super::processors::{children, run_all};
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `group_by` spec: the config is the list of groups.
pub fn group_by_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "group_by",
        ComponentKind::Processor,
        "Splits a batch of messages into N batches, where each resulting batch contains a group of messages determined by a Bloblang query.",
        F::object(
            "",
            "",
            vec![
                F::string("check", "A Bloblang query that should return a boolean value indicating whether a message belongs to a given group.").bloblang(),
                F::processors("processors", "A list of processors to execute on the newly formed group."),
            ],
        )
        .array()
        .default(json!([])),
    )
}

/// `group_by_value` spec.
pub fn group_by_value_spec() -> ComponentSpec {
    ComponentSpec::new(
        "group_by_value",
        ComponentKind::Processor,
        "Splits a batch of messages into N batches, where each resulting batch contains a group of messages determined by a function interpolated string evaluated per message.",
        vec![F::string("value", "The interpolated string to group based on.").interpolated()],
    )
}

struct Group {
    check: Mapping,
    processors: Vec<SharedProcessor>,
}

/// Builds `group_by`.
pub fn build_group_by(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let mut groups = Vec::new();
    for (i, g) in cfg.config.as_array().unwrap_or(&[]).iter().enumerate() {
        let check = g.get("check").and_then(Field::as_str).unwrap_or("");
        let check = Mapping::compile(check)
            .map_err(|e| ComponentError::new(format!("{}.check: {}", i, e)))?;
        let pctx = ctx.child(format!("{}.{}.processors", ctx.path, i), String::new());
        let processors = children(
            g.get("processors").and_then(Field::as_array).unwrap_or(&[]),
            &pctx,
        )?;
        groups.push(Group { check, processors });
    }
    Ok(Arc::new(GroupBy { groups }))
}

struct GroupBy {
    groups: Vec<Group>,
}

impl Processor for GroupBy {
    fn process(&self, batch: Batch) -> Batch {
        self.process_batches(batch).into_iter().flatten().collect()
    }

    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        let mut grouped: Vec<Batch> = vec![Vec::new(); self.groups.len() + 1];
        for m in batch {
            let at = self
                .groups
                .iter()
                .position(|g| match g.check.query(&m) {
                    Ok(Value::Bool(b)) => b,
                    Ok(_) => false,
                    Err(e) => {
                        tracing::debug!(error = %e, "group_by check failed");
                        false
                    }
                })
                .unwrap_or(self.groups.len());
            grouped[at].push(m);
        }
        let rest = grouped.pop().unwrap_or_default();
        let mut out: Vec<Batch> = grouped
            .into_iter()
            .zip(&self.groups)
            .filter(|(b, _)| !b.is_empty())
            .map(|(b, g)| run_all(&g.processors, b))
            .collect();
        out.push(rest);
        out.retain(|b| !b.is_empty());
        out
    }
}

/// `group_by_value`'s typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct ValueConfig {
    value: String,
}

/// Builds `group_by_value`.
pub fn build_group_by_value(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: ValueConfig = cfg.typed()?;
    let value = Interpolation::compile(&c.value)
        .map_err(|e| ComponentError::new(format!("value: {}", e)))?;
    Ok(Arc::new(GroupByValue { value }))
}

struct GroupByValue {
    value: Interpolation,
}

impl Processor for GroupByValue {
    fn process(&self, batch: Batch) -> Batch {
        self.process_batches(batch).into_iter().flatten().collect()
    }

    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        let mut keys: Vec<String> = Vec::new();
        let mut out: Vec<Batch> = Vec::new();
        for m in batch {
            let key = self.value.render(&m).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "group_by_value interpolation failed");
                String::new()
            });
            match keys.iter().position(|k| *k == key) {
                Some(i) => out[i].push(m),
                None => {
                    keys.push(key);
                    out.push(vec![m]);
                }
            }
        }
        out
    }
}
