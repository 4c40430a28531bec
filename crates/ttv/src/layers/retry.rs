//! The retry layer: sends a failed call again when [`super::may_repeat`] allows it, after the
//! wait the [`RetryPolicy`] gives, and never with a wait that ends past the deadline of the
//! job around it ([`with_deadline`]). This is the only loop in ttv that repeats a call.

use std::future::Future;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Answer, Layer, Next, Op, may_repeat};
use crate::error::Result;
use crate::retry::RetryPolicy;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `f` with a deadline: no retry inside it waits past `deadline` (it gives up with the
/// last error instead, which leaves a job as it was, to be resumed).
pub async fn with_deadline<F: Future>(deadline: Instant, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// The deadline set by [`with_deadline`] around the current call, if any.
fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Repeats failed calls that may be repeated.
#[derive(Debug, Clone)]
pub struct Retry {
    policy: RetryPolicy,
}

impl Retry {
    /// A layer retrying as `policy` says.
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy }
    }
}

#[async_trait]
impl Layer for Retry {
    async fn around(&self, op: Op, next: Next<'_>) -> Result<Answer> {
        let mut retry = 0;
        loop {
            let err = match next().await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            if !may_repeat(op, &err) {
                return Err(err);
            }
            let Some(wait) =
                self.policy
                    .next_wait(retry, err.retry_after(), Instant::now(), deadline())
            else {
                return Err(err);
            };
            tracing::info!(
                call = op.as_str(),
                retry = retry + 1,
                of = self.policy.max_retries,
                wait_ms = wait.as_millis() as u64,
                error = %err,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::VideoBackend;
    use crate::error::{Error, ErrorKind, Spend};
    use crate::layers::Layered;
    use crate::layers::testing::{Scripted, req};

    fn layered(policy: RetryPolicy, inner: &Arc<Scripted>) -> Layered<Retry> {
        Layered::new(Retry::new(policy), inner.clone())
    }

    #[tokio::test(start_paused = true)]
    async fn failed_polls_are_retried_after_the_providers_retry_after() {
        let inner = Scripted::new(vec![
            Err(Error::new(ErrorKind::RateLimited, "slow down")
                .with_retry_after(Duration::from_secs(3))),
            Err(Error::new(ErrorKind::Transient, "HTTP 502")),
            Ok(Scripted::running()),
        ]);
        let started = Instant::now();
        let status = layered(RetryPolicy::default(), &inner)
            .poll(&Scripted::ticket())
            .await
            .unwrap();
        assert!(matches!(status, crate::Status::Running { .. }));
        assert_eq!(inner.calls(), [Op::Poll, Op::Poll, Op::Poll]);
        // The paused clock only moves when everything waits: this is the time slept, the
        // Retry-After of 3 s and then a jittered wait of at most base_delay × 2 (1 s).
        let slept = started.elapsed();
        assert!(
            slept >= Duration::from_secs(3) && slept <= Duration::from_secs(4),
            "{slept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ambiguous_submit_is_sent_once() {
        for err in [
            Error::new(ErrorKind::Transient, "HTTP 502").with_spend(Spend::Maybe),
            Error::new(ErrorKind::Timeout, "no answer").with_spend(Spend::Maybe),
        ] {
            let inner = Scripted::new(vec![Err(err), Ok(Scripted::submitted())]);
            let err = layered(RetryPolicy::default(), &inner)
                .submit(&req(), &inner.resolved())
                .await
                .unwrap_err();
            assert_eq!(err.spend(), Spend::Maybe);
            assert_eq!(inner.calls(), [Op::Submit]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_submit_refused_before_it_was_received_is_sent_again() {
        let inner = Scripted::new(vec![
            Err(Error::new(ErrorKind::RateLimited, "429")),
            Err(Error::new(ErrorKind::Transient, "connection refused")),
            Ok(Scripted::submitted()),
        ]);
        layered(RetryPolicy::default(), &inner)
            .submit(&req(), &inner.resolved())
            .await
            .unwrap();
        assert_eq!(inner.calls(), [Op::Submit, Op::Submit, Op::Submit]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_limit() {
        let failures = (0..10)
            .map(|_| Err(Error::new(ErrorKind::Transient, "HTTP 503")))
            .collect();
        let inner = Scripted::new(failures);
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let err = layered(policy, &inner)
            .poll(&Scripted::ticket())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert_eq!(inner.calls().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_waits_past_the_deadline() {
        let inner = Scripted::new(vec![
            Err(Error::new(ErrorKind::RateLimited, "later")
                .with_retry_after(Duration::from_secs(10))),
            Ok(Scripted::running()),
        ]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let err = with_deadline(
            deadline,
            layered(RetryPolicy::default(), &inner).poll(&Scripted::ticket()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(inner.calls(), [Op::Poll]);
        assert!(Instant::now() <= deadline, "gave up at once");
    }
}
