//! sluice's Bloblang compiler.
//!
//! Front end → IR → back ends, as rustc and Cranelift split them:
//! - [`syntax`]: parses text with the pest grammar into a syntax tree with spans, and renders
//!   parse errors in words with a caret snippet;
//! - [`ir`]: lowers the syntax tree into the typed IR: names resolved against the standard
//!   library, arguments checked, constants folded;
//! - [`interp`]: the reference interpreter over the IR (mapping and mutation semantics);
//! - [`jit`]: the native back end, the IR compiled with Cranelift; must agree with [`interp`];
//! - [`stdlib`]: the functions and methods, shared by every back end;
//! - [`input`]: what a program reads of its input document, and parsing only that;
//! - [`value`]: the value model;
//! - [`limits`]: the stack, memory and interruption bounds of one evaluation;
//! - [`conformance`]: the runner of the shared Bloblang conformance cases.
//!
//! The entry point for users of the crate is [`Mapping`]: compile once, run per message.

#![warn(missing_docs)]

pub mod batch;
pub mod conformance;
pub mod error;
pub mod input;
pub mod interp;
pub mod ir;
pub mod jit;
pub mod limits;
pub mod stdlib;
pub mod syntax;
pub mod value;

pub use error::{CompileError, EvalError};
pub use interp::{Backend, Mapping, MappingOutcome, Message, StructuredOutcome};
pub use value::Value;

/// Checks that `src` is a valid Bloblang mapping (as held by `mapping`, `mutation`, `bloblang`
/// processor fields and `generate.mapping`).
///
/// Checking never JIT-compiles: the front end finds every compile error, and native code is
/// made once, when the stream is built.
pub fn check_mapping(src: &str) -> Result<(), CompileError> {
    Mapping::compile_with(src, Backend::Interpreter).map(|_| ())
}

/// Checks that `src` is a valid config string with `${! ... }` interpolations.
pub fn check_interpolation(src: &str) -> Result<(), CompileError> {
    interp::Interpolation::compile(src).map(|_| ())
}
