//! The `insert_part` processor: inserts a new message (interpolated `content`) into each
//! batch at `index` (negative counts from the end, `-1` appends).

use std::sync::Arc;

use sluice_compiler::interp::Interpolation;
use sluice_compiler::Message;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "insert_part",
        ComponentKind::Processor,
        "Insert a new message into a batch at an index. If the specified index is greater than the length of the existing batch it will be appended to the end.",
        vec![
            F::int("index", "The index within the batch to insert the message at.").default(-1),
            F::string("content", "The content of the message being inserted.")
                .default("")
                .interpolated(),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    index: i64,
    content: String,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    Ok(Arc::new(InsertPart {
        index: c.index,
        content: Interpolation::compile(&c.content)
            .map_err(|e| ComponentError::new(format!("content: {}", e)))?,
    }))
}

struct InsertPart {
    index: i64,
    content: Interpolation,
}

impl Processor for InsertPart {
    fn process(&self, mut batch: Batch) -> Batch {
        let len = batch.len() as i64;
        let at = if self.index < 0 {
            (len + self.index + 1).max(0)
        } else {
            self.index.min(len)
        } as usize;
        // The content is rendered against the batch's first message, as upstream's.
        let content = match batch.first() {
            Some(first) => self.content.render(first),
            None => self.content.render(&Message::new("")),
        }
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, "insert_part interpolation failed");
            String::new()
        });
        batch.insert(at, Message::new(content));
        batch
    }
}
