//! Scanners: how `file`, `stdin` and other byte-stream inputs cut their bytes into messages
//! (`lines`, `to_the_end`, `chunker`, `skip_bom`, `decompress`, `json_documents`, `csv`,
//! `re_match`, `json_array`, `tar`, `switch`). Each is a spec and a builder producing the [`Codec`] the input reads with;
//! `skip_bom` and `decompress` wrap another scanner.

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

/// `decompress` spec.
pub fn decompress_spec() -> ComponentSpec {
    ComponentSpec::new(
        "decompress",
        Scanner,
        "Decompress the stream of bytes according to an algorithm, before feeding it into a child scanner.",
        vec![
            F::string("algorithm", "One of `gzip`, `pgzip`, `zlib`, `flate`, `snappy`, `lz4`, `zstd`.")
                .options(super::compression::ALGORITHMS),
            F::component("into", Scanner, "The child scanner to feed the decompressed stream into.")
                .default(json!({"to_the_end": {}})),
        ],
    )
}

/// `decompress` builder.
pub fn decompress(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    let inner = match cfg.field("into").and_then(Field::as_component) {
        Some(c) => codec(c)?,
        None => Codec::AllBytes,
    };
    Ok(Codec::Decompress(
        cfg.str("algorithm").unwrap_or("").to_ascii_lowercase(),
        Box::new(inner),
    ))
}

/// `json_documents` spec.
pub fn json_documents_spec() -> ComponentSpec {
    ComponentSpec::new(
        "json_documents",
        Scanner,
        "Consumes a stream of one or more JSON documents.",
        vec![F::int("max_buffer_size", "Set the maximum buffer size for storing line data, this limits the maximum size that a message can be without causing an error.")
            .default(65536)],
    )
}

/// `json_documents` builder.
pub fn json_documents(_cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Ok(Codec::JsonDocuments)
}

/// `csv` spec.
pub fn csv_spec() -> ComponentSpec {
    ComponentSpec::new(
        "csv",
        Scanner,
        "Consume comma-separated values row by row, including support for custom delimiters.",
        vec![
            F::string("custom_delimiter", "Use a provided custom delimiter instead of the default comma.").optional(),
            F::bool("parse_header_row", "Whether to reference the first row as a header row. If set to true the output structure for messages will be an object where field keys are determined by the header row. Otherwise, each message will consist of an array of values from the corresponding CSV row.")
                .default(true),
            F::bool("lazy_quotes", "If set to `true`, a quote may appear in an unquoted field and a non-doubled quote may appear in a quoted field.")
                .default(false),
            F::bool("continue_on_error", "If a row fails to parse due to any error emit an empty message marked with the error and then continue consuming subsequent rows when possible.")
                .default(false),
        ],
    )
}

/// `csv` builder.
pub fn csv(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    let delimiter = match cfg.str("custom_delimiter").unwrap_or(",").as_bytes() {
        [b] => *b,
        _ => {
            return Err(ComponentError::new(
                "custom_delimiter must be a single byte",
            ))
        }
    };
    Ok(Codec::Csv {
        delimiter,
        header: cfg.bool("parse_header_row").unwrap_or(true),
        lazy_quotes: cfg.bool("lazy_quotes").unwrap_or(false),
    })
}

/// `re_match` spec.
pub fn re_match_spec() -> ComponentSpec {
    ComponentSpec::new(
        "re_match",
        Scanner,
        "Split an input stream into segments matching against a regular expression.",
        vec![
            F::string("pattern", "The pattern to match against."),
            F::int("max_buffer_size", "Set the maximum buffer size for storing line data, this limits the maximum size that a message can be without causing an error.")
                .default(65536),
        ],
    )
}

/// `re_match` builder.
pub fn re_match(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    let re = regex::bytes::Regex::new(cfg.str("pattern").unwrap_or(""))
        .map_err(|e| ComponentError::new(format!("pattern: {}", e)))?;
    Ok(Codec::ReMatch(re))
}

/// `json_array` spec.
pub fn json_array_spec() -> ComponentSpec {
    ComponentSpec::new(
        "json_array",
        Scanner,
        "Consumes a stream of one or more JSON elements within a top level array.",
        vec![],
    )
}

/// `json_array` builder.
pub fn json_array(_cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Ok(Codec::JsonArray)
}

/// `tar` spec.
pub fn tar_spec() -> ComponentSpec {
    ComponentSpec::new(
        "tar",
        Scanner,
        "Consume a tar archive file by file.",
        vec![],
    )
}

/// `tar` builder.
pub fn tar(_cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Ok(Codec::Tar)
}

/// `switch` spec: the config is the list of cases.
pub fn switch_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "switch",
        Scanner,
        "Select a child scanner dynamically for source data based on factors such as the filename.",
        F::object(
            "",
            "",
            vec![
                F::string("re_match_name", "A regular expression to test against the name of each source of data fed into the scanner (filename or similar). If this pattern matches the child scanner is selected.").optional(),
                F::component("scanner", Scanner, "The scanner to activate if this case passes."),
            ],
        )
        .array()
        .default(json!([])),
    )
}

/// `switch` builder.
pub fn switch(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    let mut cases = Vec::new();
    for (i, case) in cfg.config.as_array().unwrap_or(&[]).iter().enumerate() {
        let pattern = case
            .get("re_match_name")
            .and_then(Field::as_str)
            .map(|p| {
                regex::Regex::new(p)
                    .map_err(|e| ComponentError::new(format!("{}.re_match_name: {}", i, e)))
            })
            .transpose()?;
        let inner = case
            .get("scanner")
            .and_then(Field::as_component)
            .ok_or_else(|| ComponentError::new(format!("{}: a scanner is required", i)))?;
        cases.push((pattern, codec(inner)?));
    }
    Ok(Codec::Switch(cases))
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
