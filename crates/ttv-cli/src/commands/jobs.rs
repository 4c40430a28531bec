//! `ttv jobs ...`: list, show, resume, cancel and resolve jobs in the job store.

use anyhow::Context as _;
use serde_json::json;
use ttv::facade::{Done, Jobs};
use ttv::jobs::{JobRunner, Resolution, Resumed};
use ttv::store::{Job, JobState};
use ttv::{Error, ErrorKind, Event};

use crate::cli::{Cli, JobsCommand, ResolveArgs};
use crate::output::print_json;
use crate::progress::Progress;
use crate::settings::{self, Settings};

/// The job façade of these settings, with the job store opened.
pub async fn open(settings: &Settings) -> anyhow::Result<Jobs> {
    let store = settings.store().await.context("opening the job store")?;
    Ok(settings.jobs().with_store(store)?)
}

/// Runs `ttv jobs ...`.
pub async fn run(cli: &Cli, command: &JobsCommand) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    let jobs = open(&settings).await?;
    let runner = jobs.runner()?;
    match command {
        JobsCommand::List { state } => list(cli, runner, state).await,
        JobsCommand::Show { id } => show(cli, runner, id).await,
        JobsCommand::Resume { id, all } => resume(cli, &jobs, id.as_deref(), *all).await,
        JobsCommand::Cancel { id } => {
            let job = runner.job(id).await?;
            let backend = settings.registry.get("job backend", &job.backend).ok();
            let job = runner.cancel(backend.as_deref(), id).await?;
            print_job_line(cli, &job)
        }
        JobsCommand::Resolve(args) => resolve(cli, runner, args).await,
        JobsCommand::Url { id, expires } => url(cli, &jobs, id, *expires).await,
    }
}

/// `ttv jobs url`: a presigned URL of a stored video, else where the video is.
async fn url(cli: &Cli, jobs: &Jobs, id: &str, expires: Option<u64>) -> anyhow::Result<()> {
    let job = jobs.runner()?.job(id).await?;
    if job.state != JobState::Done {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            format!("job {id} is {}, not done: it has no video yet", job.state),
        )
        .into());
    }
    let ttl = match expires {
        Some(secs) if (1..=604_800).contains(&secs) => Some(std::time::Duration::from_secs(secs)),
        Some(secs) => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("--expires: {secs}; expected 1 to 604800 seconds (presigned URLs last at most 7 days)"),
            )
            .into());
        }
        None => None,
    };
    let stored = jobs.stored_url(id).await?;
    let (url, presigned) = match (&stored, jobs.output_store()?) {
        (Some(at), Some(store)) if store.holds(at) => match store.presign(at, ttl).await? {
            Some(signed) => (signed, true),
            None => (at.clone(), false),
        },
        (Some(at), _) => (at.clone(), false),
        (None, _) => (job.out.display().to_string(), false),
    };
    if cli.json {
        return print_json(&json!({
            "job_id": id,
            "url": url,
            "presigned": presigned,
            "stored": stored,
            "path": job.out,
        }));
    }
    println!("{url}");
    Ok(())
}

async fn list(cli: &Cli, runner: &JobRunner, states: &[String]) -> anyhow::Result<()> {
    let states = states
        .iter()
        .map(|s| {
            s.parse::<JobState>()
                .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("--state: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = runner.store().clone();
    let jobs = tokio::task::spawn_blocking(move || store.list(&states)).await??;
    if cli.json {
        return print_json(&jobs);
    }
    println!(
        "{:<20} {:<12} {:<9} {:<20} {:>9}  OUTPUT",
        "JOB", "STATE", "BACKEND", "CREATED", "COST"
    );
    for job in &jobs {
        println!(
            "{:<20} {:<12} {:<9} {:<20} {:>9}  {}",
            job.id,
            job.state.as_str(),
            job.backend,
            job.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            job.estimate.usd.to_string(),
            job.out.display()
        );
    }
    Ok(())
}

async fn show(cli: &Cli, runner: &JobRunner, id: &str) -> anyhow::Result<()> {
    let job = runner.job(id).await?;
    let store = runner.store().clone();
    let key = id.to_owned();
    let history = tokio::task::spawn_blocking(move || store.history(&key)).await??;
    if cli.json {
        let mut value = serde_json::to_value(&job)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("history".into(), serde_json::to_value(&history)?);
        }
        return print_json(&value);
    }
    println!("job       {}", job.id);
    println!("state     {}", job.state);
    println!(
        "backend   {}{}",
        job.backend,
        job.model
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    if let Some(t) = &job.ticket {
        println!("ticket    {}", t.id);
    }
    println!("submits   {}", job.submits);
    println!("estimate  {} ({})", job.estimate, job.estimate.basis);
    if let Some(c) = &job.charged {
        println!("charged   {c}");
    }
    println!("output    {}", job.out.display());
    if let Some(e) = &job.error {
        println!("error     {e}");
    }
    println!("history");
    for h in &history {
        println!(
            "  {}  {:<22} {} -> {}{}",
            h.at.format("%Y-%m-%d %H:%M:%S"),
            h.event,
            h.from,
            h.to,
            h.detail
                .as_deref()
                .map(|d| format!("  {d}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn resume(cli: &Cli, jobs: &Jobs, id: Option<&str>, all: bool) -> anyhow::Result<()> {
    let runner = jobs.runner()?;
    let Some(id) = id.filter(|_| !all) else {
        return resume_all(cli, jobs).await;
    };
    let progress = Progress::new(!cli.quiet && !cli.json);
    let sink = {
        let progress = progress.clone();
        move |event: Event| progress.on_event(event)
    };
    let outcome = jobs.resume(id, &sink).await;
    progress.clear();
    let after = runner.job(id).await?;
    if cli.json {
        print_json(&json!({ "jobs": [resumed(&after, outcome.as_ref().err())] }))?;
    } else if outcome.is_ok() && !cli.quiet {
        println!("{}", after.out.display());
    }
    // The error is the command's, shown once by main.
    outcome.map(drop).map_err(Into::into)
}

/// `ttv jobs resume --all`: every unfinished job, one after the other. A job another ttv
/// process is running is skipped (and said so); a job that fails does not stop the others.
async fn resume_all(cli: &Cli, jobs: &Jobs) -> anyhow::Result<()> {
    let runner = jobs.runner()?;
    let mut results = Vec::new();
    let mut failures = 0;
    for job in runner.resumable().await? {
        if jobs.is_running_elsewhere(&job.id).await? {
            if !cli.quiet && !cli.json {
                eprintln!("job {}: skipped, another ttv process is running it", job.id);
            }
            results.push(json!({
                "id": job.id,
                "state": job.state,
                "skipped": "another ttv process is running it",
            }));
            continue;
        }
        let progress = Progress::new(!cli.quiet && !cli.json);
        let sink = {
            let progress = progress.clone();
            move |event: Event| progress.on_event(event)
        };
        let outcome = jobs.resume(&job.id, &sink).await;
        progress.clear();
        let after = runner.job(&job.id).await?;
        if !cli.quiet && !cli.json {
            match &outcome {
                Ok(_) => println!("{}", after.out.display()),
                Err(e) => eprintln!("job {}: {e}", job.id),
            }
        }
        if outcome.is_err() {
            failures += 1;
        }
        results.push(serde_json::to_value(resumed(
            &after,
            outcome.as_ref().err(),
        ))?);
    }
    if cli.json {
        print_json(&json!({ "jobs": results }))?;
    }
    if failures > 0 {
        let kind = ErrorKind::JobFailed;
        return Err(Error::new(
            kind,
            format!(
                "{failures} of {} job(s) could not be carried on (each is listed above)",
                results.len()
            ),
        )
        .into());
    }
    Ok(())
}

/// What became of one resumed job, for `--json`.
fn resumed(after: &Job, error: Option<&Error>) -> Resumed {
    Resumed {
        id: after.id.clone(),
        state: after.state,
        path: (after.state == JobState::Done).then(|| after.out.clone()),
        error: error.map(ToString::to_string),
    }
}

async fn resolve(cli: &Cli, runner: &JobRunner, args: &ResolveArgs) -> anyhow::Result<()> {
    let how = match (&args.submitted, args.not_submitted, args.failed) {
        (Some(task), _, _) => Resolution::Submitted {
            task_id: task.clone(),
        },
        (None, true, _) => Resolution::NotSubmitted,
        _ => Resolution::Failed {
            reason: "given up by the user (`ttv jobs resolve --failed`)".to_owned(),
        },
    };
    let job = runner.resolve(&args.id, how).await?;
    print_job_line(cli, &job)
}

fn print_job_line(cli: &Cli, job: &Job) -> anyhow::Result<()> {
    if cli.json {
        return print_json(job);
    }
    if !cli.quiet {
        let next = match job.state {
            JobState::Submitted => format!("; `ttv jobs resume {}` fetches it", job.id),
            JobState::Created => format!(
                "; `ttv generate --job-id {}` with the same arguments submits it",
                job.id
            ),
            _ => String::new(),
        };
        println!("job {} is {}{next}", job.id, job.state);
    }
    Ok(())
}

/// Prints a job that was already done before this run, as `generate` prints a new video.
pub fn report_done(cli: &Cli, done: &Done) -> anyhow::Result<()> {
    let job = &done.job;
    if cli.json {
        return print_json(&json!({
            "status": "succeeded",
            "job_id": job.id,
            "path": done.path,
            "already_done": true,
            "copied_from": done.copied_from,
        }));
    }
    println!("{}", done.path.display());
    if !cli.quiet {
        match &done.copied_from {
            Some(from) => eprintln!(
                "job {} was already done; its video {} was copied to {}; nothing was submitted",
                job.id,
                from.display(),
                done.path.display()
            ),
            None => eprintln!("job {} was already done; nothing was submitted", job.id),
        }
    }
    Ok(())
}
