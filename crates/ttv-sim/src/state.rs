//! The simulator's memory: jobs with timer-based lifecycles, fault decisions, the request log
//! and the clock its times are read from. Protocol modules read and write it; none of them
//! keeps state of its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::time::Instant;
use ttv::Resolution;

use crate::Provider;
use crate::config::{Counters, Endpoint, FaultKind, FaultRule, SimConfig};
use crate::log::{Outcome, Record, SimTime, TaskTimeline};
use crate::video::VideoCache;

/// A fault the simulator applied: which call of which provider got what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// When a client cancelled it before it finished.
    pub cancelled_at: Option<Instant>,
    /// When a client deleted it after it finished; a deleted job is unknown to protocol calls.
    pub deleted_at: Option<Instant>,
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

    pub fn started_at(&self) -> Instant {
        self.created + self.queue
    }
}

pub(crate) struct State {
    pub config: SimConfig,
    /// `http://127.0.0.1:PORT`.
    pub root: String,
    epoch: Instant,
    /// Wall-clock time at `epoch`.
    epoch_utc: DateTime<Utc>,
    jobs: Mutex<HashMap<String, Job>>,
    records: Mutex<Vec<Record>>,
    counters: Mutex<Counters>,
    fired: Mutex<Vec<Fired>>,
    submissions: Mutex<Vec<Submission>>,
    numeric_ids: AtomicU64,
    /// How many run-time draws were made (the position in the seeded sequence).
    draws: AtomicU64,
    /// Seed of the run-time draws.
    seed: u64,
    /// Vertex access tokens handed out, with their expiry.
    tokens: Mutex<HashMap<String, Instant>>,
    /// Files received by the providers' upload endpoints, by id.
    uploaded: Mutex<HashMap<String, Uploaded>>,
    /// Webhook calls made to clients.
    webhooks: Mutex<Vec<crate::webhooks::WebhookSent>>,
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
        let seed = config
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u64);
        Self {
            config,
            root,
            epoch: Instant::now(),
            epoch_utc: Utc::now().trunc_subsecs(6),
            jobs: Mutex::new(HashMap::new()),
            records: Mutex::new(Vec::new()),
            counters: Mutex::new(Counters::default()),
            fired: Mutex::new(Vec::new()),
            submissions: Mutex::new(Vec::new()),
            numeric_ids: AtomicU64::new(106_916_112_212_032),
            draws: AtomicU64::new(0),
            seed,
            tokens: Mutex::new(HashMap::new()),
            uploaded: Mutex::new(HashMap::new()),
            webhooks: Mutex::new(Vec::new()),
            videos: VideoCache::new(fps, max_side),
        }
    }

    /// The seed of the simulator's draws (run times, keys).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Logs a webhook call made to a client.
    pub fn log_webhook(&self, sent: crate::webhooks::WebhookSent) {
        if let Ok(mut w) = self.webhooks.lock() {
            w.push(sent);
        }
    }

    /// Every webhook call made so far, oldest first.
    pub fn webhooks_sent(&self) -> Vec<crate::webhooks::WebhookSent> {
        self.webhooks.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// A MiniMax-style numeric id.
    pub fn numeric_id(&self) -> String {
        self.numeric_ids.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Now, on the simulator's clock.
    pub fn now(&self) -> SimTime {
        self.time(Instant::now())
    }

    /// `at` on the simulator's clock.
    fn time(&self, at: Instant) -> SimTime {
        // Whole microseconds, the log's unit, so a time survives a trip through its JSON.
        let since_start = Duration::from_micros(
            u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX),
        );
        let utc = chrono::Duration::from_std(since_start)
            .ok()
            .and_then(|d| self.epoch_utc.checked_add_signed(d))
            .unwrap_or(self.epoch_utc);
        SimTime { since_start, utc }
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
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let (zq, zr) = normal_pair(self.seed, n);
        let scale = self.config.scale();
        let job = Job {
            id: id.clone(),
            provider,
            created: Instant::now(),
            queue: Duration::from_secs_f64(knobs.queue_model_secs(zq) / scale),
            run: Duration::from_secs_f64(knobs.run_model_secs(zr) / scale),
            ending,
            cancelled_at: None,
            deleted_at: None,
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

    /// The job `id`, unless it is unknown or was deleted.
    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs
            .lock()
            .ok()?
            .get(id)
            .filter(|j| j.deleted_at.is_none())
            .cloned()
    }

    /// Marks a job cancelled; `false` when it had already finished; `None` when unknown.
    pub fn cancel(&self, id: &str) -> Option<bool> {
        let mut jobs = self.jobs.lock().ok()?;
        let job = jobs.get_mut(id).filter(|j| j.deleted_at.is_none())?;
        let now = Instant::now();
        if job.cancelled_at.is_some() {
            return Some(true);
        }
        if now >= job.finished_at() {
            return Some(false);
        }
        job.cancelled_at = Some(now);
        Some(true)
    }

    /// Cancels a job that is still queued or running (it stays readable, as cancelled), else
    /// deletes it (it becomes unknown); `false` when it is unknown already.
    pub fn cancel_or_delete(&self, id: &str) -> bool {
        let Ok(mut jobs) = self.jobs.lock() else {
            return false;
        };
        let Some(job) = jobs.get_mut(id).filter(|j| j.deleted_at.is_none()) else {
            return false;
        };
        let now = Instant::now();
        if job.cancelled_at.is_none() && now < job.finished_at() {
            job.cancelled_at = Some(now);
        } else {
            job.deleted_at = Some(now);
        }
        true
    }

    /// Every task's state changes so far, oldest submit first.
    pub fn timelines(&self) -> Vec<TaskTimeline> {
        let now = Instant::now();
        let mut jobs: Vec<Job> = self
            .jobs
            .lock()
            .map(|jobs| jobs.values().cloned().collect())
            .unwrap_or_default();
        jobs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        jobs.iter().map(|job| self.timeline(job, now)).collect()
    }

    /// One task's state changes so far, deleted tasks included.
    pub fn task_timeline(&self, id: &str) -> Option<TaskTimeline> {
        let job = self.jobs.lock().ok()?.get(id).cloned()?;
        Some(self.timeline(&job, Instant::now()))
    }

    /// The state changes of `job` that have happened by `now`. Lifecycles are timer-based, so
    /// the times are the timers' (submit + queue, + run), not the moments a poll observed.
    fn timeline(&self, job: &Job, now: Instant) -> TaskTimeline {
        let started = job.started_at();
        let finished = job.finished_at();
        let (running, done, outcome) = match job.cancelled_at {
            Some(c) => (
                (started <= c).then_some(started),
                Some(c),
                Some(Outcome::Cancelled),
            ),
            None => (
                (started <= now).then_some(started),
                (finished <= now).then_some(finished),
                (finished <= now).then_some(match job.ending {
                    Ending::Success => Outcome::Succeeded,
                    Ending::Failure => Outcome::Failed,
                    Ending::Moderated => Outcome::Moderated,
                }),
            ),
        };
        TaskTimeline {
            provider: job.provider,
            id: job.id.clone(),
            queued_at: self.time(job.created),
            running_at: running.map(|t| self.time(t)),
            done_at: done.map(|t| self.time(t)),
            outcome,
            deleted_at: job.deleted_at.map(|t| self.time(t)),
        }
    }

    /// Where `job` is now. The queue position counts earlier jobs of the same provider that
    /// are still queued.
    pub fn phase(&self, job: &Job) -> Phase {
        let now = Instant::now();
        if job.cancelled_at.is_some() {
            return Phase::Cancelled;
        }
        let started = job.started_at();
        if now < started {
            let position = self
                .jobs
                .lock()
                .map(|jobs| {
                    jobs.values()
                        .filter(|j| {
                            j.provider == job.provider
                                && j.created < job.created
                                && j.cancelled_at.is_none()
                                && j.deleted_at.is_none()
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
        let ttl = self.config.knobs(job.provider).output_ttl_secs.max(0.0) / self.config.scale();
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

/// A file received by an upload endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Uploaded {
    pub provider: Provider,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}

impl State {
    /// Keeps an uploaded file under a new id and returns the id.
    pub fn store_upload(
        &self,
        provider: Provider,
        content_type: &str,
        bytes: bytes::Bytes,
    ) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut files) = self.uploaded.lock() {
            files.insert(
                id.clone(),
                Uploaded {
                    provider,
                    content_type: content_type.to_owned(),
                    bytes,
                },
            );
        }
        id
    }

    /// Reserves an id for an upload that arrives later (Runway's two-step flow).
    pub fn reserve_upload(&self, provider: Provider) -> String {
        self.store_upload(provider, "", bytes::Bytes::new())
    }

    /// Fills a reserved upload.
    pub fn fill_upload(&self, id: &str, content_type: &str, bytes: bytes::Bytes) -> bool {
        match self.uploaded.lock().ok().and_then(|mut f| {
            f.get_mut(id).map(|u| {
                u.content_type = content_type.to_owned();
                u.bytes = bytes;
            })
        }) {
            Some(()) => true,
            None => false,
        }
    }

    /// The uploaded file `id`, when it exists and is not empty.
    pub fn upload(&self, id: &str) -> Option<Uploaded> {
        self.uploaded
            .lock()
            .ok()?
            .get(id)
            .filter(|u| !u.bytes.is_empty())
            .cloned()
    }

    /// `(provider, size)` of every non-empty upload.
    pub fn upload_sizes(&self) -> Vec<(Provider, usize)> {
        self.uploaded
            .lock()
            .map(|f| {
                f.values()
                    .filter(|u| !u.bytes.is_empty())
                    .map(|u| (u.provider, u.bytes.len()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Model seconds of a real duration on this simulator's clock.
impl State {
    pub fn model_secs(&self, real: Duration) -> f64 {
        real.as_secs_f64() * self.config.scale()
    }
}

/// SplitMix64: the `n`-th number of the sequence seeded with `seed`.
fn splitmix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Two independent standard normal numbers, the `n`-th pair of `seed`'s sequence
/// (Box-Muller).
pub(crate) fn normal_pair(seed: u64, n: u64) -> (f64, f64) {
    let unit = |x: u64| ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u1 = unit(splitmix(seed, 2 * n));
    let u2 = unit(splitmix(seed, 2 * n + 1));
    let r = (-2.0 * u1.ln()).sqrt();
    let a = std::f64::consts::TAU * u2;
    (r * a.cos(), r * a.sin())
}

/// A number in 0..1 from the system's randomness.
fn chance() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(config: SimConfig) -> State {
        State::new(config, "http://127.0.0.1:1".into())
    }

    fn runs(state: &State, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let job = state.create(
                    Provider::Runway,
                    format!("t{i}"),
                    Resolution::new(64, 64),
                    5,
                    String::new(),
                    None,
                );
                job.run.as_secs_f64()
            })
            .collect()
    }

    #[test]
    fn without_a_spread_every_task_runs_exactly_run_secs() {
        let s = state(SimConfig::default().with_timings(0.5, 2.0));
        assert!(runs(&s, 5).iter().all(|r| *r == 2.0));
    }

    #[test]
    fn a_seeded_spread_draws_the_same_log_normal_times_in_the_same_order() {
        let config = SimConfig {
            seed: Some(7),
            ..SimConfig::default()
                .with_timings(0.0, 60.0)
                .with_spread(0.35)
        };
        let a = runs(&state(config.clone()), 2001);
        let b = runs(&state(config), 2001);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[1000];
        assert!((median / 60.0 - 1.0).abs() < 0.05, "median {median}");
        // ln(t / 60) has the configured standard deviation.
        let logs: Vec<f64> = a.iter().map(|t| (t / 60.0).ln()).collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
        assert!((sd - 0.35).abs() < 0.02, "spread {sd}");
    }

    #[test]
    fn the_time_scale_divides_every_time_and_reports_model_seconds() {
        let s = state(SimConfig {
            time_scale: 60.0,
            ..SimConfig::default().with_timings(30.0, 120.0)
        });
        let job = s.create(
            Provider::Fal,
            "t".into(),
            Resolution::new(64, 64),
            5,
            String::new(),
            None,
        );
        assert_eq!(job.queue, Duration::from_millis(500));
        assert_eq!(job.run, Duration::from_secs(2));
        assert_eq!(s.model_secs(job.run), 120.0);
    }
}
