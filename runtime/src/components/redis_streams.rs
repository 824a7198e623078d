//! `redis_streams` input (a consumer group member reading with `XREADGROUP`, acknowledging
//! with `XACK`) and output (`XADD`).
//!
//! Input, at-least-once as upstream's: an entry is acknowledged (`XACK`, sent every
//! `commit_period` and on stop) only after the output acknowledged its message; a nack
//! replays it while `auto_replay_nacks` holds, otherwise it stays in the group's pending
//! list. On start, and again after a lost connection, the input first reads its own pending
//! entries (id `0`) before new ones (`>`), so nothing delivered but unacknowledged is
//! lost; entries still in flight are not sent twice. Messages carry `redis_stream` (the
//! entry id) and every field but `body_key` as metadata.
//!
//! Output: `XADD` of `body_key` = payload plus the metadata (minus
//! `metadata.exclude_prefixes`), trimmed to `max_length` when set.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::streams::StreamReadReply;
use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::task::JoinSet;

use super::kafka::{duration_field, strings};
use super::redis::{client_fields, error_text, is_connection_error, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// `redis_streams` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("body_key", "The field key to extract the raw message from. All other keys will be stored in the message as metadata.")
            .default("body"),
        F::string("streams", "A list of streams to consume from.").array(),
        shared::auto_replay_nacks(),
        F::int("limit", "The maximum number of messages to consume from a single request.")
            .default(10),
        F::string("client_id", "An identifier for the client connection.").default(""),
        F::string("consumer_group", "An identifier for the consumer group of the stream.")
            .default(""),
        F::bool("create_streams", "Create subscribed streams if they do not exist (MKSTREAM option).")
            .default(true)
            .advanced(),
        F::bool("start_from_oldest", "If an offset is not found for a stream, determines whether to consume from the oldest available offset, otherwise messages are consumed from the latest offset.")
            .default(true)
            .advanced(),
        F::duration("commit_period", "The period of time between each commit of the current offset. Offsets are always committed during shutdown.")
            .default("1s")
            .advanced(),
        F::duration("timeout", "The length of time to poll for new messages before reattempting.")
            .default("1s")
            .advanced(),
    ]);
    ComponentSpec::new(
        "redis_streams",
        ComponentKind::Input,
        "Pulls messages from Redis (v5.0+) streams with the XREADGROUP command. The `client_id` should be unique for each consumer of a group.",
        fields,
    )
}

/// `redis_streams` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("stream", "The stream to add messages to.").interpolated(),
        F::string("body_key", "A key to set the raw body of the message to.").default("body"),
        F::int("max_length", "When greater than zero enforces a rough cap on the length of the target stream.")
            .default(0),
        shared::max_in_flight(),
        F::object(
            "metadata",
            "Specify criteria for which metadata values are included in the message body.",
            vec![F::string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when adding metadata to sent messages.")
                .array()
                .default(json!([]))],
        ),
        shared::batching("batching", false),
    ]);
    ComponentSpec::new(
        "redis_streams",
        ComponentKind::Output,
        "Pushes messages to a Redis (v5.0+) Stream (which is created if it doesn't already exist) using the XADD command.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let target = RedisTarget::of(cfg)?;
    let streams = strings(cfg, "streams");
    if streams.is_empty() {
        return Err(ComponentError::new("at least one stream is required"));
    }
    let group = cfg.str("consumer_group").unwrap_or("").to_string();
    if group.is_empty() {
        return Err(ComponentError::new("consumer_group must not be empty"));
    }
    let block = duration_field(cfg, "timeout", "1s")?
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    Ok(Box::new(RedisStreamsInput {
        read: target.manager(block + Duration::from_secs(5))?,
        acks: target.manager(Duration::from_secs(5))?,
        streams,
        group,
        consumer: cfg.str("client_id").unwrap_or("").to_string(),
        body_key: cfg.str("body_key").unwrap_or("body").to_string(),
        limit: cfg.int("limit").unwrap_or(10).max(1),
        create: cfg.bool("create_streams").unwrap_or(true),
        oldest: cfg.bool("start_from_oldest").unwrap_or(true),
        commit_period: duration_field(cfg, "commit_period", "1s")?,
        block,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct RedisStreamsInput {
    read: ConnectionManager,
    acks: ConnectionManager,
    streams: Vec<String>,
    group: String,
    consumer: String,
    body_key: String,
    limit: i64,
    create: bool,
    oldest: bool,
    commit_period: Duration,
    block: Duration,
    replay: bool,
    connected: Arc<AtomicBool>,
}

/// Entry ids acknowledged by the output and waiting for `XACK`, per stream; and the ids in
/// flight (read, not yet acknowledged), so a re-read of the pending list skips them.
#[derive(Default)]
struct AckState {
    done: HashMap<String, Vec<String>>,
    in_flight: HashSet<(String, String)>,
}

impl RedisStreamsInput {
    /// Creates the consumer group on every stream (an existing group is fine).
    async fn create_groups(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        for s in &self.streams {
            let mut cmd = redis::cmd("XGROUP");
            cmd.arg("CREATE")
                .arg(s)
                .arg(&self.group)
                .arg(if self.oldest { "0" } else { "$" });
            if self.create {
                cmd.arg("MKSTREAM");
            }
            match cmd.query_async::<()>(conn).await {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends the acknowledgements collected so far; failed ones are kept for the next try.
    async fn flush_acks(&self, state: &Mutex<AckState>) {
        let done = std::mem::take(&mut state.lock().unwrap_or_else(|p| p.into_inner()).done);
        let mut conn = self.acks.clone();
        for (stream, ids) in done {
            let r = redis::cmd("XACK")
                .arg(&stream)
                .arg(&self.group)
                .arg(&ids)
                .query_async::<i64>(&mut conn)
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %error_text(&e), stream, "redis_streams cannot acknowledge entries, retrying later");
                state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .done
                    .entry(stream)
                    .or_default()
                    .extend(ids);
            }
        }
    }

    fn message_of(&self, id: &str, map: HashMap<String, redis::Value>) -> Option<Message> {
        let mut body = None;
        let mut meta = Object::new();
        meta.insert("redis_stream".into(), Value::Str(id.to_string()));
        for (k, v) in map {
            let bytes: Vec<u8> = redis::from_redis_value(v).unwrap_or_default();
            if k == self.body_key {
                body = Some(bytes);
            } else {
                meta.insert(k, Value::Str(String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        Some(Message {
            payload: bytes::Bytes::from(body?),
            metadata: meta,
            error: None,
        })
    }
}

#[async_trait]
impl Input for RedisStreamsInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let me = Arc::new(*self);
        let mut conn = me.read.clone();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let mut backoff = Duration::from_millis(100);
        let state: Arc<Mutex<AckState>> = Arc::default();
        let mut pending = JoinSet::new();
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        let mut groups_ready = false;
        // Streams whose own pending entries are read first: (stream, last id read).
        let mut backlog: HashMap<String, String> = HashMap::new();
        // Acknowledgements go out every commit period, whatever the reader is waiting on.
        let committer = tokio::spawn({
            let (me, state, sink) = (me.clone(), state.clone(), sink.clone());
            async move {
                while !sink.is_stopped() {
                    tokio::select! {
                        _ = tokio::time::sleep(me.commit_period) => {}
                        _ = sink.stopped() => break,
                    }
                    me.flush_acks(&state).await;
                }
            }
        });
        while !sink.is_stopped() {
            if !groups_ready {
                match me.create_groups(&mut conn).await {
                    Ok(()) => {
                        groups_ready = true;
                        backlog = me
                            .streams
                            .iter()
                            .map(|s| (s.clone(), "0".to_string()))
                            .collect();
                    }
                    Err(e) => {
                        me.connected.store(false, Ordering::SeqCst);
                        if let Some(suppressed) = errors.allow() {
                            tracing::warn!(error = %error_text(&e), suppressed, "redis_streams cannot create its consumer group, retrying");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = sink.stopped() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(&me.group)
                .arg(&me.consumer)
                .arg("COUNT")
                .arg(me.limit)
                .arg("BLOCK")
                .arg(me.block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&me.streams);
            for s in &me.streams {
                cmd.arg(backlog.get(s).map(String::as_str).unwrap_or(">"));
            }
            // Not cancelled by a stop: the block is short, and a cancelled read could leave
            // entries delivered to nobody (they would wait in the pending list until restart).
            let reply: redis::RedisResult<Option<StreamReadReply>> =
                cmd.query_async(&mut conn).await;
            let reply = match reply {
                Ok(r) => r,
                Err(e) => {
                    me.connected.store(false, Ordering::SeqCst);
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %error_text(&e), suppressed, "redis_streams cannot read, retrying");
                    }
                    if is_connection_error(&e) {
                        // A reply may have been lost with the connection: re-read our pending list.
                        backlog = me
                            .streams
                            .iter()
                            .map(|s| (s.clone(), "0".to_string()))
                            .collect();
                    } else if e.code() == Some("NOGROUP") {
                        groups_ready = false;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sink.stopped() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            me.connected.store(true, Ordering::SeqCst);
            backoff = Duration::from_millis(100);
            let keys = reply.map(|r| r.keys).unwrap_or_default();
            let replied: HashSet<String> = keys.iter().map(|k| k.key.clone()).collect();
            for s in &me.streams {
                if backlog.contains_key(s) && !replied.contains(s) {
                    backlog.remove(s);
                }
            }
            for key in keys {
                if let Some(last) = backlog.get_mut(&key.key) {
                    match key.ids.last() {
                        Some(id) => *last = id.id.clone(),
                        None => {
                            backlog.remove(&key.key);
                        }
                    }
                }
                for entry in key.ids {
                    let flight = (key.key.clone(), entry.id.clone());
                    if !state
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .in_flight
                        .insert(flight.clone())
                    {
                        continue;
                    }
                    let Some(msg) = me.message_of(&entry.id, entry.map) else {
                        // No body: acknowledge and skip, as upstream.
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        st.in_flight.remove(&flight);
                        st.done.entry(flight.0).or_default().push(flight.1);
                        continue;
                    };
                    let (t, ack) = Transaction::new(vec![msg.clone()]);
                    if sink.send(t).await.is_err() {
                        state
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .in_flight
                            .remove(&flight);
                        break;
                    }
                    let (sink, state, replay, rejections) =
                        (sink.clone(), state.clone(), me.replay, rejections.clone());
                    pending.spawn(async move {
                        // Not acknowledged: left in the group's pending list, read again on restart.
                        let acked =
                            super::acks::settle(&sink, &vec![msg], ack, replay, &rejections)
                                .await
                                .is_ok();
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        st.in_flight.remove(&flight);
                        if acked {
                            st.done.entry(flight.0).or_default().push(flight.1);
                        }
                    });
                }
            }
            while pending.try_join_next().is_some() {}
        }
        while pending.join_next().await.is_some() {}
        let _ = committer.await;
        me.flush_acks(&state).await;
        Ok(())
    }
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let target = RedisTarget::of(cfg)?;
    let stream = super::interpolated_field(cfg, "stream")?;
    Ok(Arc::new(RedisStreamsOutput {
        conn: target.manager(Duration::from_secs(10))?,
        stream,
        body_key: cfg.str("body_key").unwrap_or("body").to_string(),
        max_length: cfg.int("max_length").unwrap_or(0),
        exclude: strings(cfg, "metadata.exclude_prefixes"),
    }))
}

struct RedisStreamsOutput {
    conn: ConnectionManager,
    stream: Interpolation,
    body_key: String,
    max_length: i64,
    exclude: Vec<String>,
}

#[async_trait]
impl Output for RedisStreamsOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut pipe = redis::pipe();
        for m in &batch {
            let stream = self
                .stream
                .render(m)
                .map_err(|e| Nack(format!("stream: {}", e)))?;
            let cmd = pipe.cmd("XADD").arg(stream);
            if self.max_length > 0 {
                cmd.arg("MAXLEN").arg("~").arg(self.max_length);
            }
            cmd.arg("*");
            for (k, v) in &m.metadata {
                if *k == self.body_key || self.exclude.iter().any(|p| k.starts_with(p.as_str())) {
                    continue;
                }
                cmd.arg(k).arg(v.to_display_string());
            }
            cmd.arg(&self.body_key).arg(&m.payload[..]).ignore();
        }
        super::redis::send_pipeline(&self.conn, &pipe, "redis_streams").await
    }
}
