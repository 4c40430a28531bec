//! `ttv serve`: ttv's HTTP API as a library the CLI starts. Three API families over one job
//! façade ([`ttv::facade::Jobs`]): the original pipeline's `/jobs` routes, an
//! OpenAI-compatible `/v1/videos`, and ttv's own `/v1/ttv/...`; plus live progress (SSE),
//! bearer tokens, signed video URLs, an OpenAPI document and a dashboard at `/`.
//!
//! Jobs run in a bounded worker pool inside the server. Every accepted job is recorded
//! before it is answered, so a restart carries every unfinished job on: those with a saved
//! ticket from it (never submitting again), those still queued from their request.
//! This crate parses and serves; selection, budgets, fallback and sidecars are the library's.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod live;
pub mod records;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use ttv::facade::Jobs;

pub use auth::TokenSpec;
pub use state::Options;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The options are unsafe or wrong.
    #[error("{0}")]
    Refused(String),
    /// The address or the server folder cannot be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The job store failed.
    #[error(transparent)]
    Ttv(#[from] ttv::Error),
}

/// How long one request may take to be answered (streams excepted once started).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: state::Shared,
    resumed: usize,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts serving `jobs` (which must have its job store) on `opts.listen` and queues
    /// every unfinished job found in the server folder. Without tokens it refuses to listen
    /// anywhere but on a loopback address.
    pub async fn start(
        jobs: Jobs,
        opts: Options,
        tokens: Vec<TokenSpec>,
    ) -> Result<Self, ServeError> {
        if tokens.is_empty() && !opts.listen.ip().is_loopback() {
            return Err(ServeError::Refused(format!(
                "refusing to listen on {} without bearer tokens: anyone who can reach it could spend your budget; \
                 set TTV_SERVE_TOKENS (NAME=SECRET,...) or listen on 127.0.0.1",
                opts.listen
            )));
        }
        jobs.runner()?;
        let listen = opts.listen;
        let dir = opts.dir.clone();
        let tokens = auth::Tokens::new(tokens);
        let state = tokio::task::spawn_blocking(move || state::AppState::new(jobs, opts, tokens))
            .await
            .map_err(|e| ServeError::Refused(e.to_string()))?
            .map_err(|source| ServeError::Io {
                what: format!("cannot use the server folder {}", dir.display()),
                source,
            })?;
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("cannot listen on {listen}"),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Io {
            what: format!("cannot listen on {listen}"),
            source,
        })?;
        let resumed = state::resume_all(&state).await?;
        let app = app(state.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
        });
        tracing::info!(%addr, resumed, "serving");
        Ok(Self {
            addr,
            state,
            resumed,
            stop,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many unfinished jobs it queued at start.
    pub fn resumed(&self) -> usize {
        self.resumed
    }

    /// Stops: takes no new jobs, lets paid submits and downloads in flight finish within the
    /// grace period, and leaves every other job resumable by the next start.
    pub async fn shutdown(self) {
        let state = &self.state;
        state.accepting.store(false, Ordering::SeqCst);
        state.workers.close();
        let deadline = tokio::time::Instant::now() + state.opts.grace;
        while state.live.running().1 > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (running, transferring) = state.live.running();
        tracing::info!(
            running,
            transferring,
            "stopping; unfinished jobs resume at the next start"
        );
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            // Open event streams do not end on their own.
            task.abort();
        }
    }
}

/// A listener that serves only the webhook route (`ttv generate --webhook-url`): the
/// providers' callbacks reach a command-line run through it. Stops when dropped.
pub struct WebhookListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl WebhookListener {
    /// Listens on `listen` and hands every `POST /webhooks/{provider}` to `hooks`.
    pub async fn start(
        listen: SocketAddr,
        hooks: Arc<ttv::webhooks::Webhooks>,
    ) -> Result<Self, ServeError> {
        let what = || format!("cannot listen for webhooks on {listen}");
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Io {
                what: what(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Io {
            what: what(),
            source,
        })?;
        let app = routes::webhooks::router(hooks);
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        tracing::info!(%addr, "listening for webhooks");
        Ok(Self { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebhookListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The router with its limits, for tests that drive it without a socket.
pub fn app(state: state::Shared) -> axum::Router {
    routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_and_limit,
        ))
        .layer(DefaultBodyLimit::max(state.opts.max_body))
        .with_state(state)
}

/// Counts answers by status class and bounds the time to answer.
async fn count_and_limit(State(state): State<state::Shared>, req: Request, next: Next) -> Response {
    let resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error::ApiError {
            status: axum::http::StatusCode::GATEWAY_TIMEOUT,
            kind: "server_error",
            code: "timeout",
            param: None,
            message: "the request took too long".into(),
        }
        .openai(),
    };
    let class = usize::from(resp.status().as_u16() / 100).min(5);
    state.metrics.requests[class].fetch_add(1, Ordering::Relaxed);
    resp
}
