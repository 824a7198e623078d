//! Codecs that cut a byte stream into messages and join messages into a byte stream:
//! `lines`, `delim:<x>`, `all-bytes` (the reference's `codec`/`scanner` settings of the
//! `stdin`, `file` and `stdout` components).

/// How messages are framed in a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            Codec::SkipBom(inner) => inner.separator(),
        }
    }

    /// Splits a complete buffer into messages.
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
