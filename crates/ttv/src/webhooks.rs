//! Webhooks: providers that call back when a job ends (fal's `fal_webhook`, MiniMax's
//! `callback_url`) turn that call into "ask now" for the job waiting on it.
//!
//! A webhook never replaces the status call or the verified download: it only decides *when*
//! the next status call is made, as fal's status stream does. Polling goes on underneath at
//! its usual pace (adaptive, or the fixed interval), so a webhook that never comes — the
//! listener is down, the tunnel is gone, the signature is forged — costs nothing but the
//! time polling takes.
//!
//! [`Webhooks`] is the one place that does this for every front end: `ttv serve` mounts it on
//! its own address, `ttv generate --webhook-url` on a small listener of its own; both hand
//! each request to [`Webhooks::receive`] and send back what it answers. Each provider's
//! receiver (its signature, its payload, its challenge) lives in that provider's folder
//! ([`crate::services::webhook_receivers`]); this module matches on no provider.
//!
//! The URL a provider is given is `{url}/webhooks/{provider}`, where `url` is the address the
//! provider can reach (a public host or tunnel in front of the listener).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::{Error, Problem, Result};

/// Where webhooks are mounted on a listener: `/webhooks/{provider}`.
pub const ROUTE_PREFIX: &str = "/webhooks";

/// Never two status calls brought on by webhooks closer than this, so that a flood of
/// callbacks (MiniMax signs none) costs at most one call a second per job.
pub const WAKE_GAP: Duration = Duration::from_secs(1);

/// Jobs remembered as called back before anyone waits on them (a webhook can beat the end of
/// the submit call); past this the oldest unclaimed ones are forgotten.
const UNCLAIMED_MAX: usize = 4096;

/// What configures webhooks (`webhooks:` in the configuration, or `ttv generate
/// --webhook-url`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The address providers call, without the `/webhooks/...` path: the server's or the
    /// listener's public address (`https://ttv.example.com`, a tunnel).
    pub url: String,
    /// Where fal publishes the public keys its webhooks are signed with (a JSON Web Key Set).
    pub fal_jwks_url: String,
    /// How far a fal webhook's timestamp may be from this machine's clock.
    pub tolerance: Duration,
}

impl WebhookSettings {
    /// Settings for providers calling `url`, with fal's published key set and its
    /// documented 5-minute tolerance.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            fal_jwks_url: crate::services::fal::webhook::DEFAULT_JWKS_URL.to_owned(),
            tolerance: crate::services::fal::webhook::DEFAULT_TOLERANCE,
        }
    }

    /// What is wrong with the URL, as a problem with `field`: it must be
    /// `http(s)://host[:port][/path]`, without a query or fragment.
    pub fn problem(&self, field: &str) -> Option<Problem> {
        let problem = |why: &str| {
            Some(Problem::new(
                field,
                format!("{:?}", self.url),
                format!(
                    "an http:// or https:// address providers can reach, such as https://ttv.example.com ({why})"
                ),
            ))
        };
        let Ok(parsed) = reqwest::Url::parse(self.url.trim()) else {
            return problem("not a URL");
        };
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return problem("not an http(s) address");
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return problem("no ?query or #fragment");
        }
        None
    }

    /// [`WebhookSettings::problem`] as an `InvalidRequest` error.
    pub fn check(&self, field: &str) -> Result<()> {
        match self.problem(field) {
            Some(p) => Err(Error::invalid(vec![p])),
            None => Ok(()),
        }
    }
}

/// What a provider's receiver made of one webhook request.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A genuine call about job `id`: ask the provider about it now. `reply` is the body
    /// answered (status 200).
    Wake {
        /// The provider's job id (the ticket's id).
        id: String,
        /// The JSON answered.
        reply: Value,
    },
    /// A call to answer and otherwise ignore (MiniMax's challenge, a progress update).
    Answer {
        /// HTTP status.
        status: u16,
        /// The JSON answered.
        reply: Value,
    },
    /// Refused: not signed, signed wrongly, stale, or not understood.
    Rejected {
        /// HTTP status (401 for signatures, 400 for bodies).
        status: u16,
        /// Why, in words (logged and answered).
        reason: String,
    },
}

/// One provider's side of webhooks: checks a request and says which job it is about.
#[async_trait]
pub trait Receiver: Send + Sync + fmt::Debug {
    /// Checks one request (`headers` and the raw `body`) to this provider's webhook URL.
    async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> Received;
}

/// The answer a front end sends back to the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// Webhooks of this process: the receivers, and the jobs waiting to be woken. Cheap to share
/// (`Arc`); every backend built with it and every listener use the same one.
pub struct Webhooks {
    settings: WebhookSettings,
    receivers: BTreeMap<&'static str, Arc<dyn Receiver>>,
    waiting: Mutex<HashMap<(String, String), Arc<Notify>>>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("url", &self.settings.url)
            .field("providers", &self.receivers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for Webhooks {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl Webhooks {
    /// Webhooks with every provider's receiver; fails on a URL providers cannot call.
    pub fn new(settings: WebhookSettings) -> Result<Arc<Self>> {
        settings.check("webhooks.url")?;
        let receivers = crate::services::webhook_receivers(&settings)?
            .into_iter()
            .collect();
        Ok(Self::with_receivers(settings, receivers))
    }

    /// Webhooks with the given receivers (tests, other providers).
    pub fn with_receivers(
        settings: WebhookSettings,
        receivers: BTreeMap<&'static str, Arc<dyn Receiver>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            receivers,
            waiting: Mutex::new(HashMap::new()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// The URL `provider` is told to call.
    pub fn callback_url(&self, provider: &str) -> String {
        format!(
            "{}{ROUTE_PREFIX}/{provider}",
            self.settings.url.trim().trim_end_matches('/')
        )
    }

    /// The providers that have a receiver.
    pub fn providers(&self) -> Vec<&'static str> {
        self.receivers.keys().copied().collect()
    }

    /// A handle that is woken when `provider` calls back about job `id`. A call that came
    /// before the handle was taken is kept for it.
    pub fn wakeup(self: &Arc<Self>, provider: &str, id: &str) -> Wakeup {
        let key = (provider.to_owned(), id.to_owned());
        let notify = self
            .waiting
            .lock()
            .map(|mut w| w.entry(key.clone()).or_default().clone())
            .unwrap_or_default();
        Wakeup {
            hub: Arc::clone(self),
            key,
            notify,
        }
    }

    /// Handles one request to `{ROUTE_PREFIX}/{provider}`: checks it with the provider's
    /// receiver and, when it is genuine, wakes the job it is about.
    pub async fn receive(&self, provider: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
        let Some(receiver) = self.receivers.get(provider) else {
            return Reply {
                status: 404,
                body: json!({ "error": format!("no webhooks for {provider:?} here; known: {}", self.providers().join(", ")) }),
            };
        };
        match receiver.receive(headers, body).await {
            Received::Wake { id, reply } => {
                tracing::info!(provider, job = %id, "webhook: the job ended; asking now");
                self.wake(provider, &id);
                Reply {
                    status: 200,
                    body: reply,
                }
            }
            Received::Answer { status, reply } => Reply {
                status,
                body: reply,
            },
            Received::Rejected { status, reason } => {
                tracing::warn!(provider, %reason, "webhook refused");
                Reply {
                    status,
                    body: json!({ "error": reason }),
                }
            }
        }
    }

    /// Wakes whoever waits on (`provider`, `id`), or keeps the call for the next to wait.
    pub fn wake(&self, provider: &str, id: &str) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        if waiting.len() >= UNCLAIMED_MAX {
            // Calls nobody claimed (jobs of other processes, jobs already done): drop them.
            waiting.retain(|_, n| Arc::strong_count(n) > 1);
        }
        waiting
            .entry((provider.to_owned(), id.to_owned()))
            .or_default()
            .notify_one();
    }

    /// How many jobs are waited on or called back and not yet claimed (for tests and
    /// metrics).
    pub fn pending(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or_default()
    }
}

/// Woken when the provider calls back about one job; forgets the job when dropped.
#[derive(Debug)]
pub struct Wakeup {
    hub: Arc<Webhooks>,
    key: (String, String),
    notify: Arc<Notify>,
}

impl Wakeup {
    /// Resolves when a genuine webhook about the job arrives (at once when one came before).
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.hub.waiting.lock()
            && waiting
                .get(&self.key)
                .is_some_and(|n| Arc::ptr_eq(n, &self.notify) && Arc::strong_count(n) <= 2)
        {
            waiting.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Echo;

    #[async_trait]
    impl Receiver for Echo {
        async fn receive(&self, _headers: &HeaderMap, body: &[u8]) -> Received {
            match std::str::from_utf8(body) {
                Ok("bad") => Received::Rejected {
                    status: 401,
                    reason: "bad signature".into(),
                },
                Ok(id) => Received::Wake {
                    id: id.to_owned(),
                    reply: json!({ "ok": true }),
                },
                Err(_) => Received::Answer {
                    status: 400,
                    reply: Value::Null,
                },
            }
        }
    }

    fn hub() -> Arc<Webhooks> {
        let mut receivers: BTreeMap<&'static str, Arc<dyn Receiver>> = BTreeMap::new();
        receivers.insert("echo", Arc::new(Echo));
        Webhooks::with_receivers(WebhookSettings::new("https://ttv.example.com/"), receivers)
    }

    #[test]
    fn the_callback_url_is_the_public_address_and_the_provider_route() {
        assert_eq!(
            hub().callback_url("fal"),
            "https://ttv.example.com/webhooks/fal"
        );
    }

    #[test]
    fn urls_providers_cannot_call_are_refused_naming_the_field() {
        for bad in ["", "ftp://x", "not a url", "https://x/?a=1"] {
            let problem = WebhookSettings::new(bad).problem("--webhook-url").unwrap();
            assert_eq!(problem.field, "--webhook-url");
            assert_eq!(problem.value, format!("{bad:?}"));
        }
        WebhookSettings::new("http://127.0.0.1:8080/hooks")
            .check("x")
            .unwrap();
    }

    #[tokio::test]
    async fn a_genuine_call_wakes_the_waiting_job_even_when_it_came_first() {
        let hub = hub();
        let early = hub.receive("echo", &HeaderMap::new(), b"job-1").await;
        assert_eq!(early.status, 200);
        let w = hub.wakeup("echo", "job-1");
        tokio::time::timeout(Duration::from_secs(1), w.woken())
            .await
            .expect("the call that came first is kept");
        let other = hub.wakeup("echo", "job-2");
        hub.receive("echo", &HeaderMap::new(), b"job-2").await;
        tokio::time::timeout(Duration::from_secs(1), other.woken())
            .await
            .expect("woken");
        drop((w, other));
        assert_eq!(hub.pending(), 0, "dropped handles forget their jobs");
    }

    #[tokio::test]
    async fn a_refused_call_wakes_nothing_and_unknown_providers_get_404() {
        let hub = hub();
        let w = hub.wakeup("echo", "bad");
        let reply = hub.receive("echo", &HeaderMap::new(), b"bad").await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body["error"], "bad signature");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), w.woken())
                .await
                .is_err()
        );
        assert_eq!(
            hub.receive("nobody", &HeaderMap::new(), b"x").await.status,
            404
        );
    }
}
