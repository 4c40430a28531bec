//! `fal`: the fal queue API (`queue.fal.run`) for any fal video model.
//!
//! Submit is `POST /{app_id}` (the id may have sub-paths) with `Authorization: Key <key>`; the
//! answer carries `request_id`, `status_url`, `response_url` and `cancel_url`, which are kept
//! in the ticket and preferred. Without them the URLs are built from `owner/alias` only, as
//! the fal client does. Status (`?logs=1`) is `IN_QUEUE (queue_position) | IN_PROGRESS (logs)
//! | COMPLETED (error?)`; the result's `video.url` is the output. Cancel is `PUT cancel_url`.
//! Images go inline as data URIs up to 5 MB of URI, and through fal's storage (see
//! [`storage`]) above that, as a `v3.fal.media` URL. The request's `extra` map is merged into
//! the model input.
//!
//! The fal client polls every 0.1 s; this backend defaults to 1 s, which is plenty for video.
//!
//! **Settling an ambiguous submit.** fal's platform API lists the requests an account sent to
//! an endpoint, with their inputs on request: `GET https://api.fal.ai/v1/models/requests/
//! by-endpoint?endpoint_id=APP&start=ISO8601&expand=payloads` → `{items: [{request_id,
//! endpoint_id, sent_at, started_at, ended_at, status_code, json_input, ...}], next_cursor,
//! has_more}` (https://docs.fal.ai/platform-apis/v1/models/requests/by-endpoint, read
//! 2026-12-02). fal takes no client token on submit, so [`VideoBackend::find_submitted`] asks
//! for the requests to this app since shortly before the submit and settles on the one whose
//! `json_input` is exactly the input ttv sent; none, or several identical ones, leave the job
//! `unknown` (not provably this request). UNCONFIRMED: whether requests still queued or
//! running are listed (the list is sorted by `ended_at`); if not, a look-up right after the
//! failure finds nothing and a later run with the same request (`ttv generate --job-id`)
//! looks again.

mod error;
pub mod models;
mod storage;
mod stream;
pub mod webhook;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::backend::{
    Availability, BackendKind, EventSink, Lookup, Output, Status, Ticket, VideoBackend,
};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money, PriceSource};
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{self, ApiKey, Call};
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::hosted;

use models::{Model, Style};

/// Canonical name.
pub const NAME: &str = "fal";
/// The queue API.
pub const DEFAULT_BASE_URL: &str = "https://queue.fal.run";
/// The platform API (request listings).
pub const DEFAULT_PLATFORM_URL: &str = "https://api.fal.ai";
/// Environment variable holding the key.
pub const KEY_ENV: &str = "FAL_KEY";
/// How far before the submit the request listing starts, for clocks that disagree.
const LOOKUP_SLACK_MINUTES: i64 = 10;
/// Pages of the request listing read at most (100 requests each).
const LOOKUP_PAGES: usize = 10;
/// fal's REST API, where storage tokens come from (the fal client's `REST_URL`).
pub const DEFAULT_STORAGE_URL: &str = "https://rest.alpha.fal.ai";
/// The environment variable naming another queue API address (a proxy, the simulator).
pub const BASE_URL_ENV: &str = "FAL_QUEUE_BASE_URL";
/// fal's synchronous endpoint, which the original pipeline called.
const SYNC_BASE_URL: &str = "https://fal.run";

/// The queue API address for a configured `base_url`: fal's synchronous endpoint (the
/// original pipeline's `https://fal.run`) becomes the queue API, with a note saying so.
pub fn queue_base_url(given: &str) -> (String, Option<String>) {
    let trimmed = given.trim().trim_end_matches('/');
    if trimmed == SYNC_BASE_URL {
        let note = format!(
            "{SYNC_BASE_URL} is fal's synchronous endpoint; ttv uses fal's queue API, {DEFAULT_BASE_URL}, instead"
        );
        (DEFAULT_BASE_URL.to_owned(), Some(note))
    } else {
        (trimmed.to_owned(), None)
    }
}

/// Options from configuration.
#[derive(Debug, Clone)]
pub struct FalOptions {
    /// API key (`key` or `key_id:key_secret`); the backend is unavailable without one.
    pub api_key: Option<ApiKey>,
    /// Where the queue API is (the simulator or a proxy in tests).
    pub base_url: String,
    /// The fal app id, such as `fal-ai/kling-video/v2.1/standard/image-to-video`.
    pub model: String,
    /// Wait between polls.
    pub poll_interval: Duration,
    /// Input fields sent with every request, over ttv's own mapping (config
    /// `fal.default_input`); a request's `extra` map wins over them.
    pub default_input: serde_json::Map<String, serde_json::Value>,
    /// Where fal's platform API is (request look-ups); config `fal.platform_url`.
    pub platform_url: String,
    /// fal's REST API, for storage uploads of large images.
    pub storage_url: String,
    /// Waits on the request's status stream (Server-Sent Events) instead of polling, falling
    /// back to polling when the stream is refused or breaks.
    pub status_stream: bool,
    /// Webhooks of this process: when set, every submit asks fal to call back
    /// (`?fal_webhook=`), and a verified call wakes the job's next status call.
    pub webhooks: Option<std::sync::Arc<crate::webhooks::Webhooks>>,
}

impl Default for FalOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: models::DEFAULT_MODEL.to_owned(),
            poll_interval: Duration::from_secs(1),
            default_input: serde_json::Map::new(),
            platform_url: DEFAULT_PLATFORM_URL.to_owned(),
            storage_url: DEFAULT_STORAGE_URL.to_owned(),
            status_stream: true,
            webhooks: None,
        }
    }
}

const GENERIC: Model = Model {
    id: "",
    style: Style::Generic,
    modes: &[Mode::TextToVideo, Mode::ImageToVideo, Mode::FirstLastFrame],
    durations: &[],
    price: None,
    price_confirmed: false,
};

/// The fal backend for one app id.
#[derive(Debug)]
pub struct Fal {
    options: FalOptions,
    model: Model,
    caps: Capabilities,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Submitted {
    request_id: String,
    #[serde(default)]
    status_url: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    cancel_url: Option<String>,
}

/// A page of the platform API's request listing.
#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    items: Vec<ListedRequest>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct ListedRequest {
    request_id: String,
    #[serde(default)]
    json_input: Option<Value>,
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
    #[serde(default)]
    queue_position: Option<u32>,
    #[serde(default)]
    logs: Option<Vec<Value>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
}

impl Fal {
    /// A backend for the app id `options.model`. Unknown ids get the generic mapping.
    pub fn new(options: FalOptions) -> Result<Self> {
        if options.model.trim().is_empty() || options.model.starts_with('/') {
            return Err(Error::config(format!(
                "fal.model: {:?} is not a fal app id such as {}",
                options.model,
                models::DEFAULT_MODEL
            )));
        }
        let model = models::find(&options.model).copied().unwrap_or(GENERIC);
        let style = model.style;
        let durations = if model.durations.is_empty() {
            DurationSupport::Range {
                min: VideoDuration::from_secs(1),
                max: VideoDuration::from_secs(20),
                step: VideoDuration::from_secs(1),
            }
        } else {
            DurationSupport::OneOf(
                model
                    .durations
                    .iter()
                    .map(|&s| VideoDuration::from_secs(s))
                    .collect(),
            )
        };
        let caps = Capabilities {
            modes: model.modes.to_vec(),
            durations,
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
                max_bytes: storage::UPLOAD_MAX,
                ..ImageLimits::default()
            },
            audio: matches!(style, Style::Veo | Style::Generic),
            seed: matches!(style, Style::Wan | Style::Veo | Style::Generic),
            negative_prompt: style != Style::Hailuo,
            price_summary: match model.price {
                Some((base, secs, _)) => format!("${:.2}/{secs}s", base as f64 / 1e6),
                None => "see fal.ai".to_owned(),
            },
        };
        Ok(Self {
            options,
            model,
            caps,
            client: http::client()?,
        })
    }

    fn base(&self) -> &str {
        self.options.base_url.trim_end_matches('/')
    }

    fn with_key(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.options.api_key.as_ref(), KEY_ENV, NAME)?;
        Ok(request.header(reqwest::header::AUTHORIZATION, format!("Key {key}")))
    }

    /// A URL from the ticket, else built from `owner/alias` and `suffix`.
    fn ticket_url(&self, ticket: &Ticket, field: &str, suffix: &str) -> String {
        ticket
            .data
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "{}/{}/requests/{}{suffix}",
                    self.base(),
                    models::owner_alias(&self.options.model),
                    ticket.id
                )
            })
    }

    /// The model input for `req`.
    fn input(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        images: [Option<String>; 2],
    ) -> Map<String, Value> {
        let style = self.model.style;
        let mut input = Map::new();
        if !req.prompt.trim().is_empty() || style != Style::Generic {
            input.insert("prompt".into(), json!(req.prompt));
        }
        let [first, last] = images;
        if let Some(url) = first {
            input.insert("image_url".into(), json!(url));
        }
        if let Some(url) = last {
            input.insert("end_image_url".into(), json!(url));
        }
        let secs = resolved.duration.whole_secs().unwrap_or(5);
        let aspect = resolved
            .resolution
            .aspect()
            .unwrap_or(AspectRatio::LANDSCAPE)
            .to_string();
        let t2v = resolved.mode == Mode::TextToVideo;
        match style {
            Style::Kling => {
                input.insert("duration".into(), json!(secs.to_string()));
                if t2v {
                    input.insert("aspect_ratio".into(), json!(aspect));
                }
            }
            Style::Hailuo => {
                input.insert("duration".into(), json!(secs.to_string()));
            }
            Style::Wan => {
                input.insert("aspect_ratio".into(), json!(aspect));
                let tier = if resolved.resolution.short_side() <= 480 {
                    "480p"
                } else {
                    "720p"
                };
                input.insert("resolution".into(), json!(tier));
            }
            Style::Veo => {
                input.insert("aspect_ratio".into(), json!(aspect));
                input.insert("duration".into(), json!(format!("{secs}s")));
                input.insert("generate_audio".into(), json!(req.audio));
            }
            Style::Generic => {
                input.insert("duration".into(), json!(secs));
            }
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

    async fn send(&self, request: reqwest::RequestBuilder, call: Call) -> Result<http::Reply> {
        let reply = http::send(self.with_key(request)?, call)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(error::from_reply(&reply, call))
        }
    }
}

#[async_trait]
impl VideoBackend for Fal {
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
        hosted::availability(self.options.api_key.as_ref(), KEY_ENV, "fal.api_key")
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        hosted::resolve_with(&self.caps, req, NAME, |_, problems| {
            hosted::check_image_delivery(
                req,
                storage::INLINE_MAX,
                Some(storage::UPLOAD_MAX),
                NAME,
                problems,
            );
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let Some((base, base_secs, per_extra)) = self.model.price else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "no price table for fal model {}: see {}",
                    self.options.model,
                    models::price_url(&self.options.model)
                ),
            )
            .with_backend(NAME));
        };
        let secs = r.duration.whole_secs().unwrap_or(base_secs);
        let extra = i64::from(secs.saturating_sub(base_secs));
        let confirmed = if self.model.price_confirmed {
            ""
        } else {
            ", UNCONFIRMED"
        };
        Ok(CostEstimate {
            usd: Money::usd_micros(base + extra * per_extra),
            native: None,
            basis: format!(
                "{} per {base_secs} s + {} per extra second × {extra} ({}{confirmed})",
                Money::usd_micros(base),
                Money::usd_micros(per_extra),
                self.options.model
            ),
            source: Some(PriceSource {
                url: models::price_url(&self.options.model),
                as_of: "2026-11-25".to_owned(),
            }),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let url = format!("{}/{}", self.base(), self.options.model.trim_matches('/'));
        let (images, sent) = self.images(req).await?;
        let mut request = self
            .client
            .post(url)
            .json(&self.input(req, resolved, images));
        if let Some(hooks) = &self.options.webhooks {
            request = request.query(&[("fal_webhook", hooks.callback_url(NAME))]);
        }
        let reply = self.send(request, Call::Paid).await?;
        let s: Submitted = reply.json(Call::Paid).map_err(|e| e.with_backend(NAME))?;
        Ok(Ticket {
            backend: NAME.to_owned(),
            id: s.request_id,
            model: Some(self.options.model.clone()),
            data: {
                let mut data = json!({
                    "status_url": s.status_url,
                    "response_url": s.response_url,
                    "cancel_url": s.cancel_url,
                });
                crate::media::delivery::record(&mut data, &sent);
                data
            },
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let url = self.ticket_url(ticket, "status_url", "/status");
        let request = self.client.get(url).query(&[("logs", "1")]);
        let reply = self.send(request, Call::Free).await?;
        let body: StatusBody = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
        if let Some(last) = body.logs.as_ref().and_then(|l| l.last()) {
            tracing::debug!(backend = NAME, request = %ticket.id, log = %last, "fal log");
        }
        Ok(match body.status.as_str() {
            "IN_QUEUE" => Status::Queued {
                position: body.queue_position,
            },
            "IN_PROGRESS" => Status::Running {
                progress: body.logs.as_deref().and_then(stream::progress),
            },
            "COMPLETED" => {
                if let Some(err) = &body.error {
                    let err = error::from_completed(err, body.error_type.as_deref());
                    return Ok(if err.kind() == ErrorKind::Cancelled {
                        Status::Cancelled
                    } else {
                        Status::Failed(err.with_spend(Spend::Yes))
                    });
                }
                let url = body
                    .response_url
                    .unwrap_or_else(|| self.ticket_url(ticket, "response_url", ""));
                let result = self.send(self.client.get(url), Call::Free).await?.value();
                match result.pointer("/video/url").and_then(Value::as_str) {
                    Some(url) => Status::Succeeded {
                        output: Output::Url {
                            url: url.to_owned(),
                        },
                        cost: None,
                    },
                    None => Status::Failed(
                        Error::new(
                            ErrorKind::JobFailed,
                            format!(
                                "the result has no video.url: {}",
                                http::snippet(result.to_string().as_bytes())
                            ),
                        )
                        .with_spend(Spend::Yes)
                        .with_backend(NAME),
                    ),
                }
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!("unknown request status {other:?}"),
                )
                .with_backend(NAME));
            }
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        hosted::fetch_url(&self.client, output, into, events, NAME).await
    }

    fn wakeup(&self, ticket: &Ticket) -> Option<crate::webhooks::Wakeup> {
        let hooks = self.options.webhooks.as_ref()?;
        Some(hooks.wakeup(NAME, &ticket.id))
    }

    async fn status_stream(&self, ticket: &Ticket) -> Option<crate::backend::StatusStream> {
        if !self.options.status_stream {
            return None;
        }
        let url = format!(
            "{}/stream",
            self.ticket_url(ticket, "status_url", "/status")
        );
        let request = self
            .with_key(self.client.get(url).query(&[("logs", "1")]))
            .ok()?
            .header(reqwest::header::ACCEPT, "text/event-stream");
        match request.send().await {
            Ok(r) if r.status().is_success() => Some(stream::changes(r)),
            Ok(r) => {
                tracing::info!(backend = NAME, request = %ticket.id, status = %r.status(), "no status stream; polling");
                None
            }
            Err(e) => {
                tracing::info!(backend = NAME, request = %ticket.id, error = %e, "no status stream; polling");
                None
            }
        }
    }

    async fn find_submitted(
        &self,
        req: &GenerationRequest,
        resolved: &Resolved,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Lookup> {
        // Images that went inline are matched by their data URIs; an uploaded image's URL is
        // not known again, so such a request is never matched and the job stays unknown.
        let inline = [&req.image, &req.last_frame].map(|i| i.as_ref().map(|i| i.data_uri()));
        let sent = Value::Object(self.input(req, resolved, inline));
        let url = format!(
            "{}/v1/models/requests/by-endpoint",
            self.options.platform_url.trim_end_matches('/')
        );
        let start = (since - chrono::Duration::minutes(LOOKUP_SLACK_MINUTES))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let mut query = vec![
                ("endpoint_id", self.options.model.clone()),
                ("start", start.clone()),
                ("expand", "payloads".to_owned()),
                ("limit", "100".to_owned()),
            ];
            if let Some(c) = cursor.take() {
                query.push(("cursor", c));
            }
            let reply = self
                .send(self.client.get(&url).query(&query), Call::Free)
                .await?;
            let page: Listed = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
            found.extend(
                page.items
                    .into_iter()
                    .filter(|r| r.json_input.as_ref() == Some(&sent))
                    .map(|r| r.request_id),
            );
            match page.next_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => break,
            }
        }
        // Several identical requests: none of them is provably this one.
        let [request_id] = found.as_slice() else {
            return Ok(Lookup::NotFound);
        };
        Ok(Lookup::Found(Ticket {
            backend: NAME.to_owned(),
            id: request_id.clone(),
            model: Some(self.options.model.clone()),
            // Status and result addresses are rebuilt from the app id.
            data: Value::Null,
            submitted_at: chrono::Utc::now(),
        }))
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        let url = self.ticket_url(ticket, "cancel_url", "/cancel");
        match self.send(self.client.put(url), Call::Free).await {
            Ok(_) => Ok(()),
            // ALREADY_COMPLETED (400) and NOT_FOUND (404): nothing left to stop.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidRequest | ErrorKind::JobFailed) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
