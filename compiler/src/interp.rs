//! Interpreter (placeholder).
use crate::CompileError;
/// A compiled mapping.
pub struct Mapping;
impl Mapping {
    /// Compiles.
    pub fn compile(_src: &str) -> Result<Mapping, CompileError> { Ok(Mapping) }
}
/// A message.
pub struct Message;
/// Outcome.
pub struct MappingOutcome;
/// Interpolated string.
pub struct Interpolation;
impl Interpolation {
    /// Compiles.
    pub fn compile(_src: &str) -> Result<Interpolation, CompileError> { Ok(Interpolation) }
}
