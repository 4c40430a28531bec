//! Alibaba Cloud Model Studio (DashScope) video synthesis, under `/api/v1`: `POST
//! /services/aigc/{video-generation|image2video}/video-synthesis` (requires `X-DashScope-Async:
//! enable`) → `{output: {task_id, task_status: PENDING}}`; `GET /tasks/{id}`; `POST
//! /tasks/{id}/cancel` (PENDING only). Errors are `{request_id, code, message}` with the codes
//! of Alibaba's error page; data URIs over 10 MB are refused (UNCONFIRMED limit).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, inline_size, json};
use crate::state::Phase;

const IMAGE_MAX: usize = 10 * 1024 * 1024;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        json!({ "request_id": uuid::Uuid::new_v4().to_string(), "code": code, "message": message }),
    )
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "An internal error has occured, please try again later.",
    )
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    let path = call.path.strip_prefix("/api/v1").unwrap_or(call.path);
    let endpoint = match (call.method, path) {
        (
            &Method::POST,
            "/services/aigc/video-generation/video-synthesis"
            | "/services/aigc/image2video/video-synthesis",
        ) => Endpoint::Submit,
        (&Method::GET, p) if p.starts_with("/tasks/") => Endpoint::Poll,
        (&Method::POST, p) if p.starts_with("/tasks/") && p.ends_with("/cancel") => {
            Endpoint::Cancel
        }
        _ => return Reply::unrouted(error(StatusCode::NOT_FOUND, "NotFound", "not found")),
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(error(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "Invalid API-key provided.",
        ));
    }
    let fault = call.state.fault(Provider::Dashscope, endpoint);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, endpoint, |kind| match kind {
            FaultKind::InvalidKey => Some(error(
                StatusCode::UNAUTHORIZED,
                "InvalidApiKey",
                "Invalid API-key provided.",
            )),
            FaultKind::RateLimited => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttling.RateQuota",
                "Requests rate limit exceeded, please try again later.",
            )),
            FaultKind::Unavailable => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
            )),
            FaultKind::InsufficientBalance => Some(error(
                StatusCode::FORBIDDEN,
                "Arrearage",
                "Access denied, please make sure your account is in good standing.",
            )),
            FaultKind::Moderation => Some(error(
                StatusCode::BAD_REQUEST,
                "DataInspectionFailed",
                "Input data may contain inappropriate content.",
            )),
            FaultKind::ServerError => Some(internal()),
            _ => None,
        })
    {
        return reply(r);
    }
    let id = path
        .trim_start_matches("/tasks/")
        .trim_end_matches("/cancel");
    match endpoint {
        Endpoint::Submit => submit(call, path, fault.as_ref()),
        Endpoint::Cancel => reply(cancel(call, id)),
        _ => reply(after_fault(fault.as_ref(), task(call, id), internal)),
    }
}

fn submit(call: &Call<'_>, path: &str, fault: Option<&FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    if call
        .headers
        .get("x-dashscope-async")
        .and_then(|v| v.to_str().ok())
        != Some("enable")
    {
        return reply(error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "current user api does not support synchronous calls",
        ));
    }
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
    if !model.starts_with("wan") {
        return reply(error(
            StatusCode::NOT_FOUND,
            "ModelNotFound",
            &format!("Model not exist: {model}"),
        ));
    }
    if model.contains("kf2v") != path.contains("image2video") {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "url error, please check url",
        ));
    }
    let input = body.get("input").cloned().unwrap_or_default();
    for key in ["img_url", "first_frame_url", "last_frame_url"] {
        if let Some(url) = input.get(key).and_then(Value::as_str)
            && inline_size(url, false).is_some_and(|n| n > IMAGE_MAX)
        {
            return reply(error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("{key}: the image exceeds 10MB"),
            ));
        }
    }
    if model.contains("i2v") && input.get("img_url").is_none() {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "img_url is required",
        ));
    }
    let params = body.get("parameters").cloned().unwrap_or_default();
    let secs = params.get("duration").and_then(Value::as_u64).unwrap_or(5) as u32;
    let size = match params.get("size").and_then(Value::as_str) {
        Some(s) => {
            let Some(size) = s
                .split_once('*')
                .and_then(|(w, h)| Some(ttv::Resolution::new(w.parse().ok()?, h.parse().ok()?)))
            else {
                return reply(error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    &format!("size {s} is invalid"),
                ));
            };
            size
        }
        None => match params
            .get("resolution")
            .and_then(Value::as_str)
            .unwrap_or("720P")
        {
            "480P" => ttv::Resolution::new(832, 480),
            "1080P" => ttv::Resolution::new(1920, 1080),
            _ => ttv::Resolution::new(1280, 720),
        },
    };
    let id = uuid::Uuid::new_v4().to_string();
    call.state.create(
        Provider::Dashscope,
        id.clone(),
        size,
        secs,
        String::new(),
        fault,
    );
    let answer = JsonReply(
        StatusCode::OK,
        json!({
            "request_id": uuid::Uuid::new_v4().to_string(),
            "output": { "task_id": id, "task_status": "PENDING" }
        }),
    );
    reply(after_fault(fault, answer, internal)).paid()
}

fn task(call: &Call<'_>, id: &str) -> JsonReply {
    let state = call.state;
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some(job) = state.job(id).filter(|j| j.provider == Provider::Dashscope) else {
        return JsonReply(
            StatusCode::OK,
            json!({ "request_id": request_id, "output": { "task_id": id, "task_status": "UNKNOWN" } }),
        );
    };
    let output = match state.phase(&job) {
        Phase::Queued { .. } => json!({ "task_id": id, "task_status": "PENDING" }),
        Phase::Running { .. } => json!({ "task_id": id, "task_status": "RUNNING" }),
        Phase::Succeeded => {
            json!({ "task_id": id, "task_status": "SUCCEEDED", "video_url": state.output_url(&job) })
        }
        Phase::Failed => {
            json!({ "task_id": id, "task_status": "FAILED", "code": "InternalError.Algo", "message": "An internal error occurred in the model." })
        }
        Phase::Moderated => {
            json!({ "task_id": id, "task_status": "FAILED", "code": "DataInspectionFailed", "message": "Output data may contain inappropriate content." })
        }
        Phase::Cancelled => json!({ "task_id": id, "task_status": "CANCELED" }),
    };
    let usage = json!({ "duration": job.duration_secs, "video_count": 1 });
    JsonReply(
        StatusCode::OK,
        json!({ "request_id": request_id, "output": output, "usage": usage }),
    )
}

fn cancel(call: &Call<'_>, id: &str) -> Response {
    let Some(job) = call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Dashscope)
    else {
        return error(StatusCode::NOT_FOUND, "NotFound", "task not found");
    };
    match call.state.phase(&job) {
        Phase::Queued { .. } => {
            call.state.cancel(id);
            json(
                StatusCode::OK,
                json!({ "request_id": uuid::Uuid::new_v4().to_string() }),
            )
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperation",
            "Failed to cancel the task, please confirm if the task is in PENDING status.",
        ),
    }
}
