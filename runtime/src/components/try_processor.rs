//! The `try` processor: child processors run in order; a message one of them flags skips the
//! rest.

use std::sync::Arc;

use sluice_compiler::Message;

use super::processors::children;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `try`: child processors run until one fails a message.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Try {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
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

/// `try`: runs processors in order, skipping the rest for a message once one fails.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "try",
        ComponentKind::Processor,
        "Executes a list of child processors on messages only if no prior processors have failed (or the errors have been cleared).",
        F::processors("", "The processors to apply."),
    )
}
