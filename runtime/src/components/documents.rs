//! Document conversion processors that are one Bloblang method each, built as that mapping so
//! the processor and the method agree: `xml` (`to_json`), `msgpack` (`to_json`/`from_json`)
//! and `json_schema` (`schema` or `schema_path`). A message that fails is flagged and passed
//! on unchanged.

use std::sync::Arc;

use super::mapping::MappingProcessor;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, SharedProcessor};

fn mapping(src: &str) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(MappingProcessor::new(src, false)?))
}

/// `xml` spec.
pub fn xml_spec() -> ComponentSpec {
    ComponentSpec::new(
        "xml",
        ComponentKind::Processor,
        "Parses messages as an XML document, performs a mutation on the data, and then overwrites the previous contents with the new value.",
        vec![
            F::string("operator", "An XML operation to apply to messages.").default("").options(&["to_json"]),
            F::bool("cast", "Whether to try to cast values that are numbers and booleans to the right type.").default(false),
        ],
    )
}

/// `xml` builder.
pub fn xml(cfg: &ComponentConfig, _ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    match cfg.str("operator").unwrap_or("") {
        "to_json" => mapping(&format!(
            "root = content().parse_xml({})",
            cfg.bool("cast").unwrap_or(false)
        )),
        other => Err(ComponentError::new(format!(
            "xml operator not recognised: {:?}",
            other
        ))),
    }
}

/// `msgpack` spec.
pub fn msgpack_spec() -> ComponentSpec {
    ComponentSpec::new(
        "msgpack",
        ComponentKind::Processor,
        "Converts messages to or from the MessagePack format.",
        vec![
            F::string("operator", "The operation to perform on messages.")
                .options(&["to_json", "from_json"]),
        ],
    )
}

/// `msgpack` builder.
pub fn msgpack(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    match cfg.str("operator").unwrap_or("") {
        "to_json" => mapping("root = content().parse_msgpack()"),
        "from_json" => mapping("root = this.format_msgpack()"),
        other => Err(ComponentError::new(format!(
            "msgpack operator not recognised: {:?}",
            other
        ))),
    }
}

/// `json_schema` spec.
pub fn json_schema_spec() -> ComponentSpec {
    ComponentSpec::new(
        "json_schema",
        ComponentKind::Processor,
        "Checks messages against a provided JSONSchema definition but does not change the payload under any circumstances. If a message does not match the schema it can be caught using error handling methods.",
        vec![
            F::string("schema", "A schema to apply. Use either this or the `schema_path` field.").optional(),
            F::string("schema_path", "The path of a schema document to apply. Use either this or the `schema` field.").optional(),
        ],
    )
}

/// `json_schema` builder: the schema is read (from `schema_path`) and compiled now.
pub fn json_schema(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let schema = match (cfg.str("schema"), cfg.str("schema_path")) {
        (Some(s), None) if !s.is_empty() => s.to_string(),
        (None, Some(p)) if !p.is_empty() => {
            let path = p.strip_prefix("file://").unwrap_or(p);
            std::fs::read_to_string(path)
                .map_err(|e| ComponentError::new(format!("schema_path {}: {}", path, e)))?
        }
        _ => {
            return Err(ComponentError::new(
                "either a schema or a schema_path must be specified, not both",
            ))
        }
    };
    serde_json::from_str::<serde_json::Value>(&schema)
        .map_err(|e| ComponentError::new(format!("schema is not JSON: {}", e)))?;
    let literal = serde_json::to_string(&schema).map_err(|e| ComponentError::new(e.to_string()))?;
    mapping(&format!("root = this.json_schema({})", literal))
}
