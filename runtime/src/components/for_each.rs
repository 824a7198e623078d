//! The `for_each` processor: child processors applied to each message of a batch as though it
//! were a batch of one.

use std::sync::Arc;

use super::processors::{children, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec: the config is the list of child processors.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "for_each",
        ComponentKind::Processor,
        "A processor that applies a list of child processors to messages of a batch as though they were each a batch of one message.",
        F::processors("", ""),
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(ForEach {
        processors: children(cfg.config.as_array().unwrap_or(&[]), ctx)?,
    }))
}

struct ForEach {
    processors: Vec<SharedProcessor>,
}

impl Processor for ForEach {
    fn process(&self, batch: Batch) -> Batch {
        batch
            .into_iter()
            .flat_map(|m| run_all(&self.processors, vec![m]))
            .collect()
    }
}
