//! Reading byte streams into messages, shared by the inputs that read them (`file`, `stdin`,
//! `socket`, `socket_server`, `subprocess`): the scanner a config names, framing as data
//! arrives, and sending each message with its acknowledgement tracked. Every reader waits
//! for every acknowledgement before it returns, so a graceful stop or the end of the data
//! loses nothing; nacked messages are replayed when `auto_replay_nacks` is set.

use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::Message;
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

use super::codec::Codec;
use crate::config::stream::ComponentConfig;
use crate::stream::{Batch, ComponentError, Input, InputSink, Transaction};

/// Rejection warnings of every input that sends through [`send_tracked`], at most one a
/// second.
static REJECTIONS: std::sync::LazyLock<crate::log_limit::LogLimiter> =
    std::sync::LazyLock::new(|| crate::log_limit::LogLimiter::new(Duration::from_secs(1)));

/// Sends a batch and resolves it in the background; nacked batches are sent again (with
/// backoff) while `replay` holds and the input is not stopping.
pub(crate) async fn send_tracked(
    sink: &InputSink,
    batch: Batch,
    replay: bool,
    pending: &mut JoinSet<()>,
) -> bool {
    let (t, ack) = Transaction::new(batch.clone());
    if sink.send(t).await.is_err() {
        return false;
    }
    let sink = sink.clone();
    pending.spawn(async move {
        if let Err(e) = super::acks::settle(&sink, &batch, ack, replay, &REJECTIONS).await {
            if let Some(suppressed) = REJECTIONS.allow() {
                tracing::warn!(error = %e, suppressed, "message was rejected and is not replayed");
            }
        }
    });
    while pending.try_join_next().is_some() {}
    true
}

pub(crate) fn codec_of(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    if let Some(c) = cfg.str("codec") {
        return Codec::parse(c).map_err(ComponentError::new);
    }
    match cfg.field("scanner").and_then(|f| f.as_component()) {
        Some(scanner) => super::scanners::codec(scanner),
        None => Ok(Codec::Lines),
    }
}

/// Reads a byte stream to its end (or until the sink stops), cutting it into messages with
/// `codec` and sending one transaction per message with `meta`: a line-framed codec emits at
/// each line break as data arrives, other scanners once the stream has ended. False when
/// the sink stopped taking messages.
pub(crate) async fn read_framed<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    codec: &Codec,
    sink: &InputSink,
    meta: &sluice_compiler::value::Object,
    replay: bool,
    pending: &mut JoinSet<()>,
) -> bool {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = reader.read(&mut chunk) => r.unwrap_or(0),
            _ = sink.stopped() => 0,
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if codec.line_framed() {
            if let Some(last) = buf.iter().rposition(|b| *b == b'\n') {
                let rest = buf.split_off(last + 1);
                if !emit_messages(codec, sink, "", &buf, meta, replay, pending).await {
                    return false;
                }
                buf = rest;
            }
        }
    }
    emit_messages(codec, sink, "", &buf, meta, replay, pending).await
}

/// Cuts `data` into messages with `codec` and sends each (unreadable data is logged and
/// skipped). False when the sink stopped taking messages.
pub(crate) async fn emit_messages(
    codec: &Codec,
    sink: &InputSink,
    name: &str,
    data: &[u8],
    meta: &sluice_compiler::value::Object,
    replay: bool,
    pending: &mut JoinSet<()>,
) -> bool {
    let parts = match codec.messages_named(data, name) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "the scanner could not read the data; it is skipped");
            return true;
        }
    };
    for part in parts {
        let m = Message {
            payload: bytes::Bytes::from(part),
            metadata: meta.clone(),
            error: None,
        };
        if !send_tracked(sink, vec![m], replay, pending).await {
            return false;
        }
    }
    true
}

/// `stdin` and `file`: read bytes, frame them with the codec, send one message per frame.
pub struct ReaderInput {
    source: Source,
    codec: Codec,
    replay: bool,
    delete_on_finish: bool,
}

enum Source {
    Stdin,
    Files(Vec<String>),
}

impl ReaderInput {
    /// Builds `stdin`.
    pub fn stdin(cfg: &ComponentConfig) -> Result<ReaderInput, ComponentError> {
        Ok(ReaderInput {
            source: Source::Stdin,
            codec: codec_of(cfg)?,
            replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
            delete_on_finish: false,
        })
    }

    /// Builds `file`.
    pub fn file(cfg: &ComponentConfig) -> Result<ReaderInput, ComponentError> {
        let paths: Vec<String> = cfg
            .field("paths")
            .and_then(|f| f.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ReaderInput {
            source: Source::Files(paths),
            codec: codec_of(cfg)?,
            replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
            delete_on_finish: cfg.bool("delete_on_finish").unwrap_or(false),
        })
    }

    async fn emit(
        &self,
        sink: &InputSink,
        data: &[u8],
        meta: &sluice_compiler::value::Object,
        pending: &mut JoinSet<()>,
    ) -> bool {
        let name = match meta.get("path") {
            Some(sluice_compiler::Value::Str(p)) => p.as_str(),
            _ => "",
        };
        emit_messages(&self.codec, sink, name, data, meta, self.replay, pending).await
    }
}

#[async_trait]
impl Input for ReaderInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        match &self.source {
            Source::Stdin => {
                let meta = sluice_compiler::value::Object::new();
                read_framed(
                    tokio::io::stdin(),
                    &self.codec,
                    &sink,
                    &meta,
                    self.replay,
                    &mut pending,
                )
                .await;
            }
            Source::Files(paths) => {
                for path in paths {
                    if sink.is_stopped() {
                        break;
                    }
                    let data = match tokio::fs::read(path).await {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::error!(path = %path, error = %e, "failed to read file");
                            continue;
                        }
                    };
                    let mut meta = sluice_compiler::value::Object::new();
                    meta.insert("path".into(), sluice_compiler::Value::Str(path.clone()));
                    if !self.emit(&sink, &data, &meta, &mut pending).await {
                        break;
                    }
                    if self.delete_on_finish {
                        while pending.join_next().await.is_some() {}
                        let _ = tokio::fs::remove_file(path).await;
                    }
                }
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}
