//! The one list of components: every component's spec paired with its builder. The spec
//! drives parsing, defaults, lint, rendering and `sluice list`; the builder constructs it for a
//! stream. A spec cannot be registered without saying how it is built, and a test builds every
//! registered component from its spec's defaults (plus an example where fields are required).
//!
//! Config decoding takes the registry as a value ([`registry`] gives the process-wide one), so
//! the config model never depends on the components that use it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::{
    bounds_check, cache_processor, compression, dedupe, documents, elasticsearch, for_each,
    http_client, http_server, inproc, kafka, memory_cache, noop, scanners, select_parts, sleep,
    ComponentError,
};
use crate::config::stream::ComponentConfig;
use crate::registry::{self, ComponentKind, ComponentSpec, Registry};
use crate::stream::{BuildContext, Input, SharedOutput, SharedProcessor};

/// Builds an input.
pub type InputBuilder =
    fn(&ComponentConfig, &BuildContext) -> Result<Box<dyn Input>, ComponentError>;
/// Builds a processor (metering is added by the caller).
pub type ProcessorBuilder =
    fn(&ComponentConfig, &BuildContext) -> Result<SharedProcessor, ComponentError>;
/// Builds an output.
pub type OutputBuilder =
    fn(&ComponentConfig, &BuildContext) -> Result<SharedOutput, ComponentError>;

/// How a registered component is constructed.
#[derive(Clone, Copy)]
pub enum Builder {
    /// A stream's input.
    Input(InputBuilder),
    /// A buffer: turned into the running stream's buffer plan by `build_plan`.
    Buffer,
    /// A processor.
    Processor(ProcessorBuilder),
    /// A stream's output.
    Output(OutputBuilder),
    /// A cache resource.
    Cache(
        fn(
            &ComponentConfig,
            &super::cache::Caches,
        ) -> Result<super::cache::SharedCache, ComponentError>,
    ),
    /// A rate limit resource.
    RateLimit(fn(&ComponentConfig) -> Result<super::rate_limit::LocalRateLimit, ComponentError>),
    /// A root-config section (metrics exporter, tracer) the service reads itself.
    Service,
    /// A scanner: the codec a byte-stream input reads with.
    Scanner(fn(&ComponentConfig) -> Result<super::codec::Codec, ComponentError>),
}

/// One registered component.
pub struct Registration {
    /// Its spec.
    pub spec: fn() -> ComponentSpec,
    /// How it is built.
    pub build: Builder,
}

const fn reg(spec: fn() -> ComponentSpec, build: Builder) -> Registration {
    Registration { spec, build }
}

/// Every component sluice has, one line each.
pub const ALL: &[Registration] = &[
    // Inputs.
    reg(
        super::file::input_spec,
        Builder::Input(|c, _| Ok(Box::new(super::reading::ReaderInput::file(c)?))),
    ),
    reg(
        super::generate::spec,
        Builder::Input(|c, _| Ok(Box::new(super::generate::Generate::new(c)?))),
    ),
    reg(
        http_client::input_spec,
        Builder::Input(|c, _| Ok(Box::new(http_client::HttpClientInput::new(c)?))),
    ),
    reg(
        http_server::input_spec,
        Builder::Input(|c, x| Ok(Box::new(http_server::HttpServerInput::new(c, x)?))),
    ),
    reg(
        kafka::input_spec,
        Builder::Input(|c, x| match kafka::KafkaInput::new(c, x.offline)? {
            Some(i) => Ok(Box::new(i)),
            None => Ok(Box::new(super::Offline)),
        }),
    ),
    reg(
        super::kafka_franz::franz_input_spec,
        Builder::Input(super::kafka_franz::build_franz_input),
    ),
    reg(
        super::kafka_franz::redpanda_input_spec,
        Builder::Input(super::kafka_franz::build_redpanda_input),
    ),
    reg(
        super::nats::input_spec,
        Builder::Input(super::nats::build_input),
    ),
    reg(
        super::amqp_0_9::input_spec,
        Builder::Input(super::amqp_0_9::build_input),
    ),
    reg(
        super::mqtt::input_spec,
        Builder::Input(super::mqtt::build_input),
    ),
    reg(
        super::sql_select::input_spec,
        Builder::Input(super::sql_select::build_input),
    ),
    reg(
        super::sql_raw::input_spec,
        Builder::Input(super::sql_raw::build_input),
    ),
    reg(
        super::aws_s3::input_spec,
        Builder::Input(super::aws_s3::build_input),
    ),
    reg(
        super::nats_jetstream::input_spec,
        Builder::Input(super::nats_jetstream::build_input),
    ),
    reg(
        super::nats_kv::input_spec,
        Builder::Input(super::nats_kv::build_input),
    ),
    reg(
        super::redis_list::input_spec,
        Builder::Input(super::redis_list::build_input),
    ),
    reg(
        super::redis_pubsub::input_spec,
        Builder::Input(super::redis_pubsub::build_input),
    ),
    reg(
        super::redis_streams::input_spec,
        Builder::Input(super::redis_streams::build_input),
    ),
    reg(
        super::redis_scan::input_spec,
        Builder::Input(super::redis_scan::build_input),
    ),
    reg(
        super::stdio::input_spec,
        Builder::Input(|c, _| Ok(Box::new(super::reading::ReaderInput::stdin(c)?))),
    ),
    reg(inproc::input_spec, Builder::Input(inproc::build_input)),
    reg(
        super::broker_input::broker_spec,
        Builder::Input(super::broker_input::build_broker),
    ),
    reg(
        super::broker_input::sequence_spec,
        Builder::Input(super::broker_input::build_sequence),
    ),
    reg(
        super::resource::input_spec,
        Builder::Input(super::resource::build_input),
    ),
    reg(
        super::sockets::input_spec,
        Builder::Input(super::sockets::build_input),
    ),
    reg(
        super::sockets::server_spec,
        Builder::Input(super::sockets::build_server),
    ),
    reg(
        super::subprocess::input_spec,
        Builder::Input(super::subprocess::build_input),
    ),
    reg(
        super::read_until::spec,
        Builder::Input(super::read_until::build),
    ),
    reg(
        super::websocket::input_spec,
        Builder::Input(super::websocket::build_input),
    ),
    // Buffers.
    reg(super::buffers::memory_spec, Builder::Buffer),
    reg(super::buffers::none_spec, Builder::Buffer),
    // Processors.
    reg(
        super::mapping::bloblang_spec,
        Builder::Processor(super::mapping::build),
    ),
    reg(super::catch::spec, Builder::Processor(super::catch::build)),
    reg(
        super::nats_kv::processor_spec,
        Builder::Processor(super::nats_kv::build_processor),
    ),
    reg(
        super::nats_request_reply::spec,
        Builder::Processor(super::nats_request_reply::build),
    ),
    reg(
        super::redis_processor::spec,
        Builder::Processor(super::redis_processor::build),
    ),
    reg(
        super::sql_insert::processor_spec,
        Builder::Processor(super::sql_insert::build_processor),
    ),
    reg(
        super::sql_select::processor_spec,
        Builder::Processor(super::sql_select::build_processor),
    ),
    reg(
        super::sql_raw::processor_spec,
        Builder::Processor(super::sql_raw::build_processor),
    ),
    reg(
        compression::compress_spec,
        Builder::Processor(compression::build_compress),
    ),
    reg(
        compression::decompress_spec,
        Builder::Processor(compression::build_decompress),
    ),
    reg(super::log::spec, Builder::Processor(super::log::build)),
    reg(
        super::mapping::mapping_spec,
        Builder::Processor(super::mapping::build),
    ),
    reg(
        super::mapping::mutation_spec,
        Builder::Processor(super::mapping::build),
    ),
    reg(noop::spec, Builder::Processor(noop::build)),
    reg(
        super::archive::archive_spec,
        Builder::Processor(super::archive::build_archive),
    ),
    reg(
        super::archive::unarchive_spec,
        Builder::Processor(super::archive::build_unarchive),
    ),
    reg(
        super::parallel::spec,
        Builder::Processor(super::parallel::build),
    ),
    reg(
        super::rate_limit_processor::spec,
        Builder::Processor(super::rate_limit_processor::build),
    ),
    reg(
        http_client::processor_spec,
        Builder::Processor(http_client::build_processor),
    ),
    reg(
        cache_processor::spec,
        Builder::Processor(cache_processor::build),
    ),
    reg(dedupe::spec, Builder::Processor(dedupe::build)),
    reg(bounds_check::spec, Builder::Processor(bounds_check::build)),
    reg(for_each::spec, Builder::Processor(for_each::build)),
    reg(select_parts::spec, Builder::Processor(select_parts::build)),
    reg(documents::xml_spec, Builder::Processor(documents::xml)),
    reg(
        documents::msgpack_spec,
        Builder::Processor(documents::msgpack),
    ),
    reg(
        documents::json_schema_spec,
        Builder::Processor(documents::json_schema),
    ),
    reg(sleep::spec, Builder::Processor(sleep::build)),
    reg(
        super::branch::spec,
        Builder::Processor(super::branch::build),
    ),
    reg(super::jq::spec, Builder::Processor(super::jq::build)),
    reg(
        super::parse_log::spec,
        Builder::Processor(super::parse_log::build),
    ),
    reg(
        super::protobuf::spec,
        Builder::Processor(super::protobuf::build),
    ),
    reg(super::avro::spec, Builder::Processor(super::avro::build)),
    reg(
        super::jmespath::spec,
        Builder::Processor(super::jmespath::build),
    ),
    reg(super::grok::spec, Builder::Processor(super::grok::build)),
    reg(
        super::insert_part::spec,
        Builder::Processor(super::insert_part::build),
    ),
    reg(
        super::flow::processors_spec,
        Builder::Processor(super::flow::build_processors),
    ),
    reg(
        super::flow::while_spec,
        Builder::Processor(super::flow::build_while),
    ),
    reg(
        super::flow::retry_spec,
        Builder::Processor(super::flow::build_retry),
    ),
    reg(
        super::cached::spec,
        Builder::Processor(super::cached::build),
    ),
    reg(
        super::command::spec,
        Builder::Processor(super::command::build),
    ),
    reg(
        super::metric::spec,
        Builder::Processor(super::metric::build),
    ),
    reg(
        super::benchmark::spec,
        Builder::Processor(super::benchmark::build),
    ),
    reg(
        super::sync_response::processor_spec,
        Builder::Processor(super::sync_response::build_processor),
    ),
    reg(
        super::workflow::spec,
        Builder::Processor(super::workflow::build),
    ),
    reg(super::split::spec, Builder::Processor(super::split::build)),
    reg(
        super::group_by::group_by_spec,
        Builder::Processor(super::group_by::build_group_by),
    ),
    reg(
        super::group_by::group_by_value_spec,
        Builder::Processor(super::group_by::build_group_by_value),
    ),
    reg(
        super::resource::processor_spec,
        Builder::Processor(super::resource::build_processor),
    ),
    reg(
        super::switch_processor::spec,
        Builder::Processor(super::switch_processor::build),
    ),
    reg(
        super::try_processor::spec,
        Builder::Processor(super::try_processor::build),
    ),
    // Outputs.
    reg(
        super::drop::spec,
        Builder::Output(|_, _| Ok(Arc::new(super::drop::Drop))),
    ),
    reg(
        elasticsearch::spec,
        Builder::Output(|c, _| Ok(Arc::new(elasticsearch::Elasticsearch::new(c)?))),
    ),
    reg(
        super::file::output_spec,
        Builder::Output(|c, _| Ok(Arc::new(super::file::FileOutput::new(c)?))),
    ),
    reg(
        http_client::output_spec,
        Builder::Output(|c, _| Ok(Arc::new(http_client::HttpClientOutput::new(c)?))),
    ),
    reg(
        http_server::output_spec,
        Builder::Output(|c, x| Ok(Arc::new(http_server::HttpServerOutput::new(c, x)?))),
    ),
    reg(
        kafka::output_spec,
        Builder::Output(|c, x| match kafka::KafkaOutput::new(c, x.offline)? {
            Some(o) => Ok(Arc::new(o)),
            None => Ok(Arc::new(super::Offline)),
        }),
    ),
    reg(
        super::nats::output_spec,
        Builder::Output(super::nats::build_output),
    ),
    reg(
        super::amqp_0_9::output_spec,
        Builder::Output(super::amqp_0_9::build_output),
    ),
    reg(
        super::mqtt::output_spec,
        Builder::Output(super::mqtt::build_output),
    ),
    reg(
        super::sql_insert::output_spec,
        Builder::Output(super::sql_insert::build_output),
    ),
    reg(
        super::sql_raw::output_spec,
        Builder::Output(super::sql_raw::build_output),
    ),
    reg(
        super::aws_s3::output_spec,
        Builder::Output(super::aws_s3::build_output),
    ),
    reg(
        super::nats_jetstream::output_spec,
        Builder::Output(super::nats_jetstream::build_output),
    ),
    reg(
        super::nats_kv::output_spec,
        Builder::Output(super::nats_kv::build_output),
    ),
    reg(
        super::redis_list::output_spec,
        Builder::Output(super::redis_list::build_output),
    ),
    reg(
        super::redis_pubsub::output_spec,
        Builder::Output(super::redis_pubsub::build_output),
    ),
    reg(
        super::redis_streams::output_spec,
        Builder::Output(super::redis_streams::build_output),
    ),
    reg(
        super::redis_hash::output_spec,
        Builder::Output(super::redis_hash::build_output),
    ),
    reg(
        super::kafka_franz::franz_output_spec,
        Builder::Output(super::kafka_franz::build_output),
    ),
    reg(
        super::kafka_franz::redpanda_output_spec,
        Builder::Output(super::kafka_franz::build_output),
    ),
    reg(
        super::reject::spec,
        Builder::Output(|c, _| Ok(Arc::new(super::reject::Reject::new(c)?))),
    ),
    reg(
        super::stdio::output_spec,
        Builder::Output(|c, _| Ok(Arc::new(super::stdio::Stdout::new(c)?))),
    ),
    reg(
        super::sync_response::output_spec,
        Builder::Output(|_, _| Ok(Arc::new(super::sync_response::SyncResponse))),
    ),
    reg(inproc::output_spec, Builder::Output(inproc::build_output)),
    reg(
        super::cache_output::spec,
        Builder::Output(super::cache_output::build),
    ),
    reg(super::broker::spec, Builder::Output(super::broker::build)),
    reg(
        super::resource::output_spec,
        Builder::Output(super::resource::build_output),
    ),
    reg(
        super::fallback::spec,
        Builder::Output(super::fallback::build),
    ),
    reg(
        super::switch_output::spec,
        Builder::Output(super::switch_output::build),
    ),
    reg(
        super::sockets::output_spec,
        Builder::Output(super::sockets::build_output),
    ),
    reg(
        super::subprocess::output_spec,
        Builder::Output(super::subprocess::build_output),
    ),
    reg(
        super::retry_output::spec,
        Builder::Output(super::retry_output::build),
    ),
    reg(
        super::websocket::output_spec,
        Builder::Output(super::websocket::build_output),
    ),
    // Resources.
    reg(memory_cache::spec, Builder::Cache(memory_cache::build)),
    reg(
        super::redis_cache::spec,
        Builder::Cache(super::redis_cache::build),
    ),
    reg(
        super::nats_kv::cache_spec,
        Builder::Cache(super::nats_kv::build_cache),
    ),
    reg(
        super::file_cache::spec,
        Builder::Cache(super::file_cache::build),
    ),
    reg(
        super::noop_cache::spec,
        Builder::Cache(super::noop_cache::build),
    ),
    reg(
        super::lru_cache::lru_spec,
        Builder::Cache(super::lru_cache::build_lru),
    ),
    reg(
        super::lru_cache::ttlru_spec,
        Builder::Cache(super::lru_cache::build_ttlru),
    ),
    reg(
        super::multilevel_cache::spec,
        Builder::Cache(super::multilevel_cache::build),
    ),
    // Scanners.
    reg(scanners::chunker_spec, Builder::Scanner(scanners::chunker)),
    reg(scanners::csv_spec, Builder::Scanner(scanners::csv)),
    reg(
        scanners::json_array_spec,
        Builder::Scanner(scanners::json_array),
    ),
    reg(scanners::tar_spec, Builder::Scanner(scanners::tar)),
    reg(scanners::switch_spec, Builder::Scanner(scanners::switch)),
    reg(
        scanners::decompress_spec,
        Builder::Scanner(scanners::decompress),
    ),
    reg(
        scanners::json_documents_spec,
        Builder::Scanner(scanners::json_documents),
    ),
    reg(
        scanners::re_match_spec,
        Builder::Scanner(scanners::re_match),
    ),
    reg(scanners::lines_spec, Builder::Scanner(scanners::lines)),
    reg(
        scanners::skip_bom_spec,
        Builder::Scanner(scanners::skip_bom),
    ),
    reg(
        scanners::to_the_end_spec,
        Builder::Scanner(scanners::to_the_end),
    ),
    reg(
        super::rate_limit::local_spec,
        Builder::RateLimit(super::rate_limit::LocalRateLimit::new),
    ),
    // Root-config sections.
    reg(registry::observability::metrics_json_api, Builder::Service),
    reg(registry::observability::metrics_none, Builder::Service),
    reg(
        registry::observability::metrics_prometheus,
        Builder::Service,
    ),
    reg(registry::observability::tracer_none, Builder::Service),
];

/// The process-wide registry of every component's spec.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new(&ALL.iter().map(|r| r.spec).collect::<Vec<_>>()))
}

/// The builder of component `name` of `kind`.
pub fn builder(kind: ComponentKind, name: &str) -> Option<Builder> {
    static INDEX: OnceLock<HashMap<(ComponentKind, &'static str), Builder>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            ALL.iter()
                .map(|r| {
                    let spec = (r.spec)();
                    ((spec.kind, spec.name), r.build)
                })
                .collect()
        })
        .get(&(kind, name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document;
    use crate::endpoints::EndpointRegistry;
    use crate::metrics::StreamMetrics;

    /// A `memory` cache's decoded config (all defaults).
    fn cache_config() -> ComponentConfig {
        let doc = document::parse("memory: {}").unwrap();
        crate::config::decode_component(registry(), ComponentKind::Cache, &doc, true)
            .unwrap()
            .0
    }

    /// Configs for components whose spec requires fields; every other component is built
    /// from `{}` (its defaults).
    fn example(kind: ComponentKind, name: &str) -> &'static str {
        match (kind, name) {
            (ComponentKind::Input, "file") => "file: {paths: [/dev/null]}",
            (ComponentKind::Input, "http_client") => "http_client: {url: 'http://127.0.0.1:1/x'}",
            (ComponentKind::Input, "kafka") => {
                "kafka: {addresses: ['127.0.0.1:1'], topics: [t], consumer_group: g}"
            }
            (ComponentKind::Input, "generate") => "generate: {mapping: 'root = 1'}",
            (ComponentKind::Processor, "mapping" | "bloblang" | "mutation") => {
                "mapping: 'root = this'"
            }
            (ComponentKind::Processor, "switch") => "switch: []",
            (ComponentKind::Processor, "catch" | "try") => "catch: []",
            (ComponentKind::Processor, "log") => "log: {message: hi}",
            (ComponentKind::Processor, "compress" | "decompress") => "compress: {algorithm: gzip}",
            (ComponentKind::Processor, "sleep") => "sleep: {duration: 1ms}",
            (ComponentKind::Processor, "cache") => "cache: {resource: c, operator: get, key: k}",
            (ComponentKind::Processor, "dedupe") => "dedupe: {cache: c, key: k}",
            (ComponentKind::Input | ComponentKind::Output, "inproc") => "inproc: pipe",
            (ComponentKind::Output, "cache") => "cache: {target: c}",
            (ComponentKind::Cache, "file") => "file: {directory: /tmp/sluice-catalog-test}",
            (ComponentKind::Cache, "multilevel") => "multilevel: [c, c]",
            (ComponentKind::Output, "broker") => "broker: {outputs: [{drop: {}}, {drop: {}}]}",
            (ComponentKind::Input, "broker" | "sequence") => {
                "broker: {inputs: [{generate: {mapping: 'root = 1'}}]}"
            }
            (ComponentKind::Output, "fallback") => "fallback: [{drop: {}}]",
            (ComponentKind::Output, "switch") => "switch: {cases: [{output: {drop: {}}}]}",
            (ComponentKind::Processor, "for_each") => "for_each: []",
            (ComponentKind::Processor, "xml") => "xml: {operator: to_json}",
            (ComponentKind::Processor, "msgpack") => "msgpack: {operator: to_json}",
            (ComponentKind::Processor, "json_schema") => {
                "json_schema: {schema: '{\"type\": \"object\"}'}"
            }
            (ComponentKind::Output, "elasticsearch") => {
                "elasticsearch: {urls: ['http://127.0.0.1:1'], index: x}"
            }
            (ComponentKind::Output, "file") => "file: {path: /dev/null}",
            (ComponentKind::Output, "http_client") => "http_client: {url: 'http://127.0.0.1:1/x'}",
            (ComponentKind::Processor, "http") => "http: {url: 'http://127.0.0.1:1/x'}",
            (ComponentKind::Processor, "rate_limit") => "rate_limit: {resource: r}",
            (ComponentKind::Processor, "archive" | "unarchive") => "archive: {format: lines}",
            (ComponentKind::Output, "kafka") => "kafka: {addresses: ['127.0.0.1:1'], topic: t}",
            (ComponentKind::Input, "redis_list") => "redis_list: {url: 'redis://127.0.0.1:1', key: k}",
            (ComponentKind::Output, "redis_list") => "redis_list: {url: 'redis://127.0.0.1:1', key: k}",
            (ComponentKind::Input, "redis_pubsub") => {
                "redis_pubsub: {url: 'redis://127.0.0.1:1', channels: [c]}"
            }
            (ComponentKind::Output, "redis_pubsub") => {
                "redis_pubsub: {url: 'redis://127.0.0.1:1', channel: c}"
            }
            (ComponentKind::Input, "redis_streams") => {
                "redis_streams: {url: 'redis://127.0.0.1:1', streams: [s], consumer_group: g}"
            }
            (ComponentKind::Output, "redis_streams") => {
                "redis_streams: {url: 'redis://127.0.0.1:1', stream: s}"
            }
            (ComponentKind::Input, "nats") => "nats: {urls: ['nats://127.0.0.1:1'], subject: s}",
            (ComponentKind::Output, "nats" | "nats_jetstream") => {
                "nats: {urls: ['nats://127.0.0.1:1'], subject: s}"
            }
            (ComponentKind::Input, "nats_jetstream") => {
                "nats_jetstream: {urls: ['nats://127.0.0.1:1'], subject: s}"
            }
            (ComponentKind::Input, "amqp_0_9") => "amqp_0_9: {urls: ['amqp://127.0.0.1:1'], queue: q}",
            (ComponentKind::Output, "amqp_0_9") => {
                "amqp_0_9: {urls: ['amqp://127.0.0.1:1'], exchange: e}"
            }
            (ComponentKind::Input, "mqtt") => "mqtt: {urls: ['tcp://127.0.0.1:1'], topics: [t]}",
            (ComponentKind::Output, "mqtt") => "mqtt: {urls: ['tcp://127.0.0.1:1'], topic: t}",
            (ComponentKind::Output | ComponentKind::Processor, "sql_insert") => {
                "sql_insert: {driver: sqlite, dsn: ':memory:', table: t, columns: [a], args_mapping: 'root = [1]'}"
            }
            (ComponentKind::Input | ComponentKind::Processor, "sql_select") => {
                "sql_select: {driver: postgres, dsn: 'postgres://127.0.0.1:1/x', table: t, columns: [a]}"
            }
            (_, "sql_raw") => "sql_raw: {driver: mysql, dsn: 'root:@tcp(127.0.0.1:1)/x', query: 'SELECT 1'}",
            (ComponentKind::Input | ComponentKind::Output, "aws_s3") => {
                "aws_s3: {bucket: b, region: us-east-1, endpoint: 'http://127.0.0.1:1', credentials: {id: x, secret: y}}"
            }
            (ComponentKind::Input, "redis_scan") => "redis_scan: {url: 'redis://127.0.0.1:1'}",
            (ComponentKind::Output, "redis_hash") => {
                "redis_hash: {url: 'redis://127.0.0.1:1', key: k, walk_metadata: true}"
            }
            (ComponentKind::Processor, "redis") => {
                "redis: {url: 'redis://127.0.0.1:1', command: get, args_mapping: 'root = [\"k\"]'}"
            }
            (ComponentKind::Processor, "nats_kv") => {
                "nats_kv: {urls: ['nats://127.0.0.1:1'], bucket: b, key: k, operation: get}"
            }
            (ComponentKind::Input | ComponentKind::Output, "nats_kv") => {
                "nats_kv: {urls: ['nats://127.0.0.1:1'], bucket: b, key: k}"
            }
            (ComponentKind::Cache, "nats_kv") => "nats_kv: {urls: ['nats://127.0.0.1:1'], bucket: b}",
            (ComponentKind::Processor, "nats_request_reply") => {
                "nats_request_reply: {urls: ['nats://127.0.0.1:1'], subject: s}"
            }
            (ComponentKind::Cache, "redis") => "redis: {url: 'redis://127.0.0.1:1'}",
            (ComponentKind::Input, "kafka_franz" | "redpanda") => {
                "kafka_franz: {seed_brokers: ['127.0.0.1:1'], topics: [t], consumer_group: g}"
            }
            (ComponentKind::Output, "kafka_franz" | "redpanda") => {
                "kafka_franz: {seed_brokers: ['127.0.0.1:1'], topic: t}"
            }
            (ComponentKind::Output, "reject") => "reject: no",
            (ComponentKind::Processor, "branch") => "branch: {processors: [{noop: {}}]}",
            (ComponentKind::Processor, "group_by") => "group_by: [{check: 'true'}]",
            (ComponentKind::Processor, "group_by_value") => "group_by_value: {value: x}",
            (_, "resource") => "resource: r",
            (ComponentKind::Processor, "jq") => "jq: {query: '.a'}",
            (ComponentKind::Processor, "parse_log") => "parse_log: {format: syslog_rfc5424}",
            (ComponentKind::Processor, "protobuf") => {
                "protobuf: {operator: to_json, message: testing.Person, import_paths: [testdata/proto]}"
            }
            (ComponentKind::Processor, "avro") => {
                "avro: {operator: to_json, schema: '{\"type\": \"string\"}'}"
            }
            (ComponentKind::Input | ComponentKind::Output, "socket") => {
                "socket: {network: tcp, address: '127.0.0.1:1'}"
            }
            (ComponentKind::Input, "socket_server") => {
                "socket_server: {network: tcp, address: '127.0.0.1:0'}"
            }
            (ComponentKind::Input | ComponentKind::Output, "subprocess") => {
                "subprocess: {name: cat}"
            }
            (ComponentKind::Input, "read_until") => {
                "read_until: {input: {generate: {mapping: 'root = 1'}}, check: 'true'}"
            }
            (ComponentKind::Input | ComponentKind::Output, "websocket") => {
                "websocket: {url: 'ws://127.0.0.1:1/x'}"
            }
            (ComponentKind::Output, "retry") => "retry: {output: {drop: {}}}",
            (ComponentKind::Processor, "jmespath") => "jmespath: {query: 'a'}",
            (ComponentKind::Processor, "grok") => "grok: {expressions: ['%{WORD:w}']}",
            (ComponentKind::Processor, "processors") => "processors: [{noop: {}}]",
            (ComponentKind::Processor, "cached") => "cached: {cache: c, key: k}",
            (ComponentKind::Processor, "command") => "command: {name: cat}",
            (ComponentKind::Processor, "metric") => "metric: {type: counter, name: n}",
            _ => "",
        }
    }

    /// No spec without a builder of its kind, and every stream component builds from its
    /// spec's defaults (or the example above): a spec cannot pass lint and fail to build.
    #[tokio::test]
    async fn every_registered_component_builds() {
        let ctx = BuildContext {
            stream: "t".into(),
            prefix_endpoints: true,
            endpoints: EndpointRegistry::new(),
            rate_limits: {
                let limits = crate::components::rate_limit::RateLimits::default();
                let doc = document::parse("local: {}").unwrap();
                let (cfg, _) = crate::config::decode_component(
                    registry(),
                    ComponentKind::RateLimit,
                    &doc,
                    true,
                )
                .unwrap();
                limits.set(
                    "r",
                    super::super::rate_limit::LocalRateLimit::new(&cfg).unwrap(),
                );
                limits
            },
            pipes: Default::default(),
            resources: {
                let table = crate::components::resource::ResourceConfigs::default();
                for (kind, text) in [
                    (ComponentKind::Input, "generate: {mapping: 'root = 1'}"),
                    (ComponentKind::Processor, "noop: {}"),
                    (ComponentKind::Output, "drop: {}"),
                ] {
                    let doc = document::parse(text).unwrap();
                    let (cfg, _) =
                        crate::config::decode_component(registry(), kind, &doc, true).unwrap();
                    table.set(kind, "r", cfg);
                }
                table
            },
            caches: {
                let caches = crate::components::cache::Caches::default();
                caches.set(
                    "c",
                    memory_cache::build(&cache_config(), &Default::default()).unwrap(),
                );
                caches
            },
            metrics: StreamMetrics::new("t"),
            path: "root.x".into(),
            label: String::new(),
            offline: false,
        };
        assert_eq!(
            registry().all().len(),
            ALL.len(),
            "a (kind, name) is registered twice"
        );
        for r in ALL {
            let spec = (r.spec)();
            let matches = matches!(
                (spec.kind, r.build),
                (ComponentKind::Input, Builder::Input(_))
                    | (ComponentKind::Buffer, Builder::Buffer)
                    | (ComponentKind::Processor, Builder::Processor(_))
                    | (ComponentKind::Output, Builder::Output(_))
                    | (ComponentKind::Cache, Builder::Cache(_))
                    | (ComponentKind::RateLimit, Builder::RateLimit(_))
                    | (
                        ComponentKind::Metrics | ComponentKind::Tracer,
                        Builder::Service
                    )
                    | (ComponentKind::Scanner, Builder::Scanner(_))
            );
            assert!(
                matches,
                "{} {} has a builder of another kind",
                spec.kind, spec.name
            );
            if !matches!(
                r.build,
                Builder::Input(_) | Builder::Processor(_) | Builder::Output(_) | Builder::Cache(_)
            ) {
                continue;
            }
            let text = match example(spec.kind, spec.name) {
                "" => format!("{}: {{}}", spec.name),
                // Shared examples name one component: put this one's name in front.
                t => match t.split_once(':') {
                    Some((_, rest)) => format!("{}:{}", spec.name, rest),
                    None => t.to_string(),
                },
            };
            let doc = document::parse(&text).unwrap();
            let (cfg, lints) = crate::config::decode_component(registry(), spec.kind, &doc, true)
                .unwrap_or_else(|e| panic!("{} {}: {}", spec.kind, spec.name, e));
            assert!(lints.is_empty(), "{} {}: {:?}", spec.kind, spec.name, lints);
            let built = match r.build {
                Builder::Input(b) => b(&cfg, &ctx).map(|_| ()),
                Builder::Processor(b) => b(&cfg, &ctx).map(|_| ()),
                Builder::Output(b) => b(&cfg, &ctx).map(|_| ()),
                Builder::Cache(b) => b(&cfg, &ctx.caches).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = built {
                panic!(
                    "{} {} does not build from its example: {}",
                    spec.kind, spec.name, e
                );
            }
        }
    }

    #[test]
    fn every_component_is_registered_once() {
        let r = registry();
        assert!(r.get(ComponentKind::Input, "http_server").is_some());
        assert!(r.get(ComponentKind::Output, "http_server").is_some());
        assert!(r.get(ComponentKind::Input, "nope").is_none());
    }

    #[test]
    fn object_defaults_come_from_children() {
        let r = registry();
        let memory = r.get(ComponentKind::Buffer, "memory").unwrap();
        let d = memory.config.default_value().unwrap();
        assert_eq!(d["limit"], 524_288_000);
        assert_eq!(d["batch_policy"]["enabled"], false);
        assert!(d["batch_policy"].get("processors").is_none());
    }

    #[test]
    fn secrets_are_marked() {
        let r = registry();
        let es = r.get(ComponentKind::Output, "elasticsearch").unwrap();
        assert!(
            es.config
                .child("basic_auth")
                .unwrap()
                .child("password")
                .unwrap()
                .secret
        );
        assert!(es.config.child("api_key").unwrap().secret);
    }
}
