//! Runs jobs through the [`Store`]: submit once, poll, fetch to a verified file, and carry
//! on after a crash from whatever the store says.
//!
//! The ticket is written the moment `submit` returns. A job found with a ticket is polled,
//! never submitted again; a job whose submit may have reached the provider (timeout after
//! sending, 500/502/504, a dropped connection, a crash while sending) goes to `unknown`. ttv
//! then looks the request up where the provider allows ([`VideoBackend::find_submitted`]) and
//! settles the job itself when it finds it; otherwise the job waits for a person
//! ([`JobRunner::resolve`]) and the run ends with an [`ErrorKind::Unsettled`] error.
//!
//! Retries, call deadlines and rate and job limits are the backend's layers
//! ([`crate::layers`]), composed once by the registry: this module sends every call exactly
//! once and never decides whether a call may be repeated. It does not choose backends or print
//! anything; callers hand it the backend named in the job and a sink for progress events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backend::{
    Event, EventSink, Generated, Lookup, Output, Status, Ticket, VideoBackend, fetch_fresh,
    unsettled, verify_and_commit,
};
use crate::budget::Budget;
use crate::cost::Money;
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::media::atomic::AtomicFile;
use crate::polling::{Expected, Pacing, Poller};
use crate::request::GenerationRequest;
use crate::retry::RetryPolicy;
use crate::store::{Job, JobEvent, JobState, NewJob, Store, StoreError};

/// How a person settles a job in state `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The provider has the job under this id (from its dashboard or task list).
    Submitted {
        /// The provider's job id.
        task_id: String,
    },
    /// The provider never got it: the job may be submitted again.
    NotSubmitted,
    /// Give the job up.
    Failed {
        /// Why, for the record.
        reason: String,
    },
}

/// The end of [`JobRunner::run`].
#[derive(Debug)]
pub enum Finished {
    /// The video was made (or fetched) by this run.
    Made(Box<Generated>),
    /// The job was already done before this run.
    AlreadyDone(Box<Job>),
}

/// How [`JobRunner::run_chain`] ended: the job finished, on which backend, after which
/// failures.
#[derive(Debug)]
pub struct ChainRun {
    /// What the run did.
    pub finished: Finished,
    /// The backend that finished the job.
    pub backend: Arc<dyn VideoBackend>,
    /// The backends that failed before it, in order.
    pub passed_over: Vec<PassedOver>,
}

/// A backend the job moved away from, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PassedOver {
    /// Canonical backend name.
    pub backend: String,
    /// Its error.
    pub error: String,
}

/// What became of one job in [`JobRunner::resume_all`].
#[derive(Debug, Serialize)]
pub struct Resumed {
    /// The job.
    pub id: String,
    /// Its state afterwards.
    pub state: JobState,
    /// The video, when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The error, when not done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Drives jobs with a store, a job deadline and a budget.
#[derive(Debug, Clone)]
pub struct JobRunner {
    store: Store,
    policy: RetryPolicy,
    budget: Budget,
}

/// How many of the latest finished jobs of a kind adaptive polling learns from.
const LEARN_FROM: usize = 50;

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the job store task failed: {e}")))?
        .map_err(Error::from)
}

/// A fresh job id: `j-` and 16 hex digits.
pub fn new_job_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("j-{}", &hex[..16])
}

/// Checks a job id given by a user: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter
/// or a digit (so that it can never be read as an option, nor as a hidden or relative name).
pub fn check_job_id(id: &str) -> Result<()> {
    let ok = id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(vec![crate::error::Problem::new(
            "job_id",
            format!("{id:?}"),
            "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit",
        )]))
    }
}

impl JobRunner {
    /// A runner over `store`. Of `policy` it uses the job deadline (`job_timeout`); retries,
    /// call deadlines and limits belong to the backends' layers ([`crate::layers::Stack`]),
    /// which the registry puts around every backend it builds.
    pub fn new(store: Store, policy: RetryPolicy) -> Self {
        Self {
            store,
            policy,
            budget: Budget::default(),
        }
    }

    /// Checks `budget` against the ledger before every submit.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Refuses a job on `backend` estimated at `usd_micros` when it would go over the budget.
    /// `except` leaves one job out of the ledger (the job being checked).
    pub async fn check_budget(&self, backend: &str, usd_micros: i64, except: &str) -> Result<()> {
        if !self.budget.is_limited() {
            return Ok(());
        }
        let mut ledger = blocking(&self.store, |s| s.ledger()).await?;
        ledger.retain(|e| e.job_id != except);
        self.budget
            .check(backend, usd_micros, &ledger, Utc::now())
            .map_err(|e| e.with_backend(backend.to_owned()))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records a new job (state `created`).
    pub async fn create(&self, job: NewJob) -> Result<Job> {
        blocking(&self.store, move |s| s.create(&job)).await
    }

    /// The job called `id`.
    pub async fn job(&self, id: &str) -> Result<Job> {
        let id = id.to_owned();
        blocking(&self.store, move |s| s.job(&id)).await
    }

    /// The job called `id`, if there is one.
    pub async fn find(&self, id: &str) -> Result<Option<Job>> {
        let id = id.to_owned();
        blocking(&self.store, move |s| s.get(&id)).await
    }

    async fn apply(&self, id: &str, event: JobEvent) -> Result<Job> {
        let id = id.to_owned();
        blocking(&self.store, move |s| s.apply(&id, &event)).await
    }

    /// Takes job `id` from wherever it is to done. `req` is needed only when the job still
    /// has to be submitted (`created`); a job with a ticket is polled, never resubmitted.
    pub async fn run(
        &self,
        backend: &dyn VideoBackend,
        id: &str,
        req: Option<&GenerationRequest>,
        events: EventSink<'_>,
    ) -> Result<Finished> {
        let Some(limit) = self.policy.job_timeout else {
            return self.run_unbounded(backend, id, req, events).await;
        };
        // The retry layer sees the deadline too, and never waits past it.
        let deadline = tokio::time::Instant::now() + limit;
        let bounded = crate::layers::retry::with_deadline(
            deadline,
            self.run_unbounded(backend, id, req, events),
        );
        match tokio::time::timeout_at(deadline, bounded).await {
            Ok(result) => result,
            Err(_) => {
                let state = self.job(id).await?.state;
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "job {id} took longer than {} s and is kept as {state}: `ttv jobs resume {id}` carries on",
                        limit.as_secs_f64()
                    ),
                )
                .with_backend(backend.id()))
            }
        }
    }

    async fn run_unbounded(
        &self,
        backend: &dyn VideoBackend,
        id: &str,
        req: Option<&GenerationRequest>,
        events: EventSink<'_>,
    ) -> Result<Finished> {
        let key = id.to_owned();
        let Some(_lock) = blocking(&self.store, move |s| s.lock_job(&key)).await? else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "job {id} is being run by another ttv process; wait for it to finish (`ttv jobs show {id}`)"
                ),
            ));
        };
        let _place = backend.reserve().await;
        let started = Instant::now();
        let mut ready: Option<(Output, Option<Money>)> = None;
        let mut generation_secs = 0.0;
        let mut poller: Option<Poller> = None;
        // Woken by the provider's webhook, where it calls back ([`crate::webhooks`]).
        let mut wakeup = None;
        // A change this loop just wrote is as fresh as reading the row again would be (the
        // job's lock keeps other runners off it), so the next turn starts from it. Whatever
        // another process changed meanwhile (a cancel) is met by the next state change,
        // which is written only onto the row as it was read.
        let mut written: Option<Job> = None;
        loop {
            let job = match written.take() {
                Some(job) => job,
                None => self.job(id).await?,
            };
            match job.state {
                JobState::Created => {
                    let Some(req) = req else {
                        return Err(Error::new(
                            ErrorKind::InvalidRequest,
                            format!(
                                "job {id} was never submitted; run `ttv generate --job-id {id}` with its arguments to submit it"
                            ),
                        ));
                    };
                    written = self.submit(backend, &job, req, events).await?;
                }
                JobState::Submitting => {
                    // Only a process that stopped while sending leaves a job here.
                    written = Some(self.apply(id, JobEvent::Interrupted).await?);
                }
                JobState::Unknown => {
                    // With the request at hand, the provider may be asked once more.
                    let settled = match req {
                        Some(req) => self.settle(backend, &job, req).await?,
                        None => false,
                    };
                    if !settled {
                        return Err(unknown_error(&job));
                    }
                }
                JobState::Submitted | JobState::Running => {
                    let ticket = ticket_of(&job)?;
                    let pacer = match poller.as_mut() {
                        Some(p) => p,
                        None => {
                            let mut p = self.poller(backend, &job, ticket).await;
                            wakeup = backend.wakeup(ticket);
                            let first = match backend.status_stream(ticket).await {
                                // Pushed changes: wait on them, then poll at once.
                                Some(stream) => {
                                    crate::backend::follow_stream(stream, &mut p, events, ticket)
                                        .await;
                                    std::time::Duration::ZERO
                                }
                                None => p.first_wait(tokio::time::Instant::now()),
                            };
                            if !first.is_zero() {
                                crate::backend::sleep_or_wake(first, wakeup.as_ref(), None).await;
                            }
                            poller.insert(p)
                        }
                    };
                    let status = backend.poll(ticket).await;
                    let last_poll = Some(tokio::time::Instant::now());
                    if let Ok(s) = &status {
                        pacer.observe(tokio::time::Instant::now(), s);
                    }
                    match status {
                        // The store first, then the news: whoever hears it finds it recorded.
                        Ok(Status::Queued { position }) => {
                            self.mark_running(&job).await?;
                            events(Event::Queued { position });
                        }
                        Ok(Status::Running { progress }) => {
                            self.mark_running(&job).await?;
                            events(Event::Running { progress });
                        }
                        Ok(Status::Succeeded { output, cost }) => {
                            generation_secs = started.elapsed().as_secs_f64();
                            written = Some(
                                self.apply(
                                    id,
                                    JobEvent::Downloading {
                                        charged: cost.clone(),
                                    },
                                )
                                .await?,
                            );
                            ready = Some((output, cost));
                            continue;
                        }
                        Ok(Status::Failed(err)) => {
                            let err = err.with_backend(backend.id());
                            self.apply(id, JobEvent::Failed(err.to_string())).await?;
                            return Err(err);
                        }
                        Ok(Status::Cancelled) => {
                            self.apply(id, JobEvent::Cancelled).await?;
                            return Err(Error::new(
                                ErrorKind::Cancelled,
                                format!("job {id} was cancelled at the provider"),
                            ));
                        }
                        Err(err) => return Err(self.poll_failed(&job, err).await),
                    }
                    let wait = poller.as_mut().map_or(backend.poll_interval(), |p| {
                        p.next_wait(tokio::time::Instant::now())
                    });
                    crate::backend::sleep_or_wake(wait, wakeup.as_ref(), last_poll).await;
                }
                JobState::Downloading => {
                    let ticket = ticket_of(&job)?.clone();
                    let fetch_started = Instant::now();
                    let made = self
                        .download(backend, &job, &ticket, ready.take(), events)
                        .await;
                    let (mut generated, charged) = match made {
                        Ok(v) => v,
                        Err(err) => {
                            if err.kind() == ErrorKind::InvalidOutput {
                                self.apply(id, JobEvent::Failed(err.to_string())).await?;
                            }
                            return Err(err);
                        }
                    };
                    let done = self.apply(id, JobEvent::Done).await?;
                    generated.charged = charged.or(done.charged);
                    generated.generation_secs = generation_secs;
                    generated.fetch_secs = fetch_started.elapsed().as_secs_f64();
                    return Ok(Finished::Made(Box::new(generated)));
                }
                JobState::Done => return Ok(Finished::AlreadyDone(Box::new(job))),
                JobState::Failed => {
                    return Err(Error::new(
                        ErrorKind::JobFailed,
                        format!(
                            "job {id} failed: {}. `ttv generate --job-id {id}` with the same \
                             arguments runs it again as a new attempt{}",
                            job.error.as_deref().unwrap_or("no reason recorded"),
                            if job.ticket.is_some() {
                                format!(
                                    "; if the provider does have the job under another task id, \
                                     `ttv jobs resolve {id} --submitted TASK_ID` fetches it"
                                )
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .with_backend(job.backend.clone()));
                }
                JobState::Cancelled => {
                    return Err(Error::new(
                        ErrorKind::Cancelled,
                        format!("job {id} was cancelled"),
                    ));
                }
            }
        }
    }

    /// [`JobRunner::run`] on `backends` in order (the job's own backend first): when a submit
    /// fails with a fallback-worthy error (unavailable, quota or balance exhausted,
    /// unsupported, auth; content rejection when `on_content_rejection`) that provably spent
    /// nothing, the job moves to the next backend that can do the request. Every attempt is
    /// in the job's history. Returns the backend that finished the job.
    pub async fn run_with_fallback(
        &self,
        backends: &[Arc<dyn VideoBackend>],
        id: &str,
        req: &GenerationRequest,
        on_content_rejection: bool,
        events: EventSink<'_>,
    ) -> Result<(Finished, Arc<dyn VideoBackend>)> {
        self.run_chain(backends, id, req, on_content_rejection, events)
            .await
            .map(|run| (run.finished, run.backend))
    }

    /// [`JobRunner::run_with_fallback`], also saying which backends failed before the one
    /// that finished the job, and why.
    pub async fn run_chain(
        &self,
        backends: &[Arc<dyn VideoBackend>],
        id: &str,
        req: &GenerationRequest,
        on_content_rejection: bool,
        events: EventSink<'_>,
    ) -> Result<ChainRun> {
        let mut passed_over = Vec::new();
        let mut next = backends.first().cloned().map(|b| (0, b));
        while let Some((i, backend)) = next.take() {
            match self.run(backend.as_ref(), id, Some(req), events).await {
                Ok(finished) => {
                    return Ok(ChainRun {
                        finished,
                        backend,
                        passed_over,
                    });
                }
                Err(err) => {
                    let state = self.job(id).await?.state;
                    let worthy = err.is_fallback_worthy()
                        || (on_content_rejection && err.kind() == ErrorKind::ContentRejected);
                    if state != JobState::Created || !worthy || err.spend() != Spend::No {
                        return Err(err);
                    }
                    // Only a backend that can do the request is worth moving to; with none
                    // left, the job fails with this backend's error and nothing falls back.
                    let Some((j, other)) = self.next_able(&backends[i + 1..], id, req).await?
                    else {
                        return Err(err);
                    };
                    tracing::warn!(
                        job = id,
                        from = backend.id(),
                        to = other.id(),
                        error = %err,
                        "falling back to {}",
                        other.id()
                    );
                    passed_over.push(PassedOver {
                        backend: backend.id().to_owned(),
                        error: err.to_string(),
                    });
                    next = Some((i + 1 + j, other));
                }
            }
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!("job {id}: no backend to run it on"),
        ))
    }

    /// The first of `backends` that can do `req`, with the job moved onto it.
    async fn next_able(
        &self,
        backends: &[Arc<dyn VideoBackend>],
        id: &str,
        req: &GenerationRequest,
    ) -> Result<Option<(usize, Arc<dyn VideoBackend>)>> {
        for (j, backend) in backends.iter().enumerate() {
            let priced = backend
                .validate(req)
                .and_then(|r| Ok((r, backend.estimate_cost(req)?)));
            let (resolved, estimate) = match priced {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(job = id, backend = backend.id(), error = %e, "fallback cannot do the request");
                    continue;
                }
            };
            let (key, name, model) = (
                id.to_owned(),
                backend.id().to_owned(),
                backend.model().map(str::to_owned),
            );
            blocking(&self.store, move |s| {
                s.rebind(&key, &name, model.as_deref(), &resolved, &estimate)
            })
            .await?;
            return Ok(Some((j, backend.clone())));
        }
        Ok(None)
    }

    /// Starts a new attempt of failed job `id`: it goes back to `created`, to be submitted
    /// again by the next run. Refused when the failed attempt may still exist at the
    /// provider (a job given up while its submit was unknown).
    pub async fn retry(&self, id: &str) -> Result<Job> {
        self.apply(id, JobEvent::Retry).await
    }

    /// Sends the paid submit of `job`; returns the job as recorded submitted, or `None`
    /// when it was settled otherwise (read it again).
    async fn submit(
        &self,
        backend: &dyn VideoBackend,
        job: &Job,
        req: &GenerationRequest,
        events: EventSink<'_>,
    ) -> Result<Option<Job>> {
        // An unwritable destination must fail now, not after a paid job has finished.
        drop(AtomicFile::new(&job.out)?);
        let id = job.id.as_str();
        // The budget check and the start of the paid submit are one transaction: processes
        // racing at a limit never pass it together.
        let (key, budget) = (id.to_owned(), self.budget.clone());
        blocking(&self.store, move |s| {
            s.begin_submit_within(&key, &budget, Utc::now())
        })
        .await??;
        match backend.submit(req, &job.resolved).await {
            Ok(ticket) => {
                // Saved before anything else happens: from here on the job is only polled.
                let submitted = self.apply(id, JobEvent::Submitted(ticket.clone())).await?;
                events(Event::Submitted(ticket));
                Ok(Some(submitted))
            }
            Err(err) if err.spend() == Spend::No => {
                self.apply(id, JobEvent::SubmitNotSent(err.to_string()))
                    .await?;
                Err(err)
            }
            Err(err) => {
                let after = self
                    .apply(id, JobEvent::SubmitAmbiguous(err.to_string()))
                    .await?;
                if self.settle(backend, &after, req).await? {
                    let job = self.job(id).await?;
                    if let Some(ticket) = job.ticket {
                        events(Event::Submitted(ticket));
                    }
                    return Ok(None);
                }
                Err(unsettled(err.message(), Some(id)).with_backend(backend.id()))
            }
        }
    }

    /// Tries to settle `job` (in `unknown`) by looking its request up at the provider.
    /// Settles it as submitted, under the ticket found, only when the provider holds exactly
    /// this request and no other job already has that ticket; `false` leaves it `unknown`.
    async fn settle(
        &self,
        backend: &dyn VideoBackend,
        job: &Job,
        req: &GenerationRequest,
    ) -> Result<bool> {
        let since = self.submit_began(&job.id).await?;
        let ticket = match backend.find_submitted(req, &job.resolved, since).await {
            Ok(Lookup::Found(ticket)) => ticket,
            Ok(Lookup::NotFound | Lookup::Unsupported) => return Ok(false),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not look the request up at the provider");
                return Ok(false);
            }
        };
        let (key, task) = (job.id.clone(), ticket.id.clone());
        let taken = blocking(&self.store, move |s| {
            Ok(s.list(&[])?.into_iter().any(|other| {
                other.id != key && other.ticket.as_ref().is_some_and(|t| t.id == task)
            }))
        })
        .await?;
        if taken {
            tracing::warn!(job = %job.id, task = %ticket.id, "the request found belongs to another job");
            return Ok(false);
        }
        tracing::info!(job = %job.id, task = %ticket.id, "found the request at the provider");
        self.apply(&job.id, JobEvent::Settled(ticket)).await?;
        Ok(true)
    }

    /// When the job's latest paid request began to be sent.
    async fn submit_began(&self, id: &str) -> Result<DateTime<Utc>> {
        let key = id.to_owned();
        let history = blocking(&self.store, move |s| s.history(&key)).await?;
        history
            .iter()
            .rev()
            .find(|h| h.event == JobEvent::BeginSubmit.name())
            .map(|h| h.at)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    format!("job {id} is unknown but its history has no submit"),
                )
            })
    }

    /// The poll schedule of `job`: the backend's pacing, with the times learned from this
    /// store's finished jobs of the same kind when it is adaptive and has enough of them.
    async fn poller(&self, backend: &dyn VideoBackend, job: &Job, ticket: &Ticket) -> Poller {
        let pacing = backend.pacing();
        let poller = Poller::new(
            pacing,
            crate::backend::submitted_instant(ticket),
            crate::polling::seed_of(&ticket.id),
        );
        if !matches!(pacing, Pacing::Adaptive(_)) {
            return poller;
        }
        let (name, model, resolved) = (job.backend.clone(), job.model.clone(), job.resolved);
        let learned = blocking(&self.store, move |s| {
            s.finished_times(&name, model.as_deref(), &resolved, LEARN_FROM)
        })
        .await;
        match learned {
            Ok(times) => poller.learned(Expected::from_samples(&times)),
            Err(e) => {
                tracing::debug!(job = %job.id, error = %e, "no learned run times");
                poller
            }
        }
    }

    async fn mark_running(&self, job: &Job) -> Result<()> {
        if job.state != JobState::Running {
            self.apply(&job.id, JobEvent::Running).await?;
        }
        Ok(())
    }

    /// A poll that failed after its retries: a job the provider does not know is failed;
    /// anything else leaves the job as it is, to be resumed.
    async fn poll_failed(&self, job: &Job, err: Error) -> Error {
        if err.kind() == ErrorKind::JobFailed {
            if let Err(e) = self.apply(&job.id, JobEvent::Failed(err.to_string())).await {
                return e;
            }
            return err;
        }
        let message = format!(
            "{}; job {} is kept as {}: `ttv jobs resume {}` carries on",
            err.message(),
            job.id,
            job.state,
            job.id
        );
        let mut out = Error::new(err.kind(), message);
        if let Some(b) = err.backend() {
            out = out.with_backend(b.to_owned());
        }
        out
    }

    async fn download(
        &self,
        backend: &dyn VideoBackend,
        job: &Job,
        ticket: &Ticket,
        ready: Option<(Output, Option<Money>)>,
        events: EventSink<'_>,
    ) -> Result<(Generated, Option<Money>)> {
        remove_stale_parts(&job.out).await;
        // One temporary file across the layers' attempts, so a broken-off download continues.
        let file = AtomicFile::new(&job.out)?;
        let (bytes, charged) = fetch_fresh(backend, ticket, ready, file.path(), events).await?;
        verify_and_commit(backend, ticket, file, &job.resolved, bytes, events)
            .await
            .map(|g| (g, charged))
    }

    /// Cancels job `id`: stops the remote job where the backend can and records it as
    /// cancelled. A job caught while its paid request was being sent goes to `unknown`.
    pub async fn cancel(&self, backend: Option<&dyn VideoBackend>, id: &str) -> Result<Job> {
        let job = self.job(id).await?;
        match job.state {
            JobState::Submitting => return self.apply(id, JobEvent::Interrupted).await,
            s if s.has_remote_job() => {
                if let (Some(backend), Some(ticket)) = (backend, &job.ticket)
                    && let Err(e) = backend.cancel(ticket).await
                {
                    tracing::warn!(job = id, error = %e, "the provider did not confirm the cancel");
                }
            }
            _ => {}
        }
        self.apply(id, JobEvent::Cancelled).await
    }

    /// Settles a job in state `unknown`.
    pub async fn resolve(&self, id: &str, how: Resolution) -> Result<Job> {
        let job = self.job(id).await?;
        let event = match how {
            Resolution::Submitted { task_id } => JobEvent::ResolveSubmitted(Ticket {
                backend: job.backend.clone(),
                id: task_id,
                model: job.model.clone(),
                data: serde_json::Value::Null,
                submitted_at: Utc::now(),
            }),
            Resolution::NotSubmitted => JobEvent::ResolveNotSubmitted,
            Resolution::Failed { reason } => JobEvent::ResolveFailed(reason),
        };
        self.apply(id, event).await
    }

    /// The jobs a resume would carry on: those with a remote job, and those caught mid-submit.
    pub async fn resumable(&self) -> Result<Vec<Job>> {
        let jobs = blocking(&self.store, |s| {
            s.list(&[
                JobState::Submitting,
                JobState::Submitted,
                JobState::Running,
                JobState::Downloading,
            ])
        })
        .await?;
        // Image jobs have no ticket to poll (the answer was the image); running their id
        // again with `ttv image generate` settles them (see `crate::images::jobs`).
        Ok(jobs
            .into_iter()
            .filter(|j| j.kind == crate::store::JobKind::Video)
            .collect())
    }
}

/// Deletes the temporary files a killed download of `out` left beside it
/// (`.NAME.XXXXXX.part`, see [`AtomicFile`]). Only this job's output name is touched.
async fn remove_stale_parts(out: &std::path::Path) {
    let out = out.to_path_buf();
    // The whole listing in one blocking call: `tokio::fs::read_dir` hands every few entries
    // to the blocking pool and back, which in an output folder of thousands of videos cost
    // more CPU than the rest of the job.
    let _ = tokio::task::spawn_blocking(move || remove_stale_parts_now(&out)).await;
}

fn remove_stale_parts_now(out: &std::path::Path) {
    let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix) && file.ends_with(".part") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file, "removed a partial download left by a crash"),
                Err(e) => tracing::warn!(file, error = %e, "cannot remove a partial download"),
            }
        }
    }
}

fn ticket_of(job: &Job) -> Result<&Ticket> {
    job.ticket.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::Io,
            format!("job {} is {} but has no ticket saved", job.id, job.state),
        )
    })
}

fn unknown_error(job: &Job) -> Error {
    let reason = job.error.as_deref().unwrap_or("no reason recorded");
    unsettled(reason, Some(&job.id)).with_backend(job.backend.clone())
}
