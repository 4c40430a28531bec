//! `openai`: the OpenAI Images API with `gpt-image-1`.
//!
//! Facts from the API reference (platform.openai.com/docs/api-reference/images: "Create
//! image", "Create image edit") and the openai-python SDK (`src/openai/resources/images.py`,
//! `src/openai/types/images_response.py`), read 2026-12-02:
//!
//! - Text only: `POST {base}/images/generations`, JSON `{model, prompt, n, size, quality,
//!   output_format}`, `Authorization: Bearer KEY`. `{base}` includes `/v1`
//!   (`https://api.openai.com/v1`, `OPENAI_BASE_URL` in the SDK).
//! - With reference images: `POST {base}/images/edits`, `multipart/form-data` with the same
//!   fields as text parts and each image as a file part named `image[]` (the SDK sends a list
//!   of files under `image[]`; up to 16 images for gpt-image-1, PNG/WebP/JPEG under 50 MB).
//! - Sizes for gpt-image-1: `1024x1024`, `1536x1024`, `1024x1536` (and `auto`); quality
//!   `low`, `medium`, `high` (and `auto`). gpt-image-1 always answers `data[].b64_json`, with
//!   `usage` in tokens (`input_tokens_details.{text_tokens,image_tokens}`, `output_tokens`).
//! - Errors: `{"error": {"message", "type", "param", "code"}}`; 401 bad key, 429 with code
//!   `insufficient_quota` for an empty balance and otherwise a rate limit (with
//!   `Retry-After`/`retry-after-ms`), 400 with code `moderation_blocked` when the safety
//!   system refuses the prompt or images.
//!
//! Prices (platform.openai.com/docs/pricing, image generation, read 2026-12-02; published
//! April 2025): per image, low/medium/high: 1024x1024 $0.011/$0.042/$0.167, 1024x1536 and
//! 1536x1024 $0.016/$0.063/$0.25. The estimate is that output figure; the charge is computed
//! from the answer's `usage` at the token prices (text in $5, image in $10, image out $40
//! per million tokens).
//!
//! Not confirmed from the sources: whether a request refused by moderation is billed (ttv
//! counts it as not spent, as the reference says nothing was generated), and the exact
//! `type` of moderation errors (ttv keys on `code`).

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::backend::{Availability, BackendKind};
use crate::capabilities::ImageLimits;
use crate::cost::{CostEstimate, Money, PriceSource};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::http::{self, ApiKey, Call, Reply, snippet, status_error};
use crate::images::{ImageBackend, ImageCapabilities, ImageOutput, ImageRequest, ResolvedImage};
use crate::media::image::ImageFormat;
use crate::request::Resolution;
use crate::services::hosted;

/// Canonical name.
pub const NAME: &str = "openai";
/// The key's environment variable.
pub const KEY_ENV: &str = "OPENAI_API_KEY";
/// The base URL's environment variable (as the SDK reads it).
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
/// The API's address, `/v1` included.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The model used when none is configured.
pub const DEFAULT_MODEL: &str = "gpt-image-1";
const MODELS: &[&str] = &["gpt-image-1"];
const QUALITIES: &[&str] = &["low", "medium", "high"];
const MAX_IMAGES: usize = 16;

/// Options (`openai_api_key`, `openai_base_url`, `image_quality`).
#[derive(Debug, Clone, Default)]
pub struct OpenAiImagesOptions {
    /// API key (`openai_api_key`, else `OPENAI_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// API address with `/v1` (`openai_base_url`, else `OPENAI_BASE_URL`).
    pub base_url: Option<String>,
    /// Model id; `gpt-image-1` when absent.
    pub model: Option<String>,
    /// Quality used when the request gives none (`medium` when absent).
    pub quality: Option<String>,
}

/// The OpenAI Images backend.
#[derive(Debug)]
pub struct OpenAiImages {
    key: Option<ApiKey>,
    base: String,
    model: String,
    quality: String,
    client: reqwest::Client,
    caps: ImageCapabilities,
}

impl OpenAiImages {
    /// Builds the backend; a `Config` error for an unknown model or quality.
    pub fn new(options: OpenAiImagesOptions) -> Result<Self> {
        let model = hosted::find_model(
            MODELS,
            options.model.as_deref().unwrap_or(DEFAULT_MODEL),
            "openai image model",
            |m| *m,
        )?
        .to_string();
        let quality = options.quality.unwrap_or_else(|| "medium".to_owned());
        if !QUALITIES.contains(&quality.as_str()) {
            return Err(Error::config(format!(
                "image_quality: {quality:?} is not one of {}",
                QUALITIES.join(", ")
            )));
        }
        Ok(Self {
            key: options.api_key,
            base: options
                .base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            model,
            quality,
            client: http::client()?,
            caps: ImageCapabilities {
                sizes: vec![
                    Resolution::new(1024, 1024),
                    Resolution::new(1536, 1024),
                    Resolution::new(1024, 1536),
                ],
                any_size: false,
                max_references: MAX_IMAGES,
                image_to_image: false,
                max_prompt_chars: 32_000,
                negative_prompt: false,
                seed: false,
                reference_limits: ImageLimits {
                    max_bytes: 50 * 1024 * 1024,
                    formats: vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp],
                    ..ImageLimits::default()
                },
                extras: &["quality"],
                outputs: vec![ImageFormat::Png],
            },
        })
    }

    fn quality<'a>(&'a self, req: &'a ImageRequest) -> &'a str {
        req.extra
            .get("quality")
            .and_then(Value::as_str)
            .unwrap_or(&self.quality)
    }
}

/// Price per image in USD micros for `quality` at `size`.
fn price_micros(quality: &str, size: Resolution) -> Option<i64> {
    let square = size.width == size.height;
    Some(match (quality, square) {
        ("low", true) => 11_000,
        ("low", false) => 16_000,
        ("medium", true) => 42_000,
        ("medium", false) => 63_000,
        ("high", true) => 167_000,
        ("high", false) => 250_000,
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    data: Vec<Datum>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Datum {
    #[serde(default)]
    b64_json: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
}

#[derive(Deserialize, Default)]
struct InputDetails {
    #[serde(default)]
    text_tokens: i64,
    #[serde(default)]
    image_tokens: i64,
}

impl Usage {
    /// Micros at $5 / $10 / $40 per million text-in / image-in / image-out tokens.
    fn cost(&self) -> Money {
        let d = self.input_tokens_details.as_ref();
        let text = d.map_or(0, |d| d.text_tokens);
        let image = d.map_or(0, |d| d.image_tokens);
        Money::usd_micros(
            text.saturating_mul(5)
                .saturating_add(image.saturating_mul(10))
                .saturating_add(self.output_tokens.saturating_mul(40)),
        )
    }
}

/// The error for a non-success reply.
fn from_reply(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = reply.status.as_u16();
    match (status, code) {
        (429, "insufficient_quota") | (402, _) => Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP {status}: {message} (top up the OpenAI account)"),
        )
        .with_spend(Spend::No),
        (400, "moderation_blocked" | "content_policy_violation") => {
            Error::new(ErrorKind::ContentRejected, format!("HTTP 400: {message}"))
                .with_spend(Spend::No)
        }
        _ => status_error(reply.status, &reply.headers, &message, call),
    }
}

fn file_name(i: usize, format: ImageFormat) -> String {
    let ext = match format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Webp => "webp",
    };
    format!("reference-{}.{ext}", i + 1)
}

#[async_trait]
impl ImageBackend for OpenAiImages {
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
        hosted::availability(self.key.as_ref(), KEY_ENV, "openai_api_key")
    }

    fn validate(&self, req: &ImageRequest) -> Result<ResolvedImage> {
        let resolved = self.caps.resolve(req);
        let quality = self.quality(req);
        let bad_quality = !QUALITIES.contains(&quality);
        match resolved {
            Ok(r) if !bad_quality => Ok(r),
            other => {
                let mut problems = other
                    .err()
                    .map(|e| e.problems().to_vec())
                    .unwrap_or_default();
                if bad_quality {
                    problems.push(Problem::new(
                        "extra.quality",
                        quality,
                        format!("one of {}", QUALITIES.join(", ")),
                    ));
                }
                Err(Error::invalid(problems).with_backend(NAME))
            }
        }
    }

    fn estimate_cost(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<CostEstimate> {
        let quality = self.quality(req);
        let micros = price_micros(quality, resolved.size).ok_or_else(|| {
            Error::invalid(vec![Problem::new(
                "extra.quality",
                quality,
                format!("one of {}", QUALITIES.join(", ")),
            )])
        })?;
        Ok(CostEstimate {
            usd: Money::usd_micros(micros),
            native: None,
            basis: format!(
                "1 image, {} quality, {} × {}",
                quality,
                resolved.size,
                Money::usd_micros(micros)
            ),
            source: Some(PriceSource {
                url: "https://platform.openai.com/docs/pricing".to_owned(),
                as_of: "2026-12-02".to_owned(),
            }),
        })
    }

    async fn create(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<ImageOutput> {
        let key = hosted::key(self.key.as_ref(), KEY_ENV, NAME)?;
        let size = resolved.size.to_string();
        let quality = self.quality(req).to_owned();
        let request = if req.references.is_empty() {
            self.client
                .post(format!("{}/images/generations", self.base))
                .json(&json!({
                    "model": self.model,
                    "prompt": req.prompt,
                    "n": 1,
                    "size": size,
                    "quality": quality,
                    "output_format": "png",
                }))
        } else {
            let mut form = reqwest::multipart::Form::new()
                .text("model", self.model.clone())
                .text("prompt", req.prompt.clone())
                .text("n", "1")
                .text("size", size)
                .text("quality", quality)
                .text("output_format", "png");
            for (i, image) in req.references.iter().enumerate() {
                let part = reqwest::multipart::Part::bytes(image.bytes().to_vec())
                    .file_name(file_name(i, image.format()))
                    .mime_str(image.format().mime())
                    .map_err(|e| Error::config(format!("bad image type: {e}")))?;
                form = form.part("image[]", part);
            }
            self.client
                .post(format!("{}/images/edits", self.base))
                .multipart(form)
        };
        let reply =
            hosted::exchange(request.bearer_auth(key), Call::Paid, NAME, from_reply).await?;
        // A success whose body is damaged was made and billed; there is nothing to ask for
        // again (image APIs keep no copy), so it is a failed job, not an unsettled one.
        let answer: Answer = serde_json::from_slice(&reply.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOutput,
                format!("the answer (HTTP 200) is not the expected JSON: {e}"),
            )
            .with_spend(Spend::Yes)
            .with_backend(NAME)
        })?;
        let b64 = answer
            .data
            .into_iter()
            .find_map(|d| d.b64_json)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    "the answer has no data[].b64_json image",
                )
                .with_spend(Spend::Yes)
                .with_backend(NAME)
            })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    format!("the answer's b64_json is not base64: {e}"),
                )
                .with_spend(Spend::Yes)
                .with_backend(NAME)
            })?;
        Ok(ImageOutput {
            bytes,
            provider_id: answer.created.map(|c| format!("created-{c}")),
            charged: answer.usage.map(|u| u.cost()),
            seed: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_priced_per_token() {
        let usage = Usage {
            output_tokens: 1056,
            input_tokens_details: Some(InputDetails {
                text_tokens: 50,
                image_tokens: 194,
            }),
        };
        // 50×5 + 194×10 + 1056×40 micros.
        assert_eq!(usage.cost(), Money::usd_micros(250 + 1940 + 42_240));
    }

    #[test]
    fn prices_follow_the_published_table() {
        assert_eq!(
            price_micros("medium", Resolution::new(1024, 1024)),
            Some(42_000)
        );
        assert_eq!(
            price_micros("high", Resolution::new(1536, 1024)),
            Some(250_000)
        );
        assert_eq!(price_micros("ultra", Resolution::new(1024, 1024)), None);
    }
}
