//! The native back end: the typed IR compiled to machine code with Cranelift.
//!
//! The JIT is a second back end for the same [`Program`]; the interpreter ([`crate::interp`])
//! stays the reference, and the JIT must agree with it on every input (the differential
//! tests in `compiler/tests/differential.rs` check this over the conformance cases and
//! random programs).
//!
//! How the split works:
//! - [`codegen`] lowers statements and expressions to Cranelift IR. Control flow (`if`,
//!   `match`, `&&`/`||`, `.catch`/`.or`/`|`), integer and float arithmetic and comparisons,
//!   boolean logic and literal `match` cases run as native code, guarded by tag tests on the
//!   fixed [`Value`] layout; anything dynamic (string work, method calls, building objects,
//!   path lookups with keys interned in the IR) calls a helper in [`helpers`], which calls
//!   the very functions the interpreter uses. Path reads that only feed a comparison or an
//!   operator borrow the value from the document instead of copying it.
//! - Query arguments (lambdas, `map_each` bodies), `match` bodies that rebind `this`, and
//!   named maps are compiled as separate functions ("thunks") that the standard library
//!   calls back through [`crate::interp::Call`].
//! - Every compiled function has one signature, `fn(exec, scope, out) -> status`: it writes
//!   its result into `out` and returns 0, or leaves its error in the execution state and
//!   returns 1. Temporaries live in one stack area of [`Value`] slots, initialised to `null`
//!   on entry and dropped on every exit, so no path leaks.
//!
//! If compilation fails for any reason, [`crate::Mapping`] keeps the interpreter, logs a
//! warning and counts it ([`fallback_count`]).

mod codegen;
mod helpers;
mod plan;
mod raw;
mod scan;
mod swar;

pub use plan::Layered;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};

use crate::error::EvalError;
use crate::interp::{Caps, Exec, Scope};
use crate::ir::{Program, Stmt};
use crate::value::Value;

/// Why a program could not be compiled to native code.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The host has no Cranelift back end, or its flags were refused.
    #[error("no native code generator for this host: {0}")]
    Host(String),
    /// Cranelift rejected a function.
    #[error("code generation failed: {0}")]
    Codegen(String),
}

/// The signature every compiled function has: `(exec, scope, out) -> status`.
pub(crate) type ThunkFn =
    unsafe extern "C" fn(*mut Exec<'static>, *const Scope<'static>, *mut Value) -> u32;

/// A call argument compiled as its own function.
#[derive(Debug, Clone, Copy)]
pub struct ArgThunk {
    /// Index of the function that evaluates the argument with a context (`Call::apply`).
    pub(crate) index: u32,
    /// True when the argument is a lambda `x -> body` and function `index` is its body (the
    /// parameter is bound by the caller); false when it is the whole argument.
    pub(crate) lambda: bool,
    /// Index of the function that evaluates the argument as a value (`Call::value`).
    pub(crate) value: u32,
}

impl ArgThunk {
    /// No function: the argument is a constant, evaluated from the IR.
    pub(crate) const NONE: u32 = u32::MAX;
}

/// The per-call-site data compiled code hands to the call helper: the IR node and the native
/// functions of its arguments.
pub(crate) struct CallSite {
    pub(crate) expr: *const crate::ir::Expr,
    pub(crate) args: Vec<ArgThunk>,
}

static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Counts a mapping that fell back to the interpreter.
pub(crate) fn count_fallback() {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// How many mappings this process compiled with the interpreter because the JIT failed.
pub fn fallback_count() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// The host's code generator, built once per process (detecting the CPU and building the
/// settings is a large share of compiling a small mapping).
fn host_isa() -> Result<cranelift_codegen::isa::OwnedTargetIsa, JitError> {
    static ISA: std::sync::OnceLock<Result<cranelift_codegen::isa::OwnedTargetIsa, String>> =
        std::sync::OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        for (k, v) in [
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
            ("opt_level", "speed"),
        ] {
            flags.set(k, v).map_err(|e| e.to_string())?;
        }
        cranelift_native::builder()
            .map_err(|e| e.to_string())?
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(JitError::Host)
}

/// A program compiled to native code: the functions, the data they point at, and the module
/// that owns the code memory (freed on drop).
pub struct JitCode {
    module: Option<JITModule>,
    /// Function 0 is the program's top-level statements; the rest are thunks.
    fns: Vec<ThunkFn>,
    /// Named maps, by name, to their function index.
    maps: HashMap<String, u32>,
    /// Call-site descriptors the code points at (boxed: their addresses are baked in).
    #[allow(clippy::vec_box)]
    _sites: Vec<Box<CallSite>>,
    /// The Cranelift IR text of each function, when asked for (`--emit clif`).
    clif: Vec<String>,
    /// The raw-payload plan for the program's shape, if it has one.
    plan: Option<plan::Plan>,
}

// SAFETY: after `finalize_definitions` the code and the data it points at (the IR, the
// call-site boxes) are immutable; per-run state lives in the `Exec` each caller owns, and the
// only shared mutable state the helpers reach (call-site `Site`s) is behind a mutex.
unsafe impl Send for JitCode {}
// SAFETY: as above.
unsafe impl Sync for JitCode {}

impl std::fmt::Debug for JitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitCode")
            .field("functions", &self.fns.len())
            .field("maps", &self.maps.len())
            .finish()
    }
}

impl Drop for JitCode {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the functions are only reachable through `self`, which is going away.
            unsafe { m.free_memory() };
        }
    }
}

impl JitCode {
    /// Compiles `program` (which must outlive the result and never change: the code points
    /// into it). With `keep_clif`, the Cranelift IR text of every function is kept.
    pub fn compile(program: &Program, keep_clif: bool) -> Result<JitCode, JitError> {
        let isa = host_isa()?;
        let builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        let module = JITModule::new(builder);
        let splice = plan::splice(program);
        // A bug in code generation must cost a fallback to the interpreter, not the process.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            codegen::compile_program(module, program, splice.as_ref().map(|s| s.0), keep_clif)
        }))
        .map_err(|_| JitError::Codegen("the code generator panicked".into()))??;
        let plan = match (plan::projection(program), splice, out.extra) {
            (Some(fields), _, _) => {
                let paths: Vec<Vec<String>> = fields.iter().map(|(_, p)| p.clone()).collect();
                Some(plan::Plan::Project(
                    plan::projected_fields(fields),
                    scan::PathSpans::new(&paths),
                ))
            }
            (None, Some((_, copies_this, access)), Some(body)) => Some(plan::Plan::Splice {
                body,
                access,
                copies_this,
                this: Default::default(),
            }),
            _ => None,
        };
        Ok(JitCode {
            plan,
            module: Some(out.module),
            fns: out.fns,
            maps: out.maps,
            _sites: out.sites,
            clif: out.clif,
        })
    }

    /// The Cranelift IR of each compiled function (empty unless compiled with `keep_clif`).
    pub fn clif(&self) -> &[String] {
        &self.clif
    }

    /// Runs the program's top-level statements.
    pub(crate) fn run_main(&self, ex: &mut Exec, scope: &Scope) -> Result<(), EvalError> {
        let mut out = Value::Null;
        self.call(0, ex, scope, &mut out)
    }

    /// Runs the program's raw-payload plan, when it has one that applies to this message
    /// (see [`plan`]); `None` sends the message down the general path.
    pub(crate) fn run_plan(
        &self,
        program: &Program,
        msg: &crate::interp::Message,
        mutation: bool,
    ) -> Option<Result<crate::interp::MappingOutcome, EvalError>> {
        match self.plan.as_ref()? {
            // A mutation parses the whole input first (and fails on any of it); a projection
            // validates like the partial parse of `mapping`.
            plan::Plan::Project(..) if mutation => None,
            plan::Plan::Project(fields, paths) => plan::run_project(fields, paths, msg).map(Ok),
            plan::Plan::Splice {
                body,
                access,
                copies_this,
                this,
            } if *copies_this || mutation => {
                plan::run_splice(self, program, *body, access, this, msg)
            }
            plan::Plan::Splice { .. } => None,
        }
    }

    /// True when the program's plan can run on a [`Layered`] document in this mode.
    pub(crate) fn runs_layered(&self, mutation: bool) -> bool {
        match &self.plan {
            Some(plan::Plan::Project(..)) => !mutation,
            Some(plan::Plan::Splice { copies_this, .. }) => *copies_this || mutation,
            None => false,
        }
    }

    /// Runs the program's plan on a layered document (see [`crate::Mapping::run_layered`]).
    pub(crate) fn run_layered(
        &self,
        program: &Program,
        doc: &mut Layered,
        msg: &crate::interp::Message,
        mutation: bool,
    ) -> Option<Result<crate::value::Object, EvalError>> {
        if !self.runs_layered(mutation) {
            return None;
        }
        match self.plan.as_ref()? {
            plan::Plan::Project(fields, _) => plan::project_layered(fields, doc, msg).map(Ok),
            plan::Plan::Splice {
                body, access, this, ..
            } => plan::splice_layered(self, program, *body, access, this, doc, msg),
        }
    }

    /// Runs function `index` with `scope`, writing its result into `out`.
    pub(crate) fn call(
        &self,
        index: u32,
        ex: &mut Exec,
        scope: &Scope,
        out: &mut Value,
    ) -> Result<(), EvalError> {
        // Every native function entry (thunks, lambdas, match bodies, named maps) checks the
        // evaluation's limits: the native frames live on the same stack.
        crate::limits::check()?;
        let f = self.fns[index as usize];
        // SAFETY: every function in the table was compiled for this signature; the pointers
        // are live for the call; lifetimes are erased only for the duration of the call.
        let status = unsafe {
            f(
                std::ptr::from_mut(ex).cast(),
                std::ptr::from_ref(scope).cast(),
                out,
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(ex
                .pending_error
                .take()
                .unwrap_or_else(|| EvalError::new("native code failed without an error")))
        }
    }

    /// Evaluates a value argument's function in the caller's scope.
    pub(crate) fn run_thunk(
        &self,
        ex: &mut Exec,
        scope: &Scope,
        index: u32,
    ) -> Result<Value, EvalError> {
        let mut out = Value::Null;
        self.call(index, ex, scope, &mut out)?;
        Ok(out)
    }

    /// Evaluates a query argument with `ctx` as its context, as
    /// [`Exec::apply_query`] does: a lambda binds its parameter, a plain query rebinds `this`.
    pub(crate) fn apply_thunk(
        &self,
        ex: &mut Exec,
        scope: &Scope,
        t: &ArgThunk,
        ctx: &Value,
    ) -> Result<Value, EvalError> {
        ex.depth += 1;
        if ex.depth > crate::interp::MAX_DEPTH {
            ex.depth -= 1;
            return Err(EvalError::new("maximum evaluation depth exceeded"));
        }
        let mut out = Value::Null;
        let r = if t.lambda {
            let caps = Caps {
                value: ctx,
                parent: scope.caps,
            };
            let inner = scope.with_capture(&caps);
            self.call(t.index, ex, &inner, &mut out)
        } else {
            self.call(t.index, ex, &scope.with_this(ctx), &mut out)
        };
        ex.depth -= 1;
        r.map(|_| out)
    }

    /// Runs a named map's statements (compiled when the program was), or interprets them.
    pub(crate) fn run_map(
        &self,
        ex: &mut Exec,
        scope: &Scope,
        name: &str,
        stmts: &[Stmt],
    ) -> Result<(), EvalError> {
        match self.maps.get(name) {
            Some(&i) => {
                let mut out = Value::Null;
                self.call(i, ex, scope, &mut out)
            }
            None => ex.run_stmts(stmts, scope),
        }
    }
}
