//! The `replicate` backend: options, input mapping, image delivery, price and job steps.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money, PriceSource};
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{self, ApiKey};
use crate::media::delivery::{self, Delivery};
use crate::media::image::ImageInput;
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::hosted;

use super::core::{self, Core};
use super::models::{self, Model, Style};
use super::{DEFAULT_BASE_URL, KEY_ENV, NAME, error};

/// The `via` of images sent through the files API.
pub const FILES_VIA: &str = "replicate_files";

/// Options from configuration (`replicate`).
#[derive(Debug, Clone)]
pub struct ReplicateOptions {
    /// API token; the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// Where the API is.
    pub base_url: String,
    /// `owner/name`, `owner/name:version` or a version id.
    pub model: String,
    /// Seconds Replicate may hold the create call for a short job (`Prefer: wait=N`, 1 to
    /// 60); 0 turns it off.
    pub wait_secs: u64,
    /// Wait between polls (the SDK polls every 0.5 s; video takes minutes).
    pub poll_interval: Duration,
    /// Inputs sent with every request (a request's `-x` wins).
    pub default_input: Map<String, Value>,
}

impl Default for ReplicateOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            wait_secs: 5,
            poll_interval: Duration::from_secs(2),
            default_input: Map::new(),
        }
    }
}

const GENERIC: Model = Model {
    name: "",
    style: Style::Generic,
    modes: &[Mode::TextToVideo, Mode::ImageToVideo],
    durations: &[],
    usd_per_sec: 0.0,
};

/// The Replicate backend for one model.
#[derive(Debug)]
pub struct Replicate {
    options: ReplicateOptions,
    model: Model,
    caps: Capabilities,
    core: Core,
}

impl Replicate {
    /// A backend for `options.model`. Unknown models get the generic mapping.
    pub fn new(options: ReplicateOptions) -> Result<Self> {
        let id = options.model.trim();
        let valid = id.len() == 64
            || id
                .split(':')
                .next()
                .is_some_and(|n| n.split('/').filter(|p| !p.is_empty()).count() == 2);
        if !valid {
            return Err(Error::config(format!(
                "replicate.model: {:?} is not a model; expected owner/name (such as {}), owner/name:version, or a version id",
                options.model,
                models::DEFAULT_MODEL
            )));
        }
        if options.wait_secs > 60 {
            return Err(Error::config(format!(
                "replicate.wait_secs: {}; expected 0 to 60",
                options.wait_secs
            )));
        }
        let model = models::find(id).copied().unwrap_or(GENERIC);
        let style = model.style;
        let caps = Capabilities {
            modes: model.modes.to_vec(),
            durations: if model.durations.is_empty() {
                DurationSupport::Range {
                    min: VideoDuration::from_secs(1),
                    max: VideoDuration::from_secs(20),
                    step: VideoDuration::from_millis(1),
                }
            } else {
                DurationSupport::OneOf(
                    model
                        .durations
                        .iter()
                        .map(|&s| VideoDuration::from_secs(s))
                        .collect(),
                )
            },
            default_duration: VideoDuration::from_secs(
                model.durations.first().copied().unwrap_or(5),
            ),
            resolutions: ResolutionSupport::Bounded {
                max: Resolution::new(1920, 1080),
                min_side: 256,
                multiple_of: 2,
            },
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: vec![
                AspectRatio::LANDSCAPE,
                AspectRatio::PORTRAIT,
                AspectRatio::SQUARE,
            ],
            fps: if style == Style::Generic {
                FpsSupport::Range { min: 8, max: 60 }
            } else {
                FpsSupport::OneOf(vec![24])
            },
            default_fps: 24,
            max_prompt_chars: 2500,
            images: ImageLimits {
                max_bytes: models::UPLOAD_MAX,
                ..ImageLimits::default()
            },
            audio: style == Style::Veo,
            seed: matches!(style, Style::Wan | Style::Seedance | Style::Veo),
            negative_prompt: matches!(style, Style::Kling | Style::Wan | Style::Veo),
            price_summary: if style == Style::Generic {
                "see replicate.com".to_owned()
            } else {
                format!("${}/s", model.usd_per_sec)
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
        })
    }

    /// Sends one image: a data URL up to 256 kB, else through the files API.
    async fn deliver(&self, field: &str, image: &ImageInput) -> Result<(String, Delivery)> {
        if delivery::fits_inline(image, models::INLINE_MAX) {
            return Ok((image.data_uri(), Delivery::inline(field, image, "data_uri")));
        }
        let (id, url) = self.core.upload(field, image).await?;
        tracing::debug!(backend = NAME, file = %id, "image uploaded through the files API");
        Ok((url.clone(), Delivery::upload(field, image, FILES_VIA, url)))
    }

    /// The model's input for `req`, images already delivered as `(first, last)`.
    fn input(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        first: Option<String>,
        last: Option<String>,
    ) -> Map<String, Value> {
        let style = self.model.style;
        let mut input = Map::new();
        if !req.prompt.trim().is_empty() || style != Style::Generic {
            input.insert("prompt".into(), json!(req.prompt));
        }
        let (first_key, last_key) = match style {
            Style::Kling => ("start_image", "end_image"),
            Style::Hailuo => ("first_frame_image", "last_frame_image"),
            Style::Seedance => ("image", "last_frame_image"),
            Style::Veo => ("image", "last_frame"),
            Style::Wan | Style::Generic => ("image", "last_frame_image"),
        };
        if let Some(url) = first {
            input.insert(first_key.into(), json!(url));
        }
        if let Some(url) = last {
            input.insert(last_key.into(), json!(url));
        }
        let secs = resolved.duration.whole_secs().unwrap_or(5);
        let short = resolved.resolution.short_side();
        let aspect = resolved
            .resolution
            .aspect()
            .unwrap_or(AspectRatio::LANDSCAPE)
            .to_string();
        let t2v = resolved.mode == Mode::TextToVideo;
        match style {
            Style::Kling => {
                input.insert("duration".into(), json!(secs));
                if t2v {
                    input.insert("aspect_ratio".into(), json!(aspect));
                }
            }
            Style::Wan => {
                input.insert(
                    "resolution".into(),
                    json!(if short <= 480 { "480p" } else { "720p" }),
                );
                if t2v {
                    input.insert("aspect_ratio".into(), json!(aspect));
                }
            }
            Style::Hailuo => {
                input.insert("duration".into(), json!(secs));
                input.insert(
                    "resolution".into(),
                    json!(if short <= 512 {
                        "512p"
                    } else if short <= 768 {
                        "768p"
                    } else {
                        "1080p"
                    }),
                );
            }
            Style::Seedance => {
                input.insert("duration".into(), json!(secs));
                input.insert("resolution".into(), json!(format!("{}p", short.min(1080))));
                input.insert("aspect_ratio".into(), json!(aspect));
            }
            Style::Veo => {
                input.insert("duration".into(), json!(secs));
                input.insert("aspect_ratio".into(), json!(aspect));
                input.insert(
                    "resolution".into(),
                    json!(if short >= 1080 { "1080p" } else { "720p" }),
                );
                input.insert("generate_audio".into(), json!(req.audio));
            }
            Style::Generic => {}
        }
        if let Some(neg) = &req.negative_prompt {
            input.insert("negative_prompt".into(), json!(neg));
        }
        if let Some(seed) = req.seed {
            input.insert("seed".into(), json!(seed));
        }
        for (k, v) in self.options.default_input.iter().chain(&req.extra) {
            input.insert(k.clone(), v.clone());
        }
        input
    }
}

/// The video URL in a prediction's output: a string, a list of them, or `{video: url}`.
fn video_url(output: &Value) -> Option<String> {
    match output {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(video_url),
        Value::Object(map) => map.get("video").and_then(video_url),
        _ => None,
    }
}

#[async_trait]
impl VideoBackend for Replicate {
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
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "replicate.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        hosted::resolve_with(&self.caps, req, NAME, |_, problems| {
            hosted::check_image_delivery(
                req,
                models::INLINE_MAX,
                Some(models::UPLOAD_MAX),
                NAME,
                problems,
            );
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        if self.model.style == Style::Generic {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "no price table for replicate model {}: see {}",
                    self.options.model,
                    models::price_url(&self.options.model)
                ),
            )
            .with_backend(NAME));
        }
        let secs = r.duration.whole_secs().unwrap_or(5);
        let per = self.model.usd_per_sec;
        Ok(CostEstimate {
            usd: Money::usd_micros((per * f64::from(secs) * 1e6).round() as i64),
            native: None,
            basis: format!("{secs} s × ${per}/s ({}, UNCONFIRMED)", self.model.name),
            source: Some(PriceSource {
                url: models::price_url(&self.options.model),
                as_of: "2026-12-02".to_owned(),
            }),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let mut sent = Vec::new();
        let mut urls = [None, None];
        for (slot, (field, image)) in [("image", &req.image), ("last_frame", &req.last_frame)]
            .into_iter()
            .enumerate()
        {
            if let Some(image) = image {
                let (url, d) = self.deliver(field, image).await?;
                urls[slot] = Some(url);
                sent.push(d);
            }
        }
        let [first, last] = urls;
        let input = self.input(req, resolved, first, last);
        let created = self
            .core
            .create(self.options.model.trim(), input, self.options.wait_secs)
            .await?;
        let mut data = Value::Null;
        delivery::record(&mut data, &sent);
        Ok(Ticket {
            backend: NAME.to_owned(),
            id: created.id,
            model: Some(self.options.model.clone()),
            data,
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let p = self.core.get(&ticket.id).await?;
        Ok(match p.status.as_str() {
            "starting" => Status::Queued { position: None },
            "processing" => Status::Running { progress: p.logs.as_deref().and_then(core::progress) },
            "succeeded" if p.data_removed => Status::Failed(
                Error::new(
                    ErrorKind::JobFailed,
                    format!("Replicate has deleted the output of prediction {} (outputs are kept for an hour after a prediction finishes); it can no longer be downloaded", ticket.id),
                )
                .with_spend(Spend::Yes)
                .with_backend(NAME),
            ),
            "succeeded" => match video_url(&p.output) {
                Some(url) => Status::Succeeded { output: Output::Url { url }, cost: None },
                None => hosted::no_output(NAME),
            },
            "failed" => Status::Failed(error::from_prediction(p.error.as_deref()).with_backend(NAME)),
            "canceled" => Status::Cancelled,
            other => return Err(hosted::unknown_status(other, NAME)),
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        if let Output::Url { url } = output
            && self.core.is_own(url)
        {
            let key = hosted::key(self.options.api_key.as_ref(), KEY_ENV, NAME)?;
            let request = self.core.client.get(url).bearer_auth(key);
            return http::download_request(request, into, events)
                .await
                .map_err(|e| e.with_backend(NAME));
        }
        hosted::fetch_url(&self.core.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        match self.core.cancel(&ticket.id).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::JobFailed => Ok(()),
            Err(e) => Err(e),
        }
    }
}
