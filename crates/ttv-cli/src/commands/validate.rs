//! `ttv validate`: check a request against a backend and list every problem, spending nothing.

use serde_json::json;

use crate::cli::{Cli, ValidateArgs};
use crate::output::print_json;
use crate::{request, settings};

/// Runs the command.
pub async fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let built = request::build(&args.request, &settings.defaults).await?;
    let spec = ttv::facade::JobSpec {
        problems: built.problems,
        inputs: built.inputs,
        backend: args.backend.clone(),
        ..ttv::facade::JobSpec::new(built.request)
    };
    let (selection, _) = settings.jobs().check(&spec)?;
    let r = &selection.resolved;
    if cli.json {
        return print_json(&json!({
            "status": "valid",
            "backend": selection.backend.id(),
            "model": selection.backend.model(),
            "resolved": r,
            "estimate": selection.estimate,
        }));
    }
    println!(
        "ok: {} would make {} s of {} at {} fps ({} frames, {}), estimated cost {}",
        selection.backend.id(),
        r.duration.as_secs_f64(),
        r.resolution,
        r.fps,
        r.frames,
        r.mode,
        selection.estimate
    );
    Ok(())
}
