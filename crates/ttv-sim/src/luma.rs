//! Luma: the Agents API under `/v1` (`POST /generations` with `{model: ray-3.2, type: video,
//! video: {duration, resolution, start_frame, end_frame}}`, `GET /generations/{id}`) and the
//! Dream Machine API under `/dream-machine/v1` (`POST /generations/video` or `/generations`,
//! `GET` and `DELETE /generations/{id}`), with `Authorization: Bearer`.
//!
//! Frames given by URL are fetched, as Luma does: the URL must answer 200 with an image
//! content type (a presigned S3 URL from the tests' object store, say). Inline frames (Agents
//! API only) are limited to 10 MB (UNCONFIRMED limit). Dream Machine takes URLs only. Error
//! bodies are `{"detail": ...}` (UNCONFIRMED shape); moderation fails the generation with
//! `failure_code: content_moderated` rather than refusing the create call.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, inline_size, json};
use crate::state::Phase;

const INLINE_MAX: usize = 10 * 1024 * 1024;
const URL_MAX: usize = 32 * 1024 * 1024;

fn detail(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "detail": text }))
}

fn internal() -> Response {
    detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let (legacy, path) = match call.path.strip_prefix("/dream-machine/v1") {
        Some(rest) => (true, rest),
        None => (false, call.path.strip_prefix("/v1").unwrap_or(call.path)),
    };
    let endpoint = match (call.method, path) {
        (&Method::POST, "/generations") => Endpoint::Submit,
        (&Method::POST, "/generations/video") if legacy => Endpoint::Submit,
        (&Method::GET, p) if p.starts_with("/generations/") => Endpoint::Poll,
        (&Method::DELETE, p) if legacy && p.starts_with("/generations/") => Endpoint::Cancel,
        _ => return Reply::unrouted(detail(StatusCode::NOT_FOUND, "Not Found")),
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(detail(StatusCode::UNAUTHORIZED, "Invalid API key"));
    }
    let fault = call.state.fault(Provider::Luma, endpoint);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, endpoint, |kind| match kind {
            FaultKind::InvalidKey => Some(detail(StatusCode::UNAUTHORIZED, "Invalid API key")),
            FaultKind::RateLimited => {
                Some(detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"))
            }
            FaultKind::Unavailable => Some(detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
            )),
            FaultKind::InsufficientBalance => Some(detail(
                StatusCode::BAD_REQUEST,
                "Insufficient credits: top up your balance",
            )),
            FaultKind::ServerError => Some(internal()),
            _ => None,
        })
    {
        return reply(r);
    }
    let id = path.trim_start_matches("/generations/");
    match endpoint {
        Endpoint::Submit => submit(call, legacy, fault.as_ref()).await,
        Endpoint::Cancel => reply(match call.state.job(id) {
            Some(_) => {
                call.state.cancel_or_delete(id);
                StatusCode::NO_CONTENT.into_response()
            }
            None => detail(StatusCode::NOT_FOUND, "Generation not found"),
        }),
        _ => reply(after_fault(
            fault.as_ref(),
            generation(call, id, legacy),
            internal,
        )),
    }
}

/// Checks one frame as Luma would: inline data within the limit, or a URL that serves an image.
async fn check_frame(field: &str, frame: &Value, legacy: bool) -> Result<(), String> {
    if let Some(data) = frame.get("data").and_then(Value::as_str) {
        if legacy {
            return Err(format!("{field}: images must be given by URL"));
        }
        if frame
            .get("media_type")
            .and_then(Value::as_str)
            .is_none_or(|m| !m.starts_with("image/"))
        {
            return Err(format!("{field}.media_type: required with data"));
        }
        return match inline_size(data, true) {
            Some(n) if n > INLINE_MAX => Err(format!(
                "{field}: image_too_large: inline images are limited to 10 MB"
            )),
            _ => Ok(()),
        };
    }
    let Some(url) = frame.get("url").and_then(Value::as_str) else {
        return Err(format!("{field}: provide url or data"));
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{field}.url: must be an http(s) URL"));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{field}.url: cannot fetch the image: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "{field}.url: fetching the image answered HTTP {}",
            response.status().as_u16()
        ));
    }
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{field}.url: {e}"))?;
    if !kind.starts_with("image/") {
        return Err(format!(
            "{field}.url: unsupported_format: the URL serves {kind:?}, not an image"
        ));
    }
    if bytes.len() > URL_MAX {
        return Err(format!("{field}.url: image_too_large"));
    }
    Ok(())
}

async fn submit(call: &Call<'_>, legacy: bool, fault: Option<&FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(detail(StatusCode::BAD_REQUEST, "invalid JSON"));
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let models: &[&str] = if legacy {
        &["ray-2", "ray-flash-2", "ray-1-6"]
    } else {
        &["ray-3.2"]
    };
    if !models.contains(&model) {
        return reply(detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("model: unsupported value {model:?}"),
        ));
    }
    let (duration, resolution, frames): (&str, &str, Vec<(&str, Value)>) = if legacy {
        let kf = body.get("keyframes").cloned().unwrap_or_default();
        let frames = ["frame0", "frame1"]
            .into_iter()
            .filter_map(|k| kf.get(k).map(|v| (k, v.clone())))
            .collect();
        (
            body.get("duration").and_then(Value::as_str).unwrap_or("5s"),
            body.get("resolution")
                .and_then(Value::as_str)
                .unwrap_or("720p"),
            frames,
        )
    } else {
        if body.get("type").and_then(Value::as_str) != Some("video") {
            return reply(detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "type: expected video",
            ));
        }
        let video = body.get("video").cloned().unwrap_or_default();
        let frames = ["start_frame", "end_frame"]
            .into_iter()
            .filter_map(|k| video.get(k).map(|v| (k, v.clone())))
            .collect();
        let d = video
            .get("duration")
            .and_then(Value::as_str)
            .unwrap_or("5s");
        let r = video
            .get("resolution")
            .and_then(Value::as_str)
            .unwrap_or("720p");
        let d = match d {
            "10s" => "10s",
            "5s" => "5s",
            _ => "bad",
        };
        let r = match r {
            "540p" => "540p",
            "720p" => "720p",
            "1080p" => "1080p",
            _ => "bad",
        };
        (d, r, frames)
    };
    let secs: u32 = match duration.trim_end_matches('s').parse() {
        Ok(s) if (legacy && matches!(s, 5 | 9)) || (!legacy && matches!(s, 5 | 10)) => s,
        _ => {
            return reply(detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("duration: unsupported value {duration:?}"),
            ));
        }
    };
    if !legacy && secs == 10 && !frames.is_empty() {
        return reply(detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10s generations support text-to-video only",
        ));
    }
    for (field, frame) in &frames {
        if let Err(m) = check_frame(field, frame, legacy).await {
            return reply(detail(StatusCode::BAD_REQUEST, &m));
        }
    }
    let short: u32 = match resolution {
        "540p" => 540,
        "720p" => 720,
        "1080p" => 1080,
        "4k" if legacy => 2160,
        other => {
            return reply(detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("resolution: unsupported value {other:?}"),
            ));
        }
    };
    let size = match body
        .get("aspect_ratio")
        .and_then(Value::as_str)
        .unwrap_or("16:9")
    {
        "9:16" => ttv::Resolution::new(short, short * 16 / 9),
        "1:1" => ttv::Resolution::new(short, short),
        _ => ttv::Resolution::new(short * 16 / 9, short),
    };
    let id = uuid::Uuid::new_v4().to_string();
    call.state.create(
        Provider::Luma,
        id.clone(),
        size,
        secs,
        model.to_owned(),
        fault,
    );
    let JsonReply(_, answer) = generation(call, &id, legacy);
    reply(after_fault(
        fault,
        JsonReply(StatusCode::CREATED, answer),
        internal,
    ))
    .paid()
}

fn generation(call: &Call<'_>, id: &str, legacy: bool) -> JsonReply {
    let state = call.state;
    let Some(job) = state
        .job(id)
        .filter(|j| j.provider == Provider::Luma && !(legacy && j.cancelled_at.is_some()))
    else {
        return JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "detail": "Generation not found" }),
        );
    };
    let created = chrono::Utc::now().to_rfc3339();
    let phase = state.phase(&job);
    let body = if legacy {
        let (st, reason, video) = match phase {
            Phase::Queued { .. } => ("queued", Value::Null, Value::Null),
            Phase::Running { .. } => ("dreaming", Value::Null, Value::Null),
            Phase::Succeeded => ("completed", Value::Null, json!(state.output_url(&job))),
            Phase::Failed | Phase::Cancelled => ("failed", json!("Generation failed"), Value::Null),
            Phase::Moderated => (
                "failed",
                json!("Prompt not allowed because advanced moderation failed"),
                Value::Null,
            ),
        };
        json!({ "id": job.id, "state": st, "failure_reason": reason, "created_at": created, "model": job.app,
                "generation_type": "video", "assets": { "video": video, "image": null, "progress_video": null } })
    } else {
        let (st, code, reason, output) = match phase {
            Phase::Queued { .. } => ("queued", Value::Null, Value::Null, Value::Null),
            Phase::Running { .. } => ("processing", Value::Null, Value::Null, Value::Null),
            Phase::Succeeded => (
                "completed",
                Value::Null,
                Value::Null,
                json!([{ "type": "video", "url": state.output_url(&job) }]),
            ),
            Phase::Failed | Phase::Cancelled => (
                "failed",
                json!("generation_failed"),
                json!("The generation failed"),
                Value::Null,
            ),
            Phase::Moderated => (
                "failed",
                json!("content_moderated"),
                json!("The request was flagged by content moderation"),
                Value::Null,
            ),
        };
        json!({ "id": job.id, "created_at": created, "model": job.app, "type": "video", "state": st,
                "failure_code": code, "failure_reason": reason, "output": output })
    };
    JsonReply(StatusCode::OK, body)
}
