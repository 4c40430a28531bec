//! The original pipeline's API (its `openapi.yaml`): `POST /jobs` (202), `GET /jobs`,
//! `GET /jobs/{id}`, `POST /jobs/{id}/cancel`, `GET /jobs/{id}/video-url`. Its request has a
//! `prompt`; ttv's other request fields are accepted too, and anything else is a 400 naming
//! the field.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::BodyBytes;
use crate::error::{ApiError, PipelineError};
use crate::records::{Api, Input};
use crate::state::{self, NewJob, Phase, Shared, View};

type Result<T> = std::result::Result<T, PipelineError>;

/// The pipeline's status word.
pub fn status(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued => "queued",
        Phase::Started => "started",
        Phase::Running | Phase::Downloading => "progress",
        Phase::Done => "finished",
        Phase::Failed => "failed",
        Phase::Cancelled => "canceled",
    }
}

/// A job as the pipeline's `JobStatusResponse` (plus ttv's backend and estimate).
pub fn body(v: &View) -> Value {
    json!({
        "id": v.record.id,
        "status": status(v.phase),
        "progress": v.progress,
        "created_at": v.record.created_at,
        "started_at": v.started_at,
        "finished_at": v.finished_at,
        "gcs_uri": Value::Null,
        "error": v.error,
        "backend": v.job.as_ref().map(|j| j.backend.clone()),
        "estimated_cost_usd": v.job.as_ref().map(|j| j.estimate.usd.to_string()),
    })
}

/// `POST /jobs`.
pub async fn create(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: BodyBytes,
) -> Result<Response> {
    let caller = super::caller(&state, &headers)?;
    let mut input: Input = super::parse_json(&super::body(body)?)?;
    // The original's rule: 1 to 2000 characters, runs of whitespace collapsed.
    input.prompt = input
        .prompt
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let chars = input.prompt.chars().count();
    if chars == 0 || chars > 2000 {
        return Err(ApiError::invalid(
            "prompt",
            format!("prompt: {chars} characters; 1 to 2000 characters of text are allowed"),
        )
        .into());
    }
    let image = match &input.image {
        Some(t) => Some(super::image_from_text("image", t).await?),
        None => None,
    };
    let last_frame = match &input.last_frame {
        Some(t) => Some(super::image_from_text("last_frame", t).await?),
        None => None,
    };
    let idempotency = super::idempotency_key(&headers)?.map(|k| {
        let parts = serde_json::to_value(&input).unwrap_or_default();
        (
            k,
            super::request_hash(&parts, &[image.as_ref(), last_frame.as_ref()]),
        )
    });
    let accepted = state::accept(
        &state,
        &caller,
        NewJob {
            api: Api::Pipeline,
            id: None,
            model: None,
            input,
            image,
            last_frame,
            idempotency,
        },
    )
    .await?;
    let r = accepted.record();
    let code = match accepted {
        state::Accepted::New(_) => StatusCode::ACCEPTED,
        state::Accepted::Existing(_) => StatusCode::OK,
    };
    Ok((
        code,
        Json(json!({ "id": r.id, "status": "queued", "created_at": r.created_at })),
    )
        .into_response())
}

/// `GET /jobs` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

/// `GET /jobs`.
pub async fn list(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Value>>> {
    let caller = super::caller(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(
            ApiError::invalid("limit", format!("limit: {limit}; 1 to 1000 allowed")).into(),
        );
    }
    let views = state::views(&state, &caller).await?;
    Ok(Json(views.iter().take(limit).map(body).collect()))
}

/// `GET /jobs/{id}`.
pub async fn get(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let v = state::view(&state, &caller, &id).await?;
    Ok(Json(body(&v)))
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let v = state::cancel(&state, &caller, &id).await?;
    let message = match v.phase {
        Phase::Cancelled => "the job was cancelled".to_owned(),
        other => format!("the job had already ended ({})", status(other)),
    };
    Ok(Json(
        json!({ "id": v.record.id, "status": status(v.phase), "message": message }),
    ))
}

/// `GET /jobs/{id}/video-url` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlQuery {
    expiration_seconds: Option<i64>,
}

/// `GET /jobs/{id}/video-url`: a signed URL of the content route, valid for
/// `expiration_seconds` (60 to 86400, default 3600); for a video in object storage that can
/// sign (`output.url` on S3, GCS, Azure), the store's presigned URL.
pub async fn video_url(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: std::result::Result<Query<UrlQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::invalid("expiration_seconds", e.body_text()))?;
    let secs = q.expiration_seconds.unwrap_or(3600);
    if !(60..=86_400).contains(&secs) {
        return Err(ApiError::invalid(
            "expiration_seconds",
            format!("expiration_seconds: {secs}; 60 to 86400 allowed"),
        )
        .into());
    }
    let v = state::view(&state, &caller, &id).await?;
    if v.video().is_none() {
        return Err(ApiError {
            code: "job_not_finished",
            ..ApiError::invalid(
                "id",
                format!("job {id} is {}, not finished", status(v.phase)),
            )
        }
        .into());
    }
    let expires = chrono::Utc::now().timestamp() + secs;
    // A video in object storage that can sign: the store's own presigned URL.
    let ttl = std::time::Duration::from_secs(secs.unsigned_abs());
    if let Some(signed) = super::content::presigned(&state, &id, Some(ttl)).await? {
        return Ok(Json(json!({
            "url": signed,
            "expires_at": chrono::DateTime::from_timestamp(expires, 0),
            "content_type": "video/mp4",
        })));
    }
    let sig = crate::auth::sign_url(&state.key, &id, expires);
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| state.opts.listen.to_string());
    let url = format!("http://{host}/v1/videos/{id}/content?expires={expires}&sig={sig}");
    Ok(Json(json!({
        "url": url,
        "expires_at": chrono::DateTime::from_timestamp(expires, 0),
        "content_type": "video/mp4",
    })))
}
