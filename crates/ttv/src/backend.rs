//! The [`VideoBackend`] trait: the steps every generator really has.
//!
//! A hosted job is submitted, polled, and its output fetched; a crash between steps loses
//! nothing because the [`Ticket`] returned by `submit` is all that `poll`, `fetch` and `cancel`
//! need. The provided [`VideoBackend::generate`] runs the whole loop, reports progress, writes
//! the file atomically and verifies it is a playable MP4 before calling the job done.
//!
//! The original pipeline's interface maps onto this trait as follows:
//!
//! | pipeline (Python)        | ttv                                                   |
//! |--------------------------|-------------------------------------------------------|
//! | `generate_video(...)`    | [`VideoBackend::generate`] (or submit → poll → fetch) |
//! | `get_capabilities()`     | [`VideoBackend::capabilities`]                        |
//! | `estimate_cost(...)`     | [`VideoBackend::estimate_cost`]                       |
//! | `validate_inputs(...)`   | [`VideoBackend::validate`] (every problem at once)    |

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, Resolved};
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::media::atomic::AtomicFile;
use crate::media::probe::{self, VideoInfo};
use crate::polling::{Pacing, Poller};
use crate::request::GenerationRequest;

/// How a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Built into ttv; always available.
    Embedded,
    /// A paid web API.
    Hosted,
    /// A model run on this machine's GPUs.
    Local,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Embedded => "embedded",
            Self::Hosted => "hosted",
            Self::Local => "local",
        })
    }
}

/// Whether a backend can be used here, and if not, exactly why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Availability {
    /// Ready.
    Available,
    /// Not usable; `reason` says what is missing.
    Unavailable {
        /// What is missing, in words a user can act on.
        reason: String,
    },
}

impl Availability {
    /// Whether the backend can be used.
    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available)
    }
}

/// A serialisable handle on a submitted job: everything poll, fetch and cancel need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Canonical backend name.
    pub backend: String,
    /// The provider's job id.
    pub id: String,
    /// The model the job runs on, when the backend has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whatever else polling needs (URLs returned by submit, a region, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    /// When the provider accepted the job.
    pub submitted_at: DateTime<Utc>,
}

/// Where a finished video can be fetched from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// A URL, possibly signed and expiring.
    Url {
        /// The address.
        url: String,
    },
    /// A file on this machine.
    File {
        /// The path.
        path: PathBuf,
    },
}

/// The state of a submitted job.
#[derive(Debug)]
pub enum Status {
    /// Waiting for capacity.
    Queued {
        /// Place in the provider's queue, when it says.
        position: Option<u32>,
    },
    /// Generating.
    Running {
        /// Fraction done, 0 to 1, when the provider says.
        progress: Option<f32>,
    },
    /// Done; the video can be fetched.
    Succeeded {
        /// Where the video is.
        output: Output,
        /// What the provider charged, when it says.
        cost: Option<Money>,
    },
    /// The provider failed the job.
    Failed(Error),
    /// The job was cancelled.
    Cancelled,
}

/// A status change a provider pushed ([`VideoBackend::status_stream`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    /// Waiting in the provider's queue.
    Queued {
        /// Place in the queue, when it says.
        position: Option<u32>,
    },
    /// Generating.
    Running {
        /// Fraction done, when it says.
        progress: Option<f32>,
    },
    /// The job reached its end (success or not): poll once for the outcome.
    Ended,
}

/// Status changes pushed by a provider, until the job ends or the stream breaks.
pub type StatusStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Pushed>> + Send>>;

/// What a look-up of an ambiguous submit found ([`VideoBackend::find_submitted`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The provider has the job: carry on with this ticket.
    Found(Ticket),
    /// Nothing that is provably this request was found (yet); the job stays `unknown`.
    NotFound,
    /// The provider offers no way to look a request up.
    Unsupported,
}

/// Places held for one job (see [`VideoBackend::reserve`]); released when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permits: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Reservation {
    /// Keeps `permit` until the reservation is dropped.
    pub fn hold(&mut self, permit: tokio::sync::OwnedSemaphorePermit) {
        self.permits.push(permit);
    }

    /// Keeps `other`'s places too.
    pub fn join(&mut self, other: Reservation) {
        self.permits.extend(other.permits);
    }
}

/// A step of [`VideoBackend::generate`], for progress displays and logs.
#[derive(Debug, Clone)]
pub enum Event {
    /// The request passed validation.
    Validated(Resolved),
    /// The job was accepted; keep the ticket to resume or cancel.
    Submitted(Ticket),
    /// Waiting in the provider's queue.
    Queued {
        /// Queue position, when known.
        position: Option<u32>,
    },
    /// Generating.
    Running {
        /// Fraction done, when known.
        progress: Option<f32>,
    },
    /// Downloading the result.
    Downloading {
        /// Bytes received.
        received: u64,
        /// Bytes expected, when known.
        total: Option<u64>,
    },
    /// Checking the file is a playable MP4.
    Verifying,
}

/// Where progress events go.
pub type EventSink<'a> = &'a (dyn Fn(Event) + Send + Sync);

/// An event sink that drops everything.
pub fn no_events(_: Event) {}

/// A finished, verified video on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// Where the video is.
    pub path: PathBuf,
    /// The job's ticket.
    pub ticket: Ticket,
    /// The settings the backend was asked for.
    pub resolved: Resolved,
    /// What the file holds, read back from it.
    pub video: VideoInfo,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// What the provider charged, when it says.
    pub charged: Option<Money>,
    /// Seconds from submit to the provider reporting success.
    pub generation_secs: f64,
    /// Seconds spent fetching and verifying.
    pub fetch_secs: f64,
}

/// One text-to-video / image-to-video generator.
///
/// Implementations keep provider quirks inside their own module; everything here is in the
/// shared vocabulary of [`crate::request`] and [`crate::error`].
#[async_trait]
pub trait VideoBackend: Send + Sync {
    /// Canonical name (`animatic`, `runway`, ...).
    fn id(&self) -> &'static str;

    /// How the backend runs.
    fn kind(&self) -> BackendKind;

    /// The model used, for backends that have several.
    fn model(&self) -> Option<&str> {
        None
    }

    /// What the backend can do.
    fn capabilities(&self) -> &Capabilities;

    /// Whether the backend can be used here.
    fn availability(&self) -> Availability {
        Availability::Available
    }

    /// Checks a request and fills in defaults, reporting every problem at once. Spends nothing.
    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        self.capabilities()
            .resolve(req)
            .map_err(|e| e.with_backend(self.id()))
    }

    /// What the request would cost here.
    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate>;

    /// How long to wait between polls when the provider does not say.
    fn poll_interval(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// How the polls of a job are paced ([`crate::polling`]): a fixed
    /// [`VideoBackend::poll_interval`] by default; adaptive where the registry's layers
    /// (or [`crate::polling::adaptive`]) say so.
    fn pacing(&self) -> Pacing {
        Pacing::Fixed(self.poll_interval())
    }

    /// Waits for a place to run one job and holds it until the reservation is dropped (the
    /// job limits of [`crate::layers::concurrency`]); free by default.
    async fn reserve(&self) -> Reservation {
        Reservation::default()
    }

    /// Starts a job. The only step that may spend money.
    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket>;

    /// Looks for the job a submit of `req` sent at or after `since` may have created, after
    /// that submit failed in a way that leaves it unknown whether the provider received it.
    /// Only a match that is provably this request counts. [`Lookup::Unsupported`] by default:
    /// most providers offer no way to look a request up.
    async fn find_submitted(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        since: DateTime<Utc>,
    ) -> Result<Lookup> {
        let _ = (req, resolved, since);
        Ok(Lookup::Unsupported)
    }

    /// Asks how a job is doing.
    async fn poll(&self, ticket: &Ticket) -> Result<Status>;

    /// Status changes of `ticket` as the provider pushes them (fal's status stream), where it
    /// can: the job is then waited on without polling, and polled once when the stream says
    /// it ended, or broke. `None` (the default): poll.
    async fn status_stream(&self, ticket: &Ticket) -> Option<StatusStream> {
        let _ = ticket;
        None
    }

    /// A handle woken when the provider calls back about `ticket` (a webhook,
    /// [`crate::webhooks`]), where this backend was given webhooks: the next status call is
    /// then made at once instead of when polling would make it. `None` (the default): poll
    /// only.
    fn wakeup(&self, ticket: &Ticket) -> Option<crate::webhooks::Wakeup> {
        let _ = ticket;
        None
    }

    /// Writes a finished video to `into`, a temporary file the caller owns, reporting bytes
    /// as they arrive. The caller verifies and publishes it.
    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64>;

    /// Stops a job. Cancelling a finished job is not an error.
    async fn cancel(&self, ticket: &Ticket) -> Result<()>;

    /// Runs the whole job: validate, hold a place ([`VideoBackend::reserve`]), submit, poll
    /// until done, fetch into a temporary file beside `dest`, verify it is a playable MP4, and
    /// rename it into place. On any failure nothing is left at `dest`.
    ///
    /// A submit that may have reached the provider is never sent again: it is looked up where
    /// the provider allows ([`VideoBackend::find_submitted`]), else the run ends with an
    /// [`ErrorKind::Unsettled`] error. (The job runner, [`crate::jobs`], also records it.)
    async fn generate(
        &self,
        req: &GenerationRequest,
        dest: &Path,
        events: EventSink<'_>,
    ) -> Result<Generated> {
        let resolved = self.validate(req)?;
        events(Event::Validated(resolved));
        // Claim the output folder before anything is spent: an unwritable destination must
        // fail now, not after a paid job has finished.
        let file = AtomicFile::new(dest)?;
        let _place = self.reserve().await;
        let since = Utc::now();
        let ticket = match self.submit(req, &resolved).await {
            Ok(ticket) => ticket,
            Err(err) if err.spend() == Spend::Maybe => {
                match self.find_submitted(req, &resolved, since).await {
                    Ok(Lookup::Found(ticket)) => ticket,
                    _ => return Err(unsettled(err.message(), None).with_backend(self.id())),
                }
            }
            Err(err) => return Err(err),
        };
        events(Event::Submitted(ticket.clone()));
        let started = Instant::now();
        let ready = wait_for_output(self, &ticket, events).await?;
        let generation_secs = started.elapsed().as_secs_f64();
        let fetch_started = Instant::now();
        let (bytes, charged) = fetch_fresh(self, &ticket, Some(ready), file.path(), events).await?;
        let mut generated =
            verify_and_commit(self, &ticket, file, &resolved, bytes, events).await?;
        generated.charged = charged;
        generated.generation_secs = generation_secs;
        generated.fetch_secs = fetch_started.elapsed().as_secs_f64();
        Ok(generated)
    }
}

/// The [`ErrorKind::Unsettled`] error for a paid submit that failed (for the reason `what`)
/// in a way that may have reached the provider. `job` names the stored job, whose settling
/// commands the message then gives.
pub fn unsettled(what: &str, job: Option<&str>) -> Error {
    let message = match job {
        Some(id) => format!(
            "the provider may or may not have accepted the paid request ({what}), so it was not sent again. \
             Check the provider's task list, then settle it: `ttv jobs resolve {id} --submitted TASK_ID`, \
             `ttv jobs resolve {id} --not-submitted` (it will be submitted again), or `ttv jobs resolve {id} --failed`"
        ),
        None => format!(
            "the provider may or may not have accepted the paid request ({what}), so it was not sent again; \
             check the provider's task list before asking for this video again"
        ),
    };
    Error::new(ErrorKind::Unsettled, message).with_spend(Spend::Maybe)
}

/// How many times a download is started again from a fresh address after its address expired.
const FRESH_ADDRESSES: u32 = 2;

/// Polls `ticket` once for the address of its finished video (output addresses expire, so
/// one is asked for again after a crash or an expired download).
pub async fn fresh_output<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
) -> Result<(Output, Option<Money>)> {
    match backend.poll(ticket).await? {
        Status::Succeeded { output, cost } => Ok((output, cost)),
        other => Err(Error::new(
            ErrorKind::JobFailed,
            format!(
                "job {} was ready to download, but the provider now reports {other:?}",
                ticket.id
            ),
        )
        .with_backend(backend.id())),
    }
}

/// Downloads the video of `ticket` into `into` (a temporary file the caller owns), from
/// `ready` when given, else from an address asked for now. The backend's layers retry a
/// broken-off download, continuing it with `Range`; an address that expired is replaced by a
/// fresh one. Returns the size and what the provider charged, when it says.
pub async fn fetch_fresh<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
    ready: Option<(Output, Option<Money>)>,
    into: &Path,
    events: EventSink<'_>,
) -> Result<(u64, Option<Money>)> {
    let mut ready = ready;
    let mut fresh = 0;
    loop {
        let (output, charged) = match ready.take() {
            Some(r) => r,
            None => fresh_output(backend, ticket).await?,
        };
        match backend.fetch(&output, into, events).await {
            Ok(bytes) => return Ok((bytes, charged)),
            Err(err) if err.kind() == ErrorKind::OutputExpired && fresh < FRESH_ADDRESSES => {
                tracing::info!(job = %ticket.id, error = %err, "asking for a fresh output address");
                fresh += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Polls `ticket` until it finishes, forwarding progress.
pub async fn wait_for_output<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
    events: EventSink<'_>,
) -> Result<(Output, Option<Money>)> {
    let mut poller = Poller::new(
        backend.pacing(),
        submitted_instant(ticket),
        crate::polling::seed_of(&ticket.id),
    );
    let wakeup = backend.wakeup(ticket);
    let first = match backend.status_stream(ticket).await {
        // Pushed changes: wait on them, then poll at once for the outcome.
        Some(stream) => {
            follow_stream(stream, &mut poller, events, ticket).await;
            Duration::ZERO
        }
        None => poller.first_wait(tokio::time::Instant::now()),
    };
    let mut last_poll = None;
    if !first.is_zero() {
        sleep_or_wake(first, wakeup.as_ref(), last_poll).await;
    }
    loop {
        let status = backend.poll(ticket).await?;
        let now = tokio::time::Instant::now();
        last_poll = Some(now);
        poller.observe(now, &status);
        match status {
            Status::Queued { position } => events(Event::Queued { position }),
            Status::Running { progress } => events(Event::Running { progress }),
            Status::Succeeded { output, cost } => return Ok((output, cost)),
            Status::Failed(err) => return Err(err.with_backend(backend.id())),
            Status::Cancelled => {
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    format!("job {} was cancelled", ticket.id),
                )
                .with_backend(backend.id()));
            }
        }
        let wait = poller.next_wait(tokio::time::Instant::now());
        sleep_or_wake(wait, wakeup.as_ref(), last_poll).await;
    }
}

/// Sleeps `wait`, or less when a webhook says the job ended — though never closer than
/// [`crate::webhooks::WAKE_GAP`] to the previous poll, so that a flood of callbacks cannot
/// turn into a flood of status calls.
async fn sleep_or_wake(
    wait: Duration,
    wakeup: Option<&crate::webhooks::Wakeup>,
    last_poll: Option<tokio::time::Instant>,
) {
    let Some(wakeup) = wakeup else {
        tokio::time::sleep(wait).await;
        return;
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = wakeup.woken() => {
            if let Some(last) = last_poll {
                tokio::time::sleep_until(last + crate::webhooks::WAKE_GAP).await;
            }
        }
    }
}

/// Follows pushed status changes until the job ends or the stream breaks (then polling takes
/// over), forwarding progress and teaching `poller` what it says.
pub async fn follow_stream(
    mut stream: StatusStream,
    poller: &mut Poller,
    events: EventSink<'_>,
    ticket: &Ticket,
) -> bool {
    use futures_util::StreamExt as _;
    while let Some(item) = stream.next().await {
        let now = tokio::time::Instant::now();
        match item {
            Ok(Pushed::Queued { position }) => {
                poller.observe(now, &Status::Queued { position });
                events(Event::Queued { position });
            }
            Ok(Pushed::Running { progress }) => {
                poller.observe(now, &Status::Running { progress });
                events(Event::Running { progress });
            }
            Ok(Pushed::Ended) => return true,
            Err(e) => {
                tracing::info!(job = %ticket.id, error = %e, "the status stream broke; polling instead");
                return false;
            }
        }
    }
    tracing::info!(job = %ticket.id, "the status stream closed before the end; polling instead");
    false
}

/// The moment `ticket` was submitted on tokio's clock: now, less the time since the provider
/// accepted it (a resumed job's polls are paced from its real submit).
pub fn submitted_instant(ticket: &Ticket) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let ago = (Utc::now() - ticket.submitted_at)
        .to_std()
        .unwrap_or_default();
    now.checked_sub(ago).unwrap_or(now)
}

/// Fetches `output` into a temporary file beside `dest`, verifies it, and renames it into
/// place. Nothing is left at `dest` unless the file is a playable MP4.
pub async fn fetch_verified<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
    output: &Output,
    dest: &Path,
    resolved: &Resolved,
    events: EventSink<'_>,
) -> Result<Generated> {
    let file = AtomicFile::new(dest)?;
    fetch_verified_into(backend, ticket, output, file, resolved, events).await
}

/// [`fetch_verified`] into a temporary file the caller already holds.
pub async fn fetch_verified_into<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
    output: &Output,
    file: AtomicFile,
    resolved: &Resolved,
    events: EventSink<'_>,
) -> Result<Generated> {
    let ready = Some((output.clone(), None));
    let (bytes, _) = fetch_fresh(backend, ticket, ready, file.path(), events).await?;
    verify_and_commit(backend, ticket, file, resolved, bytes, events).await
}

/// Verifies the `bytes` already fetched into `file` are a playable MP4 and renames it into
/// place.
pub async fn verify_and_commit<B: VideoBackend + ?Sized>(
    backend: &B,
    ticket: &Ticket,
    file: AtomicFile,
    resolved: &Resolved,
    bytes: u64,
    events: EventSink<'_>,
) -> Result<Generated> {
    events(Event::Verifying);
    let temp_path = file.path().to_path_buf();
    let (video, sha256) = tokio::task::spawn_blocking(move || probe::verify_file(&temp_path))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("verifying the video failed: {e}")))?
        .map_err(|e| e.with_backend(backend.id()))?;
    if video.width != resolved.resolution.width || video.height != resolved.resolution.height {
        tracing::warn!(
            backend = backend.id(),
            asked = %resolved.resolution,
            got = %format!("{}x{}", video.width, video.height),
            "the video's size differs from the one requested"
        );
    }
    let path = tokio::task::spawn_blocking(move || file.commit())
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("saving the video failed: {e}")))??;
    Ok(Generated {
        path,
        ticket: ticket.clone(),
        resolved: *resolved,
        video,
        sha256,
        bytes,
        charged: None,
        generation_secs: 0.0,
        fetch_secs: 0.0,
    })
}

impl fmt::Debug for dyn VideoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoBackend")
            .field("id", &self.id())
            .field("kind", &self.kind())
            .field("model", &self.model())
            .finish()
    }
}
