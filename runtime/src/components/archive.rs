//! The `archive` and `unarchive` processors. `archive` turns a batch into one message in a
//! format (`concatenate`, `lines`, `json_array`, `tar`, `zip`; files named by the interpolated
//! `path`); `unarchive` turns each message into the messages it holds (`lines`, `json_array`,
//! `json_documents`, `json_map`, `tar`, `zip`, `csv`), with `archive_filename` (tar, zip) or
//! `archive_key` (json_map) metadata. A message that cannot be unarchived is flagged.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Message, Value};

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

const ARCHIVE_FORMATS: &[&str] = &["concatenate", "json_array", "lines", "tar", "zip"];
const UNARCHIVE_FORMATS: &[&str] = &[
    "csv",
    "json_array",
    "json_documents",
    "json_map",
    "lines",
    "tar",
    "zip",
];

/// `archive` spec.
pub fn archive_spec() -> ComponentSpec {
    ComponentSpec::new(
        "archive",
        ComponentKind::Processor,
        "Archives all the messages of a batch into a single message according to the selected archive format.",
        vec![
            F::string("format", "The archiving format to apply.").options(ARCHIVE_FORMATS),
            F::string("path", "The path to set for each message in the archive (when applicable).")
                .interpolated()
                .default(r#"${!count("files")}-${!timestamp_unix_nano()}.txt"#),
        ],
    )
}

/// `unarchive` spec.
pub fn unarchive_spec() -> ComponentSpec {
    ComponentSpec::new(
        "unarchive",
        ComponentKind::Processor,
        "Unarchives messages according to the selected archive format into multiple messages within a batch.",
        vec![F::string("format", "The unarchiving format to apply.").options(UNARCHIVE_FORMATS)],
    )
}

fn format(cfg: &ComponentConfig, allowed: &[&str]) -> Result<String, ComponentError> {
    let f = cfg.str("format").unwrap_or("").to_string();
    if !allowed.contains(&f.as_str()) {
        return Err(ComponentError::new(format!(
            "archive format {:?} is not supported",
            f
        )));
    }
    Ok(f)
}

/// Builds `archive`.
pub fn build_archive(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Archive {
        format: format(cfg, ARCHIVE_FORMATS)?,
        path: Interpolation::compile(cfg.str("path").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("path: {}", e)))?,
    }))
}

/// Builds `unarchive`.
pub fn build_unarchive(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Unarchive {
        format: format(cfg, UNARCHIVE_FORMATS)?,
    }))
}

struct Archive {
    format: String,
    path: Interpolation,
}

impl Archive {
    fn pack(&self, batch: &Batch) -> Result<Vec<u8>, String> {
        Ok(match self.format.as_str() {
            "concatenate" => batch
                .iter()
                .flat_map(|m| m.payload.iter().copied())
                .collect(),
            "lines" => {
                let parts: Vec<&[u8]> = batch.iter().map(|m| &m.payload[..]).collect();
                parts.join(&b"\n"[..])
            }
            "json_array" => {
                let items = batch
                    .iter()
                    .map(|m| serde_json::from_slice::<serde_json::Value>(&m.payload))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("message is not JSON: {}", e))?;
                serde_json::Value::Array(items).to_string().into_bytes()
            }
            "tar" => {
                let mut b = tar::Builder::new(Vec::new());
                for m in batch {
                    let path = self.path.render(m).map_err(|e| format!("path: {}", e))?;
                    let mut h = tar::Header::new_gnu();
                    h.set_size(m.payload.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, &path, &m.payload[..])
                        .map_err(|e| e.to_string())?;
                }
                b.into_inner().map_err(|e| e.to_string())?
            }
            "zip" => {
                let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                for m in batch {
                    let path = self.path.render(m).map_err(|e| format!("path: {}", e))?;
                    z.start_file(path, zip::write::SimpleFileOptions::default())
                        .map_err(|e| e.to_string())?;
                    z.write_all(&m.payload).map_err(|e| e.to_string())?;
                }
                z.finish().map_err(|e| e.to_string())?.into_inner()
            }
            other => return Err(format!("archive format {:?} is not supported", other)),
        })
    }
}

impl Processor for Archive {
    fn process(&self, batch: Batch) -> Batch {
        let Some(first) = batch.first() else {
            return batch;
        };
        let mut out = Message {
            payload: Bytes::new(),
            metadata: first.metadata.clone(),
            error: None,
        };
        match self.pack(&batch) {
            Ok(bytes) => out.payload = Bytes::from(bytes),
            Err(e) => {
                // Nothing is lost: the batch goes on unarchived, each message flagged.
                return batch
                    .into_iter()
                    .map(|mut m| {
                        m.error = Some(format!("archive: {}", e));
                        m
                    })
                    .collect();
            }
        }
        vec![out]
    }
}

struct Unarchive {
    format: String,
}

/// One unarchived part: its payload and, for named parts, a metadata key and value.
type Part = (Vec<u8>, Option<(&'static str, String)>);

impl Unarchive {
    /// The parts of one message: payload and, for named parts, a metadata key and value.
    fn unpack(&self, data: &[u8]) -> Result<Vec<Part>, String> {
        let plain = |v: Vec<Vec<u8>>| v.into_iter().map(|p| (p, None)).collect();
        Ok(match self.format.as_str() {
            "lines" => plain(
                data.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect(),
            ),
            "json_array" => match serde_json::from_slice::<serde_json::Value>(data)
                .map_err(|e| e.to_string())?
            {
                serde_json::Value::Array(items) => plain(
                    items
                        .into_iter()
                        .map(|v| v.to_string().into_bytes())
                        .collect(),
                ),
                _ => return Err("expected a JSON array".into()),
            },
            "json_map" => match serde_json::from_slice::<serde_json::Value>(data)
                .map_err(|e| e.to_string())?
            {
                serde_json::Value::Object(map) => map
                    .into_iter()
                    .map(|(k, v)| (v.to_string().into_bytes(), Some(("archive_key", k))))
                    .collect(),
                _ => return Err("expected a JSON object".into()),
            },
            "json_documents" => plain(super::codec::Codec::JsonDocuments.messages(data)?),
            "csv" => plain(
                super::codec::Codec::Csv {
                    delimiter: b',',
                    header: true,
                    lazy_quotes: false,
                }
                .messages(data)?,
            ),
            "tar" => {
                let mut a = tar::Archive::new(data);
                let mut out = Vec::new();
                for entry in a.entries().map_err(|e| e.to_string())? {
                    let mut entry = entry.map_err(|e| e.to_string())?;
                    if !entry.header().entry_type().is_file() {
                        continue;
                    }
                    let name = entry
                        .path()
                        .map_err(|e| e.to_string())?
                        .display()
                        .to_string();
                    let mut buf = Vec::new();
                    entry.read_to_end(&mut buf).map_err(|e| e.to_string())?;
                    out.push((buf, Some(("archive_filename", name))));
                }
                out
            }
            "zip" => {
                let mut z =
                    zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for i in 0..z.len() {
                    let mut f = z.by_index(i).map_err(|e| e.to_string())?;
                    if !f.is_file() {
                        continue;
                    }
                    let name = f.name().to_string();
                    let mut buf = Vec::new();
                    f.read_to_end(&mut buf).map_err(|e| e.to_string())?;
                    out.push((buf, Some(("archive_filename", name))));
                }
                out
            }
            other => return Err(format!("unarchive format {:?} is not supported", other)),
        })
    }
}

impl Processor for Unarchive {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        for mut m in batch {
            match self.unpack(&m.payload) {
                Ok(parts) => {
                    for (payload, meta) in parts {
                        let mut part = Message {
                            payload: Bytes::from(payload),
                            metadata: m.metadata.clone(),
                            error: None,
                        };
                        if let Some((k, v)) = meta {
                            part.metadata.insert(k.into(), Value::Str(v));
                        }
                        out.push(part);
                    }
                }
                Err(e) => {
                    m.error = Some(format!("unarchive: {}", e));
                    out.push(m);
                }
            }
        }
        out
    }
}
