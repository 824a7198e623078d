//! The registry of HTTP endpoints that streams' components serve on the shared server
//! (`/{id}/post`, `/{id}/get`, `/{id}/ready`, ...).
//!
//! Routes resolve by exact path at request time, so a component can register, replace or
//! disable its handler without touching the server's router: re-registering a path swaps the
//! handler atomically, which is what keeps endpoints answering through a stream swap.
//!
//! A component with its own `address` gets an [`OwnServer`]: a listener with a registry of its
//! own, shared by every component of the same stream on that address and by the stream's
//! successor after a PUT (so the port never closes during a swap), closed as soon as the last
//! component holding it is dropped (DELETE, or a config that failed to build).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use futures::future::BoxFuture;

/// A handler of requests to one path.
pub type Handler = Arc<dyn Fn(Request<Body>) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

#[derive(Clone)]
struct Entry {
    description: String,
    handler: Handler,
    /// Which registration owns the path (so that a stopping component only disables paths it
    /// still owns).
    owner: u64,
}

/// Shared map of path → handler.
#[derive(Clone, Default)]
pub struct EndpointRegistry {
    inner: Arc<RwLock<BTreeMap<String, Entry>>>,
    next_owner: Arc<std::sync::atomic::AtomicU64>,
    /// State that outlives the components serving a path (e.g. the queue of batches waiting
    /// for readers of an `http_server` output), so a swap hands it to the successor.
    route_state: Arc<std::sync::Mutex<BTreeMap<String, Arc<dyn std::any::Any + Send + Sync>>>>,
    /// Servers of components with their own address, by address.
    own_servers: Arc<std::sync::Mutex<HashMap<String, Weak<OwnServer>>>>,
}

impl std::fmt::Debug for EndpointRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRegistry")
            .field("paths", &self.paths())
            .finish()
    }
}

impl EndpointRegistry {
    /// A new, empty registry.
    pub fn new() -> EndpointRegistry {
        EndpointRegistry::default()
    }

    /// Registers (or replaces) the handler of `path`; returns a token identifying this
    /// registration.
    pub fn register(&self, path: &str, description: &str, handler: Handler) -> u64 {
        let owner = self
            .next_owner
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        m.insert(
            path.to_string(),
            Entry {
                description: description.to_string(),
                handler,
                owner,
            },
        );
        owner
    }

    /// Replaces the handler of `path` with one answering 503 `message`, if registration
    /// `owner` still owns it (as the reference does when a component closes).
    pub fn disable(&self, path: &str, owner: u64, message: &'static str) {
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(path) {
            if e.owner == owner {
                e.description = "Endpoint disabled.".into();
                e.handler = Arc::new(move |_req| {
                    Box::pin(async move { text_response(StatusCode::SERVICE_UNAVAILABLE, message) })
                });
            }
        }
    }

    /// The state kept for `path` across the components that serve it, created by `init` on
    /// first use. Differently typed state under one path replaces the old state.
    pub fn route_state<T: std::any::Any + Send + Sync>(
        &self,
        path: &str,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut m = self.route_state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = m.get(path).and_then(|s| s.clone().downcast::<T>().ok()) {
            return existing;
        }
        let state = Arc::new(init());
        m.insert(path.to_string(), state.clone());
        state
    }

    /// True when registration `owner` still owns `path`.
    pub fn owns(&self, path: &str, owner: u64) -> bool {
        let m = self.inner.read().unwrap_or_else(|p| p.into_inner());
        m.get(path).map(|e| e.owner == owner).unwrap_or(false)
    }

    /// The handler of `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<Handler> {
        let m = self.inner.read().unwrap_or_else(|p| p.into_inner());
        m.get(path).map(|e| e.handler.clone())
    }

    /// The server on `address` for stream `stream`: the one already listening there for the
    /// same stream (its other components, or its predecessor during a PUT), or a new one bound
    /// now. An address another stream listens on is an error.
    pub fn own_server(
        &self,
        address: &str,
        stream: &str,
        settings: OwnSettings,
    ) -> Result<Arc<OwnServer>, String> {
        let mut servers = self.own_servers.lock().unwrap_or_else(|p| p.into_inner());
        servers.retain(|_, s| s.strong_count() > 0);
        if let Some(existing) = servers.get(address).and_then(Weak::upgrade) {
            if existing.stream != stream {
                return Err(format!(
                    "failed to bind {}: the address is in use by stream {}",
                    address, existing.stream
                ));
            }
            if existing.settings != settings {
                return Err(format!(
                    "{} is listening with other TLS or CORS settings: a replace keeps the listener, so delete the stream and create it again to change them",
                    address
                ));
            }
            return Ok(existing);
        }
        let server = Arc::new(OwnServer::bind(address, stream, settings)?);
        servers.insert(address.to_string(), Arc::downgrade(&server));
        Ok(server)
    }

    /// Every registered path with its description.
    pub fn paths(&self) -> BTreeMap<String, String> {
        let m = self.inner.read().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|(k, v)| (k.clone(), v.description.clone()))
            .collect()
    }
}

/// A listener of its own for components with a custom `address`, serving the routes of its
/// own registry. It stops accepting (and releases the port) when the last holder drops it.
pub struct OwnServer {
    stream: String,
    settings: OwnSettings,
    endpoints: EndpointRegistry,
    stop: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for OwnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnServer")
            .field("stream", &self.stream)
            .finish()
    }
}

/// How a component's own server serves: TLS files and CORS origins (`None`: CORS off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnSettings {
    /// Certificate chain file (PEM); TLS when set with `key_file`.
    pub cert_file: String,
    /// Private key file (PEM).
    pub key_file: String,
    /// Allowed CORS origins, when CORS is enabled.
    pub cors_origins: Option<Vec<String>>,
}

impl OwnServer {
    /// Binds `address` now (a bind failure fails the component's construction, as in the
    /// reference) and starts serving on the current runtime.
    fn bind(address: &str, stream: &str, settings: OwnSettings) -> Result<OwnServer, String> {
        let mut options = crate::server::ServerOptions::default();
        match (settings.cert_file.as_str(), settings.key_file.as_str()) {
            ("", "") => {}
            ("", _) | (_, "") => {
                return Err("both cert_file and key_file must be specified, or neither".into())
            }
            (cert, key) => {
                options.tls = Some(crate::tls::server_config(cert, key).map_err(|e| e.to_string())?)
            }
        }
        let cors = match &settings.cors_origins {
            None => None,
            Some(origins) => Some(Arc::new(crate::server::cors::Cors::new(origins.clone())?)),
        };
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| format!("failed to bind {}: {}", address, e))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        let endpoints = EndpointRegistry::new();
        let routes = endpoints.clone();
        let mut app = axum::Router::new().fallback(move |req: Request<Body>| {
            let handler = routes.lookup(req.uri().path());
            async move {
                match handler {
                    Some(h) => h(req).await,
                    None => text_response(StatusCode::NOT_FOUND, "404 page not found"),
                }
            }
        });
        if let Some(cors) = cors {
            app = app.layer(axum::middleware::from_fn_with_state(
                cors,
                crate::server::cors::apply,
            ));
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let address = address.to_string();
        tokio::spawn(async move {
            crate::server::serve(listener, app, options, stopped.cancelled_owned()).await;
            tracing::debug!(address = %address, "own HTTP server closed");
        });
        Ok(OwnServer {
            stream: stream.to_string(),
            settings,
            endpoints,
            stop,
        })
    }

    /// The routes this server serves.
    pub fn endpoints(&self) -> &EndpointRegistry {
        &self.endpoints
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A plain-text response as Go's `http.Error` writes it (message plus newline).
pub fn text_response(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(format!("{}\n", message)))
        .expect("static response parts are valid")
}

/// Joins a stream id and a component path into the namespaced route (`/foo` + `/post` →
/// `/foo/post`), dropping a trailing slash as the reference's path cleaning does.
pub fn namespaced(stream: Option<&str>, path: &str) -> String {
    let mut out = String::from("/");
    if let Some(id) = stream {
        out.push_str(id.trim_matches('/'));
    }
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(seg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespacing_cleans_paths() {
        assert_eq!(namespaced(Some("foo"), "/post"), "/foo/post");
        assert_eq!(namespaced(Some("foo"), "/get/stream/"), "/foo/get/stream");
        assert_eq!(namespaced(None, "/post"), "/post");
    }
}
