//! Scanners: how `file`, `stdin` and other byte-stream inputs cut their bytes into messages
//! (`lines`, `to_the_end`, `chunker`, `skip_bom`). Each is a spec and a builder producing the
//! [`Codec`] the input reads with; `skip_bom` wraps another scanner.

use serde_json::json;

use super::codec::Codec;
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind::Scanner, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// `lines` spec.
pub fn lines_spec() -> ComponentSpec {
    ComponentSpec::new(
        "lines",
        Scanner,
        "Split an input stream into a message per line of data.",
        vec![
            F::string("custom_delimiter", "Use a provided custom delimiter for detecting the end of a line rather than a single line break.")
                .optional(),
            F::int("max_buffer_size", "Set the maximum buffer size for storing line data, this limits the maximum size that a line can be without causing an error.")
                .default(65536),
            F::bool("omit_empty", "Omit empty lines.").default(false),
        ],
    )
}

/// `lines` builder.
pub fn lines(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Ok(Codec::Scanned {
        delimiter: cfg
            .str("custom_delimiter")
            .unwrap_or("")
            .as_bytes()
            .to_vec(),
        omit_empty: cfg.bool("omit_empty").unwrap_or(false),
    })
}

/// `to_the_end` spec.
pub fn to_the_end_spec() -> ComponentSpec {
    ComponentSpec::new(
        "to_the_end",
        Scanner,
        "Read the input stream all the way until the end and deliver it as a single message.",
        vec![],
    )
}

/// `to_the_end` builder.
pub fn to_the_end(_cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Ok(Codec::AllBytes)
}

/// `chunker` spec.
pub fn chunker_spec() -> ComponentSpec {
    ComponentSpec::new(
        "chunker",
        Scanner,
        "Split an input stream into chunks of a given number of bytes.",
        vec![F::int("size", "The size of each chunk in bytes.")],
    )
}

/// `chunker` builder.
pub fn chunker(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    match cfg.int("size") {
        Some(n) if n > 0 => Ok(Codec::Chunks(n as usize)),
        _ => Err(ComponentError::new(
            "chunker: size must be greater than zero",
        )),
    }
}

/// `skip_bom` spec.
pub fn skip_bom_spec() -> ComponentSpec {
    ComponentSpec::new(
        "skip_bom",
        Scanner,
        "Skip one or more byte order marks for each opened child scanner.",
        vec![F::component(
            "into",
            Scanner,
            "The child scanner to feed the resulting stream into.",
        )
        .default(json!({"to_the_end": {}}))],
    )
}

/// `skip_bom` builder.
pub fn skip_bom(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    let inner = match cfg.field("into").and_then(Field::as_component) {
        Some(c) => codec(c)?,
        None => Codec::AllBytes,
    };
    Ok(Codec::SkipBom(Box::new(inner)))
}

/// The codec a scanner component builds, through its catalog registration.
pub fn codec(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    match super::catalog::builder(cfg.kind, cfg.name) {
        Some(super::catalog::Builder::Scanner(build)) => build(cfg),
        _ => Err(ComponentError::new(format!(
            "scanner type '{}' cannot run in sluice yet",
            cfg.name
        ))),
    }
}
