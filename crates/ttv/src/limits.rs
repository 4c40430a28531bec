//! Backpressure: how many jobs run at once (over all backends and per backend), and how
//! fast requests go to each provider (a client-side token bucket, GCRA via `governor`).
//!
//! The job runner takes a job permit for the whole life of a run and a request token before
//! every call to a provider. Nothing here knows a provider; limits are keyed by canonical
//! backend name.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// The limits of this process; cheap to clone, clones share their counters.
#[derive(Clone, Default)]
pub struct Limits {
    global: Option<Arc<Semaphore>>,
    jobs: HashMap<String, Arc<Semaphore>>,
    rates: HashMap<String, Arc<DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field(
                "global",
                &self.global.as_ref().map(|s| s.available_permits()),
            )
            .field("backends", &self.jobs.keys().collect::<Vec<_>>())
            .field("rated", &self.rates.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Held while a job runs; releases its places when dropped.
#[derive(Debug)]
pub struct JobPermit {
    _global: Option<OwnedSemaphorePermit>,
    _backend: Option<OwnedSemaphorePermit>,
}

fn semaphore(field: &str, n: u32) -> Result<Arc<Semaphore>> {
    if n == 0 {
        return Err(Error::config(format!(
            "{field}: 0 would stop every job; use 1 or more, or leave it out"
        )));
    }
    Ok(Arc::new(Semaphore::new(n as usize)))
}

impl Limits {
    /// No limits.
    pub fn none() -> Self {
        Self::default()
    }

    /// Builds the limits, refusing values that would stop everything.
    pub fn new(settings: &LimitSettings) -> Result<Self> {
        let mut limits = Self {
            global: settings
                .max_jobs
                .map(|n| semaphore("limits.max_jobs", n))
                .transpose()?,
            ..Self::default()
        };
        for (name, b) in &settings.backends {
            if let Some(n) = b.max_jobs {
                let field = format!("limits.backends.{name}.max_jobs");
                limits.jobs.insert(name.clone(), semaphore(&field, n)?);
            }
            if let Some(rps) = b.requests_per_second {
                let field = format!("limits.backends.{name}.requests_per_second");
                let period = (rps.is_finite() && rps > 0.0)
                    .then(|| Duration::try_from_secs_f64(1.0 / rps).ok())
                    .flatten()
                    .filter(|p| !p.is_zero())
                    .ok_or_else(|| {
                        Error::config(format!("{field}: {rps} is not a positive rate"))
                    })?;
                let burst = NonZeroU32::new(b.burst.unwrap_or(1)).ok_or_else(|| {
                    Error::config(format!("limits.backends.{name}.burst: use 1 or more"))
                })?;
                let quota = Quota::with_period(period)
                    .ok_or_else(|| Error::config(format!("{field}: {rps} is too fast")))?
                    .allow_burst(burst);
                limits
                    .rates
                    .insert(name.clone(), Arc::new(RateLimiter::direct(quota)));
            }
        }
        Ok(limits)
    }

    /// Waits for a place for one job on `backend` (and overall).
    pub async fn job_permit(&self, backend: &str) -> JobPermit {
        // The backend's place first: a job waiting for a busy backend then holds no overall
        // place that a job on another backend could use.
        let backend_permit = match self.jobs.get(backend) {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        let global = match &self.global {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        JobPermit {
            _global: global,
            _backend: backend_permit,
        }
    }

    /// Waits until one more request may go to `backend`.
    pub async fn request(&self, backend: &str) {
        if let Some(limiter) = self.rates.get(backend) {
            limiter.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn settings(yaml_like: serde_json::Value) -> LimitSettings {
        serde_json::from_value(yaml_like).unwrap()
    }

    #[tokio::test]
    async fn a_backend_runs_no_more_jobs_than_its_limit() {
        let limits = Limits::new(&settings(serde_json::json!({
            "max_jobs": 5, "backends": { "runway": { "max_jobs": 1 } }
        })))
        .unwrap();
        let first = limits.job_permit("runway").await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), limits.job_permit("runway")).await;
        assert!(blocked.is_err(), "a second runway job must wait");
        // Other backends are not held up.
        let _fal = limits.job_permit("fal").await;
        drop(first);
        tokio::time::timeout(Duration::from_millis(50), limits.job_permit("runway"))
            .await
            .expect("the place is free again");
    }

    #[tokio::test]
    async fn requests_are_spaced_by_the_token_bucket() {
        let limits = Limits::new(&settings(serde_json::json!({
            "backends": { "fal": { "requests_per_second": 20.0 } }
        })))
        .unwrap();
        let started = Instant::now();
        for _ in 0..5 {
            limits.request("fal").await;
        }
        // One at once, then four more at 50 ms each.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
        let unlimited = Instant::now();
        for _ in 0..100 {
            limits.request("runway").await;
        }
        assert!(unlimited.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn limits_that_would_stop_everything_are_refused() {
        let err = Limits::new(&settings(serde_json::json!({ "max_jobs": 0 }))).unwrap_err();
        assert!(err.to_string().contains("limits.max_jobs"));
        let err = Limits::new(&settings(serde_json::json!({
            "backends": { "fal": { "requests_per_second": -1.0 } }
        })))
        .unwrap_err();
        assert!(err.to_string().contains("requests_per_second"));
    }
}
