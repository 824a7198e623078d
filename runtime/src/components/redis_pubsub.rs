//! `redis_pubsub` input (`SUBSCRIBE`/`PSUBSCRIBE`, resubscribing after a lost connection)
//! and output (`PUBLISH`).
//!
//! Pub/sub has no redelivery: a message published while the input is disconnected is not
//! seen, as with every Redis subscriber. A nacked message is replayed from memory while
//! `auto_replay_nacks` holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Message, Value};
use tokio::task::JoinSet;

use super::kafka::strings;
use super::reading::send_tracked;
use super::redis::{client_fields, error_text, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput,
};

/// `redis_pubsub` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("channels", "A list of channels to consume from.").array(),
        F::bool("use_patterns", "Whether to use the PSUBSCRIBE command, allowing for glob-style patterns within target channel names.")
            .default(false),
        shared::auto_replay_nacks(),
    ]);
    ComponentSpec::new(
        "redis_pubsub",
        ComponentKind::Input,
        "Consume from a Redis publish/subscribe channel using either the SUBSCRIBE or PSUBSCRIBE commands.",
        fields,
    )
}

/// `redis_pubsub` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("channel", "The channel to publish messages to.").interpolated(),
        shared::max_in_flight(),
        shared::batching("batching", false),
    ]);
    ComponentSpec::new(
        "redis_pubsub",
        ComponentKind::Output,
        "Publishes messages through the Redis PubSub model. It is not possible to guarantee that messages have been received.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let channels = strings(cfg, "channels");
    if channels.is_empty() {
        return Err(ComponentError::new("at least one channel is required"));
    }
    Ok(Box::new(RedisPubsubInput {
        target: RedisTarget::of(cfg)?,
        channels,
        patterns: cfg.bool("use_patterns").unwrap_or(false),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct RedisPubsubInput {
    target: RedisTarget,
    channels: Vec<String>,
    patterns: bool,
    replay: bool,
    connected: Arc<AtomicBool>,
}

impl RedisPubsubInput {
    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut ps = self.target.pubsub().await?;
        for c in &self.channels {
            if self.patterns {
                ps.psubscribe(c).await?;
            } else {
                ps.subscribe(c).await?;
            }
        }
        Ok(ps)
    }
}

#[async_trait]
impl Input for RedisPubsubInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let mut backoff = Duration::from_millis(100);
        'outer: while !sink.is_stopped() {
            let subscribed = tokio::select! {
                s = self.subscribe() => s,
                _ = sink.stopped() => break,
            };
            match subscribed {
                Ok(mut ps) => {
                    self.connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    let mut messages = ps.on_message();
                    loop {
                        let m = tokio::select! {
                            m = messages.next() => m,
                            _ = sink.stopped() => break 'outer,
                        };
                        let Some(m) = m else { break };
                        let mut msg =
                            Message::new(bytes::Bytes::copy_from_slice(m.get_payload_bytes()));
                        msg.metadata.insert(
                            "redis_pubsub_channel".into(),
                            Value::Str(m.get_channel_name().to_string()),
                        );
                        if !send_tracked(&sink, vec![msg], self.replay, &mut pending).await {
                            break 'outer;
                        }
                    }
                    self.connected.store(false, Ordering::SeqCst);
                    tracing::warn!("redis_pubsub lost its connection, resubscribing");
                }
                Err(e) => {
                    self.connected.store(false, Ordering::SeqCst);
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %error_text(&e), suppressed, "redis_pubsub cannot subscribe, retrying");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = sink.stopped() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.connected.store(false, Ordering::SeqCst);
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
    let channel = super::interpolated_field(cfg, "channel")?;
    Ok(Arc::new(RedisPubsubOutput {
        conn: target.manager(Duration::from_secs(10))?,
        channel,
    }))
}

struct RedisPubsubOutput {
    conn: ConnectionManager,
    channel: Interpolation,
}

#[async_trait]
impl Output for RedisPubsubOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut pipe = redis::pipe();
        for m in &batch {
            let channel = self
                .channel
                .render(m)
                .map_err(|e| Nack(format!("channel: {}", e)))?;
            pipe.cmd("PUBLISH")
                .arg(channel)
                .arg(&m.payload[..])
                .ignore();
        }
        super::redis::send_pipeline(&self.conn, &pipe, "redis_pubsub").await
    }
}
