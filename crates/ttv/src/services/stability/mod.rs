//! `stability`: Stability AI's Stable Image API (SD3.5 models, Core, Ultra).
//!
//! Facts from the API reference (platform.stability.ai/docs/api-reference, "Generate":
//! `/v2beta/stable-image/generate/sd3`, `/core`, `/ultra`) and Stability's REST examples,
//! read 2026-12-02:
//!
//! - `POST {base}/v2beta/stable-image/generate/{sd3|core|ultra}`, always
//!   `multipart/form-data`, `Authorization: Bearer KEY`, `Accept: image/*` (the answer is the
//!   image bytes, with `finish-reason` and `seed` headers) or `application/json`
//!   (`{image, finish_reason, seed}`). ttv asks for `image/*`.
//! - Fields: `prompt`, `negative_prompt`, `aspect_ratio` (16:9 1:1 21:9 2:3 3:2 4:5 5:4 9:16
//!   9:21; text-to-image only), `seed`, `output_format` (`png`), and for sd3 `model`
//!   (`sd3.5-large`, `sd3.5-large-turbo`, `sd3.5-medium`) and `mode` (`text-to-image` or
//!   `image-to-image`). Image-to-image sends the start image as the file part `image` with
//!   `strength` (0 keeps the image, 1 ignores it); sd3 and ultra take it, core does not.
//! - `finish-reason: CONTENT_FILTERED` marks an image the filter replaced; errors are
//!   `{"id", "name", "errors": [...]}`: 400 `bad_request`, 402 out of credits, 403
//!   `content_moderation`, 413 too large, 429 rate limit (150 requests per 10 s), 500.
//!
//! Prices (platform.stability.ai/pricing, read 2026-12-02), credits at $0.01: SD3.5 Large
//! 6.5, Large Turbo 4, Medium 3.5, Core 3, Ultra 8. Not confirmed: the exact pixel size of
//! each aspect ratio (the reference says about one megapixel; ttv lists the SDXL-era sizes
//! below and only warns when the answer differs), and whether a filtered image is billed
//! (ttv counts it as charged).

use async_trait::async_trait;
use serde_json::Value;

use crate::backend::{Availability, BackendKind};
use crate::capabilities::ImageLimits;
use crate::cost::{CostEstimate, Currency, Money, PriceSource};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::http::{self, ApiKey, Call, Reply, snippet, status_error};
use crate::images::{ImageBackend, ImageCapabilities, ImageOutput, ImageRequest, ResolvedImage};
use crate::media::image::ImageFormat;
use crate::request::Resolution;
use crate::services::hosted;

/// Canonical name.
pub const NAME: &str = "stability";
/// The key's environment variable.
pub const KEY_ENV: &str = "STABILITY_API_KEY";
/// The base URL's environment variable.
pub const BASE_URL_ENV: &str = "STABILITY_API_BASE";
/// The API's address.
pub const DEFAULT_BASE_URL: &str = "https://api.stability.ai";
/// The model used when none is configured.
pub const DEFAULT_MODEL: &str = "sd3.5-large";

/// A model: its id, the endpoint it runs on, credits per image, whether it takes a start
/// image.
struct Model {
    id: &'static str,
    endpoint: &'static str,
    credits_x10: i64,
    image_to_image: bool,
}

const MODELS: &[Model] = &[
    Model {
        id: "sd3.5-large",
        endpoint: "sd3",
        credits_x10: 65,
        image_to_image: true,
    },
    Model {
        id: "sd3.5-large-turbo",
        endpoint: "sd3",
        credits_x10: 40,
        image_to_image: true,
    },
    Model {
        id: "sd3.5-medium",
        endpoint: "sd3",
        credits_x10: 35,
        image_to_image: true,
    },
    Model {
        id: "core",
        endpoint: "core",
        credits_x10: 30,
        image_to_image: false,
    },
    Model {
        id: "ultra",
        endpoint: "ultra",
        credits_x10: 80,
        image_to_image: true,
    },
];

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
const DEFAULT_STRENGTH: f64 = 0.6;

/// Options (`stability_api_key`).
#[derive(Debug, Clone, Default)]
pub struct StabilityOptions {
    /// API key (`stability_api_key`, else `STABILITY_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// API address (`STABILITY_API_BASE`).
    pub base_url: Option<String>,
    /// Model id; `sd3.5-large` when absent.
    pub model: Option<String>,
}

/// The Stability backend.
#[derive(Debug)]
pub struct Stability {
    key: Option<ApiKey>,
    base: String,
    model: &'static Model,
    client: reqwest::Client,
    caps: ImageCapabilities,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl Stability {
    /// Builds the backend; a `Config` error for an unknown model.
    pub fn new(options: StabilityOptions) -> Result<Self> {
        let model = hosted::find_model(
            MODELS,
            options.model.as_deref().unwrap_or(DEFAULT_MODEL),
            "stability model",
            |m| m.id,
        )?;
        Ok(Self {
            key: options.api_key,
            base: options
                .base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
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
                max_references: usize::from(model.image_to_image),
                image_to_image: model.image_to_image,
                max_prompt_chars: 10_000,
                negative_prompt: true,
                seed: true,
                reference_limits: ImageLimits {
                    max_pixels: 9_437_184,
                    formats: vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp],
                    ..ImageLimits::default()
                },
                extras: &["strength"],
                outputs: vec![ImageFormat::Png],
            },
        })
    }

    fn strength(req: &ImageRequest) -> Option<f64> {
        req.extra
            .get("strength")
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
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
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let message = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .or_else(|| {
            body.get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| snippet(&reply.body));
    let status = reply.status.as_u16();
    match (status, name) {
        (403, _) | (_, "content_moderation") => Error::new(
            ErrorKind::ContentRejected,
            format!("HTTP {status}: {message}"),
        )
        .with_spend(Spend::No),
        (402, _) => Error::new(
            ErrorKind::QuotaExceeded,
            format!("HTTP 402: {message} (buy credits for the Stability account)"),
        )
        .with_spend(Spend::No),
        _ => status_error(reply.status, &reply.headers, &message, call),
    }
}

#[async_trait]
impl ImageBackend for Stability {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.id)
    }

    fn capabilities(&self) -> &ImageCapabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        hosted::availability(self.key.as_ref(), KEY_ENV, "stability_api_key")
    }

    fn validate(&self, req: &ImageRequest) -> Result<ResolvedImage> {
        let resolved = self.caps.resolve(req);
        let mut more = Vec::new();
        if let Some(s) = Self::strength(req) {
            if !(0.0..=1.0).contains(&s) {
                more.push(Problem::new(
                    "extra.strength",
                    req.extra
                        .get("strength")
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    "a number from 0 (keep the image) to 1 (ignore it)",
                ));
            } else if req.references.is_empty() {
                more.push(Problem::new(
                    "extra.strength",
                    s,
                    "no strength without a start image (give one reference image)",
                ));
            }
        }
        match resolved {
            Ok(r) if more.is_empty() => Ok(r),
            other => {
                let mut problems = other
                    .err()
                    .map(|e| e.problems().to_vec())
                    .unwrap_or_default();
                problems.extend(more);
                Err(Error::invalid(problems).with_backend(NAME))
            }
        }
    }

    fn estimate_cost(&self, _: &ImageRequest, _: &ResolvedImage) -> Result<CostEstimate> {
        let credits = self.model.credits_x10 * 100_000;
        Ok(CostEstimate {
            usd: Money::usd_micros(self.model.credits_x10 * 1_000),
            native: Some(Money {
                micros: credits,
                currency: Currency::Credits("stability".to_owned()),
            }),
            basis: format!(
                "1 image on {}: {}.{} credits × $0.01",
                self.model.id,
                self.model.credits_x10 / 10,
                self.model.credits_x10 % 10
            ),
            source: Some(PriceSource {
                url: "https://platform.stability.ai/pricing".to_owned(),
                as_of: "2026-12-02".to_owned(),
            }),
        })
    }

    async fn create(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<ImageOutput> {
        let key = hosted::key(self.key.as_ref(), KEY_ENV, NAME)?;
        let mut form = reqwest::multipart::Form::new().text("prompt", req.prompt.clone());
        if let Some(n) = &req.negative_prompt {
            form = form.text("negative_prompt", n.clone());
        }
        if self.model.endpoint == "sd3" {
            form = form.text("model", self.model.id);
        }
        match req.references.first() {
            Some(image) => {
                if self.model.endpoint == "sd3" {
                    form = form.text("mode", "image-to-image");
                }
                let part = reqwest::multipart::Part::bytes(image.bytes().to_vec())
                    .file_name(match image.format() {
                        ImageFormat::Png => "image.png",
                        ImageFormat::Jpeg => "image.jpg",
                        ImageFormat::Webp => "image.webp",
                    })
                    .mime_str(image.format().mime())
                    .map_err(|e| Error::config(format!("bad image type: {e}")))?;
                form = form.part("image", part).text(
                    "strength",
                    Self::strength(req).unwrap_or(DEFAULT_STRENGTH).to_string(),
                );
            }
            None => {
                if self.model.endpoint == "sd3" {
                    form = form.text("mode", "text-to-image");
                }
                form = form.text("aspect_ratio", aspect_name(resolved.size));
            }
        }
        if let Some(seed) = req.seed {
            form = form.text("seed", seed.to_string());
        }
        form = form.text("output_format", "png");
        let request = self
            .client
            .post(format!(
                "{}/v2beta/stable-image/generate/{}",
                self.base, self.model.endpoint
            ))
            .bearer_auth(key)
            .header(reqwest::header::ACCEPT, "image/*")
            .multipart(form);
        let reply = hosted::exchange(request, Call::Paid, NAME, from_reply).await?;
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if header("finish-reason").as_deref() == Some("CONTENT_FILTERED") {
            return Err(Error::new(
                ErrorKind::ContentRejected,
                "the image was replaced by the content filter (finish-reason CONTENT_FILTERED)",
            )
            .with_spend(Spend::Yes)
            .with_backend(NAME));
        }
        let seed = header("seed").and_then(|s| s.parse().ok());
        Ok(ImageOutput {
            bytes: reply.body.to_vec(),
            provider_id: header("x-request-id"),
            charged: None,
            seed,
        })
    }
}
