//! How results and errors are shown: human text on stderr/stdout, or JSON on stdout.

use std::io::IsTerminal;

use serde_json::json;
use ttv::{Error, ErrorKind};

use crate::cli::Cli;
use crate::exit;

/// Whether to colour stderr: a terminal, and `NO_COLOR` unset or empty.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn red(text: &str) -> String {
    if color_enabled() {
        format!("\x1b[1;31m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn yellow(text: &str) -> String {
    if color_enabled() {
        format!("\x1b[1;33m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// An error as one stderr line, its label coloured.
pub fn error_line(text: &str) -> String {
    format!("{} {text}", red("error:"))
}

/// A warning as one stderr line, its label coloured.
pub fn warning(text: &str) -> String {
    format!("{} {text}", yellow("warning:"))
}

/// A configuration finding as one stderr line, its label coloured.
pub fn warning_line(finding: &ttv::config::Finding) -> String {
    let text = finding.to_string();
    match text.split_once(": ") {
        Some(("error", rest)) => format!("{} {rest}", red("error:")),
        Some(("warning", rest)) => format!("{} {rest}", yellow("warning:")),
        _ => text,
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The exit code for an error kind: 2 for what the user can fix here (the request, the
/// arguments, the configuration, a local file or folder), 130 for an interrupt, 3 for the
/// rest (a backend failed or cannot be used, a budget refused the job).
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::Unsupported | ErrorKind::Config | ErrorKind::Io => {
            exit::BAD_INPUT
        }
        ErrorKind::Cancelled => exit::INTERRUPTED,
        ErrorKind::Unsettled => exit::UNSETTLED,
        _ => exit::BACKEND_FAILED,
    }
}

/// Shows an error of the command line itself (an unknown flag, a missing value, no command)
/// and returns the exit code: clap's text on stderr, with a hint for a value that starts
/// with `-`, and with `--json` also a JSON error on stdout. Help and version print as usual.
pub fn report_usage(err: &clap::Error) -> u8 {
    use clap::error::ErrorKind as K;
    if matches!(err.kind(), K::DisplayHelp | K::DisplayVersion) {
        let _ = err.print();
        return 0;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let hint = dash_value_hint(&args);
    if json {
        let rendered = err.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let body = json!({
            "status": "failed",
            "error": {
                "kind": "invalid_request",
                "message": message,
                "usage": err.render().to_string().trim(),
                "hint": hint,
            },
        });
        println!("{body:#}");
    }
    let _ = err.print();
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
    exit::BAD_INPUT
}

/// When an option that takes a value is followed by text starting with `-` (`-p "-foo"`),
/// how to pass it.
fn dash_value_hint(args: &[String]) -> Option<String> {
    let takes_value = options_with_values();
    args.windows(2).find_map(|pair| {
        let (opt, value) = (&pair[0], &pair[1]);
        let wanted = takes_value.contains(opt.as_str()) && value.starts_with('-') && value != "--";
        wanted.then(|| {
            format!("to give {opt} a value that starts with '-', join them with '=': {opt}={value}")
        })
    })
}

/// Every spelling (`-p`, `--prompt`) of an option that takes a value, in any command.
fn options_with_values() -> std::collections::HashSet<String> {
    fn walk(cmd: &clap::Command, out: &mut std::collections::HashSet<String>) {
        for arg in cmd.get_arguments() {
            if !arg.get_action().takes_values() || arg.is_positional() {
                continue;
            }
            if let Some(s) = arg.get_short() {
                out.insert(format!("-{s}"));
            }
            if let Some(l) = arg.get_long() {
                out.insert(format!("--{l}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = std::collections::HashSet::new();
    walk(&<Cli as clap::CommandFactory>::command(), &mut out);
    out
}

/// Shows an error and returns the exit code.
pub fn report_error(cli: &Cli, err: &anyhow::Error) -> u8 {
    let ttv_err = err.chain().find_map(|e| e.downcast_ref::<Error>());
    let code = ttv_err.map_or(1, |e| exit_code(e.kind()));
    if cli.json {
        let body = match ttv_err {
            Some(e) => json!({
                "status": "failed",
                "error": {
                    "kind": e.kind(),
                    "backend": e.backend(),
                    "message": e.message(),
                    "problems": e.problems(),
                    "spend": e.spend(),
                },
            }),
            None => {
                json!({ "status": "failed", "error": { "kind": "internal", "message": format!("{err:#}") } })
            }
        };
        println!("{body:#}");
    }
    let text = match ttv_err {
        // The ttv error already names the backend and lists problems; add outer context only.
        Some(e) => {
            let outer: Vec<String> = err
                .chain()
                .take_while(|c| c.downcast_ref::<Error>().is_none())
                .map(ToString::to_string)
                .collect();
            let mut text = outer.join(": ");
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&e.to_string());
            text
        }
        None => format!("{err:#}"),
    };
    eprintln!("{} {text}", red("error:"));
    if let Some(hint) = ttv_err.and_then(hint) {
        eprintln!("hint: {hint}");
    }
    code
}

fn hint(e: &Error) -> Option<&'static str> {
    match e.kind() {
        ErrorKind::Unavailable => Some("`ttv backends` lists every backend and what each needs"),
        ErrorKind::Config => {
            Some("`ttv config check` shows the resolved configuration and its problems")
        }
        ErrorKind::Unsettled => Some(
            "nothing was sent twice; `ttv jobs list --state unknown` lists the jobs waiting to be settled",
        ),
        _ => None,
    }
}

/// Human size: 1.2 MB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
