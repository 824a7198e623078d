//! `sluice list [--format text|json] [KIND...]`: every registered component with its kind,
//! fields and defaults, like `rpk connect list`, generated from the component registry.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use sluice_runtime::registry::{ComponentSpec, FieldKind, FieldSpec, FieldType, Presence};

/// Output format of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, grouped by kind.
    Text,
    /// A JSON array of components with their fields.
    Json,
}

/// Arguments of `sluice list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// How to print the listing.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Only list these kinds (`input`, `buffer`, `processor`, `output`, `cache`, `rate_limit`,
    /// `metrics`, `tracer`; plurals accepted).
    #[arg(value_name = "KIND")]
    pub kinds: Vec<String>,
}

/// Runs `sluice list`.
pub fn run(args: ListArgs) -> ExitCode {
    let wanted = |c: &ComponentSpec| {
        args.kinds.is_empty()
            || args.kinds.iter().any(|k| {
                let k = k.trim_end_matches('s');
                k == c.kind.as_str() || (k == "rate_limit" && c.kind.as_str() == "rate_limit")
            })
    };
    let components: Vec<&ComponentSpec> = sluice_runtime::components::catalog::registry()
        .all()
        .iter()
        .filter(|c| wanted(c))
        .collect();
    let mut out = String::new();
    match args.format {
        Format::Json => {
            let list: Vec<_> = components.iter().map(|c| c.to_json()).collect();
            match serde_json::to_string_pretty(&list) {
                Ok(s) => out = s + "\n",
                Err(e) => {
                    eprintln!("failed to encode the listing: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Format::Text => {
            let mut kind = None;
            for c in components {
                if kind != Some(c.kind) {
                    kind = Some(c.kind);
                    let _ = writeln!(out, "{}:", c.kind.as_str().to_uppercase());
                }
                let _ = writeln!(out, "  {}: {}", c.name, c.summary);
                if c.config.children.is_empty()
                    && c.config.name.is_empty()
                    && c.config.kind != FieldKind::Scalar
                    || c.config.ty != FieldType::Object
                {
                    print_field(&mut out, &c.config, 4);
                }
                for f in &c.config.children {
                    print_field(&mut out, f, 4);
                }
            }
        }
    }
    // A closed pipe (`sluice list | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

fn print_field(out: &mut String, f: &FieldSpec, indent: usize) {
    let ty = f.to_json()["type"].as_str().unwrap_or_default().to_string();
    let presence = match &f.presence {
        Presence::Default(v) => format!("default {v}"),
        Presence::Required if f.default_value().is_some() => "defaults below".to_string(),
        Presence::Required => "required".to_string(),
        Presence::Optional => "optional".to_string(),
    };
    let name = if f.name.is_empty() { "<value>" } else { f.name };
    let mut flags = Vec::new();
    for (flag, on) in [
        ("secret", f.secret),
        ("bloblang", f.bloblang),
        ("interpolated", f.interpolated),
    ] {
        if on {
            flags.push(flag);
        }
    }
    let options = if f.options.is_empty() {
        String::new()
    } else {
        format!(" options [{}]", f.options.join(", "))
    };
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" ({})", flags.join(", "))
    };
    let _ = writeln!(
        out,
        "{}{name}: {ty}, {presence}{options}{flags}",
        " ".repeat(indent)
    );
    for c in &f.children {
        print_field(out, c, indent + 2);
    }
}
