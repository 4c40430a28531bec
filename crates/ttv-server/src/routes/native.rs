//! ttv's own API for what the others cannot say: the full request (first and last frame,
//! extras, backend, fallback), `Idempotency-Key` (the same key and body give the same job; the
//! same key with another body is a 409), estimates, spend and backends.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use ttv::facade::JobSpec;

use super::BodyBytes;
use crate::error::{ApiError, OpenAiError};
use crate::records::{Api, Input};
use crate::state::{self, NewJob, Shared, View};

type Result<T> = std::result::Result<T, OpenAiError>;

/// A job in ttv's terms.
pub fn body(v: &View) -> Value {
    let job = v.job.as_ref();
    json!({
        "id": v.record.id,
        "phase": format!("{:?}", v.phase).to_ascii_lowercase(),
        "state": job.map_or("queued", |j| j.state.as_str()),
        "progress": v.progress,
        "queue_position": v.position,
        "api": v.record.api,
        "model": v.record.model,
        "prompt": v.record.input.prompt,
        "backend": job.map(|j| j.backend.clone()),
        "backend_model": job.and_then(|j| j.model.clone()),
        "resolved": job.map(|j| j.resolved),
        "estimate": job.map(|j| j.estimate.clone()),
        "charged": job.and_then(|j| j.charged.clone()),
        "spent_usd": job.map(|j| ttv::Money::usd_micros(j.spent_usd_micros()).to_string()),
        "submits": job.map(|j| j.submits),
        "error": v.error,
        "created_at": v.record.created_at,
        "started_at": v.started_at,
        "finished_at": v.finished_at,
        "video_url": v.video().map(|_| format!("/v1/videos/{}/content", v.record.id)),
    })
}

async fn images(
    input: &Input,
) -> std::result::Result<
    (
        Option<ttv::media::image::ImageInput>,
        Option<ttv::media::image::ImageInput>,
    ),
    ApiError,
> {
    let image = match &input.image {
        Some(t) => Some(super::image_from_text("image", t).await?),
        None => None,
    };
    let last_frame = match &input.last_frame {
        Some(t) => Some(super::image_from_text("last_frame", t).await?),
        None => None,
    };
    Ok((image, last_frame))
}

/// `POST /v1/ttv/jobs`: 202 for a new job, 200 for the job an idempotency key already made.
pub async fn create(
    State(state): State<Shared>,
    headers: HeaderMap,
    body_bytes: BodyBytes,
) -> Result<Response> {
    let caller = super::caller(&state, &headers)?;
    let input: Input = super::parse_json(&super::body(body_bytes)?)?;
    let (image, last_frame) = images(&input).await?;
    let idempotency = super::idempotency_key(&headers)?.map(|k| {
        let mut parts = serde_json::to_value(&input).unwrap_or_default();
        if let Some(o) = parts.as_object_mut() {
            o.remove("image");
            o.remove("last_frame");
        }
        (
            k,
            super::request_hash(&parts, &[image.as_ref(), last_frame.as_ref()]),
        )
    });
    let accepted = state::accept(
        &state,
        &caller,
        NewJob {
            api: Api::Native,
            id: None,
            model: None,
            input,
            image,
            last_frame,
            idempotency,
        },
    )
    .await?;
    let code = match accepted {
        state::Accepted::New(_) => StatusCode::ACCEPTED,
        state::Accepted::Existing(_) => StatusCode::OK,
    };
    let v = state::view(&state, &caller, &accepted.record().id).await?;
    Ok((code, Json(body(&v))).into_response())
}

/// `GET /v1/ttv/jobs`.
pub async fn list(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let views = state::views(&state, &caller).await?;
    Ok(Json(
        json!({ "jobs": views.iter().map(body).collect::<Vec<_>>() }),
    ))
}

/// `GET /v1/ttv/jobs/{id}`.
pub async fn get(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    Ok(Json(body(&state::view(&state, &caller, &id).await?)))
}

/// `POST /v1/estimate`: the backend the request would go to and what it would cost; nothing
/// is recorded or spent.
pub async fn estimate(
    State(state): State<Shared>,
    headers: HeaderMap,
    body_bytes: BodyBytes,
) -> Result<Json<Value>> {
    super::caller(&state, &headers)?;
    let input: Input = super::parse_json(&super::body(body_bytes)?)?;
    let (image, last_frame) = images(&input).await?;
    let request = state::to_request(&input, image, last_frame)?;
    let spec = JobSpec {
        backend: input.backend.clone(),
        dry_run: true,
        ..JobSpec::new(request)
    };
    let plan = state.jobs.plan(spec).await.map_err(ApiError::from)?;
    let s = &plan.selection;
    Ok(Json(json!({
        "backend": s.backend.id(),
        "model": s.backend.model(),
        "reason": s.reason,
        "resolved": s.resolved,
        "estimate": s.estimate,
        "estimate_text": s.estimate.to_string(),
        "fallback_chain": plan.chain().collect::<Vec<_>>(),
        "warnings": plan.warnings,
    })))
}

/// `GET /v1/spend`: the job store's ledger summed by day, backend and model.
pub async fn spend(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<Value>> {
    super::caller(&state, &headers)?;
    let store = state.jobs.runner().map_err(ApiError::from)?.store().clone();
    let ledger = tokio::task::spawn_blocking(move || store.ledger())
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::from(ttv::Error::from(e)))?;
    let lines = ttv::budget::summarise(&ledger);
    let total: i64 = lines.iter().map(|l| l.usd.micros).sum();
    Ok(Json(
        json!({ "lines": lines, "total_usd": ttv::Money::usd_micros(total).to_string() }),
    ))
}

/// `GET /v1/backends`.
pub async fn backends(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<Value>> {
    super::caller(&state, &headers)?;
    let rows: Vec<Value> = state
        .jobs
        .registry()
        .entries()
        .iter()
        .map(|e| {
            let (available, reason) = match &e.availability {
                ttv::Availability::Available => (true, None),
                ttv::Availability::Unavailable { reason } => (false, Some(reason.clone())),
            };
            json!({
                "name": e.known.name,
                "kind": format!("{:?}", e.known.kind).to_ascii_lowercase(),
                "summary": e.known.summary,
                "model": e.backend.as_ref().and_then(|b| b.model()),
                "available": available,
                "reason": reason,
            })
        })
        .collect();
    Ok(Json(json!({ "backends": rows })))
}
