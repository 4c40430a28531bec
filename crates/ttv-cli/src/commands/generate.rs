//! `ttv generate`: choose a backend, make the video, verify it, write the sidecar.
//!
//! Every run is a job in the job store (`--job-id` names it; running again with the same id
//! carries that job on instead of paying twice). Ctrl-C cancels the remote job (where the
//! backend can), records it as cancelled and exits with 130, leaving nothing at the output
//! path; a second Ctrl-C exits at once.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use ttv::jobs::Finished;
use ttv::sidecar::Sidecar;
use ttv::store::{JobState, NewJob};
use ttv::{Error, ErrorKind, Event};

use crate::cli::{Cli, GenerateArgs};
use crate::output::{human_bytes, print_json};
use crate::progress::Progress;
use crate::{exit, request, settings};

/// Runs the command.
pub async fn run(cli: &Cli, args: &GenerateArgs) -> anyhow::Result<()> {
    let started_at = chrono::Utc::now();
    let settings = settings::load(cli)?;
    let req = request::build(&args.request, &settings.defaults).await?;
    let (field, name) = match &args.backend {
        Some(b) => ("--backend", b.as_str()),
        None => ("default_backend", settings.default_backend.as_str()),
    };
    let job_id = match &args.job_id {
        Some(id) => {
            ttv::jobs::check_job_id(id)?;
            id.clone()
        }
        None => ttv::jobs::new_job_id(),
    };
    let request_json = serde_json::to_value(&req)?;
    // A dry run neither reads nor writes the job store.
    let runner = match args.dry_run {
        true => None,
        false => Some(super::jobs::runner(&settings).await?),
    };
    let existing = match (&args.job_id, &runner) {
        (Some(id), Some(runner)) => runner.find(id).await?,
        _ => None,
    };
    let selection = match &existing {
        Some(job) => {
            if job.request != request_json {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "job {job_id} exists with a different request; use a new --job-id, or the same arguments to carry it on (`ttv jobs show {job_id}`)"
                    ),
                )
                .into());
            }
            ttv::router::Selection {
                backend: settings.registry.get("job backend", &job.backend)?,
                resolved: job.resolved,
                estimate: job.estimate.clone(),
                reason: format!("continuing job {job_id}"),
                skipped: Vec::new(),
            }
        }
        None => ttv::router::select(&settings.registry, &req, field, name, &settings.preference)?,
    };
    let out = match &args.out {
        Some(path) => path.clone(),
        None => settings
            .output_dir
            .join(format!("ttv-{}.mp4", started_at.format("%Y%m%d-%H%M%S"))),
    };

    if args.dry_run {
        let plan = json!({
            "status": "dry_run",
            "backend": selection.backend.id(),
            "model": selection.backend.model(),
            "reason": selection.reason,
            "resolved": selection.resolved,
            "estimate": selection.estimate,
            "out": out,
            "skipped": selection.skipped,
        });
        if cli.json {
            print_json(&plan)?;
        } else if !cli.quiet {
            let r = &selection.resolved;
            println!(
                "would make {} with {} ({}): {} s, {} at {} fps, {} frames; estimated cost {}",
                out.display(),
                selection.backend.id(),
                selection.reason,
                r.duration.as_secs_f64(),
                r.resolution,
                r.fps,
                r.frames,
                selection.estimate
            );
        }
        return Ok(());
    }

    let Some(runner) = runner else {
        return Ok(());
    };
    if existing.is_none() {
        // Refused before the job is recorded; the runner checks again right before submit.
        runner
            .check_budget(
                selection.backend.id(),
                selection.estimate.usd.micros,
                &job_id,
            )
            .await?;
    }
    // Paths are shown as the user gave them; the store keeps them absolute for resume.
    let (job, shown) = match existing {
        Some(job) => {
            let shown = job.out.clone();
            (job, shown)
        }
        None => {
            let absolute = std::path::absolute(&out)
                .with_context(|| format!("cannot resolve the output path {}", out.display()))?;
            let job = runner
                .create(NewJob {
                    id: job_id.clone(),
                    backend: selection.backend.id().to_owned(),
                    model: selection.backend.model().map(str::to_owned),
                    request: request_json.clone(),
                    resolved: selection.resolved,
                    estimate: selection.estimate.clone(),
                    out: absolute,
                })
                .await?;
            (job, out)
        }
    };
    if !cli.quiet && !cli.json {
        eprintln!("job {job_id} ({})", selection.backend.id());
    }

    let progress = Progress::new(!cli.quiet);
    let sink = {
        let progress = progress.clone();
        move |event: Event| progress.on_event(event)
    };

    let chain = fallback_chain(&settings, &selection);
    let backend = selection.backend.clone();
    let finished = tokio::select! {
        result = runner.run_with_fallback(&chain, &job_id, &req, settings.fallback_on_content_rejection, &sink) => result,
        _ = tokio::signal::ctrl_c() => {
            progress.clear();
            tokio::spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(exit::INTERRUPTED));
                }
            });
            let cancelled = tokio::time::timeout(
                Duration::from_secs(15),
                runner.cancel(Some(backend.as_ref()), &job_id),
            )
            .await;
            let note = match cancelled {
                Ok(Ok(job)) => match (&job.ticket, job.state) {
                    (_, JobState::Unknown) => format!(
                        "; job {job_id} was interrupted while submitting and is now unknown (`ttv jobs show {job_id}`)"
                    ),
                    (Some(t), _) => format!("; job {job_id} (provider job {}) was cancelled", t.id),
                    (None, _) => format!("; job {job_id} was cancelled"),
                },
                Ok(Err(e)) => format!("; cancelling job {job_id} failed: {e}"),
                Err(_) => format!("; cancelling job {job_id} timed out"),
            };
            Err(Error::new(ErrorKind::Cancelled, format!("interrupted{note}; nothing was written to {}", job.out.display())))
        }
    };
    progress.clear();
    let sidecar_path = ttv::sidecar::path_for(&shown);
    let (generated, used) = match finished.with_context(|| format!("job {job_id}"))? {
        (Finished::Made(generated), used) => (*generated, used),
        (Finished::AlreadyDone(job), _) => return super::jobs::report_done(cli, &job),
    };
    let selection = if used.id() == selection.backend.id() {
        selection
    } else {
        let job = runner.job(&job_id).await?;
        ttv::router::Selection {
            reason: format!(
                "fallback from {}: {}",
                selection.backend.id(),
                selection.reason
            ),
            resolved: job.resolved,
            estimate: job.estimate,
            backend: used,
            skipped: selection.skipped,
        }
    };
    let history = {
        let (store, id) = (runner.store().clone(), job_id.clone());
        tokio::task::spawn_blocking(move || store.history(&id)).await??
    };
    let sidecar = Sidecar::new(&req, &selection, &generated, started_at)
        .with_job_id(&job_id)
        .with_history(&history);
    sidecar.write_beside(&generated.path).with_context(|| {
        format!(
            "the video is at {} but its sidecar could not be written",
            generated.path.display()
        )
    })?;

    if cli.json {
        let mut value = serde_json::to_value(&sidecar)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("status".into(), json!("succeeded"));
            obj.insert("job_id".into(), json!(job_id));
            obj.insert("path".into(), json!(shown));
            obj.insert("sidecar".into(), json!(sidecar_path));
        }
        print_json(&value)?;
    } else {
        println!("{}", shown.display());
        if !cli.quiet {
            let v = &generated.video;
            eprintln!(
                "made {} with {}: {}x{}, {:.2} s, {} frames, {}, {}, estimated cost {}; sidecar {}",
                shown.display(),
                selection.backend.id(),
                v.width,
                v.height,
                v.duration_secs,
                v.frames,
                v.codec,
                human_bytes(generated.bytes),
                selection.estimate,
                sidecar_path.display(),
            );
        }
    }
    Ok(())
}

/// The chosen backend, then each configured fallback that is usable here, without repeats.
fn fallback_chain(
    settings: &settings::Settings,
    selection: &ttv::router::Selection,
) -> Vec<std::sync::Arc<dyn ttv::VideoBackend>> {
    let mut chain = vec![selection.backend.clone()];
    for name in &settings.fallback {
        match settings.registry.get("fallback_backend", name) {
            Ok(b) if chain.iter().all(|c| c.id() != b.id()) => chain.push(b),
            Ok(_) => {}
            Err(e) => tracing::info!(backend = %name, error = %e, "fallback backend skipped"),
        }
    }
    chain
}
