//! The one error type of the HTTP API, and how each API family writes it: OpenAI's
//! `{"error": {"message", "type", "param", "code"}}` under `/v1`, the original pipeline's
//! `{"error", "message", "details", "timestamp"}` under `/jobs`. Messages never carry secrets:
//! they come from ttv's errors, which redact keys, or from this crate.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ttv::ErrorKind;

/// A refused or failed request.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error`, `server_error`, ...
    pub kind: &'static str,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// The field at fault, when one is.
    pub param: Option<String>,
    /// What went wrong, in the user's words.
    pub message: String,
}

impl ApiError {
    /// A 400 about `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: "invalid_value",
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A 400 about the body as a whole (not JSON, say).
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: "invalid_json",
            param: None,
            message: message.into(),
        }
    }

    /// A 404 for job `id`.
    pub fn not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "not_found",
            param: None,
            message: format!("no job or video with id {id:?}"),
        }
    }

    /// A 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: "invalid_api_key",
            param: None,
            message: message.into(),
        }
    }

    /// A 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            kind: "invalid_request_error",
            code,
            param: None,
            message: message.into(),
        }
    }

    /// A 503 while the server shuts down.
    pub fn shutting_down() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            code: "shutting_down",
            param: None,
            message: "the server is shutting down and takes no new jobs; try again shortly".into(),
        }
    }

    /// A 500 that hides nothing the caller could act on, and nothing secret.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            code: "internal_error",
            param: None,
            message: message.to_string(),
        }
    }

    /// Writes the error in OpenAI's shape.
    pub fn openai(self) -> Response {
        let body = json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        (self.status, axum::Json(body)).into_response()
    }

    /// Writes the error in the original pipeline's shape.
    pub fn pipeline(self) -> Response {
        let body = json!({
            "error": self.code,
            "message": self.message,
            "details": self.param.map(|p| json!({ "field": p })),
            "timestamp": chrono::Utc::now(),
            "retryable": self.status.is_server_error(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<ttv::Error> for ApiError {
    fn from(e: ttv::Error) -> Self {
        let problems = e.problems();
        let param = problems.first().map(|p| p.field.clone());
        let message = if problems.is_empty() {
            e.message().to_owned()
        } else {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("{}: {}", e.message(), lines.join("; "))
        };
        let (status, kind, code) = match e.kind() {
            ErrorKind::InvalidRequest | ErrorKind::Unsupported => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_value",
            ),
            ErrorKind::Config | ErrorKind::Unavailable => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "backend_unavailable",
            ),
            ErrorKind::QuotaExceeded => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "budget_exceeded",
            ),
            ErrorKind::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limited",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
            ),
        };
        Self {
            status,
            kind,
            code,
            param,
            message,
        }
    }
}

/// An [`ApiError`] written in OpenAI's shape (the `/v1` routes).
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        self.0.openai()
    }
}

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

/// An [`ApiError`] written in the original pipeline's shape (the `/jobs` routes).
#[derive(Debug)]
pub struct PipelineError(pub ApiError);

impl IntoResponse for PipelineError {
    fn into_response(self) -> Response {
        self.0.pipeline()
    }
}

impl<E: Into<ApiError>> From<E> for PipelineError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}
