//! Input component specs.

use serde_json::json;

use super::shared::{self, auto_replay_nacks};
use super::{ComponentKind::Input, ComponentSpec, FieldSpec as F};

/// `file`: reads messages from files on disk.
pub fn file() -> ComponentSpec {
    ComponentSpec::new(
        "file",
        Input,
        "Consumes data from files on disk, emitting messages according to a chosen codec.",
        vec![
            F::string("paths", "A list of paths to consume sequentially. Glob patterns are supported.").array(),
            shared::input_scanner(),
            F::bool("delete_on_finish", "Whether to delete input files from the disk once they are fully consumed.")
                .default(false)
                .advanced(),
            F::string("codec", "The way in which the bytes of a data source should be converted into discrete messages.")
                .optional()
                .advanced(),
            F::int("max_buffer", "The largest token size expected when consuming delimited files.")
                .default(1_000_000)
                .advanced(),
            auto_replay_nacks(),
        ],
    )
}

/// `generate`: creates messages from a Bloblang mapping at an interval.
pub fn generate() -> ComponentSpec {
    ComponentSpec::new(
        "generate",
        Input,
        "Generates messages at a given interval using a Bloblang mapping executed without a context.",
        vec![
            F::string("mapping", "A Bloblang mapping to use for generating messages.").bloblang(),
            F::string("interval", "The time interval at which messages should be generated, expressed either as a duration string or as a cron expression. If set to an empty string messages will be generated as fast as downstream services can process them.")
                .default("1s"),
            F::int("count", "An optional number of messages to generate, if set above 0 the specified number of messages is generated and then the input will shut down.")
                .default(0),
            F::int("batch_size", "The number of generated messages that should be accumulated into each batch flushed at the specified interval.")
                .default(1),
            auto_replay_nacks(),
        ],
    )
}

/// `http_client`: polls (or streams from) an HTTP server.
pub fn http_client() -> ComponentSpec {
    let mut fields = shared::http_client_fields("GET");
    fields.extend([
        F::string("payload", "An optional payload to deliver for each request.").optional().interpolated().advanced(),
        F::bool("drop_empty_bodies", "Whether empty payloads received from the target server should be dropped.")
            .default(true)
            .advanced(),
        F::object(
            "stream",
            "Allows you to set streaming mode, where requests are kept open and messages are processed line-by-line.",
            vec![
                F::bool("enabled", "Enables streaming mode.").default(false),
                F::bool("reconnect", "Sets whether to re-establish the connection once it is lost.").default(true),
                shared::input_scanner(),
            ],
        )
        .optional()
        .advanced(),
        auto_replay_nacks(),
    ]);
    ComponentSpec::new(
        "http_client",
        Input,
        "Connects to a server and continuously performs requests for a single message.",
        fields,
    )
}

/// `http_server`: receives messages POSTed to an endpoint of the service (or its own) server.
pub fn http_server() -> ComponentSpec {
    ComponentSpec::new(
        "http_server",
        Input,
        "Receive messages POSTed over HTTP(S). HTTP 2.0 is supported when using TLS, which is enabled when key and cert files are specified.",
        vec![
            F::string("address", "An alternative address to host from. If left empty the service wide address is used.")
                .default(""),
            F::string("path", "The endpoint path to listen for POST requests.").default("/post"),
            F::string("ws_path", "The endpoint path to create websocket connections from.").default("/post/ws"),
            F::string("ws_welcome_message", "An optional message to deliver to fresh websocket connections.")
                .default("")
                .advanced(),
            F::string("ws_rate_limit_message", "An optional message to delivery to websocket connections that are rate limited.")
                .default("")
                .advanced(),
            F::string("allowed_verbs", "An array of verbs that are allowed for the `path` endpoint.")
                .array()
                .default(json!(["POST"])),
            F::duration("timeout", "Timeout for requests. If a consumed messages takes longer than this to be delivered the connection is closed, but the message may still be delivered.")
                .default("5s"),
            F::string("rate_limit", "An optional rate limit to throttle requests by.").default(""),
            F::string("cert_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            F::string("key_file", "Enable TLS by specifying a certificate and key file. Only valid with a custom `address`.")
                .default("")
                .advanced(),
            shared::cors(),
            F::object(
                "sync_response",
                "Customise messages returned via synchronous responses.",
                vec![
                    F::string("status", "Specify the status code to return with synchronous responses.")
                        .default("200")
                        .interpolated(),
                    F::string("headers", "Specify headers to return with synchronous responses.")
                        .map()
                        .interpolated()
                        .default(json!({"Content-Type": "application/octet-stream"})),
                    shared::metadata_filter("metadata_headers", "Specify criteria for which metadata values are added to the response as headers."),
                ],
            )
            .advanced(),
            F::object(
                "tcp",
                "Customise the TCP listener of a custom `address`.",
                vec![
                    F::bool("reuse_addr", "Enable SO_REUSEADDR.").default(false),
                    F::bool("reuse_port", "Enable SO_REUSEPORT.").default(false),
                ],
            )
            .optional()
            .advanced(),
        ],
    )
}

/// `kafka`: consumes from Kafka topics (Sarama-style config).
pub fn kafka() -> ComponentSpec {
    ComponentSpec::new(
        "kafka",
        Input,
        "Connects to Kafka brokers and consumes one or more topics.",
        vec![
            F::string("addresses", "A list of broker addresses to connect to.").array(),
            F::string("topics", "A list of topics to consume from, optionally with explicit partitions (`foo:0`, `foo:0-10`).")
                .array(),
            F::string("target_version", "The version of the Kafka protocol to use.").optional(),
            shared::tls(),
            shared::kafka_sasl(),
            F::string("consumer_group", "An identifier for the consumer group of the connection.").default(""),
            F::string("client_id", "An identifier for the client connection.").default("benthos").advanced(),
            F::string("instance_id", "When using consumer groups, an identifier for this specific input so that it can be identified over restarts.")
                .optional()
                .advanced(),
            F::string("rack_id", "A rack identifier for this client.").default("").advanced(),
            F::bool("start_from_oldest", "Determines whether to consume from the oldest available offset when there is no committed offset.")
                .default(true)
                .advanced(),
            F::int("checkpoint_limit", "The maximum number of messages of the same topic and partition that can be processed at a given time.")
                .default(1024),
            auto_replay_nacks(),
            F::duration("timely_nacks_maximum_wait", "EXPERIMENTAL: the maximum time to wait for an acknowledgement before nacking.")
                .optional()
                .advanced(),
            F::duration("commit_period", "The period of time between each commit of the current partition offsets.")
                .default("1s")
                .advanced(),
            F::duration("max_processing_period", "A maximum estimate for the time taken to process a message.")
                .default("100ms")
                .advanced(),
            F::string(
                "extract_tracing_map",
                "EXPERIMENTAL: A Bloblang mapping that attempts to extract an object containing tracing propagation information.",
            )
            .bloblang()
            .optional()
            .advanced(),
            F::object(
                "group",
                "Tuning parameters for consumer group synchronization.",
                vec![
                    F::duration("session_timeout", "A period after which a consumer of the group is kicked after no heartbeats.")
                        .default("10s"),
                    F::duration("heartbeat_interval", "A period in which heartbeats should be sent out.").default("3s"),
                    F::duration("rebalance_timeout", "A period after which rebalancing is abandoned if unresolved.")
                        .default("60s"),
                ],
            )
            .advanced(),
            F::int("fetch_buffer_cap", "The maximum number of unprocessed messages to fetch at a given time.")
                .default(256)
                .advanced(),
            F::bool("multi_header", "Decode headers into lists to allow handling of multiple values with the same key.")
                .default(false)
                .advanced(),
            shared::batching("batching", false),
        ],
    )
}

/// `stdin`: reads messages from standard input.
pub fn stdin() -> ComponentSpec {
    ComponentSpec::new(
        "stdin",
        Input,
        "Consumes data piped to stdin, chopping it into individual messages according to the specified scanner.",
        vec![
            F::string("codec", "The way in which the bytes of a data source should be converted into discrete messages.")
                .optional()
                .advanced(),
            F::int("max_buffer", "The largest token size expected when consuming delimited data.")
                .default(1_000_000)
                .advanced(),
            shared::input_scanner(),
            auto_replay_nacks(),
        ],
    )
}
