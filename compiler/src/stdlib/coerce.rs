//! Shared type coercions and helpers for the method families: reading a value as a string,
//! bytes, number or integer with the reference's error wording, dot paths, and a regex cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::error::EvalError;
use crate::value::Value;

/// The value as a string slice (strings and UTF-8 bytes).
pub fn as_str(v: &Value) -> Result<&str, EvalError> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Bytes(b) => std::str::from_utf8(b).map_err(|_| EvalError::expected("string", v)),
        other => Err(EvalError::expected("string", other)),
    }
}

/// The value as an owned string (bytes converted lossily).
pub fn into_string(v: Value) -> Result<String, EvalError> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        other => Err(EvalError::expected("string", &other)),
    }
}

/// The raw bytes of a string or bytes value.
pub fn as_bytes(v: &Value) -> Result<&[u8], EvalError> {
    match v {
        Value::Str(s) => Ok(s.as_bytes()),
        Value::Bytes(b) => Ok(b),
        other => Err(EvalError::expected("string", other)),
    }
}

/// The bytes of any value, as the reference's `.bytes()` produces them: strings and bytes
/// raw, everything else as its display (JSON) form.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.to_vec(),
        other => other.to_display_string().into_bytes(),
    }
}

/// Wraps bytes as a value.
pub fn bytes_value(b: Vec<u8>) -> Value {
    Value::Bytes(Bytes::from(b))
}

/// Applies a string transformation, keeping the kind of the input (string in, string out;
/// bytes in, bytes out).
pub fn map_text(v: Value, f: impl FnOnce(&str) -> String) -> Result<Value, EvalError> {
    match v {
        Value::Str(s) => Ok(Value::Str(f(&s))),
        Value::Bytes(b) => Ok(bytes_value(f(&String::from_utf8_lossy(&b)).into_bytes())),
        other => Err(EvalError::expected("string", &other)),
    }
}

/// The value as a float (numbers only).
pub fn as_f64(v: &Value) -> Result<f64, EvalError> {
    v.as_f64().ok_or_else(|| EvalError::expected("number", v))
}

/// The value as an integer: integers, integral floats.
pub fn as_i64(v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.3e18 => Ok(*f as i64),
        other => Err(EvalError::expected("integer", other)),
    }
}

/// A float as a value, as an integer when it is integral and fits (the reference's rounding
/// methods return int64 when they can).
pub fn int_if_integral(f: f64) -> Value {
    if f.fract() == 0.0 && (-9.223372036854775e18..9.223372036854775e18).contains(&f) {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

/// Parses a number from text like the reference's `.number()`: an integer when the text is
/// one, else a float.
pub fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Int(i));
    }
    let f: f64 = t.parse().ok()?;
    Some(Value::Float(f))
}

/// The value as an array.
pub fn as_array(v: &Value) -> Result<&Vec<Value>, EvalError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(EvalError::expected("array", other)),
    }
}

/// The value as an object.
pub fn as_object(v: &Value) -> Result<&crate::value::Object, EvalError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(EvalError::expected("object", other)),
    }
}

/// The value as a boolean.
pub fn as_bool(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::expected("bool", other)),
    }
}

/// Splits a dot path (`a.b.0`) into segments; `~1` stands for `.` and `~0` for `~` inside a
/// segment. The empty path is the value itself.
pub fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('.')
        .map(|s| s.replace("~1", ".").replace("~0", "~"))
        .collect()
}

/// A compiled regular expression, cached by pattern.
pub fn regex(pattern: &str) -> Result<Arc<regex::Regex>, EvalError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Ok(r.clone());
    }
    let r = Arc::new(
        regex::Regex::new(pattern)
            .map_err(|e| EvalError::new(format!("failed to compile regex: {}", e)))?,
    );
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() > 1024 {
        c.clear();
    }
    c.insert(pattern.to_string(), r.clone());
    Ok(r)
}

/// The value rendered as Go's `%v` verb renders it (strings raw, numbers shortest, arrays
/// `[a b]`, objects `map[k:v]`).
pub fn go_value_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => format!("{:?}", b.as_ref()).replace(',', ""),
        Value::Null | Value::Nothing | Value::Deleted => "<nil>".into(),
        Value::Float(f) => go_float_g(*f),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_value_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{}:{}", k, go_value_string(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_display_string(),
    }
}

/// Formats a float as Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits,
/// exponent form when the exponent is < -4 or >= 21.
pub fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        let s = format!("{:e}", f);
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{}e{}{:02}", mant, if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        format!("{}", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_floats() {
        assert_eq!(go_float_g(37.0), "37");
        assert_eq!(go_float_g(1.5), "1.5");
        assert_eq!(go_float_g(1e21), "1e+21");
        assert_eq!(go_float_g(1.5e-7), "1.5e-07");
    }

    #[test]
    fn integral_floats_become_ints() {
        assert_eq!(int_if_integral(6.0), Value::Int(6));
        assert!(matches!(int_if_integral(6.5), Value::Float(_)));
        assert!(matches!(int_if_integral(1e30), Value::Float(_)));
    }

    #[test]
    fn paths_unescape() {
        assert_eq!(split_path("a.b~1c.d"), vec!["a", "b.c", "d"]);
        assert!(split_path("").is_empty());
    }
}
