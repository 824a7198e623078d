//! The typed stream config: what a document decodes into, and how it renders back.
//!
//! The typed form is deliberately generic: each component is its name, label, position and a
//! [`Field`] tree with every default filled in, each field carrying its position and a
//! reference to its [`FieldSpec`]. Runtime code reads fields by name (`cfg.str("path")`), so a
//! component needs no hand-written config struct, and the spec stays the only description.
//!
//! [`StreamConfig::render`] turns the config back into JSON with defaults filled in and secrets
//! scrubbed: what `GET /streams/{id}` shows.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::config::document::Pos;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec};

pub use crate::secrets::SCRUBBED;
use crate::secrets::{is_credential_name, scrub_secret, scrub_url};

/// Which sections a config document may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A stream posted to the API: `input`, `buffer`, `pipeline`, `output`.
    Stream,
    /// A stream file loaded by `sluice streams`: the stream sections plus `tests`.
    StreamFile,
    /// A full config file (what `sluice lint` checks): the stream sections, resources, `http`,
    /// `logger`, `metrics`, `tracer`, `shutdown_delay`, `shutdown_timeout`, `error_handling`,
    /// `tests`.
    Config,
}

/// A decoded value with its position and spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Where the value is in the text (for a default: where its parent is).
    pub pos: Pos,
    /// The spec of the field (for array and map elements: the array's or map's spec).
    pub spec: &'static FieldSpec,
    /// Whether the value is a default rather than written by the user.
    pub defaulted: bool,
    /// The value.
    pub value: FieldValue,
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// No value (a null in a free-form field).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (also durations).
    String(String),
    /// An array.
    Array(Vec<Field>),
    /// An object (fixed fields in spec order, or a map / free-form object in document order).
    Object(Vec<(String, Field)>),
    /// A nested component.
    Component(Box<ComponentConfig>),
}

impl Field {
    /// The child `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Field> {
        match &self.value {
            FieldValue::Object(entries) => entries.iter().find(|(k, _)| k == name).map(|(_, f)| f),
            _ => None,
        }
    }

    /// The field at a dotted path (`tls.enabled`); the empty path is the field itself.
    pub fn path(&self, path: &str) -> Option<&Field> {
        if path.is_empty() {
            return Some(self);
        }
        path.split('.').try_fold(self, |f, name| f.get(name))
    }

    /// The string value.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            FieldValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            FieldValue::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The float value (integers convert).
    pub fn as_float(&self) -> Option<f64> {
        match self.value {
            FieldValue::Float(f) => Some(f),
            FieldValue::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    /// The boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Field]> {
        match &self.value {
            FieldValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of an object or map.
    pub fn as_object(&self) -> Option<&[(String, Field)]> {
        match &self.value {
            FieldValue::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The nested component.
    pub fn as_component(&self) -> Option<&ComponentConfig> {
        match &self.value {
            FieldValue::Component(c) => Some(c),
            _ => None,
        }
    }

    /// The components of an array of components (e.g. a `processors` list).
    pub fn components(&self) -> Vec<&ComponentConfig> {
        self.as_array()
            .map(|items| items.iter().filter_map(Field::as_component).collect())
            .unwrap_or_default()
    }

    /// The value as JSON exactly as decoded (defaults filled, secrets included): what typed
    /// configs are read from ([`ComponentConfig::typed`]). Nested components become their
    /// `{"<name>": config}` JSON.
    pub fn to_json(&self) -> Value {
        match &self.value {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => json!(i),
            FieldValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            FieldValue::String(s) => Value::String(s.clone()),
            FieldValue::Array(items) => Value::Array(items.iter().map(Field::to_json).collect()),
            FieldValue::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, f)| (k.clone(), f.to_json()))
                    .collect(),
            ),
            FieldValue::Component(c) => {
                let mut m = Map::new();
                m.insert(c.name.to_string(), c.config.to_json());
                Value::Object(m)
            }
        }
    }

    /// The value as JSON, secrets scrubbed.
    pub fn render(&self) -> Value {
        self.render_with(self.spec.secret, self.spec.url)
    }

    fn render_with(&self, secret: bool, url: bool) -> Value {
        match &self.value {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => json!(i),
            FieldValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            FieldValue::String(s) if secret => Value::String(scrub_secret(s)),
            FieldValue::String(s) if url => Value::String(scrub_url(s)),
            FieldValue::String(s) => Value::String(s.clone()),
            FieldValue::Array(items) => {
                Value::Array(items.iter().map(|f| f.render_with(secret, url)).collect())
            }
            FieldValue::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, f)| {
                        let inherited = std::ptr::eq(f.spec, self.spec);
                        let v = if inherited {
                            // An entry of a map (`headers`, ...) named like a credential.
                            match &f.value {
                                FieldValue::String(s) if is_credential_name(k) => {
                                    Value::String(scrub_secret(s))
                                }
                                _ => f.render_with(secret, url),
                            }
                        } else {
                            f.render()
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            FieldValue::Component(c) => c.render(),
        }
    }
}

/// A decoded config that does not fit its component's typed config (a spec and its config
/// type disagree: a bug the catalog test catches).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{component}: {message}")]
pub struct TypedConfigError {
    /// The component.
    pub component: &'static str,
    /// What did not fit.
    pub message: String,
}

/// One configured component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// Its kind.
    pub kind: ComponentKind,
    /// Its type name (`http_server`).
    pub name: &'static str,
    /// Its label (empty when none).
    pub label: String,
    /// Where it is in the text.
    pub pos: Pos,
    /// Its spec.
    pub spec: &'static ComponentSpec,
    /// Its config, defaults filled in.
    pub config: Field,
    /// Processors attached to an input or output.
    pub processors: Vec<ComponentConfig>,
}

impl ComponentConfig {
    /// The config field at a dotted path.
    pub fn field(&self, path: &str) -> Option<&Field> {
        self.config.path(path)
    }

    /// A string field.
    pub fn str(&self, path: &str) -> Option<&str> {
        self.field(path)?.as_str()
    }

    /// An integer field.
    pub fn int(&self, path: &str) -> Option<i64> {
        self.field(path)?.as_int()
    }

    /// A float field.
    pub fn float(&self, path: &str) -> Option<f64> {
        self.field(path)?.as_float()
    }

    /// A boolean field.
    pub fn bool(&self, path: &str) -> Option<bool> {
        self.field(path)?.as_bool()
    }

    /// The config as a typed struct: the decoded fields (every default filled in by the
    /// spec) deserialised into `T`, so a builder never restates a default; the error names
    /// the component and the field.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, TypedConfigError> {
        serde_json::from_value(self.config.to_json()).map_err(|e| TypedConfigError {
            component: self.name,
            message: e.to_string(),
        })
    }

    /// The component as JSON: `{"<name>": <config>}` plus `label` and `processors` when set;
    /// secrets scrubbed.
    pub fn render(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.name.to_string(), self.config.render());
        if !self.label.is_empty() {
            m.insert("label".into(), Value::String(self.label.clone()));
        }
        if !self.processors.is_empty() {
            m.insert(
                "processors".into(),
                self.processors
                    .iter()
                    .map(ComponentConfig::render)
                    .collect(),
            );
        }
        Value::Object(m)
    }
}

/// The `pipeline` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Worker threads (≤ 0: one per CPU).
    pub threads: i64,
    /// The processors, in order.
    pub processors: Vec<ComponentConfig>,
}

/// Resource sections of a full config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    /// `input_resources`.
    pub inputs: Vec<ComponentConfig>,
    /// `processor_resources`.
    pub processors: Vec<ComponentConfig>,
    /// `output_resources`.
    pub outputs: Vec<ComponentConfig>,
    /// `cache_resources`.
    pub caches: Vec<ComponentConfig>,
    /// `rate_limit_resources`.
    pub rate_limits: Vec<ComponentConfig>,
}

/// A decoded stream (or full) config.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Which sections the document could hold.
    pub scope: Scope,
    /// `input`.
    pub input: ComponentConfig,
    /// `buffer`.
    pub buffer: ComponentConfig,
    /// `pipeline`.
    pub pipeline: PipelineConfig,
    /// `output`.
    pub output: ComponentConfig,
    /// Resource sections (only in [`Scope::Config`]).
    pub resources: Resources,
    /// The other root fields of the scope (`http`, `logger`, `metrics`, `tests`, ...), defaults
    /// filled in, in spec order.
    pub service: Vec<(String, Field)>,
}

impl StreamConfig {
    /// The config as JSON with every default filled in and secrets scrubbed: the stream
    /// sections, then (outside [`Scope::Stream`]) resources and service fields.
    pub fn render(&self) -> Value {
        let mut m = Map::new();
        m.insert("input".into(), self.input.render());
        m.insert("buffer".into(), self.buffer.render());
        m.insert(
            "pipeline".into(),
            json!({
                "threads": self.pipeline.threads,
                "processors": self.pipeline.processors.iter().map(ComponentConfig::render).collect::<Vec<_>>(),
            }),
        );
        m.insert("output".into(), self.output.render());
        if self.scope == Scope::Config {
            let r = &self.resources;
            for (name, list) in [
                ("input_resources", &r.inputs),
                ("processor_resources", &r.processors),
                ("output_resources", &r.outputs),
                ("cache_resources", &r.caches),
                ("rate_limit_resources", &r.rate_limits),
            ] {
                m.insert(
                    name.into(),
                    list.iter().map(ComponentConfig::render).collect(),
                );
            }
        }
        for (name, field) in &self.service {
            m.insert(name.clone(), field.render());
        }
        Value::Object(m)
    }
}

/// The names of the resource sections and their component kinds.
pub(crate) const RESOURCE_SECTIONS: [(&str, ComponentKind); 5] = [
    ("input_resources", ComponentKind::Input),
    ("processor_resources", ComponentKind::Processor),
    ("output_resources", ComponentKind::Output),
    ("cache_resources", ComponentKind::Cache),
    ("rate_limit_resources", ComponentKind::RateLimit),
];

/// The spec of the root of a document in `scope`: an object whose fields are the sections.
pub fn root_spec(scope: Scope) -> &'static FieldSpec {
    static STREAM: OnceLock<FieldSpec> = OnceLock::new();
    static STREAM_FILE: OnceLock<FieldSpec> = OnceLock::new();
    static CONFIG: OnceLock<FieldSpec> = OnceLock::new();
    let cell = match scope {
        Scope::Stream => &STREAM,
        Scope::StreamFile => &STREAM_FILE,
        Scope::Config => &CONFIG,
    };
    cell.get_or_init(|| FieldSpec::object("", "", root_fields(scope)))
}

fn root_fields(scope: Scope) -> Vec<FieldSpec> {
    use FieldSpec as F;
    let mut fields = vec![];
    if scope == Scope::Config {
        fields.push(http_spec());
    }
    fields.extend([
        F::component("input", ComponentKind::Input, "An input to source messages from.").default(json!({"stdin": {}})),
        F::component("buffer", ComponentKind::Buffer, "An optional buffer to store messages during transit.")
            .default(json!({"none": {}})),
        F::object(
            "pipeline",
            "Describes optional processing pipelines used for mutating messages.",
            vec![
                F::int("threads", "The number of threads to execute processing pipelines across (≤ 0: one per CPU).")
                    .default(-1),
                F::processors("processors", "A list of processors to apply to messages."),
            ],
        ),
        F::component("output", ComponentKind::Output, "An output to sink messages to.").default(json!({"stdout": {}})),
    ]);
    if scope == Scope::Config {
        for (name, kind) in RESOURCE_SECTIONS {
            fields.push(
                F::component(name, kind, "A list of resources, each with a unique label.")
                    .array()
                    .default(json!([])),
            );
        }
        fields.extend([
            logger_spec(),
            F::component("metrics", ComponentKind::Metrics, "A mechanism for exporting metrics.")
                .default(json!({"prometheus": {}})),
            F::component("tracer", ComponentKind::Tracer, "A mechanism for exporting traces.").default(json!({"none": {}})),
            F::duration("shutdown_delay", "A period of time to wait for metrics and other services to be scraped before shutting down.")
                .default("0s"),
            F::duration("shutdown_timeout", "The maximum period of time to wait for a clean shutdown.").default("20s"),
            F::object(
                "error_handling",
                "Global error handling settings.",
                vec![F::bool("strict", "Nack messages that failed processing instead of writing them.").default(false)],
            ),
        ]);
    }
    if scope != Scope::Stream {
        fields.push(
            F::any("tests", "Unit tests for the config.")
                .array()
                .default(json!([])),
        );
    }
    fields
}

fn http_spec() -> FieldSpec {
    use crate::registry::shared;
    use FieldSpec as F;
    F::object(
        "http",
        "Configures the service-wide HTTP server.",
        vec![
            F::bool("enabled", "Whether to enable the HTTP server.").default(true),
            F::string("address", "The address to bind to.").default("0.0.0.0:4195"),
            F::string("root_path", "Specifies a general prefix for all endpoints.").default("/benthos"),
            F::bool("debug_endpoints", "Whether to register a few extra endpoints that can be useful for debugging performance or behavioral problems.")
                .default(false),
            F::string("cert_file", "An optional certificate file for enabling TLS.").default(""),
            F::string("key_file", "An optional key file for enabling TLS.").default(""),
            F::duration("read_header_timeout", "sluice: time allowed to receive a request's headers, counted from when the connection is ready for a request (so it also closes idle keep-alive connections).")
                .default("30s")
                .advanced(),
            F::duration("read_body_timeout", "sluice: the longest pause allowed while receiving a request body.")
                .default("30s")
                .advanced(),
            shared::cors(),
            F::object(
                "basic_auth",
                "Allows you to enforce and customise basic authentication for requests to the HTTP server.",
                vec![
                    F::bool("enabled", "Enable basic authentication").default(false),
                    F::string("realm", "Custom realm name").default("restricted"),
                    F::string("username", "Username required to authenticate.").default(""),
                    F::string("password_hash", "Hashed password required to authenticate.").default("").secret(),
                    F::string("algorithm", "Encryption algorithm used to generate `password_hash`.")
                        .default("sha256")
                        .options(&["md5", "sha256", "bcrypt", "scrypt"]),
                    F::string("salt", "Salt for scrypt algorithm.").default(""),
                ],
            )
            .advanced(),
        ],
    )
}

fn logger_spec() -> FieldSpec {
    use FieldSpec as F;
    F::object(
        "logger",
        "Describes how operational logs should be emitted.",
        vec![
            F::string("level", "Set the minimum severity level for emitting logs.")
                .default("INFO")
                .options(&[
                    "OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL", "NONE",
                ]),
            F::string("format", "Set the format of emitted logs.")
                .default("logfmt")
                .options(&["json", "logfmt"]),
            F::bool("add_timestamp", "Whether to include timestamps in logs.").default(false),
            F::string("level_name", "The name of the level field added to logs.").default("level"),
            F::string(
                "timestamp_name",
                "The name of the timestamp field added to logs.",
            )
            .default("time"),
            F::string(
                "message_name",
                "The name of the message field added to logs.",
            )
            .default("msg"),
            F::string(
                "static_fields",
                "An optional map of static fields to add to each log.",
            )
            .map()
            .default(json!({"@service": "sluice"})),
            F::object(
                "file",
                "Experimental: specify fields for optionally writing logs to a file.",
                vec![
                    F::string("path", "The file path to write logs to.").default(""),
                    F::bool("rotate", "Whether to rotate log files automatically.").default(false),
                    F::int(
                        "rotate_max_age_days",
                        "The maximum number of days to retain old log files (0 = forever).",
                    )
                    .default(0),
                ],
            )
            .advanced(),
        ],
    )
}
