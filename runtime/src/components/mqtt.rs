//! `mqtt` input (subscribes to topics; QoS 1/2 messages are acknowledged to the broker
//! only after the output acknowledged them) and output (publishes; a batch is acknowledged
//! once the broker acknowledged every QoS 1/2 publish), on rumqttc (MQTT 3.1.1).
//!
//! Both reconnect by themselves (the event loop reconnects on its next poll); the input
//! resubscribes after each connection. With `clean_session: false` and a fixed `client_id`
//! the broker keeps the session, so QoS 1/2 messages left unacknowledged by a lost
//! connection are redelivered; with a clean session they are gone with it, as MQTT says.
//! Messages carry `mqtt_duplicate`, `mqtt_qos`, `mqtt_retained`, `mqtt_topic` and
//! `mqtt_message_id`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS};
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::{oneshot, OnceCell};
use tokio::task::JoinSet;

use super::kafka::{duration_field, strings};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// The connection fields both directions share.
fn client_fields() -> Vec<F> {
    vec![
        F::string("urls", "A list of URLs to connect to. If an item of the list contains commas it will be expanded into multiple URLs.")
            .array(),
        F::string("client_id", "An identifier for the client connection.").default(""),
        F::string("dynamic_client_id_suffix", "Append a dynamically generated suffix to the specified `client_id` on each run of the pipeline.")
            .options(&["nanoid"])
            .optional()
            .advanced(),
        F::duration("connect_timeout", "The maximum amount of time to wait in order to establish a connection before the attempt is abandoned.")
            .default("30s"),
        F::object(
            "will",
            "Set last will message in case of Redpanda Connect failure",
            vec![
                F::bool("enabled", "Whether to enable last will messages.").default(false),
                F::int("qos", "Set QoS for last will message. Valid values are: 0, 1, 2.").default(0),
                F::bool("retained", "Set retained for last will message.").default(false),
                F::string("topic", "Set topic for last will message.").default(""),
                F::string("payload", "Set payload for last will message.").default(""),
            ],
        )
        .advanced(),
        F::string("user", "A username to connect with.").default("").advanced(),
        F::string("password", "A password to connect with.").default("").secret().advanced(),
        F::int("keepalive", "Max seconds of inactivity before a keepalive message is sent.")
            .default(30)
            .advanced(),
        shared::tls(),
    ]
}

/// `mqtt` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("topics", "A list of topics to consume from.").array(),
        F::int(
            "qos",
            "The level of delivery guarantee to enforce. Has options 0, 1, 2.",
        )
        .default(1)
        .advanced(),
        F::bool(
            "clean_session",
            "Set whether the connection is non-persistent.",
        )
        .default(true)
        .advanced(),
        shared::auto_replay_nacks(),
    ]);
    ComponentSpec::new(
        "mqtt",
        ComponentKind::Input,
        "Subscribe to topics on MQTT brokers.",
        fields,
    )
}

/// `mqtt` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("topic", "The topic to publish messages to.").interpolated(),
        F::int("qos", "The QoS value to set for each message. Has options 0, 1, 2.").default(1),
        F::duration("write_timeout", "The maximum amount of time to wait to write data before the attempt is abandoned.")
            .default("5s"),
        F::bool("retained", "Set message as retained on the topic.").default(false),
        F::string("retained_interpolated", "Override the value of `retained` with an interpolable value, this allows it to be dynamically set based on message contents. The value must resolve to either `true` or `false`.")
            .interpolated()
            .optional()
            .advanced(),
        shared::max_in_flight(),
    ]);
    ComponentSpec::new(
        "mqtt",
        ComponentKind::Output,
        "Pushes messages to an MQTT broker.",
        fields,
    )
}

fn qos_of(n: i64) -> Result<QoS, ComponentError> {
    match n {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        other => Err(ComponentError::new(format!(
            "qos must be 0, 1 or 2, got {}",
            other
        ))),
    }
}

/// A random client id suffix (upstream: a nanoid).
fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The connect options a component's fields describe.
fn options(cfg: &ComponentConfig, clean_session: bool) -> Result<MqttOptions, ComponentError> {
    let urls = strings(cfg, "urls");
    let url = urls
        .first()
        .ok_or_else(|| ComponentError::new("at least one url is required"))?;
    if cfg.bool("tls.enabled").unwrap_or(false) {
        return Err(ComponentError::new("mqtt tls is not supported yet"));
    }
    let rest = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("mqtt://"))
        .unwrap_or(url);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.trim_end_matches('/')
                .parse::<u16>()
                .map_err(|_| ComponentError::new(format!("url {}: bad port", url)))?,
        ),
        None => (rest.trim_end_matches('/').to_string(), 1883),
    };
    let mut id = cfg.str("client_id").unwrap_or("").to_string();
    if cfg
        .str("dynamic_client_id_suffix")
        .is_some_and(|s| !s.is_empty())
        || id.is_empty()
    {
        id = format!("{}{}", id, suffix());
    }
    let mut o = MqttOptions::new(id, host, port);
    o.set_keep_alive(Duration::from_secs(
        cfg.int("keepalive").unwrap_or(30).clamp(5, 65_535) as u64,
    ))
    .set_clean_session(clean_session)
    .set_manual_acks(true);
    let user = cfg.str("user").unwrap_or("");
    if !user.is_empty() {
        o.set_credentials(user, cfg.str("password").unwrap_or(""));
    }
    if cfg.bool("will.enabled").unwrap_or(false) {
        o.set_last_will(LastWill::new(
            cfg.str("will.topic").unwrap_or(""),
            cfg.str("will.payload").unwrap_or("").as_bytes().to_vec(),
            qos_of(cfg.int("will.qos").unwrap_or(0))?,
            cfg.bool("will.retained").unwrap_or(false),
        ));
    }
    Ok(o)
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let topics = strings(cfg, "topics");
    if topics.is_empty() {
        return Err(ComponentError::new("at least one topic is required"));
    }
    Ok(Box::new(MqttInput {
        options: options(cfg, cfg.bool("clean_session").unwrap_or(true))?,
        topics,
        qos: qos_of(cfg.int("qos").unwrap_or(1))?,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct MqttInput {
    options: MqttOptions,
    topics: Vec<String>,
    qos: QoS,
    replay: bool,
    connected: Arc<AtomicBool>,
}

fn message_of(p: &rumqttc::Publish) -> Message {
    let mut meta = Object::new();
    meta.insert("mqtt_duplicate".into(), Value::Bool(p.dup));
    meta.insert("mqtt_qos".into(), Value::Int(p.qos as i64));
    meta.insert("mqtt_retained".into(), Value::Bool(p.retain));
    meta.insert("mqtt_topic".into(), Value::Str(p.topic.clone()));
    meta.insert("mqtt_message_id".into(), Value::Int(p.pkid as i64));
    Message {
        payload: p.payload.clone(),
        metadata: meta,
        error: None,
    }
}

#[async_trait]
impl Input for MqttInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let (client, mut events) = AsyncClient::new(self.options.clone(), 1024);
        let mut pending = JoinSet::new();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        let mut backoff = Duration::from_millis(100);
        loop {
            let event = tokio::select! {
                e = events.poll() => e,
                _ = sink.stopped() => break,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    for t in &self.topics {
                        if let Err(e) = client.try_subscribe(t.clone(), self.qos) {
                            tracing::warn!(error = %e, topic = %t, "mqtt cannot subscribe");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let msg = message_of(&p);
                    let (t, ack) = Transaction::new(vec![msg.clone()]);
                    if sink.send(t).await.is_err() {
                        break;
                    }
                    let (sink, client, replay, rejections) = (
                        sink.clone(),
                        client.clone(),
                        self.replay,
                        rejections.clone(),
                    );
                    pending.spawn(async move {
                        // Not acknowledged: a persistent session redelivers it.
                        if super::acks::settle(&sink, &vec![msg], ack, replay, &rejections)
                            .await
                            .is_ok()
                        {
                            let _ = client.ack(&p).await;
                        }
                    });
                    while pending.try_join_next().is_some() {}
                }
                Ok(_) => {}
                Err(e) => {
                    self.connected.store(false, Ordering::SeqCst);
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %e, suppressed, "mqtt connection failed, reconnecting");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sink.stopped() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        // Acknowledgements still go out through the event loop while in-flight messages finish.
        let drain = async { while pending.join_next().await.is_some() {} };
        tokio::pin!(drain);
        loop {
            tokio::select! {
                _ = &mut drain => break,
                e = events.poll() => if e.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                },
            }
        }
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(500), events.poll()).await;
        self.connected.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// Publishes waiting for their packet id, and those waiting for the broker's
/// acknowledgement, matched by the event loop.
#[derive(Default)]
struct Acks {
    /// Waiters in publish order, until the event loop sends their packet.
    queued: VecDeque<(QoS, oneshot::Sender<Result<(), String>>)>,
    /// Sent QoS 1/2 publishes by packet id.
    sent: HashMap<u16, oneshot::Sender<Result<(), String>>>,
    /// Packet ids failed by a lost connection: their retransmission is not a new publish.
    stale: HashSet<u16>,
}

/// Builds the output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let topic = super::interpolated_field(cfg, "topic")?;
    let retained = match cfg.str("retained_interpolated").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Interpolation::compile(s)
                .map_err(|e| ComponentError::new(format!("retained_interpolated: {}", e)))?,
        ),
        None => None,
    };
    Ok(Arc::new(MqttOutput {
        options: options(cfg, true)?,
        topic,
        qos: qos_of(cfg.int("qos").unwrap_or(1))?,
        retained: cfg.bool("retained").unwrap_or(false),
        retained_interpolated: retained,
        write_timeout: duration_field(cfg, "write_timeout", "5s")?,
        client: OnceCell::new(),
        acks: Arc::new(Mutex::new(Acks::default())),
        order: tokio::sync::Mutex::new(()),
        connected: Arc::new(AtomicBool::new(false)),
        alive: Arc::new(()),
    }))
}

struct MqttOutput {
    options: MqttOptions,
    topic: Interpolation,
    qos: QoS,
    retained: bool,
    retained_interpolated: Option<Interpolation>,
    write_timeout: Duration,
    client: OnceCell<AsyncClient>,
    acks: Arc<Mutex<Acks>>,
    /// Held while queueing a waiter and its publish, so concurrent writes keep them paired.
    order: tokio::sync::Mutex<()>,
    connected: Arc<AtomicBool>,
    alive: Arc<()>,
}

/// Runs the output's event loop, matching acknowledgements to publishes, until the output
/// is dropped.
async fn drive(
    mut events: EventLoop,
    acks: Arc<Mutex<Acks>>,
    connected: Arc<AtomicBool>,
    alive: std::sync::Weak<()>,
) {
    let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
    let mut backoff = Duration::from_millis(100);
    while alive.upgrade().is_some() {
        let event = match tokio::time::timeout(Duration::from_secs(1), events.poll()).await {
            Ok(e) => e,
            Err(_) => continue,
        };
        let failed = {
            let mut a = acks.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    None
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if !a.stale.remove(&pkid) {
                        if let Some((qos, tx)) = a.queued.pop_front() {
                            if qos == QoS::AtMostOnce || pkid == 0 {
                                let _ = tx.send(Ok(()));
                            } else {
                                a.sent.insert(pkid, tx);
                            }
                        }
                    }
                    None
                }
                Ok(Event::Incoming(Packet::PubAck(rumqttc::PubAck { pkid, .. })))
                | Ok(Event::Incoming(Packet::PubComp(rumqttc::PubComp { pkid, .. }))) => {
                    if let Some(tx) = a.sent.remove(&pkid) {
                        let _ = tx.send(Ok(()));
                    }
                    None
                }
                Ok(_) => None,
                Err(e) => {
                    connected.store(false, Ordering::SeqCst);
                    let sent: Vec<(u16, oneshot::Sender<Result<(), String>>)> =
                        a.sent.drain().collect();
                    for (pkid, tx) in sent {
                        a.stale.insert(pkid);
                        let _ = tx.send(Err(format!("connection lost: {}", e)));
                    }
                    Some(e)
                }
            }
        };
        if let Some(e) = failed {
            if let Some(suppressed) = errors.allow() {
                tracing::warn!(error = %e, suppressed, "mqtt output connection failed, reconnecting");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

#[async_trait]
impl Output for MqttOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let client = self
            .client
            .get_or_init(|| async {
                let (client, events) = AsyncClient::new(self.options.clone(), 1024);
                tokio::spawn(drive(
                    events,
                    self.acks.clone(),
                    self.connected.clone(),
                    Arc::downgrade(&self.alive),
                ));
                client
            })
            .await;
        let mut waits = Vec::with_capacity(batch.len());
        let order = self.order.lock().await;
        for m in &batch {
            let topic = self
                .topic
                .render(m)
                .map_err(|e| Nack(format!("topic: {}", e)))?;
            let retain = match &self.retained_interpolated {
                Some(i) => {
                    let v = i
                        .render(m)
                        .map_err(|e| Nack(format!("retained_interpolated: {}", e)))?;
                    match v.trim() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(Nack(format!(
                                "retained_interpolated: expected true or false, got {:?}",
                                other
                            )))
                        }
                    }
                }
                None => self.retained,
            };
            let (tx, rx) = oneshot::channel();
            // The waiter is queued before the request, so the event loop finds it.
            self.acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .queued
                .push_back((self.qos, tx));
            client
                .publish_bytes(topic, self.qos, retain, m.payload.clone())
                .await
                .map_err(|e| Nack(format!("mqtt publish: {}", e)))?;
            waits.push(rx);
        }
        drop(order);
        let all = futures::future::join_all(waits);
        let results = tokio::time::timeout(self.write_timeout.max(Duration::from_secs(1)) * 6, all)
            .await
            .map_err(|_| {
                Nack("mqtt: timed out waiting for the broker's acknowledgements".into())
            })?;
        for r in results {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Nack(format!("mqtt: {}", e))),
                Err(_) => return Err(Nack("mqtt: the connection closed".into())),
            }
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.client.get().is_none() || self.connected.load(Ordering::SeqCst)
    }
}
