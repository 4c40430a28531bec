//! `ttv generate`: choose a backend, make the video, verify it, write the sidecar.
//!
//! Ctrl-C cancels the remote job (where the backend can) and exits with 130, leaving nothing
//! at the output path; a second Ctrl-C exits at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use ttv::sidecar::Sidecar;
use ttv::{Error, ErrorKind, Event, Ticket};

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
    let selection =
        ttv::router::select(&settings.registry, &req, field, name, &settings.preference)?;
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

    let progress = Progress::new(!cli.quiet);
    let ticket: Arc<Mutex<Option<Ticket>>> = Arc::default();
    let sink = {
        let progress = progress.clone();
        let ticket = ticket.clone();
        move |event: Event| {
            if let Event::Submitted(t) = &event
                && let Ok(mut slot) = ticket.lock()
            {
                *slot = Some(t.clone());
            }
            progress.on_event(event);
        }
    };

    let backend = selection.backend.clone();
    let generated = tokio::select! {
        result = backend.generate(&req, &out, &sink) => result,
        _ = tokio::signal::ctrl_c() => {
            progress.clear();
            tokio::spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(exit::INTERRUPTED));
                }
            });
            let held = ticket.lock().ok().and_then(|t| t.clone());
            let note = match held {
                Some(t) => match tokio::time::timeout(Duration::from_secs(15), backend.cancel(&t)).await {
                    Ok(Ok(())) => format!("; job {} was cancelled", t.id),
                    Ok(Err(e)) => format!("; cancelling job {} failed: {e}", t.id),
                    Err(_) => format!("; cancelling job {} timed out", t.id),
                },
                None => String::new(),
            };
            Err(Error::new(ErrorKind::Cancelled, format!("interrupted{note}; nothing was written to {}", out.display())))
        }
    };
    progress.clear();
    let generated = generated?;

    let sidecar = Sidecar::new(&req, &selection, &generated, started_at);
    let sidecar_path = sidecar.write_beside(&generated.path).with_context(|| {
        format!(
            "the video is at {} but its sidecar could not be written",
            generated.path.display()
        )
    })?;

    if cli.json {
        let mut value = serde_json::to_value(&sidecar)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("status".into(), json!("succeeded"));
            obj.insert("path".into(), json!(generated.path));
            obj.insert("sidecar".into(), json!(sidecar_path));
        }
        print_json(&value)?;
    } else {
        println!("{}", generated.path.display());
        if !cli.quiet {
            let v = &generated.video;
            eprintln!(
                "made {} with {}: {}x{}, {:.2} s, {} frames, {}, {}, estimated cost {}; sidecar {}",
                generated.path.display(),
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
