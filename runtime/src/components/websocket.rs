//! WebSocket clients: the `websocket` input (connects to `url`, optionally sends
//! `open_message`, and emits a message per frame received, reconnecting with backoff) and
//! the `websocket` output (connects on the first write and sends a frame per message).
//! `wss://` URLs use the component's `tls` settings (rustls).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use sluice_compiler::Message;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::reading::send_tracked;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput,
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// `websocket` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "websocket",
        ComponentKind::Input,
        "Connects to a websocket server and continuously receives messages.",
        vec![
            F::string("url", "The URL to connect to.").url(),
            F::string("proxy_url", "An optional HTTP proxy URL.")
                .optional()
                .advanced(),
            F::string(
                "open_message",
                "An optional message to send to the server upon connection.",
            )
            .optional()
            .advanced(),
            F::string(
                "open_message_type",
                "An optional flag to indicate the data type of open_message.",
            )
            .options(&["binary", "text"])
            .default("binary")
            .advanced(),
            shared::auto_replay_nacks(),
            shared::tls(),
            F::string(
                "headers",
                "A map of custom headers to add to the websocket handshake.",
            )
            .map()
            .default(json!({}))
            .advanced(),
        ],
    )
}

/// `websocket` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "websocket",
        ComponentKind::Output,
        "Sends messages to an HTTP server via a websocket connection.",
        vec![
            F::string("url", "The URL to connect to.").url(),
            F::string("proxy_url", "An optional HTTP proxy URL.")
                .optional()
                .advanced(),
            shared::tls(),
            F::string(
                "headers",
                "A map of custom headers to add to the websocket handshake.",
            )
            .map()
            .default(json!({}))
            .advanced(),
        ],
    )
}

/// What both directions need to connect.
struct Dialer {
    url: String,
    headers: Vec<(String, String)>,
    tls: Arc<rustls::ClientConfig>,
}

impl Dialer {
    fn new(cfg: &ComponentConfig) -> Result<Dialer, ComponentError> {
        let url = cfg.str("url").unwrap_or("").to_string();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(ComponentError::new(format!(
                "url must be a ws:// or wss:// URL, got '{}'",
                url
            )));
        }
        if cfg.str("proxy_url").is_some_and(|p| !p.is_empty()) {
            return Err(ComponentError::new("proxy_url is not supported yet"));
        }
        let headers = cfg
            .field("headers")
            .and_then(|f| f.as_object())
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        let tls = crate::tls::client_config(cfg.field("tls"))
            .map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(Dialer {
            url,
            headers,
            tls: Arc::new(tls),
        })
    }

    async fn connect(&self) -> Result<Socket, String> {
        let mut req = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        for (k, v) in &self.headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| e.to_string())?;
            let value = v.parse().map_err(
                |e: tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue| e.to_string(),
            )?;
            req.headers_mut().insert(name, value);
        }
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector))
                .await
                .map_err(|e| crate::secrets::scrub_text(&e.to_string()))?;
        Ok(socket)
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let open = cfg.str("open_message").filter(|m| !m.is_empty()).map(|m| {
        if cfg.str("open_message_type") == Some("text") {
            Frame::text(m.to_string())
        } else {
            Frame::binary(m.as_bytes().to_vec())
        }
    });
    Ok(Box::new(WebsocketInput {
        dialer: Dialer::new(cfg)?,
        open,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct WebsocketInput {
    dialer: Dialer,
    open: Option<Frame>,
    replay: bool,
    connected: Arc<AtomicBool>,
}

#[async_trait]
impl Input for WebsocketInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let mut backoff = Duration::from_millis(100);
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        'outer: while !sink.is_stopped() {
            let socket = tokio::select! {
                s = self.dialer.connect() => s,
                _ = sink.stopped() => break,
            };
            match socket {
                Ok(mut socket) => {
                    self.connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    if let Some(open) = &self.open {
                        if let Err(e) = socket.send(open.clone()).await {
                            tracing::warn!(error = %e, "failed to send the websocket open message");
                        }
                    }
                    loop {
                        let frame = tokio::select! {
                            f = socket.next() => f,
                            _ = sink.stopped() => {
                                let _ = socket.close(None).await;
                                break 'outer;
                            }
                        };
                        let payload = match frame {
                            Some(Ok(Frame::Text(t))) => bytes::Bytes::from(t.as_str().to_string()),
                            Some(Ok(Frame::Binary(b))) => b,
                            Some(Ok(Frame::Close(_))) | None => break,
                            Some(Ok(_)) => continue,
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "websocket read failed");
                                break;
                            }
                        };
                        if !send_tracked(
                            &sink,
                            vec![Message::new(payload)],
                            self.replay,
                            &mut pending,
                        )
                        .await
                        {
                            break 'outer;
                        }
                    }
                    self.connected.store(false, Ordering::SeqCst);
                }
                Err(e) => {
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %e, suppressed, "failed to connect to websocket");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = sink.stopped() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.connected.store(false, Ordering::SeqCst);
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    Ok(Arc::new(WebsocketOutput {
        dialer: Dialer::new(cfg)?,
        socket: Mutex::new(None),
    }))
}

struct WebsocketOutput {
    dialer: Dialer,
    socket: Mutex<Option<Socket>>,
}

#[async_trait]
impl Output for WebsocketOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut socket = self.socket.lock().await;
        if socket.is_none() {
            *socket = Some(self.dialer.connect().await.map_err(Nack)?);
        }
        let s = socket.as_mut().expect("connected above");
        for m in batch {
            if let Err(e) = s.send(Frame::binary(m.payload)).await {
                *socket = None;
                return Err(Nack(format!("websocket write failed: {}", e)));
            }
        }
        Ok(())
    }

    async fn close(&self) {
        if let Some(mut s) = self.socket.lock().await.take() {
            let _ = s.close(None).await;
        }
    }
}
