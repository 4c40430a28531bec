//! The simulator's memory: jobs with timer-based lifecycles, fault decisions, and the request
//! log. Protocol modules read and write it; none of them keeps state of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use ttv::Resolution;

use crate::Provider;
use crate::config::{Counters, Endpoint, FaultKind, FaultRule, SimConfig};
use crate::video::VideoCache;

/// One request the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Which provider's protocol it addressed, when any.
    pub provider: Option<Provider>,
    /// Which kind of call it was, when recognised.
    pub endpoint: Option<Endpoint>,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query string, when any.
    pub query: Option<String>,
    /// Request headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Request body as text.
    pub body: String,
    /// Status sent back (0 when the connection was dropped before a status).
    pub status: u16,
    /// Whether the call created a billable task.
    pub paid: bool,
}

impl Record {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A fault the simulator applied: which call of which provider got what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fired {
    /// The provider whose protocol answered.
    pub provider: Provider,
    /// The kind of call.
    pub endpoint: Endpoint,
    /// Which such call it was for this provider (1-based).
    pub nth: u32,
    /// What was done to it.
    pub fault: FaultKind,
}

/// What a provider that lists its received requests (fal's platform API) keeps of a submit.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// The job created.
    pub id: String,
    /// The endpoint (fal app id, with its sub-path) it was sent to.
    pub endpoint_id: String,
    /// The request body.
    pub input: serde_json::Value,
    /// When it arrived.
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Success,
    Failure,
    Moderated,
}

/// One simulated task.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: String,
    pub provider: Provider,
    pub created: Instant,
    pub queue: Duration,
    pub run: Duration,
    pub ending: Ending,
    pub cancelled: bool,
    pub size: Resolution,
    pub duration_secs: u32,
    /// fal: `owner/alias` of the app. Vertex: the `storageUri` outputs go to, when any.
    pub app: String,
}

/// Where a job is now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    Queued { position: u32 },
    Running { progress: f32 },
    Succeeded,
    Failed,
    Moderated,
    Cancelled,
}

impl Job {
    pub fn finished_at(&self) -> Instant {
        self.created + self.queue + self.run
    }
}

pub(crate) struct State {
    pub config: SimConfig,
    /// `http://127.0.0.1:PORT`.
    pub root: String,
    epoch: Instant,
    jobs: Mutex<HashMap<String, Job>>,
    records: Mutex<Vec<Record>>,
    counters: Mutex<Counters>,
    fired: Mutex<Vec<Fired>>,
    submissions: Mutex<Vec<Submission>>,
    numeric_ids: AtomicU64,
    /// Vertex access tokens handed out, with their expiry.
    tokens: Mutex<HashMap<String, Instant>>,
    pub videos: VideoCache,
}

impl State {
    pub fn new(config: SimConfig, root: String) -> Self {
        let fps = if config.video_fps == 0 {
            8
        } else {
            config.video_fps
        };
        let max_side = config.video_max_side;
        Self {
            config,
            root,
            epoch: Instant::now(),
            jobs: Mutex::new(HashMap::new()),
            records: Mutex::new(Vec::new()),
            counters: Mutex::new(Counters::default()),
            fired: Mutex::new(Vec::new()),
            submissions: Mutex::new(Vec::new()),
            numeric_ids: AtomicU64::new(106_916_112_212_032),
            tokens: Mutex::new(HashMap::new()),
            videos: VideoCache::new(fps, max_side),
        }
    }

    /// A MiniMax-style numeric id.
    pub fn numeric_id(&self) -> String {
        self.numeric_ids.fetch_add(1, Ordering::Relaxed).to_string()
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn clear_records(&self) {
        if let Ok(mut r) = self.records.lock() {
            r.clear();
        }
    }

    pub fn record(&self, record: Record) {
        if let Ok(mut r) = self.records.lock() {
            r.push(record);
        }
    }

    /// The fault to inject on this call, if any, logged as fired. Every call counts towards
    /// `nth`.
    pub fn fault(&self, provider: Provider, on: Endpoint) -> Option<FaultRule> {
        let n = self.counters.lock().ok()?.next(provider, on);
        let rule = self
            .config
            .knobs(provider)
            .faults
            .iter()
            .filter(|r| r.on == on && r.nth.is_none_or(|k| k == n))
            .find(|r| r.probability.is_none_or(|p| chance() < p))
            .cloned()?;
        if let Ok(mut fired) = self.fired.lock() {
            fired.push(Fired {
                provider,
                endpoint: on,
                nth: n,
                fault: rule.fault,
            });
        }
        Some(rule)
    }

    /// Every fault applied so far, oldest first.
    pub fn faults_fired(&self) -> Vec<Fired> {
        self.fired.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Keeps what a submit carried, for providers that list received requests.
    pub fn keep_submission(&self, submission: Submission) {
        if let Ok(mut all) = self.submissions.lock() {
            all.push(submission);
        }
    }

    /// Every kept submission, oldest first.
    pub fn submissions(&self) -> Vec<Submission> {
        self.submissions
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Hands out a Vertex access token valid for `ttl`.
    pub fn issue_token(&self, ttl: Duration) -> String {
        let token = format!("ya29.sim-{}", uuid::Uuid::new_v4().simple());
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(token.clone(), Instant::now() + ttl);
        }
        token
    }

    /// Whether `token` was handed out and has not expired.
    pub fn token_ok(&self, token: Option<&str>) -> bool {
        let Some(token) = token else { return false };
        self.tokens
            .lock()
            .ok()
            .and_then(|t| t.get(token).copied())
            .is_some_and(|expiry| Instant::now() < expiry)
    }

    /// Whether `key` is accepted.
    pub fn key_ok(&self, key: Option<&str>) -> bool {
        match (key, &self.config.api_key) {
            (Some(k), Some(want)) => k == want,
            (Some(k), None) => !k.trim().is_empty(),
            (None, _) => false,
        }
    }

    /// Creates a job with the provider's knobs. A `task_failure` or `moderation` fault drawn
    /// for this submit, or any such `poll` rule, decides that it ends badly.
    pub fn create(
        &self,
        provider: Provider,
        id: String,
        size: Resolution,
        duration_secs: u32,
        app: String,
        submit_fault: Option<&FaultRule>,
    ) -> Job {
        let knobs = self.config.knobs(provider);
        let poll_rules = knobs
            .faults
            .iter()
            .filter(|r| r.on == Endpoint::Poll && r.probability.is_none_or(|p| chance() < p));
        let ending = submit_fault
            .into_iter()
            .chain(poll_rules)
            .find_map(|r| match r.fault {
                FaultKind::TaskFailure => Some(Ending::Failure),
                FaultKind::Moderation => Some(Ending::Moderated),
                _ => None,
            })
            .unwrap_or(Ending::Success);
        let job = Job {
            id: id.clone(),
            provider,
            created: Instant::now(),
            queue: knobs.queue(),
            run: knobs.run(),
            ending,
            cancelled: false,
            size,
            duration_secs,
            app,
        };
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(id, job.clone());
        }
        job
    }

    /// The ids of `provider`'s tasks, oldest first (its dashboard's task list).
    pub fn task_ids(&self, provider: Provider) -> Vec<String> {
        let Ok(jobs) = self.jobs.lock() else {
            return Vec::new();
        };
        let mut tasks: Vec<_> = jobs.values().filter(|j| j.provider == provider).collect();
        tasks.sort_by_key(|j| j.created);
        tasks.into_iter().map(|j| j.id.clone()).collect()
    }

    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs.lock().ok()?.get(id).cloned()
    }

    /// Marks a job cancelled; `false` when it had already finished or is unknown.
    pub fn cancel(&self, id: &str) -> Option<bool> {
        let mut jobs = self.jobs.lock().ok()?;
        let job = jobs.get_mut(id)?;
        if Instant::now() >= job.finished_at() {
            return Some(false);
        }
        job.cancelled = true;
        Some(true)
    }

    /// Where `job` is now. The queue position counts earlier jobs of the same provider that
    /// are still queued.
    pub fn phase(&self, job: &Job) -> Phase {
        let now = Instant::now();
        if job.cancelled {
            return Phase::Cancelled;
        }
        let started = job.created + job.queue;
        if now < started {
            let position = self
                .jobs
                .lock()
                .map(|jobs| {
                    jobs.values()
                        .filter(|j| {
                            j.provider == job.provider
                                && j.created < job.created
                                && !j.cancelled
                                && now < j.created + j.queue
                        })
                        .count() as u32
                })
                .unwrap_or(0);
            return Phase::Queued { position };
        }
        if now < job.finished_at() {
            let done = (now - started).as_secs_f32() / job.run.as_secs_f32().max(1e-3);
            return Phase::Running {
                progress: done.clamp(0.0, 0.99),
            };
        }
        match job.ending {
            Ending::Success => Phase::Succeeded,
            Ending::Failure => Phase::Failed,
            Ending::Moderated => Phase::Moderated,
        }
    }

    /// A download URL for a finished job, valid for the provider's output TTL.
    pub fn output_url(&self, job: &Job) -> String {
        let now = Instant::now();
        let ttl = self.config.knobs(job.provider).output_ttl_secs.max(0.0);
        let expires = (now + Duration::from_secs_f64(ttl)).saturating_duration_since(self.epoch);
        format!(
            "{}/files/{}.mp4?expires={}",
            self.root,
            job.id,
            expires.as_millis()
        )
    }

    /// Whether a URL's `expires` value has passed.
    pub fn expired(&self, expires_ms: u64) -> bool {
        Instant::now().saturating_duration_since(self.epoch) >= Duration::from_millis(expires_ms)
    }
}

/// A number in 0..1 from the system's randomness.
fn chance() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}
