//! The `seedance` backend: options, capabilities, validation, price, and the job steps.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, Problem, Result};
use crate::http::{self, ApiKey};
use crate::media::delivery;
use crate::request::{GenerationRequest, Mode, ResolutionSpec, VideoDuration};
use crate::services::bucket::{Bucket, BucketOptions};
use crate::services::hosted;

use super::core::{Core, image_item};
use super::models::{self, Model};
use super::{DEFAULT_BASE_URL, KEY_ENV, NAME, error};

/// Options passed straight into the body (`-x key=value`).
const EXTRAS: &[&str] = &[
    "watermark",
    "camera_fixed",
    "service_tier",
    "return_last_frame",
    "draft",
];

/// Options from configuration (`seedance`).
#[derive(Debug, Clone)]
pub struct SeedanceOptions {
    /// API key; the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// [`DEFAULT_BASE_URL`], [`super::MAINLAND_BASE_URL`], or the simulator.
    pub base_url: String,
    /// Model id, one of [`models::MODELS`].
    pub model: String,
    /// Wait between polls (the AI SDK's default is 5 s).
    pub poll_interval: Duration,
    /// Where images too big to send inline go.
    pub uploads: Option<BucketOptions>,
}

impl Default for SeedanceOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            poll_interval: Duration::from_secs(5),
            uploads: None,
        }
    }
}

/// The Seedance backend for one model.
#[derive(Debug)]
pub struct Seedance {
    options: SeedanceOptions,
    model: &'static Model,
    caps: Capabilities,
    core: Core,
    bucket: Option<Bucket>,
}

impl Seedance {
    /// A backend for `options.model`. Fails on an unknown model or a bad upload bucket.
    pub fn new(options: SeedanceOptions) -> Result<Self> {
        let model = models::find(&options.model).ok_or_else(|| {
            let names: Vec<_> = models::MODELS.iter().map(|m| m.id).collect();
            Error::config(format!(
                "seedance.model: unknown model {:?}; known models are {}",
                options.model,
                names.join(", ")
            ))
        })?;
        let bucket = options.uploads.as_ref().map(Bucket::new).transpose()?;
        let mut modes = Vec::new();
        if model.t2v {
            modes.push(Mode::TextToVideo);
        }
        if model.i2v {
            modes.push(Mode::ImageToVideo);
        }
        if model.last_frame {
            modes.push(Mode::FirstLastFrame);
        }
        let (low, high) = model.usd_per_m_tokens;
        let caps = Capabilities {
            modes,
            durations: DurationSupport::Range {
                min: VideoDuration::from_secs(model.durations.0),
                max: VideoDuration::from_secs(model.durations.1),
                step: VideoDuration::from_secs(1),
            },
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::OneOf(models::sizes(model)),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            max_prompt_chars: 2000,
            images: ImageLimits {
                max_bytes: models::IMAGE_MAX,
                min_side: 300,
                ..ImageLimits::default()
            },
            audio: model.audio,
            seed: true,
            negative_prompt: false,
            price_summary: if low == high {
                format!("${low}/M tokens")
            } else {
                format!("${low}–{high}/M tokens")
            },
        };
        let core = Core {
            client: http::client()?,
            base_url: options.base_url.clone(),
            api_key: options.api_key.clone(),
        };
        Ok(Self {
            options,
            model,
            caps,
            core,
            bucket,
        })
    }

    /// The request body, with images already delivered.
    fn body(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        images: Vec<Value>,
    ) -> Map<String, Value> {
        let mut content = Vec::new();
        if !req.prompt.trim().is_empty() {
            content.push(json!({ "type": "text", "text": req.prompt }));
        }
        content.extend(images);
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model.id));
        body.insert("content".into(), Value::Array(content));
        if let Some((tier, ratio)) = models::tier_and_ratio(resolved.resolution) {
            body.insert("resolution".into(), json!(tier));
            body.insert("ratio".into(), json!(ratio));
        }
        body.insert(
            "duration".into(),
            json!(resolved.duration.whole_secs().unwrap_or(5)),
        );
        if let Some(seed) = req.seed {
            body.insert("seed".into(), json!(seed));
        }
        if self.model.audio {
            body.insert("generate_audio".into(), json!(req.audio));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        body
    }

    /// The `content` image items, sending each image inline or through the bucket.
    async fn images(
        &self,
        req: &GenerationRequest,
    ) -> Result<(Vec<Value>, Vec<delivery::Delivery>)> {
        let mut items = Vec::new();
        let mut sent = Vec::new();
        let two = req.last_frame.is_some();
        for (field, image, role) in [
            ("image", &req.image, two.then_some("first_frame")),
            ("last_frame", &req.last_frame, Some("last_frame")),
        ] {
            let Some(image) = image else { continue };
            let (url, d) = hosted::inline_or_bucket(
                field,
                image,
                models::INLINE_MAX,
                self.bucket.as_ref(),
                crate::media::image::ImageInput::data_uri,
                "data_uri",
                NAME,
            )
            .await?;
            items.push(image_item(url, role));
            sent.push(d);
        }
        Ok((items, sent))
    }
}

#[async_trait]
impl VideoBackend for Seedance {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.id)
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "seedance.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let sizes = models::sizes(self.model);
        let filled = hosted::with_provider_size(req, &sizes, 720);
        hosted::resolve_with(&self.caps, &filled, NAME, |_, problems| {
            if let Some(seed) = req.seed.filter(|s| *s > u64::from(u32::MAX)) {
                problems.push(Problem::new("seed", seed, "0 to 4294967295"));
            }
            let upload = self.bucket.as_ref().map(|_| models::IMAGE_MAX);
            hosted::check_image_delivery(req, models::INLINE_MAX, upload, NAME, problems);
            hosted::unknown_extras(req, EXTRAS, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let secs = r.duration.whole_secs().unwrap_or(5);
        let tokens = models::tokens(r.resolution, r.fps, secs);
        let (silent, sound) = self.model.usd_per_m_tokens;
        let per_m = if req.audio { sound } else { silent };
        let micros = (tokens as f64 * per_m).round() as i64;
        Ok(CostEstimate {
            usd: Money::usd_micros(micros),
            native: None,
            basis: format!(
                "{tokens} tokens ({} × {secs} s × {} fps / 1024) × ${per_m}/M tokens ({}, UNCONFIRMED)",
                r.resolution, r.fps, self.model.id
            ),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let (images, sent) = self.images(req).await?;
        let id = self.core.create(&self.body(req, resolved, images)).await?;
        let (silent, sound) = self.model.usd_per_m_tokens;
        let mut data = json!({ "usd_per_m_tokens": if req.audio { sound } else { silent } });
        delivery::record(&mut data, &sent);
        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some(self.model.id.to_owned()),
            data,
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let task = self.core.get(&ticket.id).await?;
        Ok(match task.status.as_str() {
            "queued" => Status::Queued { position: None },
            "running" => Status::Running { progress: None },
            "succeeded" => match task.content.and_then(|c| c.video_url) {
                Some(url) => Status::Succeeded {
                    output: Output::Url { url },
                    cost: task
                        .usage
                        .and_then(|u| u.completion_tokens)
                        .map(|tokens| charged(ticket, tokens)),
                },
                None => hosted::no_output(NAME),
            },
            s @ ("failed" | "expired") => {
                Status::Failed(error::from_task(task.error.as_ref(), s).with_backend(NAME))
            }
            "cancelled" | "canceled" => Status::Cancelled,
            other => return Err(hosted::unknown_status(other, NAME)),
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.core.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        match self.core.delete(&ticket.id).await {
            Ok(()) => Ok(()),
            // Gone already: nothing left to stop.
            Err(e) if e.kind() == crate::error::ErrorKind::JobFailed => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What `tokens` output tokens cost at the price recorded in the ticket at submit.
fn charged(ticket: &Ticket, tokens: u64) -> Money {
    let per_m = ticket
        .data
        .get("usd_per_m_tokens")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    Money::usd_micros((tokens as f64 * per_m).round() as i64)
}
