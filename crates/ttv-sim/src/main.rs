//! The `ttv-sim` binary: serves the simulated providers until interrupted. Exits with 2 when
//! the scenario, a flag or the port is wrong.

use std::process::ExitCode;

use clap::Parser;

/// Serve simulated Runway, Google Veo (Gemini API and Vertex AI), MiniMax and fal APIs on
/// 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "ttv-sim", version)]
struct Args {
    #[command(flatten)]
    sim: ttv_sim::cli::SimArgs,
    /// Print the base URLs as one JSON object.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match ttv_sim::cli::serve(args.sim, args.json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ttv_sim::cli::SimError::Input(_) => 2,
                ttv_sim::cli::SimError::Io(_) => 1,
            })
        }
    }
}
