//! Calls the simulator makes to its clients: the webhooks of providers that call back (fal's
//! signed `fal_webhook`, MiniMax's `callback_url`). The protocol modules decide what is sent
//! and when; this module sends it and logs each attempt ([`WebhookSent`], `GET
//! /_sim/webhooks`, [`crate::Sim::webhooks`]).

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::log::SimTime;
use crate::state::State;

/// One webhook call the simulator made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSent {
    /// When it was sent.
    pub sent_at: SimTime,
    /// The provider whose protocol sent it.
    pub provider: Provider,
    /// The task it is about.
    pub task: String,
    /// Where it went.
    pub url: String,
    /// The body sent.
    pub body: String,
    /// The status answered, or 0 when no answer came (refused connection, timeout).
    pub status: u16,
    /// The body answered (empty without an answer).
    pub answer: String,
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(15))
                .build()
                .ok()
        })
        .as_ref()
}

/// POSTs `body` (JSON) with `headers` to `url` about `task`, logs it, and returns the answer
/// (status 0 when none came).
pub(crate) async fn post(
    state: &State,
    provider: Provider,
    task: &str,
    url: &str,
    headers: &[(&str, String)],
    body: String,
) -> (u16, String) {
    let sent_at = state.now();
    let answer = match client() {
        Some(client) => {
            let mut request = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(_) => (0, String::new()),
            }
        }
        None => (0, String::new()),
    };
    state.log_webhook(WebhookSent {
        sent_at,
        provider,
        task: task.to_owned(),
        url: url.to_owned(),
        body,
        status: answer.0,
        answer: answer.1.clone(),
    });
    answer
}
