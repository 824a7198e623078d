//! The `file` cache: each key is a file in a directory (created when missing), its content
//! the value. No TTLs (upstream's file cache has none either).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::cache::{Cache, CacheError, SharedCache};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "file",
        ComponentKind::Cache,
        "Stores each item in a directory as a file, where an item ID is the path relative to the configured directory.",
        vec![F::string("directory", "The directory within which to store items.")],
    )
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let dir = PathBuf::from(cfg.str("directory").unwrap_or(""));
    if dir.as_os_str().is_empty() {
        return Err(ComponentError::new("directory is required"));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| ComponentError::new(format!("{}: {}", dir.display(), e)))?;
    Ok(Arc::new(FileCache { dir }))
}

struct FileCache {
    dir: PathBuf,
}

impl FileCache {
    /// The file of `key`: keys are relative paths that must stay inside the directory.
    fn path(&self, key: &str) -> Result<PathBuf, CacheError> {
        let rel = Path::new(key);
        let inside = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if key.is_empty() || !inside {
            return Err(CacheError::Failed(format!(
                "invalid key {:?}: it must be a relative path inside the directory",
                key
            )));
        }
        Ok(self.dir.join(rel))
    }
}

fn failed(e: std::io::Error) -> CacheError {
    CacheError::Failed(e.to_string())
}

impl Cache for FileCache {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        match std::fs::read(self.path(key)?) {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CacheError::NotFound),
            Err(e) => Err(failed(e)),
        }
    }

    fn set(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(path, &value).map_err(failed)
    }

    fn add(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CacheError::KeyExists)
            }
            Err(e) => return Err(failed(e)),
        };
        f.write_all(&value).map_err(failed)
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        match std::fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }
}
