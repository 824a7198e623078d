//! Standard library: collections methods.

use super::MethodSpec;

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[];
