//! Luma's errors mapped to ttv's kinds. The SDKs document the statuses (400, 401, 403, 404,
//! 422, 429, ≥ 500) but not the body, so the message is read from `detail`, `error.message`
//! or `message`. A generation that failed carries a `failure_code` on the Agents API
//! (`content_moderated`, `budget_exhausted`, `image_too_large`, …) and only a
//! `failure_reason` on Dream Machine.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

fn message(body: &Value) -> Option<String> {
    body.get("detail")
        .and_then(|d| {
            d.as_str()
                .map(str::to_owned)
                .or_else(|| (!d.is_null()).then(|| d.to_string()))
        })
        .or_else(|| {
            body.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            body.get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

/// The error for a non-success reply.
pub(super) fn from_reply(reply: &Reply, call: Call) -> Error {
    let text = message(&reply.value()).unwrap_or_else(|| snippet(&reply.body));
    let lower = text.to_ascii_lowercase();
    let code = reply.status.as_u16();
    if matches!(code, 400 | 402 | 403)
        && (lower.contains("credit") || lower.contains("balance") || lower.contains("budget"))
    {
        return Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP {code}: {text} (top up the Luma account)"),
        )
        .with_spend(Spend::No);
    }
    if matches!(code, 400 | 422) && (lower.contains("moderat") || lower.contains("safety")) {
        return Error::new(ErrorKind::ContentRejected, format!("HTTP {code}: {text}"));
    }
    status_error(reply.status, &reply.headers, &text, call)
}

/// The error of a generation that ended `failed`.
pub(super) fn from_failure(code: Option<&str>, reason: Option<&str>) -> Error {
    let reason = reason.unwrap_or("the generation failed");
    let kind = match code {
        Some("content_moderated") => ErrorKind::ContentRejected,
        Some("budget_exhausted") => ErrorKind::QuotaExceeded,
        Some("rate_limited") => ErrorKind::RateLimited,
        Some("image_too_large" | "unsupported_format" | "corrupt_input" | "invalid_request") => {
            ErrorKind::InvalidRequest
        }
        None if reason.to_ascii_lowercase().contains("moderat") => ErrorKind::ContentRejected,
        _ => ErrorKind::JobFailed,
    };
    Error::new(
        kind,
        format!("{reason} ({})", code.unwrap_or("no failure_code")),
    )
    .with_spend(Spend::Yes)
}
