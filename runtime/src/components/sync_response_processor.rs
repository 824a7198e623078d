//! The `sync_response` processor: adds a copy of each message, as it is at this point of the
//! pipeline, to the synchronous response of the request it came from (inputs such as
//! `http_server` reply with it once the batch is delivered). Messages pass on unchanged.

use std::sync::Arc;

use serde_json::json;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "sync_response",
        ComponentKind::Processor,
        "Adds the payload in its current state as a synchronous response to the input source, where it is dealt with according to that specific input type.",
        F::object("", "", vec![]).default(json!({})),
    )
}

/// Builds it.
pub fn build(
    _cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(SyncResponse))
}

struct SyncResponse;

impl Processor for SyncResponse {
    fn process(&self, batch: Batch) -> Batch {
        if let Some(store) = crate::stream::component::current_responses() {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch.iter().cloned());
        }
        batch
    }
}
