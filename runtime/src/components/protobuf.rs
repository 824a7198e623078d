//! The `protobuf` processor: converts messages between Protobuf and JSON (`to_json`,
//! `from_json`) with the message type `message` from the `.proto` files found under
//! `import_paths` (compiled at build time by protox, a pure-Rust protobuf compiler; the
//! conversion is prost-reflect's, following the Protobuf JSON mapping).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::json;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "protobuf",
        ComponentKind::Processor,
        "Performs conversions to or from a protobuf message. This processor uses reflection, meaning conversions can be made directly from the target .proto files.",
        vec![
            F::string("operator", "The operator to execute").options(&["to_json", "from_json", "decode"]),
            F::string("message", "The fully qualified name of the protobuf message to convert to/from."),
            F::bool("discard_unknown", "If `true`, the `from_json` operator discards fields that are unknown to the schema.").default(false),
            F::bool("use_proto_names", "If `true`, the `to_json` operator deserializes fields exactly as named in schema file.").default(false),
            F::string("import_paths", "A list of directories containing .proto files, including all definitions required for parsing the target message. If left empty the current directory is used. Each directory listed will be walked with all found .proto files imported.")
                .array()
                .default(json!([])),
            F::bool("use_enum_numbers", "If `true`, the `to_json` operator deserializes enums as numerical values instead of string names.").default(false),
        ],
    )
}

fn proto_files(dir: &Path, under: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(under)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(dir, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    operator: String,
    message: String,
    discard_unknown: bool,
    use_proto_names: bool,
    import_paths: Vec<String>,
    use_enum_numbers: bool,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let mut dirs: Vec<PathBuf> = c.import_paths.iter().map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    let mut files = Vec::new();
    for d in &dirs {
        proto_files(d, d, &mut files)
            .map_err(|e| ComponentError::new(format!("import_paths: {}: {}", d.display(), e)))?;
    }
    let mut compiler = protox::Compiler::new(&dirs)
        .map_err(|e| ComponentError::new(format!("failed to load .proto files: {}", e)))?;
    compiler.include_imports(true);
    compiler
        .open_files(&files)
        .map_err(|e| ComponentError::new(format!("failed to compile .proto files: {}", e)))?;
    let pool = compiler.descriptor_pool();
    let name = c.message.as_str();
    let message = pool.get_message_by_name(name).ok_or_else(|| {
        ComponentError::new(format!(
            "unable to find message '{}' definition within '{:?}'",
            name, dirs
        ))
    })?;
    let operator = match c.operator.as_str() {
        "to_json" | "decode" => Operator::ToJson,
        "from_json" => Operator::FromJson,
        other => {
            return Err(ComponentError::new(format!(
                "operator not recognised: {}",
                other
            )))
        }
    };
    Ok(Arc::new(Protobuf {
        operator,
        message,
        discard_unknown: c.discard_unknown,
        serialize: SerializeOptions::new()
            .use_proto_field_name(c.use_proto_names)
            .use_enum_numbers(c.use_enum_numbers),
    }))
}

enum Operator {
    ToJson,
    FromJson,
}

struct Protobuf {
    operator: Operator,
    message: MessageDescriptor,
    discard_unknown: bool,
    serialize: SerializeOptions,
}

impl Protobuf {
    fn convert(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        match self.operator {
            Operator::ToJson => {
                let msg = DynamicMessage::decode(self.message.clone(), payload).map_err(|e| {
                    format!(
                        "failed to unmarshal protobuf message '{}': {}",
                        self.message.full_name(),
                        e
                    )
                })?;
                let mut out = Vec::new();
                let mut ser = serde_json::Serializer::new(&mut out);
                msg.serialize_with_options(&mut ser, &self.serialize)
                    .map_err(|e| e.to_string())?;
                Ok(out)
            }
            Operator::FromJson => {
                let mut de = serde_json::Deserializer::from_slice(payload);
                let opts = DeserializeOptions::new().deny_unknown_fields(!self.discard_unknown);
                let msg =
                    DynamicMessage::deserialize_with_options(self.message.clone(), &mut de, &opts)
                        .map_err(|e| {
                            format!(
                                "failed to unmarshal JSON message '{}': {}",
                                self.message.full_name(),
                                e
                            )
                        })?;
                Ok(msg.encode_to_vec())
            }
        }
    }
}

impl Processor for Protobuf {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            match self.convert(&m.payload) {
                Ok(p) => m.payload = p.into(),
                Err(e) => {
                    tracing::debug!(error = %e, "protobuf conversion failed");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
