//! `sluice compile --check FILE|DIR...` (alias `sluice lint`): validates config files offline,
//! like `rpk connect lint`. Directories are walked for `.yaml`, `.yml` and `.json` files; each
//! file gets env interpolation, YAML parsing, and the full-config lint (Bloblang included).
//!
//! Text output (stderr): one `FILE(LINE,COL) message` line per lint, followed by the offending
//! source line with a caret under the column. `--format json` prints a JSON array of
//! `{file, line, col, message, severity}` to stdout instead. Exit status: 0 clean, 1 when any
//! lint was found, 2 when a path could not be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_runtime::config::{self, LoadOptions, Scope};
use sluice_runtime::Lint;

/// Output format of lints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `FILE(LINE,COL) message` lines with the source line and a caret, on stderr.
    Text,
    /// A JSON array on stdout.
    Json,
}

/// A compilation stage of a Bloblang mapping to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// The syntax tree with spans.
    Ast,
    /// The typed IR (names resolved, constants folded).
    Ir,
    /// The Cranelift IR the JIT generates, one function per block (the program, its named
    /// maps, and the functions of query arguments and lambdas).
    Clif,
}

/// Arguments of `sluice compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Only check the configs (compile them and report problems); nothing is run.
    #[arg(long)]
    pub check: bool,
    /// How to print lints.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Treat each PATH as a Bloblang mapping file and print this stage of its compilation.
    #[arg(long, value_enum, conflicts_with = "check")]
    pub emit: Option<Emit>,
    /// Do not report environment variables that are referenced but not set.
    #[arg(long)]
    pub skip_env_var_check: bool,
    /// Config files, or directories to walk for `.yaml`, `.yml` and `.json` files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// One lint of one file.
struct FileLint {
    file: String,
    lint: Lint,
    source_line: Option<String>,
}

/// Runs `sluice compile --check` (or `--emit`).
pub fn run(args: CompileArgs) -> ExitCode {
    if let Some(stage) = args.emit {
        return emit(stage, &args.paths);
    }
    let mut unreadable = false;
    let mut files = Vec::new();
    for path in &args.paths {
        if let Err(e) = collect(path, &mut files) {
            eprintln!("{}: {e}", path.display());
            unreadable = true;
        }
    }
    // Building a plan compiles its mappings: the interpreter is enough to check them.
    if std::env::var_os("SLUICE_BACKEND").is_none() {
        std::env::set_var("SLUICE_BACKEND", "interpreter");
    }
    let env = config::process_env;
    let opts = LoadOptions {
        scope: Scope::Config,
        env: Some(&env),
        ..LoadOptions::new(sluice_runtime::components::catalog::registry())
    };
    let mut found = Vec::new();
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                unreadable = true;
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let lints = if bytes.starts_with(b"# BENTHOS LINT DISABLE") {
            Vec::new()
        } else {
            let mut lints = config::check(&bytes, &opts);
            // A config that lints clean is built, offline, so one that passes can run.
            if !config::has_errors(&lints) {
                lints.extend(build_offline(&bytes, &opts));
            }
            lints
        };
        tracing::debug!(file = %file.display(), lints = lints.len(), "linted");
        for lint in lints {
            if args.skip_env_var_check
                && lint
                    .message
                    .starts_with("required environment variables were not set")
            {
                continue;
            }
            let source_line = lint
                .line
                .checked_sub(1)
                .and_then(|i| text.lines().nth(i))
                .map(str::to_string);
            found.push(FileLint {
                file: file.display().to_string(),
                lint,
                source_line,
            });
        }
    }
    match args.format {
        Format::Json => {
            let items: Vec<_> = found
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "file": f.file,
                        "line": f.lint.line,
                        "col": f.lint.col,
                        "message": f.lint.message,
                        "severity": f.lint.severity,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(items));
        }
        Format::Text => {
            for f in &found {
                eprintln!("{}{}", f.file, f.lint);
                if let Some(src) = &f.source_line {
                    let caret_col = f.lint.node_col.max(1);
                    eprintln!("  {src}");
                    eprintln!("  {}^", " ".repeat(caret_col - 1));
                }
            }
        }
    }
    if unreadable {
        ExitCode::from(2)
    } else if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Adds `path` (a file) or the config files below it (a directory, walked recursively in name
/// order) to `out`.
/// Builds the stream a clean config describes, the way `streams` and `run` would but with
/// nothing reaching outside the process (no client connects, no listener binds; mappings run
/// on the interpreter, so nothing is JIT-compiled): a component that cannot be built is a lint
/// at its place in the file.
fn build_offline(bytes: &[u8], opts: &LoadOptions<'_>) -> Option<Lint> {
    use sluice_runtime::components::{build_plan, PlanContext};
    let (doc, _) = config::read_document(bytes, opts).ok()?;
    let (cfg, _) = config::decode_stream(opts.registry, &doc, opts.scope, false).ok()?;
    let pc = PlanContext {
        stream: "compile-check".into(),
        endpoints: sluice_runtime::endpoints::EndpointRegistry::new(),
        prefix_endpoints: false,
        rate_limits: Default::default(),
        caches: Default::default(),
        pipes: Default::default(),
        resources: Default::default(),
        offline: true,
    };
    // Builders may create timers or handles: give them a runtime to do it in.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let _guard = rt.enter();
    let err = build_plan(&cfg, &pc).err()?;
    let node = node_at(&doc, &err.path);
    Some(Lint {
        node_col: node.pos.col,
        ..Lint::error(node.pos.line, err.to_string())
    })
}

/// The node of a config path (`root.pipeline.processors.0.processors.1`) in the document, or
/// the deepest one found on the way. Component paths skip the component's name (a processor
/// is `{branch: {processors: [...]}}` in the document).
fn node_at<'d>(
    doc: &'d sluice_runtime::config::document::Node,
    path: &str,
) -> &'d sluice_runtime::config::document::Node {
    use sluice_runtime::config::document::NodeKind;
    let mut node = doc;
    for seg in path.split('.').skip(1) {
        let next = match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|e| e.key == seg)
                .or_else(|| {
                    // Into the component under its name, when it holds the key.
                    entries.iter().find(|e| {
                        matches!(&e.value.kind, NodeKind::Map(inner) if inner.iter().any(|i| i.key == seg))
                    })
                    .and_then(|e| match &e.value.kind {
                        NodeKind::Map(inner) => inner.iter().find(|i| i.key == seg),
                        _ => None,
                    })
                })
                .map(|e| &e.value),
            NodeKind::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(entry);
        }
    }
    Ok(())
}

/// Prints a compilation stage of each mapping file: exit 1 on a compile error, 2 when a file
/// cannot be read.
fn emit(stage: Emit, paths: &[PathBuf]) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    for path in paths {
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let printed = match stage {
            Emit::Ast => {
                sluice_compiler::syntax::parse_mapping(&src).map(|ast| format!("{:#?}", ast))
            }
            Emit::Ir => {
                sluice_compiler::Mapping::compile(&src).map(|m| format!("{:#?}", m.program()))
            }
            Emit::Clif => sluice_compiler::Mapping::compile(&src).map(|m| {
                match sluice_compiler::jit::JitCode::compile(m.program(), true) {
                    Ok(code) => code.clif().join("\n"),
                    Err(e) => format!(
                        "; the JIT cannot compile this mapping ({e}); the interpreter runs it"
                    ),
                }
            }),
        };
        match printed {
            Ok(text) => println!("{}", text),
            Err(e) => {
                eprintln!(
                    "{}:{}:{}: {}\n{}",
                    path.display(),
                    e.line,
                    e.col,
                    e.message,
                    e.snippet
                );
                code = ExitCode::from(1);
            }
        }
    }
    code
}
