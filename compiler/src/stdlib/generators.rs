//! Standard library: impure functions (environment, clock, random identifiers, fake data).

use super::FunctionSpec;

/// The functions of this family.
pub static FUNCTIONS: &[FunctionSpec] = &[];
