//! The `kling` backend: options, capabilities, the std/pro choice, price and job steps.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Currency, Money};
use crate::error::{Error, Problem, Result};
use crate::http;
use crate::media::delivery::{self, Delivery};
use crate::media::image::ImageFormat;
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::hosted;

use super::auth::{Credentials, Tokens};
use super::core::Core;
use super::models::{self, Model};
use super::{ACCESS_KEY_ENV, INTERNATIONAL_BASE_URL, NAME, SECRET_KEY_ENV, error};

/// Kling fields passed through (`-x key=value`).
const EXTRAS: &[&str] = &[
    "mode",
    "cfg_scale",
    "camera_control",
    "static_mask",
    "dynamic_masks",
    "multi_shot",
    "shot_type",
    "multi_prompt",
    "element_list",
    "voice_list",
    "watermark_info",
    "external_task_id",
    "callback_url",
];

/// Options from configuration (`kling`).
#[derive(Debug, Clone)]
pub struct KlingOptions {
    /// Access key pair or single API key; unavailable without one.
    pub credentials: Credentials,
    /// [`INTERNATIONAL_BASE_URL`], [`super::MAINLAND_BASE_URL`], or the simulator.
    pub base_url: String,
    /// `model_name`, one of [`models::MODELS`].
    pub model: String,
    /// `std` or `pro` when the resolution does not decide.
    pub mode: String,
    /// Wait between polls (the AI SDK uses 5 s).
    pub poll_interval: Duration,
}

impl Default for KlingOptions {
    fn default() -> Self {
        Self {
            credentials: Credentials::default(),
            base_url: INTERNATIONAL_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            mode: "std".to_owned(),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// The Kling backend for one model.
#[derive(Debug)]
pub struct Kling {
    options: KlingOptions,
    model: &'static Model,
    caps: Capabilities,
    core: Core,
}

const ASPECTS: [AspectRatio; 3] = [
    AspectRatio::LANDSCAPE,
    AspectRatio::PORTRAIT,
    AspectRatio::SQUARE,
];

/// The frame size of `tier` at `aspect`.
fn size(tier: u32, aspect: AspectRatio) -> Resolution {
    ResolutionSpec::Tier(tier).resolve(aspect)
}

impl Kling {
    /// A backend for `options.model`. Fails on an unknown model or mode.
    pub fn new(options: KlingOptions) -> Result<Self> {
        let model = models::find(&options.model).ok_or_else(|| {
            let names: Vec<_> = models::MODELS.iter().map(|m| m.name).collect();
            Error::config(format!(
                "kling.model: unknown model {:?}; known models are {}",
                options.model,
                names.join(", ")
            ))
        })?;
        if !matches!(options.mode.as_str(), "std" | "pro") {
            return Err(Error::config(format!(
                "kling.mode: {:?}; expected std or pro",
                options.mode
            )));
        }
        let mut modes = Vec::new();
        if model.t2v {
            modes.push(Mode::TextToVideo);
        }
        if model.i2v {
            modes.push(Mode::ImageToVideo);
        }
        if model.last_frame_pro_only.is_some() {
            modes.push(Mode::FirstLastFrame);
        }
        let mut sizes: Vec<Resolution> = Vec::new();
        for tier in [model.tiers.0, model.tiers.1] {
            for aspect in ASPECTS {
                let s = size(tier, aspect);
                if !sizes.contains(&s) {
                    sizes.push(s);
                }
            }
        }
        let (std, pro) = model.units_per_5s;
        let caps = Capabilities {
            modes,
            durations: DurationSupport::OneOf(
                model
                    .durations
                    .iter()
                    .map(|&s| VideoDuration::from_secs(s))
                    .collect(),
            ),
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::OneOf(sizes),
            default_resolution: ResolutionSpec::Tier(model.tiers.0),
            aspect_ratios: ASPECTS.to_vec(),
            fps: FpsSupport::OneOf(vec![model.fps]),
            default_fps: model.fps,
            max_prompt_chars: 2500,
            images: ImageLimits {
                max_bytes: models::IMAGE_MAX,
                min_side: 300,
                formats: vec![ImageFormat::Png, ImageFormat::Jpeg],
                ..ImageLimits::default()
            },
            audio: model.sound,
            seed: false,
            negative_prompt: true,
            price_summary: format!(
                "${:.2}–{:.2}/5s",
                std * models::USD_PER_UNIT,
                pro * models::USD_PER_UNIT
            ),
        };
        let core = Core {
            client: http::client()?,
            base_url: options.base_url.clone(),
            tokens: Tokens::new(options.credentials.clone()),
        };
        Ok(Self {
            options,
            model,
            caps,
            core,
        })
    }

    /// `std` or `pro` for this request.
    fn mode(&self, req: &GenerationRequest) -> String {
        if let Some(m) = req.extra.get("mode").and_then(Value::as_str) {
            return m.to_owned();
        }
        let (std, pro) = self.model.tiers;
        match req.resolution {
            Some(ResolutionSpec::Tier(t)) if std != pro && t == pro => "pro".to_owned(),
            Some(ResolutionSpec::Exact(r)) if std != pro && r.short_side() == pro => {
                "pro".to_owned()
            }
            Some(_) if std != pro => "std".to_owned(),
            _ => self.options.mode.clone(),
        }
    }

    fn tier(&self, mode: &str) -> u32 {
        if mode == "pro" {
            self.model.tiers.1
        } else {
            self.model.tiers.0
        }
    }

    fn body(&self, req: &GenerationRequest, resolved: &Resolved, mode: &str) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("model_name".into(), json!(self.model.name));
        if !req.prompt.trim().is_empty() {
            body.insert("prompt".into(), json!(req.prompt));
        }
        if let Some(neg) = &req.negative_prompt {
            body.insert("negative_prompt".into(), json!(neg));
        }
        body.insert("mode".into(), json!(mode));
        body.insert(
            "duration".into(),
            json!(resolved.duration.whole_secs().unwrap_or(5).to_string()),
        );
        if resolved.mode == Mode::TextToVideo
            && let Some(aspect) = resolved.resolution.aspect()
        {
            body.insert("aspect_ratio".into(), json!(aspect.to_string()));
        }
        if self.model.sound {
            body.insert("sound".into(), json!(if req.audio { "on" } else { "off" }));
        }
        if let Some(image) = &req.image {
            body.insert("image".into(), json!(image.base64()));
        }
        if let Some(last) = &req.last_frame {
            body.insert("image_tail".into(), json!(last.base64()));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        body
    }
}

#[async_trait]
impl VideoBackend for Kling {
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
        if self.options.credentials.present() {
            Availability::Available
        } else {
            Availability::Unavailable {
                reason: format!(
                    "set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or kling.access_key and kling.secret_key"
                ),
            }
        }
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let mode = self.mode(req);
        let tier = self.tier(&mode);
        let mut filled = req.clone();
        if filled.resolution.is_none() {
            filled.resolution = Some(ResolutionSpec::Tier(tier));
        }
        hosted::resolve_with(&self.caps, &filled, NAME, |resolved, problems| {
            if !matches!(mode.as_str(), "std" | "pro") {
                problems.push(Problem::new("extra.mode", &mode, "std or pro"));
                return;
            }
            if let Some(r) = resolved
                && r.resolution.short_side() != tier
            {
                problems.push(Problem::new(
                    "resolution",
                    r.resolution,
                    format!("{tier}p: {} makes {tier}p in {mode} mode", self.model.name),
                ));
            }
            if req.last_frame.is_some()
                && self.model.last_frame_pro_only == Some(true)
                && mode != "pro"
            {
                problems.push(Problem::new(
                    "last_frame",
                    format!("a last frame in {mode} mode"),
                    format!(
                        "pro mode ({}p, or -x mode=pro): {} takes a last frame only in pro",
                        self.model.tiers.1, self.model.name
                    ),
                ));
            }
            if req.audio && mode != "pro" {
                problems.push(Problem::new(
                    "audio",
                    "true",
                    format!("pro mode: {} makes sound only in pro", self.model.name),
                ));
            }
            if let Some(image) = &req.image {
                let a = image.resolution().aspect().map_or(1.0, AspectRatio::value);
                if !(0.4..=2.5).contains(&a) {
                    problems.push(Problem::new(
                        "image",
                        image.source(),
                        "an aspect ratio between 1:2.5 and 2.5:1",
                    ));
                }
            }
            hosted::unknown_extras(req, EXTRAS, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let mode = self.mode(req);
        let secs = r.duration.whole_secs().unwrap_or(5);
        let (std, pro) = self.model.units_per_5s;
        let mut units = if mode == "pro" { pro } else { std } * f64::from(secs) / 5.0;
        if req.audio {
            units *= 2.0;
        }
        Ok(CostEstimate {
            usd: Money::usd_micros((units * models::USD_PER_UNIT * 1e6).round() as i64),
            native: Some(Money {
                micros: (units * 1e6).round() as i64,
                currency: Currency::Credits(NAME.to_owned()),
            }),
            basis: format!(
                "{units} units ({} {mode}, {secs} s{}) × ${}/unit (UNCONFIRMED)",
                self.model.name,
                if req.audio { ", sound" } else { "" },
                models::USD_PER_UNIT
            ),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let kind = if req.image.is_some() {
            "image2video"
        } else {
            "text2video"
        };
        let mode = self.mode(req);
        let id = self
            .core
            .create(kind, &self.body(req, resolved, &mode))
            .await?;
        let sent: Vec<Delivery> = [("image", &req.image), ("last_frame", &req.last_frame)]
            .into_iter()
            .filter_map(|(f, i)| i.as_ref().map(|i| Delivery::inline(f, i, "base64")))
            .collect();
        let mut data = json!({ "kind": kind });
        delivery::record(&mut data, &sent);
        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some(self.model.name.to_owned()),
            data,
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        // A ticket rebuilt from a bare task id (`jobs resolve --submitted`) has no kind: the
        // query path accepts either, so text2video is as good as any.
        let kind = ticket
            .data
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("text2video");
        let task = self.core.get(kind, &ticket.id).await?;
        Ok(match task.task_status.as_str() {
            "submitted" => Status::Queued { position: None },
            "processing" => Status::Running { progress: None },
            "succeed" => match task.task_result.and_then(|r| r.videos.into_iter().next()) {
                Some(video) => Status::Succeeded {
                    output: Output::Url { url: video.url },
                    cost: task
                        .final_unit_deduction
                        .and_then(|u| u.parse::<f64>().ok())
                        .map(|units| Money {
                            micros: (units * 1e6).round() as i64,
                            currency: Currency::Credits(NAME.to_owned()),
                        }),
                },
                None => hosted::no_output(NAME),
            },
            "failed" => {
                Status::Failed(error::from_task(task.task_status_msg.as_deref()).with_backend(NAME))
            }
            other => return Err(hosted::unknown_status(other, NAME)),
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.core.client, output, into, events, NAME).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        Err(hosted::no_cancel(NAME, "Kling", &ticket.id))
    }
}
