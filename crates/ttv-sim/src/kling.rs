//! Kling's official API: `POST /v1/videos/text2video | image2video`, `GET
//! /v1/videos/{kind}/{task_id}`, with `Authorization: Bearer <JWT>` (HS256 over `{iss, exp,
//! nbf}`; checked against `kling_secret_key` when the scenario sets one, its `iss` against
//! `api_key`) or a plain API key. Every answer is the envelope `{code, message, request_id,
//! data}`; errors use the documented HTTP status and code (1004 expired token, 1102 empty
//! resource pack, 1201 bad parameter, 1301 content safety, 1302 rate limit, 5000 server).
//! Images are raw base64 or URLs, JPEG/PNG, at most 10 MB.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, inline_size, json};
use crate::state::Phase;

const IMAGE_MAX: usize = 10 * 1024 * 1024;
const MODELS: &[&str] = &[
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
];

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    json(
        status,
        json!({ "code": code, "message": message, "request_id": uuid::Uuid::new_v4().to_string() }),
    )
}

fn envelope(data: Value) -> Value {
    json!({ "code": 0, "message": "SUCCEED", "request_id": uuid::Uuid::new_v4().to_string(), "data": data })
}

/// The refusal of an unacceptable bearer token, `None` when it is accepted.
fn refusal(call: &Call<'_>) -> Option<Response> {
    authorised(call).err().map(|e| *e)
}

fn authorised(call: &Call<'_>) -> Result<(), Box<Response>> {
    let Some(token) = call.credential("Bearer") else {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            1001,
            "Authorization is empty",
        )));
    };
    if call.state.key_ok(Some(token)) && token.split('.').count() != 3 {
        return Ok(());
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims = ["exp", "nbf", "iss"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    validation.validate_nbf = true;
    let claims = match &call.state.config.kling_secret_key {
        Some(secret) => jsonwebtoken::decode::<Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .map(|d| d.claims),
        None => jsonwebtoken::dangerous::insecure_decode::<Value>(token).map(|d| d.claims),
    };
    match claims {
        Ok(c) if call.state.key_ok(c.get("iss").and_then(Value::as_str)) => Ok(()),
        Ok(_) => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            1002,
            "Authorization is invalid",
        ))),
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
            Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                1004,
                "Authorization has expired",
            )))
        }
        Err(_) => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            1002,
            "Authorization is invalid",
        ))),
    }
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    let parts: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let endpoint = match (call.method, parts.as_slice()) {
        (&Method::POST, ["v1", "videos", "text2video" | "image2video"]) => Endpoint::Submit,
        (&Method::GET, ["v1", "videos", "text2video" | "image2video", _]) => Endpoint::Poll,
        _ => {
            return Reply::unrouted(error(
                StatusCode::NOT_FOUND,
                1202,
                "the requested method is not supported",
            ));
        }
    };
    let reply = |r| Reply::new(endpoint, r);
    if let Some(r) = refusal(call) {
        return reply(r);
    }
    let fault = call.state.fault(Provider::Kling, endpoint);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, endpoint, |kind| match kind {
            FaultKind::InvalidKey => Some(error(
                StatusCode::UNAUTHORIZED,
                1002,
                "Authorization is invalid",
            )),
            FaultKind::RateLimited => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                1302,
                "The API request is too fast, please slow down",
            )),
            FaultKind::Unavailable => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                5001,
                "Server under maintenance",
            )),
            FaultKind::InsufficientBalance => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                1102,
                "Resource pack exhausted or expired",
            )),
            FaultKind::Moderation => Some(error(
                StatusCode::BAD_REQUEST,
                1301,
                "Content security policy triggered",
            )),
            FaultKind::ServerError => Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                5000,
                "Server internal error",
            )),
            _ => None,
        })
    {
        return reply(r);
    }
    if endpoint == Endpoint::Submit {
        return submit(call, parts[2], fault.as_ref());
    }
    let answer = task(call, parts[3]);
    reply(after_fault(fault.as_ref(), answer, || {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            5000,
            "Server internal error",
        )
    }))
}

fn validate(
    kind: &str,
    body: &serde_json::Map<String, Value>,
) -> Result<(ttv::Resolution, u32), String> {
    let model = body
        .get("model_name")
        .and_then(Value::as_str)
        .unwrap_or("kling-v1");
    if !MODELS.contains(&model) {
        return Err(format!("model_name {model} is not supported"));
    }
    let mode = body.get("mode").and_then(Value::as_str).unwrap_or("std");
    if !matches!(mode, "std" | "pro") {
        return Err(format!("mode must be std or pro, got {mode}"));
    }
    let duration = match body.get("duration") {
        None => 5,
        Some(Value::String(s)) => s
            .parse::<u32>()
            .map_err(|_| format!("duration {s} is invalid"))?,
        Some(other) => return Err(format!("duration must be a string, got {other}")),
    };
    let durations: &[u32] = if model == "kling-v3" {
        &[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    } else {
        &[5, 10]
    };
    if !durations.contains(&duration) {
        return Err(format!("duration {duration} is not supported by {model}"));
    }
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if prompt.chars().count() > 2500 {
        return Err("prompt must be at most 2500 characters".into());
    }
    if kind == "text2video" && prompt.trim().is_empty() {
        return Err("prompt is required".into());
    }
    let image = body.get("image").and_then(Value::as_str);
    let tail = body.get("image_tail").and_then(Value::as_str);
    if kind == "image2video" && image.is_none() && tail.is_none() {
        return Err("image and image_tail cannot both be empty".into());
    }
    for (field, value) in [("image", image), ("image_tail", tail)] {
        let Some(v) = value else { continue };
        if v.starts_with("data:") {
            return Err(format!(
                "{field} must be raw base64 without the data: prefix"
            ));
        }
        if inline_size(v, true).is_some_and(|n| n > IMAGE_MAX) {
            return Err(format!("{field} is larger than 10MB"));
        }
    }
    let short = if mode == "pro" && !matches!(model, "kling-v1" | "kling-v2-master") {
        1080
    } else {
        720
    };
    let size = match body
        .get("aspect_ratio")
        .and_then(Value::as_str)
        .unwrap_or("16:9")
    {
        "9:16" => ttv::Resolution::new(short, short * 16 / 9),
        "1:1" => ttv::Resolution::new(short, short),
        "16:9" => ttv::Resolution::new(short * 16 / 9, short),
        other => return Err(format!("aspect_ratio {other} is not supported")),
    };
    Ok((size, duration))
}

fn submit(call: &Call<'_>, kind: &str, fault: Option<&FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(error(StatusCode::BAD_REQUEST, 1200, "invalid request body"));
    };
    let (size, secs) = match validate(kind, &body) {
        Ok(v) => v,
        Err(m) => return reply(error(StatusCode::BAD_REQUEST, 1201, &m)),
    };
    let id = call.state.numeric_id();
    call.state.create(
        Provider::Kling,
        id.clone(),
        size,
        secs,
        kind.to_owned(),
        fault,
    );
    let now = chrono::Utc::now().timestamp_millis();
    let answer = JsonReply(
        StatusCode::OK,
        envelope(json!({
            "task_id": id, "task_status": "submitted", "task_info": {}, "created_at": now, "updated_at": now,
        })),
    );
    reply(after_fault(fault, answer, || {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            5000,
            "Server internal error",
        )
    }))
    .paid()
}

fn task(call: &Call<'_>, id: &str) -> JsonReply {
    let state = call.state;
    let Some(job) = state.job(id).filter(|j| j.provider == Provider::Kling) else {
        return JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "code": 1203, "message": "task not found", "request_id": "" }),
        );
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut data =
        json!({ "task_id": job.id, "created_at": now, "updated_at": now, "task_info": {} });
    let extra = match state.phase(&job) {
        Phase::Queued { .. } => json!({ "task_status": "submitted" }),
        Phase::Running { .. } => json!({ "task_status": "processing" }),
        Phase::Succeeded => json!({
            "task_status": "succeed",
            "final_unit_deduction": if job.duration_secs > 5 { "3" } else { "1.5" },
            "task_result": { "videos": [{ "id": "v1", "url": state.output_url(&job), "duration": job.duration_secs.to_string() }] }
        }),
        Phase::Failed => {
            json!({ "task_status": "failed", "task_status_msg": "Generation failed, please try again" })
        }
        Phase::Moderated => {
            json!({ "task_status": "failed", "task_status_msg": "Failure to pass the risk control system" })
        }
        // Kling has no cancel; a cancelled job cannot happen here.
        Phase::Cancelled => json!({ "task_status": "failed", "task_status_msg": "cancelled" }),
    };
    if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
        d.extend(e);
    }
    JsonReply(StatusCode::OK, envelope(data))
}
