//! `ttv film ...`: long videos. The library's film pipeline ([`ttv::film::Film`]) plans,
//! makes and joins; this command turns the arguments into a film request, draws progress
//! (one overall bar and a line per running segment, or one JSON event per segment state
//! change with `--json`), maps Ctrl-C onto the run's cancel handle, and prints.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use ttv::facade::Cancel;
use ttv::film::{
    Film, FilmEvent, FilmEvents, FilmMade, FilmPlan, FilmRequest, FilmSettings, PlanningCall,
    SegmentState, Storyboard, split,
};
use ttv::{Error, ErrorKind, Money, Problem};

use crate::cli::{Cli, FilmCommand, FilmInput};
use crate::output::print_json;
use crate::settings::{self, Settings};

/// Runs `ttv film ...`.
pub async fn run(cli: &Cli, command: &FilmCommand) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    match command {
        FilmCommand::Plan(args) => {
            let request = request(cli, &settings, &args.input).await?;
            let film = Film::new(settings.jobs());
            let plan = film.plan(&request).await?;
            print_plan(cli, &plan, args.out.as_deref())
        }
        FilmCommand::Run(args) => {
            let mut request = request(cli, &settings, &args.input).await?;
            request.out = args.out.clone();
            if let Some(n) = args.crossfade {
                if n > ttv::film::settings::MAX_CROSSFADE_FRAMES {
                    return Err(Error::invalid(vec![Problem::new(
                        "--crossfade",
                        n,
                        format!(
                            "a whole number of frames from 0 to {}",
                            ttv::film::settings::MAX_CROSSFADE_FRAMES
                        ),
                    )])
                    .into());
                }
                request.settings.crossfade_frames = n;
            }
            let film = open(&settings).await?;
            let plan = film.plan(&request).await?;
            // The planning call is paid already: into the ledger, whatever happens next.
            if let Some(call) = &request.planning {
                film.record_planning(&plan.run_id, call).await?;
            }
            if let Some(why) = &plan.over_budget {
                return Err(Error::new(ErrorKind::QuotaExceeded, why.clone()).into());
            }
            if !cli.quiet && !cli.json {
                eprintln!(
                    "film {}: {} segments ({}), estimated {}",
                    plan.run_id,
                    plan.segments.len(),
                    plan.mode,
                    plan.total
                );
            }
            let run_id = plan.run_id.clone();
            let made = with_progress(cli, &run_id, |events, cancel| async move {
                film.run(plan, &request, events, &cancel).await
            })
            .await?;
            print_made(cli, &made)
        }
        FilmCommand::Resume { run } => {
            let film = open(&settings).await?;
            let made = with_progress(cli, run, |events, cancel| {
                let film = film.clone();
                let run = run.clone();
                async move { film.resume(&run, events, &cancel).await }
            })
            .await?;
            print_made(cli, &made)
        }
        FilmCommand::List => list(cli, &open(&settings).await?).await,
        FilmCommand::Show { run } => show(cli, &open(&settings).await?, run).await,
        FilmCommand::Cancel { run } => {
            let film = open(&settings).await?;
            let cancelled = film.cancel(run).await?;
            if cli.json {
                return print_json(
                    &json!({"run_id": run, "state": "cancelled", "jobs_cancelled": cancelled}),
                );
            }
            println!("{run} cancelled");
            if !cli.quiet && !cancelled.is_empty() {
                eprintln!("cancelled segment jobs: {}", cancelled.join(", "));
            }
            Ok(())
        }
    }
}

/// The film pipeline with the job store opened. With `image_generation_model` set, keyframes
/// the user did not provide come from that image backend (else from animatic stills).
async fn open(settings: &Settings) -> anyhow::Result<Film> {
    let film = Film::new(super::jobs::open(settings).await?);
    let registry = ttv::images::registry::ImageRegistry::new(&settings.images);
    // Unset, or set without its key: the stills stand in, as before image backends.
    if settings.images.default_backend.is_none()
        || registry.get("image_generation_model", None).is_err()
    {
        return Ok(film);
    }
    let loaded = &settings.loaded;
    let base = loaded
        .source
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
    let film_settings = FilmSettings::from_config(&loaded.config, &base)?;
    let store = settings.store().await?;
    let jobs = ttv::images::jobs::ImageJobs::new(
        registry,
        settings.budget.clone(),
        settings.retry.clone(),
    )
    .with_store(store, Some(settings.data_dir.clone()));
    let mut source = ttv::images::keyframes::ImageKeyframes::new(jobs, None, "film");
    if let Some(refs) = &film_settings.reference_images_dir {
        source = source.with_reference_dir(refs)?;
    }
    let keyframes = ttv::film::Keyframes::standard(ttv::film::UserImages {
        initial_image: film_settings.initial_image.clone(),
        dir: film_settings.reference_images_dir.clone(),
    })
    .with_source(std::sync::Arc::new(source));
    Ok(film.with_keyframes(keyframes))
}

/// The film request of the arguments and the configuration.
async fn request(cli: &Cli, settings: &Settings, input: &FilmInput) -> anyhow::Result<FilmRequest> {
    let loaded = &settings.loaded;
    let base = loaded
        .source
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
    let mut film = FilmSettings::from_config(&loaded.config, &base)?;
    if let Some(mode) = &input.mode {
        film.mode = mode.parse().map_err(|e: Error| {
            Error::invalid(vec![Problem::new(
                "--mode",
                format!("{mode:?}"),
                "keyframe or chaining",
            )])
            .with_source(e)
        })?;
    }
    if let Some(secs) = input.segment_duration {
        if !(secs.is_finite() && secs > 0.0) {
            return Err(Error::invalid(vec![Problem::new(
                "--segment-duration",
                secs,
                "seconds above 0",
            )])
            .into());
        }
        film.segment_secs = secs;
    }
    if let Some(n) = input.parallel {
        if n == 0 {
            return Err(Error::invalid(vec![Problem::new("--parallel", 0, "1 or more")]).into());
        }
        film.parallel = n as usize;
    }
    if let Some(d) = input.duration
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::invalid(vec![Problem::new("--duration", d, "seconds above 0")]).into());
    }
    let (storyboard, planning) = match (&input.storyboard, &input.prompt, &film.prompt) {
        (Some(path), _, _) => (Storyboard::read(path)?, None),
        (None, Some(prompt), _) | (None, None, Some(prompt)) => {
            if prompt.trim().is_empty() {
                return Err(Error::invalid(vec![Problem::new(
                    "--prompt",
                    "\"\"",
                    "the story to film",
                )])
                .into());
            }
            plan_story(
                cli,
                settings,
                prompt,
                input.duration.or(film.total_secs),
                film.segment_secs,
            )
            .await
        }
        (None, None, None) => {
            return Err(Error::invalid(vec![Problem::new(
                "prompt",
                "(none)",
                "--prompt TEXT, --storyboard FILE, or a configuration with a `prompt`",
            )])
            .into());
        }
    };
    Ok(FilmRequest {
        storyboard,
        settings: film,
        run_id: input.run_id.clone(),
        out: None,
        backend: input.backend.clone(),
        max_cost_usd: input.max_cost,
        planning,
    })
}

/// The storyboard of a story: from the configured LLM (`openai_api_key`, `openai_base_url`,
/// `prompt_enhancement_model`), else — or when the model fails — the deterministic split.
/// With the model's storyboard comes its paid call, for the ledger.
async fn plan_story(
    cli: &Cli,
    settings: &Settings,
    prompt: &str,
    total_secs: Option<f64>,
    segment_secs: f64,
) -> (Storyboard, Option<PlanningCall>) {
    let fallback = split::split(prompt, total_secs, segment_secs);
    let Some(access) = ttv::planner::PlannerAccess::from_settings(settings) else {
        return (fallback, None);
    };
    let count = fallback.segments.len();
    match ttv::planner::plan_with_llm(&access, prompt, count, segment_secs, segment_secs).await {
        Ok((draft, usage)) => {
            if !cli.quiet {
                eprintln!(
                    "planned by {}: {} segments ({} + {} tokens, ${:.4})",
                    access.model,
                    draft.segments.len(),
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cost_usd
                );
            }
            let call = PlanningCall {
                backend: "openai".to_owned(),
                model: access.model.clone(),
                usage,
            };
            (Storyboard::from_draft(draft), Some(call))
        }
        Err(e) => {
            if !cli.quiet {
                eprintln!(
                    "{}",
                    crate::output::warning(&format!(
                        "the planner ({}) failed: {e}; using the deterministic split",
                        access.model
                    ))
                );
            }
            (fallback, None)
        }
    }
}

/// Runs `work` with progress drawn from its events and Ctrl-C cancelling it.
async fn with_progress<F, Fut>(cli: &Cli, run_id: &str, work: F) -> anyhow::Result<FilmMade>
where
    F: FnOnce(FilmEvents, Cancel) -> Fut,
    Fut: std::future::Future<Output = ttv::Result<FilmMade>>,
{
    let progress = Arc::new(FilmProgress::new(!cli.quiet && !cli.json));
    let json = cli.json;
    let events: FilmEvents = {
        let progress = progress.clone();
        Arc::new(move |event: FilmEvent| {
            if json
                && !matches!(event, FilmEvent::Progress { .. })
                && let Ok(line) = serde_json::to_string(&event)
            {
                println!("{line}");
            }
            progress.on_event(&event);
        })
    };
    // Ctrl-C stops the run the way a crash would, so that `ttv film resume` carries it on:
    // segments at the provider keep running (and are fetched by the resume, never bought
    // again). `ttv film cancel` is what cancels them.
    let cancel = Cancel::new();
    let signals = tokio::spawn({
        let (progress, run_id) = (progress.clone(), run_id.to_owned());
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                progress.clear();
                eprintln!(
                    "interrupted: film {run_id} stopped; `ttv film resume {run_id}` carries it on \
                     (nothing made is made or paid again), `ttv film cancel {run_id}` cancels it"
                );
                std::process::exit(i32::from(crate::exit::INTERRUPTED));
            }
        }
    });
    let result = work(events, cancel).await;
    signals.abort();
    progress.clear();
    result.with_context(|| format!("film {run_id}"))
}

/// One overall bar (segments done / total, spend so far) and a line per running segment.
struct FilmProgress {
    multi: MultiProgress,
    overall: ProgressBar,
    lines: Mutex<HashMap<usize, ProgressBar>>,
    spent: Mutex<i64>,
}

impl FilmProgress {
    fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(1));
        if let Ok(style) = ProgressStyle::with_template(
            "film [{bar:32}] {pos}/{len} segments  {msg}  {elapsed_precise}",
        ) {
            overall.set_style(style.progress_chars("=> "));
        }
        overall.enable_steady_tick(Duration::from_millis(200));
        Self {
            multi,
            overall,
            lines: Mutex::new(HashMap::new()),
            spent: Mutex::new(0),
        }
    }

    fn line(&self, index: usize) -> ProgressBar {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .entry(index)
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(1000));
                if let Ok(style) =
                    ProgressStyle::with_template("  {prefix:<12} [{bar:24}] {percent:>3}%  {msg}")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!("segment {index}"));
                bar
            })
            .clone()
    }

    fn on_event(&self, event: &FilmEvent) {
        match event {
            FilmEvent::Started { segments, .. } => {
                self.overall.set_length(*segments as u64);
                self.overall.set_message("spent $0.00");
            }
            FilmEvent::Segment {
                index,
                state,
                backend,
                cost,
                ..
            } => {
                let line = self.line(*index);
                let on = backend.as_deref().unwrap_or("");
                match state {
                    SegmentState::Done | SegmentState::AlreadyDone => {
                        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
                        *spent += cost.as_ref().map_or(0, |c| c.micros);
                        self.overall.inc(1);
                        self.overall
                            .set_message(format!("spent {}", Money::usd_micros(*spent)));
                        line.finish_and_clear();
                        self.multi.remove(&line);
                        self.lines
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(index);
                    }
                    SegmentState::Failed => line.abandon_with_message(format!("{on}: failed")),
                    other => line.set_message(format!("{on}: {}", state_word(*other))),
                }
            }
            FilmEvent::Progress {
                index,
                fraction: Some(f),
            } => self
                .line(*index)
                .set_position((f64::from(f.clamp(0.0, 1.0)) * 1000.0) as u64),
            FilmEvent::Progress { .. } => {}
            FilmEvent::Joining { .. } => self.overall.set_message("joining"),
        }
    }

    fn clear(&self) {
        for line in self
            .lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            line.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}

fn state_word(state: SegmentState) -> &'static str {
    match state {
        SegmentState::Started => "starting",
        SegmentState::Submitted => "submitted",
        SegmentState::Queued => "queued",
        SegmentState::Running => "generating",
        SegmentState::Downloading => "downloading",
        SegmentState::Done => "done",
        SegmentState::AlreadyDone => "already done",
        SegmentState::Retrying => "failed; trying again",
        SegmentState::Failed => "failed",
    }
}

/// `ttv film plan`: the storyboard with the estimates, on stdout or in a new file.
fn print_plan(cli: &Cli, plan: &FilmPlan, out: Option<&Path>) -> anyhow::Result<()> {
    let mut board = plan.storyboard.clone();
    for (seg, est) in board.segments.iter_mut().zip(&plan.segments) {
        seg.estimate = Some(json!({
            "backend": est.backend,
            "model": est.model,
            "duration_secs": est.duration_secs,
            "resolution": est.resolution.to_string(),
            "fps": est.fps,
            "usd": est.estimate.usd.micros as f64 / 1e6,
            "basis": est.estimate.basis,
        }));
    }
    board.estimate = Some(json!({
        "run_id": plan.run_id,
        "mode": plan.mode,
        "segments": plan.segments.len(),
        "total_usd": plan.total.micros as f64 / 1e6,
        "budget": match &plan.over_budget {
            None => "within every budget".to_owned(),
            Some(why) => format!("over budget: {why}"),
        },
    }));
    if cli.json && out.is_none() {
        return print_json(&json!({
            "status": "planned",
            "storyboard": board,
            "plan": plan,
        }));
    }
    let mut yaml = board.to_yaml()?;
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    match out {
        None => print!("{yaml}"),
        Some(path) => {
            if path.exists() {
                return Err(Error::invalid(vec![Problem::new(
                    "--out",
                    path.display(),
                    "a path where no file is yet (the plan never replaces a file)",
                )])
                .into());
            }
            ttv::media::atomic::write_atomically(path, yaml.as_bytes())?;
            if cli.json {
                return print_json(
                    &json!({"status": "planned", "storyboard_file": path, "plan": plan}),
                );
            }
            println!("{}", path.display());
        }
    }
    if !cli.quiet {
        eprintln!(
            "{} segments ({}), estimated {}; {}",
            plan.segments.len(),
            plan.mode,
            plan.total,
            plan.over_budget.as_deref().map_or_else(
                || "within every budget".to_owned(),
                |w| format!("over budget: {w}")
            )
        );
    }
    Ok(())
}

fn print_made(cli: &Cli, made: &FilmMade) -> anyhow::Result<()> {
    if cli.json {
        return print_json(&json!({
            "status": if made.already_done { "already_done" } else { "succeeded" },
            "run_id": made.run_id,
            "path": made.path,
            "sidecar": made.sidecar_path,
            "url": made.record["video"]["url"],
            "film": made.record,
        }));
    }
    println!("{}", made.path.display());
    if !cli.quiet {
        let r = &made.record;
        if let Some(url) = r["video"]["url"].as_str() {
            eprintln!("stored at {url}");
        }
        eprintln!(
            "{} {}: {}x{}, {:.2} s, {} frames from {} segments, cost {}; record {}",
            if made.already_done {
                "already made"
            } else {
                "made"
            },
            made.path.display(),
            r["video"]["width"],
            r["video"]["height"],
            r["video"]["duration_secs"].as_f64().unwrap_or_default(),
            r["video"]["frames"],
            r["totals"]["segments"],
            money(&r["totals"]["cost"]),
            made.sidecar_path.display()
        );
    }
    Ok(())
}

async fn list(cli: &Cli, film: &Film) -> anyhow::Result<()> {
    let runs = film.list().await?;
    if cli.json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "state": r.state, "title": r.title,
                    "segments": r.plan["segments"].as_array().map_or(0, Vec::len),
                    "out": r.out, "created_at": r.created_at, "error": r.error,
                })
            })
            .collect();
        return print_json(&json!({ "films": rows }));
    }
    println!(
        "{:<24} {:<10} {:>8} {:<20}  OUTPUT",
        "RUN", "STATE", "SEGMENTS", "CREATED"
    );
    for r in &runs {
        println!(
            "{:<24} {:<10} {:>8} {:<20}  {}",
            r.id,
            r.state.as_str(),
            r.plan["segments"].as_array().map_or(0, Vec::len),
            r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.out.display()
        );
    }
    Ok(())
}

async fn show(cli: &Cli, film: &Film, id: &str) -> anyhow::Result<()> {
    let run = film.find(id).await?;
    let jobs = film.segment_jobs(&run).await?;
    let segments: Vec<_> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let prompt = run.plan["segments"][i]["prompt"].clone();
            match job {
                Some(j) => json!({
                    "index": i + 1, "job_id": j.id, "state": j.state.as_str(),
                    "backend": j.backend, "model": j.model,
                    "estimate": j.estimate.usd, "cost": Money::usd_micros(j.spent_usd_micros()),
                    "video": j.out, "error": j.error, "prompt": prompt,
                }),
                None => json!({"index": i + 1, "state": "not started", "prompt": prompt}),
            }
        })
        .collect();
    if cli.json {
        return print_json(&json!({
            "id": run.id, "state": run.state, "title": run.title, "out": run.out,
            "error": run.error, "created_at": run.created_at, "updated_at": run.updated_at,
            "settings": run.settings, "segments": segments, "result": run.result,
        }));
    }
    println!("film {} ({})", run.id, run.state);
    if let Some(t) = &run.title {
        println!("  title:   {t}");
    }
    println!("  output:  {}", run.out.display());
    if let Some(e) = &run.error {
        println!("  error:   {e}");
    }
    for s in &segments {
        println!(
            "  {:>3}  {:<12} {:<10} {:>9}  {}",
            s["index"],
            s["state"].as_str().unwrap_or_default(),
            s["backend"].as_str().unwrap_or("-"),
            money(&s["cost"]),
            s["job_id"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

/// A recorded US dollar amount (`{"micros": N, ...}`) for people; `-` when there is none.
fn money(v: &serde_json::Value) -> String {
    v["micros"]
        .as_i64()
        .map_or_else(|| "-".to_owned(), |m| Money::usd_micros(m).to_string())
}
