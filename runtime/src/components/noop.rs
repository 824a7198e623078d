//! The `noop` processor: passes every message on unchanged (a placeholder in configs).

use std::sync::Arc;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "noop",
        ComponentKind::Processor,
        "Noop is a processor that does nothing, the message passes through unchanged.",
        vec![],
    )
}

/// Builds it.
pub fn build(
    _cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Noop))
}

struct Noop;

impl Processor for Noop {
    fn process(&self, batch: Batch) -> Batch {
        batch
    }
}
