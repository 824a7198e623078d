//! The streams manager: the set of running streams by id, and the operations of the REST API
//! (create, replace, patch, delete, bulk replace, status, stats, readiness, metrics).
//!
//! Every change validates and builds the whole new stream before it touches the running one
//! (the contract's "validate, then swap"): a config that fails to parse, lint, compile or
//! construct is an error and the running stream stays exactly as it was. A replace starts the
//! new stream first (its HTTP endpoints take over the routes at once), then stops the old one
//! within the timeout, so requests to the stream's endpoints never see a gap.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use tokio::sync::Mutex;

use crate::components::{build_plan, catalog, BuildError, PlanContext};
use crate::config::document::Node;
use crate::config::stream::{Scope, StreamConfig};
use crate::config::{self, ConfigError, LoadOptions};
use crate::endpoints::{namespaced, EndpointRegistry, Handler};
use crate::lint::Lint;
use crate::stream::{RunningStream, StopError};

/// Why a manager operation failed; each maps to one HTTP status of the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagerError {
    /// 404 `Stream not found`.
    #[error("Stream not found")]
    NotFound,
    /// 400 `Stream already exists`.
    #[error("Stream already exists")]
    AlreadyExists,
    /// 400 `Error: invalid stream id`.
    #[error("invalid stream id")]
    InvalidId,
    /// 400 with the `{"lint_errors":[...]}` body.
    #[error("config has lint errors: {}", .0.join("; "))]
    Lints(Vec<String>),
    /// 400 `Error: <message>`: the request is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 502 `Error: <message>`: a component could not be built.
    #[error("{0}")]
    Build(String),
    /// 502 `Error: type was closed`: the manager is shutting down.
    #[error("type was closed")]
    Closed,
}

impl From<BuildError> for ManagerError {
    fn from(e: BuildError) -> ManagerError {
        ManagerError::Build(e.to_string())
    }
}

/// A parsed stream config ready to be built: the typed config and the raw document (kept for
/// PATCH merges).
#[derive(Debug, Clone)]
pub struct ParsedStream {
    /// The typed config with defaults.
    pub config: StreamConfig,
    /// The source document as JSON.
    pub raw: serde_json::Value,
    /// Whether the stream came over the API (then it is kept in the state directory).
    pub from_api: bool,
}

/// A stream's status as `GET /streams` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamStatus {
    /// Still running.
    pub active: bool,
    /// Time since creation (frozen once stopped).
    pub uptime: Duration,
}

/// A resource posted to `/resources/{type}/{id}`: stored, linted and validated config.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The decoded component.
    pub config: crate::config::stream::ComponentConfig,
}

struct Managed {
    parsed: ParsedStream,
    running: RunningStream,
}

/// Options of the manager.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// The shared server's endpoints.
    pub endpoints: EndpointRegistry,
    /// Prefix component endpoints with `/{id}`.
    pub prefix_endpoints: bool,
    /// Bound of a stop when the request gives no `timeout`.
    pub default_timeout: Duration,
    /// Where API-made stream configs are kept (one YAML file per stream), if anywhere.
    pub state_dir: Option<std::path::PathBuf>,
    /// The data-plane runtime: plans are built on its blocking pool and streams run on it,
    /// never on the runtime that serves the API.
    pub runtime: tokio::runtime::Handle,
}

/// The set of streams.
pub struct StreamsManager {
    streams: Mutex<BTreeMap<String, Arc<Managed>>>,
    resources: Mutex<BTreeMap<(String, String), Resource>>,
    rate_limits: crate::components::rate_limit::RateLimits,
    caches: crate::components::cache::Caches,
    pipes: crate::components::inproc::Pipes,
    resource_configs: crate::components::resource::ResourceConfigs,
    opts: ManagerOptions,
    closed: AtomicBool,
    me: Weak<StreamsManager>,
}

impl std::fmt::Debug for StreamsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsManager")
            .field("opts", &self.opts)
            .finish()
    }
}

/// Writes `bytes` to a new file at `path` readable and writable by the owner only (0600).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // A file left by an older version keeps its mode on open: set it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

/// Checks a stream id against the contract's `^[A-Za-z0-9][A-Za-z0-9_\-\.]{0,127}$` (so
/// never `.`, `..` or a hidden file name in the state directory).
pub fn valid_id(id: &str) -> bool {
    id.len() <= 128
        && id.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The existing id equal to `id` ignoring case but spelled differently, if any: such ids
/// would share a state file on a case-insensitive file system.
fn case_collision<'a, V>(streams: &'a BTreeMap<String, V>, id: &str) -> Option<&'a str> {
    streams
        .keys()
        .find(|k| k.as_str() != id && k.eq_ignore_ascii_case(id))
        .map(String::as_str)
}

fn collision_error(id: &str, existing: &str) -> ManagerError {
    ManagerError::BadRequest(format!(
        "stream id {} differs only in case from the existing stream {}",
        id, existing
    ))
}

fn lint_strings(lints: &[Lint], prefix: &str) -> Vec<String> {
    lints.iter().map(|l| format!("{}{}", prefix, l)).collect()
}

impl StreamsManager {
    /// A manager with no streams.
    pub fn new(opts: ManagerOptions) -> Arc<StreamsManager> {
        Arc::new_cyclic(|me| StreamsManager {
            streams: Mutex::new(BTreeMap::new()),
            resources: Mutex::new(BTreeMap::new()),
            rate_limits: Default::default(),
            caches: Default::default(),
            pipes: Default::default(),
            resource_configs: Default::default(),
            opts,
            closed: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// The data-plane runtime the streams run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.opts.runtime
    }

    /// The default stop bound.
    pub fn default_timeout(&self) -> Duration {
        self.opts.default_timeout
    }

    /// Parses a single-stream body: YAML or JSON whatever the content type. `env` applies
    /// `${VAR}` interpolation (stream files only; never API bodies). Lints fail the parse
    /// unless `chilled`.
    pub fn parse(
        &self,
        body: &[u8],
        env: bool,
        chilled: bool,
    ) -> Result<ParsedStream, ManagerError> {
        self.parse_in(body, Scope::Stream, env, chilled)
    }

    /// [`StreamsManager::parse`] for a document of `scope` (a whole config, with `http`,
    /// `logger`... beside the stream, for `sluice run`).
    pub fn parse_in(
        &self,
        body: &[u8],
        scope: Scope,
        env: bool,
        chilled: bool,
    ) -> Result<ParsedStream, ManagerError> {
        let lookup = config::process_env;
        let opts = LoadOptions {
            scope,
            env: if env { Some(&lookup) } else { None },
            lint: !chilled,
            ..LoadOptions::new(catalog::registry())
        };
        let (doc, read_lints) = config::read_document(body, &opts).map_err(config_error)?;
        let mut parsed = self.parse_node(&doc, scope, read_lints, chilled, "")?;
        parsed.from_api = !env;
        Ok(parsed)
    }

    /// Parses a YAML or JSON body into a generic value (a PATCH body).
    pub fn parse_value(&self, body: &[u8]) -> Result<serde_json::Value, ManagerError> {
        let (doc, _) = config::read_document(body, &LoadOptions::new(catalog::registry()))
            .map_err(config_error)?;
        Ok(doc.to_json())
    }

    /// Parses one stream's document node (also used for the entries of a bulk body).
    fn parse_node(
        &self,
        doc: &Node,
        scope: Scope,
        mut lints: Vec<Lint>,
        chilled: bool,
        prefix: &str,
    ) -> Result<ParsedStream, ManagerError> {
        let (config, more) = config::decode_stream(catalog::registry(), doc, scope, !chilled)
            .map_err(|e| match e {
                ConfigError::Invalid { error, lints } if !chilled && !lints.is_empty() => {
                    let _ = error;
                    ManagerError::Lints(lint_strings(&lints, prefix))
                }
                other => config_error(other),
            })?;
        if !chilled {
            lints.extend(more);
            if !lints.is_empty() {
                return Err(ManagerError::Lints(lint_strings(&lints, prefix)));
            }
        }
        Ok(ParsedStream {
            config,
            raw: doc.to_json(),
            from_api: true,
        })
    }

    /// Parses a bulk body (`{id: config, ...}`) into streams, linting each (lints prefixed
    /// `stream '<id>': `) unless chilled.
    pub fn parse_bulk(
        &self,
        body: &[u8],
        chilled: bool,
    ) -> Result<Vec<(String, ParsedStream)>, ManagerError> {
        let opts = LoadOptions {
            scope: Scope::Stream,
            env: None,
            lint: !chilled,
            ..LoadOptions::new(catalog::registry())
        };
        let (doc, _) = config::read_document(body, &opts).map_err(config_error)?;
        if doc.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = doc.as_map() else {
            return Err(ManagerError::BadRequest(format!(
                "expected a map of stream ids to configs, got {}",
                doc.short_tag()
            )));
        };
        let mut out = Vec::new();
        let mut all_lints = Vec::new();
        for e in entries {
            if !valid_id(&e.key) {
                return Err(ManagerError::InvalidId);
            }
            match self.parse_node(
                &e.value,
                Scope::Stream,
                Vec::new(),
                chilled,
                &format!("stream '{}': ", e.key),
            ) {
                Ok(p) => out.push((e.key.clone(), p)),
                Err(ManagerError::Lints(l)) => all_lints.extend(l),
                Err(other) => return Err(other),
            }
        }
        if !all_lints.is_empty() {
            return Err(ManagerError::Lints(all_lints));
        }
        Ok(out)
    }

    fn plan_context(&self, id: &str) -> PlanContext {
        PlanContext {
            stream: id.to_string(),
            endpoints: self.opts.endpoints.clone(),
            prefix_endpoints: self.opts.prefix_endpoints,
            rate_limits: self.rate_limits.clone(),
            caches: self.caches.clone(),
            pipes: self.pipes.clone(),
            resources: self.resource_configs.clone(),
            offline: false,
        }
    }

    /// Builds a stream's plan on a blocking thread of the data-plane runtime (compiling
    /// mappings is CPU work: it must neither hold the manager's lock nor an executor thread).
    async fn build(
        &self,
        id: &str,
        config: &StreamConfig,
    ) -> Result<crate::stream::StreamPlan, ManagerError> {
        let config = config.clone();
        let ctx = self.plan_context(id);
        match self
            .opts
            .runtime
            .spawn_blocking(move || build_plan(&config, &ctx))
            .await
        {
            Ok(plan) => Ok(plan?),
            Err(e) => Err(ManagerError::Build(format!(
                "building the stream failed: {}",
                e
            ))),
        }
    }

    fn check_open(&self) -> Result<(), ManagerError> {
        if self.closed.load(Ordering::SeqCst) {
            Err(ManagerError::Closed)
        } else {
            Ok(())
        }
    }

    /// Creates and starts a stream.
    pub async fn create(&self, id: &str, parsed: ParsedStream) -> Result<(), ManagerError> {
        self.check_open()?;
        if !valid_id(id) {
            return Err(ManagerError::InvalidId);
        }
        {
            let streams = self.streams.lock().await;
            if streams.contains_key(id) {
                return Err(ManagerError::AlreadyExists);
            }
            if let Some(other) = case_collision(&streams, id) {
                return Err(collision_error(id, other));
            }
        }
        let plan = self.build(id, &parsed.config).await?;
        let mut streams = self.streams.lock().await;
        // The build ran outside the lock: the manager may have closed, or another request
        // created the stream, meanwhile.
        self.check_open()?;
        if streams.contains_key(id) {
            return Err(ManagerError::AlreadyExists);
        }
        if let Some(other) = case_collision(&streams, id) {
            return Err(collision_error(id, other));
        }
        self.persist(id, &parsed);
        let running = RunningStream::start(plan, &self.opts.runtime);
        streams.insert(id.to_string(), Arc::new(Managed { parsed, running }));
        drop(streams);
        self.register_ready(id);
        tracing::info!(stream = id, "stream created");
        Ok(())
    }

    /// Replaces a stream: builds the new one first (any failure leaves the old one running),
    /// starts it, then stops the old one within `timeout`.
    pub async fn update(
        &self,
        id: &str,
        parsed: ParsedStream,
        timeout: Option<Duration>,
    ) -> Result<Option<StopError>, ManagerError> {
        self.check_open()?;
        if !self.streams.lock().await.contains_key(id) {
            return Err(ManagerError::NotFound);
        }
        let plan = self.build(id, &parsed.config).await?;
        let mut streams = self.streams.lock().await;
        self.check_open()?;
        let Some(old) = streams.remove(id) else {
            return Err(ManagerError::NotFound);
        };
        self.persist(id, &parsed);
        let running = RunningStream::start(plan, &self.opts.runtime);
        old.running.hand_over_buffer_to(&running);
        streams.insert(id.to_string(), Arc::new(Managed { parsed, running }));
        drop(streams);
        let stop = old
            .running
            .stop(timeout.unwrap_or(self.opts.default_timeout))
            .await
            .err();
        tracing::info!(stream = id, forced = stop.is_some(), "stream updated");
        Ok(stop)
    }

    /// The raw document of a stream (for PATCH).
    pub async fn raw(&self, id: &str) -> Result<serde_json::Value, ManagerError> {
        let streams = self.streams.lock().await;
        streams
            .get(id)
            .map(|m| m.parsed.raw.clone())
            .ok_or(ManagerError::NotFound)
    }

    /// Stops and removes a stream, bounded by `timeout`. A forced stop still removes it and is
    /// reported as `Some(StopError)`.
    pub async fn delete(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<StopError>, ManagerError> {
        let removed = self
            .streams
            .lock()
            .await
            .remove(id)
            .ok_or(ManagerError::NotFound)?;
        self.unpersist(id);
        let stop = removed
            .running
            .stop(timeout.unwrap_or(self.opts.default_timeout))
            .await
            .err();
        tracing::info!(stream = id, forced = stop.is_some(), "stream deleted");
        Ok(stop)
    }

    /// Makes `streams` the exclusive set: deletes the others, replaces the existing ones,
    /// creates the new ones. Errors are collected as the reference words them.
    pub async fn replace_all(
        &self,
        streams: Vec<(String, ParsedStream)>,
    ) -> Result<(), ManagerError> {
        self.check_open()?;
        let existing: Vec<String> = self.streams.lock().await.keys().cloned().collect();
        let wanted: Vec<&String> = streams.iter().map(|(id, _)| id).collect();
        let mut errors = Vec::new();
        // Deletions and replacements run concurrently: each stop is bounded, and stuck streams
        // must not add their timeouts up.
        let deletes = existing
            .iter()
            .filter(|id| !wanted.contains(id))
            .map(|id| async move {
                self.delete(id, None)
                    .await
                    .err()
                    .map(|e| format!("failed to delete stream: {}", e))
            });
        errors.extend(
            futures::future::join_all(deletes)
                .await
                .into_iter()
                .flatten(),
        );
        let (updates, creates): (Vec<_>, Vec<_>) = streams
            .into_iter()
            .partition(|(id, _)| existing.contains(id));
        let updates = updates.into_iter().map(|(id, parsed)| async move {
            self.update(&id, parsed, None)
                .await
                .err()
                .map(|e| format!("failed to update stream: {}", e))
        });
        errors.extend(
            futures::future::join_all(updates)
                .await
                .into_iter()
                .flatten(),
        );
        for (id, parsed) in creates {
            if let Err(e) = self.create(&id, parsed).await {
                errors.push(format!("failed to create stream: {}", e));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ManagerError::BadRequest(errors.join("\n")))
        }
    }

    /// Validates and stores a resource (`cache`, `input`, `output`, `processor` or
    /// `rate_limit`), replacing one of the same type and name. Linted unless `chilled`.
    pub async fn set_resource(
        &self,
        kind: &str,
        id: &str,
        body: &[u8],
        chilled: bool,
    ) -> Result<(), ManagerError> {
        use crate::registry::ComponentKind;
        let kind = match kind {
            "cache" => ComponentKind::Cache,
            "input" => ComponentKind::Input,
            "output" => ComponentKind::Output,
            "processor" => ComponentKind::Processor,
            "rate_limit" => ComponentKind::RateLimit,
            _ => {
                return Err(ManagerError::BadRequest(
                    "Var `type` must be set to one of `cache`, `input`, `output`, `processor` or `rate_limit`".into(),
                ))
            }
        };
        self.check_open()?;
        if !valid_id(id) {
            return Err(ManagerError::InvalidId);
        }
        let (config, lints) = {
            let opts = LoadOptions {
                lint: !chilled,
                ..LoadOptions::new(catalog::registry())
            };
            let (doc, _) = config::read_document(body, &opts).map_err(config_error)?;
            config::decode_component(catalog::registry(), kind, &doc, !chilled).map_err(
                |e| match e {
                    ConfigError::Invalid { lints, .. } if !chilled && !lints.is_empty() => {
                        ManagerError::Lints(lint_strings(&lints, ""))
                    }
                    other => config_error(other),
                },
            )?
        };
        if !lints.is_empty() {
            return Err(ManagerError::Lints(lint_strings(&lints, "")));
        }
        if matches!(kind, ComponentKind::Input | ComponentKind::Output)
            && !config.label.is_empty()
            && config.label != id
        {
            return Err(ManagerError::Build(format!(
                "label '{}' must be empty or match the resource name '{}'",
                config.label, id
            )));
        }
        // Caches and rate limits are built now (through the catalog) and replace the one of
        // the same name at once for every stream using it.
        let failed = |e: crate::stream::ComponentError| {
            ManagerError::Build(format!("failed to init {} '{}': {}", kind.as_str(), id, e))
        };
        match catalog::builder(kind, config.name) {
            Some(catalog::Builder::RateLimit(build)) => {
                self.rate_limits.set(id, build(&config).map_err(failed)?)
            }
            Some(catalog::Builder::Cache(build)) => self
                .caches
                .set(id, build(&config, &self.caches).map_err(failed)?),
            _ if matches!(kind, ComponentKind::RateLimit | ComponentKind::Cache) => {
                return Err(ManagerError::Build(format!(
                    "{} type '{}' cannot run in sluice yet",
                    kind.as_str(),
                    config.name
                )))
            }
            _ => self.resource_configs.set(kind, id, config.clone()),
        }
        self.resources.lock().await.insert(
            (kind.as_str().to_string(), id.to_string()),
            Resource { config },
        );
        tracing::info!(kind = kind.as_str(), id, "resource stored");
        Ok(())
    }

    /// Every stream's status.
    pub async fn list(&self) -> BTreeMap<String, StreamStatus> {
        let streams = self.streams.lock().await;
        streams
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    StreamStatus {
                        active: m.running.active(),
                        uptime: m.running.uptime(),
                    },
                )
            })
            .collect()
    }

    /// A stream's status and its defaults-filled, secret-scrubbed config.
    pub async fn get(&self, id: &str) -> Result<(StreamStatus, serde_json::Value), ManagerError> {
        let streams = self.streams.lock().await;
        let m = streams.get(id).ok_or(ManagerError::NotFound)?;
        Ok((
            StreamStatus {
                active: m.running.active(),
                uptime: m.running.uptime(),
            },
            m.parsed.config.render(),
        ))
    }

    /// A stream's flat stats object (with `uptime_ns`).
    pub async fn stats(
        &self,
        id: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ManagerError> {
        let streams = self.streams.lock().await;
        let m = streams.get(id).ok_or(ManagerError::NotFound)?;
        let mut s = m.running.metrics().stats();
        s.insert(
            "uptime_ns".into(),
            serde_json::Value::from(m.running.uptime().as_nanos() as u64),
        );
        Ok(s)
    }

    /// Ids of active streams whose output is not connected.
    pub async fn not_ready(&self) -> Vec<String> {
        let streams = self.streams.lock().await;
        streams
            .iter()
            .filter(|(_, m)| {
                m.running.active() && !(m.running.input_connected() && m.running.output_connected())
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every stream's metrics in the Prometheus text format.
    pub async fn prometheus(&self) -> String {
        let streams = self.streams.lock().await;
        let mut out = String::new();
        let mut typed = std::collections::HashSet::new();
        for m in streams.values() {
            m.running.metrics().write_prometheus(&mut out, &mut typed);
        }
        out
    }

    /// Stops every stream in parallel within `timeout`, then refuses further changes.
    pub async fn shutdown(&self, timeout: Duration) -> Vec<(String, StopError)> {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<(String, Arc<Managed>)> = std::mem::take(&mut *self.streams.lock().await)
            .into_iter()
            .collect();
        let stops = all
            .iter()
            .map(|(id, m)| async move { (id.clone(), m.running.stop(timeout).await) });
        futures::future::join_all(stops)
            .await
            .into_iter()
            .filter_map(|(id, r)| r.err().map(|e| (id, e)))
            .collect()
    }

    /// Writes an API-made stream's config to the state directory, atomically (temporary file,
    /// then rename). Failures are logged: the stream still runs.
    fn persist(&self, id: &str, parsed: &ParsedStream) {
        let Some(dir) = &self.opts.state_dir else {
            return;
        };
        if !parsed.from_api {
            return;
        }
        let text = match serde_json::to_string_pretty(&parsed.raw) {
            Ok(t) => t + "\n",
            Err(e) => {
                return tracing::error!(stream = id, error = %e, "cannot serialise the stream config")
            }
        };
        let tmp = dir.join(format!(".{}.yaml.tmp", id));
        let path = dir.join(format!("{}.yaml", id));
        let written =
            write_private(&tmp, text.as_bytes()).and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::error!(stream = id, path = %path.display(), error = %e, "cannot persist the stream config");
        }
    }

    /// Creates the state directory (if configured and missing) readable by the owner only
    /// (0700): stream configs hold credentials. An existing directory keeps its mode (a
    /// warning says when others can read it); the files in it are 0600 either way.
    pub fn prepare_state_dir(&self) -> std::io::Result<()> {
        let Some(dir) = &self.opts.state_dir else {
            return Ok(());
        };
        if dir.exists() {
            // Someone else's directory keeps its mode; say so if others can read it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the state directory is readable by others; its files are not");
                }
            }
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// Removes a stream's config from the state directory.
    fn unpersist(&self, id: &str) {
        if let Some(dir) = &self.opts.state_dir {
            let path = dir.join(format!("{}.yaml", id));
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(stream = id, path = %path.display(), error = %e, "cannot remove the persisted stream config");
                }
            }
        }
    }

    /// Recreates the streams kept in the state directory (at start-up). Returns the ids that
    /// could not be restored, with why.
    pub async fn restore(&self) -> Vec<(String, String)> {
        let Some(dir) = self.opts.state_dir.clone() else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        let mut entries: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(e) => return vec![(dir.display().to_string(), e.to_string())],
        };
        entries.sort();
        for path in entries {
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".yaml"))
            else {
                continue;
            };
            if id.starts_with('.') || !valid_id(id) {
                continue;
            }
            // Files left by older versions become private too.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
            }
            let result = match std::fs::read(&path) {
                Ok(text) => match self.parse(&text, false, true) {
                    Ok(p) => self.create(id, p).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(ManagerError::BadRequest(e.to_string())),
            };
            if let Err(e) = result {
                failed.push((id.to_string(), e.to_string()));
            }
        }
        failed
    }

    /// Registers `/{id}/ready` (once per id; it looks the stream up at request time).
    fn register_ready(&self, id: &str) {
        let path = namespaced(self.opts.prefix_endpoints.then_some(id), "/ready");
        if self.opts.endpoints.lookup(&path).is_some() && self.opts.prefix_endpoints {
            return;
        }
        let me = self.me.clone();
        let id = id.to_string();
        let handler: Handler = Arc::new(move |_req| {
            let me = me.clone();
            let id = id.clone();
            Box::pin(async move {
                let Some(manager) = me.upgrade() else {
                    return json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"error":"stream terminated","statuses":[]}"#.into(),
                    );
                };
                let streams = manager.streams.lock().await;
                let (code, body) = match streams.get(&id) {
                    Some(m) if m.running.active() => {
                        let (inp, out) =
                            (m.running.input_connected(), m.running.output_connected());
                        let body = serde_json::json!({"statuses": [
                            {"label": m.parsed.config.input.label, "path": "input", "connected": inp},
                            {"label": m.parsed.config.output.label, "path": "output", "connected": out},
                        ]});
                        (
                            if inp && out {
                                StatusCode::OK
                            } else {
                                StatusCode::SERVICE_UNAVAILABLE
                            },
                            body,
                        )
                    }
                    _ => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        serde_json::json!({"error": "stream terminated", "statuses": []}),
                    ),
                };
                json_response(code, body.to_string())
            })
        });
        self.opts.endpoints.register(
            &path,
            "Returns 200 OK if the stream's inputs and outputs are connected.",
            handler,
        );
    }
}

fn json_response(code: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Maps a config load failure to the API error: lint-shaped problems keep their position.
fn config_error(e: ConfigError) -> ManagerError {
    match e {
        ConfigError::Invalid { error, .. } => ManagerError::BadRequest(error.to_string()),
        ConfigError::TooLarge { .. } => ManagerError::BadRequest(e.to_string()),
        other => ManagerError::BadRequest(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_contract() {
        assert!(valid_id("foo"));
        assert!(valid_id("a.b-c_1"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"x".repeat(129)));
    }
}

#[cfg(test)]
mod send_tests {
    fn assert_send<T: Send + Sync>() {}
    #[test]
    fn parsed_stream_is_send() {
        assert_send::<super::ParsedStream>();
        assert_send::<super::StreamsManager>();
    }
}
