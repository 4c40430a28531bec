//! Runway's errors mapped to ttv's kinds: HTTP errors with `{"error": "..."}` bodies, and task
//! `failureCode`s (`SAFETY.*` refused content, `INTERNAL.*` generation failures, `ASSET.*`
//! unusable inputs) per https://docs.dev.runwayml.com/errors/task-failures/.

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

use super::NAME;

/// The error for a non-success HTTP reply.
pub(crate) fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let message = body
        .get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    // Runway reports an empty credit balance as a 400 (UNCONFIRMED wording).
    let err = if reply.status.as_u16() == 400 && message.to_ascii_lowercase().contains("credits") {
        Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP 400: {message} (top up the Runway balance)"),
        )
        .with_spend(Spend::No)
    } else {
        status_error(reply.status, &reply.headers, &message, call)
    };
    err.with_backend(NAME)
}

/// The error for a task that ended `FAILED`.
pub(crate) fn from_failure(failure: Option<&str>, code: Option<&str>) -> Error {
    let text = failure.unwrap_or("the task failed");
    let code_text = code.unwrap_or("none");
    let kind = match code.unwrap_or_default() {
        c if c.starts_with("SAFETY.") => ErrorKind::ContentRejected,
        c if c.starts_with("ASSET.") || c.starts_with("INPUT_PREPROCESSING.") => {
            ErrorKind::InvalidRequest
        }
        _ => ErrorKind::JobFailed,
    };
    Error::new(kind, format!("{text} (failureCode {code_text})"))
        .with_spend(Spend::Yes)
        .with_backend(NAME)
}
