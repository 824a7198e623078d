//! Standard library: numbers methods.

use super::MethodSpec;

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[];
