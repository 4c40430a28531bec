//! `ttv worker`: runs the jobs a server queued in the shared job store
//! ([`ttv_server::worker::Worker`]) until SIGTERM or Ctrl-C, then drains: jobs that only wait
//! on the provider go back to the queue at once, paid submits and downloads in flight finish
//! within the grace period.

use std::time::Duration;

use ttv::layers::shared_rate::SharedRates;
use ttv::registry::Registry;
use ttv::{Error, ErrorKind};
use ttv_server::worker::{Worker, WorkerOptions};

use crate::cli::{Cli, WorkerArgs};
use crate::settings;

/// Runs the command until a signal stops it.
pub async fn run(cli: &Cli, args: &WorkerArgs) -> anyhow::Result<()> {
    let mut settings = settings::load(cli)?;
    let Some(store_url) = settings.store_url.clone() else {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "ttv worker needs a shared job store: give --store postgres://USER@HOST/DB (or set \
             TTV_STORE_URL, or store.url in the configuration)",
        )
        .into());
    };
    if args.lease < 3 {
        return Err(Error::invalid(vec![ttv::Problem::new(
            "--lease",
            args.lease.to_string(),
            "3 seconds or more (heartbeats go every third of it)",
        )])
        .into());
    }
    // Every worker on this database takes each provider's request tokens from one bucket row,
    // so N workers together send the configured rate, not N times it.
    let shared = SharedRates::connect(store_url.expose()).await?;
    settings.registry = Registry::with_shared_rates(&settings.loaded.settings.registry, &shared);
    let jobs = super::jobs::open(&settings).await?;
    let mut opts = WorkerOptions::new();
    if let Some(name) = args
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        name.clone_into(&mut opts.name);
    }
    opts.jobs = args.jobs.max(1);
    opts.lease = Duration::from_secs(args.lease);
    opts.grace = Duration::from_secs(args.grace);
    opts.listen = args.listen;
    opts.max_in_flight = settings.limits.max_jobs;
    let worker = Worker::start(jobs, opts).await?;
    if !cli.quiet {
        let health = worker.addr().map_or_else(String::new, |addr| {
            format!("; health at http://{addr}/healthz, metrics at http://{addr}/metrics")
        });
        eprintln!(
            "worker {} taking jobs from {store_url}{health}",
            worker.name()
        );
    }
    super::serve::wait_for_signal().await;
    if !cli.quiet {
        eprintln!("draining: no new jobs; jobs waiting on the provider go back to the queue");
    }
    worker.drain().await;
    Ok(())
}
