//! `ttv config check`: the resolved configuration, secrets masked, the backends it makes, and
//! every problem found. Exits with 2 when any problem is an error.

use serde_json::json;
use ttv::config::Severity;
use ttv::registry::Registry;

use crate::cli::Cli;
use crate::output::{print_json, warning_line};
use crate::{exit, settings};

/// Runs the command; returns the exit code.
pub fn check(cli: &Cli) -> anyhow::Result<u8> {
    let loaded = settings::read(cli);
    let registry = Registry::new(&loaded.settings.registry);
    let data_dir = settings::data_dir(cli.data_dir.as_deref(), loaded.settings.data_dir.as_deref());
    let code = if loaded.has_errors() {
        exit::BAD_INPUT
    } else {
        0
    };
    let backends: Vec<_> = registry
        .entries()
        .iter()
        .map(|e| {
            json!({
                "name": e.known.name,
                "available": e.availability.is_available(),
                "reason": match &e.availability {
                    ttv::Availability::Available => None,
                    ttv::Availability::Unavailable { reason } => Some(reason.as_str()),
                },
            })
        })
        .collect();
    if cli.json {
        print_json(&json!({
            "file": loaded.source,
            "config": loaded.config.to_value(),
            "default_backend": loaded.settings.default_backend,
            "data_dir": data_dir,
            "secrets": loaded.secrets,
            "backends": backends,
            "problems": loaded.findings,
            "ok": code == 0,
        }))?;
        return Ok(code);
    }

    match &loaded.source {
        Some(path) => println!("# configuration: {}", path.display()),
        None => println!(
            "# configuration: no file (looked for --config, $TTV_CONFIG, {}); defaults and \
             environment variables only",
            ttv::config::DEFAULT_FILES.join(", ")
        ),
    }
    let yaml = loaded.config.to_yaml()?;
    if yaml.trim().is_empty() || yaml.trim() == "{}" {
        println!("# (nothing set)");
    } else {
        print!("{yaml}");
        if !yaml.ends_with('\n') {
            println!();
        }
    }
    println!();
    println!("default backend: {}", loaded.settings.default_backend);
    println!("job store: {}", data_dir.display());
    println!("secrets:");
    if loaded.secrets.is_empty() {
        println!("  (none set)");
    }
    for s in &loaded.secrets {
        println!("  {:<22} *** (from {})", s.path, s.from);
    }
    println!("backends:");
    let width = registry
        .entries()
        .iter()
        .map(|e| e.known.name.len())
        .max()
        .unwrap_or(0);
    for e in registry.entries() {
        let status = match &e.availability {
            ttv::Availability::Available => "available".to_owned(),
            ttv::Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        };
        println!("  {:<width$}  {status}", e.known.name);
    }
    let count = |s: Severity| loaded.findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
    );
    if loaded.findings.is_empty() {
        println!("no problems found");
    } else {
        println!(
            "problems: {}, {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(notes, "note")
        );
        for f in &loaded.findings {
            println!("  {f}");
        }
    }
    if errors > 0 {
        let first = loaded.errors().next().map(warning_line).unwrap_or_default();
        eprintln!("{first}");
        if errors > 1 {
            eprintln!("... and {}, listed above", plural(errors - 1, "more error"));
        }
    }
    Ok(code)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}
