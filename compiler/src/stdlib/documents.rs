//! Standard library: whole-document operations: `json_path` (a JSONPath evaluator),
//! `json_schema` (validation), and `diff`/`patch` (changelogs of the form
//! `{"Type": "update", "Path": [...], "From": a, "To": b}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::coerce::{as_array, as_object, as_str};
use super::{MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::{self, Call};
use crate::value::{Object, Value};

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "json_path",
        params: &[Param::req("expression")],
        returns: Type::Any,
        pure: true,
        imp: json_path,
    },
    MethodSpec {
        name: "json_schema",
        params: &[Param::req("schema")],
        returns: Type::Any,
        pure: true,
        imp: json_schema,
    },
    MethodSpec {
        name: "diff",
        params: &[Param::req("other")],
        returns: Type::Array,
        pure: true,
        imp: diff,
    },
    MethodSpec {
        name: "patch",
        params: &[Param::req("changelog")],
        returns: Type::Any,
        pure: true,
        imp: patch,
    },
];

/// One step of a JSONPath.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `.name` or `['name']`
    Child(String),
    /// `..name` (or `..*` with `None`)
    Descend(Option<String>),
    /// `[n]`
    Index(i64),
    /// `[*]` or `.*`
    Wildcard,
    /// `[a:b]`
    Slice(Option<i64>, Option<i64>),
    /// `[?(expr)]`
    Filter(String),
    /// `['a','b']` or `[0,1]`
    Union(Vec<Step>),
}

fn path_err(expr: &str, why: &str) -> EvalError {
    EvalError::new(format!(
        "failed to parse JSON path expression {}: {}",
        expr, why
    ))
}

/// Parses a JSONPath expression (`$.a.b[0]`, `$..name`, `$.list[?(@.x == 'y')]`).
fn parse_path(expr: &str) -> Result<Vec<Step>, EvalError> {
    let s = expr.trim();
    let mut rest = s
        .strip_prefix('$')
        .ok_or_else(|| path_err(expr, "must start with $"))?;
    let mut steps = Vec::new();
    let name_len = |r: &str| r.find(['.', '[']).unwrap_or(r.len());
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            if let Some(r2) = r.strip_prefix('*') {
                steps.push(Step::Descend(None));
                rest = r2;
            } else if r.starts_with('[') {
                steps.push(Step::Descend(None));
                rest = r;
            } else {
                let n = name_len(r);
                steps.push(Step::Descend(Some(r[..n].to_string())));
                rest = &r[n..];
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            let n = name_len(r);
            let name = &r[..n];
            steps.push(if name == "*" {
                Step::Wildcard
            } else {
                Step::Child(name.to_string())
            });
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = bracket_end(r).ok_or_else(|| path_err(expr, "unterminated bracket"))?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            steps.push(parse_bracket(inner).ok_or_else(|| path_err(expr, "invalid bracket"))?);
        } else {
            return Err(path_err(expr, "unexpected character"));
        }
    }
    Ok(steps)
}

/// The index of the `]` closing a bracket, skipping quoted text and nested brackets.
fn bracket_end(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ']') if depth == 0 => return Some(i),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return Some(Step::Filter(f.to_string()));
    }
    let parts = split_top(inner, ',');
    if parts.len() > 1 {
        return Some(Step::Union(
            parts
                .iter()
                .map(|p| parse_bracket(p.trim()))
                .collect::<Option<Vec<_>>>()?,
        ));
    }
    if let Some(q) = unquote(inner) {
        return Some(Step::Child(q));
    }
    if let Some((a, b)) = inner.split_once(':') {
        let num = |s: &str| {
            if s.trim().is_empty() {
                Some(None)
            } else {
                s.trim().parse().ok().map(Some)
            }
        };
        return Some(Step::Slice(
            num(a)?,
            num(b.split(':').next().unwrap_or(""))?,
        ));
    }
    inner.parse().ok().map(Step::Index)
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('\'') && s.ends_with('\'')) || (s.starts_with('"') && s.ends_with('"')))
    {
        Some(s[1..s.len() - 1].to_string())
    } else {
        None
    }
}

/// Splits on `sep` outside quotes and parentheses.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut depth = 0;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// Every value below `v` (itself first), depth first with keys in order.
fn descendants<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(v);
    match v {
        Value::Object(o) => o.values().for_each(|c| descendants(c, out)),
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn children(v: &Value) -> Vec<&Value> {
    match v {
        Value::Object(o) => o.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    }
}

fn apply_step<'v>(step: &Step, v: &'v Value, out: &mut Vec<&'v Value>) -> Result<(), EvalError> {
    match step {
        Step::Child(name) => {
            if let Value::Object(o) = v {
                out.extend(o.get(name));
            }
        }
        Step::Descend(name) => {
            let mut all = Vec::new();
            descendants(v, &mut all);
            for d in all {
                match name {
                    Some(n) => {
                        if let Value::Object(o) = d {
                            out.extend(o.get(n));
                        }
                    }
                    None => out.extend(children(d)),
                }
            }
        }
        Step::Index(i) => {
            if let Value::Array(a) = v {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if idx >= 0 {
                    out.extend(a.get(idx as usize));
                }
            }
        }
        Step::Wildcard => out.extend(children(v)),
        Step::Slice(a, b) => {
            if let Value::Array(arr) = v {
                let len = arr.len() as i64;
                let fix = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let (s, e) = (fix(a.unwrap_or(0)), fix(b.unwrap_or(len)));
                if s < e {
                    out.extend(arr[s as usize..e as usize].iter());
                }
            }
        }
        Step::Filter(expr) => {
            for c in children(v) {
                if eval_filter(expr.trim(), c)? {
                    out.push(c);
                }
            }
        }
        Step::Union(steps) => {
            for s in steps {
                apply_step(s, v, out)?;
            }
        }
    }
    Ok(())
}

/// Evaluates a filter operand: `@.path`, a quoted string, a number, `true`/`false`/`null`.
fn filter_operand(s: &str, cur: &Value) -> Option<Value> {
    let s = s.trim();
    if let Some(p) = s.strip_prefix('@') {
        let path: Vec<String> = p
            .split('.')
            .filter(|x| !x.is_empty())
            .map(|x| unquote(x).unwrap_or_else(|| x.to_string()))
            .collect();
        return interp::get_path(cur, &path).cloned();
    }
    if let Some(q) = unquote(s) {
        return Some(Value::Str(q));
    }
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        n => super::coerce::parse_number(n),
    }
}

fn eval_filter(expr: &str, cur: &Value) -> Result<bool, EvalError> {
    if expr.contains("||") {
        for part in expr.split("||") {
            if eval_filter(part.trim(), cur)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if expr.contains("&&") {
        for part in expr.split("&&") {
            if !eval_filter(part.trim(), cur)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        return eval_filter(inner, cur);
    }
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((l, r)) = expr.split_once(op) {
            let (l, r) = (filter_operand(l, cur), filter_operand(r, cur));
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(op == "!=");
            };
            return Ok(match op {
                "==" => l == r,
                "!=" => l != r,
                _ => {
                    let ord = match (&l, &r) {
                        (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
                        _ => l
                            .as_f64()
                            .zip(r.as_f64())
                            .and_then(|(a, b)| a.partial_cmp(&b)),
                    };
                    let Some(ord) = ord else { return Ok(false) };
                    match op {
                        "<" => ord.is_lt(),
                        "<=" => ord.is_le(),
                        ">" => ord.is_gt(),
                        _ => ord.is_ge(),
                    }
                }
            });
        }
    }
    Ok(
        matches!(filter_operand(expr, cur), Some(v) if !matches!(v, Value::Null | Value::Bool(false))),
    )
}

/// True when a path can select at most one value (no wildcards, recursion or filters).
fn is_definite(steps: &[Step]) -> bool {
    steps
        .iter()
        .all(|s| matches!(s, Step::Child(_) | Step::Index(_)))
}

fn json_path(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let expr = c.string(0)?;
    let steps = parse_path(&expr)?;
    let mut cur: Vec<&Value> = vec![&v];
    for step in &steps {
        let mut next = Vec::new();
        for x in cur {
            apply_step(step, x, &mut next)?;
        }
        cur = next;
    }
    if is_definite(&steps) {
        return cur.first().map(|x| (*x).clone()).ok_or_else(|| {
            EvalError::new(format!("unknown key in JSON path expression {}", expr))
        });
    }
    Ok(Value::Array(cur.into_iter().cloned().collect()))
}

/// A compiled schema, cached by its text.
fn validator(schema: &str) -> Result<Arc<jsonschema::Validator>, EvalError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(schema) {
        return Ok(v.clone());
    }
    let parsed: serde_json::Value = serde_json::from_str(schema)
        .map_err(|e| EvalError::new(format!("failed to parse json schema: {}", e)))?;
    let v = Arc::new(
        jsonschema::validator_for(&parsed)
            .map_err(|e| EvalError::new(format!("failed to compile json schema: {}", e)))?,
    );
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() > 256 {
        c.clear();
    }
    c.insert(schema.to_string(), v.clone());
    Ok(v)
}

fn json_schema(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let schema = c.string(0)?;
    let val = validator(&schema)?;
    let instance = v.to_serde();
    let errors: Vec<String> = val
        .iter_errors(&instance)
        .map(|e| {
            let ptr = e.instance_path.to_string();
            let field = if ptr.is_empty() {
                "(root)".to_string()
            } else {
                ptr.trim_start_matches('/').replace('/', ".")
            };
            format!("{} {}", field, e)
        })
        .collect();
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(EvalError::new(errors.join("\n")))
    }
}

/// One change of a changelog.
fn change(kind: &str, path: &[String], from: Value, to: Value) -> Value {
    let mut o = Object::new();
    o.insert("Type".into(), Value::str(kind));
    o.insert(
        "Path".into(),
        Value::Array(path.iter().map(Value::str).collect()),
    );
    o.insert("From".into(), from);
    o.insert("To".into(), to);
    Value::Object(o)
}

/// Appends the changes turning `a` into `b` at `path`.
fn diff_values(a: &Value, b: &Value, path: &mut Vec<String>, out: &mut Vec<Value>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                path.push(k.clone());
                match (x.get(k), y.get(k)) {
                    (Some(av), Some(bv)) => diff_values(av, bv, path, out),
                    (Some(av), None) => out.push(change("delete", path, av.clone(), Value::Null)),
                    (None, Some(bv)) => out.push(change("create", path, Value::Null, bv.clone())),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                path.push(i.to_string());
                match (x.get(i), y.get(i)) {
                    (Some(av), Some(bv)) => diff_values(av, bv, path, out),
                    (Some(av), None) => out.push(change("delete", path, av.clone(), Value::Null)),
                    (None, Some(bv)) => out.push(change("create", path, Value::Null, bv.clone())),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (a, b) if a == b && a.type_name() == b.type_name() => {}
        (a, b) => out.push(change("update", path, a.clone(), b.clone())),
    }
}

fn diff(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let other = c.value(0)?;
    let mut out = Vec::new();
    diff_values(&v, &other, &mut Vec::new(), &mut out);
    Ok(Value::Array(out))
}

fn patch(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let log = c.value(0)?;
    let mut doc = v;
    for entry in as_array(&log)? {
        let e = as_object(entry)?;
        let kind = e.get("Type").map(as_str).transpose()?.unwrap_or("");
        let path = match e.get("Path") {
            Some(Value::Array(p)) => p.iter().map(|s| s.to_display_string()).collect::<Vec<_>>(),
            _ => return Err(EvalError::new("changelog entry is missing a Path array")),
        };
        if path.len() > crate::limits::MAX_VALUE_DEPTH {
            return Err(EvalError::new(format!(
                "changelog path has {} segments, more than the nesting limit of {}",
                path.len(),
                crate::limits::MAX_VALUE_DEPTH
            )));
        }
        match kind {
            "create" | "update" => {
                let to = e.get("To").cloned().unwrap_or(Value::Null);
                set_or_push(&mut doc, &path, to);
            }
            "delete" => interp::set_path(&mut doc, &path, Value::Deleted),
            other => return Err(EvalError::new(format!("unknown changelog type: {}", other))),
        }
    }
    crate::limits::check_depth(&doc)?;
    Ok(doc)
}

/// Sets a path, appending when the last segment indexes one past the end of an array.
fn set_or_push(doc: &mut Value, path: &[String], v: Value) {
    if let Some((last, parent)) = path.split_last() {
        if let Some(Value::Array(a)) = get_path_mut(doc, parent) {
            if last.parse::<usize>().ok() == Some(a.len()) {
                a.push(v);
                return;
            }
        }
    }
    interp::set_path(doc, path, v);
}

fn get_path_mut<'v>(mut v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    for seg in path {
        v = match v {
            Value::Object(o) => o.get_mut(seg)?,
            Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        Value::from_json_slice(s.as_bytes()).unwrap()
    }

    fn eval(v: &Value, expr: &str) -> Vec<Value> {
        let steps = parse_path(expr).unwrap();
        let mut cur = vec![v];
        for s in &steps {
            let mut next = Vec::new();
            for x in cur {
                apply_step(s, x, &mut next).unwrap();
            }
            cur = next;
        }
        cur.into_iter().cloned().collect()
    }

    #[test]
    fn json_paths() {
        let v =
            j(r#"{"name":"alice","foo":{"name":"bob"},"list":[{"t":"a","n":1},{"t":"b","n":2}]}"#);
        assert_eq!(
            eval(&v, "$..name"),
            vec![Value::str("alice"), Value::str("bob")]
        );
        assert_eq!(eval(&v, "$.list[?(@.t=='b')].n"), vec![Value::Int(2)]);
        assert_eq!(eval(&v, "$.list[-1].t"), vec![Value::str("b")]);
        assert_eq!(eval(&v, "$.list[*].n"), vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(eval(&v, "$['foo']['name']"), vec![Value::str("bob")]);
    }

    #[test]
    fn diff_then_patch() {
        let a = j(r#"{"name":"Alice","age":30,"tags":["x"]}"#);
        let b = j(r#"{"name":"Alice","age":31,"city":"NYC","tags":["x","y"]}"#);
        let mut log = Vec::new();
        diff_values(&a, &b, &mut Vec::new(), &mut log);
        assert_eq!(log.len(), 3);
        let mut doc = a.clone();
        for e in &log {
            let e = as_object(e).unwrap();
            let path: Vec<String> = as_array(&e["Path"])
                .unwrap()
                .iter()
                .map(|p| p.to_display_string())
                .collect();
            set_or_push(&mut doc, &path, e["To"].clone());
        }
        assert_eq!(doc, b);
    }
}
