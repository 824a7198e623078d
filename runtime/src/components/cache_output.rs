//! The `cache` output: stores each message's payload in a cache resource under an
//! (interpolated) key, with an optional (interpolated) TTL. The resource is looked up per
//! write, so a replaced resource takes the next message.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;

use super::cache::Caches;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "cache",
        ComponentKind::Output,
        "Stores each message in a cache.",
        vec![
            F::string("target", "The target cache to store messages in."),
            F::string("key", "The key to store messages by, function interpolation should be used in order to derive a unique key for each message.")
                .interpolated()
                .default(r#"${!count("items")}-${!timestamp_unix_nano()}"#),
            F::string("ttl", "The TTL of each individual item as a duration string. After this period an item will be eligible for removal during the next compaction. Not all caches support per-key TTLs, and those that do not will fall back to their generally configured TTL setting.")
                .interpolated()
                .optional()
                .advanced(),
            F::int("max_in_flight", "The maximum number of messages to have in flight at a given time. Increase this to improve throughput.")
                .default(64),
        ],
    )
}

/// Builds it: the target cache must exist.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedOutput, ComponentError> {
    let target = cfg.str("target").unwrap_or("").to_string();
    // Offline (compile --check) a cache may be one made over the API: any name passes.
    if !ctx.offline && ctx.caches.get(&target).is_none() {
        return Err(ComponentError::new(format!(
            "cache resource '{}' was not found",
            target
        )));
    }
    let compile = |name: &str, text: &str| {
        Interpolation::compile(text).map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
    };
    Ok(Arc::new(CacheOutput {
        caches: ctx.caches.clone(),
        target,
        key: compile("key", cfg.str("key").unwrap_or(""))?,
        ttl: cfg.str("ttl").map(|t| compile("ttl", t)).transpose()?,
    }))
}

struct CacheOutput {
    caches: Caches,
    target: String,
    key: Interpolation,
    ttl: Option<Interpolation>,
}

#[async_trait]
impl Output for CacheOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let cache = self
            .caches
            .get(&self.target)
            .ok_or_else(|| Nack(format!("cache resource '{}' was not found", self.target)))?;
        for m in &batch {
            let key = self
                .key
                .render(m)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            let ttl = match &self.ttl {
                None => None,
                Some(t) => match t
                    .render(m)
                    .map_err(|e| Nack(format!("ttl: {}", e)))?
                    .as_str()
                {
                    "" => None,
                    text => Some(
                        crate::duration::parse(text).map_err(|e| Nack(format!("ttl: {}", e)))?,
                    ),
                },
            };
            // Caches are synchronous (a file cache does blocking I/O): off the async workers.
            let (c, payload) = (cache.clone(), m.payload.clone());
            tokio::task::spawn_blocking(move || c.set(&key, payload, ttl))
                .await
                .map_err(|e| Nack(e.to_string()))?
                .map_err(|e| Nack(format!("cache {}: {}", self.target, e)))?;
        }
        Ok(())
    }
}
