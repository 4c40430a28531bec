//! MiniMax video API: `POST /v1/video_generation`, `GET /v1/query/video_generation?task_id=`,
//! `GET /v1/files/retrieve?file_id=`, with `Authorization: Bearer`. Like the real service it
//! answers HTTP 200 with a non-zero `base_resp.status_code` for most errors; only 5xx faults
//! use other statuses. There is no cancel call.
//!
//! Callbacks: a submit with `callback_url` gets, as MiniMax's API reference documents it
//! (`callback_url`, platform.minimax.io), first a POST `{"challenge": ...}` that must be
//! answered with the same `{"challenge": ...}` within 3 seconds, then a POST of the task's
//! status, shaped like the query call's answer, when it changes: `processing` when it
//! starts, `success` (with `file_id`) or `failed` when it ends. UNCONFIRMED and chosen here:
//! a challenge that is not answered stops the callbacks (the task still runs).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, json, retry_after, transport_fault};
use crate::state::{Phase, State};

fn base(code: i64, msg: &str) -> Value {
    json!({ "base_resp": { "status_code": code, "status_msg": msg } })
}

fn with_base(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "base_resp".into(),
            json!({ "status_code": 0, "status_msg": "success" }),
        );
    }
    body
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    let endpoint = match (call.method, call.path) {
        (&Method::POST, "/v1/video_generation") => Endpoint::Submit,
        (&Method::GET, "/v1/query/video_generation") => Endpoint::Poll,
        (&Method::GET, "/v1/files/retrieve") => Endpoint::Result,
        _ => {
            return Reply::unrouted(json(
                StatusCode::NOT_FOUND,
                json!({ "error": "404 page not found" }),
            ));
        }
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(json(
            StatusCode::OK,
            base(
                1004,
                "login fail: Please carry the API secret key in the 'Authorization' field of the request header",
            ),
        ));
    }
    let fault = call.state.fault(Provider::Minimax, endpoint);
    if let Some(rule) = &fault {
        let early = match rule.fault {
            FaultKind::InvalidKey => Some(json(StatusCode::OK, base(2049, "invalid api key"))),
            FaultKind::RateLimited => Some(retry_after(
                json(StatusCode::OK, base(1002, "rate limit exceeded(RPM)")),
                rule,
            )),
            FaultKind::Unavailable => Some(retry_after(
                json(StatusCode::SERVICE_UNAVAILABLE, base(1033, "system error")),
                rule,
            )),
            FaultKind::InsufficientBalance if endpoint == Endpoint::Submit => {
                Some(json(StatusCode::OK, base(1008, "insufficient balance")))
            }
            FaultKind::Moderation if endpoint == Endpoint::Submit => {
                Some(json(StatusCode::OK, base(1026, "input new_sensitive")))
            }
            FaultKind::ServerError if endpoint != Endpoint::Submit => Some(json(
                StatusCode::INTERNAL_SERVER_ERROR,
                base(1000, "unknown error"),
            )),
            _ => None,
        };
        if let Some(r) = early {
            return reply(r);
        }
    }
    let (answer, task) = match endpoint {
        Endpoint::Submit => submit(call, fault.as_ref()),
        Endpoint::Poll => (query(call), call.query.get("task_id").cloned()),
        _ => (
            retrieve(call),
            call.query
                .get("file_id")
                .and_then(|f| f.strip_prefix('9'))
                .map(str::to_owned),
        ),
    };
    let paid = endpoint == Endpoint::Submit && task.is_some();
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            base(1000, "unknown error"),
        ),
        Some(rule) => transport_fault(rule, || answer.clone_json()).unwrap_or(answer.into()),
        None => answer.into(),
    };
    Reply {
        response,
        endpoint: Some(endpoint),
        paid,
        task,
    }
}

const MODELS: &[(&str, bool)] = &[
    ("MiniMax-Hailuo-02", false),
    ("T2V-01", false),
    ("T2V-01-Director", false),
    ("I2V-01", true),
    ("I2V-01-Director", true),
    ("I2V-01-live", true),
    ("S2V-01", false),
];

fn validate(body: &serde_json::Map<String, Value>) -> Result<(ttv::Resolution, u32), String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(&(_, needs_image)) = MODELS.iter().find(|(m, _)| *m == model) else {
        return Err(format!("invalid params, model {model:?} is not supported"));
    };
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if prompt.chars().count() > 2000 {
        return Err("invalid params, prompt is too long".into());
    }
    let has_image = body
        .get("first_frame_image")
        .and_then(Value::as_str)
        .is_some();
    if needs_image && !has_image {
        return Err("invalid params, first_frame_image is required".into());
    }
    if model == "S2V-01" && body.get("subject_reference").is_none() {
        return Err("invalid params, subject_reference is required".into());
    }
    if prompt.trim().is_empty() && !has_image {
        return Err("invalid params, prompt is required".into());
    }
    let hailuo = model == "MiniMax-Hailuo-02";
    let duration = body.get("duration").and_then(Value::as_u64).unwrap_or(6);
    if !(duration == 6 || (hailuo && duration == 10)) {
        return Err(format!(
            "invalid params, duration {duration} is not supported by {model}"
        ));
    }
    let default = if hailuo { "768P" } else { "720P" };
    let resolution = body
        .get("resolution")
        .and_then(Value::as_str)
        .unwrap_or(default);
    let size = match (hailuo, resolution) {
        (true, "512P") if has_image => ttv::Resolution::new(912, 512),
        (true, "768P") => ttv::Resolution::new(1366, 768),
        (true, "1080P") if duration == 6 => ttv::Resolution::new(1920, 1080),
        (false, "720P") => ttv::Resolution::new(1280, 720),
        _ => {
            return Err(format!(
                "invalid params, resolution {resolution} is not supported by {model} for {duration}s"
            ));
        }
    };
    Ok((size, duration as u32))
}

/// The answer and, when a task was created, its id.
fn submit(call: &Call<'_>, fault: Option<&FaultRule>) -> (JsonReply, Option<String>) {
    let Some(body) = call.json() else {
        return (
            JsonReply(
                StatusCode::OK,
                base(2013, "invalid params, body is not JSON"),
            ),
            None,
        );
    };
    let (size, duration) = match validate(&body) {
        Ok(v) => v,
        Err(msg) => return (JsonReply(StatusCode::OK, base(2013, &msg)), None),
    };
    let id = call.state.numeric_id();
    call.state.create(
        Provider::Minimax,
        id.clone(),
        size,
        duration,
        String::new(),
        fault,
    );
    if let Some(url) = body
        .get("callback_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        tokio::spawn(callbacks(
            Arc::clone(call.state),
            id.clone(),
            url.to_owned(),
        ));
    }
    (
        JsonReply(StatusCode::OK, with_base(json!({ "task_id": id }))),
        Some(id),
    )
}

fn query(call: &Call<'_>) -> JsonReply {
    let id = call
        .query
        .get("task_id")
        .map(String::as_str)
        .unwrap_or_default();
    let Some(job) = call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Minimax)
    else {
        return JsonReply(StatusCode::OK, base(2013, "invalid params, task not found"));
    };
    let body = match call.state.phase(&job) {
        Phase::Queued { .. } => {
            with_base(json!({ "task_id": id, "status": "Queueing", "file_id": "" }))
        }
        Phase::Running { .. } => {
            with_base(json!({ "task_id": id, "status": "Processing", "file_id": "" }))
        }
        Phase::Succeeded => with_base(json!({
            "task_id": id, "status": "Success", "file_id": format!("9{id}"),
            "video_width": job.size.width, "video_height": job.size.height
        })),
        Phase::Moderated => {
            let mut b = base(1027, "output new_sensitive");
            b["task_id"] = json!(id);
            b["status"] = json!("Fail");
            b
        }
        Phase::Failed | Phase::Cancelled => {
            with_base(json!({ "task_id": id, "status": "Fail", "file_id": "" }))
        }
    };
    JsonReply(StatusCode::OK, body)
}

fn retrieve(call: &Call<'_>) -> JsonReply {
    let file_id = call
        .query
        .get("file_id")
        .map(String::as_str)
        .unwrap_or_default();
    let job = file_id
        .strip_prefix('9')
        .and_then(|id| call.state.job(id))
        .filter(|j| j.provider == Provider::Minimax && call.state.phase(j) == Phase::Succeeded);
    let Some(job) = job else {
        return JsonReply(StatusCode::OK, base(2013, "invalid params, file not found"));
    };
    JsonReply(
        StatusCode::OK,
        with_base(json!({ "file": {
            "file_id": file_id.parse::<u64>().unwrap_or(0),
            "bytes": 0,
            "created_at": chrono::Utc::now().timestamp(),
            "filename": "output.mp4",
            "purpose": "video_generation",
            "download_url": call.state.output_url(&job),
        }})),
    )
}

/// How long MiniMax waits for the challenge's answer.
const CHALLENGE_WAIT: Duration = Duration::from_secs(3);

/// The callback body of task `id` in `status`.
fn callback_body(id: &str, status: &str, file_id: &str) -> String {
    with_base(json!({ "task_id": id, "status": status, "file_id": file_id })).to_string()
}

/// The challenge, then the task's status when it starts and when it ends.
async fn callbacks(state: Arc<State>, id: String, url: String) {
    let challenge = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({ "challenge": challenge }).to_string();
    let post = crate::webhooks::post(&state, Provider::Minimax, &id, &url, &[], body);
    let echoed = match tokio::time::timeout(CHALLENGE_WAIT, post).await {
        Ok((200..=299, answer)) => serde_json::from_str::<Value>(&answer)
            .ok()
            .is_some_and(|a| a["challenge"] == json!(challenge)),
        _ => false,
    };
    if !echoed {
        return;
    }
    let Some(job) = state.job(&id) else {
        return;
    };
    tokio::time::sleep_until(job.started_at()).await;
    let body = callback_body(&id, "processing", "");
    crate::webhooks::post(&state, Provider::Minimax, &id, &url, &[], body).await;
    tokio::time::sleep_until(job.finished_at()).await;
    let Some(job) = state.job(&id) else {
        return;
    };
    let body = match state.phase(&job) {
        Phase::Succeeded => callback_body(&id, "success", &format!("9{id}")),
        _ => callback_body(&id, "failed", ""),
    };
    crate::webhooks::post(&state, Provider::Minimax, &id, &url, &[], body).await;
}
