//! The `ttv-sim` binary: serves the simulated providers until interrupted.

use clap::Parser;

/// Serve the simulated Runway, MiniMax and fal APIs on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "ttv-sim", version)]
struct Args {
    #[command(flatten)]
    sim: ttv_sim::cli::SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ttv_sim::cli::serve(Args::parse().sim).await
}
