//! `runway`: the Runway Developer API (`api.dev.runwayml.com`).
//!
//! Submit is `POST /v1/image_to_video` or `/v1/text_to_video` with `Authorization: Bearer`
//! and `X-Runway-Version: 2024-11-06`; the answer is `{id}`. `GET /v1/tasks/{id}` reports
//! `PENDING | THROTTLED | RUNNING (progress) | SUCCEEDED (output URLs) | FAILED (failure,
//! failureCode) | CANCELLED`; `DELETE /v1/tasks/{id}` cancels a pending, throttled or running
//! task and deletes any other (a deleted task answers 404 from then on). Images go in
//! `promptImage: [{uri, position: first|last}]`: inline as data URIs up to Runway's 5 MB
//! data-URI limit, and above it through the uploads API (see [`uploads`]) as an ephemeral
//! `runway://` URI (up to 200 MB; valid 24 h). Output URLs expire (24–48 h).
//!
//! Size limits from Runway's "API input parameters" page (image: 16 MB by URL, 5 MB as a data
//! URI, 200 MB as an ephemeral upload) and the uploads flow from the official `runwayml` SDK
//! (`resources/uploads.py`), both read 2026-12-02.
//!
//! The SDK polls every 6 s ± 1.5 s; so does this backend unless told otherwise.
//!
//! **Ambiguous submits.** Runway has no way to find a task except by its id: the official SDK
//! (runwayml 5.x, `resources/tasks.py` and `api.md`, read 2026-12-02) offers `tasks.retrieve`
//! and `tasks.delete` only, no listing, and its client sends no idempotency key. So a submit
//! whose answer was lost stays `unknown` ([`VideoBackend::find_submitted`] is unsupported)
//! until a person settles it from the dashboard's task list.

mod error;
pub mod models;
mod uploads;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Currency, Money};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::http::{self, ApiKey, Call};
use crate::request::{GenerationRequest, Mode, ResolutionSpec, VideoDuration};
use crate::services::hosted;

use models::Model;

/// Canonical name.
pub const NAME: &str = "runway";
/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.dev.runwayml.com";
/// The API version this backend speaks.
pub const API_VERSION: &str = "2024-11-06";
/// Environment variable holding the key.
pub const KEY_ENV: &str = "RUNWAYML_API_SECRET";
/// Where the key is read from, in order: Runway's own variable, then the original
/// pipeline's name for it.
pub const KEY_ENVS: [&str; 2] = [KEY_ENV, "RUNWAY_API_KEY"];
/// Environment variable overriding the base URL (the SDK reads it too).
pub const BASE_URL_ENV: &str = "RUNWAYML_BASE_URL";

/// Options from configuration.
#[derive(Debug, Clone)]
pub struct RunwayOptions {
    /// API key; the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// Where the API is (the simulator or a proxy in tests).
    pub base_url: String,
    /// Model id, one of [`models::MODELS`].
    pub model: String,
    /// Wait between polls; Runway's SDK uses 6 s.
    pub poll_interval: Duration,
}

impl Default for RunwayOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            poll_interval: Duration::from_secs(6),
        }
    }
}

/// The Runway backend for one model.
#[derive(Debug)]
pub struct Runway {
    options: RunwayOptions,
    model: &'static Model,
    caps: Capabilities,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    status: String,
    #[serde(default)]
    progress: Option<f32>,
    #[serde(default)]
    output: Vec<String>,
    #[serde(default)]
    failure: Option<String>,
    #[serde(default)]
    failure_code: Option<String>,
    #[serde(default)]
    cost: Option<Credits>,
}

#[derive(Deserialize)]
struct Credits {
    credits: f64,
}

impl Runway {
    /// A backend for `options.model`. Fails on an unknown model.
    pub fn new(options: RunwayOptions) -> Result<Self> {
        let model = hosted::find_model(models::MODELS, &options.model, "runway_ml.model", |m| {
            m.name
        })?;
        let mut modes = vec![Mode::ImageToVideo];
        if model.t2v {
            modes.insert(0, Mode::TextToVideo);
        }
        if model.last_frame {
            modes.push(Mode::FirstLastFrame);
        }
        let mut all = hosted::sizes(model.i2v_ratios);
        for size in hosted::sizes(model.t2v_ratios) {
            if !all.contains(&size) {
                all.push(size);
            }
        }
        let (low, high) = model.credits_per_sec;
        let caps = Capabilities {
            modes,
            durations: DurationSupport::OneOf(
                model
                    .durations
                    .iter()
                    .map(|&s| VideoDuration::from_secs(s))
                    .collect(),
            ),
            default_duration: VideoDuration::from_secs(model.default_duration),
            resolutions: ResolutionSupport::OneOf(all),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            max_prompt_chars: 1000,
            // Larger than the data-URI limit goes through the uploads API.
            images: ImageLimits {
                max_bytes: uploads::UPLOAD_MAX,
                ..ImageLimits::default()
            },
            audio: model.veo,
            seed: true,
            negative_prompt: model.veo,
            price_summary: if low == high {
                format!("{low} credits/s")
            } else {
                format!("{low}–{high} credits/s")
            },
        };
        Ok(Self {
            options,
            model,
            caps,
            client: http::client()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.options.base_url.trim_end_matches('/'))
    }

    fn request(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.options.api_key.as_ref(), KEY_ENV, NAME)?;
        Ok(self
            .client
            .request(method, self.url(path))
            .bearer_auth(key)
            .header("X-Runway-Version", API_VERSION))
    }

    fn ratios(&self, mode: Mode) -> &'static [&'static str] {
        match mode {
            Mode::TextToVideo => self.model.t2v_ratios,
            _ => self.model.i2v_ratios,
        }
    }

    /// The request body for `/v1/text_to_video` or `/v1/image_to_video`, with the prompt
    /// images already delivered.
    fn body(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        images: Vec<Value>,
    ) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model.name));
        if !req.prompt.trim().is_empty() {
            body.insert("promptText".into(), json!(req.prompt));
        }
        if !images.is_empty() {
            body.insert("promptImage".into(), Value::Array(images));
        }
        let r = resolved.resolution;
        body.insert("ratio".into(), json!(format!("{}:{}", r.width, r.height)));
        body.insert(
            "duration".into(),
            json!(
                resolved
                    .duration
                    .whole_secs()
                    .unwrap_or(self.model.default_duration)
            ),
        );
        if let Some(seed) = req.seed {
            body.insert("seed".into(), json!(seed));
        }
        if self.model.veo {
            body.insert("audio".into(), json!(req.audio));
            if let Some(neg) = &req.negative_prompt {
                body.insert("negativePrompt".into(), json!(neg));
            }
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        body
    }
}

#[async_trait]
impl VideoBackend for Runway {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.name)
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "runway_ml.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let sizes = hosted::sizes(self.ratios(req.mode()));
        let filled = hosted::with_provider_size(req, &sizes, 720);
        hosted::resolve_with(&self.caps, &filled, NAME, |resolved, problems| {
            if let Some(r) = resolved
                && !sizes.contains(&r.resolution)
            {
                problems.push(Problem::new(
                    "resolution",
                    r.resolution,
                    format!(
                        "for {} with {}: {}",
                        r.mode,
                        self.model.name,
                        self.ratios(r.mode).join(", ").replace(':', "x")
                    ),
                ));
            }
            if self.model.needs_text && req.prompt.trim().is_empty() {
                problems.push(Problem::new(
                    "prompt",
                    "an empty prompt",
                    format!("a prompt: {} requires promptText", self.model.name),
                ));
            }
            if let Some(seed) = req.seed.filter(|s| *s > u64::from(u32::MAX)) {
                problems.push(Problem::new("seed", seed, "0 to 4294967295"));
            }
            hosted::check_image_delivery(
                req,
                uploads::INLINE_MAX,
                Some(uploads::UPLOAD_MAX),
                NAME,
                problems,
            );
            hosted::unknown_extras(req, &["contentModeration"], NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let secs = i64::from(
            r.duration
                .whole_secs()
                .unwrap_or(self.model.default_duration),
        );
        let (silent, with_audio) = self.model.credits_per_sec;
        let per_sec = i64::from(if req.audio { with_audio } else { silent });
        let credits = secs * per_sec;
        Ok(CostEstimate {
            usd: Money::usd_micros(credits * models::USD_MICROS_PER_CREDIT),
            native: Some(Money {
                micros: credits * 1_000_000,
                currency: Currency::Credits(NAME.to_owned()),
            }),
            basis: format!("{secs} s × {per_sec} credits/s ({})", self.model.name),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let path = match resolved.mode {
            Mode::TextToVideo => "/v1/text_to_video",
            _ => "/v1/image_to_video",
        };
        let (images, sent) = self.prompt_images(req).await?;
        let request = self
            .request(reqwest::Method::POST, path)?
            .json(&self.body(req, resolved, images));
        let reply = http::send(request, Call::Paid)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            return Err(error::from_reply(&reply, Call::Paid));
        }
        let created: Created = reply.json(Call::Paid).map_err(|e| e.with_backend(NAME))?;
        let mut data = Value::Null;
        crate::media::delivery::record(&mut data, &sent);
        Ok(Ticket {
            backend: NAME.to_owned(),
            id: created.id,
            model: Some(self.model.name.to_owned()),
            data,
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let request = self.request(reqwest::Method::GET, &format!("/v1/tasks/{}", ticket.id))?;
        let reply = http::send(request, Call::Free)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            return Err(error::from_reply(&reply, Call::Free));
        }
        let task: Task = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
        let cost = task.cost.as_ref().map(|c| Money {
            micros: (c.credits * 1e6).round() as i64,
            currency: Currency::Credits(NAME.to_owned()),
        });
        Ok(match task.status.as_str() {
            "PENDING" | "THROTTLED" => Status::Queued { position: None },
            "RUNNING" => Status::Running {
                progress: task.progress,
            },
            "SUCCEEDED" => match task.output.into_iter().next() {
                Some(url) => Status::Succeeded {
                    output: Output::Url { url },
                    cost,
                },
                None => Status::Failed(
                    Error::new(
                        ErrorKind::JobFailed,
                        "the task succeeded without an output URL",
                    )
                    .with_spend(Spend::Yes)
                    .with_backend(NAME),
                ),
            },
            "FAILED" => Status::Failed(error::from_failure(
                task.failure.as_deref(),
                task.failure_code.as_deref(),
            )),
            "CANCELLED" => Status::Cancelled,
            other => {
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!("unknown task status {other:?}"),
                )
                .with_backend(NAME));
            }
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        let request = self
            .request(reqwest::Method::DELETE, &format!("/v1/tasks/{}", ticket.id))?
            .header(reqwest::header::ACCEPT, "*/*");
        let reply = http::send(request, Call::Free)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if reply.status.is_success() || reply.status == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(error::from_reply(&reply, Call::Free))
        }
    }
}
