//! `ttv generate`: the job façade ([`ttv::facade::Jobs`]) makes the video; this command turns
//! the arguments into a job spec, maps Ctrl-C onto the run's cancel handle, and prints.
//!
//! Every run is a job in the job store (`--job-id` names it; running again with the same id
//! carries that job on instead of paying twice). Ctrl-C cancels the remote job (where the
//! backend can), records it as cancelled and exits with 130, leaving nothing at the output
//! path. Another Ctrl-C within [`GRACE`] of the first does not cut the cancel short (a
//! `timeout -s INT` or a terminal signals the whole process group, so one key press can
//! arrive twice); a later one, or a third, exits at once and says how to finish the cancel.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use ttv::Event;
use ttv::facade::{Cancel, FallbackPolicy, JobSpec, Made, Outcome, Plan};
use ttv::sidecar::Fallback;

use crate::cli::{Cli, GenerateArgs};
use crate::output::{human_bytes, print_json, warning};
use crate::progress::Progress;
use crate::{exit, request, settings};

/// How long after the first Ctrl-C another one is taken as part of the same interrupt.
const GRACE: Duration = Duration::from_secs(2);

/// Runs the command.
pub async fn run(cli: &Cli, args: &GenerateArgs) -> anyhow::Result<()> {
    let mut settings = settings::load(cli)?;
    // Held until the run ends: the providers' callbacks arrive through it.
    let _listener = match &args.webhook_url {
        Some(url) if !args.dry_run => {
            Some(listen_for_webhooks(cli, &mut settings, url, args.webhook_listen).await?)
        }
        _ => None,
    };
    let built = request::build(&args.request, &settings.defaults).await?;
    let spec = JobSpec {
        problems: built.problems,
        inputs: built.inputs,
        backend: args.backend.clone(),
        fallback: match (args.fallback, args.no_fallback) {
            (true, _) => FallbackPolicy::Always,
            (_, true) => FallbackPolicy::Never,
            _ => FallbackPolicy::UnlessNamed,
        },
        out: args.out.clone(),
        job_id: args.job_id.clone(),
        dry_run: args.dry_run,
        ..JobSpec::new(built.request)
    };
    // A dry run neither reads nor writes the job store.
    let jobs = if args.dry_run {
        settings.jobs()
    } else {
        super::jobs::open(&settings).await?
    };
    let plan = jobs.plan(spec).await?;
    if !cli.quiet {
        for w in &plan.warnings {
            eprintln!("{}", warning(w));
        }
        if let Some(f) = &plan.fallback {
            eprintln!("{}", warning(&fallback_line(f, "will be made")));
        }
    }
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
    let job_id = plan.job_id.clone();
    let warnings = plan.warnings.clone();
    let signals = tokio::spawn(on_ctrl_c(cancel.clone(), progress.clone(), job_id.clone()));
    let outcome = jobs.run(plan, &sink, &cancel).await;
    signals.abort();
    progress.clear();
    match outcome.with_context(|| format!("job {job_id}"))? {
        Outcome::Made(made) => print_made(cli, &made, &warnings),
        Outcome::AlreadyDone(done) => super::jobs::report_done(cli, &done),
    }
}

/// Webhooks for this run: the backends are rebuilt to ask for callbacks at `url`, and a
/// listener takes them on `listen` (default 127.0.0.1 and the URL's port).
async fn listen_for_webhooks(
    cli: &Cli,
    settings: &mut settings::Settings,
    url: &str,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ttv_server::WebhookListener> {
    let configured = settings.loaded.settings.registry.webhooks.clone();
    let mut hook_settings = ttv::webhooks::WebhookSettings::new(url.trim());
    if let Some(c) = &configured {
        hook_settings.fal_jwks_url = c.settings().fal_jwks_url.clone();
        hook_settings.tolerance = c.settings().tolerance;
    }
    hook_settings.check("--webhook-url")?;
    let listen = match listen {
        Some(addr) => addr,
        None => match webhook_port(url) {
            Some(port) => std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            None => {
                return Err(ttv::Error::invalid(vec![ttv::Problem::new(
                    "--webhook-listen",
                    "(not given)",
                    format!(
                        "an address to listen on, such as 127.0.0.1:8788, since {url} names no port \
                         (a tunnel's public address forwards to it)"
                    ),
                )])
                .into());
            }
        },
    };
    let hooks = ttv::webhooks::Webhooks::new(hook_settings)?;
    settings.loaded.settings.registry.webhooks = Some(hooks.clone());
    settings.registry = ttv::registry::Registry::new(&settings.loaded.settings.registry);
    let listener = ttv_server::WebhookListener::start(listen, hooks)
        .await
        .map_err(|e| ttv::Error::new(ttv::ErrorKind::Io, e.to_string()))?;
    if !cli.quiet && !cli.json {
        eprintln!(
            "listening for webhooks on http://{} (providers call {}{}/PROVIDER)",
            listener.addr(),
            url.trim().trim_end_matches('/'),
            ttv::webhooks::ROUTE_PREFIX
        );
    }
    Ok(listener)
}

/// The port written in `url`, when one is.
fn webhook_port(url: &str) -> Option<u16> {
    let rest = url.trim().split_once("://")?.1;
    let host_port = rest.split('/').next()?;
    let port = host_port.rsplit_once(':')?.1;
    port.parse().ok()
}

/// The first Ctrl-C cancels the run (remotely too, where the backend can). Another within
/// [`GRACE`] is part of the same interrupt; a later one, or a third, exits at once.
async fn on_ctrl_c(cancel: Cancel, progress: Progress, job_id: String) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    progress.clear();
    cancel.cancel();
    let first = Instant::now();
    let mut presses = 1;
    while tokio::signal::ctrl_c().await.is_ok() {
        presses += 1;
        if presses >= 3 || first.elapsed() >= GRACE {
            eprintln!(
                "interrupted again: exiting without waiting for the cancel; job {job_id} may still \
                 be running at the provider: `ttv jobs cancel {job_id}` cancels it"
            );
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
        eprintln!(
            "cancelling job {job_id} at the provider; press Ctrl-C again to exit without waiting"
        );
    }
}

/// The line that says another backend stands in, loudly when it is the placeholder renderer.
fn fallback_line(f: &Fallback, made: &str) -> String {
    let what = if f.placeholder {
        format!(
            "{}, a placeholder renderer (camera moves and title cards), not a generative model",
            f.to
        )
    } else {
        f.to.clone()
    };
    format!(
        "{} was not used ({}); the video {made} by {what}",
        f.from, f.reason
    )
}

fn print_plan(cli: &Cli, plan: &Plan) -> anyhow::Result<()> {
    let selection = &plan.selection;
    if cli.json {
        let mut value = json!({"status": "dry_run"});
        if let (Some(obj), serde_json::Value::Object(plan)) =
            (value.as_object_mut(), plan.describe())
        {
            obj.extend(plan);
        }
        return print_json(&value);
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

fn print_made(cli: &Cli, made: &Made, warnings: &[String]) -> anyhow::Result<()> {
    if cli.json {
        let mut value = serde_json::to_value(&made.sidecar)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("status".into(), json!("succeeded"));
            obj.insert("job_id".into(), json!(made.job_id));
            obj.insert("path".into(), json!(made.path));
            obj.insert("sidecar".into(), json!(made.sidecar_path));
            if !warnings.is_empty() {
                obj.insert("warnings".into(), json!(warnings));
            }
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
        if let Some(f) = &made.fallback {
            eprintln!("{}", warning(&fallback_line(f, "was made")));
        }
    }
    Ok(())
}
