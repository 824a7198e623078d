//! Rate limit component specs.

use super::{ComponentKind::RateLimit, ComponentSpec, FieldSpec as F};

/// `local`: a token bucket held in this process.
pub fn local() -> ComponentSpec {
    ComponentSpec::new(
        "local",
        RateLimit,
        "The local rate limit is a simple X every Y type rate limit that can be shared across any number of components within the pipeline but does not support distributed rate limits across multiple running instances.",
        vec![
            F::int("count", "The maximum number of requests to allow for a given period of time.").default(1000),
            F::duration("interval", "The time window to limit requests by.").default("1s"),
        ],
    )
}
