//! Standard library: parsing methods.

use super::MethodSpec;

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[];
