//! Every route, declared once in [`routes!`]: the same list builds the axum router and the
//! OpenAPI document at `/openapi.json`, so the two cannot drift apart.

pub mod content;
pub mod events;
pub mod native;
pub mod openai;
pub mod ops;
pub mod pipeline;
pub mod webhooks;

use axum::Router;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::Shared;

/// One route as the OpenAPI document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `get`, `post`, `delete`.
    pub method: &'static str,
    /// The path, with `{name}` parameters.
    pub path: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// The API family.
    pub tag: &'static str,
    /// Whether it needs a bearer token (when tokens are configured).
    pub auth: bool,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $tag:literal, $auth:literal, $summary:literal; )*) => {
        /// Every route.
        pub const ROUTES: &[Route] = &[
            $( Route { method: stringify!($method), path: $path, summary: $summary, tag: $tag, auth: $auth }, )*
        ];

        /// The router of every route in [`ROUTES`].
        pub fn router() -> Router<Shared> {
            Router::new()
                $( .route($path, axum::routing::$method($handler)) )*
        }
    };
}

routes! {
    get "/" => crate::dashboard::page, "dashboard", false, "The job dashboard (HTML)";
    get "/healthz" => ops::healthz, "ops", false, "Liveness";
    get "/readyz" => ops::readyz, "ops", false, "Readiness: the job store answers and the server takes jobs";
    get "/metrics/prometheus" => ops::prometheus, "ops", false, "Metrics in Prometheus text format";
    get "/openapi.json" => ops::openapi, "ops", false, "This document";
    post "/jobs" => pipeline::create, "jobs", true, "Create a video job (the original pipeline's API)";
    get "/jobs" => pipeline::list, "jobs", true, "List jobs, newest first";
    get "/jobs/{id}" => pipeline::get, "jobs", true, "A job's status";
    post "/jobs/{id}/cancel" => pipeline::cancel, "jobs", true, "Cancel a job";
    get "/jobs/{id}/video-url" => pipeline::video_url, "jobs", true, "A signed, expiring URL of the finished video";
    get "/jobs/{id}/events" => events::stream, "jobs", true, "Live progress as Server-Sent Events (Last-Event-ID resumes)";
    post "/v1/videos" => openai::create, "videos", true, "Create a video (OpenAI-compatible; JSON or multipart with input_reference)";
    get "/v1/videos" => openai::list, "videos", true, "List videos (after, limit, order)";
    get "/v1/videos/{id}" => openai::retrieve, "videos", true, "Retrieve a video";
    delete "/v1/videos/{id}" => openai::delete, "videos", true, "Delete a video";
    get "/v1/videos/{id}/content" => content::video, "videos", true, "Download the video (Range supported; or a signed URL)";
    post "/v1/ttv/jobs" => native::create, "ttv", true, "Create a job from a full ttv request (Idempotency-Key)";
    get "/v1/ttv/jobs" => native::list, "ttv", true, "List jobs with backend, cost and progress";
    get "/v1/ttv/jobs/{id}" => native::get, "ttv", true, "A job with its backend, estimate, cost and progress";
    get "/v1/ttv/jobs/{id}/events" => events::stream, "ttv", true, "Live progress as Server-Sent Events";
    post "/v1/estimate" => native::estimate, "ttv", true, "Price a request without running it";
    get "/v1/spend" => native::spend, "ttv", true, "What jobs cost, by day, backend and model";
    get "/v1/backends" => native::backends, "ttv", true, "The backends and whether they can be used here";
    post "/webhooks/{provider}" => webhooks::receive, "webhooks", false, "A provider's callback (fal, MiniMax): verified, then the job's next status call is made at once";
}

/// A request body as an extractor hands it over: the bytes, or why they were refused (over
/// the size limit, say), so that the refusal is written in the API's own error shape.
pub type BodyBytes = Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>;

/// The bytes of `body`, or its refusal as an [`ApiError`] with the extractor's status.
pub fn body(body: BodyBytes) -> Result<axum::body::Bytes, ApiError> {
    body.map_err(|e| ApiError {
        status: e.status(),
        code: if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        },
        ..ApiError::bad_body(e.body_text())
    })
}

/// The caller of a request, or why it is refused.
pub fn caller(state: &Shared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    state.tokens.check(headers)
}

/// Parses a JSON body: a syntax error says where; a wrong type or an unknown field names
/// the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body(
            "the request body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_body(format!(
                    "the request body is not valid JSON: {inner}"
                )));
            }
            let text = inner.to_string();
            let field = text
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
                .unwrap_or_else(|| if path == "." { "body".into() } else { path });
            Err(ApiError::invalid(field.clone(), format!("{field}: {text}")))
        }
    }
}

/// The value of the `Idempotency-Key` header.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// The hash that decides whether two requests with one idempotency key are the same: of
/// what was asked (fields and image contents), so a multipart body with another boundary
/// is still the same request.
pub fn request_hash(
    parts: &serde_json::Value,
    images: &[Option<&ttv::media::image::ImageInput>],
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(parts.to_string().as_bytes());
    for img in images {
        h.update(b"\n");
        h.update(img.map_or("", |i| i.sha256()).as_bytes());
    }
    hex::encode(h.finalize())
}

/// Decodes a base64 image or `data:` URI sent in JSON and checks it by content.
pub async fn image_from_text(
    field: &'static str,
    text: &str,
) -> Result<ttv::media::image::ImageInput, ApiError> {
    use base64::Engine as _;
    let body = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, b)| b).ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{field}: a data: URI needs a comma before its data"),
            )
        })?,
        None => text,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| {
            ApiError::invalid(
                field,
                format!("{field}: not base64 or a data: URI of a PNG, JPEG or WebP image ({e})"),
            )
        })?;
    image_from_bytes(field, bytes).await
}

/// Checks uploaded image bytes by content (format, size, pixel limits, completeness).
pub async fn image_from_bytes(
    field: &'static str,
    bytes: Vec<u8>,
) -> Result<ttv::media::image::ImageInput, ApiError> {
    tokio::task::spawn_blocking(move || {
        ttv::media::image::ImageInput::from_bytes(field, format!("uploaded {field}"), bytes)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::from)
}
