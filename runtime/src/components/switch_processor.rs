//! The `switch` processor: each message runs through the processors of the first case whose
//! `check` holds (and of the following cases while `fallthrough` is set).

use std::sync::Arc;

use sluice_compiler::{Mapping, Message};

use super::processors::{children, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `switch`.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Switch::new(cfg, ctx)?))
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

/// `switch`: routes each message to the processors of the first case whose check passes.
pub fn spec() -> ComponentSpec {
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
