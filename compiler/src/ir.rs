//! The typed IR and the lowering from the syntax tree.
//!
//! Lowering resolves every name: functions and methods against the standard library specs
//! (arity, named/positional arguments, defaults filled in), lambda parameters to capture
//! depths, bare identifiers to `this` paths, `var("x")` to variables, named maps to the
//! program's table. It folds constant sub-expressions (pure calls with constant inputs,
//! arithmetic on literals), infers static types where they are known, and reports statically
//! certain errors with their position. The IR prints as text (`Debug`) for `--emit ir`.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::CompileError;
use crate::stdlib::{self, FunctionSpec, MethodSpec, ParamKind, Type};
use crate::syntax::{self, Args, BinOp, ExprKind, Literal, Pattern, Span};
use crate::value::Value;

/// A compiled mapping: statements plus named maps.
#[derive(Debug, Default)]
pub struct Program {
    /// The top-level statements.
    pub stmts: Vec<Stmt>,
    /// Named maps (`map name { ... }`), applied with `.apply("name")`.
    pub maps: HashMap<String, Vec<Stmt>>,
    /// True when any statement reads the input document (`this`), so the payload must be
    /// parsed as JSON.
    pub reads_this: bool,
    /// True when the program reads the raw payload (`content()`).
    pub reads_payload: bool,
}

impl Program {
    /// True when every assigned value is a constant and there are no conditions or named
    /// maps: running the program is copying constants.
    pub fn is_constant(&self) -> bool {
        self.maps.is_empty()
            && self.stmts.iter().all(|s| match s {
                Stmt::Assign { value, .. } => matches!(value, Expr::Const(_)),
                Stmt::If { .. } => false,
            })
    }
}

/// Where an assignment writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `root` or `root.a.b` (path segments).
    Root(Vec<String>),
    /// `meta key` or `meta` (all metadata).
    Meta(Option<String>),
    /// `let name`.
    Var(String),
}

/// A statement.
#[derive(Debug)]
pub enum Stmt {
    /// `target = value`, on source line `line`.
    Assign {
        /// What the operation applies to.
        target: Target,
        /// The value.
        value: Expr,
        /// The source line (for error messages).
        line: usize,
    },
    /// `if c { .. } else if .. else { .. }`.
    If {
        /// Conditions with what they guard, in order.
        branches: Vec<(Expr, Vec<Stmt>)>,
        /// The `else` part, if any.
        otherwise: Vec<Stmt>,
    },
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The context (`this`).
    This,
    /// The output built so far (`root`).
    Root,
    /// A lambda parameter, by depth (0 = innermost).
    Capture(usize),
}

/// Per-call-site state for stateful functions (e.g. `counter()`), kept across executions of
/// the same compiled mapping.
#[derive(Debug, Default)]
pub struct Site(pub Mutex<Value>);

/// An expression of the IR.
#[derive(Debug)]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// An array literal with dynamic elements.
    Array(Vec<Expr>),
    /// An object literal with dynamic keys or values.
    Object(Vec<(Expr, Expr)>),
    /// A path from `this`, `root` or a lambda parameter.
    Path {
        /// Where the path starts.
        base: Base,
        /// The path segments.
        path: Vec<String>,
        /// The path as written (for error messages).
        text: String,
    },
    /// A path into the result of another expression.
    Field {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The path segments.
        path: Vec<String>,
    },
    /// `$name`
    Var(String),
    /// `@key` / `@`
    Meta(Option<String>),
    /// A function call.
    Function {
        /// The resolved spec.
        spec: &'static FunctionSpec,
        /// The arguments.
        args: Vec<Expr>,
        /// Per-call-site state.
        site: Site,
    },
    /// A method call.
    Method {
        /// The resolved spec.
        spec: &'static MethodSpec,
        /// What the operation applies to.
        target: Box<Expr>,
        /// The arguments.
        args: Vec<Expr>,
        /// Per-call-site state.
        site: Site,
    },
    /// `target.catch(fallback)`: fallback on error.
    Catch {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The fallback expression.
        fallback: Box<Expr>,
    },
    /// `target.or(fallback)`: fallback on null, nothing or error.
    Or {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The fallback expression.
        fallback: Box<Expr>,
    },
    /// `target.(body)`: body with the context (or a named parameter) bound to target.
    Capture {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The body.
        body: Box<Expr>,
    },
    /// `x -> body`: binds a new capture when applied.
    Lambda {
        /// The body.
        body: Box<Expr>,
    },
    /// `match`.
    Match {
        /// The value matched, if any.
        subject: Option<Box<Expr>>,
        /// The cases, in order.
        cases: Vec<(Case, Expr)>,
    },
    /// `if` expression.
    If {
        /// Conditions with what they guard, in order.
        branches: Vec<(Expr, Expr)>,
        /// The `else` part, if any.
        otherwise: Option<Box<Expr>>,
    },
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `!x`
    Not(Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
}

/// A `match` case.
#[derive(Debug)]
pub enum Case {
    /// `_`
    Wildcard,
    /// A literal compared for equality with the subject.
    Equals(Value),
    /// A condition evaluated with the subject as context.
    Condition(Expr),
}

impl Expr {
    /// The static type of the expression, where known.
    pub fn static_type(&self) -> Type {
        match self {
            Expr::Const(v) => Type::of(v),
            Expr::Array(_) => Type::Array,
            Expr::Object(_) => Type::Object,
            Expr::Function { spec, .. } => spec.returns,
            Expr::Method { spec, .. } => spec.returns,
            Expr::Not(_) => Type::Bool,
            Expr::Binary { op, lhs, rhs } => match op {
                BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => {
                    Type::Bool
                }
                BinOp::And | BinOp::Or => Type::Bool,
                BinOp::Div | BinOp::Mod | BinOp::Mul | BinOp::Sub => Type::Number,
                BinOp::Add => match (lhs.static_type(), rhs.static_type()) {
                    (Type::Number, Type::Number) => Type::Number,
                    (Type::Str, Type::Str) => Type::Str,
                    _ => Type::Any,
                },
                BinOp::Coalesce => Type::Any,
            },
            _ => Type::Any,
        }
    }

    fn as_const(&self) -> Option<&Value> {
        match self {
            Expr::Const(v) => Some(v),
            _ => None,
        }
    }
}

/// What a mapping may call, by where its text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Text from the operator (configs, the CLI): every function.
    Trusted,
    /// Text from a message (`bloblang` method): no function that reads the host
    /// ([`stdlib::HOST_FUNCTIONS`]).
    PureOnly,
}

/// Lowers a parsed mapping into a program (trusted text: every function available).
pub fn lower(src: &str, stmts: Vec<syntax::Stmt>) -> Result<Program, CompileError> {
    lower_in(src, stmts, Environment::Trusted)
}

/// Lowers a parsed mapping into a program, with the functions `env` allows.
pub fn lower_in(
    src: &str,
    stmts: Vec<syntax::Stmt>,
    env: Environment,
) -> Result<Program, CompileError> {
    let mut lw = Lowerer {
        src,
        scopes: Vec::new(),
        reads_this: false,
        reads_payload: false,
        map_names: Vec::new(),
        env,
    };
    // Named maps may be used before they are defined: collect names first.
    for s in &stmts {
        if let syntax::Stmt::MapDef { name, .. } = s {
            lw.map_names.push(name.clone());
        }
    }
    let mut prog = Program::default();
    let mut saw_bare = false;
    let count = stmts.len();
    for (i, s) in stmts.into_iter().enumerate() {
        match s {
            syntax::Stmt::MapDef { name, body, span } => {
                if prog.maps.contains_key(&name) {
                    return Err(lw.err(span, format!("map name collision: {}", name)));
                }
                let body = lw.stmts(body, true)?;
                prog.maps.insert(name, body);
            }
            syntax::Stmt::Import { span, .. } | syntax::Stmt::From { span, .. } => {
                return Err(lw.err(
                    span,
                    "importing mappings from files is not supported here: inline the maps",
                ));
            }
            syntax::Stmt::Bare { value, span } => {
                if count > 1 && (i != count - 1 || saw_bare || prog.stmts.iter().len() > 0) {
                    return Err(lw.err(
                        span,
                        "a bare expression mapping must be the only statement of the mapping",
                    ));
                }
                saw_bare = true;
                let line = lw.line(span);
                let value = lw.expr(value)?;
                prog.stmts.push(Stmt::Assign {
                    target: Target::Root(vec![]),
                    value,
                    line,
                });
            }
            other => {
                let mut lowered = lw.stmts(vec![other], false)?;
                prog.stmts.append(&mut lowered);
            }
        }
    }
    prog.reads_this = lw.reads_this;
    prog.reads_payload = lw.reads_payload;
    Ok(prog)
}

/// Lowers a standalone expression (an interpolation query).
pub fn lower_expr(src: &str, e: syntax::Expr) -> Result<(Expr, bool), CompileError> {
    let mut lw = Lowerer {
        src,
        scopes: Vec::new(),
        reads_this: false,
        reads_payload: false,
        map_names: Vec::new(),
        env: Environment::Trusted,
    };
    let e = lw.expr(e)?;
    Ok((e, lw.reads_this))
}

struct Lowerer<'s> {
    src: &'s str,
    /// Lambda parameter names, innermost last.
    scopes: Vec<String>,
    reads_this: bool,
    reads_payload: bool,
    map_names: Vec<String>,
    env: Environment,
}

impl Lowerer<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> CompileError {
        CompileError::at(self.src, span.start, msg)
    }

    fn line(&self, span: Span) -> usize {
        self.src[..span.start.min(self.src.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn stmts(&mut self, stmts: Vec<syntax::Stmt>, in_map: bool) -> Result<Vec<Stmt>, CompileError> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            let line = self.line(s.span());
            out.push(match s {
                syntax::Stmt::Assign { path, value, .. } => Stmt::Assign {
                    target: Target::Root(path),
                    value: self.expr(value)?,
                    line,
                },
                syntax::Stmt::Meta { key, value, span } => {
                    if in_map {
                        return Err(
                            self.err(span, "setting meta fields from within a map is not allowed")
                        );
                    }
                    Stmt::Assign {
                        target: Target::Meta(key),
                        value: self.expr(value)?,
                        line,
                    }
                }
                syntax::Stmt::Let { name, value, .. } => Stmt::Assign {
                    target: Target::Var(name),
                    value: self.expr(value)?,
                    line,
                },
                syntax::Stmt::If {
                    branches,
                    otherwise,
                    ..
                } => {
                    let mut bs = Vec::new();
                    for (c, body) in branches {
                        bs.push((self.expr(c)?, self.stmts(body, in_map)?));
                    }
                    let otherwise = match otherwise {
                        Some(b) => self.stmts(b, in_map)?,
                        None => Vec::new(),
                    };
                    Stmt::If {
                        branches: bs,
                        otherwise,
                    }
                }
                syntax::Stmt::MapDef { span, .. } => {
                    return Err(self.err(
                        span,
                        "maps can only be defined at the top level of a mapping",
                    ))
                }
                syntax::Stmt::Import { span, .. } | syntax::Stmt::From { span, .. } => {
                    return Err(self.err(
                        span,
                        "imports are only allowed at the top level of a mapping",
                    ))
                }
                syntax::Stmt::Bare { span, .. } => {
                    return Err(self.err(span, "expected an assignment statement"))
                }
            });
        }
        Ok(out)
    }

    fn expr(&mut self, e: syntax::Expr) -> Result<Expr, CompileError> {
        let span = e.span;
        Ok(match e.kind {
            ExprKind::Literal(l) => Expr::Const(match l {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(b),
                Literal::Int(i) => Value::Int(i),
                Literal::Float(f) => Value::Float(f),
                Literal::Str(s) => Value::Str(s),
            }),
            ExprKind::Array(items) => {
                let items = items
                    .into_iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|i| matches!(i, Expr::Const(v) if !matches!(v, Value::Deleted | Value::Nothing))) {
                    Expr::Const(Value::Array(items.into_iter().filter_map(|i| i.as_const().cloned()).collect()))
                } else {
                    Expr::Array(items)
                }
            }
            ExprKind::Object(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (k, v) in items {
                    let kspan = k.span;
                    let k = self.expr(k)?;
                    if let Expr::Const(kv) = &k {
                        if !matches!(kv, Value::Str(_)) {
                            return Err(self.err(
                                kspan,
                                format!("object keys must be strings, got {}", kv.type_name()),
                            ));
                        }
                    }
                    out.push((k, self.expr(v)?));
                }
                let all_const = out.iter().all(|(k, v)| {
                    matches!(k, Expr::Const(Value::Str(_)))
                        && matches!(v, Expr::Const(c) if !matches!(c, Value::Deleted | Value::Nothing))
                });
                if all_const {
                    let mut obj = crate::value::Object::new();
                    for (k, v) in out {
                        if let (Expr::Const(Value::Str(k)), Expr::Const(v)) = (k, v) {
                            obj.insert(k, v);
                        }
                    }
                    Expr::Const(Value::Object(obj))
                } else {
                    Expr::Object(out)
                }
            }
            ExprKind::This => {
                self.reads_this |= self.scopes.is_empty();
                Expr::Path {
                    base: Base::This,
                    path: vec![],
                    text: "this".into(),
                }
            }
            ExprKind::Root => Expr::Path {
                base: Base::Root,
                path: vec![],
                text: "root".into(),
            },
            ExprKind::Ident(name) => {
                if let Some(depth) = self.scopes.iter().rev().position(|p| *p == name) {
                    Expr::Path {
                        base: Base::Capture(depth),
                        path: vec![],
                        text: name,
                    }
                } else {
                    self.reads_this = true;
                    Expr::Path {
                        base: Base::This,
                        path: vec![name.clone()],
                        text: format!("this.{}", name),
                    }
                }
            }
            ExprKind::Field(target, seg) => {
                let t = self.expr(*target)?;
                match t {
                    Expr::Path {
                        base,
                        mut path,
                        text,
                    } => {
                        let text = format!("{}.{}", text, seg);
                        path.push(seg);
                        Expr::Path { base, path, text }
                    }
                    Expr::Field { target, mut path } => {
                        path.push(seg);
                        Expr::Field { target, path }
                    }
                    other => Expr::Field {
                        target: Box::new(other),
                        path: vec![seg],
                    },
                }
            }
            ExprKind::Variable(name) => Expr::Var(name),
            ExprKind::Meta(key) => Expr::Meta(key),
            ExprKind::Lambda { param, body } => {
                self.scopes.push(param);
                let body = self.expr(*body);
                self.scopes.pop();
                Expr::Lambda {
                    body: Box::new(body?),
                }
            }
            ExprKind::Capture { target, body } => {
                let target = self.expr(*target)?;
                let body = self.query(*body)?;
                Expr::Capture {
                    target: Box::new(target),
                    body: Box::new(body),
                }
            }
            ExprKind::Call { name, args } => self.function(name, args, span)?,
            ExprKind::Method {
                target,
                name,
                args,
                name_span,
            } => {
                let target = self.expr(*target)?;
                self.method(target, name, args, name_span)?
            }
            ExprKind::Match { subject, cases } => {
                let has_subject = subject.is_some();
                let subject = match subject {
                    Some(s) => Some(Box::new(self.expr(*s)?)),
                    None => None,
                };
                let mut out = Vec::new();
                for (pat, value) in cases {
                    let case = match pat {
                        Pattern::Wildcard => Case::Wildcard,
                        Pattern::Expr(pe) => match self.query(pe)? {
                            Expr::Const(v) => Case::Equals(v),
                            other => Case::Condition(other),
                        },
                    };
                    let value = if has_subject {
                        self.query(value)?
                    } else {
                        self.expr(value)?
                    };
                    out.push((case, value));
                }
                Expr::Match {
                    subject,
                    cases: out,
                }
            }
            ExprKind::If {
                branches,
                otherwise,
            } => {
                let mut bs = Vec::new();
                for (c, v) in branches {
                    bs.push((self.expr(c)?, self.expr(v)?));
                }
                let otherwise = match otherwise {
                    Some(o) => Some(Box::new(self.expr(*o)?)),
                    None => None,
                };
                Expr::If {
                    branches: bs,
                    otherwise,
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let lhs = self.expr(*lhs)?;
                let rhs = self.expr(*rhs)?;
                let e = Expr::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                };
                self.fold(e, span)?
            }
            ExprKind::Not(inner) => {
                let inner = self.expr(*inner)?;
                if let t @ (Type::Number | Type::Str | Type::Array | Type::Object | Type::Null) =
                    inner.static_type()
                {
                    let _ = t;
                    return Err(self.err(
                        span,
                        format!(
                            "cannot apply '!' to a value of type {}: expected a boolean",
                            type_word(inner.static_type())
                        ),
                    ));
                }
                self.fold(Expr::Not(Box::new(inner)), span)?
            }
            ExprKind::Neg(inner) => {
                let inner = self.expr(*inner)?;
                self.fold(Expr::Neg(Box::new(inner)), span)?
            }
        })
    }

    /// Lowers an expression that runs with `this` rebound (a lambda, or a plain query).
    /// `reads_this` over-approximates: the input is parsed eagerly but a parse failure is only
    /// reported when the input document is actually read.
    fn query(&mut self, e: syntax::Expr) -> Result<Expr, CompileError> {
        self.expr(e)
    }

    fn function(&mut self, name: String, args: Args, span: Span) -> Result<Expr, CompileError> {
        // var("name") is a variable read.
        if name == "var" {
            if let Args::Positional(a) = &args {
                if let [syntax::Expr {
                    kind: ExprKind::Literal(Literal::Str(s)),
                    ..
                }] = a.as_slice()
                {
                    return Ok(Expr::Var(s.clone()));
                }
            }
        }
        if self.env == Environment::PureOnly && stdlib::HOST_FUNCTIONS.contains(&name.as_str()) {
            return Err(self.err(
                span,
                format!(
                    "function '{}' reads the host and is not available in a mapping that comes from a message",
                    name
                ),
            ));
        }
        let spec = self.resolve(
            "function",
            &name,
            span,
            stdlib::function,
            stdlib::function_names,
        )?;
        self.reads_this |= name == "json";
        self.reads_payload |= name == "content";
        let args = self.args(spec.name, spec.params, args, span)?;
        let e = Expr::Function {
            spec,
            args,
            site: Site::default(),
        };
        self.fold(e, span)
    }

    /// Looks a function or method (`what`) up by name: unsupported names and unknown ones
    /// (with a "did you mean" suggestion) are compile errors.
    fn resolve<T>(
        &self,
        what: &str,
        name: &str,
        span: Span,
        lookup: fn(&str) -> Option<T>,
        names: fn() -> Vec<&'static str>,
    ) -> Result<T, CompileError> {
        if let Some(reason) = stdlib::unsupported_reason(name) {
            return Err(self.err(
                span,
                format!("{} '{}' is not supported by sluice: {}", what, name, reason),
            ));
        }
        lookup(name).ok_or_else(|| {
            let msg = match stdlib::suggest(name, &names()) {
                Some(s) => format!("unknown {} '{}', did you mean '{}'?", what, name, s),
                None => format!("unknown {} '{}'", what, name),
            };
            self.err(span, msg)
        })
    }

    fn method(
        &mut self,
        target: Expr,
        name: String,
        args: Args,
        span: Span,
    ) -> Result<Expr, CompileError> {
        match name.as_str() {
            "catch" | "or" => {
                let mut a = match args {
                    Args::Positional(a) if a.len() == 1 => a,
                    Args::Named(mut n) if n.len() == 1 => vec![n.remove(0).1],
                    _ => {
                        return Err(self.err(
                            span,
                            format!("method '{}' expects exactly one argument", name),
                        ))
                    }
                };
                let fallback = a.remove(0);
                let fallback = self.expr(fallback)?;
                let (target, fallback) = (Box::new(target), Box::new(fallback));
                return Ok(if name == "catch" {
                    Expr::Catch { target, fallback }
                } else {
                    Expr::Or { target, fallback }
                });
            }
            _ => {}
        }
        let spec = self.resolve("method", &name, span, stdlib::method, stdlib::method_names)?;
        if name == "apply" {
            if let Args::Positional(a) = &args {
                if let [syntax::Expr {
                    kind: ExprKind::Literal(Literal::Str(m)),
                    span: aspan,
                    ..
                }] = a.as_slice()
                {
                    if !self.map_names.contains(m) {
                        return Err(self.err(*aspan, format!("map {} was not found", m)));
                    }
                }
            }
        }
        let args = self.args(spec.name, spec.params, args, span)?;
        let e = Expr::Method {
            spec,
            target: Box::new(target),
            args,
            site: Site::default(),
        };
        self.fold(e, span)
    }

    /// Matches call arguments to parameters: checks arity and names, fills defaults, lowers
    /// query parameters as queries.
    fn args(
        &mut self,
        name: &str,
        params: &'static [stdlib::Param],
        args: Args,
        span: Span,
    ) -> Result<Vec<Expr>, CompileError> {
        let mut slots: Vec<Option<syntax::Expr>> = (0..params.len()).map(|_| None).collect();
        match args {
            Args::Positional(a) => {
                if a.len() > params.len() {
                    return Err(self.err(
                        span,
                        format!(
                            "wrong number of arguments for '{}': expected at most {}, got {}",
                            name,
                            params.len(),
                            a.len()
                        ),
                    ));
                }
                for (i, e) in a.into_iter().enumerate() {
                    slots[i] = Some(e);
                }
            }
            Args::Named(n) => {
                for (pname, e) in n {
                    let Some(i) = params.iter().position(|p| p.name == pname) else {
                        let names: Vec<&str> = params.iter().map(|p| p.name).collect();
                        let msg = match stdlib::suggest(&pname, &names) {
                            Some(s) => format!(
                                "unknown parameter '{}' for '{}', did you mean '{}'?",
                                pname, name, s
                            ),
                            None => format!(
                                "unknown parameter '{}' for '{}' (parameters: {})",
                                pname,
                                name,
                                names.join(", ")
                            ),
                        };
                        return Err(self.err(e.span, msg));
                    };
                    slots[i] = Some(e);
                }
            }
        }
        let mut out = Vec::with_capacity(params.len());
        for (p, slot) in params.iter().zip(slots) {
            match slot {
                Some(e) => out.push(if p.kind == ParamKind::Query {
                    self.query(e)?
                } else {
                    self.expr(e)?
                }),
                None => match p.default.value() {
                    Some(v) => out.push(Expr::Const(v)),
                    None => {
                        return Err(self.err(
                            span,
                            format!("missing required parameter '{}' of '{}'", p.name, name),
                        ))
                    }
                },
            }
        }
        Ok(out)
    }

    /// Folds an expression whose inputs are all constant and whose operation is pure.
    fn fold(&mut self, e: Expr, span: Span) -> Result<Expr, CompileError> {
        let foldable = match &e {
            Expr::Binary { op, lhs, rhs } => {
                // Statically certain type errors of arithmetic on literals.
                if let (Some(l), Some(r)) = (lhs.as_const(), rhs.as_const()) {
                    if matches!(op, BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod)
                        && !(l.as_f64().is_some() && r.as_f64().is_some())
                    {
                        return Err(self.err(
                            span,
                            format!(
                                "cannot apply '{}' to {} and {}: expected numbers",
                                op.symbol(),
                                type_word(Type::of(l)),
                                type_word(Type::of(r))
                            ),
                        ));
                    }
                }
                lhs.as_const().is_some() && rhs.as_const().is_some()
            }
            Expr::Not(i) | Expr::Neg(i) => i.as_const().is_some(),
            Expr::Function { spec, args, .. } => {
                spec.pure && args.iter().all(|a| a.as_const().is_some())
            }
            Expr::Method {
                spec, target, args, ..
            } => {
                spec.pure
                    && target.as_const().is_some()
                    && spec.params.iter().all(|p| p.kind == ParamKind::Value)
                    && args.iter().all(|a| a.as_const().is_some())
            }
            _ => false,
        };
        if !foldable {
            return Ok(e);
        }
        match crate::interp::eval_constant(&e) {
            Ok(v) if !matches!(v, Value::Deleted | Value::Nothing) => Ok(Expr::Const(v)),
            // Leave failures to run time: the expression may never be evaluated.
            _ => Ok(e),
        }
    }
}

fn type_word(t: Type) -> &'static str {
    match t {
        Type::Any => "unknown",
        Type::Null => "null",
        Type::Bool => "bool",
        Type::Number => "number",
        Type::Str => "string",
        Type::Bytes => "bytes",
        Type::Array => "array",
        Type::Object => "object",
        Type::Timestamp => "timestamp",
    }
}
