//! Gemini image models on the Gemini API: `POST /v1beta/models/{m}:generateContent` with
//! `x-goog-api-key`, served under `/gemini` beside Veo (and sharing its knobs and faults).
//!
//! From the Gemini API reference (ai.google.dev/api/generate-content) and the image
//! generation guide (ai.google.dev/gemini-api/docs/image-generation), read 2026-12-02: the
//! body is `{contents: [{parts: [{text}, {inlineData: {mimeType, data}}]}], generationConfig:
//! {responseModalities, imageConfig: {aspectRatio}}}` (snake_case `inline_data` is accepted
//! too, as the API does); the answer carries the image as an `inlineData` part of
//! `candidates[0].content`, with `usageMetadata` and `responseId`; an image is 1290 output
//! tokens; the aspect ratios and their sizes are the guide's table. Without `IMAGE` among the
//! response modalities the model answers text only. A prompt the safety system blocks is a
//! 200 with `promptFeedback.blockReason` and no candidates. UNCONFIRMED and chosen here: the
//! limit of 3 input images is enforced as a 400 (the guide only says the model works best
//! with up to 3).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, JsonReply, Reply, after_fault, early_fault, json};

const MODELS: &[&str] = &[
    "gemini-2.5-flash-image",
    "gemini-2.5-flash-image-preview",
    "gemini-2.0-flash-preview-image-generation",
];
const ASPECTS: &[(&str, u32, u32)] = &[
    ("1:1", 1024, 1024),
    ("2:3", 832, 1248),
    ("3:2", 1248, 832),
    ("3:4", 864, 1184),
    ("4:3", 1184, 864),
    ("4:5", 896, 1152),
    ("5:4", 1152, 896),
    ("9:16", 768, 1344),
    ("16:9", 1344, 768),
    ("21:9", 1536, 672),
];
const MAX_IMAGES: usize = 3;

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

fn fault_answer(kind: FaultKind) -> Option<Response> {
    Some(match kind {
        FaultKind::InvalidKey => bad_key(),
        FaultKind::RateLimited => error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        ),
        FaultKind::Unavailable => error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        FaultKind::InsufficientBalance => error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        FaultKind::Moderation => json(
            StatusCode::OK,
            json!({
                "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" },
                "usageMetadata": { "promptTokenCount": 12, "totalTokenCount": 12 },
                "modelVersion": "gemini-2.5-flash-image",
            }),
        ),
        _ => return None,
    })
}

fn server_error() -> Response {
    error(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    )
}

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let model = call
        .path
        .strip_prefix("/v1beta/models/")
        .and_then(|r| r.strip_suffix(":generateContent"))
        .unwrap_or_default()
        .to_owned();
    let reply = |r| Reply::new(Endpoint::Submit, r);
    let key = call
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok());
    if !call.state.key_ok(key) {
        return reply(bad_key());
    }
    let fault = call.state.fault(Provider::Gemini, Endpoint::Submit);
    if let Some(r) = fault
        .as_ref()
        .and_then(|f| early_fault(f, Endpoint::Submit, fault_answer))
    {
        return reply(r);
    }
    if !MODELS.contains(&model.as_str()) {
        return reply(error(
            404,
            "NOT_FOUND",
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for generateContent."
            ),
        ));
    }
    let Some(body) = call.json() else {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        ));
    };
    let parts: Vec<&Value> = body
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("parts").and_then(Value::as_array))
        .flatten()
        .collect();
    let prompt: String = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    if prompt.trim().is_empty() {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    }
    let mut images = 0;
    for part in &parts {
        let Some(inline) = part.get("inlineData").or_else(|| part.get("inline_data")) else {
            continue;
        };
        images += 1;
        let data = inline
            .get("data")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mime = inline
            .get("mimeType")
            .or_else(|| inline.get("mime_type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD.decode(data).ok();
        let ok = decoded
            .as_deref()
            .and_then(crate::stills::decodes)
            .is_some();
        if !ok || !mime.starts_with("image/") {
            return reply(error(
                400,
                "INVALID_ARGUMENT",
                "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            ));
        }
    }
    if images > MAX_IMAGES {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            &format!("At most {MAX_IMAGES} input images are supported."),
        ));
    }
    let config = body.get("generationConfig");
    let wants_image = config
        .and_then(|c| c.get("responseModalities"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("IMAGE")));
    let ratio = config
        .and_then(|c| c.pointer("/imageConfig/aspectRatio"))
        .and_then(Value::as_str)
        .unwrap_or("1:1");
    let Some(&(_, w, h)) = ASPECTS.iter().find(|a| a.0 == ratio) else {
        return reply(error(
            400,
            "INVALID_ARGUMENT",
            &format!(
                "* GenerateContentRequest.generation_config.image_config.aspect_ratio: unsupported value {ratio:?}"
            ),
        ));
    };
    // From here on the model ran and the tokens are billed.
    let response_id = uuid::Uuid::new_v4().simple().to_string();
    let content = if wants_image {
        let png = crate::stills::render_async(
            "gemini",
            prompt.clone(),
            ttv::Resolution::new(w, h),
            false,
        )
        .await;
        json!({ "role": "model", "parts": [
            { "inlineData": { "mimeType": "image/png", "data": base64::engine::general_purpose::STANDARD.encode(png) } }
        ] })
    } else {
        json!({ "role": "model", "parts": [{ "text": "I can describe that image, but this request asked for text only." }] })
    };
    let answer = json!({
        "candidates": [{ "content": content, "finishReason": "STOP", "index": 0 }],
        "usageMetadata": {
            "promptTokenCount": prompt.len() / 4 + 1 + images * 258,
            "candidatesTokenCount": if wants_image { 1290 } else { 20 },
            "totalTokenCount": prompt.len() / 4 + 1 + images * 258 + if wants_image { 1290 } else { 20 },
        },
        "modelVersion": model,
        "responseId": response_id,
    });
    let response = match &fault {
        Some(rule) if rule.fault == FaultKind::Malformed => {
            let text = answer.to_string();
            (
                StatusCode::OK,
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                )],
                text[..text.len() / 2].to_owned(),
            )
                .into_response()
        }
        other => after_fault(
            other.as_ref(),
            JsonReply(StatusCode::OK, answer),
            server_error,
        ),
    };
    Reply::new(Endpoint::Submit, response)
        .paid()
        .task(response_id)
}
