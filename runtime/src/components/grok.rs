//! The `grok` processor: parses each message's text with the first of its grok
//! `expressions` that matches, into a JSON object of the captures (`%{NUMBER:n:int}` and
//! `:float` convert the value, as upstream's). Patterns come from the default set
//! (`use_default_patterns`), `pattern_definitions` and `pattern_paths` files (lines of
//! `NAME pattern`). A message no expression matches is flagged.

use std::sync::Arc;

use serde_json::json;
use sluice_compiler::Value;

use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "grok",
        ComponentKind::Processor,
        "Parses messages into a structured format by attempting to apply a list of Grok expressions, the first expression to result in at least one value replaces the original message with a JSON object containing the values.",
        vec![
            F::string("expressions", "One or more Grok expressions to attempt against incoming messages. The first expression to match at least one value will be used to form a result.").array(),
            F::string("pattern_definitions", "A map of pattern definitions that can be referenced within `patterns`.").map().default(json!({})),
            F::string("pattern_paths", "A list of paths to load Grok patterns from. This field supports wildcards, including super globs (double star).").array().default(json!([])),
            F::bool("named_captures_only", "Whether to only capture values from named patterns.").default(true).advanced(),
            F::bool("use_default_patterns", "Whether to use a default set of patterns.").default(true).advanced(),
            F::bool("remove_empty_values", "Whether to remove values that are empty from the resulting structure.").default(true).advanced(),
        ],
    )
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let mut grok = if cfg.bool("use_default_patterns").unwrap_or(true) {
        grok::Grok::with_default_patterns()
    } else {
        grok::Grok::empty()
    };
    for path in cfg
        .field("pattern_paths")
        .and_then(Field::as_array)
        .unwrap_or(&[])
    {
        let path = path.as_str().unwrap_or("");
        let text = std::fs::read_to_string(path)
            .map_err(|e| ComponentError::new(format!("pattern_paths: {}: {}", path, e)))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((name, pattern)) = line.split_once(char::is_whitespace) {
                grok.add_pattern(name.trim(), pattern.trim());
            }
        }
    }
    for (name, def) in cfg
        .field("pattern_definitions")
        .and_then(Field::as_object)
        .unwrap_or(&[])
    {
        grok.add_pattern(name.as_str(), def.as_str().unwrap_or(""));
    }
    let named_only = cfg.bool("named_captures_only").unwrap_or(true);
    let mut patterns = Vec::new();
    for (i, e) in cfg
        .field("expressions")
        .and_then(Field::as_array)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let text = e.as_str().unwrap_or("");
        patterns.push(grok.compile(text, named_only).map_err(|err| {
            ComponentError::new(format!(
                "failed to compile Grok pattern '{}' (expressions.{}): {}",
                text, i, err
            ))
        })?);
    }
    if patterns.is_empty() {
        return Err(ComponentError::new("at least one expression is required"));
    }
    Ok(Arc::new(Grok {
        patterns,
        remove_empty: cfg.bool("remove_empty_values").unwrap_or(true),
    }))
}

struct Grok {
    patterns: Vec<grok::Pattern>,
    remove_empty: bool,
}

impl Grok {
    fn run(&self, text: &str) -> Option<Value> {
        for p in &self.patterns {
            let Some(matches) = p.match_against(text) else {
                continue;
            };
            let mut out = sluice_compiler::value::Object::new();
            for (name, value) in matches.iter() {
                if self.remove_empty && value.is_empty() {
                    continue;
                }
                let v = match p.get_extract(name) {
                    Some("int") => value
                        .parse::<i64>()
                        .map(Value::Int)
                        .unwrap_or(Value::Int(0)),
                    Some("float") => value
                        .parse::<f64>()
                        .map(Value::Float)
                        .unwrap_or(Value::Float(0.0)),
                    _ => Value::Str(value.to_string()),
                };
                // Dotted names nest, as upstream's gabs paths do.
                let path: Vec<String> = name.split('.').map(str::to_string).collect();
                let mut root = Value::Object(std::mem::take(&mut out));
                sluice_compiler::interp::set_path(&mut root, &path, v);
                if let Value::Object(o) = root {
                    out = o;
                }
            }
            if !out.is_empty() {
                return Some(Value::Object(out));
            }
        }
        None
    }
}

impl Processor for Grok {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            let text = String::from_utf8_lossy(&m.payload);
            match self.run(&text) {
                Some(v) => m.payload = v.to_payload(),
                None => {
                    tracing::debug!("no grok pattern matched");
                    m.error = Some("no pattern matched".into());
                }
            }
        }
        batch
    }
}
