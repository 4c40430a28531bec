//! fal's errors mapped to ttv's kinds, per https://fal.ai/docs/documentation/model-apis/errors:
//! `{"detail": "<text>", "error_type": ...}` for request errors and `{"detail": [{loc, msg,
//! type}]}` for 422 validation and content-policy errors.
//!
//! An exhausted balance is `403 {"detail": "User is locked. Reason: Exhausted balance. Top up
//! your balance at fal.ai/dashboard/billing."}` (seen in user reports on github.com/fal-ai/fal,
//! issues 1112 and 1147; not in fal's docs).

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

use super::NAME;

/// The message and the machine types in a fal error body.
fn detail(body: &Value) -> (String, Vec<String>) {
    match body.get("detail") {
        Some(Value::String(s)) => (
            s.clone(),
            body.get("error_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .into_iter()
                .collect(),
        ),
        Some(Value::Array(items)) => {
            let msgs: Vec<String> = items
                .iter()
                .map(|i| {
                    let loc = i
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    let msg = i.get("msg").and_then(Value::as_str).unwrap_or_default();
                    format!("{loc}: {msg}")
                })
                .collect();
            let types = items
                .iter()
                .filter_map(|i| i.get("type").and_then(Value::as_str).map(str::to_owned))
                .collect();
            (msgs.join("; "), types)
        }
        _ => (String::new(), Vec::new()),
    }
}

/// The error for a non-success HTTP reply.
pub(crate) fn from_reply(reply: &Reply, call: Call) -> Error {
    let (mut message, types) = detail(&reply.value());
    if message.is_empty() {
        message = snippet(&reply.body);
    }
    let code = reply.status.as_u16();
    let err = if types.iter().any(|t| t == "content_policy_violation") {
        Error::new(
            ErrorKind::ContentRejected,
            format!("HTTP {code}: {message}"),
        )
    } else if code == 403 && message.to_ascii_lowercase().contains("balance") {
        Error::new(ErrorKind::QuotaExceeded, format!("HTTP 403: {message}")).with_spend(Spend::No)
    } else {
        status_error(reply.status, &reply.headers, &message, call)
    };
    err.with_backend(NAME)
}

/// The error for a request that completed with an error.
pub(crate) fn from_completed(error: &str, error_type: Option<&str>) -> Error {
    let kind = match error_type {
        Some("content_policy_violation") => ErrorKind::ContentRejected,
        Some("request_cancelled") => ErrorKind::Cancelled,
        _ => ErrorKind::JobFailed,
    };
    Error::new(
        kind,
        format!("{error} ({})", error_type.unwrap_or("no error_type")),
    )
    .with_backend(NAME)
}
