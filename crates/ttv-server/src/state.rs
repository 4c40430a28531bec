//! The server's state and the one path every API takes into the job façade: [`accept`] turns
//! a request into a planned, recorded, queued job; [`spawn_job`] runs it in the bounded
//! worker pool ([`Jobs::run`], or [`Jobs::resume`] for a job with a saved ticket); [`view`]
//! is what every API shows of a job. Selection, budgets, fallback and sidecars stay in the
//! library.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Semaphore;
use ttv::facade::{FallbackPolicy, JobSpec, Jobs, Plan};
use ttv::media::image::ImageInput;
use ttv::store::{Job, JobState, Store};
use ttv::{AspectRatio, GenerationRequest, Problem, ResolutionSpec, VideoDuration};

use crate::auth::{Caller, Tokens};
use crate::error::ApiError;
use crate::live::{Live, from_step};
use crate::records::{Api, Input, Inserted, Record, Records};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Where the server keeps its job records and input images (`<data>/server`).
    pub dir: PathBuf,
    /// Jobs run at once.
    pub workers: usize,
    /// How long a shutdown waits for submits and downloads in flight.
    pub grace: Duration,
    /// OpenAI model names (`sora-2`) to a backend (`animatic`, `runway`, `runway/gen4_turbo`).
    pub models: BTreeMap<String, String>,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// New jobs one token may create per minute.
    pub rate_per_minute: Option<u32>,
    /// What the jobs one token creates in a day (UTC) may be estimated to cost, in micro-dollars,
    /// on top of the configuration's own budgets.
    pub token_daily_usd_micros: Option<i64>,
    /// Webhooks of the backends (`webhooks.url`): mounted at `/webhooks/{provider}`.
    pub webhooks: Option<std::sync::Arc<ttv::webhooks::Webhooks>>,
}

impl Options {
    /// Defaults for `dir`: 4 workers, a 30 s grace period, `sora-2` and `sora-2-pro` mapped
    /// onto the configuration's default backend, 25 MiB bodies.
    pub fn new(listen: SocketAddr, dir: PathBuf) -> Self {
        Self {
            listen,
            dir,
            workers: 4,
            grace: Duration::from_secs(30),
            models: BTreeMap::new(),
            max_body: 25 * 1024 * 1024,
            rate_per_minute: None,
            token_daily_usd_micros: None,
            webhooks: None,
        }
    }
}

/// Counters for `/metrics/prometheus`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP requests answered, by status class (index 1 = 1xx ... 5 = 5xx).
    pub requests: [AtomicU64; 6],
    /// Jobs accepted since start.
    pub accepted: AtomicU64,
    /// Jobs that ended, by how: done, failed, cancelled.
    pub ended: [AtomicU64; 3],
}

/// Everything the routes share.
pub struct AppState {
    /// The job façade.
    pub jobs: Jobs,
    /// How the server runs.
    pub opts: Options,
    /// The tokens.
    pub tokens: Tokens,
    /// The server's job records.
    pub records: Records,
    /// Live progress, events and the queue.
    pub live: Live,
    /// The worker pool's places.
    pub workers: Arc<Semaphore>,
    /// Plans made when jobs were accepted, until a worker takes them.
    pub plans: Mutex<HashMap<String, Plan>>,
    /// Cleared when a shutdown begins.
    pub accepting: AtomicBool,
    /// Key of the signed video URLs.
    pub key: Vec<u8>,
    /// Counters.
    pub metrics: Metrics,
    /// When the server started.
    pub started: Instant,
    /// Serialises idempotent and budgeted creations, so two requests with one key make one
    /// job and two at once cannot both pass a token's budget.
    pub idempotency: tokio::sync::Mutex<()>,
    /// Per token: the start of its current minute and the jobs created in it.
    pub rates: Mutex<HashMap<String, (Instant, u32)>>,
    /// The store is shared (PostgreSQL): accepted jobs go to its queue for `ttv worker`
    /// processes, and this server runs none itself.
    pub queue: bool,
}

/// Shared state.
pub type Shared = Arc<AppState>;

impl AppState {
    /// The state for `jobs` (with its store) under `opts`.
    pub fn new(jobs: Jobs, opts: Options, tokens: Tokens) -> std::io::Result<Self> {
        let shared = jobs
            .runner()
            .ok()
            .map(|r| r.store().clone())
            .filter(Store::is_shared);
        let queue = shared.is_some();
        let records = match shared {
            Some(store) => Records::open_shared(&opts.dir, store)?,
            None => Records::open(&opts.dir)?,
        };
        let key = signing_key(&opts.dir)?;
        Ok(Self {
            queue,
            workers: Arc::new(Semaphore::new(opts.workers.max(1))),
            jobs,
            tokens,
            records,
            live: Live::default(),
            plans: Mutex::new(HashMap::new()),
            accepting: AtomicBool::new(true),
            key,
            metrics: Metrics::default(),
            started: Instant::now(),
            idempotency: tokio::sync::Mutex::new(()),
            rates: Mutex::new(HashMap::new()),
            opts,
        })
    }
}

/// The key of the signed URLs: made once, kept (owner-only) in the server folder so URLs
/// survive a restart.
fn signing_key(dir: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = dir.join("url-signing.key");
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= 32
    {
        return Ok(bytes);
    }
    let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .collect();
    crate::records::write_atomic(&path, &key)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// A new job as an API hands it over.
pub struct NewJob {
    /// Which API.
    pub api: Api,
    /// The job id to use (`video_…` for OpenAI); a fresh ttv id when `None`.
    pub id: Option<String>,
    /// The OpenAI model asked for.
    pub model: Option<String>,
    /// The request.
    pub input: Input,
    /// The images, already checked.
    pub image: Option<ImageInput>,
    /// The last frame, already checked.
    pub last_frame: Option<ImageInput>,
    /// `Idempotency-Key` and the body's hash.
    pub idempotency: Option<(String, String)>,
}

/// What [`accept`] did.
pub enum Accepted {
    /// A new job.
    New(Arc<Record>),
    /// The job made earlier with the same idempotency key and body.
    Existing(Arc<Record>),
}

impl Accepted {
    /// The record either way.
    pub fn record(&self) -> &Arc<Record> {
        match self {
            Self::New(r) | Self::Existing(r) => r,
        }
    }
}

/// The job `existing` made earlier with idempotency key `key`, when it was made with the same
/// body (`hash`); else the key is being reused for another request.
fn same_request(existing: Arc<Record>, key: &str, hash: &str) -> Result<Accepted, ApiError> {
    let made_with = existing.idempotency.as_ref().map(|(_, h)| h.as_str());
    if made_with == Some(hash) {
        return Ok(Accepted::Existing(existing));
    }
    Err(ApiError::conflict(
        "idempotency_key_reused",
        format!(
            "Idempotency-Key {key:?} was used for job {} with a different request body; use a new key for a new request",
            existing.id
        ),
    ))
}

/// Plans, records and queues a job. Nothing is spent here; invalid requests, unusable
/// backends and budgets are refused before the job is recorded.
pub async fn accept(state: &Shared, caller: &Caller, new: NewJob) -> Result<Accepted, ApiError> {
    if !state.accepting.load(Ordering::SeqCst) {
        return Err(ApiError::shutting_down());
    }
    // Creations that must see each other (one idempotency key, one token's budget) go one
    // at a time.
    let serial = new.idempotency.is_some() || state.opts.token_daily_usd_micros.is_some();
    let _serial = match serial {
        true => Some(state.idempotency.lock().await),
        false => None,
    };
    if let Some((key, hash)) = &new.idempotency
        && let Some(existing) = state
            .records
            .by_key(&caller.name, key)
            .await
            .map_err(ApiError::internal)?
    {
        return same_request(existing, key, hash);
    }
    let asked = new.idempotency.clone();
    let request = to_request(&new.input, new.image.clone(), new.last_frame.clone())?;
    let id = new.id.clone().unwrap_or_else(ttv::jobs::new_job_id);
    let plan = state.jobs.plan(spec_for(&new.input, request, &id)?).await?;
    check_token_budget(state, caller, plan.selection.estimate.usd.micros).await?;
    check_rate(state, caller)?;

    let mut input = new.input.clone();
    let dir = state.records.inputs_dir();
    let saved = [
        ("image", new.image.clone(), &mut input.image),
        ("last_frame", new.last_frame.clone(), &mut input.last_frame),
    ];
    let mut writes = Vec::new();
    for (field, image, slot) in saved {
        *slot = image.map(|img| {
            let name = format!(
                "{id}.{field}.{}",
                img.format().to_string().to_ascii_lowercase()
            );
            writes.push((dir.join(&name), img));
            name
        });
    }
    let record = Record {
        id: id.clone(),
        owner: caller.name.clone(),
        api: new.api,
        model: new.model,
        input,
        idempotency: new.idempotency,
        created_at: Utc::now(),
        estimate_usd_micros: plan.selection.estimate.usd.micros,
        cancelled: false,
        deleted: false,
    };
    let st = state.clone();
    let inserted = tokio::task::spawn_blocking(move || {
        for (path, img) in writes {
            crate::records::write_atomic(&path, img.bytes())?;
        }
        st.records.insert(record)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("cannot record the job: {e}")))?;
    let record = match inserted {
        Inserted::New(record) => record,
        // Another server in front of the same store took the key just now.
        Inserted::KeyTaken(existing) => {
            let (key, hash) = asked.unwrap_or_default();
            return same_request(existing, &key, &hash);
        }
    };
    if state.queue {
        // Workers run it: the queue gets the record with its images.
        let payload = crate::queue::Payload::new(
            (*record).clone(),
            new.image.as_ref(),
            new.last_frame.as_ref(),
        );
        let payload = serde_json::to_value(&payload).map_err(ApiError::internal)?;
        let store = state.jobs.runner()?.store().clone();
        let key = id.clone();
        tokio::task::spawn_blocking(move || store.enqueue(&key, &payload))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::from(ttv::Error::from(e)))?;
        state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        tracing::info!(job = %id, owner = %caller.name, "accepted into the shared queue");
        return Ok(Accepted::New(record));
    }
    state
        .plans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), plan);
    state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
    tracing::info!(job = %id, owner = %caller.name, "accepted");
    spawn_job(state.clone(), id);
    Ok(Accepted::New(record))
}

/// Refuses a job past the caller's rate (`rate_per_minute`).
fn check_rate(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let Some(limit) = state.opts.rate_per_minute else {
        return Ok(());
    };
    let mut rates = state.rates.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let slot = rates.entry(caller.name.clone()).or_insert((now, 0));
    if now.duration_since(slot.0) >= Duration::from_secs(60) {
        *slot = (now, 0);
    }
    if slot.1 >= limit {
        let wait = 60u64.saturating_sub(now.duration_since(slot.0).as_secs());
        return Err(ApiError {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code: "rate_limit_exceeded",
            param: None,
            message: format!(
                "{} creates at most {limit} jobs a minute; try again in {wait} s",
                caller.name
            ),
        });
    }
    slot.1 += 1;
    Ok(())
}

/// Refuses a job that would take the caller's estimated spend today (UTC) past its budget.
async fn check_token_budget(
    state: &Shared,
    caller: &Caller,
    usd_micros: i64,
) -> Result<(), ApiError> {
    let Some(limit) = state.opts.token_daily_usd_micros else {
        return Ok(());
    };
    let today = Utc::now().date_naive();
    let mine: Vec<Arc<Record>> = state
        .records
        .all()
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|r| r.owner == caller.name && r.created_at.date_naive() == today && !r.cancelled)
        .collect();
    let store = state.jobs.runner()?.store().clone();
    let jobs: HashMap<String, Job> = tokio::task::spawn_blocking(move || store.list(&[]))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::from(ttv::Error::from(e)))?
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect();
    // A job the store has is counted at its own estimate (after a fallback, the backend that
    // ran it); one still queued at the estimate it was accepted with.
    let spent: i64 = mine
        .iter()
        .map(|r| match jobs.get(&r.id) {
            Some(j) if j.state == JobState::Cancelled => 0,
            Some(j) => j.estimate.usd.micros,
            None => r.estimate_usd_micros,
        })
        .sum();
    if spent.saturating_add(usd_micros) > limit {
        return Err(ApiError {
            status: axum::http::StatusCode::PAYMENT_REQUIRED,
            kind: "insufficient_quota",
            code: "token_budget_exceeded",
            param: None,
            message: format!(
                "{}'s jobs today are estimated at {}; this one ({}) would pass the token's daily budget of {}",
                caller.name,
                ttv::Money::usd_micros(spent),
                ttv::Money::usd_micros(usd_micros),
                ttv::Money::usd_micros(limit)
            ),
        });
    }
    Ok(())
}

/// The job spec of a request.
pub fn spec_for(input: &Input, request: GenerationRequest, id: &str) -> Result<JobSpec, ApiError> {
    let fallback = match input.fallback.as_deref() {
        None | Some("unless_named") => FallbackPolicy::UnlessNamed,
        Some("always") => FallbackPolicy::Always,
        Some("never") => FallbackPolicy::Never,
        Some(other) => {
            return Err(ApiError::invalid(
                "fallback",
                format!("fallback: {other:?} is not allowed; use unless_named, always or never"),
            ));
        }
    };
    Ok(JobSpec {
        backend: input.backend.clone().filter(|b| !b.trim().is_empty()),
        fallback,
        job_id: Some(id.to_owned()),
        ..JobSpec::new(request)
    })
}

/// The library's request for `input`; every bad value at once, each naming its field.
pub fn to_request(
    input: &Input,
    image: Option<ImageInput>,
    last_frame: Option<ImageInput>,
) -> Result<GenerationRequest, ApiError> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut parse = |field: &str, text: &Option<String>| -> Option<String> {
        let t = text.as_deref()?.trim();
        if t.is_empty() {
            problems.push(Problem::new(
                field,
                "\"\"",
                "a value, or leave the field out",
            ));
            return None;
        }
        Some(t.to_owned())
    };
    let aspect = parse("aspect_ratio", &input.aspect_ratio);
    let resolution = parse("resolution", &input.resolution);
    let mut req = GenerationRequest {
        prompt: input.prompt.trim().to_owned(),
        negative_prompt: input
            .negative_prompt
            .clone()
            .filter(|p| !p.trim().is_empty()),
        image,
        last_frame,
        fps: input.fps,
        seed: input.seed,
        audio: input.audio,
        extra: input.extra.clone(),
        ..GenerationRequest::default()
    };
    if let Some(secs) = input.duration {
        match VideoDuration::try_from_secs_f64(secs) {
            Some(d) => req.duration = Some(d),
            None => problems.push(Problem::new(
                "duration",
                secs.to_string(),
                "a positive number of seconds, such as 5",
            )),
        }
    }
    if let Some(a) = aspect {
        match a.parse::<AspectRatio>() {
            Ok(a) => req.aspect_ratio = Some(a),
            Err(e) => problems.extend(e.problems().iter().cloned()),
        }
    }
    if let Some(r) = resolution {
        match r.parse::<ResolutionSpec>() {
            Ok(r) => req.resolution = Some(r),
            Err(e) => problems.extend(e.problems().iter().cloned()),
        }
    }
    if req.prompt.is_empty() && req.image.is_none() {
        problems.push(Problem::new(
            "prompt",
            "\"\"",
            "a prompt (or an image to animate)",
        ));
    }
    if req.prompt.chars().count() > 4000 {
        problems.push(Problem::new(
            "prompt",
            format!("{} characters", req.prompt.chars().count()),
            "at most 4000 characters",
        ));
    }
    if problems.is_empty() {
        Ok(req)
    } else {
        Err(ttv::Error::invalid(problems).into())
    }
}

/// Runs job `id` in the worker pool once a place is free.
pub fn spawn_job(state: Shared, id: String) {
    let position = state.live.enqueue(&id);
    state.live.push(
        &id,
        "queued",
        json!({ "position": position, "where": "server" }),
    );
    tokio::spawn(async move {
        let permit = state.workers.clone().acquire_owned().await;
        state.live.dequeue(&id);
        let Ok(_permit) = permit else { return };
        if !state.accepting.load(Ordering::SeqCst) {
            // Shutting down: the job stays as it is, for the next start.
            return;
        }
        if state
            .records
            .get(&id)
            .await
            .ok()
            .flatten()
            .is_some_and(|r| r.cancelled)
        {
            return;
        }
        state.live.update(&id, |j| {
            j.running = true;
            j.critical = true;
            j.started_at = Some(Utc::now());
        });
        state.live.push(&id, "started", json!({}));
        let result = run_one(&state, &id).await;
        let job = match state.jobs.runner() {
            Ok(runner) => runner.find(&id).await.ok().flatten(),
            Err(_) => None,
        };
        let (event, data, slot) = match (&result, job.as_ref().map(|j| j.state)) {
            (_, Some(JobState::Done)) => ("done", json!({ "progress": 100 }), 0),
            (_, Some(JobState::Cancelled)) => ("cancelled", json!({}), 2),
            (Err(e), _) => ("failed", json!({ "error": e.to_string() }), 1),
            (Ok(()), state) => (
                "failed",
                json!({ "error": format!("the job ended as {}", state.map_or("unrecorded", |s| s.as_str())) }),
                1,
            ),
        };
        state.live.update(&id, |j| {
            j.running = false;
            j.critical = false;
            j.finished_at = Some(Utc::now());
            if let Err(e) = &result {
                j.error = Some(e.to_string());
            }
        });
        state.metrics.ended[slot].fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(()) => tracing::info!(job = %id, event, "job ended"),
            Err(e) => tracing::warn!(job = %id, error = %e, "job ended"),
        }
        state.live.push(&id, event, data);
    });
}

/// Takes job `id` to its end: carries on a job with a saved ticket (never submitting it
/// again), or runs the plan made when it was accepted (made again after a restart).
async fn run_one(state: &Shared, id: &str) -> ttv::Result<()> {
    let runner = state.jobs.runner()?;
    let cancel = state.live.cancel_handle(id);
    let live = &state.live;
    let sink = |step: ttv::Event| {
        let critical = match &step {
            ttv::Event::Submitted(_) | ttv::Event::Queued { .. } | ttv::Event::Running { .. } => {
                Some(false)
            }
            ttv::Event::Downloading { .. } | ttv::Event::Verifying => Some(true),
            ttv::Event::Validated(_) => None,
        };
        if let Some(c) = critical {
            live.update(id, |j| j.critical = c);
        }
        if let Some((event, data)) = from_step(live, id, &step) {
            live.push(id, event, data);
        }
    };
    let existing = runner.find(id).await?;
    match existing.as_ref().map(|j| j.state) {
        Some(JobState::Done | JobState::Failed | JobState::Cancelled | JobState::Unknown) => Ok(()),
        Some(
            JobState::Submitting | JobState::Submitted | JobState::Running | JobState::Downloading,
        ) => {
            tokio::select! {
                result = state.jobs.resume(id, &sink) => result.map(|_| ()),
                () = cancel.cancelled() => {
                    let job = runner.job(id).await?;
                    let backend = state.jobs.registry().get("job backend", &job.backend).ok();
                    runner.cancel(backend.as_deref(), id).await.map(|_| ())
                }
            }
        }
        None | Some(JobState::Created) => {
            let planned = state
                .plans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            let plan = match planned {
                Some(plan) => plan,
                None => replan(state, id).await?,
            };
            state.jobs.run(plan, &sink, &cancel).await.map(|_| ())
        }
    }
}

/// The plan of an accepted job after a restart, from its record and saved images.
async fn replan(state: &Shared, id: &str) -> ttv::Result<Plan> {
    let record = state
        .records
        .get(id)
        .await
        .map_err(|e| ttv::Error::io(format_args!("cannot read job {id}'s record"), e))?
        .ok_or_else(|| ttv::Error::new(ttv::ErrorKind::Io, format!("job {id} has no record")))?;
    let dir = state.records.inputs_dir();
    let (first, last) = (record.input.image.clone(), record.input.last_frame.clone());
    let (image, last_frame) = tokio::task::spawn_blocking(move || {
        let load = |field: &str, name: Option<String>| {
            name.map(|n| ImageInput::from_path(field, &dir.join(n)))
                .transpose()
        };
        Ok::<_, ttv::Error>((load("image", first)?, load("last_frame", last)?))
    })
    .await
    .map_err(|e| ttv::Error::new(ttv::ErrorKind::Io, e.to_string()))??;
    let request = to_request(&record.input, image, last_frame)
        .map_err(|e| ttv::Error::new(ttv::ErrorKind::InvalidRequest, e.message))?;
    let spec = spec_for(&record.input, request, id)
        .map_err(|e| ttv::Error::new(ttv::ErrorKind::InvalidRequest, e.message))?;
    state.jobs.plan(spec).await
}

/// Queues every accepted job that has not ended: those never started are planned again,
/// those with a ticket are carried on from it. Returns how many.
pub async fn resume_all(state: &Shared) -> ttv::Result<usize> {
    if state.queue {
        // Workers carry on the shared queue's jobs; a server in front of it runs none.
        return Ok(0);
    }
    let runner = state.jobs.runner()?;
    let store = runner.store().clone();
    let jobs: HashMap<String, JobState> = tokio::task::spawn_blocking(move || store.list(&[]))
        .await
        .map_err(|e| ttv::Error::new(ttv::ErrorKind::Io, e.to_string()))?
        .map_err(ttv::Error::from)?
        .into_iter()
        .map(|j| (j.id, j.state))
        .collect();
    let mut count = 0;
    let records = state
        .records
        .all()
        .await
        .map_err(|e| ttv::Error::io("cannot read the server's job records", e))?;
    for record in records {
        let pending = match jobs.get(&record.id) {
            None => !record.cancelled,
            Some(s) => matches!(
                s,
                JobState::Created
                    | JobState::Submitting
                    | JobState::Submitted
                    | JobState::Running
                    | JobState::Downloading
            ),
        };
        if pending {
            spawn_job(state.clone(), record.id.clone());
            count += 1;
        }
    }
    Ok(count)
}

/// Where a job is, in the terms every API maps from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a worker or the provider's queue.
    Queued,
    /// Being sent, or sent and not yet reported running.
    Started,
    /// Generating.
    Running,
    /// Fetching the video.
    Downloading,
    /// The video is ready.
    Done,
    /// It failed (or is unsettled: a paid request may have been sent).
    Failed,
    /// Cancelled.
    Cancelled,
}

/// Everything shown about a job.
#[derive(Debug, Clone)]
pub struct View {
    /// The server's record.
    pub record: Arc<Record>,
    /// The job store's row, once it has one.
    pub job: Option<Job>,
    /// Where it is.
    pub phase: Phase,
    /// Progress, 0 to 100.
    pub progress: u8,
    /// Its place in the server's queue.
    pub position: Option<usize>,
    /// Why it failed.
    pub error: Option<String>,
    /// When a worker took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl View {
    /// The view of `record` with its store row `job`.
    pub fn new(state: &AppState, record: Arc<Record>, job: Option<Job>) -> Self {
        let live = state.live.read(&record.id, |l| {
            (
                l.progress,
                l.error.clone(),
                l.started_at,
                l.finished_at,
                l.running,
            )
        });
        let (progress, live_error, started_at, finished_at, running) =
            live.unwrap_or((0, None, None, None, false));
        let position = state.live.position(&record.id);
        let phase = match job.as_ref().map(|j| j.state) {
            None if record.cancelled => Phase::Cancelled,
            None if live_error.is_some() => Phase::Failed,
            None | Some(JobState::Created) => {
                if running {
                    Phase::Started
                } else {
                    Phase::Queued
                }
            }
            Some(JobState::Submitting | JobState::Submitted) => Phase::Started,
            Some(JobState::Running) => Phase::Running,
            Some(JobState::Downloading) => Phase::Downloading,
            Some(JobState::Done) => Phase::Done,
            Some(JobState::Failed | JobState::Unknown) => Phase::Failed,
            Some(JobState::Cancelled) => Phase::Cancelled,
        };
        let error = match phase {
            Phase::Failed => job
                .as_ref()
                .and_then(|j| j.error.clone())
                .or(live_error)
                .or_else(|| Some("the job failed".into())),
            _ => None,
        };
        let progress = match phase {
            Phase::Done => 100,
            Phase::Queued => 0,
            _ => progress,
        };
        let finished_at = match phase {
            Phase::Done | Phase::Failed | Phase::Cancelled => {
                finished_at.or_else(|| job.as_ref().map(|j| j.updated_at))
            }
            _ => None,
        };
        Self {
            record,
            job,
            phase,
            progress,
            position,
            error,
            started_at,
            finished_at,
        }
    }

    /// The finished video's path.
    pub fn video(&self) -> Option<&std::path::Path> {
        match (self.phase, &self.job) {
            (Phase::Done, Some(job)) => Some(job.out.as_path()),
            _ => None,
        }
    }
}

/// The view of job `id` for `caller`: not found when it does not exist, is deleted or is
/// someone else's (a stranger learns nothing about other tokens' jobs).
pub async fn view(state: &Shared, caller: &Caller, id: &str) -> Result<View, ApiError> {
    let record = state
        .records
        .get(id)
        .await
        .map_err(ApiError::internal)?
        .filter(|r| !r.deleted && caller.may_see(&r.owner))
        .ok_or_else(|| ApiError::not_found(id))?;
    let runner = state.jobs.runner()?;
    let job = runner.find(id).await?;
    Ok(View::new(state, record, job))
}

/// Every job `caller` may see, newest first.
pub async fn views(state: &Shared, caller: &Caller) -> Result<Vec<View>, ApiError> {
    let runner = state.jobs.runner()?;
    let store = runner.store().clone();
    let mut jobs: HashMap<String, Job> = tokio::task::spawn_blocking(move || store.list(&[]))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::from(ttv::Error::from(e)))?
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect();
    let mut out: Vec<View> = state
        .records
        .all()
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|r| caller.may_see(&r.owner))
        .map(|r| {
            let job = jobs.remove(&r.id);
            View::new(state, r, job)
        })
        .collect();
    out.reverse();
    Ok(out)
}

/// Cancels job `id`: a queued job never runs; a running one is cancelled at the provider
/// (where the backend can) by the façade.
pub async fn cancel(state: &Shared, caller: &Caller, id: &str) -> Result<View, ApiError> {
    let v = view(state, caller, id).await?;
    match v.phase {
        Phase::Done | Phase::Failed | Phase::Cancelled => return Ok(v),
        _ => {}
    }
    let running = state.live.read(id, |j| j.running).unwrap_or(false);
    if running {
        state.live.cancel_handle(id).cancel();
        // Wait (briefly) for the run to record it.
        for _ in 0..200 {
            if !state.live.read(id, |j| j.running).unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    } else if v.job.is_none() {
        if state.queue {
            let store = state.jobs.runner()?.store().clone();
            let key = id.to_owned();
            let off = tokio::task::spawn_blocking(move || store.cancel_queued(&key))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| ApiError::from(ttv::Error::from(e)))?;
            if !off {
                return Err(ApiError::conflict(
                    "job_starting",
                    format!("a worker took job {id} just now; cancel it again in a moment"),
                ));
            }
        }
        let st = state.clone();
        let key = id.to_owned();
        tokio::task::spawn_blocking(move || st.records.cancel(&key))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        state
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        state.live.push(id, "cancelled", json!({}));
    } else {
        let runner = state.jobs.runner()?;
        let backend = v
            .job
            .as_ref()
            .and_then(|j| state.jobs.registry().get("job backend", &j.backend).ok());
        runner.cancel(backend.as_deref(), id).await?;
        state.live.push(id, "cancelled", json!({}));
    }
    view(state, caller, id).await
}
