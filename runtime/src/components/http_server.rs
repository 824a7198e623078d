//! The `http_server` input and output: endpoints served on the shared HTTP server (namespaced
//! `/{stream}/post`, `/{stream}/get`, ...) or, with a custom `address`, on their own server.
//!
//! Input (reference §7.7): each request becomes a batch (one message, or one per part of a
//! `multipart/*` body) with request metadata; the response waits for the acknowledgement: 200
//! (or the stored synchronous response) on delivery, 502 with the error on a nack, 408 past
//! `timeout`. Output (§7.8): `GET /get` hands one batch to the client (multipart when it holds
//! several messages), `/get/stream` streams batches over a chunked response.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Message, Value};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::endpoints::{text_response, EndpointRegistry, Handler};
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore, Transaction,
};
use serde_json::json;

/// Where a component's endpoints are served: the shared server's registry, or the registry
/// of its own server (shared with the stream's other components on that address and with its
/// successor after a swap).
struct Server {
    endpoints: EndpointRegistry,
    /// The routes this component registered, with its registration tokens.
    owners: Mutex<Vec<(String, u64)>>,
    /// Keeps an own listener open while this component lives.
    _own: Option<Arc<crate::endpoints::OwnServer>>,
}

impl Server {
    /// Prepares the server: for a custom address, binds the port now (or joins the stream's
    /// listener already there); a bind failure fails the construction, as in the reference.
    fn new(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<Server, ComponentError> {
        let address = cfg.str("address").unwrap_or("");
        let text = |name: &str| cfg.str(name).unwrap_or("").to_string();
        let own = if address.is_empty() {
            if !text("cert_file").is_empty()
                || !text("key_file").is_empty()
                || cfg.bool("cors.enabled") == Some(true)
            {
                return Err(ComponentError::new(
                    "cert_file, key_file and cors are only valid with a custom address",
                ));
            }
            None
        } else {
            let settings = crate::endpoints::OwnSettings {
                cert_file: text("cert_file"),
                key_file: text("key_file"),
                cors_origins: (cfg.bool("cors.enabled") == Some(true)).then(|| {
                    cfg.field("cors.allowed_origins")
                        .and_then(|f| f.as_array())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|f| f.as_str())
                        .map(str::to_string)
                        .collect()
                }),
            };
            if ctx.offline {
                // compile --check: the address must be one a listener can take; nothing binds.
                if std::net::ToSocketAddrs::to_socket_addrs(address).is_err() {
                    return Err(ComponentError::new(format!(
                        "address '{}' is not a host:port a listener can bind",
                        address
                    )));
                }
                None
            } else {
                Some(
                    ctx.endpoints
                        .own_server(address, &ctx.stream, settings)
                        .map_err(ComponentError::new)?,
                )
            }
        };
        Ok(Server {
            endpoints: own
                .as_ref()
                .map(|o| o.endpoints().clone())
                .unwrap_or_else(|| ctx.endpoints.clone()),
            owners: Mutex::new(Vec::new()),
            _own: own,
        })
    }

    fn register(&self, route: String, description: &str, handler: Handler) {
        let owner = self.endpoints.register(&route, description, handler);
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((route, owner));
    }

    /// The handler that now serves `route` when this component no longer owns it (its
    /// successor after a swap).
    fn successor(&self, route: &str) -> Option<Handler> {
        let owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        let (_, mine) = owners.iter().find(|(r, _)| r == route)?;
        if self.endpoints.owns(route, *mine) {
            None
        } else {
            self.endpoints.lookup(route)
        }
    }

    /// True when another component (a successor after a swap) now serves `route`.
    fn handed_over(&self, route: &str) -> bool {
        self.successor(route).is_some()
    }

    /// Disables the endpoints this component still owns (503 `message`); their handlers, and
    /// what they hold, are dropped.
    fn close(&self, message: &'static str) {
        for (route, owner) in self.owners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            self.endpoints.disable(route, *owner, message);
        }
    }
}

/// The route of `path` for this component: namespaced on the shared server, as written on its
/// own server.
fn route_for(address: &str, path: &str, ctx: &BuildContext) -> String {
    if address.is_empty() {
        ctx.route(path)
    } else {
        crate::endpoints::namespaced(None, path)
    }
}

fn timeout_field(cfg: &ComponentConfig) -> Result<Duration, ComponentError> {
    duration::parse(cfg.str("timeout").unwrap_or("5s"))
        .map_err(|e| ComponentError::new(format!("timeout: {}", e)))
}

fn verbs(cfg: &ComponentConfig, default: &str) -> Result<HashSet<String>, ComponentError> {
    let v: HashSet<String> = match cfg.field("allowed_verbs").and_then(|f| f.as_array()) {
        Some(items) => items
            .iter()
            .filter_map(|f| f.as_str())
            .map(|s| s.to_ascii_uppercase())
            .collect(),
        None => [default.to_string()].into_iter().collect(),
    };
    if v.is_empty() {
        return Err(ComponentError::new(
            "must specify at least one allowed verb",
        ));
    }
    Ok(v)
}

// ------------------------------------------------------------------------------------ input

/// How synchronous responses are rendered.
struct SyncResponse {
    status: Interpolation,
    headers: Vec<(String, Interpolation)>,
}

/// Bound on requests in flight per input (the stop takes every permit to wait for them).
const MAX_IN_FLIGHT: u32 = 1 << 20;

/// The `http_server` input.
pub struct HttpServerInput {
    shared: Arc<InputShared>,
}

/// What the input's request handler shares with the input task.
struct InputShared {
    server: Server,
    /// The rate limit resource to take an access from per request (looked up per request, so
    /// a replaced resource applies at once).
    rate_limit: Option<(String, crate::components::rate_limit::RateLimits)>,
    route: String,
    /// The websocket route (`ws_path`).
    ws_route: String,
    ws_welcome: String,
    verbs: HashSet<String>,
    timeout: Duration,
    sync: SyncResponse,
    /// One permit per request in flight; the stop waits for all of them.
    in_flight: Arc<tokio::sync::Semaphore>,
    closing: AtomicBool,
}

impl HttpServerInput {
    /// Builds the input (binds its own address if it has one).
    pub fn new(
        cfg: &ComponentConfig,
        ctx: &BuildContext,
    ) -> Result<HttpServerInput, ComponentError> {
        let address = cfg.str("address").unwrap_or("");
        let path = cfg.str("path").unwrap_or("/post");
        let status = Interpolation::compile(cfg.str("sync_response.status").unwrap_or("200"))
            .map_err(|e| ComponentError::new(format!("sync_response.status: {}", e)))?;
        let mut headers = Vec::new();
        if let Some(entries) = cfg
            .field("sync_response.headers")
            .and_then(|f| f.as_object())
        {
            for (k, v) in entries {
                let i = Interpolation::compile(v.as_str().unwrap_or("")).map_err(|e| {
                    ComponentError::new(format!("sync_response.headers.{}: {}", k, e))
                })?;
                headers.push((k.clone(), i));
            }
        }
        let ws_path = cfg.str("ws_path").unwrap_or("/post/ws");
        let rate_limit = match cfg.str("rate_limit").unwrap_or("") {
            "" => None,
            name => {
                if !ctx.offline && ctx.rate_limits.get(name).is_none() {
                    return Err(ComponentError::new(format!(
                        "rate limit resource '{}' was not found",
                        name
                    )));
                }
                Some((name.to_string(), ctx.rate_limits.clone()))
            }
        };
        Ok(HttpServerInput {
            shared: Arc::new(InputShared {
                rate_limit,
                route: route_for(address, path, ctx),
                ws_route: route_for(address, ws_path, ctx),
                ws_welcome: cfg.str("ws_welcome_message").unwrap_or("").to_string(),
                server: Server::new(cfg, ctx)?,
                verbs: verbs(cfg, "POST")?,
                timeout: timeout_field(cfg)?,
                sync: SyncResponse { status, headers },
                in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT as usize)),
                closing: AtomicBool::new(false),
            }),
        })
    }
}

#[async_trait]
impl Input for HttpServerInput {
    fn attach(&mut self, input_sink: &InputSink) {
        let shared = self.shared.clone();
        let sink = input_sink.clone();
        let handler: Handler = Arc::new(move |req| {
            let shared = shared.clone();
            let sink = sink.clone();
            Box::pin(async move {
                // Taken before the closing check: the stop waits for every request that
                // passed it, so those finish on this stream's graph.
                let permit = shared.in_flight.clone().try_acquire_owned();
                if shared.closing.load(Ordering::SeqCst) || permit.is_err() {
                    drop(permit);
                    // Replaced by a new stream: hand the request to it instead of refusing.
                    return match shared.server.successor(&shared.route) {
                        Some(next) => next(req).await,
                        None => text_response(StatusCode::SERVICE_UNAVAILABLE, "Server closing"),
                    };
                }
                let _permit = permit;
                shared.handle(req, &sink).await
            }) as BoxFuture<'static, Response<Body>>
        });
        self.shared.server.register(
            self.shared.route.clone(),
            "Post a message into the stream.",
            handler,
        );
        let shared = self.shared.clone();
        let sink = input_sink.clone();
        let ws: Handler = Arc::new(move |req| {
            let shared = shared.clone();
            let sink = sink.clone();
            Box::pin(async move {
                if shared.closing.load(Ordering::SeqCst) {
                    return text_response(StatusCode::SERVICE_UNAVAILABLE, "Server closing");
                }
                let (mut parts, _) = req.into_parts();
                let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                    Ok(u) => u,
                    Err(e) => return e.into_response(),
                };
                upgrade
                    .on_upgrade(move |socket| async move { shared.websocket(socket, sink).await })
            }) as BoxFuture<'static, Response<Body>>
        });
        self.shared.server.register(
            self.shared.ws_route.clone(),
            "Post messages into the stream over a websocket.",
            ws,
        );
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        sink.stopped().await;
        let shared = &self.shared;
        shared.closing.store(true, Ordering::SeqCst);
        shared.server.close("Server closing");
        // Wait for the requests in flight to be resolved.
        let _ = shared.in_flight.acquire_many(MAX_IN_FLIGHT).await;
        Ok(())
    }
}

impl Drop for HttpServerInput {
    /// However the input ends (also aborted by a forced stop before it ever ran), its routes
    /// are disabled: their handlers hold the input, and an own server's registry holds the
    /// handlers, so this is what lets the listener go.
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.server.close("Server closing");
    }
}

impl InputShared {
    /// A websocket session: each frame is a one-message batch; a nacked frame is retried with
    /// backoff; stored synchronous responses are written back as text frames.
    async fn websocket(self: Arc<Self>, mut socket: WebSocket, sink: InputSink) {
        if !self.ws_welcome.is_empty()
            && socket
                .send(WsMessage::Text(self.ws_welcome.clone().into()))
                .await
                .is_err()
        {
            return;
        }
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return;
        };
        loop {
            let frame = tokio::select! {
                f = socket.recv() => f,
                _ = sink.stopped() => break,
            };
            let payload = match frame {
                Some(Ok(WsMessage::Text(t))) => Bytes::from(t.as_str().to_owned()),
                Some(Ok(WsMessage::Binary(b))) => b,
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            };
            let msg = Message {
                payload,
                metadata: Default::default(),
                error: None,
            };
            let mut backoff = Duration::from_millis(100);
            loop {
                let store: ResponseStore = Arc::default();
                let (t, ack) = Transaction::new(vec![msg.clone()]);
                if sink
                    .send_draining(t.with_responses(store.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
                match ack.wait().await {
                    Ok(()) => {
                        let stored =
                            std::mem::take(&mut *store.lock().unwrap_or_else(|p| p.into_inner()));
                        for m in stored {
                            let text = String::from_utf8_lossy(&m.payload).into_owned();
                            if socket.send(WsMessage::Text(text.into())).await.is_err() {
                                return;
                            }
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "websocket message rejected, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    async fn handle(&self, req: Request<Body>, sink: &InputSink) -> Response<Body> {
        if !self.verbs.contains(req.method().as_str()) {
            return text_response(StatusCode::METHOD_NOT_ALLOWED, "Incorrect method");
        }
        if let Some((name, limits)) = &self.rate_limit {
            match limits.get(name).map(|l| l.access()) {
                None => return text_response(StatusCode::BAD_GATEWAY, "Server error"),
                Some(Some(wait)) => {
                    let mut r = text_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                        r.headers_mut().insert("Retry-After", v);
                    }
                    return r;
                }
                Some(None) => {}
            }
        }
        let batch = match request_batch(req).await {
            Ok(b) => b,
            Err(()) => return text_response(StatusCode::BAD_REQUEST, "Bad request"),
        };
        let store: ResponseStore = Arc::default();
        let (t, ack) = Transaction::new(batch);
        let t = t.with_responses(store.clone());
        match tokio::time::timeout(self.timeout, sink.send_draining(t)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return text_response(StatusCode::SERVICE_UNAVAILABLE, "Server closing"),
            Err(_) => return text_response(StatusCode::REQUEST_TIMEOUT, "Request timed out"),
        }
        match tokio::time::timeout(self.timeout, ack.wait()).await {
            Err(_) => text_response(StatusCode::REQUEST_TIMEOUT, "Request timed out"),
            Ok(Err(Nack(e))) => text_response(StatusCode::BAD_GATEWAY, &e),
            Ok(Ok(())) => {
                let stored = std::mem::take(&mut *store.lock().unwrap_or_else(|p| p.into_inner()));
                self.sync_response(stored)
            }
        }
    }

    fn sync_response(&self, stored: Vec<Message>) -> Response<Body> {
        let Some(first) = stored.first() else {
            return Response::new(Body::empty());
        };
        let status = match self
            .sync
            .status
            .render(first)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
        {
            Some(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
            None => {
                return Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(Body::empty())
                    .unwrap_or_default()
            }
        };
        let mut b = Response::builder().status(status);
        for (k, v) in &self.sync.headers {
            if let (Ok(name), Ok(value)) = (k.parse::<HeaderName>(), v.render(first)) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    b = b.header(name, value);
                }
            }
        }
        if stored.len() == 1 {
            return b
                .body(Body::from(first.payload.clone()))
                .unwrap_or_default();
        }
        let (ctype, body) = multipart_body(&stored);
        b.header("Content-Type", ctype)
            .body(Body::from(body))
            .unwrap_or_default()
    }
}

/// Turns a request into a batch: one message, or one per part of a multipart body, with the
/// request's metadata.
async fn request_batch(req: Request<Body>) -> Result<Batch, ()> {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let mut meta = sluice_compiler::value::Object::new();
    let (parts, body) = req.into_parts();
    let str_meta = |m: &mut sluice_compiler::value::Object, k: &str, v: &str| {
        m.insert(k.to_string(), Value::Str(v.to_string()));
    };
    for (k, v) in parts.headers.iter() {
        if let Ok(v) = v.to_str() {
            if !meta.contains_key(k.as_str()) {
                // Header names as Go canonicalises them (`Content-Type`).
                str_meta(&mut meta, &canonical_header(k.as_str()), v);
            }
        }
    }
    if let Some(q) = parts.uri.query() {
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k);
            if !meta.contains_key(&k) {
                let v = percent_decode(v);
                str_meta(&mut meta, &k, &v);
            }
        }
    }
    if let Some(ua) = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
    {
        str_meta(&mut meta, "http_server_user_agent", ua);
    }
    str_meta(&mut meta, "http_server_request_path", parts.uri.path());
    str_meta(&mut meta, "http_server_verb", parts.method.as_str());
    if let Some(ip) = remote {
        str_meta(&mut meta, "http_server_remote_ip", &ip);
    }
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .map_err(|_| ())?;
    if content_type.starts_with("multipart/") {
        let boundary = multer::parse_boundary(&content_type).map_err(|_| ())?;
        let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let mut batch = Vec::new();
        while let Some(field) = mp.next_field().await.map_err(|_| ())? {
            let data = field.bytes().await.map_err(|_| ())?;
            batch.push(Message {
                payload: data,
                metadata: meta.clone(),
                error: None,
            });
        }
        return Ok(batch);
    }
    Ok(vec![Message {
        payload: body,
        metadata: meta,
        error: None,
    }])
}

fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `multipart/form-data` body with one `application/octet-stream` part per message.
fn multipart_body(batch: &[Message]) -> (String, Vec<u8>) {
    let boundary = format!("sluice{:016x}", rand_u64());
    let mut body = Vec::new();
    for m in batch {
        body.extend_from_slice(
            format!(
                "--{}\r\nContent-Type: application/octet-stream\r\n\r\n",
                boundary
            )
            .as_bytes(),
        );
        body.extend_from_slice(&m.payload);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{}--\r\n", boundary).as_bytes());
    (format!("multipart/form-data; boundary={}", boundary), body)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

// ------------------------------------------------------------------------------------ output

/// A batch handed to a waiting client, and the channel to report the write result on.
type Delivery = (Batch, oneshot::Sender<Result<(), Nack>>);

/// The queue of batches waiting for readers of one route. It belongs to the route, not to the
/// output: when a stream is replaced, batches its old graph still holds are handed to the
/// successor's readers instead of holding the stop.
struct Mailbox {
    tx: mpsc::UnboundedSender<Delivery>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Delivery>>,
}

impl Mailbox {
    fn new() -> Mailbox {
        let (tx, rx) = mpsc::unbounded_channel();
        Mailbox {
            tx,
            rx: tokio::sync::Mutex::new(rx),
        }
    }

    /// The next batch whose writer still waits for it (abandoned ones are skipped).
    async fn next(&self) -> Option<Delivery> {
        let mut rx = self.rx.lock().await;
        loop {
            let d = rx.recv().await?;
            if !d.1.is_closed() {
                return Some(d);
            }
        }
    }
}

/// What every endpoint of the output checks first: the verb (405 `Incorrect method`) and
/// whether the output closed (503 `Server closed`).
struct OutputGuard {
    mailbox: Arc<Mailbox>,
    verbs: Arc<HashSet<String>>,
    closed: Arc<AtomicBool>,
}

impl OutputGuard {
    /// A handler that runs the checks (the verb check only when `check_verb`), then `serve`.
    fn handler<F, Fut>(&self, check_verb: bool, serve: F) -> Handler
    where
        F: Fn(Request<Body>, Arc<Mailbox>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
    {
        let (mailbox, verbs, closed) = (
            self.mailbox.clone(),
            self.verbs.clone(),
            self.closed.clone(),
        );
        let serve = Arc::new(serve);
        Arc::new(move |req| {
            if check_verb && !verbs.contains(req.method().as_str()) {
                return Box::pin(async {
                    text_response(StatusCode::METHOD_NOT_ALLOWED, "Incorrect method")
                });
            }
            if closed.load(Ordering::SeqCst) {
                return Box::pin(async {
                    text_response(StatusCode::SERVICE_UNAVAILABLE, "Server closed")
                });
            }
            Box::pin(serve(req, mailbox.clone()))
        })
    }
}

/// The `http_server` output.
pub struct HttpServerOutput {
    server: Server,
    mailbox: Arc<Mailbox>,
    closed: Arc<AtomicBool>,
    closing: Arc<Notify>,
    closing_flag: AtomicBool,
    /// The route of `path`, to tell a swap from a delete.
    get_route: String,
    /// Routes registered when the stream starts.
    routes: Mutex<Vec<(String, &'static str, Handler)>>,
}

impl HttpServerOutput {
    /// Builds the output; its endpoints are registered when the stream starts.
    pub fn new(
        cfg: &ComponentConfig,
        ctx: &BuildContext,
    ) -> Result<HttpServerOutput, ComponentError> {
        let address = cfg.str("address").unwrap_or("");
        let server = Server::new(cfg, ctx)?;
        let timeout = timeout_field(cfg)?;
        let verbs = Arc::new(verbs(cfg, "GET")?);
        let path = cfg.str("path").unwrap_or("/get");
        let stream_path = cfg.str("stream_path").unwrap_or("/get/stream");
        let get_route = route_for(address, path, ctx);
        let mailbox = server.endpoints.route_state(&get_route, Mailbox::new);
        let closed = Arc::new(AtomicBool::new(false));

        let guard = OutputGuard {
            mailbox: mailbox.clone(),
            verbs,
            closed: closed.clone(),
        };
        let get = guard.handler(true, move |_req, mailbox| async move {
            match tokio::time::timeout(timeout, mailbox.next()).await {
                Err(_) => {
                    text_response(StatusCode::REQUEST_TIMEOUT, "Timed out waiting for message")
                }
                Ok(None) => text_response(StatusCode::SERVICE_UNAVAILABLE, "Server closed"),
                Ok(Some((batch, done))) => {
                    let _ = done.send(Ok(()));
                    let (ctype, body) = if batch.len() == 1 {
                        (
                            "application/octet-stream".to_string(),
                            batch[0].payload.to_vec(),
                        )
                    } else {
                        multipart_body(&batch)
                    };
                    Response::builder()
                        .header("Content-Type", ctype)
                        .body(Body::from(body))
                        .unwrap_or_default()
                }
            }
        });
        let stream = guard.handler(true, |_req, mailbox| async move {
            let body = futures::stream::unfold(mailbox, |mailbox| async move {
                let (batch, done) = mailbox.next().await?;
                let mut chunk = Vec::new();
                if batch.len() == 1 {
                    chunk.extend_from_slice(&batch[0].payload);
                } else {
                    for m in &batch {
                        chunk.extend_from_slice(&m.payload);
                        chunk.push(b'\n');
                    }
                }
                chunk.push(b'\n');
                let _ = done.send(Ok(()));
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), mailbox))
            });
            Response::builder()
                .body(Body::from_stream(body))
                .unwrap_or_default()
        });
        let ws = guard.handler(false, |req, mailbox| async move {
            let (mut parts, _) = req.into_parts();
            let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(u) => u,
                Err(e) => return e.into_response(),
            };
            upgrade.on_upgrade(move |mut socket| async move {
                // Each message of each batch is a binary frame; a failed write nacks.
                while let Some((batch, done)) = mailbox.next().await {
                    let mut result = Ok(());
                    for m in &batch {
                        if socket
                            .send(WsMessage::Binary(m.payload.clone()))
                            .await
                            .is_err()
                        {
                            result = Err(Nack("websocket client went away".into()));
                            break;
                        }
                    }
                    let failed = result.is_err();
                    let _ = done.send(result);
                    if failed {
                        return;
                    }
                }
            })
        });
        let ws_path = cfg.str("ws_path").unwrap_or("/get/ws");
        let routes = vec![
            (
                route_for(address, ws_path, ctx),
                "Read messages from the stream over a websocket.",
                ws,
            ),
            (
                get_route.clone(),
                "Read a single message from the stream.",
                get,
            ),
            (
                route_for(address, stream_path, ctx),
                "Read a continuous stream of messages.",
                stream,
            ),
        ];
        Ok(HttpServerOutput {
            server,
            mailbox,
            closed,
            closing: Arc::new(Notify::new()),
            closing_flag: AtomicBool::new(false),
            get_route,
            routes: Mutex::new(routes),
        })
    }
}

#[async_trait]
impl Output for HttpServerOutput {
    fn attach(&self) {
        for (route, description, handler) in self
            .routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            self.server.register(route, description, handler);
        }
    }

    async fn write(&self, batch: Batch, _responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let (done, mut wait) = oneshot::channel();
        self.mailbox
            .tx
            .send((batch, done))
            .map_err(|_| Nack("output closed".into()))?;
        loop {
            // Register for the notification before checking the flag, so none is missed.
            let notified = self.closing.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closing_flag.load(Ordering::SeqCst) {
                break;
            }
            tokio::select! {
                r = &mut wait => return r.unwrap_or_else(|_| Err(Nack("client went away before reading".into()))),
                _ = notified => {}
            }
        }
        if self.server.handed_over(&self.get_route) {
            // The successor's readers will take it; the write is done once one does.
            tokio::spawn(async move {
                let _ = wait.await;
            });
            Ok(())
        } else {
            Err(Nack(
                "output closed before a client read the message".into(),
            ))
        }
    }

    fn closing(&self) {
        self.closing_flag.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.server.close("Server closed");
    }
}

// ------------------------------------------------------------------------------------ specs

/// `http_server`: receives messages POSTed to an endpoint of the service (or its own) server.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "http_server",
        ComponentKind::Input,
        "Receive messages POSTed over HTTP(S). HTTP 2.0 is supported when using TLS, which is enabled when key and cert files are specified.",
        vec![
            F::string("address", "An alternative address to host from. If left empty the service wide address is used.")
                .default(""),
            F::string("path", "The endpoint path to listen for POST requests.").default("/post"),
            F::string("ws_path", "The endpoint path to create websocket connections from.").default("/post/ws"),
            F::string("ws_welcome_message", "An optional message to deliver to fresh websocket connections.")
                .default("")
                .advanced(),
            F::string("ws_rate_limit_message", "An optional message to delivery to websocket connections that are rate limited.")
                .default("")
                .advanced(),
            F::string("allowed_verbs", "An array of verbs that are allowed for the `path` endpoint.")
                .array()
                .default(json!(["POST"])),
            F::duration("timeout", "Timeout for requests. If a consumed messages takes longer than this to be delivered the connection is closed, but the message may still be delivered.")
                .default("5s"),
            F::string("rate_limit", "An optional rate limit to throttle requests by.").default(""),
            F::string("cert_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            F::string("key_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            shared::cors(),
            F::object(
                "sync_response",
                "Customise messages returned via synchronous responses.",
                vec![
                    F::string("status", "Specify the status code to return with synchronous responses.")
                        .default("200")
                        .interpolated(),
                    F::string("headers", "Specify headers to return with synchronous responses.")
                        .map()
                        .interpolated()
                        .default(json!({"Content-Type": "application/octet-stream"})),
                    shared::metadata_filter("metadata_headers", "Specify criteria for which metadata values are added to the response as headers."),
                ],
            )
            .advanced(),
            F::object(
                "tcp",
                "Customise the TCP listener of a custom `address`.",
                vec![
                    F::bool("reuse_addr", "Enable SO_REUSEADDR.").default(false),
                    F::bool("reuse_port", "Enable SO_REUSEPORT.").default(false),
                ],
            )
            .optional()
            .advanced(),
        ],
    )
}

/// `http_server`: serves messages to clients that GET (or stream from) an endpoint.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "http_server",
        ComponentKind::Output,
        "Sets up an HTTP server that will send messages over HTTP(S) GET requests.",
        vec![
            F::string("address", "An alternative address to host from. If left empty the service wide address is used.")
                .default(""),
            F::string("path", "The path from which discrete messages can be consumed.").default("/get"),
            F::string("stream_path", "The path from which a continuous stream of messages can be consumed.")
                .default("/get/stream"),
            F::string("ws_path", "The path from which websocket connections can be established.").default("/get/ws"),
            F::string("allowed_verbs", "An array of verbs that are allowed for the `path` and `stream_path` HTTP endpoint.")
                .array()
                .default(json!(["GET"])),
            F::duration("timeout", "The maximum time to wait before a blocking, inactive connection is dropped (only applies to the `path` endpoint).")
                .default("5s")
                .advanced(),
            F::string("cert_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            F::string("key_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            shared::cors(),
        ],
    )
}
