//! The `luma` backend: options, the surface per model, validation, price and job steps.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::http::{self, ApiKey};
use crate::media::delivery::{self, Delivery};
use crate::media::image::ImageInput;
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::bucket::{Bucket, BucketOptions};
use crate::services::hosted;

use super::core::Core;
use super::models::{self, Model, Surface};
use super::{DEFAULT_BASE_URL, DEFAULT_LEGACY_BASE_URL, KEY_ENV, LEGACY_KEY_ENV, NAME, error};

/// Fields passed through (`-x key=value`): into `video` on the Agents API, top level on Dream
/// Machine.
const AGENT_EXTRAS: &[&str] = &["loop", "hdr", "exr_export", "user_id"];
const DREAM_EXTRAS: &[&str] = &["loop", "concepts", "callback_url"];

/// Options from configuration (`luma`).
#[derive(Debug, Clone)]
pub struct LumaOptions {
    /// Agents API key.
    pub api_key: Option<ApiKey>,
    /// Agents API address.
    pub base_url: String,
    /// Dream Machine key (for `ray-2`, `ray-flash-2`, `ray-1-6`).
    pub legacy_api_key: Option<ApiKey>,
    /// Dream Machine address.
    pub legacy_base_url: String,
    /// Model id, one of [`models::MODELS`].
    pub model: String,
    /// Wait between polls (the SDKs have no helper; Luma's examples poll every few seconds).
    pub poll_interval: Duration,
    /// Where images go that must travel by URL.
    pub uploads: Option<BucketOptions>,
}

impl Default for LumaOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            legacy_api_key: None,
            legacy_base_url: DEFAULT_LEGACY_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            poll_interval: Duration::from_secs(3),
            uploads: None,
        }
    }
}

/// The Luma backend for one model.
#[derive(Debug)]
pub struct Luma {
    options: LumaOptions,
    model: &'static Model,
    caps: Capabilities,
    core: Core,
    bucket: Option<Bucket>,
}

impl Luma {
    /// A backend for `options.model`. Fails on an unknown model or a bad upload bucket.
    pub fn new(options: LumaOptions) -> Result<Self> {
        let model = models::find(&options.model).ok_or_else(|| {
            let names: Vec<_> = models::MODELS.iter().map(|m| m.id).collect();
            Error::config(format!(
                "luma.model: unknown model {:?}; known models are {}",
                options.model,
                names.join(", ")
            ))
        })?;
        let bucket = options.uploads.as_ref().map(Bucket::new).transpose()?;
        let aspects: Vec<AspectRatio> = model
            .aspects
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let mut sizes = Vec::new();
        let mut secs: Vec<u32> = Vec::new();
        for (tier, list) in model.prices {
            for a in &aspects {
                sizes.push(ResolutionSpec::Tier(*tier).resolve(*a));
            }
            secs.extend(list.iter().map(|(s, _)| *s));
        }
        secs.sort_unstable();
        secs.dedup();
        let cheapest = model
            .prices
            .iter()
            .flat_map(|(_, l)| l.iter().map(|p| p.1))
            .fold(f64::MAX, f64::min);
        let caps = Capabilities {
            modes: vec![Mode::TextToVideo, Mode::ImageToVideo, Mode::FirstLastFrame],
            durations: DurationSupport::OneOf(
                secs.iter().map(|&s| VideoDuration::from_secs(s)).collect(),
            ),
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::OneOf(sizes),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: aspects,
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            max_prompt_chars: 6000,
            images: ImageLimits {
                max_bytes: models::IMAGE_MAX,
                ..ImageLimits::default()
            },
            audio: false,
            seed: false,
            negative_prompt: false,
            price_summary: format!("from ${cheapest:.2}/clip"),
        };
        let core = Core {
            client: http::client()?,
            base_url: options.base_url.clone(),
            api_key: options.api_key.clone(),
            legacy_base_url: options.legacy_base_url.clone(),
            legacy_api_key: options.legacy_api_key.clone(),
        };
        Ok(Self {
            options,
            model,
            caps,
            core,
            bucket,
        })
    }

    fn inline_max(&self) -> u64 {
        match self.model.surface {
            Surface::Agents => models::INLINE_MAX,
            Surface::DreamMachine => 0,
        }
    }

    fn tier(size: Resolution) -> u32 {
        size.short_side()
    }

    /// Sends one image: inline on the Agents API when it fits, else by presigned URL.
    async fn frame(&self, field: &str, image: &ImageInput) -> Result<(Value, Delivery)> {
        if self.model.surface == Surface::Agents && delivery::fits_inline(image, self.inline_max())
        {
            let value = json!({ "data": image.base64(), "media_type": image.format().mime() });
            return Ok((value, Delivery::inline(field, image, "base64")));
        }
        let (url, d) = hosted::inline_or_bucket(
            field,
            image,
            0,
            self.bucket.as_ref(),
            ImageInput::data_uri,
            "data_uri",
            NAME,
        )
        .await?;
        let value = match self.model.surface {
            Surface::Agents => json!({ "url": url }),
            Surface::DreamMachine => json!({ "type": "image", "url": url }),
        };
        Ok((value, d))
    }

    async fn body(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
    ) -> Result<(Map<String, Value>, Vec<Delivery>)> {
        let mut frames = Vec::new();
        let mut sent = Vec::new();
        for (field, image) in [("image", &req.image), ("last_frame", &req.last_frame)] {
            if let Some(image) = image {
                let (value, d) = self.frame(field, image).await?;
                frames.push((field, value));
                sent.push(d);
            }
        }
        let aspect = resolved
            .resolution
            .aspect()
            .unwrap_or(AspectRatio::LANDSCAPE)
            .to_string();
        let tier = models::tier_name(Self::tier(resolved.resolution));
        let secs = format!("{}s", resolved.duration.whole_secs().unwrap_or(5));
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model.id));
        body.insert("prompt".into(), json!(req.prompt));
        body.insert("aspect_ratio".into(), json!(aspect));
        match self.model.surface {
            Surface::Agents => {
                body.insert("type".into(), json!("video"));
                let mut video = Map::new();
                video.insert("duration".into(), json!(secs));
                video.insert("resolution".into(), json!(tier));
                for (field, value) in frames {
                    let key = if field == "image" {
                        "start_frame"
                    } else {
                        "end_frame"
                    };
                    video.insert(key.into(), value);
                }
                for (k, v) in &req.extra {
                    if k == "user_id" {
                        body.insert(k.clone(), v.clone());
                    } else {
                        video.insert(k.clone(), v.clone());
                    }
                }
                body.insert("video".into(), Value::Object(video));
            }
            Surface::DreamMachine => {
                body.insert("generation_type".into(), json!("video"));
                body.insert("resolution".into(), json!(tier));
                body.insert("duration".into(), json!(secs));
                if !frames.is_empty() {
                    let keyframes: Map<String, Value> = frames
                        .into_iter()
                        .map(|(field, value)| {
                            (
                                (if field == "image" { "frame0" } else { "frame1" }).to_owned(),
                                value,
                            )
                        })
                        .collect();
                    body.insert("keyframes".into(), Value::Object(keyframes));
                }
                for (k, v) in &req.extra {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        Ok((body, sent))
    }
}

#[async_trait]
impl VideoBackend for Luma {
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
        match self.model.surface {
            Surface::Agents => {
                hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "luma.api_key")
            }
            Surface::DreamMachine => hosted::availability(
                self.options.legacy_api_key.as_ref(),
                LEGACY_KEY_ENV,
                "luma.legacy_api_key",
            ),
        }
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        hosted::resolve_with(&self.caps, req, NAME, |resolved, problems| {
            let Some(r) = resolved else { return };
            let tier = Self::tier(r.resolution);
            let secs = r.duration.whole_secs().unwrap_or(0);
            match self.model.prices.iter().find(|(t, _)| *t == tier) {
                Some((_, list)) if !list.iter().any(|(s, _)| *s == secs) => {
                    let ok: Vec<_> = list.iter().map(|(s, _)| format!("{s}s")).collect();
                    problems.push(Problem::new(
                        "duration",
                        r.duration,
                        format!(
                            "{} at {}: {}",
                            self.model.id,
                            models::tier_name(tier),
                            ok.join(", ")
                        ),
                    ));
                }
                None => {
                    let ok: Vec<_> = self
                        .model
                        .prices
                        .iter()
                        .map(|(t, _)| models::tier_name(*t))
                        .collect();
                    problems.push(Problem::new(
                        "resolution",
                        r.resolution,
                        format!("a tier of {}: {}", self.model.id, ok.join(", ")),
                    ));
                }
                _ => {}
            }
            if self.model.surface == Surface::Agents && secs == 10 && r.mode != Mode::TextToVideo {
                problems.push(Problem::new(
                    "duration",
                    "10s with an image",
                    "5s: ray-3.2 makes 10 s clips from text only",
                ));
            }
            let upload = self.bucket.as_ref().map(|_| models::IMAGE_MAX);
            hosted::check_image_delivery(req, self.inline_max(), upload, NAME, problems);
            let extras = match self.model.surface {
                Surface::Agents => AGENT_EXTRAS,
                Surface::DreamMachine => DREAM_EXTRAS,
            };
            hosted::unknown_extras(req, extras, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let tier = Self::tier(r.resolution);
        let secs = r.duration.whole_secs().unwrap_or(5);
        let usd = self
            .model
            .prices
            .iter()
            .find(|(t, _)| *t == tier)
            .and_then(|(_, l)| l.iter().find(|(s, _)| *s == secs))
            .map(|p| p.1)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unsupported,
                    "no price for this tier and duration",
                )
                .with_backend(NAME)
            })?;
        Ok(CostEstimate {
            usd: Money::usd_micros((usd * 1e6).round() as i64),
            native: None,
            basis: format!(
                "one {secs} s clip at {} with {} (UNCONFIRMED)",
                models::tier_name(tier),
                self.model.id
            ),
            source: Some(models::price_source(self.model)),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let (body, sent) = self.body(req, resolved).await?;
        let id = self.core.create(self.model.surface, &body).await?;
        let mut data = Value::Null;
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
        let surface = ticket
            .model
            .as_deref()
            .and_then(models::find)
            .map_or(self.model.surface, |m| m.surface);
        let g = self.core.get(surface, &ticket.id).await?;
        Ok(match g.state.as_str() {
            "queued" => Status::Queued { position: None },
            "processing" | "dreaming" => Status::Running { progress: None },
            "completed" => match g.video_url() {
                Some(url) => Status::Succeeded {
                    output: Output::Url { url },
                    cost: None,
                },
                None => hosted::no_output(NAME),
            },
            "failed" => Status::Failed(
                error::from_failure(g.failure_code.as_deref(), g.failure_reason.as_deref())
                    .with_backend(NAME),
            ),
            other => return Err(hosted::unknown_status(other, NAME)),
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.core.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        match self.model.surface {
            Surface::Agents => Err(hosted::no_cancel(NAME, "Luma's Agents API", &ticket.id)),
            Surface::DreamMachine => match self.core.delete(&ticket.id).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::JobFailed => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}
