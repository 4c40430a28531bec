//! Runway Developer API, as `POST /v1/image_to_video`, `POST /v1/text_to_video`,
//! `GET /v1/tasks/{id}` and `DELETE /v1/tasks/{id}` with `Authorization: Bearer` and
//! `X-Runway-Version: 2024-11-06`. Errors are `{"error": "..."}` with the documented statuses.
//!
//! Tasks beyond the `concurrency` knob wait as `THROTTLED` instead of `PENDING`.
//!
//! `DELETE /v1/tasks/{id}` answers 204 with no body. On a task that is still pending, throttled
//! or running it cancels it, and later `GET`s report `CANCELLED`; on any other task (finished,
//! or cancelled before) it deletes it, and later `GET`s, `DELETE`s and downloads of its output
//! answer 404. Runway's SDKs document the method so ("Tasks that are running, pending, or
//! throttled can be canceled by invoking this method. Invoking this method for other tasks will
//! delete them. … Aborted and deleted tasks will not be able to be fetched again in the
//! future.": `tasks.delete` in github.com/runwayml/sdk-node `src/resources/tasks.ts` and
//! github.com/runwayml/sdk-python `src/runwayml/resources/tasks.py`, read 2026-12). The same
//! SDKs type a `CANCELLED` task ("A cancelled or deleted task"), so a cancelled task stays
//! readable here; whether the live service instead answers 404 for it at once is UNCONFIRMED.
//! That the output URL of a deleted task stops working at once is chosen here (Runway only
//! says the data is deleted "in accordance with our data retention policy").
//!
//! UNCONFIRMED and chosen here: a missing or wrong version header is a 400; insufficient
//! credits is a 400 whose message mentions credits; input moderation ends the task `FAILED`
//! with `failureCode: SAFETY.INPUT.TEXT` rather than refusing the create call.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, JsonReply, Reply, json, retry_after, size_from_ratio, transport_fault};
use crate::state::Phase;

const VERSION: &str = "2024-11-06";

fn error(status: StatusCode, message: &str) -> Response {
    json(status, json!({ "error": message }))
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    if call.path == "/v1/uploads" {
        return upload_slot(call);
    }
    let endpoint = match (call.method, call.path) {
        (&Method::POST, "/v1/image_to_video" | "/v1/text_to_video") => Endpoint::Submit,
        (&Method::GET, p) if p.starts_with("/v1/tasks/") => Endpoint::Poll,
        (&Method::DELETE, p) if p.starts_with("/v1/tasks/") => Endpoint::Cancel,
        (_, "/v1/image_to_video" | "/v1/text_to_video") => {
            return Reply::unrouted(error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"));
        }
        _ => return Reply::unrouted(error(StatusCode::NOT_FOUND, "Not found")),
    };
    let task_id = call.path.strip_prefix("/v1/tasks/").map(str::to_owned);
    let reply = |r| {
        let reply = Reply::new(endpoint, r);
        match &task_id {
            Some(id) => reply.task(id),
            None => reply,
        }
    };
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(error(
            StatusCode::UNAUTHORIZED,
            "Invalid API key. Make sure you are passing the key in the Authorization header as Bearer <key>.",
        ));
    }
    let version = call
        .headers
        .get("x-runway-version")
        .and_then(|v| v.to_str().ok());
    if version != Some(VERSION) {
        return reply(error(
            StatusCode::BAD_REQUEST,
            &format!("Missing or invalid X-Runway-Version header: expected {VERSION}"),
        ));
    }
    let fault = call.state.fault(Provider::Runway, endpoint);
    if let Some(rule) = &fault {
        let early = match rule.fault {
            FaultKind::InvalidKey => Some(error(StatusCode::UNAUTHORIZED, "Invalid API key.")),
            FaultKind::RateLimited => Some(retry_after(
                error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "You have exceeded the rate limit for this model.",
                ),
                rule,
            )),
            FaultKind::Unavailable => Some(retry_after(
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable.",
                ),
                rule,
            )),
            FaultKind::InsufficientBalance if endpoint == Endpoint::Submit => Some(error(
                StatusCode::BAD_REQUEST,
                "You do not have enough credits to run this task.",
            )),
            _ => None,
        };
        if let Some(r) = early {
            return reply(r);
        }
    }
    match endpoint {
        Endpoint::Submit => submit(call, fault),
        Endpoint::Cancel => {
            let id = call.path.trim_start_matches("/v1/tasks/");
            let known = call
                .state
                .job(id)
                .is_some_and(|j| j.provider == Provider::Runway);
            let response = if known && call.state.cancel_or_delete(id) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                error(StatusCode::NOT_FOUND, "Task not found")
            };
            let response = match &fault {
                Some(rule) => transport_fault(rule, || response).unwrap_or_else(|| {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                }),
                None => response,
            };
            reply(response)
        }
        _ => {
            let id = call.path.trim_start_matches("/v1/tasks/");
            let response = task(call, id);
            let response = match &fault {
                Some(rule) if rule.fault == FaultKind::ServerError => {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                }
                Some(rule) => {
                    transport_fault(rule, || response.clone_json()).unwrap_or(response.into())
                }
                None => response.into(),
            };
            reply(response)
        }
    }
}

fn task(call: &Call<'_>, id: &str) -> JsonReply {
    let state = call.state;
    let Some(job) = state.job(id).filter(|j| j.provider == Provider::Runway) else {
        return JsonReply(StatusCode::NOT_FOUND, json!({ "error": "Task not found" }));
    };
    let created =
        chrono::Utc::now() - chrono::Duration::from_std(job.created.elapsed()).unwrap_or_default();
    let credits = i64::from(job.duration_secs) * 5;
    let mut body = json!({ "id": job.id, "createdAt": created.to_rfc3339() });
    let extra = match state.phase(&job) {
        Phase::Queued { position } => {
            let throttled = state
                .config
                .runway
                .concurrency
                .is_some_and(|c| position >= c);
            let status = if throttled { "THROTTLED" } else { "PENDING" };
            json!({ "status": status, "estimatedCost": { "credits": credits } })
        }
        Phase::Running { progress } => json!({
            "status": "RUNNING", "progress": progress, "estimatedCost": { "credits": credits }
        }),
        Phase::Succeeded => json!({
            "status": "SUCCEEDED", "output": [state.output_url(&job)], "cost": { "credits": credits }
        }),
        Phase::Failed => json!({
            "status": "FAILED",
            "failure": "An unexpected error occurred while generating this video.",
            "failureCode": "INTERNAL.BAD_OUTPUT.CODE01",
            "cost": { "credits": 0 }
        }),
        Phase::Moderated => json!({
            "status": "FAILED",
            "failure": "Your prompt was flagged by our content moderation system.",
            "failureCode": "SAFETY.INPUT.TEXT",
            "cost": { "credits": 0 }
        }),
        Phase::Cancelled => json!({ "status": "CANCELLED", "cost": { "credits": 0 } }),
    };
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    JsonReply(StatusCode::OK, body)
}

struct Model {
    name: &'static str,
    t2v: bool,
    i2v: bool,
    ratios_i2v: &'static [&'static str],
    ratios_t2v: &'static [&'static str],
    durations: &'static [u64],
    needs_text: bool,
    last_frame: bool,
}

const GEN4_RATIOS: &[&str] = &[
    "1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672",
];
const VEO_RATIOS: &[&str] = &["1280:720", "720:1280", "1080:1920", "1920:1080"];

const VEO31: Model = Model {
    name: "veo3.1",
    t2v: true,
    i2v: true,
    ratios_i2v: VEO_RATIOS,
    ratios_t2v: VEO_RATIOS,
    durations: &[4, 6, 8],
    needs_text: false,
    last_frame: true,
};

const MODELS: &[Model] = &[
    Model {
        name: "gen4_turbo",
        t2v: false,
        i2v: true,
        ratios_i2v: GEN4_RATIOS,
        ratios_t2v: &[],
        durations: &[2, 3, 4, 5, 6, 7, 8, 9, 10],
        needs_text: false,
        last_frame: false,
    },
    Model {
        name: "gen4.5",
        t2v: true,
        i2v: true,
        ratios_i2v: GEN4_RATIOS,
        ratios_t2v: &["1280:720", "720:1280"],
        durations: &[2, 3, 4, 5, 6, 7, 8, 9, 10],
        needs_text: true,
        last_frame: false,
    },
    Model {
        name: "gen3a_turbo",
        t2v: false,
        i2v: true,
        ratios_i2v: &["1280:768", "768:1280"],
        ratios_t2v: &[],
        durations: &[5, 10],
        needs_text: true,
        last_frame: true,
    },
    VEO31,
    Model {
        name: "veo3.1_fast",
        ..VEO31
    },
];

fn validate(
    t2v: bool,
    body: &serde_json::Map<String, Value>,
) -> Result<(&'static Model, String, u32), String> {
    let name = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| format!("Invalid model: {name:?}"))?;
    if (t2v && !model.t2v) || (!t2v && !model.i2v) {
        let what = if t2v {
            "text_to_video"
        } else {
            "image_to_video"
        };
        return Err(format!("Model {name} is not supported for {what}"));
    }
    let text = body.get("promptText").and_then(Value::as_str);
    if (model.needs_text || t2v) && text.is_none_or(|t| t.trim().is_empty()) {
        return Err("promptText: Required".into());
    }
    if text.is_some_and(|t| t.encode_utf16().count() > 1000) {
        return Err("promptText: String must contain at most 1000 character(s)".into());
    }
    if !t2v {
        match body.get("promptImage") {
            Some(Value::String(s)) if is_image_uri(s) => {}
            Some(Value::Array(items)) if !items.is_empty() => {
                let positions: Vec<&str> = items
                    .iter()
                    .map(|i| {
                        i.get("position")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    })
                    .collect();
                if items.iter().any(|i| {
                    !i.get("uri")
                        .and_then(Value::as_str)
                        .is_some_and(is_image_uri)
                }) {
                    return Err("promptImage: Invalid uri".into());
                }
                let ok = match positions.as_slice() {
                    ["first"] => true,
                    ["first", "last"] => model.last_frame,
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "promptImage: positions {positions:?} are not supported by {name}"
                    ));
                }
            }
            _ => return Err("promptImage: Required".into()),
        }
    }
    let ratio = body
        .get("ratio")
        .and_then(Value::as_str)
        .unwrap_or("1280:720");
    let ratios = if t2v {
        model.ratios_t2v
    } else {
        model.ratios_i2v
    };
    if !ratios.contains(&ratio) {
        return Err(format!(
            "ratio: Invalid enum value. Expected {}, received '{ratio}'",
            ratios.join(" | ")
        ));
    }
    // Without a duration, 5 s where the model offers it, else its shortest.
    let fallback = if model.durations.contains(&5) {
        5
    } else {
        model.durations.first().copied().unwrap_or(5)
    };
    let duration = body
        .get("duration")
        .and_then(Value::as_u64)
        .unwrap_or(fallback);
    if !model.durations.contains(&duration) {
        return Err(format!("duration: {duration} is not supported by {name}"));
    }
    Ok((model, ratio.to_owned(), duration as u32))
}

fn is_image_uri(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("runway://") || s.starts_with("data:image/")
}

fn submit(call: &Call<'_>, fault: Option<crate::config::FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(error(StatusCode::BAD_REQUEST, "Invalid JSON body"));
    };
    let t2v = call.path == "/v1/text_to_video";
    let (_, ratio, duration) = match validate(t2v, &body) {
        Ok(v) => v,
        Err(message) => return reply(error(StatusCode::BAD_REQUEST, &message)),
    };
    if let Err(message) = crate::uploads::check_runway_images(call.state, &body) {
        return reply(error(StatusCode::BAD_REQUEST, &message));
    }
    let size = size_from_ratio(&ratio).unwrap_or(ttv::Resolution::new(1280, 720));
    let id = uuid::Uuid::new_v4().to_string();
    call.state.create(
        Provider::Runway,
        id.clone(),
        size,
        duration,
        String::new(),
        fault.as_ref(),
    );
    let reply = |r| Reply::new(Endpoint::Submit, r).task(&id);
    let ok = json(StatusCode::OK, json!({ "id": id }));
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
        Some(rule) => {
            transport_fault(rule, || json(StatusCode::OK, json!({ "id": id }))).unwrap_or(ok)
        }
        None => ok,
    };
    reply(response).paid()
}

/// `POST /v1/uploads {filename, type: ephemeral}`: a presigned-POST target and the
/// `runway://` URI the file will have.
fn upload_slot(call: &Call<'_>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Upload, r);
    if call.method != Method::POST {
        return reply(error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"));
    }
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(error(StatusCode::UNAUTHORIZED, "Invalid API key."));
    }
    let body = call.json().unwrap_or_default();
    let named = body
        .get("filename")
        .and_then(Value::as_str)
        .is_some_and(|f| !f.is_empty());
    if !named || body.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "filename: Required; type: Invalid literal value, expected \"ephemeral\"",
        ));
    }
    let id = call.state.reserve_upload(Provider::Runway);
    reply(json(
        StatusCode::OK,
        json!({
            "uploadUrl": format!("{}/uploads/runway/{id}", call.state.root),
            "fields": { "key": id, "policy": "c2ltLXBvbGljeQ==", "x-amz-signature": "sim" },
            "runwayUri": format!("runway://{id}"),
        }),
    ))
}
