//! `ttv-sim`: a local stand-in for the Runway, Google Veo (Gemini API and Vertex AI), MiniMax
//! and fal video APIs.
//!
//! It serves each provider's HTTP protocol on 127.0.0.1 under its own prefix (`/runway`,
//! `/gemini`, `/vertex`, `/minimax`, `/fal`), with the providers' paths, auth and version headers, validation errors,
//! task lifecycles (queue position, progress), real MP4 outputs rendered by ttv's animatic
//! encoder, output URLs that expire, and faults injected by script or by chance. Every request
//! is recorded so a test can assert exactly how many paid submits happened.
//!
//! Lifecycles are computed from the submit time and the knobs, never driven by a task per job,
//! so a thousand concurrent jobs cost a map entry each. Videos are rendered once per
//! (size, duration) and shared.
//!
//! This crate is for tests, demos and benchmarks; it must never be pointed at by real keys,
//! and it knows nothing about ttv's backends (they talk to it over HTTP like any client).

pub mod cli;
mod config;
mod fal;
mod google;
mod minimax;
mod runway;
mod server;
mod state;
mod video;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

pub use config::{Endpoint, FaultKind, FaultRule, ProviderKnobs, SimConfig};
pub use state::{Fired, Record};

/// A simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
}

impl Provider {
    /// Every simulated provider.
    pub const ALL: [Provider; 5] = [
        Self::Runway,
        Self::Gemini,
        Self::Vertex,
        Self::Minimax,
        Self::Fal,
    ];

    /// The URL prefix the provider is served under.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Runway => "runway",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Minimax => "minimax",
            Self::Fal => "fal",
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

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Record> {
        self.state.records()
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
    pub fn tasks(&self, provider: Provider) -> Vec<String> {
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

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.clear_records();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
