//! ModelArk's errors mapped to ttv's kinds. Bodies are `{"error": {"code", "message"}}`; the
//! codes below are from third-party mirrors of BytePlus's error page (UNCONFIRMED): sensitive
//! inputs are `…SensitiveContentDetected`, an empty balance `AccountOverdueError`, limits
//! `RateLimitExceeded…`/`QuotaExceeded`/`ServerOverloaded`.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

/// The `(code, message)` of an error body.
fn parts(body: &Value) -> (String, String) {
    let e = body.get("error").unwrap_or(body);
    let text = |k: &str| {
        e.get(k)
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
    if code.contains("SensitiveContent") {
        return Error::new(ErrorKind::ContentRejected, text);
    }
    if code.starts_with("AccountOverdue") || code == "QuotaExceeded" {
        return Error::new(
            ErrorKind::QuotaExceeded,
            format!("{text} (top up the ModelArk account)"),
        )
        .with_spend(Spend::No);
    }
    if code.starts_with("ModelNotOpen") {
        return Error::new(
            ErrorKind::Unavailable,
            format!("{text} (activate the model in the ModelArk console)"),
        );
    }
    status_error(
        reply.status,
        &reply.headers,
        &format!("{code}: {message}"),
        call,
    )
}

/// The error of a task that ended `failed` (or `expired`).
pub(super) fn from_task(error: Option<&Value>, status: &str) -> Error {
    let (code, message) = error.map(parts).unwrap_or_default();
    let kind = if code.contains("SensitiveContent") {
        ErrorKind::ContentRejected
    } else {
        ErrorKind::JobFailed
    };
    let message = if message.is_empty() {
        format!("the task ended {status}")
    } else {
        message
    };
    Error::new(
        kind,
        format!(
            "{message} ({})",
            if code.is_empty() { status } else { &code }
        ),
    )
    .with_spend(Spend::Yes)
}
