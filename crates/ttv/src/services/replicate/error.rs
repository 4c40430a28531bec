//! Replicate's errors mapped to ttv's kinds. Bodies are RFC 7807 problem details (`{type,
//! title, status, detail}`, or a bare `{detail}`): 401 a bad token, 402 no credit
//! (UNCONFIRMED), 404 an unknown model or prediction, 422 invalid input naming the field, 429
//! throttled. A model that fails — its own safety filter included ("flagged as sensitive") —
//! ends the prediction `failed` with `error` text.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

/// The error for a non-success reply.
pub(super) fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let detail = body
        .get("detail")
        .and_then(Value::as_str)
        .or_else(|| body.get("title").and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    let code = reply.status.as_u16();
    if code == 402 {
        return Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP 402: {detail} (add credit at replicate.com/account/billing)"),
        )
        .with_spend(Spend::No);
    }
    if code == 422 && detail.to_ascii_lowercase().contains("sensitive") {
        return Error::new(ErrorKind::ContentRejected, format!("HTTP 422: {detail}"));
    }
    status_error(reply.status, &reply.headers, &detail, call)
}

/// The error of a prediction that ended `failed`.
pub(super) fn from_prediction(error: Option<&str>) -> Error {
    let text = error.unwrap_or("the prediction failed");
    let lower = text.to_ascii_lowercase();
    let kind = if lower.contains("sensitive") || lower.contains("nsfw") || lower.contains("safety")
    {
        ErrorKind::ContentRejected
    } else {
        ErrorKind::JobFailed
    };
    Error::new(kind, text.to_owned()).with_spend(Spend::Yes)
}
