//! The `compress` and `decompress` processors: each message's payload through an algorithm
//! (the same implementations as Bloblang's `compress`/`decompress` methods, so both agree).
//! A message that fails is flagged and passed on unchanged, as upstream's.

use std::sync::Arc;

use serde_json::json;

use super::mapping::MappingProcessor;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, SharedProcessor};

/// The algorithms the `compress`/`decompress` processors and the `decompress` scanner take.
pub(crate) const ALGORITHMS: &[&str] = &["flate", "gzip", "lz4", "pgzip", "snappy", "zlib", "zstd"];

/// The `compress` spec.
pub fn compress_spec() -> ComponentSpec {
    ComponentSpec::new(
        "compress",
        ComponentKind::Processor,
        "Compresses messages according to the selected algorithm.",
        vec![
            F::string("algorithm", "The compression algorithm to use.").options(ALGORITHMS),
            F::int(
                "level",
                "The level of compression to use. May not be applicable to all algorithms.",
            )
            .default(json!(-1)),
        ],
    )
}

/// The `decompress` spec.
pub fn decompress_spec() -> ComponentSpec {
    ComponentSpec::new(
        "decompress",
        ComponentKind::Processor,
        "Decompresses messages according to the selected algorithm.",
        vec![F::string("algorithm", "The decompression algorithm to use.").options(ALGORITHMS)],
    )
}

fn algorithm(cfg: &ComponentConfig) -> Result<String, ComponentError> {
    let a = cfg.str("algorithm").unwrap_or("").to_ascii_lowercase();
    if !ALGORITHMS.contains(&a.as_str()) {
        return Err(ComponentError::new(format!(
            "algorithm {:?} is not supported",
            a
        )));
    }
    Ok(a)
}

/// Builds `compress`.
pub fn build_compress(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let src = format!(
        "root = content().compress({:?}, {})",
        algorithm(cfg)?,
        cfg.int("level").unwrap_or(-1)
    );
    Ok(Arc::new(MappingProcessor::new(&src, false)?))
}

/// Builds `decompress`.
pub fn build_decompress(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let src = format!("root = content().decompress({:?})", algorithm(cfg)?);
    Ok(Arc::new(MappingProcessor::new(&src, false)?))
}
