//! Rate limits: the `local` rate limit resource (at most `count` accesses per `interval`) and
//! the shared table of rate limit resources that components look up by name at run time, so
//! replacing a resource takes effect at once for every stream using it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::ComponentError;

/// `local`: a fixed window of `count` accesses per `interval`.
#[derive(Debug)]
pub struct LocalRateLimit {
    count: u64,
    interval: Duration,
    window: Mutex<(Instant, u64)>,
}

impl LocalRateLimit {
    /// Builds the rate limit from its config.
    pub fn new(cfg: &ComponentConfig) -> Result<LocalRateLimit, ComponentError> {
        let count = cfg.int("count").unwrap_or(1000);
        if count <= 0 {
            return Err(ComponentError::new("count must be larger than zero"));
        }
        let interval = duration::parse(cfg.str("interval").unwrap_or("1s"))
            .map_err(|e| ComponentError::new(format!("interval: {}", e)))?;
        Ok(LocalRateLimit {
            count: count as u64,
            interval,
            window: Mutex::new((Instant::now(), 0)),
        })
    }

    /// Takes one access: `None` when allowed, else how long until the window reopens.
    pub fn access(&self) -> Option<Duration> {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(w.0) >= self.interval {
            *w = (now, 0);
        }
        if w.1 < self.count {
            w.1 += 1;
            None
        } else {
            Some(self.interval.saturating_sub(now.duration_since(w.0)))
        }
    }
}

/// The rate limit resources by name, shared by the manager and every component.
#[derive(Debug, Clone, Default)]
pub struct RateLimits(Arc<RwLock<HashMap<String, Arc<LocalRateLimit>>>>);

impl RateLimits {
    /// Stores (or replaces) a rate limit.
    pub fn set(&self, name: &str, limit: LocalRateLimit) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), Arc::new(limit));
    }

    /// The rate limit called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LocalRateLimit>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

// ------------------------------------------------------------------------------------ specs

/// `local`: a token bucket held in this process.
pub fn local_spec() -> ComponentSpec {
    ComponentSpec::new(
        "local",
        ComponentKind::RateLimit,
        "The local rate limit is a simple X every Y type rate limit that can be shared across any number of components within the pipeline but does not support distributed rate limits across multiple running instances.",
        vec![
            F::int("count", "The maximum number of requests to allow for a given period of time.").default(1000),
            F::duration("interval", "The time window to limit requests by.").default("1s"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_count_per_interval() {
        let rl = LocalRateLimit {
            count: 2,
            interval: Duration::from_secs(60),
            window: Mutex::new((Instant::now(), 0)),
        };
        assert!(rl.access().is_none());
        assert!(rl.access().is_none());
        let wait = rl.access().expect("third access is limited");
        assert!(wait > Duration::from_secs(50));
    }
}
