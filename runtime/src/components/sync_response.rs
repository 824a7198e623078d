//! Synchronous responses: the `sync_response` output stores each batch it is given as the
//! response of the request it came from, and the `sync_response` processor adds a copy of
//! each message, as it is at that point of the pipeline; inputs such as `http_server` reply
//! with the stored messages once the batch is delivered.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, Processor, ResponseStore, SharedProcessor,
};

/// `sync_response`: stores the batch as the synchronous response of the request it came from.
pub struct SyncResponse;

#[async_trait]
impl Output for SyncResponse {
    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        if let Some(store) = responses {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch);
        }
        Ok(())
    }
}

/// `sync_response`: returns the final message batch as the response of the request that
/// produced it (inputs such as `http_server`).
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sync_response",
        ComponentKind::Output,
        "Returns the final message payload back to the input origin of the message, where it is dealt with according to that specific input type.",
        vec![],
    )
}

/// The processor's spec.
pub fn processor_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "sync_response",
        ComponentKind::Processor,
        "Adds the payload in its current state as a synchronous response to the input source, where it is dealt with according to that specific input type.",
        F::object("", "", vec![]).default(json!({})),
    )
}

/// Builds the processor.
pub fn build_processor(
    _cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(SyncResponseProcessor))
}

struct SyncResponseProcessor;

impl Processor for SyncResponseProcessor {
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
