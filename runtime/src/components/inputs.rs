//! The simple inputs: `generate` (messages from a Bloblang mapping at an interval), `stdin`
//! and `file` (codec-framed reads). Each waits for every acknowledgement before it returns,
//! so a graceful stop or the end of the data loses nothing; nacked batches are replayed when
//! `auto_replay_nacks` is set.

use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::{Mapping, MappingOutcome, Message};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

use super::codec::Codec;
use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Input, InputSink, Transaction};

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
        let mut ack = ack;
        let mut backoff = Duration::from_millis(100);
        while let Err(e) = ack.wait().await {
            if !replay || sink.is_stopped() {
                tracing::warn!(error = %e, "message was rejected and is not replayed");
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            let (t, next) = Transaction::new(batch.clone());
            if sink.send(t).await.is_err() {
                return;
            }
            ack = next;
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

/// `generate`.
pub struct Generate {
    mapping: std::sync::Arc<Mapping>,
    interval: Option<Duration>,
    count: i64,
    batch_size: usize,
    replay: bool,
    errors: std::sync::Arc<crate::log_limit::LogLimiter>,
}

impl Generate {
    /// Builds the input.
    pub fn new(cfg: &ComponentConfig) -> Result<Generate, ComponentError> {
        let mapping = Mapping::compile(cfg.str("mapping").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("mapping: {}", e)))?;
        let interval = match cfg.str("interval").unwrap_or("1s") {
            "" => None,
            s if s.starts_with('@') || s.contains(' ') => {
                return Err(ComponentError::new(format!(
                    "interval: cron expressions are not supported yet: {}",
                    s
                )))
            }
            s => Some(
                duration::parse(s).map_err(|e| ComponentError::new(format!("interval: {}", e)))?,
            ),
        };
        Ok(Generate {
            mapping: std::sync::Arc::new(mapping),
            interval,
            count: cfg.int("count").unwrap_or(0),
            batch_size: cfg.int("batch_size").unwrap_or(1).max(1) as usize,
            replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
            errors: Default::default(),
        })
    }
}

#[async_trait]
impl Input for Generate {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let mut produced = 0i64;
        let mut first = true;
        'outer: loop {
            if !first {
                if let Some(i) = self.interval {
                    tokio::select! {
                        _ = tokio::time::sleep(i) => {}
                        _ = sink.stopped() => break,
                    }
                }
            }
            first = false;
            // As upstream: one run of the mapping per slot of the batch (at most the messages
            // still owed under `count`); deleted messages leave their slot empty and do not
            // count; a failed run drops the batch; an empty batch waits for the next interval.
            let slots = if self.count > 0 {
                self.batch_size.min((self.count - produced).max(0) as usize)
            } else {
                self.batch_size
            };
            // The mapping runs on a blocking thread: a costly one never holds an I/O worker.
            let (mapping, errors, s) = (self.mapping.clone(), self.errors.clone(), sink.clone());
            let batch = tokio::task::spawn_blocking(move || {
                s.evaluate(|| generate_batch(&mapping, slots, &errors))
            })
            .await
            .unwrap_or_default();
            produced += batch.len() as i64;
            if !batch.is_empty() && !send_tracked(&sink, batch, self.replay, &mut pending).await {
                break 'outer;
            }
            if self.count > 0 && produced >= self.count {
                break;
            }
            if sink.is_stopped() {
                break;
            }
            if self.interval.is_none() {
                tokio::task::yield_now().await;
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Runs `generate`'s mapping once per slot: the messages it made, or none when a run failed.
fn generate_batch(mapping: &Mapping, slots: usize, errors: &crate::log_limit::LogLimiter) -> Batch {
    let mut batch = Vec::with_capacity(slots);
    for _ in 0..slots {
        match mapping.run(&Message::default()) {
            Ok(MappingOutcome::Message(m)) => batch.push(m),
            Ok(MappingOutcome::Deleted) => {}
            Err(e) => {
                if let Some(suppressed) = errors.allow() {
                    tracing::error!(error = %e, suppressed, "generate mapping failed");
                }
                return Vec::new();
            }
        }
    }
    batch
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

// ------------------------------------------------------------------------------------ specs

/// `file`: reads messages from files on disk.
pub fn file_spec() -> ComponentSpec {
    ComponentSpec::new(
        "file",
        ComponentKind::Input,
        "Consumes data from files on disk, emitting messages according to a chosen codec.",
        vec![
            F::string("paths", "A list of paths to consume sequentially. Glob patterns are supported.").array(),
            shared::input_scanner(),
            F::bool("delete_on_finish", "Whether to delete input files from the disk once they are fully consumed.")
                .default(false)
                .advanced(),
            F::string("codec", "The way in which the bytes of a data source should be converted into discrete messages.")
                .optional()
                .advanced(),
            F::int("max_buffer", "The largest token size expected when consuming delimited files.")
                .default(1_000_000)
                .advanced(),
            shared::auto_replay_nacks(),
        ],
    )
}

/// `generate`: creates messages from a Bloblang mapping at an interval.
pub fn generate_spec() -> ComponentSpec {
    ComponentSpec::new(
        "generate",
        ComponentKind::Input,
        "Generates messages at a given interval using a Bloblang mapping executed without a context.",
        vec![
            F::string("mapping", "A Bloblang mapping to use for generating messages.").bloblang(),
            F::string("interval", "The time interval at which messages should be generated, expressed either as a duration string or as a cron expression. If set to an empty string messages will be generated as fast as downstream services can process them.")
                .default("1s"),
            F::int("count", "An optional number of messages to generate, if set above 0 the specified number of messages is generated and then the input will shut down.")
                .default(0),
            F::int("batch_size", "The number of generated messages that should be accumulated into each batch flushed at the specified interval.")
                .default(1),
            shared::auto_replay_nacks(),
        ],
    )
}

/// `stdin`: reads messages from standard input.
pub fn stdin_spec() -> ComponentSpec {
    ComponentSpec::new(
        "stdin",
        ComponentKind::Input,
        "Consumes data piped to stdin, chopping it into individual messages according to the specified scanner.",
        vec![
            F::string("codec", "The way in which the bytes of a data source should be converted into discrete messages.")
                .optional()
                .advanced(),
            F::int("max_buffer", "The largest token size expected when consuming delimited data.")
                .default(1_000_000)
                .advanced(),
            shared::input_scanner(),
            shared::auto_replay_nacks(),
        ],
    )
}
