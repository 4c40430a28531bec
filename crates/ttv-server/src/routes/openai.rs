//! OpenAI's videos API as its published reference describes it: `POST /v1/videos` (JSON, or
//! multipart with an `input_reference` image), `GET /v1/videos/{id}`, `GET /v1/videos`
//! (`after`, `limit`, `order`; a `list` object with `first_id`, `last_id`, `has_more`),
//! `DELETE /v1/videos/{id}` (`video.deleted`), with its status words (`queued`,
//! `in_progress`, `completed`, `failed`) and error body. `model` maps through the configured
//! table (`sora-2` style names) or names a backend directly (`ttv/runway`,
//! `ttv/runway/gen4_turbo`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, OpenAiError};
use crate::records::{Api, Input};
use crate::state::{self, NewJob, Phase, Shared, View};

type Result<T> = std::result::Result<T, OpenAiError>;

/// The model when the request names none.
pub const DEFAULT_MODEL: &str = "sora-2";

/// OpenAI's status word.
pub fn status(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued => "queued",
        Phase::Started | Phase::Running | Phase::Downloading => "in_progress",
        Phase::Done => "completed",
        Phase::Failed | Phase::Cancelled => "failed",
    }
}

/// A job as OpenAI's `Video` object.
pub fn video(v: &View) -> Value {
    let r = &v.record;
    let (size, seconds) = match &v.job {
        Some(job) => (
            job.resolved.resolution.to_string(),
            job.resolved.duration.as_secs_f64().to_string(),
        ),
        None => (
            r.input.resolution.clone().unwrap_or_default(),
            r.input.duration.map(|d| d.to_string()).unwrap_or_default(),
        ),
    };
    let error = match v.phase {
        Phase::Failed => json!({ "code": "generation_failed", "message": v.error }),
        Phase::Cancelled => json!({ "code": "cancelled", "message": "the job was cancelled" }),
        _ => Value::Null,
    };
    json!({
        "id": r.id,
        "object": "video",
        "model": r.model.clone().unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
        "status": status(v.phase),
        "progress": v.progress,
        "created_at": r.created_at.timestamp(),
        "completed_at": v.finished_at.filter(|_| v.phase == Phase::Done).map(|t| t.timestamp()),
        "expires_at": Value::Null,
        "prompt": r.input.prompt,
        "size": size,
        "seconds": seconds,
        "remixed_from_video_id": Value::Null,
        "error": error,
    })
}

/// The backend a `model` names, or why it names none.
pub fn backend_for(state: &Shared, model: &str) -> std::result::Result<Option<String>, ApiError> {
    if let Some(rest) = model.strip_prefix("ttv/") {
        let (backend, wanted) = match rest.split_once('/') {
            Some((b, m)) => (b, Some(m)),
            None => (rest, None),
        };
        let entry = state
            .jobs
            .registry()
            .entry("model", backend)
            .map_err(|e| ApiError {
                code: "model_not_found",
                ..ApiError::invalid("model", e.message())
            })?;
        if let Some(wanted) = wanted {
            let configured = entry
                .backend
                .as_ref()
                .and_then(|b| b.model().map(str::to_owned));
            if configured
                .as_deref()
                .is_some_and(|c| !c.eq_ignore_ascii_case(wanted))
            {
                return Err(ApiError {
                    code: "model_not_found",
                    ..ApiError::invalid(
                        "model",
                        format!(
                            "model: {model:?}; this server's {} backend makes {}; ask for ttv/{}/{} or ttv/{}",
                            entry.known.name,
                            configured.unwrap_or_default(),
                            entry.known.name,
                            entry
                                .backend
                                .as_ref()
                                .and_then(|b| b.model())
                                .unwrap_or_default(),
                            entry.known.name
                        ),
                    )
                });
            }
        }
        return Ok(Some(entry.known.name.to_owned()));
    }
    if let Some(target) = state.opts.models.get(model) {
        return match target.as_str() {
            "" | "default" => Ok(None),
            t => backend_for(state, &format!("ttv/{t}")),
        };
    }
    if state.opts.models.is_empty() && matches!(model, "sora-2" | "sora-2-pro") {
        return Ok(None);
    }
    let mut known: Vec<String> = state.opts.models.keys().cloned().collect();
    if known.is_empty() {
        known = vec!["sora-2".into(), "sora-2-pro".into()];
    }
    Err(ApiError {
        code: "model_not_found",
        ..ApiError::invalid(
            "model",
            format!(
                "model: {model:?} is not served here; use one of {} or ttv/<backend>[/<model>]",
                known.join(", ")
            ),
        )
    })
}

/// The JSON form of `POST /v1/videos`.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CreateJson {
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    seconds: Option<Seconds>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    input_reference: Option<String>,
}

/// `seconds` is a string in OpenAI's reference; a number is taken too.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(untagged)]
enum Seconds {
    Text(String),
    Number(f64),
}

/// `POST /v1/videos`.
pub async fn create(State(state): State<Shared>, request: Request) -> Result<Response> {
    let headers = request.headers().clone();
    let caller = super::caller(&state, &headers)?;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (fields, image) = if multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_body(e.body_text()))?;
        read_form(form).await?
    } else {
        let body = Bytes::from_request(request, &state)
            .await
            .map_err(|e| ApiError {
                status: e.status(),
                ..ApiError::bad_body(e.body_text())
            })?;
        let mut fields: CreateJson = super::parse_json(&body)?;
        let image = match fields.input_reference.take() {
            Some(t) => Some(super::image_from_text("input_reference", &t).await?),
            None => None,
        };
        (fields, image)
    };
    let model = fields
        .model
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    let backend = backend_for(&state, &model)?;
    let seconds = match &fields.seconds {
        None => None,
        Some(Seconds::Number(n)) => Some(*n),
        Some(Seconds::Text(t)) => Some(t.trim().parse::<f64>().map_err(|_| {
            ApiError::invalid(
                "seconds",
                format!("seconds: {t:?} is not a number of seconds, such as \"4\""),
            )
        })?),
    };
    let input = Input {
        prompt: fields.prompt.clone(),
        duration: seconds,
        resolution: fields.size.clone(),
        backend,
        ..Input::default()
    };
    let idempotency = super::idempotency_key(&headers)?.map(|k| {
        let parts = json!({ "fields": fields, "model": model });
        (k, super::request_hash(&parts, &[image.as_ref()]))
    });
    let id = format!("video_{}", uuid::Uuid::new_v4().simple());
    let accepted = state::accept(
        &state,
        &caller,
        NewJob {
            api: Api::OpenAi,
            id: Some(id),
            model: Some(model),
            input,
            image,
            last_frame: None,
            idempotency,
        },
    )
    .await
    .map_err(openai_names)?;
    let v = state::view(&state, &caller, &accepted.record().id).await?;
    Ok((StatusCode::OK, Json(video(&v))).into_response())
}

/// A refusal in OpenAI's field names (`size`, `seconds`, `input_reference`), so a client
/// sees the field it sent.
fn openai_names(mut e: ApiError) -> ApiError {
    let renamed = match e.param.as_deref() {
        Some("resolution" | "aspect_ratio") => Some("size"),
        Some("duration") => Some("seconds"),
        Some("image") => Some("input_reference"),
        _ => None,
    };
    if let Some(name) = renamed {
        e.param = Some(name.to_owned());
    }
    e
}

/// The fields of a multipart `POST /v1/videos`.
async fn read_form(
    mut form: Multipart,
) -> std::result::Result<(CreateJson, Option<ttv::media::image::ImageInput>), ApiError> {
    let mut fields = CreateJson::default();
    let mut prompt = None;
    let mut image = None;
    while let Some(field) = form.next_field().await.map_err(|e| ApiError {
        status: e.status(),
        ..ApiError::bad_body(e.body_text())
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "input_reference" {
            let bytes = field.bytes().await.map_err(|e| ApiError {
                status: e.status(),
                ..ApiError::bad_body(e.body_text())
            })?;
            image = Some(super::image_from_bytes("input_reference", bytes.to_vec()).await?);
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::invalid(name.clone(), e.body_text()))?;
        match name.as_str() {
            "prompt" => prompt = Some(text),
            "model" => fields.model = Some(text),
            "seconds" => fields.seconds = Some(Seconds::Text(text)),
            "size" => fields.size = Some(text),
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!(
                        "{other}: unknown field; expected prompt, model, seconds, size or input_reference"
                    ),
                ));
            }
        }
    }
    fields.prompt = prompt.ok_or_else(|| ApiError::invalid("prompt", "prompt: missing field"))?;
    Ok((fields, image))
}

/// `GET /v1/videos/{id}`.
pub async fn retrieve(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let v = state::view(&state, &caller, &id).await?;
    Ok(Json(video(&v)))
}

/// `GET /v1/videos` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
}

/// `GET /v1/videos`: newest first by default (`order=asc` for oldest first); `after` is the
/// id of the last video of the previous page.
pub async fn list(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("limit: {limit}; 1 to 100 allowed")).into());
    }
    let mut views = state::views(&state, &caller).await?;
    match q.order.as_deref() {
        None | Some("desc") => {}
        Some("asc") => views.reverse(),
        Some(other) => {
            return Err(ApiError::invalid(
                "order",
                format!("order: {other:?}; asc or desc allowed"),
            )
            .into());
        }
    }
    if let Some(after) = &q.after {
        let at = views
            .iter()
            .position(|v| &v.record.id == after)
            .ok_or_else(|| {
                ApiError::invalid("after", format!("after: no video with id {after:?}"))
            })?;
        views.drain(..=at);
    }
    let has_more = views.len() > limit;
    views.truncate(limit);
    let data: Vec<Value> = views.iter().map(video).collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "first_id": views.first().map(|v| v.record.id.clone()),
        "last_id": views.last().map(|v| v.record.id.clone()),
        "has_more": has_more,
    })))
}

/// `DELETE /v1/videos/{id}`: cancels the job if it still runs, deletes the video and its
/// sidecar, and hides the job (the job store keeps it, for the ledger).
pub async fn delete(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let caller = super::caller(&state, &headers)?;
    let v = state::cancel(&state, &caller, &id).await?;
    let out = v.video().map(std::path::Path::to_path_buf);
    let st = state.clone();
    let key = id.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(out) = out {
            let _ = std::fs::remove_file(ttv::sidecar::path_for(&out));
            let _ = std::fs::remove_file(&out);
        }
        st.records.delete(&key)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "id": id, "object": "video.deleted", "deleted": true }),
    ))
}
