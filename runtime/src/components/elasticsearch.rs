//! The `elasticsearch` output: writes batches through the `_bulk` API.
//!
//! Each message becomes an action line (`index`, `create`, `update`, `upsert`, `delete`, with
//! the interpolated `index`, `id`, `routing`, `type` and `pipeline`) plus its document. The
//! response's per-item results are mapped back to messages: items that failed with 429 or a
//! 5xx are retried (only them) with exponential backoff (`backoff.*`, `max_retries`), other
//! item failures fail the batch with the server's reasons. Whole-request failures (connection,
//! 429, 5xx) are retried the same way, rotating over `urls`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::Message;

use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

/// The bulk action of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Index,
    Create,
    Update,
    Upsert,
    Delete,
}

impl Action {
    fn parse(s: &str) -> Result<Action, String> {
        Ok(match s {
            "index" => Action::Index,
            "create" => Action::Create,
            "update" => Action::Update,
            "upsert" => Action::Upsert,
            "delete" => Action::Delete,
            other => {
                return Err(format!(
                    "action {:?} is not one of index, create, update, upsert, delete",
                    other
                ))
            }
        })
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update | Action::Upsert => "update",
            Action::Delete => "delete",
        }
    }
}

/// The `elasticsearch` output.
pub struct Elasticsearch {
    client: reqwest::Client,
    urls: Vec<String>,
    next_url: AtomicUsize,
    index: Interpolation,
    id: Interpolation,
    routing: Interpolation,
    doc_type: Interpolation,
    action: Interpolation,
    pipeline: String,
    retry_on_conflict: i64,
    basic_auth: Option<(String, String)>,
    api_key: Option<String>,
    max_retries: u64,
    initial_interval: Duration,
    max_interval: Duration,
    max_elapsed: Duration,
    connected: AtomicBool,
}

fn interp(
    cfg: &ComponentConfig,
    name: &str,
    default: &str,
) -> Result<Interpolation, ComponentError> {
    Interpolation::compile(cfg.str(name).unwrap_or(default))
        .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
}

fn dur(cfg: &ComponentConfig, name: &str, default: &str) -> Result<Duration, ComponentError> {
    duration::parse(cfg.str(name).unwrap_or(default))
        .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
}

impl Elasticsearch {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<Elasticsearch, ComponentError> {
        let urls: Vec<String> = cfg
            .field("urls")
            .and_then(|f| f.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|f| f.as_str())
                    .flat_map(|s| {
                        s.split(',')
                            .map(|u| u.trim().trim_end_matches('/').to_string())
                            .collect::<Vec<_>>()
                    })
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if urls.is_empty() {
            return Err(ComponentError::new("at least one url is required"));
        }
        let action = interp(cfg, "action", "index")?;
        if action.is_static() {
            let a = action
                .render(&Message::default())
                .map_err(|e| ComponentError::new(e.to_string()))?;
            Action::parse(&a).map_err(ComponentError::new)?;
        }
        let timeout = dur(cfg, "timeout", "5s")?;
        let client = super::http_client_builder(cfg)?
            .timeout(timeout)
            .build()
            .map_err(|e| ComponentError::new(format!("http client: {}", e)))?;
        let basic_auth = super::basic_auth(cfg);
        Ok(Elasticsearch {
            client,
            urls,
            next_url: AtomicUsize::new(0),
            index: interp(cfg, "index", "benthos_index")?,
            id: interp(cfg, "id", "${!counter()}-${!timestamp_unix()}")?,
            routing: interp(cfg, "routing", "")?,
            doc_type: interp(cfg, "type", "")?,
            action,
            pipeline: cfg.str("pipeline").unwrap_or("").to_string(),
            retry_on_conflict: cfg.int("retry_on_conflict").unwrap_or(0),
            basic_auth,
            api_key: cfg
                .str("api_key")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            max_retries: cfg.int("max_retries").unwrap_or(0).max(0) as u64,
            initial_interval: dur(cfg, "backoff.initial_interval", "1s")?,
            max_interval: dur(cfg, "backoff.max_interval", "5s")?,
            max_elapsed: dur(cfg, "backoff.max_elapsed_time", "30s")?,
            connected: AtomicBool::new(true),
        })
    }

    /// The NDJSON lines (action and document) of one message.
    fn bulk_lines(&self, msg: &Message, out: &mut Vec<u8>) -> Result<(), String> {
        let action = Action::parse(
            &self
                .action
                .render(msg)
                .map_err(|e| format!("action: {}", e))?,
        )?;
        let mut meta = serde_json::Map::new();
        meta.insert(
            "_index".into(),
            self.index
                .render(msg)
                .map_err(|e| format!("index: {}", e))?
                .into(),
        );
        let id = self.id.render(msg).map_err(|e| format!("id: {}", e))?;
        if !id.is_empty() {
            meta.insert("_id".into(), id.into());
        }
        let routing = self
            .routing
            .render(msg)
            .map_err(|e| format!("routing: {}", e))?;
        if !routing.is_empty() {
            meta.insert("routing".into(), routing.into());
        }
        let doc_type = self
            .doc_type
            .render(msg)
            .map_err(|e| format!("type: {}", e))?;
        if !doc_type.is_empty() {
            meta.insert("_type".into(), doc_type.into());
        }
        if !self.pipeline.is_empty() && matches!(action, Action::Index | Action::Create) {
            meta.insert("pipeline".into(), self.pipeline.clone().into());
        }
        if matches!(action, Action::Update | Action::Upsert) && self.retry_on_conflict > 0 {
            meta.insert("retry_on_conflict".into(), self.retry_on_conflict.into());
        }
        let line = serde_json::json!({ action.verb(): meta });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
        let doc: Option<serde_json::Value> = match action {
            Action::Delete => None,
            Action::Index | Action::Create => {
                // The document must be JSON: checked here so the server is not sent garbage.
                let v: serde_json::Value = serde_json::from_slice(&msg.payload)
                    .map_err(|e| format!("document is not valid JSON: {}", e))?;
                Some(v)
            }
            Action::Update | Action::Upsert => {
                let v: serde_json::Value = serde_json::from_slice(&msg.payload)
                    .map_err(|e| format!("document is not valid JSON: {}", e))?;
                if action == Action::Upsert {
                    Some(serde_json::json!({"doc": v, "doc_as_upsert": true}))
                } else {
                    Some(serde_json::json!({ "doc": v }))
                }
            }
        };
        if let Some(d) = doc {
            out.extend_from_slice(d.to_string().as_bytes());
            out.push(b'\n');
        }
        Ok(())
    }

    /// Sends one bulk request; returns, per message of `batch` in order, `None` on success or
    /// `Some((status, reason))` on failure. Err when the request as a whole failed.
    async fn send_bulk(
        &self,
        body: Vec<u8>,
        count: usize,
    ) -> Result<Vec<Option<(u16, String)>>, (bool, String)> {
        let i = self.next_url.fetch_add(1, Ordering::Relaxed) % self.urls.len();
        let url = format!("{}/_bulk", self.urls[i]);
        let mut req = self
            .client
            .post(&url)
            .header("Content-Type", "application/x-ndjson")
            .body(body);
        if let Some((u, p)) = &self.basic_auth {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", format!("ApiKey {}", k));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.connected.store(false, Ordering::SeqCst);
                return Err((
                    true,
                    format!(
                        "bulk request to {} failed: {}",
                        crate::secrets::scrub_url(&url),
                        super::http_client::describe(&e)
                    ),
                ));
            }
        };
        self.connected.store(true, Ordering::SeqCst);
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status == 429 || status >= 500 {
            return Err((
                true,
                format!("bulk request returned {}: {}", status, truncate(&text)),
            ));
        }
        if status >= 300 {
            return Err((
                false,
                format!("bulk request returned {}: {}", status, truncate(&text)),
            ));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| (true, format!("unreadable bulk response: {}", e)))?;
        let items = v
            .get("items")
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default();
        if items.len() != count {
            return Err((
                true,
                format!(
                    "bulk response has {} items for {} documents",
                    items.len(),
                    count
                ),
            ));
        }
        Ok(items
            .iter()
            .map(|item| {
                let result = item
                    .as_object()
                    .and_then(|o| o.values().next())
                    .cloned()
                    .unwrap_or_default();
                let status = result.get("status").and_then(|s| s.as_u64()).unwrap_or(0) as u16;
                match result.get("error") {
                    Some(err) if !err.is_null() => {
                        let reason = err
                            .get("reason")
                            .and_then(|r| r.as_str())
                            .map(str::to_string)
                            .unwrap_or_else(|| err.to_string());
                        Some((status, reason))
                    }
                    _ if status >= 300 => Some((status, format!("status {}", status))),
                    _ => None,
                }
            })
            .collect())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

#[async_trait]
impl Output for Elasticsearch {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        // Render every message's lines once; a message that cannot be rendered fails the batch.
        let mut lines = Vec::with_capacity(batch.len());
        for m in &batch {
            let mut l = Vec::new();
            self.bulk_lines(m, &mut l).map_err(Nack)?;
            lines.push(l);
        }
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        let start = Instant::now();
        let mut backoff = self.initial_interval;
        let mut attempt = 0u64;
        loop {
            let body: Vec<u8> = todo
                .iter()
                .flat_map(|i| lines[*i].iter().copied())
                .collect();
            let (retry, last_error) = match self.send_bulk(body, todo.len()).await {
                Ok(results) => {
                    let mut retry = Vec::new();
                    let mut fatal = Vec::new();
                    for (i, r) in todo.iter().zip(results) {
                        match r {
                            None => {}
                            Some((status, reason)) if status == 429 || status >= 500 => {
                                retry.push((*i, reason))
                            }
                            Some((status, reason)) => {
                                fatal.push(format!("document {}: {} ({})", i, reason, status))
                            }
                        }
                    }
                    if !fatal.is_empty() {
                        return Err(Nack(format!(
                            "elasticsearch rejected documents: {}",
                            fatal.join("; ")
                        )));
                    }
                    if retry.is_empty() {
                        return Ok(());
                    }
                    let reason = retry
                        .iter()
                        .map(|(_, r)| r.as_str())
                        .collect::<Vec<_>>()
                        .join("; ");
                    (retry.into_iter().map(|(i, _)| i).collect(), reason)
                }
                Err((true, e)) => (todo.clone(), e),
                Err((false, e)) => return Err(Nack(e)),
            };
            attempt += 1;
            let out_of_retries = self.max_retries > 0 && attempt > self.max_retries;
            if out_of_retries || start.elapsed() + backoff > self.max_elapsed {
                return Err(Nack(format!(
                    "elasticsearch: giving up after {} attempts: {}",
                    attempt, last_error
                )));
            }
            tracing::warn!(error = %last_error, retry_in = ?backoff, "elasticsearch bulk write will be retried");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_interval);
            todo = retry;
        }
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------------------------ specs

/// `elasticsearch`: the legacy Elasticsearch output (the walkthrough's `bar` stream).
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "elasticsearch",
        ComponentKind::Output,
        "Publishes messages into an Elasticsearch index.",
        vec![
            F::string("urls", "A list of URLs to connect to.").array().url(),
            // Required in the last upstream spec, but the walkthrough's `bar` stream omits it and
            // must load: the v3 default applies.
            F::string("index", "The index to place messages.").default("benthos_index").interpolated(),
            F::string("action", "The action to take on the document.").default("index").interpolated().advanced(),
            F::string("pipeline", "An optional pipeline id to preprocess incoming documents.")
                .default("")
                .interpolated()
                .advanced(),
            F::string("id", "The ID for indexed messages.").default("${!counter()}-${!timestamp_unix()}").interpolated(),
            F::string("type", "The document mapping type.").default("").interpolated().advanced(),
            F::string("routing", "The routing key to use for the document.").default("").interpolated().advanced(),
            F::int("retry_on_conflict", "When using the update action, the number of times to retry on a version conflict.")
                .default(0)
                .advanced(),
            F::bool("sniff", "Prompts Benthos to sniff for brokers to connect to when establishing a connection.")
                .default(true)
                .advanced(),
            F::bool("healthcheck", "Whether to enable healthchecks.").default(true).advanced(),
            F::duration("timeout", "The maximum time to wait before abandoning a request (and trying again).")
                .default("5s")
                .advanced(),
            F::string("api_key", "An API key for authenticating with Elastic Cloud.").optional().secret().advanced(),
            shared::tls(),
            shared::max_in_flight(),
            F::int("max_retries", "The maximum number of retries before giving up on the request. If set to zero there is no discrete limit.")
                .default(0)
                .advanced(),
            shared::backoff("1s", "5s", "30s"),
            shared::basic_auth(),
            shared::batching("batching", false),
            F::object(
                "aws",
                "Enables and customises connectivity to Amazon Elastic Service.",
                vec![
                    F::bool("enabled", "Whether to connect to Amazon Elastic Service.").default(false),
                    F::string("region", "The AWS region to target.").optional(),
                    F::string("endpoint", "Allows you to specify a custom endpoint for the AWS API.").optional(),
                    F::object(
                        "credentials",
                        "Optional manual configuration of AWS credentials to use.",
                        vec![
                            F::string("profile", "A profile from `~/.aws/credentials` to use.").optional(),
                            F::string("id", "The ID of credentials to use.").optional(),
                            F::string("secret", "The secret for the credentials being used.").optional().secret(),
                            F::string("token", "The token for the credentials being used.").optional().secret(),
                            F::bool("from_ec2_role", "Use the credentials of a host EC2 machine.").optional(),
                            F::string("role", "A role ARN to assume.").optional(),
                            F::string("role_external_id", "An external ID to provide when assuming a role.").optional(),
                        ],
                    ),
                ],
            )
            .advanced(),
            F::bool("gzip_compression", "Enable gzip compression on the request side.").default(false).advanced(),
        ],
    )
}
