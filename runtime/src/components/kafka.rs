//! The `kafka` input and output, on librdkafka (`rdkafka`).
//!
//! Input: joins `consumer_group` (Kafka's group protocol shares partitions between processes)
//! or, for `topic:partition` / `topic:0-3` forms or an empty group, assigns partitions
//! explicitly. Messages carry `kafka_key`, `kafka_topic`, `kafka_partition`, `kafka_offset`,
//! `kafka_timestamp_unix` and the record headers as metadata. At-least-once: an offset is
//! stored for commit only once every message up to it has been acknowledged by the output
//! (per-partition checkpoints, at most `checkpoint_limit` in flight); commits happen every
//! `commit_period` and once more on stop. Nacked messages are replayed while
//! `auto_replay_nacks` holds, and hold back the partition's commit until they succeed.
//!
//! Output: produces each message to the interpolated `topic` with the interpolated `key`,
//! metadata as headers (minus `metadata.exclude_prefixes`), the chosen partitioner or a
//! manual `partition`, and nacks the batch when any delivery fails.
//!
//! Both report connectivity (`/ready`) from a background metadata probe, so a stream whose
//! brokers are unreachable is created, stays active, logs why, and keeps reconnecting.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, TopicPartitionList};
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, ComponentError, Input, InputSink, Nack, Output, ResponseStore, Transaction,
};
use serde_json::json;

/// The strings of an array field; entries may hold comma-separated lists, as in the reference.
pub(crate) fn strings(cfg: &ComponentConfig, name: &str) -> Vec<String> {
    cfg.field(name)
        .and_then(|f| f.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str())
                .flat_map(|s| {
                    s.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A duration field, or `default` when absent or empty.
pub(crate) fn duration_field(
    cfg: &ComponentConfig,
    name: &str,
    default: &str,
) -> Result<Duration, ComponentError> {
    let s = cfg.str(name).filter(|s| !s.is_empty()).unwrap_or(default);
    duration::parse(s).map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
}

/// SASL credentials for librdkafka.
#[derive(Debug, Clone)]
pub(crate) struct Sasl {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub mechanism: String,
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// TLS settings for librdkafka.
#[derive(Debug, Clone, Default)]
pub(crate) struct KafkaTls {
    /// Skip verifying the brokers' certificates.
    pub skip_verify: bool,
    /// A CA bundle file.
    pub root_cas_file: String,
    /// A CA bundle, PEM.
    pub root_cas: String,
}

impl KafkaTls {
    /// The `tls` object of a component, if enabled.
    pub(crate) fn of(cfg: &ComponentConfig) -> Option<KafkaTls> {
        cfg.bool("tls.enabled").unwrap_or(false).then(|| KafkaTls {
            skip_verify: cfg.bool("tls.skip_cert_verify").unwrap_or(false),
            root_cas_file: cfg.str("tls.root_cas_file").unwrap_or("").to_string(),
            root_cas: cfg.str("tls.root_cas").unwrap_or("").to_string(),
        })
    }
}

/// What every Kafka-family client needs: brokers, identity, TLS, SASL. Built from either
/// dialect of config (`kafka`'s Sarama-style fields, or the franz-go-style fields of
/// `kafka_franz`/`redpanda`).
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// Bootstrap brokers.
    pub addresses: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `client.rack`, when not empty.
    pub rack_id: String,
    /// TLS, when enabled.
    pub tls: Option<KafkaTls>,
    /// SASL, when configured.
    pub sasl: Option<Sasl>,
}

impl ClientSettings {
    /// The `kafka` components' fields (`addresses`, `sasl.mechanism`/`user`/`password`).
    fn of_kafka(cfg: &ComponentConfig) -> ClientSettings {
        let mechanism = cfg.str("sasl.mechanism").unwrap_or("none");
        ClientSettings {
            addresses: strings(cfg, "addresses"),
            client_id: cfg.str("client_id").unwrap_or("benthos").to_string(),
            rack_id: cfg.str("rack_id").unwrap_or("").to_string(),
            tls: KafkaTls::of(cfg),
            sasl: (!mechanism.is_empty() && mechanism != "none").then(|| Sasl {
                mechanism: mechanism.to_string(),
                user: cfg.str("sasl.user").unwrap_or("").to_string(),
                password: cfg.str("sasl.password").unwrap_or("").to_string(),
            }),
        }
    }

    /// The librdkafka client config.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, ComponentError> {
        if self.addresses.is_empty() {
            return Err(ComponentError::new(
                "at least one broker address is required",
            ));
        }
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.addresses.join(","))
            .set("client.id", &self.client_id)
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "10000")
            .set("log_level", "3");
        if !self.rack_id.is_empty() {
            c.set("client.rack", &self.rack_id);
        }
        c.set(
            "security.protocol",
            match (self.tls.is_some(), self.sasl.is_some()) {
                (false, false) => "plaintext",
                (true, false) => "ssl",
                (false, true) => "sasl_plaintext",
                (true, true) => "sasl_ssl",
            },
        );
        if let Some(tls) = &self.tls {
            if tls.skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
            }
            if !tls.root_cas_file.is_empty() {
                c.set("ssl.ca.location", &tls.root_cas_file);
            }
            if !tls.root_cas.is_empty() {
                c.set("ssl.ca.pem", &tls.root_cas);
            }
        }
        if let Some(sasl) = &self.sasl {
            let m = match sasl.mechanism.as_str() {
                m @ ("PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER") => m,
                other => {
                    return Err(ComponentError::new(format!(
                        "sasl mechanism {} is not supported",
                        other
                    )))
                }
            };
            c.set("sasl.mechanism", m)
                .set("sasl.username", &sasl.user)
                .set("sasl.password", &sasl.password);
        }
        Ok(c)
    }
}

/// Everything a consumer is built from.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    /// The client.
    pub client: ClientSettings,
    /// The topics (or, with `regexp`, patterns).
    pub topics: Vec<TopicSpec>,
    /// Topics are regular expressions (subscribed as librdkafka `^` patterns).
    pub regexp: bool,
    /// The consumer group, empty for none.
    pub group: String,
    /// How often offsets are committed.
    pub commit_period: Duration,
    /// Start at the oldest offset when the group has none.
    pub start_oldest: bool,
    /// `session.timeout.ms`, if set.
    pub session_timeout: Option<Duration>,
    /// `heartbeat.interval.ms`, if set.
    pub heartbeat: Option<Duration>,
    /// `group.instance.id`, when not empty.
    pub instance_id: String,
    /// Messages of one partition in flight.
    pub checkpoint_limit: usize,
    /// Replay nacked messages.
    pub replay: bool,
}

impl ConsumerSettings {
    /// The `kafka` input's fields.
    fn of_kafka(cfg: &ComponentConfig) -> Result<ConsumerSettings, ComponentError> {
        let optional = |name: &str| cfg.str(name).and_then(|s| duration::parse(s).ok());
        Ok(ConsumerSettings {
            client: ClientSettings::of_kafka(cfg),
            topics: topic_specs(cfg)?,
            regexp: false,
            group: cfg.str("consumer_group").unwrap_or("").to_string(),
            commit_period: duration_field(cfg, "commit_period", "1s")?,
            start_oldest: cfg.bool("start_from_oldest").unwrap_or(true),
            session_timeout: optional("group.session_timeout"),
            heartbeat: optional("group.heartbeat_interval"),
            instance_id: cfg.str("instance_id").unwrap_or("").to_string(),
            checkpoint_limit: cfg.int("checkpoint_limit").unwrap_or(1024).max(1) as usize,
            replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        })
    }
}

/// The `topics` field parsed (`foo`, `foo:1`, `foo:0-3`).
pub(crate) fn topic_specs(cfg: &ComponentConfig) -> Result<Vec<TopicSpec>, ComponentError> {
    strings(cfg, "topics")
        .iter()
        .map(|t| parse_topic(t))
        .collect::<Result<_, _>>()
        .map_err(ComponentError::new)
}

/// Which metadata become record headers.
#[derive(Debug, Clone)]
pub(crate) enum HeaderFilter {
    /// Every key but those with these prefixes (`kafka`).
    Exclude(Vec<String>),
    /// Only matching keys (`kafka_franz`, `redpanda`).
    Include(super::metadata_filter::MetadataFilter),
}

impl HeaderFilter {
    fn admits(&self, key: &str) -> bool {
        match self {
            HeaderFilter::Exclude(prefixes) => {
                !prefixes.iter().any(|p| key.starts_with(p.as_str()))
            }
            HeaderFilter::Include(f) => f.matches(key),
        }
    }
}

/// Everything a producer is built from.
#[derive(Debug, Clone)]
pub(crate) struct ProducerSettings {
    /// The client.
    pub client: ClientSettings,
    /// The interpolated topic.
    pub topic: String,
    /// The interpolated key.
    pub key: String,
    /// librdkafka's partitioner name.
    pub partitioner: &'static str,
    /// The interpolated partition (manual partitioning), if any.
    pub partition: Option<String>,
    /// `compression.codec`.
    pub compression: String,
    /// `acks=all`.
    pub acks_all: bool,
    /// `enable.idempotence`.
    pub idempotent: bool,
    /// `message.max.bytes`.
    pub max_msg_bytes: i64,
    /// `message.timeout.ms`.
    pub timeout: Duration,
    /// Which metadata become headers.
    pub headers: HeaderFilter,
}

impl ProducerSettings {
    /// The `kafka` output's fields.
    fn of_kafka(cfg: &ComponentConfig) -> Result<ProducerSettings, ComponentError> {
        let partitioner = cfg.str("partitioner").unwrap_or("fnv1a_hash");
        Ok(ProducerSettings {
            client: ClientSettings::of_kafka(cfg),
            topic: cfg.str("topic").unwrap_or("").to_string(),
            key: cfg.str("key").unwrap_or("").to_string(),
            partitioner: match partitioner {
                "fnv1a_hash" => "fnv1a_random",
                "murmur2_hash" => "murmur2_random",
                "random" | "round_robin" | "manual" => "random",
                other => {
                    return Err(ComponentError::new(format!(
                        "partitioner {} is not supported",
                        other
                    )))
                }
            },
            partition: (partitioner == "manual")
                .then(|| cfg.str("partition").unwrap_or("").to_string()),
            compression: cfg.str("compression").unwrap_or("none").to_string(),
            acks_all: cfg.bool("ack_replicas").unwrap_or(false),
            idempotent: cfg.bool("idempotent_write").unwrap_or(false),
            max_msg_bytes: cfg.int("max_msg_bytes").unwrap_or(1_000_000),
            timeout: duration_field(cfg, "timeout", "5s")?,
            headers: HeaderFilter::Exclude(strings(cfg, "metadata.exclude_prefixes")),
        })
    }
}

/// Probes broker metadata in the background and keeps `flag` up to date; logs changes.
fn spawn_probe<F>(flag: Arc<AtomicBool>, alive: std::sync::Weak<()>, probe: F, what: &'static str)
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    let probe = Arc::new(probe);
    tokio::spawn(async move {
        let mut was: Option<bool> = None;
        while alive.upgrade().is_some() {
            let p = probe.clone();
            let r = tokio::task::spawn_blocking(move || p())
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            let ok = r.is_ok();
            flag.store(ok, Ordering::SeqCst);
            if was != Some(ok) {
                match r {
                    Ok(()) => tracing::info!("{} connected to the Kafka brokers", what),
                    Err(e) => {
                        tracing::warn!(error = %e, "{} cannot reach the Kafka brokers, retrying", what)
                    }
                }
                was = Some(ok);
            }
            tokio::time::sleep(if ok {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(1)
            })
            .await;
        }
    });
}

/// A topic to consume: all partitions, or an explicit set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic.
    pub topic: String,
    /// Explicit partitions (`topic:0`, `topic:0-3`), if any.
    pub partitions: Option<Vec<i32>>,
}

/// Parses the `topics` forms `foo`, `foo:1`, `foo:0-3`.
pub fn parse_topic(s: &str) -> Result<TopicSpec, String> {
    match s.rsplit_once(':') {
        None => Ok(TopicSpec {
            topic: s.to_string(),
            partitions: None,
        }),
        Some((topic, parts)) => {
            let bad = || {
                format!(
                    "topic {:?}: partitions must be a number or a range like 0-3",
                    s
                )
            };
            let partitions = match parts.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (i32, i32) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    if a > b {
                        return Err(bad());
                    }
                    (a..=b).collect()
                }
                None => vec![parts.parse().map_err(|_| bad())?],
            };
            Ok(TopicSpec {
                topic: topic.to_string(),
                partitions: Some(partitions),
            })
        }
    }
}

/// Per-partition commit bookkeeping: offsets in flight, and the highest one seen.
#[derive(Debug, Default)]
struct Checkpoint {
    pending: BTreeSet<i64>,
    highest: i64,
}

impl Checkpoint {
    /// The last offset whose message and every message before it are done.
    fn committable(&self) -> i64 {
        match self.pending.first() {
            Some(lowest) => lowest - 1,
            None => self.highest,
        }
    }
}

/// The `kafka` input.
pub struct KafkaInput {
    consumer: Arc<StreamConsumer>,
    topics: Vec<TopicSpec>,
    /// Subscribe (group protocol or regular expressions) rather than assign partitions.
    subscribe: bool,
    /// Commit offsets (a consumer group is set).
    commits: bool,
    checkpoint_limit: usize,
    replay: bool,
    connected: Arc<AtomicBool>,
    alive: Arc<()>,
}

impl KafkaInput {
    /// Builds the `kafka` input's consumer (brokers may be down). `offline` (`compile
    /// --check`) validates every setting with librdkafka but creates no client, so nothing
    /// connects: `None`.
    pub fn new(cfg: &ComponentConfig, offline: bool) -> Result<Option<KafkaInput>, ComponentError> {
        KafkaInput::build(ConsumerSettings::of_kafka(cfg)?, offline)
    }

    /// Builds a consumer from settings of either dialect.
    pub(crate) fn build(
        s: ConsumerSettings,
        offline: bool,
    ) -> Result<Option<KafkaInput>, ComponentError> {
        if s.topics.is_empty() {
            return Err(ComponentError::new("at least one topic is required"));
        }
        let explicit = s.topics.iter().any(|t| t.partitions.is_some());
        if explicit && s.regexp {
            return Err(ComponentError::new(
                "explicit partitions cannot be combined with regular expression topics",
            ));
        }
        let commits = !s.group.is_empty() && !explicit;
        let subscribe = commits || s.regexp;
        let mut c = s.client.client_config()?;
        c.set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                if s.start_oldest { "earliest" } else { "latest" },
            )
            .set("enable.partition.eof", "false");
        if !commits {
            // Offsets are not committed without a group; a private group id keeps librdkafka happy.
            c.set("group.id", format!("sluice-{}", std::process::id()))
                .set("enable.auto.commit", "false");
        } else {
            c.set("group.id", &s.group)
                .set("enable.auto.commit", "true")
                .set(
                    "auto.commit.interval.ms",
                    s.commit_period.as_millis().max(1).to_string(),
                );
            if let Some(d) = s.session_timeout {
                c.set("session.timeout.ms", d.as_millis().to_string());
            }
            if let Some(d) = s.heartbeat {
                c.set("heartbeat.interval.ms", d.as_millis().to_string());
            }
            if !s.instance_id.is_empty() {
                c.set("group.instance.id", &s.instance_id);
            }
        }
        if offline {
            c.create_native_config()
                .map_err(|e| ComponentError::new(format!("kafka consumer: {}", e)))?;
            return Ok(None);
        }
        let consumer: StreamConsumer = c
            .create()
            .map_err(|e| ComponentError::new(format!("kafka consumer: {}", e)))?;
        let topics = if s.regexp {
            s.topics
                .into_iter()
                .map(|t| TopicSpec {
                    topic: if t.topic.starts_with('^') {
                        t.topic
                    } else {
                        format!("^{}", t.topic)
                    },
                    partitions: None,
                })
                .collect()
        } else {
            s.topics
        };
        Ok(Some(KafkaInput {
            consumer: Arc::new(consumer),
            topics,
            subscribe,
            commits,
            checkpoint_limit: s.checkpoint_limit.max(1),
            replay: s.replay,
            connected: Arc::new(AtomicBool::new(false)),
            alive: Arc::new(()),
        }))
    }
}

/// Subscribes (group) or assigns partitions (explicit forms, or all partitions of each topic
/// found in the brokers' metadata). Blocking: run it off the async workers.
fn start_consuming(
    consumer: &StreamConsumer,
    topics: &[TopicSpec],
    grouped: bool,
) -> Result<(), String> {
    {
        if grouped {
            let names: Vec<&str> = topics.iter().map(|t| t.topic.as_str()).collect();
            return consumer.subscribe(&names).map_err(|e| e.to_string());
        }
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            let partitions = match &t.partitions {
                Some(p) => p.clone(),
                None => {
                    let md = consumer
                        .fetch_metadata(Some(&t.topic), Duration::from_secs(5))
                        .map_err(|e| format!("metadata of topic {}: {}", t.topic, e))?;
                    let parts: Vec<i32> = md
                        .topics()
                        .iter()
                        .flat_map(|mt| mt.partitions().iter().map(|p| p.id()))
                        .collect();
                    if parts.is_empty() {
                        return Err(format!(
                            "topic {} has no partitions (does it exist?)",
                            t.topic
                        ));
                    }
                    parts
                }
            };
            for p in partitions {
                tpl.add_partition(&t.topic, p);
            }
        }
        consumer.assign(&tpl).map_err(|e| e.to_string())
    }
}

fn message_of(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let mut meta = Object::new();
    let key = m
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    meta.insert("kafka_key".into(), Value::Str(key));
    meta.insert("kafka_topic".into(), Value::Str(m.topic().to_string()));
    meta.insert("kafka_partition".into(), Value::Int(m.partition() as i64));
    meta.insert("kafka_offset".into(), Value::Int(m.offset()));
    let ts = m.timestamp().to_millis().unwrap_or(0);
    meta.insert("kafka_timestamp_unix".into(), Value::Int(ts / 1000));
    meta.insert("kafka_timestamp_ms".into(), Value::Int(ts));
    meta.insert("kafka_lag".into(), Value::Int(0));
    meta.insert(
        "kafka_tombstone_message".into(),
        Value::Bool(m.payload().is_none()),
    );
    if let Some(headers) = m.headers() {
        for h in headers.iter() {
            let v = h
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            meta.insert(h.key.to_string(), Value::Str(v));
        }
    }
    Message {
        payload: bytes::Bytes::copy_from_slice(m.payload().unwrap_or(&[])),
        metadata: meta,
        error: None,
    }
}

#[async_trait]
impl Input for KafkaInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let consumer = self.consumer.clone();
        spawn_probe(
            self.connected.clone(),
            Arc::downgrade(&self.alive),
            move || {
                consumer
                    .fetch_metadata(None, Duration::from_secs(3))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
            "kafka input",
        );
        // Subscribe or assign, retrying while the brokers are unreachable.
        let mut backoff = Duration::from_millis(500);
        loop {
            let (consumer, topics, grouped) =
                (self.consumer.clone(), self.topics.clone(), self.subscribe);
            let attempt =
                tokio::task::spawn_blocking(move || start_consuming(&consumer, &topics, grouped));
            // A stop does not wait for a metadata request to time out.
            let started = tokio::select! {
                r = attempt => r.unwrap_or_else(|e| Err(e.to_string())),
                _ = sink.stopped() => return Ok(()),
            };
            match started {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "kafka input cannot start consuming");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sink.stopped() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        let checkpoints: Arc<Mutex<BTreeMap<(String, i32), Checkpoint>>> = Arc::default();
        let limit = Arc::new(Semaphore::new(self.checkpoint_limit));
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        let mut pending = JoinSet::new();
        loop {
            let received = tokio::select! {
                r = self.consumer.recv() => r,
                _ = sink.stopped() => break,
            };
            let m = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka input receive error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let msg = message_of(&m);
            let (topic, partition, offset) = (m.topic().to_string(), m.partition(), m.offset());
            drop(m);
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            {
                let mut cps = checkpoints.lock().unwrap_or_else(|p| p.into_inner());
                let cp = cps.entry((topic.clone(), partition)).or_default();
                cp.pending.insert(offset);
                cp.highest = cp.highest.max(offset);
            }
            let (t, ack) = Transaction::new(vec![msg.clone()]);
            if sink.send(t).await.is_err() {
                break;
            }
            let (consumer, cps, sink2, replay, rejections) = (
                self.consumer.clone(),
                checkpoints.clone(),
                sink.clone(),
                self.replay,
                rejections.clone(),
            );
            pending.spawn(async move {
                let _permit = permit;
                let settled =
                    super::acks::settle(&sink2, &vec![msg], ack, replay, &rejections).await;
                // Not settled while stopping: the offset stays uncommitted, so it is
                // redelivered; rejected without a replay: dropped by configuration, committed.
                if settled.is_err() && sink2.is_stopped() {
                    return;
                }
                let committable = {
                    let mut cps = cps.lock().unwrap_or_else(|p| p.into_inner());
                    let cp = cps.entry((topic.clone(), partition)).or_default();
                    cp.pending.remove(&offset);
                    cp.committable()
                };
                if committable >= 0 {
                    // rd_kafka_offset_store commits `offset + 1`: the next message to read.
                    let _ = consumer.store_offset(&topic, partition, committable);
                }
            });
            while pending.try_join_next().is_some() {}
        }
        // Graceful stop: wait for every message in flight, then commit what is done.
        while pending.join_next().await.is_some() {}
        if self.commits {
            let consumer = self.consumer.clone();
            let _ = tokio::task::spawn_blocking(move || {
                consumer.commit_consumer_state(CommitMode::Sync)
            })
            .await;
        }
        Ok(())
    }
}

/// The `kafka` output.
pub struct KafkaOutput {
    producer: FutureProducer,
    topic: Interpolation,
    key: Interpolation,
    partition: Option<Interpolation>,
    headers: HeaderFilter,
    timeout: Duration,
    connected: Arc<AtomicBool>,
    alive: Arc<()>,
}

impl KafkaOutput {
    /// Builds the `kafka` output's producer. `offline` (`compile --check`) validates every
    /// setting with librdkafka but creates no client, so nothing connects: `None`.
    pub fn new(
        cfg: &ComponentConfig,
        offline: bool,
    ) -> Result<Option<KafkaOutput>, ComponentError> {
        KafkaOutput::build(ProducerSettings::of_kafka(cfg)?, offline)
    }

    /// Builds a producer from settings of either dialect.
    pub(crate) fn build(
        s: ProducerSettings,
        offline: bool,
    ) -> Result<Option<KafkaOutput>, ComponentError> {
        let interp = |name: &str, src: &str| {
            Interpolation::compile(src).map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
        };
        let mut c = s.client.client_config()?;
        c.set("partitioner", s.partitioner)
            .set("compression.codec", &s.compression)
            .set(
                "acks",
                if s.acks_all || s.idempotent {
                    "all"
                } else {
                    "1"
                },
            )
            .set(
                "enable.idempotence",
                if s.idempotent { "true" } else { "false" },
            )
            .set("message.max.bytes", s.max_msg_bytes.to_string())
            .set(
                "message.timeout.ms",
                s.timeout.as_millis().max(1).to_string(),
            );
        let topic = interp("topic", &s.topic)?;
        let key = interp("key", &s.key)?;
        let partition = match &s.partition {
            Some(p) => Some(interp("partition", p)?),
            None => None,
        };
        if offline {
            c.create_native_config()
                .map_err(|e| ComponentError::new(format!("kafka producer: {}", e)))?;
            return Ok(None);
        }
        let producer: FutureProducer = c
            .create()
            .map_err(|e| ComponentError::new(format!("kafka producer: {}", e)))?;
        Ok(Some(KafkaOutput {
            producer,
            topic,
            key,
            partition,
            headers: s.headers,
            timeout: s.timeout,
            connected: Arc::new(AtomicBool::new(false)),
            alive: Arc::new(()),
        }))
    }

    fn headers(&self, msg: &Message) -> OwnedHeaders {
        let mut h = OwnedHeaders::new();
        for (k, v) in &msg.metadata {
            if !self.headers.admits(k) {
                continue;
            }
            let value = v.to_display_string();
            h = h.insert(Header {
                key: k,
                value: Some(&value),
            });
        }
        h
    }
}

#[async_trait]
impl Output for KafkaOutput {
    fn attach(&self) {
        let producer = self.producer.clone();
        spawn_probe(
            self.connected.clone(),
            Arc::downgrade(&self.alive),
            move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_secs(3))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
            "kafka output",
        );
    }

    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut sends = Vec::with_capacity(batch.len());
        for msg in &batch {
            let topic = self
                .topic
                .render(msg)
                .map_err(|e| Nack(format!("topic: {}", e)))?;
            let key = self
                .key
                .render(msg)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            let partition = match &self.partition {
                Some(p) => Some(
                    p.render(msg)
                        .map_err(|e| Nack(format!("partition: {}", e)))?
                        .trim()
                        .parse::<i32>()
                        .map_err(|_| Nack("partition: expected an integer".into()))?,
                ),
                None => None,
            };
            let headers = self.headers(msg);
            let payload = msg.payload.clone();
            let producer = &self.producer;
            let timeout = self.timeout;
            sends.push(async move {
                let mut record = FutureRecord::to(&topic)
                    .payload(&payload[..])
                    .headers(headers);
                if !key.is_empty() {
                    record = record.key(key.as_bytes());
                }
                if let Some(p) = partition {
                    record = record.partition(p);
                }
                producer
                    .send(record, timeout)
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e.to_string())
            });
        }
        let results = futures::future::join_all(sends).await;
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Nack(format!("kafka: {}", errors.join("; "))))
        }
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------------------------ specs

/// `kafka`: consumes from Kafka topics (Sarama-style config).
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "kafka",
        ComponentKind::Input,
        "Connects to Kafka brokers and consumes one or more topics.",
        vec![
            F::string("addresses", "A list of broker addresses to connect to.").array(),
            F::string("topics", "A list of topics to consume from, optionally with explicit partitions (`foo:0`, `foo:0-10`).")
                .array(),
            F::string("target_version", "The version of the Kafka protocol to use.").optional(),
            shared::tls(),
            shared::kafka_sasl(),
            F::string("consumer_group", "An identifier for the consumer group of the connection.").default(""),
            F::string("client_id", "An identifier for the client connection.").default("benthos").advanced(),
            F::string("instance_id", "When using consumer groups, an identifier for this specific input so that it can be identified over restarts.")
                .optional()
                .advanced(),
            F::string("rack_id", "A rack identifier for this client.").default("").advanced(),
            F::bool("start_from_oldest", "Determines whether to consume from the oldest available offset when there is no committed offset.")
                .default(true)
                .advanced(),
            F::int("checkpoint_limit", "The maximum number of messages of the same topic and partition that can be processed at a given time.")
                .default(1024),
            shared::auto_replay_nacks(),
            F::duration("timely_nacks_maximum_wait", "EXPERIMENTAL: the maximum time to wait for an acknowledgement before nacking.")
                .optional()
                .advanced(),
            F::duration("commit_period", "The period of time between each commit of the current partition offsets.")
                .default("1s")
                .advanced(),
            F::duration("max_processing_period", "A maximum estimate for the time taken to process a message.")
                .default("100ms")
                .advanced(),
            F::string(
                "extract_tracing_map",
                "EXPERIMENTAL: A Bloblang mapping that attempts to extract an object containing tracing propagation information.",
            )
            .bloblang()
            .optional()
            .advanced(),
            F::object(
                "group",
                "Tuning parameters for consumer group synchronization.",
                vec![
                    F::duration("session_timeout", "A period after which a consumer of the group is kicked after no heartbeats.")
                        .default("10s"),
                    F::duration("heartbeat_interval", "A period in which heartbeats should be sent out.").default("3s"),
                    F::duration("rebalance_timeout", "A period after which rebalancing is abandoned if unresolved.")
                        .default("60s"),
                ],
            )
            .advanced(),
            F::int("fetch_buffer_cap", "The maximum number of unprocessed messages to fetch at a given time.")
                .default(256)
                .advanced(),
            F::bool("multi_header", "Decode headers into lists to allow handling of multiple values with the same key.")
                .default(false)
                .advanced(),
            shared::batching("batching", false),
        ],
    )
}

/// `kafka`: produces to a Kafka topic (Sarama-style config).
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "kafka",
        ComponentKind::Output,
        "The kafka output type writes a batch of messages to Kafka brokers and waits for acknowledgement before propagating it back to the input.",
        vec![
            F::string("addresses", "A list of broker addresses to connect to.").array(),
            shared::tls(),
            shared::kafka_sasl(),
            F::string("topic", "The topic to publish messages to.").interpolated(),
            F::string("client_id", "An identifier for the client connection.").default("benthos").advanced(),
            F::string("target_version", "The version of the Kafka protocol to use.").optional(),
            F::string("rack_id", "A rack identifier for this client.").default("").advanced(),
            F::string("key", "The key to publish messages with.").default("").interpolated(),
            F::string("partitioner", "The partitioning algorithm to use.")
                .default("fnv1a_hash")
                .options(&["fnv1a_hash", "murmur2_hash", "random", "round_robin", "manual"]),
            F::string("partition", "The manually-specified partition to publish messages to, relevant only when the field `partitioner` is set to `manual`.")
                .default("")
                .interpolated(),
            F::object(
                "custom_topic_creation",
                "If enabled, topics will be created with the specified number of partitions and replication factor if they do not already exist.",
                vec![
                    F::bool("enabled", "Whether to enable custom topic creation.").default(false),
                    F::int("partitions", "The number of partitions to create for new topics (-1 = broker default).").default(-1),
                    F::int("replication_factor", "The replication factor to use for new topics (-1 = broker default).")
                        .default(-1),
                ],
            )
            .advanced(),
            F::string("compression", "The compression algorithm to use.")
                .default("none")
                .options(&["none", "snappy", "lz4", "gzip", "zstd"]),
            F::string("static_headers", "An optional map of static headers that should be added to messages in addition to metadata.")
                .map()
                .optional(),
            F::object(
                "metadata",
                "Specify criteria for which metadata values are sent with messages as headers.",
                vec![F::string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when adding metadata to sent messages.")
                    .array()
                    .default(json!([]))],
            ),
            F::string("inject_tracing_map", "EXPERIMENTAL: A Bloblang mapping used to inject an object containing tracing propagation information into outbound messages.")
                .bloblang()
                .optional()
                .advanced(),
            shared::max_in_flight(),
            F::bool("idempotent_write", "Enable the idempotent write producer option.").default(false).advanced(),
            F::bool("ack_replicas", "Ensure that messages have been copied across all replicas before acknowledging receipt.")
                .default(false)
                .advanced(),
            F::int("max_msg_bytes", "The maximum size in bytes of messages sent to the target topic.")
                .default(1_000_000)
                .advanced(),
            F::duration("timeout", "The maximum period of time to wait for message sends before abandoning the request and retrying.")
                .default("5s")
                .advanced(),
            F::bool("retry_as_batch", "When enabled forces an entire batch of messages to be retried if any individual message fails on a send.")
                .default(false)
                .advanced(),
            shared::batching("batching", false),
            F::int("max_retries", "The maximum number of retries before giving up on the request. If set to zero there is no discrete limit.")
                .default(0)
                .advanced(),
            shared::backoff("3s", "10s", "30s"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_forms() {
        assert_eq!(
            parse_topic("foo").unwrap(),
            TopicSpec {
                topic: "foo".into(),
                partitions: None
            }
        );
        assert_eq!(parse_topic("foo:2").unwrap().partitions, Some(vec![2]));
        assert_eq!(
            parse_topic("foo:0-3").unwrap().partitions,
            Some(vec![0, 1, 2, 3])
        );
        assert!(parse_topic("foo:3-1").is_err());
        assert!(parse_topic("foo:x").is_err());
    }

    #[test]
    fn checkpoints_commit_contiguous_offsets_only() {
        let mut cp = Checkpoint::default();
        for o in 0..5 {
            cp.pending.insert(o);
            cp.highest = o;
        }
        cp.pending.remove(&0);
        cp.pending.remove(&2);
        assert_eq!(cp.committable(), 0);
        cp.pending.remove(&1);
        assert_eq!(cp.committable(), 2);
        cp.pending.remove(&3);
        cp.pending.remove(&4);
        assert_eq!(cp.committable(), 4);
    }
}
