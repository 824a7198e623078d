//! The value model shared by every back end and by the standard library.
//!
//! A [`Value`] is what a Bloblang expression evaluates to. Objects keep their keys sorted
//! (`BTreeMap`), so serialisation matches the reference engine (compact JSON, sorted keys,
//! no HTML escaping) without a sort step. Two sentinels exist besides the JSON-like values:
//! [`Value::Nothing`] (an expression that produced no value, e.g. an `if` without `else`;
//! assigning it is a no-op) and [`Value::Deleted`] (`deleted()`: removes the assignment target).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, SecondsFormat};

/// An object: keys sorted, as the reference engine serialises them.
pub type Object = BTreeMap<String, Value>;

/// A Bloblang value.
///
/// The layout is fixed (`repr(C, u8)`): a one-byte tag in declaration order at offset 0 and
/// the payload at offset 8, so JIT-compiled code can test tags and read or write numbers and
/// booleans without a call (see [`crate::jit`]).
#[derive(Debug, Clone, Default)]
#[repr(C, u8)]
pub enum Value {
    /// JSON `null`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (e.g. `content()`); serialised as a (lossy UTF-8) string.
    Bytes(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object with sorted keys.
    Object(Object),
    /// A timestamp with its offset.
    Timestamp(DateTime<FixedOffset>),
    /// No value: assignments of it are skipped.
    Nothing,
    /// `deleted()`: removes the assignment target.
    Deleted,
}

impl Value {
    /// The reference engine's type name, as returned by `.type()`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Timestamp(_) => "timestamp",
            Value::Nothing => "nothing",
            Value::Deleted => "delete",
        }
    }

    /// An unsigned JSON integer: an integer when it fits `i64`, else a float (as the
    /// reference reads numbers).
    pub fn from_u64(v: u64) -> Value {
        i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64))
    }

    /// Builds a string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Parses a JSON document into a value. Integers that fit in `i64` stay integers.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = <Value as serde::Deserialize>::deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    /// Serialises the value as compact JSON with sorted keys and no HTML escaping.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out);
        out
    }

    /// The bytes a message payload gets when this value is assigned to `root`: strings and
    /// bytes raw, everything else as JSON.
    pub fn to_payload(&self) -> Bytes {
        match self {
            Value::Str(s) => Bytes::copy_from_slice(s.as_bytes()),
            Value::Bytes(b) => b.clone(),
            other => Bytes::from(other.to_json_string()),
        }
    }

    /// The value rendered as a string the way the reference's `.string()` and string
    /// concatenation do: strings raw, everything else as JSON.
    pub fn to_display_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Timestamp(t) => format_timestamp_rfc3339(t),
            other => other.to_json_string(),
        }
    }

    /// The value a JSON round trip (serialise, then parse) would give, computed without the
    /// round trip: timestamps and bytes become strings, integral floats that print without an
    /// exponent become integers, non-finite floats become null. Fused stages use it so that
    /// handing a document over in memory is indistinguishable from handing over its bytes.
    pub fn into_json_equivalent(mut self) -> Value {
        self.make_json_equivalent();
        self
    }

    /// [`Value::into_json_equivalent`] in place: only the leaves that change are rewritten,
    /// containers are not rebuilt.
    pub fn make_json_equivalent(&mut self) {
        match self {
            Value::Timestamp(t) => *self = Value::Str(format_timestamp_rfc3339(t)),
            Value::Bytes(b) => *self = Value::Str(String::from_utf8_lossy(b).into_owned()),
            Value::Float(f) if !f.is_finite() => *self = Value::Null,
            // Negative zero serialises as `-0`, which parses back as a float: it stays one.
            Value::Float(f)
                if f.fract() == 0.0
                    && !(*f == 0.0 && f.is_sign_negative())
                    && f.abs() < 1e21
                    && *f >= i64::MIN as f64
                    && *f < i64::MAX as f64 =>
            {
                // Past 2^53 the serialiser writes the shortest decimal that round-trips (Go's
                // `strconv` 'f', -1), not the float's exact integer: a round trip parses that.
                *self = if f.abs() < 9_007_199_254_740_992.0 {
                    Value::Int(*f as i64)
                } else {
                    let mut text = String::new();
                    write_json(&Value::Float(*f), &mut text);
                    text.parse::<i64>()
                        .map(Value::Int)
                        .unwrap_or(Value::Float(*f))
                }
            }
            Value::Array(a) => a.iter_mut().for_each(Value::make_json_equivalent),
            Value::Object(o) => o.values_mut().for_each(Value::make_json_equivalent),
            Value::Nothing | Value::Deleted => *self = Value::Null,
            _ => {}
        }
    }

    /// Converts a `serde_json::Value` into a value.
    pub fn from_serde(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => number_from_serde(&n),
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => {
                Value::Array(a.into_iter().map(Value::from_serde).collect())
            }
            serde_json::Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_serde(v)))
                    .collect(),
            ),
        }
    }

    /// Converts the value into a `serde_json::Value` (timestamps become RFC 3339 strings,
    /// bytes become strings, sentinels become null).
    pub fn to_serde(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Nothing | Value::Deleted => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_serde).collect()),
            Value::Object(o) => serde_json::Value::Object(
                o.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect(),
            ),
            Value::Timestamp(t) => serde_json::Value::String(format_timestamp_rfc3339(t)),
        }
    }
}

fn number_from_serde(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Int(i)
    } else {
        Value::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Formats a timestamp as the reference does (Go's RFC 3339 with nanoseconds, `Z` for UTC).
pub fn format_timestamp_rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats a float as Go's `encoding/json` does: shortest representation, no exponent between
/// 1e-6 and 1e21, integral floats without a decimal point.
pub fn format_float(f: f64, out: &mut String) {
    if f.is_nan() || f.is_infinite() {
        // Go refuses to encode these; the reference errors. We print null as the safest JSON.
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: strconv 'e' format then "e-07" -> "e-7".
        let s = format!("{:e}", f);
        // Rust prints 1e21 as "1e21" and 1e-7 as "1e-7"; Go prints "1e+21" and "1e-07" then
        // strips the leading zero of a two-digit negative exponent, giving "1e-7".
        if let Some(pos) = s.find('e') {
            let (mant, exp) = s.split_at(pos);
            let exp = &exp[1..];
            out.push_str(mant);
            out.push('e');
            if let Some(neg) = exp.strip_prefix('-') {
                out.push('-');
                out.push_str(neg);
            } else {
                out.push('+');
                out.push_str(exp);
            }
        } else {
            out.push_str(&s);
        }
        return;
    }
    let _ = write!(out, "{}", f);
}

/// Writes a string as a JSON string literal (no HTML escaping, as the reference configures).
pub fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a value as compact JSON.
pub fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Nothing | Value::Deleted => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{}", i);
        }
        Value::Float(f) => format_float(*f, out),
        Value::Str(s) => write_json_str(s, out),
        Value::Bytes(b) => write_json_str(&String::from_utf8_lossy(b), out),
        Value::Timestamp(t) => write_json_str(&format_timestamp_rfc3339(t), out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, e)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(e, out);
            }
            out.push('}');
        }
    }
}

/// Writes a value as indented JSON (`format_json` with an indent).
pub fn write_json_pretty(v: &Value, indent: &str, depth: usize, out: &mut String) {
    let pad = |out: &mut String, d: usize| {
        for _ in 0..d {
            out.push_str(indent);
        }
    };
    match v {
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pad(out, depth + 1);
                write_json_pretty(e, indent, depth + 1, out);
            }
            out.push('\n');
            pad(out, depth);
            out.push(']');
        }
        Value::Object(o) if !o.is_empty() => {
            out.push_str("{\n");
            for (i, (k, e)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pad(out, depth + 1);
                write_json_str(k, out);
                out.push_str(": ");
                write_json_pretty(e, indent, depth + 1, out);
            }
            out.push('\n');
            pad(out, depth);
            out.push('}');
        }
        other => write_json(other, out),
    }
}

impl PartialEq for Value {
    /// Equality as Bloblang's `==`: numbers compare by value across int/float, arrays and
    /// objects deeply, bytes equal strings with the same content.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                self.as_f64() == other.as_f64()
            }
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Str(a), Value::Bytes(b)) | (Value::Bytes(b), Value::Str(a)) => {
                a.as_bytes() == &b[..]
            }
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Nothing, Value::Nothing) => true,
            (Value::Deleted, Value::Deleted) => true,
            _ => false,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from_u64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Object::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_sorts_keys_and_keeps_ints() {
        let v = Value::from_json_slice(br#"{"b":1,"a":[1.5,2,"x<y>"],"c":null}"#).unwrap();
        assert_eq!(v.to_json_string(), r#"{"a":[1.5,2,"x<y>"],"b":1,"c":null}"#);
    }

    #[test]
    fn floats_format_like_go() {
        let f = |x: f64| {
            let mut s = String::new();
            format_float(x, &mut s);
            s
        };
        assert_eq!(f(3.0), "3");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(-2.5), "-2.5");
    }

    #[test]
    fn json_equivalent_matches_a_round_trip() {
        let v = Value::Array(vec![
            Value::Float(3.0),
            Value::Float(2.5),
            Value::Float(1e22),
            Value::Bytes(Bytes::from_static(b"b")),
            Value::Float(f64::NAN),
        ]);
        let round = Value::from_json_slice(v.to_json_string().as_bytes()).unwrap();
        assert_eq!(
            format!("{:?}", v.into_json_equivalent()),
            format!("{:?}", round)
        );
    }

    #[test]
    fn numbers_compare_across_kinds() {
        assert_eq!(Value::Int(2), Value::Float(2.0));
        assert_ne!(Value::str("5"), Value::Int(5));
    }
}
