//! `ttv config check`: the resolved configuration, secrets masked, the backends it makes, and
//! every problem found. Exits with 2 when any problem is an error. When the default backend
//! cannot run here, that comes first.

use serde_json::json;
use ttv::config::Severity;
use ttv::registry::Registry;

use crate::cli::Cli;
use crate::output::{error_line, print_json};
use crate::{exit, settings};

/// Runs the command; returns the exit code.
pub fn check(cli: &Cli) -> anyhow::Result<u8> {
    let loaded = settings::read(cli);
    let registry = Registry::new(&loaded.settings.registry);
    let data_dir = settings::data_dir(cli.data_dir.as_deref(), loaded.settings.data_dir.as_deref());
    // Shown without its password.
    let store_url = cli
        .store
        .clone()
        .filter(|u| !u.expose().is_empty())
        .or_else(|| loaded.settings.store_url.clone())
        .map(|u| u.to_string());
    let code = if loaded.has_errors() {
        exit::BAD_INPUT
    } else {
        0
    };
    let default_problem = default_backend_problem(&loaded, &registry);
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
            "default_backend_problem": default_problem,
            "data_dir": data_dir,
            "store_url": store_url,
            "secrets": loaded.secrets,
            "backends": backends,
            "problems": loaded.findings,
            "ok": code == 0,
        }))?;
        return Ok(code);
    }

    if let Some(problem) = &default_problem {
        println!("warning: {problem}");
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
    match &store_url {
        Some(url) => println!("job store: {url} (PostgreSQL)"),
        None => println!("job store: {}", data_dir.display()),
    }
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
        for severity in [Severity::Error, Severity::Warning, Severity::Note] {
            let all: Vec<_> = loaded
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .collect();
            for f in all.iter().take(crate::settings::MAX_SHOWN) {
                println!("  {f}");
            }
            if all.len() > crate::settings::MAX_SHOWN {
                println!(
                    "  ... and {} more (`ttv --json config check` lists them all)",
                    all.len() - crate::settings::MAX_SHOWN
                );
            }
        }
    }
    if errors > 0 {
        // Said once on stdout above; stderr only says that there are some.
        eprintln!(
            "{}",
            error_line(&format!(
                "the configuration has {}, listed above",
                plural(errors, "error")
            ))
        );
    }
    Ok(code)
}

/// Why the configured default backend cannot run here, and what `generate` does then;
/// `None` when it can (or is `auto`).
fn default_backend_problem(loaded: &ttv::config::Loaded, registry: &Registry) -> Option<String> {
    let name = loaded.settings.default_backend.as_str();
    if name.trim().eq_ignore_ascii_case("auto") {
        return None;
    }
    let entry = registry.entry("default_backend", name).ok()?;
    let ttv::Availability::Unavailable { reason } = &entry.availability else {
        return None;
    };
    let instead = loaded
        .settings
        .fallback
        .iter()
        .find_map(|f| registry.get("fallback_backend", f).ok());
    let then = match instead {
        Some(b) => format!("generate falls back to {}", b.id()),
        None => "generate stops until it is fixed (or is given --backend)".to_owned(),
    };
    Some(format!(
        "the default backend {name} cannot run here: {reason}; {then}"
    ))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}
