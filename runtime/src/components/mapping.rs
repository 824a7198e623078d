//! The mapping processors: `mapping` and `bloblang` (root starts empty; an unassigned root
//! keeps the payload) and `mutation` (root starts as the input document), each a compiled
//! Bloblang mapping whose back end is recorded in the stream's metrics.

use std::sync::Arc;

use sluice_compiler::{Mapping, MappingOutcome};

use super::processors::record_backend;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// Builds `mapping`, `bloblang` and `mutation`: a compiled mapping (its back end recorded in the
/// stream's metrics).
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let p = MappingProcessor::new(mapping_source(cfg)?, cfg.name == "mutation")?;
    record_backend(ctx, &p.mapping);
    Ok(Arc::new(p))
}

pub(crate) fn mapping_source(cfg: &ComponentConfig) -> Result<&str, ComponentError> {
    cfg.config
        .as_str()
        .ok_or_else(|| ComponentError::new("expected a mapping string"))
}

/// `mapping` / `bloblang` (root starts empty) and `mutation` (root starts as the input).
pub struct MappingProcessor {
    mapping: Mapping,
    mutation: bool,
}

impl MappingProcessor {
    /// Compiles the mapping.
    pub fn new(src: &str, mutation: bool) -> Result<MappingProcessor, ComponentError> {
        let mapping = Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(MappingProcessor { mapping, mutation })
    }
}

impl Processor for MappingProcessor {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        let size = batch.len();
        for (i, msg) in batch.into_iter().enumerate() {
            let r = sluice_compiler::batch::with_position(i, size, || {
                if self.mutation {
                    self.mapping.run_mutation(&msg)
                } else {
                    self.mapping.run(&msg)
                }
            });
            match r {
                Ok(MappingOutcome::Message(m)) => out.push(m),
                Ok(MappingOutcome::Deleted) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "mapping failed");
                    let mut msg = msg;
                    msg.error = Some(e.to_string());
                    out.push(msg);
                }
            }
        }
        out
    }
}

/// A processor whose whole config is one Bloblang mapping string.
pub(crate) fn mapping_processor_spec(name: &'static str, summary: &'static str) -> ComponentSpec {
    ComponentSpec::with_value(
        name,
        ComponentKind::Processor,
        summary,
        F::string("", "A Bloblang mapping.").bloblang(),
    )
}

/// `bloblang`: the older name of `mapping`.
pub fn bloblang_spec() -> ComponentSpec {
    mapping_processor_spec(
        "bloblang",
        "Executes a Bloblang mapping on messages (the older name of `mapping`).",
    )
}

/// `mapping`: replaces each message with the result of a Bloblang mapping.
pub fn mapping_spec() -> ComponentSpec {
    mapping_processor_spec("mapping", "Executes a Bloblang mapping on messages, creating a new document that replaces (or filters) the original message.")
}

/// `mutation`: modifies each message in place with a Bloblang mapping.
pub fn mutation_spec() -> ComponentSpec {
    mapping_processor_spec("mutation", "Executes a Bloblang mapping and directly transforms the contents of messages, mutating (or deleting) them.")
}
