//! Environment-variable interpolation (`${VAR}`) over raw config text, applied to config files
//! only (configs posted to the API are kept literally).
//!
//! One pass over the text, before YAML parsing: `${NAME}`, `${NAME:default}`,
//! `${NAME|base64decode}`, `${NAME:default|base64decode}`; `${{NAME}}` is an escape for the
//! literal `${NAME}`. Names are ASCII letters, digits, `_` and `.`, so function interpolations
//! (`${! ... }`) are never touched. Newlines in substituted values become the two characters
//! `\n` so that line numbers in the text are preserved. The variable lookup is a closure so
//! callers (and tests) decide where values come from.

use thiserror::Error;

/// A failure that stops interpolation (missing variables are not failures: see
/// [`Interpolated::missing`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    /// A `|base64decode` value was not valid base64.
    #[error("failed to decode base64-encoded env var: {0}")]
    Base64(String),
    /// A `|func` other than `base64decode`.
    #[error("unknown env var decode function: {0}")]
    UnknownFunction(String),
}

/// The result of interpolating a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The text with every reference replaced (missing variables replaced by empty strings).
    pub text: String,
    /// Names of referenced variables that were not set and had no default, in order of
    /// appearance (duplicates kept).
    pub missing: Vec<String>,
}

impl Interpolated {
    /// The reference's message for the missing variables, if any:
    /// `required environment variables were not set: [A B]`.
    pub fn missing_message(&self) -> Option<String> {
        (!self.missing.is_empty()).then(|| {
            format!(
                "required environment variables were not set: [{}]",
                self.missing.join(" ")
            )
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Interpolates `${...}` references in `text`, looking values up with `lookup`.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        if let Some(len) = escaped_reference(after) {
            // `${{NAME...}}` → `${NAME...}`
            out.push_str("${");
            out.push_str(&after[1..len]);
            rest = &after[len + 1..];
            continue;
        }
        match reference(after) {
            Some((r, len)) => {
                out.push_str(&r.resolve(lookup, &mut missing)?);
                rest = &after[len..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(Interpolated { text: out, missing })
}

/// A parsed `${...}` reference.
struct Reference<'a> {
    name: &'a str,
    default: Option<&'a str>,
    function: Option<&'a str>,
}

impl Reference<'_> {
    fn resolve(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        missing: &mut Vec<String>,
    ) -> Result<String, EnvError> {
        let value = match (lookup(self.name), self.default) {
            (Some(v), Some(d)) if v.is_empty() => d.to_string(),
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                missing.push(self.name.to_string());
                String::new()
            }
        };
        let value = match self.function {
            None => value,
            Some("base64decode") => {
                let bytes = base64_decode(&value).map_err(EnvError::Base64)?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Some(f) => return Err(EnvError::UnknownFunction(f.to_string())),
        };
        Ok(value.replace('\n', "\\n"))
    }
}

/// Parses `NAME[:default][|func]}` at the start of `s` (just after `${`); returns the reference
/// and the number of bytes consumed including the closing brace.
fn reference(s: &str) -> Option<(Reference<'_>, usize)> {
    let name_len = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    if name_len == 0 {
        return None;
    }
    let name = &s[..name_len];
    let mut i = name_len;
    let mut default = None;
    if s[i..].starts_with(':') {
        let start = i + 1;
        let end = default_end(&s[start..])? + start;
        default = Some(&s[start..end]);
        i = end;
    }
    let mut function = None;
    if s[i..].starts_with('|') {
        let start = i + 1;
        let end = s[start..].find('}')? + start;
        function = Some(&s[start..end]);
        i = end;
    }
    if !s[i..].starts_with('}') {
        return None;
    }
    // A default may carry its own `|func` suffix: `${A:x|base64decode}`.
    if let (Some(d), None) = (default, function) {
        if let Some(bar) = d.rfind('|') {
            let f = &d[bar + 1..];
            if !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                default = Some(&d[..bar]);
                function = Some(f);
            }
        }
    }
    Some((
        Reference {
            name,
            default,
            function,
        },
        i + 1,
    ))
}

/// Length of a default value: up to the first `}` that does not close a nested `${...}`.
fn default_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
        i += 1;
    }
    None
}

/// For `${{NAME...}}`: the length of `{NAME...}` (the part between `${` and the final `}`), when
/// the inner part is a valid reference.
fn escaped_reference(s: &str) -> Option<usize> {
    let inner = s.strip_prefix('{')?;
    let (_, len) = reference(inner)?;
    // `inner[..len]` ends with the reference's `}`; the escape needs one more.
    inner[len..].starts_with('}').then_some(len + 1)
}

/// Standard-alphabet base64 decoding (padding optional).
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, c) in s.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("illegal base64 data at input byte {i}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits == 6 {
        return Err(format!("illegal base64 data at input byte {}", s.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("localhost".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            "B64" => Some("aGVsbG8=".into()),
            "BAD64" => Some("!!".into()),
            "a.b_1" => Some("dotted".into()),
            _ => None,
        }
    }

    fn run(s: &str) -> Interpolated {
        interpolate(s, &env).unwrap()
    }

    #[test]
    fn substitutes_and_defaults() {
        assert_eq!(
            run("url: http://${HOST}:9092").text,
            "url: http://localhost:9092"
        );
        assert_eq!(run("${NOPE:fallback}").text, "fallback");
        assert_eq!(run("${EMPTY:fallback}").text, "fallback");
        assert_eq!(run("${EMPTY}").text, "");
        assert!(run("${EMPTY}").missing.is_empty());
        assert_eq!(run("${NOPE:}").text, "");
        assert!(run("${NOPE:}").missing.is_empty());
        assert_eq!(run("${a.b_1}").text, "dotted");
        assert_eq!(run("${NOPE:${X}}").text, "${X}");
        assert_eq!(run("${NOPE:a:b}").text, "a:b");
    }

    #[test]
    fn reports_missing_in_order() {
        let r = run("${B_MISSING} ${A_MISSING} ${B_MISSING}");
        assert_eq!(r.missing, vec!["B_MISSING", "A_MISSING", "B_MISSING"]);
        assert_eq!(
            r.missing_message().unwrap(),
            "required environment variables were not set: [B_MISSING A_MISSING B_MISSING]"
        );
        assert_eq!(r.text, "  ");
    }

    #[test]
    fn escapes_newlines_and_function_interpolations() {
        assert_eq!(run("v: ${MULTI}").text, "v: a\\nb");
        assert_eq!(
            run("${! meta(\"x\") } ${!foo}").text,
            "${! meta(\"x\") } ${!foo}"
        );
        assert_eq!(run("${{HOST}} ${{NOPE:d}}").text, "${HOST} ${NOPE:d}");
        assert_eq!(
            run("$ {HOST} ${ HOST} $${HOST}").text,
            "$ {HOST} ${ HOST} $localhost"
        );
        assert_eq!(run("${unterminated").text, "${unterminated");
    }

    #[test]
    fn base64_decode_function() {
        assert_eq!(run("${B64|base64decode}").text, "hello");
        assert_eq!(run("${NOPE:aGk=|base64decode}").text, "hi");
        assert!(matches!(
            interpolate("${BAD64|base64decode}", &env),
            Err(EnvError::Base64(_))
        ));
        assert_eq!(
            interpolate("${HOST|rot13}", &env).unwrap_err().to_string(),
            "unknown env var decode function: rot13"
        );
    }
}
