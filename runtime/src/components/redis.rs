//! What every Redis component shares: upstream's connection fields (`url`, `kind`,
//! `master`, `tls`), URL normalisation (`tcp://`, `redis://:6379`), and clients that
//! connect lazily and reconnect by themselves (redis-rs's `ConnectionManager`).
//!
//! The components: [`super::redis_list`], [`super::redis_pubsub`],
//! [`super::redis_streams`], [`super::redis_cache`].

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::stream::ComponentConfig;
use crate::registry::{shared, FieldSpec as F};
use crate::stream::ComponentError;

/// The connection fields every Redis component starts with.
pub fn client_fields() -> Vec<F> {
    vec![
        F::string("url", "The URL of the target Redis server. Database is optional and is supplied as the URL path.")
            .url(),
        F::string("kind", "Specifies a simple, cluster-aware, or failover-aware redis client.")
            .options(&["simple", "cluster", "failover"])
            .default("simple")
            .advanced(),
        F::string("master", "Name of the redis master when `kind` is `failover`")
            .default("")
            .advanced(),
        shared::tls(),
    ]
}

/// A Redis server to talk to.
#[derive(Clone)]
pub struct RedisTarget {
    client: redis::Client,
    /// The URL with any password scrubbed, for logs.
    pub shown: String,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RedisTarget").field(&self.shown).finish()
    }
}

/// Rewrites upstream's accepted URL forms into ones redis-rs reads: `tcp://` is
/// `redis://`, and an empty host is localhost.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim();
    let url = match url.strip_prefix("tcp://") {
        Some(rest) => format!("redis://{}", rest),
        None if !url.contains("://") => format!("redis://{}", url),
        None => url.to_string(),
    };
    match url.split_once("://") {
        Some((scheme, rest))
            if rest.starts_with(':') && !rest.split('/').next().unwrap_or("").contains('@') =>
        {
            format!("{}://localhost{}", scheme, rest)
        }
        Some((scheme, rest)) if rest.starts_with('@') || rest.is_empty() => {
            format!("{}://localhost:6379{}", scheme, rest)
        }
        _ => url,
    }
}

impl RedisTarget {
    /// The target a component's config names.
    pub fn of(cfg: &ComponentConfig) -> Result<RedisTarget, ComponentError> {
        match cfg.str("kind").unwrap_or("simple") {
            "simple" => {}
            other => {
                return Err(ComponentError::new(format!(
                    "redis kind {} is not supported yet (only simple)",
                    other
                )))
            }
        }
        if cfg.bool("tls.enabled").unwrap_or(false) {
            return Err(ComponentError::new("redis tls is not supported yet"));
        }
        let url = normalise_url(cfg.str("url").unwrap_or(""));
        let shown = crate::secrets::scrub_text(&url);
        let client = redis::Client::open(url.as_str()).map_err(|e| {
            ComponentError::new(format!(
                "url: {}",
                crate::secrets::scrub_text(&e.to_string())
            ))
        })?;
        Ok(RedisTarget { client, shown })
    }

    /// A lazily connecting, self-reconnecting async connection; commands time out after
    /// `response_timeout` (give blocking commands more than their block time).
    pub fn manager(&self, response_timeout: Duration) -> Result<ConnectionManager, ComponentError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(5))
            .set_number_of_retries(2);
        ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| ComponentError::new(format!("redis: {}", e)))
    }

    /// A dedicated connection for subscriptions.
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    /// A blocking connection (for caches, called from pipeline threads).
    pub fn blocking(&self, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let c = self.client.get_connection_with_timeout(timeout)?;
        c.set_read_timeout(Some(timeout))?;
        c.set_write_timeout(Some(timeout))?;
        Ok(c)
    }
}

/// Sends an output's pipeline of commands; a failure is the batch's nack, named by `what`.
pub async fn send_pipeline(
    conn: &ConnectionManager,
    pipe: &redis::Pipeline,
    what: &str,
) -> Result<(), crate::stream::Nack> {
    let mut conn = conn.clone();
    pipe.query_async::<()>(&mut conn)
        .await
        .map_err(|e| crate::stream::Nack(format!("{}: {}", what, error_text(&e))))
}

/// A Redis error as text, passwords scrubbed.
pub fn error_text(e: &redis::RedisError) -> String {
    crate::secrets::scrub_text(&e.to_string())
}

/// Whether a command failed because the connection did (rather than the command).
pub fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

#[cfg(test)]
mod tests {
    use super::normalise_url;

    #[test]
    fn upstream_url_forms() {
        assert_eq!(
            normalise_url("tcp://localhost:6379"),
            "redis://localhost:6379"
        );
        assert_eq!(normalise_url("redis://:6379"), "redis://localhost:6379");
        assert_eq!(
            normalise_url("redis://:pw@host:1/2"),
            "redis://:pw@host:1/2"
        );
        assert_eq!(normalise_url("localhost:6379"), "redis://localhost:6379");
    }
}
