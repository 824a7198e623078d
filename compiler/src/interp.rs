//! The reference interpreter over the IR: the semantics every other back end must match.
//!
//! [`Mapping`] compiles a mapping once and runs it per message with `mapping` semantics
//! (`root` starts as nothing) or `mutation` semantics (`root` starts as the input document).
//! The input payload is parsed as JSON only when the mapping reads `this`, and a parse failure
//! is only an error when the document is actually read. [`Interpolation`] evaluates config
//! strings with `${! ... }` queries. Standard-library implementations see the evaluation
//! through [`Call`].

use std::collections::HashMap;

use bytes::Bytes;

use std::borrow::Cow;

use crate::error::{CompileError, EvalError};
use crate::input::{self, Access};
use crate::ir::{self, Base, Case, Expr, Program, Site, Stmt, Target};
use crate::limits;
use crate::syntax::{self, BinOp};
use crate::value::{Object, Value};

/// A message as the mapping sees it: payload bytes, typed metadata, and the error flag a
/// failed processor left on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The payload.
    pub payload: Bytes,
    /// Metadata, values keep their type.
    pub metadata: Object,
    /// The error a previous processor flagged the message with.
    pub error: Option<String>,
}

impl Message {
    /// A message with this payload and no metadata.
    pub fn new(payload: impl Into<Bytes>) -> Message {
        Message {
            payload: payload.into(),
            metadata: Object::new(),
            error: None,
        }
    }
}

/// What a mapping did to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingOutcome {
    /// The new message.
    Message(Message),
    /// `root = deleted()`: the message is dropped.
    Deleted,
}

/// What a mapping did, in structured form (no serialisation): the form fused stages pass
/// between each other.
#[derive(Debug, Clone, PartialEq)]
pub enum StructuredOutcome {
    /// `root` was never assigned: the payload is unchanged; the new metadata.
    Unchanged {
        /// The new metadata.
        metadata: Object,
    },
    /// `root` was assigned this value.
    Replaced {
        /// The new document (a string or bytes value is a raw payload).
        root: Value,
        /// The new metadata.
        metadata: Object,
    },
    /// `root = deleted()`.
    Deleted,
}

/// Which back end runs a compiled mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The reference interpreter over the IR.
    Interpreter,
    /// Native code compiled with Cranelift ([`crate::jit`]).
    Jit,
}

impl Backend {
    /// The back end's name, as metrics and logs show it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interpreter => "interpreter",
            Backend::Jit => "jit",
        }
    }

    /// The back end chosen for this process: the JIT unless `SLUICE_BACKEND=interpreter`.
    pub fn preferred() -> Backend {
        match std::env::var("SLUICE_BACKEND").as_deref() {
            Ok("interpreter") | Ok("interp") => Backend::Interpreter,
            _ => Backend::Jit,
        }
    }
}

/// A compiled mapping.
///
/// The IR is always kept (it is the reference semantics, and named maps, errors and `--emit`
/// read it); when the JIT compiled the program, its native code runs instead of the
/// interpreter's statement loop. The native code points into the IR, which is never mutated
/// after compilation.
#[derive(Debug)]
pub struct Mapping {
    program: Box<Program>,
    access: Access,
    jit: Option<crate::jit::JitCode>,
    jit_error: Option<String>,
}

impl Mapping {
    /// Compiles mapping text: parse, lower, fold, and find what the program reads of its
    /// input.
    /// Runs on the back end [`Backend::preferred`] names, except that a program with nothing
    /// to compile (every value a constant, e.g. `root = "x"`) stays on the interpreter: native
    /// code would cost a code page and compile time for no gain. When the JIT cannot compile
    /// the program the interpreter runs it (see [`Mapping::jit_fallback`]).
    pub fn compile(src: &str) -> Result<Mapping, CompileError> {
        limits::with_compile_stack(|| {
            let mut mapping = Mapping::compile_on_this_stack(
                src,
                Backend::Interpreter,
                ir::Environment::Trusted,
            )?;
            if Backend::preferred() == Backend::Jit && !mapping.program.is_constant() {
                mapping.attach_jit();
            }
            Ok(mapping)
        })
    }

    /// Compiles mapping text for a given back end. A JIT failure is not an error: the
    /// mapping falls back to the interpreter, logs a warning and records why.
    pub fn compile_with(src: &str, backend: Backend) -> Result<Mapping, CompileError> {
        limits::with_compile_stack(|| {
            Mapping::compile_on_this_stack(src, backend, ir::Environment::Trusted)
        })
    }

    /// Compiles mapping text that came from a message (the `bloblang` method) for the
    /// interpreter, in the pure-only environment: functions that read the host are compile
    /// errors.
    pub fn compile_untrusted(src: &str) -> Result<Mapping, CompileError> {
        limits::with_compile_stack(|| {
            Mapping::compile_on_this_stack(src, Backend::Interpreter, ir::Environment::PureOnly)
        })
    }

    fn compile_on_this_stack(
        src: &str,
        backend: Backend,
        env: ir::Environment,
    ) -> Result<Mapping, CompileError> {
        // Constant folding evaluates: it is held to the memory budget like a message.
        let _eval = limits::Evaluation::enter().map_err(|e| CompileError::at(src, 0, e.message))?;
        let stmts = syntax::parse_mapping(src)?;
        let program = Box::new(ir::lower_in(src, stmts, env)?);
        let access = input::analyse(&program);
        let mut mapping = Mapping {
            program,
            access,
            jit: None,
            jit_error: None,
        };
        if backend == Backend::Jit {
            mapping.attach_jit();
        }
        Ok(mapping)
    }

    /// Compiles the program to native code, or records why not (the interpreter keeps it).
    fn attach_jit(&mut self) {
        match crate::jit::JitCode::compile(&self.program, false) {
            Ok(code) => self.jit = Some(code),
            Err(e) => {
                tracing::warn!(error = %e, "JIT compilation failed; the interpreter runs this mapping");
                crate::jit::count_fallback();
                self.jit_error = Some(e.to_string());
            }
        }
    }

    /// The back end that runs this mapping.
    pub fn backend(&self) -> Backend {
        if self.jit.is_some() {
            Backend::Jit
        } else {
            Backend::Interpreter
        }
    }

    /// Why the JIT could not compile this mapping, when it fell back to the interpreter.
    pub fn jit_fallback(&self) -> Option<&str> {
        self.jit_error.as_deref()
    }

    /// Runs the top-level statements on the chosen back end.
    fn run_program<'a>(&'a self, ex: &mut Exec<'a>, scope: &Scope) -> Result<(), EvalError> {
        match &self.jit {
            Some(code) => {
                ex.jit = Some(code);
                code.run_main(ex, scope)
            }
            None => ex.run_stmts(&self.program.stmts, scope),
        }
    }

    /// The compiled program (for `--emit ir` and other back ends).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// What the mapping reads of its input document.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// True when the mapping reads the payload bytes themselves (`content()`), so a stage
    /// handing it a parsed document must also hand it current bytes.
    pub fn reads_payload(&self) -> bool {
        self.program.reads_payload
    }

    /// True when the mapping can run on a [`crate::jit::Layered`] document in this mode
    /// (the JIT compiled it to a raw-payload plan: a projection or a splice).
    pub fn runs_layered(&self, mutation: bool) -> bool {
        self.jit
            .as_ref()
            .is_some_and(|code| code.runs_layered(mutation))
    }

    /// Runs the mapping on a layered document, the form consecutive raw-plan stages pass
    /// along without serialising: `msg` carries the metadata and error flag (its payload is
    /// not read). `Some(Ok(metadata))`: the document now holds the result; `Some(Err(_))`:
    /// the mapping failed and the document is unchanged; `None`: the document is not one the
    /// plan handles (unchanged; run the mapping on its bytes instead).
    pub fn run_layered(
        &self,
        doc: &mut crate::jit::Layered,
        msg: &Message,
        mutation: bool,
    ) -> Option<Result<Object, EvalError>> {
        let jit = self.jit.as_ref()?;
        let _eval = match limits::Evaluation::enter() {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        jit.run_layered(&self.program, doc, msg, mutation)
    }

    /// Runs with `mapping` semantics: `root` starts as nothing; if never assigned the payload
    /// is kept.
    pub fn run(&self, msg: &Message) -> Result<MappingOutcome, EvalError> {
        self.run_with(msg, false)
    }

    /// Runs with `mutation` semantics: `root` starts as the input document.
    pub fn run_mutation(&self, msg: &Message) -> Result<MappingOutcome, EvalError> {
        self.run_with(msg, true)
    }

    /// Evaluates the mapping and returns the value of `root` (nothing when unassigned), for
    /// conditions such as `switch` checks.
    pub fn query(&self, msg: &Message) -> Result<Value, EvalError> {
        let doc = InputDoc::parse(msg, &self.access);
        let _eval = limits::Evaluation::enter()?;
        let mut ex = Exec::new(&self.program, msg, &doc);
        self.run_program(&mut ex, &doc.scope())?;
        Ok(ex.root)
    }

    /// Runs the mapping with `value` as the input document (used by `.bloblang()` and named
    /// maps): returns the new root.
    pub fn run_on_value(&self, value: &Value) -> Result<Value, EvalError> {
        let _eval = limits::Evaluation::enter()?;
        let msg = Message::default();
        let doc = InputDoc {
            value: Cow::Borrowed(value),
            error: None,
        };
        let mut ex = Exec::new(&self.program, &msg, &doc);
        self.run_program(&mut ex, &doc.scope())?;
        Ok(ex.root)
    }

    /// Runs on `msg` whose payload is already parsed as `doc` (when given), without
    /// serialising the result: the step fused pipelines chain.
    pub fn run_structured(
        &self,
        msg: &Message,
        doc: Option<&Value>,
        mutation: bool,
    ) -> Result<StructuredOutcome, EvalError> {
        let doc = match doc {
            Some(v) => InputDoc {
                value: Cow::Borrowed(v),
                error: None,
            },
            None if mutation => InputDoc::parse(msg, &Access::Whole),
            None => InputDoc::parse(msg, &self.access),
        };
        let mut ex = Exec::new(&self.program, msg, &doc);
        if mutation {
            if let Some(e) = &doc.error {
                return Err(e.clone());
            }
            ex.root = doc.value.as_ref().clone();
        }
        // The budget counts what the mapping makes, not the parsed input (bounded by the
        // transport) nor mutation's copy of it: the baseline is taken after both.
        let _eval = limits::Evaluation::enter()?;
        self.run_program(&mut ex, &doc.scope())?;
        Ok(match ex.root {
            Value::Deleted => StructuredOutcome::Deleted,
            Value::Nothing => StructuredOutcome::Unchanged { metadata: ex.meta },
            root => StructuredOutcome::Replaced {
                root,
                metadata: ex.meta,
            },
        })
    }

    /// Runs the mapping onto another message, as the `branch` processor's maps do (upstream's
    /// `MapOnto`): `this`, `meta()` and `metadata()` read `input`, while `root` starts as
    /// `onto`'s document (nothing when `onto` is empty or not JSON) and metadata assignments
    /// change `onto`'s metadata. When the mapping leaves `root` as it was, `onto`'s payload
    /// bytes are kept untouched.
    pub fn run_onto(&self, input: &Message, onto: &Message) -> Result<MappingOutcome, EvalError> {
        let doc = InputDoc::parse(input, &self.access);
        let mut ex = Exec::new(&self.program, input, &doc);
        ex.meta = onto.metadata.clone();
        let start = if onto.payload.is_empty() {
            None
        } else {
            Value::from_json_slice(&onto.payload).ok()
        };
        if let Some(v) = &start {
            ex.root = v.clone();
        }
        let _eval = limits::Evaluation::enter()?;
        self.run_program(&mut ex, &doc.scope())?;
        let payload = match ex.root {
            Value::Deleted => return Ok(MappingOutcome::Deleted),
            Value::Nothing => onto.payload.clone(),
            root if start.as_ref() == Some(&root) => onto.payload.clone(),
            root => root.to_payload(),
        };
        Ok(MappingOutcome::Message(Message {
            payload,
            metadata: ex.meta,
            error: onto.error.clone(),
        }))
    }

    /// The paths of the input document the mapping reads (`[]` is the whole document), for
    /// ordering `workflow` branches by what they need.
    pub fn read_paths(&self) -> Vec<Vec<String>> {
        fn walk(t: &crate::input::PathTrie, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            if t.is_whole() || t.children().next().is_none() {
                out.push(at.clone());
                return;
            }
            for (k, c) in t.children() {
                at.push(k.clone());
                walk(c, at, out);
                at.pop();
            }
        }
        match &self.access {
            Access::Nothing => Vec::new(),
            Access::Whole => vec![Vec::new()],
            Access::Paths(trie) => {
                let mut out = Vec::new();
                walk(trie, &mut Vec::new(), &mut out);
                out
            }
        }
    }

    /// The `root` paths the mapping assigns (`[]` for `root = ...`), in any branch of its
    /// `if` statements, for ordering `workflow` branches by what they provide.
    pub fn assigned_paths(&self) -> Vec<Vec<String>> {
        fn walk(stmts: &[crate::ir::Stmt], out: &mut Vec<Vec<String>>) {
            for s in stmts {
                match s {
                    crate::ir::Stmt::Assign {
                        target: crate::ir::Target::Root(p),
                        ..
                    } => out.push(p.clone()),
                    crate::ir::Stmt::Assign { .. } => {}
                    crate::ir::Stmt::If {
                        branches,
                        otherwise,
                    } => {
                        for (_, b) in branches {
                            walk(b, out);
                        }
                        walk(otherwise, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.program.stmts, &mut out);
        out
    }

    fn run_with(&self, msg: &Message, mutation: bool) -> Result<MappingOutcome, EvalError> {
        if let Some(code) = &self.jit {
            let _eval = limits::Evaluation::enter()?;
            if let Some(out) = code.run_plan(&self.program, msg, mutation) {
                return out;
            }
        }
        let (payload, metadata) = match self.run_structured(msg, None, mutation)? {
            StructuredOutcome::Deleted => return Ok(MappingOutcome::Deleted),
            StructuredOutcome::Unchanged { metadata } => (msg.payload.clone(), metadata),
            StructuredOutcome::Replaced { root, metadata } => (root.to_payload(), metadata),
        };
        Ok(MappingOutcome::Message(Message {
            payload,
            metadata,
            error: msg.error.clone(),
        }))
    }
}

/// An outcome in comparable form: `deleted`, the payload and metadata (as JSON), or the error
/// text. Differential checks (tests and fuzzers) compare back ends with it.
pub fn outcome_text(r: Result<MappingOutcome, EvalError>) -> String {
    match r {
        Ok(MappingOutcome::Deleted) => "deleted".into(),
        Ok(MappingOutcome::Message(m)) => format!(
            "payload {:?} meta {}",
            String::from_utf8_lossy(&m.payload),
            Value::Object(m.metadata).to_json_string()
        ),
        Err(e) => format!("error {}", e.message),
    }
}

/// The input document: the payload parsed as JSON (as much of it as the mapping reads).
pub(crate) struct InputDoc<'d> {
    pub(crate) value: Cow<'d, Value>,
    pub(crate) error: Option<EvalError>,
}

impl InputDoc<'_> {
    fn parse(msg: &Message, access: &Access) -> InputDoc<'static> {
        let parsed = match access {
            Access::Nothing => {
                return InputDoc {
                    value: Cow::Owned(Value::Null),
                    error: None,
                }
            }
            _ if msg.payload.is_empty() => {
                return InputDoc {
                    value: Cow::Owned(Value::Null),
                    error: Some(EvalError::new(
                        "unable to reference message as structured: message is empty",
                    )),
                }
            }
            Access::Paths(trie) => input::parse_paths(&msg.payload, trie),
            Access::Whole => Value::from_json_slice(&msg.payload),
        };
        match parsed {
            Ok(v) => InputDoc {
                value: Cow::Owned(v),
                error: None,
            },
            Err(e) => InputDoc {
                value: Cow::Owned(Value::Null),
                error: Some(EvalError::new(format!(
                    "unable to reference message as structured: parse as json: {}",
                    e
                ))),
            },
        }
    }

    pub(crate) fn scope(&self) -> Scope<'_> {
        Scope {
            this: self.value.as_ref(),
            this_error: self.error.as_ref(),
            caps: None,
        }
    }
}

/// Lambda parameters in scope, innermost first.
pub(crate) struct Caps<'a> {
    pub(crate) value: &'a Value,
    pub(crate) parent: Option<&'a Caps<'a>>,
}

/// What `this` and the lambda parameters are at a point of evaluation.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub(crate) this: &'a Value,
    pub(crate) this_error: Option<&'a EvalError>,
    pub(crate) caps: Option<&'a Caps<'a>>,
}

impl<'a> Scope<'a> {
    pub(crate) fn with_this<'b>(&self, this: &'b Value) -> Scope<'b>
    where
        'a: 'b,
    {
        Scope {
            this,
            this_error: None,
            caps: self.caps,
        }
    }

    /// This scope with `value` bound as the innermost lambda parameter.
    pub(crate) fn with_capture<'b>(&'b self, caps: &'b Caps<'b>) -> Scope<'b> {
        Scope {
            this: self.this,
            this_error: self.this_error,
            caps: Some(caps),
        }
    }
}

/// The state of one execution of a program, shared by the interpreter and JIT-compiled code.
pub(crate) struct Exec<'a> {
    pub(crate) program: &'a Program,
    pub(crate) input: &'a Message,
    doc: &'a InputDoc<'a>,
    pub(crate) root: Value,
    pub(crate) meta: Object,
    pub(crate) vars: HashMap<String, Value>,
    pub(crate) depth: usize,
    /// The native code running this execution, if any (for query arguments and named maps).
    pub(crate) jit: Option<&'a crate::jit::JitCode>,
    /// The error native code reported, until the caller takes it.
    pub(crate) pending_error: Option<EvalError>,
    /// `root` is an overlay of top-level fields over the input (a JIT splice plan): writes
    /// to `root.{key}` go to `writes`, in order, a deleted field as a [`Value::Deleted`]
    /// tombstone.
    pub(crate) overlay: bool,
    /// The top-level writes of an overlay execution.
    pub(crate) writes: Vec<(String, Value)>,
}

/// The `null` a missing path reads as.
pub(crate) static NULL: Value = Value::Null;

/// Bound on nested evaluation (named maps applying themselves, deep recursion).
pub(crate) const MAX_DEPTH: usize = 100;

impl<'a> Exec<'a> {
    pub(crate) fn new(program: &'a Program, input: &'a Message, doc: &'a InputDoc<'a>) -> Exec<'a> {
        Exec {
            program,
            input,
            doc,
            root: Value::Nothing,
            meta: input.metadata.clone(),
            vars: HashMap::new(),
            depth: 0,
            jit: None,
            pending_error: None,
            overlay: false,
            writes: Vec::new(),
        }
    }

    pub(crate) fn run_stmts(&mut self, stmts: &[Stmt], scope: &Scope) -> Result<(), EvalError> {
        for s in stmts {
            match s {
                Stmt::Assign {
                    target,
                    value,
                    line,
                } => {
                    let v = self.eval(value, scope).map_err(|e| {
                        EvalError::new(format!("failed assignment (line {}): {}", line, e.message))
                    })?;
                    self.assign(target, v).map_err(|e| {
                        EvalError::new(format!("failed assignment (line {}): {}", line, e.message))
                    })?;
                }
                Stmt::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        match self.eval(cond, scope)? {
                            Value::Bool(true) => {
                                self.run_stmts(body, scope)?;
                                taken = true;
                                break;
                            }
                            Value::Bool(false) => {}
                            other => return Err(EvalError::expected("bool", &other)),
                        }
                    }
                    if !taken {
                        self.run_stmts(otherwise, scope)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn assign(&mut self, target: &Target, v: Value) -> Result<(), EvalError> {
        if matches!(v, Value::Nothing) {
            return Ok(());
        }
        match target {
            Target::Root(path) if self.overlay && path.len() == 1 => {
                self.writes.push((path[0].clone(), v));
            }
            Target::Root(path) => set_path(&mut self.root, path, v),
            Target::Meta(Some(key)) => match v {
                Value::Deleted => {
                    self.meta.remove(key);
                }
                v => {
                    self.meta.insert(key.clone(), v);
                }
            },
            Target::Meta(None) => match v {
                Value::Deleted => self.meta.clear(),
                Value::Object(o) => self.meta = o,
                other => {
                    return Err(EvalError::new(format!(
                        "setting root meta object requires object value, received: {}",
                        other.type_name()
                    )))
                }
            },
            Target::Var(name) => match v {
                Value::Deleted => {
                    self.vars.remove(name);
                }
                v => {
                    self.vars.insert(name.clone(), v);
                }
            },
        }
        Ok(())
    }

    /// The value a path reads (`null` when missing), by reference.
    pub(crate) fn path_ref<'v>(
        &'v self,
        base: Base,
        path: &[String],
        scope: &Scope<'v>,
    ) -> Result<&'v Value, EvalError> {
        let start: &Value = match base {
            Base::This => {
                if let Some(err) = scope.this_error {
                    return Err(err.clone());
                }
                scope.this
            }
            Base::Root => match &self.root {
                Value::Nothing => &NULL,
                r => r,
            },
            Base::Capture(d) => {
                let mut c = scope.caps;
                for _ in 0..d {
                    c = c.and_then(|c| c.parent);
                }
                match c {
                    Some(c) => c.value,
                    None => return Err(EvalError::new("lambda parameter out of scope")),
                }
            }
        };
        Ok(get_path(start, path).unwrap_or(&NULL))
    }

    pub(crate) fn eval(&mut self, e: &Expr, scope: &Scope) -> Result<Value, EvalError> {
        if !matches!(e, Expr::Const(_)) {
            limits::check()?;
        }
        match e {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match self.eval(i, scope)? {
                        Value::Deleted | Value::Nothing => {}
                        v => out.push(v),
                    }
                }
                Ok(Value::Array(out))
            }
            Expr::Object(items) => {
                let mut out = Object::new();
                for (k, v) in items {
                    let key = match self.eval(k, scope)? {
                        Value::Str(s) => s,
                        other => {
                            return Err(EvalError::new(format!(
                                "object keys must be strings, received: {}",
                                other.type_name()
                            )))
                        }
                    };
                    match self.eval(v, scope)? {
                        Value::Deleted | Value::Nothing => {}
                        v => {
                            out.insert(key, v);
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Expr::Path { base, path, .. } => self.path_ref(*base, path, scope).cloned(),
            Expr::Field { target, path } => {
                let v = self.eval(target, scope)?;
                Ok(take_path(v, path))
            }
            Expr::Var(name) => match self.vars.get(name) {
                Some(v) => Ok(v.clone()),
                None => Err(EvalError::new(format!("variable '{}' undefined", name))),
            },
            Expr::Meta(Some(k)) => Ok(self.meta.get(k).cloned().unwrap_or(Value::Null)),
            Expr::Meta(None) => Ok(Value::Object(self.meta.clone())),
            Expr::Function { spec, args, site } => {
                let mut call = Call {
                    exec: self,
                    scope,
                    args,
                    site,
                    thunks: None,
                };
                (spec.imp)(&mut call)
            }
            Expr::Method {
                spec,
                target,
                args,
                site,
            } => {
                let t = self.eval(target, scope)?;
                let mut call = Call {
                    exec: self,
                    scope,
                    args,
                    site,
                    thunks: None,
                };
                (spec.imp)(&mut call, t).map_err(|err| method_error(target, err))
            }
            Expr::Catch { target, fallback } => match self.eval(target, scope) {
                Ok(v) => Ok(v),
                Err(err) => match &**fallback {
                    Expr::Lambda { body } => {
                        let ev = Value::Str(err.message);
                        let caps = Caps {
                            value: &ev,
                            parent: scope.caps,
                        };
                        let inner = Scope {
                            this: scope.this,
                            this_error: scope.this_error,
                            caps: Some(&caps),
                        };
                        self.eval(body, &inner)
                    }
                    other => self.eval(other, scope),
                },
            },
            Expr::Or { target, fallback } => match self.eval(target, scope) {
                Ok(Value::Null) | Ok(Value::Nothing) | Err(_) => self.eval(fallback, scope),
                Ok(v) => Ok(v),
            },
            Expr::Capture { target, body } => {
                let t = self.eval(target, scope)?;
                self.apply_query(body, &t, scope)
            }
            Expr::Lambda { body } => {
                let caps = Caps {
                    value: scope.this,
                    parent: scope.caps,
                };
                let inner = Scope {
                    this: scope.this,
                    this_error: scope.this_error,
                    caps: Some(&caps),
                };
                self.eval(body, &inner)
            }
            Expr::Match { subject, cases } => {
                let subj = match subject {
                    Some(s) => Some(self.eval(s, scope)?),
                    None => None,
                };
                let inner = match &subj {
                    Some(v) => scope.with_this(v),
                    None => *scope,
                };
                for (case, value) in cases {
                    let hit = match case {
                        Case::Wildcard => true,
                        Case::Equals(v) => match &subj {
                            Some(s) => s == v,
                            None => {
                                if let Some(err) = scope.this_error {
                                    return Err(err.clone());
                                }
                                scope.this == v
                            }
                        },
                        Case::Condition(c) => match self.eval(c, &inner)? {
                            Value::Bool(b) => b,
                            other => return Err(EvalError::expected("bool", &other)),
                        },
                    };
                    if hit {
                        return self.eval(value, &inner);
                    }
                }
                Ok(Value::Nothing)
            }
            Expr::If {
                branches,
                otherwise,
            } => {
                for (c, v) in branches {
                    match self.eval(c, scope)? {
                        Value::Bool(true) => return self.eval(v, scope),
                        Value::Bool(false) => {}
                        other => return Err(EvalError::expected("bool", &other)),
                    }
                }
                match otherwise {
                    Some(o) => self.eval(o, scope),
                    None => Ok(Value::Nothing),
                }
            }
            Expr::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, scope),
            Expr::Not(inner) => match self.eval(inner, scope)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(EvalError::expected("bool", &other)),
            },
            Expr::Neg(inner) => match self.eval(inner, scope)? {
                Value::Int(i) => Ok(Value::Int(i.wrapping_neg())),
                Value::Float(f) => Ok(Value::Float(-f)),
                other => Err(EvalError::expected("number", &other)),
            },
        }
    }

    /// Evaluates a query argument with `ctx` as its context: a lambda binds its parameter,
    /// a plain query rebinds `this`.
    pub(crate) fn apply_query(
        &mut self,
        q: &Expr,
        ctx: &Value,
        scope: &Scope,
    ) -> Result<Value, EvalError> {
        limits::check()?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(EvalError::new("maximum evaluation depth exceeded"));
        }
        let r = match q {
            Expr::Lambda { body } => {
                let caps = Caps {
                    value: ctx,
                    parent: scope.caps,
                };
                let inner = Scope {
                    this: scope.this,
                    this_error: scope.this_error,
                    caps: Some(&caps),
                };
                self.eval(body, &inner)
            }
            other => self.eval(other, &scope.with_this(ctx)),
        };
        self.depth -= 1;
        r
    }

    fn binary(
        &mut self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        scope: &Scope,
    ) -> Result<Value, EvalError> {
        match op {
            BinOp::And | BinOp::Or => {
                let l = match self.eval(lhs, scope)? {
                    Value::Bool(b) => b,
                    other => return Err(EvalError::expected("bool", &other)),
                };
                if (op == BinOp::And && !l) || (op == BinOp::Or && l) {
                    return Ok(Value::Bool(l));
                }
                match self.eval(rhs, scope)? {
                    Value::Bool(b) => Ok(Value::Bool(b)),
                    other => Err(EvalError::expected("bool", &other)),
                }
            }
            BinOp::Coalesce => match self.eval(lhs, scope) {
                Ok(Value::Null) | Ok(Value::Nothing) | Err(_) => self.eval(rhs, scope),
                Ok(v) => Ok(v),
            },
            _ => {
                let l = self.eval(lhs, scope)?;
                let r = self.eval(rhs, scope)?;
                arithmetic(op, l, r)
            }
        }
    }
}

/// Adds the field a failing method was called on to its error, as the reference words it.
pub(crate) fn method_error(target: &Expr, err: EvalError) -> EvalError {
    match target {
        Expr::Path { text, .. } => {
            if err.message.starts_with("expected ") && !err.message.contains(" from field `") {
                EvalError::new(format!("{} from field `{}`", err.message, text))
            } else {
                EvalError::new(format!("field `{}`: {}", text, err.message))
            }
        }
        _ => err,
    }
}

/// Applies an arithmetic or comparison operator to two values, as the reference does.
pub fn arithmetic(op: BinOp, l: Value, r: Value) -> Result<Value, EvalError> {
    use Value::*;
    let type_err = |verb: &str, l: &Value, r: &Value| {
        EvalError::new(format!(
            "cannot {} types {} and {}",
            verb,
            l.type_name(),
            r.type_name()
        ))
    };
    match op {
        BinOp::Eq => Ok(Bool(l == r)),
        BinOp::Neq => Ok(Bool(l != r)),
        BinOp::Add => match (&l, &r) {
            (Int(a), Int(b)) => Ok(Int(a.wrapping_add(*b))),
            (Str(a), Str(b)) => {
                limits::reserve(a.len().saturating_add(b.len()))?;
                Ok(Str(format!("{}{}", a, b)))
            }
            (Bytes(a), Bytes(b)) => {
                limits::reserve(a.len().saturating_add(b.len()))?;
                let mut v = a.to_vec();
                v.extend_from_slice(b);
                Ok(Bytes(v.into()))
            }
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => Ok(Float(a + b)),
                _ => Err(type_err("add", &l, &r)),
            },
        },
        BinOp::Sub => match (&l, &r) {
            (Int(a), Int(b)) => Ok(Int(a.wrapping_sub(*b))),
            (Timestamp(a), Timestamp(b)) => {
                Ok(Int((*a - *b).num_nanoseconds().unwrap_or(i64::MAX)))
            }
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => Ok(Float(a - b)),
                _ => Err(type_err("subtract", &l, &r)),
            },
        },
        BinOp::Mul => match (&l, &r) {
            (Int(a), Int(b)) => Ok(Int(a.wrapping_mul(*b))),
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => Ok(Float(a * b)),
                _ => Err(type_err("multiply", &l, &r)),
            },
        },
        BinOp::Div => match (l.as_f64(), r.as_f64()) {
            (Some(_), Some(0.0)) => Err(EvalError::new("attempted to divide by zero")),
            (Some(a), Some(b)) => Ok(Float(a / b)),
            _ => Err(type_err("divide", &l, &r)),
        },
        BinOp::Mod => {
            let to_int = |v: &Value| match v {
                Int(i) => Some(*i),
                Float(f) => Some(*f as i64),
                _ => None,
            };
            match (to_int(&l), to_int(&r)) {
                (Some(_), Some(0)) => Err(EvalError::new("attempted to divide by zero")),
                (Some(a), Some(b)) => Ok(Int(a.wrapping_rem(b))),
                _ => Err(type_err("modulo", &l, &r)),
            }
        }
        BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => {
            let ord = match (&l, &r) {
                (Int(a), Int(b)) => a.partial_cmp(b),
                (Str(a), Str(b)) => a.partial_cmp(b),
                (Timestamp(a), Timestamp(b)) => a.partial_cmp(b),
                _ => match (l.as_f64(), r.as_f64()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => return Err(type_err("compare", &l, &r)),
                },
            };
            let Some(ord) = ord else {
                return Ok(Bool(false));
            };
            use std::cmp::Ordering::*;
            Ok(Bool(match op {
                BinOp::Gt => ord == Greater,
                BinOp::Gte => ord != Less,
                BinOp::Lt => ord == Less,
                _ => ord != Greater,
            }))
        }
        BinOp::And | BinOp::Or | BinOp::Coalesce => unreachable!("handled with short-circuiting"),
    }
}

/// Follows a path of keys/indices; `None` when any step is missing.
pub fn get_path<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
    for seg in path {
        v = match v {
            Value::Object(o) => o.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Like [`get_path`] on an owned value, without cloning the subtree.
pub(crate) fn take_path(mut v: Value, path: &[String]) -> Value {
    for seg in path {
        v = match v {
            Value::Object(mut o) => match o.remove(seg) {
                Some(x) => x,
                None => return Value::Null,
            },
            Value::Array(mut a) => match seg.parse::<usize>() {
                Ok(i) if i < a.len() => a.swap_remove(i),
                _ => return Value::Null,
            },
            _ => return Value::Null,
        };
    }
    v
}

/// Writes `v` at `path` inside `root`, creating objects on the way; `deleted()` removes the
/// target.
pub fn set_path(root: &mut Value, path: &[String], v: Value) {
    if path.is_empty() {
        *root = v;
        return;
    }
    let mut cur = root;
    for (i, seg) in path.iter().enumerate() {
        let last = i == path.len() - 1;
        // Only an array's segments are read as indices (parsing every key would be waste).
        let array_index = match &*cur {
            Value::Array(a) => seg.parse::<usize>().ok().filter(|&idx| idx < a.len()),
            _ => None,
        };
        if let Some(idx) = array_index {
            let Value::Array(a) = cur else { unreachable!() };
            if last {
                if matches!(v, Value::Deleted) {
                    a.remove(idx);
                } else {
                    a[idx] = v;
                }
                return;
            }
            cur = &mut a[idx];
            continue;
        }
        if !matches!(cur, Value::Object(_)) {
            if matches!(v, Value::Deleted) {
                return;
            }
            *cur = Value::Object(Object::new());
        }
        let Value::Object(o) = cur else {
            unreachable!()
        };
        if last {
            if matches!(v, Value::Deleted) {
                o.remove(seg);
            } else {
                o.insert(seg.clone(), v);
            }
            return;
        }
        // The key is copied only when the member is new.
        if !o.contains_key(seg) {
            o.insert(seg.clone(), Value::Null);
        }
        cur = o.get_mut(seg).expect("the member was just ensured");
    }
}

/// The evaluation context of a function or method call, as the standard library sees it.
pub struct Call<'c, 'a> {
    pub(crate) exec: &'c mut Exec<'a>,
    pub(crate) scope: &'c Scope<'c>,
    pub(crate) args: &'c [Expr],
    pub(crate) site: &'c Site,
    /// The native code of each argument, when the call runs from JIT-compiled code.
    pub(crate) thunks: Option<&'c [crate::jit::ArgThunk]>,
}

impl<'c, 'a> Call<'c, 'a> {
    /// The number of parameters (defaults included).
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// True when the call has no parameters.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Evaluates argument `i` in the caller's context. Omitted optional parameters are
    /// [`Value::Nothing`].
    pub fn value(&mut self, i: usize) -> Result<Value, EvalError> {
        if let (Some(thunks), Some(jit)) = (self.thunks, self.exec.jit) {
            if let Some(t) = thunks
                .get(i)
                .filter(|t| t.value != crate::jit::ArgThunk::NONE)
            {
                return jit.run_thunk(self.exec, self.scope, t.value);
            }
        }
        match self.args.get(i) {
            Some(e) => self.exec.eval(e, self.scope),
            None => Ok(Value::Nothing),
        }
    }

    /// Argument `i`, or `None` when it was omitted (or evaluated to nothing).
    pub fn opt_value(&mut self, i: usize) -> Result<Option<Value>, EvalError> {
        Ok(match self.value(i)? {
            Value::Nothing => None,
            v => Some(v),
        })
    }

    /// Argument `i` as a string.
    pub fn string(&mut self, i: usize) -> Result<String, EvalError> {
        match self.value(i)? {
            Value::Str(s) => Ok(s),
            Value::Bytes(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(EvalError::expected("string", &other)),
        }
    }

    /// Argument `i` as an integer (integral floats accepted).
    pub fn int(&mut self, i: usize) -> Result<i64, EvalError> {
        match self.value(i)? {
            Value::Int(n) => Ok(n),
            Value::Float(f) if f.fract() == 0.0 => Ok(f as i64),
            other => Err(EvalError::expected("integer", &other)),
        }
    }

    /// Argument `i` as a float.
    pub fn float(&mut self, i: usize) -> Result<f64, EvalError> {
        let v = self.value(i)?;
        v.as_f64().ok_or_else(|| EvalError::expected("number", &v))
    }

    /// Argument `i` as a boolean.
    pub fn bool(&mut self, i: usize) -> Result<bool, EvalError> {
        match self.value(i)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::expected("bool", &other)),
        }
    }

    /// True when argument `i` is a query that was given (not an omitted optional one).
    pub fn has_query(&self, i: usize) -> bool {
        !matches!(self.args.get(i), None | Some(Expr::Const(Value::Nothing)))
    }

    /// Evaluates query argument `i` with `ctx` as its context: a lambda `x -> ...` binds
    /// `x` to `ctx`, a plain query sees `ctx` as `this`.
    pub fn apply(&mut self, i: usize, ctx: &Value) -> Result<Value, EvalError> {
        // No check here: both paths below check (`JitCode::call`, `Exec::apply_query`).
        if let (Some(thunks), Some(jit)) = (self.thunks, self.exec.jit) {
            if let Some(t) = thunks
                .get(i)
                .filter(|t| t.index != crate::jit::ArgThunk::NONE)
            {
                return jit.apply_thunk(self.exec, self.scope, t, ctx);
            }
        }
        match self.args.get(i) {
            Some(q) => self.exec.apply_query(q, ctx, self.scope),
            None => Ok(Value::Nothing),
        }
    }

    /// Applies the named map `name` (defined with `map name { ... }`) to `value`.
    pub fn apply_map(&mut self, name: &str, value: &Value) -> Result<Value, EvalError> {
        let Some(stmts) = self.exec.program.maps.get(name) else {
            return Err(EvalError::new(format!("map {} was not found", name)));
        };
        if self.exec.depth >= MAX_DEPTH {
            return Err(EvalError::new("maximum evaluation depth exceeded"));
        }
        limits::check()?;
        self.exec.depth += 1;
        let saved_root = std::mem::replace(&mut self.exec.root, Value::Nothing);
        // The map builds its own root: not an overlay, even inside a splice.
        let saved_overlay = std::mem::replace(&mut self.exec.overlay, false);
        let scope = Scope {
            this: value,
            this_error: None,
            caps: None,
        };
        let r = match self.exec.jit {
            Some(jit) => jit.run_map(self.exec, &scope, name, stmts),
            None => self.exec.run_stmts(stmts, &scope),
        };
        let out = std::mem::replace(&mut self.exec.root, saved_root);
        self.exec.overlay = saved_overlay;
        self.exec.depth -= 1;
        r?;
        // Recursive maps can wrap their result at every level.
        limits::check_depth(&out)?;
        Ok(out)
    }

    /// The input message.
    pub fn input(&self) -> &Message {
        self.exec.input
    }

    /// The input document (`this` at the top level): the payload parsed as JSON.
    pub fn input_doc(&self) -> Result<&Value, EvalError> {
        match &self.exec.doc.error {
            Some(e) => Err(e.clone()),
            None => Ok(self.exec.doc.value.as_ref()),
        }
    }

    /// The metadata of the message being built.
    pub fn metadata(&self) -> &Object {
        &self.exec.meta
    }

    /// A variable's value.
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.exec.vars.get(name)
    }

    /// State kept at this call site across executions (e.g. `counter()`).
    pub fn site(&self) -> &std::sync::Mutex<Value> {
        &self.site.0
    }

    /// The current context (`this`).
    pub fn this(&self) -> Result<&Value, EvalError> {
        match self.scope.this_error {
            Some(e) => Err(e.clone()),
            None => Ok(self.scope.this),
        }
    }
}

/// Evaluates a constant expression at compile time (constant folding).
pub(crate) fn eval_constant(e: &Expr) -> Result<Value, EvalError> {
    let program = Program::default();
    let msg = Message::default();
    let doc = InputDoc {
        value: Cow::Owned(Value::Null),
        error: None,
    };
    let mut ex = Exec::new(&program, &msg, &doc);
    ex.eval(e, &doc.scope())
}

/// A config string with `${! ... }` interpolations, compiled.
#[derive(Debug)]
pub struct Interpolation {
    parts: Vec<Part>,
    reads_this: bool,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Query(Expr),
}

impl Interpolation {
    /// Compiles a config string.
    pub fn compile(src: &str) -> Result<Interpolation, CompileError> {
        limits::with_compile_stack(|| Interpolation::compile_on_this_stack(src))
    }

    fn compile_on_this_stack(src: &str) -> Result<Interpolation, CompileError> {
        let _eval = limits::Evaluation::enter().map_err(|e| CompileError::at(src, 0, e.message))?;
        let mut parts = Vec::new();
        let mut reads_this = false;
        for p in syntax::parse_interpolation(src)? {
            match p {
                syntax::InterpPart::Text(t) => parts.push(Part::Text(t)),
                syntax::InterpPart::Query(e) => {
                    let (e, r) = ir::lower_expr(src, e)?;
                    reads_this |= r;
                    parts.push(Part::Query(e));
                }
            }
        }
        Ok(Interpolation { parts, reads_this })
    }

    /// True when the string has no queries (it is the same for every message).
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders the string for a message.
    pub fn render(&self, msg: &Message) -> Result<String, EvalError> {
        let program = Program::default();
        let access = if self.reads_this {
            Access::Whole
        } else {
            Access::Nothing
        };
        let doc = InputDoc::parse(msg, &access);
        let _eval = limits::Evaluation::enter()?;
        let mut ex = Exec::new(&program, msg, &doc);
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Query(e) => {
                    let v = ex.eval(e, &doc.scope())?;
                    match v {
                        Value::Nothing => out.push_str("null"),
                        v => out.push_str(&v.to_display_string()),
                    }
                }
            }
        }
        Ok(out)
    }
}
