//! The service-wide HTTP server's settings (the root config's `http` section) and what they
//! put around the API router: `root_path` (every route also answers under it), basic
//! authentication, CORS, TLS and connection timeouts.

pub mod basic_auth;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Uri};
use axum::Router;
use sluice_runtime::config::Field;
use sluice_runtime::server::{cors, ServerOptions};
use tower::ServiceExt;

/// The `http` section, validated.
#[derive(Debug)]
pub struct HttpSettings {
    /// Whether the server listens at all.
    pub enabled: bool,
    /// Where it listens.
    pub address: String,
    /// Prefix under which every route also answers (`/benthos`).
    pub root_path: String,
    /// Basic authentication, when enabled.
    pub basic_auth: Option<Arc<basic_auth::BasicAuth>>,
    /// CORS, when enabled.
    pub cors: Option<Arc<cors::Cors>>,
    /// TLS certificate and key files, when set.
    pub tls: Option<(String, String)>,
    /// Time allowed for a request's headers (and idle keep-alive time).
    pub header_timeout: Duration,
    /// Longest pause within a request body.
    pub body_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            enabled: true,
            address: "0.0.0.0:4195".into(),
            root_path: "/benthos".into(),
            basic_auth: None,
            cors: None,
            tls: None,
            header_timeout: sluice_runtime::server::DEFAULT_HEADER_TIMEOUT,
            body_timeout: sluice_runtime::server::DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl HttpSettings {
    /// Reads the decoded (defaults-filled) `http` section; errors name the field at fault.
    pub fn from_field(http: &Field) -> Result<HttpSettings, String> {
        let text = |path: &str| {
            http.path(path)
                .and_then(Field::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let flag = |path: &str| http.path(path).and_then(Field::as_bool).unwrap_or(false);
        let duration = |path: &str, default: Duration| -> Result<Duration, String> {
            match http.path(path).and_then(Field::as_str) {
                None | Some("") => Ok(default),
                Some(t) => {
                    sluice_runtime::duration::parse(t).map_err(|e| format!("http.{}: {}", path, e))
                }
            }
        };
        let mut s = HttpSettings {
            enabled: http.get("enabled").and_then(Field::as_bool).unwrap_or(true),
            address: text("address"),
            root_path: text("root_path"),
            header_timeout: duration(
                "read_header_timeout",
                sluice_runtime::server::DEFAULT_HEADER_TIMEOUT,
            )?,
            body_timeout: duration(
                "read_body_timeout",
                sluice_runtime::server::DEFAULT_BODY_TIMEOUT,
            )?,
            ..HttpSettings::default()
        };
        if flag("cors.enabled") {
            let origins = http
                .path("cors.allowed_origins")
                .and_then(Field::as_array)
                .unwrap_or_default()
                .iter()
                .filter_map(Field::as_str)
                .map(str::to_string)
                .collect();
            s.cors = Some(Arc::new(
                cors::Cors::new(origins).map_err(|e| format!("http.cors: {}", e))?,
            ));
        }
        match (text("cert_file"), text("key_file")) {
            (c, k) if c.is_empty() && k.is_empty() => {}
            (c, k) if c.is_empty() || k.is_empty() => {
                return Err(
                    "http: both cert_file and key_file must be specified, or neither".into(),
                )
            }
            (c, k) => s.tls = Some((c, k)),
        }
        if flag("basic_auth.enabled") {
            s.basic_auth = Some(Arc::new(
                basic_auth::BasicAuth::new(
                    &text("basic_auth.realm"),
                    &text("basic_auth.username"),
                    &text("basic_auth.password_hash"),
                    &text("basic_auth.algorithm"),
                    &text("basic_auth.salt"),
                )
                .map_err(|e| format!("http.basic_auth: {}", e))?,
            ));
        }
        Ok(s)
    }

    /// The server options these settings give (loads the TLS certificate and key).
    pub fn server_options(&self) -> Result<ServerOptions, String> {
        let tls = match &self.tls {
            None => None,
            Some((cert, key)) => Some(
                sluice_runtime::tls::server_config(cert, key)
                    .map_err(|e| format!("http: {}", e))?,
            ),
        };
        Ok(ServerOptions {
            tls,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            ..ServerOptions::default()
        })
    }

    /// Puts `root_path`, basic authentication and CORS around `router` (CORS outermost, so
    /// preflights never need credentials). A path `registered` answers as it is (a stream
    /// named like the root path keeps its routes); any other loses the root path in front.
    pub fn wrap(
        &self,
        router: Router,
        registered: impl Fn(&str) -> bool + Clone + Send + Sync + 'static,
    ) -> Router {
        let root = self.root_path.trim_end_matches('/').to_string();
        let inner = router;
        let mut app =
            Router::new().fallback_service(tower::service_fn(move |req: Request<Body>| {
                let path = req.uri().path();
                let req = if root.is_empty() || !path.starts_with(root.as_str()) || registered(path)
                {
                    req
                } else {
                    strip_root(req, &root)
                };
                inner.clone().oneshot(req)
            }));
        if let Some(auth) = &self.basic_auth {
            app = app.layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                basic_auth::require,
            ));
        }
        if let Some(cors) = &self.cors {
            app = app.layer(axum::middleware::from_fn_with_state(
                cors.clone(),
                cors::apply,
            ));
        }
        app
    }
}

/// The request with `root` removed from the front of its path, when it is there.
fn strip_root(mut req: Request<Body>, root: &str) -> Request<Body> {
    if root.is_empty() {
        return req;
    }
    let path = req.uri().path();
    let rest = match path.strip_prefix(root) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        Some("") => "/".to_string(),
        _ => return req,
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{}?{}", rest, q),
        None => rest,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}
