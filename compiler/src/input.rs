//! What a program reads of its input document, and parsing only that.
//!
//! [`analyse`] walks a lowered program and finds every read of the input document (`this` where
//! it is not rebound by a query, a capture or a `match` subject; `json()`). When every read is
//! a constant path, [`parse_paths`] parses the payload in one pass that validates all of it
//! (so a malformed document fails exactly as a full parse would) but materialises only the
//! subtrees on those paths: the walkthrough's `{"id": this.user.id, "content":
//! this.body.content}` allocates two strings instead of the whole document.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::ir::{Base, Case, Expr, Program, Stmt};
use crate::stdlib::ParamKind;
use crate::value::{Object, Value};

/// The parts of the input a program reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Access {
    /// Nothing: the payload need not be parsed.
    #[default]
    Nothing,
    /// Only these constant paths (as a trie).
    Paths(PathTrie),
    /// The whole document (or something not statically known).
    Whole,
}

/// A trie of paths; a node marked `whole` is read entirely.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathTrie {
    whole: bool,
    children: BTreeMap<String, PathTrie>,
}

impl PathTrie {
    /// The sub-trie under `key`, if that key is read.
    pub fn child(&self, key: &str) -> Option<&PathTrie> {
        self.children.get(key)
    }

    /// True when the whole value at this node is read.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The keys read under this node, with their sub-tries.
    pub fn children(&self) -> impl Iterator<Item = (&String, &PathTrie)> {
        self.children.iter()
    }

    fn insert(&mut self, path: &[String]) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                self.whole = true;
                self.children.clear();
            }
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }
}

impl Access {
    fn add_path(&mut self, path: &[String]) {
        if path.is_empty() {
            *self = Access::Whole;
            return;
        }
        match self {
            Access::Whole => {}
            Access::Nothing => {
                let mut t = PathTrie::default();
                t.insert(path);
                *self = Access::Paths(t);
            }
            Access::Paths(t) => t.insert(path),
        }
    }
}

/// Finds what the top-level statements of `program` read of the input document.
pub fn analyse(program: &Program) -> Access {
    analyse_stmts(&program.stmts, &program.maps)
}

/// Finds what `stmts` (with the program's named maps) read of the input document.
pub fn analyse_stmts(
    stmts: &[Stmt],
    maps: &std::collections::HashMap<String, Vec<Stmt>>,
) -> Access {
    let mut acc = Access::Nothing;
    for s in stmts {
        stmt(s, &mut acc);
    }
    // Named maps see their argument as `this`; only their `json()` calls read the input.
    let mut in_maps = Access::Nothing;
    for body in maps.values() {
        for s in body {
            stmt(s, &mut in_maps);
        }
    }
    if in_maps == Access::Whole {
        acc = Access::Whole;
    }
    acc
}

fn stmt(s: &Stmt, acc: &mut Access) {
    match s {
        Stmt::Assign { value, .. } => expr(value, false, acc),
        Stmt::If {
            branches,
            otherwise,
        } => {
            for (c, body) in branches {
                expr(c, false, acc);
                body.iter().for_each(|s| stmt(s, acc));
            }
            otherwise.iter().for_each(|s| stmt(s, acc));
        }
    }
}

/// Records input reads of `e`; `rebound` is true where `this` is not the input.
fn expr(e: &Expr, rebound: bool, acc: &mut Access) {
    match e {
        Expr::Path {
            base: Base::This,
            path,
            ..
        } => {
            if !rebound {
                acc.add_path(path);
            }
        }
        Expr::Const(_) | Expr::Var(_) | Expr::Meta(_) | Expr::Path { .. } => {}
        Expr::Array(items) => items.iter().for_each(|i| expr(i, rebound, acc)),
        Expr::Object(items) => items.iter().for_each(|(k, v)| {
            expr(k, rebound, acc);
            expr(v, rebound, acc)
        }),
        Expr::Field { target, .. } => expr(target, rebound, acc),
        Expr::Function { spec, args, .. } => {
            if spec.name == "json" {
                *acc = Access::Whole;
            }
            call_args(spec.params, args, rebound, acc);
        }
        Expr::Method {
            spec, target, args, ..
        } => {
            expr(target, rebound, acc);
            call_args(spec.params, args, rebound, acc);
        }
        Expr::Catch { target, fallback } | Expr::Or { target, fallback } => {
            expr(target, rebound, acc);
            expr(fallback, rebound, acc);
        }
        Expr::Capture { target, body } => {
            expr(target, rebound, acc);
            query(body, rebound, acc);
        }
        Expr::Lambda { body } => expr(body, rebound, acc),
        Expr::Match { subject, cases } => {
            let inner = match subject {
                Some(s) => {
                    expr(s, rebound, acc);
                    true
                }
                None => rebound,
            };
            for (c, v) in cases {
                if let Case::Condition(c) = c {
                    expr(c, inner, acc);
                }
                expr(v, inner, acc);
            }
            // `match` without a subject compares literal patterns with `this`.
            if subject.is_none()
                && !rebound
                && cases.iter().any(|(c, _)| matches!(c, Case::Equals(_)))
            {
                *acc = Access::Whole;
            }
        }
        Expr::If {
            branches,
            otherwise,
        } => {
            for (c, v) in branches {
                expr(c, rebound, acc);
                expr(v, rebound, acc);
            }
            if let Some(o) = otherwise {
                expr(o, rebound, acc);
            }
        }
        Expr::Binary { lhs, rhs, .. } => {
            expr(lhs, rebound, acc);
            expr(rhs, rebound, acc);
        }
        Expr::Not(i) | Expr::Neg(i) => expr(i, rebound, acc),
    }
}

/// A query argument: a lambda keeps `this`, a plain query rebinds it.
fn query(q: &Expr, rebound: bool, acc: &mut Access) {
    match q {
        Expr::Lambda { body } => expr(body, rebound, acc),
        other => expr(other, true, acc),
    }
}

fn call_args(params: &[crate::stdlib::Param], args: &[Expr], rebound: bool, acc: &mut Access) {
    for (p, a) in params.iter().zip(args) {
        if p.kind == ParamKind::Query {
            query(a, rebound, acc);
        } else {
            expr(a, rebound, acc);
        }
    }
}

/// Parses `bytes` as JSON, validating all of it but building only the subtrees on `trie`.
pub fn parse_paths(bytes: &[u8], trie: &PathTrie) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Partial(trie).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Deserialises a value keeping only what `trie` asks for.
struct Partial<'t>(&'t PathTrie);

impl<'de> DeserializeSeed<'de> for Partial<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            return <Value as serde::Deserialize>::deserialize(d);
        }
        d.deserialize_any(PartialVisitor(self.0))
    }
}

struct PartialVisitor<'t>(&'t PathTrie);

impl<'de> Visitor<'de> for PartialVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
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
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Arrays keep their length (elements not asked for become null) so indices hold.
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            let wanted = self.0.children.get(&i.to_string());
            let next = match wanted {
                Some(t) => seq.next_element_seed(Partial(t))?,
                None => seq.next_element::<IgnoredAny>()?.map(|_| Value::Null),
            };
            match next {
                Some(v) => out.push(v),
                None => break,
            }
            i += 1;
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Object::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0.children.get(&key) {
                Some(t) => {
                    let v = map.next_value_seed(Partial(t))?;
                    out.insert(key, v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mapping;

    fn access(src: &str) -> Access {
        analyse(Mapping::compile(src).unwrap().program())
    }

    #[test]
    fn finds_constant_paths() {
        let Access::Paths(t) =
            access(r#"root = {"id": this.user.id, "content": this.body.content}"#)
        else {
            panic!()
        };
        assert_eq!(t.children.keys().collect::<Vec<_>>(), vec!["body", "user"]);
        assert_eq!(access("root = this"), Access::Whole);
        assert_eq!(access("root = json()"), Access::Whole);
        assert_eq!(access("root = content()"), Access::Nothing);
        // `this` inside map_each's query is the element, not the input.
        let Access::Paths(t) = access("root = this.items.map_each(this.name)") else {
            panic!()
        };
        assert_eq!(t.children.keys().collect::<Vec<_>>(), vec!["items"]);
    }

    #[test]
    fn partial_parse_keeps_only_requested_paths_and_validates_everything() {
        let mut t = PathTrie::default();
        t.insert(&["user".into(), "id".into()]);
        t.insert(&["list".into(), "1".into()]);
        let v = parse_paths(
            br#"{"user":{"id":"u","name":"n"},"big":[1,2,{"x":3}],"list":[0,{"a":1}]}"#,
            &t,
        )
        .unwrap();
        assert_eq!(
            v.to_json_string(),
            r#"{"list":[null,{"a":1}],"user":{"id":"u"}}"#
        );
        assert!(parse_paths(br#"{"user":{"id":"u"},"bad":[1,}"#, &t).is_err());
    }
}
