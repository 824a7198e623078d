//! Field groups shared by several components (`tls`, `batching`, `basic_auth`, `backoff`, the
//! HTTP client fields, Kafka `sasl`, ...). Each group is built by one function so that no
//! component copies another's field list.

use serde_json::json;

use super::FieldSpec as F;

/// `tls`: client TLS settings, all off by default.
pub fn tls() -> F {
    F::object(
        "tls",
        "Custom TLS settings can be used to override system defaults.",
        vec![
            F::bool("enabled", "Whether custom TLS settings are enabled.").default(false),
            F::bool(
                "skip_cert_verify",
                "Whether to skip server side certificate verification.",
            )
            .default(false),
            F::bool(
                "enable_renegotiation",
                "Whether to allow the remote server to repeatedly request renegotiation.",
            )
            .default(false)
            .advanced(),
            F::string(
                "root_cas",
                "An optional root certificate authority to use, as a PEM string.",
            )
            .default("")
            .secret()
            .advanced(),
            F::string(
                "root_cas_file",
                "An optional path of a root certificate authority file.",
            )
            .default("")
            .advanced(),
            F::object(
                "client_certs",
                "A list of client certificates to use.",
                vec![
                    F::string("cert", "A plain text certificate to use.").default(""),
                    F::string("key", "A plain text certificate key to use.")
                        .default("")
                        .secret(),
                    F::string("cert_file", "The path of a certificate to use.").default(""),
                    F::string("key_file", "The path of a certificate key to use.").default(""),
                    F::string(
                        "password",
                        "A plain text password for when the private key is password encrypted.",
                    )
                    .default("")
                    .secret(),
                ],
            )
            .array()
            .default(json!([]))
            .advanced(),
        ],
    )
    .advanced()
}

/// `batching` (outputs and inputs): a batching policy; `with_enabled` adds the `enabled` flag
/// used by buffers' `batch_policy`.
pub fn batching(name: &'static str, with_enabled: bool) -> F {
    let mut fields = Vec::new();
    if with_enabled {
        fields.push(
            F::bool("enabled", "Whether to batch messages as they are flushed.").default(false),
        );
    }
    fields.extend([
        F::int("count", "A number of messages at which the batch should be flushed. 0 disables.").default(0),
        F::int("byte_size", "An amount of bytes at which the batch should be flushed. 0 disables.").default(0),
        F::duration("period", "A period in which an incomplete batch should be flushed regardless of its size.")
            .default(""),
        F::string("check", "A Bloblang query that should return a boolean value indicating whether a message should end a batch.")
            .default("")
            .bloblang(),
        F::component("processors", super::ComponentKind::Processor, "Processors to apply to a batch as it is flushed.")
            .array()
            .optional()
            .advanced(),
    ]);
    F::object(name, "Allows you to configure a batching policy.", fields)
}

/// `basic_auth` (HTTP client style): username and secret password, off by default.
pub fn basic_auth() -> F {
    F::object(
        "basic_auth",
        "Allows you to specify basic authentication.",
        vec![
            F::bool(
                "enabled",
                "Whether to use basic authentication in requests.",
            )
            .default(false),
            F::string("username", "A username to authenticate as.").default(""),
            F::string("password", "A password to authenticate with.")
                .default("")
                .secret(),
        ],
    )
    .advanced()
}

/// `backoff`: exponential retry backoff with the given defaults.
pub fn backoff(initial: &str, max: &str, max_elapsed: &str) -> F {
    F::object(
        "backoff",
        "Control time intervals between retry attempts.",
        vec![
            F::duration(
                "initial_interval",
                "The initial period to wait between retry attempts.",
            )
            .default(initial),
            F::duration(
                "max_interval",
                "The maximum period to wait between retry attempts.",
            )
            .default(max),
            F::duration(
                "max_elapsed_time",
                "The maximum period to wait before retry attempts are abandoned.",
            )
            .default(max_elapsed),
        ],
    )
    .advanced()
}

/// `cors` settings of an HTTP server (input/output `http_server`, the service `http`).
pub fn cors() -> F {
    F::object(
        "cors",
        "Adds Cross-Origin Resource Sharing headers. Only valid with a custom `address`.",
        vec![
            F::bool("enabled", "Whether to allow CORS requests.").default(false),
            F::string(
                "allowed_origins",
                "An explicit list of origins that are allowed for CORS requests.",
            )
            .array()
            .default(json!([])),
        ],
    )
    .advanced()
}

/// `include_prefixes` / `include_patterns` metadata filter under `name`.
pub fn metadata_filter(name: &'static str, description: &'static str) -> F {
    F::object(
        name,
        description,
        vec![
            F::string("include_prefixes", "Provide a list of explicit metadata key prefixes to match against.")
                .array()
                .default(json!([])),
            F::string("include_patterns", "Provide a list of explicit metadata key regular expression patterns to match against.")
                .array()
                .default(json!([])),
        ],
    )
}

/// The fields every HTTP client component (input and output `http_client`) starts with;
/// `verb` is the component's default method.
pub fn http_client_fields(verb: &'static str) -> Vec<F> {
    vec![
        F::string("url", "The URL to connect to.").interpolated().url(),
        F::string("verb", "A verb to connect with.").default(verb),
        F::string("headers", "A map of headers to add to the request.").map().interpolated().default(json!({})),
        metadata_filter("metadata", "Specify optional matching rules to determine which metadata keys should be added to the HTTP request as headers.")
            .optional()
            .advanced(),
        F::string("dump_request_log_level", "Optionally set a level at which the request and response payload of each request made will be logged.")
            .default("")
            .options(&["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", ""])
            .advanced(),
        F::object(
            "oauth",
            "Allows you to specify open authentication via OAuth version 1.",
            vec![
                F::bool("enabled", "Whether to use OAuth version 1 in requests.").default(false),
                F::string("consumer_key", "A value used to identify the client to the service provider.").default(""),
                F::string("consumer_secret", "A secret used to establish ownership of the consumer key.").default("").secret(),
                F::string("access_token", "A value used to gain access to the protected resources on behalf of the user.")
                    .default("")
                    .secret(),
                F::string("access_token_secret", "A secret provided in order to establish ownership of a given access token.")
                    .default("")
                    .secret(),
            ],
        )
        .advanced(),
        F::object(
            "oauth2",
            "Allows you to specify open authentication via OAuth version 2 using the client credentials token flow.",
            vec![
                F::bool("enabled", "Whether to use OAuth version 2 in requests.").default(false),
                F::string("client_key", "A value used to identify the client to the token provider.").default(""),
                F::string("client_secret", "A secret used to establish ownership of the client key.").default("").secret(),
                F::string("token_url", "The URL of the token provider.").default("").url(),
                F::string("scopes", "A list of optional requested permissions.").array().default(json!([])),
                F::any("endpoint_params", "A list of optional endpoint parameters, values should be arrays of strings.")
                    .map()
                    .default(json!({})),
            ],
        )
        .advanced(),
        basic_auth(),
        F::object(
            "jwt",
            "Allows you to specify JWT authentication.",
            vec![
                F::bool("enabled", "Whether to use JWT authentication in requests.").default(false),
                F::string("private_key_file", "A file with the PEM encoded via PKCS1 or PKCS8 as private key.").default(""),
                F::string("signing_method", "A method used to sign the token such as RS256, RS384, RS512 or EdDSA.").default(""),
                F::any("claims", "A value used to identify the claims that issued the JWT.").map().default(json!({})),
                F::any("headers", "Add optional key/value headers to the JWT.").map().default(json!({})),
            ],
        )
        .advanced(),
        tls(),
        metadata_filter("extract_headers", "Specify optional matching rules to determine which response headers should be added to resulting messages as metadata.")
            .advanced(),
        F::string("rate_limit", "An optional rate limit to throttle requests by.").optional(),
        F::duration("timeout", "A static timeout to apply to requests.").default("5s"),
        F::duration("retry_period", "The base period to wait between failed requests.").default("1s").advanced(),
        F::duration("max_retry_backoff", "The maximum period to wait between failed requests.").default("300s").advanced(),
        F::int("retries", "The maximum number of retry attempts to make.").default(3).advanced(),
        F::bool("follow_redirects", "Whether or not to transparently follow redirects.").default(true).advanced(),
        F::int("backoff_on", "A list of status codes whereby the request should be considered to have failed and retries should be attempted, but the period between them should be increased gradually.")
            .array()
            .default(json!([429]))
            .advanced(),
        F::int("drop_on", "A list of status codes whereby the request should be considered to have failed but retries should not be attempted.")
            .array()
            .default(json!([]))
            .advanced(),
        F::int("successful_on", "A list of status codes whereby the attempt should be considered successful.")
            .array()
            .default(json!([]))
            .advanced(),
        F::string("proxy_url", "An optional HTTP proxy URL.").optional().url().advanced(),
        F::bool("disable_http2", "Whether or not to disable HTTP/2.").default(false).advanced(),
    ]
}

/// Kafka `sasl` settings.
pub fn kafka_sasl() -> F {
    F::object(
        "sasl",
        "Enables SASL authentication.",
        vec![
            F::string("mechanism", "The SASL authentication mechanism, if left empty SASL authentication is not used.")
                .default("none")
                .options(&["none", "PLAIN", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
            F::string("user", "A PLAIN username.").default(""),
            F::string("password", "A PLAIN password.").default("").secret(),
            F::string("access_token", "A static OAUTHBEARER access token.").default("").secret(),
            F::string("token_cache", "Instead of using a static `access_token` allows you to query a `cache` resource to fetch OAUTHBEARER tokens from.")
                .default(""),
            F::string("token_key", "Required when using a `token_cache`, the key to query the cache with for tokens.").default(""),
        ],
    )
    .advanced()
}

/// The `codec` field of byte-stream outputs (`lines`, `delim:x`, `all-bytes`, ...).
pub fn output_codec() -> F {
    F::string(
        "codec",
        "The way in which the bytes of messages should be written out into the output data stream.",
    )
    .default("lines")
}

/// The `scanner` of byte-stream inputs (a scanner config, `lines` by default).
pub fn input_scanner() -> F {
    F::component("scanner", super::ComponentKind::Scanner, "The scanner by which the stream of bytes consumed will be broken out into individual messages.")
        .default(json!({"lines": {}}))
}

/// `auto_replay_nacks` of inputs.
pub fn auto_replay_nacks() -> F {
    F::bool("auto_replay_nacks", "Whether messages that are rejected (nacked) at the output level should be automatically replayed indefinitely.")
        .default(true)
}

/// `max_in_flight` of outputs.
pub fn max_in_flight() -> F {
    F::int(
        "max_in_flight",
        "The maximum number of messages to have in flight at a given time.",
    )
    .default(64)
}
