//! `minimax`: the MiniMax (Hailuo) video API.
//!
//! `POST /v1/video_generation` answers `{task_id, base_resp}`; `GET
//! /v1/query/video_generation?task_id=` reports `Preparing | Queueing | Processing | Success
//! (file_id) | Fail`; `GET /v1/files/retrieve?file_id=` gives the `download_url`. Auth is
//! `Authorization: Bearer`. Errors are mostly HTTP 200 with a non-zero `base_resp.status_code`.
//! MiniMax has no cancel call and reports no progress. International host
//! `https://api.minimax.io`, mainland China `https://api.minimaxi.com`.
//!
//! UNCONFIRMED: the 10 s poll interval (the official MCP server polls every 20 s); whether
//! MiniMax ever answers 4xx/5xx (handled either way).
//!
//! **Ambiguous submits.** MiniMax's query call takes a `task_id` only and there is no listing
//! of an account's tasks (platform.minimax.io API reference, read 2026-12-02); `callback_url`
//! pushes status to a server the caller runs and names no task it was not given. A submit
//! whose answer was lost stays `unknown` for a person to settle.
//!
//! **Callbacks.** With webhooks configured ([`crate::webhooks`]), every submit carries a
//! `callback_url`; see [`webhook`] for MiniMax's challenge and status callbacks.

mod error;
pub mod models;
pub mod webhook;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::http::{self, ApiKey, Call, Reply};
use crate::request::{GenerationRequest, Mode, ResolutionSpec, VideoDuration};
use crate::services::hosted;

use error::BaseResp;
use models::{Model, Tier};

/// Canonical name.
pub const NAME: &str = "minimax";
/// The international API.
pub const INTERNATIONAL_BASE_URL: &str = "https://api.minimax.io";
/// The mainland China API.
pub const MAINLAND_BASE_URL: &str = "https://api.minimaxi.com";
/// Environment variable holding the key.
pub const KEY_ENV: &str = "MINIMAX_API_KEY";
/// Environment variable naming the host (as in MiniMax's own MCP server).
pub const HOST_ENV: &str = "MINIMAX_API_HOST";

const EXTRAS: &[&str] = &["prompt_optimizer", "fast_pretreatment", "aigc_watermark"];

/// Options from configuration.
#[derive(Debug, Clone)]
pub struct MinimaxOptions {
    /// API key; the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// [`INTERNATIONAL_BASE_URL`], [`MAINLAND_BASE_URL`], or the simulator.
    pub base_url: String,
    /// Model id, one of [`models::MODELS`].
    pub model: String,
    /// Wait between polls.
    pub poll_interval: Duration,
    /// Webhooks of this process: when set, every submit carries a `callback_url`, and a
    /// callback saying the task ended wakes its next status call.
    pub webhooks: Option<std::sync::Arc<crate::webhooks::Webhooks>>,
}

impl Default for MinimaxOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: INTERNATIONAL_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            poll_interval: Duration::from_secs(10),
            webhooks: None,
        }
    }
}

/// The MiniMax backend for one model.
#[derive(Debug)]
pub struct Minimax {
    options: MinimaxOptions,
    model: &'static Model,
    caps: Capabilities,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    base_resp: BaseResp,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    status: String,
    #[serde(default)]
    file_id: Value,
    #[serde(default)]
    base_resp: BaseResp,
}

#[derive(Deserialize)]
struct Retrieved {
    #[serde(default)]
    file: Option<File>,
    #[serde(default)]
    base_resp: BaseResp,
}

#[derive(Deserialize)]
struct File {
    download_url: String,
}

impl Minimax {
    /// A backend for `options.model`. Fails on an unknown model.
    pub fn new(options: MinimaxOptions) -> Result<Self> {
        let model =
            hosted::find_model(models::MODELS, &options.model, "minimax.model", |m| m.name)?;
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
        let default_tier = model.tiers[0];
        let caps = Capabilities {
            modes,
            durations: DurationSupport::OneOf(
                model
                    .durations
                    .iter()
                    .map(|&s| VideoDuration::from_secs(s))
                    .collect(),
            ),
            default_duration: VideoDuration::from_secs(6),
            resolutions: ResolutionSupport::OneOf(model.tiers.iter().map(|t| t.size).collect()),
            default_resolution: ResolutionSpec::Tier(default_tier.size.short_side()),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(vec![25]),
            default_fps: 25,
            max_prompt_chars: 2000,
            images: ImageLimits {
                max_bytes: 20 * 1024 * 1024,
                min_side: 300,
                ..ImageLimits::default()
            },
            audio: false,
            seed: false,
            negative_prompt: false,
            price_summary: format!("${:.2}/clip", default_tier.cents.0 as f64 / 100.0),
        };
        Ok(Self {
            options,
            model,
            caps,
            client: http::client()?,
        })
    }

    fn get(&self, path_and_query: &str) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.options.api_key.as_ref(), KEY_ENV, NAME)?;
        Ok(self
            .client
            .get(format!(
                "{}{path_and_query}",
                self.options.base_url.trim_end_matches('/')
            ))
            .bearer_auth(key))
    }

    fn tier(&self, resolved: &Resolved) -> Option<&'static Tier> {
        self.model
            .tiers
            .iter()
            .find(|t| t.size == resolved.resolution)
    }

    /// The `POST /v1/video_generation` body.
    fn body(&self, req: &GenerationRequest, resolved: &Resolved) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model.name));
        body.insert("prompt".into(), json!(req.prompt));
        if let Some(image) = &req.image {
            if self.model.subject {
                body.insert(
                    "subject_reference".into(),
                    json!([{ "type": "character", "image": [image.data_uri()] }]),
                );
            } else {
                body.insert("first_frame_image".into(), json!(image.data_uri()));
            }
        }
        if let Some(last) = &req.last_frame {
            body.insert("last_frame_image".into(), json!(last.data_uri()));
        }
        body.insert(
            "duration".into(),
            json!(resolved.duration.whole_secs().unwrap_or(6)),
        );
        if let Some(tier) = self.tier(resolved) {
            body.insert("resolution".into(), json!(tier.name));
        }
        if let Some(hooks) = &self.options.webhooks {
            body.insert("callback_url".into(), json!(hooks.callback_url(NAME)));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        body
    }

    /// Sends a call and checks both the HTTP status and `base_resp`.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
        call: Call,
        base: impl Fn(&T) -> &BaseResp,
    ) -> Result<T> {
        let reply: Reply = http::send(request, call)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            return Err(error::from_http(&reply, call));
        }
        let parsed: T = reply.json(call).map_err(|e| e.with_backend(NAME))?;
        let b = base(&parsed);
        if b.status_code != 0 {
            return Err(error::from_code(b, call));
        }
        Ok(parsed)
    }
}

#[async_trait]
impl VideoBackend for Minimax {
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
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "minimax.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let sizes: Vec<_> = self.model.tiers.iter().map(|t| t.size).collect();
        let filled = hosted::with_provider_size(req, &sizes, self.model.tiers[0].size.short_side());
        hosted::resolve_with(&self.caps, &filled, NAME, |resolved, problems| {
            if let Some(r) = resolved
                && let Some(tier) = self.tier(r)
            {
                if tier.needs_image && r.mode == Mode::TextToVideo {
                    problems.push(Problem::new(
                        "resolution",
                        tier.name,
                        "768P or 1080P for text-to-video",
                    ));
                }
                if tier.six_secs_only && r.duration != VideoDuration::from_secs(6) {
                    problems.push(Problem::new(
                        "duration",
                        r.duration,
                        format!("6s at {} with {}", tier.name, self.model.name),
                    ));
                }
            }
            hosted::unknown_extras(req, EXTRAS, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let tier = self.tier(&r).unwrap_or(&self.model.tiers[0]);
        let ten = r.duration == VideoDuration::from_secs(10);
        let cents = if ten { tier.cents.1 } else { tier.cents.0 };
        Ok(CostEstimate {
            usd: Money::usd_cents(cents),
            native: None,
            basis: format!(
                "one {} clip at {} with {} (UNCONFIRMED reseller price)",
                r.duration, tier.name, self.model.name
            ),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let key = hosted::key(self.options.api_key.as_ref(), KEY_ENV, NAME)?;
        let request = self
            .client
            .post(format!(
                "{}/v1/video_generation",
                self.options.base_url.trim_end_matches('/')
            ))
            .bearer_auth(key)
            .json(&self.body(req, resolved));
        let created: Created = self
            .call(request, Call::Paid, |c: &Created| &c.base_resp)
            .await?;
        if created.task_id.is_empty() {
            return Err(Error::new(
                ErrorKind::Transient,
                "MiniMax accepted the request without a task_id",
            )
            .with_spend(Spend::Maybe)
            .with_backend(NAME));
        }
        Ok(Ticket {
            backend: NAME.to_owned(),
            id: created.task_id,
            model: Some(self.model.name.to_owned()),
            data: Value::Null,
            submitted_at: chrono::Utc::now(),
        })
    }

    fn wakeup(&self, ticket: &Ticket) -> Option<crate::webhooks::Wakeup> {
        let hooks = self.options.webhooks.as_ref()?;
        Some(hooks.wakeup(NAME, &ticket.id))
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let request = self.get(&format!("/v1/query/video_generation?task_id={}", ticket.id))?;
        let reply = http::send(request, Call::Free)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            return Err(error::from_http(&reply, Call::Free));
        }
        let query: Query = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
        // A failed task carries its reason in base_resp; any other non-zero code is about the
        // query call itself.
        if query.status == "Fail" {
            let err = if query.base_resp.status_code == 0 {
                Error::new(ErrorKind::JobFailed, "MiniMax reported the task as failed")
                    .with_backend(NAME)
            } else {
                error::from_code(&query.base_resp, Call::Free)
            };
            return Ok(Status::Failed(err.with_spend(Spend::Yes)));
        }
        if query.base_resp.status_code != 0 {
            return Err(error::from_code(&query.base_resp, Call::Free));
        }
        Ok(match query.status.as_str() {
            "Preparing" | "Queueing" => Status::Queued { position: None },
            "Processing" => Status::Running { progress: None },
            "Success" => {
                let file_id = match &query.file_id {
                    Value::String(s) if !s.is_empty() => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Ok(Status::Failed(
                            Error::new(
                                ErrorKind::JobFailed,
                                "the task succeeded without a file_id",
                            )
                            .with_spend(Spend::Yes)
                            .with_backend(NAME),
                        ));
                    }
                };
                let request = self.get(&format!("/v1/files/retrieve?file_id={file_id}"))?;
                let retrieved: Retrieved = self
                    .call(request, Call::Free, |r: &Retrieved| &r.base_resp)
                    .await?;
                match retrieved.file {
                    Some(file) => Status::Succeeded {
                        output: Output::Url {
                            url: file.download_url,
                        },
                        cost: None,
                    },
                    None => {
                        return Err(Error::new(
                            ErrorKind::Transient,
                            "files/retrieve returned no file",
                        )
                        .with_backend(NAME));
                    }
                }
            }
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
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "MiniMax has no cancel call; task {} will run to the end (and is billed)",
                ticket.id
            ),
        )
        .with_backend(NAME))
    }
}
