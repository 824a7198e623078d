//! The `dedupe` processor: drops messages whose (interpolated) key was already seen, by adding
//! each key to a cache resource; the cache's TTL bounds how long a key counts as seen.

use std::sync::Arc;

use bytes::Bytes;
use sluice_compiler::interp::Interpolation;

use super::cache::{CacheError, Caches};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "dedupe",
        ComponentKind::Processor,
        "Deduplicates messages by storing a key value in a cache using the `add` operator. If the key already exists within the cache it is dropped.",
        vec![
            F::string("cache", "The `cache` resource to target with this processor."),
            F::string("key", "An interpolated string yielding the key to deduplicate by for each message.").interpolated(),
            F::bool("drop_on_err", "Whether messages should be dropped when the cache returns a general error such as a network issue.")
                .default(true),
        ],
    )
}

/// Builds it: the cache resource must exist.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let cache = cfg.str("cache").unwrap_or("").to_string();
    // Offline (compile --check) a cache may be one made over the API: any name passes.
    if !ctx.offline && ctx.caches.get(&cache).is_none() {
        return Err(ComponentError::new(format!(
            "cache resource '{}' was not found",
            cache
        )));
    }
    let key = Interpolation::compile(cfg.str("key").unwrap_or(""))
        .map_err(|e| ComponentError::new(format!("key: {}", e)))?;
    Ok(Arc::new(Dedupe {
        caches: ctx.caches.clone(),
        cache,
        key,
        drop_on_err: cfg.bool("drop_on_err").unwrap_or(true),
    }))
}

struct Dedupe {
    caches: Caches,
    cache: String,
    key: Interpolation,
    drop_on_err: bool,
}

impl Processor for Dedupe {
    fn process(&self, batch: Batch) -> Batch {
        let cache = self.caches.get(&self.cache);
        batch
            .into_iter()
            .filter_map(|mut m| {
                let outcome = match (&cache, self.key.render(&m)) {
                    (Some(c), Ok(key)) => c.add(&key, Bytes::from_static(b"t"), None),
                    (None, _) => Err(CacheError::Failed(format!(
                        "cache resource '{}' was not found",
                        self.cache
                    ))),
                    (_, Err(e)) => Err(CacheError::Failed(format!("key: {}", e))),
                };
                match outcome {
                    Ok(()) => Some(m),
                    Err(CacheError::KeyExists) => None,
                    Err(_) if self.drop_on_err => None,
                    Err(e) => {
                        m.error = Some(format!("dedupe: {}", e));
                        Some(m)
                    }
                }
            })
            .collect()
    }
}
