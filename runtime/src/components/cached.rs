//! The `cached` processor: child processors run on a message only when its `key` is not in
//! the cache; their result (a single message without error, unless `skip_on` holds for it)
//! is stored under the key, and a later message with the same key takes the stored payload
//! instead of running them. Only the payload is cached (upstream keeps metadata too).

use std::sync::Arc;

use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Mapping, Message, Value};

use super::processors::{children_of, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "cached",
        ComponentKind::Processor,
        "Cache the result of applying one or more processors to messages identified by a key. If the key already exists within the cache the contents of the message will be replaced with the cached result instead of applying the processors.",
        vec![
            F::string("cache", "The cache resource to read and write processor results from."),
            F::string("skip_on", "A condition that can be used to skip caching the results from the processors.").bloblang().optional(),
            F::string("key", "A key to be resolved for each message, if the key already exists in the cache then the cached result is used, otherwise the processors are applied and the result is cached under this key.").interpolated(),
            F::string("ttl", "An optional expiry period to set for each cache entry. Some caches only have a general TTL and will therefore ignore this setting.").interpolated().optional(),
            F::processors("processors", "The list of processors whose result will be cached."),
        ],
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let cache = cfg.str("cache").unwrap_or("").to_string();
    // Offline (compile --check) a cache may be one made over the API: any name passes.
    if !ctx.offline && ctx.caches.get(&cache).is_none() {
        return Err(ComponentError::new(format!(
            "cache resource '{}' was not found",
            cache
        )));
    }
    let interp = |f: &str| {
        cfg.str(f)
            .map(|t| {
                Interpolation::compile(t).map_err(|e| ComponentError::new(format!("{}: {}", f, e)))
            })
            .transpose()
    };
    let skip_on = cfg
        .str("skip_on")
        .filter(|s| !s.trim().is_empty())
        .map(|s| Mapping::compile(s).map_err(|e| ComponentError::new(format!("skip_on: {}", e))))
        .transpose()?;
    Ok(Arc::new(Cached {
        caches: ctx.caches.clone(),
        cache,
        key: interp("key")?.ok_or_else(|| ComponentError::new("key is required"))?,
        ttl: interp("ttl")?,
        skip_on,
        processors: children_of(cfg, "processors", ctx)?,
    }))
}

struct Cached {
    caches: super::cache::Caches,
    cache: String,
    key: Interpolation,
    ttl: Option<Interpolation>,
    skip_on: Option<Mapping>,
    processors: Vec<SharedProcessor>,
}

impl Cached {
    fn one(&self, mut m: Message) -> Batch {
        let Some(cache) = self.caches.get(&self.cache) else {
            m.error = Some(format!("cache resource '{}' was not found", self.cache));
            return vec![m];
        };
        let key = match self.key.render(&m) {
            Ok(k) => k,
            Err(e) => {
                m.error = Some(format!("key: {}", e));
                return vec![m];
            }
        };
        if let Ok(hit) = cache.get(&key) {
            m.payload = hit;
            return vec![m];
        }
        let out = run_all(&self.processors, vec![m]);
        if let [result] = out.as_slice() {
            let skip = result.error.is_some()
                || self
                    .skip_on
                    .as_ref()
                    .is_some_and(|c| matches!(c.query(result), Ok(Value::Bool(true))));
            if !skip {
                let ttl = self
                    .ttl
                    .as_ref()
                    .and_then(|t| t.render(result).ok())
                    .and_then(|t| crate::duration::parse(&t).ok());
                if let Err(e) = cache.set(&key, result.payload.clone(), ttl) {
                    tracing::warn!(error = %e, "cached: failed to store the result");
                }
            }
        }
        out
    }
}

impl Processor for Cached {
    fn process(&self, batch: Batch) -> Batch {
        batch.into_iter().flat_map(|m| self.one(m)).collect()
    }
}
