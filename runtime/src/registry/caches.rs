//! Cache component specs.

use serde_json::json;

use super::{ComponentKind::Cache, ComponentSpec, FieldSpec as F};

/// `memory`: an in-process key/value cache with TTLs.
pub fn memory() -> ComponentSpec {
    ComponentSpec::new(
        "memory",
        Cache,
        "Stores key/value pairs in a map held in memory. This cache is therefore reset every time the service restarts.",
        vec![
            F::duration("default_ttl", "The default TTL of each item. After this period an item will be eligible for removal during the next compaction.")
                .default("5m"),
            F::duration("compaction_interval", "The period of time to wait before each compaction, at which point expired items are removed. This field can be set to an empty string in order to disable compactions/expiry entirely.")
                .default("60s"),
            F::string("init_values", "A table of key/value pairs that should be present in the cache on initialization.")
                .map()
                .default(json!({}))
                .advanced(),
            F::int("shards", "A number of logical shards to spread keys across, increasing the shards can have a performance benefit when processing a large number of keys.")
                .default(1)
                .advanced(),
        ],
    )
}
