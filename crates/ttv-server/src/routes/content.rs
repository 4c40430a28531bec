//! `GET /v1/videos/{id}/content`: the finished video, to its owner's token (or an admin's),
//! or to anyone holding a signed URL from `/jobs/{id}/video-url` until it expires. Single
//! byte ranges (`Range: bytes=a-b`, `a-`, `-n`) are answered with 206, as players ask.
//! A video in object storage (`output.url`) is answered with a redirect to a presigned URL
//! (S3, GCS, Azure: the store then serves it, ranges included), or streamed from the store.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::auth::Caller;
use crate::error::{ApiError, OpenAiError};
use crate::state::{self, Shared};

/// The query: `variant` (OpenAI's; only `video` is made here) or a signature.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentQuery {
    variant: Option<String>,
    expires: Option<i64>,
    sig: Option<String>,
}

/// `GET /v1/videos/{id}/content`.
pub async fn video(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ContentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, OpenAiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    if let Some(v) = q.variant.as_deref().filter(|v| *v != "video") {
        return Err(ApiError::invalid(
            "variant",
            format!("variant: {v:?}; only \"video\" is made by this server"),
        )
        .into());
    }
    let caller = match (q.expires, q.sig.as_deref()) {
        (Some(expires), Some(sig)) => {
            let now = chrono::Utc::now().timestamp();
            if !crate::auth::check_signature(&state.key, &id, expires, sig, now) {
                return Err(ApiError {
                    status: StatusCode::FORBIDDEN,
                    code: "invalid_signature",
                    ..ApiError::unauthorized("the signed URL is invalid or has expired; ask /jobs/{id}/video-url for a new one")
                }
                .into());
            }
            Caller {
                name: "signed-url".into(),
                admin: true,
            }
        }
        _ => super::caller(&state, &headers)?,
    };
    let v = state::view(&state, &caller, &id).await?;
    let Some(path) = v.video() else {
        return Err(ApiError {
            code: "video_not_ready",
            ..ApiError::invalid("id", format!("video {id} is not completed yet"))
        }
        .into());
    };
    if let Some(stored) = from_store(&state, &id, &headers).await? {
        return Ok(stored);
    }
    Ok(serve_file(path, &headers).await?)
}

/// When job `id`'s video is in the output store (`output.url`): a redirect to a presigned
/// URL of it, or, from a store that cannot sign (`file://`), its bytes. `None` when the
/// video is not stored there (then the local file is served).
async fn from_store(
    state: &Shared,
    id: &str,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let Some((store, url)) = stored(state, id).await? else {
        return Ok(None);
    };
    if let Some(signed) = store.presign(&url, None).await? {
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        let location = HeaderValue::from_str(&signed)
            .map_err(|e| ApiError::internal(format!("the presigned URL is not a header: {e}")))?;
        resp.headers_mut().insert(header::LOCATION, location);
        return Ok(Some(resp));
    }
    if let Some(local) = ttv::output_store::local_path(&url).filter(|p| p.is_file()) {
        return serve_file(&local, headers).await.map(Some);
    }
    let (size, stream) = store.read(&url).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    Ok(Some(resp))
}

/// The output store and the URL in it of job `id`'s video, when it was stored there.
async fn stored(
    state: &Shared,
    id: &str,
) -> Result<Option<(ttv::output_store::OutputStore, String)>, ApiError> {
    let Some(url) = state.jobs.stored_url(id).await? else {
        return Ok(None);
    };
    Ok(state
        .jobs
        .output_store()?
        .filter(|s| s.holds(&url))
        .map(|s| (s, url)))
}

/// A presigned URL, valid for `ttl` (the configured lifetime when `None`), of job `id`'s
/// video when it is in an output store that can sign.
pub async fn presigned(
    state: &Shared,
    id: &str,
    ttl: Option<std::time::Duration>,
) -> Result<Option<String>, ApiError> {
    match stored(state, id).await? {
        Some((store, url)) => Ok(store.presign(&url, ttl).await?),
        None => Ok(None),
    }
}

/// Serves the file at `path`, honouring a single-range `Range` header.
pub async fn serve_file(path: &std::path::Path, headers: &HeaderMap) -> Result<Response, ApiError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::internal(format!("the video cannot be read: {e}")))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("the video cannot be read: {e}")))?
        .len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(None) => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::internal(format!("the video cannot be read: {e}")))?;
    let stream = tokio_util::io::ReaderStream::new(file.take(count));
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// The inclusive byte range a `Range` header asks of a `len`-byte file; `None` when it
/// cannot be satisfied (or is not one `bytes=` range).
pub fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        return Some((len.saturating_sub(n), len - 1));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        len - 1
    } else {
        b.parse::<u64>().ok()?.min(len - 1)
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}
