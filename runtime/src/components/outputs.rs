//! The simple outputs: `stdout`, `file` (codec-framed writes), `drop`, `reject` (nack with an
//! interpolated reason) and `sync_response` (store the batch as the request's response).

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;

use super::codec::Codec;
use crate::config::stream::ComponentConfig;
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

fn codec_field(cfg: &ComponentConfig) -> Result<Codec, ComponentError> {
    Codec::parse(cfg.str("codec").unwrap_or("lines")).map_err(ComponentError::new)
}

/// Joins a batch with the codec's framing.
fn frame(codec: &Codec, batch: &Batch) -> Vec<u8> {
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
pub struct FileOutput {
    path: Interpolation,
    codec: Codec,
    lock: Mutex<()>,
}

impl FileOutput {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<FileOutput, ComponentError> {
        let path = Interpolation::compile(cfg.str("path").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("path: {}", e)))?;
        Ok(FileOutput {
            path,
            codec: codec_field(cfg)?,
            lock: Mutex::new(()),
        })
    }
}

#[async_trait]
impl Output for FileOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        for m in &batch {
            let path = self
                .path
                .render(m)
                .map_err(|e| Nack(format!("path: {}", e)))?;
            if let Some(dir) = std::path::Path::new(&path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Nack(format!("{}: {}", dir.display(), e)))?;
                }
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Nack(format!("{}: {}", path, e)))?;
            f.write_all(&m.payload)
                .and_then(|_| f.write_all(self.codec.separator()))
                .map_err(|e| Nack(format!("{}: {}", path, e)))?;
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
