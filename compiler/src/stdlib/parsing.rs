//! Standard library: parsing and formatting of documents (JSON, YAML, CSV, URLs, logfmt,
//! form encoding, XML, MessagePack).

use super::coerce::{as_bytes, as_str, bytes_value};
use super::strings::url_unescape;
use super::{Default, MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::{write_json_pretty, Object, Value};

/// Declares a pure method.
macro_rules! m {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: true, imp: $imp }
    };
}

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    m!("parse_json", [Param::opt("use_number")], Any, |_, v| {
        Value::from_json_slice(as_bytes(&v)?)
            .map_err(|e| EvalError::new(format!("failed to parse value as JSON: {}", e)))
    }),
    m!(
        "format_json",
        [
            Param::def("indent", Default::Str("    ")),
            Param::def("no_indent", Default::Bool(false)),
            Param::def("escape_html", Default::Bool(true))
        ],
        Bytes,
        format_json
    ),
    m!("parse_yaml", [], Any, |_, v| {
        let y: serde_yaml_ng::Value = serde_yaml_ng::from_slice(as_bytes(&v)?)
            .map_err(|e| EvalError::new(format!("failed to parse value as YAML: {}", e)))?;
        Ok(from_yaml(y))
    }),
    m!("format_yaml", [], Bytes, |_, v| {
        let s =
            serde_yaml_ng::to_string(&v.to_serde()).map_err(|e| EvalError::new(e.to_string()))?;
        Ok(bytes_value(s.into_bytes()))
    }),
    m!(
        "parse_csv",
        [
            Param::def("parse_header_row", Default::Bool(true)),
            Param::def("delimiter", Default::Str(",")),
            Param::def("lazy_quotes", Default::Bool(false))
        ],
        Array,
        parse_csv
    ),
    m!("parse_url", [], Object, |_, v| parse_url(as_str(&v)?)),
    m!("parse_logfmt", [], Object, |_, v| parse_logfmt(as_str(&v)?)
        .map(Value::Object)),
    m!("parse_form_url_encoded", [], Object, |_, v| parse_form(
        as_str(&v)?
    )
    .map(Value::Object)),
    m!(
        "parse_xml",
        [Param::def("cast", Default::Bool(false))],
        Any,
        |c, v| {
            let cast = c.bool(0)?;
            // Elements are bounded by the parser; repeated siblings add array levels.
            let out = parse_xml(as_str(&v)?, cast)?;
            crate::limits::check_depth(&out)?;
            Ok(out)
        }
    ),
    m!(
        "format_xml",
        [
            Param::def("indent", Default::Str("")),
            Param::def("no_indent", Default::Bool(false))
        ],
        Bytes,
        |c, v| {
            let indent = c.string(0)?;
            let indent = if c.bool(1)? { String::new() } else { indent };
            format_xml(&v, &indent).map(|s| bytes_value(s.into_bytes()))
        }
    ),
    m!("parse_msgpack", [], Any, |_, v| {
        let mut r = as_bytes(&v)?;
        let mv = rmpv::decode::read_value(&mut r)
            .map_err(|e| EvalError::new(format!("failed to parse MessagePack: {}", e)))?;
        Ok(from_msgpack(mv))
    }),
    m!("format_msgpack", [], Bytes, |_, v| {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &to_msgpack(&v))
            .map_err(|e| EvalError::new(e.to_string()))?;
        Ok(bytes_value(out))
    }),
    m!("infer_schema", [], Object, |_, v| Ok(infer_schema(&v))),
];

fn format_json(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let indent = c.string(0)?;
    let no_indent = c.bool(1)?;
    let escape = c.bool(2)?;
    let mut out = String::new();
    if no_indent || indent.is_empty() {
        out = v.to_json_string();
    } else {
        write_json_pretty(&v, &indent, 0, &mut out);
    }
    if escape {
        out = out
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
    }
    Ok(bytes_value(out.into_bytes()))
}

fn from_yaml(y: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Value::Str(s),
        Y::Sequence(a) => Value::Array(a.into_iter().map(from_yaml).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match from_yaml(k) {
                        Value::Str(s) => s,
                        other => other.to_display_string(),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => from_yaml(t.value),
    }
}

fn parse_csv(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let header = c.bool(0)?;
    let delim = c.string(1)?;
    let _lazy = c.bool(2)?;
    let d = match delim.as_bytes() {
        [b] => *b,
        _ => {
            return Err(EvalError::new(
                "delimiter value must be exactly one character",
            ))
        }
    };
    parse_csv_text(as_bytes(&v)?, d, header)
}

/// Parses CSV text: with `header`, the first row names the fields of one object per
/// following row; without, one array of strings per row. Rows must have equal lengths.
pub fn parse_csv_text(data: &[u8], d: u8, header: bool) -> Result<Value, EvalError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(d)
        .from_reader(data);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| EvalError::new(format!("failed to parse csv: {}", e)))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if !header {
        return Ok(Value::Array(
            rows.into_iter()
                .map(|r| Value::Array(r.into_iter().map(Value::Str).collect()))
                .collect(),
        ));
    }
    let mut it = rows.into_iter();
    let Some(names) = it.next() else {
        return Ok(Value::Array(Vec::new()));
    };
    Ok(Value::Array(
        it.map(|r| {
            Value::Object(
                names
                    .iter()
                    .cloned()
                    .zip(r.into_iter().map(Value::Str))
                    .collect(),
            )
        })
        .collect(),
    ))
}

/// Go's `url.Parse` for absolute and relative URLs, as an object of its fields.
pub fn parse_url(s: &str) -> Result<Value, EvalError> {
    let mut o = Object::new();
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    let (scheme, mut rest) = match rest.find(':') {
        Some(i)
            if i > 0
                && rest.as_bytes()[0].is_ascii_alphabetic()
                && rest[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.') =>
        {
            (rest[..i].to_ascii_lowercase(), &rest[i + 1..])
        }
        Some(0) => {
            return Err(EvalError::new(format!(
                "parse \"{}\": missing protocol scheme",
                s
            )))
        }
        _ => (String::new(), rest),
    };
    let mut raw_query = String::new();
    if let Some((r, q)) = rest.split_once('?') {
        raw_query = q.to_string();
        rest = r;
    }
    let mut opaque = String::new();
    let mut host = String::new();
    let mut user: Option<Value> = None;
    let mut path = String::new();
    if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
    } else {
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            rest = &after[end..];
            let hostpart = match authority.rfind('@') {
                Some(at) => {
                    let info = &authority[..at];
                    let mut u = Object::new();
                    match info.split_once(':') {
                        Some((n, p)) => {
                            u.insert("name".into(), Value::Str(url_unescape(n, false)?));
                            u.insert("password".into(), Value::Str(url_unescape(p, false)?));
                        }
                        None => {
                            u.insert("name".into(), Value::Str(url_unescape(info, false)?));
                        }
                    }
                    user = Some(Value::Object(u));
                    &authority[at + 1..]
                }
                None => authority,
            };
            host = hostpart.to_string();
        }
        path = url_unescape(rest, false)?;
    }
    let raw_path = if super::strings::url_escape(&path, false).replace("%2F", "/") == rest
        || !rest.contains('%')
    {
        String::new()
    } else {
        rest.to_string()
    };
    let (frag, raw_frag) = match fragment {
        Some(f) => {
            let dec = url_unescape(f, false)?;
            let raw = if dec == f {
                String::new()
            } else {
                f.to_string()
            };
            (dec, raw)
        }
        None => (String::new(), String::new()),
    };
    o.insert("scheme".into(), Value::Str(scheme));
    o.insert("opaque".into(), Value::Str(opaque));
    o.insert("host".into(), Value::Str(host));
    o.insert("path".into(), Value::Str(path));
    o.insert("raw_path".into(), Value::Str(raw_path));
    o.insert("raw_query".into(), Value::Str(raw_query));
    o.insert("fragment".into(), Value::Str(frag));
    o.insert("raw_fragment".into(), Value::Str(raw_frag));
    if let Some(u) = user {
        o.insert("user".into(), u);
    }
    Ok(Value::Object(o))
}

/// Parses logfmt (`key=value key2="quoted value" bare`); bare keys get an empty string.
pub fn parse_logfmt(s: &str) -> Result<Object, EvalError> {
    let mut out = Object::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !b[i].is_whitespace() && b[i] != '=' && b[i] != '"' {
            i += 1;
        }
        let key: String = b[start..i].iter().collect();
        if key.is_empty() {
            return Err(EvalError::new(format!(
                "logfmt syntax error at pos {}: unexpected '{}'",
                i + 1,
                b[i]
            )));
        }
        let mut value = String::new();
        if i < b.len() && b[i] == '=' {
            i += 1;
            if i < b.len() && b[i] == '"' {
                i += 1;
                let mut raw = String::from("\"");
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' && i + 1 < b.len() {
                        raw.push(b[i]);
                        i += 1;
                    }
                    raw.push(b[i]);
                    i += 1;
                }
                if i >= b.len() {
                    return Err(EvalError::new(
                        "logfmt syntax error: unterminated quoted value",
                    ));
                }
                i += 1;
                raw.push('"');
                value = super::strings::go_unquote(&raw)?;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_whitespace() {
                    i += 1;
                }
                value = b[vs..i].iter().collect();
            }
        }
        out.insert(key, Value::Str(value));
    }
    Ok(out)
}

/// Go's `url.ParseQuery`: single values as strings, repeated keys as arrays.
pub fn parse_form(s: &str) -> Result<Object, EvalError> {
    let mut out = Object::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (url_unescape(k, true)?, Value::Str(url_unescape(v, true)?));
        match out.remove(&k) {
            None => {
                out.insert(k, v);
            }
            Some(Value::Array(mut a)) => {
                a.push(v);
                out.insert(k, Value::Array(a));
            }
            Some(prev) => {
                out.insert(k, Value::Array(vec![prev, v]));
            }
        }
    }
    Ok(out)
}

/// Casts XML text to a number or boolean when it reads as one.
fn cast_text(s: String, cast: bool) -> Value {
    if !cast {
        return Value::Str(s);
    }
    match s.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    match s.parse::<f64>() {
        Ok(f) if !s.is_empty() && f.is_finite() => {
            super::coerce::parse_number(&s).unwrap_or(Value::Float(f))
        }
        _ => Value::Str(s),
    }
}

/// Adds a child to an XML element's object, turning repeats into arrays.
fn add_child(obj: &mut Object, key: String, v: Value) {
    match obj.remove(&key) {
        None => {
            obj.insert(key, v);
        }
        Some(Value::Array(mut a)) => {
            a.push(v);
            obj.insert(key, Value::Array(a));
        }
        Some(prev) => {
            obj.insert(key, Value::Array(vec![prev, v]));
        }
    }
}

/// Parses XML into the reference's object form: attributes as `-name`, text next to
/// attributes or children as `#text`, repeated elements as arrays.
pub fn parse_xml(s: &str, cast: bool) -> Result<Value, EvalError> {
    use quick_xml::events::Event;
    let err = |e: &dyn std::fmt::Display| EvalError::new(format!("failed to parse XML: {}", e));
    let mut reader = quick_xml::Reader::from_str(s);
    // Stack of (name, children, text).
    let mut stack: Vec<(String, Object, String)> =
        vec![(String::new(), Object::new(), String::new())];
    let attrs_of = |e: &quick_xml::events::BytesStart| -> Result<Object, EvalError> {
        let mut o = Object::new();
        for a in e.attributes() {
            let a = a.map_err(|e| err(&e))?;
            let k = format!("-{}", String::from_utf8_lossy(a.key.as_ref()));
            let v = a.unescape_value().map_err(|e| err(&e))?.into_owned();
            o.insert(k, cast_text(v, cast));
        }
        Ok(o)
    };
    loop {
        match reader.read_event().map_err(|e| err(&e))? {
            Event::Start(e) => {
                if stack.len() >= crate::limits::MAX_VALUE_DEPTH {
                    return Err(err(&format_args!(
                        "elements are nested more than {} levels deep",
                        crate::limits::MAX_VALUE_DEPTH
                    )));
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                stack.push((name, attrs_of(&e)?, String::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attrs = attrs_of(&e)?;
                let v = if attrs.is_empty() {
                    Value::Str(String::new())
                } else {
                    Value::Object(attrs)
                };
                if let Some(top) = stack.last_mut() {
                    add_child(&mut top.1, name, v);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| err(&e))?;
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let (name, mut obj, text) =
                    stack.pop().ok_or_else(|| err(&"unbalanced end tag"))?;
                let text = text.trim().to_string();
                let v = if obj.is_empty() {
                    cast_text(text, cast)
                } else {
                    if !text.is_empty() {
                        obj.insert("#text".into(), cast_text(text, cast));
                    }
                    Value::Object(obj)
                };
                match stack.last_mut() {
                    Some(top) => add_child(&mut top.1, name, v),
                    None => return Err(err(&"unbalanced end tag")),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(err(&"unexpected end of document"));
    }
    Ok(Value::Object(stack.pop().map(|t| t.1).unwrap_or_default()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn write_xml_element(name: &str, v: &Value, indent: &str, depth: usize, out: &mut String) {
    let pad = |d: usize| {
        if indent.is_empty() {
            String::new()
        } else {
            format!("\n{}", indent.repeat(d))
        }
    };
    match v {
        Value::Array(items) => {
            for item in items {
                write_xml_element(name, item, indent, depth, out);
            }
        }
        Value::Object(o) => {
            if depth > 0 || !out.is_empty() {
                out.push_str(&pad(depth));
            }
            out.push('<');
            out.push_str(name);
            for (k, a) in o.iter().filter(|(k, _)| k.starts_with('-')) {
                out.push_str(&format!(
                    " {}=\"{}\"",
                    &k[1..],
                    xml_escape(&a.to_display_string())
                ));
            }
            let children: Vec<_> = o
                .iter()
                .filter(|(k, _)| !k.starts_with('-') && *k != "#text")
                .collect();
            let text = o.get("#text").map(|t| xml_escape(&t.to_display_string()));
            if children.is_empty() && text.is_none() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            if let Some(t) = text {
                out.push_str(&t);
            }
            for (k, c) in &children {
                write_xml_element(k, c, indent, depth + 1, out);
            }
            if !children.is_empty() {
                out.push_str(&pad(depth));
            }
            out.push_str(&format!("</{}>", name));
        }
        other => {
            if depth > 0 || !out.is_empty() {
                out.push_str(&pad(depth));
            }
            let text = match other {
                Value::Null => String::new(),
                o => xml_escape(&o.to_display_string()),
            };
            out.push_str(&format!("<{}>{}</{}>", name, text, name));
        }
    }
}

/// Formats an object as XML (the inverse of [`parse_xml`]).
pub fn format_xml(v: &Value, indent: &str) -> Result<String, EvalError> {
    let o = super::coerce::as_object(v)?;
    let mut out = String::new();
    for (k, e) in o {
        write_xml_element(k, e, indent, 0, &mut out);
    }
    Ok(out)
}

fn from_msgpack(v: rmpv::Value) -> Value {
    use rmpv::Value as M;
    match v {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(b),
        M::Integer(i) => match i.as_i64() {
            Some(n) => Value::Int(n),
            None => Value::Float(i.as_f64().unwrap_or(f64::NAN)),
        },
        M::F32(f) => Value::Float(f.to_string().parse().unwrap_or(f as f64)),
        M::F64(f) => Value::Float(f),
        M::String(s) => Value::Str(s.into_str().unwrap_or_default()),
        M::Binary(b) => bytes_value(b),
        M::Array(a) => Value::Array(a.into_iter().map(from_msgpack).collect()),
        M::Map(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match from_msgpack(k) {
                        Value::Str(s) => s,
                        other => other.to_display_string(),
                    };
                    (key, from_msgpack(v))
                })
                .collect(),
        ),
        M::Ext(_, data) => bytes_value(data),
    }
}

fn to_msgpack(v: &Value) -> rmpv::Value {
    use rmpv::Value as M;
    match v {
        Value::Null | Value::Nothing | Value::Deleted => M::Nil,
        Value::Bool(b) => M::Boolean(*b),
        Value::Int(i) => M::from(*i),
        Value::Float(f) => M::F64(*f),
        Value::Str(s) => M::from(s.as_str()),
        Value::Bytes(b) => M::Binary(b.to_vec()),
        Value::Timestamp(_) => M::from(v.to_display_string()),
        Value::Array(a) => M::Array(a.iter().map(to_msgpack).collect()),
        Value::Object(o) => M::Map(
            o.iter()
                .map(|(k, e)| (M::from(k.as_str()), to_msgpack(e)))
                .collect(),
        ),
    }
}

/// Infers a schema of a value: its type, with the fields of objects and the element schema
/// of arrays.
fn infer_schema(v: &Value) -> Value {
    let mut o = Object::new();
    let ty = match v {
        Value::Int(_) => "INT64",
        Value::Float(_) => "FLOAT64",
        Value::Str(_) => "STRING",
        Value::Bytes(_) => "BYTE_ARRAY",
        Value::Bool(_) => "BOOLEAN",
        Value::Timestamp(_) => "TIMESTAMP",
        Value::Array(a) => {
            if let Some(first) = a.first() {
                o.insert("children".into(), Value::Array(vec![infer_schema(first)]));
            }
            "ARRAY"
        }
        Value::Object(m) => {
            let children = m
                .iter()
                .map(|(k, e)| {
                    let mut c = match infer_schema(e) {
                        Value::Object(c) => c,
                        _ => Object::new(),
                    };
                    c.insert("name".into(), Value::str(k));
                    Value::Object(c)
                })
                .collect();
            o.insert("children".into(), Value::Array(children));
            "OBJECT"
        }
        _ => "NULL",
    };
    o.insert("type".into(), Value::str(ty));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_like_go() {
        let u = parse_url("amqp://foo:bar@127.0.0.1:5672/").unwrap();
        assert_eq!(
            u.to_json_string(),
            r#"{"fragment":"","host":"127.0.0.1:5672","opaque":"","path":"/","raw_fragment":"","raw_path":"","raw_query":"","scheme":"amqp","user":{"name":"foo","password":"bar"}}"#
        );
        let u = parse_url("redis://localhost:6379").unwrap();
        assert!(!u.to_json_string().contains("user"));
    }

    #[test]
    fn logfmt_values() {
        let o = parse_logfmt(r#"level=info msg="hello world" dur=1.5s bare"#).unwrap();
        assert_eq!(
            Value::Object(o).to_json_string(),
            r#"{"bare":"","dur":"1.5s","level":"info","msg":"hello world"}"#
        );
    }

    #[test]
    fn xml_round_trip() {
        let v = parse_xml(
            r#"<root><number id="99">123</number><bool>True</bool></root>"#,
            true,
        )
        .unwrap();
        assert_eq!(
            v.to_json_string(),
            r##"{"root":{"bool":true,"number":{"#text":123,"-id":99}}}"##
        );
        let x = format_xml(&parse_xml("<a><b>x</b><b>y</b></a>", false).unwrap(), "").unwrap();
        assert_eq!(x, "<a><b>x</b><b>y</b></a>");
    }

    #[test]
    fn csv_rows() {
        let v = parse_csv_text(b"foo,bar\nfoo 1,bar 1\n\"a,b\",c", b',', true).unwrap();
        assert_eq!(
            v.to_json_string(),
            r#"[{"bar":"bar 1","foo":"foo 1"},{"bar":"c","foo":"a,b"}]"#
        );
        let v = parse_csv_text(b"a.b\nc.d", b'.', false).unwrap();
        assert_eq!(v.to_json_string(), r#"[["a","b"],["c","d"]]"#);
        assert!(parse_csv_text(b"a,b\nc", b',', true).is_err());
        assert_eq!(
            parse_csv_text(b"", b',', true).unwrap().to_json_string(),
            "[]"
        );
    }

    #[test]
    fn forms_repeat() {
        let o = parse_form("a=1&b=x+y&a=2").unwrap();
        assert_eq!(
            Value::Object(o).to_json_string(),
            r#"{"a":["1","2"],"b":"x y"}"#
        );
    }
}
