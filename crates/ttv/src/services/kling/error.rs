//! Kling's errors mapped to ttv's kinds, per the first-party error-code table
//! (`{code, message, request_id}`): 1000–1004 authentication (401), 1101 arrears and 1102 an
//! empty resource pack (429, but a quota, not a rate), 1103 no permission (403), 1200–1203
//! bad requests, 1300/1301 platform policy and content safety (400), 1302 rate limit, 1303
//! concurrency over the pack's limit, 1304 IP whitelist (429), 5000–5002 server (5xx).

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

/// The error for a reply that is not HTTP 2xx, or a 2xx with a non-zero `code`.
pub(super) fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let code = body.get("code").and_then(Value::as_i64).unwrap_or(-1);
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    let text = format!("HTTP {} code {code}: {message}", reply.status.as_u16());
    match code {
        1000..=1004 => Error::new(
            ErrorKind::Auth,
            format!("{text} (check KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY)"),
        ),
        1101 | 1102 => Error::new(
            ErrorKind::QuotaExceeded,
            format!("{text} (top up the Kling resource pack)"),
        )
        .with_spend(Spend::No),
        1100 | 1103 | 1304 => Error::new(ErrorKind::Auth, text),
        1300 | 1301 => Error::new(ErrorKind::ContentRejected, text),
        1302 | 1303 => {
            let mut e = Error::new(ErrorKind::RateLimited, text);
            if let Some(after) = crate::http::retry_after(&reply.headers) {
                e = e.with_retry_after(after);
            }
            e
        }
        1200..=1203 => Error::new(ErrorKind::InvalidRequest, text),
        _ => status_error(
            reply.status,
            &reply.headers,
            &format!("code {code}: {message}"),
            call,
        ),
    }
}

/// The error of a task that ended `failed`. Kling's `task_status_msg` is free text; output
/// moderation reads as a failed task whose message mentions risk or safety.
pub(super) fn from_task(message: Option<&str>) -> Error {
    let message = message.unwrap_or("the task failed");
    let lower = message.to_ascii_lowercase();
    let kind = if lower.contains("risk") || lower.contains("safety") || lower.contains("sensitive")
    {
        ErrorKind::ContentRejected
    } else {
        ErrorKind::JobFailed
    };
    Error::new(kind, message.to_owned()).with_spend(Spend::Yes)
}
