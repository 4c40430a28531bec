//! Google Veo on both of Google's surfaces, served under `/gemini` and `/vertex`.
//!
//! Gemini API: `POST /v1beta/models/{m}:predictLongRunning` (header `x-goog-api-key`) →
//! `{name: "models/{m}/operations/{id}"}`; `GET /v1beta/{name}` → `done: false`, then `done:
//! true` with `response.generateVideoResponse.generatedSamples[0].video.uri`. That URI has the
//! real service's shape whatever address the client used —
//! `https://generativelanguage.googleapis.com/v1beta/files/{id}:download?alt=media`, `{id}`
//! lowercase letters and digits — because clients do not fetch it as it stands: google-genai's
//! `files.download` takes the id after `files/` (`t_file_name` in
//! github.com/googleapis/python-genai `google/genai/_transformers.py`, read 2026-12) and sends
//! `GET {its base URL}/v1beta/files/{id}:download?alt=media` with its key. Served here, that
//! call redirects (302) to the expiring video URL.
//!
//! Vertex AI: `POST /token` takes the RFC 7523 JWT-bearer grant and checks the JWT's RS256
//! signature against `google_public_key_pem`, its `exp`, its `scope` and its `aud`, which must
//! be Google's token endpoint `https://oauth2.googleapis.com/token` — the audience Google
//! documents for every access-token request
//! (developers.google.com/identity/protocols/oauth2/service-account) and the one google-auth
//! always signs with, whatever `token_uri` it posts to (`_make_authorization_grant_assertion`
//! in github.com/googleapis/google-auth-library-python `google/oauth2/service_account.py`). It
//! hands out a bearer token valid for `google_token_ttl_secs`.
//!
//! Model calls are served under both API versions, `v1` (Google's REST docs) and `v1beta1`
//! (google-genai's default for Vertex, `_api_client.py`); the REST reference lists each method
//! under both (cloud.google.com/vertex-ai/generative-ai/docs/reference/rest):
//! `POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning`;
//! `POST /{v}/…/models/{m}:fetchPredictOperation {operationName}`; and the long-running
//! operations method `GET /{v}/projects/{p}/locations/{l}/operations/{id}` (the HTTP binding of
//! `google.longrunning.Operations.GetOperation` in `google/cloud/aiplatform/{v}/
//! aiplatform_{v}.yaml`, github.com/googleapis/googleapis; that it reports Veo operations is
//! UNCONFIRMED). All need the token. Finished operations carry `response.videos[0]` inline
//! (`bytesBase64Encoded`) or, when `storageUri` was given, as a `gcsUri` served by `GET
//! /storage/v1/b/{bucket}/o/{object}?alt=media` with the same token.
//!
//! Errors use Google's envelope `{"error": {code, message, status}}`. Chosen here
//! (UNCONFIRMED against the live services): a bad Gemini key is `400 INVALID_ARGUMENT` with
//! reason `API_KEY_INVALID`; `insufficient_balance` is `429 RESOURCE_EXHAUSTED` with a quota
//! message; `moderation` ends the operation with `raiMediaFilteredCount: 1` and no video;
//! `task_failure` ends it with `error: {code: 13}`; the Gemini surface refuses the
//! Vertex-only parameters `seed`, `generateAudio` and `storageUri`; a JWT with another
//! audience is `400 invalid_grant`.

use std::time::Duration;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};
use ttv::Resolution;

use crate::Provider;
use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::server::{Call, Reply, json, retry_after, serve_video, transport_fault};
use crate::state::{Job, Phase};

fn error(code: u16, status: &str, message: &str) -> Response {
    json(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({ "error": { "code": code, "message": message, "status": status } }),
    )
}

fn bad_key() -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({ "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com"
            }]
        } }),
    )
}

fn unauthenticated() -> Response {
    error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    )
}

fn not_found() -> Reply {
    Reply::unrouted(error(404, "NOT_FOUND", "Requested entity was not found."))
}

/// Where the Gemini API's generated files live: `video.uri` is always under this host,
/// whatever address the client used, and clients take the file id from it.
const GEMINI_FILES: &str = "https://generativelanguage.googleapis.com/v1beta/files";

/// Google's OAuth token endpoint: the only audience it accepts in a service-account JWT.
const GOOGLE_TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";

/// The Vertex AI API versions served; both carry the same methods.
const VERTEX_VERSIONS: [&str; 2] = ["v1", "v1beta1"];

/// What a call addresses.
enum Route {
    Token,
    Submit(String),
    /// Gemini: the operation id from the path. Vertex `fetchPredictOperation`: empty (the
    /// name is in the body).
    Poll(String),
    /// Vertex `GET /{version}/projects/{p}/locations/{l}/operations/{id}`: the name.
    GetOperation(String),
    FileDownload(String),
    StorageDownload(String),
}

/// The part of a Vertex path after its API version (`projects/...`).
fn vertex_resource(path: &str) -> Option<&str> {
    let (version, rest) = path.strip_prefix('/')?.split_once('/')?;
    VERTEX_VERSIONS
        .contains(&version)
        .then_some(rest)
        .filter(|r| r.starts_with("projects/"))
}

/// Whether `name` is a `projects/{p}/locations/{l}/operations/{id}` operation name.
fn is_location_operation(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(
        parts.as_slice(),
        ["projects", p, "locations", l, "operations", id]
            if !p.is_empty() && !l.is_empty() && !id.is_empty()
    )
}

fn route(provider: Provider, method: &Method, path: &str) -> Option<Route> {
    match provider {
        Provider::Gemini => {
            let rest = path.strip_prefix("/v1beta/")?;
            if method == Method::POST {
                let model = rest
                    .strip_prefix("models/")?
                    .strip_suffix(":predictLongRunning")?;
                return Some(Route::Submit(model.to_owned()));
            }
            if method != Method::GET {
                return None;
            }
            if let Some(file) = rest.strip_prefix("files/") {
                return Some(Route::FileDownload(
                    file.strip_suffix(":download")?.to_owned(),
                ));
            }
            let (_, id) = rest.strip_prefix("models/")?.split_once("/operations/")?;
            Some(Route::Poll(id.to_owned()))
        }
        _ => {
            if path == "/token" && method == Method::POST {
                return Some(Route::Token);
            }
            if let Some(rest) = path.strip_prefix("/storage/v1/b/") {
                let (_, object) = rest.split_once("/o/")?;
                return (method == Method::GET).then(|| Route::StorageDownload(decode(object)));
            }
            let rest = vertex_resource(path)?;
            if method == Method::GET && is_location_operation(rest) {
                return Some(Route::GetOperation(rest.to_owned()));
            }
            if method != Method::POST || !rest.contains("/publishers/google/models/") {
                return None;
            }
            let (_, model_method) = rest.rsplit_once("/models/")?;
            let (model, verb) = model_method.split_once(':')?;
            match verb {
                "predictLongRunning" => Some(Route::Submit(model.to_owned())),
                "fetchPredictOperation" => Some(Route::Poll(String::new())),
                _ => None,
            }
        }
    }
}

pub(crate) async fn handle(call: &Call<'_>, provider: Provider) -> Reply {
    if provider == Provider::Gemini && call.path.ends_with(":generateContent") {
        return crate::google_image::handle(call).await;
    }
    let Some(route) = route(provider, call.method, call.path) else {
        return not_found();
    };
    match route {
        Route::Token => token(call),
        Route::FileDownload(id) => file_download(call, &id),
        Route::StorageDownload(object) => storage_download(call, &object).await,
        Route::Submit(model) => {
            let reply = |r| Reply::new(Endpoint::Submit, r);
            if let Some(r) = auth(call, provider) {
                return reply(r);
            }
            let fault = call.state.fault(provider, Endpoint::Submit);
            if let Some(r) = fault.as_ref().and_then(|f| early_fault(f, provider, true)) {
                return reply(r);
            }
            submit(call, provider, &model, fault)
        }
        Route::Poll(id) if provider == Provider::Gemini => {
            let name = call.path.trim_start_matches("/v1beta/");
            poll(call, provider, &id, name).await
        }
        Route::Poll(_) => {
            let name = call
                .json()
                .and_then(|b| {
                    b.get("operationName")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            match name.rsplit_once("/operations/") {
                Some((_, id)) => poll(call, provider, id, &name).await,
                None => poll_refused(
                    call,
                    provider,
                    error(
                        400,
                        "INVALID_ARGUMENT",
                        "operationName: a full operation name is required",
                    ),
                ),
            }
        }
        Route::GetOperation(name) => {
            let id = name.rsplit('/').next().unwrap_or_default();
            poll(call, provider, id, &name).await
        }
    }
}

/// An operation's state, answered to a poll of any shape (Gemini `GET`, Vertex
/// `fetchPredictOperation` or `operations.get`), with auth and poll faults applied.
async fn poll(call: &Call<'_>, provider: Provider, id: &str, name: &str) -> Reply {
    let reply = |r| Reply::new(Endpoint::Poll, r).task(id);
    if let Some(r) = auth(call, provider) {
        return reply(r);
    }
    let fault = call.state.fault(provider, Endpoint::Poll);
    if let Some(r) = fault.as_ref().and_then(|f| early_fault(f, provider, false)) {
        return reply(r);
    }
    let (status, body) = operation(call, provider, id, name).await;
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => {
            error(500, "INTERNAL", "Internal error encountered.")
        }
        Some(rule) => transport_fault(rule, || json(status, body.clone()))
            .unwrap_or_else(|| json(status, body.clone())),
        None => json(status, body),
    };
    reply(response)
}

/// A poll that names no operation: refused after the credentials are checked.
fn poll_refused(call: &Call<'_>, provider: Provider, refusal: Response) -> Reply {
    let reply = |r| Reply::new(Endpoint::Poll, r);
    match auth(call, provider) {
        Some(r) => reply(r),
        None => reply(refusal),
    }
}

/// `None` when the caller's credentials are good, else the refusal.
fn auth(call: &Call<'_>, provider: Provider) -> Option<Response> {
    match provider {
        Provider::Gemini => {
            let key = call
                .headers
                .get("x-goog-api-key")
                .and_then(|v| v.to_str().ok());
            (!call.state.key_ok(key)).then(bad_key)
        }
        _ => (!call.state.token_ok(call.credential("Bearer"))).then(unauthenticated),
    }
}

fn early_fault(rule: &FaultRule, provider: Provider, submit: bool) -> Option<Response> {
    Some(match rule.fault {
        FaultKind::InvalidKey if provider == Provider::Gemini => bad_key(),
        FaultKind::InvalidKey => unauthenticated(),
        FaultKind::RateLimited => retry_after(
            error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            ),
            rule,
        ),
        FaultKind::Unavailable => retry_after(
            error(503, "UNAVAILABLE", "The service is currently unavailable."),
            rule,
        ),
        FaultKind::InsufficientBalance if submit => error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        _ => return None,
    })
}

struct ModelRules {
    name: &'static str,
    durations: &'static [u64],
    resolutions: &'static [&'static str],
    last_frame: bool,
    references: bool,
}

const VEO3_RES: &[&str] = &["720p", "1080p"];
const VEO31_RES: &[&str] = &["720p", "1080p", "4k"];
const MODELS: &[ModelRules] = &[
    ModelRules {
        name: "veo-2.0-generate-001",
        durations: &[5, 6, 7, 8],
        resolutions: &["720p"],
        last_frame: false,
        references: false,
    },
    ModelRules {
        name: "veo-3.0-generate-001",
        durations: &[4, 6, 8],
        resolutions: VEO3_RES,
        last_frame: false,
        references: false,
    },
    ModelRules {
        name: "veo-3.0-fast-generate-001",
        durations: &[4, 6, 8],
        resolutions: VEO3_RES,
        last_frame: false,
        references: false,
    },
    ModelRules {
        name: "veo-3.0-generate-preview",
        durations: &[4, 6, 8],
        resolutions: VEO3_RES,
        last_frame: false,
        references: false,
    },
    ModelRules {
        name: "veo-3.0-fast-generate-preview",
        durations: &[4, 6, 8],
        resolutions: VEO3_RES,
        last_frame: false,
        references: false,
    },
    ModelRules {
        name: "veo-3.1-generate-preview",
        durations: &[4, 6, 8],
        resolutions: VEO31_RES,
        last_frame: true,
        references: true,
    },
    ModelRules {
        name: "veo-3.1-fast-generate-preview",
        durations: &[4, 6, 8],
        resolutions: VEO31_RES,
        last_frame: true,
        references: true,
    },
    ModelRules {
        name: "veo-3.1-generate-001",
        durations: &[4, 6, 8],
        resolutions: VEO31_RES,
        last_frame: true,
        references: true,
    },
    ModelRules {
        name: "veo-3.1-fast-generate-001",
        durations: &[4, 6, 8],
        resolutions: VEO31_RES,
        last_frame: true,
        references: true,
    },
];

fn image_ok(image: &Value, gemini: bool) -> Result<(), String> {
    let inline = image.get("bytesBase64Encoded").and_then(Value::as_str);
    let gcs = image.get("gcsUri").and_then(Value::as_str);
    match (inline, gcs) {
        (Some(b64), None) => {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "bytesBase64Encoded is not valid base64".to_owned())?;
            match image.get("mimeType").and_then(Value::as_str) {
                Some(m) if m.starts_with("image/") => Ok(()),
                _ => Err("mimeType: an image MIME type is required".into()),
            }
        }
        (None, Some(_)) if gemini => Err("gcsUri is not supported in the Gemini API.".into()),
        (None, Some(uri)) if uri.starts_with("gs://") => Ok(()),
        _ => Err("image: exactly one of bytesBase64Encoded or gcsUri is required".into()),
    }
}

/// Checks a predictLongRunning body; the output size, duration and storageUri.
fn validate(
    provider: Provider,
    model: &str,
    body: &Map<String, Value>,
) -> Result<(Resolution, u32, String), String> {
    let gemini = provider == Provider::Gemini;
    let rules = MODELS
        .iter()
        .find(|m| m.name == model)
        .ok_or_else(|| format!("models/{model} is not found for API version, or is not supported for predictLongRunning."))?;
    let instances = body.get("instances").and_then(Value::as_array);
    let [instance] = instances.map(Vec::as_slice).unwrap_or_default() else {
        return Err("instances: exactly one instance is required".into());
    };
    let prompt = instance.get("prompt").and_then(Value::as_str);
    let image = instance.get("image");
    if prompt.is_none_or(|p| p.trim().is_empty()) && image.is_none() {
        return Err("instances[0]: a prompt or an image is required".into());
    }
    for field in ["image", "lastFrame"] {
        if let Some(img) = instance.get(field) {
            image_ok(img, gemini).map_err(|e| format!("instances[0].{field}: {e}"))?;
        }
    }
    if instance.get("lastFrame").is_some() && !rules.last_frame {
        return Err(format!("lastFrame isn't supported by {model}"));
    }
    if instance.get("lastFrame").is_some() && image.is_none() {
        return Err("lastFrame requires image".into());
    }
    let params = body
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if gemini {
        for vertex_only in ["seed", "generateAudio", "storageUri", "pubsubTopic"] {
            if params.contains_key(vertex_only) {
                return Err(format!(
                    "{vertex_only} parameter is not supported in Gemini API."
                ));
            }
        }
    }
    let duration = params
        .get("durationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(8);
    if !rules.durations.contains(&duration) {
        return Err(format!(
            "durationSeconds: {duration} is out of bounds for {model}"
        ));
    }
    if let Some(refs) = instance.get("referenceImages") {
        let items = refs.as_array().ok_or("referenceImages must be a list")?;
        if !rules.references {
            return Err(format!("referenceImages isn't supported by {model}"));
        }
        if items.is_empty() || items.len() > 3 || duration != 8 {
            return Err("referenceImages: 1 to 3 images with durationSeconds 8".into());
        }
        for item in items {
            image_ok(item.get("image").unwrap_or(&Value::Null), gemini)
                .map_err(|e| format!("referenceImages: {e}"))?;
        }
    }
    let aspect = params
        .get("aspectRatio")
        .and_then(Value::as_str)
        .unwrap_or("16:9");
    if !matches!(aspect, "16:9" | "9:16") {
        return Err(format!(
            "aspectRatio: {aspect} is not supported; use 16:9 or 9:16"
        ));
    }
    let resolution = params
        .get("resolution")
        .and_then(Value::as_str)
        .unwrap_or("720p");
    if !rules.resolutions.contains(&resolution) {
        return Err(format!(
            "resolution: {resolution} is not supported by {model}"
        ));
    }
    if resolution != "720p" && duration != 8 {
        return Err(format!(
            "resolution {resolution} requires durationSeconds 8"
        ));
    }
    if let Some(seed) = params.get("seed")
        && seed.as_u64().is_none_or(|s| s > u64::from(u32::MAX))
    {
        return Err("seed: must be an unsigned 32-bit integer".into());
    }
    let short = match resolution {
        "1080p" => 1080,
        "4k" => 2160,
        _ => 720,
    };
    let long = short * 16 / 9;
    let size = if aspect == "9:16" {
        Resolution::new(short, long)
    } else {
        Resolution::new(long, short)
    };
    let storage = params
        .get("storageUri")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !storage.is_empty() && !storage.starts_with("gs://") {
        return Err("storageUri: must start with gs://".into());
    }
    Ok((
        size,
        duration as u32,
        storage.trim_end_matches('/').to_owned(),
    ))
}

fn submit(call: &Call<'_>, provider: Provider, model: &str, fault: Option<FaultRule>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let Some(body) = call.json() else {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        ));
    };
    let (size, duration, storage) = match validate(provider, model, &body) {
        Ok(v) => v,
        Err(message) => return reply(error(400, "INVALID_ARGUMENT", &message)),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    call.state.create(
        provider,
        id.clone(),
        size,
        duration,
        storage,
        fault.as_ref(),
    );
    let name = match provider {
        Provider::Gemini => format!("models/{model}/operations/{id}"),
        _ => {
            let prefix = vertex_resource(call.path)
                .and_then(|r| r.rsplit_once("/models/"))
                .map(|(p, _)| p)
                .unwrap_or_default();
            format!("{prefix}/models/{model}/operations/{id}")
        }
    };
    let ok = || json(StatusCode::OK, json!({ "name": name }));
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => {
            error(500, "INTERNAL", "Internal error encountered.")
        }
        Some(rule) => transport_fault(rule, ok).unwrap_or_else(ok),
        None => ok(),
    };
    reply(response).paid().task(id)
}

async fn operation(
    call: &Call<'_>,
    provider: Provider,
    id: &str,
    name: &str,
) -> (StatusCode, Value) {
    let state = call.state;
    let Some(job) = state.job(id).filter(|j| j.provider == provider) else {
        return (
            StatusCode::NOT_FOUND,
            json!({ "error": { "code": 404, "message": "Operation not found.", "status": "NOT_FOUND" } }),
        );
    };
    let response_type = match provider {
        Provider::Gemini => {
            "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
        }
        _ => "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
    };
    let result = match state.phase(&job) {
        Phase::Queued { .. } | Phase::Running { .. } => {
            return (StatusCode::OK, json!({ "name": name, "done": false }));
        }
        Phase::Failed | Phase::Cancelled => {
            return (
                StatusCode::OK,
                json!({ "name": name, "done": true, "error": {
                    "code": 13, "message": "Video generation failed due to an internal error. Please try again."
                } }),
            );
        }
        Phase::Moderated => json!({
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [
                "Your current safety settings for person and face generation blocked the video. You will not be charged."
            ]
        }),
        Phase::Succeeded => match provider {
            Provider::Gemini => json!({ "generatedSamples": [{ "video": {
                "uri": format!("{GEMINI_FILES}/{}:download?alt=media", job.id)
            } }] }),
            _ => match vertex_video(call, &job).await {
                Ok(v) => json!({ "videos": [v] }),
                Err(e) => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({ "error": { "code": 500, "message": e, "status": "INTERNAL" } }),
                    );
                }
            },
        },
    };
    let response = match provider {
        Provider::Gemini => json!({ "@type": response_type, "generateVideoResponse": result }),
        _ => {
            let mut r = json!({ "@type": response_type });
            if let (Some(r), Value::Object(fields)) = (r.as_object_mut(), result) {
                r.extend(fields);
            }
            r
        }
    };
    (
        StatusCode::OK,
        json!({ "name": name, "done": true, "response": response }),
    )
}

async fn vertex_video(call: &Call<'_>, job: &Job) -> Result<Value, String> {
    if !job.app.is_empty() {
        return Ok(json!({
            "gcsUri": format!("{}/{}/sample_0.mp4", job.app, job.id),
            "mimeType": "video/mp4"
        }));
    }
    let bytes = call.state.videos.get(job.size, job.duration_secs).await?;
    Ok(json!({
        "bytesBase64Encoded": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "mimeType": "video/mp4"
    }))
}

fn file_download(call: &Call<'_>, id: &str) -> Reply {
    let reply = |r| Reply::new(Endpoint::Result, r).task(id);
    let key = call
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok());
    if !call.state.key_ok(key) {
        return reply(bad_key());
    }
    let Some(job) = call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Gemini)
    else {
        return reply(error(404, "NOT_FOUND", "File not found."));
    };
    let Ok(location) = HeaderValue::from_str(&call.state.output_url(&job)) else {
        return reply(error(500, "INTERNAL", "bad location"));
    };
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    reply(response)
}

async fn storage_download(call: &Call<'_>, object: &str) -> Reply {
    let reply = |r| Reply::new(Endpoint::Download, r);
    if !call.state.token_ok(call.credential("Bearer")) {
        return reply(unauthenticated());
    }
    if call.query.get("alt").map(String::as_str) != Some("media") {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            "only alt=media is simulated",
        ));
    }
    let id = object.rsplit('/').nth(1).unwrap_or_default();
    let reply = |r| Reply::new(Endpoint::Download, r).task(id);
    let Some(job) = call
        .state
        .job(id)
        .filter(|j| j.provider == Provider::Vertex && !j.app.is_empty())
    else {
        return reply(error(
            404,
            "NOT_FOUND",
            &format!("No such object: {object}"),
        ));
    };
    reply(serve_video(call.state, &job, false, call.headers).await)
}

/// Percent-decoding of a path segment or a form value (`+` is a space in forms).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
}

fn token(call: &Call<'_>) -> Reply {
    let reply = |status: StatusCode, error: &str, description: &str| {
        Reply::unrouted(json(
            status,
            json!({ "error": error, "error_description": description }),
        ))
    };
    let form: std::collections::HashMap<String, String> = String::from_utf8_lossy(call.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return reply(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type",
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return reply(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let Some(pem) = &call.state.config.google_public_key_pem else {
        return reply(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_failure",
            "the simulator's public key is not an RSA PEM key",
        );
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[GOOGLE_TOKEN_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            let description = match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.".to_owned(),
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.".to_owned(),
                other => format!("Invalid JWT: {other:?}"),
            };
            return reply(StatusCode::BAD_REQUEST, "invalid_grant", &description);
        }
    };
    if claims.iss.is_empty()
        || !claims
            .scope
            .split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
    {
        return reply(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let ttl = call.state.config.google_token_ttl_secs.unwrap_or(3600);
    let token = call.state.issue_token(Duration::from_secs(ttl));
    Reply::unrouted(json(
        StatusCode::OK,
        json!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }),
    ))
}
