//! The spec-driven walk over a document: decodes it into the typed config (defaults filled)
//! and collects lints, in one pass, so that what is linted and what is decoded can never
//! disagree.
//!
//! The rules mirror the reference linter: unknown keys (`field X not recognised`), keys beside
//! a component (`field X is invalid when the component type is T (kind)`), required fields,
//! shapes (`expected array value`, `expected object value, got !!str`), scalar types
//! (`expected int value`), options, labels, Bloblang and interpolation fields, empty
//! `processors` beside an input or output, and component type inference. Problems that make
//! the config unusable are also recorded as hard errors; the first one is what a load fails
//! with.

use serde_json::Value;

use crate::config::document::{Entry, Node, NodeKind, Pos, Scalar, ScalarStyle};
use crate::config::stream::{ComponentConfig, Field, FieldValue};
use crate::lint::{check_bloblang, check_option, BloblangKind, Labels, Lint};
use crate::registry::{ComponentKind, FieldKind, FieldSpec, FieldType, Registry};

/// Walks documents against the registry's specs.
pub(crate) struct Walker {
    registry: &'static Registry,
    /// Lints found so far (kept even when linting is off: errors need them).
    pub(crate) lints: Vec<Lint>,
    /// Lints that also make the config unusable.
    pub(crate) errors: Vec<Lint>,
    labels: Labels,
    /// > 0 while decoding defaults: no lints for values the user did not write.
    quiet: usize,
}

/// The reserved `label` field of components.
fn label_spec() -> &'static FieldSpec {
    static SPEC: std::sync::OnceLock<FieldSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        FieldSpec::string("label", "An optional label to identify the component.").default("")
    })
}

/// The reserved `processors` field of inputs and outputs.
fn processors_spec() -> &'static FieldSpec {
    static SPEC: std::sync::OnceLock<FieldSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        FieldSpec::processors(
            "processors",
            "Processors applied to messages of this component.",
        )
    })
}

/// The reserved `mapping` field of metrics exporters.
fn metrics_mapping_spec() -> &'static FieldSpec {
    static SPEC: std::sync::OnceLock<FieldSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        FieldSpec::string(
            "mapping",
            "An optional Bloblang mapping applied to metric names and labels.",
        )
        .default("")
        .bloblang()
    })
}

impl Walker {
    /// A walker over `registry`.
    pub(crate) fn new(registry: &'static Registry) -> Walker {
        Walker {
            registry,
            lints: Vec::new(),
            errors: Vec::new(),
            labels: Labels::default(),
            quiet: 0,
        }
    }

    fn lint(&mut self, lint: Lint) {
        if self.quiet == 0 {
            self.lints.push(lint);
        }
    }

    /// Records a lint that also makes the config unusable.
    fn fail(&mut self, lint: Lint) {
        self.errors.push(lint.clone());
        self.lint(lint);
    }

    /// Decodes `node` (or, when absent or null, the default) as `spec`; `None` when the field
    /// is absent without a default, or cannot be decoded.
    pub(crate) fn field(
        &mut self,
        spec: &'static FieldSpec,
        node: Option<&Node>,
        parent: Pos,
    ) -> Option<Field> {
        let node = match node {
            Some(n) if !(n.is_null() && spec.ty != FieldType::Any) => n,
            _ => return self.absent(spec, parent),
        };
        let value = match spec.kind {
            FieldKind::Scalar => return self.element(spec, node),
            FieldKind::Array => match &node.kind {
                NodeKind::Seq(items) => FieldValue::Array(
                    items
                        .iter()
                        .filter_map(|item| self.element(spec, item))
                        .collect(),
                ),
                _ => {
                    self.fail(Lint::at(node, "expected array value"));
                    return None;
                }
            },
            FieldKind::Map => match &node.kind {
                NodeKind::Map(entries) => FieldValue::Object(
                    entries
                        .iter()
                        .filter_map(|e| Some((e.key.clone(), self.element(spec, &e.value)?)))
                        .collect(),
                ),
                _ => {
                    self.fail(Lint::at(
                        node,
                        format!("expected object value, got {}", node.short_tag()),
                    ));
                    return None;
                }
            },
        };
        Some(Field {
            pos: node.pos,
            spec,
            defaulted: self.quiet > 0,
            value,
        })
    }

    /// The default of an absent field, decoded like a written one (but silently).
    fn absent(&mut self, spec: &'static FieldSpec, parent: Pos) -> Option<Field> {
        let default = spec.default_value()?;
        let node = json_to_node(&default, parent);
        self.quiet += 1;
        let field = self.field(spec, Some(&node), parent);
        self.quiet -= 1;
        field
    }

    /// Decodes one value of `spec`'s type (an array or map element, or a scalar field).
    fn element(&mut self, spec: &'static FieldSpec, node: &Node) -> Option<Field> {
        if self.quiet == 0 && !matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
            let lint = if !spec.options.is_empty() {
                check_option(node, &spec.options)
            } else if spec.bloblang {
                check_bloblang(node, BloblangKind::Mapping)
            } else if spec.interpolated {
                check_bloblang(node, BloblangKind::Interpolation)
            } else {
                None
            };
            if let Some(l) = lint {
                self.fail(l);
            }
        }
        let defaulted = self.quiet > 0;
        let field = |value| {
            Some(Field {
                pos: node.pos,
                spec,
                defaulted,
                value,
            })
        };
        let expected = |w: &mut Walker| {
            w.fail(Lint::at(
                node,
                format!("expected {} value", spec.ty.as_str()),
            ));
            None
        };
        let scalar = node.as_scalar();
        match spec.ty {
            FieldType::Component(kind) => {
                let c = self.component(kind, node)?;
                field(FieldValue::Component(Box::new(c)))
            }
            FieldType::Object => self.object(spec, node),
            FieldType::Any => Some(generic(node, spec, defaulted)),
            FieldType::String | FieldType::Duration => match scalar {
                None => expected(self),
                Some(Scalar::Null) => field(FieldValue::String(String::new())),
                Some(_) => field(FieldValue::String(
                    node.scalar_text().unwrap_or_default().to_string(),
                )),
            },
            FieldType::Int => match scalar {
                Some(Scalar::Int(i)) => field(FieldValue::Int(*i)),
                Some(Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                    field(FieldValue::Int(*f as i64))
                }
                Some(Scalar::Null) => field(FieldValue::Int(0)),
                _ => expected(self),
            },
            FieldType::Float => match scalar {
                Some(Scalar::Int(i)) => field(FieldValue::Float(*i as f64)),
                Some(Scalar::Float(f)) => field(FieldValue::Float(*f)),
                Some(Scalar::Null) => field(FieldValue::Float(0.0)),
                _ => expected(self),
            },
            FieldType::Bool => match scalar {
                Some(Scalar::Bool(b)) => field(FieldValue::Bool(*b)),
                Some(Scalar::Null) => field(FieldValue::Bool(false)),
                _ => expected(self),
            },
        }
    }

    /// Decodes an object with a fixed set of fields: unknown keys are linted, required fields
    /// checked, absent ones defaulted; fields come out in spec order.
    pub(crate) fn object(&mut self, spec: &'static FieldSpec, node: &Node) -> Option<Field> {
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            _ => {
                self.fail(Lint::at(
                    node,
                    format!("expected object value, got {}", node.short_tag()),
                ));
                return None;
            }
        };
        for e in entries {
            if spec.child(&e.key).is_none() {
                self.lint(Lint {
                    node_col: e.key_pos.col,
                    ..Lint::error(e.key_pos.line, format!("field {} not recognised", e.key))
                });
            }
        }
        let mut fields = Vec::with_capacity(spec.children.len());
        for child in &spec.children {
            let value = entries
                .iter()
                .find(|e| e.key == child.name)
                .map(|e| &e.value);
            if value.is_none_or(Node::is_null)
                && child.default_value().is_none()
                && child.is_required()
                && !matches!(child.ty, FieldType::Component(_))
            {
                self.fail(Lint::at(node, format!("field {} is required", child.name)));
            }
            if let Some(f) = self.field(child, value, node.pos) {
                fields.push((child.name.to_string(), f));
            }
        }
        Some(Field {
            pos: node.pos,
            spec,
            defaulted: self.quiet > 0,
            value: FieldValue::Object(fields),
        })
    }

    /// Decodes a component of `kind`: `{<type>: {...}, label: ..., processors: [...]}` or with
    /// an explicit `type: <name>`.
    pub(crate) fn component(
        &mut self,
        kind: ComponentKind,
        node: &Node,
    ) -> Option<ComponentConfig> {
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            _ => {
                self.fail(Lint::at(
                    node,
                    format!("expected object value, got {}", node.short_tag()),
                ));
                return None;
            }
        };
        let spec = self.infer(kind, node, entries)?;
        let name = spec.name;
        let config_node = entries
            .iter()
            .find(|e| e.key == name)
            .map(|e| &e.value)
            .filter(|n| !n.is_null());
        let config = match config_node {
            Some(n) => self.field(&spec.config, Some(n), node.pos)?,
            None if spec.config.ty == FieldType::Object
                && spec.config.kind == FieldKind::Scalar =>
            {
                // `type: kafka` without a `kafka` key: an empty config, so required fields show.
                self.object(
                    &spec.config,
                    &Node {
                        pos: node.pos,
                        kind: NodeKind::Map(Vec::new()),
                    },
                )?
            }
            None => match self.field(&spec.config, None, node.pos) {
                Some(f) => f,
                None if spec.config.is_required() => {
                    self.fail(Lint::at(node, format!("field {name} is required")));
                    return None;
                }
                None => Field {
                    pos: node.pos,
                    spec: &spec.config,
                    defaulted: true,
                    value: FieldValue::Null,
                },
            },
        };
        let mut label = String::new();
        let mut processors = Vec::new();
        for e in entries {
            match e.key.as_str() {
                "type" => {}
                k if k == name => {}
                "label" if kind.has_label() => {
                    if let Some(l) = self
                        .field(label_spec(), Some(&e.value), node.pos)
                        .and_then(|f| f.as_str().map(str::to_string))
                    {
                        if self.quiet == 0 {
                            if let Some(lint) = self.labels.check(&e.value, &l) {
                                self.lint(lint);
                            }
                        }
                        label = l;
                    }
                }
                "processors" if kind.has_processors() => {
                    if e.value.as_seq().is_some_and(<[Node]>::is_empty) {
                        self.lint(Lint::at(
                            &e.value,
                            "field processors is empty and can be removed",
                        ));
                    }
                    if let Some(f) = self.field(processors_spec(), Some(&e.value), node.pos) {
                        processors = f.components().into_iter().cloned().collect();
                    }
                }
                "mapping" if kind == ComponentKind::Metrics => {
                    self.field(metrics_mapping_spec(), Some(&e.value), node.pos);
                }
                "plugin" => self.lint(Lint {
                    node_col: e.key_pos.col,
                    ..Lint::error(e.key_pos.line, "plugin object is ineffective")
                }),
                other => self.lint(Lint {
                    node_col: e.key_pos.col,
                    ..Lint::error(
                        e.key_pos.line,
                        format!(
                            "field {other} is invalid when the component type is {name} ({kind})"
                        ),
                    )
                }),
            }
        }
        Some(ComponentConfig {
            kind,
            name,
            label,
            pos: node.pos,
            spec,
            config,
            processors,
        })
    }

    /// Which component a mapping configures: its `type` key, else the one key naming a
    /// registered component.
    fn infer(
        &mut self,
        kind: ComponentKind,
        node: &Node,
        entries: &[Entry],
    ) -> Option<&'static crate::registry::ComponentSpec> {
        let registry = self.registry;
        if let Some(t) = entries.iter().find(|e| e.key == "type") {
            let name = t.value.scalar_text().unwrap_or_default();
            return match registry.get(kind, name) {
                Some(spec) => Some(spec),
                None => {
                    let mut warning = Lint::at(
                        node,
                        format!("failed to obtain docs for {kind} type {name}"),
                    );
                    warning.severity = crate::lint::Severity::Warning;
                    self.lint(warning);
                    self.errors.push(Lint::at(
                        node,
                        format!("{kind} type '{name}' was not recognised"),
                    ));
                    None
                }
            };
        }
        let reserved = |k: &str| {
            k == "plugin"
                || (k == "label" && kind.has_label())
                || (k == "processors" && kind.has_processors())
                || (k == "mapping" && kind == ComponentKind::Metrics)
        };
        let candidates: Vec<&str> = entries
            .iter()
            .map(|e| e.key.as_str())
            .filter(|k| !reserved(k))
            .collect();
        let known: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|k| registry.get(kind, k).is_some())
            .collect();
        if known.len() == 1 {
            return registry.get(kind, known[0]);
        }
        let listed = if candidates.len() == 1 {
            candidates[0].to_string()
        } else {
            format!("[{}]", candidates.join(" "))
        };
        let error = match (candidates.len(), known.len()) {
            (0, _) => format!("an explicit {kind} type must be specified"),
            (_, 0) => format!(
                "unable to infer {kind} type from candidates: [{}]",
                candidates.join(" ")
            ),
            _ => format!(
                "unable to infer {kind} type, multiple candidates '{}' and '{}'",
                known[0], known[1]
            ),
        };
        if candidates.is_empty() {
            self.fail(Lint::at(node, error));
        } else {
            let mut warning = Lint::at(node, format!("unable to infer component type: {listed}"));
            warning.severity = crate::lint::Severity::Warning;
            self.lint(warning);
            self.errors.push(Lint::at(node, error));
        }
        None
    }
}

/// A free-form value: maps become objects (document order), sequences arrays.
fn generic(node: &Node, spec: &'static FieldSpec, defaulted: bool) -> Field {
    let value = match &node.kind {
        NodeKind::Scalar { value, .. } => match value {
            Scalar::Null => FieldValue::Null,
            Scalar::Bool(b) => FieldValue::Bool(*b),
            Scalar::Int(i) => FieldValue::Int(*i),
            Scalar::Float(f) => FieldValue::Float(*f),
            Scalar::Str(s) => FieldValue::String(s.clone()),
        },
        NodeKind::Seq(items) => {
            FieldValue::Array(items.iter().map(|n| generic(n, spec, defaulted)).collect())
        }
        NodeKind::Map(entries) => FieldValue::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), generic(&e.value, spec, defaulted)))
                .collect(),
        ),
    };
    Field {
        pos: node.pos,
        spec,
        defaulted,
        value,
    }
}

/// A node for a JSON value (defaults), every part at `pos`.
pub(crate) fn json_to_node(v: &Value, pos: Pos) -> Node {
    let scalar = |value: Scalar, raw: String| Node {
        pos,
        kind: NodeKind::Scalar {
            raw,
            style: ScalarStyle::Quoted,
            value,
        },
    };
    match v {
        Value::Null => Node::null(pos),
        Value::Bool(b) => scalar(Scalar::Bool(*b), b.to_string()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => scalar(Scalar::Int(i), i.to_string()),
            None => scalar(Scalar::Float(n.as_f64().unwrap_or(0.0)), n.to_string()),
        },
        Value::String(s) => scalar(Scalar::Str(s.clone()), s.clone()),
        Value::Array(items) => Node {
            pos,
            kind: NodeKind::Seq(items.iter().map(|i| json_to_node(i, pos)).collect()),
        },
        Value::Object(m) => Node {
            pos,
            kind: NodeKind::Map(
                m.iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        key_pos: pos,
                        value: json_to_node(v, pos),
                    })
                    .collect(),
            ),
        },
    }
}
