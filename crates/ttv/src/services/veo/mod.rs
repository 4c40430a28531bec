//! `veo`: Google Veo through the Gemini API or Vertex AI.
//!
//! **Gemini API** (`generativelanguage.googleapis.com`, header `x-goog-api-key`): `POST
//! /v1beta/models/{model}:predictLongRunning` answers an operation `{name}`; `GET
//! /v1beta/{name}` reports `done` and, when finished, `response.generateVideoResponse.
//! generatedSamples[].video.uri`, always of the form `https://generativelanguage.googleapis.com
//! /v1beta/files/{id}:download?alt=media`. Like google-genai's `files.download`, the backend
//! takes the file id from that URI (the lowercase letters and digits after `files/`,
//! `t_file_name` in github.com/googleapis/python-genai `google/genai/_transformers.py`) and
//! downloads `{base_url}/v1beta/files/{id}:download?alt=media` with the same key, following the
//! redirect to storage — so a custom base URL, a proxy or the simulator serves the download
//! too, and the key only ever goes to the configured base URL.
//!
//! **Vertex AI** (`{region}-aiplatform.googleapis.com`, OAuth2 bearer token from a service
//! account, see [`auth`]): `POST /v1/projects/{p}/locations/{r}/publishers/google/models/{m}
//! :predictLongRunning`, then `POST …/models/{m}:fetchPredictOperation` with
//! `{operationName}`; finished operations carry `response.videos[]`, each either inline
//! (`bytesBase64Encoded`) or a `gcsUri` when an output bucket (`storageUri`) was given. A
//! `gs://bucket/object` output is downloaded through the Cloud Storage JSON API
//! (`/storage/v1/b/{bucket}/o/{object}?alt=media`) with the same token.
//!
//! Both surfaces take the same `instances[0]` (`prompt`, `image`, `lastFrame`,
//! `referenceImages`, all images inline as `{bytesBase64Encoded, mimeType}`) and `parameters`
//! (`aspectRatio`, `durationSeconds`, `resolution`, `negativePrompt`, `personGeneration`,
//! `sampleCount`, `enhancePrompt`); `seed`, `generateAudio` and `storageUri` are Vertex-only
//! (the SDK refuses them for the Gemini API). Veo 3.x on the Gemini API always makes sound.
//!
//! Text-to-video works on every model (the original pipeline believed Veo 3 could not do it
//! and capped it at 5 s; the SDK and Google's docs say otherwise, and Veo 3 takes 4, 6 or 8 s).
//!
//! Safety-filtered results (`done` with `raiMediaFilteredCount` > 0 and no video) become
//! `ContentRejected` errors with `raiMediaFilteredReasons`; `429 RESOURCE_EXHAUSTED` is a
//! fallback-worthy `QuotaExceeded`.
//!
//! Differences from `shared/providers/google-veo.md` and open points, checked against public
//! sources:
//! - Veo 3.1 Fast on the Gemini API is reported at $0.10/s (720p), $0.12/s (1080p), $0.30/s
//!   (4k) by a May 2026 transcription of Google's pricing page (reapi.ai), not $0.15/s; Veo
//!   3.1 standard 4k at $0.60/s. All prices stay UNCONFIRMED (see [`models`]).
//! - Cancellation: neither surface documents a cancel method for these operations in the
//!   sources read, so [`VideoBackend::cancel`] reports `Unsupported` instead of pretending.
//! - The Gemini file download answers with a redirect to storage; the HTTP client keeps custom
//!   headers across redirects, so the key reaches the redirect target too, as it does with the
//!   SDK's httpx client (whether that target needs it is UNCONFIRMED). A `video.uri` with no
//!   `files/{id}` in it is downloaded as it stands, without the key.
//! - Operation progress is not reported by either surface: a running job shows no fraction.
//! - Ambiguous submits cannot be looked up: operations are read one at a time by name (Gemini
//!   `GET v1beta/{name}`, Vertex `:fetchPredictOperation`), `predictLongRunning` takes no
//!   request id, and neither surface lists video operations (google-genai's `operations`
//!   module, read 2026-12-02, has `get` only; the Gemini API's operation listing covers tuned
//!   models). A submit whose answer was lost stays `unknown` for a person to settle.
//! - Vertex calls use API version `v1` as Google's REST docs do
//!   (cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation); the
//!   SDK defaults to `v1beta1` (`_api_client.py`), and the REST reference lists
//!   `projects.locations.publishers.models.fetchPredictOperation` under both versions. Polling
//!   posts to the model resource cut from the operation name at `/operations/`, as the SDK
//!   does (`rpartition('/operations/')` in `operations.py`).
//! - Surface choice: Vertex AI when a key file is configured and either a project is set or
//!   no Gemini key is; otherwise the Gemini API. Reference images, `personGeneration` and
//!   `enhancePrompt` travel in the request's `extra` map under their wire names.

pub mod auth;
mod error;
pub mod models;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::backend::{
    Availability, BackendKind, Event, EventSink, Output, Status, Ticket, VideoBackend,
};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::http::{self, ApiKey, Call};
use crate::media::image::ImageInput;
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::hosted;

use auth::{ServiceAccountKey, TokenSource};
use models::Model;

/// Canonical name.
pub const NAME: &str = "veo";
/// The Gemini API.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Cloud Storage's JSON API.
pub const DEFAULT_STORAGE_URL: &str = "https://storage.googleapis.com";
/// The Vertex AI region used when none is configured.
pub const DEFAULT_REGION: &str = "us-central1";
/// Environment variables holding a Gemini API key, in the SDK's order of preference.
pub const KEY_ENVS: [&str; 2] = ["GEMINI_API_KEY", "GOOGLE_API_KEY"];
/// Environment variable naming a service-account key file.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Environment variables naming the Google Cloud project and region.
pub const PROJECT_ENV: &str = "GOOGLE_CLOUD_PROJECT";
/// Environment variable naming the Vertex AI region.
pub const REGION_ENV: &str = "GOOGLE_CLOUD_LOCATION";
/// Environment variables overriding the base URLs (the google-genai SDKs read the first two;
/// Google's storage clients read the third, which names an emulator's root).
pub const BASE_URL_ENVS: [&str; 3] = [
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "STORAGE_EMULATOR_HOST",
];
const MISSING: &str =
    "set GEMINI_API_KEY or google_veo.api_key, or google_veo.project_id + credentials";

/// Options from configuration (`google_veo`).
#[derive(Debug, Clone)]
pub struct VeoOptions {
    /// Gemini API key.
    pub api_key: Option<ApiKey>,
    /// Where the Gemini API is.
    pub base_url: String,
    /// Where Vertex AI is; `https://{region}-aiplatform.googleapis.com` when absent.
    pub vertex_base_url: Option<String>,
    /// Where Cloud Storage's JSON API is (for `gs://` outputs).
    pub storage_base_url: String,
    /// Overrides the key file's `token_uri`.
    pub token_uri: Option<String>,
    /// Model id, one of [`models::MODELS`].
    pub model: String,
    /// Google Cloud project for Vertex AI; the key file's when absent.
    pub project_id: Option<String>,
    /// Vertex AI region.
    pub region: String,
    /// Service-account key file; with it, Vertex AI is used.
    pub credentials_path: Option<PathBuf>,
    /// `gs://bucket/prefix` for Vertex outputs (`storageUri`); inline base64 when absent.
    pub output_bucket: Option<String>,
    /// Wait between polls (the SDK's examples use 10 s).
    pub poll_interval: Duration,
}

impl Default for VeoOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            vertex_base_url: None,
            storage_base_url: DEFAULT_STORAGE_URL.to_owned(),
            token_uri: None,
            model: models::DEFAULT_MODEL.to_owned(),
            project_id: None,
            region: DEFAULT_REGION.to_owned(),
            credentials_path: None,
            output_bucket: None,
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// Which of Google's two APIs a backend talks to.
#[derive(Debug)]
enum Surface {
    Gemini(ApiKey),
    Vertex {
        project: String,
        base_url: String,
        tokens: Arc<TokenSource>,
    },
    None,
}

/// The Veo backend for one model on one surface.
#[derive(Debug)]
pub struct Veo {
    options: VeoOptions,
    model: &'static Model,
    surface: Surface,
    caps: Capabilities,
    client: reqwest::Client,
}

const ASPECTS: [AspectRatio; 2] = [AspectRatio::LANDSCAPE, AspectRatio::PORTRAIT];

fn tier_size(tier: u32, aspect: AspectRatio) -> Resolution {
    let long = tier * 16 / 9;
    if aspect == AspectRatio::PORTRAIT {
        Resolution::new(tier, long)
    } else {
        Resolution::new(long, tier)
    }
}

impl Veo {
    /// A backend for `options.model`. Uses Vertex AI when a key file is configured together
    /// with a project (or without a Gemini key), else the Gemini API. Fails on an unknown model
    /// or an unreadable key file.
    pub fn new(options: VeoOptions) -> Result<Self> {
        let model = hosted::find_model(models::MODELS, &options.model, "google_veo.model", |m| {
            m.name
        })?;
        let vertex_wanted = options.credentials_path.is_some()
            && (options.project_id.is_some() || options.api_key.is_none());
        let surface = match (&options.credentials_path, &options.api_key) {
            (Some(path), _) if vertex_wanted => {
                let key = ServiceAccountKey::from_file(path)?;
                let tokens = TokenSource::new(key, options.token_uri.clone());
                let project = options
                    .project_id
                    .clone()
                    .or_else(|| tokens.project_id().map(str::to_owned))
                    .ok_or_else(|| {
                        Error::config(
                            "google_veo.project_id: not set, and the key file names no project",
                        )
                    })?;
                let base_url = options.vertex_base_url.clone().unwrap_or_else(|| {
                    format!("https://{}-aiplatform.googleapis.com", options.region)
                });
                Surface::Vertex {
                    project,
                    base_url,
                    tokens: Arc::new(tokens),
                }
            }
            (_, Some(key)) => Surface::Gemini(key.clone()),
            _ => Surface::None,
        };
        if let Some(bucket) = &options.output_bucket
            && !bucket.starts_with("gs://")
        {
            return Err(Error::config(format!(
                "google_veo.output_bucket: {bucket:?} is not a gs:// URI"
            )));
        }
        let vertex = matches!(surface, Surface::Vertex { .. });
        let mut modes = vec![Mode::TextToVideo, Mode::ImageToVideo];
        if model.last_frame {
            modes.push(Mode::FirstLastFrame);
        }
        let sizes = model
            .tiers
            .iter()
            .flat_map(|&t| ASPECTS.map(|a| tier_size(t, a)))
            .collect();
        let (low, high) = (
            model.usd_micros_per_sec_at(720),
            model.usd_micros_per_sec_at(*model.tiers.last().unwrap_or(&720)),
        );
        let dollars = |m: i64| Money::usd_micros(m).to_string();
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
            resolutions: ResolutionSupport::OneOf(sizes),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: ASPECTS.to_vec(),
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            // Google documents a 1,024-token prompt limit; characters are a safe proxy.
            max_prompt_chars: 4000,
            // Requests carry images inline; Gemini API requests are limited to 20 MB.
            images: ImageLimits {
                max_bytes: 14_000_000,
                ..ImageLimits::default()
            },
            audio: model.audio,
            seed: vertex,
            negative_prompt: true,
            price_summary: if low == high {
                format!("{}/s", dollars(low))
            } else {
                format!("{}–{}/s", dollars(low), dollars(high))
            },
        };
        Ok(Self {
            options,
            model,
            surface,
            caps,
            client: http::client()?,
        })
    }

    /// Whether this backend talks to Vertex AI (else the Gemini API).
    pub fn is_vertex(&self) -> bool {
        matches!(self.surface, Surface::Vertex { .. })
    }

    fn sizes(&self) -> Vec<Resolution> {
        match &self.caps.resolutions {
            ResolutionSupport::OneOf(list) => list.clone(),
            ResolutionSupport::Bounded { .. } => Vec::new(),
        }
    }

    fn model_url(&self, method: &str) -> Result<String> {
        match &self.surface {
            Surface::Gemini(_) => Ok(format!(
                "{}/v1beta/models/{}:{method}",
                self.options.base_url.trim_end_matches('/'),
                self.model.name
            )),
            Surface::Vertex {
                project, base_url, ..
            } => Ok(format!(
                "{}/v1/projects/{project}/locations/{}/publishers/google/models/{}:{method}",
                base_url.trim_end_matches('/'),
                self.options.region,
                self.model.name
            )),
            Surface::None => Err(not_configured()),
        }
    }

    /// Sends a call built by `build` with the surface's credentials. A Vertex token refused
    /// with 401 is dropped and the call sent once more with a fresh one (nothing was accepted).
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        call: Call,
    ) -> Result<http::Reply> {
        let reply = match &self.surface {
            Surface::Gemini(key) => {
                http::send(build().header("x-goog-api-key", key.expose()), call).await
            }
            Surface::Vertex { tokens, .. } => {
                let token = tokens.token(&self.client).await?;
                let reply = http::send(build().bearer_auth(token.expose()), call).await;
                match reply {
                    Ok(r) if r.status == reqwest::StatusCode::UNAUTHORIZED => {
                        tracing::debug!(backend = NAME, "access token refused; renewing it");
                        tokens.invalidate().await;
                        let token = tokens.token(&self.client).await?;
                        http::send(build().bearer_auth(token.expose()), call).await
                    }
                    other => other,
                }
            }
            Surface::None => return Err(not_configured()),
        };
        reply.map_err(|e| e.with_backend(NAME))
    }

    fn image(image: &ImageInput) -> Value {
        json!({
            "bytesBase64Encoded": base64::engine::general_purpose::STANDARD.encode(image.bytes()),
            "mimeType": image.format().mime(),
        })
    }

    /// The `predictLongRunning` body.
    fn body(&self, req: &GenerationRequest, resolved: &Resolved) -> Value {
        let mut instance = Map::new();
        if !req.prompt.trim().is_empty() {
            instance.insert("prompt".into(), json!(req.prompt));
        }
        if let Some(first) = &req.image {
            instance.insert("image".into(), Self::image(first));
        }
        if let Some(last) = &req.last_frame {
            instance.insert("lastFrame".into(), Self::image(last));
        }
        if let Some(refs) = req.extra.get("referenceImages") {
            instance.insert("referenceImages".into(), refs.clone());
        }
        let r = resolved.resolution;
        let mut parameters = Map::new();
        let aspect = if r.height > r.width { "9:16" } else { "16:9" };
        parameters.insert("aspectRatio".into(), json!(aspect));
        parameters.insert(
            "durationSeconds".into(),
            json!(
                resolved
                    .duration
                    .whole_secs()
                    .unwrap_or(self.model.default_duration)
            ),
        );
        if self.model.resolution_param {
            parameters.insert(
                "resolution".into(),
                json!(models::tier_name(r.short_side())),
            );
        }
        if let Some(neg) = &req.negative_prompt {
            parameters.insert("negativePrompt".into(), json!(neg));
        }
        parameters.insert("sampleCount".into(), json!(1));
        for key in [
            "personGeneration",
            "enhancePrompt",
            "compressionQuality",
            "resizeMode",
        ] {
            if let Some(v) = req.extra.get(key) {
                parameters.insert(key.into(), v.clone());
            }
        }
        if self.is_vertex() {
            if let Some(seed) = req.seed {
                parameters.insert("seed".into(), json!(seed));
            }
            if self.model.audio {
                parameters.insert("generateAudio".into(), json!(req.audio));
            }
            if let Some(bucket) = &self.options.output_bucket {
                parameters.insert("storageUri".into(), json!(bucket));
            }
        }
        json!({ "instances": [instance], "parameters": parameters })
    }

    /// The Cloud Storage JSON API URL of `gs://bucket/object`.
    fn storage_url(&self, gs: &str) -> Result<String> {
        let (bucket, object) = gs
            .strip_prefix("gs://")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(b, o)| !b.is_empty() && !o.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    format!("not a gs:// object URI: {gs}"),
                )
                .with_backend(NAME)
            })?;
        Ok(format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.options.storage_base_url.trim_end_matches('/'),
            percent_encode(bucket),
            percent_encode(object)
        ))
    }

    async fn fetch_gs(&self, gs: &str, into: &Path, events: EventSink<'_>) -> Result<u64> {
        let Surface::Vertex { tokens, .. } = &self.surface else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "gs:// outputs need Vertex AI credentials",
            )
            .with_backend(NAME));
        };
        let url = self.storage_url(gs)?;
        let token = tokens.token(&self.client).await?;
        http::download_request(
            self.client.get(&url).bearer_auth(token.expose()),
            into,
            events,
        )
        .await
        .map_err(|e| e.with_backend(NAME))
    }

    /// Reads a finished operation's `response`, in either surface's shape.
    async fn finished(&self, response: &Value) -> Result<Status> {
        let inner = response.get("generateVideoResponse").unwrap_or(response);
        let samples = inner
            .get("generatedSamples")
            .or_else(|| inner.get("videos"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let first = samples.first().map(|s| s.get("video").unwrap_or(s));
        let uri = first.and_then(|v| v.get("uri").or_else(|| v.get("gcsUri")));
        if let Some(uri) = uri.and_then(Value::as_str) {
            return Ok(Status::Succeeded {
                output: Output::Url {
                    url: uri.to_owned(),
                },
                cost: None,
            });
        }
        let inline = first.and_then(|v| {
            v.get("bytesBase64Encoded")
                .or_else(|| v.get("encodedVideo"))
        });
        if let Some(b64) = inline.and_then(Value::as_str) {
            let path = self.save_inline(b64).await?;
            return Ok(Status::Succeeded {
                output: Output::File { path },
                cost: None,
            });
        }
        let count = inner
            .get("raiMediaFilteredCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let reasons: Vec<String> = inner
            .get("raiMediaFilteredReasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        // Some answers carry reasons without a count; either means the filter removed it.
        if count > 0 || !reasons.is_empty() {
            return Ok(Status::Failed(error::filtered(
                count.max(reasons.len() as u64),
                &reasons,
            )));
        }
        Ok(Status::Failed(
            Error::new(
                ErrorKind::JobFailed,
                "the operation finished without a video and without a safety-filter count",
            )
            .with_spend(Spend::Yes)
            .with_backend(NAME),
        ))
    }

    /// Writes an inline video to a temporary file that `fetch` moves into place.
    async fn save_inline(&self, b64: &str) -> Result<PathBuf> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    format!("the inline video is not valid base64: {e}"),
                )
                .with_backend(NAME)
            })?;
        let path = std::env::temp_dir().join(format!("ttv-veo-{}.mp4", uuid::Uuid::new_v4()));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| Error::io(format_args!("cannot write {}", path.display()), e))?;
        Ok(path)
    }
}

fn not_configured() -> Error {
    Error::new(ErrorKind::Auth, MISSING).with_backend(NAME)
}

/// Everything but RFC 3986 unreserved characters is escaped (object names keep no `/`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment for the Cloud Storage JSON API.
fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// The file id in a Gemini API file URI (`…/files/{id}:download?alt=media` or `files/{id}`):
/// the lowercase letters and digits right after the first `files/`, as google-genai reads it.
fn gemini_file_id(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("files/")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|id| !id.is_empty())
}

#[async_trait]
impl VideoBackend for Veo {
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
        match self.surface {
            Surface::None => Availability::Unavailable {
                reason: MISSING.to_owned(),
            },
            _ => Availability::Available,
        }
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let sizes = self.sizes();
        let filled = hosted::with_provider_size(req, &sizes, 720);
        let model = self.model;
        hosted::resolve_with(&self.caps, &filled, NAME, |resolved, problems| {
            if let Some(r) = resolved
                && let Some(need) = model.high_res_duration
                && r.resolution.short_side() > 720
                && r.duration != VideoDuration::from_secs(need)
            {
                problems.push(Problem::new(
                    "duration",
                    r.duration,
                    format!(
                        "{need}s: {} makes {} only as {need}-second clips",
                        model.name,
                        models::tier_name(r.resolution.short_side())
                    ),
                ));
            }
            if let Some(seed) = req.seed.filter(|s| *s > u64::from(u32::MAX)) {
                problems.push(Problem::new("seed", seed, "0 to 4294967295"));
            }
            match req.extra.get("personGeneration") {
                None => {}
                Some(Value::String(p))
                    if req.image.is_some()
                        && matches!(p.as_str(), "allow_adult" | "dont_allow") => {}
                Some(Value::String(p))
                    if req.image.is_none()
                        && matches!(p.as_str(), "allow_all" | "allow_adult" | "dont_allow") => {}
                Some(v) => problems.push(Problem::new(
                    "extra.personGeneration",
                    v,
                    if req.image.is_some() {
                        "allow_adult or dont_allow (image-to-video)"
                    } else {
                        "allow_all, allow_adult or dont_allow"
                    },
                )),
            }
            if let Some(v) = req.extra.get("enhancePrompt").filter(|v| !v.is_boolean()) {
                problems.push(Problem::new("extra.enhancePrompt", v, "true or false"));
            }
            if let Some(refs) = req.extra.get("referenceImages") {
                let n = refs.as_array().map(Vec::len);
                if !model.reference_images {
                    problems.push(Problem::new(
                        "extra.referenceImages",
                        "reference images",
                        format!(
                            "none: {} takes no reference images (Veo 3.1 does)",
                            model.name
                        ),
                    ));
                } else if !n.is_some_and(|n| (1..=3).contains(&n)) {
                    problems.push(Problem::new(
                        "extra.referenceImages",
                        refs,
                        "an array of 1 to 3 {image: {bytesBase64Encoded, mimeType}, referenceType: ASSET|STYLE}",
                    ));
                } else if let Some(r) = resolved
                    && r.duration != VideoDuration::from_secs(8)
                {
                    problems.push(Problem::new(
                        "duration",
                        r.duration,
                        "8s: reference images need 8-second clips",
                    ));
                }
            }
            let mut allowed = vec!["personGeneration", "enhancePrompt", "referenceImages"];
            if self.is_vertex() {
                allowed.extend(["compressionQuality", "resizeMode"]);
            }
            hosted::unknown_extras(req, &allowed, NAME, problems);
        })
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        let secs = i64::from(
            r.duration
                .whole_secs()
                .unwrap_or(self.model.default_duration),
        );
        let tier = r.resolution.short_side();
        let per_sec = self.model.usd_micros_per_sec_at(tier);
        Ok(CostEstimate {
            usd: Money::usd_micros(secs * per_sec),
            native: None,
            basis: format!(
                "{secs} s × {}/s ({}, {})",
                Money::usd_micros(per_sec),
                self.model.name,
                models::tier_name(tier)
            ),
            source: Some(models::price_source()),
        })
    }

    fn poll_interval(&self) -> Duration {
        self.options.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let url = self.model_url("predictLongRunning")?;
        let body = self.body(req, resolved);
        let reply = self
            .send(|| self.client.post(&url).json(&body), Call::Paid)
            .await?;
        if !reply.status.is_success() {
            return Err(error::from_reply(&reply, Call::Paid));
        }
        let created: Value = reply.json(Call::Paid).map_err(|e| e.with_backend(NAME))?;
        let name = created.get("name").and_then(Value::as_str).ok_or_else(|| {
            Error::new(
                ErrorKind::Transient,
                format!("the operation has no name: {}", http::snippet(&reply.body)),
            )
            .with_spend(Spend::Maybe)
            .with_backend(NAME)
        })?;
        Ok(Ticket {
            backend: NAME.to_owned(),
            id: name.to_owned(),
            model: Some(self.model.name.to_owned()),
            data: json!({ "surface": if self.is_vertex() { "vertex" } else { "gemini" } }),
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let surface = if self.is_vertex() { "vertex" } else { "gemini" };
        if let Some(was) = ticket.data.get("surface").and_then(Value::as_str)
            && was != surface
        {
            return Err(Error::config(format!(
                "job {} was submitted through the {was} surface, but google_veo is now configured for {surface}",
                ticket.id
            ))
            .with_backend(NAME));
        }
        let reply = match &self.surface {
            Surface::Vertex { base_url, .. } => {
                // Like the SDK: the model resource is the operation name up to `/operations/`.
                let resource = ticket
                    .id
                    .split_once("/operations/")
                    .map(|(r, _)| r)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidRequest,
                            format!("{} is not a Vertex AI operation name", ticket.id),
                        )
                        .with_backend(NAME)
                    })?;
                let url = format!(
                    "{}/v1/{resource}:fetchPredictOperation",
                    base_url.trim_end_matches('/')
                );
                let body = json!({ "operationName": ticket.id });
                self.send(|| self.client.post(&url).json(&body), Call::Free)
                    .await?
            }
            _ => {
                let url = format!(
                    "{}/v1beta/{}",
                    self.options.base_url.trim_end_matches('/'),
                    ticket.id
                );
                self.send(|| self.client.get(&url), Call::Free).await?
            }
        };
        if !reply.status.is_success() {
            return Err(error::from_reply(&reply, Call::Free));
        }
        let op: Value = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
        if !op.get("done").and_then(Value::as_bool).unwrap_or(false) {
            return Ok(Status::Running { progress: None });
        }
        if let Some(err) = op.get("error") {
            return Ok(Status::Failed(error::from_operation(err)));
        }
        self.finished(op.get("response").unwrap_or(&Value::Null))
            .await
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        match output {
            Output::File { path } => {
                let bytes = tokio::fs::copy(path, into)
                    .await
                    .map_err(|e| Error::io(format_args!("cannot copy {}", path.display()), e))?;
                events(Event::Downloading {
                    received: bytes,
                    total: Some(bytes),
                });
                let _ = tokio::fs::remove_file(path).await;
                Ok(bytes)
            }
            Output::Url { url } if url.starts_with("gs://") => {
                self.fetch_gs(url, into, events).await
            }
            Output::Url { url } => {
                let request = match (&self.surface, gemini_file_id(url)) {
                    (Surface::Gemini(key), Some(id)) => self
                        .client
                        .get(format!(
                            "{}/v1beta/files/{id}:download?alt=media",
                            self.options.base_url.trim_end_matches('/')
                        ))
                        .header("x-goog-api-key", key.expose()),
                    _ => self.client.get(url),
                };
                http::download_request(request, into, events)
                    .await
                    .map_err(|e| e.with_backend(NAME))
            }
        }
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "Veo operations cannot be cancelled through the API; {} runs to completion",
                ticket.id
            ),
        )
        .with_backend(NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_id_is_read_from_a_gemini_file_uri_as_google_genai_reads_it() {
        let uri =
            "https://generativelanguage.googleapis.com/v1beta/files/a1b2c3:download?alt=media";
        assert_eq!(gemini_file_id(uri), Some("a1b2c3"));
        assert_eq!(gemini_file_id("files/xyz9"), Some("xyz9"));
        assert_eq!(gemini_file_id("https://storage.example/video.mp4"), None);
        assert_eq!(gemini_file_id("https://host/files/:download"), None);
    }

    #[test]
    fn object_names_are_percent_encoded() {
        assert_eq!(
            percent_encode("out/a b/sample_0.mp4"),
            "out%2Fa%20b%2Fsample_0.mp4"
        );
    }

    #[test]
    fn veo3_does_text_to_video_at_eight_seconds_by_default() {
        let veo = Veo::new(VeoOptions {
            api_key: Some(ApiKey::new("k")),
            model: "veo-3.0-generate-001".into(),
            ..VeoOptions::default()
        })
        .unwrap();
        let r = veo.validate(&GenerationRequest::text("a fox")).unwrap();
        assert_eq!(r.duration, VideoDuration::from_secs(8));
        assert_eq!(r.resolution, Resolution::new(1280, 720));
        assert_eq!(r.mode, Mode::TextToVideo);
    }

    #[test]
    fn the_gemini_api_refuses_seeds_and_1080p_needs_eight_seconds() {
        let veo = Veo::new(VeoOptions {
            api_key: Some(ApiKey::new("k")),
            model: "veo-3.1-generate-preview".into(),
            ..VeoOptions::default()
        })
        .unwrap();
        let seeded = GenerationRequest {
            seed: Some(1),
            ..GenerationRequest::text("a fox")
        };
        let err = veo.validate(&seeded).unwrap_err();
        assert_eq!(err.problems()[0].field, "seed", "{err}");
        let short_1080p = GenerationRequest {
            duration: Some(VideoDuration::from_secs(4)),
            resolution: Some(ResolutionSpec::Tier(1080)),
            ..GenerationRequest::text("a fox")
        };
        let err = veo.validate(&short_1080p).unwrap_err();
        assert_eq!(err.problems()[0].field, "duration", "{err}");
        assert!(err.problems()[0].allowed.starts_with("8s"), "{err}");
    }
}
