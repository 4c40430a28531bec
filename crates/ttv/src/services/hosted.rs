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
