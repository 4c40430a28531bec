//! The one entry point for a job: every front end (the CLI, the film pipeline, the HTTP
//! server, `ttv worker`, the Python bindings) makes a video through [`Jobs`].
//!
//! A job goes through two calls. [`Jobs::plan`] decides everything that can be decided
//! without spending: the job id (the idempotency key: an existing job with that id is carried
//! on, never bought again), the backend (named, `auto`, or the job's own), the request made
//! concrete and priced for it, the output path, and the budget check. [`Jobs::run`] then
//! records the job, runs it through the fallback chain, writes the sidecar and returns what
//! was made. A [`Cancel`] handle stops a run from outside (Ctrl-C in the CLI, a `DELETE` in a
//! server): the remote job is cancelled where the backend can and recorded as cancelled.
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{EventSink, Generated, VideoBackend};
use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::{self, Finished, JobRunner};
use crate::limits::Limits;
use crate::registry::Registry;
use crate::request::GenerationRequest;
use crate::router::{self, Selection};
use crate::sidecar::{self, Sidecar};
use crate::store::{Job, JobState, NewJob, Store};

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

/// What to make, and how: the front end's input to [`Jobs::plan`].
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The request.
    pub request: GenerationRequest,
    /// The backend asked for (a name, an alias or `auto`); `None` means the configuration's
    /// `default_backend`.
    pub backend: Option<String>,
    /// Where the video goes; `None` means a new name in the configuration's `output_dir`.
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
            backend: None,
            out: None,
            job_id: None,
            dry_run: false,
        }
    }
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
    /// The job this plan carries on, when its id was already in the store.
    pub existing: Option<Job>,
    /// Whether this is a dry run (nothing may be run).
    pub dry_run: bool,
    /// When planning started (the sidecar's `started_at`).
    pub started_at: DateTime<Utc>,
    request: GenerationRequest,
    request_json: serde_json::Value,
}

impl Plan {
    /// The request.
    pub fn request(&self) -> &GenerationRequest {
        &self.request
    }
}

/// A video made (or fetched) by this run, with everything a front end shows about it.
#[derive(Debug)]
pub struct Made {
    /// The job id.
    pub job_id: String,
    /// Where the video is, as the front end gave the path.
    pub path: PathBuf,
    /// The backend that made it, the request made concrete for it, and its estimate (after
    /// a fallback: the backend that finished the job).
    pub selection: Selection,
    /// The verified file.
    pub generated: Generated,
    /// The record written beside the video.
    pub sidecar: Sidecar,
    /// Where the record is.
    pub sidecar_path: PathBuf,
}

/// The end of a run.
#[derive(Debug)]
pub enum Outcome {
    /// The video was made (or fetched) by this run.
    Made(Box<Made>),
    /// The job was already done before this run; nothing was submitted.
    AlreadyDone(Box<Job>),
}

/// The job façade: configuration, backends and the job store behind one entry point.
#[derive(Debug, Clone)]
pub struct Jobs {
    settings: Settings,
    registry: Registry,
    runner: Option<JobRunner>,
}

impl Jobs {
    /// A façade over `settings` and the backends of `registry`, without a job store: it can
    /// plan dry runs only until [`Jobs::with_store`] gives it one.
    pub fn new(settings: Settings, registry: Registry) -> Self {
        Self {
            settings,
            registry,
            runner: None,
        }
    }

    /// Keeps jobs in `store`, with the configuration's retries, budgets and limits.
    pub fn with_store(mut self, store: Store) -> Result<Self> {
        let runner = JobRunner::new(store, self.settings.retry.clone())
            .with_budget(self.settings.budget.clone())
            .with_limits(Limits::new(&self.settings.limits)?);
        self.runner = Some(runner);
        Ok(self)
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

    /// Decides the job: id, backend, output path and budget. Spends nothing and, for a dry
    /// run, neither reads nor writes the job store.
    pub async fn plan(&self, spec: JobSpec) -> Result<Plan> {
        let started_at = Utc::now();
        let JobSpec {
            request,
            backend,
            out,
            job_id,
            dry_run,
        } = spec;
        let given_id = job_id.is_some();
        let job_id = match job_id {
            Some(id) => {
                jobs::check_job_id(&id)?;
                id
            }
            None => jobs::new_job_id(),
        };
        let request_json = serde_json::to_value(&request).map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("cannot describe the request: {e}"),
            )
        })?;
        let existing = match (&self.runner, given_id && !dry_run) {
            (Some(runner), true) => runner.find(&job_id).await?,
            _ => None,
        };
        let selection = match &existing {
            Some(job) => self.continuing(job, &request_json)?,
            None => {
                let (field, name) = match &backend {
                    Some(b) => ("--backend", b.as_str()),
                    None => ("default_backend", self.settings.default_backend.as_str()),
                };
                router::select(
                    &self.registry,
                    &request,
                    field,
                    name,
                    &self.settings.preference,
                )?
            }
        };
        let out = match out {
            Some(path) => path,
            None => default_out(&self.settings.output_dir, started_at),
        };
        if !dry_run && existing.is_none() {
            // Refused before the job is recorded; the runner checks again right before submit.
            self.runner()?
                .check_budget(
                    selection.backend.id(),
                    selection.estimate.usd.micros,
                    &job_id,
                )
                .await?;
        }
        Ok(Plan {
            job_id,
            selection,
            out,
            existing,
            dry_run,
            started_at,
            request,
            request_json,
        })
    }

    /// The selection of a job found in the store under the id given: its own backend, as
    /// long as the request is the same.
    fn continuing(&self, job: &Job, request_json: &serde_json::Value) -> Result<Selection> {
        let id = &job.id;
        if &job.request != request_json {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "job {id} exists with a different request; use a new --job-id, or the same arguments to carry it on (`ttv jobs show {id}`)"
                ),
            ));
        }
        Ok(Selection {
            backend: self.registry.get("job backend", &job.backend)?,
            resolved: job.resolved,
            estimate: job.estimate.clone(),
            reason: format!("continuing job {id}"),
            skipped: Vec::new(),
        })
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
        let (job, shown) = match plan.existing.clone() {
            Some(job) => {
                let shown = job.out.clone();
                (job, shown)
            }
            None => {
                let absolute = std::path::absolute(&plan.out).map_err(|e| {
                    Error::io(
                        format_args!("cannot resolve the output path {}", plan.out.display()),
                        e,
                    )
                })?;
                let selection = &plan.selection;
                let job = runner
                    .create(NewJob {
                        id: job_id.clone(),
                        backend: selection.backend.id().to_owned(),
                        model: selection.backend.model().map(str::to_owned),
                        request: plan.request_json.clone(),
                        resolved: selection.resolved,
                        estimate: selection.estimate.clone(),
                        out: absolute,
                    })
                    .await?;
                (job, plan.out.clone())
            }
        };

        let chain = self.fallback_chain(&plan.selection);
        let finished = tokio::select! {
            result = runner.run_with_fallback(
                &chain,
                &job_id,
                &plan.request,
                self.settings.fallback_on_content_rejection,
                events,
            ) => result,
            () = cancel.cancelled() => {
                Err(self.cancelled(runner, plan.selection.backend.as_ref(), &job).await)
            }
        };
        let (generated, used) = match finished? {
            (Finished::Made(generated), used) => (*generated, used),
            (Finished::AlreadyDone(job), _) => return Ok(Outcome::AlreadyDone(job)),
        };
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
        let sidecar = Sidecar::new(&plan.request, &selection, &generated, plan.started_at)
            .with_job_id(&job_id)
            .with_history(&history);
        write_sidecar(&sidecar, &generated)?;
        Ok(Outcome::Made(Box::new(Made {
            sidecar_path: sidecar::path_for(&shown),
            job_id,
            path: shown,
            selection,
            generated,
            sidecar,
        })))
    }

    /// Carries on job `id` after a crash: polls its saved ticket, downloads and verifies the
    /// video and writes its sidecar. Never submits again.
    pub async fn resume(&self, id: &str, events: EventSink<'_>) -> Result<Outcome> {
        let started_at = Utc::now();
        let runner = self.runner()?;
        let job = runner.job(id).await?;
        let backend = self.registry.get("job backend", &job.backend)?;
        let generated = match runner.run(backend.as_ref(), &job.id, None, events).await? {
            Finished::Made(generated) => *generated,
            Finished::AlreadyDone(job) => return Ok(Outcome::AlreadyDone(job)),
        };
        let after = runner.job(id).await?;
        let history = self.history(runner, id).await?;
        let sidecar = Sidecar::from_job(&after, &generated, started_at).with_history(&history);
        write_sidecar(&sidecar, &generated)?;
        let selection = Selection {
            backend,
            resolved: after.resolved,
            estimate: after.estimate.clone(),
            reason: format!("job {id}"),
            skipped: Vec::new(),
        };
        Ok(Outcome::Made(Box::new(Made {
            job_id: id.to_owned(),
            sidecar_path: sidecar::path_for(&after.out),
            path: after.out,
            selection,
            generated,
            sidecar,
        })))
    }

    /// The chosen backend, then each configured fallback that is usable here, without repeats.
    fn fallback_chain(&self, selection: &Selection) -> Vec<Arc<dyn VideoBackend>> {
        let mut chain = vec![selection.backend.clone()];
        for name in &self.settings.fallback {
            match self.registry.get("fallback_backend", name) {
                Ok(b) if chain.iter().all(|c| c.id() != b.id()) => chain.push(b),
                Ok(_) => {}
                Err(e) => tracing::info!(backend = %name, error = %e, "fallback backend skipped"),
            }
        }
        chain
    }

    /// Cancels `job` at the provider (where the backend can) and records it; the error says
    /// what became of it.
    async fn cancelled(&self, runner: &JobRunner, backend: &dyn VideoBackend, job: &Job) -> Error {
        let job_id = &job.id;
        let cancelled =
            tokio::time::timeout(CANCEL_TIMEOUT, runner.cancel(Some(backend), job_id)).await;
        let note = match cancelled {
            Ok(Ok(after)) => match (&after.ticket, after.state) {
                (_, JobState::Unknown) => format!(
                    "; job {job_id} was interrupted while submitting and is now unknown (`ttv jobs show {job_id}`)"
                ),
                (Some(t), _) => format!("; job {job_id} (provider job {}) was cancelled", t.id),
                (None, _) => format!("; job {job_id} was cancelled"),
            },
            Ok(Err(e)) => format!("; cancelling job {job_id} failed: {e}"),
            Err(_) => format!("; cancelling job {job_id} timed out"),
        };
        Error::new(
            ErrorKind::Cancelled,
            format!(
                "interrupted{note}; nothing was written to {}",
                job.out.display()
            ),
        )
    }

    async fn history(
        &self,
        runner: &JobRunner,
        id: &str,
    ) -> Result<Vec<crate::store::HistoryEntry>> {
        let (store, id) = (runner.store().clone(), id.to_owned());
        tokio::task::spawn_blocking(move || store.history(&id))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("the job store task failed: {e}")))?
            .map_err(Error::from)
    }
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

/// Where a video lands when the front end names no path.
pub fn default_out(dir: &Path, started_at: DateTime<Utc>) -> PathBuf {
    dir.join(format!("ttv-{}.mp4", started_at.format("%Y%m%d-%H%M%S")))
}
