//! The rate-limit layer: a client-side token bucket per provider (GCRA), so that a burst
//! waits here instead of being answered with 429s. Every attempt of every call takes a token
//! (`limits.backends.NAME.requests_per_second`, `burst`), and so does opening a status stream.
//!
//! The bucket lives in this process (through `governor`, on tokio's clock, so waits follow a
//! paused clock in tests), or — when the jobs are shared by many workers through PostgreSQL —
//! in the database ([`super::shared_rate`]), so that every process draws from one bucket per
//! provider.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::RateLimiter;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};

use super::shared_rate::SharedRates;
use super::{Answer, Layer, Next, Op};
use crate::error::Result;
use crate::limits::{self, LimitSettings};

/// governor's clock, read from tokio's (which a test may pause).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Where a bucket's tokens are kept.
#[derive(Clone)]
enum Tokens {
    /// In this process.
    Local(Arc<Limiter>),
    /// In PostgreSQL, shared with every process using the database.
    Shared {
        rates: SharedRates,
        period: Duration,
        tolerance: Duration,
    },
}

/// The token bucket of one backend; clones share it.
#[derive(Clone)]
pub struct Bucket {
    backend: String,
    tokens: Tokens,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("backend", &self.backend)
            .field("shared", &matches!(self.tokens, Tokens::Shared { .. }))
            .finish()
    }
}

impl Bucket {
    /// Waits until one more request may go. A shared bucket whose database cannot be reached
    /// fails with a retryable error that says nothing was sent.
    pub async fn until_ready(&self) -> Result<()> {
        match &self.tokens {
            Tokens::Local(limiter) => {
                while let Err(not_until) = limiter.check() {
                    tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
                }
                Ok(())
            }
            Tokens::Shared {
                rates,
                period,
                tolerance,
            } => rates.until_ready(&self.backend, *period, *tolerance).await,
        }
    }
}

#[async_trait]
impl Layer for Bucket {
    async fn around(&self, _op: Op, next: Next<'_>) -> Result<Answer> {
        self.until_ready().await?;
        next().await
    }

    async fn before_stream(&self) -> Result<()> {
        self.until_ready().await
    }
}

/// Every configured bucket, by canonical backend name.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    buckets: HashMap<String, Bucket>,
}

impl Rates {
    /// The buckets `settings` asks for, in this process, refusing rates that are not positive.
    pub fn new(settings: &LimitSettings) -> Result<Self> {
        let mut buckets = HashMap::new();
        for (name, b) in &settings.backends {
            if let Some(quota) = limits::quota(name, b)? {
                let limiter = RateLimiter::direct_with_clock(quota, TokioClock);
                buckets.insert(
                    name.clone(),
                    Bucket {
                        backend: name.clone(),
                        tokens: Tokens::Local(Arc::new(limiter)),
                    },
                );
            }
        }
        Ok(Self { buckets })
    }

    /// The buckets `settings` asks for, kept in the database of `shared`, so that every
    /// process using it shares each backend's rate.
    pub fn shared(settings: &LimitSettings, shared: &SharedRates) -> Result<Self> {
        let mut buckets = HashMap::new();
        for (name, b) in &settings.backends {
            if let Some(quota) = limits::quota(name, b)? {
                let period = quota.replenish_interval();
                let tolerance = period * quota.burst_size().get().saturating_sub(1);
                buckets.insert(
                    name.clone(),
                    Bucket {
                        backend: name.clone(),
                        tokens: Tokens::Shared {
                            rates: shared.clone(),
                            period,
                            tolerance,
                        },
                    },
                );
            }
        }
        Ok(Self { buckets })
    }

    /// The bucket of `backend`, when it has one.
    pub fn bucket(&self, backend: &str) -> Option<Bucket> {
        self.buckets.get(backend).cloned()
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::VideoBackend;
    use crate::layers::Layered;
    use crate::layers::testing::Scripted;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_token_bucket_on_tokios_clock() {
        let settings: LimitSettings = serde_json::from_value(serde_json::json!({
            "backends": { "fal": { "requests_per_second": 20.0, "burst": 2 } }
        }))
        .unwrap();
        let rates = Rates::new(&settings).unwrap();
        assert!(
            rates.bucket("runway").is_none(),
            "unlimited backends get no bucket"
        );
        let inner = Scripted::new((0..6).map(|_| Ok(Scripted::running())).collect());
        let layered = Layered::new(rates.bucket("fal").unwrap(), inner.clone());
        let started = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            layered.poll(&Scripted::ticket()).await.unwrap();
            at.push((Instant::now() - started).as_millis());
        }
        // Two at once (the burst), then one every 50 ms: virtual times, exactly.
        assert_eq!(at, [0, 0, 50, 100, 150, 200]);
        assert_eq!(inner.calls().len(), 6);
    }
}
