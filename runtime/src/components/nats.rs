//! NATS: upstream's connection fields (`urls`, `tls`, `auth`) and the core `nats` input
//! (a subscription, optionally in a queue group) and output (publish, then flush so the
//! server has every message before the batch is acknowledged). The client (async-nats)
//! reconnects by itself; subscriptions are re-established with the connection.
//!
//! Core NATS has no redelivery: a message published while the input is disconnected is not
//! seen, and a nacked message is replayed from memory while `auto_replay_nacks` holds. For
//! persistence use [`super::nats_jetstream`].
//!
//! Messages carry `nats_subject`, `nats_reply_subject` (when set) and every header.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use super::kafka::strings;
use super::metadata_filter::MetadataFilter;
use super::reading::send_tracked;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput,
};

/// `auth` of every NATS component.
fn auth_field() -> F {
    F::object(
        "auth",
        "Optional configuration of NATS authentication parameters.",
        vec![
            F::string("nkey_file", "An optional file containing a NKey seed.").optional(),
            F::string("nkey", "The NKey seed.").optional().secret(),
            F::string("user_credentials_file", "An optional file containing user credentials which consist of an user JWT and corresponding NKey seed.")
                .optional(),
            F::string("user_jwt", "An optional plain text user JWT (given along with the corresponding user NKey Seed).")
                .optional()
                .secret(),
            F::string("user_nkey_seed", "An optional plain text user NKey Seed (given along with the corresponding user JWT).")
                .optional()
                .secret(),
            F::string("user", "An optional plain text user name (given along with the corresponding user password).")
                .optional(),
            F::string("password", "An optional plain text password (given along with the corresponding user name).")
                .optional()
                .secret(),
            F::string("token", "An optional plain text token.").optional().secret(),
        ],
    )
    .advanced()
}

/// The connection fields every NATS component starts with.
pub fn client_fields() -> Vec<F> {
    vec![
        F::string("urls", "A list of URLs to connect to. If an item of the list contains commas it will be expanded into multiple URLs.")
            .array(),
        F::int("max_reconnects", "The maximum number of times to attempt to reconnect to the server. If negative, it will never stop trying to reconnect.")
            .optional()
            .advanced(),
        shared::tls(),
        auth_field(),
    ]
}

/// The `metadata` filter and `headers` of NATS outputs.
pub fn output_header_fields() -> Vec<F> {
    vec![
        F::string("headers", "Explicit message headers to add to messages.")
            .map()
            .interpolated()
            .default(json!({})),
        shared::metadata_filter(
            "metadata",
            "Determine which (if any) metadata values should be added to messages as headers.",
        )
        .optional(),
    ]
}

/// How to reach a NATS server: the URLs and connect options of a component.
#[derive(Clone)]
pub struct NatsTarget {
    urls: Vec<String>,
    user: Option<(String, String)>,
    token: Option<String>,
    nkey: Option<String>,
    credentials_file: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    max_reconnects: Option<usize>,
}

impl std::fmt::Debug for NatsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NatsTarget").field(&self.urls.len()).finish()
    }
}

impl NatsTarget {
    /// The target a component's config names.
    pub fn of(cfg: &ComponentConfig) -> Result<NatsTarget, ComponentError> {
        let urls = strings(cfg, "urls");
        if urls.is_empty() {
            return Err(ComponentError::new("at least one url is required"));
        }
        for u in &urls {
            u.parse::<async_nats::ServerAddr>().map_err(|e| {
                ComponentError::new(format!("url {}: {}", crate::secrets::scrub_text(u), e))
            })?;
        }
        let s = |k: &str| cfg.str(k).filter(|v| !v.is_empty()).map(str::to_string);
        if s("auth.user_jwt").is_some() || s("auth.nkey_file").is_some() {
            return Err(ComponentError::new(
                "auth.user_jwt and auth.nkey_file are not supported yet: use user_credentials_file or nkey",
            ));
        }
        let tls = if cfg.bool("tls.enabled").unwrap_or(false) {
            Some(Arc::new(
                crate::tls::client_config(cfg.field("tls"))
                    .map_err(|e| ComponentError::new(e.to_string()))?,
            ))
        } else {
            None
        };
        Ok(NatsTarget {
            urls,
            user: s("auth.user").map(|u| (u, s("auth.password").unwrap_or_default())),
            token: s("auth.token"),
            nkey: s("auth.nkey"),
            credentials_file: s("auth.user_credentials_file"),
            tls,
            max_reconnects: cfg
                .int("max_reconnects")
                .and_then(|n| (n >= 0).then_some(n as usize)),
        })
    }

    /// Connects (retrying in the background until the server is there; the client then
    /// reconnects by itself after a lost connection).
    pub async fn connect(&self) -> Result<async_nats::Client, String> {
        let mut o = async_nats::ConnectOptions::new()
            .name("sluice")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(self.max_reconnects)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100u64 << attempts.min(6)).min(5_000))
            });
        if let Some((u, p)) = &self.user {
            o = o.user_and_password(u.clone(), p.clone());
        }
        if let Some(t) = &self.token {
            o = o.token(t.clone());
        }
        if let Some(seed) = &self.nkey {
            o = o.nkey(seed.clone());
        }
        if let Some(path) = &self.credentials_file {
            o = o
                .credentials_file(path)
                .await
                .map_err(|e| format!("user_credentials_file: {}", e))?;
        }
        if let Some(tls) = &self.tls {
            o = o.require_tls(true).tls_client_config((**tls).clone());
        }
        let addrs: Vec<async_nats::ServerAddr> =
            self.urls.iter().filter_map(|u| u.parse().ok()).collect();
        o.connect(addrs)
            .await
            .map_err(|e| crate::secrets::scrub_text(&e.to_string()))
    }
}

/// Whether the client is connected now.
pub fn is_connected(c: &async_nats::Client) -> bool {
    matches!(
        c.connection_state(),
        async_nats::connection::State::Connected
    )
}

/// A message's headers as metadata.
pub fn header_metadata(headers: Option<&async_nats::HeaderMap>, meta: &mut Object) {
    if let Some(h) = headers {
        for (k, vs) in h.iter() {
            if let Some(v) = vs.first() {
                meta.insert(k.to_string(), Value::Str(v.as_str().to_string()));
            }
        }
    }
}

/// Builds the headers of an outgoing message: explicit `headers`, then the metadata the
/// filter admits.
pub struct HeaderWriter {
    explicit: Vec<(String, Interpolation)>,
    filter: MetadataFilter,
}

impl HeaderWriter {
    /// From an output's `headers` and `metadata` fields.
    pub fn of(cfg: &ComponentConfig) -> Result<HeaderWriter, ComponentError> {
        let explicit = cfg
            .field("headers")
            .and_then(|f| f.as_object())
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| {
                Interpolation::compile(v.as_str().unwrap_or(""))
                    .map(|i| (k.clone(), i))
                    .map_err(|e| ComponentError::new(format!("headers.{}: {}", k, e)))
            })
            .collect::<Result<_, _>>()?;
        let filter = if cfg.field("metadata").is_some() {
            MetadataFilter::of(cfg, "metadata")?
        } else {
            MetadataFilter::default()
        };
        Ok(HeaderWriter { explicit, filter })
    }

    /// The headers for `m`, `None` when there are none.
    pub fn headers(&self, m: &Message) -> Result<Option<async_nats::HeaderMap>, Nack> {
        if self.explicit.is_empty() && self.filter.is_empty() {
            return Ok(None);
        }
        let mut h = async_nats::HeaderMap::new();
        for (k, v) in &self.explicit {
            let value = v
                .render(m)
                .map_err(|e| Nack(format!("headers.{}: {}", k, e)))?;
            h.insert(k.as_str(), value.as_str());
        }
        for (k, v) in &m.metadata {
            if self.filter.matches(k) {
                h.insert(k.as_str(), v.to_display_string().as_str());
            }
        }
        Ok(Some(h))
    }
}

/// `nats` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("subject", "A subject to consume from. Supports wildcards for consuming multiple subjects."),
        F::string("queue", "An optional queue group to consume as.").optional(),
        shared::auto_replay_nacks(),
        F::bool("send_ack", "Control whether ACKS are sent as a reply to each message. When enabled, these replies are sent only once the data has been delivered to all outputs.")
            .default(true)
            .advanced(),
        F::duration("nak_delay", "An optional delay duration on redelivering a message when negatively acknowledged.")
            .optional()
            .advanced(),
        F::int("prefetch_count", "The maximum number of messages to pull at a time.")
            .default(524_288)
            .advanced(),
    ]);
    ComponentSpec::new(
        "nats",
        ComponentKind::Input,
        "Subscribe to a NATS subject.",
        fields,
    )
}

/// `nats` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.push(F::string("subject", "The subject to publish to.").interpolated());
    fields.extend(output_header_fields());
    fields.push(shared::max_in_flight());
    ComponentSpec::new(
        "nats",
        ComponentKind::Output,
        "Publish to an NATS subject.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let subject = cfg.str("subject").unwrap_or("").to_string();
    if subject.is_empty() {
        return Err(ComponentError::new("subject must not be empty"));
    }
    Ok(Box::new(NatsInput {
        target: NatsTarget::of(cfg)?,
        subject,
        queue: cfg
            .str("queue")
            .filter(|q| !q.is_empty())
            .map(str::to_string),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct NatsInput {
    target: NatsTarget,
    subject: String,
    queue: Option<String>,
    replay: bool,
    connected: Arc<AtomicBool>,
}

#[async_trait]
impl Input for NatsInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let client = tokio::select! {
            c = self.target.connect() => c,
            _ = sink.stopped() => return Ok(()),
        };
        let client = match client {
            Ok(c) => c,
            Err(e) => return Err(ComponentError::new(format!("nats: {}", e))),
        };
        let subscribed = match &self.queue {
            Some(q) => {
                client
                    .queue_subscribe(self.subject.clone(), q.clone())
                    .await
            }
            None => client.subscribe(self.subject.clone()).await,
        };
        let mut sub =
            subscribed.map_err(|e| ComponentError::new(format!("nats subscribe: {}", e)))?;
        let watch = spawn_state_watch(client.clone(), self.connected.clone(), sink.clone());
        let mut pending = JoinSet::new();
        loop {
            let m = tokio::select! {
                m = sub.next() => m,
                _ = sink.stopped() => break,
            };
            let Some(m) = m else { break };
            let mut meta = Object::new();
            meta.insert("nats_subject".into(), Value::Str(m.subject.to_string()));
            if let Some(r) = &m.reply {
                meta.insert("nats_reply_subject".into(), Value::Str(r.to_string()));
            }
            header_metadata(m.headers.as_ref(), &mut meta);
            let msg = Message {
                payload: m.payload,
                metadata: meta,
                error: None,
            };
            if !send_tracked(&sink, vec![msg], self.replay, &mut pending).await {
                break;
            }
        }
        let _ = sub.unsubscribe().await;
        while pending.join_next().await.is_some() {}
        watch.abort();
        self.connected.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// Keeps `flag` equal to the client's connection state until the sink stops.
pub fn spawn_state_watch(
    client: async_nats::Client,
    flag: Arc<AtomicBool>,
    sink: InputSink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !sink.is_stopped() {
            flag.store(is_connected(&client), Ordering::SeqCst);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = sink.stopped() => {}
            }
        }
    })
}

/// Builds the output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let subject = super::interpolated_field(cfg, "subject")?;
    Ok(Arc::new(NatsOutput {
        target: NatsTarget::of(cfg)?,
        client: OnceCell::new(),
        subject,
        headers: HeaderWriter::of(cfg)?,
    }))
}

struct NatsOutput {
    target: NatsTarget,
    client: OnceCell<async_nats::Client>,
    subject: Interpolation,
    headers: HeaderWriter,
}

impl NatsOutput {
    async fn client(&self) -> Result<&async_nats::Client, Nack> {
        self.client
            .get_or_try_init(|| self.target.connect())
            .await
            .map_err(|e| Nack(format!("nats: {}", e)))
    }
}

#[async_trait]
impl Output for NatsOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let client = self.client().await?;
        if !is_connected(client) {
            return Err(Nack("nats: not connected".into()));
        }
        for m in &batch {
            let subject = self
                .subject
                .render(m)
                .map_err(|e| Nack(format!("subject: {}", e)))?;
            let r = match self.headers.headers(m)? {
                Some(h) => {
                    client
                        .publish_with_headers(subject, h, m.payload.clone())
                        .await
                }
                None => client.publish(subject, m.payload.clone()).await,
            };
            r.map_err(|e| Nack(format!("nats publish: {}", e)))?;
        }
        // The batch is acknowledged once the server has it (a flush round trip).
        tokio::time::timeout(Duration::from_secs(10), client.flush())
            .await
            .map_err(|_| Nack("nats: flush timed out".into()))?
            .map_err(|e| Nack(format!("nats flush: {}", e)))
    }

    fn connected(&self) -> bool {
        self.client.get().is_none_or(is_connected)
    }
}
