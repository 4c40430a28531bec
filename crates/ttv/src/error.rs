//! The one error type of ttv.
//!
//! Every failure carries an [`ErrorKind`], and the kind alone answers the three questions the
//! router, the retry layer and the job store ask: may this call be retried, may another backend
//! be tried instead, and may money already have been spent. (Whether a *paid* call may be
//! repeated also needs [`Spend`]; [`crate::layers::may_repeat`] puts the two together.) Provider modules map their own
//! error bodies onto these kinds; nothing outside a provider's folder looks at provider codes.

use std::fmt;
use std::time::Duration;

/// What went wrong, in the terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is wrong for this backend (bad field value, missing image, ...).
    InvalidRequest,
    /// The backend cannot do this at all (mode, duration, resolution it does not offer).
    Unsupported,
    /// Credentials are missing, wrong or expired.
    Auth,
    /// The provider asked us to slow down.
    RateLimited,
    /// A passing failure: a dropped connection, a 503, a server hiccup.
    Transient,
    /// The backend cannot be used here (not configured, not built, GPU missing, outage).
    Unavailable,
    /// The provider balance, quota or our own budget is exhausted.
    QuotaExceeded,
    /// A safety filter refused the input or the output.
    ContentRejected,
    /// The provider accepted the job and then failed it.
    JobFailed,
    /// The job was cancelled by the user.
    Cancelled,
    /// A deadline passed.
    Timeout,
    /// A local file could not be read or written.
    Io,
    /// The configuration is wrong.
    Config,
    /// The output is not a playable video.
    InvalidOutput,
    /// The address of a finished video has expired or was refused; a fresh one has to be
    /// asked for (by polling the job again), repeating the same download will not help.
    OutputExpired,
    /// A paid request may or may not have reached the provider, so it was not sent again: the
    /// job waits in state `unknown` until it is settled (automatically where the provider
    /// lets ttv look the request up, else with `ttv jobs resolve`).
    Unsettled,
}

impl ErrorKind {
    /// Whether repeating the same call later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Transient | Self::Timeout)
    }

    /// Whether another backend may succeed where this one failed. Content rejection is a
    /// policy decision of the router and is not included here.
    pub fn is_fallback_worthy(self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::QuotaExceeded | Self::Unsupported | Self::Auth
        )
    }

    /// A short stable name, used in JSON output and exit-code mapping.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unsupported => "unsupported",
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Transient => "transient",
            Self::Unavailable => "unavailable",
            Self::QuotaExceeded => "quota_exceeded",
            Self::ContentRejected => "content_rejected",
            Self::JobFailed => "job_failed",
            Self::Cancelled => "cancelled",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Config => "config",
            Self::InvalidOutput => "invalid_output",
            Self::OutputExpired => "output_expired",
            Self::Unsettled => "unsettled",
        }
    }

    /// Whether the fault lies in what the user asked for rather than in a backend.
    pub fn is_user_input(self) -> bool {
        matches!(
            self,
            Self::InvalidRequest | Self::Unsupported | Self::Config
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a paid request may have reached the provider before the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spend {
    /// Nothing billable was sent.
    No,
    /// A paid request may have been received: never resubmit blindly.
    Maybe,
    /// The provider accepted a paid request.
    Yes,
}

/// One problem with one field of a request, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The field, in the request's own terms (`duration`, `image`, `resolution`).
    pub field: String,
    /// The value given, rendered for people (never a secret).
    pub value: String,
    /// What is allowed instead.
    pub allowed: String,
}

impl Problem {
    /// A problem with `field`, whose `value` is not in `allowed`.
    pub fn new(
        field: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; expected {}",
            self.field, self.value, self.allowed
        )
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error type of every fallible ttv operation.
pub struct Error {
    kind: ErrorKind,
    message: String,
    backend: Option<String>,
    problems: Vec<Problem>,
    retry_after: Option<Duration>,
    spend: Spend,
    source: Option<Source>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message a person can act on.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            backend: None,
            problems: Vec::new(),
            retry_after: None,
            spend: Spend::No,
            source: None,
        }
    }

    /// An `InvalidRequest` listing every problem found at once.
    pub fn invalid(problems: Vec<Problem>) -> Self {
        let message = match problems.len() {
            1 => "the request has 1 problem".to_owned(),
            n => format!("the request has {n} problems"),
        };
        Self {
            problems,
            ..Self::new(ErrorKind::InvalidRequest, message)
        }
    }

    /// Lists `problems` with the error (each naming a field, the value and what is allowed).
    pub fn with_problems(mut self, problems: Vec<Problem>) -> Self {
        self.problems = problems;
        self
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A local I/O error on `path`.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{what}: {err}")).with_source(err)
    }

    /// Names the backend the error came from.
    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = Some(backend.into());
        self
    }

    /// Attaches the provider's suggested wait before the next attempt.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Records whether money may have been spent.
    pub fn with_spend(mut self, spend: Spend) -> Self {
        self.spend = spend;
        self
    }

    /// Keeps the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the backend name or the problems.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The backend the error came from, if known.
    pub fn backend(&self) -> Option<&str> {
        self.backend.as_deref()
    }

    /// Every problem found with the request (empty unless `InvalidRequest`/`Unsupported`).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The provider's suggested wait, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether money may have been spent.
    pub fn spend(&self) -> Spend {
        self.spend
    }

    /// Whether repeating the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// Whether another backend may succeed where this one failed.
    pub fn is_fallback_worthy(&self) -> bool {
        self.kind.is_fallback_worthy()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(backend) = &self.backend {
            write!(f, "{backend}: ")?;
        }
        f.write_str(&self.message)?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(backend) = &self.backend {
            d.field("backend", backend);
        }
        if !self.problems.is_empty() {
            d.field("problems", &self.problems);
        }
        if let Some(after) = self.retry_after {
            d.field("retry_after", &after);
        }
        if self.spend != Spend::No {
            d.field("spend", &self.spend);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_answer_retry_and_fallback() {
        assert!(ErrorKind::RateLimited.is_retryable());
        assert!(ErrorKind::Transient.is_retryable());
        assert!(!ErrorKind::InvalidRequest.is_retryable());
        assert!(!ErrorKind::ContentRejected.is_retryable());
        assert!(ErrorKind::QuotaExceeded.is_fallback_worthy());
        assert!(ErrorKind::Unavailable.is_fallback_worthy());
        assert!(!ErrorKind::JobFailed.is_fallback_worthy());
        assert!(!ErrorKind::Cancelled.is_fallback_worthy());
        // A job that may have been bought is neither repeated nor moved elsewhere.
        assert!(!ErrorKind::Unsettled.is_retryable());
        assert!(!ErrorKind::Unsettled.is_fallback_worthy());
        // The same expired address would be refused again.
        assert!(!ErrorKind::OutputExpired.is_retryable());
    }

    #[test]
    fn kind_names_are_stable() {
        assert_eq!(ErrorKind::Unsettled.as_str(), "unsettled");
        assert_eq!(ErrorKind::OutputExpired.as_str(), "output_expired");
        assert_eq!(
            serde_json::to_value(ErrorKind::Unsettled).unwrap(),
            serde_json::json!("unsettled")
        );
    }

    #[test]
    fn invalid_request_lists_every_problem() {
        let err = Error::invalid(vec![
            Problem::new("duration", "45s", "1s to 30s"),
            Problem::new("fps", 120, "8 to 60"),
        ])
        .with_backend("animatic");
        let text = err.to_string();
        assert_eq!(
            text,
            "animatic: the request has 2 problems\n  - duration: 45s; expected 1s to 30s\n  - fps: 120; expected 8 to 60"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }
}
