//! The providers' upload endpoints and the checks of the images that refer to them.
//!
//! - Runway: `POST /runway/v1/uploads` (in [`crate::runway`]) hands out a presigned-POST
//!   target here, `POST /uploads/runway/{id}` takes the multipart form (`fields` + `file`, at
//!   most 200 MB) and the image is then named `runway://{id}`. A data URI over 5 MB is refused.
//! - fal: `POST /uploads/fal-rest/storage/auth/token?storage_type=fal-cdn-v3` (with `Key`) →
//!   `{token, token_type, base_url, expires_at}`; `POST /uploads/fal-cdn/files/upload` with
//!   the bearer token and the raw bytes (at most 100 MB) → `{access_url}`; `GET` on that URL
//!   serves the file. A data URI over 5 MB is refused (fal's limit is UNCONFIRMED).
//! - Replicate's files API lives in [`crate::replicate`] and stores files here too.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, Reply, early_fault, inline_size, json};
use crate::state::State;

/// Runway's data-URI limit.
pub(crate) const RUNWAY_URI_MAX: usize = 5 * 1000 * 1000;
/// Runway's ephemeral-upload limit.
pub(crate) const RUNWAY_UPLOAD_MAX: usize = 200 * 1024 * 1024;
/// fal's data-URI limit as ttv assumes it (UNCONFIRMED).
pub(crate) const FAL_URI_MAX: usize = 5 * 1000 * 1000;
/// fal's single-upload limit.
pub(crate) const FAL_UPLOAD_MAX: usize = 100 * 1024 * 1024;

pub(crate) fn handle(call: &Call<'_>, path: &str) -> (Option<Provider>, Reply) {
    let rest = path.trim_start_matches("/uploads/");
    if let Some(id) = rest.strip_prefix("runway/") {
        return (
            Some(Provider::Runway),
            Reply::new(Endpoint::Upload, runway_form(call, id)),
        );
    }
    if rest.starts_with("fal-rest/storage/auth/token") && call.method == Method::POST {
        return (Some(Provider::Fal), fal_token(call));
    }
    if rest == "fal-cdn/files/upload" && call.method == Method::POST {
        return (Some(Provider::Fal), fal_upload(call));
    }
    if let Some(file) = rest.strip_prefix("fal-cdn/files/")
        && call.method == Method::GET
    {
        let id = file.split('/').next().unwrap_or_default();
        return (Some(Provider::Fal), Reply::unrouted(serve(call.state, id)));
    }
    (
        None,
        Reply::unrouted((StatusCode::NOT_FOUND, "not found").into_response()),
    )
}

/// An uploaded file's bytes.
pub(crate) fn serve(state: &State, id: &str) -> Response {
    match state.upload(id) {
        Some(u) => ([(header::CONTENT_TYPE, u.content_type)], u.bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
        .into_response()
}

/// Runway's presigned POST target: the form's `key` must name the reserved upload.
fn runway_form(call: &Call<'_>, id: &str) -> Response {
    if call.body.len() > RUNWAY_UPLOAD_MAX {
        return xml_error(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        );
    }
    let parts = multipart(call.headers, call.body);
    let key = parts
        .iter()
        .find(|p| p.name == "key")
        .map(|p| String::from_utf8_lossy(&p.data).into_owned());
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
        );
    };
    if key.as_deref() != Some(id) {
        return xml_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\"]",
        );
    }
    if !call
        .state
        .fill_upload(id, &file.content_type, file.data.clone())
    {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    StatusCode::NO_CONTENT.into_response()
}

fn fal_token(call: &Call<'_>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Upload, r);
    if !call.state.key_ok(call.credential("Key")) {
        return reply(json(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid Key Authorization header format." }),
        ));
    }
    if let Some(rule) = call.state.fault(Provider::Fal, Endpoint::Upload)
        && let Some(r) = early_fault(&rule, Endpoint::Upload, |kind| match kind {
            FaultKind::RateLimited => Some(json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "detail": "Too many requests." }),
            )),
            FaultKind::Unavailable | FaultKind::ServerError => Some(json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "detail": "Storage is unavailable." }),
            )),
            _ => None,
        })
    {
        return reply(r);
    }
    let token = call.state.issue_token(Duration::from_secs(3600));
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    reply(json(
        StatusCode::OK,
        json!({
            "token": token,
            "token_type": "Bearer",
            "base_url": format!("{}/uploads/fal-cdn", call.state.root),
            "expires_at": expires,
        }),
    ))
}

fn fal_upload(call: &Call<'_>) -> Reply {
    let reply = |r| Reply::new(Endpoint::Upload, r);
    if !call.state.token_ok(call.credential("Bearer")) {
        return reply(json(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid or expired upload token" }),
        ));
    }
    if call.body.len() > FAL_UPLOAD_MAX {
        return reply(json(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "detail": "File is too large; use the multipart upload" }),
        ));
    }
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let name = call
        .headers
        .get("x-fal-file-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("upload.bin")
        .to_owned();
    let id = call
        .state
        .store_upload(Provider::Fal, content_type, call.body.clone());
    reply(json(
        StatusCode::OK,
        json!({ "access_url": format!("{}/uploads/fal-cdn/files/{id}/{name}", call.state.root) }),
    ))
}

/// Checks Runway `promptImage` URIs: data URIs within 5 MB, `runway://` names an upload.
pub(crate) fn check_runway_images(
    state: &State,
    body: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    let uris: Vec<&str> = match body.get("promptImage") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("uri").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    for uri in uris {
        if uri.starts_with("data:") && uri.len() > RUNWAY_URI_MAX {
            return Err(format!(
                "promptImage: the data URI is {} bytes; data URIs are limited to 5MB, use the uploads API for larger files",
                uri.len()
            ));
        }
        if let Some(id) = uri.strip_prefix("runway://")
            && state.upload(id).is_none()
        {
            return Err(format!(
                "promptImage: {uri} does not refer to an uploaded file"
            ));
        }
    }
    Ok(())
}

/// Checks fal image inputs: data URIs within 5 MB, CDN URLs name an upload.
pub(crate) fn check_fal_images(
    state: &State,
    body: &serde_json::Map<String, Value>,
) -> Result<(), (String, String)> {
    let cdn = format!("{}/uploads/fal-cdn/files/", state.root);
    for (key, value) in body {
        let Some(s) = value.as_str() else { continue };
        if s.starts_with("data:") && s.len() > FAL_URI_MAX {
            return Err((
                key.clone(),
                format!(
                    "the data URI is {} bytes; upload files over 5MB to fal storage",
                    s.len()
                ),
            ));
        }
        if let Some(rest) = s.strip_prefix(&cdn)
            && state
                .upload(rest.split('/').next().unwrap_or_default())
                .is_none()
        {
            return Err((key.clone(), "the file does not exist".to_owned()));
        }
        let _ = inline_size(s, false);
    }
    Ok(())
}

/// One part of a multipart form.
pub(crate) struct Part {
    pub name: String,
    pub content_type: String,
    pub data: Bytes,
}

/// The parts of a `multipart/form-data` body (enough of RFC 7578 for the clients here).
pub(crate) fn multipart(headers: &HeaderMap, body: &Bytes) -> Vec<Part> {
    let Some(boundary) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("boundary=").nth(1))
        .map(|b| format!("--{}", b.trim_matches('"')))
    else {
        return Vec::new();
    };
    let delimiter = boundary.as_bytes();
    let mut parts = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(&body[at..], delimiter) {
        starts.push(at + pos);
        at += pos + delimiter.len();
    }
    for pair in starts.windows(2) {
        let chunk = body.slice(pair[0] + delimiter.len()..pair[1]);
        let Some(split) = find(&chunk, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&chunk[..split]).into_owned();
        let mut data = chunk.slice(split + 4..);
        if data.ends_with(b"\r\n") {
            data = data.slice(..data.len() - 2);
        }
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("content-type:")
                    .then(|| l[13..].trim().to_owned())
            })
            .unwrap_or_default();
        parts.push(Part {
            name,
            content_type,
            data,
        });
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
