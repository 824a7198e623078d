//! Files: the `file` input (reads each path with its scanner; messages carry `path`) and the
//! `file` output (appends messages, framed by the codec, to the file its interpolated `path`
//! names).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use sluice_compiler::interp::Interpolation;

use super::codec::{codec_field, frame, Codec};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

/// `file`: reads messages from files on disk.
pub fn input_spec() -> ComponentSpec {
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

/// `file`: writes messages to files on disk.
pub fn output_spec() -> ComponentSpec {
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
