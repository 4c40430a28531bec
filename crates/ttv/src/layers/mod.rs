//! Cross-cutting behaviour around any backend, OpenDAL/tower style: each layer wraps a
//! [`VideoBackend`] into another [`VideoBackend`], and [`Stack::wrap`] composes them in one
//! visible place. The registry wraps every backend it builds, so the job runner and a library
//! user calling [`VideoBackend::generate`] get the same behaviour.
//!
//! ```text
//!   concurrency → retry → rate limit → timeout → the backend
//! ```
//!
//! Outermost first: the concurrency layer holds a place for a whole job ([`VideoBackend::
//! reserve`]); the retry layer repeats failed calls; inside it each attempt waits for its own
//! rate-limit token and has its own deadline (downloads excepted, see [`timeout`]), and a wait
//! for a token never counts against the deadline. Retry, rate limit and timeout wrap hosted backends only (`remote_api_settings`
//! are about remote APIs; an embedded or local backend's calls are not network requests);
//! the job limits apply to every backend.
//!
//! Every call a layer sees is one of the [`Op`]s, and [`Op::Submit`] is the paid one. Whether
//! a failed call may be sent again is decided by [`may_repeat`] and nowhere else:
//!
//! > A call that may have reached the provider is repeated only if it is idempotent (poll,
//! > fetch, cancel, look-up) or provably not received (the paid submit: only when its error
//! > says [`Spend::No`], such as connection refused, 429, or 503 with `Retry-After`).
//!
//! The timeout layer keeps that rule honest: a paid submit cut off by the deadline after its
//! request was handed to the HTTP client is [`Spend::Maybe`], never a plain retryable timeout.

pub mod concurrency;
pub mod rate_limit;
pub mod retry;
pub mod timeout;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::backend::{
    Availability, BackendKind, EventSink, Lookup, Output, Reservation, Status, Ticket, VideoBackend,
};
use crate::capabilities::{Capabilities, Resolved};
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::limits::LimitSettings;
use crate::polling::Pacing;
use crate::request::GenerationRequest;
use crate::retry::RetryPolicy;

/// One kind of call to a provider, as the layers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Creates the job: the one call that spends money.
    Submit,
    /// Asks how a job is doing.
    Poll,
    /// Downloads a finished video (continuing a broken-off download where it stopped).
    Fetch,
    /// Stops a job.
    Cancel,
    /// Looks for the job an ambiguous submit may have created.
    Lookup,
}

impl Op {
    /// Whether this call may spend money: sending it twice may buy twice.
    pub fn is_paid(self) -> bool {
        self == Self::Submit
    }

    /// A short name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Poll => "poll",
            Self::Fetch => "download",
            Self::Cancel => "cancel",
            Self::Lookup => "look-up",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one rule: whether a call of kind `op` that failed with `err` may be sent again.
///
/// Only failures that can pass ([`Error::is_retryable`]: rate limits, passing faults,
/// timeouts) are worth repeating; and the paid submit only when its error proves the provider
/// never received it ([`Spend::No`]). Everything else is idempotent.
pub fn may_repeat(op: Op, err: &Error) -> bool {
    err.is_retryable() && (!op.is_paid() || err.spend() == Spend::No)
}

/// What a call answered.
#[derive(Debug)]
pub enum Answer {
    /// A submit's ticket.
    Ticket(Ticket),
    /// A poll's status.
    Status(Status),
    /// A fetch: the video's size in bytes.
    Fetched(u64),
    /// A cancel.
    Cancelled,
    /// A look-up.
    Lookup(Lookup),
}

/// A future of a call's answer.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<Answer>> + Send + 'a>>;

/// Sends the call once more through the layers below; each call starts a fresh attempt.
pub type Next<'a> = &'a (dyn Fn() -> Pending<'a> + Send + Sync);

/// Behaviour around calls to a backend. A layer sees every call with its [`Op`] and decides
/// how (and how often) to send it on with `next`.
#[async_trait]
pub trait Layer: Send + Sync + fmt::Debug + 'static {
    /// Runs one call of kind `op`.
    async fn around(&self, op: Op, next: Next<'_>) -> Result<Answer>;

    /// A place for one job, held until the job ends; none by default.
    async fn reserve(&self) -> Reservation {
        Reservation::default()
    }

    /// How the polls of `backend`'s jobs are paced, given what the layers below say
    /// (`inner`); unchanged by default.
    fn pacing(&self, backend: &dyn VideoBackend, inner: Pacing) -> Pacing {
        let _ = backend;
        inner
    }
}

/// A backend wrapped in layer `L`: itself a [`VideoBackend`], so layers stack.
pub struct Layered<L> {
    layer: L,
    inner: Arc<dyn VideoBackend>,
}

impl<L: Layer> Layered<L> {
    /// `inner` wrapped in `layer`.
    pub fn new(layer: L, inner: Arc<dyn VideoBackend>) -> Self {
        Self { layer, inner }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The backend inside.
    pub fn inner(&self) -> &Arc<dyn VideoBackend> {
        &self.inner
    }
}

impl<L: Layer> fmt::Debug for Layered<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("layer", &self.layer)
            .field("inner", &self.inner)
            .finish()
    }
}

/// The error for an answer of the wrong kind: a layer bug, never a provider's doing.
fn mismatch(op: Op, answer: &Answer) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("internal error: a {op} call answered {answer:?}"),
    )
}

#[async_trait]
impl<L: Layer> VideoBackend for Layered<L> {
    fn id(&self) -> &'static str {
        self.inner.id()
    }

    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn model(&self) -> Option<&str> {
        self.inner.model()
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn availability(&self) -> Availability {
        self.inner.availability()
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        self.inner.validate(req)
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        self.inner.estimate_cost(req)
    }

    fn poll_interval(&self) -> Duration {
        self.inner.poll_interval()
    }

    fn pacing(&self) -> Pacing {
        self.layer.pacing(self.inner.as_ref(), self.inner.pacing())
    }

    async fn reserve(&self) -> Reservation {
        let mut held = self.layer.reserve().await;
        held.join(self.inner.reserve().await);
        held
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let next = || -> Pending<'_> {
            Box::pin(async { self.inner.submit(req, resolved).await.map(Answer::Ticket) })
        };
        match self.layer.around(Op::Submit, &next).await? {
            Answer::Ticket(t) => Ok(t),
            other => Err(mismatch(Op::Submit, &other)),
        }
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let next = || -> Pending<'_> {
            Box::pin(async { self.inner.poll(ticket).await.map(Answer::Status) })
        };
        match self.layer.around(Op::Poll, &next).await? {
            Answer::Status(s) => Ok(s),
            other => Err(mismatch(Op::Poll, &other)),
        }
    }

    async fn status_stream(&self, ticket: &Ticket) -> Option<crate::backend::StatusStream> {
        self.inner.status_stream(ticket).await
    }

    fn wakeup(&self, ticket: &Ticket) -> Option<crate::webhooks::Wakeup> {
        self.inner.wakeup(ticket)
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        let next = || -> Pending<'_> {
            Box::pin(async {
                self.inner
                    .fetch(output, into, events)
                    .await
                    .map(Answer::Fetched)
            })
        };
        match self.layer.around(Op::Fetch, &next).await? {
            Answer::Fetched(n) => Ok(n),
            other => Err(mismatch(Op::Fetch, &other)),
        }
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        let next = || -> Pending<'_> {
            Box::pin(async { self.inner.cancel(ticket).await.map(|()| Answer::Cancelled) })
        };
        match self.layer.around(Op::Cancel, &next).await? {
            Answer::Cancelled => Ok(()),
            other => Err(mismatch(Op::Cancel, &other)),
        }
    }

    async fn find_submitted(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        since: DateTime<Utc>,
    ) -> Result<Lookup> {
        let next = || -> Pending<'_> {
            Box::pin(async {
                self.inner
                    .find_submitted(req, resolved, since)
                    .await
                    .map(Answer::Lookup)
            })
        };
        match self.layer.around(Op::Lookup, &next).await? {
            Answer::Lookup(l) => Ok(l),
            other => Err(mismatch(Op::Lookup, &other)),
        }
    }
}

/// What the layers are built from: `remote_api_settings` and `limits` of the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerSettings {
    /// Retries, the per-call deadline (`call_timeout`) and the job deadline.
    pub retry: RetryPolicy,
    /// Jobs in flight and request rates.
    pub limits: LimitSettings,
    /// Hosted backends poll adaptively ([`crate::polling`]) instead of at their fixed
    /// interval. The configuration turns it on unless `remote_api_settings.adaptive_polling`
    /// is `false` or a `polling_interval` is set; off in [`Default`] (a library user
    /// building layers by hand chooses).
    pub adaptive_polling: bool,
}

/// The layers of this process, built once: the job places and token buckets inside are
/// shared by every backend wrapped with it (cheap to clone; clones share them).
#[derive(Debug, Clone, Default)]
pub struct Stack {
    retry: RetryPolicy,
    jobs: concurrency::JobLimits,
    rates: rate_limit::Rates,
    adaptive_polling: bool,
}

impl Stack {
    /// Builds the layers, refusing limits that would stop everything.
    pub fn new(settings: &LayerSettings) -> Result<Self> {
        Ok(Self {
            retry: settings.retry.clone(),
            jobs: concurrency::JobLimits::new(&settings.limits)?,
            rates: rate_limit::Rates::new(&settings.limits)?,
            adaptive_polling: settings.adaptive_polling,
        })
    }

    /// The retry policy the stack retries with.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `backend` inside every layer that applies to it, in the order the module documents.
    pub fn wrap(&self, backend: Arc<dyn VideoBackend>) -> Arc<dyn VideoBackend> {
        let name = backend.id();
        let mut wrapped = backend;
        if wrapped.kind() == BackendKind::Hosted {
            if let Some(limit) = self.retry.call_timeout {
                wrapped = Arc::new(Layered::new(timeout::Timeout::new(limit), wrapped));
            }
            if let Some(bucket) = self.rates.bucket(name) {
                wrapped = Arc::new(Layered::new(bucket, wrapped));
            }
            wrapped = Arc::new(Layered::new(retry::Retry::new(self.retry.clone()), wrapped));
            if self.adaptive_polling {
                wrapped = crate::polling::adaptive(wrapped, None);
            }
        }
        if let Some(places) = self.jobs.places(name) {
            wrapped = Arc::new(Layered::new(places, wrapped));
        }
        wrapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_provably_unreceived_paid_submits_and_retryable_reads_are_repeated() {
        let transient = |spend| Error::new(ErrorKind::Transient, "x").with_spend(spend);
        let limited = Error::new(ErrorKind::RateLimited, "429");
        let refused = Error::new(ErrorKind::InvalidRequest, "400");
        for op in [Op::Poll, Op::Fetch, Op::Cancel, Op::Lookup] {
            assert!(may_repeat(op, &transient(Spend::No)), "{op}");
            assert!(may_repeat(op, &limited), "{op}");
            assert!(!may_repeat(op, &refused), "{op}");
        }
        assert!(may_repeat(Op::Submit, &transient(Spend::No)));
        assert!(may_repeat(Op::Submit, &limited));
        assert!(!may_repeat(Op::Submit, &transient(Spend::Maybe)));
        assert!(!may_repeat(Op::Submit, &transient(Spend::Yes)));
        assert!(!may_repeat(
            Op::Submit,
            &Error::new(ErrorKind::Timeout, "late").with_spend(Spend::Maybe)
        ));
        assert!(!may_repeat(Op::Submit, &refused));
    }
}

#[cfg(test)]
pub(crate) mod testing;
