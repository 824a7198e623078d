//! `http.cors`: cross-origin requests to the service's server, as Redpanda Connect answers
//! them (gorilla/handlers' CORS with the methods GET, HEAD, POST, PUT, PATCH and DELETE).
//!
//! One documented difference: a preflight may also ask for the `Content-Type` and
//! `Authorization` headers (gorilla refuses them with 403 when no headers are configured, so
//! a browser could not post JSON or send credentials).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::middleware::Next;

/// Methods a preflight may ask for.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// Headers a preflight may ask for (compared case-insensitively).
const HEADERS: [&str; 6] = [
    "accept",
    "accept-language",
    "content-language",
    "origin",
    "content-type",
    "authorization",
];

/// Validated CORS settings.
#[derive(Debug)]
pub struct Cors {
    /// `None` for `*` (any origin).
    origins: Option<Vec<String>>,
}

impl Cors {
    /// Validates the settings (same message as the reference).
    pub fn new(allowed_origins: Vec<String>) -> Result<Cors, String> {
        if allowed_origins.is_empty() {
            return Err("bad CORS configuration: must specify at least one allowed origin".into());
        }
        let any = allowed_origins.iter().any(|o| o == "*");
        Ok(Cors {
            origins: (!any).then_some(allowed_origins),
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request's origin, if it is allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        match &self.origins {
            None => Some(HeaderValue::from_static("*")),
            Some(list) if list.iter().any(|o| o == origin) => HeaderValue::from_str(origin).ok(),
            Some(_) => None,
        }
    }

    fn decorate(&self, resp: &mut Response<Body>, allow: HeaderValue) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.origins.as_ref().is_some_and(|l| l.len() > 1) {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }

    /// The answer to a preflight from an allowed origin.
    fn preflight(&self, req: &Request<Body>, allow: HeaderValue) -> Response<Body> {
        let status = |code: StatusCode| {
            Response::builder()
                .status(code)
                .body(Body::empty())
                .unwrap_or_default()
        };
        let Some(method) = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .map(|m| m.trim().to_ascii_uppercase())
        else {
            return status(StatusCode::BAD_REQUEST);
        };
        if !METHODS.contains(&method.as_str()) {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let requested: Vec<String> = req
            .headers()
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if requested.iter().any(|h| !HEADERS.contains(&h.as_str())) {
            return status(StatusCode::FORBIDDEN);
        }
        let mut resp = status(StatusCode::OK);
        if !matches!(method.as_str(), "GET" | "HEAD" | "POST") {
            if let Ok(v) = HeaderValue::from_str(&method) {
                resp.headers_mut()
                    .insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
            }
        }
        if !requested.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&requested.join(", ")) {
                resp.headers_mut()
                    .insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        self.decorate(&mut resp, allow);
        resp
    }
}

/// The middleware: answers every `OPTIONS` request itself (a preflight from an allowed
/// origin as above, any other with an empty 200) and adds `Access-Control-Allow-Origin` to
/// the responses of allowed origins.
pub async fn apply(
    axum::extract::State(cors): axum::extract::State<Arc<Cors>>,
    req: Request<Body>,
    next: Next,
) -> Response<Body> {
    let allow = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .and_then(|o| cors.allow(o));
    if req.method() == Method::OPTIONS {
        return match allow {
            Some(allow) => cors.preflight(&req, allow),
            None => Response::new(Body::empty()),
        };
    }
    let mut resp = next.run(req).await;
    if let Some(allow) = allow {
        cors.decorate(&mut resp, allow);
    }
    resp
}
