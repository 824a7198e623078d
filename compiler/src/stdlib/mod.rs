//! The Bloblang standard library: every function and method, declared once as a spec.
//!
//! A spec names the callable, lists its parameters (name, kind, default) and points at its
//! implementation. The IR lowering resolves calls against these specs (arity, named and
//! positional arguments, defaults, suggestions for unknown names); every back end calls the
//! same implementations through [`Call`].
//!
//! Implementations live in one module per family: [`functions`], [`strings`], [`numbers`],
//! [`collections`], [`documents`], [`encoding`], [`time`], [`parsing`], [`jwt`], [`generators`];
//! [`coerce`] holds the coercions they share.

pub mod coerce;
pub mod collections;
pub mod documents;
pub mod encoding;
pub mod functions;
pub mod generators;
pub mod jwt;
pub mod numbers;
pub mod parsing;
pub mod strings;
pub mod time;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::EvalError;
pub use crate::interp::Call;
use crate::value::Value;

/// The static type of a value, where the compiler knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Unknown until run time.
    Any,
    /// `null`
    Null,
    /// A boolean.
    Bool,
    /// A number (integer or float).
    Number,
    /// A string.
    Str,
    /// Bytes.
    Bytes,
    /// An array.
    Array,
    /// An object.
    Object,
    /// A timestamp.
    Timestamp,
}

impl Type {
    /// The static type of a value.
    pub fn of(v: &Value) -> Type {
        match v {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) | Value::Float(_) => Type::Number,
            Value::Str(_) => Type::Str,
            Value::Bytes(_) => Type::Bytes,
            Value::Array(_) => Type::Array,
            Value::Object(_) => Type::Object,
            Value::Timestamp(_) => Type::Timestamp,
            Value::Nothing | Value::Deleted => Type::Any,
        }
    }
}

/// What an omitted parameter becomes.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// The parameter must be given.
    Required,
    /// The parameter may be omitted; it is then [`Value::Nothing`].
    Optional,
    /// `null`
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(&'static str),
}

impl Default {
    /// The value an omitted parameter takes, if it may be omitted.
    pub fn value(self) -> Option<Value> {
        Some(match self {
            Default::Required => return None,
            Default::Optional => Value::Nothing,
            Default::Null => Value::Null,
            Default::Bool(b) => Value::Bool(b),
            Default::Int(i) => Value::Int(i),
            Default::Float(f) => Value::Float(f),
            Default::Str(s) => Value::Str(s.to_string()),
        })
    }
}

/// How an argument is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Evaluated in the caller's context before the call (read it with `Call::value` and
    /// friends).
    Value,
    /// Passed unevaluated: a lambda `x -> ...` or a query in which `this` is rebound
    /// (evaluate it with `Call::apply`).
    Query,
}

/// One parameter of a function or method.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name (for named arguments).
    pub name: &'static str,
    /// How it is passed.
    pub kind: ParamKind,
    /// What it becomes when omitted.
    pub default: Default,
}

impl Param {
    /// A required value parameter.
    pub const fn req(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Value,
            default: Default::Required,
        }
    }
    /// An optional value parameter ([`Value::Nothing`] when omitted).
    pub const fn opt(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Value,
            default: Default::Optional,
        }
    }
    /// A value parameter with a default.
    pub const fn def(name: &'static str, default: Default) -> Param {
        Param {
            name,
            kind: ParamKind::Value,
            default,
        }
    }
    /// A required query/lambda parameter.
    pub const fn query(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Query,
            default: Default::Required,
        }
    }
    /// An optional query/lambda parameter.
    pub const fn opt_query(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Query,
            default: Default::Optional,
        }
    }
}

/// The parameters of a variadic method or function: up to 64 optional positional arguments
/// (omitted ones are [`Value::Nothing`]).
pub const VARIADIC: &[Param] = &[Param::opt("args"); 64];

/// A method implementation: receives the evaluated target.
pub type MethodFn = fn(&mut Call<'_, '_>, Value) -> Result<Value, EvalError>;
/// A function implementation.
pub type FunctionFn = fn(&mut Call<'_, '_>) -> Result<Value, EvalError>;

/// The spec of a method (`target.name(args)`).
#[derive(Debug, Clone, Copy)]
pub struct MethodSpec {
    /// Its name.
    pub name: &'static str,
    /// Its parameters, in positional order.
    pub params: &'static [Param],
    /// The static type of its result (`Type::Any` when it depends on the input).
    pub returns: Type,
    /// False when the result depends on more than the target and arguments (random, clock,
    /// state); pure calls with constant inputs are folded at compile time.
    pub pure: bool,
    /// The implementation.
    pub imp: MethodFn,
}

/// The spec of a function (`name(args)`).
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    /// Its name.
    pub name: &'static str,
    /// Its parameters, in positional order.
    pub params: &'static [Param],
    /// The static type of its result.
    pub returns: Type,
    /// False when the result depends on more than the arguments (message, clock, state).
    pub pure: bool,
    /// The implementation.
    pub imp: FunctionFn,
}

/// Names that exist in the reference but need an external service or database; using one is a
/// compile error that says so.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("geoip_anonymous_ip", "it needs a MaxMind GeoIP database"),
    ("geoip_asn", "it needs a MaxMind GeoIP database"),
    ("geoip_city", "it needs a MaxMind GeoIP database"),
    ("geoip_connection_type", "it needs a MaxMind GeoIP database"),
    ("geoip_country", "it needs a MaxMind GeoIP database"),
    ("geoip_domain", "it needs a MaxMind GeoIP database"),
    ("geoip_enterprise", "it needs a MaxMind GeoIP database"),
    ("geoip_isp", "it needs a MaxMind GeoIP database"),
    ("with_schema_registry_header", "it needs a schema registry"),
    ("parse_parquet", "it needs a Parquet schema reader"),
    ("vector", "it needs a SQL driver"),
];

/// Functions that read the host (its environment, files and name). They are compile errors in
/// a mapping whose text comes from a message (the `bloblang` method), as upstream's
/// pure-only environment makes them: a sender must not read the server.
pub const HOST_FUNCTIONS: &[&str] = &["env", "file", "file_rel", "hostname"];

/// Every method, from every family module.
fn all_methods() -> impl Iterator<Item = &'static MethodSpec> {
    strings::METHODS
        .iter()
        .chain(numbers::METHODS)
        .chain(collections::METHODS)
        .chain(documents::METHODS)
        .chain(jwt::METHODS)
        .chain(encoding::METHODS)
        .chain(time::METHODS)
        .chain(parsing::METHODS)
        .chain(functions::METHODS)
}

/// Every function.
fn all_functions() -> impl Iterator<Item = &'static FunctionSpec> {
    functions::FUNCTIONS.iter().chain(generators::FUNCTIONS)
}

fn method_table() -> &'static HashMap<&'static str, &'static MethodSpec> {
    static T: OnceLock<HashMap<&'static str, &'static MethodSpec>> = OnceLock::new();
    T.get_or_init(|| all_methods().map(|m| (m.name, m)).collect())
}

fn function_table() -> &'static HashMap<&'static str, &'static FunctionSpec> {
    static T: OnceLock<HashMap<&'static str, &'static FunctionSpec>> = OnceLock::new();
    T.get_or_init(|| all_functions().map(|f| (f.name, f)).collect())
}

/// Looks a method up by name.
pub fn method(name: &str) -> Option<&'static MethodSpec> {
    method_table().get(name).copied()
}

/// Looks a function up by name.
pub fn function(name: &str) -> Option<&'static FunctionSpec> {
    function_table().get(name).copied()
}

/// The names of every method (sorted), for suggestions and listings.
pub fn method_names() -> Vec<&'static str> {
    let mut v: Vec<_> = method_table().keys().copied().collect();
    v.sort();
    v
}

/// The names of every function (sorted).
pub fn function_names() -> Vec<&'static str> {
    let mut v: Vec<_> = function_table().keys().copied().collect();
    v.sort();
    v
}

/// Why a name is unsupported, if it is one of [`UNSUPPORTED`].
pub fn unsupported_reason(name: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
}

/// The closest name to `name` among `candidates` (edit distance ≤ 2 or a shared prefix), for
/// "did you mean" suggestions.
pub fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        if d <= 2.max(name.len() / 4) && best.map(|(bd, _)| d < bd).unwrap_or(true) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in all_methods() {
            assert!(seen.insert(m.name), "method {} registered twice", m.name);
        }
        let mut seen = std::collections::HashSet::new();
        for f in all_functions() {
            assert!(seen.insert(f.name), "function {} registered twice", f.name);
        }
    }

    #[test]
    fn suggestions_find_typos() {
        assert_eq!(suggest("uppercas", &method_names()), Some("uppercase"));
    }
}
