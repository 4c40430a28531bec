//! The concurrency layer: how many jobs run at once, over all backends (`limits.max_jobs`)
//! and per backend (`limits.backends.NAME.max_jobs`). A job holds its places from before its
//! submit until it ends ([`crate::VideoBackend::reserve`]), whichever front end runs it; the
//! calls themselves pass through.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::{Answer, Layer, Next, Op};
use crate::backend::Reservation;
use crate::error::Result;
use crate::limits::{self, LimitSettings};

/// The job places of this process.
#[derive(Debug, Clone, Default)]
pub struct JobLimits {
    global: Option<Arc<Semaphore>>,
    backends: HashMap<String, Arc<Semaphore>>,
}

impl JobLimits {
    /// The places `settings` asks for, refusing limits of 0.
    pub fn new(settings: &LimitSettings) -> Result<Self> {
        let global = settings
            .max_jobs
            .map(|n| limits::semaphore("limits.max_jobs", n))
            .transpose()?;
        let mut backends = HashMap::new();
        for (name, b) in &settings.backends {
            if let Some(n) = b.max_jobs {
                let field = format!("limits.backends.{name}.max_jobs");
                backends.insert(name.clone(), limits::semaphore(&field, n)?);
            }
        }
        Ok(Self { global, backends })
    }

    /// The places a job on `backend` takes, when any limit applies to it.
    pub fn places(&self, backend: &str) -> Option<Places> {
        let own = self.backends.get(backend).cloned();
        (own.is_some() || self.global.is_some()).then(|| Places {
            global: self.global.clone(),
            backend: own,
        })
    }
}

/// The places a job on one backend takes.
#[derive(Debug, Clone)]
pub struct Places {
    global: Option<Arc<Semaphore>>,
    backend: Option<Arc<Semaphore>>,
}

#[async_trait]
impl Layer for Places {
    async fn around(&self, _op: Op, next: Next<'_>) -> Result<Answer> {
        next().await
    }

    async fn reserve(&self) -> Reservation {
        // The backend's place first: a job waiting for a busy backend then holds no overall
        // place that a job on another backend could use.
        let mut held = Reservation::default();
        for semaphore in [&self.backend, &self.global].into_iter().flatten() {
            if let Ok(permit) = semaphore.clone().acquire_owned().await {
                held.hold(permit);
            }
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::VideoBackend;
    use crate::layers::Layered;
    use crate::layers::testing::Scripted;

    #[tokio::test(start_paused = true)]
    async fn a_backend_runs_no_more_jobs_than_its_limit() {
        let settings: LimitSettings = serde_json::from_value(serde_json::json!({
            "max_jobs": 2, "backends": { "runway": { "max_jobs": 1 } }
        }))
        .unwrap();
        let limits = JobLimits::new(&settings).unwrap();
        let runway = Layered::new(limits.places("runway").unwrap(), Scripted::new(vec![]));
        let fal = Layered::new(limits.places("fal").unwrap(), Scripted::new(vec![]));
        let first = runway.reserve().await;
        // A second runway job waits (the paused clock runs out the timeout at once).
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), runway.reserve())
                .await
                .is_err()
        );
        // Other backends are not held up, up to the overall limit.
        let other = fal.reserve().await;
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), fal.reserve())
                .await
                .is_err(),
            "two jobs in flight is the overall limit"
        );
        drop(other);
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), runway.reserve())
            .await
            .expect("the place is free again");
    }
}
