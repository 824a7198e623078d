//! Config loading: text → (env interpolation) → document with positions → spec-driven walk
//! that lints and decodes → typed [`StreamConfig`].
//!
//! [`load_stream`] is the single entry point used by `sluice lint`, stream files and the REST
//! API; [`check`] is its never-failing variant that reports every problem as a lint;
//! [`decode_stream`] and [`decode_component`] start from an already-parsed node (e.g. one
//! stream of a bulk `POST /streams` body, whose positions are relative to the whole body).

pub mod decode;
pub mod document;
pub mod env;
pub mod stream;

use thiserror::Error;

pub use document::{DocumentError, Limits, Node, Pos};
pub use env::EnvError;
pub use stream::{
    root_spec, ComponentConfig, Field, FieldValue, PipelineConfig, Resources, Scope, StreamConfig,
};

use crate::lint::{Lint, Severity};
use crate::registry::{ComponentKind, Registry};
use decode::Walker;
use document::NodeKind;

/// The message of the lint for text that is not valid UTF-8.
pub const INVALID_UTF8: &str =
    "detected invalid utf-8 encoding in config, this may result in interpolation functions not working as expected";

/// Why a config could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The text is larger than the limit.
    #[error("config is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the text.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Environment interpolation failed (bad base64, unknown function).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The text is not a YAML document within the limits.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The document does not describe a usable config; `error` is the first problem,
    /// `lints` everything the linter found.
    #[error("{error}")]
    Invalid {
        /// The first problem, positioned like a lint.
        error: Lint,
        /// All lints found while decoding.
        lints: Vec<Lint>,
    },
}

/// An environment lookup: the value of a variable, `None` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How to load a config.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The component specs the document is decoded against
    /// (`components::catalog::registry()` for sluice's own).
    pub registry: &'static Registry,
    /// Which sections the document may hold.
    pub scope: Scope,
    /// Environment lookup for `${VAR}` interpolation; `None` keeps the text literally (configs
    /// posted to the API).
    pub env: Option<EnvLookup<'a>>,
    /// Whether to report lints (`false` = chilled: only hard errors stop the load).
    pub lint: bool,
    /// Document limits.
    pub limits: Limits,
}

impl LoadOptions<'_> {
    /// Stream scope, no env interpolation, linting on, default limits.
    pub fn new(registry: &'static Registry) -> LoadOptions<'static> {
        LoadOptions {
            registry,
            scope: Scope::Stream,
            env: None,
            lint: true,
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("scope", &self.scope)
            .field("env", &self.env.is_some())
            .field("lint", &self.lint)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The process environment, as an env lookup for [`LoadOptions::env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads config text into a document: size limit, UTF-8 check, env interpolation, YAML.
/// Returns the document and the read-level lints (invalid UTF-8, missing variables).
pub fn read_document(
    source: &[u8],
    opts: &LoadOptions<'_>,
) -> Result<(Node, Vec<Lint>), ConfigError> {
    if source.len() > opts.limits.max_bytes {
        return Err(ConfigError::TooLarge {
            size: source.len(),
            limit: opts.limits.max_bytes,
        });
    }
    let mut lints = Vec::new();
    let text = match std::str::from_utf8(source) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            lints.push(Lint::warning(1, INVALID_UTF8));
            String::from_utf8_lossy(source)
        }
    };
    let text = match opts.env {
        None => text,
        Some(lookup) => {
            let done = env::interpolate(&text, lookup)?;
            if let Some(message) = done.missing_message() {
                lints.push(Lint::error(1, message));
            }
            std::borrow::Cow::Owned(done.text)
        }
    };
    let doc = document::parse_with_limits(&text, opts.limits)?;
    tracing::trace!(lints = lints.len(), "config document read");
    Ok((doc, lints))
}

/// Loads a stream (or full) config: the single entry point for files, the CLI and the API.
/// Returns the typed config and its lints (empty when `opts.lint` is off); fails on anything
/// that makes the config unusable.
pub fn load_stream(
    source: impl AsRef<[u8]>,
    opts: &LoadOptions<'_>,
) -> Result<(StreamConfig, Vec<Lint>), ConfigError> {
    let (doc, mut lints) = read_document(source.as_ref(), opts)?;
    let (config, more) = decode_stream(opts.registry, &doc, opts.scope, opts.lint)?;
    if !opts.lint {
        lints.clear();
    }
    lints.extend(more);
    Ok((config, lints))
}

/// Loads and lints a config, reporting every problem (including unreadable YAML and bad env
/// interpolation) as a lint. Never fails: an empty list means the config is clean.
pub fn check(source: impl AsRef<[u8]>, opts: &LoadOptions<'_>) -> Vec<Lint> {
    let opts = LoadOptions {
        lint: true,
        ..*opts
    };
    match read_document(source.as_ref(), &opts) {
        Ok((doc, mut lints)) => {
            match decode_stream(opts.registry, &doc, opts.scope, true) {
                Ok((_, more)) => lints.extend(more),
                Err(ConfigError::Invalid { lints: more, .. }) => lints.extend(more),
                Err(e) => lints.push(Lint::error(1, e.to_string())),
            }
            lints
        }
        Err(ConfigError::Document(e)) => vec![Lint {
            node_col: e.pos.col,
            ..Lint::error(e.pos.line, e.to_string())
        }],
        Err(e) => vec![Lint::error(1, e.to_string())],
    }
}

/// Decodes (and lints, when `lint`) an already-parsed document as a config of `scope`.
pub fn decode_stream(
    registry: &'static Registry,
    doc: &Node,
    scope: Scope,
    lint: bool,
) -> Result<(StreamConfig, Vec<Lint>), ConfigError> {
    let mut w = Walker::new(registry);
    let spec = root_spec(scope);
    let root = if doc.is_null() {
        // An empty document: linted like the reference, decoded as all defaults.
        w.lints
            .push(Lint::at(doc, "expected object value, got !!null"));
        w.object(
            spec,
            &Node {
                pos: doc.pos,
                kind: NodeKind::Map(Vec::new()),
            },
        )
    } else {
        w.object(spec, doc)
    };
    let mut lints = std::mem::take(&mut w.lints);
    lints.sort_by_key(|l| l.line);
    if let Some(error) = w.errors.into_iter().min_by_key(|l| l.line) {
        return Err(ConfigError::Invalid { error, lints });
    }
    let root = root.ok_or_else(|| ConfigError::Invalid {
        error: Lint::at(doc, "invalid config"),
        lints: lints.clone(),
    })?;
    let config = build(root, scope).ok_or_else(|| ConfigError::Invalid {
        error: Lint::at(doc, "a stream section could not be decoded"),
        lints: lints.clone(),
    })?;
    Ok((config, if lint { lints } else { Vec::new() }))
}

/// Decodes (and lints, when `lint`) one component of `kind`, as posted to
/// `POST /resources/{type}/{id}`.
pub fn decode_component(
    registry: &'static Registry,
    kind: ComponentKind,
    doc: &Node,
    lint: bool,
) -> Result<(ComponentConfig, Vec<Lint>), ConfigError> {
    let mut w = Walker::new(registry);
    let component = w.component(kind, doc);
    let mut lints = std::mem::take(&mut w.lints);
    lints.sort_by_key(|l| l.line);
    match (w.errors.into_iter().min_by_key(|l| l.line), component) {
        (None, Some(c)) => Ok((c, if lint { lints } else { Vec::new() })),
        (Some(error), _) => Err(ConfigError::Invalid { error, lints }),
        (None, None) => Err(ConfigError::Invalid {
            error: Lint::at(doc, "invalid component"),
            lints,
        }),
    }
}

/// Splits the decoded root object into the typed sections.
fn build(root: Field, scope: Scope) -> Option<StreamConfig> {
    let FieldValue::Object(entries) = root.value else {
        return None;
    };
    let mut input = None;
    let mut buffer = None;
    let mut output = None;
    let mut pipeline = None;
    let mut resources = Resources::default();
    let mut service = Vec::new();
    for (name, field) in entries {
        let take_component = |f: &Field| f.as_component().cloned();
        let list = |f: &Field| f.components().into_iter().cloned().collect::<Vec<_>>();
        match name.as_str() {
            "input" => input = take_component(&field),
            "buffer" => buffer = take_component(&field),
            "output" => output = take_component(&field),
            "pipeline" => {
                pipeline = Some(PipelineConfig {
                    threads: field.get("threads").and_then(Field::as_int).unwrap_or(-1),
                    processors: field.get("processors").map(list).unwrap_or_default(),
                })
            }
            "input_resources" => resources.inputs = list(&field),
            "processor_resources" => resources.processors = list(&field),
            "output_resources" => resources.outputs = list(&field),
            "cache_resources" => resources.caches = list(&field),
            "rate_limit_resources" => resources.rate_limits = list(&field),
            _ => service.push((name, field)),
        }
    }
    Some(StreamConfig {
        scope,
        input: input?,
        buffer: buffer?,
        pipeline: pipeline?,
        output: output?,
        resources,
        service,
    })
}

/// Whether any lint is an error (rather than a warning).
pub fn has_errors(lints: &[Lint]) -> bool {
    lints.iter().any(|l| l.severity == Severity::Error)
}
