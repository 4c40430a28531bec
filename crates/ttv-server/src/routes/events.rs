//! `GET /jobs/{id}/events`: a job's progress as Server-Sent Events — `queued` (with the
//! position), `started`, `submitted`, `progress`, `downloading`, `verifying`, then `done`,
//! `failed` or `cancelled`, after which the stream ends. Each event carries its number as
//! the SSE `id`; a client reconnecting with `Last-Event-ID` gets exactly what it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde_json::json;

use crate::error::PipelineError;
use crate::live::JobEvent;
use crate::state::{self, Phase, Shared};

/// `GET /jobs/{id}/events` (and `/v1/ttv/jobs/{id}/events`).
pub async fn stream(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PipelineError> {
    let caller = super::caller(&state, &headers)?;
    let v = state::view(&state, &caller, &id).await?;
    let after: u64 = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // A job that ended before this process started has no log here: its end is its log.
    let (known, _) = state.live.since(&id, 0);
    if !known.iter().any(JobEvent::is_terminal) {
        let end = match v.phase {
            Phase::Done => Some(("done", json!({ "progress": 100 }))),
            Phase::Failed => Some(("failed", json!({ "error": v.error }))),
            Phase::Cancelled => Some(("cancelled", json!({}))),
            _ => None,
        };
        let running = state.live.read(&id, |j| j.running).unwrap_or(false);
        if let Some((event, data)) = end.filter(|_| !running) {
            state.live.push(&id, event, data);
        }
    }
    Ok(Sse::new(events(state, id, after))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn events(state: Shared, id: String, after: u64) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (state, id, after, Vec::<JobEvent>::new(), false),
        |(state, id, mut after, mut pending, mut ended)| async move {
            loop {
                if let Some(e) = (!pending.is_empty()).then(|| pending.remove(0)) {
                    after = e.id;
                    ended = e.is_terminal();
                    let event = Event::default()
                        .id(e.id.to_string())
                        .event(e.event)
                        .data(e.data.to_string());
                    return Some((Ok(event), (state, id, after, pending, ended)));
                }
                if ended {
                    return None;
                }
                let (_, notify) = state.live.since(&id, after);
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let (fresh, _) = state.live.since(&id, after);
                if fresh.is_empty() {
                    notified.await;
                    continue;
                }
                pending = fresh;
            }
        },
    )
}
