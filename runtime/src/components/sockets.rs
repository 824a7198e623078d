//! Sockets: the `socket` input (connects to a TCP or Unix socket and reads messages from it
//! with its scanner, reconnecting with backoff when the peer closes), the `socket_server`
//! input (listens on TCP, Unix or UDP; every connection, or every datagram, is read with the
//! scanner) and the `socket` output (connects and writes each batch framed by its codec,
//! reconnecting on the next write after a failure).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::Value;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::codec::Codec;
use super::reading::{codec_of, emit_messages, read_framed};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput,
};

/// `socket` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "socket",
        ComponentKind::Input,
        "Connects to a tcp or unix socket and consumes a continuous stream of messages.",
        vec![
            F::string("network", "A network type to assume (unix|tcp).").options(&["unix", "tcp"]),
            F::string("address", "The address to connect to."),
            shared::auto_replay_nacks(),
            shared::input_scanner(),
        ],
    )
}

/// `socket_server` input spec.
pub fn server_spec() -> ComponentSpec {
    ComponentSpec::new(
        "socket_server",
        ComponentKind::Input,
        "Creates a server that receives a stream of messages over a TCP, UDP or Unix socket.",
        vec![
            F::string("network", "A network type to accept.").options(&["unix", "tcp", "udp", "tls"]),
            F::string("address", "The address to listen from."),
            F::string("address_cache", "An optional cache within which this input should write it's bound address once known. The key of the cache item containing the address will be the label of the component suffixed with `_address` (e.g. `foo_address`), or `socket_server_address` when a label has not been provided. This is useful in situations where the address is dynamically allocated by the server (`127.0.0.1:0`) and you want to store the allocated address somewhere for reference by other systems and components.")
                .optional()
                .advanced(),
            F::object("tls", "TLS specific configuration, valid when the `network` is set to `tls`.", vec![
                F::string("cert_file", "PEM encoded certificate for use with TLS.").optional(),
                F::string("key_file", "PEM encoded private key for use with TLS.").optional(),
                F::bool("self_signed", "Whether to generate self signed certificates.").default(false),
            ]).advanced(),
            shared::auto_replay_nacks(),
            shared::input_scanner(),
        ],
    )
}

/// `socket` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "socket",
        ComponentKind::Output,
        "Connects to a (tcp/udp/unix) server and sends a continuous stream of data, dividing messages according to the specified codec.",
        vec![
            F::string("network", "The network type to connect as.").options(&["unix", "tcp", "udp"]),
            F::string("address", "The address (or path) to connect to."),
            shared::output_codec(),
        ],
    )
}

fn address(cfg: &ComponentConfig) -> Result<String, ComponentError> {
    match cfg.str("address") {
        Some(a) if !a.is_empty() => Ok(a.to_string()),
        _ => Err(ComponentError::new("address is required")),
    }
}

/// Builds the `socket` input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let network = cfg.str("network").unwrap_or("");
    if !matches!(network, "tcp" | "unix") {
        return Err(ComponentError::new(format!(
            "socket network '{}' is not supported",
            network
        )));
    }
    Ok(Box::new(SocketInput {
        unix: network == "unix",
        address: address(cfg)?,
        codec: codec_of(cfg)?,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct SocketInput {
    unix: bool,
    address: String,
    codec: Codec,
    replay: bool,
    connected: Arc<AtomicBool>,
}

async fn connect(unix: bool, address: &str) -> std::io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    Ok(if unix {
        Box::new(tokio::net::UnixStream::connect(address).await?)
    } else {
        Box::new(tokio::net::TcpStream::connect(address).await?)
    })
}

#[async_trait]
impl Input for SocketInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let mut backoff = Duration::from_millis(100);
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        while !sink.is_stopped() {
            let conn = tokio::select! {
                c = connect(self.unix, &self.address) => c,
                _ = sink.stopped() => break,
            };
            match conn {
                Ok(conn) => {
                    self.connected.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    let meta = sluice_compiler::value::Object::new();
                    let open =
                        read_framed(conn, &self.codec, &sink, &meta, self.replay, &mut pending)
                            .await;
                    self.connected.store(false, Ordering::SeqCst);
                    if !open {
                        break;
                    }
                }
                Err(e) => {
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(address = %self.address, error = %e, suppressed, "failed to connect to socket");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = sink.stopped() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the `socket_server` input; the listener is bound when the stream starts.
pub fn build_server(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let network = cfg.str("network").unwrap_or("");
    let network = match network {
        "tcp" => Network::Tcp,
        "unix" => Network::Unix,
        "udp" => Network::Udp,
        other => {
            return Err(ComponentError::new(format!(
                "socket_server network '{}' is not supported yet",
                other
            )))
        }
    };
    if cfg.str("address_cache").is_some_and(|c| !c.is_empty()) {
        return Err(ComponentError::new(
            "socket_server address_cache is not supported yet",
        ));
    }
    Ok(Box::new(SocketServer {
        network,
        address: address(cfg)?,
        codec: Arc::new(codec_of(cfg)?),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum Network {
    Tcp,
    Unix,
    Udp,
}

struct SocketServer {
    network: Network,
    address: String,
    codec: Arc<Codec>,
    replay: bool,
}

impl SocketServer {
    /// Reads one connection to its end; its messages carry the peer's address.
    fn serve<R: AsyncRead + Unpin + Send + 'static>(
        &self,
        conns: &mut JoinSet<()>,
        conn: R,
        peer: String,
        sink: &InputSink,
    ) {
        let (codec, sink, replay) = (self.codec.clone(), sink.clone(), self.replay);
        conns.spawn(async move {
            let mut pending = JoinSet::new();
            let mut meta = sluice_compiler::value::Object::new();
            meta.insert("remote_addr".into(), Value::Str(peer));
            read_framed(conn, &codec, &sink, &meta, replay, &mut pending).await;
            while pending.join_next().await.is_some() {}
        });
    }
}

#[async_trait]
impl Input for SocketServer {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let bind_err = |e: std::io::Error| {
            ComponentError::new(format!("failed to listen on {}: {}", self.address, e))
        };
        let mut conns = JoinSet::new();
        match self.network {
            Network::Tcp => {
                let listener = tokio::net::TcpListener::bind(&self.address)
                    .await
                    .map_err(bind_err)?;
                tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "receiving socket messages");
                loop {
                    tokio::select! {
                        a = listener.accept() => match a {
                            Ok((c, peer)) => self.serve(&mut conns, c, peer.to_string(), &sink),
                            Err(e) => tracing::warn!(error = %e, "failed to accept a connection"),
                        },
                        _ = sink.stopped() => break,
                    }
                    while conns.try_join_next().is_some() {}
                }
            }
            Network::Unix => {
                let _ = std::fs::remove_file(&self.address);
                let listener = tokio::net::UnixListener::bind(&self.address).map_err(bind_err)?;
                loop {
                    tokio::select! {
                        a = listener.accept() => match a {
                            Ok((c, _)) => self.serve(&mut conns, c, self.address.clone(), &sink),
                            Err(e) => tracing::warn!(error = %e, "failed to accept a connection"),
                        },
                        _ = sink.stopped() => break,
                    }
                    while conns.try_join_next().is_some() {}
                }
                let _ = std::fs::remove_file(&self.address);
            }
            Network::Udp => {
                let socket = tokio::net::UdpSocket::bind(&self.address)
                    .await
                    .map_err(bind_err)?;
                let mut pending = JoinSet::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    let (n, peer) = tokio::select! {
                        r = socket.recv_from(&mut buf) => match r {
                            Ok(x) => x,
                            Err(e) => {
                                tracing::warn!(error = %e, "failed to read a datagram");
                                continue;
                            }
                        },
                        _ = sink.stopped() => break,
                    };
                    let mut meta = sluice_compiler::value::Object::new();
                    meta.insert("remote_addr".into(), Value::Str(peer.to_string()));
                    if !emit_messages(
                        &self.codec,
                        &sink,
                        "",
                        &buf[..n],
                        &meta,
                        self.replay,
                        &mut pending,
                    )
                    .await
                    {
                        break;
                    }
                }
                while pending.join_next().await.is_some() {}
            }
        }
        // Connections still open when the stream stops finish what they read.
        while conns.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the `socket` output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let network = match cfg.str("network").unwrap_or("") {
        "tcp" => Network::Tcp,
        "unix" => Network::Unix,
        "udp" => Network::Udp,
        other => {
            return Err(ComponentError::new(format!(
                "socket network '{}' is not supported",
                other
            )))
        }
    };
    Ok(Arc::new(SocketOutput {
        network,
        address: address(cfg)?,
        codec: super::codec::codec_field(cfg)?,
        conn: Mutex::new(None),
    }))
}

enum Conn {
    Stream(Box<dyn tokio::io::AsyncWrite + Unpin + Send>),
    Udp(tokio::net::UdpSocket),
}

struct SocketOutput {
    network: Network,
    address: String,
    codec: Codec,
    conn: Mutex<Option<Conn>>,
}

impl SocketOutput {
    async fn connect(&self) -> std::io::Result<Conn> {
        Ok(match self.network {
            Network::Tcp => Conn::Stream(Box::new(
                tokio::net::TcpStream::connect(&self.address).await?,
            )),
            Network::Unix => Conn::Stream(Box::new(
                tokio::net::UnixStream::connect(&self.address).await?,
            )),
            Network::Udp => {
                let s = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
                s.connect(&self.address).await?;
                Conn::Udp(s)
            }
        })
    }
}

#[async_trait]
impl Output for SocketOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            let c = self
                .connect()
                .await
                .map_err(|e| Nack(format!("failed to connect to {}: {}", self.address, e)))?;
            *conn = Some(c);
        }
        let result = match conn.as_mut().expect("connected above") {
            Conn::Stream(w) => {
                let buf = super::codec::frame(&self.codec, &batch);
                match w.write_all(&buf).await {
                    Ok(()) => w.flush().await,
                    Err(e) => Err(e),
                }
            }
            // A datagram per message.
            Conn::Udp(s) => {
                let mut r = Ok(());
                for m in &batch {
                    let mut d = m.payload.to_vec();
                    d.extend_from_slice(self.codec.separator());
                    if let Err(e) = s.send(&d).await {
                        r = Err(e);
                        break;
                    }
                }
                r
            }
        };
        if let Err(e) = result {
            *conn = None;
            return Err(Nack(format!("failed to write to {}: {}", self.address, e)));
        }
        Ok(())
    }

    async fn close(&self) {
        if let Some(Conn::Stream(mut w)) = self.conn.lock().await.take() {
            let _ = w.shutdown().await;
        }
    }
}
