//! `gemini`: Google's Gemini image models (`gemini-2.5-flash-image`, its preview ids) through
//! the Gemini API's `generateContent`.
//!
//! Facts from the Gemini API reference and image-generation guide
//! (ai.google.dev/api/generate-content, ai.google.dev/gemini-api/docs/image-generation) and
//! the google-genai SDK (`google/genai/models.py`, `types.py`: `ImageConfig.aspect_ratio`,
//! `GenerateContentConfig.response_modalities`), read 2026-12-02:
//!
//! - `POST {base}/v1beta/models/{model}:generateContent` with `x-goog-api-key: KEY`, body
//!   `{contents: [{parts: [{text}, {inlineData: {mimeType, data}} ...]}], generationConfig:
//!   {responseModalities: ["IMAGE"], imageConfig: {aspectRatio}}}`. Reference images go as
//!   `inlineData` parts after the text (base64, no data-URI prefix).
//! - The answer's `candidates[0].content.parts[]` holds the image as `inlineData`; a prompt
//!   the safety system blocks has `promptFeedback.blockReason` and no candidates, an image it
//!   blocks ends with `finishReason` `IMAGE_SAFETY`/`SAFETY`/`PROHIBITED_CONTENT` and no image.
//! - Aspect ratios of gemini-2.5-flash-image and their sizes (the guide's table): 1:1
//!   1024x1024, 2:3 832x1248, 3:2 1248x832, 3:4 864x1184, 4:3 1184x864, 4:5 896x1152, 5:4
//!   1152x896, 9:16 768x1344, 16:9 1344x768, 21:9 1536x672. The guide says the model works
//!   best with up to 3 input images; ttv allows 3.
//! - Errors: `{"error": {"code", "message", "status"}}` (`INVALID_ARGUMENT`,
//!   `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED` ...); a bad key is a 400 whose details say
//!   `API_KEY_INVALID`.
//!
//! Price (ai.google.dev/gemini-api/docs/pricing, read 2026-12-02): $30 per million output
//! tokens, 1290 tokens per image up to 1024x1024: $0.039 per image. Not confirmed: whether
//! the preview ids are still served (they are accepted here as the original pipeline names
//! them); whether a blocked prompt is billed for its input tokens (ttv counts it as not
//! spent: no image was made); and how an exhausted quota differs from a rate limit (both are
//! `429 RESOURCE_EXHAUSTED`; ttv reads a message about billing as an exhausted quota).
//!
//! The key is the one Veo uses on the Gemini API: `gemini_api_key`, else `GEMINI_API_KEY` /
//! `GOOGLE_API_KEY`, else `google_veo.api_key`.

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::backend::{Availability, BackendKind};
use crate::capabilities::ImageLimits;
use crate::cost::{CostEstimate, Money, PriceSource};
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{self, ApiKey, Call, Reply, snippet, status_error};
use crate::images::{ImageBackend, ImageCapabilities, ImageOutput, ImageRequest, ResolvedImage};
use crate::media::image::ImageFormat;
use crate::request::Resolution;
use crate::services::{hosted, veo};

/// Canonical name.
pub const NAME: &str = "gemini";
/// The model used when none is configured.
pub const DEFAULT_MODEL: &str = "gemini-2.5-flash-image";
/// Models accepted.
pub const MODELS: &[&str] = &[
    "gemini-2.5-flash-image",
    "gemini-2.5-flash-image-preview",
    "gemini-2.0-flash-preview-image-generation",
];
const PRICE_MICROS: i64 = 39_000;
/// Aspect ratio names and their sizes.
const ASPECTS: &[(&str, u32, u32)] = &[
    ("16:9", 1344, 768),
    ("1:1", 1024, 1024),
    ("9:16", 768, 1344),
    ("2:3", 832, 1248),
    ("3:2", 1248, 832),
    ("3:4", 864, 1184),
    ("4:3", 1184, 864),
    ("4:5", 896, 1152),
    ("5:4", 1152, 896),
    ("21:9", 1536, 672),
];

/// Options.
#[derive(Debug, Clone, Default)]
pub struct GeminiImageOptions {
    /// API key (`gemini_api_key`, `GEMINI_API_KEY`, `GOOGLE_API_KEY`, `google_veo.api_key`).
    pub api_key: Option<ApiKey>,
    /// API address (`GOOGLE_GEMINI_BASE_URL`, as for Veo).
    pub base_url: Option<String>,
    /// Model id; `gemini-2.5-flash-image` when absent.
    pub model: Option<String>,
}

/// The Gemini image backend.
#[derive(Debug)]
pub struct GeminiImage {
    key: Option<ApiKey>,
    base: String,
    model: String,
    client: reqwest::Client,
    caps: ImageCapabilities,
}

impl GeminiImage {
    /// Builds the backend; a `Config` error for an unknown model.
    pub fn new(options: GeminiImageOptions) -> Result<Self> {
        let model = hosted::find_model(
            MODELS,
            options.model.as_deref().unwrap_or(DEFAULT_MODEL),
            "gemini image model",
            |m| *m,
        )?
        .to_string();
        Ok(Self {
            key: options.api_key,
            base: options
                .base_url
                .unwrap_or_else(|| veo::DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            model,
            client: http::client()?,
            caps: ImageCapabilities {
                sizes: ASPECTS
                    .iter()
                    .map(|&(_, w, h)| Resolution::new(w, h))
                    .collect(),
                any_size: false,
                max_references: 3,
                image_to_image: false,
                max_prompt_chars: 30_000,
                negative_prompt: false,
                seed: false,
                // Inline request data is limited to 20 MB in all.
                reference_limits: ImageLimits {
                    max_bytes: 6 * 1024 * 1024,
                    formats: vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp],
                    ..ImageLimits::default()
                },
                extras: &[],
                outputs: vec![ImageFormat::Png, ImageFormat::Jpeg],
            },
        })
    }
}

fn aspect_name(size: Resolution) -> &'static str {
    ASPECTS
        .iter()
        .find(|&&(_, w, h)| Resolution::new(w, h) == size)
        .map_or("1:1", |a| a.0)
}

/// The error for a non-success reply.
fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    if reply.status.as_u16() == 429 && message.contains("billing") {
        return Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP 429: {message} (the Gemini API quota or billing plan is exhausted)"),
        )
        .with_spend(Spend::No);
    }
    if body.to_string().contains("API_KEY_INVALID") {
        return Error::new(
            ErrorKind::Auth,
            format!(
                "HTTP {}: {message} (check the API key)",
                reply.status.as_u16()
            ),
        );
    }
    status_error(reply.status, &reply.headers, &message, call)
}

/// The image in a `generateContent` answer, or why there is none.
fn image_from(answer: &Value) -> Result<Vec<u8>> {
    if let Some(reason) = answer
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(Error::new(
            ErrorKind::ContentRejected,
            format!("the prompt was blocked ({reason})"),
        )
        .with_spend(Spend::No));
    }
    let candidate = answer.pointer("/candidates/0");
    let parts = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        let inline = part.get("inlineData").or_else(|| part.get("inline_data"));
        if let Some(data) = inline.and_then(|i| i.get("data")).and_then(Value::as_str) {
            return base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOutput,
                        format!("the answer's inlineData is not base64: {e}"),
                    )
                    .with_spend(Spend::Yes)
                });
        }
    }
    let finish = candidate
        .and_then(|c| c.get("finishReason"))
        .and_then(Value::as_str)
        .unwrap_or("none");
    let kind =
        if finish.contains("SAFETY") || finish.contains("PROHIBITED") || finish == "BLOCKLIST" {
            ErrorKind::ContentRejected
        } else {
            ErrorKind::JobFailed
        };
    Err(Error::new(
        kind,
        format!("the answer holds no image (finishReason {finish})"),
    )
    .with_spend(Spend::Yes))
}

#[async_trait]
impl ImageBackend for GeminiImage {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn capabilities(&self) -> &ImageCapabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        hosted::availability(self.key.as_ref(), "GEMINI_API_KEY", "gemini_api_key")
    }

    fn estimate_cost(&self, _: &ImageRequest, _: &ResolvedImage) -> Result<CostEstimate> {
        Ok(CostEstimate {
            usd: Money::usd_micros(PRICE_MICROS),
            native: None,
            basis: "1 image, 1290 output tokens × $30 per million".to_owned(),
            source: Some(PriceSource {
                url: "https://ai.google.dev/gemini-api/docs/pricing".to_owned(),
                as_of: "2026-12-02".to_owned(),
            }),
        })
    }

    async fn create(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<ImageOutput> {
        let key = hosted::key(self.key.as_ref(), "GEMINI_API_KEY", NAME)?;
        let mut parts = vec![json!({ "text": req.prompt })];
        for image in &req.references {
            parts.push(json!({
                "inlineData": { "mimeType": image.format().mime(), "data": image.base64() }
            }));
        }
        let body = json!({
            "contents": [{ "role": "user", "parts": parts }],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": { "aspectRatio": aspect_name(resolved.size) },
            },
        });
        let request = self
            .client
            .post(format!(
                "{}/v1beta/models/{}:generateContent",
                self.base, self.model
            ))
            .header("x-goog-api-key", key)
            .json(&body);
        let reply = hosted::exchange(request, Call::Paid, NAME, from_reply).await?;
        // A success whose body is damaged was made and billed; there is nothing to ask for
        // again (image APIs keep no copy), so it is a failed job, not an unsettled one.
        let answer: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOutput,
                format!("the answer (HTTP 200) is not the expected JSON: {e}"),
            )
            .with_spend(Spend::Yes)
            .with_backend(NAME)
        })?;
        let bytes = image_from(&answer).map_err(|e| e.with_backend(NAME))?;
        Ok(ImageOutput {
            bytes,
            provider_id: answer
                .get("responseId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            charged: None,
            seed: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_prompts_and_imageless_answers_are_refusals() {
        let blocked = json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" } });
        assert_eq!(
            image_from(&blocked).unwrap_err().kind(),
            ErrorKind::ContentRejected
        );
        let no_image = json!({ "candidates": [{ "finishReason": "IMAGE_SAFETY", "content": { "parts": [] } }] });
        assert_eq!(
            image_from(&no_image).unwrap_err().kind(),
            ErrorKind::ContentRejected
        );
        let ok = json!({ "candidates": [{ "content": { "parts": [
            { "text": "here" }, { "inlineData": { "mimeType": "image/png", "data": "aGk=" } }
        ] } }] });
        assert_eq!(image_from(&ok).unwrap(), b"hi");
    }
}
