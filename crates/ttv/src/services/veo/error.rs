//! Google's errors mapped to ttv's kinds: the standard HTTP envelope `{"error": {code,
//! message, status, details}}`, failed operations (`done` with `error: {code, message}`,
//! gRPC codes), and safety-filtered results (`raiMediaFilteredCount` > 0, no videos).
//!
//! `429 RESOURCE_EXHAUSTED` covers both per-minute rate limits and exhausted quota. On a
//! submit it is reported as `QuotaExceeded` (fallback-worthy: another backend may have
//! capacity; nothing was bought); on a poll or download, where the job is already paid for,
//! as `RateLimited`, so the read is retried. Either way the server's `Retry-After` is kept. The Gemini API answers a bad key with `400 INVALID_ARGUMENT`
//! and reason `API_KEY_INVALID`, which is an `Auth` error here.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, retry_after, snippet, status_error};

use super::NAME;

/// The error for a non-success HTTP reply.
pub(crate) fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let error = body.get("error");
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    let status = error
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reasons: Vec<&str> = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("reason").and_then(Value::as_str))
        .collect();
    let code = reply.status.as_u16();
    let text = if status.is_empty() {
        format!("HTTP {code}: {message}")
    } else {
        format!("HTTP {code} {status}: {message}")
    };
    let err = if code == 429 || status == "RESOURCE_EXHAUSTED" {
        let kind = match call {
            Call::Paid => ErrorKind::QuotaExceeded,
            Call::Free => ErrorKind::RateLimited,
        };
        let mut e = Error::new(
            kind,
            format!("{text} (quota or rate limit; check the project's Veo quota and billing)"),
        )
        .with_spend(Spend::No);
        if let Some(after) = retry_after(&reply.headers) {
            e = e.with_retry_after(after);
        }
        e
    } else if reasons.contains(&"API_KEY_INVALID") || status == "UNAUTHENTICATED" {
        Error::new(
            ErrorKind::Auth,
            format!("{text} (check the API key or service-account credentials)"),
        )
    } else if status == "PERMISSION_DENIED" {
        Error::new(
            ErrorKind::Auth,
            format!("{text} (the key or service account lacks access to Veo in this project)"),
        )
    } else {
        status_error(reply.status, &reply.headers, &message, call)
    };
    err.with_backend(NAME)
}

/// The error for an operation that finished with `error`. The code is a gRPC code.
pub(crate) fn from_operation(error: &Value) -> Error {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the operation failed");
    let lower = message.to_ascii_lowercase();
    let kind = if lower.contains("safety")
        || lower.contains("usage guidelines")
        || lower.contains("responsible ai")
        || lower.contains("violat")
    {
        ErrorKind::ContentRejected
    } else {
        match code {
            3 | 9 | 11 => ErrorKind::InvalidRequest,
            8 => ErrorKind::QuotaExceeded,
            _ => ErrorKind::JobFailed,
        }
    };
    Error::new(kind, format!("{message} (operation error code {code})"))
        .with_spend(Spend::Yes)
        .with_backend(NAME)
}

/// The error for a finished operation whose videos were all removed by the safety filter.
pub(crate) fn filtered(count: u64, reasons: &[String]) -> Error {
    let why = if reasons.is_empty() {
        "no reason given".to_owned()
    } else {
        reasons.join("; ")
    };
    Error::new(
        ErrorKind::ContentRejected,
        format!("Google's safety filter removed {count} video(s): {why}"),
    )
    .with_spend(Spend::Yes)
    .with_backend(NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn reply(code: u16, body: Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(code).unwrap(),
            headers: HeaderMap::new(),
            body: body.to_string().into(),
        }
    }

    #[test]
    fn resource_exhausted_is_a_fallback_worthy_quota_error() {
        let e = from_reply(
            &reply(
                429,
                serde_json::json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}),
            ),
            Call::Paid,
        );
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(e.is_fallback_worthy());
        assert_eq!(e.spend(), Spend::No);
    }

    #[test]
    fn an_invalid_gemini_key_is_an_auth_error() {
        let e = from_reply(
            &reply(
                400,
                serde_json::json!({"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
            ),
            Call::Paid,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[test]
    fn safety_failures_are_content_rejections() {
        let e = from_operation(
            &serde_json::json!({"code": 3, "message": "The prompt could not be submitted. It violates usage guidelines."}),
        );
        assert_eq!(e.kind(), ErrorKind::ContentRejected);
        let e = from_operation(&serde_json::json!({"code": 13, "message": "Internal error"}));
        assert_eq!(e.kind(), ErrorKind::JobFailed);
    }
}
