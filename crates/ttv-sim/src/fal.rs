//! fal queue API: `POST /{app_id}` (any depth of sub-path), then
//! `GET /{owner}/{alias}/requests/{id}/status[?logs=1]` (or its Server-Sent Events twin,
//! `.../status/stream`), `GET /{owner}/{alias}/requests/{id}`
//! and `PUT /{owner}/{alias}/requests/{id}/cancel`, with `Authorization: Key <key>`. Errors are
//! `{"detail": ...}`: a string for request errors, a list of `{loc, msg, type}` for 422.
//!
//! The platform API's `GET /v1/models/requests/by-endpoint` (served under `/fal/api`) lists
//! the requests an account sent to an endpoint, with their inputs when asked
//! (`expand=payloads`), as fal documents it
//! (https://docs.fal.ai/platform-apis/v1/models/requests/by-endpoint). UNCONFIRMED and chosen
//! here: requests still queued or running are listed too, without `ended_at`.
//!
//! Webhooks: a submit with `?fal_webhook=URL` gets a POST to URL when the request ends, as
//! docs.fal.ai ("Webhooks") documents it: `{request_id, gateway_request_id, status: "OK" |
//! "ERROR", payload, error?}`, signed with ED25519 over `request_id \n user_id \n timestamp
//! \n sha256_hex(body)` in the `X-Fal-Webhook-{Request-Id,User-Id,Timestamp,Signature}`
//! headers, the public key published as a JSON Web Key Set at `/.well-known/jwks.json`
//! (fal's is at `https://rest.alpha.fal.ai/.well-known/jwks.json`; its `x` is padded with
//! `=`, as here). The key is drawn from the simulator's seed. fal retries a failed delivery
//! 10 times over 2 hours; the simulator tries 3 times, a second apart.
//!
//! Insufficient balance is the 403 "User is locked. Reason: Exhausted balance" that users
//! report (github.com/fal-ai/fal issues 1112, 1147). UNCONFIRMED and chosen here: a cancelled
//! request reports `COMPLETED` with an error; the result of a
//! failed request is a 500 with a `detail` string.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, JsonReply, Reply, json, retry_after, transport_fault};
use crate::state::{Job, Phase, State, Submission};

fn detail(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "detail": text }))
}

fn policy_violation() -> Value {
    json!({ "detail": [{
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged by a content checker.",
        "type": "content_policy_violation",
    }]})
}

/// `owner/alias` of an app id; `workflows/` and `comfy/` ids keep one more segment.
fn owner_alias(app_id: &str) -> String {
    let parts: Vec<&str> = app_id.split('/').filter(|p| !p.is_empty()).collect();
    let keep = if matches!(parts.first(), Some(&"workflows" | &"comfy")) {
        3
    } else {
        2
    };
    parts
        .iter()
        .take(keep)
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Where the platform API is served, under the provider prefix.
const PLATFORM: &str = "/api/v1/";
/// Where the webhook keys are published, under the provider prefix.
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The user id the simulated account's webhooks carry.
const WEBHOOK_USER: &str = "sim-user-1";
/// Delivery attempts of one webhook.
const WEBHOOK_TRIES: u32 = 3;

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    if call.path.starts_with(PLATFORM) {
        return Reply::unrouted(platform(call));
    }
    if call.path == JWKS_PATH && call.method == Method::GET {
        return Reply::unrouted(json(StatusCode::OK, jwks(call.state)));
    }
    let app_path = call.path.trim_start_matches('/');
    let request = app_path.split_once("/requests/").map(|(app, rest)| {
        let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
        (app.to_owned(), id.to_owned(), action.to_owned())
    });
    let endpoint = match (call.method, &request) {
        (&Method::POST, None) => Endpoint::Submit,
        (&Method::GET, Some((_, _, a))) if a == "status" => Endpoint::Poll,
        (&Method::GET, Some((_, _, a))) if a.is_empty() => Endpoint::Result,
        (&Method::PUT, Some((_, _, a))) if a == "cancel" => Endpoint::Cancel,
        _ => return Reply::unrouted(detail(StatusCode::NOT_FOUND, "Not Found")),
    };
    let reply = |r| Reply::new(endpoint, r);
    if !call.state.key_ok(call.credential("Key")) {
        return reply(detail(
            StatusCode::UNAUTHORIZED,
            "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'.",
        ));
    }
    let fault = call.state.fault(Provider::Fal, endpoint);
    if let Some(rule) = &fault {
        let early = match rule.fault {
            FaultKind::InvalidKey => Some(detail(
                StatusCode::UNAUTHORIZED,
                "Cannot access application: invalid key.",
            )),
            FaultKind::RateLimited => Some(retry_after(
                detail(StatusCode::TOO_MANY_REQUESTS, "Too many requests."),
                rule,
            )),
            FaultKind::Unavailable => Some(retry_after(
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "detail": "No runner is available.", "error_type": "runner_scheduling_failure" }),
                ),
                rule,
            )),
            FaultKind::InsufficientBalance if endpoint == Endpoint::Submit => Some(detail(
                StatusCode::FORBIDDEN,
                "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
            )),
            FaultKind::Moderation if endpoint == Endpoint::Submit => {
                Some(json(StatusCode::UNPROCESSABLE_ENTITY, policy_violation()))
            }
            FaultKind::ServerError if endpoint != Endpoint::Submit => Some(detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )),
            _ => None,
        };
        if let Some(r) = early {
            return reply(r);
        }
    }
    let (answer, paid) = match (&request, endpoint) {
        (None, _) => submit(call, app_path, fault.as_ref()),
        (Some((_, id, _)), Endpoint::Poll) => (status(call, id), None),
        (Some((_, id, _)), Endpoint::Result) => (result(call, id), None),
        (Some((_, id, _)), _) => (cancel(call, id), None),
    };
    let mut response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => {
            detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Some(rule) => transport_fault(rule, || answer.clone_json()).unwrap_or(answer.into()),
        None => answer.into(),
    };
    let task = request
        .as_ref()
        .map(|r| r.1.clone())
        .or_else(|| paid.clone());
    if let Some(id) = &task
        && let Ok(v) = HeaderValue::from_str(id)
    {
        response.headers_mut().insert("x-fal-request-id", v);
    }
    Reply {
        response,
        endpoint: Some(endpoint),
        paid: paid.is_some(),
        task,
    }
}

fn urls(call: &Call<'_>, app: &str, id: &str) -> (String, String, String) {
    let base = format!("{}/fal/{app}/requests/{id}", call.state.root);
    (
        base.clone(),
        format!("{base}/status"),
        format!("{base}/cancel"),
    )
}

fn submit(call: &Call<'_>, app_id: &str, fault: Option<&FaultRule>) -> (JsonReply, Option<String>) {
    let missing = |field: &str| {
        JsonReply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": [{ "loc": ["body", field], "msg": "field required", "type": "missing" }] }),
        )
    };
    let Some(body) = call.json() else {
        return (missing("body"), None);
    };
    let has = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if app_id.contains("image-to-video")
        && !(has("image_url") || has("start_image_url") || has("first_frame_url"))
    {
        return (missing("image_url"), None);
    }
    if app_id.contains("text-to-video") && !has("prompt") {
        return (missing("prompt"), None);
    }
    if let Err((field, msg)) = crate::uploads::check_fal_images(call.state, &body) {
        return (
            JsonReply(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "detail": [{ "loc": ["body", field], "msg": msg, "type": "file_download_error" }] }),
            ),
            None,
        );
    }
    let secs = match body.get("duration") {
        Some(Value::String(s)) => s.trim_end_matches('s').parse().unwrap_or(5),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(5) as u32,
        _ => 5,
    };
    let size = match body.get("aspect_ratio").and_then(Value::as_str) {
        Some("9:16") => ttv::Resolution::new(720, 1280),
        Some("1:1") => ttv::Resolution::new(960, 960),
        _ => ttv::Resolution::new(1280, 720),
    };
    let app = owner_alias(app_id);
    let id = uuid::Uuid::new_v4().to_string();
    call.state
        .create(Provider::Fal, id.clone(), size, secs, app.clone(), fault);
    call.state.keep_submission(Submission {
        id: id.clone(),
        endpoint_id: app_id.to_owned(),
        input: Value::Object(body),
        sent_at: chrono::Utc::now(),
    });
    if let Some(hook) = call.query.get("fal_webhook").filter(|u| !u.is_empty()) {
        let url = percent_encoding::percent_decode_str(hook)
            .decode_utf8_lossy()
            .into_owned();
        tokio::spawn(deliver_webhook(Arc::clone(call.state), id.clone(), url));
    }
    let (response_url, status_url, cancel_url) = urls(call, &app, &id);
    let body = json!({
        "status": "IN_QUEUE",
        "request_id": id,
        "response_url": response_url,
        "status_url": status_url,
        "cancel_url": cancel_url,
        "queue_position": 0,
    });
    (JsonReply(StatusCode::OK, body), Some(id))
}

fn status(call: &Call<'_>, id: &str) -> JsonReply {
    let Some(job) = call.state.job(id).filter(|j| j.provider == Provider::Fal) else {
        return JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "detail": "Request not found" }),
        );
    };
    let (response_url, _, _) = urls(call, &job.app, id);
    let logs = matches!(
        call.query.get("logs").map(String::as_str),
        Some("1" | "true")
    );
    let (code, body) = status_body(call.state, &job, &response_url, logs);
    JsonReply(code, body)
}

/// The status object of `job`, as the status call and the status stream send it.
fn status_body(state: &State, job: &Job, response_url: &str, logs: bool) -> (StatusCode, Value) {
    let log = |m: &str| {
        if logs {
            json!([{ "message": m, "level": "INFO", "source": "user", "timestamp": chrono::Utc::now().to_rfc3339() }])
        } else {
            Value::Null
        }
    };
    match state.phase(job) {
        Phase::Queued { position } => (
            StatusCode::ACCEPTED,
            json!({
                "status": "IN_QUEUE", "queue_position": position, "response_url": response_url
            }),
        ),
        Phase::Running { progress } => (
            StatusCode::ACCEPTED,
            json!({
                "status": "IN_PROGRESS", "logs": log(&format!("{:.0}%", progress * 100.0)), "response_url": response_url
            }),
        ),
        phase => {
            let (error, error_type) = match phase {
                Phase::Succeeded => (Value::Null, Value::Null),
                Phase::Moderated => (
                    json!("content policy violation"),
                    json!("content_policy_violation"),
                ),
                Phase::Cancelled => (json!("Request was cancelled"), json!("request_cancelled")),
                _ => (
                    json!("Internal error while generating the video"),
                    json!("internal_error"),
                ),
            };
            (
                StatusCode::OK,
                json!({
                    "status": "COMPLETED", "logs": log("done"),
                    "metrics": { "inference_time": state.model_secs(job.run) },
                    "error": error, "error_type": error_type, "response_url": response_url
                }),
            )
        }
    }
}

/// Whether a call asks for a request's status stream.
pub(crate) fn is_status_stream(method: &Method, path: &str) -> bool {
    method == Method::GET && path.contains("/requests/") && path.ends_with("/status/stream")
}

/// Between looks at a streamed request's state (its end is sent when it happens).
const STREAM_TICK: Duration = Duration::from_millis(200);
/// Between keep-alive comments, as fal sends them.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /{owner}/{alias}/requests/{id}/status/stream[?logs=1]`: Server-Sent Events, one
/// `data:` status object per change, closed after `COMPLETED`, a comment every 15 s.
pub(crate) fn status_stream(call: &Call<'_>, state: Arc<State>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Stream, r);
    if !call.state.key_ok(call.credential("Key")) {
        return reply(detail(
            StatusCode::UNAUTHORIZED,
            "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'.",
        ));
    }
    // `on: stream` faults: a refused stream (500, 503, 429) or one whose connection drops.
    if let Some(rule) = call.state.fault(Provider::Fal, Endpoint::Stream) {
        return reply(match rule.fault {
            FaultKind::ConnectionReset => crate::server::reset(),
            FaultKind::RateLimited => retry_after(
                detail(StatusCode::TOO_MANY_REQUESTS, "Too many requests."),
                &rule,
            ),
            FaultKind::Unavailable => retry_after(
                detail(StatusCode::SERVICE_UNAVAILABLE, "No runner is available."),
                &rule,
            ),
            _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        });
    }
    let id = call
        .path
        .trim_end_matches("/status/stream")
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let Some(job) = state.job(&id).filter(|j| j.provider == Provider::Fal) else {
        return reply(detail(StatusCode::NOT_FOUND, "Request not found"));
    };
    let (response_url, _, _) = urls(call, &job.app, &id);
    let logs = matches!(
        call.query.get("logs").map(String::as_str),
        Some("1" | "true")
    );
    let events = futures_util::stream::unfold(
        (state, id.clone(), None::<String>, Instant::now(), false),
        move |(state, id, last, mut quiet_since, done)| {
            let response_url = response_url.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    let job = state.job(&id)?;
                    let (_, body) = status_body(&state, &job, &response_url, logs);
                    let key = format!(
                        "{}|{}|{}",
                        body["status"], body["queue_position"], body["logs"][0]["message"]
                    );
                    let ended = body["status"] == "COMPLETED";
                    if last.as_deref() != Some(key.as_str()) {
                        let event = Bytes::from(format!("data: {body}\n\n"));
                        return Some((
                            Ok::<_, std::io::Error>(event),
                            (state, id, Some(key), Instant::now(), ended),
                        ));
                    }
                    let now = Instant::now();
                    if now.duration_since(quiet_since) >= KEEP_ALIVE {
                        quiet_since = now;
                        return Some((
                            Ok(Bytes::from_static(b": keep-alive\n\n")),
                            (state, id, last, quiet_since, false),
                        ));
                    }
                    // Wake exactly at the end when it comes before the next look.
                    let end = job.finished_at();
                    let wake = if end > now && end < now + STREAM_TICK {
                        end
                    } else {
                        now + STREAM_TICK
                    };
                    tokio::time::sleep_until(wake).await;
                }
            }
        },
    );
    let mut response = Response::new(Body::from_stream(events));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    reply(response).task(id)
}

fn result(call: &Call<'_>, id: &str) -> JsonReply {
    let Some(job) = call.state.job(id).filter(|j| j.provider == Provider::Fal) else {
        return JsonReply(
            StatusCode::NOT_FOUND,
            json!({ "detail": "Request not found" }),
        );
    };
    match call.state.phase(&job) {
        Phase::Succeeded => JsonReply(
            StatusCode::OK,
            json!({
                "video": {
                    "url": call.state.output_url(&job),
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                },
                "seed": 42,
            }),
        ),
        Phase::Moderated => JsonReply(StatusCode::UNPROCESSABLE_ENTITY, policy_violation()),
        Phase::Failed | Phase::Cancelled => JsonReply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "detail": "Internal error while generating the video" }),
        ),
        _ => JsonReply(
            StatusCode::BAD_REQUEST,
            json!({ "detail": "Request is still in progress" }),
        ),
    }
}

fn cancel(call: &Call<'_>, id: &str) -> JsonReply {
    match call.state.cancel(id) {
        Some(true) => JsonReply(
            StatusCode::ACCEPTED,
            json!({ "status": "CANCELLATION_REQUESTED" }),
        ),
        Some(false) => JsonReply(
            StatusCode::BAD_REQUEST,
            json!({ "status": "ALREADY_COMPLETED" }),
        ),
        None => JsonReply(StatusCode::NOT_FOUND, json!({ "status": "NOT_FOUND" })),
    }
}

/// `GET /v1/models/requests/by-endpoint?endpoint_id=...[&start=...][&request_id=...]
/// [&expand=payloads][&limit=N]`: the account's requests to one endpoint, newest first.
fn platform(call: &Call<'_>) -> Response {
    if call.path != "/api/v1/models/requests/by-endpoint" || call.method != Method::GET {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    }
    if !call.state.key_ok(call.credential("Key")) {
        return detail(StatusCode::UNAUTHORIZED, "Invalid API key.");
    }
    let query = |k: &str| {
        call.query
            .get(k)
            .map(|v| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|v| !v.is_empty())
    };
    let Some(endpoint_id) = query("endpoint_id") else {
        return json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": [{ "loc": ["query", "endpoint_id"], "msg": "field required", "type": "missing" }] }),
        );
    };
    let start = match query("start").map(|s| chrono::DateTime::parse_from_rfc3339(&s)) {
        Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
        Some(Err(_)) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "start: expected an ISO8601 date-time",
            );
        }
        None => Some(chrono::Utc::now() - chrono::Duration::hours(24)),
    };
    let request_id = query("request_id");
    let payloads = query("expand").is_some_and(|e| e.split(',').any(|x| x == "payloads"));
    let limit = query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let now = tokio::time::Instant::now();
    let wall = |at: tokio::time::Instant| {
        let utc = chrono::Utc::now();
        match at.checked_duration_since(now) {
            Some(ahead) => utc + chrono::Duration::from_std(ahead).unwrap_or_default(),
            None => utc - chrono::Duration::from_std(now - at).unwrap_or_default(),
        }
    };
    let mut items: Vec<Value> = call
        .state
        .submissions()
        .into_iter()
        .rev()
        .filter(|s| s.endpoint_id == endpoint_id)
        .filter(|s| start.is_none_or(|t| s.sent_at >= t))
        .filter(|s| request_id.as_ref().is_none_or(|r| *r == s.id))
        .filter_map(|s| {
            let job = call.state.job(&s.id)?;
            let phase = call.state.phase(&job);
            let started = now >= job.created + job.queue;
            let ended = matches!(
                phase,
                Phase::Succeeded | Phase::Failed | Phase::Moderated | Phase::Cancelled
            );
            let mut item = json!({
                "request_id": s.id,
                "endpoint_id": s.endpoint_id,
                "sent_at": s.sent_at.to_rfc3339(),
                "started_at": started.then(|| wall(job.created + job.queue).to_rfc3339()),
                "ended_at": ended.then(|| wall(job.finished_at()).to_rfc3339()),
                "status_code": ended.then_some(if phase == Phase::Succeeded { 200 } else { 500 }),
                "duration": ended.then_some(job.run.as_secs_f64()),
            });
            if payloads && let Some(obj) = item.as_object_mut() {
                obj.insert("json_input".into(), s.input.clone());
            }
            Some(item)
        })
        .collect();
    items.truncate(limit);
    json(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null, "has_more": false }),
    )
}

/// The ED25519 key the simulated fal signs webhooks with, drawn from the simulator's seed.
fn signing_key(state: &State) -> ed25519_dalek::SigningKey {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"ttv-sim fal webhook key");
    h.update(state.seed().to_le_bytes());
    let mut seed = [0u8; 32];
    seed.copy_from_slice(h.finalize().as_slice());
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// The key set fal publishes: one Ed25519 key, `x` padded as fal's is.
fn jwks(state: &State) -> Value {
    use base64::Engine as _;
    let x = base64::engine::general_purpose::URL_SAFE
        .encode(signing_key(state).verifying_key().to_bytes());
    json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "sim-1", "use": "sig", "alg": "EdDSA" }] })
}

/// The hex signature of a webhook with these values.
pub(crate) fn signature(
    state: &State,
    request_id: &str,
    user_id: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    use ed25519_dalek::Signer as _;
    use sha2::Digest as _;
    let message = format!(
        "{request_id}\n{user_id}\n{timestamp}\n{}",
        hex::encode(sha2::Sha256::digest(body))
    );
    hex::encode(signing_key(state).sign(message.as_bytes()).to_bytes())
}

/// The webhook body of a request that ended.
fn webhook_body(state: &State, job: &Job) -> Value {
    let (status, error, payload) = match state.phase(job) {
        Phase::Succeeded => (
            "OK",
            Value::Null,
            json!({
                "video": {
                    "url": state.output_url(job),
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                },
                "seed": 42,
            }),
        ),
        Phase::Moderated => (
            "ERROR",
            json!("Invalid status code: 422"),
            policy_violation(),
        ),
        _ => (
            "ERROR",
            json!("Invalid status code: 500"),
            json!({ "detail": "Internal error while generating the video" }),
        ),
    };
    let mut body = json!({
        "request_id": job.id,
        "gateway_request_id": job.id,
        "status": status,
        "payload": payload,
    });
    if !error.is_null() {
        body["error"] = error;
    }
    body
}

/// Waits for request `id` to end (or be cancelled), then POSTs its signed webhook to `url`.
async fn deliver_webhook(state: Arc<State>, id: String, url: String) {
    loop {
        let Some(job) = state.job(&id) else {
            return;
        };
        let end = job.cancelled_at.unwrap_or_else(|| job.finished_at());
        let now = Instant::now();
        if now >= end {
            break;
        }
        // A cancel can end it sooner: look again at least every second.
        tokio::time::sleep_until(end.min(now + Duration::from_secs(1))).await;
    }
    let Some(job) = state.job(&id) else {
        return;
    };
    let body = webhook_body(&state, &job).to_string();
    for attempt in 1..=WEBHOOK_TRIES {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let headers = [
            ("x-fal-webhook-request-id", id.clone()),
            ("x-fal-webhook-user-id", WEBHOOK_USER.to_owned()),
            ("x-fal-webhook-timestamp", timestamp.clone()),
            (
                "x-fal-webhook-signature",
                signature(&state, &id, WEBHOOK_USER, &timestamp, body.as_bytes()),
            ),
        ];
        let (status, _) =
            crate::webhooks::post(&state, Provider::Fal, &id, &url, &headers, body.clone()).await;
        if (200..300).contains(&status) || attempt == WEBHOOK_TRIES {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
