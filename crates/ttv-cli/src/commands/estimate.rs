//! `ttv estimate`: the request's cost on every backend whose prices are known, usable here or
//! not, so that prices can be compared before opening an account; each row says whether the
//! backend can be used here and, if not, what it needs.

use serde_json::json;
use ttv::Availability;
use ttv::registry::{Registry, RegistrySettings};

use crate::cli::{Cli, RequestArgs};
use crate::commands::backends::print_table;
use crate::output::print_json;
use crate::{request, settings};

/// Runs the command.
pub async fn run(cli: &Cli, args: &RequestArgs) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let req = request::build(args, &settings.defaults).await?.complete()?;
    // Backends this configuration could not build (no key file, say) are priced with their
    // default model, so that every price table is shown.
    let defaults = Registry::new(&RegistrySettings {
        runway: Some(Default::default()),
        veo: Some(Default::default()),
        minimax: Some(Default::default()),
        fal: Some(Default::default()),
        ..RegistrySettings::default()
    });
    let mut priced = Vec::new();
    let mut unpriced = Vec::new();
    for entry in settings.registry.entries() {
        let name = entry.known.name;
        let reason = match &entry.availability {
            Availability::Available => None,
            Availability::Unavailable { reason } => Some(reason.clone()),
        };
        let backend = entry.backend.clone().or_else(|| {
            defaults
                .entry("backend", name)
                .ok()
                .and_then(|e| e.backend.clone())
        });
        let Some(backend) = backend else {
            let why = reason.unwrap_or_else(|| "not built".to_owned());
            let reason = match entry.known.kind {
                ttv::BackendKind::Local => {
                    format!("a local model: no price, it costs your GPU time; {why}")
                }
                _ => why,
            };
            unpriced.push(json!({ "backend": name, "usable": false, "reason": reason }));
            continue;
        };
        match backend.estimate_cost(&req) {
            Ok(estimate) => priced.push(json!({
                "backend": name,
                "model": backend.model(),
                "estimate": estimate,
                "usable": reason.is_none(),
                "reason": reason,
            })),
            Err(e) => unpriced.push(json!({
                "backend": name,
                "usable": reason.is_none(),
                "reason": one_line(&e),
            })),
        }
    }
    priced.sort_by_key(|row| {
        row["estimate"]["usd"]["micros"]
            .as_i64()
            .unwrap_or(i64::MAX)
    });
    if cli.json {
        return print_json(&json!({ "estimates": priced, "unable": unpriced }));
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let rows: Vec<[String; 5]> = priced
        .iter()
        .map(|row| {
            let usable = match row["usable"].as_bool() {
                Some(true) => "yes".to_owned(),
                _ => format!("no: {}", text(&row["reason"])),
            };
            let estimate: ttv::CostEstimate = serde_json::from_value(row["estimate"].clone())
                .unwrap_or_else(|_| ttv::CostEstimate::free("-"));
            [
                text(&row["backend"]),
                text(&row["model"]),
                estimate.to_string(),
                estimate.basis,
                usable,
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no backend can price this video");
    } else {
        print_table(&["BACKEND", "MODEL", "COST", "BASIS", "USABLE HERE"], &rows);
    }
    if !cli.quiet && !unpriced.is_empty() {
        eprintln!();
        for u in &unpriced {
            eprintln!(
                "not priced: {}: {}",
                text(&u["backend"]),
                text(&u["reason"])
            );
        }
    }
    Ok(())
}

/// An error on one line: its message, then its problems.
fn one_line(e: &ttv::Error) -> String {
    let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    match problems.is_empty() {
        true => e.message().to_owned(),
        false => format!("{}: {}", e.message(), problems.join("; ")),
    }
}
