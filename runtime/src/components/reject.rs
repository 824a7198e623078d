//! The `reject` output: nacks every batch with an interpolated reason.

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

/// `reject`: nacks every batch with an interpolated reason.
pub struct Reject {
    reason: Interpolation,
}

impl Reject {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<Reject, ComponentError> {
        let reason = Interpolation::compile(cfg.config.as_str().unwrap_or("rejected"))
            .map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(Reject { reason })
    }
}

#[async_trait]
impl Output for Reject {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let reason = batch
            .first()
            .map(|m| self.reason.render(m))
            .transpose()
            .map_err(|e| Nack(e.to_string()))?;
        Err(Nack(reason.unwrap_or_default()))
    }
}

/// `reject`: rejects every message with an (interpolated) error text.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "reject",
        ComponentKind::Output,
        "Rejects all messages, treating them as though the output destination failed to publish them.",
        F::string("", "The error message to reject messages with.").interpolated(),
    )
}
