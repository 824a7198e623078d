//! The `jmespath` processor: a JMESPath query over each message's JSON document; the
//! result replaces the message. A payload that is not JSON, or a failing query, flags it.

use std::sync::Arc;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "jmespath",
        ComponentKind::Processor,
        "Executes a JMESPath query on JSON documents and replaces the message with the resulting document.",
        vec![F::string("query", "The JMESPath query to apply to messages.")],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    query: String,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    // The JMESPath parser recurses once per level of nesting: deeper than this a query from
    // a config could overflow the stack, which aborts the process.
    if nesting_depth(&c.query) > MAX_NESTING {
        return Err(ComponentError::new(format!(
            "failed to compile JMESPath query: nested deeper than {} levels",
            MAX_NESTING
        )));
    }
    let query = jmespath::compile(&c.query)
        .map_err(|e| ComponentError::new(format!("failed to compile JMESPath query: {}", e)))?;
    Ok(Arc::new(JmesPath { query }))
}

/// How deep brackets, parentheses and braces of a query may nest.
const MAX_NESTING: usize = 128;

/// The deepest nesting of `(`, `[` and `{` in a query, outside quoted strings and literals.
fn nesting_depth(query: &str) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None::<char>);
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

struct JmesPath {
    query: jmespath::Expression<'static>,
}

impl JmesPath {
    fn run(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let doc: serde_json::Value = serde_json::from_slice(payload)
            .map_err(|e| format!("failed to parse message as JSON: {}", e))?;
        let var = jmespath::Variable::try_from(doc).map_err(|e| e.to_string())?;
        let result = self
            .query
            .search(var)
            .map_err(|e| format!("failed to search JMESPath: {}", e))?;
        serde_json::to_vec(&*result).map_err(|e| e.to_string())
    }
}

impl Processor for JmesPath {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            match self.run(&m.payload) {
                Ok(p) => m.payload = p.into(),
                Err(e) => {
                    tracing::debug!(error = %e, "jmespath failed");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
