//! `ttv generate`: the job façade ([`ttv::facade::Jobs`]) makes the video; this command turns
//! the arguments into a job spec, maps Ctrl-C onto the run's cancel handle, and prints.
//!
//! Every run is a job in the job store (`--job-id` names it; running again with the same id
//! carries that job on instead of paying twice). Ctrl-C cancels the remote job (where the
//! backend can), records it as cancelled and exits with 130, leaving nothing at the output
//! path; a second Ctrl-C exits at once.

use anyhow::Context as _;
use serde_json::json;
use ttv::Event;
use ttv::facade::{Cancel, JobSpec, Made, Outcome, Plan};

use crate::cli::{Cli, GenerateArgs};
use crate::output::{human_bytes, print_json};
use crate::progress::Progress;
use crate::{exit, request, settings};

/// Runs the command.
pub async fn run(cli: &Cli, args: &GenerateArgs) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let req = request::build(&args.request, &settings.defaults).await?;
    let spec = JobSpec {
        backend: args.backend.clone(),
        out: args.out.clone(),
        job_id: args.job_id.clone(),
        dry_run: args.dry_run,
        ..JobSpec::new(req)
    };
    // A dry run neither reads nor writes the job store.
    let jobs = if args.dry_run {
        settings.jobs()
    } else {
        super::jobs::open(&settings).await?
    };
    let plan = jobs.plan(spec).await?;
    if plan.dry_run {
        return print_plan(cli, &plan);
    }
    if !cli.quiet && !cli.json {
        eprintln!("job {} ({})", plan.job_id, plan.selection.backend.id());
    }

    let progress = Progress::new(!cli.quiet);
    let sink = {
        let progress = progress.clone();
        move |event: Event| progress.on_event(event)
    };
    let cancel = Cancel::new();
    let signals = tokio::spawn(on_ctrl_c(cancel.clone(), progress.clone()));
    let job_id = plan.job_id.clone();
    let outcome = jobs.run(plan, &sink, &cancel).await;
    signals.abort();
    progress.clear();
    match outcome.with_context(|| format!("job {job_id}"))? {
        Outcome::Made(made) => print_made(cli, &made),
        Outcome::AlreadyDone(job) => super::jobs::report_done(cli, &job),
    }
}

/// The first Ctrl-C cancels the run (remotely too, where the backend can); a second one exits
/// at once.
async fn on_ctrl_c(cancel: Cancel, progress: Progress) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    progress.clear();
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(i32::from(exit::INTERRUPTED));
    }
}

fn print_plan(cli: &Cli, plan: &Plan) -> anyhow::Result<()> {
    let selection = &plan.selection;
    if cli.json {
        return print_json(&json!({
            "status": "dry_run",
            "backend": selection.backend.id(),
            "model": selection.backend.model(),
            "reason": selection.reason,
            "resolved": selection.resolved,
            "estimate": selection.estimate,
            "out": plan.out,
            "skipped": selection.skipped,
        }));
    }
    if !cli.quiet {
        let r = &selection.resolved;
        println!(
            "would make {} with {} ({}): {} s, {} at {} fps, {} frames; estimated cost {}",
            plan.out.display(),
            selection.backend.id(),
            selection.reason,
            r.duration.as_secs_f64(),
            r.resolution,
            r.fps,
            r.frames,
            selection.estimate
        );
    }
    Ok(())
}

fn print_made(cli: &Cli, made: &Made) -> anyhow::Result<()> {
    if cli.json {
        let mut value = serde_json::to_value(&made.sidecar)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("status".into(), json!("succeeded"));
            obj.insert("job_id".into(), json!(made.job_id));
            obj.insert("path".into(), json!(made.path));
            obj.insert("sidecar".into(), json!(made.sidecar_path));
        }
        return print_json(&value);
    }
    println!("{}", made.path.display());
    if !cli.quiet {
        let (g, v) = (&made.generated, &made.generated.video);
        eprintln!(
            "made {} with {}: {}x{}, {:.2} s, {} frames, {}, {}, estimated cost {}; sidecar {}",
            made.path.display(),
            made.selection.backend.id(),
            v.width,
            v.height,
            v.duration_secs,
            v.frames,
            v.codec,
            human_bytes(g.bytes),
            made.selection.estimate,
            made.sidecar_path.display(),
        );
    }
    Ok(())
}
