//! Replicate: `POST /v1/models/{owner}/{name}/predictions` or `POST /v1/predictions {version}`
//! (201, honouring `Prefer: wait[=N]` by holding the answer until the prediction ends or the
//! wait runs out), `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, and the
//! files API `POST /v1/files` (multipart `content`, at most 100 MiB), with `Authorization:
//! Bearer`. Errors are RFC 7807 problem details. A model's safety filter fails the prediction
//! ("flagged as sensitive (E005)") rather than refusing the create call; progress shows as
//! tqdm lines in `logs`.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, json};
use crate::state::{Job, Phase};

const FILE_MAX: usize = 100 * 1024 * 1024;

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    json(
        status,
        json!({ "type": "https://replicate.com/docs/errors", "title": title, "status": status.as_u16(), "detail": detail }),
    )
}

fn internal() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "An unexpected error occurred.",
    )
}

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let parts: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let endpoint = match (call.method, parts.as_slice()) {
        (&Method::POST, ["v1", "models", _, _, "predictions"] | ["v1", "predictions"]) => {
            Endpoint::Submit
        }
        (&Method::GET, ["v1", "predictions", _]) => Endpoint::Poll,
        (&Method::POST, ["v1", "predictions", _, "cancel"]) => Endpoint::Cancel,
        (&Method::POST, ["v1", "files"]) => Endpoint::Upload,
        (&Method::GET, ["v1", "files", id]) => {
            return Reply::unrouted(crate::uploads::serve(call.state, id));
        }
        _ => {
            return Reply::unrouted(problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "The requested resource could not be found.",
            ));
        }
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(problem(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "You did not pass a valid authentication token",
        ));
    }
    let fault = call.state.fault(Provider::Replicate, endpoint);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, endpoint, |kind| match kind {
            FaultKind::InvalidKey => Some(problem(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "You did not pass a valid authentication token",
            )),
            FaultKind::RateLimited => Some(json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "detail": "Request was throttled. Your rate limit resets in ~30s." }),
            )),
            FaultKind::Unavailable => Some(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "Replicate is temporarily unavailable.",
            )),
            FaultKind::InsufficientBalance => Some(problem(
                StatusCode::PAYMENT_REQUIRED,
                "Insufficient credit",
                "You have insufficient credit to run this model. Go to https://replicate.com/account/billing to purchase credit.",
            )),
            FaultKind::ServerError => Some(internal()),
            _ => None,
        })
    {
        return reply(r);
    }
    match endpoint {
        Endpoint::Submit => submit(call, &parts, fault.as_ref()).await,
        Endpoint::Upload => reply(upload(call)),
        Endpoint::Cancel => reply(cancel(call, parts[2])),
        _ => reply(after_fault(
            fault.as_ref(),
            prediction(call, parts[2]),
            internal,
        )),
    }
}

fn upload(call: &Call<'_>) -> Response {
    let parts = crate::uploads::multipart(call.headers, call.body);
    let Some(content) = parts.into_iter().find(|p| p.name == "content") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "content is required",
        );
    };
    if content.data.len() > FILE_MAX {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large",
            "Files must be at most 100 MiB.",
        );
    }
    let size = content.data.len();
    let id = call
        .state
        .store_upload(Provider::Replicate, &content.content_type, content.data);
    let url = format!("{}/replicate/v1/files/{id}", call.state.root);
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    json(
        StatusCode::CREATED,
        json!({
            "id": id, "content_type": content.content_type, "size": size,
            "checksums": {}, "created_at": chrono::Utc::now().to_rfc3339(), "expires_at": expires,
            "metadata": {}, "urls": { "get": url },
        }),
    )
}

async fn submit(call: &Call<'_>, parts: &[&str], fault: Option<&FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(problem(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "invalid JSON",
        ));
    };
    let model = match parts {
        [_, "models", owner, name, _] => format!("{owner}/{name}"),
        _ => match body.get("version").and_then(Value::as_str) {
            Some(v) if v.len() == 64 => "owner/model".to_owned(),
            _ => {
                return reply(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid version",
                    "version: a 64-character version id is required",
                ));
            }
        },
    };
    let Some(input) = body.get("input").and_then(Value::as_object) else {
        return reply(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Input validation failed",
            "input: Required",
        ));
    };
    let files = format!("{}/replicate/v1/files/", call.state.root);
    for (key, value) in input {
        if let Some(id) = value.as_str().and_then(|s| s.strip_prefix(&files))
            && call.state.upload(id).is_none()
        {
            return reply(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Input validation failed",
                &format!("{key}: the file does not exist"),
            ));
        }
    }
    if model.starts_with("kwaivgi/")
        && input
            .get("prompt")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return reply(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Input validation failed",
            "prompt: Required",
        ));
    }
    let secs = input.get("duration").and_then(Value::as_u64).unwrap_or(5) as u32;
    let size = match input.get("aspect_ratio").and_then(Value::as_str) {
        Some("9:16") => ttv::Resolution::new(720, 1280),
        Some("1:1") => ttv::Resolution::new(960, 960),
        _ => ttv::Resolution::new(1280, 720),
    };
    let id = format!("{}", uuid::Uuid::new_v4().simple())
        .chars()
        .take(26)
        .collect::<String>();
    let job = call
        .state
        .create(Provider::Replicate, id.clone(), size, secs, model, fault);
    if let Some(wait) = prefer_wait(call) {
        let left = job
            .finished_at()
            .saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(left.min(wait)).await;
    }
    let JsonReply(_, answer) = prediction(call, &id);
    reply(after_fault(
        fault,
        JsonReply(StatusCode::CREATED, answer),
        internal,
    ))
    .paid()
}

/// The wait a `Prefer: wait` or `Prefer: wait=N` header asks for (60 s at most).
fn prefer_wait(call: &Call<'_>) -> Option<Duration> {
    let value = call.headers.get("prefer")?.to_str().ok()?.trim();
    let secs = match value.strip_prefix("wait") {
        Some("") => 60,
        Some(rest) => rest.strip_prefix('=')?.parse::<u64>().ok()?.clamp(1, 60),
        None => return None,
    };
    Some(Duration::from_secs(secs))
}

fn body_of(call: &Call<'_>, job: &Job) -> Value {
    let state = call.state;
    let get = format!("{}/replicate/v1/predictions/{}", state.root, job.id);
    let mut body = json!({
        "id": job.id, "model": job.app, "version": "hidden", "input": {},
        "output": null, "logs": "", "error": null, "data_removed": false,
        "created_at": chrono::Utc::now().to_rfc3339(),
        "urls": { "get": get, "cancel": format!("{get}/cancel"), "web": format!("https://replicate.com/p/{}", job.id) },
    });
    let extra = match state.phase(job) {
        Phase::Queued { .. } => json!({ "status": "starting" }),
        Phase::Running { progress } => {
            let pct = (progress * 100.0).round() as u32;
            let done = pct / 5;
            json!({ "status": "processing", "logs": format!("loading weights\n{pct:>3}%|{}| {done}/20 [00:01<00:01]\n", "#".repeat(done as usize)) })
        }
        Phase::Succeeded => {
            json!({ "status": "succeeded", "output": state.output_url(job), "metrics": { "predict_time": job.run.as_secs_f64() } })
        }
        Phase::Failed => json!({ "status": "failed", "error": "CUDA out of memory" }),
        Phase::Moderated => {
            json!({ "status": "failed", "error": "The input or output was flagged as sensitive. Please try again with different inputs. (E005)" })
        }
        Phase::Cancelled => json!({ "status": "canceled" }),
    };
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

fn prediction(call: &Call<'_>, id: &str) -> JsonReply {
    match call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Replicate)
    {
        Some(job) => JsonReply(StatusCode::OK, body_of(call, &job)),
        None => JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "title": "Not found", "status": 404, "detail": "Prediction not found" }),
        ),
    }
}

fn cancel(call: &Call<'_>, id: &str) -> Response {
    match call.state.cancel(id) {
        Some(_) => {
            let JsonReply(status, body) = prediction(call, id);
            json(status, body)
        }
        None => problem(StatusCode::NOT_FOUND, "Not found", "Prediction not found"),
    }
}
