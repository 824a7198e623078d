//! The `include_prefixes` / `include_patterns` metadata filter of outputs (which metadata
//! keys travel as headers or properties): a key passes when it starts with any prefix or
//! matches any pattern; an empty filter passes nothing, as upstream's.

use regex::Regex;

use crate::config::stream::ComponentConfig;
use crate::stream::ComponentError;

/// A compiled metadata filter.
#[derive(Debug, Clone, Default)]
pub struct MetadataFilter {
    prefixes: Vec<String>,
    patterns: Vec<Regex>,
}

impl MetadataFilter {
    /// The filter at `path` (`metadata`) of a component's config.
    pub fn of(cfg: &ComponentConfig, path: &str) -> Result<MetadataFilter, ComponentError> {
        let list = |name: &str| -> Vec<String> {
            cfg.field(&format!("{}.{}", path, name))
                .and_then(|f| f.as_array())
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let patterns = list("include_patterns")
            .iter()
            .map(|p| {
                Regex::new(p)
                    .map_err(|e| ComponentError::new(format!("{}.include_patterns: {}", path, e)))
            })
            .collect::<Result<_, _>>()?;
        Ok(MetadataFilter {
            prefixes: list("include_prefixes"),
            patterns,
        })
    }

    /// Whether `key` passes.
    pub fn matches(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
            || self.patterns.iter().any(|p| p.is_match(key))
    }

    /// Whether nothing can pass.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.patterns.is_empty()
    }
}
