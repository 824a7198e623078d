//! The runtime helpers JIT-compiled code calls for dynamic operations.
//!
//! Each helper is a thin `extern "C"` shim over the function the interpreter itself uses
//! (`Exec::path_ref`, `Exec::assign`, `arithmetic`, the standard library's `Call`), so both
//! back ends share one definition of every semantic rule. Helpers that can fail store the
//! error in `Exec::pending_error` and return 1; helpers that run library code catch panics
//! and turn them into errors (unwinding must not cross native frames).
//!
//! Slot convention: a `*mut Value` destination always holds a valid value (compiled code
//! initialises its slots to `null`), so helpers assign with `*dst = v`; a source slot that a
//! helper consumes is left `null` (`mem::take`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::EvalError;
use crate::interp::{self, Call, Caps, Exec, Scope};
use crate::ir::{Base, Expr, Target};
use crate::syntax::BinOp;
use crate::value::{Object, Value};

use super::CallSite;

type ExecPtr = *mut Exec<'static>;
type ScopePtr = *const Scope<'static>;

/// The binary operators, by the code compiled code passes for them.
pub(crate) const BINOPS: [BinOp; 12] = [
    BinOp::Eq,
    BinOp::Neq,
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::Mod,
    BinOp::Gt,
    BinOp::Gte,
    BinOp::Lt,
    BinOp::Lte,
    BinOp::Coalesce,
];

/// The code of an operator in [`BINOPS`].
pub(crate) fn binop_code(op: BinOp) -> u64 {
    BINOPS.iter().position(|o| *o == op).unwrap_or(0) as u64
}

unsafe fn fail(ex: ExecPtr, e: EvalError) -> u32 {
    (*ex).pending_error = Some(e);
    1
}

/// Runs `f`, storing its error (or a panic turned into one) for the compiled caller.
unsafe fn guard(ex: ExecPtr, f: impl FnOnce() -> Result<(), EvalError>) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(ex, e),
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            fail(ex, EvalError::new(format!("internal error: {}", what)))
        }
    }
}

/// Drops `n` slots starting at `base` and leaves them `null` for reuse.
pub(crate) unsafe extern "C" fn drop_slots(base: *mut Value, n: u64) {
    for i in 0..n as usize {
        let p = base.add(i);
        // Numbers, booleans and sentinels own nothing: skip the call.
        if !matches!(
            *p,
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_)
        ) {
            *p = Value::Null;
        }
    }
}

/// `dst = clone(constant)`.
pub(crate) unsafe extern "C" fn constant(c: *const Value, dst: *mut Value) {
    *dst = (*c).clone();
}

/// `dst = path` (an `Expr::Path`), copied.
pub(crate) unsafe extern "C" fn path(
    ex: ExecPtr,
    scope: ScopePtr,
    e: *const Expr,
    dst: *mut Value,
) -> u32 {
    let Expr::Path { base, path, .. } = &*e else {
        return fail(ex, EvalError::new("internal error: not a path"));
    };
    // A copy can be as large as the input: straight-line native code copying it again and
    // again must meet the memory check, as the interpreter's `eval` does.
    if let Err(err) = crate::limits::check() {
        return fail(ex, err);
    }
    match (*ex).path_ref(*base, path, &*scope) {
        Ok(v) => {
            *dst = v.clone();
            0
        }
        Err(err) => fail(ex, err),
    }
}

/// The value an `Expr::Path` from `this` or a lambda parameter reads, borrowed; null on
/// error (stored).
pub(crate) unsafe extern "C" fn path_ref(
    ex: ExecPtr,
    scope: ScopePtr,
    e: *const Expr,
) -> *const Value {
    let Expr::Path { base, path, .. } = &*e else {
        fail(ex, EvalError::new("internal error: not a path"));
        return std::ptr::null();
    };
    debug_assert!(*base != Base::Root, "root paths are copied, never borrowed");
    match (*ex).path_ref(*base, path, &*scope) {
        Ok(v) => v as *const Value,
        Err(err) => {
            fail(ex, err);
            std::ptr::null()
        }
    }
}

/// `this` of the scope (a `match` body's subject), borrowed.
pub(crate) unsafe extern "C" fn this_ref(scope: ScopePtr) -> *const Value {
    (*scope).this as *const Value
}

/// `dst = take_path(src, path)` for an `Expr::Field`.
pub(crate) unsafe extern "C" fn field(e: *const Expr, src: *mut Value, dst: *mut Value) {
    if let Expr::Field { path, .. } = &*e {
        *dst = interp::take_path(std::mem::take(&mut *src), path);
    }
}

/// `dst = $name`.
pub(crate) unsafe extern "C" fn var(ex: ExecPtr, name: *const String, dst: *mut Value) -> u32 {
    if let Err(err) = crate::limits::check() {
        return fail(ex, err);
    }
    match (*ex).vars.get(&*name) {
        Some(v) => {
            *dst = v.clone();
            0
        }
        None => fail(
            ex,
            EvalError::new(format!("variable '{}' undefined", &*name)),
        ),
    }
}

/// `dst = @key` or `dst = @`.
pub(crate) unsafe extern "C" fn meta(ex: ExecPtr, key: *const Option<String>, dst: *mut Value) {
    *dst = match &*key {
        Some(k) => (*ex).meta.get(k).cloned().unwrap_or(Value::Null),
        None => Value::Object((*ex).meta.clone()),
    };
}

/// `dst = []` with room for `cap` items.
pub(crate) unsafe extern "C" fn array_new(dst: *mut Value, cap: u64) {
    *dst = Value::Array(Vec::with_capacity(cap as usize));
}

/// Appends `item` (taken) to the array in `arr`, skipping nothing and deleted values.
pub(crate) unsafe extern "C" fn array_push(arr: *mut Value, item: *mut Value) {
    let item = std::mem::take(&mut *item);
    if let (Value::Array(a), false) = (&mut *arr, matches!(item, Value::Deleted | Value::Nothing)) {
        a.push(item);
    }
}

/// `dst = {}`.
pub(crate) unsafe extern "C" fn object_new(dst: *mut Value) {
    *dst = Value::Object(Object::new());
}

/// Checks that an object key evaluated to a string.
pub(crate) unsafe extern "C" fn check_key(ex: ExecPtr, key: *const Value) -> u32 {
    match &*key {
        Value::Str(_) => 0,
        other => fail(
            ex,
            EvalError::new(format!(
                "object keys must be strings, received: {}",
                other.type_name()
            )),
        ),
    }
}

/// Inserts `key: val` (both taken) into the object in `obj`, skipping nothing and deleted
/// values.
pub(crate) unsafe extern "C" fn object_insert(obj: *mut Value, key: *mut Value, val: *mut Value) {
    let (Value::Str(k), Value::Object(o)) = (std::mem::take(&mut *key), &mut *obj) else {
        return;
    };
    match std::mem::take(&mut *val) {
        Value::Deleted | Value::Nothing => {}
        v => {
            o.insert(k, v);
        }
    }
}

/// Calls a function or method through the standard library. `target` is the method's
/// receiver (taken), null for a function.
pub(crate) unsafe extern "C" fn call(
    ex: ExecPtr,
    scope: ScopePtr,
    site: *const CallSite,
    target: *mut Value,
    dst: *mut Value,
) -> u32 {
    let site = &*site;
    guard(ex, || {
        crate::limits::check()?;
        let v = match &*site.expr {
            Expr::Function {
                spec,
                args,
                site: st,
            } => {
                let mut call = Call {
                    exec: &mut *ex,
                    scope: &*scope,
                    args,
                    site: st,
                    thunks: Some(&site.args),
                };
                (spec.imp)(&mut call)?
            }
            Expr::Method {
                spec,
                target: texpr,
                args,
                site: st,
            } => {
                let t = std::mem::take(&mut *target);
                let mut call = Call {
                    exec: &mut *ex,
                    scope: &*scope,
                    args,
                    site: st,
                    thunks: Some(&site.args),
                };
                (spec.imp)(&mut call, t).map_err(|err| interp::method_error(texpr, err))?
            }
            _ => return Err(EvalError::new("internal error: not a call")),
        };
        *dst = v;
        Ok(())
    })
}

/// `dst = a op b` through the interpreter's operator table (the slow path of compiled
/// arithmetic and comparisons).
pub(crate) unsafe extern "C" fn binary(
    ex: ExecPtr,
    op: u64,
    a: *const Value,
    b: *const Value,
    dst: *mut Value,
) -> u32 {
    guard(ex, || {
        *dst = interp::arithmetic(BINOPS[op as usize], (*a).clone(), (*b).clone())?;
        Ok(())
    })
}

/// `a == c` as Bloblang compares values (1 or 0).
pub(crate) unsafe extern "C" fn equals(a: *const Value, c: *const Value) -> u32 {
    (*a == *c) as u32
}

/// `this == c` for a subject-less `match` case: 1, 0, or 2 when `this` failed to parse
/// (error stored).
pub(crate) unsafe extern "C" fn this_equals(ex: ExecPtr, scope: ScopePtr, c: *const Value) -> u32 {
    let scope = &*scope;
    if let Some(err) = scope.this_error {
        fail(ex, err.clone());
        return 2;
    }
    (*scope.this == *c) as u32
}

/// Stores "expected bool" (`what` = 0) or "expected number" (1) for `v`; returns 1.
pub(crate) unsafe extern "C" fn expected(ex: ExecPtr, what: u64, v: *const Value) -> u32 {
    let w = if what == 0 { "bool" } else { "number" };
    fail(ex, EvalError::expected(w, &*v))
}

/// Discards the stored error (a `.catch`, `.or` or `|` fallback takes over).
pub(crate) unsafe extern "C" fn clear_error(ex: ExecPtr) {
    (*ex).pending_error = None;
}

/// `.catch(err -> body)`: runs the body with the stored error's message bound.
pub(crate) unsafe extern "C" fn catch_lambda(
    ex: ExecPtr,
    scope: ScopePtr,
    thunk: u64,
    dst: *mut Value,
) -> u32 {
    let msg = (*ex)
        .pending_error
        .take()
        .map(|e| e.message)
        .unwrap_or_default();
    run_binding(ex, scope, &Value::Str(msg), thunk, dst)
}

/// `target.(body)` and query arguments: `body` with `ctx` as its context.
pub(crate) unsafe extern "C" fn apply(
    ex: ExecPtr,
    scope: ScopePtr,
    thunk: u64,
    lambda: u64,
    ctx: *const Value,
    dst: *mut Value,
) -> u32 {
    let Some(jit) = (*ex).jit else {
        return fail(ex, EvalError::new("internal error: no native code"));
    };
    let t = super::ArgThunk {
        index: thunk as u32,
        lambda: lambda != 0,
        value: thunk as u32,
    };
    store(ex, jit.apply_thunk(&mut *ex, &*scope, &t, &*ctx), dst)
}

/// A lambda evaluated as a value: its parameter bound to `this`.
pub(crate) unsafe extern "C" fn lambda(
    ex: ExecPtr,
    scope: ScopePtr,
    thunk: u64,
    dst: *mut Value,
) -> u32 {
    run_binding(ex, scope, (*scope).this, thunk, dst)
}

/// A `match` body with `this` rebound to the subject.
pub(crate) unsafe extern "C" fn with_this(
    ex: ExecPtr,
    scope: ScopePtr,
    subject: *const Value,
    thunk: u64,
    dst: *mut Value,
) -> u32 {
    let inner = (*scope).with_this(&*subject);
    run(ex, &inner, thunk, dst)
}

/// Runs function `thunk` with `value` bound as the innermost lambda parameter.
unsafe fn run_binding(
    ex: ExecPtr,
    scope: ScopePtr,
    value: &Value,
    thunk: u64,
    dst: *mut Value,
) -> u32 {
    let caps = Caps {
        value,
        parent: (*scope).caps,
    };
    let inner = (*scope).with_capture(&caps);
    run(ex, &inner, thunk, dst)
}

unsafe fn run(ex: ExecPtr, scope: &Scope, thunk: u64, dst: *mut Value) -> u32 {
    let Some(jit) = (*ex).jit else {
        return fail(ex, EvalError::new("internal error: no native code"));
    };
    store(ex, jit.run_thunk(&mut *ex, scope, thunk as u32), dst)
}

/// Writes a result into `dst`, or stores its error.
unsafe fn store(ex: ExecPtr, r: Result<Value, EvalError>, dst: *mut Value) -> u32 {
    match r {
        Ok(v) => {
            *dst = v;
            0
        }
        Err(e) => fail(ex, e),
    }
}

/// `target = src` (taken), as a statement on source line `line`.
pub(crate) unsafe extern "C" fn assign(
    ex: ExecPtr,
    target: *const Target,
    src: *mut Value,
    line: u64,
) -> u32 {
    let v = std::mem::take(&mut *src);
    guard(ex, || {
        (*ex).assign(&*target, v).map_err(|e| {
            EvalError::new(format!("failed assignment (line {}): {}", line, e.message))
        })
    })
}

/// Words the stored error as a failed assignment on `line`.
pub(crate) unsafe extern "C" fn wrap_line(ex: ExecPtr, line: u64) {
    if let Some(e) = (*ex).pending_error.take() {
        (*ex).pending_error = Some(EvalError::new(format!(
            "failed assignment (line {}): {}",
            line, e.message
        )));
    }
}

/// Stores "expected bool" for an `if` condition or `match` case that is not one.
pub(crate) unsafe extern "C" fn expected_bool(ex: ExecPtr, v: *const Value) -> u32 {
    expected(ex, 0, v)
}
