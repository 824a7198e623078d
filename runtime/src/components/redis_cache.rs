//! The `redis` cache: keys (with an optional `prefix`) as Redis strings, `SET ... PX` for a
//! TTL, `SET ... NX` for `add`. Called from pipeline threads, so it uses blocking
//! connections from a small pool; a connection that fails is dropped and the operation is
//! retried on a new one with upstream's `retries` backoff.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cache::{Cache, CacheError, SharedCache};
use super::redis::{client_fields, error_text, is_connection_error, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// The spec.
pub fn spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("prefix", "An optional string to prefix item keys with in order to prevent collisions with similar services.")
            .optional(),
        F::duration("default_ttl", "An optional default TTL to set for items, calculated from the moment the item is cached.")
            .optional()
            .advanced(),
        F::object(
            "retries",
            "Determine time intervals and cut offs for retry attempts.",
            vec![
                F::duration("initial_interval", "The initial period to wait between retry attempts.")
                    .default("500ms"),
                F::duration("max_interval", "The maximum period to wait between retry attempts.")
                    .default("1s"),
                F::duration("max_elapsed_time", "The maximum overall period of time to spend on retry attempts before the request is aborted.")
                    .default("5s"),
            ],
        )
        .advanced(),
    ]);
    ComponentSpec::new(
        "redis",
        ComponentKind::Cache,
        "Use a Redis instance as a cache. The expiration can be set to zero or an empty string in order to set no expiration.",
        fields,
    )
}

/// Builds it (nothing connects until the first operation).
pub fn build(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let d = |name: &str, default: &str| super::kafka::duration_field(cfg, name, default);
    let ttl = match cfg.str("default_ttl").unwrap_or("") {
        "" => None,
        _ => Some(d("default_ttl", "0s")?).filter(|t| !t.is_zero()),
    };
    Ok(Arc::new(RedisCache {
        target: RedisTarget::of(cfg)?,
        prefix: cfg.str("prefix").unwrap_or("").to_string(),
        default_ttl: ttl,
        initial: d("retries.initial_interval", "500ms")?,
        max: d("retries.max_interval", "1s")?,
        max_elapsed: d("retries.max_elapsed_time", "5s")?,
        pool: Mutex::new(Vec::new()),
    }))
}

struct RedisCache {
    target: RedisTarget,
    prefix: String,
    default_ttl: Option<Duration>,
    initial: Duration,
    max: Duration,
    max_elapsed: Duration,
    pool: Mutex<Vec<redis::Connection>>,
}

impl RedisCache {
    /// Runs `f` on a pooled connection, retrying connection failures with backoff.
    fn with_conn<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, CacheError> {
        let start = Instant::now();
        let mut wait = self.initial;
        loop {
            let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => Ok(c),
                None => self.target.blocking(Duration::from_secs(5)),
            };
            let err = match conn {
                Ok(mut c) => match f(&mut c) {
                    Ok(v) => {
                        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                        if pool.len() < 8 {
                            pool.push(c);
                        }
                        return Ok(v);
                    }
                    Err(e) if !is_connection_error(&e) => {
                        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
                        return Err(CacheError::Failed(error_text(&e)));
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if start.elapsed() + wait > self.max_elapsed {
                return Err(CacheError::Failed(error_text(&err)));
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(self.max);
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn set_cmd(&self, key: &str, value: &[u8], ttl: Option<Duration>, nx: bool) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl.or(self.default_ttl).filter(|t| !t.is_zero()) {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        if nx {
            cmd.arg("NX");
        }
        cmd
    }
}

impl Cache for RedisCache {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        let k = self.key(key);
        let v: Option<Vec<u8>> = self.with_conn(|c| redis::cmd("GET").arg(&k).query(c))?;
        v.map(Bytes::from).ok_or(CacheError::NotFound)
    }

    fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let cmd = self.set_cmd(key, &value, ttl, false);
        self.with_conn(|c| cmd.query::<()>(c))
    }

    fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let cmd = self.set_cmd(key, &value, ttl, true);
        let set: Option<String> = self.with_conn(|c| cmd.query(c))?;
        match set {
            Some(_) => Ok(()),
            None => Err(CacheError::KeyExists),
        }
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        let k = self.key(key);
        self.with_conn(|c| redis::cmd("DEL").arg(&k).query::<i64>(c))
            .map(|_| ())
    }
}
