//! `POST /webhooks/{provider}`: providers calling back when a job ends (fal, MiniMax). The
//! library's [`ttv::webhooks::Webhooks`] checks each call (fal's signature, MiniMax's
//! challenge) and wakes the job's next status call; this route only hands the request over
//! and sends back the answer. It takes no bearer token (providers cannot send one): what a
//! call is worth is decided by its verification, and at most it makes a status call early.
//!
//! `ttv serve` mounts it when webhooks are configured (`webhooks.url`); `ttv generate
//! --webhook-url` mounts [`router`] on a listener of its own.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ttv::webhooks::Webhooks;

use crate::state::Shared;

/// The server's route: 404 when webhooks are not configured.
pub async fn receive(
    State(state): State<Shared>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match &state.opts.webhooks {
        Some(hooks) => answer(hooks, &provider, &headers, &body).await,
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                serde_json::json!({ "error": "webhooks are not configured here (webhooks.url)" }),
            ),
        )
            .into_response(),
    }
}

/// Hands one call to `hooks` and turns its reply into a response.
pub async fn answer(
    hooks: &Webhooks,
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let reply = hooks.receive(provider, headers, body).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(reply.body)).into_response()
}

/// A router of only `POST /webhooks/{provider}`, for a listener that serves nothing else.
pub fn router(hooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route(
            &format!("{}/{{provider}}", ttv::webhooks::ROUTE_PREFIX),
            axum::routing::post(
                |State(hooks): State<Arc<Webhooks>>,
                 Path(provider): Path<String>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    answer(&hooks, &provider, &headers, &body).await
                },
            ),
        )
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(hooks)
}
