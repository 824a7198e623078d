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
            Codec::AllBytes => b"",
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
