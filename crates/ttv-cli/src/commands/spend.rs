//! `ttv spend`: what jobs cost, summed by day, backend and model.

use serde_json::json;
use ttv::Money;
use ttv::budget::{LedgerBasis, summarise};

use crate::cli::Cli;
use crate::output::print_json;
use crate::settings;

/// Runs the command.
pub async fn run(cli: &Cli, days: Option<u32>) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let jobs = super::jobs::open(&settings).await?;
    let store = jobs.runner()?.store().clone();
    let mut ledger = tokio::task::spawn_blocking(move || store.ledger()).await??;
    if let Some(days) = days {
        let first = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days.max(1) - 1));
        ledger.retain(|e| e.at.date_naive() >= first);
    }
    let lines = summarise(&ledger);
    let total = Money::usd_micros(ledger.iter().map(|e| e.usd_micros).sum());
    if cli.json {
        return print_json(&json!({
            "lines": lines,
            "jobs": ledger,
            "total": total,
            "budget": settings.budget,
        }));
    }
    println!(
        "{:<10}  {:<9} {:<48} {:>4} {:>11}",
        "DAY", "BACKEND", "MODEL", "JOBS", "USD"
    );
    for l in &lines {
        let mark = if l.estimated > 0 { "*" } else { " " };
        println!(
            "{:<10}  {:<9} {:<48} {:>4} {:>10}{mark}",
            l.day.to_string(),
            l.backend,
            l.model,
            l.jobs,
            l.usd.to_string()
        );
    }
    println!("total {total} over {} job(s)", ledger.len());
    if !cli.quiet {
        let estimated = ledger
            .iter()
            .filter(|e| e.basis == LedgerBasis::Estimate && e.usd_micros != 0)
            .count();
        if estimated > 0 {
            eprintln!(
                "* includes {estimated} job(s) counted at their estimate: the provider reported no charge"
            );
        }
        if ledger
            .iter()
            .any(|e| e.basis == LedgerBasis::ChargedInCredits)
        {
            eprintln!(
                "charges in provider credits are converted to dollars at the rate of the price table each estimate names"
            );
        }
    }
    Ok(())
}
