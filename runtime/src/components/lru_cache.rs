//! The `lru` and `ttlru` caches: at most `cap` items, the least recently used evicted first;
//! `ttlru` also expires items after a TTL (its `default_ttl`, or the one given per item).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::cache::{Cache, CacheError, SharedCache};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// `lru` spec.
pub fn lru_spec() -> ComponentSpec {
    ComponentSpec::new(
        "lru",
        ComponentKind::Cache,
        "Stores key/value pairs in a lru in-memory cache. This cache is therefore reset every time the service restarts.",
        vec![
            F::int("cap", "The cache maximum capacity (number of entries)").default(1000),
            F::string("algorithm", "the lru cache implementation").default("standard").options(&["standard", "arc", "two_queues"]).advanced(),
            F::float("two_queues_recent_ratio", "is the ratio of the two_queues cache dedicated to recently added entries that have only been accessed once.").default(0.25).advanced(),
            F::float("two_queues_ghost_ratio", "is the default ratio of ghost entries kept to track entries recently evicted on two_queues cache.").default(0.5).advanced(),
            F::bool("optimistic", "If true, we do not lock on read/write events. The lru package is thread-safe, however the ADD operation is not atomic.").default(false).advanced(),
            F::string("init_values", "A table of key/value pairs that should be present in the cache on initialization.").map().default(json!({})).advanced(),
        ],
    )
}

/// `ttlru` spec.
pub fn ttlru_spec() -> ComponentSpec {
    ComponentSpec::new(
        "ttlru",
        ComponentKind::Cache,
        "Stores key/value pairs in a ttlru in-memory cache. This cache is therefore reset every time the service restarts.",
        vec![
            F::int("cap", "The cache maximum capacity (number of entries)").default(1024),
            F::duration("default_ttl", "The cache ttl of each element").default("5m0s"),
            F::duration("ttl", "Deprecated. Please use `default_ttl` field").optional().advanced(),
            F::bool("init_values", "").optional().advanced(),
            F::bool("optimistic", "If true, we do not lock on read/write events.").default(false).advanced(),
        ],
    )
}

fn cap(cfg: &ComponentConfig) -> Result<usize, ComponentError> {
    match cfg.int("cap") {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(ComponentError::new("cap must be greater than zero")),
    }
}

/// Builds `lru` (algorithms other than `standard` behave as `standard`).
pub fn build_lru(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let cache = Lru::new(cap(cfg)?, None);
    if let Some(entries) = cfg.field("init_values").and_then(|f| f.as_object()) {
        for (k, v) in entries {
            let _ = cache.set(k, Bytes::from(v.as_str().unwrap_or("").to_string()), None);
        }
    }
    Ok(Arc::new(cache))
}

/// Builds `ttlru`.
pub fn build_ttlru(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let text = cfg.str("ttl").or(cfg.str("default_ttl")).unwrap_or("5m");
    let ttl = crate::duration::parse(text)
        .map_err(|e| ComponentError::new(format!("default_ttl: {}", e)))?;
    Ok(Arc::new(Lru::new(cap(cfg)?, Some(ttl))))
}

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
    used: u64,
}

struct Lru {
    cap: usize,
    default_ttl: Option<Duration>,
    state: Mutex<(HashMap<String, Entry>, u64)>,
}

impl Lru {
    fn new(cap: usize, default_ttl: Option<Duration>) -> Lru {
        Lru {
            cap,
            default_ttl,
            state: Mutex::new((HashMap::new(), 0)),
        }
    }

    fn insert(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        only_new: bool,
    ) -> Result<(), CacheError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.0.retain(|_, e| e.expires.is_none_or(|t| t > now));
        if only_new && s.0.contains_key(key) {
            return Err(CacheError::KeyExists);
        }
        if !s.0.contains_key(key) && s.0.len() >= self.cap {
            // Evict the least recently used (a linear scan: caps are small in practice).
            if let Some(oldest) =
                s.0.iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
            {
                s.0.remove(&oldest);
            }
        }
        s.1 += 1;
        let used = s.1;
        let expires = ttl.or(self.default_ttl).map(|t| now + t);
        s.0.insert(
            key.to_string(),
            Entry {
                value,
                expires,
                used,
            },
        );
        Ok(())
    }
}

impl Cache for Lru {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 += 1;
        let tick = s.1;
        let now = Instant::now();
        match s.0.get_mut(key) {
            Some(e) if e.expires.is_none_or(|t| t > now) => {
                e.used = tick;
                Ok(e.value.clone())
            }
            Some(_) => {
                s.0.remove(key);
                Err(CacheError::NotFound)
            }
            None => Err(CacheError::NotFound),
        }
    }

    fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.insert(key, value, ttl, false)
    }

    fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.insert(key, value, ttl, true)
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .remove(key);
        Ok(())
    }
}
