//! The `sleep` processor: waits for an (interpolated) duration once per batch, as upstream's
//! does (the duration is rendered against the batch's first message). The wait runs on the
//! pipeline's blocking thread and ends early when the stream is forced to stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_compiler::interp::Interpolation;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "sleep",
        ComponentKind::Processor,
        "Sleep for a period of time specified as a duration string for each message batch. This processor will interpolate functions within the `duration` field.",
        vec![F::string("duration", "The duration of time to sleep for each execution.").interpolated()],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    duration: String,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let duration = Interpolation::compile(&c.duration)
        .map_err(|e| ComponentError::new(format!("duration: {}", e)))?;
    if duration.is_static() {
        let text = duration
            .render(&Default::default())
            .map_err(|e| ComponentError::new(e.to_string()))?;
        crate::duration::parse(&text)
            .map_err(|e| ComponentError::new(format!("duration: {}", e)))?;
    }
    Ok(Arc::new(Sleep {
        duration,
        errors: crate::log_limit::LogLimiter::new(Duration::from_secs(1)),
    }))
}

struct Sleep {
    duration: Interpolation,
    /// Bad durations (rendered per batch) are logged at most once a second.
    errors: crate::log_limit::LogLimiter,
}

/// How often a sleep checks whether its stream is being forced to stop.
const SLICE: Duration = Duration::from_millis(20);

impl Processor for Sleep {
    fn process(&self, batch: Batch) -> Batch {
        let Some(first) = batch.first() else {
            return batch;
        };
        let period = match self
            .duration
            .render(first)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::duration::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                if let Some(suppressed) = self.errors.allow() {
                    tracing::warn!(error = %e, suppressed, "failed to parse sleep duration");
                }
                return batch;
            }
        };
        let until = Instant::now() + period;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            // A forced stop raises the interrupt: the check fails and the sleep ends.
            if sluice_compiler::limits::check().is_err() {
                break;
            }
            std::thread::sleep(left.min(SLICE));
        }
        batch
    }
}
