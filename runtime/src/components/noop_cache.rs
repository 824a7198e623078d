//! The `noop` cache: stores nothing (every `get` misses, every `add` succeeds).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::cache::{Cache, CacheError, SharedCache};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec};
use crate::stream::ComponentError;

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "noop",
        ComponentKind::Cache,
        "Noop is a cache that stores nothing, all gets returns not found. Why? Sometimes doing nothing is the braver option.",
        vec![],
    )
}

/// Builds it.
pub fn build(
    _cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    Ok(Arc::new(Noop))
}

struct Noop;

impl Cache for Noop {
    fn get(&self, _key: &str) -> Result<Bytes, CacheError> {
        Err(CacheError::NotFound)
    }
    fn set(&self, _key: &str, _value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        Ok(())
    }
    fn add(&self, _key: &str, _value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        Ok(())
    }
    fn delete(&self, _key: &str) -> Result<(), CacheError> {
        Ok(())
    }
}
