//! Caches: the interface processors use (`cache`, `dedupe`), and the shared table of cache
//! resources they look up by name at run time (so replacing a resource through
//! `/resources/cache/{id}` takes effect at once for every stream using it).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;

/// Why a cache operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// `get` of a missing key.
    #[error("key does not exist")]
    NotFound,
    /// `add` of an existing key.
    #[error("key already exists")]
    KeyExists,
    /// The cache itself failed.
    #[error("{0}")]
    Failed(String),
}

/// A key/value cache. Operations are synchronous: processors call them from the pipeline's
/// blocking threads.
pub trait Cache: Send + Sync + 'static {
    /// The value of `key`.
    fn get(&self, key: &str) -> Result<Bytes, CacheError>;
    /// Sets `key` (replacing any value), expiring after `ttl` (the cache's default if `None`).
    fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Sets `key` only if it is absent ([`CacheError::KeyExists`] otherwise).
    fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Removes `key` (absent keys are not an error).
    fn delete(&self, key: &str) -> Result<(), CacheError>;
}

/// A shared cache.
pub type SharedCache = Arc<dyn Cache>;

/// The cache resources by name, shared by the manager and every component.
#[derive(Clone, Default)]
pub struct Caches(Arc<RwLock<HashMap<String, SharedCache>>>);

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        f.debug_tuple("Caches").field(&names).finish()
    }
}

impl Caches {
    /// Stores (or replaces) a cache.
    pub fn set(&self, name: &str, cache: SharedCache) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), cache);
    }

    /// The cache called `name`.
    pub fn get(&self, name: &str) -> Option<SharedCache> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}
