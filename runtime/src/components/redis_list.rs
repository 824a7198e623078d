//! `redis_list` input (pops items with `BLPOP`/`BRPOP`) and output (pushes with
//! `RPUSH`/`LPUSH`).
//!
//! A popped item is gone from Redis, so the input holds it until the output acknowledged
//! it: a nack replays it (`auto_replay_nacks`), and an item still unacknowledged when the
//! stream stops (or nacked without replay) is pushed back to the end it was popped from, so
//! the next reader gets it first. Blocking pops are never cancelled mid-flight (a cancelled
//! pop could take an item nobody receives): the input blocks for at most a second at a time
//! and checks for a stop between pops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::Message;
use tokio::task::JoinSet;

use super::redis::{client_fields, error_text, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// `redis_list` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("key", "The key of a list to read from."),
        shared::auto_replay_nacks(),
        F::int("max_in_flight", "Optionally sets a limit on the number of messages that can be flowing through a Redpanda Connect stream pending acknowledgment from the input at any given time. Once a message has been either acknowledged or rejected (nacked) it is no longer considered pending. If the input produces logical batches then each batch is considered a single count against the maximum. WARNING: Batching policies at the output level will stall if this field limits the number of messages below the batching threshold. Zero (default) or lower implies no limit.")
            .default(0)
            .advanced(),
        F::duration("timeout", "The length of time to poll for new messages before reattempting.")
            .default("5s")
            .advanced(),
        F::string("command", "The command used to pop elements from the Redis list")
            .options(&["blpop", "brpop"])
            .default("blpop")
            .advanced(),
    ]);
    ComponentSpec::new(
        "redis_list",
        ComponentKind::Input,
        "Pops messages from the beginning of a Redis list using the BLPop command.",
        fields,
    )
}

/// `redis_list` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("key", "The key for each message, function interpolations can be optionally used to create a unique key per message.")
            .interpolated(),
        shared::max_in_flight(),
        shared::batching("batching", false),
        F::string("command", "The command used to push elements to the Redis list")
            .options(&["rpush", "lpush"])
            .default("rpush")
            .advanced(),
    ]);
    ComponentSpec::new(
        "redis_list",
        ComponentKind::Output,
        "Pushes messages onto the end of a Redis list (which is created if it doesn't already exist) using the RPUSH command.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let target = RedisTarget::of(cfg)?;
    let key = cfg.str("key").unwrap_or("").to_string();
    if key.is_empty() {
        return Err(ComponentError::new("key must not be empty"));
    }
    let timeout = super::kafka::duration_field(cfg, "timeout", "5s")?;
    let block = timeout.clamp(Duration::from_millis(100), Duration::from_secs(1));
    let conn = target.manager(block + Duration::from_secs(5))?;
    let max_in_flight = cfg.int("max_in_flight").unwrap_or(0);
    Ok(Box::new(RedisListInput {
        conn,
        key,
        right: cfg.str("command") == Some("brpop"),
        block,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        limit: (max_in_flight > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(max_in_flight as usize))),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct RedisListInput {
    conn: ConnectionManager,
    key: String,
    /// `BRPOP` (push back on the right) rather than `BLPOP`.
    right: bool,
    block: Duration,
    replay: bool,
    limit: Option<Arc<tokio::sync::Semaphore>>,
    connected: Arc<AtomicBool>,
}

/// Pushes an item back to the end it was popped from.
async fn push_back(conn: &mut ConnectionManager, key: &str, right: bool, payload: &[u8]) {
    let cmd = if right { "RPUSH" } else { "LPUSH" };
    let mut backoff = Duration::from_millis(100);
    for _ in 0..20 {
        match redis::cmd(cmd)
            .arg(key)
            .arg(payload)
            .query_async::<i64>(conn)
            .await
        {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %error_text(&e), key, "cannot push an unacknowledged item back to its list, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(
        key,
        "gave up pushing an unacknowledged item back to its list"
    );
}

#[async_trait]
impl Input for RedisListInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut conn = self.conn.clone();
        let mut pending = JoinSet::new();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let mut backoff = Duration::from_millis(100);
        let cmd = if self.right { "BRPOP" } else { "BLPOP" };
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        while !sink.is_stopped() {
            let permit = match &self.limit {
                Some(l) => tokio::select! {
                    p = l.clone().acquire_owned() => p.ok(),
                    _ = sink.stopped() => break,
                },
                None => None,
            };
            let popped: redis::RedisResult<Option<(String, Vec<u8>)>> = redis::cmd(cmd)
                .arg(&self.key)
                .arg(self.block.as_secs_f64())
                .query_async(&mut conn)
                .await;
            let payload = match popped {
                Ok(Some((_, payload))) => payload,
                Ok(None) => {
                    self.connected.store(true, Ordering::SeqCst);
                    continue;
                }
                Err(e) => {
                    self.connected.store(false, Ordering::SeqCst);
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %error_text(&e), suppressed, "redis_list cannot pop, retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sink.stopped() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            self.connected.store(true, Ordering::SeqCst);
            backoff = Duration::from_millis(100);
            let payload = bytes::Bytes::from(payload);
            let (t, ack) = Transaction::new(vec![Message::new(payload.clone())]);
            if sink.send(t).await.is_err() {
                push_back(&mut conn, &self.key, self.right, &payload).await;
                break;
            }
            let (sink, mut conn, key, right, replay, rejections) = (
                sink.clone(),
                conn.clone(),
                self.key.clone(),
                self.right,
                self.replay,
                rejections.clone(),
            );
            pending.spawn(async move {
                let _permit = permit;
                let batch = vec![Message::new(payload.clone())];
                if let Err(e) = super::acks::settle(&sink, &batch, ack, replay, &rejections).await {
                    if let Some(suppressed) = rejections.allow() {
                        tracing::warn!(error = %e, key, suppressed, "message was rejected, returning it to its list");
                    }
                    // Held back a moment, so a rejecting output does not spin on one item.
                    if !sink.is_stopped() {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = sink.stopped() => {}
                        }
                    }
                    push_back(&mut conn, &key, right, &payload).await;
                }
});
            while pending.try_join_next().is_some() {}
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let target = RedisTarget::of(cfg)?;
    let key = super::interpolated_field(cfg, "key")?;
    Ok(Arc::new(RedisListOutput {
        conn: target.manager(Duration::from_secs(10))?,
        key,
        command: if cfg.str("command") == Some("lpush") {
            "LPUSH"
        } else {
            "RPUSH"
        },
    }))
}

struct RedisListOutput {
    conn: ConnectionManager,
    key: Interpolation,
    command: &'static str,
}

#[async_trait]
impl Output for RedisListOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut pipe = redis::pipe();
        for m in &batch {
            let key = self
                .key
                .render(m)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            pipe.cmd(self.command).arg(key).arg(&m.payload[..]).ignore();
        }
        super::redis::send_pipeline(&self.conn, &pipe, "redis_list").await
    }
}
