//! Stability AI Stable Image: `POST /v2beta/stable-image/generate/{sd3,core,ultra}`, always
//! `multipart/form-data`, with `Authorization: Bearer` and `Accept: image/*` (the image
//! bytes, with `finish-reason` and `seed` headers) or `application/json` (`{image,
//! finish_reason, seed}`).
//!
//! From the API reference (platform.stability.ai/docs/api-reference, "Generate"), read
//! 2026-12-02: fields `prompt` (required), `negative_prompt`, `aspect_ratio`, `seed`,
//! `output_format` (`png`, `jpeg`; `webp` too, not served here), and for sd3 `model` and
//! `mode` (`text-to-image`, or `image-to-image` with the file part `image` and `strength`
//! from 0 to 1, which `core` does not take); errors `{id, name, errors: [...]}` with 400
//! `bad_request`, 401, 402, 403 `content_moderation`, 413, 429, 500. UNCONFIRMED and chosen
//! here: the pixel size of each aspect ratio (SDXL-era sizes of about one megapixel), and that
//! an image-to-image answer keeps the input's aspect ratio.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, Reply, early_fault, json, transport_fault};

const ASPECTS: &[(&str, u32, u32)] = &[
    ("16:9", 1344, 768),
    ("1:1", 1024, 1024),
    ("9:16", 768, 1344),
    ("21:9", 1536, 640),
    ("2:3", 832, 1216),
    ("3:2", 1216, 832),
    ("4:5", 896, 1088),
    ("5:4", 1088, 896),
    ("9:21", 640, 1536),
];
const SD3_MODELS: &[&str] = &[
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
];

fn error(status: StatusCode, name: &str, errors: &[&str]) -> Response {
    json(
        status,
        json!({ "id": uuid::Uuid::new_v4().simple().to_string(), "name": name, "errors": errors }),
    )
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", &[message])
}

fn fault_answer(kind: FaultKind) -> Option<Response> {
    Some(match kind {
        FaultKind::InvalidKey => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &["authorization: invalid or missing API key"],
        ),
        FaultKind::RateLimited => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            &["You have exceeded the rate limit of 150 requests within a 10 second period"],
        ),
        FaultKind::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            &["the service is temporarily unavailable"],
        ),
        FaultKind::InsufficientBalance => error(
            StatusCode::PAYMENT_REQUIRED,
            "payment_required",
            &["You lack sufficient credits to make this request. Please purchase more credits"],
        ),
        FaultKind::Moderation => error(
            StatusCode::FORBIDDEN,
            "content_moderation",
            &[
                "Your request was flagged by our content moderation system, as a result your request was denied and you were not charged.",
            ],
        ),
        FaultKind::ServerError => server_error(),
        _ => return None,
    })
}

fn server_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        &["An unexpected server error has occurred, please try again later."],
    )
}

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let endpoint = match (call.method, call.path) {
        (&Method::POST, "/v2beta/stable-image/generate/sd3") => "sd3",
        (&Method::POST, "/v2beta/stable-image/generate/core") => "core",
        (&Method::POST, "/v2beta/stable-image/generate/ultra") => "ultra",
        _ => {
            return Reply::unrouted(error(
                StatusCode::NOT_FOUND,
                "not_found",
                &["the requested resource was not found"],
            ));
        }
    };
    let reply = |r| Reply::new(Endpoint::Submit, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(fault_answer(FaultKind::InvalidKey).unwrap_or_else(server_error));
    }
    let fault = call.state.fault(Provider::Stability, Endpoint::Submit);
    if let Some(r) = fault
        .as_ref()
        .and_then(|f| early_fault(f, Endpoint::Submit, fault_answer))
    {
        return reply(r);
    }
    let accept = call
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let as_json = match accept.as_str() {
        "image/*" => false,
        "application/json" => true,
        other => {
            return reply(bad(&format!(
                "accept: must be image/* or application/json, got {other:?}"
            )));
        }
    };
    let parts = crate::uploads::multipart(call.headers, call.body);
    if parts.is_empty() {
        return reply(bad("content-type: must be multipart/form-data"));
    }
    let text = |k: &str| {
        parts
            .iter()
            .find(|p| p.name == k)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    let prompt = text("prompt").unwrap_or_default();
    if prompt.trim().is_empty() {
        return reply(bad("prompt: cannot be empty"));
    }
    let mode = text("mode").unwrap_or_else(|| "text-to-image".to_owned());
    let image = parts.iter().find(|p| p.name == "image");
    let model = text("model").unwrap_or_else(|| "sd3.5-large".to_owned());
    if endpoint == "sd3" && !SD3_MODELS.contains(&model.as_str()) {
        return reply(bad(&format!("model: invalid value {model:?}")));
    }
    let wants_image = match endpoint {
        "sd3" => mode == "image-to-image",
        "core" => false,
        _ => image.is_some(),
    };
    if endpoint == "sd3" && mode != "text-to-image" && mode != "image-to-image" {
        return reply(bad("mode: must be text-to-image or image-to-image"));
    }
    let size = if wants_image {
        let Some(image) = image else {
            return reply(bad("image: required in image-to-image mode"));
        };
        let Some(input) = crate::stills::decodes(&image.data) else {
            return reply(bad("image: could not be decoded as PNG, JPEG or WebP"));
        };
        match text("strength").and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if (0.0..=1.0).contains(&s) => {}
            _ => {
                return reply(bad(
                    "strength: required in image-to-image mode, a number from 0 to 1",
                ));
            }
        }
        if text("aspect_ratio").is_some() {
            return reply(bad("aspect_ratio: not used in image-to-image mode"));
        }
        // The answer keeps the input's shape at about one megapixel.
        let a = f64::from(input.width) / f64::from(input.height);
        ASPECTS
            .iter()
            .min_by(|x, y| {
                let d = |s: &(&str, u32, u32)| (f64::from(s.1) / f64::from(s.2)).ln() - a.ln();
                d(x).abs().total_cmp(&d(y).abs())
            })
            .map_or(ttv::Resolution::new(1024, 1024), |s| {
                ttv::Resolution::new(s.1, s.2)
            })
    } else {
        if image.is_some() && endpoint != "ultra" {
            return reply(bad("image: only accepted in image-to-image mode"));
        }
        let ratio = text("aspect_ratio").unwrap_or_else(|| "1:1".to_owned());
        match ASPECTS.iter().find(|a| a.0 == ratio) {
            Some(a) => ttv::Resolution::new(a.1, a.2),
            None => return reply(bad(&format!("aspect_ratio: invalid value {ratio:?}"))),
        }
    };
    let format = text("output_format").unwrap_or_else(|| "png".to_owned());
    if format != "png" && format != "jpeg" {
        return reply(bad(&format!("output_format: invalid value {format:?}")));
    }
    let seed: u64 = text("seed").and_then(|s| s.parse().ok()).unwrap_or(42);
    // From here on the image is made and billed.
    let mut bytes = crate::stills::render_async("stability", prompt, size, format == "jpeg").await;
    let malformed = fault
        .as_ref()
        .is_some_and(|f| f.fault == FaultKind::Malformed);
    if malformed {
        bytes.truncate(bytes.len() / 2);
    }
    let mime = if format == "jpeg" {
        "image/jpeg"
    } else {
        "image/png"
    };
    let mut response = if as_json {
        json(
            StatusCode::OK,
            json!({
                "image": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "finish_reason": "SUCCESS",
                "seed": seed,
            }),
        )
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, mime)],
            bytes.clone(),
        )
            .into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&seed.to_string()) {
        response.headers_mut().insert("seed", v);
    }
    response
        .headers_mut()
        .insert("finish-reason", HeaderValue::from_static("SUCCESS"));
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::ServerError => server_error(),
        Some(rule) if !malformed => transport_fault(rule, || {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, mime)],
                bytes.clone(),
            )
                .into_response()
        })
        .unwrap_or(response),
        _ => response,
    };
    Reply::new(Endpoint::Submit, response)
        .paid()
        .task(format!("seed-{seed}"))
}
