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
    /// The fields (keys sorted, last duplicate wins), and the paths as the scanner's trie.
    Project(Vec<ProjectedField>, scan::PathSpans),
    /// The overlay statements' function, what they read, and whether the program starts
    /// with `root = this` (else the plan only applies to `mutation`).
    Splice {
        body: u32,
        access: Access,
        copies_this: bool,
        this: ThisCache,
    },
}

/// A field of a projection: the bytes written before its value (`{"key":` for the first
/// field, `,"key":` for the others, encoded once when the plan is made) and the `this` path
/// it reads.
#[derive(Debug)]
pub(crate) struct ProjectedField {
    head: Vec<u8>,
    path: Vec<String>,
}

/// The fields of a projection (see [`projection`]), with their heads encoded.
pub(crate) fn projected_fields(fields: Vec<(String, Vec<String>)>) -> Vec<ProjectedField> {
    fields
        .into_iter()
        .enumerate()
        .map(|(n, (key, path))| {
            let mut head = vec![if n == 0 { b'{' } else { b',' }];
            raw::write_str(&key, &mut head);
            head.push(b':');
            ProjectedField { head, path }
        })
        .collect()
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
    fields: &[ProjectedField],
    paths: &scan::PathSpans,
    msg: &Message,
) -> Option<MappingOutcome> {
    let b = &msg.payload[..];
    let spans = scan::find_paths(b, paths, fields.len())?;
    let mut out = Vec::with_capacity(b.len() / 2 + 16);
    if fields.is_empty() {
        out.push(b'{');
    }
    for (f, span) in fields.iter().zip(spans) {
        out.extend_from_slice(&f.head);
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
    cache: &ThisCache,
    msg: &Message,
) -> Option<Result<MappingOutcome, EvalError>> {
    let mut doc = Layered::new(msg.payload.clone());
    match splice_layered(code, program, body, access, cache, &mut doc, msg)? {
        Ok(metadata) => Some(Ok(MappingOutcome::Message(Message {
            payload: doc.into_payload(),
            metadata,
            error: msg.error.clone(),
        }))),
        Err(e) => Some(Err(e)),
    }
}

/// A document as consecutive raw-plan stages pass it along (see [`crate::Mapping::run_layered`]):
/// the payload bytes, scanned once, plus the top-level fields the stages have written
/// (deleted ones as tombstones). Nothing is serialised between the stages.
#[derive(Debug)]
pub struct Layered {
    raw: Bytes,
    /// The payload's members, sorted by key, last duplicate kept; scanned on first use.
    scanned: Option<scan::ObjectDoc>,
    /// The written fields, sorted by key, one per key (a small vector: a stage writes a few).
    overlay: Vec<(String, Value)>,
    dirty: bool,
}

impl Layered {
    /// A document that is these payload bytes.
    pub fn new(raw: Bytes) -> Layered {
        Layered {
            raw,
            scanned: None,
            overlay: Vec::new(),
            dirty: false,
        }
    }

    /// Scans the payload (once); `None` when it is not an object the scanner accepts.
    fn scan(&mut self) -> Option<()> {
        if self.scanned.is_some() {
            return Some(());
        }
        let doc = scan::scan_object(&self.raw)?;
        self.scanned = Some(doc);
        Some(())
    }

    /// The payload member with this key (members stay in document order; they are ordered
    /// only when the document is merged).
    fn member(&self, key: &str) -> Option<&scan::Member> {
        let doc = self.scanned.as_ref()?;
        let members = &doc.members;
        let raw = &self.raw[..];
        let key = key.as_bytes();
        let prefix = scan::key_prefix(key);
        // Equal prefixes of keys of the same length up to eight bytes are equal keys.
        let same = |m: &scan::Member| {
            m.prefix == prefix && {
                let k = m.key(raw);
                k.len() == key.len() && (key.len() <= 8 || k == key)
            }
        };
        if !doc.sorted || members.len() <= SMALL {
            // Comparing prefixes in a row beats a binary search's branches on a few members.
            // In document order the last of duplicate keys wins, as in parsing.
            return members.iter().rev().find(|m| same(m));
        }
        members
            .binary_search_by(|m| m.prefix.cmp(&prefix).then_with(|| m.key(raw).cmp(key)))
            .ok()
            .map(|i| &members[i])
    }

    /// The document's bytes: the payload when no stage wrote to it, else the payload's
    /// members merged with the written fields, in key order (untouched members copied).
    pub fn into_payload(mut self) -> Bytes {
        if !self.dirty {
            return std::mem::take(&mut self.raw);
        }
        match self.merged() {
            Some(b) => b,
            // Not reached (a written document was scanned, and the scanner bounds nesting
            // below the canonical writer's limit); kept correct anyway: parse and apply.
            None => {
                let mut root = Value::from_json_slice(&self.raw).unwrap_or(Value::Null);
                for (k, v) in std::mem::take(&mut self.overlay) {
                    crate::interp::set_path(&mut root, &[k], v);
                }
                root.to_payload()
            }
        }
    }

    fn merged(&self) -> Option<Bytes> {
        let b = &self.raw[..];
        let doc = self.scanned.as_ref()?;
        let mut out = Vec::with_capacity(b.len() + 64);
        out.push(b'{');
        let mut first = true;
        let mut over = self.overlay.iter();
        let mut next = over.next();
        // The members in key order, the last of duplicates kept.
        let mut in_order = doc.members.iter();
        let mut by_key;
        let members: &mut dyn Iterator<Item = &scan::Member> = if doc.sorted {
            &mut in_order
        } else {
            // By key prefix, then document order: one integer comparison decides most pairs.
            let mut order: Vec<(u64, u32)> = (doc.members.iter().enumerate())
                .map(|(i, m)| (m.prefix, i as u32))
                .collect();
            order.sort_unstable();
            // Keys that share a prefix (duplicates among them) are ordered by their bytes,
            // stably, and the last of each run of duplicates is kept, as parsing keeps it.
            if order.windows(2).any(|w| w[0].0 == w[1].0) {
                let member = |i: u32| &doc.members[i as usize];
                order.sort_by(|x, y| scan::cmp_members(b, member(x.1), member(y.1)));
                order.dedup_by(|later, earlier| {
                    let (l, e) = (member(later.1), member(earlier.1));
                    let same = l.prefix == e.prefix && l.key(b) == e.key(b);
                    if same {
                        std::mem::swap(later, earlier);
                    }
                    same
                });
            }
            by_key = order
                .into_iter()
                .map(move |(_, i)| &doc.members[i as usize]);
            &mut by_key
        };
        for m in members {
            let key = m.key(b);
            // Written fields that sort before this member.
            while let Some((ok, ov)) =
                next.filter(|(ok, _)| raw::key_cmp(ok.as_bytes(), key).is_lt())
            {
                write_field(&mut out, &mut first, ok, ov);
                next = over.next();
            }
            match next.filter(|(ok, _)| ok.as_bytes() == key) {
                Some((ok, ov)) => {
                    write_field(&mut out, &mut first, ok, ov);
                    next = over.next();
                }
                None => {
                    separate(&mut out, &mut first);
                    // The key's literal is copied when it is what the serialiser writes.
                    match m.key {
                        scan::KeyText::Span(s, e) if m.key_plain => {
                            out.extend_from_slice(&b[s - 1..e + 1])
                        }
                        _ => raw::write_str(std::str::from_utf8(key).ok()?, &mut out),
                    }
                    out.push(b':');
                    doc.write_member(b, m, &mut out)?;
                }
            }
        }
        while let Some((ok, ov)) = next {
            write_field(&mut out, &mut first, ok, ov);
            next = over.next();
        }
        out.push(b'}');
        Some(Bytes::from(out))
    }

    /// What `this.{key}` is, as far as `sub` reads it, as the partial parser would build it
    /// from this document's bytes: `Some(None)` when the key is missing (or deleted),
    /// `None` when the value cannot be read here (the general path decides).
    fn read(&self, key: &str, sub: &input::PathTrie) -> Option<Option<Value>> {
        match self.source(key) {
            Source::Written(v) => Some(Some(v.clone())),
            Source::Member(m) => self.member_value(m, sub).map(Some),
            Source::Missing => Some(None),
        }
    }

    /// [`Layered::read`] into `slot`, reusing its string's buffer for a plain string member;
    /// false when the key is missing (`slot` is then unchanged).
    fn read_into(&self, key: &str, sub: &input::PathTrie, slot: &mut Value) -> Option<bool> {
        match self.source(key) {
            Source::Written(v) => *slot = v.clone(),
            Source::Member(m) => match (&mut *slot, self.plain_str(m, sub)) {
                (Value::Str(text), Some(t)) => {
                    text.clear();
                    text.push_str(t?);
                }
                _ => *slot = self.member_value(m, sub)?,
            },
            Source::Missing => return Some(false),
        }
        Some(true)
    }

    /// Where `this.{key}` comes from: a stage's write, the payload, or nowhere.
    fn source(&self, key: &str) -> Source<'_> {
        match self.written(key) {
            Some(Value::Deleted) => Source::Missing,
            Some(v) => Source::Written(v),
            None => self.member(key).map_or(Source::Missing, Source::Member),
        }
    }

    /// A member read whole whose bytes are a plain string: its text (`Some(None)` when it
    /// is not UTF-8, which the scanner has ruled out).
    fn plain_str(&self, m: &scan::Member, sub: &input::PathTrie) -> Option<Option<&str>> {
        let span = &self.raw[m.start..m.end];
        (sub.is_whole() && m.canonical && span.first() == Some(&b'"'))
            .then(|| std::str::from_utf8(&span[1..span.len() - 1]).ok())
    }

    /// Member `m` as far as `sub` reads it: canonical scalars straight from their bytes,
    /// anything else through the partial parser.
    fn member_value(&self, m: &scan::Member, sub: &input::PathTrie) -> Option<Value> {
        if let Some(text) = self.plain_str(m, sub) {
            return Some(Value::Str(text?.to_owned()));
        }
        let span = &self.raw[m.start..m.end];
        match (sub.is_whole() && m.canonical, span.first()) {
            (true, Some(b'-' | b'0'..=b'9')) => {
                Some(Value::Int(std::str::from_utf8(span).ok()?.parse().ok()?))
            }
            _ => input::parse_paths(span, sub).ok(),
        }
    }

    /// The field a stage wrote under `key` (a tombstone if it deleted it).
    fn written(&self, key: &str) -> Option<&Value> {
        self.overlay.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Joins a stage's writes, in the order it made them, to the written fields: the last
    /// write of a key wins.
    fn join(&mut self, writes: Vec<(String, Value)>) {
        for (k, v) in writes {
            match self.overlay.binary_search_by(|(ok, _)| ok.as_str().cmp(&k)) {
                Ok(i) => self.overlay[i].1 = v,
                Err(i) => self.overlay.insert(i, (k, v)),
            }
        }
    }

    /// The span of the value at `rest` below payload member `m`, in the payload.
    fn find_below(&self, m: &scan::Member, rest: &[String]) -> Option<(usize, usize)> {
        let b = &self.raw[..];
        let (Some((s, e)), Some((first, deeper))) = (m.subs, rest.split_first()) else {
            return raw::find(b, m.start, rest);
        };
        // The object's members were recorded: the last with this key wins.
        let subs = &self.scanned.as_ref()?.subs[s as usize..e as usize];
        let sub = subs
            .iter()
            .rev()
            .find(|sub| &b[sub.key.0..sub.key.1] == first.as_bytes())?;
        if deeper.is_empty() {
            Some((sub.start, sub.end))
        } else {
            raw::find(b, sub.start, deeper)
        }
    }
}

/// Where a field of `this` comes from (see [`Layered::source`]).
enum Source<'a> {
    Written(&'a Value),
    Member(&'a scan::Member),
    Missing,
}

/// Sorted objects with more members than this are binary-searched.
const SMALL: usize = 16;

/// Writes the comma before an object's member (none before the first).
fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

/// Writes a field a stage wrote (nothing for a tombstone).
fn write_field(out: &mut Vec<u8>, first: &mut bool, k: &str, v: &Value) {
    if !matches!(v, Value::Deleted) {
        separate(out, first);
        raw::write_str(k, out);
        out.push(b':');
        raw::write_value(v, out);
    }
}

impl Drop for Layered {
    fn drop(&mut self) {
        if let Some(doc) = self.scanned.take() {
            scan::recycle(doc);
        }
    }
}

/// Runs a splice's statements over a layered document: `this` is the document (only what
/// the statements read is built), the written fields join its overlay. `msg` carries the
/// metadata and error flag. Returns the new metadata; `None` when the document is not one
/// the plan handles (nothing was changed).
pub(crate) fn splice_layered(
    code: &super::JitCode,
    program: &Program,
    body: u32,
    access: &Access,
    cache: &ThisCache,
    doc: &mut Layered,
    msg: &Message,
) -> Option<Result<crate::value::Object, EvalError>> {
    doc.scan()?;
    // `this` holds only what the statements read, as the partial parser would build it. The
    // object is this thread's from the last run: its keys stay, its values are replaced.
    let cell = cache.0.get_or_default();
    let mut this = std::mem::take(&mut *cell.borrow_mut());
    if let Access::Paths(trie) = access {
        for (k, sub) in trie.children() {
            match this.get_mut(k) {
                Some(slot) => {
                    if !doc.read_into(k, sub, slot)? {
                        this.remove(k);
                    }
                }
                None => {
                    if let Some(v) = doc.read(k, sub)? {
                        this.insert(k.clone(), v);
                    }
                }
            }
        }
    }
    let input = InputDoc {
        value: Cow::Owned(Value::Object(this)),
        error: None,
    };
    let mut ex = Exec::new(program, msg, &input);
    // The statements never read `root`: their writes are collected in order (tombstones
    // for deletions) and joined to the document's only when they all succeed (a failed
    // stage leaves the document as it was, with no copy made to restore it from).
    ex.overlay = true;
    ex.jit = Some(code);
    let mut unused = Value::Null;
    let run = code.call(body, &mut ex, &input.scope(), &mut unused);
    let mut writes = std::mem::take(&mut ex.writes);
    let meta = std::mem::take(&mut ex.meta);
    drop(ex);
    if let Cow::Owned(Value::Object(this)) = input.value {
        *cell.borrow_mut() = this;
    }
    if let Err(e) = run {
        return Some(Err(e));
    }
    // What the next stage reads is what it would parse from this stage's output.
    // (Tombstones stay tombstones.)
    writes
        .iter_mut()
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Value::Deleted))
        .for_each(Value::make_json_equivalent);
    doc.join(writes);
    doc.dirty = true;
    Some(Ok(meta))
}

/// The `this` object a splice builds, one per thread, kept between runs so that its keys
/// and nodes are not allocated again for every message (only what the statements read is
/// in it, so nothing of an earlier message can be read through it).
#[derive(Default)]
pub(crate) struct ThisCache(
    // Boxed: the per-thread table is large, and plans are moved around.
    Box<thread_local::ThreadLocal<std::cell::RefCell<crate::value::Object>>>,
);

impl std::fmt::Debug for ThisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThisCache")
    }
}

/// Runs a projection over a layered document, which becomes the projection's output.
pub(crate) fn project_layered(
    fields: &[ProjectedField],
    doc: &mut Layered,
    msg: &Message,
) -> Option<crate::value::Object> {
    doc.scan()?;
    let b = &doc.raw[..];
    let mut out = Vec::with_capacity(b.len() / 2 + 16);
    if fields.is_empty() {
        out.push(b'{');
    }
    for f in fields {
        out.extend_from_slice(&f.head);
        let (first, rest) = f.path.split_first()?;
        let written = doc.written(first);
        let member = if written.is_none() {
            doc.member(first)
        } else {
            None
        };
        match (written, member) {
            (Some(Value::Deleted), _) | (None, None) => out.extend_from_slice(b"null"),
            (Some(v), _) => match crate::interp::get_path(v, rest) {
                Some(v) => raw::write_value(v, &mut out),
                None => out.extend_from_slice(b"null"),
            },
            (None, Some(m)) if rest.is_empty() => {
                doc.scanned.as_ref()?.write_member(b, m, &mut out)?
            }
            // The payload was validated when it was scanned: look the rest up without
            // validating again.
            (None, Some(m)) => match doc.find_below(m, rest) {
                Some((s, e)) => raw::write_canonical(b, s, e, &mut out)?,
                None => out.extend_from_slice(b"null"),
            },
        }
    }
    out.push(b'}');
    *doc = Layered::new(Bytes::from(out));
    Some(msg.metadata.clone())
}
