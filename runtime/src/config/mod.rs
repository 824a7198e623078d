//! Config loading.

pub mod document;
pub mod env;
