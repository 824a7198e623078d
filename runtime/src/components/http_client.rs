//! The `http_client` input and output, sharing one request engine: interpolated URL and
//! headers, verb, basic auth, per-request timeout, retries with exponential backoff
//! (`retry_period` doubling up to `max_retry_backoff`), and the `successful_on` /
//! `backoff_on` / `drop_on` status lists.
//!
//! The input polls the URL (or, with `stream.enabled`, reads a long-lived response line by
//! line) and replays nacked messages when `auto_replay_nacks` is set; the output sends each
//! message as a request body and nacks the batch when the server keeps failing.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Message, Value};

use super::codec::Codec;
use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, ComponentError, Input, InputSink, Nack, Output, ResponseStore, Transaction,
};
use serde_json::json;

/// The request engine both directions share.
struct Requester {
    client: reqwest::Client,
    url: Interpolation,
    verb: reqwest::Method,
    headers: Vec<(String, Interpolation)>,
    basic_auth: Option<(String, String)>,
    retries: u32,
    retry_period: Duration,
    max_backoff: Duration,
    successful_on: Vec<u16>,
    backoff_on: Vec<u16>,
    drop_on: Vec<u16>,
}

/// What came back from a request.
enum Reply {
    /// A successful response.
    Ok(reqwest::Response),
    /// The status is in `drop_on`: the message is dropped, not retried.
    Dropped(u16),
}

fn duration_field(
    cfg: &ComponentConfig,
    name: &str,
    default: &str,
) -> Result<Duration, ComponentError> {
    duration::parse(cfg.str(name).unwrap_or(default))
        .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
}

fn status_list(cfg: &ComponentConfig, name: &str) -> Vec<u16> {
    cfg.field(name)
        .and_then(|f| f.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_int())
                .filter_map(|i| u16::try_from(i).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Requester {
    fn new(cfg: &ComponentConfig) -> Result<Requester, ComponentError> {
        let url = Interpolation::compile(cfg.str("url").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("url: {}", e)))?;
        let verb = cfg
            .str("verb")
            .unwrap_or("GET")
            .to_ascii_uppercase()
            .parse::<reqwest::Method>()
            .map_err(|e| ComponentError::new(format!("verb: {}", e)))?;
        let mut headers = Vec::new();
        if let Some(entries) = cfg.field("headers").and_then(|f| f.as_object()) {
            for (k, v) in entries {
                let i = Interpolation::compile(v.as_str().unwrap_or(""))
                    .map_err(|e| ComponentError::new(format!("headers.{}: {}", k, e)))?;
                headers.push((k.clone(), i));
            }
        }
        let basic_auth = super::basic_auth(cfg);
        let timeout = duration_field(cfg, "timeout", "5s")?;
        let client = super::http_client_builder(cfg)?
            .timeout(timeout)
            .redirect(if cfg.bool("follow_redirects").unwrap_or(true) {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .build()
            .map_err(|e| ComponentError::new(format!("http client: {}", e)))?;
        let backoff_on = match status_list(cfg, "backoff_on") {
            v if v.is_empty() && cfg.field("backoff_on").is_none() => vec![429],
            v => v,
        };
        Ok(Requester {
            client,
            url,
            verb,
            headers,
            basic_auth,
            retries: cfg.int("retries").unwrap_or(3).max(0) as u32,
            retry_period: duration_field(cfg, "retry_period", "1s")?,
            max_backoff: duration_field(cfg, "max_retry_backoff", "300s")?,
            successful_on: status_list(cfg, "successful_on"),
            backoff_on,
            drop_on: status_list(cfg, "drop_on"),
        })
    }

    /// One request for `msg` (whose payload is the body unless `body` is given), with
    /// retries. Errors say why the last attempt failed.
    async fn send(&self, msg: &Message, body: Option<bytes::Bytes>) -> Result<Reply, String> {
        let url = self.url.render(msg).map_err(|e| format!("url: {}", e))?;
        let mut backoff = self.retry_period;
        let mut attempt = 0;
        loop {
            let mut req = self.client.request(self.verb.clone(), &url);
            for (k, v) in &self.headers {
                req = req.header(
                    k,
                    v.render(msg).map_err(|e| format!("header {}: {}", k, e))?,
                );
            }
            if let Some((u, p)) = &self.basic_auth {
                req = req.basic_auth(u, Some(p));
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let err = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if self.drop_on.contains(&status) {
                        return Ok(Reply::Dropped(status));
                    }
                    let ok = if self.successful_on.is_empty() {
                        resp.status().is_success()
                    } else {
                        self.successful_on.contains(&status) || resp.status().is_success()
                    };
                    if ok {
                        return Ok(Reply::Ok(resp));
                    }
                    if self.backoff_on.contains(&status) {
                        backoff = (backoff * 2).min(self.max_backoff);
                    }
                    format!(
                        "HTTP request returned unexpected response code ({}): {}",
                        status,
                        resp.status()
                    )
                }
                Err(e) => format!("HTTP request failed: {}", describe(&e)),
            };
            if attempt >= self.retries {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }
}

/// Metadata of a response: its headers (first values) and status code.
fn response_metadata(resp: &reqwest::Response) -> sluice_compiler::value::Object {
    let mut meta = sluice_compiler::value::Object::new();
    for (k, v) in resp.headers() {
        if let Ok(v) = v.to_str() {
            meta.entry(k.as_str().to_string())
                .or_insert_with(|| Value::Str(v.to_string()));
        }
    }
    meta.insert(
        "http_status_code".into(),
        Value::Int(resp.status().as_u16() as i64),
    );
    meta
}

// ------------------------------------------------------------------------------------ input

/// The `http_client` input.
pub struct HttpClientInput {
    req: Requester,
    payload: Option<bytes::Bytes>,
    drop_empty: bool,
    stream: Option<Codec>,
    reconnect: bool,
    replay_nacks: bool,
}

impl HttpClientInput {
    /// Builds the input.
    pub fn new(cfg: &ComponentConfig) -> Result<HttpClientInput, ComponentError> {
        let stream = if cfg.bool("stream.enabled").unwrap_or(false) {
            Some(Codec::Lines)
        } else {
            None
        };
        Ok(HttpClientInput {
            req: Requester::new(cfg)?,
            payload: cfg
                .str("payload")
                .filter(|s| !s.is_empty())
                .map(|s| bytes::Bytes::from(s.to_string())),
            drop_empty: cfg.bool("drop_empty_bodies").unwrap_or(true),
            stream,
            reconnect: cfg.bool("stream.reconnect").unwrap_or(true),
            replay_nacks: cfg.bool("auto_replay_nacks").unwrap_or(true),
        })
    }

    /// Sends one batch downstream and waits for its ack, replaying nacks when configured.
    async fn deliver(&self, sink: &InputSink, batch: Batch) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            let (t, ack) = Transaction::new(batch.clone());
            if sink.send(t).await.is_err() {
                return false;
            }
            match ack.wait().await {
                Ok(()) => return true,
                Err(e) if self.replay_nacks && !sink.is_stopped() => {
                    tracing::warn!(error = %e, "message was rejected, replaying it");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(_) => return true,
            }
        }
    }
}

#[async_trait]
impl Input for HttpClientInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut failures = 0u32;
        let probe = Message::default();
        loop {
            if sink.is_stopped() {
                return Ok(());
            }
            let reply = tokio::select! {
                r = self.req.send(&probe, self.payload.clone()) => r,
                _ = sink.stopped() => return Ok(()),
            };
            let resp = match reply {
                Ok(Reply::Ok(resp)) => {
                    failures = 0;
                    resp
                }
                Ok(Reply::Dropped(status)) => {
                    tracing::debug!(status, "http_client input dropped a response (drop_on)");
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    let wait = (self.req.retry_period * 2u32.saturating_pow(failures.min(10)))
                        .min(self.req.max_backoff);
                    tracing::warn!(error = %e, retry_in = ?wait, "http_client input request failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = sink.stopped() => return Ok(()),
                    }
                }
            };
            let meta = response_metadata(&resp);
            match &self.stream {
                None => {
                    let body = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %describe(&e), "failed to read http_client response body");
                            continue;
                        }
                    };
                    if body.is_empty() && self.drop_empty {
                        continue;
                    }
                    if !self
                        .deliver(
                            &sink,
                            vec![Message {
                                payload: body,
                                metadata: meta,
                                error: None,
                            }],
                        )
                        .await
                    {
                        return Ok(());
                    }
                }
                Some(codec) => {
                    let mut body = resp.bytes_stream();
                    let mut buf = Vec::new();
                    loop {
                        let chunk = tokio::select! {
                            c = body.next() => c,
                            _ = sink.stopped() => return Ok(()),
                        };
                        match chunk {
                            Some(Ok(c)) => buf.extend_from_slice(&c),
                            _ => break,
                        }
                        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=i).collect();
                            for part in codec.split(&line) {
                                let m = Message {
                                    payload: bytes::Bytes::copy_from_slice(part),
                                    metadata: meta.clone(),
                                    error: None,
                                };
                                if !self.deliver(&sink, vec![m]).await {
                                    return Ok(());
                                }
                            }
                        }
                    }
                    if !self.reconnect {
                        return Ok(());
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------ output

/// The `http_client` output.
pub struct HttpClientOutput {
    req: Requester,
    propagate_response: bool,
}

impl HttpClientOutput {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<HttpClientOutput, ComponentError> {
        Ok(HttpClientOutput {
            req: Requester::new(cfg)?,
            propagate_response: cfg.bool("propagate_response").unwrap_or(false),
        })
    }
}

#[async_trait]
impl Output for HttpClientOutput {
    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        for msg in &batch {
            match self.req.send(msg, Some(msg.payload.clone())).await {
                Ok(Reply::Ok(resp)) => {
                    if self.propagate_response {
                        if let Some(store) = responses {
                            let meta = response_metadata(&resp);
                            let body = resp.bytes().await.unwrap_or_default();
                            store
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(Message {
                                    payload: body,
                                    metadata: meta,
                                    error: None,
                                });
                        }
                    }
                }
                Ok(Reply::Dropped(status)) => {
                    tracing::debug!(status, "http_client output dropped a message (drop_on)")
                }
                Err(e) => return Err(Nack(e)),
            }
        }
        Ok(())
    }
}

/// A request error in words, without the URL (it may carry credentials) but with the cause
/// (a TLS failure, a refused connection...).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let part = err.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = err.source();
    }
    // The URL exactly as reqwest prints it (its user info may hold `)` or `'`, where a
    // search for URLs in free text would stop), then any other URL in the text.
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), &crate::secrets::scrub_url(url.as_str()));
    }
    crate::secrets::scrub_text(&text)
}

// -------------------------------------------------------------------------------- processor

/// The `http` processor's spec: the HTTP client fields, plus `batch_as_multipart` and
/// `parallel`.
pub fn processor_spec() -> crate::registry::ComponentSpec {
    use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
    let mut fields = shared::http_client_fields("POST");
    fields.extend([
        F::bool("batch_as_multipart", "Send message batches as a single request using RFC1341.")
            .default(false)
            .advanced(),
        F::bool("parallel", "When processing batched messages, whether to send messages of the batch in parallel, otherwise they are sent serially.")
            .default(false),
    ]);
    ComponentSpec::new(
        "http",
        ComponentKind::Processor,
        "Performs an HTTP request using a message batch as the request body, and replaces the original message parts with the body of the response.",
        fields,
    )
}

/// Builds the `http` processor: each message is a request (its payload the body); the
/// response body replaces the payload and its headers and status become metadata. A failed
/// request flags the message (with `http_status_code` when there was a response).
pub fn build_processor(
    cfg: &ComponentConfig,
    _ctx: &crate::stream::BuildContext,
) -> Result<crate::stream::SharedProcessor, ComponentError> {
    if cfg.bool("batch_as_multipart") == Some(true) {
        return Err(ComponentError::new(
            "batch_as_multipart is not supported yet",
        ));
    }
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the http processor needs a runtime"))?;
    Ok(std::sync::Arc::new(HttpProcessor {
        requester: std::sync::Arc::new(Requester::new(cfg)?),
        parallel: cfg.bool("parallel").unwrap_or(false),
        handle,
    }))
}

struct HttpProcessor {
    requester: std::sync::Arc<Requester>,
    parallel: bool,
    handle: tokio::runtime::Handle,
}

impl HttpProcessor {
    /// One message's request; the message becomes the response (or is flagged).
    async fn call(requester: &Requester, mut m: Message) -> Message {
        match requester.send(&m, Some(m.payload.clone())).await {
            Ok(Reply::Ok(resp)) => {
                let meta = response_metadata(&resp);
                match resp.bytes().await {
                    Ok(body) => {
                        m.payload = body;
                        m.metadata.extend(meta);
                    }
                    Err(e) => {
                        m.error = Some(format!("failed to read the response: {}", describe(&e)))
                    }
                }
            }
            Ok(Reply::Dropped(status)) => {
                m.metadata
                    .insert("http_status_code".into(), Value::Int(status as i64));
                m.error = Some(format!(
                    "HTTP request returned response code {} (drop_on)",
                    status
                ));
            }
            Err(e) => m.error = Some(e),
        }
        m
    }
}

impl crate::stream::Processor for HttpProcessor {
    fn process(&self, batch: crate::stream::Batch) -> crate::stream::Batch {
        // Processors run on the blocking pool, where waiting on the data runtime is allowed.
        let requester = self.requester.clone();
        self.handle.block_on(async move {
            if self.parallel {
                futures::future::join_all(batch.into_iter().map(|m| Self::call(&requester, m)))
                    .await
            } else {
                let mut out = Vec::with_capacity(batch.len());
                for m in batch {
                    out.push(Self::call(&requester, m).await);
                }
                out
            }
        })
    }
}

// ------------------------------------------------------------------------------------ specs

/// `http_client`: polls (or streams from) an HTTP server.
pub fn input_spec() -> ComponentSpec {
    let mut fields = shared::http_client_fields("GET");
    fields.extend([
        F::string("payload", "An optional payload to deliver for each request.").optional().interpolated().advanced(),
        F::bool("drop_empty_bodies", "Whether empty payloads received from the target server should be dropped.")
            .default(true)
            .advanced(),
        F::object(
            "stream",
            "Allows you to set streaming mode, where requests are kept open and messages are processed line-by-line.",
            vec![
                F::bool("enabled", "Enables streaming mode.").default(false),
                F::bool("reconnect", "Sets whether to re-establish the connection once it is lost.").default(true),
                shared::input_scanner(),
            ],
        )
        .optional()
        .advanced(),
        shared::auto_replay_nacks(),
    ]);
    ComponentSpec::new(
        "http_client",
        ComponentKind::Input,
        "Connects to a server and continuously performs requests for a single message.",
        fields,
    )
}

/// `http_client`: sends each message (or batch) as an HTTP request.
pub fn output_spec() -> ComponentSpec {
    let mut fields = shared::http_client_fields("POST");
    fields.extend([
        F::bool("batch_as_multipart", "Send message batches as a single request using RFC1341.").default(false).advanced(),
        F::bool("propagate_response", "Whether responses from the server should be propagated back to the input.")
            .default(false)
            .advanced(),
        shared::max_in_flight(),
        shared::batching("batching", false),
        F::object(
            "multipart",
            "Create explicit multipart HTTP requests by specifying an array of parts to add to the request.",
            vec![
                F::string("content_type", "The content type of the individual message part.").default("").interpolated(),
                F::string("content_disposition", "The content disposition of the individual message part.")
                    .default("")
                    .interpolated(),
                F::string("body", "The body of the individual message part.").default("").interpolated(),
            ],
        )
        .array()
        .default(json!([]))
        .advanced(),
    ]);
    ComponentSpec::new(
        "http_client",
        ComponentKind::Output,
        "Sends messages to an HTTP server.",
        fields,
    )
}
