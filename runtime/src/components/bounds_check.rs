//! The `bounds_check` processor: drops batches (and logs why) whose message count or message
//! sizes are outside the configured bounds.

use std::sync::Arc;
use std::time::Duration;

use crate::config::stream::ComponentConfig;
use crate::log_limit::LogLimiter;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "bounds_check",
        ComponentKind::Processor,
        "Removes messages (and batches) that do not fit within certain size boundaries.",
        vec![
            F::int(
                "max_part_size",
                "The maximum size of a message to allow (in bytes)",
            )
            .default(1_073_741_824),
            F::int(
                "min_part_size",
                "The minimum size of a message to allow (in bytes)",
            )
            .default(1),
            F::int(
                "max_parts",
                "The maximum size of message batches to allow (in message count)",
            )
            .default(100)
            .advanced(),
            F::int(
                "min_parts",
                "The minimum size of message batches to allow (in message count)",
            )
            .default(1)
            .advanced(),
        ],
    )
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let int = |name: &str| cfg.int(name).unwrap_or(0).max(0) as usize;
    Ok(Arc::new(BoundsCheck {
        max_part_size: int("max_part_size"),
        min_part_size: int("min_part_size"),
        max_parts: int("max_parts"),
        min_parts: int("min_parts"),
        log: LogLimiter::new(Duration::from_secs(1)),
    }))
}

struct BoundsCheck {
    max_part_size: usize,
    min_part_size: usize,
    max_parts: usize,
    min_parts: usize,
    log: LogLimiter,
}

impl BoundsCheck {
    /// Why the batch is out of bounds, if it is.
    fn violation(&self, batch: &Batch) -> Option<String> {
        let n = batch.len();
        if n < self.min_parts {
            return Some(format!(
                "rejecting batch of {} messages, below the minimum {}",
                n, self.min_parts
            ));
        }
        if self.max_parts > 0 && n > self.max_parts {
            return Some(format!(
                "rejecting batch of {} messages, above the maximum {}",
                n, self.max_parts
            ));
        }
        for m in batch {
            let size = m.payload.len();
            if size < self.min_part_size {
                return Some(format!(
                    "rejecting message of {} bytes, below the minimum {}",
                    size, self.min_part_size
                ));
            }
            if self.max_part_size > 0 && size > self.max_part_size {
                return Some(format!(
                    "rejecting message of {} bytes, above the maximum {}",
                    size, self.max_part_size
                ));
            }
        }
        None
    }
}

impl Processor for BoundsCheck {
    fn process(&self, batch: Batch) -> Batch {
        match self.violation(&batch) {
            None => batch,
            Some(why) => {
                if let Some(suppressed) = self.log.allow() {
                    tracing::debug!(suppressed, "{}", why);
                }
                Vec::new()
            }
        }
    }
}
