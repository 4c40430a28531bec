//! The `alibaba` backend: options, the model chosen per mode, validation, price and job steps.

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
use crate::request::{GenerationRequest, Mode, ResolutionSpec, VideoDuration};
use crate::services::bucket::{Bucket, BucketOptions};
use crate::services::hosted;

use super::core::Core;
use super::models::{self, Model};
use super::{INTERNATIONAL_BASE_URL, KEY_ENV, NAME, error};

/// Parameters passed through (`-x key=value`).
const EXTRAS: &[&str] = &["prompt_extend", "watermark", "shot_type", "audio_url"];

/// Options from configuration (`alibaba`).
#[derive(Debug, Clone)]
pub struct AlibabaOptions {
    /// API key; the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// [`INTERNATIONAL_BASE_URL`], [`super::MAINLAND_BASE_URL`], or the simulator. The key
    /// must belong to the same region.
    pub base_url: String,
    /// A model id or a family (`wan2.6`).
    pub model: String,
    /// Sent as `X-DashScope-WorkSpace` when set.
    pub workspace: Option<String>,
    /// Wait between polls (the SDK's schedule ends at 5 s).
    pub poll_interval: Duration,
    /// Where images too big to send inline go.
    pub uploads: Option<BucketOptions>,
}

impl Default for AlibabaOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: INTERNATIONAL_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            workspace: None,
            poll_interval: Duration::from_secs(5),
            uploads: None,
        }
    }
}

/// The Alibaba (DashScope) backend for one model or family.
#[derive(Debug)]
pub struct Alibaba {
    options: AlibabaOptions,
    models: Vec<&'static Model>,
    caps: Capabilities,
    core: Core,
    bucket: Option<Bucket>,
}

impl Alibaba {
    /// A backend for `options.model`. Fails on an unknown model or a bad upload bucket.
    pub fn new(options: AlibabaOptions) -> Result<Self> {
        let models = models::resolve(&options.model);
        if models.is_empty() {
            let mut names: Vec<_> = models::MODELS.iter().map(|m| m.family).collect();
            names.dedup();
            names.extend(models::MODELS.iter().map(|m| m.id));
            return Err(Error::config(format!(
                "alibaba.model: unknown model {:?}; known families and models are {}",
                options.model,
                names.join(", ")
            )));
        }
        let bucket = options.uploads.as_ref().map(Bucket::new).transpose()?;
        let mut modes: Vec<Mode> = models.iter().map(|m| m.mode).collect();
        modes.sort();
        modes.dedup();
        let mut durations: Vec<u32> = models
            .iter()
            .flat_map(|m| m.durations.iter().copied())
            .collect();
        durations.sort_unstable();
        durations.dedup();
        let mut sizes: Vec<_> = models.iter().flat_map(|m| models::sizes(m)).collect();
        sizes.dedup();
        let low = models
            .iter()
            .flat_map(|m| m.tiers.iter().map(|t| t.1))
            .fold(f64::MAX, f64::min);
        let caps = Capabilities {
            modes,
            durations: DurationSupport::OneOf(
                durations
                    .iter()
                    .map(|&s| VideoDuration::from_secs(s))
                    .collect(),
            ),
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::OneOf(sizes),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            max_prompt_chars: 1500,
            images: ImageLimits {
                max_bytes: models::IMAGE_MAX,
                min_side: 360,
                ..ImageLimits::default()
            },
            audio: models.iter().any(|m| m.audio),
            seed: true,
            negative_prompt: true,
            price_summary: format!("from ${low:.2}/s"),
        };
        let core = Core {
            client: http::client()?,
            base_url: options.base_url.clone(),
            api_key: options.api_key.clone(),
            workspace: options.workspace.clone(),
        };
        Ok(Self {
            options,
            models,
            caps,
            core,
            bucket,
        })
    }

    /// The model that serves `mode`.
    fn model_for(&self, mode: Mode) -> Option<&'static Model> {
        self.models.iter().copied().find(|m| m.mode == mode)
    }

    /// The create body, images already delivered as `images` (`(input key, URL)`).
    fn body(
        &self,
        model: &Model,
        req: &GenerationRequest,
        resolved: &Resolved,
        images: Vec<(&str, String)>,
    ) -> Map<String, Value> {
        let mut input = Map::new();
        input.insert("prompt".into(), json!(req.prompt));
        if let Some(neg) = &req.negative_prompt {
            input.insert("negative_prompt".into(), json!(neg));
        }
        for (key, url) in images {
            input.insert(key.into(), json!(url));
        }
        let mut parameters = Map::new();
        let r = resolved.resolution;
        if model.mode == Mode::TextToVideo {
            parameters.insert("size".into(), json!(format!("{}*{}", r.width, r.height)));
        } else if let Some(tier) = models::tier_of(r) {
            parameters.insert("resolution".into(), json!(format!("{tier}P")));
        }
        parameters.insert(
            "duration".into(),
            json!(resolved.duration.whole_secs().unwrap_or(5)),
        );
        if let Some(seed) = req.seed {
            parameters.insert("seed".into(), json!(seed));
        }
        if model.audio {
            parameters.insert("audio".into(), json!(req.audio));
        }
        for (k, v) in &req.extra {
            if k == "audio_url" {
                input.insert(k.clone(), v.clone());
            } else {
                parameters.insert(k.clone(), v.clone());
            }
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(model.id));
        body.insert("input".into(), Value::Object(input));
        body.insert("parameters".into(), Value::Object(parameters));
        body
    }

    async fn deliver(&self, field: &str, image: &ImageInput) -> Result<(String, Delivery)> {
        hosted::inline_or_bucket(
            field,
            image,
            models::INLINE_MAX,
            self.bucket.as_ref(),
            ImageInput::data_uri,
            "data_uri",
            NAME,
        )
        .await
    }
}

#[async_trait]
impl VideoBackend for Alibaba {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn model(&self) -> Option<&str> {
        Some(&self.options.model)
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "alibaba.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let model = self.model_for(req.mode());
        let sizes = model.map(models::sizes).unwrap_or_default();
        let filled = hosted::with_provider_size(req, &sizes, 720);
        hosted::resolve_with(&self.caps, &filled, NAME, |resolved, problems| {
            let (Some(r), Some(m)) = (resolved, model) else {
                return;
            };
            if !sizes.contains(&r.resolution) {
                let list: Vec<_> = sizes.iter().map(ToString::to_string).collect();
                problems.push(Problem::new(
                    "resolution",
                    r.resolution,
                    format!("for {}: {}", m.id, list.join(", ")),
                ));
            }
            if !m
                .durations
                .iter()
                .any(|&s| VideoDuration::from_secs(s) == r.duration)
            {
                let list: Vec<_> = m.durations.iter().map(|s| format!("{s}s")).collect();
                problems.push(Problem::new(
                    "duration",
                    r.duration,
                    format!("for {}: {}", m.id, list.join(", ")),
                ));
            }
            if req.audio && !m.audio {
                problems.push(Problem::new(
                    "audio",
                    "true",
                    format!("false: {} makes silent video", m.id),
                ));
            }
            if let Some(seed) = req.seed.filter(|s| *s > 2_147_483_647) {
                problems.push(Problem::new("seed", seed, "0 to 2147483647"));
            }
            let upload = self.bucket.as_ref().map(|_| models::IMAGE_MAX);
            hosted::check_image_delivery(req, models::INLINE_MAX, upload, NAME, problems);
            hosted::unknown_extras(req, EXTRAS, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let model = self.model_for(r.mode).ok_or_else(|| {
            Error::new(ErrorKind::Unsupported, "no model for this mode").with_backend(NAME)
        })?;
        let tier = models::tier_of(r.resolution).unwrap_or(720);
        let per_sec = model
            .tiers
            .iter()
            .find(|t| t.0 == tier)
            .map_or(0.0, |t| t.1);
        let secs = r.duration.whole_secs().unwrap_or(5);
        Ok(CostEstimate {
            usd: Money::usd_micros((per_sec * f64::from(secs) * 1e6).round() as i64),
            native: None,
            basis: format!(
                "{secs} s × ${per_sec}/s at {tier}P ({}, UNCONFIRMED)",
                model.id
            ),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let model = self.model_for(resolved.mode).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("{} has no model for {}", self.options.model, resolved.mode),
            )
            .with_backend(NAME)
        })?;
        let mut images = Vec::new();
        let mut sent = Vec::new();
        let (first_key, last_key) = match model.mode {
            Mode::FirstLastFrame => ("first_frame_url", "last_frame_url"),
            _ => ("img_url", "last_frame_url"),
        };
        for (field, image, key) in [
            ("image", &req.image, first_key),
            ("last_frame", &req.last_frame, last_key),
        ] {
            if let Some(image) = image {
                let (url, d) = self.deliver(field, image).await?;
                images.push((key, url));
                sent.push(d);
            }
        }
        let task = if model.id.contains("kf2v") {
            "image2video"
        } else {
            "video-generation"
        };
        let id = self
            .core
            .create(task, &self.body(model, req, resolved, images))
            .await?;
        let mut data = Value::Null;
        delivery::record(&mut data, &sent);
        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some(model.id.to_owned()),
            data,
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let task = self.core.get(&ticket.id).await?;
        Ok(match task.task_status.as_str() {
            "PENDING" => Status::Queued { position: None },
            "RUNNING" => Status::Running { progress: None },
            "SUCCEEDED" => match task.video_url {
                Some(url) => Status::Succeeded {
                    output: Output::Url { url },
                    cost: None,
                },
                None => hosted::no_output(NAME),
            },
            s @ ("FAILED" | "UNKNOWN") => Status::Failed(
                error::from_task(task.code.as_deref(), task.message.as_deref(), s)
                    .with_backend(NAME),
            ),
            "CANCELED" => Status::Cancelled,
            other => return Err(hosted::unknown_status(other, NAME)),
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.core.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        match self.core.cancel(&ticket.id).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::JobFailed => Ok(()),
            Err(e) if e.kind() == ErrorKind::InvalidRequest => Err(Error::new(
                ErrorKind::Unsupported,
                format!("task {} has started and can no longer be cancelled (DashScope cancels only PENDING tasks); it runs to the end: {}", ticket.id, e.message()),
            )
            .with_backend(NAME)),
            Err(e) => Err(e),
        }
    }
}
