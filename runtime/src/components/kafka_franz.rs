//! The franz-go-shaped Kafka components: `kafka_franz` and `redpanda`, input and output,
//! with upstream's field names and defaults (`seed_brokers`, a `sasl` list, `start_offset`,
//! `metadata.include_*`), run on the same librdkafka consumer and producer as `kafka`
//! ([`super::kafka`]): this module only reads the franz dialect into their settings.
//!
//! Messages carry the metadata upstream's franz input sets: `kafka_key`, `kafka_topic`,
//! `kafka_partition`, `kafka_offset`, `kafka_lag`, `kafka_timestamp_ms`,
//! `kafka_timestamp_unix`, `kafka_tombstone_message` and the record headers.

use serde_json::json;

use super::kafka::{
    duration_field, strings, topic_specs, ClientSettings, ConsumerSettings, HeaderFilter,
    KafkaInput, KafkaOutput, KafkaTls, ProducerSettings, Sasl,
};
use super::metadata_filter::MetadataFilter;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, Input, SharedOutput};

/// Which of the two components: they differ only in a few defaults.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    KafkaFranz,
    Redpanda,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::KafkaFranz => "kafka_franz",
            Dialect::Redpanda => "redpanda",
        }
    }
}

/// The franz `sasl` list.
fn sasl_field() -> F {
    F::object(
        "sasl",
        "Specify one or more methods of SASL authentication. SASL is tried in order; if the broker supports the first mechanism, all connections will use that mechanism.",
        vec![
            F::string("mechanism", "The SASL mechanism to use.")
                .options(&["none", "PLAIN", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"]),
            F::string("username", "A username to provide for PLAIN or SCRAM-* authentication.").default(""),
            F::string("password", "A password to provide for PLAIN or SCRAM-* authentication.")
                .default("")
                .secret(),
            F::string("token", "The token to use for a single session's OAUTHBEARER authentication.")
                .default("")
                .secret(),
            F::string("extensions", "Key/value pairs to add to OAUTHBEARER authentication requests.")
                .map()
                .optional(),
        ],
    )
    .array()
    .optional()
    .advanced()
}

/// The client fields both directions start with.
fn client_fields() -> Vec<F> {
    vec![
        F::string("seed_brokers", "A list of broker addresses to connect to in order to establish connections. If an item of the list contains commas it will be expanded into multiple addresses.")
            .array(),
        F::string("client_id", "An identifier for the client connection.")
            .default("redpanda-connect")
            .advanced(),
        shared::tls(),
        sasl_field(),
        F::duration("metadata_max_age", "The maximum age of metadata before it is refreshed.")
            .default("1m")
            .advanced(),
        F::duration("request_timeout_overhead", "The request time overhead. Uses the given time as overhead while deadlining requests.")
            .default("10s")
            .advanced(),
        F::duration("conn_idle_timeout", "The rough amount of time to allow connections to idle before they are closed.")
            .default("20s")
            .advanced(),
    ]
}

fn input_spec_of(d: Dialect) -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("topics", "A list of topics to consume from. Multiple comma separated topics can be listed in a single element. When a `consumer_group` is specified partitions are automatically distributed across consumers of a topic, otherwise all partitions are consumed. Explicit partitions can be given as `foo:0` or ranges `foo:0-3`.")
            .array()
            .optional(),
        F::string("regexp_topics_include", "A list of regular expressions of topics to consume from.")
            .array()
            .optional(),
        F::string("regexp_topics_exclude", "A list of regular expressions of topics to exclude.")
            .array()
            .optional()
            .advanced(),
        F::string("transaction_isolation_level", "The isolation level for handling transactional messages.")
            .options(&["read_uncommitted", "read_committed"])
            .default("read_uncommitted")
            .advanced(),
        F::string("consumer_group", "An optional consumer group to consume as. When specified the partitions of specified topics are automatically distributed across consumers sharing a consumer group, and partition offsets are automatically committed and resumed under this name.")
            .optional(),
        F::string("rack_id", "A rack specifies where the client is physically located and changes fetch requests to consume from the closest replica as opposed to the leader replica.")
            .default("")
            .advanced(),
        F::string("instance_id", "When using a consumer group, an instance ID specifies the groups static membership.")
            .default("")
            .advanced(),
        F::duration("rebalance_timeout", "When using a consumer group, how long the group coordinator waits for members to rejoin during a rebalance.")
            .default("45s")
            .advanced(),
        F::duration("session_timeout", "When using a consumer group, how long a member can go without heartbeating before it is removed from the group.")
            .default("1m")
            .advanced(),
        F::duration("heartbeat_interval", "When using a consumer group, how often members heartbeat to the group coordinator.")
            .default("3s")
            .advanced(),
        F::string("start_offset", "Where to start consuming when a partition has no committed offset.")
            .options(&["earliest", "latest", "committed"])
            .default("earliest")
            .advanced(),
        F::string("fetch_max_bytes", "The maximum number of bytes a broker tries to send during a fetch.")
            .default("50MiB")
            .advanced(),
        F::duration("fetch_max_wait", "The maximum time a broker waits for a fetch to reach its minimum size.")
            .default("5s")
            .advanced(),
        F::string("fetch_min_bytes", "The minimum number of bytes a broker tries to send during a fetch.")
            .default("1B")
            .advanced(),
        F::string("fetch_max_partition_bytes", "The maximum number of bytes a broker sends for one partition during a fetch.")
            .default("1MiB")
            .advanced(),
        shared::auto_replay_nacks(),
        F::int("checkpoint_limit", "Determines how many messages of the same partition can be processed in parallel before applying back pressure.")
            .default(1024)
            .advanced(),
        F::duration("commit_period", "The period of time between each commit of the current partition offsets.")
            .default("5s")
            .advanced(),
        F::bool("multi_header", "Decode headers into lists to allow handling of multiple values with the same key.")
            .default(false)
            .advanced(),
        shared::batching("batching", false),
    ]);
    if d == Dialect::KafkaFranz {
        fields.extend([
            F::bool("regexp_topics", "Whether listed topics should be interpreted as regular expression patterns (deprecated: use `regexp_topics_include`).")
                .default(false)
                .advanced(),
            F::bool("start_from_oldest", "Determines whether to consume from the oldest available offset (deprecated: use `start_offset`).")
                .default(true)
                .advanced(),
        ]);
    }
    ComponentSpec::new(
        d.name(),
        ComponentKind::Input,
        "A Kafka input using the Franz Kafka client's configuration style.",
        fields,
    )
}

fn output_spec_of(d: Dialect) -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("topic", "A topic to write messages to.").interpolated(),
        F::string("key", "An optional key to populate for each message.")
            .interpolated()
            .optional(),
        F::string("partition", "An optional explicit partition to set for each message. This field is only relevant when the `partitioner` is set to `manual`.")
            .interpolated()
            .optional(),
        F::string("partitioner", "Override the default murmur2 hashing partitioner.")
            .options(&["murmur2_hash", "round_robin", "least_backup", "manual", "uniform_bytes"])
            .optional()
            .advanced(),
        F::object(
            "metadata",
            "Determine which (if any) metadata values should be added to messages as headers.",
            vec![
                F::string("include_prefixes", "Provide a list of explicit metadata key prefixes to match against.")
                    .array()
                    .default(json!([])),
                F::string("include_patterns", "Provide a list of explicit metadata key regular expression patterns to match against.")
                    .array()
                    .default(json!([])),
            ],
        )
        .optional(),
        F::string("timestamp_ms", "An optional timestamp to set for each message expressed in milliseconds.")
            .interpolated()
            .optional()
            .advanced(),
        F::int("max_in_flight", "The maximum number of batches to be sending in parallel at any given time.")
            .default(if d == Dialect::Redpanda { 256 } else { 10 }),
        shared::batching("batching", false),
        F::string("rack_id", "A rack specifies where the client is physically located.")
            .default("")
            .advanced(),
        F::bool("idempotent_write", "Enable the idempotent write producer option. This requires the `IDEMPOTENT_WRITE` permission on `CLUSTER`.")
            .default(true)
            .advanced(),
        F::string("compression", "Optionally set an explicit compression type. The default preference is to use snappy when the broker supports it.")
            .options(&["lz4", "snappy", "gzip", "none", "zstd"])
            .optional()
            .advanced(),
        F::bool("allow_auto_topic_creation", "Enables topics to be auto created if they do not exist when fetching their metadata.")
            .default(true)
            .advanced(),
        F::duration("timeout", "The maximum period of time to wait for message sends before abandoning the request and retrying.")
            .default("10s")
            .advanced(),
        F::string("max_message_bytes", "The maximum space in bytes than an individual message may take.")
            .default("1MiB")
            .advanced(),
        F::string("broker_write_max_bytes", "The upper bound for the number of bytes written to a broker connection in a single write.")
            .default("100MiB")
            .advanced(),
    ]);
    ComponentSpec::new(
        d.name(),
        ComponentKind::Output,
        "A Kafka output using the Franz Kafka client's configuration style.",
        fields,
    )
}

/// `kafka_franz` input spec.
pub fn franz_input_spec() -> ComponentSpec {
    input_spec_of(Dialect::KafkaFranz)
}
/// `redpanda` input spec.
pub fn redpanda_input_spec() -> ComponentSpec {
    input_spec_of(Dialect::Redpanda)
}
/// `kafka_franz` output spec.
pub fn franz_output_spec() -> ComponentSpec {
    output_spec_of(Dialect::KafkaFranz)
}
/// `redpanda` output spec.
pub fn redpanda_output_spec() -> ComponentSpec {
    output_spec_of(Dialect::Redpanda)
}

/// Parses a byte size as go-humanize does: `1B`, `1KB` (1000), `1KiB` (1024), `50MiB`, a
/// bare number of bytes.
pub(crate) fn byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid byte size {:?}", s))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid byte size {:?}", s)),
    };
    Ok((n * mult) as u64)
}

fn client(cfg: &ComponentConfig) -> Result<ClientSettings, ComponentError> {
    let mut sasl = None;
    for entry in cfg.field("sasl").and_then(|f| f.as_array()).unwrap_or(&[]) {
        let get = |k: &str| entry.path(k).and_then(|f| f.as_str()).unwrap_or("");
        let mechanism = get("mechanism");
        if mechanism.is_empty() || mechanism == "none" {
            continue;
        }
        if sasl.is_some() {
            // librdkafka takes one mechanism; upstream tries them in order.
            tracing::warn!(
                mechanism,
                "only the first sasl mechanism is used with librdkafka"
            );
            continue;
        }
        let password = if mechanism == "OAUTHBEARER" {
            get("token")
        } else {
            get("password")
        };
        sasl = Some(Sasl {
            mechanism: mechanism.to_string(),
            user: get("username").to_string(),
            password: password.to_string(),
        });
    }
    Ok(ClientSettings {
        addresses: strings(cfg, "seed_brokers"),
        client_id: cfg
            .str("client_id")
            .unwrap_or("redpanda-connect")
            .to_string(),
        rack_id: cfg.str("rack_id").unwrap_or("").to_string(),
        tls: KafkaTls::of(cfg),
        sasl,
    })
}

fn build_input_of(
    d: Dialect,
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let mut topics = topic_specs(cfg)?;
    let mut regexp = d == Dialect::KafkaFranz && cfg.bool("regexp_topics").unwrap_or(false);
    let include = strings(cfg, "regexp_topics_include");
    if !include.is_empty() {
        if !topics.is_empty() && !regexp {
            return Err(ComponentError::new(
                "topics and regexp_topics_include cannot both be set",
            ));
        }
        regexp = true;
        topics.extend(include.into_iter().map(|t| super::kafka::TopicSpec {
            topic: t,
            partitions: None,
        }));
    }
    if !strings(cfg, "regexp_topics_exclude").is_empty() {
        return Err(ComponentError::new(
            "regexp_topics_exclude is not supported yet",
        ));
    }
    if topics.is_empty() {
        return Err(ComponentError::new(
            "either topics or regexp_topics_include must be set",
        ));
    }
    let start_oldest = match cfg.field("start_from_oldest") {
        Some(f) if !f.defaulted => f.as_bool().unwrap_or(true),
        _ => cfg.str("start_offset").unwrap_or("earliest") != "latest",
    };
    let settings = ConsumerSettings {
        client: client(cfg)?,
        topics,
        regexp,
        group: cfg.str("consumer_group").unwrap_or("").to_string(),
        commit_period: duration_field(cfg, "commit_period", "5s")?,
        start_oldest,
        session_timeout: Some(duration_field(cfg, "session_timeout", "1m")?),
        heartbeat: Some(duration_field(cfg, "heartbeat_interval", "3s")?),
        instance_id: cfg.str("instance_id").unwrap_or("").to_string(),
        checkpoint_limit: cfg.int("checkpoint_limit").unwrap_or(1024).max(1) as usize,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    };
    for f in [
        "fetch_max_bytes",
        "fetch_min_bytes",
        "fetch_max_partition_bytes",
    ] {
        byte_size(cfg.str(f).unwrap_or("1B"))
            .map_err(|e| ComponentError::new(format!("{}: {}", f, e)))?;
    }
    match KafkaInput::build(settings, ctx.offline)? {
        Some(i) => Ok(Box::new(i)),
        None => Ok(Box::new(super::Offline)),
    }
}

fn build_output_of(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let partitioner = cfg.str("partitioner").unwrap_or("");
    let max_message_bytes = byte_size(cfg.str("max_message_bytes").unwrap_or("1MiB"))
        .map_err(|e| ComponentError::new(format!("max_message_bytes: {}", e)))?;
    let partition = cfg.str("partition").filter(|p| !p.is_empty());
    if partitioner == "manual" && partition.is_none() {
        return Err(ComponentError::new(
            "a partition must be set when the partitioner is manual",
        ));
    }
    let headers = if cfg.field("metadata").is_some() {
        MetadataFilter::of(cfg, "metadata")?
    } else {
        MetadataFilter::default()
    };
    let settings = ProducerSettings {
        client: client(cfg)?,
        topic: cfg.str("topic").unwrap_or("").to_string(),
        key: cfg.str("key").unwrap_or("").to_string(),
        partitioner: match partitioner {
            // franz-go's default is murmur2 for keyed records, sticky for the rest.
            "" | "murmur2_hash" => "murmur2_random",
            "round_robin" | "least_backup" | "uniform_bytes" | "manual" => "random",
            other => {
                return Err(ComponentError::new(format!(
                    "partitioner {} is not supported",
                    other
                )))
            }
        },
        partition: (partitioner == "manual").then(|| partition.unwrap_or("").to_string()),
        compression: cfg.str("compression").unwrap_or("snappy").to_string(),
        acks_all: true,
        idempotent: cfg.bool("idempotent_write").unwrap_or(true),
        max_msg_bytes: max_message_bytes.clamp(1000, 1_000_000_000) as i64,
        timeout: duration_field(cfg, "timeout", "10s")?,
        headers: HeaderFilter::Include(headers),
    };
    match KafkaOutput::build(settings, ctx.offline)? {
        Some(o) => Ok(std::sync::Arc::new(o)),
        None => Ok(std::sync::Arc::new(super::Offline)),
    }
}

/// Builds a `kafka_franz` input.
pub fn build_franz_input(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    build_input_of(Dialect::KafkaFranz, cfg, ctx)
}

/// Builds a `redpanda` input.
pub fn build_redpanda_input(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    build_input_of(Dialect::Redpanda, cfg, ctx)
}

/// Builds a `kafka_franz` or `redpanda` output.
pub fn build_output(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    build_output_of(cfg, ctx)
}

#[cfg(test)]
mod tests {
    use super::byte_size;

    #[test]
    fn byte_sizes_read_as_go_humanize() {
        assert_eq!(byte_size("1B").unwrap(), 1);
        assert_eq!(byte_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(byte_size("50MiB").unwrap(), 50 << 20);
        assert_eq!(byte_size("1MB").unwrap(), 1_000_000);
        assert_eq!(byte_size("1024").unwrap(), 1024);
        assert!(byte_size("lots").is_err());
    }
}
