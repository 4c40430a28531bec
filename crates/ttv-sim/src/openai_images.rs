//! OpenAI Images API: `POST /v1/images/generations` (JSON) and `POST /v1/images/edits`
//! (`multipart/form-data`, reference images as file parts named `image[]`, or `image` for
//! one), with `Authorization: Bearer`. Answers `{created, data: [{b64_json}], usage}` with a
//! real PNG (JPEG for `output_format: jpeg`), as gpt-image-1 does.
//!
//! From the API reference (platform.openai.com/docs/api-reference/images) and openai-python
//! (`resources/images.py`, `types/images_response.py`), read 2026-12-02: sizes `1024x1024`,
//! `1536x1024`, `1024x1536`, `auto`; qualities `low`, `medium`, `high`, `auto`; at most 16
//! input images; errors `{"error": {message, type, param, code}}`. Output token counts per
//! size and quality follow the image-generation guide's table; the input image token count
//! (194 per image) is chosen here. UNCONFIRMED and chosen here: the moderation refusal's
//! `type` (`image_generation_user_error`), and the empty balance as 429 `insufficient_quota`
//! (the code the API uses for chat requests).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, json};

const SIZES: &[(&str, u32, u32)] = &[
    ("1024x1024", 1024, 1024),
    ("1536x1024", 1536, 1024),
    ("1024x1536", 1024, 1536),
];
const QUALITIES: &[&str] = &["low", "medium", "high", "auto"];
const MAX_IMAGES: usize = 16;

fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    json(
        status,
        json!({ "error": { "message": message, "type": kind, "param": param, "code": code } }),
    )
}

fn invalid(message: &str, param: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        Some("invalid_value"),
    )
}

fn fault_answer(kind: FaultKind) -> Option<Response> {
    Some(match kind {
        FaultKind::InvalidKey => error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        FaultKind::RateLimited => error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached for gpt-image-1 on images per minute (IPM): Limit 5, Used 5, Requested 1.",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        FaultKind::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded, please try again later",
            "server_error",
            None,
            None,
        ),
        FaultKind::InsufficientBalance => error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        FaultKind::Moderation => error(
            StatusCode::BAD_REQUEST,
            "Your request was rejected as a result of our safety system.",
            "image_generation_user_error",
            None,
            Some("moderation_blocked"),
        ),
        FaultKind::ServerError => server_error(),
        _ => return None,
    })
}

fn server_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    )
}

/// The fields of a request, from JSON or from a multipart form.
struct Fields {
    model: String,
    prompt: String,
    size: String,
    quality: String,
    output_format: String,
    n: u64,
    images: Vec<bytes::Bytes>,
}

// The error is the HTTP answer itself, built once per refused request.
#[allow(clippy::result_large_err)]
fn fields(call: &Call<'_>, edits: bool) -> Result<Fields, Response> {
    if !edits {
        let Some(body) = call.json() else {
            return Err(invalid(
                "We could not parse the JSON body of your request.",
                "body",
            ));
        };
        let text = |k: &str, d: &str| body.get(k).and_then(Value::as_str).unwrap_or(d).to_owned();
        return Ok(Fields {
            model: text("model", "dall-e-2"),
            prompt: text("prompt", ""),
            size: text("size", "auto"),
            quality: text("quality", "auto"),
            output_format: text("output_format", "png"),
            n: body.get("n").and_then(Value::as_u64).unwrap_or(1),
            images: Vec::new(),
        });
    }
    let parts = crate::uploads::multipart(call.headers, call.body);
    if parts.is_empty() {
        return Err(invalid("Expected a multipart/form-data body.", "body"));
    }
    let text = |k: &str, d: &str| {
        parts
            .iter()
            .find(|p| p.name == k)
            .map_or(d.to_owned(), |p| {
                String::from_utf8_lossy(&p.data).into_owned()
            })
    };
    Ok(Fields {
        model: text("model", "dall-e-2"),
        prompt: text("prompt", ""),
        size: text("size", "auto"),
        quality: text("quality", "auto"),
        output_format: text("output_format", "png"),
        n: text("n", "1").parse().unwrap_or(0),
        images: parts
            .iter()
            .filter(|p| p.name == "image[]" || p.name == "image")
            .map(|p| p.data.clone())
            .collect(),
    })
}

// The error is the HTTP answer itself, built once per refused request.
#[allow(clippy::result_large_err)]
fn check(f: &Fields, edits: bool) -> Result<(u32, u32), Response> {
    if f.model != "gpt-image-1" {
        return Err(invalid(
            &format!(
                "Invalid value: '{}'. Supported values are: 'gpt-image-1'.",
                f.model
            ),
            "model",
        ));
    }
    if f.prompt.trim().is_empty() {
        return Err(invalid("Missing required parameter: 'prompt'.", "prompt"));
    }
    if !QUALITIES.contains(&f.quality.as_str()) {
        return Err(invalid(
            &format!(
                "Invalid value: '{}'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
                f.quality
            ),
            "quality",
        ));
    }
    if !(1..=10).contains(&f.n) {
        return Err(invalid(
            "Invalid value for 'n': must be between 1 and 10.",
            "n",
        ));
    }
    if edits {
        if f.images.is_empty() {
            return Err(invalid("Missing required parameter: 'image'.", "image"));
        }
        if f.images.len() > MAX_IMAGES {
            return Err(invalid(
                &format!("Too many images: at most {MAX_IMAGES}."),
                "image",
            ));
        }
        if f.images.iter().any(|i| crate::stills::decodes(i).is_none()) {
            return Err(invalid(
                "Invalid image file or mode for image 1, please check your image file.",
                "image",
            ));
        }
    }
    if f.size == "auto" {
        return Ok((1024, 1024));
    }
    SIZES
        .iter()
        .find(|s| s.0 == f.size)
        .map(|s| (s.1, s.2))
        .ok_or_else(|| {
            invalid(
                &format!("Invalid value: '{}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.", f.size),
                "size",
            )
        })
}

/// Output tokens per image, from the guide's table.
fn output_tokens(quality: &str, w: u32, h: u32) -> u64 {
    let square = w == h;
    match (quality, square) {
        ("low", true) => 272,
        ("low", false) => 408,
        ("high", true) => 4160,
        ("high", false) => 6240,
        (_, true) => 1056,
        (_, false) => 1584,
    }
}

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let edits = match (call.method, call.path) {
        (&Method::POST, "/v1/images/generations") => false,
        (&Method::POST, "/v1/images/edits") => true,
        _ => {
            return Reply::unrouted(error(
                StatusCode::NOT_FOUND,
                &format!("Invalid URL ({} {})", call.method, call.path),
                "invalid_request_error",
                None,
                None,
            ));
        }
    };
    let reply = |r| Reply::new(Endpoint::Submit, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(fault_answer(FaultKind::InvalidKey).unwrap_or_else(server_error));
    }
    let fault = call.state.fault(Provider::OpenAi, Endpoint::Submit);
    if let Some(r) = fault
        .as_ref()
        .and_then(|f| early_fault(f, Endpoint::Submit, fault_answer))
    {
        return reply(r);
    }
    let f = match fields(call, edits) {
        Ok(f) => f,
        Err(r) => return reply(r),
    };
    let (w, h) = match check(&f, edits) {
        Ok(s) => s,
        Err(r) => return reply(r),
    };
    // The work is done (and billed) from here on, whatever happens to the answer.
    let jpeg = f.output_format == "jpeg";
    let image =
        crate::stills::render_async("openai", f.prompt.clone(), ttv::Resolution::new(w, h), jpeg)
            .await;
    let created = call.state.now().utc.timestamp();
    let text_tokens = (f.prompt.len() / 4 + 1) as u64;
    let image_tokens = 194 * f.images.len() as u64;
    let out_tokens = output_tokens(&f.quality, w, h);
    let body = json!({
        "created": created,
        "background": "opaque",
        "output_format": f.output_format,
        "quality": f.quality,
        "size": format!("{w}x{h}"),
        "data": [{ "b64_json": base64::engine::general_purpose::STANDARD.encode(&image) }],
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": { "text_tokens": text_tokens, "image_tokens": image_tokens },
            "output_tokens": out_tokens,
            "total_tokens": text_tokens + image_tokens + out_tokens,
        },
    });
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::Malformed => {
            let text = body.to_string();
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                text[..text.len() / 2].to_owned(),
            )
                .into_response()
        }
        other => after_fault(
            other.as_ref(),
            JsonReply(StatusCode::OK, body),
            server_error,
        ),
    };
    Reply::new(Endpoint::Submit, response)
        .paid()
        .task(format!("img-{created}"))
}
