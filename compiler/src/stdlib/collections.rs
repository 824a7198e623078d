//! Standard library: object and array manipulation (`map_each`, `filter`, `sort`, `merge`,
//! paths with `get`/`exists`/`without`, …) and the `array` coercion.

use std::cmp::Ordering;

use super::coerce::{as_array, as_bool, as_f64, as_object, as_str, split_path, to_bytes};
use super::{Default, MethodSpec, Param, Type, VARIADIC};
use crate::error::EvalError;
use crate::interp::{self, Call};
use crate::value::{Object, Value};

/// Declares a method; `pure` when it takes no query parameters that could read state.
macro_rules! m {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: true, imp: $imp }
    };
    ($name:expr, $params:expr, $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: $params, returns: Type::$ret, pure: true, imp: $imp }
    };
}

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    m!("array", [], Array, |_, v| Ok(match v {
        Value::Array(a) => Value::Array(a),
        other => Value::Array(vec![other]),
    })),
    // A mapping sees a batch of one message: `from(0)` and `from_all()` see that message.
    m!("from", [Param::req("index")], Any, |c, v| match c.int(0)? {
        0 | -1 => Ok(v),
        i => Err(EvalError::new(format!(
            "index {} is out of bounds for a batch of size 1",
            i
        ))),
    }),
    m!("from_all", [], Array, |_, v| Ok(Value::Array(vec![v]))),
    m!("all", [Param::query("test")], Bool, |c, v| quantify(
        c, v, true
    )),
    m!("any", [Param::query("test")], Bool, |c, v| quantify(
        c, v, false
    )),
    m!("append", VARIADIC, Array, |c, v| {
        let mut a = as_array(&v)?.clone();
        a.extend(variadic(c)?);
        Ok(Value::Array(a))
    }),
    m!("concat", VARIADIC, Array, |c, v| {
        let mut a = as_array(&v)?.clone();
        for other in variadic(c)? {
            a.extend(as_array(&other)?.iter().cloned());
        }
        Ok(Value::Array(a))
    }),
    m!("assign", [Param::req("with")], Any, |c, v| {
        let with = c.value(0)?;
        Ok(merge_values(v, with, true))
    }),
    m!("merge", [Param::req("with")], Any, |c, v| {
        let with = c.value(0)?;
        Ok(merge_values(v, with, false))
    }),
    m!(
        "collapse",
        [Param::def("include_empty", Default::Bool(false))],
        Object,
        |c, v| {
            let include_empty = c.bool(0)?;
            let mut out = Object::new();
            collapse(&v, String::new(), include_empty, &mut out);
            Ok(Value::Object(out))
        }
    ),
    m!("contains", [Param::req("value")], Bool, contains),
    m!("enumerated", [], Array, |_, v| Ok(Value::Array(
        as_array(&v)?
            .iter()
            .enumerate()
            .map(|(i, e)| pair("index", Value::Int(i as i64), "value", e.clone()))
            .collect()
    ))),
    m!("exists", [Param::req("path")], Bool, |c, v| {
        let path = split_path(&c.string(0)?);
        Ok(Value::Bool(interp::get_path(&v, &path).is_some()))
    }),
    m!("get", [Param::req("path")], Any, |c, v| {
        let path = split_path(&c.string(0)?);
        Ok(interp::get_path(&v, &path).cloned().unwrap_or(Value::Null))
    }),
    m!("explode", [Param::req("path")], Any, explode),
    m!("filter", [Param::query("test")], Any, filter),
    m!("find", [Param::req("value")], Number, |c, v| {
        let needle = c.value(0)?;
        Ok(Value::Int(
            as_array(&v)?
                .iter()
                .position(|e| *e == needle)
                .map(|i| i as i64)
                .unwrap_or(-1),
        ))
    }),
    m!("find_all", [Param::req("value")], Array, |c, v| {
        let needle = c.value(0)?;
        Ok(Value::Array(
            as_array(&v)?
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == needle)
                .map(|(i, _)| Value::Int(i as i64))
                .collect(),
        ))
    }),
    m!("find_by", [Param::query("query")], Number, |c, v| {
        let hits = matching_indexes(c, &v, true)?;
        Ok(Value::Int(hits.first().map(|i| *i as i64).unwrap_or(-1)))
    }),
    m!("find_all_by", [Param::query("query")], Array, |c, v| {
        let hits = matching_indexes(c, &v, false)?;
        Ok(Value::Array(
            hits.into_iter().map(|i| Value::Int(i as i64)).collect(),
        ))
    }),
    m!("flatten", [], Array, |_, v| {
        let mut out = Vec::new();
        for e in as_array(&v)? {
            match e {
                Value::Array(inner) => out.extend(inner.iter().cloned()),
                other => out.push(other.clone()),
            }
        }
        Ok(Value::Array(out))
    }),
    m!(
        "fold",
        [Param::req("initial"), Param::query("query")],
        Any,
        |c, v| {
            let mut tally = c.value(0)?;
            for e in as_array(&v)? {
                tally = c.apply(1, &pair("tally", tally, "value", e.clone()))?;
                // A tally that wraps itself nests without bound: check (the iteration
                // already cloned the tally, so this walk costs no more than it did).
                crate::limits::check_depth(&tally)?;
            }
            Ok(tally)
        }
    ),
    m!("index", [Param::req("index")], Any, index),
    m!(
        "join",
        [Param::def("delimiter", Default::Str(""))],
        Str,
        |c, v| {
            let delim = c.string(0)?;
            let parts = as_array(&v)?
                .iter()
                .map(|e| as_str(e).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Str(parts.join(&delim)))
        }
    ),
    m!("key_values", [], Array, |_, v| Ok(Value::Array(
        as_object(&v)?
            .iter()
            .map(|(k, e)| pair("key", Value::str(k), "value", e.clone()))
            .collect()
    ))),
    m!("keys", [], Array, |_, v| Ok(Value::Array(
        as_object(&v)?.keys().map(Value::str).collect()
    ))),
    m!("values", [], Array, |_, v| Ok(Value::Array(
        as_object(&v)?.values().cloned().collect()
    ))),
    m!("length", [], Number, |_, v| Ok(Value::Int(match &v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        other => return Err(EvalError::expected("string, array or object", other)),
    } as i64))),
    m!("map_each", [Param::query("query")], Any, map_each),
    m!(
        "map_each_key",
        [Param::query("query")],
        Object,
        map_each_key
    ),
    m!("slice", [Param::req("low"), Param::opt("high")], Any, slice),
    m!("sort", [Param::opt_query("compare")], Array, sort),
    m!("sort_by", [Param::query("query")], Array, sort_by),
    m!("squash", [], Any, |_, v| {
        let mut out = Value::Object(Object::new());
        for e in as_array(&v)? {
            out = merge_values(out, e.clone(), false);
        }
        Ok(out)
    }),
    m!("sum", [], Number, |_, v| {
        let mut total = Value::Int(0);
        for e in as_array(&v)? {
            as_f64(e)?;
            total = interp::arithmetic(crate::syntax::BinOp::Add, total, e.clone())?;
        }
        Ok(total)
    }),
    m!("unique", [Param::opt_query("emit")], Array, unique),
    m!("with", VARIADIC, Object, |c, v| {
        let obj = as_object(&v)?;
        let mut out = Value::Object(Object::new());
        for p in variadic(c)? {
            let path = split_path(as_str(&p)?);
            if let Some(found) = interp::get_path(&Value::Object(obj.clone()), &path) {
                interp::set_path(&mut out, &path, found.clone());
            }
        }
        Ok(out)
    }),
    m!("without", VARIADIC, Any, |c, v| {
        let mut out = v;
        as_object(&out)?;
        for p in variadic(c)? {
            let path = split_path(as_str(&p)?);
            if interp::get_path(&out, &path).is_some() {
                interp::set_path(&mut out, &path, Value::Deleted);
            }
        }
        Ok(out)
    }),
    m!("zip", VARIADIC, Array, |c, v| {
        let mut arrays = vec![as_array(&v)?.clone()];
        for other in variadic(c)? {
            arrays.push(as_array(&other)?.clone());
        }
        let len = arrays[0].len();
        if arrays.iter().any(|a| a.len() != len) {
            return Err(EvalError::new("can't zip different length array values"));
        }
        Ok(Value::Array(
            (0..len)
                .map(|i| Value::Array(arrays.iter().map(|a| a[i].clone()).collect()))
                .collect(),
        ))
    }),
];

/// The given arguments of a variadic method.
fn variadic(c: &mut Call) -> Result<Vec<Value>, EvalError> {
    let mut out = Vec::new();
    for i in 0..c.len() {
        if let Some(v) = c.opt_value(i)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// A two-key object such as `{"key": k, "value": v}`.
fn pair(k1: &str, v1: Value, k2: &str, v2: Value) -> Value {
    let mut o = Object::new();
    o.insert(k1.to_string(), v1);
    o.insert(k2.to_string(), v2);
    Value::Object(o)
}

/// Evaluates a predicate query, requiring a boolean result.
fn test(c: &mut Call, i: usize, ctx: &Value) -> Result<bool, EvalError> {
    let r = c.apply(i, ctx)?;
    as_bool(&r)
}

fn quantify(c: &mut Call, v: Value, all: bool) -> Result<Value, EvalError> {
    for e in as_array(&v)? {
        if test(c, 0, e)? != all {
            return Ok(Value::Bool(!all));
        }
    }
    Ok(Value::Bool(all))
}

/// Merges `with` into `into`: objects recursively; on a collision of other values `merge`
/// gathers both into an array while `assign` (`overwrite`) keeps the new value.
pub fn merge_values(into: Value, with: Value, overwrite: bool) -> Value {
    match (into, with) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(existing) => merge_values(existing, v, overwrite),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (_, with) if overwrite => with,
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (Value::Array(mut a), with) => {
            a.push(with);
            Value::Array(a)
        }
        (into, Value::Array(b)) => {
            let mut a = vec![into];
            a.extend(b);
            Value::Array(a)
        }
        (into, with) => Value::Array(vec![into, with]),
    }
}

fn collapse(v: &Value, prefix: String, include_empty: bool, out: &mut Object) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{}.{}", prefix, k)
        }
    };
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, e) in o {
                collapse(e, join(k), include_empty, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, e) in a.iter().enumerate() {
                collapse(e, join(&i.to_string()), include_empty, out);
            }
        }
        Value::Object(_) | Value::Array(_) if !include_empty => {}
        other => {
            out.insert(prefix, other.clone());
        }
    }
}

fn contains(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let needle = c.value(0)?;
    Ok(Value::Bool(match &v {
        Value::Array(a) => a.contains(&needle),
        Value::Object(o) => o.values().any(|e| *e == needle),
        Value::Str(s) => s.contains(&needle.to_display_string()),
        Value::Bytes(b) => {
            let n = to_bytes(&needle);
            n.is_empty() || b.windows(n.len()).any(|w| w == n.as_slice())
        }
        other => return Err(EvalError::expected("array, object or string", other)),
    }))
}

fn explode(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let path = split_path(&c.string(0)?);
    let target = interp::get_path(&v, &path).cloned().unwrap_or(Value::Null);
    let with = |e: Value| {
        let mut copy = v.clone();
        interp::set_path(&mut copy, &path, e);
        copy
    };
    match target {
        Value::Array(a) => Ok(Value::Array(a.into_iter().map(with).collect())),
        Value::Object(o) => Ok(Value::Object(
            o.into_iter().map(|(k, e)| (k, with(e))).collect(),
        )),
        other => Err(EvalError::expected("array or object", &other)),
    }
}

fn filter(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            for e in a {
                if test(c, 0, &e)? {
                    out.push(e);
                }
            }
            Ok(Value::Array(out))
        }
        Value::Object(o) => {
            let mut out = Object::new();
            for (k, e) in o {
                if test(c, 0, &pair("key", Value::str(&k), "value", e.clone()))? {
                    out.insert(k, e);
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(EvalError::expected("array or object", &other)),
    }
}

fn matching_indexes(c: &mut Call, v: &Value, first_only: bool) -> Result<Vec<usize>, EvalError> {
    let mut out = Vec::new();
    for (i, e) in as_array(v)?.iter().enumerate() {
        if test(c, 0, e)? {
            out.push(i);
            if first_only {
                break;
            }
        }
    }
    Ok(out)
}

/// Resolves a possibly negative index against a length.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let idx = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&idx).then_some(idx as usize)
}

fn index(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let i = c.int(0)?;
    let oob = || EvalError::new(format!("index {} out of bounds", i));
    match &v {
        Value::Array(a) => resolve_index(i, a.len())
            .map(|j| a[j].clone())
            .ok_or_else(oob),
        Value::Bytes(b) => resolve_index(i, b.len())
            .map(|j| Value::Int(b[j] as i64))
            .ok_or_else(oob),
        other => Err(EvalError::expected("array", other)),
    }
}

fn map_each(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for e in a {
                match c.apply(0, &e)? {
                    Value::Deleted => {}
                    Value::Nothing => out.push(e),
                    r => out.push(r),
                }
            }
            Ok(Value::Array(out))
        }
        Value::Object(o) => {
            let mut out = Object::new();
            for (k, e) in o {
                match c.apply(0, &pair("key", Value::str(&k), "value", e.clone()))? {
                    Value::Deleted => {}
                    Value::Nothing => {
                        out.insert(k, e);
                    }
                    r => {
                        out.insert(k, r);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(EvalError::expected("object or array", &other)),
    }
}

fn map_each_key(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let o = match v {
        Value::Object(o) => o,
        other => return Err(EvalError::expected("object", &other)),
    };
    let mut out = Object::new();
    for (k, e) in o {
        match c.apply(0, &Value::str(&k))? {
            Value::Deleted => {}
            Value::Nothing => {
                out.insert(k, e);
            }
            Value::Str(nk) => {
                out.insert(nk, e);
            }
            other => return Err(EvalError::expected("string", &other)),
        }
    }
    Ok(Value::Object(out))
}

fn slice(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let low = c.int(0)?;
    let high = match c.opt_value(1)? {
        None => None,
        Some(h) => Some(super::coerce::as_i64(&h)?),
    };
    let len = match &v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) => a.len(),
        other => return Err(EvalError::expected("array or string", other)),
    } as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let (start, end) = (clamp(low), clamp(high.unwrap_or(len)));
    if start > end {
        return Err(EvalError::new(format!(
            "lower slice bound {} must be lower than or equal to upper bound ({}) and target length ({})",
            start, end, len
        )));
    }
    let (s, e) = (start as usize, end as usize);
    Ok(match v {
        Value::Str(st) => Value::Str(String::from_utf8_lossy(&st.as_bytes()[s..e]).into_owned()),
        Value::Bytes(b) => Value::Bytes(b.slice(s..e)),
        Value::Array(a) => Value::Array(a[s..e].to_vec()),
        _ => unreachable!("checked above"),
    })
}

/// Orders two values of the same sortable kind (numbers, strings, timestamps).
fn compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal)),
            _ => Err(EvalError::new(format!(
                "cannot compare {} and {}: expected numbers or strings",
                a.type_name(),
                b.type_name()
            ))),
        },
    }
}

/// A stable merge sort with a fallible comparator.
fn sort_values<F>(items: Vec<Value>, mut less: F) -> Result<Vec<Value>, EvalError>
where
    F: FnMut(&Value, &Value) -> Result<bool, EvalError>,
{
    let mut err = None;
    let mut items = items;
    items.sort_by(|a, b| {
        if err.is_some() {
            return Ordering::Equal;
        }
        match (less(a, b), less(b, a)) {
            (Ok(true), _) => Ordering::Less,
            (Ok(false), Ok(true)) => Ordering::Greater,
            (Ok(false), Ok(false)) => Ordering::Equal,
            (Err(e), _) | (_, Err(e)) => {
                err = Some(e);
                Ordering::Equal
            }
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(items),
    }
}

fn sort(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let items = as_array(&v)?.clone();
    if !c.has_query(0) {
        return sort_values(items, |a, b| Ok(compare(a, b)? == Ordering::Less)).map(Value::Array);
    }
    sort_values(items, |a, b| {
        test(c, 0, &pair("left", a.clone(), "right", b.clone()))
    })
    .map(Value::Array)
}

fn sort_by(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let items = as_array(&v)?.clone();
    let mut keyed = Vec::with_capacity(items.len());
    for e in items {
        keyed.push(Value::Array(vec![c.apply(0, &e)?, e]));
    }
    let key = |p: &Value| match p {
        Value::Array(kv) => kv[0].clone(),
        _ => Value::Null,
    };
    let sorted = sort_values(keyed, |a, b| {
        Ok(compare(&key(a), &key(b))? == Ordering::Less)
    })?;
    Ok(Value::Array(
        sorted
            .into_iter()
            .map(|p| match p {
                Value::Array(mut kv) => kv.pop().unwrap_or(Value::Null),
                other => other,
            })
            .collect(),
    ))
}

fn unique(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let items = as_array(&v)?;
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for e in items {
        let key = if c.has_query(0) {
            c.apply(0, e)?
        } else {
            e.clone()
        };
        // Numbers and strings are distinct even when they print alike.
        if !seen
            .iter()
            .any(|s| *s == key && s.type_name() == key.type_name())
        {
            seen.push(key);
            out.push(e.clone());
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        Value::from_json_slice(s.as_bytes()).unwrap()
    }

    #[test]
    fn merge_gathers_collisions() {
        let m = merge_values(
            j(r#"{"a":1,"b":{"c":[1]}}"#),
            j(r#"{"a":2,"b":{"c":2}}"#),
            false,
        );
        assert_eq!(m.to_json_string(), r#"{"a":[1,2],"b":{"c":[1,2]}}"#);
        let a = merge_values(
            j(r#"{"a":1,"b":{"c":1}}"#),
            j(r#"{"a":2,"b":{"d":2}}"#),
            true,
        );
        assert_eq!(a.to_json_string(), r#"{"a":2,"b":{"c":1,"d":2}}"#);
    }

    #[test]
    fn collapse_paths() {
        let mut out = Object::new();
        collapse(
            &j(r#"{"foo":[{"bar":"1"},{"bar":{}}]}"#),
            String::new(),
            false,
            &mut out,
        );
        assert_eq!(Value::Object(out).to_json_string(), r#"{"foo.0.bar":"1"}"#);
    }

    #[test]
    fn negative_indexes() {
        assert_eq!(resolve_index(-1, 2), Some(1));
        assert_eq!(resolve_index(2, 2), None);
        assert_eq!(resolve_index(-3, 2), None);
    }
}
