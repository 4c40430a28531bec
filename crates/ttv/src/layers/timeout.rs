//! The timeout layer: a deadline for each attempt of each call
//! (`remote_api_settings.call_timeout`), downloads excepted: a video may rightly take longer
//! to arrive than any answer, a stalled one is caught by the HTTP client's read timeout, and
//! a broken-off one continues with `Range`.
//!
//! A call cut off by its deadline is a retryable `Timeout` — except a paid submit whose request
//! was already handed to the HTTP client: the provider may have received it and created the job
//! (a missing answer says nothing either way), so that timeout is [`Spend::Maybe`] and the
//! submit is never sent again. The HTTP plumbing marks the moment a paid request goes out
//! ([`mark_sent`]); a submit cut off before that moment (while waiting for an access token,
//! say) provably never reached the provider and may be retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{Answer, Layer, Next, Op};
use crate::error::{Error, ErrorKind, Result, Spend};

tokio::task_local! {
    static SENT: Arc<AtomicBool>;
}

/// Notes that the paid request of the current call is being handed to the HTTP client.
/// [`crate::http::send`] calls it for paid calls; outside a timeout layer it does nothing.
pub fn mark_sent() {
    let _ = SENT.try_with(|sent| sent.store(true, Ordering::SeqCst));
}

/// A deadline per attempt.
#[derive(Debug, Clone)]
pub struct Timeout {
    limit: Duration,
}

impl Timeout {
    /// Attempts limited to `limit`.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

#[async_trait]
impl Layer for Timeout {
    async fn around(&self, op: Op, next: Next<'_>) -> Result<Answer> {
        if op == Op::Fetch {
            return next().await;
        }
        let limit = self.limit;
        let sent = Arc::new(AtomicBool::new(false));
        match tokio::time::timeout(limit, SENT.scope(sent.clone(), next())).await {
            Ok(answer) => answer,
            Err(_) => Err(timed_out(op, limit, sent.load(Ordering::SeqCst))),
        }
    }
}

fn timed_out(op: Op, limit: Duration, sent: bool) -> Error {
    let secs = limit.as_secs_f64();
    if op.is_paid() && sent {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the submit was sent but no complete answer came within {secs} s (call_timeout)"
            ),
        )
        .with_spend(Spend::Maybe)
    } else {
        Error::new(
            ErrorKind::Timeout,
            format!("the {op} took longer than {secs} s (call_timeout)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoBackend;
    use crate::layers::Layered;
    use crate::layers::testing::{Scripted, req};

    fn layered(inner: &Arc<Scripted>) -> Layered<Timeout> {
        Layered::new(Timeout::new(Duration::from_secs(1)), inner.clone())
    }

    #[tokio::test(start_paused = true)]
    async fn a_paid_submit_cut_off_after_sending_may_have_been_bought() {
        let inner = Scripted::new(vec![Ok(Scripted::submitted())])
            .slow(Duration::from_secs(4))
            .sending();
        let err = layered(&inner)
            .submit(&req(), &inner.resolved())
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.spend()),
            (ErrorKind::Timeout, Spend::Maybe)
        );
        assert!(
            err.to_string().contains("was sent but no complete answer"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_submit_cut_off_before_sending_provably_bought_nothing() {
        let inner = Scripted::new(vec![Ok(Scripted::submitted())]).slow(Duration::from_secs(4));
        let err = layered(&inner)
            .submit(&req(), &inner.resolved())
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.spend()), (ErrorKind::Timeout, Spend::No));
    }

    #[tokio::test(start_paused = true)]
    async fn a_download_may_take_longer_than_a_call() {
        let inner = Scripted::new(vec![Ok(Answer::Fetched(7))]).slow(Duration::from_secs(30));
        let output = crate::Output::Url {
            url: "http://127.0.0.1:9/v.mp4".into(),
        };
        let got = layered(&inner)
            .fetch(
                &output,
                std::path::Path::new("v.mp4"),
                &crate::backend::no_events,
            )
            .await
            .unwrap();
        assert_eq!(got, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_read_is_a_plain_timeout_and_a_quick_one_passes() {
        let slow = Scripted::new(vec![Ok(Scripted::running())])
            .slow(Duration::from_secs(2))
            .sending();
        let err = layered(&slow).poll(&Scripted::ticket()).await.unwrap_err();
        assert_eq!((err.kind(), err.spend()), (ErrorKind::Timeout, Spend::No));
        let quick = Scripted::new(vec![Ok(Scripted::running())]).slow(Duration::from_millis(900));
        layered(&quick).poll(&Scripted::ticket()).await.unwrap();
    }
}
