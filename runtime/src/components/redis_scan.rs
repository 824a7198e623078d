//! `redis_scan` input: walks the keys of the database (`SCAN`, optionally filtered by a
//! `match` pattern) and emits each string key's value with `redis_key` metadata, then
//! ends. A nacked message is replayed from memory while `auto_replay_nacks` holds.

use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::{Message, Value};
use tokio::task::JoinSet;

use super::reading::send_tracked;
use super::redis::{client_fields, error_text, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, Input, InputSink};

/// `redis_scan` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        shared::auto_replay_nacks(),
        F::string("match", "Iterates only elements matching the optional glob-style pattern. By default, it matches all elements.")
            .default(""),
    ]);
    ComponentSpec::new(
        "redis_scan",
        ComponentKind::Input,
        "Scans the set of keys in the current selected database and gets their values, using the Scan and Get commands.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let target = RedisTarget::of(cfg)?;
    Ok(Box::new(RedisScanInput {
        conn: target.manager(Duration::from_secs(10))?,
        pattern: cfg.str("match").unwrap_or("").to_string(),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    }))
}

struct RedisScanInput {
    conn: redis::aio::ConnectionManager,
    pattern: String,
    replay: bool,
}

#[async_trait]
impl Input for RedisScanInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut pending = JoinSet::new();
        let fail =
            |e: redis::RedisError| ComponentError::new(format!("redis_scan: {}", error_text(&e)));
        'scan: loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("COUNT").arg(100);
            if !self.pattern.is_empty() {
                cmd.arg("MATCH").arg(&self.pattern);
            }
            let (next, keys): (u64, Vec<String>) =
                cmd.query_async(&mut conn).await.map_err(fail)?;
            for key in keys {
                if sink.is_stopped() {
                    break 'scan;
                }
                let value: Option<Vec<u8>> =
                    match redis::cmd("GET").arg(&key).query_async(&mut conn).await {
                        Ok(v) => v,
                        // Not a string (a list, a hash...): skipped, as upstream's GET fails on it.
                        Err(e) if e.code() == Some("WRONGTYPE") => continue,
                        Err(e) => return Err(fail(e)),
                    };
                let Some(value) = value else { continue };
                let mut m = Message::new(bytes::Bytes::from(value));
                m.metadata.insert("redis_key".into(), Value::Str(key));
                if !send_tracked(&sink, vec![m], self.replay, &mut pending).await {
                    break 'scan;
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}
