//! One retry policy for every backend: exponential backoff with full jitter, the provider's
//! `Retry-After` honoured, a cap on attempts and a deadline per call.
//!
//! The policy decides *when* to try again; whether a call may be repeated at all is the
//! error's business ([`crate::Error::is_retryable`], and for the paid submit
//! [`crate::Spend::No`]). Waiting uses tokio's clock, so tests run it with a paused clock.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// How often and how long to retry. Deserialisable so the configuration
/// (`remote_api_settings{max_retries, timeout}`) can fill it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt of one call.
    pub max_retries: u32,
    /// The first backoff step.
    #[serde(with = "secs")]
    pub base_delay: Duration,
    /// The longest wait between attempts (a longer `Retry-After` is still honoured, up to
    /// `max_retry_after`).
    #[serde(with = "secs")]
    pub max_delay: Duration,
    /// The longest `Retry-After` accepted; a provider asking for more fails the call.
    #[serde(with = "secs")]
    pub max_retry_after: Duration,
    /// Deadline of one call (one request and its answer); none when absent.
    #[serde(with = "opt_secs")]
    pub call_timeout: Option<Duration>,
    /// Deadline of a whole job run (submit to verified file); none when absent. A job that
    /// runs out of time is kept as it is, to be resumed.
    #[serde(with = "opt_secs")]
    pub job_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            call_timeout: None,
            job_timeout: None,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based): a uniformly random time up to
    /// `min(max_delay, base_delay × 2^retry)` ("full jitter"), or the provider's
    /// `Retry-After` when that is longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(unit_random());
        match retry_after {
            Some(after) => after.max(jittered),
            None => jittered,
        }
    }

    /// Runs `call` until it succeeds, fails with an error that may not be repeated, or the
    /// retries are spent. `may_repeat` has the last word on each error (the paid submit passes
    /// one that also demands `Spend::No`).
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        may_repeat: impl Fn(&Error) -> bool,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retry = 0;
        loop {
            let attempt = match self.call_timeout {
                Some(limit) => match tokio::time::timeout(limit, call()).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        format!("{what} took longer than {} s", limit.as_secs_f64()),
                    )),
                },
                None => call().await,
            };
            let err = match attempt {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if retry >= self.max_retries || !err.is_retryable() || !may_repeat(&err) {
                return Err(err);
            }
            if let Some(after) = err.retry_after()
                && after > self.max_retry_after
            {
                return Err(err);
            }
            let wait = self.delay(retry, err.retry_after());
            tracing::info!(
                what,
                retry = retry + 1,
                of = self.max_retries,
                wait_ms = wait.as_millis() as u64,
                error = %err,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

/// Whether a failed call may be repeated: every read may, the paid submit only when the
/// request provably never reached the provider.
pub fn submit_may_repeat(err: &Error) -> bool {
    err.spend() == crate::error::Spend::No
}

/// A number in [0, 1) from the OS's random source (through uuid, already a dependency).
fn unit_random() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::Spend;

    #[test]
    fn backoff_grows_within_its_ceiling_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for retry in 0..10 {
            let ceiling = (p.base_delay * 2u32.pow(retry)).min(p.max_delay);
            let d = p.delay(retry, None);
            assert!(d <= ceiling, "{d:?} > {ceiling:?}");
        }
        assert!(p.delay(0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let value = RetryPolicy::default()
            .run(
                "poll",
                |_| true,
                || async {
                    if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err(Error::new(ErrorKind::RateLimited, "slow down")
                            .with_retry_after(Duration::from_secs(3)))
                    } else {
                        Ok(42)
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(
            started.elapsed() >= Duration::from_secs(6),
            "Retry-After honoured twice"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ambiguous_submit_is_never_repeated() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::default()
            .run("submit", submit_may_repeat, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Transient, "HTTP 502").with_spend(Spend::Maybe))
            })
            .await
            .unwrap_err();
        assert_eq!(err.spend(), Spend::Maybe);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_limit_and_calls_time_out() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retries: 2,
            call_timeout: Some(Duration::from_secs(1)),
            ..RetryPolicy::default()
        };
        let err = policy
            .run(
                "poll",
                |_| true,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_policy_reads_from_configuration() {
        let p: RetryPolicy =
            serde_json::from_str(r#"{"max_retries": 2, "call_timeout": 30}"#).unwrap();
        assert_eq!(p.max_retries, 2);
        assert_eq!(p.call_timeout, Some(Duration::from_secs(30)));
    }
}
