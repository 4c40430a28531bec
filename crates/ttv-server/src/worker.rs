//! `ttv worker`: runs the jobs a server queued in a shared job store (PostgreSQL), as one of
//! many workers on many machines.
//!
//! A worker claims a job ([`ttv::store::Store::claim`], `FOR UPDATE SKIP LOCKED`), holds it
//! under a lease it renews while it works, and runs it through the job façade like every other
//! front end: a job the store has never seen is planned from its payload and run
//! ([`Jobs::run`]); a job the store has with a saved ticket is carried on from it
//! ([`Jobs::resume`]), never submitted again; a job caught mid-submit goes to `unknown` there,
//! exactly as after any crash. A worker that dies stops renewing its lease and another worker
//! picks the job up once it has run out. A worker that loses its lease (it stalled past it)
//! stops working on the job at once. Idle workers wait on PostgreSQL's `LISTEN`, so a new job
//! starts within milliseconds without busy polling.
//!
//! On [`Worker::drain`] (SIGTERM) a worker claims nothing more, hands the jobs that are only
//! waiting on the provider back to the queue at once (the next worker polls their tickets),
//! and lets paid submits and downloads in flight finish within a grace period.
//!
//! The worker serves `/healthz` and Prometheus `/metrics` on its own small HTTP listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use ttv::facade::{Cancel, Jobs, Outcome};
use ttv::store::{Claimed, JobState, Store};

use crate::queue::Payload;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The worker's name in the queue (who holds a lease); unique per process.
    pub name: String,
    /// Jobs this worker runs at once.
    pub jobs: usize,
    /// How long a claim holds without a heartbeat; heartbeats go every third of it.
    pub lease: Duration,
    /// How often an idle worker looks at the queue when nothing wakes it (SQLite has no
    /// `LISTEN`; on PostgreSQL this only bounds a missed notification).
    pub idle_poll: Duration,
    /// Jobs all workers together may hold at once (`limits.max_jobs`); unlimited when `None`.
    pub max_in_flight: Option<u32>,
    /// How long a drain waits for submits and downloads in flight.
    pub grace: Duration,
    /// Where `/healthz` and `/metrics` are served; `None` serves nothing.
    pub listen: Option<SocketAddr>,
}

impl WorkerOptions {
    /// Defaults: a name from the host and process, 4 jobs at once, a 30 s lease, a 5 s idle
    /// poll, a 30 s grace period, no HTTP listener.
    pub fn new() -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".into());
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            name: format!("{host}-{}-{}", std::process::id(), &tag[..6]),
            jobs: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(5),
            max_in_flight: None,
            grace: Duration::from_secs(30),
            listen: None,
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Buckets of the claim latency histogram, in seconds.
const CLAIM_BUCKETS: [f64; 8] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];
/// Buckets of the job duration histogram, in seconds.
const JOB_BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0];

/// A Prometheus histogram: cumulative bucket counts, a count and a sum.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], secs: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets = vec![0; bounds.len()];
        }
        for (slot, bound) in self.buckets.iter_mut().zip(bounds) {
            if secs <= *bound {
                *slot += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.buckets.get(i).copied().unwrap_or(0);
            out.push_str(&format!(
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}\n",
            self.count
        ));
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        out.push_str(&format!("{name}_sum{braces} {}\n", self.sum));
        out.push_str(&format!("{name}_count{braces} {}\n", self.count));
    }
}

/// What a worker counts.
#[derive(Debug, Default)]
struct Counters {
    claims: AtomicU64,
    empty_claims: AtomicU64,
    leases_lost: AtomicU64,
    released: AtomicU64,
    claim_latency: Mutex<Histogram>,
    /// By backend: how long jobs took.
    job_seconds: Mutex<BTreeMap<String, Histogram>>,
    /// By (backend, error kind): jobs that ended in an error.
    job_errors: Mutex<BTreeMap<(String, String), u64>>,
    /// By final state: jobs this worker finished.
    finished: Mutex<BTreeMap<String, u64>>,
}

struct Inner {
    jobs: Jobs,
    store: Store,
    opts: WorkerOptions,
    slots: Arc<Semaphore>,
    wake: Notify,
    draining: CancellationToken,
    stopped: CancellationToken,
    running: AtomicU64,
    counters: Counters,
    started: Instant,
    healthy: AtomicBool,
}

/// A running worker.
pub struct Worker {
    inner: Arc<Inner>,
    addr: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Starts claiming and running jobs from `jobs`' store (which must have one). Serves
    /// `/healthz` and `/metrics` when `opts.listen` is set.
    pub async fn start(jobs: Jobs, opts: WorkerOptions) -> ttv::Result<Self> {
        let store = jobs.runner()?.store().clone();
        let inner = Arc::new(Inner {
            slots: Arc::new(Semaphore::new(opts.jobs.max(1))),
            store,
            jobs,
            opts,
            wake: Notify::new(),
            draining: CancellationToken::new(),
            stopped: CancellationToken::new(),
            running: AtomicU64::new(0),
            counters: Counters::default(),
            started: Instant::now(),
            healthy: AtomicBool::new(true),
        });
        let mut tasks = Vec::new();
        let mut addr = None;
        if let Some(listen) = inner.opts.listen {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| ttv::Error::io(format_args!("cannot listen on {listen}"), e))?;
            addr = listener.local_addr().ok();
            let app = axum::Router::new()
                .route("/healthz", axum::routing::get(healthz))
                .route("/metrics", axum::routing::get(metrics))
                .with_state(inner.clone());
            let stopped = inner.stopped.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stopped.cancelled().await })
                    .await;
            }));
        }
        tasks.push(tokio::spawn(listen_for_jobs(inner.clone())));
        tasks.push(tokio::spawn(claim_loop(inner.clone())));
        tracing::info!(worker = %inner.opts.name, store = %inner.store.path(), "worker started");
        Ok(Self { inner, addr, tasks })
    }

    /// Where `/healthz` and `/metrics` are served.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The worker's name in the queue.
    pub fn name(&self) -> &str {
        &self.inner.opts.name
    }

    /// Stops claiming, hands jobs that only wait on the provider back to the queue, lets
    /// submits and downloads in flight finish within the grace period, and hands back what
    /// is left after it. Returns when every job has ended or been handed back.
    pub async fn drain(self) {
        let inner = &self.inner;
        inner.draining.cancel();
        inner.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + inner.opts.grace;
        while inner.running.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Past the grace period: whatever still runs is handed back.
        inner.stopped.cancel();
        while inner.running.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for task in self.tasks {
            task.abort();
        }
        tracing::info!(worker = %inner.opts.name, "worker stopped");
    }
}

/// Forwards PostgreSQL's notifications of queued jobs to idle claimers.
async fn listen_for_jobs(inner: Arc<Inner>) {
    let store = inner.store.clone();
    let listener = match tokio::task::spawn_blocking(move || store.listen()).await {
        Ok(Ok(Some(l))) => l,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for queued jobs; looking at the queue at an interval");
            return;
        }
        Err(_) => return,
    };
    let listener = Arc::new(Mutex::new(listener));
    while !inner.draining.is_cancelled() {
        let l = listener.clone();
        let woken = tokio::task::spawn_blocking(move || {
            l.lock()
                .unwrap_or_else(|p| p.into_inner())
                .wait(Duration::from_millis(500))
        })
        .await;
        match woken {
            Ok(Ok(true)) => inner.wake.notify_waiters(),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lost the queue's notifications; looking at an interval");
                return;
            }
            Err(_) => return,
        }
    }
}

async fn claim_loop(inner: Arc<Inner>) {
    loop {
        let Ok(permit) = inner.slots.clone().acquire_owned().await else {
            return;
        };
        if inner.draining.is_cancelled() {
            return;
        }
        let (store, name, lease, max) = (
            inner.store.clone(),
            inner.opts.name.clone(),
            inner.opts.lease,
            inner.opts.max_in_flight,
        );
        // Registered before the claim, so a notification sent while it runs is not lost.
        let woken = inner.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let started = Instant::now();
        let claimed = tokio::task::spawn_blocking(move || store.claim(&name, lease, max)).await;
        inner
            .counters
            .claim_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(&CLAIM_BUCKETS, started.elapsed().as_secs_f64());
        match claimed {
            Ok(Ok(Some(job))) => {
                inner.healthy.store(true, Ordering::SeqCst);
                inner.counters.claims.fetch_add(1, Ordering::Relaxed);
                inner.running.fetch_add(1, Ordering::SeqCst);
                let inner = inner.clone();
                tokio::spawn(async move {
                    run_claimed(&inner, job).await;
                    inner.running.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                });
            }
            Ok(Ok(None)) => {
                inner.healthy.store(true, Ordering::SeqCst);
                inner.counters.empty_claims.fetch_add(1, Ordering::Relaxed);
                drop(permit);
                tokio::select! {
                    () = &mut woken => {}
                    () = tokio::time::sleep(inner.opts.idle_poll) => {}
                    () = inner.draining.cancelled() => return,
                }
            }
            Ok(Err(e)) => {
                inner.healthy.store(false, Ordering::SeqCst);
                tracing::warn!(error = %e, "cannot claim from the queue; trying again");
                drop(permit);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = inner.draining.cancelled() => return,
                }
            }
            Err(_) => return,
        }
    }
}

/// Why a worker stopped working on a job before it ended.
enum LetGo {
    /// Its lease is another worker's now.
    LeaseLost,
    /// Draining or stopping: hand it back.
    HandBack,
}

async fn run_claimed(inner: &Arc<Inner>, claimed: Claimed) {
    let id = claimed.id.clone();
    let name = inner.opts.name.clone();
    tracing::info!(job = %id, claims = claimed.claims, "claimed");
    let started = Instant::now();
    let work = run_job(inner, &claimed);
    tokio::pin!(work);
    let mut beat = tokio::time::interval(inner.opts.lease / 3);
    beat.tick().await;
    let ended: Result<ttv::Result<Option<(JobState, String)>>, LetGo> = loop {
        tokio::select! {
            result = &mut work => break Ok(result),
            _ = beat.tick() => {
                let (store, key, owner, lease) = (inner.store.clone(), id.clone(), name.clone(), inner.opts.lease);
                match tokio::task::spawn_blocking(move || store.heartbeat(&key, &owner, lease)).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => break Err(LetGo::LeaseLost),
                    // The database is away: keep working; the lease may still be ours.
                    Ok(Err(e)) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                    Err(_) => {}
                }
            }
            () = inner.draining.cancelled(), if !inner.draining.is_cancelled() => {
                // Let it go at once when it only waits on the provider; the next worker polls
                // its ticket. Paid submits and downloads in flight go on.
                if waits_on_provider(inner, &id).await {
                    break Err(LetGo::HandBack);
                }
            }
            () = inner.stopped.cancelled() => break Err(LetGo::HandBack),
        }
    };
    // The job's future is dropped here when it did not end: its state stays in the store.
    // A run that ended well already says where the job is; anything else is read.
    let state = match &ended {
        Ok(Ok(Some(known))) => Some(known.clone()),
        _ => job_state(inner, &id).await,
    };
    let ended = ended.map(|result| result.map(|_| ()));
    let backend = state
        .as_ref()
        .map_or_else(|| "unplanned".to_owned(), |(_, b)| b.clone());
    match ended {
        Err(LetGo::LeaseLost) => {
            inner.counters.leases_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %id, "lost the lease (another worker holds the job now); stopped working on it");
        }
        Err(LetGo::HandBack) => {
            inner.counters.released.fetch_add(1, Ordering::Relaxed);
            let (store, key, owner) = (inner.store.clone(), id.clone(), name.clone());
            let _ = tokio::task::spawn_blocking(move || store.release(&key, &owner)).await;
            tracing::info!(job = %id, "handed back to the queue");
        }
        Ok(result) => {
            if let Err(e) = &result {
                *inner
                    .counters
                    .job_errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry((backend.clone(), format!("{:?}", e.kind())))
                    .or_default() += 1;
            }
            let outcome = state.as_ref().map(|(s, _)| *s);
            match outcome {
                // Carried on elsewhere: the job is not over (a poll failed, or another ttv
                // process ran it just now); hand it back after a pause.
                Some(s) if !s.is_terminal() && s != JobState::Unknown && claimed.claims < 20 => {
                    if let Err(e) = &result {
                        tracing::warn!(job = %id, state = %s, error = %e, "job not finished; handing it back");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    inner.counters.released.fetch_add(1, Ordering::Relaxed);
                    let (store, key, owner) = (inner.store.clone(), id.clone(), name.clone());
                    let _ = tokio::task::spawn_blocking(move || store.release(&key, &owner)).await;
                }
                _ => {
                    let word = outcome.map_or("failed", JobState::as_str);
                    *inner
                        .counters
                        .finished
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(word.to_owned())
                        .or_default() += 1;
                    inner
                        .counters
                        .job_seconds
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(backend)
                        .or_default()
                        .observe(&JOB_BUCKETS, started.elapsed().as_secs_f64());
                    let (store, key, owner) = (inner.store.clone(), id.clone(), name.clone());
                    let _ =
                        tokio::task::spawn_blocking(move || store.finish(&key, &owner, word)).await;
                    match &result {
                        Ok(()) => tracing::info!(job = %id, outcome = word, "job ended"),
                        Err(e) => {
                            tracing::warn!(job = %id, outcome = word, error = %e, "job ended")
                        }
                    }
                }
            }
        }
    }
}

/// The job's state and backend in the store, if it has a row.
async fn job_state(inner: &Inner, id: &str) -> Option<(JobState, String)> {
    let runner = inner.jobs.runner().ok()?;
    let job = runner.find(id).await.ok()??;
    Some((job.state, job.backend))
}

async fn waits_on_provider(inner: &Inner, id: &str) -> bool {
    matches!(
        job_state(inner, id).await,
        Some((JobState::Submitted | JobState::Running, _))
    )
}

/// Takes the claimed job to its end through the façade; returns its state and backend
/// when the run says what they are.
async fn run_job(inner: &Inner, claimed: &Claimed) -> ttv::Result<Option<(JobState, String)>> {
    let id = claimed.id.as_str();
    let runner = inner.jobs.runner()?;
    let sink = |_: ttv::Event| {};
    let known = runner.find(id).await?;
    let outcome = match known.as_ref().map(|j| j.state) {
        Some(
            state @ (JobState::Done | JobState::Failed | JobState::Cancelled | JobState::Unknown),
        ) => return Ok(known.map(|j| (state, j.backend))),
        Some(
            JobState::Submitting | JobState::Submitted | JobState::Running | JobState::Downloading,
        ) => inner.jobs.resume(id, &sink).await?,
        None | Some(JobState::Created) => {
            let payload: Payload =
                serde_json::from_value(claimed.payload.clone()).map_err(|e| {
                    ttv::Error::new(
                        ttv::ErrorKind::InvalidRequest,
                        format!("queued job {id} has an unreadable payload: {e}"),
                    )
                })?;
            // The job as just read: the plan need not read it again.
            let plan = payload.plan_knowing(&inner.jobs, Some(known)).await?;
            inner.jobs.run(plan, &sink, &Cancel::new()).await?
        }
    };
    Ok(Some(match outcome {
        Outcome::Made(made) => (JobState::Done, made.selection.backend.id().to_owned()),
        Outcome::AlreadyDone(done) => (done.job.state, done.job.backend.clone()),
    }))
}

/// `GET /healthz`: 200 while the worker reaches the store and takes jobs.
async fn healthz(State(inner): State<Arc<Inner>>) -> axum::response::Response {
    let healthy = inner.healthy.load(Ordering::SeqCst);
    let draining = inner.draining.is_cancelled();
    let code = if healthy && !draining {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if !healthy { "unhealthy" } else if draining { "draining" } else { "healthy" },
        "worker": inner.opts.name,
        "running": inner.running.load(Ordering::SeqCst),
        "store": inner.store.engine(),
    });
    (code, axum::Json(body)).into_response()
}

/// A metric's `HELP` and `TYPE` lines.
fn head(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(inner): State<Arc<Inner>>) -> axum::response::Response {
    let store = inner.store.clone();
    let shared = tokio::task::spawn_blocking(move || {
        Ok::<_, ttv::store::StoreError>((
            store.state_counts()?,
            store.queue_counts()?,
            store.ledger()?,
        ))
    })
    .await;
    let mut out = String::new();
    if let Ok(Ok((states, queue, ledger))) = shared {
        head(
            &mut out,
            "ttv_jobs",
            "Jobs in the shared store, by state.",
            "gauge",
        );
        for state in JobState::ALL {
            let n = states
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            out.push_str(&format!("ttv_jobs{{state=\"{state}\"}} {n}\n"));
        }
        head(
            &mut out,
            "ttv_queue_jobs",
            "Rows of the shared queue, by state.",
            "gauge",
        );
        for state in ["queued", "claimed", "finished"] {
            let n = queue
                .iter()
                .find(|(s, _)| s.as_str() == state)
                .map_or(0, |(_, n)| *n);
            out.push_str(&format!("ttv_queue_jobs{{state=\"{state}\"}} {n}\n"));
        }
        head(
            &mut out,
            "ttv_spend_usd",
            "What jobs in the shared store cost (charged, else estimated once submitted), by backend.",
            "gauge",
        );
        let mut by_backend: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &ledger {
            *by_backend.entry(e.backend.as_str()).or_default() += e.usd_micros;
        }
        for (backend, micros) in by_backend {
            out.push_str(&format!(
                "ttv_spend_usd{{backend=\"{backend}\"}} {}\n",
                micros as f64 / 1e6
            ));
        }
    }
    let c = &inner.counters;
    let single: [(&str, &str, &str, u64); 5] = [
        (
            "ttv_worker_claims_total",
            "Claims that took a job.",
            "counter",
            c.claims.load(Ordering::Relaxed),
        ),
        (
            "ttv_worker_empty_claims_total",
            "Claims that found nothing to take.",
            "counter",
            c.empty_claims.load(Ordering::Relaxed),
        ),
        (
            "ttv_worker_leases_lost_total",
            "Jobs this worker stopped because its lease ran out.",
            "counter",
            c.leases_lost.load(Ordering::Relaxed),
        ),
        (
            "ttv_worker_released_total",
            "Jobs handed back to the queue (draining, or not finished).",
            "counter",
            c.released.load(Ordering::Relaxed),
        ),
        (
            "ttv_worker_running",
            "Jobs this worker runs now.",
            "gauge",
            inner.running.load(Ordering::SeqCst),
        ),
    ];
    for (name, help, kind, value) in single {
        head(&mut out, name, help, kind);
        out.push_str(&format!("{name} {value}\n"));
    }
    head(
        &mut out,
        "ttv_worker_claim_seconds",
        "How long a claim took (one round to the store).",
        "histogram",
    );
    c.claim_latency
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .render(&mut out, "ttv_worker_claim_seconds", "", &CLAIM_BUCKETS);
    head(
        &mut out,
        "ttv_worker_job_seconds",
        "How long jobs took from claim to end (provider latency included), by backend.",
        "histogram",
    );
    for (backend, h) in c
        .job_seconds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        h.render(
            &mut out,
            "ttv_worker_job_seconds",
            &format!("backend=\"{backend}\""),
            &JOB_BUCKETS,
        );
    }
    head(
        &mut out,
        "ttv_worker_job_errors_total",
        "Jobs that ended in an error, by backend and error kind.",
        "counter",
    );
    for ((backend, kind), n) in c
        .job_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        out.push_str(&format!(
            "ttv_worker_job_errors_total{{backend=\"{backend}\",kind=\"{kind}\"}} {n}\n"
        ));
    }
    head(
        &mut out,
        "ttv_worker_jobs_finished_total",
        "Jobs this worker finished, by final state.",
        "counter",
    );
    for (state, n) in c.finished.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        out.push_str(&format!(
            "ttv_worker_jobs_finished_total{{state=\"{state}\"}} {n}\n"
        ));
    }
    head(
        &mut out,
        "ttv_worker_uptime_seconds",
        "Seconds since the worker started.",
        "gauge",
    );
    out.push_str(&format!(
        "ttv_worker_uptime_seconds {}\n",
        inner.started.elapsed().as_secs()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
