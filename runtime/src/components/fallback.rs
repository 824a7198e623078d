//! The `fallback` output: tries its outputs in order until one accepts the batch; the batch
//! fails only when the last one fails (with every error in the nack).

use std::sync::Arc;

use async_trait::async_trait;

use super::child_outputs::{self, Children};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// The spec: the config is the list of outputs.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "fallback",
        ComponentKind::Output,
        "Attempts to send each message to a child output, starting from the first output on the list. If an output attempt fails then the next output in the list is attempted, and so on.",
        F::component("", ComponentKind::Output, "").array(),
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedOutput, ComponentError> {
    let outputs = child_outputs::build_all(cfg.config.as_array().unwrap_or(&[]), ctx, &ctx.path)?;
    if outputs.is_empty() {
        return Err(ComponentError::new(
            "fallback: at least one output is required",
        ));
    }
    Ok(Arc::new(Fallback(Children::new(outputs))))
}

struct Fallback(Children);

#[async_trait]
impl Output for Fallback {
    fn attach(&self) {
        self.0.attach();
    }

    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut errors = Vec::new();
        for (i, o) in self.0.outputs.iter().enumerate() {
            match o.write(batch.clone(), responses).await {
                Ok(()) => return Ok(()),
                Err(e) => errors.push(format!("output {}: {}", i, e.0)),
            }
        }
        Err(Nack(errors.join("; ")))
    }

    fn closing(&self) {
        self.0.closing();
    }

    async fn close(&self) {
        self.0.close().await;
    }

    fn connected(&self) -> bool {
        self.0.outputs.iter().any(|o| o.connected())
    }
}
