//! The simple outputs: `stdout`, `file` (codec-framed writes), `drop`, `reject` (nack with an
//! interpolated reason) and `sync_response` (store the batch as the request's response).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;

use super::codec::Codec;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

pub(crate) fn codec_field(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Codec::parse(cfg.str("codec").unwrap_or("lines")).map_err(ComponentError::new)
}

/// Joins messages with the codec's framing.
pub(crate) fn frame(codec: &Codec, batch: &[sluice_compiler::Message]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.iter().map(|m| m.payload.len() + 1).sum());
    for m in batch {
        buf.extend_from_slice(&m.payload);
        buf.extend_from_slice(codec.separator());
    }
    buf
}

/// `stdout`: writes each message to standard output, framed by the codec.
pub struct Stdout {
    codec: Codec,
}

impl Stdout {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<Stdout, ComponentError> {
        Ok(Stdout {
            codec: codec_field(cfg)?,
        })
    }
}

#[async_trait]
impl Output for Stdout {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let buf = frame(&self.codec, &batch);
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)
            .and_then(|_| out.flush())
            .map_err(|e| Nack(format!("failed to write to stdout: {}", e)))
    }
}

/// `file`: appends messages to the file its (interpolated) `path` names for each message.
///
/// Files are shared by every `file` output of the process that writes the same path (the old
/// and new graph of a stream during a swap, two streams): each run of messages for one path is
/// framed into one buffer and appended in one write under the file's lock, so messages never
/// interleave, whichever outputs write at once.
pub struct FileOutput {
    path: Interpolation,
    codec: Codec,
    /// The file last written, kept open.
    current: Mutex<Option<(String, SharedFile)>>,
}

/// A file open for appending, shared by path.
type SharedFile = Arc<Mutex<std::fs::File>>;

/// The files `file` outputs have open, by path.
fn open_files() -> &'static Mutex<HashMap<String, Weak<Mutex<std::fs::File>>>> {
    static FILES: OnceLock<Mutex<HashMap<String, Weak<Mutex<std::fs::File>>>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// The shared handle of `path`, opened (and its directory created) if no output has it open.
fn shared_file(path: &str) -> Result<SharedFile, Nack> {
    let mut files = open_files().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = files.get(path).and_then(Weak::upgrade) {
        return Ok(f);
    }
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| Nack(format!("{}: {}", dir.display(), e)))?;
        }
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Nack(format!("{}: {}", path, e)))?;
    let f = Arc::new(Mutex::new(f));
    files.retain(|_, w| w.strong_count() > 0);
    files.insert(path.to_string(), Arc::downgrade(&f));
    Ok(f)
}

impl FileOutput {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<FileOutput, ComponentError> {
        let path = Interpolation::compile(cfg.str("path").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("path: {}", e)))?;
        Ok(FileOutput {
            path,
            codec: codec_field(cfg)?,
            current: Mutex::new(None),
        })
    }

    /// The shared file of `path` (the one kept open when it is the last path written).
    fn file(&self, path: &str) -> Result<SharedFile, Nack> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, f)) = current.as_ref() {
            if p == path {
                return Ok(f.clone());
            }
        }
        let f = shared_file(path)?;
        *current = Some((path.to_string(), f.clone()));
        Ok(f)
    }
}

#[async_trait]
impl Output for FileOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut paths = Vec::with_capacity(batch.len());
        for m in &batch {
            paths.push(
                self.path
                    .render(m)
                    .map_err(|e| Nack(format!("path: {}", e)))?,
            );
        }
        let mut start = 0;
        while start < batch.len() {
            let path = &paths[start];
            let end = paths[start..]
                .iter()
                .position(|p| p != path)
                .map_or(batch.len(), |n| start + n);
            let framed = frame(&self.codec, &batch[start..end]);
            let file = self.file(path)?;
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(&framed)
                .map_err(|e| Nack(format!("{}: {}", path, e)))?;
            start = end;
        }
        Ok(())
    }
}

/// `drop`: acknowledges and discards everything.
pub struct Drop;

#[async_trait]
impl Output for Drop {
    async fn write(&self, _batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        Ok(())
    }
}

/// `reject`: nacks every batch with an interpolated reason.
pub struct Reject {
    reason: Interpolation,
}

impl Reject {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<Reject, ComponentError> {
        let reason = Interpolation::compile(cfg.config.as_str().unwrap_or("rejected"))
            .map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(Reject { reason })
    }
}

#[async_trait]
impl Output for Reject {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let reason = batch
            .first()
            .map(|m| self.reason.render(m))
            .transpose()
            .map_err(|e| Nack(e.to_string()))?;
        Err(Nack(reason.unwrap_or_default()))
    }
}

/// `sync_response`: stores the batch as the synchronous response of the request it came from.
pub struct SyncResponse;

#[async_trait]
impl Output for SyncResponse {
    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        if let Some(store) = responses {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ specs

/// `drop`: drops every message.
pub fn drop_spec() -> ComponentSpec {
    ComponentSpec::new("drop", ComponentKind::Output, "Drops all messages.", vec![])
}

/// `sync_response`: returns the final message batch as the response of the request that
/// produced it (inputs such as `http_server`).
pub fn sync_response_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sync_response",
        ComponentKind::Output,
        "Returns the final message payload back to the input origin of the message, where it is dealt with according to that specific input type.",
        vec![],
    )
}

/// `file`: writes messages to files on disk.
pub fn file_spec() -> ComponentSpec {
    ComponentSpec::new(
        "file",
        ComponentKind::Output,
        "Writes messages to files on disk based on a chosen codec.",
        vec![
            F::string(
                "path",
                "The file to write to; if the file does not yet exist it will be created.",
            )
            .interpolated(),
            shared::output_codec(),
        ],
    )
}

/// `reject`: rejects every message with an (interpolated) error text.
pub fn reject_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "reject",
        ComponentKind::Output,
        "Rejects all messages, treating them as though the output destination failed to publish them.",
        F::string("", "The error message to reject messages with.").interpolated(),
    )
}

/// `stdout`: writes messages to standard output.
pub fn stdout_spec() -> ComponentSpec {
    ComponentSpec::new(
        "stdout",
        ComponentKind::Output,
        "Prints messages to stdout as a continuous stream of data.",
        vec![shared::output_codec()],
    )
}
