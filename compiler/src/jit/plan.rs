//! Output plans: whole-program shapes the JIT runs against the raw payload bytes, so that
//! what a mapping does not change is never parsed into values or serialised again.
//!
//! - [`Plan::Project`]: `root = {"k": this.a.b, ...}` (constant keys, paths from `this`):
//!   each path's bytes are found in the payload and copied into the output in canonical form.
//! - [`Plan::Splice`]: `root = this` (or a `mutation`) followed by statements that only write
//!   top-level fields of `root` (and metadata or variables) and never read `root`: only the
//!   paths the statements read are parsed; the compiled statements build an overlay of the
//!   written fields (a deleted field is a tombstone), and the output is the payload's
//!   top-level members merged with the overlay, in key order, untouched members copied.
//!
//! A plan only runs when the payload is valid JSON by the interpreter's own parser and is of
//! a shape it handles (an object, for splices); anything else takes the general path, which
//! produces the reference result or error. The differential tests cover both plans.

use std::borrow::Cow;

use bytes::Bytes;

use super::{raw, scan};
use crate::error::EvalError;
use crate::input::{self, Access};
use crate::interp::{Exec, InputDoc, MappingOutcome, Message};
use crate::ir::{Base, Expr, Program, Stmt, Target};
use crate::value::Value;

/// A plan chosen when the program was compiled.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Keys (sorted, last duplicate wins) with the `this` paths they read, and the paths as
    /// the scanner's trie.
    Project(Vec<(String, Vec<String>)>, scan::PathSpans),
    /// The overlay statements' function, what they read, and whether the program starts
    /// with `root = this` (else the plan only applies to `mutation`).
    Splice {
        body: u32,
        access: Access,
        copies_this: bool,
    },
}

/// The projection a program is, if it is one.
pub(crate) fn projection(program: &Program) -> Option<Vec<(String, Vec<String>)>> {
    let [Stmt::Assign {
        target: Target::Root(p),
        value: Expr::Object(items),
        ..
    }] = program.stmts.as_slice()
    else {
        return None;
    };
    if !p.is_empty() {
        return None;
    }
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in items {
        let (
            Expr::Const(Value::Str(k)),
            Expr::Path {
                base: Base::This,
                path,
                ..
            },
        ) = (k, v)
        else {
            return None;
        };
        if path.is_empty() {
            return None;
        }
        fields.retain(|(f, _)| f != k);
        fields.push((k.clone(), path.clone()));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    // One path inside another would need both a subtree and its whole: not a projection.
    let nested = fields.iter().any(|(_, a)| {
        fields
            .iter()
            .any(|(_, b)| a.len() < b.len() && b.starts_with(a))
    });
    (!nested).then_some(fields)
}

/// The statements a splice runs (and whether `root = this` came first), if the program is
/// one.
pub(crate) fn splice(program: &Program) -> Option<(&[Stmt], bool, Access)> {
    let (rest, copies_this) = match program.stmts.first() {
        Some(Stmt::Assign {
            target: Target::Root(p),
            value:
                Expr::Path {
                    base: Base::This,
                    path,
                    ..
                },
            ..
        }) if p.is_empty() && path.is_empty() => (&program.stmts[1..], true),
        _ => (program.stmts.as_slice(), false),
    };
    if rest.is_empty() || !rest.iter().all(top_level_writes_only) {
        return None;
    }
    let access = input::analyse_stmts(rest, &program.maps);
    if access == Access::Whole {
        return None;
    }
    Some((rest, copies_this, access))
}

/// True when a statement writes only top-level fields of `root`, metadata or variables, and
/// reads nothing of `root`.
fn top_level_writes_only(s: &Stmt) -> bool {
    match s {
        Stmt::Assign { target, value, .. } => {
            let target_ok = match target {
                Target::Root(p) => p.len() == 1,
                Target::Meta(_) | Target::Var(_) => true,
            };
            target_ok && !reads_root(value)
        }
        Stmt::If {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .all(|(c, b)| !reads_root(c) && b.iter().all(top_level_writes_only))
                && otherwise.iter().all(top_level_writes_only)
        }
    }
}

/// True when `e` may read `root`.
fn reads_root(e: &Expr) -> bool {
    use crate::ir::Case;
    match e {
        Expr::Path { base, .. } => *base == Base::Root,
        Expr::Const(_) | Expr::Var(_) | Expr::Meta(_) => false,
        Expr::Array(items) => items.iter().any(reads_root),
        Expr::Object(items) => items.iter().any(|(k, v)| reads_root(k) || reads_root(v)),
        Expr::Field { target, .. } => reads_root(target),
        Expr::Function { args, .. } => args.iter().any(reads_root),
        Expr::Method { target, args, .. } => reads_root(target) || args.iter().any(reads_root),
        Expr::Catch { target, fallback } | Expr::Or { target, fallback } => {
            reads_root(target) || reads_root(fallback)
        }
        Expr::Capture { target, body } => reads_root(target) || reads_root(body),
        Expr::Lambda { body } => reads_root(body),
        Expr::Match { subject, cases } => {
            subject.as_deref().is_some_and(reads_root)
                || cases
                    .iter()
                    .any(|(c, v)| reads_root(v) || matches!(c, Case::Condition(c) if reads_root(c)))
        }
        Expr::If {
            branches,
            otherwise,
        } => {
            branches.iter().any(|(c, v)| reads_root(c) || reads_root(v))
                || otherwise.as_deref().is_some_and(reads_root)
        }
        Expr::Binary { lhs, rhs, .. } => reads_root(lhs) || reads_root(rhs),
        Expr::Not(i) | Expr::Neg(i) => reads_root(i),
    }
}

/// Runs a projection; `None` hands the message to the general path.
pub(crate) fn run_project(
    fields: &[(String, Vec<String>)],
    paths: &scan::PathSpans,
    msg: &Message,
) -> Option<MappingOutcome> {
    let b = &msg.payload[..];
    let spans = scan::find_paths(b, paths, fields.len())?;
    let mut out = Vec::with_capacity(b.len() / 2 + 16);
    out.push(b'{');
    for (n, ((k, _), span)) in fields.iter().zip(spans).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        raw::write_str(k, &mut out);
        out.push(b':');
        match span {
            Some((s, e, true)) => out.extend_from_slice(&b[s..e]),
            Some((s, e, false)) => raw::write_canonical(b, s, e, &mut out)?,
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    Some(MappingOutcome::Message(Message {
        payload: Bytes::from(out),
        metadata: msg.metadata.clone(),
        error: msg.error.clone(),
    }))
}

/// Runs a splice: the overlay statements (function `body`), then the merge. `None` hands
/// the message to the general path.
pub(crate) fn run_splice(
    code: &super::JitCode,
    program: &Program,
    body: u32,
    access: &Access,
    msg: &Message,
) -> Option<Result<MappingOutcome, EvalError>> {
    let b = &msg.payload[..];
    // One validating pass over the payload: the top-level members and which are canonical.
    let scanned = scan::scan_object(b)?;
    // `this` holds only what the statements read, as the partial parser would build it.
    let mut this = crate::value::Object::new();
    if let Access::Paths(trie) = access {
        for m in &scanned.members {
            if let Some(sub) = trie.child(&m.key) {
                let v = input::parse_paths(&b[m.start..m.end], sub).ok()?;
                this.insert(m.key.to_string(), v);
            }
        }
    }
    let doc = InputDoc {
        value: Cow::Owned(Value::Object(this)),
        error: None,
    };
    let mut ex = Exec::new(program, msg, &doc);
    ex.root = Value::Object(Default::default());
    ex.overlay = true;
    ex.jit = Some(code);
    let mut unused = Value::Null;
    if let Err(e) = code.call(body, &mut ex, &doc.scope(), &mut unused) {
        return Some(Err(e));
    }
    let Value::Object(overlay) = std::mem::take(&mut ex.root) else {
        return None;
    };
    let mut members = scanned.members;
    if !scanned.sorted {
        // Stable: among equal keys the last one stays last; keep it.
        members.sort_by(|x, y| raw::key_cmp(x.key.as_bytes(), y.key.as_bytes()));
        let mut unique: Vec<scan::Member> = Vec::with_capacity(members.len());
        for m in members {
            match unique.last_mut() {
                Some(last) if last.key == m.key => *last = m,
                _ => unique.push(m),
            }
        }
        members = unique;
    }
    let mut out = Vec::with_capacity(b.len() + 64);
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, k: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        raw::write_str(k, out);
        out.push(b':');
    };
    let mut over = overlay.iter().peekable();
    for m in &members {
        // Written fields that sort before this member.
        while let Some((ok, ov)) =
            over.next_if(|(ok, _)| raw::key_cmp(ok.as_bytes(), m.key.as_bytes()).is_lt())
        {
            if !matches!(ov, Value::Deleted) {
                field(&mut out, ok);
                raw::write_value(ov, &mut out);
            }
        }
        match over.next_if(|(ok, _)| ok.as_str() == m.key.as_ref()) {
            Some((_, Value::Deleted)) => {}
            Some((ok, ov)) => {
                field(&mut out, ok);
                raw::write_value(ov, &mut out);
            }
            None => {
                field(&mut out, &m.key);
                if m.canonical {
                    out.extend_from_slice(&b[m.start..m.end]);
                } else {
                    raw::write_canonical(b, m.start, m.end, &mut out)?;
                }
            }
        }
    }
    for (ok, ov) in over {
        if !matches!(ov, Value::Deleted) {
            field(&mut out, ok);
            raw::write_value(ov, &mut out);
        }
    }
    out.push(b'}');
    Some(Ok(MappingOutcome::Message(Message {
        payload: Bytes::from(out),
        metadata: std::mem::take(&mut ex.meta),
        error: msg.error.clone(),
    })))
}
