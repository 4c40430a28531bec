//! Model Studio's errors mapped to ttv's kinds: bodies `{request_id, code, message}` with the
//! codes of Alibaba Cloud's error-code page. `Arrearage` (overdue account) and an exhausted
//! free quota are quota problems; `DataInspectionFailed` is a moderation refusal (UNCONFIRMED
//! for video).

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

fn parts(body: &Value) -> (String, String) {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("code"), text("message"))
}

/// The error for a non-success reply.
pub(super) fn from_reply(reply: &Reply, call: Call) -> Error {
    let (code, mut message) = parts(&reply.value());
    if message.is_empty() {
        message = snippet(&reply.body);
    }
    let text = format!("HTTP {}: {code}: {message}", reply.status.as_u16());
    let free_quota =
        code == "Throttling.AllocationQuota" && message.to_ascii_lowercase().contains("free");
    if code == "Arrearage" || free_quota {
        return Error::new(
            ErrorKind::QuotaExceeded,
            format!("{text} (top up the Alibaba Cloud account)"),
        )
        .with_spend(Spend::No);
    }
    if code.starts_with("DataInspectionFailed") {
        return Error::new(ErrorKind::ContentRejected, text);
    }
    status_error(
        reply.status,
        &reply.headers,
        &format!("{code}: {message}"),
        call,
    )
}

/// The error of a task that ended `FAILED` (or `UNKNOWN`).
pub(super) fn from_task(code: Option<&str>, message: Option<&str>, status: &str) -> Error {
    let code = code.unwrap_or(status);
    let kind = if code.starts_with("DataInspectionFailed") {
        ErrorKind::ContentRejected
    } else {
        ErrorKind::JobFailed
    };
    let message = message.unwrap_or("the task failed");
    Error::new(kind, format!("{message} ({code})")).with_spend(Spend::Yes)
}
