//! `ttv serve`: starts the HTTP server ([`ttv_server::Server`]) over the same configuration,
//! job store, budgets, limits and backends as every other command, and stops it gracefully
//! on SIGTERM or Ctrl-C. Tokens come from `TTV_SERVE_TOKENS` and `TTV_SERVE_ADMIN_TOKENS`
//! (`NAME=SECRET,...`); they are hashed at once and never printed.

use std::collections::BTreeMap;
use std::time::Duration;

use ttv::{Error, ErrorKind, Problem};
use ttv_server::{Options, Server, TokenSpec};

use crate::cli::{Cli, ServeArgs};
use crate::settings;

/// Runs the command until a signal stops it.
pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let jobs = super::jobs::open(&settings).await?;
    let mut models = BTreeMap::new();
    for item in &args.models {
        match item.split_once('=') {
            Some((name, backend)) if !name.trim().is_empty() => {
                models.insert(name.trim().to_owned(), backend.trim().to_owned());
            }
            _ => {
                return Err(Error::invalid(vec![Problem::new(
                    "--model",
                    format!("{item:?}"),
                    "NAME=BACKEND, such as sora-2=runway or sora-2-pro=runway/gen4_turbo",
                )])
                .into());
            }
        }
    }
    let mut opts = Options::new(args.listen, settings.data_dir.join("server"));
    opts.workers = args.workers.max(1);
    opts.grace = Duration::from_secs(args.grace);
    opts.models = models;
    opts.max_body = args.max_body_mib.max(1) * 1024 * 1024;
    opts.rate_per_minute = args.rate_per_minute;
    opts.webhooks = settings.loaded.settings.registry.webhooks.clone();
    if let Some(usd) = args.token_budget_usd {
        if !usd.is_finite() || usd < 0.0 {
            return Err(Error::invalid(vec![Problem::new(
                "--token-budget-usd",
                usd.to_string(),
                "a number of dollars of 0 or more, such as 5 or 12.50",
            )])
            .into());
        }
        opts.token_daily_usd_micros = Some((usd * 1e6).round() as i64);
    }
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let mut tokens = TokenSpec::parse_list(&env("TTV_SERVE_TOKENS"), false);
    tokens.extend(TokenSpec::parse_list(&env("TTV_SERVE_ADMIN_TOKENS"), true));
    let with_tokens = !tokens.is_empty();
    let server = Server::start(jobs, opts, tokens)
        .await
        .map_err(|e| match e {
            ttv_server::ServeError::Ttv(e) => e,
            ttv_server::ServeError::Refused(m) => Error::new(ErrorKind::InvalidRequest, m),
            other => Error::new(ErrorKind::Io, other.to_string()),
        })?;
    if !cli.quiet {
        eprintln!(
            "serving on http://{} ({}); {} unfinished job(s) carried on; dashboard at http://{}/",
            server.addr(),
            if with_tokens {
                "bearer tokens required"
            } else {
                "no tokens: loopback only"
            },
            server.resumed(),
            server.addr()
        );
    }
    wait_for_signal().await;
    if !cli.quiet {
        eprintln!("stopping: no new jobs; waiting for submits and downloads in flight");
    }
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
