//! Command-line front end shared by the `ttv-sim` binary and the `ttv sim` subcommand.

use std::path::PathBuf;

use anyhow::Context;

use crate::{Provider, Sim, SimConfig};

/// Flags of `ttv-sim` and `ttv sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// YAML scenario with per-provider timings and faults.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Seconds every task waits in the queue (overrides the scenario).
    #[arg(long)]
    pub queue_secs: Option<f64>,
    /// Seconds every task runs (overrides the scenario).
    #[arg(long)]
    pub run_secs: Option<f64>,
    /// PEM public key of the service account whose JWTs the Vertex token endpoint accepts.
    #[arg(long)]
    pub google_public_key: Option<PathBuf>,
    /// The only API key accepted (overrides the scenario). Without it, ANY non-empty key is
    /// accepted.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

impl SimArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let mut config = match &self.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                SimConfig::from_yaml(&text)
                    .with_context(|| format!("{} is not a valid scenario", path.display()))?
            }
            None => SimConfig::default(),
        };
        if let Some(path) = &self.google_public_key {
            config.google_public_key_pem = Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            );
        }
        if let Some(key) = &self.api_key {
            if key.trim().is_empty() {
                anyhow::bail!(
                    "--api-key: the key is empty; give a non-empty key, or leave the flag out to accept any non-empty key"
                );
            }
            config.api_key = Some(key.clone());
        }
        if self.port != 0 {
            config.port = self.port;
        }
        for p in Provider::ALL {
            let knobs = config.knobs_mut(p);
            if let Some(q) = self.queue_secs {
                knobs.queue_secs = q;
            }
            if let Some(r) = self.run_secs {
                knobs.run_secs = r;
            }
        }
        Ok(config)
    }
}

/// Starts the simulator, prints its base URLs on stdout and serves until Ctrl-C.
pub async fn serve(args: SimArgs) -> anyhow::Result<()> {
    let sim = Sim::start(args.config()?)
        .await
        .context("cannot start the simulator")?;
    for p in Provider::ALL {
        println!("{p}\t{}", sim.base_url(p));
    }
    println!("token_uri\t{}", sim.token_uri());
    println!("admin\thttp://{}/_sim/requests", sim.addr());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
