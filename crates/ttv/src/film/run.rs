//! A film run: plan, budget, segments, join, record — durable in the job store.
//!
//! The run is a row in `film_runs` (its storyboard and settings) and its segments are jobs
//! with ids `RUN-sNN`. Running again under the same id ([`Film::resume`]) plans every segment
//! again under its id: the façade reports a done segment without submitting, polls a running
//! one from its ticket, and starts a new attempt of a failed one, so nothing is paid twice.
//! Keyframe images and chained first frames are deterministic files, so a segment's request
//! is the same on every run.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::keyframes::{KeyframeRequest, Keyframes, UserImages};
use super::settings::{FilmSettings, GenerationMode, KeyframePosition};
use super::storyboard::Storyboard;
use crate::backend::Event;
use crate::budget::{LedgerBasis, LedgerEntry};
use crate::capabilities::DurationSupport;
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::facade::{self, Cancel, JobSpec, Jobs, Outcome};
use crate::media::atomic::write_atomically;
use crate::media::frames::{self, Which};
use crate::media::image::ImageInput;
use crate::media::join::{JoinOptions, join_segments};
use crate::media::probe::{self, VideoInfo};
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::sidecar;
use crate::store::{
    FilmRun, FilmState, JobEvent, JobKind, JobState, NewFilmRun, NewJob, StoreError,
};

/// What to make: the plan, the settings and the run's own choices.
#[derive(Debug, Clone)]
pub struct FilmRequest {
    /// The plan.
    pub storyboard: Storyboard,
    /// The film settings.
    pub settings: FilmSettings,
    /// The run id; a fresh one when absent.
    pub run_id: Option<String>,
    /// Where the film goes; `OUTPUT_DIR/RUN.mp4` when absent.
    pub out: Option<PathBuf>,
    /// The backend for segments that name none; the configuration's `default_backend` when
    /// absent.
    pub backend: Option<String>,
    /// The most the whole run may cost, in US dollars.
    pub max_cost_usd: Option<f64>,
    /// The language-model call that planned the storyboard, when one did: it is recorded in
    /// the ledger as the run's job `RUN-plan` and counted in the run's totals.
    pub planning: Option<PlanningCall>,
}

/// A paid planning call: the language model that wrote the storyboard and what it used.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanningCall {
    /// The ledger's backend name (`openai`: any OpenAI-compatible chat endpoint).
    pub backend: String,
    /// The model (`prompt_enhancement_model`).
    pub model: String,
    /// Tokens and their cost.
    pub usage: crate::planner::LlmUsage,
}

impl PlanningCall {
    /// The cost in dollars, as money.
    pub fn cost(&self) -> Money {
        Money::usd_micros(usd_micros(self.usage.cost_usd))
    }

    fn basis(&self) -> String {
        format!(
            "{} prompt + {} completion tokens on {}",
            self.usage.prompt_tokens, self.usage.completion_tokens, self.model
        )
    }
}

fn usd_micros(usd: f64) -> i64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1_000_000.0).round() as i64
    } else {
        0
    }
}

/// The job id of run `run_id`'s planning call.
pub fn planning_job_id(run_id: &str) -> String {
    format!("{run_id}-plan")
}

/// What the run keeps besides the storyboard, so that a resume runs the same film.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    settings: FilmSettings,
    backend: Option<String>,
    max_cost_usd: Option<f64>,
    work_dir: PathBuf,
    size: Resolution,
}

/// One segment as planned.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentEstimate {
    /// Counting from 1.
    pub index: usize,
    /// Its job id.
    pub job_id: String,
    /// The backend chosen for it.
    pub backend: String,
    /// The model, when the backend has several.
    pub model: Option<String>,
    /// Seconds.
    pub duration_secs: f64,
    /// Frame size.
    pub resolution: Resolution,
    /// Frames per second.
    pub fps: u32,
    /// What it should cost.
    pub estimate: CostEstimate,
}

/// The whole run as planned, before anything is spent.
#[derive(Debug, Clone, Serialize)]
pub struct FilmPlan {
    /// The run id.
    pub run_id: String,
    /// Where the film goes.
    pub out: PathBuf,
    /// Where the segments, keyframes and chained frames go.
    pub work_dir: PathBuf,
    /// The film's frame size.
    pub size: Resolution,
    /// The mode.
    pub mode: GenerationMode,
    /// Every segment.
    pub segments: Vec<SegmentEstimate>,
    /// The sum of the estimates, in US dollars, with the planning call's cost.
    pub total: Money,
    /// What planning the storyboard cost (a language model's call), when this run paid it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planning: Option<Money>,
    /// `None` when the run fits every budget and `--max-cost`; else why not.
    pub over_budget: Option<String>,
    /// The plan.
    #[serde(skip)]
    pub storyboard: Storyboard,
}

/// Where one segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentState {
    /// Planned; its job is being recorded or carried on.
    Started,
    /// Sent to the provider.
    Submitted,
    /// Waiting in the provider's queue.
    Queued,
    /// Being generated.
    Running,
    /// Being downloaded and verified.
    Downloading,
    /// Made by this run.
    Done,
    /// Done before this run; nothing was submitted.
    AlreadyDone,
    /// Failed; a new attempt follows.
    Retrying,
    /// Failed for good.
    Failed,
}

/// What a film run reports while it works.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FilmEvent {
    /// The run starts (or carries on).
    Started {
        /// The run id.
        run_id: String,
        /// Segments in the film.
        segments: usize,
        /// The mode.
        mode: GenerationMode,
        /// The whole run's estimate.
        estimate: Money,
    },
    /// A segment changed state.
    Segment {
        /// The run id.
        run_id: String,
        /// Counting from 1.
        index: usize,
        /// Its job id.
        job_id: String,
        /// The new state.
        state: SegmentState,
        /// The backend working on it, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Attempt number (1 for the first).
        attempt: u32,
        /// What it cost (done segments).
        #[serde(skip_serializing_if = "Option::is_none")]
        cost: Option<Money>,
        /// Why it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Progress inside a running segment (not a state change).
    Progress {
        /// Counting from 1.
        index: usize,
        /// Fraction done, when known.
        fraction: Option<f32>,
    },
    /// Every segment is made; joining.
    Joining {
        /// The run id.
        run_id: String,
        /// Segments joined.
        segments: usize,
    },
}

/// Where film events go. Shared by the segments made in parallel.
pub type FilmEvents = Arc<dyn Fn(FilmEvent) + Send + Sync>;

/// A finished film.
#[derive(Debug, Clone, Serialize)]
pub struct FilmMade {
    /// The run id.
    pub run_id: String,
    /// The film.
    pub path: PathBuf,
    /// Its record.
    pub sidecar_path: PathBuf,
    /// The record itself.
    pub record: Value,
    /// Whether the film was already done before this run.
    pub already_done: bool,
}

/// The film pipeline over a job façade (with a store) and keyframe sources.
#[derive(Debug, Clone)]
pub struct Film {
    jobs: Jobs,
    keyframes: Option<Keyframes>,
}

/// The job id of segment `index` (from 0) of run `run_id`.
pub fn segment_job_id(run_id: &str, index: usize) -> String {
    format!("{run_id}-s{:02}", index + 1)
}

/// A fresh run id.
pub fn new_run_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("film-{}", &hex[..12])
}

impl Film {
    /// A film pipeline over `jobs`; keyframes from the user's images, then animatic stills.
    pub fn new(jobs: Jobs) -> Self {
        Self {
            jobs,
            keyframes: None,
        }
    }

    /// Keyframes from `keyframes` instead (an image backend before the stills, say).
    pub fn with_keyframes(mut self, keyframes: Keyframes) -> Self {
        self.keyframes = Some(keyframes);
        self
    }

    /// The façade.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    fn keyframes_for(&self, settings: &FilmSettings) -> Keyframes {
        self.keyframes.clone().unwrap_or_else(|| {
            Keyframes::standard(UserImages {
                initial_image: settings.initial_image.clone(),
                dir: settings.reference_images_dir.clone(),
            })
        })
    }

    /// Plans the run: checks the storyboard, picks and prices every segment's backend and
    /// checks the whole estimate against the budgets and `--max-cost`. Spends nothing and
    /// writes nothing.
    pub async fn plan(&self, request: &FilmRequest) -> Result<FilmPlan> {
        request.storyboard.check()?;
        let run_id = match &request.run_id {
            Some(id) => {
                check_run_id(id)?;
                id.clone()
            }
            None => new_run_id(),
        };
        let size = film_size(&request.storyboard, self.jobs.settings())?;
        let output_dir = std::path::absolute(&self.jobs.settings().output_dir)
            .unwrap_or_else(|_| self.jobs.settings().output_dir.clone());
        let work_dir = output_dir.join(&run_id);
        let out = request
            .out
            .clone()
            .unwrap_or_else(|| output_dir.join(format!("{run_id}.mp4")));
        let record = RunRecord {
            settings: request.settings.clone(),
            backend: request.backend.clone(),
            max_cost_usd: request.max_cost_usd,
            work_dir: work_dir.clone(),
            size,
        };
        self.plan_with(
            &run_id,
            &request.storyboard,
            &record,
            out,
            request.planning.as_ref(),
        )
        .await
    }

    /// Records a planning call as the paid job `RUN-plan` (kind `plan`), done, with what its
    /// tokens cost, so that budgets and `ttv spend` count it. Recorded once: a run that has
    /// its planning job already keeps it.
    pub async fn record_planning(&self, run_id: &str, call: &PlanningCall) -> Result<()> {
        check_run_id(run_id)?;
        let store = self.jobs.runner()?.store().clone();
        let id = planning_job_id(run_id);
        let call = call.clone();
        blocking(move || {
            if store.get(&id)?.is_some() {
                return Ok(());
            }
            let cost = call.cost();
            let new = NewJob {
                id: id.clone(),
                backend: call.backend.clone(),
                model: Some(call.model.clone()),
                request: json!({
                    "planning": true,
                    "prompt_tokens": call.usage.prompt_tokens,
                    "completion_tokens": call.usage.completion_tokens,
                }),
                resolved: crate::capabilities::Resolved {
                    mode: Mode::TextToVideo,
                    duration: VideoDuration::from_secs(1),
                    resolution: Resolution {
                        width: 0,
                        height: 0,
                    },
                    fps: 0,
                    frames: 0,
                },
                estimate: CostEstimate {
                    usd: cost.clone(),
                    native: None,
                    basis: call.basis(),
                    source: None,
                },
                out: PathBuf::new(),
            };
            store.create_kind(&new, JobKind::Plan)?;
            let ticket = crate::backend::Ticket {
                backend: call.backend.clone(),
                id: id.clone(),
                model: Some(call.model.clone()),
                data: Value::Null,
                submitted_at: Utc::now(),
            };
            for event in [
                JobEvent::BeginSubmit,
                JobEvent::Submitted(ticket),
                JobEvent::Downloading {
                    charged: Some(cost),
                },
                JobEvent::Done,
            ] {
                store.apply(&id, &event)?;
            }
            Ok(())
        })
        .await
    }

    async fn plan_with(
        &self,
        run_id: &str,
        board: &Storyboard,
        record: &RunRecord,
        out: PathBuf,
        planning: Option<&PlanningCall>,
    ) -> Result<FilmPlan> {
        let placeholder = placeholder_image(record.size)?;
        let mut segments = Vec::new();
        let mut problems = Vec::new();
        for i in 0..board.segments.len() {
            // Priced with stand-in images where the run will have real ones, so that a
            // backend that needs an image is priced for the mode it will get.
            let images = match record.settings.mode {
                GenerationMode::Chaining => i > 0 || has_first_frame(board, record, i),
                GenerationMode::Keyframe => true,
            };
            let mut req = segment_request(board, record, &self.jobs, i)?;
            if images && req.image.is_none() {
                req.image = Some(placeholder.clone());
            }
            let spec = JobSpec {
                backend: segment_backend(board, record, i),
                job_id: Some(segment_job_id(run_id, i)),
                dry_run: true,
                ..JobSpec::new(req)
            };
            match self.jobs.check(&spec) {
                Ok((selection, _)) => segments.push(SegmentEstimate {
                    index: i + 1,
                    job_id: segment_job_id(run_id, i),
                    backend: selection.backend.id().to_owned(),
                    model: selection.backend.model().map(str::to_owned),
                    duration_secs: selection.resolved.duration.as_secs_f64(),
                    resolution: selection.resolved.resolution,
                    fps: selection.resolved.fps,
                    estimate: selection.estimate,
                }),
                Err(e) if !e.problems().is_empty() => {
                    problems.extend(e.problems().iter().map(|p| Problem {
                        field: format!("segments[{i}].{}", p.field),
                        ..p.clone()
                    }));
                }
                Err(e) => {
                    return Err(Error::new(
                        e.kind(),
                        format!("segment {}: {}", i + 1, e.message()),
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(problems));
        }
        let planning_micros = planning.map_or(0, |p| p.cost().micros);
        let total = Money::usd_micros(
            planning_micros + segments.iter().map(|s| s.estimate.usd.micros).sum::<i64>(),
        );
        let over_budget = self
            .over_budget(run_id, &segments, &total, record.max_cost_usd, planning)
            .await?;
        Ok(FilmPlan {
            run_id: run_id.to_owned(),
            out,
            work_dir: record.work_dir.clone(),
            size: record.size,
            mode: record.settings.mode,
            segments,
            total,
            planning: planning.map(PlanningCall::cost),
            over_budget,
            storyboard: board.clone(),
        })
    }

    /// Why the run would go over `--max-cost` or a budget, counting every segment not yet
    /// done as if it were spent now, one after another.
    async fn over_budget(
        &self,
        run_id: &str,
        segments: &[SegmentEstimate],
        total: &Money,
        max_cost_usd: Option<f64>,
        planning: Option<&PlanningCall>,
    ) -> Result<Option<String>> {
        if let Some(max) = max_cost_usd {
            let cap = Money::usd_micros((max * 1_000_000.0).round() as i64);
            if total.micros > cap.micros {
                return Ok(Some(format!(
                    "the run is estimated at {total}, over --max-cost {cap}; nothing was submitted"
                )));
            }
        }
        let budget = &self.jobs.settings().budget;
        if !budget.is_limited() {
            return Ok(None);
        }
        let Ok(runner) = self.jobs.runner() else {
            return Ok(None);
        };
        let store = runner.store().clone();
        let mut ledger = blocking(move || store.ledger().map_err(Error::from)).await?;
        let prefix = format!("{run_id}-s");
        let mut done = Vec::new();
        for s in segments {
            if let Some(job) = runner.find(&s.job_id).await?
                && job.state == JobState::Done
            {
                done.push(s.job_id.clone());
            }
        }
        // The run's unfinished segments count once, at their estimate, below.
        ledger.retain(|e| !e.job_id.starts_with(&prefix) || done.contains(&e.job_id));
        let now = Utc::now();
        // The planning call is spent already; the segments must fit beside it.
        if let Some(call) = planning
            && !ledger.iter().any(|e| e.job_id == planning_job_id(run_id))
        {
            ledger.push(LedgerEntry {
                job_id: planning_job_id(run_id),
                backend: call.backend.clone(),
                model: Some(call.model.clone()),
                at: now,
                usd_micros: call.cost().micros,
                charged: true,
                basis: LedgerBasis::Charged,
            });
        }
        for s in segments.iter().filter(|s| !done.contains(&s.job_id)) {
            if let Err(e) = budget.check(&s.backend, s.estimate.usd.micros, &ledger, now) {
                return Ok(Some(format!(
                    "segment {} of the run ({} on {}): {}",
                    s.index,
                    s.estimate.usd,
                    s.backend,
                    e.message()
                )));
            }
            ledger.push(LedgerEntry {
                job_id: s.job_id.clone(),
                backend: s.backend.clone(),
                model: s.model.clone(),
                at: now,
                usd_micros: s.estimate.usd.micros,
                charged: false,
                basis: LedgerBasis::Estimate,
            });
        }
        Ok(None)
    }

    /// Records the run and makes the film. `cancel` cancels the film: its running segment
    /// jobs are cancelled at the provider and the run is recorded as cancelled. (To stop a
    /// run so that it can be resumed, stop the process: that is what a crash does.)
    pub async fn run(
        &self,
        plan: FilmPlan,
        request: &FilmRequest,
        events: FilmEvents,
        cancel: &Cancel,
    ) -> Result<FilmMade> {
        if let Some(why) = &plan.over_budget {
            return Err(Error::new(ErrorKind::QuotaExceeded, why.clone()));
        }
        let runner = self.jobs.runner()?;
        let record = RunRecord {
            settings: request.settings.clone(),
            backend: request.backend.clone(),
            max_cost_usd: request.max_cost_usd,
            work_dir: plan.work_dir.clone(),
            size: plan.size,
        };
        let out = std::path::absolute(&plan.out).map_err(|e| {
            Error::io(
                format_args!("cannot resolve the output path {}", plan.out.display()),
                e,
            )
        })?;
        facade::output::check(
            &out,
            &facade::output::Rules {
                inputs: &[],
                protected: &[],
                data_dir: Path::new(runner.store().path()).parent(),
            },
        )?;
        let new = NewFilmRun {
            id: plan.run_id.clone(),
            title: plan.storyboard.title.clone(),
            plan: to_value(&plan.storyboard)?,
            settings: to_value(&record)?,
            out: out.clone(),
        };
        let store = runner.store().clone();
        let created = blocking(move || store.create_film(&new).map_err(Error::from)).await;
        if let Err(e) = created {
            return Err(Error::new(
                e.kind(),
                format!(
                    "{}; `ttv film resume {}` carries that run on, or choose another --run-id",
                    e.message(),
                    plan.run_id
                ),
            ));
        }
        let start = Start {
            board: &plan.storyboard,
            record: &record,
            out: &out,
            estimate: plan.total.clone(),
        };
        self.carry_out(&plan.run_id, start, events, cancel).await
    }

    /// Carries film run `run_id` on after a crash, a failure or Ctrl-C: done segments are
    /// reported, running ones polled, failed ones tried again; then the join.
    pub async fn resume(
        &self,
        run_id: &str,
        events: FilmEvents,
        cancel: &Cancel,
    ) -> Result<FilmMade> {
        let run = self.find(run_id).await?;
        if run.state == FilmState::Cancelled {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "film {run_id} was cancelled (`ttv film show {run_id}`); run it again under a new --run-id"
                ),
            ));
        }
        let board: Storyboard =
            serde_json::from_value(run.plan.clone()).map_err(|e| corrupt(run_id, "plan", e))?;
        let record: RunRecord = serde_json::from_value(run.settings.clone())
            .map_err(|e| corrupt(run_id, "settings", e))?;
        if run.state == FilmState::Done
            && let Some(mut made) = already_made(&run)
        {
            // Made before an output store was configured (or its upload is missing): store
            // it now.
            if made.record["video"]["url"].is_null()
                && self
                    .jobs
                    .store_film(&made.path, &mut made.record)
                    .await?
                    .is_some()
            {
                self.set_state(run_id, FilmState::Done, None, Some(&made.record))
                    .await?;
            }
            return Ok(made);
        }
        let plan = self
            .plan_with(run_id, &board, &record, run.out.clone(), None)
            .await?;
        if let Some(why) = plan.over_budget {
            return Err(Error::new(ErrorKind::QuotaExceeded, why));
        }
        self.set_state(run_id, FilmState::Running, None, None)
            .await?;
        let start = Start {
            board: &board,
            record: &record,
            out: &run.out,
            estimate: plan.total,
        };
        self.carry_out(run_id, start, events, cancel).await
    }

    /// The film run `run_id`.
    pub async fn find(&self, run_id: &str) -> Result<FilmRun> {
        let store = self.jobs.runner()?.store().clone();
        let id = run_id.to_owned();
        blocking(move || {
            store.film(&id).map_err(|e| match e {
                StoreError::NotFound(_) => Error::new(
                    ErrorKind::InvalidRequest,
                    format!("no film run {id:?} (`ttv film list` shows the runs)"),
                ),
                other => other.into(),
            })
        })
        .await
    }

    /// Every film run, newest first.
    pub async fn list(&self) -> Result<Vec<FilmRun>> {
        let store = self.jobs.runner()?.store().clone();
        blocking(move || store.films().map_err(Error::from)).await
    }

    /// The segment jobs of run `run`, in order (`None` where a segment has no job yet).
    pub async fn segment_jobs(&self, run: &FilmRun) -> Result<Vec<Option<crate::store::Job>>> {
        let count = run.plan["segments"].as_array().map_or(0, Vec::len);
        let runner = self.jobs.runner()?;
        let mut out = Vec::new();
        for i in 0..count {
            out.push(runner.find(&segment_job_id(&run.id, i)).await?);
        }
        Ok(out)
    }

    /// Cancels run `run_id`: records it as cancelled and cancels its unfinished segment
    /// jobs (at the provider too, where the backend can). Returns the jobs cancelled.
    pub async fn cancel(&self, run_id: &str) -> Result<Vec<String>> {
        let run = self.find(run_id).await?;
        let runner = self.jobs.runner()?;
        let mut cancelled = Vec::new();
        for job in self.segment_jobs(&run).await?.into_iter().flatten() {
            if job.state.is_terminal() {
                continue;
            }
            let backend = self.jobs.registry().get("job backend", &job.backend).ok();
            runner.cancel(backend.as_deref(), &job.id).await?;
            cancelled.push(job.id);
        }
        self.set_state(
            run_id,
            FilmState::Cancelled,
            Some("cancelled by the user"),
            None,
        )
        .await?;
        Ok(cancelled)
    }

    async fn set_state(
        &self,
        run_id: &str,
        state: FilmState,
        error: Option<&str>,
        result: Option<&Value>,
    ) -> Result<FilmRun> {
        let store = self.jobs.runner()?.store().clone();
        let (id, error, result) = (run_id.to_owned(), error.map(str::to_owned), result.cloned());
        blocking(move || {
            store
                .set_film_state(&id, state, error.as_deref(), result.as_ref())
                .map_err(Error::from)
        })
        .await
    }

    /// Makes every segment, joins them and writes the film's record; the run's state
    /// follows.
    async fn carry_out(
        &self,
        run_id: &str,
        start: Start<'_>,
        events: FilmEvents,
        cancel: &Cancel,
    ) -> Result<FilmMade> {
        let result = self.segments_and_join(run_id, start, events, cancel).await;
        match &result {
            Ok(made) => {
                self.set_state(run_id, FilmState::Done, None, Some(&made.record))
                    .await?;
            }
            Err(e) => {
                let still = self.find(run_id).await.map(|r| r.state);
                let state = if e.kind() == ErrorKind::Cancelled {
                    FilmState::Cancelled
                } else {
                    FilmState::Failed
                };
                if !matches!(still, Ok(FilmState::Cancelled)) {
                    self.set_state(run_id, state, Some(&e.to_string()), None)
                        .await?;
                }
            }
        }
        result
    }

    async fn segments_and_join(
        &self,
        run_id: &str,
        start: Start<'_>,
        events: FilmEvents,
        cancel: &Cancel,
    ) -> Result<FilmMade> {
        let Start {
            board,
            record,
            out,
            estimate,
        } = start;
        events(FilmEvent::Started {
            run_id: run_id.to_owned(),
            segments: board.segments.len(),
            mode: record.settings.mode,
            estimate,
        });
        std::fs::create_dir_all(&record.work_dir).map_err(|e| {
            Error::io(
                format_args!("cannot create {}", record.work_dir.display()),
                e,
            )
        })?;
        let ctx = Arc::new(Ctx {
            jobs: self.jobs.clone(),
            keyframes: self.keyframes_for(&record.settings),
            run_id: run_id.to_owned(),
            board: board.clone(),
            record: record.clone(),
            events,
            cancel: cancel.clone(),
        });
        let paths = match record.settings.mode {
            GenerationMode::Chaining => chaining(&ctx).await?,
            GenerationMode::Keyframe => keyframe_mode(&ctx).await?,
        };
        (ctx.events)(FilmEvent::Joining {
            run_id: run_id.to_owned(),
            segments: paths.len(),
        });
        let joined = match joined_before(out, run_id).await {
            Some(joined) => joined,
            None => {
                join(
                    &paths,
                    out,
                    record.size,
                    board.fps,
                    record.settings.crossfade_frames,
                )
                .await?
            }
        };
        let mut made = self.write_record(&ctx, out, &joined, &paths).await?;
        self.jobs.store_film(out, &mut made.record).await?;
        Ok(made)
    }

    /// Writes the film's record beside it: the plan, every segment and the totals.
    async fn write_record(
        &self,
        ctx: &Ctx,
        out: &Path,
        joined: &Joined,
        paths: &[PathBuf],
    ) -> Result<FilmMade> {
        let runner = self.jobs.runner()?;
        let mut segments = Vec::new();
        let (mut estimate, mut cost) = (0i64, 0i64);
        for (i, path) in paths.iter().enumerate() {
            let job = runner.job(&segment_job_id(&ctx.run_id, i)).await?;
            let side = sidecar::path_for(path);
            let seed = std::fs::read(&side)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|v| v["seed"].clone())
                .unwrap_or(Value::Null);
            estimate += job.estimate.usd.micros;
            cost += job.spent_usd_micros();
            segments.push(json!({
                "index": i + 1,
                "job_id": job.id,
                "backend": job.backend,
                "model": job.model,
                "seed": seed,
                "estimate": job.estimate.usd,
                "cost": Money::usd_micros(job.spent_usd_micros()),
                "charged": job.charged,
                "video": path,
                "sidecar": side,
                "resolved": job.resolved,
            }));
        }
        // The planning call, when a language model planned this run: in the totals too.
        let planning = match runner.find(&planning_job_id(&ctx.run_id)).await? {
            Some(job) => {
                estimate += job.estimate.usd.micros;
                cost += job.spent_usd_micros();
                json!({
                    "job_id": job.id,
                    "backend": job.backend,
                    "model": job.model,
                    "basis": job.estimate.basis,
                    "cost": Money::usd_micros(job.spent_usd_micros()),
                })
            }
            None => Value::Null,
        };
        let record = json!({
            "schema": 1,
            "kind": "film",
            "ttv_version": env!("CARGO_PKG_VERSION"),
            "run_id": ctx.run_id,
            "title": ctx.board.title,
            "mode": ctx.record.settings.mode,
            "video": {
                "file": out.file_name().map(|n| n.to_string_lossy().into_owned()),
                "width": joined.info.width,
                "height": joined.info.height,
                "frames": joined.info.frames,
                "duration_secs": joined.info.duration_secs,
                "fps": joined.info.fps,
                "codec": joined.info.codec,
                "audio": joined.info.audio,
                "sha256": joined.sha256,
            },
            "join": joined.method,
            "crossfade_frames": ctx.record.settings.crossfade_frames,
            "segments": segments,
            "planning": planning,
            "totals": {
                "segments": paths.len(),
                "estimate": Money::usd_micros(estimate),
                "cost": Money::usd_micros(cost),
                "frames": joined.info.frames,
                "duration_secs": joined.info.duration_secs,
            },
            "plan": ctx.board,
            "settings": ctx.record.settings,
            "made_at": Utc::now(),
        });
        let side = sidecar::path_for(out);
        let bytes = serde_json::to_vec_pretty(&record).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot encode the film record: {e}"))
        })?;
        write_atomically(&side, &bytes)?;
        Ok(FilmMade {
            run_id: ctx.run_id.clone(),
            path: out.to_path_buf(),
            sidecar_path: side,
            record,
            already_done: false,
        })
    }
}

/// A done run whose film is still there, as made.
fn already_made(run: &FilmRun) -> Option<FilmMade> {
    let record = run.result.clone()?;
    probe::verify_file(&run.out).ok()?;
    Some(FilmMade {
        run_id: run.id.clone(),
        path: run.out.clone(),
        sidecar_path: sidecar::path_for(&run.out),
        record,
        already_done: true,
    })
}

fn corrupt(run_id: &str, what: &str, e: serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("film {run_id}: its recorded {what} is unreadable ({e})"),
    )
}

fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot describe the film: {e}")))
}

/// Checks a run id: a job id with room for the segment suffix.
fn check_run_id(id: &str) -> Result<()> {
    if id.len() > 56 {
        return Err(Error::invalid(vec![Problem::new(
            "run_id",
            format!("{id:?}"),
            "at most 56 characters (segment jobs add -sNN)",
        )]));
    }
    crate::jobs::check_job_id(id).map_err(|_| {
        Error::invalid(vec![Problem::new(
            "run_id",
            format!("{id:?}"),
            "1 to 56 letters, digits, '.', '_' or '-', starting with a letter or a digit",
        )])
    })
}

/// The film's frame size: the storyboard's, else the configuration's `size`, else 720p, in
/// the storyboard's or configuration's aspect (16:9 when none).
fn film_size(board: &Storyboard, settings: &crate::config::Settings) -> Result<Resolution> {
    let spec = match &board.size {
        Some(s) => s.parse::<ResolutionSpec>()?,
        None => settings
            .defaults
            .resolution
            .unwrap_or(ResolutionSpec::Tier(720)),
    };
    let aspect = match &board.aspect {
        Some(a) => a.parse::<AspectRatio>()?,
        None => settings.defaults.aspect.unwrap_or(AspectRatio::LANDSCAPE),
    };
    let r = spec.resolve(aspect);
    Ok(Resolution::new(r.width & !1, r.height & !1))
}

fn segment_backend(board: &Storyboard, record: &RunRecord, i: usize) -> Option<String> {
    board.segments[i]
        .backend
        .clone()
        .or_else(|| record.backend.clone())
}

fn has_first_frame(board: &Storyboard, record: &RunRecord, i: usize) -> bool {
    board.segments[i].first_frame.is_some()
        || (i == 0
            && UserImages {
                initial_image: record.settings.initial_image.clone(),
                dir: record.settings.reference_images_dir.clone(),
            }
            .find(0)
            .is_some())
}

/// Segment `i`'s request without its images.
fn segment_request(
    board: &Storyboard,
    record: &RunRecord,
    jobs: &Jobs,
    i: usize,
) -> Result<GenerationRequest> {
    let settings = jobs.settings();
    let seg = &board.segments[i];
    let secs = seg.duration.unwrap_or(record.settings.segment_secs);
    let duration = VideoDuration::try_from_secs_f64(secs).ok_or_else(|| {
        Error::invalid(vec![Problem::new(
            format!("segments[{i}].duration"),
            secs,
            "a number of seconds above 0",
        )])
    })?;
    let resolution = match &board.size {
        Some(s) => Some(s.parse::<ResolutionSpec>()?),
        None => settings.defaults.resolution,
    };
    let aspect_ratio = match &board.aspect {
        Some(a) => Some(a.parse::<AspectRatio>()?),
        None => settings.defaults.aspect,
    };
    let request = GenerationRequest {
        prompt: board.prompt_of(i),
        duration: Some(duration),
        resolution,
        aspect_ratio,
        fps: board.fps,
        seed: seg
            .seed
            .or_else(|| settings.defaults.seed.map(|s| s.wrapping_add(i as u64))),
        extra: seg.extra.clone(),
        ..GenerationRequest::default()
    };
    let mut fitted = fit_to_backend(jobs, request, segment_backend(board, record, i));
    if seg.seed.is_none() && fitted.seed.is_some() {
        // `base_seed` is a default: a backend that takes no seed gets none.
        let spec = JobSpec {
            backend: segment_backend(board, record, i),
            fallback: facade::FallbackPolicy::Never,
            ..JobSpec::new(fitted.clone())
        };
        if let Err(e) = jobs.choose(&spec)
            && e.problems().iter().any(|p| p.field == "seed")
        {
            fitted.seed = None;
        }
    }
    Ok(fitted)
}

/// The request fitted to the segment's backend, the same way every run: a duration it does
/// not make moves to the nearest one it does (a 5 s segment on a backend of 4, 6 and 8 s clips
/// is made 6 s long); a frame size or rate it does not make is left to the backend, keeping
/// the film's aspect ratio (the join brings every segment to the film's size and rate).
fn fit_to_backend(
    jobs: &Jobs,
    mut request: GenerationRequest,
    backend: Option<String>,
) -> GenerationRequest {
    let refused = |request: &GenerationRequest| -> Vec<String> {
        let spec = JobSpec {
            backend: backend.clone(),
            fallback: facade::FallbackPolicy::Never,
            ..JobSpec::new(request.clone())
        };
        match jobs.choose(&spec) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.field.clone()).collect(),
        }
    };
    let fields = refused(&request);
    if fields.is_empty() {
        return request;
    }
    let has = |f: &str| fields.iter().any(|x| x == f);
    if has("fps") {
        request.fps = None;
    }
    if has("resolution") {
        if let Some(ResolutionSpec::Exact(r)) = request.resolution {
            request.aspect_ratio = request.aspect_ratio.or_else(|| r.aspect());
        }
        request.resolution = None;
    }
    if has("duration")
        && let Some(wanted) = request.duration
    {
        let name = backend
            .clone()
            .unwrap_or_else(|| jobs.settings().default_backend.clone());
        if let Ok(chosen) = jobs.registry().get("backend", &name) {
            let fitted = nearest_duration(&chosen.capabilities().durations, wanted);
            tracing::info!(backend = chosen.id(), wanted = %wanted, fitted = %fitted, "segment duration fitted to the backend");
            request.duration = Some(fitted);
        }
    }
    if refused(&request).iter().any(|f| f == "aspect") {
        request.aspect_ratio = None;
    }
    request
}

/// The duration among `support` closest to `wanted` (the longer one on a tie).
fn nearest_duration(support: &DurationSupport, wanted: VideoDuration) -> VideoDuration {
    match support {
        DurationSupport::OneOf(choices) => choices
            .iter()
            .copied()
            .min_by_key(|d| {
                let gap = (i64::from(d.as_millis()) - i64::from(wanted.as_millis())).abs();
                (gap, std::cmp::Reverse(d.as_millis()))
            })
            .unwrap_or(wanted),
        DurationSupport::Range { min, max, step } => {
            let step = step.as_millis().max(1);
            let clamped = wanted.as_millis().clamp(min.as_millis(), max.as_millis());
            let snapped = min.as_millis() + (clamped - min.as_millis() + step / 2) / step * step;
            VideoDuration::from_millis(snapped.min(max.as_millis()))
        }
    }
}

/// A grey stand-in image of `size`, for pricing requests whose real images are made later.
fn placeholder_image(size: Resolution) -> Result<ImageInput> {
    let image = image::RgbImage::from_pixel(
        size.width.max(2),
        size.height.max(2),
        image::Rgb([96, 96, 96]),
    );
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode an image: {e}")))?;
    ImageInput::from_bytes("image", "(keyframe)", png)
}

/// What a run starts from.
struct Start<'a> {
    board: &'a Storyboard,
    record: &'a RunRecord,
    out: &'a Path,
    estimate: Money,
}

/// What the segment tasks share.
struct Ctx {
    jobs: Jobs,
    keyframes: Keyframes,
    run_id: String,
    board: Storyboard,
    record: RunRecord,
    events: FilmEvents,
    cancel: Cancel,
}

impl Ctx {
    fn emit(&self, i: usize, state: SegmentState, backend: Option<&str>, attempt: u32) {
        (self.events)(FilmEvent::Segment {
            run_id: self.run_id.clone(),
            index: i + 1,
            job_id: segment_job_id(&self.run_id, i),
            state,
            backend: backend.map(str::to_owned),
            attempt,
            cost: None,
            error: None,
        });
    }

    async fn stopped(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "interrupted"));
        }
        let store = self.jobs.runner()?.store().clone();
        let id = self.run_id.clone();
        let state = blocking(move || store.film(&id).map_err(Error::from))
            .await?
            .state;
        if state == FilmState::Cancelled {
            return Err(Error::new(
                ErrorKind::Cancelled,
                format!("film {} was cancelled", self.run_id),
            ));
        }
        Ok(())
    }

    /// Keyframe `k` (0 is the film's first frame).
    async fn keyframe(&self, k: usize) -> Result<ImageInput> {
        let prompt = if k == 0 {
            self.board.prompt_of(0)
        } else {
            self.board.keyframe_prompt_of(k - 1)
        };
        let request = KeyframeRequest {
            index: k,
            prompt,
            size: self.record.size,
            seed: 0,
        };
        let dir = self.record.work_dir.join("keyframes");
        let (path, _) = self.keyframes.get(&request, &dir).await?;
        read_image("image", path).await
    }

    /// Makes segment `i` from `request`: plans and runs it through the façade, with up to
    /// `retries` new attempts of a failed job. Returns the verified video.
    async fn make(&self, i: usize, request: GenerationRequest, retries: u32) -> Result<PathBuf> {
        let job_id = segment_job_id(&self.run_id, i);
        let inputs = [
            &self.board.segments[i].first_frame,
            &self.board.segments[i].last_frame,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let spec = JobSpec {
            inputs,
            backend: segment_backend(&self.board, &self.record, i),
            out: Some(
                self.record
                    .work_dir
                    .join(format!("segment_{:02}.mp4", i + 1)),
            ),
            job_id: Some(job_id.clone()),
            ..JobSpec::new(request)
        };
        let mut attempt = 1;
        loop {
            self.stopped().await?;
            let result = self.attempt(i, spec.clone(), attempt).await;
            let err = match result {
                Ok(path) => return Ok(path),
                Err(e) => e,
            };
            let failed = self
                .jobs
                .runner()?
                .find(&job_id)
                .await?
                .is_some_and(|j| j.state == JobState::Failed);
            if failed && attempt <= retries && err.kind() != ErrorKind::Cancelled {
                tracing::warn!(job = %job_id, error = %err, "segment failed; trying again");
                self.emit(i, SegmentState::Retrying, None, attempt);
                attempt += 1;
                continue;
            }
            (self.events)(FilmEvent::Segment {
                run_id: self.run_id.clone(),
                index: i + 1,
                job_id: job_id.clone(),
                state: SegmentState::Failed,
                backend: None,
                attempt,
                cost: None,
                error: Some(err.to_string()),
            });
            return Err(Error::new(
                err.kind(),
                format!("segment {} (job {job_id}): {}", i + 1, err),
            )
            .with_spend(err.spend()));
        }
    }

    async fn attempt(&self, i: usize, spec: JobSpec, attempt: u32) -> Result<PathBuf> {
        let plan = self.jobs.plan(spec).await?;
        let backend = plan.selection.backend.id().to_owned();
        self.emit(i, SegmentState::Started, Some(&backend), attempt);
        let last = Mutex::new(SegmentState::Started);
        let sink = |event: Event| {
            let state = match event {
                Event::Submitted(_) => SegmentState::Submitted,
                Event::Queued { .. } => SegmentState::Queued,
                Event::Running { progress } => {
                    (self.events)(FilmEvent::Progress {
                        index: i + 1,
                        fraction: progress,
                    });
                    SegmentState::Running
                }
                Event::Downloading { .. } | Event::Verifying => SegmentState::Downloading,
                Event::Validated(_) => return,
            };
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            if *last != state {
                *last = state;
                self.emit(i, state, Some(&backend), attempt);
            }
        };
        let outcome = self.jobs.run(plan, &sink, &self.cancel).await?;
        let (path, state, used) = match outcome {
            Outcome::Made(made) => (
                made.path.clone(),
                SegmentState::Done,
                made.selection.backend.id().to_owned(),
            ),
            Outcome::AlreadyDone(done) => (
                done.path.clone(),
                SegmentState::AlreadyDone,
                done.job.backend.clone(),
            ),
        };
        let job = self
            .jobs
            .runner()?
            .job(&segment_job_id(&self.run_id, i))
            .await?;
        (self.events)(FilmEvent::Segment {
            run_id: self.run_id.clone(),
            index: i + 1,
            job_id: job.id.clone(),
            state,
            backend: Some(used),
            attempt,
            cost: Some(Money::usd_micros(job.spent_usd_micros())),
            error: None,
        });
        Ok(path)
    }
}

/// Chaining: one segment after another, each starting from the exact last frame of the one
/// before (decoded from its verified file).
async fn chaining(ctx: &Arc<Ctx>) -> Result<Vec<PathBuf>> {
    let n = ctx.board.segments.len();
    let frames_dir = ctx.record.work_dir.join("frames");
    let user = UserImages {
        initial_image: ctx.record.settings.initial_image.clone(),
        dir: ctx.record.settings.reference_images_dir.clone(),
    };
    let mut paths: Vec<PathBuf> = Vec::with_capacity(n);
    for i in 0..n {
        let seg = &ctx.board.segments[i];
        let mut req = segment_request(&ctx.board, &ctx.record, &ctx.jobs, i)?;
        let first = match (&seg.first_frame, paths.last()) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(previous)) => Some(
                last_frame_png(
                    previous,
                    &frames_dir.join(format!("segment_{:02}_first.png", i + 1)),
                )
                .await?,
            ),
            (None, None) => user.find(0),
        };
        if let Some(first) = first {
            req.image = Some(read_image("image", first).await?);
        }
        if let Some(last) = &seg.last_frame {
            req.last_frame = Some(read_image("last_frame", last.clone()).await?);
        }
        let path = ctx
            .make(i, req, ctx.record.settings.chaining_max_retries)
            .await?;
        paths.push(path);
    }
    Ok(paths)
}

/// Keyframe mode: segments in parallel (up to `parallel_segments`), each from its keyframes.
async fn keyframe_mode(ctx: &Arc<Ctx>) -> Result<Vec<PathBuf>> {
    let n = ctx.board.segments.len();
    let permits = Arc::new(Semaphore::new(ctx.record.settings.parallel.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (ctx, permits) = (ctx.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| Error::new(ErrorKind::Cancelled, "the run stopped"))?;
            let req = keyframe_request(&ctx, i).await?;
            ctx.make(i, req, 0).await.map(|p| (i, p))
        });
    }
    let mut paths = vec![PathBuf::new(); n];
    let mut first_err: Option<Error> = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((i, p))) => paths[i] = p,
            // The others run on: what they make is paid for and kept for the resume.
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(Error::new(
                    ErrorKind::Io,
                    format!("a segment task failed: {e}"),
                ));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(paths),
    }
}

/// Segment `i`'s request in keyframe mode: its first frame (and last, where the backend
/// takes both) from the keyframes, unless the storyboard names images.
async fn keyframe_request(ctx: &Ctx, i: usize) -> Result<GenerationRequest> {
    let seg = &ctx.board.segments[i];
    let settings = &ctx.record.settings;
    let mut req = segment_request(&ctx.board, &ctx.record, &ctx.jobs, i)?;
    let own = match settings.keyframe_position {
        KeyframePosition::Last if settings.single_keyframe => i + 1,
        _ => i,
    };
    req.image = Some(match &seg.first_frame {
        Some(p) => read_image("image", p.clone()).await?,
        None => ctx.keyframe(own).await?,
    });
    if let Some(last) = &seg.last_frame {
        req.last_frame = Some(read_image("last_frame", last.clone()).await?);
    } else if !settings.single_keyframe && settings.first_last_frame {
        let spec = JobSpec {
            backend: segment_backend(&ctx.board, &ctx.record, i),
            ..JobSpec::new(req.clone())
        };
        let takes_both = ctx
            .jobs
            .choose(&spec)
            .map(|(s, _)| {
                s.backend
                    .capabilities()
                    .modes
                    .contains(&Mode::FirstLastFrame)
            })
            .unwrap_or(false);
        if takes_both {
            req.last_frame = Some(ctx.keyframe(i + 1).await?);
        }
    }
    Ok(req)
}

async fn read_image(field: &'static str, path: PathBuf) -> Result<ImageInput> {
    blocking(move || ImageInput::from_path(field, &path)).await
}

/// Decodes the last frame of `video` and saves it as PNG at `dest` (the same bytes every
/// time, so a resumed run sends the same image).
async fn last_frame_png(video: &Path, dest: &Path) -> Result<PathBuf> {
    let (video, dest) = (video.to_path_buf(), dest.to_path_buf());
    blocking(move || {
        let frame = frames::extract_frame(&video, Which::Last)?;
        let mut png = Vec::new();
        frame
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode a frame: {e}")))?;
        if std::fs::read(&dest).ok().as_deref() != Some(&png[..]) {
            write_atomically(&dest, &png)?;
        }
        Ok(dest)
    })
    .await
}

/// The joined film, read back.
struct Joined {
    info: VideoInfo,
    sha256: String,
    method: Value,
}

/// The film this run joined before it stopped (its record names the run), read back.
async fn joined_before(out: &Path, run_id: &str) -> Option<Joined> {
    let record: Value =
        serde_json::from_slice(&std::fs::read(sidecar::path_for(out)).ok()?).ok()?;
    if record["run_id"] != run_id {
        return None;
    }
    let path = out.to_path_buf();
    let (info, sha256) = blocking(move || probe::verify_file(&path)).await.ok()?;
    (record["video"]["sha256"] == sha256.as_str()).then(|| Joined {
        info,
        sha256,
        method: record["join"].clone(),
    })
}

/// Joins the segment videos into `out` at `size` (at `fps`, else the first segment's),
/// atomically, and verifies the result.
async fn join(
    inputs: &[PathBuf],
    out: &Path,
    size: Resolution,
    fps: Option<u32>,
    crossfade_frames: u32,
) -> Result<Joined> {
    let options = JoinOptions {
        width: size.width,
        height: size.height,
        fps: fps.map(f64::from),
        crossfade_frames,
    };
    let report = join_segments(inputs, out, &options).await?;
    let path = out.to_path_buf();
    let (info, sha256) = blocking(move || probe::verify_file(&path)).await?;
    Ok(Joined {
        info,
        sha256,
        method: to_value(&report)?,
    })
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a background task failed: {e}")))?
}
