//! The `select_parts` processor: keeps the messages of a batch at the given indexes (negative
//! ones count from the end; out of range ones are ignored), in the order given.

use std::sync::Arc;

use serde_json::json;

use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "select_parts",
        ComponentKind::Processor,
        "Cherry pick a set of messages from a batch by their index. Indexes larger than the number of messages are simply ignored.",
        vec![F::int("parts", "An array of message indexes of a batch. Indexes can be negative, and if so the part will be selected from the end counting backwards starting from -1.")
            .array()
            .default(json!([]))],
    )
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let parts = cfg
        .field("parts")
        .and_then(Field::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(Field::as_int)
        .collect();
    Ok(Arc::new(SelectParts { parts }))
}

struct SelectParts {
    parts: Vec<i64>,
}

impl Processor for SelectParts {
    fn process(&self, batch: Batch) -> Batch {
        let n = batch.len() as i64;
        self.parts
            .iter()
            .filter_map(|&i| {
                let i = if i < 0 { n + i } else { i };
                (0..n).contains(&i).then(|| batch[i as usize].clone())
            })
            .collect()
    }
}
