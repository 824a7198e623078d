//! The `multilevel` cache: a list of cache resources read in order (a hit in a later level is
//! written back to the earlier ones) and all written to.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::cache::{Cache, CacheError, Caches, SharedCache};
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// The spec: the config is the list of cache resource names.
pub fn spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "multilevel",
        ComponentKind::Cache,
        "Combines multiple caches as levels, performing read-through and write-through operations across them.",
        F::string("", "").array(),
    )
}

/// Builds it; the levels are looked up by name when used (set them before using this one).
pub fn build(cfg: &ComponentConfig, caches: &Caches) -> Result<SharedCache, ComponentError> {
    let levels: Vec<String> = cfg
        .config
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(Field::as_str)
        .map(str::to_string)
        .collect();
    if levels.len() < 2 {
        return Err(ComponentError::new(
            "expected at least two cache levels, got fewer",
        ));
    }
    Ok(Arc::new(Multilevel {
        levels,
        caches: caches.clone(),
    }))
}

struct Multilevel {
    levels: Vec<String>,
    caches: Caches,
}

impl Multilevel {
    fn level(&self, name: &str) -> Result<SharedCache, CacheError> {
        self.caches
            .get(name)
            .ok_or_else(|| CacheError::Failed(format!("cache resource '{}' was not found", name)))
    }
}

impl Cache for Multilevel {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        for (i, name) in self.levels.iter().enumerate() {
            match self.level(name)?.get(key) {
                Ok(v) => {
                    for earlier in &self.levels[..i] {
                        let _ = self.level(earlier)?.set(key, v.clone(), None);
                    }
                    return Ok(v);
                }
                Err(CacheError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CacheError::NotFound)
    }

    fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        for name in &self.levels {
            self.level(name)?.set(key, value.clone(), ttl)?;
        }
        Ok(())
    }

    fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        match self.get(key) {
            Ok(_) => return Err(CacheError::KeyExists),
            Err(CacheError::NotFound) => {}
            Err(e) => return Err(e),
        }
        self.set(key, value, ttl)
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        for name in &self.levels {
            self.level(name)?.delete(key)?;
        }
        Ok(())
    }
}
