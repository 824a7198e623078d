//! Output component specs.

use serde_json::json;

use super::shared;
use super::{ComponentKind::Output, ComponentSpec, FieldSpec as F};

/// `max_in_flight` of outputs.
fn max_in_flight() -> F {
    F::int(
        "max_in_flight",
        "The maximum number of messages to have in flight at a given time.",
    )
    .default(64)
}

/// `drop`: drops every message.
pub fn drop() -> ComponentSpec {
    ComponentSpec::new("drop", Output, "Drops all messages.", vec![])
}

/// `sync_response`: returns the final message batch as the response of the request that
/// produced it (inputs such as `http_server`).
pub fn sync_response() -> ComponentSpec {
    ComponentSpec::new(
        "sync_response",
        Output,
        "Returns the final message payload back to the input origin of the message, where it is dealt with according to that specific input type.",
        vec![],
    )
}

/// `elasticsearch`: the legacy Elasticsearch output (the walkthrough's `bar` stream).
pub fn elasticsearch() -> ComponentSpec {
    ComponentSpec::new(
        "elasticsearch",
        Output,
        "Publishes messages into an Elasticsearch index.",
        vec![
            F::string("urls", "A list of URLs to connect to.").array().url(),
            // Required in the last upstream spec, but the walkthrough's `bar` stream omits it and
            // must load: the v3 default applies.
            F::string("index", "The index to place messages.").default("benthos_index").interpolated(),
            F::string("action", "The action to take on the document.").default("index").interpolated().advanced(),
            F::string("pipeline", "An optional pipeline id to preprocess incoming documents.")
                .default("")
                .interpolated()
                .advanced(),
            F::string("id", "The ID for indexed messages.").default("${!counter()}-${!timestamp_unix()}").interpolated(),
            F::string("type", "The document mapping type.").default("").interpolated().advanced(),
            F::string("routing", "The routing key to use for the document.").default("").interpolated().advanced(),
            F::int("retry_on_conflict", "When using the update action, the number of times to retry on a version conflict.")
                .default(0)
                .advanced(),
            F::bool("sniff", "Prompts Benthos to sniff for brokers to connect to when establishing a connection.")
                .default(true)
                .advanced(),
            F::bool("healthcheck", "Whether to enable healthchecks.").default(true).advanced(),
            F::duration("timeout", "The maximum time to wait before abandoning a request (and trying again).")
                .default("5s")
                .advanced(),
            F::string("api_key", "An API key for authenticating with Elastic Cloud.").optional().secret().advanced(),
            shared::tls(),
            max_in_flight(),
            F::int("max_retries", "The maximum number of retries before giving up on the request. If set to zero there is no discrete limit.")
                .default(0)
                .advanced(),
            shared::backoff("1s", "5s", "30s"),
            shared::basic_auth(),
            shared::batching("batching", false),
            F::object(
                "aws",
                "Enables and customises connectivity to Amazon Elastic Service.",
                vec![
                    F::bool("enabled", "Whether to connect to Amazon Elastic Service.").default(false),
                    F::string("region", "The AWS region to target.").optional(),
                    F::string("endpoint", "Allows you to specify a custom endpoint for the AWS API.").optional(),
                    F::object(
                        "credentials",
                        "Optional manual configuration of AWS credentials to use.",
                        vec![
                            F::string("profile", "A profile from `~/.aws/credentials` to use.").optional(),
                            F::string("id", "The ID of credentials to use.").optional(),
                            F::string("secret", "The secret for the credentials being used.").optional().secret(),
                            F::string("token", "The token for the credentials being used.").optional().secret(),
                            F::bool("from_ec2_role", "Use the credentials of a host EC2 machine.").optional(),
                            F::string("role", "A role ARN to assume.").optional(),
                            F::string("role_external_id", "An external ID to provide when assuming a role.").optional(),
                        ],
                    ),
                ],
            )
            .advanced(),
            F::bool("gzip_compression", "Enable gzip compression on the request side.").default(false).advanced(),
        ],
    )
}

/// `file`: writes messages to files on disk.
pub fn file() -> ComponentSpec {
    ComponentSpec::new(
        "file",
        Output,
        "Writes messages to files on disk based on a chosen codec.",
        vec![
            F::string(
                "path",
                "The file to write to; if the file does not yet exist it will be created.",
            )
            .interpolated(),
            shared::output_codec(),
        ],
    )
}

/// `http_client`: sends each message (or batch) as an HTTP request.
pub fn http_client() -> ComponentSpec {
    let mut fields = shared::http_client_fields("POST");
    fields.extend([
        F::bool("batch_as_multipart", "Send message batches as a single request using RFC1341.").default(false).advanced(),
        F::bool("propagate_response", "Whether responses from the server should be propagated back to the input.")
            .default(false)
            .advanced(),
        max_in_flight(),
        shared::batching("batching", false),
        F::object(
            "multipart",
            "Create explicit multipart HTTP requests by specifying an array of parts to add to the request.",
            vec![
                F::string("content_type", "The content type of the individual message part.").default("").interpolated(),
                F::string("content_disposition", "The content disposition of the individual message part.")
                    .default("")
                    .interpolated(),
                F::string("body", "The body of the individual message part.").default("").interpolated(),
            ],
        )
        .array()
        .default(json!([]))
        .advanced(),
    ]);
    ComponentSpec::new(
        "http_client",
        Output,
        "Sends messages to an HTTP server.",
        fields,
    )
}

/// `http_server`: serves messages to clients that GET (or stream from) an endpoint.
pub fn http_server() -> ComponentSpec {
    ComponentSpec::new(
        "http_server",
        Output,
        "Sets up an HTTP server that will send messages over HTTP(S) GET requests.",
        vec![
            F::string("address", "An alternative address to host from. If left empty the service wide address is used.")
                .default(""),
            F::string("path", "The path from which discrete messages can be consumed.").default("/get"),
            F::string("stream_path", "The path from which a continuous stream of messages can be consumed.")
                .default("/get/stream"),
            F::string("ws_path", "The path from which websocket connections can be established.").default("/get/ws"),
            F::string("allowed_verbs", "An array of verbs that are allowed for the `path` and `stream_path` HTTP endpoint.")
                .array()
                .default(json!(["GET"])),
            F::duration("timeout", "The maximum time to wait before a blocking, inactive connection is dropped (only applies to the `path` endpoint).")
                .default("5s")
                .advanced(),
            F::string("cert_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            F::string("key_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            shared::cors(),
        ],
    )
}

/// `kafka`: produces to a Kafka topic (Sarama-style config).
pub fn kafka() -> ComponentSpec {
    ComponentSpec::new(
        "kafka",
        Output,
        "The kafka output type writes a batch of messages to Kafka brokers and waits for acknowledgement before propagating it back to the input.",
        vec![
            F::string("addresses", "A list of broker addresses to connect to.").array(),
            shared::tls(),
            shared::kafka_sasl(),
            F::string("topic", "The topic to publish messages to.").interpolated(),
            F::string("client_id", "An identifier for the client connection.").default("benthos").advanced(),
            F::string("target_version", "The version of the Kafka protocol to use.").optional(),
            F::string("rack_id", "A rack identifier for this client.").default("").advanced(),
            F::string("key", "The key to publish messages with.").default("").interpolated(),
            F::string("partitioner", "The partitioning algorithm to use.")
                .default("fnv1a_hash")
                .options(&["fnv1a_hash", "murmur2_hash", "random", "round_robin", "manual"]),
            F::string("partition", "The manually-specified partition to publish messages to, relevant only when the field `partitioner` is set to `manual`.")
                .default("")
                .interpolated(),
            F::object(
                "custom_topic_creation",
                "If enabled, topics will be created with the specified number of partitions and replication factor if they do not already exist.",
                vec![
                    F::bool("enabled", "Whether to enable custom topic creation.").default(false),
                    F::int("partitions", "The number of partitions to create for new topics (-1 = broker default).").default(-1),
                    F::int("replication_factor", "The replication factor to use for new topics (-1 = broker default).")
                        .default(-1),
                ],
            )
            .advanced(),
            F::string("compression", "The compression algorithm to use.")
                .default("none")
                .options(&["none", "snappy", "lz4", "gzip", "zstd"]),
            F::string("static_headers", "An optional map of static headers that should be added to messages in addition to metadata.")
                .map()
                .optional(),
            F::object(
                "metadata",
                "Specify criteria for which metadata values are sent with messages as headers.",
                vec![F::string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when adding metadata to sent messages.")
                    .array()
                    .default(json!([]))],
            ),
            F::string("inject_tracing_map", "EXPERIMENTAL: A Bloblang mapping used to inject an object containing tracing propagation information into outbound messages.")
                .bloblang()
                .optional()
                .advanced(),
            max_in_flight(),
            F::bool("idempotent_write", "Enable the idempotent write producer option.").default(false).advanced(),
            F::bool("ack_replicas", "Ensure that messages have been copied across all replicas before acknowledging receipt.")
                .default(false)
                .advanced(),
            F::int("max_msg_bytes", "The maximum size in bytes of messages sent to the target topic.")
                .default(1_000_000)
                .advanced(),
            F::duration("timeout", "The maximum period of time to wait for message sends before abandoning the request and retrying.")
                .default("5s")
                .advanced(),
            F::bool("retry_as_batch", "When enabled forces an entire batch of messages to be retried if any individual message fails on a send.")
                .default(false)
                .advanced(),
            shared::batching("batching", false),
            F::int("max_retries", "The maximum number of retries before giving up on the request. If set to zero there is no discrete limit.")
                .default(0)
                .advanced(),
            shared::backoff("3s", "10s", "30s"),
        ],
    )
}

/// `reject`: rejects every message with an (interpolated) error text.
pub fn reject() -> ComponentSpec {
    ComponentSpec::with_value(
        "reject",
        Output,
        "Rejects all messages, treating them as though the output destination failed to publish them.",
        F::string("", "The error message to reject messages with.").interpolated(),
    )
}

/// `stdout`: writes messages to standard output.
pub fn stdout() -> ComponentSpec {
    ComponentSpec::new(
        "stdout",
        Output,
        "Prints messages to stdout as a continuous stream of data.",
        vec![shared::output_codec()],
    )
}
