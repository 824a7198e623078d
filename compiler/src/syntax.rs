//! Front end: Bloblang text → syntax tree with spans.
//!
//! The pest grammar (`grammar/bloblang.pest`) recognises the text; this module turns its parse
//! tree into [`Stmt`]s and [`Expr`]s that keep byte spans into the source, applies operator
//! precedence, and renders pest's errors in words (never rule names) with a caret snippet.

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use sluice_grammar::{BloblangParser, Rule};

use crate::error::CompileError;

/// Mappings longer than this are refused before parsing.
pub const MAX_SOURCE_LEN: usize = 1 << 20;
/// Bracket nesting deeper than this is refused before parsing (bounds recursion).
pub const MAX_NESTING: usize = 128;

/// A byte range of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    fn of(p: &Pair<Rule>) -> Span {
        Span {
            start: p.as_span().start(),
            end: p.as_span().end(),
        }
    }
}

/// A statement of a mapping.
#[derive(Debug, Clone)]
pub enum Stmt {
    /// `root.a.b = expr` or `a.b = expr`: assignment to a path of the output.
    Assign {
        /// The path segments.
        path: Vec<String>,
        /// The value.
        value: Expr,
        /// Where it is in the source.
        span: Span,
    },
    /// `meta key = expr` (`key` absent for `meta = expr`).
    Meta {
        /// The key.
        key: Option<String>,
        /// The value.
        value: Expr,
        /// Where it is in the source.
        span: Span,
    },
    /// `let name = expr`.
    Let {
        /// The name.
        name: String,
        /// The value.
        value: Expr,
        /// Where it is in the source.
        span: Span,
    },
    /// `if c { .. } else if d { .. } else { .. }` around statements.
    If {
        /// Conditions with what they guard, in order.
        branches: Vec<(Expr, Vec<Stmt>)>,
        /// The `else` part, if any.
        otherwise: Option<Vec<Stmt>>,
        /// Where it is in the source.
        span: Span,
    },
    /// `map name { .. }`.
    MapDef {
        /// The name.
        name: String,
        /// The body.
        body: Vec<Stmt>,
        /// Where it is in the source.
        span: Span,
    },
    /// `import "path"`.
    Import {
        /// The path segments.
        path: String,
        /// Where it is in the source.
        span: Span,
    },
    /// `from "path"`.
    From {
        /// The path segments.
        path: String,
        /// Where it is in the source.
        span: Span,
    },
    /// A bare expression: shorthand for `root = expr`.
    Bare {
        /// The value.
        value: Expr,
        /// Where it is in the source.
        span: Span,
    },
}

impl Stmt {
    /// The statement's span.
    pub fn span(&self) -> Span {
        match self {
            Stmt::Assign { span, .. }
            | Stmt::Meta { span, .. }
            | Stmt::Let { span, .. }
            | Stmt::If { span, .. }
            | Stmt::MapDef { span, .. }
            | Stmt::Import { span, .. }
            | Stmt::From { span, .. }
            | Stmt::Bare { span, .. } => *span,
        }
    }
}

/// An expression with its span.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
    /// Height of the tree below this node (1 for a leaf); bounded by [`MAX_NESTING`] so that
    /// every later recursive pass (lowering, evaluation, drop) has bounded depth.
    pub depth: usize,
}

/// Builds a node, computing its depth from its children's and refusing trees deeper than
/// [`MAX_NESTING`].
fn mk(src: &str, kind: ExprKind, span: Span) -> Result<Expr, CompileError> {
    let d = |e: &Expr| e.depth;
    let child = match &kind {
        ExprKind::Literal(_)
        | ExprKind::This
        | ExprKind::Root
        | ExprKind::Ident(_)
        | ExprKind::Variable(_)
        | ExprKind::Meta(_) => 0,
        ExprKind::Array(items) => items.iter().map(d).max().unwrap_or(0),
        ExprKind::Object(items) => items.iter().map(|(k, v)| d(k).max(d(v))).max().unwrap_or(0),
        ExprKind::Field(t, _) => d(t),
        ExprKind::Call { args, .. } => args_depth(args),
        ExprKind::Method { target, args, .. } => d(target).max(args_depth(args)),
        ExprKind::Capture { target, body } => d(target).max(d(body)),
        ExprKind::Lambda { body, .. } => d(body),
        ExprKind::Match { subject, cases } => cases
            .iter()
            .map(|(p, v)| match p {
                Pattern::Wildcard => d(v),
                Pattern::Expr(p) => d(p).max(d(v)),
            })
            .chain(subject.iter().map(|s| d(s)))
            .max()
            .unwrap_or(0),
        ExprKind::If {
            branches,
            otherwise,
        } => branches
            .iter()
            .map(|(c, v)| d(c).max(d(v)))
            .chain(otherwise.iter().map(|o| d(o)))
            .max()
            .unwrap_or(0),
        ExprKind::Binary { lhs, rhs, .. } => d(lhs).max(d(rhs)),
        ExprKind::Not(i) | ExprKind::Neg(i) => d(i),
    };
    if child + 1 > MAX_NESTING {
        return Err(CompileError::at(
            src,
            span.start,
            format!(
                "expression is nested too deeply (more than {} levels)",
                MAX_NESTING
            ),
        ));
    }
    Ok(Expr {
        kind,
        span,
        depth: child + 1,
    })
}

fn args_depth(a: &Args) -> usize {
    match a {
        Args::Positional(v) => v.iter().map(|e| e.depth).max().unwrap_or(0),
        Args::Named(v) => v.iter().map(|(_, e)| e.depth).max().unwrap_or(0),
    }
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (escapes resolved).
    Str(String),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `|` (coalesce)
    Coalesce,
}

impl BinOp {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Coalesce => "|",
        }
    }
}

/// Call arguments: all positional or all named.
#[derive(Debug, Clone)]
pub enum Args {
    /// `f(a, b)`
    Positional(Vec<Expr>),
    /// `f(x: a, y: b)`
    Named(Vec<(String, Expr)>),
}

/// A `match` case pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `_`
    Wildcard,
    /// Any expression: a literal is compared, a query is evaluated as a condition.
    Expr(Expr),
}

/// Expression forms.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{k: v}` with expression keys.
    Object(Vec<(Expr, Expr)>),
    /// `this`
    This,
    /// `root`
    Root,
    /// A bare identifier: a lambda parameter, or a field of `this`.
    Ident(String),
    /// `expr.field`
    Field(Box<Expr>, String),
    /// `$name`
    Variable(String),
    /// `@key`, or `@` (all metadata).
    Meta(Option<String>),
    /// `name(args)`
    Call {
        /// The name.
        name: String,
        /// The arguments.
        args: Args,
    },
    /// `target.name(args)`
    Method {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The name.
        name: String,
        /// The arguments.
        args: Args,
        /// Where the name is.
        name_span: Span,
    },
    /// `target.(body)`: evaluate `body` with `this` (or a named parameter) bound to target.
    Capture {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The body.
        body: Box<Expr>,
    },
    /// `param -> body`
    Lambda {
        /// The parameter name.
        param: String,
        /// The body.
        body: Box<Expr>,
    },
    /// `match subject { pattern => value, ... }`
    Match {
        /// The value matched, if any.
        subject: Option<Box<Expr>>,
        /// The cases, in order.
        cases: Vec<(Pattern, Expr)>,
    },
    /// `if c { a } else if d { b } else { e }`
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
    /// `!expr`
    Not(Box<Expr>),
    /// `-expr`
    Neg(Box<Expr>),
}

/// A piece of a config string with interpolations.
#[derive(Debug, Clone)]
pub enum InterpPart {
    /// Literal text.
    Text(String),
    /// `${! expr }`
    Query(Expr),
}

/// Parses a whole mapping into statements.
pub fn parse_mapping(src: &str) -> Result<Vec<Stmt>, CompileError> {
    precheck(src)?;
    let mut pairs =
        BloblangParser::parse(Rule::mapping, src).map_err(|e| render_pest_error(src, e))?;
    let mapping = pairs.next().expect("mapping rule");
    let mut out = Vec::new();
    for p in mapping.into_inner() {
        if p.as_rule() == Rule::statement_list {
            for s in p.into_inner() {
                out.push(build_stmt(src, s)?);
            }
        }
    }
    Ok(out)
}

/// Parses a config string with `${! ... }` interpolations.
pub fn parse_interpolation(src: &str) -> Result<Vec<InterpPart>, CompileError> {
    precheck(src)?;
    let mut pairs =
        BloblangParser::parse(Rule::interpolation, src).map_err(|e| render_pest_error(src, e))?;
    let top = pairs.next().expect("interpolation rule");
    let mut out = Vec::new();
    for p in top.into_inner() {
        match p.as_rule() {
            Rule::interp_text => out.push(InterpPart::Text(p.as_str().to_string())),
            Rule::interp_escaped => {
                // `${{!foo}}` renders as `${!foo}`.
                let s = p.as_str();
                out.push(InterpPart::Text(format!("${{{}}}", &s[3..s.len() - 2])));
            }
            Rule::interp_query => {
                let e = p.into_inner().next().expect("query expr");
                out.push(InterpPart::Query(build_expr(src, e)?));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Refuses inputs whose size or bracket nesting would make parsing unbounded.
fn precheck(src: &str) -> Result<(), CompileError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(CompileError::at(
            src,
            0,
            format!(
                "mapping is too large ({} bytes, the limit is {})",
                src.len(),
                MAX_SOURCE_LEN
            ),
        ));
    }
    let mut depth = 0usize;
    for (i, b) in src.bytes().enumerate() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(CompileError::at(
                        src,
                        i,
                        format!(
                            "expressions are nested too deeply (more than {} levels)",
                            MAX_NESTING
                        ),
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Words for what a grammar rule stands for, used in "expected ..." messages.
fn rule_words(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of input",
        Rule::statement_list | Rule::block_list => "a statement",
        Rule::expr | Rule::unary | Rule::term | Rule::bare_expr | Rule::match_pattern => {
            "an expression"
        }
        Rule::assign_stmt | Rule::target => "an assignment target",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_neq
        | Rule::op_gte
        | Rule::op_lte
        | Rule::op_gt
        | Rule::op_lt
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_mod
        | Rule::op_coalesce => "an operator",
        Rule::method_call | Rule::map_capture | Rule::field_access => "a method or field path",
        Rule::call_args => "a list of arguments in parentheses",
        Rule::named_arg => "an argument",
        Rule::ident | Rule::bare_path | Rule::path_word | Rule::path_segment => "a name",
        Rule::string_lit | Rule::raw_string_lit | Rule::string_inner => "a quoted string",
        Rule::int_lit | Rule::float_lit => "a number",
        Rule::key_value => "an object key",
        Rule::match_case => "a match case",
        Rule::block => "a block in braces",
        Rule::else_if_stmt | Rule::else_stmt | Rule::else_if_expr | Rule::else_expr => "else",
        Rule::interp_query | Rule::interp_text | Rule::interp_escaped => "text or an interpolation",
        Rule::escape => "an escape sequence",
        _ => return None,
    })
}

fn render_pest_error(src: &str, e: pest::error::Error<Rule>) -> CompileError {
    use pest::error::{ErrorVariant, InputLocation};
    let offset = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut words: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| rule_words(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    words.sort();
    words.dedup();
    let rest = &src[offset.min(src.len())..];
    let found = match rest.chars().next() {
        None => "end of input".to_string(),
        Some('\n') => "line break".to_string(),
        Some(c) => format!("'{}'", c),
    };
    // A complete statement followed by more text on the same line.
    let line_rest = rest.split('\n').next().unwrap_or("");
    let unterminated =
        (rest.starts_with('"') && !rest.starts_with("\"\"\"") && !closes_on_line(&rest[1..]))
            || (rest.starts_with("\"\"\"") && !rest[3..].contains("\"\"\""));
    let message = if unterminated {
        "unterminated quoted string: expected a closing '\"'".to_string()
    } else if words.contains(&"an operator")
        && words.contains(&"end of input")
        && !line_rest.trim().is_empty()
    {
        format!("expected line break, got {}", found)
    } else if words.is_empty() {
        format!("unexpected {}", found)
    } else {
        let list = match words.len() {
            1 => words[0].to_string(),
            n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
        };
        format!("expected {}, got {}", list, found)
    };
    CompileError::at(src, offset, message)
}

/// True when a double-quoted string body starting at `rest` ends on the same line.
fn closes_on_line(rest: &str) -> bool {
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            '\n' => return false,
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

fn build_stmt(src: &str, p: Pair<Rule>) -> Result<Stmt, CompileError> {
    let span = Span::of(&p);
    let rule = p.as_rule();
    let mut inner = p.into_inner();
    Ok(match rule {
        Rule::assign_stmt => {
            let target = inner.next().expect("target");
            let path = build_target(target);
            let value = build_expr(src, inner.next().expect("value"))?;
            Stmt::Assign { path, value, span }
        }
        Rule::meta_stmt => {
            let _kw = inner.next();
            let mut rest: Vec<Pair<Rule>> = inner.collect();
            let value = build_expr(src, rest.pop().expect("value"))?;
            let key = rest.pop().map(name_of);
            Stmt::Meta { key, value, span }
        }
        Rule::let_stmt => {
            let _kw = inner.next();
            let name = name_of(inner.next().expect("name"));
            let value = build_expr(src, inner.next().expect("value"))?;
            Stmt::Let { name, value, span }
        }
        Rule::if_stmt => {
            let _kw = inner.next();
            let cond = build_expr(src, inner.next().expect("cond"))?;
            let body = build_block(src, inner.next().expect("block"))?;
            let mut branches = vec![(cond, body)];
            let mut otherwise = None;
            for part in inner {
                match part.as_rule() {
                    Rule::else_if_stmt => {
                        let mut pi = part
                            .into_inner()
                            .filter(|x| x.as_rule() != Rule::kw_else && x.as_rule() != Rule::kw_if);
                        let c = build_expr(src, pi.next().expect("cond"))?;
                        let b = build_block(src, pi.next().expect("block"))?;
                        branches.push((c, b));
                    }
                    Rule::else_stmt => {
                        let b = part
                            .into_inner()
                            .find(|x| x.as_rule() == Rule::block)
                            .expect("block");
                        otherwise = Some(build_block(src, b)?);
                    }
                    _ => {}
                }
            }
            Stmt::If {
                branches,
                otherwise,
                span,
            }
        }
        Rule::map_def => {
            let _kw = inner.next();
            let name = name_of(inner.next().expect("name"));
            let mut body = Vec::new();
            if let Some(list) = inner.next() {
                for s in list.into_inner() {
                    body.push(build_stmt(src, s)?);
                }
            }
            Stmt::MapDef { name, body, span }
        }
        Rule::import_stmt | Rule::from_stmt => {
            let _kw = inner.next();
            let path = unescape(src, inner.next().expect("path"))?;
            if rule == Rule::import_stmt {
                Stmt::Import { path, span }
            } else {
                Stmt::From { path, span }
            }
        }
        Rule::bare_expr => {
            let value = build_expr(src, inner.next().expect("expr"))?;
            Stmt::Bare { value, span }
        }
        other => unreachable!("unexpected statement rule {:?}", other),
    })
}

fn build_block(src: &str, p: Pair<Rule>) -> Result<Vec<Stmt>, CompileError> {
    let mut out = Vec::new();
    if let Some(list) = p.into_inner().next() {
        for s in list.into_inner() {
            out.push(build_stmt(src, s)?);
        }
    }
    Ok(out)
}

fn build_target(p: Pair<Rule>) -> Vec<String> {
    let mut path = Vec::new();
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::root_kw | Rule::this_kw => {}
            Rule::path_segment => path.push(segment_of(part)),
            _ => {}
        }
    }
    path
}

fn segment_of(p: Pair<Rule>) -> String {
    let inner = p.into_inner().next().expect("segment");
    match inner.as_rule() {
        Rule::string_lit => {
            unescape_str(inner.into_inner().next().map(|x| x.as_str()).unwrap_or(""))
        }
        _ => inner.as_str().to_string(),
    }
}

fn name_of(p: Pair<Rule>) -> String {
    match p.as_rule() {
        Rule::string_lit => unescape_str(p.into_inner().next().map(|x| x.as_str()).unwrap_or("")),
        _ => p.as_str().to_string(),
    }
}

fn unescape(src: &str, p: Pair<Rule>) -> Result<String, CompileError> {
    let _ = src;
    Ok(name_of(p))
}

/// Resolves Go-style escapes of a double-quoted string body.
fn unescape_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('0') => out.push('\0'),
            Some('u') => push_hex(&mut out, &mut chars, 4),
            Some('U') => push_hex(&mut out, &mut chars, 8),
            Some('x') => push_hex(&mut out, &mut chars, 2),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn push_hex(out: &mut String, chars: &mut std::iter::Peekable<std::str::Chars>, n: usize) {
    let hex: String = chars.take(n).collect();
    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
        out.push(c);
    }
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: std::sync::OnceLock<PrattParser<Rule>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left) | Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_neq, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_gte, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_lte, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left)
                | Op::infix(Rule::op_div, Assoc::Left)
                | Op::infix(Rule::op_mod, Assoc::Left)
                | Op::infix(Rule::op_coalesce, Assoc::Left))
    })
}

/// Builds an expression from an `expr` pair (or any expression-level pair).
pub(crate) fn build_expr(src: &str, p: Pair<Rule>) -> Result<Expr, CompileError> {
    match p.as_rule() {
        Rule::expr => {
            let span = Span::of(&p);
            let _ = span;
            pratt()
                .map_primary(|prim| build_unary(src, prim))
                .map_infix(|lhs, op, rhs| {
                    let (lhs, rhs) = (lhs?, rhs?);
                    let op = match op.as_rule() {
                        Rule::op_or => BinOp::Or,
                        Rule::op_and => BinOp::And,
                        Rule::op_eq => BinOp::Eq,
                        Rule::op_neq => BinOp::Neq,
                        Rule::op_gt => BinOp::Gt,
                        Rule::op_gte => BinOp::Gte,
                        Rule::op_lt => BinOp::Lt,
                        Rule::op_lte => BinOp::Lte,
                        Rule::op_add => BinOp::Add,
                        Rule::op_sub => BinOp::Sub,
                        Rule::op_mul => BinOp::Mul,
                        Rule::op_div => BinOp::Div,
                        Rule::op_mod => BinOp::Mod,
                        _ => BinOp::Coalesce,
                    };
                    let span = Span {
                        start: lhs.span.start,
                        end: rhs.span.end,
                    };
                    mk(
                        src,
                        ExprKind::Binary {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                        span,
                    )
                })
                .parse(p.into_inner())
        }
        Rule::unary => build_unary(src, p),
        Rule::term => build_term(src, p),
        _ => build_primary(src, p),
    }
}

fn build_unary(src: &str, p: Pair<Rule>) -> Result<Expr, CompileError> {
    let span = Span::of(&p);
    let mut prefixes = Vec::new();
    let mut term = None;
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::op_not | Rule::op_neg => prefixes.push(part.as_rule()),
            _ => term = Some(build_term(src, part)?),
        }
    }
    let mut e = term.expect("unary term");
    for r in prefixes.into_iter().rev() {
        let kind = if r == Rule::op_not {
            ExprKind::Not(Box::new(e))
        } else {
            ExprKind::Neg(Box::new(e))
        };
        e = mk(src, kind, span)?;
    }
    Ok(e)
}

fn build_term(src: &str, p: Pair<Rule>) -> Result<Expr, CompileError> {
    let mut parts = p.into_inner();
    let mut e = build_primary(src, parts.next().expect("primary"))?;
    for post in parts {
        let span = Span {
            start: e.span.start,
            end: post.as_span().end(),
        };
        e = match post.as_rule() {
            Rule::field_access => {
                let seg = segment_of(post.into_inner().next().expect("segment"));
                mk(src, ExprKind::Field(Box::new(e), seg), span)?
            }
            Rule::method_call => {
                let mut pi = post.into_inner();
                let name_pair = pi.next().expect("method name");
                let name_span = Span::of(&name_pair);
                let name = name_pair.as_str().to_string();
                let args = build_args(src, pi.next().expect("args"))?;
                mk(
                    src,
                    ExprKind::Method {
                        target: Box::new(e),
                        name,
                        args,
                        name_span,
                    },
                    span,
                )?
            }
            Rule::map_capture => {
                let body = build_expr(src, post.into_inner().next().expect("body"))?;
                mk(
                    src,
                    ExprKind::Capture {
                        target: Box::new(e),
                        body: Box::new(body),
                    },
                    span,
                )?
            }
            other => unreachable!("unexpected postfix {:?}", other),
        };
    }
    Ok(e)
}

fn build_args(src: &str, p: Pair<Rule>) -> Result<Args, CompileError> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in p.into_inner() {
        if a.as_rule() == Rule::named_arg {
            let mut ai = a.into_inner();
            let name = ai.next().expect("arg name").as_str().to_string();
            named.push((name, build_expr(src, ai.next().expect("arg value"))?));
        } else {
            let e = build_expr(src, a)?;
            positional.push(e);
        }
    }
    if !named.is_empty() && !positional.is_empty() {
        let at = positional[0].span.start;
        return Err(CompileError::at(
            src,
            at,
            "cannot mix named and positional arguments",
        ));
    }
    Ok(if named.is_empty() {
        Args::Positional(positional)
    } else {
        Args::Named(named)
    })
}

fn build_primary(src: &str, p: Pair<Rule>) -> Result<Expr, CompileError> {
    let span = Span::of(&p);
    let rule = p.as_rule();
    let kind = match rule {
        Rule::null_lit => ExprKind::Literal(Literal::Null),
        Rule::bool_lit => ExprKind::Literal(Literal::Bool(p.as_str() == "true")),
        Rule::int_lit => match p.as_str().parse::<i64>() {
            Ok(i) => ExprKind::Literal(Literal::Int(i)),
            Err(_) => ExprKind::Literal(Literal::Float(
                p.as_str().parse::<f64>().unwrap_or(f64::MAX),
            )),
        },
        Rule::float_lit => {
            ExprKind::Literal(Literal::Float(p.as_str().parse::<f64>().unwrap_or(0.0)))
        }
        Rule::string_lit => ExprKind::Literal(Literal::Str(unescape_str(
            p.into_inner().next().map(|x| x.as_str()).unwrap_or(""),
        ))),
        Rule::raw_string_lit => ExprKind::Literal(Literal::Str(
            p.into_inner()
                .next()
                .map(|x| x.as_str())
                .unwrap_or("")
                .to_string(),
        )),
        Rule::array_lit => {
            let mut items = Vec::new();
            for e in p.into_inner() {
                items.push(build_expr(src, e)?);
            }
            ExprKind::Array(items)
        }
        Rule::object_lit => {
            let mut items = Vec::new();
            for kv in p.into_inner() {
                let mut ki = kv.into_inner();
                let k = build_expr(src, ki.next().expect("key"))?;
                let v = build_expr(src, ki.next().expect("value"))?;
                items.push((k, v));
            }
            ExprKind::Object(items)
        }
        Rule::this_kw => ExprKind::This,
        Rule::root_kw => ExprKind::Root,
        Rule::bare_path => ExprKind::Ident(p.as_str().to_string()),
        Rule::variable => {
            ExprKind::Variable(p.into_inner().next().expect("name").as_str().to_string())
        }
        Rule::metadata => ExprKind::Meta(p.into_inner().next().map(name_of)),
        Rule::paren => return build_expr(src, p.into_inner().next().expect("inner")),
        Rule::lambda => {
            let mut pi = p.into_inner();
            let param = pi.next().expect("param").as_str().to_string();
            let body = build_expr(src, pi.next().expect("body"))?;
            ExprKind::Lambda {
                param,
                body: Box::new(body),
            }
        }
        Rule::function_call => {
            let mut pi = p.into_inner();
            let name = pi.next().expect("name").as_str().to_string();
            let args = build_args(src, pi.next().expect("args"))?;
            ExprKind::Call { name, args }
        }
        Rule::match_expr => {
            let mut subject = None;
            let mut cases = Vec::new();
            for part in p.into_inner() {
                match part.as_rule() {
                    Rule::kw_match => {}
                    Rule::expr => subject = Some(Box::new(build_expr(src, part)?)),
                    Rule::match_case => {
                        let mut ci = part.into_inner();
                        let pat = ci
                            .next()
                            .expect("pattern")
                            .into_inner()
                            .next()
                            .expect("pattern inner");
                        let pattern = if pat.as_rule() == Rule::wildcard {
                            Pattern::Wildcard
                        } else {
                            Pattern::Expr(build_expr(src, pat)?)
                        };
                        let value = build_expr(src, ci.next().expect("case value"))?;
                        cases.push((pattern, value));
                    }
                    _ => {}
                }
            }
            ExprKind::Match { subject, cases }
        }
        Rule::if_expr => {
            let mut branches = Vec::new();
            let mut otherwise = None;
            let mut pi = p.into_inner().filter(|x| x.as_rule() != Rule::kw_if);
            let c = build_expr(src, pi.next().expect("cond"))?;
            let v = build_expr(src, pi.next().expect("value"))?;
            branches.push((c, v));
            for part in pi {
                match part.as_rule() {
                    Rule::else_if_expr => {
                        let mut ei = part
                            .into_inner()
                            .filter(|x| x.as_rule() != Rule::kw_else && x.as_rule() != Rule::kw_if);
                        let c = build_expr(src, ei.next().expect("cond"))?;
                        let v = build_expr(src, ei.next().expect("value"))?;
                        branches.push((c, v));
                    }
                    Rule::else_expr => {
                        let v = part
                            .into_inner()
                            .find(|x| x.as_rule() == Rule::expr)
                            .expect("else value");
                        otherwise = Some(Box::new(build_expr(src, v)?));
                    }
                    _ => {}
                }
            }
            ExprKind::If {
                branches,
                otherwise,
            }
        }
        Rule::expr | Rule::unary | Rule::term => return build_expr(src, p),
        other => unreachable!("unexpected primary {:?}", other),
    };
    mk(src, kind, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_the_reference() {
        let s = parse_mapping("root = 6 - 6 / 2 + 1").unwrap();
        let Stmt::Assign { value, .. } = &s[0] else {
            panic!()
        };
        let ExprKind::Binary { op, .. } = &value.kind else {
            panic!()
        };
        assert_eq!(*op, BinOp::Add);
    }

    #[test]
    fn two_statements_on_a_line_is_an_error() {
        let e = parse_mapping("root.a = 1 root.b = 2").unwrap_err();
        assert_eq!((e.line, e.col), (1, 12));
        assert!(e.message.contains("expected line break"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = format!("root = {}1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse_mapping(&src)
            .unwrap_err()
            .message
            .contains("nested too deeply"));
    }
}
