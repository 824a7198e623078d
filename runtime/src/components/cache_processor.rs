//! The `cache` processor: per message, `set`, `add`, `get`, `delete` or `exists` on a cache
//! resource, with interpolated `key`, `value` and `ttl`. `get` replaces the payload with the
//! cached value, `exists` with `true`/`false`; a failed operation flags the message.

use std::sync::Arc;

use bytes::Bytes;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::Message;

use super::cache::{CacheError, Caches};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "cache",
        ComponentKind::Processor,
        "Performs operations against a cache resource for each message, allowing you to store or retrieve data within message payloads.",
        vec![
            F::string("resource", "The cache resource to target with this processor."),
            F::string("operator", "The operation to perform with the cache.")
                .options(&["set", "add", "get", "delete", "exists"]),
            F::string("key", "A key to use with the cache.").interpolated(),
            F::string("value", "A value to use with the cache (when applicable).")
                .interpolated()
                .optional(),
            F::string("ttl", "The TTL of each individual item as a duration string. After this period an item will be eligible for removal during the next compaction. Not all caches support per-key TTLs, those that do not will fall back to their generally configured TTL setting.")
                .interpolated()
                .optional()
                .advanced(),
        ],
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operator {
    Set,
    Add,
    Get,
    Delete,
    Exists,
}

/// Builds it: the resource must exist (it is looked up again per batch, so a replaced
/// resource applies at once).
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let resource = cfg.str("resource").unwrap_or("").to_string();
    // Offline (compile --check) a cache may be one made over the API: any name passes.
    if !ctx.offline && ctx.caches.get(&resource).is_none() {
        return Err(ComponentError::new(format!(
            "cache resource '{}' was not found",
            resource
        )));
    }
    let operator = match cfg.str("operator").unwrap_or("") {
        "set" => Operator::Set,
        "add" => Operator::Add,
        "get" => Operator::Get,
        "delete" => Operator::Delete,
        "exists" => Operator::Exists,
        other => {
            return Err(ComponentError::new(format!(
                "operator not recognised: {:?}",
                other
            )))
        }
    };
    let interp = |name: &str| -> Result<Option<Interpolation>, ComponentError> {
        cfg.str(name)
            .map(|t| {
                Interpolation::compile(t)
                    .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
            })
            .transpose()
    };
    let value = interp("value")?;
    if matches!(operator, Operator::Set | Operator::Add) && value.is_none() {
        return Err(ComponentError::new(
            "value is required for the set and add operators",
        ));
    }
    Ok(Arc::new(CacheProcessor {
        caches: ctx.caches.clone(),
        resource,
        operator,
        key: interp("key")?.ok_or_else(|| ComponentError::new("key is required"))?,
        value,
        ttl: interp("ttl")?,
    }))
}

struct CacheProcessor {
    caches: Caches,
    resource: String,
    operator: Operator,
    key: Interpolation,
    value: Option<Interpolation>,
    ttl: Option<Interpolation>,
}

impl CacheProcessor {
    fn apply(&self, m: &mut Message) -> Result<(), String> {
        let cache = self
            .caches
            .get(&self.resource)
            .ok_or_else(|| format!("cache resource '{}' was not found", self.resource))?;
        let key = self.key.render(m).map_err(|e| format!("key: {}", e))?;
        let ttl = match &self.ttl {
            None => None,
            Some(t) => match t.render(m).map_err(|e| format!("ttl: {}", e))?.as_str() {
                "" => None,
                text => Some(crate::duration::parse(text).map_err(|e| format!("ttl: {}", e))?),
            },
        };
        let value = || -> Result<Bytes, String> {
            let v = self.value.as_ref().map(|v| v.render(m)).transpose();
            Ok(Bytes::from(
                v.map_err(|e| format!("value: {}", e))?.unwrap_or_default(),
            ))
        };
        match self.operator {
            Operator::Set => cache.set(&key, value()?, ttl).map_err(|e| e.to_string()),
            Operator::Add => cache.add(&key, value()?, ttl).map_err(|e| e.to_string()),
            Operator::Delete => cache.delete(&key).map_err(|e| e.to_string()),
            Operator::Get => {
                m.payload = cache.get(&key).map_err(|e| e.to_string())?;
                Ok(())
            }
            Operator::Exists => {
                let found = match cache.get(&key) {
                    Ok(_) => true,
                    Err(CacheError::NotFound) => false,
                    Err(e) => return Err(e.to_string()),
                };
                m.payload = Bytes::from(if found { "true" } else { "false" });
                Ok(())
            }
        }
    }
}

impl Processor for CacheProcessor {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in &mut batch {
            if let Err(e) = self.apply(m) {
                m.error = Some(format!("cache {}: {}", self.resource, e));
            }
        }
        batch
    }
}
