//! BytePlus ModelArk content-generation tasks (Seedance), under `/api/v3`: `POST
//! /contents/generations/tasks` → `{id}`, `GET …/tasks/{id}`, `DELETE …/tasks/{id}` (cancels
//! a queued task, deletes a finished one's record, refuses a running one), with
//! `Authorization: Bearer`. Errors are `{error: {code, message}}`; data URIs over 10 MB are
//! refused (UNCONFIRMED limit, as in the backend).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, inline_size, json};
use crate::state::Phase;

const URI_MAX: usize = 10 * 1024 * 1024;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        json!({ "error": { "code": code, "message": message, "type": "BadRequest" } }),
    )
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServiceError",
        "The service encountered an unexpected internal error.",
    )
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    let rest = call.path.strip_prefix("/api/v3/contents/generations/tasks");
    let endpoint = match (call.method, rest) {
        (&Method::POST, Some("")) => Endpoint::Submit,
        (&Method::GET, Some(id)) if id.len() > 1 => Endpoint::Poll,
        (&Method::DELETE, Some(id)) if id.len() > 1 => Endpoint::Cancel,
        _ => return Reply::unrouted(error(StatusCode::NOT_FOUND, "NotFound", "not found")),
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationError",
            "The API key or AK/SK in the request is missing or invalid.",
        ));
    }
    let fault = call.state.fault(Provider::Seedance, endpoint);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, endpoint, |kind| match kind {
            FaultKind::InvalidKey => Some(error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationError",
                "The API key in the request is invalid.",
            )),
            FaultKind::RateLimited => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitExceeded.EndpointRPMExceeded",
                "Request rate exceeds the RPM limit.",
            )),
            FaultKind::Unavailable => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServerOverloaded",
                "The service is overloaded.",
            )),
            FaultKind::InsufficientBalance => Some(error(
                StatusCode::FORBIDDEN,
                "AccountOverdueError",
                "Your account has an overdue balance.",
            )),
            FaultKind::Moderation => Some(error(
                StatusCode::BAD_REQUEST,
                "InputTextSensitiveContentDetected",
                "The request failed because the input text may contain sensitive information.",
            )),
            FaultKind::ServerError => Some(internal()),
            _ => None,
        })
    {
        return reply(r);
    }
    let id = rest.unwrap_or_default().trim_start_matches('/');
    match endpoint {
        Endpoint::Submit => submit(call, fault.as_ref()),
        Endpoint::Cancel => reply(cancel(call, id)),
        _ => reply(after_fault(fault.as_ref(), task(call, id), internal)),
    }
}

fn submit(call: &Call<'_>, fault: Option<&FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "invalid JSON",
        ));
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !model.contains("seedance") {
        return reply(error(
            StatusCode::NOT_FOUND,
            "InvalidEndpointOrModel.NotFound",
            &format!("The model {model} does not exist"),
        ));
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if content.is_empty() {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "content is required",
        ));
    }
    for item in &content {
        if let Some(url) = item.pointer("/image_url/url").and_then(Value::as_str)
            && inline_size(url, false).is_some_and(|n| n * 4 / 3 > URI_MAX)
        {
            return reply(error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "image_url: the image exceeds the 10 MB limit",
            ));
        }
    }
    let secs = body.get("duration").and_then(Value::as_u64).unwrap_or(5) as u32;
    if !(2..=15).contains(&secs) {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "duration must be between 2 and 15",
        ));
    }
    let short = match body
        .get("resolution")
        .and_then(Value::as_str)
        .unwrap_or("720p")
    {
        "480p" => 480,
        "720p" => 720,
        "1080p" => 1080,
        other => {
            return reply(error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("resolution {other} is invalid"),
            ));
        }
    };
    let size = match body.get("ratio").and_then(Value::as_str).unwrap_or("16:9") {
        "9:16" => ttv::Resolution::new(short, short * 16 / 9),
        "1:1" => ttv::Resolution::new(short, short),
        _ => ttv::Resolution::new(short * 16 / 9, short),
    };
    let id = format!("cgt-{}", uuid::Uuid::new_v4().simple());
    call.state.create(
        Provider::Seedance,
        id.clone(),
        size,
        secs,
        String::new(),
        fault,
    );
    let answer = JsonReply(StatusCode::OK, json!({ "id": id }));
    reply(after_fault(fault, answer, internal)).paid()
}

fn task(call: &Call<'_>, id: &str) -> JsonReply {
    let state = call.state;
    let Some(job) = state.job(id).filter(|j| j.provider == Provider::Seedance) else {
        return JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "error": { "code": "ResourceNotFound", "message": "The specified task does not exist." } }),
        );
    };
    let now = chrono::Utc::now().timestamp();
    let mut body =
        json!({ "id": job.id, "model": "seedance", "created_at": now, "updated_at": now });
    let tokens =
        u64::from(job.size.width) * u64::from(job.size.height) * 24 * u64::from(job.duration_secs)
            / 1024;
    let extra = match state.phase(&job) {
        Phase::Queued { .. } => json!({ "status": "queued" }),
        Phase::Running { .. } => json!({ "status": "running" }),
        Phase::Succeeded => json!({
            "status": "succeeded",
            "content": { "video_url": state.output_url(&job) },
            "usage": { "completion_tokens": tokens, "total_tokens": tokens },
            "seed": 11, "duration": job.duration_secs, "framespersecond": 24,
        }),
        Phase::Failed => {
            json!({ "status": "failed", "error": { "code": "InternalServiceError", "message": "The video generation failed." } })
        }
        Phase::Moderated => {
            json!({ "status": "failed", "error": { "code": "OutputVideoSensitiveContentDetected", "message": "The request failed because the output video may contain sensitive information." } })
        }
        Phase::Cancelled => json!({ "status": "cancelled" }),
    };
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    JsonReply(StatusCode::OK, body)
}

fn cancel(call: &Call<'_>, id: &str) -> Response {
    let Some(job) = call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Seedance)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The specified task does not exist.",
        );
    };
    match call.state.phase(&job) {
        Phase::Running { .. } => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "A running task cannot be cancelled.",
        ),
        Phase::Queued { .. } => {
            call.state.cancel(id);
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
