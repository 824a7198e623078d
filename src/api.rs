//! The service-wide HTTP server: the streams REST API (`/streams`, `/streams/{id}`,
//! `/streams/{id}/stats`), the service endpoints (`/ready`, `/ping`, `/version`,
//! `/endpoints`, `/metrics`, `/stats`), and every stream's own endpoints (`/{id}/post`,
//! `/{id}/get`, `/{id}/ready`, ...) resolved through the endpoint registry at request time.
//!
//! Status codes and bodies follow the reference (`Error: ...` text errors, the
//! `{"lint_errors":[...]}` body, `Stream not found`), with sluice's contract on top: stream
//! ids are validated, config bodies over 4 MiB get 413, and changes validate before they
//! swap.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Method, Request, Response, StatusCode};
use axum::routing::any;
use axum::Router;
use sluice_runtime::endpoints::{text_response, EndpointRegistry};
use sluice_runtime::manager::{ManagerError, StreamStatus, StreamsManager};
use sluice_runtime::stream::StopError;

/// Config bodies larger than this get 413.
pub const MAX_CONFIG_BODY: usize = 4 * 1024 * 1024;

/// A config body, at most [`MAX_CONFIG_BODY`] bytes. A larger body is read to the end (up to
/// a hard bound) before the 413 is sent, so the client, still sending, reliably gets the
/// answer instead of a reset connection.
pub struct ConfigBody(pub Bytes);

/// Past this, an oversized body is not drained any further.
const MAX_DRAIN: usize = 64 * 1024 * 1024;

impl<S: Send + Sync> axum::extract::FromRequest<S> for ConfigBody {
    type Rejection = Response<Body>;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<ConfigBody, Response<Body>> {
        use http_body_util::BodyExt;
        let mut body = req.into_body();
        let mut buf = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| error_text(StatusCode::BAD_REQUEST, e))?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= MAX_CONFIG_BODY {
                    buf.extend_from_slice(&data);
                } else if seen > MAX_DRAIN {
                    break;
                }
            }
        }
        if seen > MAX_CONFIG_BODY {
            return Err(text_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "Error: config body is {} bytes or more, the limit is {}",
                    seen, MAX_CONFIG_BODY
                ),
            ));
        }
        Ok(ConfigBody(Bytes::from(buf)))
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The streams.
    pub manager: Arc<StreamsManager>,
    /// Stream endpoints.
    pub endpoints: EndpointRegistry,
}

/// Builds the router: the API routes (unless `no_api`), the service routes, and the fallback
/// that serves stream endpoints.
pub fn router(state: ApiState, no_api: bool) -> Router {
    let mut r = Router::new()
        .route("/ready", any(ready))
        .route("/ping", any(|| async { "pong" }))
        .route("/version", any(version))
        .route("/endpoints", any(endpoints))
        .route("/metrics", any(metrics))
        .route("/stats", any(metrics));
    if !no_api {
        r = r
            .route("/streams", any(streams_root))
            .route("/streams/{id}", any(stream_one))
            .route("/streams/{id}/stats", any(stream_stats))
            .route("/resources/{kind}/{id}", any(resource));
    }
    r.fallback(stream_endpoint).with_state(state)
}

/// JSON as Go's encoder writes it: `<`, `>`, `&` escaped inside strings.
fn go_json(v: &serde_json::Value) -> String {
    escape_html(&v.to_string())
}

fn escape_html(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn json(code: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn ok_empty() -> Response<Body> {
    Response::new(Body::empty())
}

fn error_text(code: StatusCode, msg: impl std::fmt::Display) -> Response<Body> {
    text_response(code, &format!("Error: {}", msg))
}

/// Maps a manager error to the reference's response.
fn manager_error(e: ManagerError) -> Response<Body> {
    match e {
        ManagerError::NotFound => text_response(StatusCode::NOT_FOUND, "Stream not found"),
        ManagerError::AlreadyExists => {
            text_response(StatusCode::BAD_REQUEST, "Stream already exists")
        }
        ManagerError::InvalidId => error_text(StatusCode::BAD_REQUEST, "invalid stream id"),
        ManagerError::Lints(l) => json(
            StatusCode::BAD_REQUEST,
            go_json(&serde_json::json!({ "lint_errors": l })),
        ),
        ManagerError::BadRequest(m) => error_text(StatusCode::BAD_REQUEST, m),
        e @ (ManagerError::Build(_) | ManagerError::Closed) => {
            tracing::error!("Streams CRUD Error: {}", e);
            error_text(StatusCode::BAD_GATEWAY, e)
        }
    }
}

/// A successful change, mentioning a forced stop of the old stream when there was one.
fn changed(stop: Option<StopError>) -> Response<Body> {
    match stop {
        None => ok_empty(),
        Some(e) => Response::new(Body::from(format!("Warning: {}\n", e))),
    }
}

fn status_json(s: &StreamStatus) -> String {
    format!(
        "\"active\":{},\"uptime\":{},\"uptime_str\":{}",
        s.active,
        serde_json::Value::from(s.uptime.as_secs_f64()),
        serde_json::Value::from(sluice_runtime::duration::format(s.uptime))
    )
}

async fn ready(State(st): State<ApiState>) -> Response<Body> {
    let not_ready = st.manager.not_ready().await;
    if not_ready.is_empty() {
        Response::new(Body::from("OK"))
    } else {
        text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("streams {} are not connected", not_ready.join(", ")),
        )
    }
}

async fn version() -> Response<Body> {
    Response::new(Body::from(format!(
        "{{\"version\":\"{}\", \"built\":\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        option_env!("SLUICE_BUILD_DATE").unwrap_or("unknown")
    )))
}

async fn endpoints(State(st): State<ApiState>) -> Response<Body> {
    let mut all: BTreeMap<String, String> = st.endpoints.paths();
    for (p, d) in [
        ("/ready", "Returns 200 OK if all streams are connected."),
        ("/ping", "Ping me."),
        ("/version", "Returns the service version."),
        ("/endpoints", "Returns this map of endpoints."),
        ("/metrics", "Metrics in the Prometheus text format."),
        ("/stats", "Metrics in the Prometheus text format."),
        (
            "/streams",
            "GET: list all streams with their status. POST: set the whole set of streams.",
        ),
        (
            "/streams/{id}",
            "Create, read, update, patch or delete a stream.",
        ),
        ("/streams/{id}/stats", "The metrics of a stream."),
    ] {
        all.insert(p.to_string(), d.to_string());
    }
    Response::new(Body::from(go_json(
        &serde_json::to_value(all).unwrap_or_default(),
    )))
}

async fn metrics(State(st): State<ApiState>) -> Response<Body> {
    let mut text = st.manager.prometheus().await;
    text.push_str(&process_metrics(st.manager.runtime()));
    Response::builder()
        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .body(Body::from(text))
        .unwrap_or_default()
}

/// Process-level gauges: live tokio tasks of both runtimes (the API's and the streams') and
/// resident memory (for leak checks).
fn process_metrics(data: &tokio::runtime::Handle) -> String {
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
        + data.metrics().num_alive_tasks();
    let mut out = format!(
        "# TYPE sluice_tokio_alive_tasks gauge\nsluice_tokio_alive_tasks {}\n\
         # TYPE sluice_jit_fallbacks_total counter\nsluice_jit_fallbacks_total {}\n",
        tasks,
        sluice_compiler::jit::fallback_count()
    );
    if let Some(rss) = resident_memory_bytes() {
        out.push_str(&format!(
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n",
            rss
        ));
    }
    out
}

/// Resident set size from `/proc/self/statm` (Linux).
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Query parameters of the streams API.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StreamQuery {
    chilled: Option<String>,
    timeout: Option<String>,
}

impl StreamQuery {
    fn chilled(&self) -> bool {
        self.chilled.as_deref() == Some("true")
    }

    /// The stop bound: unparseable values are ignored (the default bound applies).
    fn timeout(&self) -> Option<Duration> {
        self.timeout
            .as_deref()
            .and_then(|t| sluice_runtime::duration::parse(t).ok())
    }
}

async fn streams_root(
    State(st): State<ApiState>,
    method: Method,
    Query(q): Query<StreamQuery>,
    ConfigBody(body): ConfigBody,
) -> Response<Body> {
    match method {
        Method::GET => {
            let list = st.manager.list().await;
            let items: Vec<String> = list
                .iter()
                .map(|(id, s)| {
                    format!(
                        "{}:{{{}}}",
                        serde_json::Value::from(id.as_str()),
                        status_json(s)
                    )
                })
                .collect();
            json(
                StatusCode::OK,
                escape_html(&format!("{{{}}}", items.join(","))),
            )
        }
        Method::POST => {
            let m = st.manager.clone();
            let chilled = q.chilled();
            let parsed = match off_executor(move || m.parse_bulk(&body, chilled)).await {
                Ok(p) => p,
                Err(e) => return manager_error(e),
            };
            match st.manager.replace_all(parsed).await {
                Ok(()) => ok_empty(),
                Err(e) => manager_error(e),
            }
        }
        _ => error_text(StatusCode::BAD_REQUEST, "method not supported"),
    }
}

async fn stream_one(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    method: Method,
    Query(q): Query<StreamQuery>,
    ConfigBody(body): ConfigBody,
) -> Response<Body> {
    if !sluice_runtime::manager::valid_id(&id) {
        return manager_error(ManagerError::InvalidId);
    }
    let m = &st.manager;
    match method {
        Method::GET => match m.get(&id).await {
            Ok((status, config)) => json(
                StatusCode::OK,
                format!(
                    "{{{},\"config\":{}}}",
                    escape_html(&status_json(&status)),
                    go_json(&config)
                ),
            ),
            Err(e) => manager_error(e),
        },
        Method::POST => {
            let parsed = match parse_stream(m, body, q.chilled()).await {
                Ok(p) => p,
                Err(e) => return manager_error(e),
            };
            match m.create(&id, parsed).await {
                Ok(()) => ok_empty(),
                Err(e) => manager_error(e),
            }
        }
        Method::PUT => {
            let parsed = match parse_stream(m, body, q.chilled()).await {
                Ok(p) => p,
                Err(e) => return manager_error(e),
            };
            match m.update(&id, parsed, q.timeout()).await {
                Ok(stop) => changed(stop),
                Err(e) => manager_error(e),
            }
        }
        Method::PATCH => {
            let mut raw = match m.raw(&id).await {
                Ok(r) => r,
                Err(e) => return manager_error(e),
            };
            let patch: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) => match m.parse_value(&body) {
                    Ok(v) => v,
                    Err(e) => return manager_error(e),
                },
            };
            merge_patch(&mut raw, patch);
            // The merged config is linted and validated exactly as a PUT body would be.
            let text = Bytes::from(raw.to_string());
            let parsed = match parse_stream(m, text, q.chilled()).await {
                Ok(p) => p,
                Err(e) => return manager_error(e),
            };
            match m.update(&id, parsed, q.timeout()).await {
                Ok(stop) => changed(stop),
                Err(e) => manager_error(e),
            }
        }
        Method::DELETE => match m.delete(&id, q.timeout()).await {
            Ok(stop) => changed(stop),
            Err(e) => manager_error(e),
        },
        other => error_text(
            StatusCode::BAD_REQUEST,
            format!("verb not supported: {}", other),
        ),
    }
}

/// Runs config work (YAML parsing, lint, Bloblang compilation) on a blocking thread, so a
/// large or slow body never holds a thread that answers requests.
async fn off_executor<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ManagerError> + Send + 'static,
) -> Result<T, ManagerError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ManagerError::BadRequest(format!(
            "config check failed: {}",
            e
        )))
    })
}

/// Parses and lints a single-stream API body off the executor.
async fn parse_stream(
    m: &Arc<StreamsManager>,
    body: Bytes,
    chilled: bool,
) -> Result<sluice_runtime::manager::ParsedStream, ManagerError> {
    let m = m.clone();
    off_executor(move || m.parse(&body, false, chilled)).await
}

/// The reference's deep merge: objects merge key by key, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    // A non-object patch changes nothing.
    if let (serde_json::Value::Object(t), serde_json::Value::Object(p)) = (target, patch) {
        for (k, v) in p {
            match t.get_mut(&k) {
                Some(existing) if existing.is_object() && v.is_object() => merge_patch(existing, v),
                _ => {
                    t.insert(k, v);
                }
            }
        }
    }
}

async fn resource(
    State(st): State<ApiState>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    Query(q): Query<StreamQuery>,
    ConfigBody(body): ConfigBody,
) -> Response<Body> {
    if method != Method::POST {
        return error_text(
            StatusCode::BAD_REQUEST,
            format!("verb not supported: {}", method),
        );
    }
    match st
        .manager
        .set_resource(&kind, &id, &body, q.chilled())
        .await
    {
        Ok(()) => ok_empty(),
        // The type check has its own fixed wording, without the `Error: ` prefix.
        Err(ManagerError::BadRequest(m)) if m.starts_with("Var `type`") => {
            text_response(StatusCode::BAD_REQUEST, &m)
        }
        Err(e) => manager_error(e),
    }
}

async fn stream_stats(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    method: Method,
) -> Response<Body> {
    if method != Method::GET {
        return error_text(
            StatusCode::BAD_REQUEST,
            format!("verb not supported: {}", method),
        );
    }
    match st.manager.stats(&id).await {
        Ok(s) => json(StatusCode::OK, go_json(&serde_json::Value::Object(s))),
        Err(e) => manager_error(e),
    }
}

/// Serves a stream endpoint registered in the registry (the root path, `/benthos` by default,
/// is stripped before routing), or 404 as Go's mux does.
async fn stream_endpoint(State(st): State<ApiState>, req: Request<Body>) -> Response<Body> {
    let handler = st.endpoints.lookup(req.uri().path());
    match handler {
        Some(h) => h(req).await,
        None => text_response(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_merges_objects_and_replaces_the_rest() {
        let mut t =
            serde_json::json!({"input": {"generate": {"mapping": "a", "count": 1}}, "x": [1]});
        merge_patch(
            &mut t,
            serde_json::json!({"input": {"generate": {"count": 2}}, "x": [2, 3]}),
        );
        assert_eq!(
            t,
            serde_json::json!({"input": {"generate": {"mapping": "a", "count": 2}}, "x": [2, 3]})
        );
    }

    #[test]
    fn go_json_escapes_html_characters() {
        assert_eq!(
            go_json(&serde_json::json!({"m": "a < b && c > d"})),
            r#"{"m":"a \u003c b \u0026\u0026 c \u003e d"}"#
        );
    }
}
