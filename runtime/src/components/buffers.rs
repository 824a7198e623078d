//! Buffer specs: `memory` (see `stream::memory_buffer`) and `none`. `build_plan` turns the
//! chosen one into the stream's buffer plan.

use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};

// ------------------------------------------------------------------------------------ specs

/// `memory`: an in-memory buffer that acknowledges the input as soon as a batch is stored.
pub fn memory_spec() -> ComponentSpec {
    ComponentSpec::new(
        "memory",
        ComponentKind::Buffer,
        "Stores consumed messages in memory and acknowledges them at the input level. During shutdown the buffer is flushed; a crash loses buffered data.",
        vec![
            F::int("limit", "The maximum buffer size (in bytes) to allow before applying backpressure upstream.")
                .default(524_288_000),
            shared::batching("batch_policy", true),
        ],
    )
}

/// `none`: no buffer; the input is coupled directly to the pipeline and acknowledgements flow
/// end to end.
pub fn none_spec() -> ComponentSpec {
    ComponentSpec::new(
        "none",
        ComponentKind::Buffer,
        "Do not buffer messages. This is the default and most resilient configuration.",
        vec![],
    )
}
