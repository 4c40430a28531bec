//! One retry policy for every backend: exponential backoff with full jitter, the provider's
//! `Retry-After` honoured, a cap on attempts, and never a wait that ends past a deadline.
//!
//! The policy only says *when* to try again ([`RetryPolicy::next_wait`]). Whether a failed
//! call may be repeated at all is decided in one place, [`crate::layers::may_repeat`], and the
//! loop that repeats calls is the retry layer ([`crate::layers::retry`]). Times are tokio's, so
//! tests run them on a paused clock.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

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
    /// Deadline of one attempt of one call (one request and its answer); none when absent.
    /// Applied by the timeout layer ([`crate::layers::timeout`]).
    #[serde(with = "opt_secs")]
    pub call_timeout: Option<Duration>,
    /// Deadline of a whole job run (submit to verified file); none when absent. A job that
    /// runs out of time is kept as it is, to be resumed. Applied by the job runner, which
    /// also hands it to the retry layer so that no retry waits past it.
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

    /// How long to wait before retry number `retry` (0-based) of a call that failed at `now`
    /// with `retry_after` asked for, or `None` when it must not be retried: the retries are
    /// spent, the provider asks for a longer wait than `max_retry_after`, or the wait would end
    /// after `deadline`.
    pub fn next_wait(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Option<Duration> {
        if retry >= self.max_retries || retry_after.is_some_and(|a| a > self.max_retry_after) {
            return None;
        }
        let wait = self.delay(retry, retry_after);
        match deadline {
            Some(deadline) if now.checked_add(wait).is_none_or(|end| end > deadline) => None,
            _ => Some(wait),
        }
    }
}

/// A number in [0, 1) from the OS's random source (through uuid, already a dependency).
fn unit_random() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_policy_reads_from_configuration() {
        let p: RetryPolicy =
            serde_json::from_str(r#"{"max_retries": 2, "call_timeout": 30}"#).unwrap();
        assert_eq!(p.max_retries, 2);
        assert_eq!(p.call_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_retry_after_longer_than_allowed_ends_the_retries() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        let too_long = p.max_retry_after + Duration::from_secs(1);
        assert_eq!(p.next_wait(0, Some(too_long), now, None), None);
        assert_eq!(
            p.next_wait(0, Some(p.max_retry_after), now, None),
            Some(p.max_retry_after)
        );
    }

    fn policy() -> impl Strategy<Value = RetryPolicy> {
        (0u32..8, 1u64..2_000, 1u64..60_000, 1u64..600_000).prop_map(
            |(max_retries, base_ms, max_ms, max_after_ms)| RetryPolicy {
                max_retries,
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(max_ms),
                max_retry_after: Duration::from_millis(max_after_ms),
                ..RetryPolicy::default()
            },
        )
    }

    proptest! {
        #[test]
        fn a_wait_stays_within_its_backoff_ceiling_or_is_the_retry_after(
            p in policy(),
            retry in 0u32..30,
            after_ms in proptest::option::of(0u64..600_000),
        ) {
            let after = after_ms.map(Duration::from_millis);
            let d = p.delay(retry, after);
            let ceiling = p.base_delay
                .saturating_mul(2u32.saturating_pow(retry.min(20)))
                .min(p.max_delay);
            match after {
                // Retry-After is a floor: never sooner than the provider asked.
                Some(a) => prop_assert!(d >= a && d <= a.max(ceiling)),
                None => prop_assert!(d <= ceiling),
            }
        }

        #[test]
        fn no_wait_ends_past_the_deadline_or_ignores_retry_after(
            p in policy(),
            retry in 0u32..10,
            after_ms in proptest::option::of(0u64..600_000),
            left_ms in 0u64..120_000,
        ) {
            let now = Instant::now();
            let deadline = now + Duration::from_millis(left_ms);
            let after = after_ms.map(Duration::from_millis);
            match p.next_wait(retry, after, now, Some(deadline)) {
                Some(wait) => {
                    prop_assert!(now + wait <= deadline);
                    prop_assert!(retry < p.max_retries);
                    if let Some(a) = after {
                        prop_assert!(wait >= a);
                        prop_assert!(a <= p.max_retry_after);
                    }
                }
                None => prop_assert!(
                    retry >= p.max_retries
                        || after.is_some_and(|a| a > p.max_retry_after || a > deadline - now)
                        // A jittered wait may land past a near deadline.
                        || p.base_delay.saturating_mul(2u32.saturating_pow(retry.min(20))).min(p.max_delay)
                            > deadline - now
                ),
            }
        }
    }
}
