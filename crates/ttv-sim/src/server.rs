//! HTTP plumbing shared by the simulated protocols: routing by prefix, the request log, the
//! admin endpoints (`/_sim/requests`, `/_sim/paid_submits`, `/_sim/tasks[/{id}]`), output
//! downloads and the fault responses that look the same everywhere (dropped connections, slow
//! and truncated bodies).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, stream};

use crate::config::{Endpoint, FaultKind, FaultRule};
use crate::log::Record;
use crate::state::{Phase, State};
use crate::{
    Provider, dashscope, fal, google, kling, luma, minimax, openai_chat, openai_images, replicate,
    runway, seedance, stability, uploads,
};

/// One parsed request, as the protocol modules see it.
pub(crate) struct Call<'a> {
    /// Shared, so that a protocol can schedule work past its answer (webhooks).
    pub state: &'a Arc<State>,
    pub method: &'a Method,
    /// The path after the provider prefix, starting with `/`.
    pub path: &'a str,
    pub query: HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
}

impl Call<'_> {
    /// The `Authorization` value after `scheme ` (`Bearer`, `Key`).
    pub fn credential(&self, scheme: &str) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (s, key) = value.split_once(' ')?;
        s.eq_ignore_ascii_case(scheme).then_some(key.trim())
    }

    pub fn json(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(self.body).ok()
    }
}

/// What a protocol module answers.
pub(crate) struct Reply {
    pub response: Response,
    pub endpoint: Option<Endpoint>,
    pub paid: bool,
    /// The task the call created or addressed, for the request log.
    pub task: Option<String>,
}

impl Reply {
    pub fn new(endpoint: Endpoint, response: Response) -> Self {
        Self {
            endpoint: Some(endpoint),
            ..Self::unrouted(response)
        }
    }

    /// An answer to a call that addresses no known endpoint (404s, the token endpoint).
    pub fn unrouted(response: Response) -> Self {
        Self {
            response,
            endpoint: None,
            paid: false,
            task: None,
        }
    }

    pub fn paid(mut self) -> Self {
        self.paid = true;
        self
    }

    /// Names the task the call concerned.
    pub fn task(mut self, id: impl Into<String>) -> Self {
        self.task = Some(id.into());
        self
    }
}

pub(crate) fn router(state: Arc<State>) -> Router {
    // Bodies up to 256 MiB reach the protocols, which enforce each provider's own limits.
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(state)
}

async fn handle(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = state.now();
    let path = uri.path().to_owned();
    let query = parse_query(uri.query());
    let (provider, rest) = match path.trim_start_matches('/').split_once('/') {
        Some((p, rest)) => (
            Provider::every().find(|x| x.prefix() == p),
            format!("/{rest}"),
        ),
        None => (None, path.clone()),
    };
    let call = Call {
        state: &state,
        method: &method,
        path: &rest,
        query,
        headers: &headers,
        body: &body,
    };
    let (provider, reply) = match provider {
        Some(Provider::Runway) => (Some(Provider::Runway), runway::handle(&call)),
        Some(Provider::Minimax) => (Some(Provider::Minimax), minimax::handle(&call)),
        Some(Provider::Fal) if fal::is_status_stream(&method, &rest) => (
            Some(Provider::Fal),
            fal::status_stream(&call, state.clone()),
        ),
        Some(Provider::Fal) => (Some(Provider::Fal), fal::handle(&call)),
        Some(p @ (Provider::Gemini | Provider::Vertex)) => {
            (Some(p), google::handle(&call, p).await)
        }
        Some(Provider::Kling) => (Some(Provider::Kling), kling::handle(&call)),
        Some(Provider::Luma) => (Some(Provider::Luma), luma::handle(&call).await),
        Some(Provider::Replicate) => (Some(Provider::Replicate), replicate::handle(&call).await),
        Some(Provider::Seedance) => (Some(Provider::Seedance), seedance::handle(&call)),
        Some(Provider::Dashscope) => (Some(Provider::Dashscope), dashscope::handle(&call)),
        Some(Provider::OpenAi) if call.path.ends_with("/chat/completions") => {
            (Some(Provider::OpenAi), openai_chat::handle(&call))
        }
        Some(Provider::OpenAi) => (Some(Provider::OpenAi), openai_images::handle(&call).await),
        Some(Provider::Stability) => (Some(Provider::Stability), stability::handle(&call).await),
        None if path.starts_with("/uploads/") => uploads::handle(&call, &path),
        None if path.starts_with("/files/") => download(&call, &path).await,
        None => (None, admin(&state, &path)),
    };
    // A reset looks like a 200 whose body never arrives; it is logged as no status.
    let status = if reply.response.headers().contains_key(RESET_MARK) {
        0
    } else {
        reply.response.status().as_u16()
    };
    state.record(Record {
        received_at,
        provider,
        endpoint: reply.endpoint,
        task: reply.task,
        method: method.to_string(),
        path,
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
        paid: reply.paid,
    });
    let mut response = reply.response;
    response.headers_mut().remove(RESET_MARK);
    // A held answer is logged at once (the request did arrive), then sent late.
    if let Some(wait) = response.headers_mut().remove(HOLD_MARK) {
        let ms = wait.to_str().ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    response
}

const RESET_MARK: &str = "x-ttv-sim-reset";
const HOLD_MARK: &str = "x-ttv-sim-hold-ms";

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

fn admin(state: &State, path: &str) -> Reply {
    let response = match path {
        "/_sim/requests" => axum::Json(state.records()).into_response(),
        "/_sim/tasks" => axum::Json(state.timelines()).into_response(),
        "/_sim/webhooks" => axum::Json(state.webhooks_sent()).into_response(),
        p if p.starts_with("/_sim/tasks/") => {
            match state.task_timeline(p.trim_start_matches("/_sim/tasks/")) {
                Some(t) => axum::Json(t).into_response(),
                None => (StatusCode::NOT_FOUND, "no such task").into_response(),
            }
        }
        "/_sim/faults" => axum::Json(state.faults_fired()).into_response(),
        "/_sim/paid_submits" => {
            let records = state.records();
            let counts: BTreeMap<_, _> = Provider::every()
                .map(|p| {
                    let n = records
                        .iter()
                        .filter(|r| r.provider == Some(p) && r.paid)
                        .count();
                    (p.prefix(), n)
                })
                .collect();
            axum::Json(counts).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    Reply::unrouted(response)
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// A JSON reply kept as a value, so a fault can resend it slowly.
pub(crate) struct JsonReply(pub StatusCode, pub serde_json::Value);

impl JsonReply {
    pub fn clone_json(&self) -> Response {
        json(self.0, self.1.clone())
    }
}

impl From<JsonReply> for Response {
    fn from(r: JsonReply) -> Self {
        json(r.0, r.1)
    }
}

/// Adds `Retry-After` when the rule has one.
pub(crate) fn retry_after(mut response: Response, rule: &FaultRule) -> Response {
    if let Some(secs) = rule.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A response whose connection drops before any body byte: the client gets an I/O error.
pub(crate) fn reset() -> Response {
    let body = Body::from_stream(stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        ))
    }));
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(RESET_MARK, HeaderValue::from_static("1"));
    response
}

/// Sends `response`'s body in 64-byte pieces with `delay` before each.
pub(crate) fn slow(response: Response, delay: Duration) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let chunks = stream::once(async move {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default()
    })
    .flat_map(|all| {
        let pieces: Vec<Bytes> = (0..all.len())
            .step_by(64)
            .map(|at| all.slice(at..(at + 64).min(all.len())))
            .collect();
        stream::iter(pieces)
    })
    .then(move |chunk| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, std::io::Error>(chunk)
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

/// Applies the faults every protocol answers the same way, after the request was read (and,
/// on submit, the task created); `None` for protocol-specific ones.
pub(crate) fn transport_fault(
    rule: &FaultRule,
    body: impl FnOnce() -> Response,
) -> Option<Response> {
    match rule.fault {
        FaultKind::ConnectionReset => Some(reset()),
        FaultKind::SlowBody => Some(slow(
            body(),
            Duration::from_millis(rule.delay_ms.unwrap_or(200)),
        )),
        FaultKind::NoAnswer => {
            let mut response = body();
            let ms = rule.delay_ms.unwrap_or(60_000).to_string();
            if let Ok(v) = HeaderValue::from_str(&ms) {
                response.headers_mut().insert(HOLD_MARK, v);
            }
            Some(response)
        }
        FaultKind::BadGateway => Some(gateway(StatusCode::BAD_GATEWAY)),
        FaultKind::GatewayTimeout => Some(gateway(StatusCode::GATEWAY_TIMEOUT)),
        _ => None,
    }
}

/// The HTML page a load balancer answers with when the API behind it fails.
fn gateway(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html")],
        format!("<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>\n"),
    )
        .into_response()
}

async fn download(call: &Call<'_>, path: &str) -> (Option<Provider>, Reply) {
    let state = call.state;
    let id = path
        .trim_start_matches("/files/")
        .trim_end_matches(".mp4")
        .to_owned();
    let Some(job) = state.job(&id) else {
        return (None, Reply::new(Endpoint::Download, not_found_xml()));
    };
    let provider = Some(job.provider);
    let reply = |r| (provider, Reply::new(Endpoint::Download, r).task(&job.id));
    let expires: u64 = call
        .query
        .get("expires")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    reply(serve_video(state, &job, state.expired(expires), call.headers).await)
}

/// The output video of `job` (or the range `headers` ask for), with any download fault drawn
/// for its provider applied.
pub(crate) async fn serve_video(
    state: &State,
    job: &crate::state::Job,
    expired: bool,
    headers: &HeaderMap,
) -> Response {
    let fault = state.fault(job.provider, Endpoint::Download);
    if expired
        || fault
            .as_ref()
            .is_some_and(|f| f.fault == FaultKind::ExpiredUrl)
    {
        return expired_xml();
    }
    if state.phase(job) != Phase::Succeeded {
        return not_found_xml();
    }
    let video = match state.videos.get(job.size, job.duration_secs).await {
        Ok(v) => v,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let full = || ranged(&video, headers);
    let Some(rule) = fault else {
        return full();
    };
    match rule.fault {
        FaultKind::TruncatedDownload => {
            let half = video.slice(..video.len() / 2);
            // A pause before the reset lets the half actually leave the server.
            let body =
                Body::from_stream(stream::once(async { Ok(half) }).chain(stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "simulated truncated download",
                    ))
                })));
            let mut r = Response::new(body);
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
            if let Ok(v) = HeaderValue::from_str(&video.len().to_string()) {
                h.insert(header::CONTENT_LENGTH, v);
            }
            r
        }
        FaultKind::RateLimited => retry_after(StatusCode::TOO_MANY_REQUESTS.into_response(), &rule),
        FaultKind::Unavailable => {
            retry_after(StatusCode::SERVICE_UNAVAILABLE.into_response(), &rule)
        }
        FaultKind::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => transport_fault(&rule, full).unwrap_or_else(full),
    }
}

/// The video, or the part a `Range: bytes=N-` asks for (206), as storage servers answer.
fn ranged(video: &Bytes, headers: &HeaderMap) -> Response {
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    let len = video.len();
    match start {
        Some(at) if at < len => {
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                [(header::CONTENT_TYPE, "video/mp4")],
                video.slice(at..),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {at}-{}/{len}", len - 1)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Some(_) => StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => (
            [
                (header::CONTENT_TYPE, "video/mp4"),
                (header::ACCEPT_RANGES, "bytes"),
            ],
            video.clone(),
        )
            .into_response(),
    }
}

fn expired_xml() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    )
        .into_response()
}

fn not_found_xml() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
    )
        .into_response()
}

/// The output size for a `W:H` pixel string such as Runway's ratios.
pub(crate) fn size_from_ratio(ratio: &str) -> Option<ttv::Resolution> {
    let (w, h) = ratio.split_once(':')?;
    Some(ttv::Resolution::new(w.parse().ok()?, h.parse().ok()?))
}

/// The answer to a fault that stops a call before it does anything, in the protocol's own
/// words (`answer` gives the response for the fault kind, `None` for kinds it has none for):
/// a refused key, a rate limit or unavailability anywhere; an empty balance or a moderation
/// refusal on submit; a server error on any call but submit (a submit's server error happens
/// after the task is made). `Retry-After` is added where the rule has one.
pub(crate) fn early_fault(
    rule: &FaultRule,
    endpoint: Endpoint,
    answer: impl Fn(FaultKind) -> Option<Response>,
) -> Option<Response> {
    let applies = match rule.fault {
        FaultKind::InvalidKey | FaultKind::RateLimited | FaultKind::Unavailable => true,
        FaultKind::InsufficientBalance | FaultKind::Moderation => endpoint == Endpoint::Submit,
        FaultKind::ServerError => endpoint != Endpoint::Submit,
        _ => false,
    };
    let response = applies.then(|| answer(rule.fault)).flatten()?;
    Some(match rule.fault {
        FaultKind::RateLimited | FaultKind::Unavailable => retry_after(response, rule),
        _ => response,
    })
}

/// `answer` with a fault that strikes after the work is done: a server error (the task exists
/// but the reply says 500), a dropped connection, or a slow body.
pub(crate) fn after_fault(
    fault: Option<&FaultRule>,
    answer: JsonReply,
    server_error: impl FnOnce() -> Response,
) -> Response {
    match fault {
        Some(rule) if rule.fault == FaultKind::ServerError => server_error(),
        Some(rule) => transport_fault(rule, || answer.clone_json()).unwrap_or(answer.into()),
        None => answer.into(),
    }
}

/// The decoded size of a data URI (or of bare base64 when `bare`), `None` when it is not one.
pub(crate) fn inline_size(value: &str, bare: bool) -> Option<usize> {
    let b64 = if bare {
        value
    } else {
        value.strip_prefix("data:")?.split_once(";base64,")?.1
    };
    let len = b64.trim_end_matches('=').len();
    (!value.starts_with("http")).then_some(len * 3 / 4)
}
