//! MiniMax's callbacks: `callback_url` in the body of `POST /v1/video_generation`.
//!
//! What MiniMax documents (platform.minimax.io API reference, video generation,
//! `callback_url`, read 2026-12-02): once a callback URL is given, MiniMax first POSTs
//! `{"challenge": "..."}` and the server must answer with the same value,
//! `{"challenge": "..."}`, within 3 seconds; after that it POSTs the task's status whenever it
//! changes, in the shape of the query call's answer: `{task_id, status, file_id, base_resp:
//! {status_code, status_msg}}`, with `status` one of `processing`, `success`, `failed` (the
//! reference's examples also write `Success`; both are taken).
//!
//! MiniMax documents no signature for these calls, so anyone who knows the URL can send
//! one. ttv therefore treats a callback as a hint only: it wakes the job's next status call
//! (at most one a second, [`crate::webhooks::WAKE_GAP`]), and the outcome comes from that call
//! as always. UNCONFIRMED: what MiniMax does when the challenge is not answered (the
//! simulator then sends no status callbacks and the job is found by polling).

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::webhooks::{Received, Receiver};

#[derive(Deserialize)]
struct Callback {
    #[serde(default)]
    challenge: Option<Value>,
    #[serde(default)]
    task_id: Option<Value>,
    #[serde(default)]
    status: Option<String>,
}

/// Receives MiniMax's challenge and status callbacks (see the module documentation).
#[derive(Debug, Default)]
pub struct MinimaxReceiver;

#[async_trait]
impl Receiver for MinimaxReceiver {
    async fn receive(&self, _headers: &HeaderMap, body: &[u8]) -> Received {
        let Ok(callback) = serde_json::from_slice::<Callback>(body) else {
            return Received::Rejected {
                status: 400,
                reason: "the body is not a MiniMax callback (JSON with challenge or task_id)"
                    .into(),
            };
        };
        if let Some(challenge) = callback.challenge {
            return Received::Answer {
                status: 200,
                reply: json!({ "challenge": challenge }),
            };
        }
        let id = match callback.task_id {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Received::Rejected {
                    status: 400,
                    reason: "the callback has no task_id".into(),
                };
            }
        };
        let status = callback.status.unwrap_or_default().to_ascii_lowercase();
        if matches!(status.as_str(), "success" | "failed" | "fail") {
            Received::Wake {
                id,
                reply: json!({ "status": "success" }),
            }
        } else {
            // Progress ("processing", "queueing"): nothing to ask about yet.
            Received::Answer {
                status: 200,
                reply: json!({ "status": "success" }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn receive(body: Value) -> Received {
        MinimaxReceiver
            .receive(&HeaderMap::new(), body.to_string().as_bytes())
            .await
    }

    #[tokio::test]
    async fn the_challenge_is_echoed_as_it_came() {
        assert_eq!(
            receive(json!({ "challenge": "c-123" })).await,
            Received::Answer {
                status: 200,
                reply: json!({ "challenge": "c-123" })
            }
        );
    }

    #[tokio::test]
    async fn only_an_end_wakes_the_task_and_ids_may_be_numbers() {
        let end = |status: &str| json!({ "task_id": "106916112212032", "status": status, "file_id": "1", "base_resp": { "status_code": 0, "status_msg": "success" } });
        for s in ["success", "Success", "failed", "Fail"] {
            assert!(
                matches!(receive(end(s)).await, Received::Wake { id, .. } if id == "106916112212032"),
                "{s}"
            );
        }
        assert!(matches!(
            receive(end("processing")).await,
            Received::Answer { status: 200, .. }
        ));
        assert!(matches!(
            receive(json!({ "task_id": 42, "status": "success" })).await,
            Received::Wake { id, .. } if id == "42"
        ));
        assert!(matches!(
            receive(json!({ "status": "success" })).await,
            Received::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            MinimaxReceiver
                .receive(&HeaderMap::new(), b"not json")
                .await,
            Received::Rejected { status: 400, .. }
        ));
    }
}
