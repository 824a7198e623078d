//! The `catch` processor: child processors run on the messages a previous step flagged with
//! an error, whose flag is then cleared.

use std::sync::Arc;

use super::processors::{children, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `catch`: child processors run on the messages that failed.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Catch {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
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

/// `catch`: runs processors only on messages flagged with an error, then clears the flag.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "catch",
        ComponentKind::Processor,
        "Applies a list of child processors only when a previous processing step has failed.",
        F::processors("", "The processors to apply to failed messages."),
    )
}
