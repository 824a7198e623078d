//! Bounds of one evaluation: stack, memory and interruption.
//!
//! Nothing a message (or a dynamic mapping it carries) makes a mapping do may abort the
//! process, so every evaluation runs under three limits, checked by [`check`] at every
//! recursive entry of both back ends (expression evaluation, query and lambda arguments,
//! named maps, dynamic `.bloblang()` runs) and by [`reserve`] before every standard-library
//! operation that can grow a value by a size taken from the input:
//!
//! - **stack**: the stack actually left on the current thread (read with `stacker`), not a
//!   recursion count, must stay above [`STACK_RED_ZONE`]; native JIT frames count in it, as
//!   they live on the same stack;
//! - **memory**: the bytes the evaluation has live, counted by [`CountingAlloc`] (the
//!   binary's global allocator) from the moment the outermost evaluation started, plus any
//!   allocation an operation is about to make, stay within [`message_memory`] (default
//!   [`DEFAULT_MESSAGE_MEMORY`]); an operation that would allocate more fails before it
//!   allocates, so allocation failure cannot be triggered from input;
//! - **interruption**: a stream that is being stopped raises its [`Interrupt`]; evaluations
//!   running under it (see [`with_interrupt`]) fail at their next check, like wasmtime's epoch
//!   interruption, so a forced stop really stops.
//!
//! Exceeding a limit is an [`EvalError`] on the message, never a crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::EvalError;

/// The default per-message memory budget: 256 MiB.
pub const DEFAULT_MESSAGE_MEMORY: usize = 256 << 20;

/// Stack a check keeps free for the work between two checks (stdlib calls, JIT frames,
/// serialisation of the result).
pub const STACK_RED_ZONE: usize = 256 << 10;

static MESSAGE_MEMORY: AtomicUsize = AtomicUsize::new(DEFAULT_MESSAGE_MEMORY);

/// Sets the per-message memory budget (process-wide), in bytes.
pub fn set_message_memory(bytes: usize) {
    MESSAGE_MEMORY.store(bytes.max(1), Ordering::Relaxed);
}

/// The per-message memory budget, in bytes.
pub fn message_memory() -> usize {
    MESSAGE_MEMORY.load(Ordering::Relaxed)
}

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (kept by [`CountingAlloc`]).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Nesting of evaluations on this thread (0: none running).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// `LIVE` when the outermost evaluation started.
    static BASELINE: Cell<isize> = const { Cell::new(0) };
    /// The interrupt flag of the stream whose work runs on this thread (null: none).
    static INTERRUPT: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

/// A global allocator that counts, per thread, the bytes allocated and freed, so evaluations
/// can be held to their memory budget. It forwards to the system allocator and never fails
/// an allocation itself. Install it in a binary with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

#[inline]
fn count(delta: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get().wrapping_add(delta)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// updates a thread-local counter (a `Cell` without a destructor, so no allocation or unwinding
// happens inside the allocator).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// The flag a stream raises to interrupt the evaluations running its messages.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A lowered flag.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Raises the flag: evaluations under it fail at their next check.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `f` with `interrupt` as the current thread's interrupt flag (restoring the previous
/// one afterwards, also when `f` unwinds).
pub fn with_interrupt<R>(interrupt: &Interrupt, f: impl FnOnce() -> R) -> R {
    struct Restore(*const AtomicBool);
    impl Drop for Restore {
        fn drop(&mut self) {
            INTERRUPT.with(|c| c.set(self.0));
        }
    }
    let prev = INTERRUPT.with(|c| c.replace(Arc::as_ptr(&interrupt.0)));
    let _restore = Restore(prev);
    f()
}

/// The current thread's interrupt flag, to install on helper threads that run part of the
/// same work (e.g. a `parallel` processor's scoped threads); see [`with_inherited`].
#[derive(Debug, Clone, Copy)]
pub struct InheritedInterrupt(*const AtomicBool);

// SAFETY: the pointer is only dereferenced through `with_inherited`, whose contract keeps the
// flag alive; an `AtomicBool` may be read from any thread.
unsafe impl Send for InheritedInterrupt {}
// SAFETY: as above (shared reads of an atomic).
unsafe impl Sync for InheritedInterrupt {}

/// The interrupt flag in force on this thread (none outside [`with_interrupt`]).
pub fn inherit() -> InheritedInterrupt {
    InheritedInterrupt(INTERRUPT.with(Cell::get))
}

/// Runs `f` with an inherited flag as this thread's interrupt flag.
///
/// # Safety
/// The [`with_interrupt`] scope `inherited` was taken in must outlive this call: use it only
/// on threads that are joined before that scope ends (`std::thread::scope` inside it).
pub unsafe fn with_inherited<R>(inherited: InheritedInterrupt, f: impl FnOnce() -> R) -> R {
    struct Restore(*const AtomicBool);
    impl Drop for Restore {
        fn drop(&mut self) {
            INTERRUPT.with(|c| c.set(self.0));
        }
    }
    let prev = INTERRUPT.with(|c| c.replace(inherited.0));
    let _restore = Restore(prev);
    f()
}

/// An evaluation in progress on this thread; the outermost one sets the memory baseline.
/// Dropping it ends the evaluation.
#[derive(Debug)]
pub struct Evaluation(());

impl Evaluation {
    /// Starts an evaluation (nested ones, e.g. a dynamic `.bloblang()`, share the outermost
    /// one's budget). Fails when the stack is already too short or the stream is stopping.
    pub fn enter() -> Result<Evaluation, EvalError> {
        let depth = DEPTH.with(|d| {
            let n = d.get();
            d.set(n + 1);
            n
        });
        if depth == 0 {
            BASELINE.with(|b| b.set(LIVE.with(Cell::get)));
        }
        let guard = Evaluation(());
        check()?;
        Ok(guard)
    }
}

impl Drop for Evaluation {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Bytes the current evaluation holds live (0 outside evaluations).
fn used() -> usize {
    if DEPTH.with(Cell::get) == 0 {
        return 0;
    }
    let live = LIVE.with(Cell::get);
    let base = BASELINE.with(Cell::get);
    live.saturating_sub(base).max(0) as usize
}

/// The error of an evaluation that ran out of stack.
fn stack_error() -> EvalError {
    EvalError::new(
        "evaluation exceeded its stack budget: the mapping recurses too deeply for this thread",
    )
}

/// The error of an operation whose result would pass the memory budget (`wanted` bytes).
pub fn memory_error(wanted: usize) -> EvalError {
    EvalError::new(format!(
        "evaluation exceeded the message memory limit of {} bytes (it needed {} bytes)",
        message_memory(),
        wanted
    ))
}

/// Checks every limit: stack left, interruption, memory live. Called at recursive entries.
#[inline]
pub fn check() -> Result<(), EvalError> {
    if stacker::remaining_stack().is_some_and(|left| left < STACK_RED_ZONE) {
        return Err(stack_error());
    }
    let flag = INTERRUPT.with(Cell::get);
    // SAFETY: a non-null pointer was set by `with_interrupt` from an `Arc` that outlives the
    // call (it is borrowed for the whole closure and the pointer is restored on exit).
    if !flag.is_null() && unsafe { (*flag).load(Ordering::Relaxed) } {
        return Err(EvalError::new(
            "evaluation interrupted: the stream is being stopped",
        ));
    }
    let used = used();
    if used > message_memory() {
        return Err(memory_error(used));
    }
    Ok(())
}

/// Checks that the current evaluation may allocate `bytes` more; call it before an operation
/// allocates a size taken from its input (`repeat`, `range`, concatenation, decompression...).
pub fn reserve(bytes: usize) -> Result<(), EvalError> {
    let wanted = used().saturating_add(bytes);
    if wanted > message_memory() {
        return Err(memory_error(wanted));
    }
    Ok(())
}

/// The bytes the current evaluation may still allocate.
pub fn remaining() -> usize {
    message_memory().saturating_sub(used())
}

/// [`reserve`] for `count` items of `size` bytes each (overflow counts as too much).
pub fn reserve_items(count: usize, size: usize) -> Result<(), EvalError> {
    reserve(count.saturating_mul(size))
}

/// The deepest nesting a value built by an evaluation may have. Values are dropped,
/// cloned, compared and serialised recursively, so nesting must stay bounded: inputs are
/// bounded by their parsers, and the operations that can nest a value without bound (a
/// `fold` whose tally wraps itself, recursive named maps and dynamic mappings, parsers
/// without a depth limit of their own) check their results with [`check_depth`].
pub const MAX_VALUE_DEPTH: usize = 1024;

/// Fails when `v` nests deeper than [`MAX_VALUE_DEPTH`]. Iterative (no recursion); stops at
/// the first path past the limit.
pub fn check_depth(v: &crate::Value) -> Result<(), EvalError> {
    use crate::Value;
    // Containers only, with their depth.
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        if d > MAX_VALUE_DEPTH {
            return Err(EvalError::new(format!(
                "value is nested more than {} levels deep",
                MAX_VALUE_DEPTH
            )));
        }
        let is_container = |c: &&Value| matches!(c, Value::Array(_) | Value::Object(_));
        match v {
            Value::Array(a) => stack.extend(a.iter().filter(is_container).map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().filter(is_container).map(|c| (c, d + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Stack a compilation may need (the parser recurses per nesting level, up to
/// `syntax::MAX_NESTING`; debug builds use far bigger frames than release builds).
const COMPILE_STACK: usize = 8 << 20;

/// Runs a compilation with enough stack: on the current one when it has at least
/// `COMPILE_STACK` left, else on a fresh heap-allocated segment (`stacker::maybe_grow`), so
/// compiling a mapping (including a dynamic `.bloblang()` one, deep inside an evaluation) can
/// never overflow whatever thread it runs on.
pub fn with_compile_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(COMPILE_STACK, 4 * COMPILE_STACK, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_refuses_more_than_the_budget() {
        let _e = Evaluation::enter().unwrap();
        assert!(reserve(1024).is_ok());
        assert!(reserve(message_memory() + 1).is_err());
        assert!(reserve_items(usize::MAX, 2).is_err());
    }

    #[test]
    fn interrupt_fails_checks_only_inside_its_scope() {
        let i = Interrupt::new();
        i.raise();
        assert!(with_interrupt(&i, check).is_err());
        assert!(check().is_ok());
    }

    #[test]
    fn deep_recursion_is_an_error_not_an_overflow() {
        fn down(n: u64) -> Result<u64, EvalError> {
            check()?;
            let pad = [n; 64];
            Ok(down(n + 1)? + std::hint::black_box(pad)[0])
        }
        let r = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| down(0))
            .unwrap()
            .join()
            .unwrap();
        assert!(r.is_err());
    }
}
