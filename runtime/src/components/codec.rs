//! Codecs that cut a byte stream into messages and join messages into a byte stream:
//! `lines`, `delim:<x>`, `all-bytes` (the reference's `codec`/`scanner` settings of the
//! `stdin`, `file` and `stdout` components).

/// How messages are framed in a byte stream.
#[derive(Debug, Clone)]
pub enum Codec {
    /// One message per line (`\n`, a trailing `\r` is dropped when reading).
    Lines,
    /// Messages separated by a custom delimiter.
    Delim(Vec<u8>),
    /// The whole stream is one message.
    AllBytes,
    /// The `lines` scanner: messages separated by `delimiter` (default `\n`, then a trailing
    /// `\r` is dropped too); empty messages kept unless `omit_empty`.
    Scanned {
        /// The separator (`custom_delimiter`), empty for the default line ending.
        delimiter: Vec<u8>,
        /// Whether empty messages are dropped.
        omit_empty: bool,
    },
    /// The `chunker` scanner: messages of `size` bytes (the last one shorter).
    Chunks(usize),
    /// The `skip_bom` scanner: a leading UTF-8 byte order mark removed, then the inner one.
    SkipBom(Box<Codec>),
    /// The `decompress` scanner: the stream decompressed with `algorithm`, then the inner one.
    Decompress(String, Box<Codec>),
    /// The `json_documents` scanner: one message per JSON document in the stream.
    JsonDocuments,
    /// The `csv` scanner: one message per row, a JSON object keyed by the header row (or an
    /// array without one).
    Csv {
        /// Field delimiter.
        delimiter: u8,
        /// Whether the first row names the fields.
        header: bool,
        /// Whether rows may have differing numbers of fields.
        lazy_quotes: bool,
    },
    /// The `re_match` scanner: a new message starts at each match of the pattern.
    ReMatch(regex::bytes::Regex),
    /// The `json_array` scanner: one message per element of a top-level JSON array.
    JsonArray,
    /// The `tar` scanner: one message per file of a tar archive.
    Tar,
    /// The `switch` scanner: the first case whose `re_match_name` matches the source's name
    /// (a file's path) reads it; a case without a pattern matches every name.
    Switch(Vec<(Option<regex::Regex>, Codec)>),
}

impl Codec {
    /// Parses a codec name: `lines`, `delim:X`, `all-bytes`.
    pub fn parse(name: &str) -> Result<Codec, String> {
        match name {
            "" | "lines" => Ok(Codec::Lines),
            "all-bytes" | "all_bytes" => Ok(Codec::AllBytes),
            n if n.starts_with("delim:") && n.len() > 6 => {
                Ok(Codec::Delim(n.as_bytes()[6..].to_vec()))
            }
            other => Err(format!(
                "codec {:?} is not supported (use lines, delim:X or all-bytes)",
                other
            )),
        }
    }

    /// The separator written after each message.
    pub fn separator(&self) -> &[u8] {
        match self {
            Codec::Lines => b"\n",
            Codec::Delim(d) => d,
            Codec::AllBytes | Codec::Chunks(_) => b"",
            Codec::Scanned { delimiter, .. } if !delimiter.is_empty() => delimiter,
            Codec::Scanned { .. } => b"\n",
            Codec::SkipBom(inner) | Codec::Decompress(_, inner) => inner.separator(),
            Codec::JsonDocuments
            | Codec::Csv { .. }
            | Codec::ReMatch(_)
            | Codec::JsonArray
            | Codec::Tar
            | Codec::Switch(_) => b"\n",
        }
    }

    /// Whether messages end at line breaks, so a stream can be cut after any `\n` (stdin
    /// emits what it has at each line break; other scanners read to the end first).
    pub fn line_framed(&self) -> bool {
        match self {
            Codec::Lines => true,
            Codec::Scanned { delimiter, .. } => delimiter.is_empty(),
            _ => false,
        }
    }

    /// The messages of a complete buffer; fails when the data cannot be read as the scanner
    /// says (bad compression, invalid JSON or CSV).
    pub fn messages(&self, data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.messages_named(data, "")
    }

    /// The messages of a complete buffer read from a source called `name` (a file's path:
    /// the `switch` scanner picks its case by it).
    pub fn messages_named(&self, data: &[u8], name: &str) -> Result<Vec<Vec<u8>>, String> {
        match self {
            Codec::Switch(cases) => {
                for (pattern, codec) in cases {
                    if pattern.as_ref().is_none_or(|p| p.is_match(name)) {
                        return codec.messages_named(data, name);
                    }
                }
                Err(format!(
                    "no scanner case matched the source name '{}'",
                    name
                ))
            }
            Codec::JsonArray => {
                let v: serde_json::Value = serde_json::from_slice(data)
                    .map_err(|e| format!("invalid JSON array: {}", e))?;
                match v {
                    serde_json::Value::Array(items) => Ok(items
                        .into_iter()
                        .map(|i| i.to_string().into_bytes())
                        .collect()),
                    _ => Err("expected a JSON array".into()),
                }
            }
            Codec::Tar => {
                let mut archive = tar::Archive::new(data);
                let mut out = Vec::new();
                for entry in archive.entries().map_err(|e| e.to_string())? {
                    let mut entry = entry.map_err(|e| e.to_string())?;
                    if !entry.header().entry_type().is_file() {
                        continue;
                    }
                    let mut body = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut body).map_err(|e| e.to_string())?;
                    out.push(body);
                }
                Ok(out)
            }
            Codec::Decompress(algorithm, inner) => {
                let plain = sluice_compiler::stdlib::encoding::decompress(algorithm, data)
                    .map_err(|e| e.to_string())?;
                inner.messages_named(&plain, name)
            }
            Codec::SkipBom(inner) => {
                inner.messages_named(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data), name)
            }
            Codec::JsonDocuments => serde_json::Deserializer::from_slice(data)
                .into_iter::<serde_json::Value>()
                .map(|v| {
                    v.map(|v| v.to_string().into_bytes())
                        .map_err(|e| format!("invalid JSON document: {}", e))
                })
                .collect(),
            Codec::Csv {
                delimiter,
                header,
                lazy_quotes,
            } => {
                let mut r = csv::ReaderBuilder::new()
                    .delimiter(*delimiter)
                    .has_headers(*header)
                    .flexible(*lazy_quotes)
                    .from_reader(data);
                let names: Vec<String> = if *header {
                    r.headers()
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(str::to_string)
                        .collect()
                } else {
                    Vec::new()
                };
                let mut out = Vec::new();
                for row in r.records() {
                    let row = row.map_err(|e| e.to_string())?;
                    let v = if *header {
                        serde_json::Value::Object(
                            names
                                .iter()
                                .cloned()
                                .zip(row.iter().map(|f| f.into()))
                                .collect(),
                        )
                    } else {
                        serde_json::Value::Array(row.iter().map(|f| f.into()).collect())
                    };
                    out.push(v.to_string().into_bytes());
                }
                Ok(out)
            }
            Codec::ReMatch(re) => {
                let mut out = Vec::new();
                let mut from = 0;
                for m in re.find_iter(data) {
                    if m.start() > from {
                        out.push(data[from..m.start()].to_vec());
                        from = m.start();
                    }
                }
                if from < data.len() {
                    out.push(data[from..].to_vec());
                }
                Ok(out)
            }
            other => Ok(other.split(data).into_iter().map(<[u8]>::to_vec).collect()),
        }
    }

    /// Splits a complete buffer into messages (the framing codecs; the decoding scanners go
    /// through [`Codec::messages`]).
    pub fn split<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        match self {
            Codec::AllBytes => {
                if data.is_empty() {
                    vec![]
                } else {
                    vec![data]
                }
            }
            Codec::Lines => data
                .split(|b| *b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty())
                .collect(),
            Codec::Scanned {
                delimiter,
                omit_empty,
            } => {
                let mut parts: Vec<&[u8]> = if delimiter.is_empty() {
                    data.split(|b| *b == b'\n')
                        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                        .collect()
                } else {
                    let mut out = Vec::new();
                    let mut rest = data;
                    while let Some(i) = find(rest, delimiter) {
                        out.push(&rest[..i]);
                        rest = &rest[i + delimiter.len()..];
                    }
                    out.push(rest);
                    out
                };
                // A final separator ends the last message rather than starting an empty one.
                if parts.last().is_some_and(|p| p.is_empty()) {
                    parts.pop();
                }
                if *omit_empty {
                    parts.retain(|p| !p.is_empty());
                }
                parts
            }
            Codec::Chunks(size) => data.chunks((*size).max(1)).collect(),
            Codec::SkipBom(inner) => {
                inner.split(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data))
            }
            Codec::Decompress(..)
            | Codec::JsonDocuments
            | Codec::Csv { .. }
            | Codec::ReMatch(_)
            | Codec::JsonArray
            | Codec::Tar
            | Codec::Switch(_) => {
                vec![data]
            }
            Codec::Delim(d) => {
                let mut out = Vec::new();
                let mut rest = data;
                while let Some(i) = find(rest, d) {
                    if i > 0 {
                        out.push(&rest[..i]);
                    }
                    rest = &rest[i + d.len()..];
                }
                if !rest.is_empty() {
                    out.push(rest);
                }
                out
            }
        }
    }
}

pub(crate) fn codec_field(
    cfg: &crate::config::stream::ComponentConfig,
) -> Result<Codec, crate::stream::ComponentError> {
    Codec::parse(cfg.str("codec").unwrap_or("lines")).map_err(crate::stream::ComponentError::new)
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_delimiters() {
        assert_eq!(
            Codec::Lines.split(b"a\r\nb\n\nc"),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert_eq!(
            Codec::parse("delim:||").unwrap().split(b"a||b||"),
            vec![&b"a"[..], b"b"]
        );
        assert_eq!(Codec::AllBytes.split(b"a\nb"), vec![&b"a\nb"[..]]);
    }
}
