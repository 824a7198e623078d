//! The component registry's types: every input, buffer, processor, output, cache, rate limit,
//! scanner, metrics exporter and tracer declares its configuration once, as a
//! [`ComponentSpec`], in its own module under `components/` (metrics exporters and tracers,
//! which only the root config names, in `observability`).
//!
//! That one spec drives decoding (with defaults), linting, the defaults-filled and
//! secret-scrubbed rendering shown by `GET /streams/{id}`, and `sluice list`. Each spec is
//! registered, with its builder, by one line in `components::catalog::ALL` (which also builds
//! the process-wide [`Registry`]).
//! Field groups several components share (`tls`, `batching`, `basic_auth`, `backoff`, the HTTP
//! client fields, ...) are functions in `shared`, never copies.

pub mod observability;
pub mod shared;

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

/// The kinds of component, as the reference names them in messages (`input`, `rate_limit`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// Reads messages into a stream.
    Input,
    /// Sits between the input and the pipeline.
    Buffer,
    /// Transforms messages.
    Processor,
    /// Writes messages out of a stream.
    Output,
    /// A key/value cache resource.
    Cache,
    /// A rate limit resource.
    RateLimit,
    /// A metrics exporter (root config).
    Metrics,
    /// A tracer (root config).
    Tracer,
    /// Cuts a byte stream into messages (`scanner` of `file`, `stdin`, ...).
    Scanner,
}

impl ComponentKind {
    /// Every kind, in listing order.
    pub const ALL: [ComponentKind; 9] = [
        ComponentKind::Input,
        ComponentKind::Buffer,
        ComponentKind::Processor,
        ComponentKind::Output,
        ComponentKind::Cache,
        ComponentKind::RateLimit,
        ComponentKind::Metrics,
        ComponentKind::Tracer,
        ComponentKind::Scanner,
    ];

    /// The name used in config messages: `input`, `buffer`, `processor`, `output`, `cache`,
    /// `rate_limit`, `metrics`, `tracer`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Input => "input",
            ComponentKind::Buffer => "buffer",
            ComponentKind::Processor => "processor",
            ComponentKind::Output => "output",
            ComponentKind::Cache => "cache",
            ComponentKind::RateLimit => "rate_limit",
            ComponentKind::Metrics => "metrics",
            ComponentKind::Tracer => "tracer",
            ComponentKind::Scanner => "scanner",
        }
    }

    /// Whether components of this kind may carry a `label`.
    pub fn has_label(self) -> bool {
        matches!(
            self,
            ComponentKind::Input
                | ComponentKind::Processor
                | ComponentKind::Output
                | ComponentKind::Cache
                | ComponentKind::RateLimit
        )
    }

    /// Whether components of this kind may carry their own `processors` list.
    pub fn has_processors(self) -> bool {
        matches!(self, ComponentKind::Input | ComponentKind::Output)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a field's value (of each element, for arrays and maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    String,
    /// A 64-bit integer.
    Int,
    /// A float (integers accepted).
    Float,
    /// A boolean.
    Bool,
    /// A Go-style duration string (`5s`, `1m30s`).
    Duration,
    /// An object with a fixed set of fields (its children; possibly none).
    Object,
    /// Any value (free-form; `.map()` for a free-form object).
    Any,
    /// A nested component of the given kind.
    Component(ComponentKind),
}

impl FieldType {
    /// The name used in messages (`expected int value`) and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String | FieldType::Duration => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Object => "object",
            FieldType::Any => "unknown",
            FieldType::Component(k) => k.as_str(),
        }
    }
}

/// Whether a field holds one value, a list of them, or a map of string keys to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A single value.
    Scalar,
    /// An array of values.
    Array,
    /// An object with arbitrary string keys and values of the field's type.
    Map,
}

/// Whether a field has a default, must be given, or may be left out.
#[derive(Debug, Clone, PartialEq)]
pub enum Presence {
    /// Absent means this value.
    Default(Value),
    /// Must be given (scalars and lists are linted `field X is required` when absent).
    Required,
    /// May be absent; absent fields are not rendered.
    Optional,
}

/// One field of a component's configuration (or of the root config).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The field name (empty for a component whose whole config is one value).
    pub name: &'static str,
    /// The type of the value or of each element.
    pub ty: FieldType,
    /// Single value, array or map.
    pub kind: FieldKind,
    /// Default, required or optional.
    pub presence: Presence,
    /// The allowed values (case-insensitive), empty for any.
    pub options: Vec<&'static str>,
    /// What the field means.
    pub description: &'static str,
    /// A secret: rendered as `!!!SECRET_SCRUBBED!!!`.
    pub secret: bool,
    /// A URL: credentials in it are scrubbed when rendered.
    pub url: bool,
    /// Holds a Bloblang mapping (compiled when linting).
    pub bloblang: bool,
    /// Holds `${! ... }` function interpolations (checked when linting).
    pub interpolated: bool,
    /// An advanced field (listed, but rarely needed).
    pub advanced: bool,
    /// The fields of an object.
    pub children: Vec<FieldSpec>,
}

impl FieldSpec {
    fn new(name: &'static str, ty: FieldType, description: &'static str) -> FieldSpec {
        FieldSpec {
            name,
            ty,
            kind: FieldKind::Scalar,
            presence: Presence::Required,
            options: Vec::new(),
            description,
            secret: false,
            url: false,
            bloblang: false,
            interpolated: false,
            advanced: false,
            children: Vec::new(),
        }
    }

    /// A string field (required until given a default or made optional).
    pub fn string(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::String, description)
    }

    /// An integer field.
    pub fn int(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Int, description)
    }

    /// A float field.
    pub fn float(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Float, description)
    }

    /// A boolean field.
    pub fn bool(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Bool, description)
    }

    /// A duration string field.
    pub fn duration(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Duration, description)
    }

    /// A free-form field of any type.
    pub fn any(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Any, description)
    }

    /// An object field with a fixed set of children; its default is built from theirs.
    pub fn object(
        name: &'static str,
        description: &'static str,
        children: Vec<FieldSpec>,
    ) -> FieldSpec {
        FieldSpec {
            children,
            ..FieldSpec::new(name, FieldType::Object, description)
        }
    }

    /// A nested component of `kind`.
    pub fn component(
        name: &'static str,
        kind: ComponentKind,
        description: &'static str,
    ) -> FieldSpec {
        FieldSpec::new(name, FieldType::Component(kind), description)
    }

    /// A list of processors, empty by default.
    pub fn processors(name: &'static str, description: &'static str) -> FieldSpec {
        FieldSpec::component(name, ComponentKind::Processor, description)
            .array()
            .default(Value::Array(vec![]))
    }

    /// Gives the field a default (JSON value).
    pub fn default(mut self, v: impl Into<Value>) -> FieldSpec {
        self.presence = Presence::Default(v.into());
        self
    }

    /// Makes the field optional (no default, not rendered when absent).
    pub fn optional(mut self) -> FieldSpec {
        self.presence = Presence::Optional;
        self
    }

    /// Makes the field an array of its type.
    pub fn array(mut self) -> FieldSpec {
        self.kind = FieldKind::Array;
        self
    }

    /// Makes the field a map of string keys to its type.
    pub fn map(mut self) -> FieldSpec {
        self.kind = FieldKind::Map;
        self
    }

    /// Restricts the value to these options (case-insensitive).
    pub fn options(mut self, options: &[&'static str]) -> FieldSpec {
        self.options = options.to_vec();
        self
    }

    /// Marks the field as a secret.
    pub fn secret(mut self) -> FieldSpec {
        self.secret = true;
        self
    }

    /// Marks the field as a URL whose credentials are scrubbed when rendered.
    pub fn url(mut self) -> FieldSpec {
        self.url = true;
        self
    }

    /// Marks the field as holding a Bloblang mapping.
    pub fn bloblang(mut self) -> FieldSpec {
        self.bloblang = true;
        self
    }

    /// Marks the field as holding `${! ... }` interpolations.
    pub fn interpolated(mut self) -> FieldSpec {
        self.interpolated = true;
        self
    }

    /// Marks the field as advanced.
    pub fn advanced(mut self) -> FieldSpec {
        self.advanced = true;
        self
    }

    /// The child field called `name`.
    pub fn child(&self, name: &str) -> Option<&FieldSpec> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Whether the field must be given (no default, not optional).
    pub fn is_required(&self) -> bool {
        matches!(self.presence, Presence::Required)
    }

    /// The default filled in when the field is absent, if any: the declared default, else
    /// (for a non-optional object) the object of the children's defaults.
    pub fn default_value(&self) -> Option<Value> {
        match &self.presence {
            Presence::Default(v) => Some(v.clone()),
            Presence::Optional => None,
            Presence::Required
                if self.kind == FieldKind::Scalar && self.ty == FieldType::Object =>
            {
                Some(Value::Object(
                    self.children
                        .iter()
                        .filter_map(|c| Some((c.name.to_string(), c.default_value()?)))
                        .collect(),
                ))
            }
            Presence::Required => None,
        }
    }

    /// A description of the field for listings: name, type, default/required/optional,
    /// options, flags and children.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.into());
        let ty = match self.kind {
            FieldKind::Scalar => self.ty.as_str().to_string(),
            FieldKind::Array => format!("array<{}>", self.ty.as_str()),
            FieldKind::Map => format!("map<{}>", self.ty.as_str()),
        };
        m.insert("type".into(), ty.into());
        match &self.presence {
            Presence::Default(_) => {}
            Presence::Required => {
                m.insert("required".into(), true.into());
            }
            Presence::Optional => {
                m.insert("optional".into(), true.into());
            }
        }
        if let Some(d) = self.default_value() {
            m.insert("default".into(), d);
        }
        if !self.options.is_empty() {
            m.insert("options".into(), self.options.clone().into());
        }
        for (flag, on) in [
            ("secret", self.secret),
            ("bloblang", self.bloblang),
            ("interpolated", self.interpolated),
            ("advanced", self.advanced),
        ] {
            if on {
                m.insert(flag.into(), true.into());
            }
        }
        if !self.description.is_empty() {
            m.insert("description".into(), self.description.into());
        }
        if !self.children.is_empty() {
            m.insert(
                "children".into(),
                self.children.iter().map(FieldSpec::to_json).collect(),
            );
        }
        Value::Object(m)
    }
}

/// One component's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    /// The component type name (`http_server`).
    pub name: &'static str,
    /// Its kind.
    pub kind: ComponentKind,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Its configuration: an object of fields, or (e.g. `mapping`, `switch`) a single value.
    pub config: FieldSpec,
}

impl ComponentSpec {
    /// A component whose config is an object of `fields`.
    pub fn new(
        name: &'static str,
        kind: ComponentKind,
        summary: &'static str,
        fields: Vec<FieldSpec>,
    ) -> Self {
        ComponentSpec {
            name,
            kind,
            summary,
            config: FieldSpec::object("", "", fields),
        }
    }

    /// A component whose whole config is the single value `config` (its name is ignored).
    pub fn with_value(
        name: &'static str,
        kind: ComponentKind,
        summary: &'static str,
        config: FieldSpec,
    ) -> Self {
        ComponentSpec {
            name,
            kind,
            summary,
            config,
        }
    }

    /// The component as listed by `sluice list --format json`.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("kind".into(), self.kind.as_str().into());
        m.insert("summary".into(), self.summary.into());
        if self.config.ty == FieldType::Object && self.config.kind == FieldKind::Scalar {
            m.insert(
                "fields".into(),
                self.config
                    .children
                    .iter()
                    .map(FieldSpec::to_json)
                    .collect(),
            );
            m.insert(
                "default".into(),
                self.config.default_value().unwrap_or(Value::Null),
            );
        } else {
            m.insert("config".into(), self.config.to_json());
        }
        Value::Object(m)
    }
}

/// All registered component specs, looked up by kind and name.
#[derive(Debug)]
pub struct Registry {
    components: Vec<ComponentSpec>,
    index: HashMap<(ComponentKind, &'static str), usize>,
}

impl Registry {
    /// Builds a registry from constructors (the process-wide one is
    /// `components::catalog::registry()`).
    pub fn new(constructors: &[fn() -> ComponentSpec]) -> Registry {
        let mut components: Vec<ComponentSpec> = constructors.iter().map(|c| c()).collect();
        components.sort_by(|a, b| (a.kind, a.name).cmp(&(b.kind, b.name)));
        let index = components
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.kind, c.name), i))
            .collect();
        Registry { components, index }
    }

    /// The spec of component `name` of `kind`.
    pub fn get(&self, kind: ComponentKind, name: &str) -> Option<&ComponentSpec> {
        self.index.get(&(kind, name)).map(|&i| &self.components[i])
    }

    /// Every component, sorted by kind then name.
    pub fn all(&self) -> &[ComponentSpec] {
        &self.components
    }

    /// The components of one kind, sorted by name.
    pub fn of_kind(&self, kind: ComponentKind) -> impl Iterator<Item = &ComponentSpec> {
        self.components.iter().filter(move |c| c.kind == kind)
    }
}
