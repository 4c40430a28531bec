//! `ttv backends`: every backend, what it can do, and whether it can be used here.

use ttv::Availability;

use crate::cli::Cli;
use crate::output::print_json;
use crate::settings;

/// Runs the command.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for entry in settings.registry.entries() {
        let caps = entry.backend.as_ref().map(|b| b.capabilities());
        let status = match &entry.availability {
            Availability::Available => "available".to_owned(),
            Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        };
        let dash = || "-".to_owned();
        let modes = caps.map_or_else(dash, |c| {
            c.modes
                .iter()
                .map(|m| m.short())
                .collect::<Vec<_>>()
                .join(",")
        });
        let durations = caps.map_or_else(dash, |c| c.durations.to_string());
        let resolutions = caps.map_or_else(dash, |c| c.resolutions.to_string());
        let price = caps.map_or_else(dash, |c| c.price_summary.clone());
        json_rows.push(entry.describe());
        rows.push([
            entry.known.name.to_owned(),
            entry.known.kind.to_string(),
            modes,
            durations,
            resolutions,
            price,
            status,
        ]);
    }
    if cli.json {
        return print_json(&json_rows);
    }
    let header = [
        "NAME",
        "KIND",
        "MODES",
        "DURATIONS",
        "RESOLUTIONS",
        "PRICE",
        "STATUS",
    ];
    print_table(&header, &rows);
    // Image backends make keyframes; `ttv image backends --json` lists them as JSON.
    println!();
    let (images, _) = super::image::rows(&settings);
    print_table(&super::image::HEADER, &images);
    Ok(())
}

/// Prints aligned columns; the last column is not padded.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
