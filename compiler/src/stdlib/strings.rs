//! Standard library: string manipulation, regular expressions and the string/bytes type
//! coercions (`string`, `bytes`, `not_empty`).

use unicode_segmentation::UnicodeSegmentation;

use super::coerce::{
    as_array, as_bytes, as_str, bytes_value, go_value_string, map_text, regex, to_bytes,
};
use super::{Default, MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::{Object, Value};

/// Declares a pure method with value parameters.
macro_rules! m {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: true, imp: $imp }
    };
}

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    m!("string", [], Str, |_, v| Ok(Value::Str(
        v.to_display_string()
    ))),
    m!("bytes", [], Bytes, |_, v| Ok(bytes_value(to_bytes(&v)))),
    m!("not_empty", [], Any, not_empty),
    m!("capitalize", [], Any, |_, v| map_text(v, title_case)),
    m!("uppercase", [], Any, |_, v| map_text(v, str::to_uppercase)),
    m!("lowercase", [], Any, |_, v| map_text(v, str::to_lowercase)),
    m!("escape_html", [], Str, |_, v| Ok(Value::Str(escape_html(
        as_str(&v)?
    )))),
    m!("unescape_html", [], Str, |_, v| Ok(Value::Str(
        html_escape::decode_html_entities(as_str(&v)?).into_owned()
    ))),
    m!("escape_url_query", [], Str, |_, v| Ok(Value::Str(
        url_escape(as_str(&v)?, true)
    ))),
    m!("unescape_url_query", [], Str, |_, v| url_unescape(
        as_str(&v)?,
        true
    )
    .map(Value::Str)),
    m!("escape_url_path", [], Str, |_, v| Ok(Value::Str(
        url_escape(as_str(&v)?, false)
    ))),
    m!("unescape_url_path", [], Str, |_, v| url_unescape(
        as_str(&v)?,
        false
    )
    .map(Value::Str)),
    m!("filepath_join", [], Str, filepath_join),
    m!("filepath_split", [], Array, filepath_split),
    MethodSpec {
        name: "format",
        params: super::VARIADIC,
        returns: Type::Str,
        pure: true,
        imp: format,
    },
    m!("has_prefix", [Param::req("value")], Bool, |c, v| {
        let p = c.value(0)?;
        Ok(Value::Bool(as_bytes(&v)?.starts_with(as_bytes(&p)?)))
    }),
    m!("has_suffix", [Param::req("value")], Bool, |c, v| {
        let p = c.value(0)?;
        Ok(Value::Bool(as_bytes(&v)?.ends_with(as_bytes(&p)?)))
    }),
    m!("index_of", [Param::req("value")], Number, |c, v| {
        let needle = c.string(0)?;
        Ok(Value::Int(
            as_str(&v)?.find(&needle).map(|i| i as i64).unwrap_or(-1),
        ))
    }),
    m!("quote", [], Str, |_, v| Ok(Value::Str(go_quote(as_str(
        &v
    )?)))),
    m!("unquote", [], Str, |_, v| go_unquote(as_str(&v)?)
        .map(Value::Str)),
    m!("repeat", [Param::req("count")], Any, |c, v| {
        let n = c.int(0)?;
        if n < 0 {
            return Err(EvalError::new(
                "invalid count, must be greater than or equal to zero",
            ));
        }
        crate::limits::reserve_items(text_len(&v), n as usize)?;
        map_text(v, |s| s.repeat(n as usize))
    }),
    m!(
        "replace",
        [Param::req("old"), Param::req("new")],
        Any,
        replace_all
    ),
    m!(
        "replace_all",
        [Param::req("old"), Param::req("new")],
        Any,
        replace_all
    ),
    m!("replace_many", [Param::req("values")], Any, replace_many),
    m!(
        "replace_all_many",
        [Param::req("values")],
        Any,
        replace_many
    ),
    m!("reverse", [], Any, |_, v| match v {
        Value::Array(mut a) => {
            a.reverse();
            Ok(Value::Array(a))
        }
        v => map_text(v, |s| s.chars().rev().collect()),
    }),
    m!(
        "split",
        [
            Param::req("delimiter"),
            Param::def("empty_as_null", Default::Bool(false))
        ],
        Array,
        split
    ),
    m!(
        "trim",
        [Param::opt("cutset")],
        Any,
        |c, v| match c.opt_value(0)? {
            None => map_text(v, |s| s.trim().to_string()),
            Some(cut) => {
                let cut: Vec<char> = as_str(&cut)?.chars().collect();
                map_text(v, |s| s.trim_matches(|ch| cut.contains(&ch)).to_string())
            }
        }
    ),
    m!("trim_prefix", [Param::req("prefix")], Any, |c, v| {
        let p = c.string(0)?;
        map_text(v, |s| s.strip_prefix(p.as_str()).unwrap_or(s).to_string())
    }),
    m!("trim_suffix", [Param::req("suffix")], Any, |c, v| {
        let p = c.string(0)?;
        map_text(v, |s| s.strip_suffix(p.as_str()).unwrap_or(s).to_string())
    }),
    m!(
        "unicode_segments",
        [Param::req("segmentation_type")],
        Array,
        unicode_segments
    ),
    m!("slug", [Param::def("lang", Default::Str("en"))], Str, slug),
    m!("strip_html", [Param::opt("preserve")], Str, strip_html),
    m!(
        "compare_bcrypt",
        [Param::req("hashed_secret")],
        Bool,
        |c, v| {
            let hash = c.string(0)?;
            Ok(Value::Bool(
                bcrypt::verify(as_bytes(&v)?, &hash).unwrap_or(false),
            ))
        }
    ),
    m!(
        "compare_argon2",
        [Param::req("hashed_secret")],
        Bool,
        compare_argon2
    ),
    m!("re_match", [Param::req("pattern")], Bool, |c, v| {
        let re = regex(&c.string(0)?)?;
        Ok(Value::Bool(re.is_match(as_str(&v)?)))
    }),
    m!("re_find_all", [Param::req("pattern")], Array, |c, v| {
        let re = regex(&c.string(0)?)?;
        Ok(Value::Array(
            re.find_iter(as_str(&v)?)
                .map(|m| Value::str(m.as_str()))
                .collect(),
        ))
    }),
    m!(
        "re_find_all_submatch",
        [Param::req("pattern")],
        Array,
        |c, v| {
            let re = regex(&c.string(0)?)?;
            let s = as_str(&v)?;
            Ok(Value::Array(
                re.captures_iter(s)
                    .map(|cap| {
                        Value::Array(
                            cap.iter()
                                .map(|m| Value::str(m.map(|m| m.as_str()).unwrap_or("")))
                                .collect(),
                        )
                    })
                    .collect(),
            ))
        }
    ),
    m!("re_find_object", [Param::req("pattern")], Object, |c, v| {
        let re = regex(&c.string(0)?)?;
        let s = as_str(&v)?;
        Ok(Value::Object(
            re.captures(s)
                .map(|cap| capture_object(&re, &cap))
                .unwrap_or_default(),
        ))
    }),
    m!(
        "re_find_all_object",
        [Param::req("pattern")],
        Array,
        |c, v| {
            let re = regex(&c.string(0)?)?;
            let s = as_str(&v)?;
            Ok(Value::Array(
                re.captures_iter(s)
                    .map(|cap| Value::Object(capture_object(&re, &cap)))
                    .collect(),
            ))
        }
    ),
    m!(
        "re_replace_all",
        [Param::req("pattern"), Param::req("value")],
        Any,
        re_replace_all
    ),
    m!(
        "re_replace",
        [Param::req("pattern"), Param::req("value")],
        Any,
        re_replace_all
    ),
];

fn not_empty(_c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let empty = match &v {
        Value::Str(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => return Err(EvalError::new("value is null")),
        _ => false,
    };
    if empty {
        return Err(EvalError::new(format!("{} value is empty", v.type_name())));
    }
    Ok(v)
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for ch in s.chars() {
        // Go's isSeparator: ASCII other than letters, digits and `_`, or Unicode space.
        let is_sep = if ch.is_ascii() {
            !(ch.is_ascii_alphanumeric() || ch == '_')
        } else {
            ch.is_whitespace()
        };
        if !prev_letter && !is_sep {
            out.extend(ch.to_uppercase());
        } else {
            out.push(ch);
        }
        prev_letter = !is_sep;
    }
    out
}

/// Go's `html.EscapeString`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape` (`query = true`) or `url.PathEscape`.
pub fn url_escape(s: &str, query: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (!query && matches!(b, b'$' | b'&' | b'+' | b',' | b':' | b';' | b'=' | b'@'));
        if keep {
            out.push(b as char);
        } else if query && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

/// Go's `url.QueryUnescape` (`query = true`, `+` is a space) or `url.PathUnescape`.
pub fn url_unescape(s: &str, query: bool) -> Result<String, EvalError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let end = (i + 3).min(s.len());
                    return Err(EvalError::new(format!(
                        "invalid URL escape \"{}\"",
                        &s[i..end]
                    )));
                };
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `path/filepath.Clean` for slash paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{}", joined),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn filepath_join(_c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let parts = as_array(&v)?
        .iter()
        .map(|p| as_str(p).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Ok(Value::str(""));
    }
    Ok(Value::Str(clean_path(&parts.join("/"))))
}

fn filepath_split(_c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let s = as_str(&v)?;
    let at = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    Ok(Value::Array(vec![
        Value::str(&s[..at]),
        Value::str(&s[at..]),
    ]))
}

fn format(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let fmt = as_str(&v)?.to_string();
    // Widths and precisions are taken from the format: a huge one must fail, not allocate.
    crate::limits::reserve(format_widths(&fmt).saturating_add(fmt.len()))?;
    let mut args = Vec::new();
    for i in 0..c.len() {
        if let Some(v) = c.opt_value(i)? {
            args.push(v);
        }
    }
    Ok(Value::Str(go_sprintf(&fmt, &args)))
}

/// The sum of the widths and precisions a Go format string asks for (`%08.3f` → 11): what
/// its padding can allocate beyond the arguments themselves.
fn format_widths(fmt: &str) -> usize {
    let b = fmt.as_bytes();
    let mut total = 0usize;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        while i < b.len() && b"-+ 0#".contains(&b[i]) {
            i += 1;
        }
        for part in 0..2 {
            if part == 1 {
                if i < b.len() && b[i] == b'.' {
                    i += 1;
                } else {
                    break;
                }
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n =
                fmt[start..i]
                    .parse::<usize>()
                    .unwrap_or(if i > start { usize::MAX } else { 0 });
            total = total.saturating_add(n);
        }
        i += 1;
    }
    total
}

/// A subset of Go's `fmt.Sprintf`: flags `-+ 0#`, width, precision and the verbs
/// `v s d f e g x X o b c q t T %`.
pub fn go_sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut next = 0usize;
    while let Some(ch) = it.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                it.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{}(MISSING)", verb));
            continue;
        };
        next += 1;
        let body = format_verb(verb, arg, prec, &flags);
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(width - len));
        } else if flags.contains('0') && matches!(arg, Value::Int(_) | Value::Float(_)) {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(width - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(width - len));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", go_type_name(a), go_value_string(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "string",
        Value::Int(_) => "int64",
        Value::Float(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Bytes(_) => "[]uint8",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Timestamp(_) => "time.Time",
        _ => "<nil>",
    }
}

fn format_verb(verb: char, arg: &Value, prec: Option<usize>, flags: &str) -> String {
    let plus = |s: String| {
        if flags.contains('+') && !s.starts_with('-') {
            format!("+{}", s)
        } else {
            s
        }
    };
    match (verb, arg) {
        ('d', Value::Int(i)) => plus(i.to_string()),
        ('d', Value::Float(f)) if f.fract() == 0.0 => plus((*f as i64).to_string()),
        ('f' | 'F', v) if v.as_f64().is_some() => plus(format!(
            "{:.*}",
            prec.unwrap_or(6),
            v.as_f64().unwrap_or(0.0)
        )),
        ('e', v) if v.as_f64().is_some() => {
            let s = format!("{:.*e}", prec.unwrap_or(6), v.as_f64().unwrap_or(0.0));
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            plus(format!(
                "{}e{}{:02}",
                m,
                if e < 0 { '-' } else { '+' },
                e.abs()
            ))
        }
        ('g' | 'v', Value::Float(f)) => match prec {
            Some(p) => plus(format!("{:.*}", p, f)),
            None => plus(super::coerce::go_float_g(*f)),
        },
        ('v' | 'g', Value::Int(i)) => plus(i.to_string()),
        ('x' | 'X', Value::Int(i)) => {
            let s = format!("{:x}", i);
            if verb == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        ('x' | 'X', Value::Str(_) | Value::Bytes(_)) => {
            let s = hex::encode(as_bytes(arg).unwrap_or_default());
            if verb == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        ('o', Value::Int(i)) => format!("{:o}", i),
        ('b', Value::Int(i)) => format!("{:b}", i),
        ('c', Value::Int(i)) => char::from_u32(*i as u32)
            .map(String::from)
            .unwrap_or_default(),
        ('q', Value::Str(s)) => go_quote(s),
        ('t', Value::Bool(b)) => b.to_string(),
        ('T', v) => go_type_name(v).to_string(),
        ('s' | 'v', Value::Str(s)) => match prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('s' | 'v', v) => go_value_string(v),
        (verb, v) => format!("%!{}({}={})", verb, go_type_name(v), go_value_string(v)),
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Unquote` for double-quoted, back-quoted and single-character quoted text.
pub fn go_unquote(s: &str) -> Result<String, EvalError> {
    let bad = || EvalError::new("invalid syntax");
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(s[1..s.len() - 1].to_string());
    }
    let quote = s.chars().next().ok_or_else(bad)?;
    if !(quote == '"' || quote == '\'') || s.len() < 2 || !s.ends_with(quote) {
        return Err(bad());
    }
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(ch) = it.next() {
        if ch == quote || ch == '\n' {
            return Err(bad());
        }
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let e = it.next().ok_or_else(bad)?;
        let hex = |it: &mut std::str::Chars, n: usize| -> Result<u32, EvalError> {
            let h: String = it.take(n).collect();
            if h.len() != n {
                return Err(bad());
            }
            u32::from_str_radix(&h, 16).map_err(|_| bad())
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' | '\'' => out.push(e),
            'x' => out.push(char::from_u32(hex(&mut it, 2)?).ok_or_else(bad)?),
            'u' => out.push(char::from_u32(hex(&mut it, 4)?).ok_or_else(bad)?),
            'U' => out.push(char::from_u32(hex(&mut it, 8)?).ok_or_else(bad)?),
            '0'..='7' => {
                let rest: String = it.by_ref().take(2).collect();
                let code = u32::from_str_radix(&format!("{}{}", e, rest), 8).map_err(|_| bad())?;
                out.push(char::from_u32(code).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn replace_all(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let old = c.string(0)?;
    let new = c.string(1)?;
    if !old.is_empty() && new.len() > old.len() {
        let hits = match &v {
            Value::Str(s) => s.matches(old.as_str()).count(),
            _ => text_len(&v) / old.len(),
        };
        crate::limits::reserve(
            text_len(&v).saturating_add(hits.saturating_mul(new.len() - old.len())),
        )?;
    }
    map_text(v, |s| {
        if old.is_empty() {
            s.to_string()
        } else {
            s.replace(&old, &new)
        }
    })
}

/// The length in bytes of a string or bytes value (0 for anything else).
fn text_len(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

fn replace_many(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let pairs = c.value(0)?;
    let items = as_array(&pairs)?;
    if items.len() % 2 != 0 {
        return Err(EvalError::new(format!(
            "invalid arg, replacements should be in pairs and must therefore be even: {}",
            items.len()
        )));
    }
    let pairs = items
        .chunks(2)
        .map(|p| Ok((as_str(&p[0])?.to_string(), as_str(&p[1])?.to_string())))
        .collect::<Result<Vec<_>, EvalError>>()?;
    // Go's strings.Replacer: at each position the first matching pair (in argument order)
    // wins, and replaced text is not rescanned.
    let budget = crate::limits::remaining();
    let mut over = false;
    let out = map_text(v, |s| {
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        'outer: while i < s.len() {
            for (old, new) in &pairs {
                if !old.is_empty() && s[i..].starts_with(old.as_str()) {
                    if out.len() + new.len() > budget {
                        over = true;
                        break 'outer;
                    }
                    out.push_str(new);
                    i += old.len();
                    continue 'outer;
                }
            }
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
        out
    })?;
    if over {
        return Err(crate::limits::memory_error(budget.saturating_add(1)));
    }
    Ok(out)
}

fn split(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let delim = c.string(0)?;
    let empty_as_null = c.bool(1)?;
    let wrap = |s: &str| {
        if empty_as_null && s.is_empty() {
            Value::Null
        } else {
            Value::str(s)
        }
    };
    let parts: Vec<Value> = match &v {
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(&v)?;
            if delim.is_empty() {
                s.chars().map(|ch| wrap(&ch.to_string())).collect()
            } else {
                s.split(delim.as_str()).map(wrap).collect()
            }
        }
        other => return Err(EvalError::expected("string", other)),
    };
    if let Value::Bytes(_) = v {
        return Ok(Value::Array(
            parts
                .into_iter()
                .map(|p| {
                    if let Value::Str(s) = p {
                        bytes_value(s.into_bytes())
                    } else {
                        p
                    }
                })
                .collect(),
        ));
    }
    Ok(Value::Array(parts))
}

fn unicode_segments(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let kind = c.string(0)?;
    let s = as_str(&v)?;
    let parts: Vec<&str> = match kind.as_str() {
        "grapheme" => s.graphemes(true).collect(),
        "word" => s.split_word_bounds().collect(),
        "sentence" => s.split_sentence_bounds().collect(),
        other => {
            return Err(EvalError::new(format!(
                "unrecognized segmentation type: {}",
                other
            )))
        }
    };
    Ok(Value::Array(parts.into_iter().map(Value::str).collect()))
}

/// Transliterates common Latin letters with diacritics to ASCII.
fn fold_diacritic(ch: char) -> Option<&'static str> {
    Some(match ch {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ƒ' => "f",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

fn slug(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let lang = c.string(0)?;
    let and = match lang.as_str() {
        "de" => "und",
        "fr" => "et",
        "es" => "y",
        "it" => "e",
        "nl" => "en",
        "pl" => "i",
        "pt" => "e",
        "sv" => "och",
        "fi" => "ja",
        "cs" => "a",
        _ => "and",
    };
    let s = as_str(&v)?.to_lowercase();
    let mut out = String::new();
    let mut dash = false;
    let mut push = |piece: &str, out: &mut String| {
        for ch in piece.chars() {
            if ch.is_ascii_alphanumeric() {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(ch);
            } else {
                dash = true;
            }
        }
    };
    for ch in s.chars() {
        match ch {
            '&' => push(&format!(" {} ", and), &mut out),
            c if c.is_ascii() => push(&c.to_string(), &mut out),
            c => push(
                &format!(" {}", fold_diacritic(c).unwrap_or(" ")).replace(' ', ""),
                &mut out,
            ),
        }
    }
    Ok(Value::Str(out))
}

fn strip_html(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let preserve: Vec<String> = match c.opt_value(0)? {
        None => Vec::new(),
        Some(p) => as_array(&p)?
            .iter()
            .map(|e| as_str(e).map(str::to_lowercase))
            .collect::<Result<_, _>>()?,
    };
    let s = as_str(&v)?;
    let mut out = String::new();
    let mut skip_until: Option<String> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip_until.is_none() {
                out.push_str(&escape_html(&html_escape::decode_html_entities(rest)));
            }
            break;
        };
        if skip_until.is_none() {
            out.push_str(&escape_html(&html_escape::decode_html_entities(
                &rest[..lt],
            )));
        }
        let tag_src = &rest[lt..];
        let Some(gt) = tag_src.find('>') else {
            break;
        };
        let tag = &tag_src[1..gt];
        rest = &tag_src[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        if let Some(until) = &skip_until {
            if closing && &name == until {
                skip_until = None;
            }
            continue;
        }
        if !closing && (name == "script" || name == "style") && !preserve.contains(&name) {
            skip_until = Some(name);
            continue;
        }
        if preserve.contains(&name) {
            out.push('<');
            if closing {
                out.push('/');
            }
            out.push_str(&name);
            out.push('>');
        }
    }
    Ok(Value::Str(out))
}

fn compare_argon2(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let hash = c.string(0)?;
    let parsed = PasswordHash::new(&hash)
        .map_err(|e| EvalError::new(format!("failed to parse argon2 hash: {}", e)))?;
    Ok(Value::Bool(
        argon2::Argon2::default()
            .verify_password(as_bytes(&v)?, &parsed)
            .is_ok(),
    ))
}

fn capture_object(re: &regex::Regex, cap: &regex::Captures) -> Object {
    let mut o = Object::new();
    for (i, name) in re.capture_names().enumerate() {
        let key = name.map(str::to_string).unwrap_or_else(|| i.to_string());
        o.insert(
            key,
            Value::str(cap.get(i).map(|m| m.as_str()).unwrap_or("")),
        );
    }
    o
}

fn re_replace_all(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let re = regex(&c.string(0)?)?;
    let with = c.string(1)?;
    // Expansions are built one by one and stop growing the result past the memory budget.
    let budget = crate::limits::remaining();
    let mut produced = 0usize;
    let mut over = false;
    let out = map_text(v, |s| {
        re.replace_all(s, |caps: &regex::Captures| {
            let mut dst = String::new();
            if !over {
                caps.expand(&with, &mut dst);
                produced = produced.saturating_add(dst.len());
                over = produced > budget;
            }
            dst
        })
        .into_owned()
    })?;
    if over {
        return Err(crate::limits::memory_error(budget.saturating_add(1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_widths_count_only_padding() {
        assert_eq!(format_widths("at 1700000000: %s"), 0);
        assert_eq!(format_widths("%08.3f|%-3s|%%"), 14);
        assert_eq!(format_widths("%099999999999999999999999d"), usize::MAX);
    }

    #[test]
    fn sprintf_verbs() {
        let args = [Value::str("lance"), Value::Int(37), Value::Float(13.0)];
        assert_eq!(go_sprintf("%s(%v): %v", &args), "lance(37): 13");
        assert_eq!(go_sprintf("%f", &[Value::Float(1.0)]), "1.000000");
        assert_eq!(
            go_sprintf("%05d|%-3s|", &[Value::Int(42), Value::str("a")]),
            "00042|a  |"
        );
        assert_eq!(go_sprintf("%v", &[]), "%!v(MISSING)");
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(go_quote("foo\nbar"), "\"foo\\nbar\"");
        assert_eq!(go_unquote("\"foo\\nbar\"").unwrap(), "foo\nbar");
        assert_eq!(go_unquote("`raw\\n`").unwrap(), "raw\\n");
        assert!(go_unquote("nope").is_err());
    }

    #[test]
    fn url_escapes_like_go() {
        assert_eq!(url_escape("foo & bar", true), "foo+%26+bar");
        assert_eq!(url_escape("foo & bar", false), "foo%20&%20bar");
        assert_eq!(
            url_unescape("hello+world%21", true).unwrap(),
            "hello world!"
        );
    }

    #[test]
    fn paths_clean() {
        assert_eq!(clean_path("/foo//bar.txt"), "/foo/bar.txt");
        assert_eq!(clean_path("a/../../b"), "../b");
    }

    #[test]
    fn titles() {
        assert_eq!(title_case("the foo bar"), "The Foo Bar");
    }
}
