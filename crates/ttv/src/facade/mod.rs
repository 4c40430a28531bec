//! The one entry point for a job: every front end (the CLI, the film pipeline, the HTTP
//! server, `ttv worker`, the Python bindings) makes a video through [`Jobs`].
//!
//! A job goes through two calls. [`Jobs::plan`] decides everything that can be decided
//! without spending: the job id (the idempotency key: an existing job with that id is carried
//! on, never bought again), the backend (named, `auto`, the job's own, or a configured
//! fallback when the default cannot run here), the request made concrete and priced for it,
//! the output path (checked so that nothing the user has is destroyed: see [`output`]), and
//! the budget. [`Jobs::run`] then records the job, runs it through the fallback chain, writes
//! the sidecar and returns what was made. A [`Cancel`] handle stops a run from outside
//! (Ctrl-C in the CLI, a `DELETE` in a server): the remote job is cancelled where the backend
//! can and recorded as cancelled. [`Jobs::resume`] carries on a job after a crash.
//!
//! ```no_run
//! use ttv::backend::no_events;
//! use ttv::facade::{Cancel, JobSpec, Jobs, Outcome};
//! use ttv::registry::Registry;
//! use ttv::store::Store;
//!
//! async fn make(request: ttv::GenerationRequest) -> ttv::Result<()> {
//!     let loaded = ttv::config::load(None, &ttv::config::ProcessEnv);
//!     loaded.check()?;
//!     let registry = Registry::new(&loaded.settings.registry);
//!     let store = Store::open_in("data".as_ref())?;
//!     let jobs = Jobs::new(loaded.settings, registry).with_store(store)?;
//!     let spec = JobSpec { job_id: Some("boat-1".into()), ..JobSpec::new(request) };
//!     let plan = jobs.plan(spec).await?;
//!     let cancel = Cancel::new(); // a clone stops the run from elsewhere
//!     if let Outcome::Made(made) = jobs.run(plan, &no_events, &cancel).await? {
//!         println!("{} by {}", made.path.display(), made.selection.backend.id());
//!     }
//!     Ok(())
//! }
//! ```
//!
//! This module decides and records; it prints nothing and parses nothing. Submitting, polling
//! and downloading are [`JobRunner`]'s; selection is [`crate::router`]'s.

mod narrate;
pub mod output;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{BackendKind, EventSink, Generated, VideoBackend};
use crate::config::Settings;
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::jobs::{self, ChainRun, Finished, JobRunner};
use crate::media::atomic::{AtomicFile, with_suffix};
use crate::output_store::{OutputStore, STORED_EVENT, stored_url};
use crate::registry::Registry;
use crate::request::GenerationRequest;
use crate::router::{self, Selection};
use crate::sidecar::{self, Fallback, Sidecar};
use crate::store::{HistoryEntry, Job, JobState, NewJob, Store, StoreError};

pub use output::Protected;

/// How long a cancel may take at the provider before the run gives up waiting for it.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(15);

/// Stops a running job from outside. Cheap to clone; every clone cancels the same run.
#[derive(Debug, Clone, Default)]
pub struct Cancel(tokio_util::sync::CancellationToken);

impl Cancel {
    /// A handle that has not been used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop: it cancels the remote job where the backend can, records the job
    /// as cancelled and returns an error of kind [`ErrorKind::Cancelled`].
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Waits until [`Cancel::cancel`] is called.
    pub async fn cancelled(&self) {
        self.0.cancelled().await;
    }
}

/// When another backend may make the video instead of the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FallbackPolicy {
    /// The configured fallbacks (`fallback_backend`, `routing.fallback`) apply to the default
    /// backend and `auto`; a backend the caller named is used or fails, never replaced.
    #[default]
    UnlessNamed,
    /// The configured fallbacks apply even to a backend the caller named (`--fallback`).
    Always,
    /// Only the chosen backend.
    Never,
}

/// What to make, and how: the front end's input to [`Jobs::plan`].
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The request.
    pub request: GenerationRequest,
    /// Problems the front end already found while building the request (an unreadable
    /// image): reported together with the backend's, so one look shows every problem.
    pub problems: Vec<Problem>,
    /// Files the request was read from; the output may never replace one of them.
    pub inputs: Vec<PathBuf>,
    /// The backend asked for (a name, an alias or `auto`); `None` means the configuration's
    /// `default_backend`.
    pub backend: Option<String>,
    /// When another backend may stand in.
    pub fallback: FallbackPolicy,
    /// Where the video goes; `None` means a new name with the job id in the configuration's
    /// `output_dir`.
    pub out: Option<PathBuf>,
    /// The job id, the idempotency key; `None` makes a fresh one.
    pub job_id: Option<String>,
    /// Plan only: the job store is neither read nor written.
    pub dry_run: bool,
}

impl JobSpec {
    /// A spec for `request` with every choice left to the configuration.
    pub fn new(request: GenerationRequest) -> Self {
        Self {
            request,
            problems: Vec::new(),
            inputs: Vec::new(),
            backend: None,
            fallback: FallbackPolicy::default(),
            out: None,
            job_id: None,
            dry_run: false,
        }
    }
}

/// What [`Jobs::run`] will do with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record a new job and make the video.
    Create,
    /// Carry on the job found under the id (never submitting it twice).
    Continue,
    /// Start a new attempt of the failed job found under the id.
    Retry,
    /// The job is done: report its video.
    ReportDone,
    /// The job is done, and a new output path was given: copy the verified video there
    /// (nothing is paid).
    Copy {
        /// The job's video.
        from: PathBuf,
    },
}

/// Everything decided before anything is spent. [`Jobs::run`] carries it out.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The job id.
    pub job_id: String,
    /// The backend, the request made concrete for it, and the estimate.
    pub selection: Selection,
    /// Where the video goes, as the front end gave it (the store keeps it absolute).
    pub out: PathBuf,
    /// What the run will do.
    pub action: Action,
    /// The job this plan carries on, when its id was already in the store.
    pub existing: Option<Job>,
    /// The default backend could not run here and a configured fallback stands in.
    pub fallback: Option<Fallback>,
    /// Things worth telling the user that do not stop the job (a name that does not end in
    /// `.mp4`).
    pub warnings: Vec<String>,
    /// Whether this is a dry run (nothing may be run).
    pub dry_run: bool,
    /// When planning started (the sidecar's `started_at`).
    pub started_at: DateTime<Utc>,
    request: GenerationRequest,
    request_json: serde_json::Value,
    chain: Vec<Arc<dyn VideoBackend>>,
}

impl Plan {
    /// The request.
    pub fn request(&self) -> &GenerationRequest {
        &self.request
    }

    /// The backends the run may use, in order: the chosen one, then its fallbacks.
    pub fn chain(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.chain.iter().map(|b| b.id())
    }

    /// What the plan decided, as front ends show it (a dry run's answer): the job id, the
    /// backend and why, the settings, the estimate, the output path, the backends passed
    /// over, the fallback and its chain, and the warnings.
    pub fn describe(&self) -> serde_json::Value {
        let selection = &self.selection;
        serde_json::json!({
            "job_id": self.job_id,
            "backend": selection.backend.id(),
            "model": selection.backend.model(),
            "reason": selection.reason,
            "resolved": selection.resolved,
            "estimate": selection.estimate,
            "out": self.out,
            "skipped": selection.skipped,
            "fallback": self.fallback,
            "fallback_chain": self.chain().collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }
}

/// A video made (or fetched) by this run, with everything a front end shows about it.
#[derive(Debug)]
pub struct Made {
    /// The job id.
    pub job_id: String,
    /// Where the video is, as the front end gave the path (or the free name it took when a
    /// file appeared at that path while the job ran).
    pub path: PathBuf,
    /// The backend that made it, the request made concrete for it, and its estimate (after
    /// a fallback: the backend that finished the job).
    pub selection: Selection,
    /// The backend asked for failed or could not run here, and this one made the video.
    pub fallback: Option<Fallback>,
    /// The verified file.
    pub generated: Generated,
    /// The record written beside the video.
    pub sidecar: Sidecar,
    /// Where the record is.
    pub sidecar_path: PathBuf,
    /// Where the video was stored (`output.url`), when an output store is configured.
    pub stored: Option<String>,
}

/// A job that was already done before this run.
#[derive(Debug)]
pub struct Done {
    /// The job.
    pub job: Job,
    /// Where its video is for this run: the job's own path, or the copy.
    pub path: PathBuf,
    /// When the video was copied to a new path, where from.
    pub copied_from: Option<PathBuf>,
    /// Where the video is stored (`output.url`), when it is.
    pub stored: Option<String>,
}

/// The end of a run.
#[derive(Debug)]
pub enum Outcome {
    /// The video was made (or fetched) by this run.
    Made(Box<Made>),
    /// The job was already done before this run; nothing was submitted.
    AlreadyDone(Box<Done>),
}

/// The job façade: configuration, backends and the job store behind one entry point.
#[derive(Debug, Clone)]
pub struct Jobs {
    settings: Settings,
    registry: Registry,
    runner: Option<JobRunner>,
    protected: Vec<Protected>,
}

impl Jobs {
    /// A façade over `settings` and the backends of `registry`, without a job store: it can
    /// plan dry runs only until [`Jobs::with_store`] gives it one.
    pub fn new(settings: Settings, registry: Registry) -> Self {
        Self {
            settings,
            registry,
            runner: None,
            protected: Vec::new(),
        }
    }

    /// Keeps jobs in `store`, with the configuration's job deadline and budgets (retries and
    /// limits are the layers around each backend of the registry). Nothing inside the store's
    /// folder may be an output.
    pub fn with_store(mut self, store: Store) -> Result<Self> {
        let runner = JobRunner::new(store, self.settings.retry.clone())
            .with_budget(self.settings.budget.clone());
        self.runner = Some(runner);
        Ok(self)
    }

    /// Never writes a video over `path` (the configuration file, say); `what` names it in
    /// messages.
    pub fn protect(mut self, path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        self.protected.push(Protected {
            path: path.into(),
            what: what.into(),
        });
        self
    }

    /// The configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The backends.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The job runner (for listing, cancelling and settling jobs), once there is a store.
    pub fn runner(&self) -> Result<&JobRunner> {
        self.runner.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                "no job store: this façade can only plan dry runs",
            )
        })
    }

    /// The folder of the job store, when it is a file.
    fn data_dir(&self) -> Option<&Path> {
        let path = Path::new(self.runner.as_ref()?.store().path());
        path.parent().filter(|p| path.is_absolute() || p.exists())
    }

    /// Decides the job: id, backend, output path and budget. Spends nothing and, for a dry
    /// run, neither reads nor writes the job store.
    pub async fn plan(&self, spec: JobSpec) -> Result<Plan> {
        self.plan_knowing(spec, None).await
    }

    /// [`Jobs::plan`] for a caller that just read the job `spec` names from the store:
    /// `known` is what it found (`Some(None)`: no such job), so the store is not asked again.
    pub async fn plan_knowing(&self, spec: JobSpec, known: Option<Option<Job>>) -> Result<Plan> {
        let started_at = Utc::now();
        if !spec.problems.is_empty() {
            return Err(self.every_problem(&spec));
        }
        let given_id = spec.job_id.is_some();
        let job_id = match &spec.job_id {
            Some(id) => {
                jobs::check_job_id(id)?;
                id.clone()
            }
            None => jobs::new_job_id(),
        };
        let request_json = serde_json::to_value(&spec.request).map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("cannot describe the request: {e}"),
            )
        })?;
        let existing = match (&self.runner, given_id && !spec.dry_run, known) {
            (Some(_), true, Some(job)) => job.filter(|j| j.id == job_id),
            (Some(runner), true, None) => runner.find(&job_id).await?,
            _ => None,
        };
        let (selection, fallback, action, out) = match &existing {
            Some(job) => {
                let (selection, action, out) = self.continuing(job, &request_json, &spec)?;
                (selection, None, action, out)
            }
            None => {
                let (selection, fallback) = self.choose(&spec)?;
                let out = match &spec.out {
                    Some(path) => path.clone(),
                    None => default_out(&self.settings.output_dir, started_at, &job_id),
                };
                (selection, fallback, Action::Create, out)
            }
        };
        let warnings = match &action {
            Action::Create | Action::Copy { .. } => output::check(
                &out,
                &output::Rules {
                    inputs: &spec.inputs,
                    protected: &self.protected,
                    data_dir: self.data_dir(),
                },
            )?,
            _ => Vec::new(),
        };
        if !spec.dry_run && matches!(action, Action::Create | Action::Retry) {
            // Refused before the job is recorded; the runner checks again right before submit.
            self.runner()?
                .check_budget(
                    selection.backend.id(),
                    selection.estimate.usd.micros,
                    &job_id,
                )
                .await?;
        }
        let chain = self.fallback_chain(&selection, &spec);
        Ok(Plan {
            job_id,
            selection,
            out,
            action,
            existing,
            fallback,
            warnings,
            dry_run: spec.dry_run,
            started_at,
            request: spec.request,
            request_json,
            chain,
        })
    }

    /// The backend for a request that is not a job yet: the one named, `auto`'s pick, or —
    /// when the default backend (or, with [`FallbackPolicy::Always`], a named one) cannot
    /// run here — the first configured fallback that can make the video.
    pub fn choose(&self, spec: &JobSpec) -> Result<(Selection, Option<Fallback>)> {
        let (field, name) = match &spec.backend {
            Some(b) => ("--backend", b.as_str()),
            None => ("default_backend", self.settings.default_backend.as_str()),
        };
        let err = match router::select(
            &self.registry,
            &spec.request,
            field,
            name,
            &self.settings.preference,
        ) {
            Ok(selection) => return Ok((selection, None)),
            Err(e) => e,
        };
        // A known backend that cannot run here (not a misspelt name, not a bad request).
        let cannot_run = matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Config)
            && err.problems().is_empty()
            && crate::registry::lookup(name).is_some();
        if !cannot_run || !self.may_fall_back(spec) {
            return Err(err);
        }
        let from = crate::registry::lookup(name).map_or(name, |k| k.name);
        for candidate in &self.settings.fallback {
            let Ok(backend) = self.registry.get("fallback_backend", candidate) else {
                continue;
            };
            if backend.id() == from {
                continue;
            }
            let priced = backend
                .validate(&spec.request)
                .and_then(|r| Ok((r, backend.estimate_cost(&spec.request)?)));
            let Ok((resolved, estimate)) = priced else {
                continue;
            };
            let reason = err.to_string();
            let fallback = Fallback {
                from: from.to_owned(),
                to: backend.id().to_owned(),
                placeholder: backend.kind() == BackendKind::Embedded,
                reason: reason.clone(),
            };
            let selection = Selection {
                reason: format!("fallback_backend, since {from} cannot be used here"),
                backend,
                resolved,
                estimate,
                skipped: vec![router::Skipped {
                    backend: from.to_owned(),
                    reason,
                }],
            };
            return Ok((selection, Some(fallback)));
        }
        Err(err)
    }

    /// [`Jobs::choose`] for a spec that may carry problems found while building the request:
    /// then the error lists those and the backend's problems with the rest, all at once.
    pub fn check(&self, spec: &JobSpec) -> Result<(Selection, Option<Fallback>)> {
        if spec.problems.is_empty() {
            self.choose(spec)
        } else {
            Err(self.every_problem(spec))
        }
    }

    /// Whether the configured fallbacks may stand in for the backend of `spec`.
    fn may_fall_back(&self, spec: &JobSpec) -> bool {
        match spec.fallback {
            FallbackPolicy::Always => true,
            FallbackPolicy::Never => false,
            FallbackPolicy::UnlessNamed => spec.backend.is_none(),
        }
    }

    /// The error for a request the front end already found problems with: those problems,
    /// and the backend's own about the rest of the request, all at once.
    fn every_problem(&self, spec: &JobSpec) -> Error {
        let mut problems = spec.problems.clone();
        let reported: HashSet<&str> = spec.problems.iter().map(|p| p.field.as_str()).collect();
        let images_failed = reported.contains("image") || reported.contains("last_frame");
        let backend_err = self.choose(spec).err();
        let mut backend = None;
        if let Some(e) = &backend_err {
            // What the backend says about the images (or the mode and empty prompt they
            // would have settled) is noise beside the images' own problems.
            let noise = |p: &Problem| {
                reported.contains(p.field.as_str())
                    || (images_failed
                        && (matches!(p.field.as_str(), "image" | "last_frame" | "mode")
                            || (p.field == "prompt" && spec.request.prompt.trim().is_empty())))
            };
            let more: Vec<Problem> = e.problems().iter().filter(|p| !noise(p)).cloned().collect();
            if !more.is_empty() {
                backend = e.backend().map(str::to_owned);
            }
            problems.extend(more);
        }
        let err = Error::invalid(problems);
        match backend {
            Some(b) => err.with_backend(b),
            None => err,
        }
    }

    /// The plan for a job found in the store under the id given: its own backend (as long as
    /// the request is the same), and what to do with it.
    fn continuing(
        &self,
        job: &Job,
        request_json: &serde_json::Value,
        spec: &JobSpec,
    ) -> Result<(Selection, Action, PathBuf)> {
        let id = &job.id;
        if &job.request != request_json {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "job {id} exists with a different request; use a new --job-id, or the same arguments to carry it on (`ttv jobs show {id}`)"
                ),
            ));
        }
        let asked = spec
            .out
            .as_deref()
            .filter(|o| output::resolve(o) != output::resolve(&job.out));
        let action = match (job.state, asked) {
            (JobState::Done, None) => {
                if !job.out.is_file() {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "job {id} is done, but its video {} is no longer there, so there is nothing to report or copy; \
                             make it again under a new --job-id (which pays again)",
                            job.out.display()
                        ),
                    ));
                }
                Action::ReportDone
            }
            (JobState::Done, Some(_)) => Action::Copy {
                from: job.out.clone(),
            },
            (JobState::Cancelled, _) => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "job {id} was cancelled (`ttv jobs show {id}`); make it again under a new --job-id"
                    ),
                ));
            }
            (_, Some(other)) => {
                return Err(Error::invalid(vec![Problem::new(
                    "out",
                    other.display(),
                    format!(
                        "{} or no --out: job {id} writes its video there. Once it is done, the same command with \
                         --out {} copies the video (nothing is paid again)",
                        job.out.display(),
                        other.display()
                    ),
                )]));
            }
            (JobState::Failed, None) => Action::Retry,
            (_, None) => Action::Continue,
        };
        let out = match &action {
            Action::Copy { .. } => asked.map(Path::to_path_buf).unwrap_or(job.out.clone()),
            _ => job.out.clone(),
        };
        // A done job needs no usable backend to be reported or copied.
        let backend = match (&action, self.registry.get("job backend", &job.backend)) {
            (_, Ok(b)) => b,
            (Action::ReportDone | Action::Copy { .. }, Err(e)) => self
                .registry
                .entry("job backend", &job.backend)
                .ok()
                .and_then(|entry| entry.backend.clone())
                .ok_or(e)?,
            (_, Err(e)) => return Err(e),
        };
        let selection = Selection {
            backend,
            resolved: job.resolved,
            estimate: job.estimate.clone(),
            reason: format!("continuing job {id}"),
            skipped: Vec::new(),
        };
        Ok((selection, action, out))
    }

    /// The chosen backend, then — when fallback is allowed — each configured fallback that is
    /// usable here, without repeats.
    fn fallback_chain(&self, selection: &Selection, spec: &JobSpec) -> Vec<Arc<dyn VideoBackend>> {
        let mut chain = vec![selection.backend.clone()];
        if !self.may_fall_back(spec) {
            return chain;
        }
        for name in &self.settings.fallback {
            match self.registry.get("fallback_backend", name) {
                Ok(b) if chain.iter().all(|c| c.id() != b.id()) => chain.push(b),
                Ok(_) => {}
                Err(e) => tracing::info!(backend = %name, error = %e, "fallback backend skipped"),
            }
        }
        chain
    }

    /// Carries `plan` out: records the job (or carries the existing one on), runs it through
    /// the fallback chain, verifies the video and writes its sidecar. `events` follows the
    /// job's progress; `cancel` stops it.
    pub async fn run(&self, plan: Plan, events: EventSink<'_>, cancel: &Cancel) -> Result<Outcome> {
        if plan.dry_run {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "a dry-run plan cannot be run; plan again without dry_run",
            ));
        }
        let runner = self.runner()?;
        let job_id = plan.job_id.clone();
        let job = match (&plan.action, plan.existing.clone()) {
            (Action::ReportDone, Some(job)) => {
                // A video made before its upload failed is stored now (nothing is paid).
                let stored = match stored_url(&self.history(runner, &job.id).await?) {
                    Some(url) => Some(url),
                    None => self.store_output(runner, &job.id, &job.out).await?,
                };
                return Ok(Outcome::AlreadyDone(Box::new(Done {
                    path: job.out.clone(),
                    job,
                    copied_from: None,
                    stored,
                })));
            }
            (Action::Copy { from }, Some(job)) => {
                return self.copy_done(job, from, &plan.out).await;
            }
            (Action::Retry, Some(_)) => runner.retry(&job_id).await?,
            (_, Some(job)) => job,
            (_, None) => self.create(runner, &plan).await?,
        };
        // Paths are shown as the front end gave them; the store keeps them absolute.
        let shown = match &plan.action {
            Action::Create => plan.out.clone(),
            _ => job.out.clone(),
        };

        let narrator = narrate::Narrator::new(&job_id, events);
        let sink = |event| narrator.event(event);
        let mut finished = self.chain(runner, &plan, &job, &sink, cancel).await;
        if self.lost_free_render(runner, &plan, &finished).await? {
            // A render of the embedded backend lives in its process; after a crash it is
            // simply made again (it is free), as a new attempt in the job's history.
            tracing::info!(job = %job_id, "the render was lost with its process; rendering again");
            runner.retry(&job_id).await?;
            finished = self.chain(runner, &plan, &job, &sink, cancel).await;
        }
        let ChainRun {
            finished,
            backend: used,
            passed_over,
        } = finished?;
        let generated = match finished {
            Finished::Made(generated) => *generated,
            Finished::AlreadyDone(job) => {
                return Ok(Outcome::AlreadyDone(Box::new(Done {
                    path: job.out.clone(),
                    job: *job,
                    copied_from: None,
                    stored: None,
                })));
            }
        };
        let shown = self
            .moved(runner, &job_id, &job.out, &generated, shown)
            .await?;
        let fallback = fallback_of(&plan, &used, &passed_over);
        let selection = if used.id() == plan.selection.backend.id() {
            plan.selection
        } else {
            let job = runner.job(&job_id).await?;
            Selection {
                reason: format!(
                    "fallback from {}: {}",
                    plan.selection.backend.id(),
                    plan.selection.reason
                ),
                resolved: job.resolved,
                estimate: job.estimate,
                backend: used,
                skipped: plan.selection.skipped,
            }
        };
        let history = self.history(runner, &job_id).await?;
        let mut sidecar = Sidecar::new(&plan.request, &selection, &generated, plan.started_at)
            .with_job_id(&job_id)
            .with_history(&history)
            .with_fallback(fallback.clone());
        write_sidecar(&sidecar, &generated)?;
        let stored = self.store_output(runner, &job_id, &generated.path).await?;
        sidecar.video.url.clone_from(&stored);
        tracing::info!(job = %job_id, path = %shown.display(), "done");
        Ok(Outcome::Made(Box::new(Made {
            sidecar_path: sidecar::path_for(&shown),
            job_id,
            path: shown,
            selection,
            fallback,
            generated,
            sidecar,
            stored,
        })))
    }

    /// One pass of `plan`'s job through its fallback chain, stopped by `cancel`.
    async fn chain(
        &self,
        runner: &JobRunner,
        plan: &Plan,
        job: &Job,
        events: EventSink<'_>,
        cancel: &Cancel,
    ) -> Result<ChainRun> {
        tokio::select! {
            result = runner.run_chain(
                &plan.chain,
                &job.id,
                &plan.request,
                self.settings.fallback_on_content_rejection,
                events,
            ) => result,
            () = cancel.cancelled() => {
                Err(self.cancelled(runner, plan.selection.backend.as_ref(), job).await)
            }
        }
    }

    /// Whether carrying a job on found that its free, in-process render was lost (the
    /// process that ran it died), so that running it again costs nothing.
    async fn lost_free_render(
        &self,
        runner: &JobRunner,
        plan: &Plan,
        finished: &Result<ChainRun>,
    ) -> Result<bool> {
        let lost = matches!(finished, Err(e) if e.kind() == ErrorKind::JobFailed)
            && plan.action == Action::Continue
            && plan.selection.backend.kind() == BackendKind::Embedded;
        Ok(lost && runner.job(&plan.job_id).await?.state == JobState::Failed)
    }

    /// Records the new job of `plan` (state `created`).
    async fn create(&self, runner: &JobRunner, plan: &Plan) -> Result<Job> {
        let absolute = std::path::absolute(&plan.out).map_err(|e| {
            Error::io(
                format_args!("cannot resolve the output path {}", plan.out.display()),
                e,
            )
        })?;
        let selection = &plan.selection;
        runner
            .create(NewJob {
                id: plan.job_id.clone(),
                backend: selection.backend.id().to_owned(),
                model: selection.backend.model().map(str::to_owned),
                request: plan.request_json.clone(),
                resolved: selection.resolved,
                estimate: selection.estimate.clone(),
                out: absolute,
            })
            .await
    }

    /// When the video went to a free name beside the planned one (a file appeared there
    /// meanwhile), records it in the job and returns the name to show.
    async fn moved(
        &self,
        runner: &JobRunner,
        id: &str,
        planned: &Path,
        generated: &Generated,
        shown: PathBuf,
    ) -> Result<PathBuf> {
        if generated.path == planned {
            return Ok(shown);
        }
        let (store, key, path) = (
            runner.store().clone(),
            id.to_owned(),
            generated.path.clone(),
        );
        blocking(move || store.set_out(&key, &path)).await?;
        tracing::warn!(
            job = id,
            planned = %planned.display(),
            saved = %generated.path.display(),
            "a file appeared at the output path while the job ran; the video took a free name beside it"
        );
        Ok(generated.path.clone())
    }

    /// Copies the verified video of done job `job` from `from` to `to`, with its sidecar.
    async fn copy_done(&self, job: Job, from: &Path, to: &Path) -> Result<Outcome> {
        let (record, src, dest) = (job.clone(), from.to_path_buf(), to.to_path_buf());
        let saved = blocking_io(move || copy_verified(&record, &src, &dest)).await?;
        tracing::info!(job = %job.id, from = %from.display(), to = %saved.display(), "copied the job's video");
        Ok(Outcome::AlreadyDone(Box::new(Done {
            job,
            path: if saved == to { to.to_path_buf() } else { saved },
            copied_from: Some(from.to_path_buf()),
            stored: None,
        })))
    }

    /// Carries on job `id` after a crash: polls its saved ticket, downloads and verifies the
    /// video and writes its sidecar. Never submits again.
    pub async fn resume(&self, id: &str, events: EventSink<'_>) -> Result<Outcome> {
        let started_at = Utc::now();
        let runner = self.runner()?;
        let job = runner.job(id).await?;
        let backend = self.registry.get("job backend", &job.backend)?;
        let narrator = narrate::Narrator::new(id, events);
        let sink = |event| narrator.event(event);
        let generated = match runner.run(backend.as_ref(), &job.id, None, &sink).await? {
            Finished::Made(generated) => *generated,
            Finished::AlreadyDone(job) => {
                return Ok(Outcome::AlreadyDone(Box::new(Done {
                    path: job.out.clone(),
                    job: *job,
                    copied_from: None,
                    stored: None,
                })));
            }
        };
        self.moved(runner, id, &job.out, &generated, job.out.clone())
            .await?;
        let after = runner.job(id).await?;
        let history = self.history(runner, id).await?;
        let mut sidecar = Sidecar::from_job(&after, &generated, started_at).with_history(&history);
        write_sidecar(&sidecar, &generated)?;
        let stored = self.store_output(runner, id, &generated.path).await?;
        sidecar.video.url.clone_from(&stored);
        let selection = Selection {
            backend,
            resolved: after.resolved,
            estimate: after.estimate.clone(),
            reason: format!("job {id}"),
            skipped: Vec::new(),
        };
        tracing::info!(job = %id, path = %after.out.display(), "done");
        Ok(Outcome::Made(Box::new(Made {
            job_id: id.to_owned(),
            sidecar_path: sidecar::path_for(&after.out),
            path: after.out,
            selection,
            fallback: None,
            generated,
            sidecar,
            stored,
        })))
    }

    /// The output store (`output.url`), when one is configured.
    pub fn output_store(&self) -> Result<Option<OutputStore>> {
        self.settings
            .output_store
            .as_ref()
            .map(OutputStore::open)
            .transpose()
    }

    /// Where job `id`'s video is stored (`output.url`), when it was stored.
    pub async fn stored_url(&self, id: &str) -> Result<Option<String>> {
        Ok(stored_url(&self.history(self.runner()?, id).await?))
    }

    /// Streams job `id`'s verified video at `video` to the output store, then its sidecar
    /// (with `video.url` added, also on disk), and records where in the job's history.
    /// Nothing happens without an output store.
    async fn store_output(
        &self,
        runner: &JobRunner,
        id: &str,
        video: &Path,
    ) -> Result<Option<String>> {
        let mut record = std::fs::read(sidecar::path_for(video))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        let what = format!("job {id}'s video");
        let retry = "the same command again retries the upload";
        let Some(url) = self
            .store_with_record(video, &mut record, &what, retry)
            .await?
        else {
            return Ok(None);
        };
        let (db, key, noted) = (runner.store().clone(), id.to_owned(), url.clone());
        blocking(move || db.note(&key, STORED_EVENT, &noted)).await?;
        Ok(Some(url))
    }

    /// Streams the verified film at `film` and then its record `record` (with `video.url`
    /// added, also on disk) to the output store; the URL, or `None` without an output store.
    /// A film is a whole of its own: the segments were stored by their jobs.
    pub async fn store_film(
        &self,
        film: &Path,
        record: &mut serde_json::Value,
    ) -> Result<Option<String>> {
        let retry = "`ttv film resume` retries the upload";
        self.store_with_record(film, record, "the film", retry)
            .await
    }

    /// Streams the verified `video` to the output store, then `record` with `video.url` added
    /// beside it, also to the local sidecar. A failure names `what` was stored and how to
    /// `retry`.
    async fn store_with_record(
        &self,
        video: &Path,
        record: &mut serde_json::Value,
        what: &str,
        retry: &str,
    ) -> Result<Option<String>> {
        let Some(store) = self.output_store()? else {
            return Ok(None);
        };
        let failed = |e: Error| {
            Error::new(
                e.kind(),
                format!(
                    "{what} is verified at {}, but storing it in {} failed: {e}; {retry} \
                     (nothing is paid again)",
                    video.display(),
                    store.location()
                ),
            )
        };
        let stored = store
            .put_video_as(video, &stored_name(&self.settings.output_dir, video))
            .await
            .map_err(failed)?;
        record["video"]["url"] = stored.url.clone().into();
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the sidecar: {e}")))?;
        crate::media::atomic::write_atomically(&sidecar::path_for(video), &json)?;
        store.put_sidecar(&stored, json).await.map_err(failed)?;
        Ok(Some(stored.url))
    }

    /// Whether another process is running job `id` right now.
    pub async fn is_running_elsewhere(&self, id: &str) -> Result<bool> {
        let (store, key) = (self.runner()?.store().clone(), id.to_owned());
        blocking(move || store.is_job_locked(&key)).await
    }

    /// Cancels `job` at the provider (where the backend can) and records it; the error says
    /// what became of it and, like the ledger, whether money was spent.
    async fn cancelled(&self, runner: &JobRunner, backend: &dyn VideoBackend, job: &Job) -> Error {
        let job_id = &job.id;
        let cancelled =
            tokio::time::timeout(CANCEL_TIMEOUT, runner.cancel(Some(backend), job_id)).await;
        let note = match &cancelled {
            Ok(Ok(after)) => match (&after.ticket, after.state) {
                (_, JobState::Unknown) => format!(
                    "; job {job_id} was interrupted while submitting and is now unknown (`ttv jobs show {job_id}`)"
                ),
                (Some(t), _) => format!("; job {job_id} (provider job {}) was cancelled", t.id),
                (None, _) => format!("; job {job_id} was cancelled"),
            },
            Ok(Err(e)) => format!(
                "; cancelling job {job_id} failed: {e} (`ttv jobs cancel {job_id}` tries again)"
            ),
            Err(_) => format!(
                "; cancelling job {job_id} timed out (`ttv jobs cancel {job_id}` tries again)"
            ),
        };
        let after = match cancelled {
            Ok(Ok(after)) => Some(after),
            _ => runner.find(job_id).await.ok().flatten(),
        };
        let spend = match after {
            Some(j) if j.submits > 0 && j.ticket.is_some() => Spend::Yes,
            Some(j) if j.submits > 0 => Spend::Maybe,
            _ => Spend::No,
        };
        Error::new(
            ErrorKind::Cancelled,
            format!(
                "interrupted{note}; nothing was written to {}",
                job.out.display()
            ),
        )
        .with_spend(spend)
    }

    async fn history(&self, runner: &JobRunner, id: &str) -> Result<Vec<HistoryEntry>> {
        let (store, id) = (runner.store().clone(), id.to_owned());
        blocking(move || store.history(&id)).await
    }
}

/// The fallback of a finished run: planned (the default could not run here), at run time (a
/// backend failed on submit), or both.
fn fallback_of(
    plan: &Plan,
    used: &Arc<dyn VideoBackend>,
    passed_over: &[jobs::PassedOver],
) -> Option<Fallback> {
    let at_run = (!passed_over.is_empty()).then(|| {
        passed_over
            .iter()
            .map(|p| format!("{}: {}", p.backend, p.error))
            .collect::<Vec<_>>()
            .join("; then ")
    });
    let (from, reason) = match (&plan.fallback, at_run) {
        (Some(planned), Some(more)) => (
            planned.from.clone(),
            format!("{}; then {more}", planned.reason),
        ),
        (Some(planned), None) => (planned.from.clone(), planned.reason.clone()),
        (None, Some(more)) => (passed_over[0].backend.clone(), more),
        (None, None) => return None,
    };
    Some(Fallback {
        from,
        to: used.id().to_owned(),
        reason,
        placeholder: used.kind() == BackendKind::Embedded,
    })
}

/// Copies the video of done job `job` at `src` (verified first) to `dest` atomically, never
/// over another job's file, with a sidecar; returns where it went.
fn copy_verified(job: &Job, src: &Path, dest: &Path) -> Result<PathBuf> {
    let gone = |why: String| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!(
                "job {} is done, but its video {} {why}, so it cannot be copied to {}; \
                 make it again under a new --job-id (which pays again)",
                job.id,
                src.display(),
                dest.display()
            ),
        )
    };
    let (video, sha256) = crate::media::probe::verify_file(src)
        .map_err(|e| gone(format!("is no longer a playable video ({})", e.message())))?;
    let file = AtomicFile::new(dest)?;
    let bytes = std::fs::copy(src, file.path())
        .map_err(|e| Error::io(format_args!("cannot copy {}", src.display()), e))?;
    let saved = file.commit()?;
    // The job's own record, moved to the copy; rebuilt from the job when it is gone.
    let old = std::fs::read(sidecar::path_for(src))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|v| v["video"]["sha256"] == sha256.as_str());
    let mut record = match (old, &job.ticket) {
        (Some(record), _) => record,
        (None, Some(ticket)) => {
            let generated = Generated {
                path: saved.clone(),
                ticket: ticket.clone(),
                resolved: job.resolved,
                video,
                sha256,
                bytes,
                charged: job.charged.clone(),
                generation_secs: 0.0,
                fetch_secs: 0.0,
            };
            serde_json::to_value(Sidecar::from_job(job, &generated, job.created_at))
                .unwrap_or_default()
        }
        (None, None) => return Ok(saved),
    };
    record["video"]["file"] = saved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .into();
    record["copied_from"] = src.display().to_string().into();
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the sidecar: {e}")))?;
    crate::media::atomic::write_atomically(&sidecar::path_for(&saved), &json)?;
    Ok(saved)
}

/// Writes `sidecar` beside the video; the error says the video itself is safe.
fn write_sidecar(sidecar: &Sidecar, generated: &Generated) -> Result<PathBuf> {
    sidecar.write_beside(&generated.path).map_err(|e| {
        Error::new(
            e.kind(),
            format!(
                "the video is at {} but its sidecar could not be written: {e}",
                generated.path.display()
            ),
        )
    })
}

/// Where a video lands when the front end names no path: `ttv-TIME-JOBID.mp4` in `dir`, so
/// that jobs started in the same second never share a name (with a suffix if even that name
/// is taken).
pub fn default_out(dir: &Path, started_at: DateTime<Utc>, job_id: &str) -> PathBuf {
    let path = dir.join(format!(
        "ttv-{}-{job_id}.mp4",
        started_at.format("%Y%m%d-%H%M%S")
    ));
    (1..=1000)
        .map(|n| {
            if n == 1 {
                path.clone()
            } else {
                with_suffix(&path, n)
            }
        })
        .find(|p| p.symlink_metadata().is_err())
        .unwrap_or(path)
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    blocking_io(move || f().map_err(Error::from)).await
}

/// Runs blocking work off the async threads.
async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a background task failed: {e}")))?
}

/// The name a video at `path` is stored under: its path inside the output folder when it is
/// there (a film's segments are `<run id>/segment_01.mp4`, unique across films), else its
/// file name.
fn stored_name(output_dir: &Path, path: &Path) -> String {
    let inside = path.strip_prefix(output_dir).ok().filter(|rel| {
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    });
    match inside {
        Some(rel) if rel.components().count() > 0 => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
