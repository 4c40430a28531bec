//! Small helpers the hosted backends share: choosing a provider's fixed frame size for a
//! request, collecting validation problems, and the "missing key" availability text. Nothing
//! here knows a provider.

use std::borrow::Cow;

use crate::backend::Availability;
use crate::capabilities::{Capabilities, Resolved};
use crate::error::{Error, Problem, Result};
use crate::request::{AspectRatio, GenerationRequest, Resolution, ResolutionSpec};

/// When the request names no exact size, picks the size among `sizes` whose aspect is closest
/// to the request's (asked aspect, else first image, else landscape) and whose short side is
/// nearest the asked tier (else `default_tier`). The picked size replaces the aspect so that
/// the shared check sees one consistent request.
pub(crate) fn with_provider_size<'a>(
    req: &'a GenerationRequest,
    sizes: &[Resolution],
    default_tier: u32,
) -> Cow<'a, GenerationRequest> {
    if matches!(req.resolution, Some(ResolutionSpec::Exact(_))) || sizes.is_empty() {
        return Cow::Borrowed(req);
    }
    let aspects: Vec<AspectRatio> = sizes.iter().filter_map(|s| s.aspect()).collect();
    let aspect = req.effective_aspect(&aspects, AspectRatio::LANDSCAPE);
    let asked = match req.resolution {
        Some(ResolutionSpec::Tier(t)) => Some(t),
        _ => None,
    };
    let tier = asked.unwrap_or(default_tier);
    // Aspect first; among near-equal aspects (1366x768 against 1920x1080) the tier decides.
    let distance = |s: &Resolution| {
        let a = s.aspect().map_or(1.0, AspectRatio::value);
        let da = (a.ln() - aspect.value().ln()).abs();
        let dt = (f64::from(s.short_side()) - f64::from(tier)).abs() / 1e4;
        da + dt
    };
    let Some(best) = sizes
        .iter()
        .copied()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))
    else {
        return Cow::Borrowed(req);
    };
    if asked.is_some_and(|t| t != best.short_side()) {
        // A tier the provider does not offer at this aspect: let the shared check say so.
        return Cow::Borrowed(req);
    }
    let mut owned = req.clone();
    owned.resolution = Some(ResolutionSpec::Exact(best));
    if owned.aspect_ratio.is_some_and(|a| best.aspect() != Some(a)) {
        owned.aspect_ratio = None;
    }
    Cow::Owned(owned)
}

/// The model called `name` among `models`: the exact id, else the one that differs only in
/// case (`i2v-01-director` is `I2V-01-Director`). Otherwise a `Config` error on `field`
/// listing the ids, with the closest one as a suggestion.
pub(crate) fn find_model<'a, M>(
    models: &'a [M],
    name: &str,
    field: &str,
    id: impl Fn(&M) -> &str,
) -> Result<&'a M> {
    let name = name.trim();
    if let Some(m) = models
        .iter()
        .find(|m| id(m) == name)
        .or_else(|| models.iter().find(|m| id(m).eq_ignore_ascii_case(name)))
    {
        return Ok(m);
    }
    let lower = name.to_ascii_lowercase();
    let best = models
        .iter()
        .map(|m| {
            (
                strsim::jaro_winkler(&lower, &id(m).to_ascii_lowercase()),
                id(m),
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score >= 0.85)
        .map(|(_, n)| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    let names: Vec<&str> = models.iter().map(&id).collect();
    Err(Error::config(format!(
        "{field}: unknown model {name:?}{best}; known models are {}",
        names.join(", ")
    )))
}

/// Runs the shared check, adding `more` problems found by the backend's own rules.
pub(crate) fn resolve_with(
    caps: &Capabilities,
    req: &GenerationRequest,
    backend: &str,
    more: impl FnOnce(Option<&Resolved>, &mut Vec<Problem>),
) -> Result<Resolved> {
    let mut problems = Vec::new();
    let resolved = match caps.resolve(req) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.extend(e.problems().iter().cloned());
            None
        }
    };
    more(resolved.as_ref(), &mut problems);
    match resolved {
        Some(r) if problems.is_empty() => Ok(r),
        _ => Err(Error::invalid(problems).with_backend(backend)),
    }
}

/// `Available` with a key, else `Unavailable` naming where the key goes.
pub(crate) fn availability(
    key: Option<&crate::http::ApiKey>,
    env: &str,
    config_key: &str,
) -> Availability {
    match key {
        Some(_) => Availability::Available,
        None => Availability::Unavailable {
            reason: format!("set {env} or {config_key}"),
        },
    }
}

/// Problems for every `extra` key not in `allowed`.
pub(crate) fn unknown_extras(
    req: &GenerationRequest,
    allowed: &[&str],
    backend: &str,
    problems: &mut Vec<Problem>,
) {
    for (key, value) in &req.extra {
        if !allowed.contains(&key.as_str()) {
            let what = if allowed.is_empty() {
                format!("no such option: {backend} takes no extra options")
            } else {
                format!("one of {}", allowed.join(", "))
            };
            problems.push(Problem::new(format!("extra.{key}"), value, what));
        }
    }
}

/// Parses `W:H` pixel strings.
pub(crate) fn sizes(ratios: &[&str]) -> Vec<Resolution> {
    ratios
        .iter()
        .filter_map(|r| {
            let (w, h) = r.split_once(':')?;
            Some(Resolution::new(w.parse().ok()?, h.parse().ok()?))
        })
        .collect()
}

/// Downloads a URL output with the shared client; hosted backends have no other kind.
pub(crate) async fn fetch_url(
    client: &reqwest::Client,
    output: &crate::backend::Output,
    into: &std::path::Path,
    events: crate::backend::EventSink<'_>,
    backend: &'static str,
) -> Result<u64> {
    let crate::backend::Output::Url { url } = output else {
        return Err(Error::new(
            crate::error::ErrorKind::Unsupported,
            format!("{backend} outputs are URLs, not local files"),
        )
        .with_backend(backend));
    };
    crate::http::download(client, url, into, events)
        .await
        .map_err(|e| e.with_backend(backend))
}

/// The key, or an `Auth` error naming the variable to set. Checked before any request.
pub(crate) fn key<'a>(
    key: Option<&'a crate::http::ApiKey>,
    env: &str,
    backend: &'static str,
) -> Result<&'a str> {
    key.map(crate::http::ApiKey::expose).ok_or_else(|| {
        Error::new(
            crate::error::ErrorKind::Auth,
            format!("no API key: set {env}"),
        )
        .with_backend(backend)
    })
}

/// Sends one call and returns the reply when it is a 2xx; otherwise the provider's own mapping
/// (`on_error`, from the provider's `error.rs`) turns it into an error. Transport failures are
/// classified by [`crate::http::send`]. Every error names `backend`.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    call: crate::http::Call,
    backend: &'static str,
    on_error: fn(&crate::http::Reply, crate::http::Call) -> Error,
) -> Result<crate::http::Reply> {
    let reply = crate::http::send(request, call)
        .await
        .map_err(|e| e.with_backend(backend))?;
    if reply.status.is_success() {
        Ok(reply)
    } else {
        Err(on_error(&reply, call).with_backend(backend))
    }
}

/// [`exchange`], then the body as JSON of type `T`.
pub(crate) async fn exchange_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    call: crate::http::Call,
    backend: &'static str,
    on_error: fn(&crate::http::Reply, crate::http::Call) -> Error,
) -> Result<T> {
    exchange(request, call, backend, on_error)
        .await?
        .json(call)
        .map_err(|e| e.with_backend(backend))
}

/// A job status the provider reported that this backend does not know: worth asking again
/// (a new status may have been added), never a reason to give the job up.
pub(crate) fn unknown_status(what: &str, backend: &'static str) -> Error {
    Error::new(
        crate::error::ErrorKind::Transient,
        format!("unknown task status {what:?}"),
    )
    .with_backend(backend)
}

/// A job the provider says succeeded but whose answer has no video to fetch.
pub(crate) fn no_output(backend: &'static str) -> crate::backend::Status {
    crate::backend::Status::Failed(
        Error::new(
            crate::error::ErrorKind::JobFailed,
            "the task succeeded without an output URL",
        )
        .with_spend(crate::error::Spend::Yes)
        .with_backend(backend),
    )
}

/// The error for a provider without a cancel call: the job runs to its end and is billed.
pub(crate) fn no_cancel(backend: &'static str, provider: &str, id: &str) -> Error {
    Error::new(
        crate::error::ErrorKind::Unsupported,
        format!("{provider} has no cancel call; task {id} will run to the end (and is billed)"),
    )
    .with_backend(backend)
}

/// Problems for images too big for every way a backend has to send them: inline up to
/// `inline_max` bytes, by upload up to `upload_max` when the backend has an upload path here
/// (`None`: none is configured, so the message says which one to configure). Checked before
/// anything is spent.
pub(crate) fn check_image_delivery(
    req: &GenerationRequest,
    inline_max: u64,
    upload_max: Option<u64>,
    backend: &str,
    problems: &mut Vec<Problem>,
) {
    for (field, image) in [("image", &req.image), ("last_frame", &req.last_frame)] {
        let Some(image) = image else { continue };
        let bytes = image.bytes().len() as u64;
        if crate::media::delivery::fits_inline(image, inline_max) {
            continue;
        }
        match upload_max {
            Some(max) if bytes <= max => {}
            Some(max) => problems.push(Problem::new(
                field,
                format!("{} ({bytes} bytes)", image.source()),
                format!("an image of at most {max} bytes (the largest {backend} accepts by upload)"),
            )),
            None => problems.push(Problem::new(
                field,
                format!("{} ({bytes} bytes)", image.source()),
                if inline_max == 0 {
                    format!(
                        "an image {backend} can fetch by URL: {backend} takes images only as URLs, so configure an upload bucket (uploads.store: s3://bucket/prefix, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and ttv uploads it and passes a presigned URL"
                    )
                } else {
                    format!(
                        "at most {inline_max} bytes inline; {backend} takes larger images only as URLs, so configure an upload bucket (uploads.store: s3://bucket/prefix, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and ttv uploads it and passes a presigned URL"
                    )
                },
            )),
        }
    }
}

/// Sends `image` inline (`inline` makes the text, `via` names the form) when it fits
/// `inline_max`, else through the upload bucket. [`check_image_delivery`] has already refused
/// an image that fits neither, so a missing bucket here is a configuration error.
pub(crate) async fn inline_or_bucket(
    field: &str,
    image: &crate::media::image::ImageInput,
    inline_max: u64,
    bucket: Option<&crate::services::bucket::Bucket>,
    inline: fn(&crate::media::image::ImageInput) -> String,
    via: &str,
    backend: &'static str,
) -> Result<(String, crate::media::delivery::Delivery)> {
    if crate::media::delivery::fits_inline(image, inline_max) {
        return Ok((
            inline(image),
            crate::media::delivery::Delivery::inline(field, image, via),
        ));
    }
    let Some(bucket) = bucket else {
        return Err(Error::config(format!(
            "{field}: {} is too big to send inline and no upload bucket is configured (uploads.store)",
            image.source()
        ))
        .with_backend(backend));
    };
    bucket
        .deliver(field, image)
        .await
        .map_err(|e| e.with_backend(backend))
}
