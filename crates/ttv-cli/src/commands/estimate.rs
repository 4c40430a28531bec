//! `ttv estimate`: the request's cost on every backend that can make it.

use serde_json::json;

use crate::cli::{Cli, RequestArgs};
use crate::commands::backends::print_table;
use crate::output::print_json;
use crate::{request, settings};

/// Runs the command.
pub async fn run(cli: &Cli, args: &RequestArgs) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let req = request::build(args, &settings.defaults).await?;
    let mut able = Vec::new();
    let mut unable = Vec::new();
    for entry in settings.registry.entries() {
        let Some(backend) = entry
            .backend
            .as_ref()
            .filter(|_| entry.availability.is_available())
        else {
            if let ttv::Availability::Unavailable { reason } = &entry.availability {
                unable.push(json!({ "backend": entry.known.name, "reason": reason }));
            }
            continue;
        };
        match backend.estimate_cost(&req) {
            Ok(estimate) => able.push((backend.id(), backend.model().map(str::to_owned), estimate)),
            Err(e) => unable.push(json!({ "backend": backend.id(), "reason": e.to_string() })),
        }
    }
    able.sort_by_key(|(_, _, e)| e.usd.micros);
    if cli.json {
        let rows: Vec<_> = able
            .iter()
            .map(|(b, m, e)| json!({ "backend": b, "model": m, "estimate": e }))
            .collect();
        return print_json(&json!({ "estimates": rows, "unable": unable }));
    }
    let rows: Vec<[String; 4]> = able
        .iter()
        .map(|(b, m, e)| {
            [
                (*b).to_owned(),
                m.clone().unwrap_or_else(|| "-".into()),
                e.to_string(),
                e.basis.clone(),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no available backend can make this video");
    } else {
        print_table(&["BACKEND", "MODEL", "COST", "BASIS"], &rows);
    }
    if !cli.quiet && !unable.is_empty() {
        eprintln!();
        for u in &unable {
            eprintln!(
                "not priced: {}: {}",
                u["backend"].as_str().unwrap_or("?"),
                u["reason"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
