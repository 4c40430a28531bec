//! `ttv-sim`: a local stand-in for the Runway, Google Veo (Gemini API and Vertex AI), MiniMax,
//! fal, Kling, Luma, Replicate, Seedance (BytePlus ModelArk) and Alibaba (DashScope) video
//! APIs, with the providers' upload endpoints, an OpenAI-compatible chat-completions API
//! (`/openai/v1/chat/completions`) for the film planner, and the OpenAI Images, Gemini image
//! and Stability image APIs (`/openai`, `/gemini`, `/stability`).
//!
//! It serves each provider's HTTP protocol on 127.0.0.1 under its own prefix (`/runway`,
//! `/gemini`, `/vertex`, `/minimax`, `/fal`, `/kling`, `/luma`, `/replicate`, `/seedance`,
//! `/dashscope`; uploads under `/uploads`), with the providers' paths, auth and version
//! headers, validation errors, size limits on inline and uploaded images, task lifecycles
//! (queue position, progress), real MP4 outputs rendered by ttv's animatic encoder, output URLs
//! that expire, and faults injected by script or by chance. Each protocol module names the
//! provider references and SDK sources it follows and marks what it had to choose.
//!
//! **Keys:** unless [`SimConfig::api_key`] (`--api-key`) is set, *any non-empty key* is
//! accepted, so a client that sends the wrong key still works here. Set it to test key
//! handling. Vertex AI takes bearer tokens from the simulated token endpoint instead, which
//! checks the service-account JWT against [`SimConfig::google_public_key_pem`].
//!
//! Every request is recorded with its arrival time, and every task's state changes (queued,
//! running, done, deleted) with theirs, on one clock ([`log`]: [`Record`], [`TaskTimeline`],
//! [`SimTime`]): `GET /_sim/requests`, `GET /_sim/tasks`, [`Sim::requests`], [`Sim::tasks`].
//! Tests assert from them how many paid submits happened and how long a client took to notice
//! a finished task.
//!
//! Lifecycles are computed from the submit time and the knobs, never driven by a task per job,
//! so a thousand concurrent jobs cost a map entry each. Videos are rendered once per
//! (size, duration) and shared.
//!
//! This crate is for tests, demos and benchmarks; it must never be pointed at by real keys,
//! and it knows nothing about ttv's backends (they talk to it over HTTP like any client).

pub mod cli;
mod config;
mod dashscope;
mod fal;
mod google;
mod google_image;
mod kling;
pub mod log;
mod luma;
mod minimax;
mod openai_chat;
mod openai_images;
mod replicate;
mod runway;
mod seedance;
mod server;
mod stability;
mod state;
mod stills;
mod uploads;
mod video;
mod webhooks;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use config::{Endpoint, FaultKind, FaultRule, ProviderKnobs, SimConfig};
pub use log::{Outcome, Record, SimTime, TaskTimeline};
pub use state::Fired;
pub use webhooks::WebhookSent;

/// A simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Runway Developer API.
    Runway,
    /// Google's Gemini API (Veo).
    Gemini,
    /// Google Vertex AI (Veo), with its OAuth token endpoint and Cloud Storage downloads.
    Vertex,
    /// MiniMax (Hailuo) video API.
    Minimax,
    /// fal queue API.
    Fal,
    /// Kling AI official API.
    Kling,
    /// Luma: the Agents API under `/v1`, Dream Machine under `/dream-machine/v1`.
    Luma,
    /// Replicate predictions and files API.
    Replicate,
    /// BytePlus ModelArk content-generation tasks (Seedance), under `/api/v3`.
    Seedance,
    /// Alibaba Cloud Model Studio / DashScope video synthesis, under `/api/v1`.
    Dashscope,
    /// OpenAI, under `/v1`: Images (`gpt-image-1`) and an OpenAI-compatible chat-completions
    /// API (structured output, the film planner's LLM). Not a video provider: not in
    /// [`Provider::ALL`].
    OpenAi,
    /// Stability AI Stable Image, under `/v2beta`. An image provider: not in [`Provider::ALL`].
    Stability,
}

impl Provider {
    /// Every simulated video provider (Gemini also serves its image models).
    pub const ALL: [Provider; 10] = [
        Self::Runway,
        Self::Gemini,
        Self::Vertex,
        Self::Minimax,
        Self::Fal,
        Self::Kling,
        Self::Luma,
        Self::Replicate,
        Self::Seedance,
        Self::Dashscope,
    ];

    /// The simulated image-only providers.
    pub const IMAGE: [Provider; 2] = [Self::OpenAi, Self::Stability];

    /// Every simulated provider, video and image.
    pub fn every() -> impl Iterator<Item = Provider> {
        Self::ALL.into_iter().chain(Self::IMAGE)
    }

    /// The URL prefix the provider is served under.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Runway => "runway",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Minimax => "minimax",
            Self::Fal => "fal",
            Self::Kling => "kling",
            Self::Luma => "luma",
            Self::Replicate => "replicate",
            Self::Seedance => "seedance",
            Self::Dashscope => "dashscope",
            Self::OpenAi => "openai",
            Self::Stability => "stability",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// A running simulator. Stops when dropped.
pub struct Sim {
    addr: SocketAddr,
    state: Arc<state::State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim").field("addr", &self.addr).finish()
    }
}

impl Sim {
    /// Starts serving on 127.0.0.1 (the configured port, or a free one).
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state::State::new(config, format!("http://{addr}")));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let app = server::router(state.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// Model seconds per real second ([`SimConfig::time_scale`]).
    pub fn time_scale(&self) -> f64 {
        self.state.config.scale()
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a backend for `provider` should be given.
    pub fn base_url(&self, provider: Provider) -> String {
        format!("http://{}/{}", self.addr, provider.prefix())
    }

    /// The base URL of fal's platform API (`https://api.fal.ai` in production), which lists
    /// the requests an account sent.
    pub fn fal_platform_url(&self) -> String {
        format!("{}/api", self.base_url(Provider::Fal))
    }

    /// Every request received so far, oldest first (as `GET /_sim/requests` answers).
    pub fn requests(&self) -> Vec<Record> {
        self.state.records()
    }

    /// Every task's state changes so far, oldest submit first (as `GET /_sim/tasks`
    /// answers). Deleted tasks are included.
    pub fn tasks(&self) -> Vec<TaskTimeline> {
        self.state.timelines()
    }

    /// One task's state changes so far (as `GET /_sim/tasks/{id}` answers); `None` when no
    /// task has that id.
    pub fn task(&self, id: &str) -> Option<TaskTimeline> {
        self.state.task_timeline(id)
    }

    /// Now, on the clock every [`SimTime`] in the log is read from.
    pub fn now(&self) -> SimTime {
        self.state.now()
    }

    /// How many submits to `provider` created a (billable) task.
    pub fn paid_submits(&self, provider: Provider) -> usize {
        self.state
            .records()
            .iter()
            .filter(|r| r.provider == Some(provider) && r.paid)
            .count()
    }

    /// The ids of the tasks `provider` has, oldest first: what a person reads off the
    /// provider's dashboard to settle a job by hand.
    pub fn task_ids(&self, provider: Provider) -> Vec<String> {
        self.state.task_ids(provider)
    }

    /// Every fault the simulator applied so far, oldest first: what a test checks to know
    /// that the fault it scripted really happened.
    pub fn faults_fired(&self) -> Vec<Fired> {
        self.state.faults_fired()
    }

    /// The URL of the simulated OAuth token endpoint (a service-account key's `token_uri`).
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base_url(Provider::Vertex))
    }

    /// The base URL of `provider`'s API as its clients are configured: `/v1` for Luma's Agents
    /// API, `/api/v3` for ModelArk, `/api/v1` for DashScope, the bare prefix elsewhere.
    pub fn api_base(&self, provider: Provider) -> String {
        let suffix = match provider {
            Provider::Luma => "/v1",
            Provider::Seedance => "/api/v3",
            Provider::Dashscope => "/api/v1",
            Provider::OpenAi => "/v1",
            _ => "",
        };
        format!("{}{suffix}", self.base_url(provider))
    }

    /// Luma's Dream Machine API.
    pub fn luma_legacy_base(&self) -> String {
        format!("{}/dream-machine/v1", self.base_url(Provider::Luma))
    }

    /// fal's REST API (storage tokens).
    pub fn fal_storage_url(&self) -> String {
        format!("http://{}/uploads/fal-rest", self.addr)
    }

    /// Every file uploaded so far through a provider's upload API: `(provider, bytes)`.
    pub fn uploads(&self) -> Vec<(Provider, usize)> {
        self.state.upload_sizes()
    }

    /// Every webhook call the simulator made to a client so far, oldest first (as `GET
    /// /_sim/webhooks` answers).
    pub fn webhooks(&self) -> Vec<WebhookSent> {
        self.state.webhooks_sent()
    }

    /// Where the simulated fal publishes the keys its webhooks are signed with
    /// (`https://rest.alpha.fal.ai/.well-known/jwks.json` in production).
    pub fn fal_jwks_url(&self) -> String {
        format!("{}{}", self.base_url(Provider::Fal), fal::JWKS_PATH)
    }

    /// The `X-Fal-Webhook-Signature` the simulated fal would send for these values: what a
    /// test needs to make a call that is signed correctly but wrong in another way (stale).
    pub fn fal_webhook_signature(
        &self,
        request_id: &str,
        user_id: &str,
        timestamp: &str,
        body: &[u8],
    ) -> String {
        fal::signature(&self.state, request_id, user_id, timestamp, body)
    }

    /// Forgets the recorded requests (task timelines stay).
    pub fn clear_requests(&self) {
        self.state.clear_records();
    }
}

/// A service-account key pair for the simulated Vertex AI token endpoint: 2048-bit RSA,
/// generated on first use from a fixed seed, so every test run signs with the same key and
/// nothing secret is stored anywhere. `(PKCS#8 private key PEM, SPKI public key PEM)`: put the
/// private half in a key file's `private_key` and the public half in
/// [`SimConfig::google_public_key_pem`]. It opens nothing but this simulator.
pub fn test_service_account_key() -> &'static (String, String) {
    use rand_chacha::rand_core::SeedableRng;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    static PAIR: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // Generation and encoding of a fresh in-memory key only fail on an exhausted RNG or
        // allocator; neither a user nor a client can cause that.
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key generates");
        let public = rsa::RsaPublicKey::from(&private);
        (
            private
                .to_pkcs8_pem(LineEnding::LF)
                .expect("a fresh key encodes")
                .to_string(),
            public
                .to_public_key_pem(LineEnding::LF)
                .expect("a fresh key encodes"),
        )
    })
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
