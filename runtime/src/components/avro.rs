//! The `avro` processor: converts messages between Avro and JSON with the schema `schema`
//! (or the file `schema_path`), by apache-avro. `encoding` is how the Avro side is written:
//! `binary` (a bare datum), `single` (Avro's single-object encoding: a header with the
//! schema's fingerprint, then the datum) or `textual` (Avro's JSON form, validated against
//! the schema). Known difference: unions are written as their plain value, not wrapped in
//! `{"type": value}` as upstream's textual form does; `from_json` accepts the plain form.

use std::sync::Arc;

use apache_avro::types::Value as Avro;
use apache_avro::Schema;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "avro",
        ComponentKind::Processor,
        "Performs Avro based operations on messages based on a schema.",
        vec![
            F::string("operator", "The operator to execute").options(&["to_json", "from_json"]),
            F::string(
                "encoding",
                "An Avro encoding format to use for conversions to and from a schema.",
            )
            .options(&["textual", "binary", "single"])
            .default("textual"),
            F::string("schema", "A full Avro schema to use.").default(""),
            F::string(
                "schema_path",
                "The path of a schema document to apply. Use either this or the `schema` field.",
            )
            .default(""),
        ],
    )
}

#[derive(Clone, Copy)]
enum Encoding {
    Textual,
    Binary,
    Single,
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    operator: String,
    encoding: String,
    schema: String,
    schema_path: String,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let text = match (c.schema.as_str(), c.schema_path.as_str()) {
        ("", "") => {
            return Err(ComponentError::new(
                "a schema must be specified with either the `schema` or `schema_path` fields",
            ))
        }
        ("", path) => std::fs::read_to_string(path.strip_prefix("file://").unwrap_or(path))
            .map_err(|e| {
                ComponentError::new(format!("failed to load Avro schema definition: {}", e))
            })?,
        (schema, _) => schema.to_string(),
    };
    let schema = Schema::parse_str(&text)
        .map_err(|e| ComponentError::new(format!("failed to parse schema: {}", e)))?;
    let encoding = match c.encoding.as_str() {
        "textual" => Encoding::Textual,
        "binary" => Encoding::Binary,
        "single" => Encoding::Single,
        other => {
            return Err(ComponentError::new(format!(
                "encoding not recognised: {}",
                other
            )))
        }
    };
    let to_json = match c.operator.as_str() {
        "to_json" => true,
        "from_json" => false,
        other => {
            return Err(ComponentError::new(format!(
                "operator not recognised: {}",
                other
            )))
        }
    };
    let reader = apache_avro::GenericSingleObjectReader::new(schema.clone())
        .map_err(|e| ComponentError::new(e.to_string()))?;
    Ok(Arc::new(AvroProcessor {
        schema,
        encoding,
        to_json,
        reader,
    }))
}

struct AvroProcessor {
    schema: Schema,
    encoding: Encoding,
    to_json: bool,
    reader: apache_avro::GenericSingleObjectReader,
}

impl AvroProcessor {
    /// A JSON document as a value of the schema.
    fn parse_json_value(&self, payload: &[u8]) -> Result<Avro, String> {
        let json: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| format!("failed to parse JSON: {}", e))?;
        Avro::from(json)
            .resolve(&self.schema)
            .map_err(|e| format!("failed to convert JSON to Avro schema: {}", e))
    }

    fn to_json_bytes(v: Avro) -> Result<Vec<u8>, String> {
        let json = serde_json::Value::try_from(v).map_err(|e| e.to_string())?;
        serde_json::to_vec(&json).map_err(|e| e.to_string())
    }

    fn convert(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if self.to_json {
            let value = match self.encoding {
                Encoding::Textual => self.parse_json_value(payload)?,
                Encoding::Binary => {
                    apache_avro::from_avro_datum(&self.schema, &mut &payload[..], None)
                        .map_err(|e| format!("failed to decode Avro: {}", e))?
                }
                Encoding::Single => self
                    .reader
                    .read_value(&mut &payload[..])
                    .map_err(|e| format!("failed to decode Avro: {}", e))?,
            };
            return Self::to_json_bytes(value);
        }
        let value = self.parse_json_value(payload)?;
        match self.encoding {
            Encoding::Textual => Self::to_json_bytes(value),
            Encoding::Binary => apache_avro::to_avro_datum(&self.schema, value)
                .map_err(|e| format!("failed to encode Avro: {}", e)),
            Encoding::Single => {
                let mut w =
                    apache_avro::GenericSingleObjectWriter::new_with_capacity(&self.schema, 1024)
                        .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                w.write_value_ref(&value, &mut out)
                    .map_err(|e| format!("failed to encode Avro: {}", e))?;
                Ok(out)
            }
        }
    }
}

impl Processor for AvroProcessor {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            match self.convert(&m.payload) {
                Ok(p) => m.payload = p.into(),
                Err(e) => {
                    tracing::debug!(error = %e, "avro conversion failed");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
