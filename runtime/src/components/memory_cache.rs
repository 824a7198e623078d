//! The `memory` cache: key/value pairs in a map held in memory, with a default TTL and
//! `init_values`. Expired items are removed when read, and at each compaction
//! (`compaction_interval`, on writes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::cache::{Cache, CacheError, SharedCache};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "memory",
        ComponentKind::Cache,
        "Stores key/value pairs in a map held in memory. This cache is therefore reset every time the service restarts.",
        vec![
            F::duration("default_ttl", "The default TTL of each item. After this period an item will be eligible for removal during the next compaction.")
                .default("5m"),
            F::duration("compaction_interval", "The period of time to wait before each compaction, at which point expired items are removed. This field can be set to an empty string in order to disable compactions/expiry entirely.")
                .default("60s"),
            F::string("init_values", "A table of key/value pairs that should be present in the cache on initialization.")
                .map()
                .default(json!({}))
                .advanced(),
            F::int("shards", "A number of logical shards to spread keys across, increasing the shards can have a performance benefit when processing a large number of keys.")
                .default(1)
                .advanced(),
        ],
    )
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let duration = |name: &str| -> Result<Option<Duration>, ComponentError> {
        match cfg.str(name).unwrap_or("") {
            "" => Ok(None),
            t => crate::duration::parse(t)
                .map(Some)
                .map_err(|e| ComponentError::new(format!("{}: {}", name, e))),
        }
    };
    let compaction = duration("compaction_interval")?;
    // With compactions disabled, nothing expires (upstream's rule).
    let default_ttl = compaction.and(duration("default_ttl")?);
    let mut items = HashMap::new();
    if let Some(entries) = cfg.field("init_values").and_then(|f| f.as_object()) {
        for (k, v) in entries {
            let value = Bytes::from(v.as_str().unwrap_or("").to_string());
            items.insert(k.clone(), (value, None));
        }
    }
    Ok(Arc::new(MemoryCache {
        default_ttl,
        compaction,
        state: Mutex::new(State {
            items,
            last_compaction: Instant::now(),
        }),
    }))
}

struct State {
    /// Value and expiry by key.
    items: HashMap<String, (Bytes, Option<Instant>)>,
    last_compaction: Instant,
}

struct MemoryCache {
    default_ttl: Option<Duration>,
    compaction: Option<Duration>,
    state: Mutex<State>,
}

impl MemoryCache {
    fn expiry(&self, ttl: Option<Duration>) -> Option<Instant> {
        ttl.or(self.default_ttl).map(|t| Instant::now() + t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(every) = self.compaction {
            let now = Instant::now();
            if now.duration_since(s.last_compaction) >= every {
                s.items.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
                s.last_compaction = now;
            }
        }
        s
    }
}

fn live(entry: Option<&(Bytes, Option<Instant>)>) -> Option<&Bytes> {
    entry
        .filter(|(_, exp)| exp.is_none_or(|e| e > Instant::now()))
        .map(|(v, _)| v)
}

impl Cache for MemoryCache {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        live(self.lock().items.get(key))
            .cloned()
            .ok_or(CacheError::NotFound)
    }

    fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let expiry = self.expiry(ttl);
        self.lock().items.insert(key.to_string(), (value, expiry));
        Ok(())
    }

    fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let expiry = self.expiry(ttl);
        let mut s = self.lock();
        if live(s.items.get(key)).is_some() {
            return Err(CacheError::KeyExists);
        }
        s.items.insert(key.to_string(), (value, expiry));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.lock().items.remove(key);
        Ok(())
    }
}
