//! Backpressure settings: how many jobs run at once (over all backends and per backend), and
//! how fast requests go to each provider. The layers that apply them are
//! [`crate::layers::concurrency`] and [`crate::layers::rate_limit`]; this module holds the
//! configuration and refuses values that would stop everything. Nothing here knows a
//! provider; limits are keyed by canonical backend name.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Limits as configured. Deserialisable so the configuration can fill it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Jobs in flight at once over all backends; unlimited when absent.
    pub max_jobs: Option<u32>,
    /// Limits of single backends, by canonical name.
    pub backends: BTreeMap<String, BackendLimits>,
}

/// Limits of one backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendLimits {
    /// Jobs in flight at once on this backend.
    pub max_jobs: Option<u32>,
    /// Requests per second sent to the provider (submits, polls, downloads, cancels).
    pub requests_per_second: Option<f64>,
    /// Requests that may go at once before the rate applies; 1 when absent.
    pub burst: Option<u32>,
}

/// Checks every limit, naming the first one that would stop everything.
pub fn validate(settings: &LimitSettings) -> Result<()> {
    if let Some(n) = settings.max_jobs {
        semaphore("limits.max_jobs", n)?;
    }
    for (name, b) in &settings.backends {
        if let Some(n) = b.max_jobs {
            semaphore(&format!("limits.backends.{name}.max_jobs"), n)?;
        }
        quota(name, b)?;
    }
    Ok(())
}

/// A semaphore of `n` places; `field` names the setting when `n` is 0.
pub(crate) fn semaphore(field: &str, n: u32) -> Result<Arc<Semaphore>> {
    if n == 0 {
        return Err(Error::config(format!(
            "{field}: 0 would stop every job; use 1 or more, or leave it out"
        )));
    }
    Ok(Arc::new(Semaphore::new(n as usize)))
}

/// The token-bucket quota of backend `name`, when it has a rate.
pub(crate) fn quota(name: &str, b: &BackendLimits) -> Result<Option<Quota>> {
    let Some(rps) = b.requests_per_second else {
        return Ok(None);
    };
    let field = format!("limits.backends.{name}.requests_per_second");
    let period = (rps.is_finite() && rps > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / rps).ok())
        .flatten()
        .filter(|p| !p.is_zero())
        .ok_or_else(|| Error::config(format!("{field}: {rps} is not a positive rate")))?;
    let burst = NonZeroU32::new(b.burst.unwrap_or(1))
        .ok_or_else(|| Error::config(format!("limits.backends.{name}.burst: use 1 or more")))?;
    let quota = Quota::with_period(period)
        .ok_or_else(|| Error::config(format!("{field}: {rps} is too fast")))?
        .allow_burst(burst);
    Ok(Some(quota))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml_like: serde_json::Value) -> LimitSettings {
        serde_json::from_value(yaml_like).unwrap()
    }

    #[test]
    fn limits_that_would_stop_everything_are_refused() {
        let err = validate(&settings(serde_json::json!({ "max_jobs": 0 }))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.max_jobs: 0 would stop every job; use 1 or more, or leave it out"
        );
        let err = validate(&settings(serde_json::json!({
            "backends": { "fal": { "requests_per_second": -1.0 } }
        })))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.backends.fal.requests_per_second: -1 is not a positive rate"
        );
        let err = validate(&settings(serde_json::json!({
            "backends": { "fal": { "requests_per_second": 2.0, "burst": 0 } }
        })))
        .unwrap_err();
        assert_eq!(err.to_string(), "limits.backends.fal.burst: use 1 or more");
        validate(&settings(serde_json::json!({
            "max_jobs": 4, "backends": { "fal": { "max_jobs": 1, "requests_per_second": 2.5 } }
        })))
        .unwrap();
    }
}
