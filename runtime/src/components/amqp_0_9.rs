//! `amqp_0_9` input (consumes a queue with manual acknowledgements, optionally declaring
//! the queue and its bindings) and output (publishes to an exchange with publisher
//! confirms, optionally declaring the exchange), on lapin.
//!
//! Input, at-least-once: a delivery is acknowledged (`basic.ack`) only after the output
//! acknowledged its message; a nack replays it from memory while `auto_replay_nacks`
//! holds, otherwise it is rejected back to the queue (`basic.nack` with requeue, or
//! without requeue when its error matches `nack_reject_patterns`). Deliveries left
//! unacknowledged when a connection drops are requeued by the broker. The input reconnects
//! with backoff. Messages carry upstream's `amqp_*` metadata and the headers.
//!
//! Output: a batch is acknowledged once the broker confirmed every message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use regex::Regex;
use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::kafka::strings;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// `amqp_0_9` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "amqp_0_9",
        ComponentKind::Input,
        "Connects to an AMQP (0.91) queue. AMQP is a messaging protocol used by various message brokers, including RabbitMQ.",
        vec![
            F::string("urls", "A list of URLs to connect to. The first URL to successfully establish a connection will be used until the connection is closed. If an item of the list contains commas it will be expanded into multiple URLs.")
                .array(),
            F::string("queue", "An AMQP queue to consume from."),
            F::object(
                "queue_declare",
                "Allows you to passively declare the target queue. If the queue already exists then the declaration passively verifies that they match the target fields.",
                vec![
                    F::bool("enabled", "Whether to enable queue declaration.").default(false),
                    F::bool("durable", "Whether the declared queue is durable.").default(true),
                    F::bool("auto_delete", "Whether the declared queue will auto-delete.").default(false),
                    F::string("arguments", "Optional arguments specific to the server's implementation of the queue.")
                        .map()
                        .optional(),
                ],
            )
            .advanced(),
            F::object(
                "bindings_declare",
                "Allows you to passively declare bindings for the target queue.",
                vec![
                    F::string("exchange", "The exchange of the declared binding.").default(""),
                    F::string("key", "The key of the declared binding.").default(""),
                ],
            )
            .array()
            .optional()
            .advanced(),
            F::string("consumer_tag", "A consumer tag.").default(""),
            F::bool("auto_ack", "Acknowledge messages automatically as they are consumed rather than waiting for acknowledgments from downstream. This can improve throughput and prevent the pipeline from blocking but at the cost of eliminating delivery guarantees.")
                .default(false)
                .advanced(),
            F::string("nack_reject_patterns", "A list of regular expression patterns whereby if a message that has failed to be delivered by Redpanda Connect has an error that matches it will be dropped (or delivered to a dead-letter queue if one exists). By default failed messages are nacked with requeue enabled.")
                .array()
                .default(json!([]))
                .advanced(),
            F::int("prefetch_count", "The maximum number of pending messages to have consumed at a time.")
                .default(10),
            F::int("prefetch_size", "The maximum amount of pending messages measured in bytes to have consumed at a time.")
                .default(0)
                .advanced(),
            shared::tls(),
            shared::auto_replay_nacks(),
        ],
    )
}

/// `amqp_0_9` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "amqp_0_9",
        ComponentKind::Output,
        "Sends messages to an AMQP (0.91) exchange. AMQP is a messaging protocol used by various message brokers, including RabbitMQ.",
        vec![
            F::string("urls", "A list of URLs to connect to. The first URL to successfully establish a connection will be used until the connection is closed.")
                .array(),
            F::string("exchange", "An AMQP exchange to publish to.").interpolated(),
            F::object(
                "exchange_declare",
                "Optionally declare the target exchange (passive).",
                vec![
                    F::bool("enabled", "Whether to declare the exchange.").default(false),
                    F::string("type", "The type of the exchange.")
                        .options(&["direct", "fanout", "topic", "headers", "x-custom"])
                        .default("direct"),
                    F::bool("durable", "Whether the exchange should be durable.").default(true),
                    F::string("arguments", "Optional arguments specific to the server's implementation of the exchange.")
                        .map()
                        .optional(),
                ],
            )
            .advanced(),
            F::string("key", "The binding key to set for each message.").interpolated().default(""),
            F::string("type", "The type property to set for each message.").interpolated().default(""),
            F::string("content_type", "The content type attribute to set for each message.")
                .interpolated()
                .default("application/octet-stream")
                .advanced(),
            F::string("content_encoding", "The content encoding attribute to set for each message.")
                .interpolated()
                .default("")
                .advanced(),
            F::string("correlation_id", "Set the correlation ID of each message with a dynamic interpolated expression.")
                .interpolated()
                .default("")
                .advanced(),
            F::string("reply_to", "Carries response queue name - set with a dynamic interpolated expression.")
                .interpolated()
                .default("")
                .advanced(),
            F::string("expiration", "Set the per-message TTL")
                .interpolated()
                .default("")
                .advanced(),
            F::string("message_id", "Set the message ID of each message with a dynamic interpolated expression.")
                .interpolated()
                .default("")
                .advanced(),
            F::string("user_id", "Set the user ID to the name of the publisher.")
                .interpolated()
                .default("")
                .advanced(),
            F::string("app_id", "Set the application ID of each message with a dynamic interpolated expression.")
                .interpolated()
                .default("")
                .advanced(),
            F::object(
                "metadata",
                "Specify criteria for which metadata values are attached to messages as headers.",
                vec![F::string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when adding metadata to sent messages.")
                    .array()
                    .default(json!([]))],
            ),
            F::string("priority", "Set the priority of each message with a dynamic interpolated expression.")
                .interpolated()
                .default("")
                .advanced(),
            shared::max_in_flight(),
            F::bool("persistent", "Whether message delivery should be persistent (transient by default).")
                .default(false)
                .advanced(),
            F::bool("mandatory", "Whether to set the mandatory flag on published messages.")
                .default(false)
                .advanced(),
            F::bool("immediate", "Whether to set the immediate flag on published messages.")
                .default(false)
                .advanced(),
            F::duration("timeout", "The maximum period to wait before abandoning it and reattempting. If not set, wait indefinitely.")
                .default("")
                .advanced(),
            shared::tls(),
        ],
    )
}

/// Reads a URL as Go's AMQP client does: an empty path or `/` names the default virtual
/// host `/` (lapin, following the URI spec, would read the empty name).
fn normalise_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.find('/') {
        None => format!("{}://{}/%2f", scheme, rest),
        Some(i) if rest[i..] == *"/" => format!("{}://{}/%2f", scheme, &rest[..i]),
        Some(_) => url.to_string(),
    }
}

fn urls(cfg: &ComponentConfig) -> Result<Vec<String>, ComponentError> {
    let urls: Vec<String> = strings(cfg, "urls")
        .iter()
        .map(|u| normalise_url(u))
        .collect();
    if urls.is_empty() {
        return Err(ComponentError::new("at least one url is required"));
    }
    if cfg.bool("tls.enabled").unwrap_or(false) {
        return Err(ComponentError::new("amqp_0_9 tls is not supported yet"));
    }
    for u in &urls {
        u.parse::<lapin::uri::AMQPUri>().map_err(|e| {
            ComponentError::new(format!("url {}: {}", crate::secrets::scrub_text(u), e))
        })?;
    }
    Ok(urls)
}

/// Connects to the first URL that answers.
async fn connect(urls: &[String]) -> Result<Connection, String> {
    let mut last = String::new();
    for u in urls {
        match tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(u, ConnectionProperties::default()),
        )
        .await
        {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => last = crate::secrets::scrub_text(&e.to_string()),
            Err(_) => last = "connection timed out".into(),
        }
    }
    Err(last)
}

fn table(cfg: &ComponentConfig, path: &str) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in cfg.field(path).and_then(|f| f.as_object()).unwrap_or(&[]) {
        let s = v.as_str().unwrap_or("");
        let value = match s.parse::<i64>() {
            Ok(n) => AMQPValue::LongLongInt(n),
            Err(_) => AMQPValue::LongString(LongString::from(s.to_string())),
        };
        t.insert(ShortString::from(k.clone()), value);
    }
    t
}

fn value_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(f) => f.to_string(),
        AMQPValue::Double(f) => f.to_string(),
        AMQPValue::Timestamp(t) => t.to_string(),
        other => format!("{:?}", other),
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let queue = cfg.str("queue").unwrap_or("").to_string();
    if queue.is_empty() {
        return Err(ComponentError::new("queue must not be empty"));
    }
    let reject = strings(cfg, "nack_reject_patterns")
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|e| ComponentError::new(format!("nack_reject_patterns: {}", e)))
        })
        .collect::<Result<_, _>>()?;
    let bindings = cfg
        .field("bindings_declare")
        .and_then(|f| f.as_array())
        .unwrap_or(&[])
        .iter()
        .map(|b| {
            let get = |k: &str| b.path(k).and_then(|f| f.as_str()).unwrap_or("").to_string();
            (get("exchange"), get("key"))
        })
        .collect();
    Ok(Box::new(AmqpInput {
        urls: urls(cfg)?,
        queue,
        declare: cfg.bool("queue_declare.enabled").unwrap_or(false).then(|| {
            (
                QueueDeclareOptions {
                    durable: cfg.bool("queue_declare.durable").unwrap_or(true),
                    auto_delete: cfg.bool("queue_declare.auto_delete").unwrap_or(false),
                    ..Default::default()
                },
                table(cfg, "queue_declare.arguments"),
            )
        }),
        bindings,
        tag: cfg.str("consumer_tag").unwrap_or("").to_string(),
        auto_ack: cfg.bool("auto_ack").unwrap_or(false),
        reject: Arc::new(reject),
        prefetch: cfg
            .int("prefetch_count")
            .unwrap_or(10)
            .clamp(0, u16::MAX as i64) as u16,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct AmqpInput {
    urls: Vec<String>,
    queue: String,
    declare: Option<(QueueDeclareOptions, FieldTable)>,
    bindings: Vec<(String, String)>,
    tag: String,
    auto_ack: bool,
    reject: Arc<Vec<Regex>>,
    prefetch: u16,
    replay: bool,
    connected: Arc<AtomicBool>,
}

impl AmqpInput {
    async fn consume(&self) -> Result<(Connection, lapin::Consumer), String> {
        let conn = connect(&self.urls).await?;
        let e = |e: lapin::Error| e.to_string();
        let ch = conn.create_channel().await.map_err(e)?;
        ch.basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(e)?;
        if let Some((opts, args)) = &self.declare {
            ch.queue_declare(self.queue.as_str().into(), *opts, args.clone())
                .await
                .map_err(e)?;
        }
        for (exchange, key) in &self.bindings {
            ch.queue_bind(
                self.queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(e)?;
        }
        let consumer = ch
            .basic_consume(
                self.queue.as_str().into(),
                self.tag.as_str().into(),
                BasicConsumeOptions {
                    no_ack: self.auto_ack,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(e)?;
        Ok((conn, consumer))
    }
}

fn message_of(d: &lapin::message::Delivery, tag: &str) -> Message {
    let p = &d.properties;
    let mut meta = Object::new();
    let mut put = |k: &str, v: Option<String>| {
        meta.insert(k.to_string(), Value::Str(v.unwrap_or_default()));
    };
    put(
        "amqp_content_type",
        p.content_type().as_ref().map(|s| s.to_string()),
    );
    put(
        "amqp_content_encoding",
        p.content_encoding().as_ref().map(|s| s.to_string()),
    );
    put(
        "amqp_correlation_id",
        p.correlation_id().as_ref().map(|s| s.to_string()),
    );
    put(
        "amqp_reply_to",
        p.reply_to().as_ref().map(|s| s.to_string()),
    );
    put(
        "amqp_expiration",
        p.expiration().as_ref().map(|s| s.to_string()),
    );
    put(
        "amqp_message_id",
        p.message_id().as_ref().map(|s| s.to_string()),
    );
    put("amqp_type", p.kind().as_ref().map(|s| s.to_string()));
    put("amqp_user_id", p.user_id().as_ref().map(|s| s.to_string()));
    put("amqp_app_id", p.app_id().as_ref().map(|s| s.to_string()));
    put("amqp_consumer_tag", Some(tag.to_string()));
    put("amqp_exchange", Some(d.exchange.to_string()));
    put("amqp_routing_key", Some(d.routing_key.to_string()));
    meta.insert(
        "amqp_delivery_mode".into(),
        Value::Int(p.delivery_mode().unwrap_or(0) as i64),
    );
    meta.insert(
        "amqp_priority".into(),
        Value::Int(p.priority().unwrap_or(0) as i64),
    );
    meta.insert(
        "amqp_timestamp".into(),
        Value::Int(p.timestamp().unwrap_or(0) as i64),
    );
    meta.insert(
        "amqp_delivery_tag".into(),
        Value::Int(d.delivery_tag as i64),
    );
    meta.insert("amqp_redelivered".into(), Value::Bool(d.redelivered));
    if let Some(h) = p.headers() {
        for (k, v) in h.inner() {
            meta.insert(k.to_string(), Value::Str(value_text(v)));
        }
    }
    Message {
        payload: bytes::Bytes::copy_from_slice(&d.data),
        metadata: meta,
        error: None,
    }
}

#[async_trait]
impl Input for AmqpInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        let mut backoff = Duration::from_millis(100);
        'outer: while !sink.is_stopped() {
            let consumed = tokio::select! {
                c = self.consume() => c,
                _ = sink.stopped() => break,
            };
            match consumed {
                Ok((conn, mut consumer)) => {
                    self.connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    loop {
                        let next = tokio::select! {
                            n = consumer.next() => n,
                            _ = sink.stopped() => break 'outer,
                        };
                        let d = match next {
                            Some(Ok(d)) => d,
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "amqp_0_9 consumer failed, reconnecting");
                                break;
                            }
                            None => break,
                        };
                        let msg = message_of(&d, &self.tag);
                        let (t, ack) = Transaction::new(vec![msg.clone()]);
                        if sink.send(t).await.is_err() {
                            if !self.auto_ack {
                                let _ = d
                                    .acker
                                    .nack(BasicNackOptions {
                                        requeue: true,
                                        ..Default::default()
                                    })
                                    .await;
                            }
                            break 'outer;
                        }
                        let (sink, replay, auto_ack, reject, rejections) = (
                            sink.clone(),
                            self.replay,
                            self.auto_ack,
                            self.reject.clone(),
                            rejections.clone(),
                        );
                        pending.spawn(async move {
                            let result =
                                super::acks::settle(&sink, &vec![msg], ack, replay, &rejections)
                                    .await;
                            if auto_ack {
                                return;
                            }
                            let sent = match result {
                                Ok(()) => d.acker.ack(BasicAckOptions::default()).await,
                                Err(e) => {
                                    let requeue = !reject.iter().any(|r| r.is_match(&e.0));
                                    d.acker
                                        .nack(BasicNackOptions { requeue, ..Default::default() })
                                        .await
                                }
                            };
                            if let Err(e) = sent {
                                tracing::warn!(error = %e, "amqp_0_9 acknowledgement failed; the broker requeues the message");
                            }
                        });
                        while pending.try_join_next().is_some() {}
                    }
                    self.connected.store(false, Ordering::SeqCst);
                    let _ = conn.close(200, "reconnecting".into()).await;
                }
                Err(e) => {
                    self.connected.store(false, Ordering::SeqCst);
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %e, suppressed, "amqp_0_9 cannot consume, retrying");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = sink.stopped() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        while pending.join_next().await.is_some() {}
        self.connected.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// The interpolated message properties of the output.
struct Properties {
    kind: Interpolation,
    content_type: Interpolation,
    content_encoding: Interpolation,
    correlation_id: Interpolation,
    reply_to: Interpolation,
    expiration: Interpolation,
    message_id: Interpolation,
    user_id: Interpolation,
    app_id: Interpolation,
    priority: Interpolation,
}

/// Builds the output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let i = |name: &str| super::interpolated_field(cfg, name);
    let exchange_kind = match cfg.str("exchange_declare.type").unwrap_or("direct") {
        "fanout" => ExchangeKind::Fanout,
        "topic" => ExchangeKind::Topic,
        "headers" => ExchangeKind::Headers,
        "direct" => ExchangeKind::Direct,
        other => ExchangeKind::Custom(other.to_string()),
    };
    let timeout = match cfg.str("timeout").unwrap_or("") {
        "" => None,
        _ => Some(super::kafka::duration_field(cfg, "timeout", "0s")?),
    };
    Ok(Arc::new(AmqpOutput {
        urls: urls(cfg)?,
        exchange: i("exchange")?,
        declare: cfg
            .bool("exchange_declare.enabled")
            .unwrap_or(false)
            .then(|| {
                (
                    exchange_kind,
                    ExchangeDeclareOptions {
                        durable: cfg.bool("exchange_declare.durable").unwrap_or(true),
                        ..Default::default()
                    },
                    table(cfg, "exchange_declare.arguments"),
                )
            }),
        key: i("key")?,
        props: Properties {
            kind: i("type")?,
            content_type: i("content_type")?,
            content_encoding: i("content_encoding")?,
            correlation_id: i("correlation_id")?,
            reply_to: i("reply_to")?,
            expiration: i("expiration")?,
            message_id: i("message_id")?,
            user_id: i("user_id")?,
            app_id: i("app_id")?,
            priority: i("priority")?,
        },
        exclude: strings(cfg, "metadata.exclude_prefixes"),
        persistent: cfg.bool("persistent").unwrap_or(false),
        mandatory: cfg.bool("mandatory").unwrap_or(false),
        immediate: cfg.bool("immediate").unwrap_or(false),
        timeout,
        channel: Mutex::new(None),
    }))
}

struct AmqpOutput {
    urls: Vec<String>,
    exchange: Interpolation,
    declare: Option<(ExchangeKind, ExchangeDeclareOptions, FieldTable)>,
    key: Interpolation,
    props: Properties,
    exclude: Vec<String>,
    persistent: bool,
    mandatory: bool,
    immediate: bool,
    timeout: Option<Duration>,
    channel: Mutex<Option<(Connection, lapin::Channel)>>,
}

impl AmqpOutput {
    async fn open(&self, first: &Message) -> Result<(Connection, lapin::Channel), String> {
        let conn = connect(&self.urls).await?;
        let e = |e: lapin::Error| e.to_string();
        let ch = conn.create_channel().await.map_err(e)?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(e)?;
        if let Some((kind, opts, args)) = &self.declare {
            let name = self.exchange.render(first).map_err(|e| e.to_string())?;
            ch.exchange_declare(name.as_str().into(), kind.clone(), *opts, args.clone())
                .await
                .map_err(e)?;
        }
        Ok((conn, ch))
    }

    fn properties(&self, m: &Message) -> Result<BasicProperties, Nack> {
        let r = |i: &Interpolation, name: &str| {
            i.render(m).map_err(|e| Nack(format!("{}: {}", name, e)))
        };
        let opt = |s: String| (!s.is_empty()).then(|| ShortString::from(s));
        let mut headers = FieldTable::default();
        for (k, v) in &m.metadata {
            if self.exclude.iter().any(|p| k.starts_with(p.as_str())) {
                continue;
            }
            headers.insert(
                ShortString::from(k.clone()),
                AMQPValue::LongString(LongString::from(v.to_display_string())),
            );
        }
        let mut p = BasicProperties::default().with_headers(headers);
        if let Some(v) = opt(r(&self.props.kind, "type")?) {
            p = p.with_type(v);
        }
        if let Some(v) = opt(r(&self.props.content_type, "content_type")?) {
            p = p.with_content_type(v);
        }
        if let Some(v) = opt(r(&self.props.content_encoding, "content_encoding")?) {
            p = p.with_content_encoding(v);
        }
        if let Some(v) = opt(r(&self.props.correlation_id, "correlation_id")?) {
            p = p.with_correlation_id(v);
        }
        if let Some(v) = opt(r(&self.props.reply_to, "reply_to")?) {
            p = p.with_reply_to(v);
        }
        if let Some(v) = opt(r(&self.props.expiration, "expiration")?) {
            p = p.with_expiration(v);
        }
        if let Some(v) = opt(r(&self.props.message_id, "message_id")?) {
            p = p.with_message_id(v);
        }
        if let Some(v) = opt(r(&self.props.user_id, "user_id")?) {
            p = p.with_user_id(v);
        }
        if let Some(v) = opt(r(&self.props.app_id, "app_id")?) {
            p = p.with_app_id(v);
        }
        let priority = r(&self.props.priority, "priority")?;
        if !priority.is_empty() {
            let n: u8 = priority
                .trim()
                .parse()
                .map_err(|_| Nack(format!("priority: {:?} is not an integer 0-255", priority)))?;
            p = p.with_priority(n);
        }
        if self.persistent {
            p = p.with_delivery_mode(2);
        }
        Ok(p)
    }

    async fn publish(&self, ch: &lapin::Channel, batch: &Batch) -> Result<(), Nack> {
        let mut confirms = Vec::with_capacity(batch.len());
        for m in batch {
            let exchange = self
                .exchange
                .render(m)
                .map_err(|e| Nack(format!("exchange: {}", e)))?;
            let key = self
                .key
                .render(m)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            let props = self.properties(m)?;
            let confirm = ch
                .basic_publish(
                    exchange.as_str().into(),
                    key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: self.mandatory,
                        immediate: self.immediate,
                    },
                    &m.payload,
                    props,
                )
                .await
                .map_err(|e| Nack(format!("amqp_0_9 publish: {}", e)))?;
            confirms.push(confirm);
        }
        for c in futures::future::join_all(confirms).await {
            match c.map_err(|e| Nack(format!("amqp_0_9 confirm: {}", e)))? {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(_)) => {
                    return Err(Nack("amqp_0_9: message was returned unroutable".into()))
                }
                Confirmation::Nack(_) => {
                    return Err(Nack("amqp_0_9: broker nacked the message".into()))
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Output for AmqpOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_none_or(|(c, _)| !c.status().connected()) {
            *slot = Some(
                self.open(first)
                    .await
                    .map_err(|e| Nack(format!("amqp_0_9: {}", e)))?,
            );
        }
        let (_, ch) = slot.as_ref().expect("opened above");
        let published = match self.timeout {
            Some(t) => tokio::time::timeout(t, self.publish(ch, &batch))
                .await
                .unwrap_or_else(|_| Err(Nack("amqp_0_9: publish timed out".into()))),
            None => self.publish(ch, &batch).await,
        };
        if published.is_err() {
            // A fresh connection and channel for the next attempt.
            if let Some((conn, _)) = slot.take() {
                let _ = conn.close(200, "reconnecting".into()).await;
            }
        }
        published
    }

    async fn close(&self) {
        if let Some((conn, _)) = self.channel.lock().await.take() {
            let _ = conn.close(200, "closing".into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_url;

    #[test]
    fn default_vhost_as_go_reads_it() {
        assert_eq!(normalise_url("amqp://g:g@h:5672/"), "amqp://g:g@h:5672/%2f");
        assert_eq!(normalise_url("amqp://h:5672"), "amqp://h:5672/%2f");
        assert_eq!(normalise_url("amqp://h:5672/vh"), "amqp://h:5672/vh");
    }
}
