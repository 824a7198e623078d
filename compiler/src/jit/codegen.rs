//! Lowering of the IR to Cranelift IR.
//!
//! One [`FnLower`] builds one function. Expressions are lowered *into* a destination
//! [`Value`] slot (`expr_into`); conditions are lowered to a native `i8` (`cond`), and
//! operands that are only read (by operators, comparisons, `match`) to a borrowed pointer
//! (`operand`), so `this.n > 10` reads the number in place. Numbers and booleans are tested
//! and produced with native code on the fixed value layout; everything else calls
//! [`super::helpers`]. Query arguments, lambda bodies and `match` bodies that rebind `this`
//! are queued as jobs and become functions of their own.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockArg, InstBuilder, MemFlagsData, Signature, StackSlot,
    StackSlotData, StackSlotKind, Type, Value as Cv,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};

use super::helpers as h;
use super::{ArgThunk, CallSite, JitError, ThunkFn};
use crate::ir::{Base, Case, Expr, Program, Stmt};
use crate::stdlib::ParamKind;
use crate::syntax::BinOp;
use crate::value::Value;

/// The size of a value slot.
const SLOT: u32 = std::mem::size_of::<Value>() as u32;
/// Where a value's payload starts (`repr(C, u8)`: after the tag, at the union's alignment).
const PAYLOAD: i32 = 8;
/// The most slots one function may use (its frame must stay small: thunks recurse).
const MAX_SLOTS: u32 = 1024;

/// Value tags, in declaration order (`repr(C, u8)`).
const T_NULL: i64 = 0;
const T_BOOL: i64 = 1;
const T_INT: i64 = 2;
const T_FLOAT: i64 = 3;
const T_NOTHING: i64 = 9;
const T_DELETED: i64 = 10;

/// Checks at run time that the value layout is the one the code generator assumes.
fn layout_ok() -> bool {
    fn tag(v: &Value) -> u8 {
        // SAFETY: `Value` is `repr(C, u8)`: its first byte is the tag.
        unsafe { *(v as *const Value as *const u8) }
    }
    fn word(v: &Value) -> i64 {
        // SAFETY: the payload of `Int` is an i64 at offset 8 of a 40-byte value.
        unsafe { *((v as *const Value as *const u8).add(PAYLOAD as usize) as *const i64) }
    }
    tag(&Value::Null) == T_NULL as u8
        && tag(&Value::Bool(true)) == T_BOOL as u8
        && tag(&Value::Int(7)) == T_INT as u8
        && word(&Value::Int(0x1234_5678_9abc)) == 0x1234_5678_9abc
        && tag(&Value::Float(1.0)) == T_FLOAT as u8
        && tag(&Value::Nothing) == T_NOTHING as u8
        && tag(&Value::Deleted) == T_DELETED as u8
}

/// What a queued function compiles.
#[derive(Clone, Copy)]
enum Job {
    /// An expression, into `out`.
    Expr(*const Expr),
    /// The cases of a `match` whose subject is the function's `this`.
    MatchBody(*const Expr),
    /// Statements (the program, or a named map).
    Stmts(*const [Stmt]),
}

/// The result of compiling a program.
pub(crate) struct Compiled {
    pub(crate) module: JITModule,
    pub(crate) fns: Vec<ThunkFn>,
    /// The index of the extra statement list's function, if one was given.
    pub(crate) extra: Option<u32>,
    pub(crate) maps: HashMap<String, u32>,
    /// Boxed: compiled code holds their addresses, which a `Vec` would move.
    #[allow(clippy::vec_box)]
    pub(crate) sites: Vec<Box<CallSite>>,
    pub(crate) clif: Vec<String>,
}

/// Functions still to compile, and the data compiled code points at.
struct Jobs {
    queue: Vec<(u32, Job)>,
    count: u32,
    #[allow(clippy::vec_box)]
    sites: Vec<Box<CallSite>>,
}

impl Jobs {
    fn push(&mut self, job: Job) -> u32 {
        let i = self.count;
        self.count += 1;
        self.queue.push((i, job));
        i
    }
}

/// Compiles the program's statements (function 0), its named maps and every function they
/// need.
pub(crate) fn compile_program(
    mut module: JITModule,
    program: &Program,
    extra: Option<&[Stmt]>,
    keep_clif: bool,
) -> Result<Compiled, JitError> {
    if !layout_ok() {
        return Err(JitError::Host("unexpected value layout".into()));
    }
    let ptr = module.target_config().pointer_type();
    let call_conv = module.isa().default_call_conv();
    let mut sig = Signature::new(call_conv);
    sig.params = vec![AbiParam::new(ptr); 3];
    sig.returns = vec![AbiParam::new(types::I32)];

    let mut jobs = Jobs {
        queue: Vec::new(),
        count: 0,
        sites: Vec::new(),
    };
    jobs.push(Job::Stmts(program.stmts.as_slice() as *const [Stmt]));
    let mut names: Vec<&String> = program.maps.keys().collect();
    names.sort();
    let mut maps = HashMap::new();
    for n in names {
        let i = jobs.push(Job::Stmts(program.maps[n].as_slice() as *const [Stmt]));
        maps.insert(n.clone(), i);
    }
    let extra = extra.map(|s| jobs.push(Job::Stmts(s as *const [Stmt])));

    let mut ids: Vec<Option<FuncId>> = Vec::new();
    let mut clif = Vec::new();
    let mut fb_ctx = FunctionBuilderContext::new();
    let mut ctx = module.make_context();
    // Jobs are compiled in index order (a job only queues higher indices).
    let mut next = 0usize;
    while next < jobs.queue.len() {
        let (index, job) = jobs.queue[next];
        next += 1;
        let id = module
            .declare_function(&format!("f{}", index), Linkage::Local, &sig)
            .map_err(|e| JitError::Codegen(e.to_string()))?;
        if ids.len() <= index as usize {
            ids.resize(index as usize + 1, None);
        }
        ids[index as usize] = Some(id);
        ctx.func.signature = sig.clone();
        {
            let b = FunctionBuilder::new(&mut ctx.func, &mut fb_ctx);
            let slots = match job {
                // SAFETY: jobs point into `program`, borrowed for this whole function.
                Job::Expr(e) | Job::MatchBody(e) => count_expr(unsafe { &*e }),
                Job::Stmts(s) => unsafe { &*s }.iter().map(count_stmt).max().unwrap_or(0),
            };
            if slots > MAX_SLOTS {
                return Err(JitError::Codegen(format!(
                    "an expression needs {} temporaries, more than the {} native code allows",
                    slots, MAX_SLOTS
                )));
            }
            let mut f = FnLower::new(b, &mut jobs, ptr, call_conv, slots);
            // SAFETY: as above.
            match job {
                Job::Expr(e) => f.body_expr(unsafe { &*e }),
                Job::MatchBody(e) => f.body_match(unsafe { &*e }),
                Job::Stmts(s) => f.body_stmts(unsafe { &*s }),
            }
            f.finish();
            f.b.seal_all_blocks();
            f.b.finalize(module.target_config());
        }
        if keep_clif {
            clif.push(format!("; function {}\n{}", index, ctx.func.display()));
        }
        module
            .define_function(id, &mut ctx)
            .map_err(|e| JitError::Codegen(format!("{:?}", e)))?;
        module.clear_context(&mut ctx);
    }
    module
        .finalize_definitions()
        .map_err(|e| JitError::Codegen(e.to_string()))?;
    let mut fns = Vec::with_capacity(ids.len());
    for id in ids {
        let id =
            id.ok_or_else(|| JitError::Codegen("a queued function was not compiled".into()))?;
        let p = module.get_finalized_function(id);
        // SAFETY: every function was built with the `ThunkFn` signature.
        fns.push(unsafe { std::mem::transmute::<*const u8, ThunkFn>(p) });
    }
    Ok(Compiled {
        module,
        fns,
        extra,
        maps,
        sites: jobs.sites,
        clif,
    })
}

/// Slots an expression may need (an over-estimate: a node allocates at most two itself,
/// e.g. its value and a comparison's slow-path result).
fn count_expr(e: &Expr) -> u32 {
    2 + match e {
        Expr::Const(_) | Expr::Path { .. } | Expr::Var(_) | Expr::Meta(_) => 0,
        Expr::Array(items) => items.iter().map(count_expr).sum(),
        Expr::Object(items) => items
            .iter()
            .map(|(k, v)| count_expr(k) + count_expr(v))
            .sum(),
        Expr::Field { target, .. } => count_expr(target),
        // Arguments run in functions of their own.
        Expr::Function { .. } => 0,
        Expr::Method { target, .. } => count_expr(target),
        Expr::Catch { target, fallback } | Expr::Or { target, fallback } => {
            count_expr(target) + count_expr(fallback)
        }
        Expr::Capture { target, .. } => count_expr(target),
        Expr::Lambda { .. } => 0,
        Expr::Match { subject, cases } => {
            subject.as_deref().map(count_expr).unwrap_or(0)
                + cases
                    .iter()
                    .map(|(c, v)| {
                        count_expr(v)
                            + match c {
                                Case::Condition(c) => count_expr(c),
                                _ => 0,
                            }
                    })
                    .sum::<u32>()
        }
        Expr::If {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .map(|(c, v)| count_expr(c) + count_expr(v))
                .sum::<u32>()
                + otherwise.as_deref().map(count_expr).unwrap_or(0)
        }
        Expr::Binary { lhs, rhs, .. } => count_expr(lhs) + count_expr(rhs),
        Expr::Not(i) | Expr::Neg(i) => count_expr(i),
    }
}

/// Slots one statement may need (statements reuse the same slots one after another).
fn count_stmt(s: &Stmt) -> u32 {
    match s {
        Stmt::Assign { value, .. } => 1 + count_expr(value),
        // Conditions' temporaries stay live while their branch runs: count everything.
        Stmt::If {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .map(|(c, b)| count_expr(c) + b.iter().map(count_stmt).sum::<u32>())
                .sum::<u32>()
                + otherwise.iter().map(count_stmt).sum::<u32>()
        }
    }
}

/// True when evaluating `e` may depend on `this` (conservatively: calls and captures count).
fn reads_scope(e: &Expr) -> bool {
    match e {
        Expr::Const(_) | Expr::Var(_) | Expr::Meta(_) => false,
        Expr::Path { base, .. } => *base == Base::This,
        Expr::Array(items) => items.iter().any(reads_scope),
        Expr::Object(items) => items.iter().any(|(k, v)| reads_scope(k) || reads_scope(v)),
        Expr::Field { target, .. } => reads_scope(target),
        Expr::Binary { lhs, rhs, .. } => reads_scope(lhs) || reads_scope(rhs),
        Expr::Not(i) | Expr::Neg(i) => reads_scope(i),
        Expr::If {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .any(|(c, v)| reads_scope(c) || reads_scope(v))
                || otherwise.as_deref().is_some_and(reads_scope)
        }
        _ => true,
    }
}

/// The builder state of one function.
struct FnLower<'f, 'j> {
    b: FunctionBuilder<'f>,
    jobs: &'j mut Jobs,
    ptr: Type,
    call_conv: CallConv,
    ex: Cv,
    scope: Cv,
    out: Cv,
    area: Option<StackSlot>,
    nslots: u32,
    used: u32,
    /// Where a failure jumps: the innermost handler last.
    err: Vec<Block>,
    exit_ok: Block,
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl<'f, 'j> FnLower<'f, 'j> {
    fn new(
        mut b: FunctionBuilder<'f>,
        jobs: &'j mut Jobs,
        ptr: Type,
        call_conv: CallConv,
        nslots: u32,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let area = (nslots > 0).then(|| {
            b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                nslots * SLOT,
                3,
            ))
        });
        if let Some(area) = area {
            let zero = b.ins().iconst(types::I8, T_NULL);
            let ptr_ty = ptr;
            let base = b.ins().stack_addr(ptr_ty, area, 0);
            for i in 0..nslots {
                b.ins().store(flags(), zero, base, (i * SLOT) as i32);
            }
        }
        let exit_ok = b.create_block();
        let exit_err = b.create_block();
        FnLower {
            b,
            jobs,
            ptr,
            call_conv,
            ex: params[0],
            scope: params[1],
            out: params[2],
            area,
            nslots,
            used: 0,
            err: vec![exit_err],
            exit_ok,
        }
    }

    /// Fills the two exits (after the body has jumped to one of them): drop every slot,
    /// return the status.
    fn finish(&mut self) {
        let exit_err = self.err[0];
        for (block, status) in [(self.exit_ok, 0), (exit_err, 1)] {
            self.b.switch_to_block(block);
            self.drop_slots(0, self.nslots);
            let s = self.b.ins().iconst(types::I32, status);
            self.b.ins().return_(&[s]);
        }
    }

    // ---- function bodies -------------------------------------------------------------

    fn body_expr(&mut self, e: &Expr) {
        let out = self.out;
        self.expr_into(e, out);
        self.b.ins().jump(self.exit_ok, &[]);
    }

    fn body_match(&mut self, e: &Expr) {
        let Expr::Match { cases, .. } = e else {
            self.b.ins().jump(self.exit_ok, &[]);
            return;
        };
        let subj = self.call_ptr(h::this_ref as *const u8, &[self.scope]);
        let out = self.out;
        self.cases(Some(subj), cases, out);
        self.b.ins().jump(self.exit_ok, &[]);
    }

    fn body_stmts(&mut self, stmts: &[Stmt]) {
        self.stmts(stmts);
        self.b.ins().jump(self.exit_ok, &[]);
    }

    // ---- plumbing ----------------------------------------------------------------------

    fn iconst(&mut self, v: i64) -> Cv {
        self.b.ins().iconst(types::I64, v)
    }

    fn addr<T>(&mut self, p: *const T) -> Cv {
        self.b.ins().iconst(self.ptr, p as i64)
    }

    /// A fresh value slot of this statement (initialised to `null`).
    fn slot(&mut self) -> Cv {
        let area = self.area.expect("slot count was computed");
        assert!(self.used < self.nslots, "slot count under-estimated");
        let off = (self.used * SLOT) as i32;
        self.used += 1;
        self.b.ins().stack_addr(self.ptr, area, off)
    }

    fn drop_slots(&mut self, from: u32, to: u32) {
        if to <= from {
            return;
        }
        let area = self.area.expect("slots exist");
        let base = self
            .b
            .ins()
            .stack_addr(self.ptr, area, (from * SLOT) as i32);
        let n = self.iconst((to - from) as i64);
        self.call_void(h::drop_slots as *const u8, &[base, n]);
    }

    fn emit_call(&mut self, f: *const u8, args: &[Cv], ret: Option<Type>) -> Option<Cv> {
        let mut sig = Signature::new(self.call_conv);
        for a in args {
            sig.params
                .push(AbiParam::new(self.b.func.dfg.value_type(*a)));
        }
        if let Some(r) = ret {
            sig.returns.push(AbiParam::new(r));
        }
        let sigref = self.b.import_signature(sig);
        let callee = self.b.ins().iconst(self.ptr, f as i64);
        let inst = self.b.ins().call_indirect(sigref, callee, args);
        ret.map(|_| self.b.inst_results(inst)[0])
    }

    fn call_void(&mut self, f: *const u8, args: &[Cv]) {
        self.emit_call(f, args, None);
    }

    fn call_status(&mut self, f: *const u8, args: &[Cv]) -> Cv {
        self.emit_call(f, args, Some(types::I32))
            .expect("has a result")
    }

    fn call_ptr(&mut self, f: *const u8, args: &[Cv]) -> Cv {
        let ptr = self.ptr;
        self.emit_call(f, args, Some(ptr)).expect("has a result")
    }

    /// Continues when `status` is 0, jumps to the current error handler otherwise.
    fn check(&mut self, status: Cv) {
        let cont = self.b.create_block();
        let err = *self.err.last().expect("an error handler");
        self.b.ins().brif(status, err, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// A helper call that returns a status, checked.
    fn call_checked(&mut self, f: *const u8, args: &[Cv]) {
        let s = self.call_status(f, args);
        self.check(s);
    }

    fn tag(&mut self, p: Cv) -> Cv {
        self.b.ins().load(types::I8, flags(), p, 0)
    }

    fn store_tag(&mut self, p: Cv, tag: i64) {
        let t = self.b.ins().iconst(types::I8, tag);
        self.b.ins().store(flags(), t, p, 0);
    }

    fn store_int(&mut self, p: Cv, v: Cv) {
        self.store_tag(p, T_INT);
        self.b.ins().store(flags(), v, p, PAYLOAD);
    }

    fn store_float(&mut self, p: Cv, v: Cv) {
        self.store_tag(p, T_FLOAT);
        self.b.ins().store(flags(), v, p, PAYLOAD);
    }

    fn store_bool(&mut self, p: Cv, v: Cv) {
        self.store_tag(p, T_BOOL);
        self.b.ins().store(flags(), v, p, PAYLOAD);
    }

    /// Moves the value in slot `src` to `dst` (a fresh slot) natively, leaving `src` null.
    fn move_slot(&mut self, src: Cv, dst: Cv) {
        for off in (0..SLOT as i32).step_by(8) {
            let w = self.b.ins().load(types::I64, flags(), src, off);
            self.b.ins().store(flags(), w, dst, off);
        }
        self.store_tag(src, T_NULL);
    }

    /// The payloads of two values, as numbers of type `ty`.
    fn payloads(&mut self, a: Cv, b: Cv, ty: Type) -> (Cv, Cv) {
        let x = self.b.ins().load(ty, flags(), a, PAYLOAD);
        let y = self.b.ins().load(ty, flags(), b, PAYLOAD);
        (x, y)
    }

    /// `tag(a) == t && tag(b) == t`.
    fn both_tagged(&mut self, a: Cv, b: Cv, t: i64) -> Cv {
        let ta = self.tag(a);
        let tb = self.tag(b);
        let ea = self.b.ins().icmp_imm_s(IntCC::Equal, ta, t);
        let eb = self.b.ins().icmp_imm_s(IntCC::Equal, tb, t);
        self.b.ins().band(ea, eb)
    }

    fn thunk(&mut self, e: &Expr) -> u32 {
        self.jobs.push(Job::Expr(e as *const Expr))
    }

    // ---- statements --------------------------------------------------------------------

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            let mark = self.used;
            self.stmt(s);
            // The statement's temporaries are dead: release them for the next one.
            self.drop_slots(mark, self.used);
            self.used = mark;
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Assign {
                target,
                value,
                line,
            } => {
                let tmp = self.slot();
                let wrap = self.b.create_block();
                self.err.push(wrap);
                self.expr_into(value, tmp);
                self.err.pop();
                let t = self.addr(target as *const _);
                let l = self.iconst(*line as i64);
                self.call_checked(h::assign as *const u8, &[self.ex, t, tmp, l]);
                let done = self.b.create_block();
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(wrap);
                let l = self.iconst(*line as i64);
                self.call_void(h::wrap_line as *const u8, &[self.ex, l]);
                let err = *self.err.last().expect("handler");
                self.b.ins().jump(err, &[]);
                self.b.switch_to_block(done);
            }
            Stmt::If {
                branches,
                otherwise,
            } => {
                let done = self.b.create_block();
                for (c, body) in branches {
                    let hit = self.cond(c);
                    let then = self.b.create_block();
                    let next = self.b.create_block();
                    self.b.ins().brif(hit, then, &[], next, &[]);
                    self.b.switch_to_block(then);
                    self.stmts(body);
                    self.b.ins().jump(done, &[]);
                    self.b.switch_to_block(next);
                }
                self.stmts(otherwise);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
        }
    }

    // ---- expressions -------------------------------------------------------------------

    /// Evaluates `e` into `dst`, which holds `null` and is written once.
    fn expr_into(&mut self, e: &Expr, dst: Cv) {
        match e {
            Expr::Const(v) => self.constant(v, dst),
            Expr::Array(items) => {
                let cap = self.iconst(items.len() as i64);
                self.call_void(h::array_new as *const u8, &[dst, cap]);
                for i in items {
                    let tmp = self.slot();
                    self.expr_into(i, tmp);
                    self.call_void(h::array_push as *const u8, &[dst, tmp]);
                }
            }
            Expr::Object(items) => {
                self.call_void(h::object_new as *const u8, &[dst]);
                for (k, v) in items {
                    let ks = self.slot();
                    self.expr_into(k, ks);
                    if !matches!(k, Expr::Const(Value::Str(_))) {
                        self.call_checked(h::check_key as *const u8, &[self.ex, ks]);
                    }
                    let vs = self.slot();
                    self.expr_into(v, vs);
                    self.call_void(h::object_insert as *const u8, &[dst, ks, vs]);
                }
            }
            Expr::Path { .. } => {
                let p = self.addr(e as *const Expr);
                self.call_checked(h::path as *const u8, &[self.ex, self.scope, p, dst]);
            }
            Expr::Field { target, .. } => {
                let tmp = self.slot();
                self.expr_into(target, tmp);
                let p = self.addr(e as *const Expr);
                self.call_void(h::field as *const u8, &[p, tmp, dst]);
            }
            Expr::Var(name) => {
                let n = self.addr(name as *const String);
                self.call_checked(h::var as *const u8, &[self.ex, n, dst]);
            }
            Expr::Meta(key) => {
                let k = self.addr(key as *const Option<String>);
                self.call_void(h::meta as *const u8, &[self.ex, k, dst]);
            }
            Expr::Function { spec, args, .. } => {
                let site = self.call_site(e, spec.params, args);
                let null = self.b.ins().iconst(self.ptr, 0);
                self.call_checked(
                    h::call as *const u8,
                    &[self.ex, self.scope, site, null, dst],
                );
            }
            Expr::Method {
                spec, target, args, ..
            } => {
                let tmp = self.slot();
                self.expr_into(target, tmp);
                let site = self.call_site(e, spec.params, args);
                self.call_checked(h::call as *const u8, &[self.ex, self.scope, site, tmp, dst]);
            }
            Expr::Catch { target, fallback } => {
                let tmp = self.slot();
                let failed = self.b.create_block();
                let done = self.b.create_block();
                self.err.push(failed);
                self.expr_into(target, tmp);
                self.err.pop();
                self.move_slot(tmp, dst);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(failed);
                match &**fallback {
                    Expr::Lambda { body } => {
                        let t = self.thunk(body);
                        let t = self.iconst(t as i64);
                        self.call_checked(
                            h::catch_lambda as *const u8,
                            &[self.ex, self.scope, t, dst],
                        );
                    }
                    other => {
                        self.call_void(h::clear_error as *const u8, &[self.ex]);
                        self.expr_into(other, dst);
                    }
                }
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
            Expr::Or { target, fallback } => self.or_else(target, fallback, dst),
            Expr::Capture { target, body } => {
                let tmp = self.slot();
                self.expr_into(target, tmp);
                let (t, lambda) = match &**body {
                    Expr::Lambda { body } => (self.thunk(body), 1),
                    other => (self.thunk(other), 0),
                };
                let t = self.iconst(t as i64);
                let l = self.iconst(lambda);
                self.call_checked(
                    h::apply as *const u8,
                    &[self.ex, self.scope, t, l, tmp, dst],
                );
            }
            Expr::Lambda { body } => {
                let t = self.thunk(body);
                let t = self.iconst(t as i64);
                self.call_checked(h::lambda as *const u8, &[self.ex, self.scope, t, dst]);
            }
            Expr::Match { subject, cases } => match subject {
                Some(s) => {
                    let needs_scope = cases.iter().any(|(c, v)| {
                        reads_scope(v) || matches!(c, Case::Condition(c) if reads_scope(c))
                    });
                    if needs_scope {
                        let subj = self.operand(s);
                        let t = self.jobs.push(Job::MatchBody(e as *const Expr));
                        let t = self.iconst(t as i64);
                        self.call_checked(
                            h::with_this as *const u8,
                            &[self.ex, self.scope, subj, t, dst],
                        );
                    } else {
                        let subj = self.operand(s);
                        self.cases(Some(subj), cases, dst);
                    }
                }
                None => self.cases(None, cases, dst),
            },
            Expr::If {
                branches,
                otherwise,
            } => {
                let done = self.b.create_block();
                for (c, v) in branches {
                    let hit = self.cond(c);
                    let then = self.b.create_block();
                    let next = self.b.create_block();
                    self.b.ins().brif(hit, then, &[], next, &[]);
                    self.b.switch_to_block(then);
                    self.expr_into(v, dst);
                    self.b.ins().jump(done, &[]);
                    self.b.switch_to_block(next);
                }
                match otherwise {
                    Some(o) => self.expr_into(o, dst),
                    None => self.store_tag(dst, T_NOTHING),
                }
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
            Expr::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, dst),
            Expr::Not(_) => {
                let v = self.cond(e);
                self.store_bool(dst, v);
            }
            Expr::Neg(inner) => {
                let a = self.operand(inner);
                let ta = self.tag(a);
                let is_int = self.b.ins().icmp_imm_s(IntCC::Equal, ta, T_INT);
                let int_b = self.b.create_block();
                let not_int = self.b.create_block();
                let float_b = self.b.create_block();
                let bad = self.b.create_block();
                let done = self.b.create_block();
                self.b.ins().brif(is_int, int_b, &[], not_int, &[]);
                self.b.switch_to_block(int_b);
                let x = self.b.ins().load(types::I64, flags(), a, PAYLOAD);
                let n = self.b.ins().ineg(x);
                self.store_int(dst, n);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(not_int);
                let is_float = self.b.ins().icmp_imm_s(IntCC::Equal, ta, T_FLOAT);
                self.b.ins().brif(is_float, float_b, &[], bad, &[]);
                self.b.switch_to_block(float_b);
                let x = self.b.ins().load(types::F64, flags(), a, PAYLOAD);
                let n = self.b.ins().fneg(x);
                self.store_float(dst, n);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(bad);
                let one = self.iconst(1);
                let s = self.call_status(h::expected as *const u8, &[self.ex, one, a]);
                self.check(s);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
        }
    }

    fn constant(&mut self, v: &Value, dst: Cv) {
        match v {
            Value::Null => self.store_tag(dst, T_NULL),
            Value::Nothing => self.store_tag(dst, T_NOTHING),
            Value::Deleted => self.store_tag(dst, T_DELETED),
            Value::Bool(x) => {
                let c = self.b.ins().iconst(types::I8, *x as i64);
                self.store_bool(dst, c);
            }
            Value::Int(i) => {
                let c = self.iconst(*i);
                self.store_int(dst, c);
            }
            Value::Float(f) => {
                let c = self.b.ins().f64const(*f);
                self.store_float(dst, c);
            }
            other => {
                let c = self.addr(other as *const Value);
                self.call_void(h::constant as *const u8, &[c, dst]);
            }
        }
    }

    /// A pointer to the value of `e`, to be read and not consumed: borrowed from the
    /// document for paths from `this` or a lambda parameter, the constant itself for
    /// constants, otherwise a fresh slot.
    fn operand(&mut self, e: &Expr) -> Cv {
        match e {
            Expr::Path {
                base: Base::This | Base::Capture(_),
                ..
            } => {
                let p = self.addr(e as *const Expr);
                let r = self.call_ptr(h::path_ref as *const u8, &[self.ex, self.scope, p]);
                let cont = self.b.create_block();
                let err = *self.err.last().expect("handler");
                self.b.ins().brif(r, cont, &[], err, &[]);
                self.b.switch_to_block(cont);
                r
            }
            Expr::Const(v) => self.addr(v as *const Value),
            _ => {
                let tmp = self.slot();
                self.expr_into(e, tmp);
                tmp
            }
        }
    }

    /// `target.or(fallback)` and `target | fallback`: the fallback on error, null or nothing.
    fn or_else(&mut self, target: &Expr, fallback: &Expr, dst: Cv) {
        let tmp = self.slot();
        let failed = self.b.create_block();
        let use_fallback = self.b.create_block();
        let keep = self.b.create_block();
        let done = self.b.create_block();
        self.err.push(failed);
        self.expr_into(target, tmp);
        self.err.pop();
        let t = self.tag(tmp);
        let is_null = self.b.ins().icmp_imm_s(IntCC::Equal, t, T_NULL);
        let is_nothing = self.b.ins().icmp_imm_s(IntCC::Equal, t, T_NOTHING);
        let empty = self.b.ins().bor(is_null, is_nothing);
        self.b.ins().brif(empty, use_fallback, &[], keep, &[]);
        self.b.switch_to_block(keep);
        self.move_slot(tmp, dst);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(failed);
        self.call_void(h::clear_error as *const u8, &[self.ex]);
        self.b.ins().jump(use_fallback, &[]);
        self.b.switch_to_block(use_fallback);
        self.expr_into(fallback, dst);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// The cases of a `match`, in order; no case matching gives nothing.
    fn cases(&mut self, subj: Option<Cv>, cases: &[(Case, Expr)], dst: Cv) {
        let done = self.b.create_block();
        for (case, value) in cases {
            let hit = match case {
                Case::Wildcard => {
                    self.expr_into(value, dst);
                    self.b.ins().jump(done, &[]);
                    // Later cases are unreachable; keep building into a dead block.
                    let dead = self.b.create_block();
                    self.b.switch_to_block(dead);
                    self.store_tag(dst, T_NOTHING);
                    self.b.ins().jump(done, &[]);
                    self.b.switch_to_block(done);
                    return;
                }
                Case::Equals(v) => {
                    let c = self.addr(v as *const Value);
                    match subj {
                        Some(s) => {
                            let r = self.call_status(h::equals as *const u8, &[s, c]);
                            self.b.ins().ireduce(types::I8, r)
                        }
                        None => {
                            let r = self.call_status(
                                h::this_equals as *const u8,
                                &[self.ex, self.scope, c],
                            );
                            let is_err = self.b.ins().icmp_imm_s(IntCC::Equal, r, 2);
                            let cont = self.b.create_block();
                            let err = *self.err.last().expect("handler");
                            self.b.ins().brif(is_err, err, &[], cont, &[]);
                            self.b.switch_to_block(cont);
                            self.b.ins().ireduce(types::I8, r)
                        }
                    }
                }
                Case::Condition(c) => self.cond(c),
            };
            let then = self.b.create_block();
            let next = self.b.create_block();
            self.b.ins().brif(hit, then, &[], next, &[]);
            self.b.switch_to_block(then);
            self.expr_into(value, dst);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(next);
        }
        self.store_tag(dst, T_NOTHING);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// Evaluates a condition to a native `i8` (0 or 1); a non-boolean is an error.
    fn cond(&mut self, e: &Expr) -> Cv {
        match e {
            Expr::Const(Value::Bool(b)) => self.b.ins().iconst(types::I8, *b as i64),
            Expr::Not(inner) => {
                let v = self.cond(inner);
                self.b.ins().bxor_imm_s(v, 1)
            }
            Expr::Binary {
                op: op @ (BinOp::And | BinOp::Or),
                lhs,
                rhs,
            } => self.logic(*op, lhs, rhs),
            Expr::Binary { op, lhs, rhs } if is_comparison(*op) => self.compare(*op, lhs, rhs),
            _ => {
                let p = self.operand(e);
                let t = self.tag(p);
                let is_bool = self.b.ins().icmp_imm_s(IntCC::Equal, t, T_BOOL);
                let ok = self.b.create_block();
                let bad = self.b.create_block();
                self.b.ins().brif(is_bool, ok, &[], bad, &[]);
                self.b.switch_to_block(bad);
                self.call_void(h::expected_bool as *const u8, &[self.ex, p]);
                let err = *self.err.last().expect("handler");
                self.b.ins().jump(err, &[]);
                self.b.switch_to_block(ok);
                self.b.ins().load(types::I8, flags(), p, PAYLOAD)
            }
        }
    }

    /// A comparison (`==`, `!=`, `<`, ...) as a native `i8`: integers and floats compared
    /// natively, constants compared in place, the rest through the operator table.
    fn compare(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Cv {
        if matches!(op, BinOp::Eq | BinOp::Neq) {
            if let Some((other, c)) = match (lhs, rhs) {
                (Expr::Const(c), o) | (o, Expr::Const(c)) => Some((o, c)),
                _ => None,
            } {
                let a = self.operand(other);
                let cp = self.addr(c as *const Value);
                let r = self.call_status(h::equals as *const u8, &[a, cp]);
                let r = self.b.ins().ireduce(types::I8, r);
                return if op == BinOp::Eq {
                    r
                } else {
                    self.b.ins().bxor_imm_s(r, 1)
                };
            }
        }
        let a = self.operand(lhs);
        let b = self.operand(rhs);
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        let int_b = self.b.create_block();
        let not_int = self.b.create_block();
        let both_int = self.both_tagged(a, b, T_INT);
        self.b.ins().brif(both_int, int_b, &[], not_int, &[]);
        self.b.switch_to_block(int_b);
        let (x, y) = self.payloads(a, b, types::I64);
        let cc = match op {
            BinOp::Eq => IntCC::Equal,
            BinOp::Neq => IntCC::NotEqual,
            BinOp::Gt => IntCC::SignedGreaterThan,
            BinOp::Gte => IntCC::SignedGreaterThanOrEqual,
            BinOp::Lt => IntCC::SignedLessThan,
            _ => IntCC::SignedLessThanOrEqual,
        };
        let r = self.b.ins().icmp(cc, x, y);
        self.b.ins().jump(done, &[BlockArg::Value(r)]);
        self.b.switch_to_block(not_int);
        let slow = self.b.create_block();
        if matches!(op, BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte) {
            let float_b = self.b.create_block();
            let both_float = self.both_tagged(a, b, T_FLOAT);
            self.b.ins().brif(both_float, float_b, &[], slow, &[]);
            self.b.switch_to_block(float_b);
            let (x, y) = self.payloads(a, b, types::F64);
            // Ordered comparisons: NaN compares false, as `partial_cmp` → false does.
            let fc = match op {
                BinOp::Gt => FloatCC::GreaterThan,
                BinOp::Gte => FloatCC::GreaterThanOrEqual,
                BinOp::Lt => FloatCC::LessThan,
                _ => FloatCC::LessThanOrEqual,
            };
            let r = self.b.ins().fcmp(fc, x, y);
            self.b.ins().jump(done, &[BlockArg::Value(r)]);
        } else {
            self.b.ins().jump(slow, &[]);
        }
        self.b.switch_to_block(slow);
        let tmp = self.slot();
        let code = self.iconst(h::binop_code(op) as i64);
        self.call_checked(h::binary as *const u8, &[self.ex, code, a, b, tmp]);
        let r = self.b.ins().load(types::I8, flags(), tmp, PAYLOAD);
        self.b.ins().jump(done, &[BlockArg::Value(r)]);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, dst: Cv) {
        match op {
            BinOp::Coalesce => return self.or_else(lhs, rhs, dst),
            BinOp::And | BinOp::Or => {
                let v = self.logic(op, lhs, rhs);
                self.store_bool(dst, v);
                return;
            }
            _ if is_comparison(op) => {
                let v = self.compare(op, lhs, rhs);
                self.store_bool(dst, v);
                return;
            }
            _ => {}
        }
        let a = self.operand(lhs);
        let b = self.operand(rhs);
        let done = self.b.create_block();
        let slow = self.b.create_block();
        let int_b = self.b.create_block();
        let not_int = self.b.create_block();
        let both_int = self.both_tagged(a, b, T_INT);
        self.b.ins().brif(both_int, int_b, &[], not_int, &[]);
        // Integers.
        self.b.switch_to_block(int_b);
        let (x, y) = self.payloads(a, b, types::I64);
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let r = match op {
                    BinOp::Add => self.b.ins().iadd(x, y),
                    BinOp::Sub => self.b.ins().isub(x, y),
                    _ => self.b.ins().imul(x, y),
                };
                self.store_int(dst, r);
                self.b.ins().jump(done, &[]);
            }
            BinOp::Div => {
                // Division by zero is the slow path's error.
                let fast = self.b.create_block();
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                self.b.ins().brif(zero, slow, &[], fast, &[]);
                self.b.switch_to_block(fast);
                let fx = self.b.ins().fcvt_from_sint(types::F64, x);
                let fy = self.b.ins().fcvt_from_sint(types::F64, y);
                let r = self.b.ins().fdiv(fx, fy);
                self.store_float(dst, r);
                self.b.ins().jump(done, &[]);
            }
            _ => {
                // Modulo: zero (an error) and -1 (overflow on MIN) take the slow path.
                let fast = self.b.create_block();
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                let special = self.b.ins().bor(zero, minus_one);
                self.b.ins().brif(special, slow, &[], fast, &[]);
                self.b.switch_to_block(fast);
                let r = self.b.ins().srem(x, y);
                self.store_int(dst, r);
                self.b.ins().jump(done, &[]);
            }
        }
        // Floats.
        self.b.switch_to_block(not_int);
        if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) {
            let float_b = self.b.create_block();
            let both_float = self.both_tagged(a, b, T_FLOAT);
            self.b.ins().brif(both_float, float_b, &[], slow, &[]);
            self.b.switch_to_block(float_b);
            let (x, y) = self.payloads(a, b, types::F64);
            if op == BinOp::Div {
                let fast = self.b.create_block();
                let zero = self.b.ins().f64const(0.0);
                let is_zero = self.b.ins().fcmp(FloatCC::Equal, y, zero);
                self.b.ins().brif(is_zero, slow, &[], fast, &[]);
                self.b.switch_to_block(fast);
            }
            let r = match op {
                BinOp::Add => self.b.ins().fadd(x, y),
                BinOp::Sub => self.b.ins().fsub(x, y),
                BinOp::Mul => self.b.ins().fmul(x, y),
                _ => self.b.ins().fdiv(x, y),
            };
            self.store_float(dst, r);
            self.b.ins().jump(done, &[]);
        } else {
            self.b.ins().jump(slow, &[]);
        }
        // Everything else: the interpreter's operator table.
        self.b.switch_to_block(slow);
        let code = self.iconst(h::binop_code(op) as i64);
        self.call_checked(h::binary as *const u8, &[self.ex, code, a, b, dst]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// `&&` / `||` as a native `i8`.
    fn logic(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Cv {
        let l = self.cond(lhs);
        let rhs_b = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        if op == BinOp::And {
            self.b
                .ins()
                .brif(l, rhs_b, &[], done, &[BlockArg::Value(l)]);
        } else {
            self.b
                .ins()
                .brif(l, done, &[BlockArg::Value(l)], rhs_b, &[]);
        }
        self.b.switch_to_block(rhs_b);
        let r = self.cond(rhs);
        self.b.ins().jump(done, &[BlockArg::Value(r)]);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// The call-site descriptor of a function or method call: its arguments compiled as
    /// functions (constants are read from the IR directly).
    fn call_site(&mut self, e: &Expr, params: &[crate::stdlib::Param], args: &[Expr]) -> Cv {
        let mut thunks = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            let query = params.get(i).is_some_and(|p| p.kind == ParamKind::Query);
            let t = match a {
                // A constant is read from the IR: no function, no call.
                Expr::Const(_) => ArgThunk {
                    index: ArgThunk::NONE,
                    lambda: false,
                    value: ArgThunk::NONE,
                },
                Expr::Lambda { body } if query => ArgThunk {
                    index: self.thunk(body),
                    lambda: true,
                    value: self.thunk(a),
                },
                _ => {
                    let index = self.thunk(a);
                    ArgThunk {
                        index,
                        lambda: false,
                        value: index,
                    }
                }
            };
            thunks.push(t);
        }
        let site = Box::new(CallSite {
            expr: e as *const Expr,
            args: thunks,
        });
        let p = &*site as *const CallSite;
        self.jobs.sites.push(site);
        self.addr(p)
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte
    )
}
