//! The `switch` output: each message goes to the output of the first case whose `check`
//! holds (and of the following cases while `continue` is set). A batch is acknowledged when
//! every output it was routed to accepted its part; messages no case takes are dropped, or
//! fail the batch under `strict_mode`. With `retry_until_success`, a failing case output is
//! retried (alone) until it succeeds or the stream stops.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sluice_compiler::{Mapping, Message, Value};

use super::child_outputs::{self, Children};
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "switch",
        ComponentKind::Output,
        "The switch output type allows you to route messages to different outputs based on their contents.",
        vec![
            F::bool("retry_until_success", "If a selected output fails to send a message this field determines whether it is reattempted indefinitely. If set to false the error is instead propagated back to the input level.")
                .default(false),
            F::bool("strict_mode", "This field determines whether an error should be reported if no condition is met. If set to true, an error is propagated back to the input level.")
                .default(false)
                .advanced(),
            F::object(
                "cases",
                "A list of switch cases, outlining outputs that can be routed to.",
                vec![
                    F::string("check", "A Bloblang query that should return a boolean value indicating whether a message should be routed to the case output. If left empty the case always passes.")
                        .default("")
                        .bloblang(),
                    F::component("output", ComponentKind::Output, "An output for messages that pass the check to be routed to."),
                    F::bool("continue", "Indicates whether, if this case passes for a message, the next case should also be tested.")
                        .default(false)
                        .advanced(),
                ],
            )
            .array()
            .default(json!([])),
        ],
    )
}

struct Case {
    check: Option<Mapping>,
    next: bool,
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedOutput, ComponentError> {
    let items = cfg.field("cases").and_then(Field::as_array).unwrap_or(&[]);
    let mut cases = Vec::new();
    let mut outputs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let check = match item.get("check").and_then(Field::as_str) {
            Some(s) if !s.trim().is_empty() => Some(
                Mapping::compile(s)
                    .map_err(|e| ComponentError::new(format!("cases.{}.check: {}", i, e)))?,
            ),
            _ => None,
        };
        let out = item
            .get("output")
            .and_then(Field::as_component)
            .ok_or_else(|| ComponentError::new(format!("cases.{}: an output is required", i)))?;
        outputs.push(child_outputs::build(
            out,
            ctx,
            &format!("{}.cases.{}.output", ctx.path, i),
        )?);
        cases.push(Case {
            check,
            next: item
                .get("continue")
                .and_then(Field::as_bool)
                .unwrap_or(false),
        });
    }
    if cases.is_empty() {
        return Err(ComponentError::new("switch: at least one case is required"));
    }
    Ok(Arc::new(Switch {
        cases,
        outputs: Children::new(outputs),
        retry: cfg.bool("retry_until_success").unwrap_or(false),
        strict: cfg.bool("strict_mode").unwrap_or(false),
    }))
}

struct Switch {
    cases: Vec<Case>,
    outputs: Children,
    retry: bool,
    strict: bool,
}

impl Switch {
    /// The cases a message goes to.
    fn route(&self, m: &Message) -> Result<Vec<usize>, String> {
        let mut to = Vec::new();
        for (i, case) in self.cases.iter().enumerate() {
            let pass = match &case.check {
                None => true,
                Some(q) => match q.query(m) {
                    Ok(Value::Bool(b)) => b,
                    Ok(other) => {
                        return Err(format!(
                            "case {}: expected bool value, got {}",
                            i,
                            other.type_name()
                        ))
                    }
                    Err(e) => return Err(format!("case {}: {}", i, e)),
                },
            };
            if pass {
                to.push(i);
                if !case.next {
                    break;
                }
            }
        }
        Ok(to)
    }
}

#[async_trait]
impl Output for Switch {
    fn attach(&self) {
        self.outputs.attach();
    }

    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut parts: Vec<Batch> = vec![Vec::new(); self.cases.len()];
        for m in batch {
            let to = self.route(&m).map_err(Nack)?;
            if to.is_empty() && self.strict {
                return Err(Nack(
                    "no switch output conditions were met by message".into(),
                ));
            }
            for i in to {
                parts[i].push(m.clone());
            }
        }
        let writes = parts
            .into_iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
            .map(|(i, b)| async move { self.outputs.write(i, &b, responses, self.retry).await });
        futures::future::join_all(writes)
            .await
            .into_iter()
            .collect()
    }

    fn closing(&self) {
        self.outputs.closing();
    }

    async fn close(&self) {
        self.outputs.close().await;
    }

    fn connected(&self) -> bool {
        self.outputs.connected()
    }
}
