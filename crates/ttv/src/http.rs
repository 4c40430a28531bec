//! HTTP plumbing shared by every hosted backend: the client, API keys that never print,
//! sending a call and classifying its failure, `Retry-After`, and streaming a video to disk
//! with a size check.
//!
//! The classification here is generic (status codes and transport failures); a provider's
//! folder reads its own error bodies first and calls [`status_error`] for the rest. Whether a
//! failed call may have spent money depends on whether it was the paid call ([`Call::Paid`]):
//! only a failure that provably happened before the provider got the request (connection
//! refused, DNS, 429, 503 with `Retry-After`) is `Spend::No` for a paid call.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, RANGE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

use crate::backend::{Event, EventSink};
use crate::error::{Error, ErrorKind, Result, Spend};

/// The largest video a backend will download.
pub const MAX_DOWNLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// A provider API key. Prints as `***` in `Debug` and `Display`; [`ApiKey::expose`] is the
/// only way to the text, used when building a request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Serialises as `***`: a configuration printed or saved never carries the key.
impl serde::Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Reads a key from a configuration value. Numbers are taken as their text, since a key made
/// of digits reads as a number in YAML.
impl<'de> serde::Deserialize<'de> for ApiKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ApiKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret as text")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<ApiKey, E> {
                Ok(ApiKey::new(v.trim()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<ApiKey, E> {
                Ok(ApiKey::new(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<ApiKey, E> {
                Ok(ApiKey::new(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Whether a call is the one that may spend money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Creates a paid job: ambiguous failures are `Spend::Maybe`.
    Paid,
    /// Reads or cancels: free to repeat.
    Free,
}

impl Call {
    fn ambiguous(self) -> Spend {
        match self {
            Self::Paid => Spend::Maybe,
            Self::Free => Spend::No,
        }
    }
}

/// A complete answer: status, headers and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON of type `T`. A body that does not parse is a `Transient` error (and
    /// `Spend::Maybe` for a paid call: the provider answered, so the job may exist).
    pub fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::Transient,
                format!(
                    "unexpected answer (HTTP {}): {e}: {}",
                    self.status.as_u16(),
                    snippet(&self.body)
                ),
            )
            .with_spend(call.ambiguous())
        })
    }

    /// The body as loose JSON, `Null` when it is not JSON.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// The shared client: rustls, connect timeout 10 s, read timeout 60 s, no total timeout (a
/// download may take long; a stalled one does not).
pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("ttv/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")).with_source(e))
}

/// Sends `request` and reads the whole answer. Transport failures become errors; any HTTP
/// status is returned for the caller to judge.
pub async fn send(request: RequestBuilder, call: Call) -> Result<Reply> {
    if call == Call::Paid {
        // From here on a deadline cannot prove the provider never got the request.
        crate::layers::timeout::mark_sent();
    }
    let response = request.send().await.map_err(|e| transport_error(e, call))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(e, call))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Classifies a failure to talk to the provider.
pub fn transport_error(e: reqwest::Error, call: Call) -> Error {
    let (kind, spend, what) = if e.is_connect() {
        (ErrorKind::Transient, Spend::No, "cannot connect")
    } else if e.is_timeout() {
        (ErrorKind::Transient, call.ambiguous(), "timed out")
    } else if e.is_builder() {
        (ErrorKind::Config, Spend::No, "bad request URL")
    } else {
        (
            ErrorKind::Transient,
            call.ambiguous(),
            "the connection failed",
        )
    };
    // A paid call's `Spend::Maybe` says the rest; the job runner explains it to the user.
    Error::new(kind, format!("{what}: {e}"))
        .with_spend(spend)
        .with_source(e.without_url())
}

/// The wait a `Retry-After` (or `retry-after-ms`) header asks for: seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The error for an HTTP status, with the provider's `message`.
pub fn status_error(status: StatusCode, headers: &HeaderMap, message: &str, call: Call) -> Error {
    let code = status.as_u16();
    let after = retry_after(headers);
    let (kind, spend) = match code {
        429 => (ErrorKind::RateLimited, Spend::No),
        503 if after.is_some() => (ErrorKind::Transient, Spend::No),
        500..=599 => (ErrorKind::Transient, call.ambiguous()),
        401 | 403 => (ErrorKind::Auth, Spend::No),
        402 => (ErrorKind::QuotaExceeded, Spend::No),
        404 if call == Call::Free => (ErrorKind::JobFailed, Spend::No),
        408 => (ErrorKind::Transient, call.ambiguous()),
        _ => (ErrorKind::InvalidRequest, Spend::No),
    };
    let mut text = format!("HTTP {code}: {message}");
    if kind == ErrorKind::Auth {
        text.push_str(" (check the API key)");
    }
    let mut err = Error::new(kind, text).with_spend(spend);
    if let Some(after) = after {
        err = err.with_retry_after(after);
    }
    err
}

/// Streams `url` into the file at `into`, reporting progress. Fails when the server announced
/// a size and sent a different number of bytes, or on any interruption; the caller deletes
/// the temporary file. An output URL refused with 403/404/410 has most likely expired
/// (`OutputExpired`: poll the job again for a fresh one).
///
/// When `into` already holds the start of the video (an earlier attempt broke off), only the
/// rest is asked for with `Range`; a server that ignores it sends everything again and the
/// file is started over.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    into: &Path,
    events: EventSink<'_>,
) -> Result<u64> {
    download_request(client.get(url), into, events).await
}

/// [`download`] with a request the caller built (for providers whose downloads need auth
/// headers); continues from what `into` already holds, as [`download`] does.
pub async fn download_request(
    request: RequestBuilder,
    into: &Path,
    events: EventSink<'_>,
) -> Result<u64> {
    let have = tokio::fs::metadata(into)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut request = request;
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(e, Call::Free))?;
    let status = response.status();
    if matches!(status.as_u16(), 403 | 404 | 410) {
        return Err(Error::new(
            ErrorKind::OutputExpired,
            format!(
                "the output URL was refused (HTTP {}); it has probably expired: poll the job again for a fresh URL",
                status.as_u16()
            ),
        ));
    }
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // What we hold does not fit what the server has: start again from nothing.
        truncate(into).await?;
        return Err(Error::new(
            ErrorKind::Transient,
            "the server refused to continue the download; starting it again",
        ));
    }
    if !status.is_success() {
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        return Err(status_error(status, &headers, &snippet(&body), Call::Free));
    }
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let resumed_at = resumed_from(&response, have);
    if status == StatusCode::PARTIAL_CONTENT && resumed_at.is_none() {
        truncate(into).await?;
        return Err(Error::new(
            ErrorKind::Transient,
            "the server continued the download from the wrong place; starting it again",
        ));
    }
    let mut received = resumed_at.unwrap_or(0);
    let total = length.map(|l| l + received);
    if total.is_some_and(|t| t > MAX_DOWNLOAD_BYTES) {
        return Err(too_big(total.unwrap_or_default()));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(resumed_at.is_none())
        .open(into)
        .await
        .map_err(|e| Error::io(format_args!("cannot create {}", into.display()), e))?;
    if resumed_at.is_some() {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(received))
            .await
            .map_err(|e| Error::io(format_args!("cannot write {}", into.display()), e))?;
        tracing::info!(from = received, "continuing a download");
    }
    events(Event::Downloading { received, total });
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                // Keep what arrived: the next attempt asks only for the rest.
                let _ = file.flush().await;
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "the download broke off after {received} bytes{}: {e}",
                        total.map(|t| format!(" of {t}")).unwrap_or_default()
                    ),
                ));
            }
        };
        received += chunk.len() as u64;
        if received > MAX_DOWNLOAD_BYTES {
            return Err(too_big(received));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(format_args!("cannot write {}", into.display()), e))?;
        events(Event::Downloading { received, total });
    }
    if let Some(total) = total
        && received != total
    {
        return Err(Error::new(
            ErrorKind::Transient,
            format!("the download is truncated: {received} of {total} bytes arrived"),
        ));
    }
    // Hand every byte to the OS; the caller's atomic commit fsyncs before publishing.
    file.flush()
        .await
        .map_err(|e| Error::io(format_args!("cannot write {}", into.display()), e))?;
    Ok(received)
}

/// The offset a `206 Partial Content` answer continues from, when it continues exactly
/// where our `have` bytes end.
fn resumed_from(response: &reqwest::Response, have: u64) -> Option<u64> {
    let range = response
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok());
    resume_offset(response.status(), range, have)
}

/// [`resumed_from`] on the parts of the answer: `status`, its `Content-Range` and the bytes
/// already held. Only a 206 whose range starts exactly at `have` (> 0) continues the file.
fn resume_offset(status: StatusCode, content_range: Option<&str>, have: u64) -> Option<u64> {
    if status != StatusCode::PARTIAL_CONTENT || have == 0 {
        return None;
    }
    let start = content_range?
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .parse::<u64>()
        .ok()?;
    (start == have).then_some(have)
}

async fn truncate(path: &Path) -> Result<()> {
    tokio::fs::File::create(path)
        .await
        .map(drop)
        .map_err(|e| Error::io(format_args!("cannot write {}", path.display()), e))
}

fn too_big(bytes: u64) -> Error {
    Error::new(
        ErrorKind::InvalidOutput,
        format!("the output is {bytes} bytes, more than the {MAX_DOWNLOAD_BYTES}-byte limit"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn api_keys_never_print() {
        let key = ApiKey::new("sk-very-secret");
        assert_eq!(format!("{key:?} {key}"), "*** ***");
        assert_eq!(key.expose(), "sk-very-secret");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut past = HeaderMap::new();
        past.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
    }

    #[test]
    fn paid_calls_are_ambiguous_only_on_server_errors_without_retry_after() {
        let none = HeaderMap::new();
        let mut later = HeaderMap::new();
        later.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        let e = |code: u16, h: &HeaderMap| {
            let err = status_error(StatusCode::from_u16(code).unwrap(), h, "x", Call::Paid);
            (err.kind(), err.spend())
        };
        assert_eq!(e(429, &none), (ErrorKind::RateLimited, Spend::No));
        assert_eq!(e(503, &later), (ErrorKind::Transient, Spend::No));
        assert_eq!(e(500, &none), (ErrorKind::Transient, Spend::Maybe));
        assert_eq!(e(502, &none), (ErrorKind::Transient, Spend::Maybe));
        assert_eq!(e(504, &none), (ErrorKind::Transient, Spend::Maybe));
        assert_eq!(e(401, &none), (ErrorKind::Auth, Spend::No));
        assert_eq!(e(400, &none), (ErrorKind::InvalidRequest, Spend::No));
        let free = status_error(StatusCode::BAD_GATEWAY, &none, "x", Call::Free);
        assert_eq!(free.spend(), Spend::No);
    }

    proptest::proptest! {
        #[test]
        fn a_download_continues_only_where_the_bytes_held_end(
            have in 0u64..10_000_000,
            start in 0u64..10_000_000,
            extra in 1u64..10_000_000,
            status in proptest::sample::select(vec![200u16, 206, 416, 500]),
        ) {
            let status = StatusCode::from_u16(status).unwrap();
            let total = start + extra;
            let range = format!("bytes {start}-{}/{total}", total - 1);
            let got = resume_offset(status, Some(&range), have);
            let continues = status == StatusCode::PARTIAL_CONTENT && have > 0 && start == have;
            proptest::prop_assert_eq!(got, continues.then_some(have));
            // No Content-Range, or one that is not a byte range, never continues.
            proptest::prop_assert_eq!(resume_offset(status, None, have), None);
            proptest::prop_assert_eq!(
                resume_offset(status, Some(&format!("items {start}-{total}")), have),
                None
            );
        }
    }
}
