//! `sluice streams [FLAGS] [FILE|DIR ...]`: the streams-mode service (HTTP server, REST API,
//! streams loaded from files), and `sluice run FILE`: one stream until its input ends.
//!
//! Stream ids of files are their base names without `.yaml`/`.yml`; directories are walked
//! for `.yaml`/`.yml` files (id = relative path with separators replaced by `_`). Environment
//! interpolation applies to these files (never to API bodies). SIGINT/SIGTERM stop every
//! stream gracefully within the shutdown timeout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sluice_runtime::endpoints::EndpointRegistry;
use sluice_runtime::manager::{ManagerError, ManagerOptions, StreamsManager};

use super::logging::{self, LoggerConfig};
use crate::api::{self, ApiState};
use crate::http::HttpSettings;

/// Arguments of `sluice streams`.
#[derive(Debug, clap::Args)]
pub struct StreamsArgs {
    /// Address of the HTTP server (overrides `http.address` of the root config).
    #[arg(long = "http-address")]
    pub http_address: Option<String>,
    /// Root (observability) config file: `http`, `logger`, `shutdown_timeout`.
    #[arg(short = 'o', long = "observability")]
    pub observability: Option<PathBuf>,
    /// Do not register the streams CRUD endpoints.
    #[arg(long = "no-api")]
    pub no_api: bool,
    /// Prefix the endpoints of stream components with `/{stream id}`.
    #[arg(long = "prefix-stream-endpoints", default_value = "true", action = clap::ArgAction::Set)]
    pub prefix_stream_endpoints: bool,
    /// Start even when stream files have lint errors.
    #[arg(long)]
    pub chilled: bool,
    /// Bound of every stream stop (shutdown, DELETE/PUT without `timeout`).
    #[arg(long = "shutdown-timeout", default_value = "30s")]
    pub shutdown_timeout: String,
    /// Log level (off, error, warn, info, debug, trace); overrides `logger.level`.
    #[arg(long = "log.level")]
    pub log_level: Option<String>,
    /// Keep every API-made stream config in this directory (one YAML file per stream) and
    /// recreate those streams on start.
    #[arg(long = "state-dir")]
    pub state_dir: Option<PathBuf>,
    /// Stream config files or directories.
    pub paths: Vec<PathBuf>,
}

/// Arguments of `sluice run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The stream config file.
    pub file: PathBuf,
    /// Address of the HTTP server.
    #[arg(long = "http-address")]
    pub http_address: Option<String>,
    /// Log level.
    #[arg(long = "log.level")]
    pub log_level: Option<String>,
    /// Start even when the file has lint errors.
    #[arg(long)]
    pub chilled: bool,
}

/// Settings read from the root config.
struct RootSettings {
    http: HttpSettings,
    logger: LoggerConfig,
    shutdown_timeout: Option<Duration>,
}

/// Reads, lints and validates the root config (`-o`/`-c`): any lint error, or a setting that
/// cannot work (basic auth without a hash, CORS without origins, half a TLS pair), refuses to
/// start, naming `file:line:col`.
fn root_settings(path: Option<&Path>) -> Result<RootSettings, String> {
    let Some(path) = path else {
        return Ok(RootSettings {
            http: HttpSettings::default(),
            logger: LoggerConfig::default(),
            shutdown_timeout: None,
        });
    };
    let text = std::fs::read(path).map_err(|e| format!("{}: {}", path.display(), e))?;
    let opts = sluice_runtime::config::LoadOptions {
        scope: sluice_runtime::config::Scope::Config,
        env: Some(&sluice_runtime::config::process_env),
        ..sluice_runtime::config::LoadOptions::new(sluice_runtime::components::catalog::registry())
    };
    let lints = sluice_runtime::config::check(&text, &opts);
    let errors: Vec<String> = lints
        .iter()
        .filter(|l| l.severity == sluice_runtime::Severity::Error)
        .map(|l| format!("{}:{}:{}: {}", path.display(), l.line, l.col, l.message))
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let (doc, _) = sluice_runtime::config::read_document(&text, &opts)
        .map_err(|e| format!("{}: {}", path.display(), e))?;
    let (config, _) = sluice_runtime::config::decode_stream(opts.registry, &doc, opts.scope, false)
        .map_err(|e| format!("{}: {}", path.display(), e))?;
    let section = |name: &str| {
        config
            .service
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, f)| f)
    };
    // Semantic errors point at the section they are about.
    let at = |key: &str| {
        let line = doc
            .get("http")
            .and_then(|h| h.get(key))
            .or_else(|| doc.get("http"));
        match line {
            Some(n) => format!("{}:{}:{}", path.display(), n.pos.line, n.pos.col),
            None => path.display().to_string(),
        }
    };
    let http = match section("http") {
        Some(f) => HttpSettings::from_field(f).map_err(|e| {
            let key = [
                "basic_auth",
                "cors",
                "cert_file",
                "read_header_timeout",
                "read_body_timeout",
            ]
            .into_iter()
            .find(|k| e.contains(k))
            .unwrap_or("");
            format!("{}: {}", at(key), e)
        })?,
        None => HttpSettings::default(),
    };
    let json = doc.to_json();
    let shutdown_timeout = match json.pointer("/shutdown_timeout").and_then(|a| a.as_str()) {
        Some(t) => Some(
            sluice_runtime::duration::parse(t).map_err(|e| format!("shutdown_timeout: {}", e))?,
        ),
        None => None,
    };
    Ok(RootSettings {
        http,
        logger: LoggerConfig::from_json(json.get("logger")),
        shutdown_timeout,
    })
}

/// Sets up logging from the `logger` section, with the command line's level on top.
fn init_logging(mut cfg: LoggerConfig, level: Option<&str>) -> Result<(), ExitCode> {
    if let Some(l) = level {
        cfg.level = l.to_ascii_lowercase();
    }
    logging::init(&cfg).map_err(|e| {
        logging::report(&e);
        ExitCode::from(1)
    })
}

/// Stream files named by the arguments, with their ids.
fn stream_files(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let entries =
                    std::fs::read_dir(&dir).map_err(|e| format!("{}: {}", dir.display(), e))?;
                for e in entries.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if matches!(
                        path.extension().and_then(|x| x.to_str()),
                        Some("yaml" | "yml")
                    ) {
                        let rel = path.strip_prefix(p).unwrap_or(&path).with_extension("");
                        let id = rel.to_string_lossy().trim_matches('/').replace('/', "_");
                        out.push((id, path));
                    }
                }
            }
        } else {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let id = name
                .strip_suffix(".yaml")
                .or_else(|| name.strip_suffix(".yml"))
                .unwrap_or(&name)
                .to_string();
            out.push((id, p.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (id, path) in &out {
        if id.is_empty() {
            return Err(format!(
                "stream id could not be inferred from file: {}",
                path.display()
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(format!(
                "stream id ({}) collision from file: {}",
                id,
                path.display()
            ));
        }
    }
    Ok(out)
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Received SIGINT, the service is closing"),
        _ = term => tracing::info!("Received SIGTERM, the service is closing"),
    }
}

/// Options of the service.
struct ServiceOptions {
    http: HttpSettings,
    no_api: bool,
    prefix: bool,
    chilled: bool,
    shutdown_timeout: Duration,
    files: Vec<(String, PathBuf)>,
    /// What the files hold: streams (`sluice streams`), or a whole config (`sluice run`).
    file_scope: sluice_runtime::config::Scope,
    state_dir: Option<PathBuf>,
    /// Exit when every stream has ended (`sluice run`).
    exit_when_done: bool,
}

/// Runs `sluice streams`.
pub fn run(args: StreamsArgs) -> ExitCode {
    let settings = match root_settings(args.observability.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("failed to read the root config: {}", e);
            return ExitCode::from(1);
        }
    };
    if let Err(code) = init_logging(settings.logger.clone(), args.log_level.as_deref()) {
        return code;
    }
    let shutdown_timeout = match sluice_runtime::duration::parse(&args.shutdown_timeout) {
        Ok(d) => settings
            .shutdown_timeout
            .filter(|_| args.shutdown_timeout == "30s")
            .unwrap_or(d),
        Err(e) => {
            eprintln!("--shutdown-timeout: {}", e);
            return ExitCode::from(1);
        }
    };
    let files = match stream_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("stream configuration file read error: {}", e);
            return ExitCode::from(1);
        }
    };
    let mut http = settings.http;
    if let Some(a) = args.http_address {
        http.address = a;
    }
    serve(ServiceOptions {
        http,
        no_api: args.no_api,
        prefix: args.prefix_stream_endpoints,
        chilled: args.chilled,
        shutdown_timeout,
        files,
        file_scope: sluice_runtime::config::Scope::Stream,
        state_dir: args.state_dir,
        exit_when_done: false,
    })
}

/// Runs `sluice run FILE`.
pub fn run_single(args: RunArgs) -> ExitCode {
    // The file is a whole config: its `http`, `logger` and `shutdown_timeout` apply too.
    let settings = match root_settings(Some(&args.file)) {
        Ok(s) => s,
        Err(_) if args.chilled => RootSettings {
            http: HttpSettings::default(),
            logger: LoggerConfig::default(),
            shutdown_timeout: None,
        },
        Err(e) => {
            eprintln!("{}", e);
            return ExitCode::from(1);
        }
    };
    let logger = LoggerConfig {
        stderr: writes_to_stdout(&args.file),
        ..settings.logger
    };
    if let Err(code) = init_logging(logger, args.log_level.as_deref()) {
        return code;
    }
    let mut http = settings.http;
    if let Some(a) = args.http_address {
        http.address = a;
    }
    serve(ServiceOptions {
        http,
        no_api: true,
        prefix: false,
        chilled: args.chilled,
        shutdown_timeout: settings.shutdown_timeout.unwrap_or(Duration::from_secs(30)),
        files: vec![("root".into(), args.file)],
        file_scope: sluice_runtime::config::Scope::Config,
        state_dir: None,
        exit_when_done: true,
    })
}

/// Stack of data-plane threads (runtime workers and the blocking pool, where pipeline workers
/// run): evaluations check the stack they have left against this, so deeper is more room for
/// recursive mappings, not a different failure.
const DATA_STACK: usize = 16 << 20;

/// Runs the service on two runtimes: the control plane (the HTTP server with the REST API,
/// `/ping`, `/metrics`, stream endpoints' request handling, signals) on threads of its own, and
/// the data plane (every stream's tasks, plan building, pipeline workers) on another, so no
/// data-plane work, however busy, can take the threads that answer the API or handle a signal.
/// Whether the stream file's output is `stdout` (then `sluice run` logs to stderr).
fn writes_to_stdout(path: &Path) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    let Ok((doc, _)) = sluice_runtime::config::read_document(
        &text,
        &sluice_runtime::config::LoadOptions::new(sluice_runtime::components::catalog::registry()),
    ) else {
        return false;
    };
    let v = doc.to_json();
    v.get("output").is_some_and(names_stdout)
}

/// Whether a component tree (an output with brokers, switches, fallbacks...) has a `stdout`.
fn names_stdout(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| {
            k == "stdout" || (k == "type" && v.as_str() == Some("stdout")) || names_stdout(v)
        }),
        serde_json::Value::Array(a) => a.iter().any(names_stdout),
        _ => false,
    }
}

fn serve(opts: ServiceOptions) -> ExitCode {
    let data = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-data")
        .thread_stack_size(DATA_STACK)
        .max_blocking_threads(4096)
        .build();
    let control = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .thread_name("sluice-api")
        .thread_stack_size(DATA_STACK)
        .build();
    let (data, control) = match (data, control) {
        (Ok(d), Ok(c)) => (d, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("failed to start the runtime: {}", e);
            return ExitCode::from(1);
        }
    };
    let code = control.block_on(serve_async(opts, data.handle().clone()));
    // Whatever data-plane work is left (a forced stream) must not hold the exit.
    control.shutdown_background();
    data.shutdown_background();
    code
}

async fn serve_async(opts: ServiceOptions, data: tokio::runtime::Handle) -> ExitCode {
    let endpoints = EndpointRegistry::new();
    let manager = StreamsManager::new(ManagerOptions {
        endpoints: endpoints.clone(),
        prefix_endpoints: opts.prefix,
        default_timeout: opts.shutdown_timeout,
        state_dir: opts.state_dir.clone(),
        runtime: data,
    });
    if let Err(e) = manager.prepare_state_dir() {
        tracing::error!(dir = ?opts.state_dir, error = %e, "cannot create the state directory");
        return ExitCode::from(1);
    }
    let server_options = match opts.http.server_options() {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "cannot configure the HTTP server");
            return ExitCode::from(1);
        }
    };
    let listener = if opts.http.enabled {
        match tokio::net::TcpListener::bind(&opts.http.address).await {
            Ok(l) => {
                tracing::info!(address = %opts.http.address, tls = server_options.tls.is_some(), "Listening for HTTP requests");
                Some(l)
            }
            Err(e) => {
                tracing::error!(address = %opts.http.address, error = %e, "failed to bind the HTTP server");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let registered = {
        let endpoints = endpoints.clone();
        move |path: &str| endpoints.lookup(path).is_some()
    };
    let app = opts.http.wrap(
        api::router(
            ApiState {
                manager: manager.clone(),
                endpoints,
            },
            opts.no_api,
        ),
        registered,
    );
    for (id, path) in &opts.files {
        if let Err(e) = load_file(&manager, id, path, opts.file_scope, opts.chilled).await {
            tracing::error!("failed to create stream ({}): {}", id, e);
            let _ = manager.shutdown(opts.shutdown_timeout).await;
            return ExitCode::from(1);
        }
    }
    for (id, e) in manager.restore().await {
        tracing::error!(stream = %id, error = %e, "cannot restore a persisted stream");
    }
    // Requests are served only once every stream from files and the state directory exists,
    // so a client never sees a half-loaded set (connections made earlier wait in the backlog).
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        if let Some(listener) = listener {
            sluice_runtime::server::serve(listener, app, server_options, async move {
                let _ = stop_rx.await;
            })
            .await;
        }
    });
    tracing::info!("Launching sluice in streams mode, use CTRL+C to close");

    if opts.exit_when_done {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = wait_all_done(&manager) => {}
        }
    } else {
        shutdown_signal().await;
    }
    // Shutdown always ends: a watchdog thread exits the process if the bounded stops and the
    // server's drain have not finished within the timeout plus half a second.
    let bound = opts.shutdown_timeout + Duration::from_millis(900);
    std::thread::spawn(move || {
        std::thread::sleep(bound);
        tracing::error!("shutdown did not finish within {:?}: exiting anyway", bound);
        logging::flush();
        std::process::exit(1);
    });
    let forced = manager.shutdown(opts.shutdown_timeout).await;
    for (id, e) in &forced {
        tracing::warn!(stream = %id, "forced to stop: {}", e);
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_millis(200), server).await;
    ExitCode::SUCCESS
}

async fn wait_all_done(manager: &Arc<StreamsManager>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if manager.list().await.values().all(|s| !s.active) {
            return;
        }
    }
}

async fn load_file(
    manager: &StreamsManager,
    id: &str,
    path: &Path,
    scope: sluice_runtime::config::Scope,
    chilled: bool,
) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {}", path.display(), e))?;
    let parsed = match manager.parse_in(&text, scope, true, chilled) {
        Ok(p) => p,
        Err(ManagerError::Lints(lints)) => {
            for l in &lints {
                tracing::error!(lint = %format!("{}{}", path.display(), l), "Config lint error");
            }
            return Err("shutting down due to stream linter errors, to prevent shutdown run sluice with --chilled".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    manager.create(id, parsed).await.map_err(|e| e.to_string())
}
