//! Standard library: whole-document operations (`json_path`, `json_schema`, `diff`, `patch`).

use super::MethodSpec;

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[];
