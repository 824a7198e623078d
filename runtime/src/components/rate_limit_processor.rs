//! The `rate_limit` processor: waits, per message, for an access from a rate limit resource
//! (on the pipeline's blocking thread; a forced stop ends the wait).

use std::sync::Arc;
use std::time::Duration;

use super::rate_limit::RateLimits;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "rate_limit",
        ComponentKind::Processor,
        "Throttles the throughput of a pipeline according to a specified rate_limit resource. Rate limits are shared across components and therefore apply globally to all processing pipelines.",
        vec![F::string("resource", "The target rate_limit resource.")],
    )
}

/// Builds it: the resource must exist.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let resource = cfg.str("resource").unwrap_or("").to_string();
    // Offline (compile --check) a rate limit may be one made over the API: any name passes.
    if !ctx.offline && ctx.rate_limits.get(&resource).is_none() {
        return Err(ComponentError::new(format!(
            "rate limit resource '{}' was not found",
            resource
        )));
    }
    Ok(Arc::new(RateLimit {
        resource,
        limits: ctx.rate_limits.clone(),
    }))
}

struct RateLimit {
    resource: String,
    limits: RateLimits,
}

impl Processor for RateLimit {
    fn process(&self, batch: Batch) -> Batch {
        for _ in &batch {
            // Looked up each time: a replaced resource applies at once.
            while let Some(limit) = self.limits.get(&self.resource) {
                match limit.access() {
                    None => break,
                    Some(wait) => {
                        if sluice_compiler::limits::check().is_err() {
                            return batch;
                        }
                        std::thread::sleep(wait.min(Duration::from_millis(50)));
                    }
                }
            }
        }
        batch
    }
}
