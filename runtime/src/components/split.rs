//! The `split` processor: breaks a batch into batches of at most `size` messages (or of at
//! most `byte_size` bytes), each written to the output on its own.

use std::sync::Arc;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "split",
        ComponentKind::Processor,
        "Breaks message batches (synonymous with multiple part messages) into smaller batches. The size of the resulting batches are determined either by a discrete size or, if the field `byte_size` is non-zero, then by total size in bytes (which ever limit is reached first).",
        vec![
            F::int("size", "The target number of messages.").default(1),
            F::int("byte_size", "An optional target of total message bytes.").default(0),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    size: i64,
    byte_size: i64,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    Ok(Arc::new(Split {
        size: c.size.max(0) as usize,
        byte_size: c.byte_size.max(0) as usize,
    }))
}

struct Split {
    size: usize,
    byte_size: usize,
}

impl Processor for Split {
    fn process(&self, batch: Batch) -> Batch {
        batch
    }

    fn process_batches(&self, batch: Batch) -> Vec<Batch> {
        let mut out = Vec::new();
        let mut current: Batch = Vec::new();
        let mut bytes = 0;
        for m in batch {
            let len = m.payload.len();
            let full = (self.size > 0 && current.len() >= self.size)
                || (self.byte_size > 0 && !current.is_empty() && bytes + len > self.byte_size);
            if full {
                out.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += len;
            current.push(m);
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }
}
