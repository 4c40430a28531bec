//! Command-line front end shared by the `ttv-sim` binary and the `ttv sim` subcommand.
//!
//! Mistakes a user can fix (a missing or invalid scenario, a value out of range, a port in
//! use) are [`SimError::Input`], which both front ends turn into exit code 2.

use std::fmt;
use std::path::PathBuf;

use serde_json::json;

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
    /// Spread of run times (standard deviation of their logarithm): each task's run time is
    /// drawn from a log-normal with median --run-secs (overrides the scenario; 0 = exact).
    #[arg(long)]
    pub run_spread: Option<f64>,
    /// Model seconds per real second: every queue and run time is divided by it (a
    /// benchmark models minute-long jobs in seconds); the protocols are unchanged.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Seed of the run-time draws, for the same times in the same submit order.
    #[arg(long)]
    pub seed: Option<u64>,
    /// PEM public key of the service account whose JWTs the Vertex token endpoint accepts.
    #[arg(long)]
    pub google_public_key: Option<PathBuf>,
    /// The only API key accepted (overrides the scenario). Without it, ANY non-empty key is
    /// accepted.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

/// Why the simulator did not start.
#[derive(Debug)]
pub enum SimError {
    /// Something the user can fix: the scenario, a flag's value, the port.
    Input(String),
    /// The machine refused (no socket, say).
    Io(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(m) | Self::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SimError {}

impl SimArgs {
    /// The configuration these flags describe, with every value checked.
    pub fn config(&self) -> Result<SimConfig, SimError> {
        let read = |flag: &str, path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|e| {
                SimError::Input(format!("{flag} {}: cannot read it ({e})", path.display()))
            })
        };
        let mut config = match &self.scenario {
            Some(path) => {
                let text = read("--scenario", path)?;
                SimConfig::from_yaml(&text).map_err(|e| {
                    SimError::Input(format!(
                        "--scenario {} is not a valid scenario: {e}",
                        path.display()
                    ))
                })?
            }
            None => SimConfig::default(),
        };
        if let Some(path) = &self.google_public_key {
            config.google_public_key_pem = Some(read("--google-public-key", path)?);
        }
        if let Some(key) = &self.api_key {
            if key.trim().is_empty() {
                return Err(SimError::Input(
                    "--api-key: the key is empty; give a non-empty key, or leave the flag out to accept any non-empty key".into(),
                ));
            }
            config.api_key = Some(key.clone());
        }
        if self.port != 0 {
            config.port = self.port;
        }
        for (flag, value) in [
            ("--queue-secs", self.queue_secs),
            ("--run-secs", self.run_secs),
            ("--run-spread", self.run_spread),
        ] {
            if let Some(v) = value.filter(|v| !v.is_finite() || *v < 0.0) {
                return Err(SimError::Input(format!(
                    "{flag}: {v}; expected a number of seconds, 0 or more"
                )));
            }
        }
        for p in Provider::every() {
            let knobs = config.knobs_mut(p);
            if let Some(q) = self.queue_secs {
                knobs.queue_secs = q;
            }
            if let Some(r) = self.run_secs {
                knobs.run_secs = r;
            }
            if let Some(s) = self.run_spread {
                knobs.run_spread = s;
            }
        }
        if let Some(scale) = self.time_scale {
            if !scale.is_finite() || scale <= 0.0 {
                return Err(SimError::Input(format!(
                    "--time-scale: {scale}; expected model seconds per real second, above 0 (60 runs a minute-long job in a second)"
                )));
            }
            config.time_scale = scale;
        }
        if self.seed.is_some() {
            config.seed = self.seed;
        }
        Ok(config)
    }
}

/// Starts the simulator and prints its base URLs on stdout (one `NAME<TAB>URL` line each, or
/// with `json` one JSON object), then serves until Ctrl-C.
pub async fn serve(args: SimArgs, json: bool) -> Result<(), SimError> {
    let config = args.config()?;
    let port = config.port;
    let sim = Sim::start(config).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => SimError::Input(format!(
            "--port {port}: the port is in use on 127.0.0.1; pick another, or 0 for a free one"
        )),
        std::io::ErrorKind::PermissionDenied => SimError::Input(format!(
            "--port {port}: not allowed here ({e}); pick a port above 1023, or 0 for a free one"
        )),
        _ => SimError::Io(format!("cannot start the simulator: {e}")),
    })?;
    let mut urls: Vec<(String, String)> = Provider::ALL
        .into_iter()
        .map(|p| (p.to_string(), sim.base_url(p)))
        .collect();
    urls.push(("token_uri".into(), sim.token_uri()));
    urls.push((
        "admin".into(),
        format!("http://{}/_sim/requests", sim.addr()),
    ));
    if json {
        let object: serde_json::Map<_, _> = urls.into_iter().map(|(k, v)| (k, json!(v))).collect();
        println!("{}", serde_json::Value::Object(object));
    } else {
        for (name, url) in urls {
            println!("{name}\t{url}");
        }
    }
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| SimError::Io(format!("cannot wait for Ctrl-C: {e}")))?;
    Ok(())
}
