//! Component implementations and the planner that turns a decoded stream config into a
//! [`StreamPlan`]: every component constructed (mappings compiled, ports bound, endpoints
//! prepared) but nothing started. Building a plan is the one code path behind `POST`, `PUT`,
//! `PATCH`, bulk updates and stream files, so a plan that fails to build never replaces a
//! running stream.
//!
//! One module per protocol: [`http_server`], [`http_client`]; the simple ones are grouped by
//! direction in [`inputs`], [`outputs`]; [`processors`] holds the processors; [`codec`] the
//! framing shared by readers and writers.

pub mod acks;
pub mod amqp_0_9;
pub mod archive;
pub mod avro;
pub mod aws_s3;
pub mod benchmark;
pub mod bounds_check;
pub mod branch;
pub mod broker;
pub mod broker_input;
pub mod buffers;
pub mod cache;
pub mod cache_output;
pub mod cache_processor;
pub mod cached;
pub mod catalog;
pub mod catch;
pub mod child_outputs;
pub mod codec;
pub mod command;
pub mod compression;
pub mod dedupe;
pub mod documents;
pub mod drop;
pub mod elasticsearch;
pub mod fallback;
pub mod file;
pub mod file_cache;
pub mod flow;
pub mod for_each;
pub mod fusion;
pub mod generate;
pub mod grok;
pub mod group_by;
pub mod http_client;
pub mod http_server;
pub mod inproc;
pub mod insert_part;
pub mod jmespath;
pub mod jq;
pub mod kafka;
pub mod kafka_franz;
pub mod log;
pub mod lru_cache;
pub mod mapping;
pub mod memory_cache;
pub mod metadata_filter;
pub mod metric;
pub mod mqtt;
pub mod multilevel_cache;
pub mod nats;
pub mod nats_jetstream;
pub mod nats_kv;
pub mod nats_request_reply;
pub mod noop;
pub mod noop_cache;
pub mod parallel;
pub mod parse_log;
pub mod processors;
pub mod protobuf;
pub mod rate_limit;
pub mod rate_limit_processor;
pub mod read_until;
pub mod reading;
pub mod redis;
pub mod redis_cache;
pub mod redis_hash;
pub mod redis_list;
pub mod redis_processor;
pub mod redis_pubsub;
pub mod redis_scan;
pub mod redis_streams;
pub mod reject;
pub mod resource;
pub mod retry_output;
pub mod scanners;
pub mod select_parts;
pub mod sleep;
pub mod sockets;
pub mod split;
pub mod sql;
pub mod sql_insert;
pub mod sql_raw;
pub mod sql_select;
pub mod stdio;
pub mod subprocess;
pub mod switch_output;
pub mod switch_processor;
pub mod sync_response;
pub mod try_processor;
pub mod websocket;
pub mod workflow;

use crate::config::stream::{ComponentConfig, StreamConfig};
use crate::endpoints::EndpointRegistry;
use crate::metrics::StreamMetrics;
use crate::stream::{
    BatchPolicy, BufferPlan, BuildContext, ComponentError, Input, SharedOutput, StreamPlan,
};

/// The interpolated string field `name` of a component, compiled; the error names the field.
pub(crate) fn interpolated_field(
    cfg: &ComponentConfig,
    name: &str,
) -> Result<sluice_compiler::interp::Interpolation, ComponentError> {
    sluice_compiler::interp::Interpolation::compile(cfg.str(name).unwrap_or(""))
        .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
}

/// A component that failed to build, worded like the reference:
/// `failed to init output <no label> path root.output: <cause>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to init {kind} {label} path {path}: {cause}")]
pub struct BuildError {
    /// `input`, `buffer`, `processor` or `output`.
    pub kind: &'static str,
    /// `<no label>` or `'label'`.
    pub label: String,
    /// The config path (`root.pipeline.processors.0`).
    pub path: String,
    /// Why.
    pub cause: String,
}

fn build_error(
    kind: &'static str,
    cfg: &ComponentConfig,
    path: &str,
    e: ComponentError,
) -> BuildError {
    BuildError {
        kind,
        label: if cfg.label.is_empty() {
            "<no label>".into()
        } else {
            format!("'{}'", cfg.label)
        },
        path: path.to_string(),
        cause: e.0,
    }
}

/// Where a plan is built: the stream id, endpoint registry and prefixing.
#[derive(Debug, Clone)]
pub struct PlanContext {
    /// The stream id.
    pub stream: String,
    /// The shared server's endpoints.
    pub endpoints: EndpointRegistry,
    /// Whether component endpoints get the `/{id}` prefix.
    pub prefix_endpoints: bool,
    /// The rate limit resources.
    pub rate_limits: rate_limit::RateLimits,
    /// The cache resources.
    pub caches: cache::Caches,
    /// The `inproc` pipes between streams.
    pub pipes: inproc::Pipes,
    /// The input, processor and output resource configs.
    pub resources: resource::ResourceConfigs,
    /// Built by `compile --check`: nothing connects or binds (see [`Offline`]).
    pub offline: bool,
}

/// What `compile --check` builds an input or output as when building the real one would
/// reach outside the process (a Kafka client connects as soon as it exists): its settings
/// were validated, nothing was opened. It is never started.
pub struct Offline;

#[async_trait::async_trait]
impl Input for Offline {
    async fn run(self: Box<Self>, _sink: crate::stream::InputSink) -> Result<(), ComponentError> {
        Err(ComponentError::new(
            "this input was built by compile --check and cannot run",
        ))
    }
}

#[async_trait::async_trait]
impl crate::stream::Output for Offline {
    async fn write(
        &self,
        _batch: crate::stream::Batch,
        _responses: Option<&crate::stream::ResponseStore>,
    ) -> Result<(), crate::stream::Nack> {
        Err(crate::stream::Nack(
            "this output was built by compile --check and cannot run".into(),
        ))
    }
}

/// Builds every component of a stream.
pub fn build_plan(cfg: &StreamConfig, pc: &PlanContext) -> Result<StreamPlan, BuildError> {
    register_resources(cfg, pc)?;
    let metrics = StreamMetrics::new(pc.stream.clone());
    let ctx = |path: &str, label: &str| BuildContext {
        stream: pc.stream.clone(),
        prefix_endpoints: pc.prefix_endpoints,
        endpoints: pc.endpoints.clone(),
        rate_limits: pc.rate_limits.clone(),
        caches: pc.caches.clone(),
        pipes: pc.pipes.clone(),
        resources: pc.resources.clone(),
        metrics: metrics.clone(),
        path: path.to_string(),
        label: label.to_string(),
        offline: pc.offline,
    };

    let input = build_input(&cfg.input, &ctx("root.input", &cfg.input.label))
        .map_err(|e| build_error("input", &cfg.input, "root.input", e))?;
    let buffer = match cfg.buffer.name {
        "memory" => BufferPlan::Memory {
            limit: cfg.buffer.int("limit").unwrap_or(524_288_000).max(1) as usize,
            batch_policy: batch_policy(&cfg.buffer, "batch_policy")
                .map_err(|e| build_error("buffer", &cfg.buffer, "root.buffer", e))?,
        },
        "none" => BufferPlan::None,
        other => {
            return Err(build_error(
                "buffer",
                &cfg.buffer,
                "root.buffer",
                ComponentError::new(format!("buffer type '{}' cannot run in sluice yet", other)),
            ))
        }
    };
    // Processors attached to the input run first, then the pipeline's, then the output's.
    let mut processors = Vec::new();
    let groups = [
        (&cfg.input.processors, "root.input.processors"),
        (&cfg.pipeline.processors, "root.pipeline.processors"),
        (&cfg.output.processors, "root.output.processors"),
    ];
    for (list, base) in groups {
        for (i, p) in list.iter().enumerate() {
            let path = format!("{}.{}", base, i);
            let built = processors::build(p, &ctx(&path, &p.label))
                .map_err(|e| build_error("processor", p, &path, e))?;
            processors.push(built);
        }
    }
    let output = build_output(&cfg.output, &ctx("root.output", &cfg.output.label))
        .map_err(|e| build_error("output", &cfg.output, "root.output", e))?;
    let threads = match cfg.pipeline.threads {
        t if t <= 0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        t => t as usize,
    };
    let output_batching = batch_policy(&cfg.output, "batching")
        .map_err(|e| build_error("output", &cfg.output, "root.output", e))?;
    Ok(StreamPlan {
        input: (input, cfg.input.name.to_string()),
        output_batching,
        buffer,
        processors,
        threads,
        output: (output, cfg.output.name.to_string()),
        metrics,
    })
}

/// Builds the resources a config declares (`cache_resources`, `rate_limit_resources` of a
/// whole config, as `sluice run` takes it) into the tables components look them up in.
fn register_resources(cfg: &StreamConfig, pc: &PlanContext) -> Result<(), BuildError> {
    use crate::registry::ComponentKind;
    let r = &cfg.resources;
    for (kind, list) in [
        (ComponentKind::Input, &r.inputs),
        (ComponentKind::Processor, &r.processors),
        (ComponentKind::Output, &r.outputs),
    ] {
        for c in list {
            pc.resources.set(kind, &c.label, c.clone());
        }
    }
    for (i, c) in cfg.resources.caches.iter().enumerate() {
        let path = format!("root.cache_resources.{}", i);
        let cache = match catalog::builder(c.kind, c.name) {
            Some(catalog::Builder::Cache(build)) => build(c, &pc.caches),
            _ => Err(ComponentError::new(format!(
                "cache type '{}' cannot run in sluice yet",
                c.name
            ))),
        }
        .map_err(|e| build_error("cache", c, &path, e))?;
        pc.caches.set(&c.label, cache);
    }
    for (i, r) in cfg.resources.rate_limits.iter().enumerate() {
        let path = format!("root.rate_limit_resources.{}", i);
        let limit = match catalog::builder(r.kind, r.name) {
            Some(catalog::Builder::RateLimit(build)) => build(r),
            _ => Err(ComponentError::new(format!(
                "rate_limit type '{}' cannot run in sluice yet",
                r.name
            ))),
        }
        .map_err(|e| build_error("rate_limit", r, &path, e))?;
        pc.rate_limits.set(&r.label, limit);
    }
    Ok(())
}

/// A batching policy field (`batching` of outputs, `batch_policy` of the memory buffer):
/// absent, all zero, or `enabled: false` means none. `check` and `processors` are not
/// supported yet and are refused rather than ignored.
fn batch_policy(cfg: &ComponentConfig, field: &str) -> Result<BatchPolicy, ComponentError> {
    let f = |name: &str| format!("{}.{}", field, name);
    if cfg.field(field).is_none() || cfg.bool(&f("enabled")) == Some(false) {
        return Ok(BatchPolicy::default());
    }
    let period = match cfg.str(&f("period")).unwrap_or("") {
        "" => None,
        p => Some(
            crate::duration::parse(p)
                .map_err(|e| ComponentError::new(format!("{}: {}", f("period"), e)))?,
        ),
    };
    if !cfg.str(&f("check")).unwrap_or("").is_empty() {
        return Err(ComponentError::new(format!(
            "{} is not supported yet",
            f("check")
        )));
    }
    if cfg
        .field(&f("processors"))
        .and_then(|x| x.as_array())
        .map(|a| !a.is_empty())
        .unwrap_or(false)
    {
        return Err(ComponentError::new(format!(
            "{} is not supported yet",
            f("processors")
        )));
    }
    Ok(BatchPolicy {
        count: cfg.int(&f("count")).unwrap_or(0).max(0) as usize,
        byte_size: cfg.int(&f("byte_size")).unwrap_or(0).max(0) as usize,
        period,
    })
}

/// A reqwest client builder with the component's `tls` settings (rustls: the system roots,
/// plus `root_cas`/`root_cas_file`, `skip_cert_verify` and `client_certs` when enabled).
pub(crate) fn http_client_builder(
    cfg: &ComponentConfig,
) -> Result<reqwest::ClientBuilder, ComponentError> {
    let tls = crate::tls::client_config(cfg.field("tls"))
        .map_err(|e| ComponentError::new(e.to_string()))?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

/// The `basic_auth` group of a component (`enabled`, `username`, `password`), when enabled.
pub(crate) fn basic_auth(cfg: &ComponentConfig) -> Option<(String, String)> {
    cfg.bool("basic_auth.enabled").unwrap_or(false).then(|| {
        (
            cfg.str("basic_auth.username").unwrap_or("").to_string(),
            cfg.str("basic_auth.password").unwrap_or("").to_string(),
        )
    })
}

/// Builds an input through its registration in the [`catalog`].
pub fn build_input(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    match catalog::builder(cfg.kind, cfg.name) {
        Some(catalog::Builder::Input(build)) => build(cfg, ctx),
        _ => Err(ComponentError::new(format!(
            "input type '{}' cannot run in sluice yet",
            cfg.name
        ))),
    }
}

/// Builds an output through its registration in the [`catalog`].
pub fn build_output(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    match catalog::builder(cfg.kind, cfg.name) {
        Some(catalog::Builder::Output(build)) => build(cfg, ctx),
        _ => Err(ComponentError::new(format!(
            "output type '{}' cannot run in sluice yet",
            cfg.name
        ))),
    }
}
