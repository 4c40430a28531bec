//! Helpers for the HTTP-level simulator tests: a simulator with small videos, a plain HTTP
//! client, and waiting for a task by asking the provider the way its docs say.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use ttv_sim::{Sim, SimConfig};

/// A simulator serving small videos, and a plain HTTP client.
pub async fn start(config: SimConfig) -> (Sim, reqwest::Client) {
    let sim = Sim::start(SimConfig {
        video_max_side: 128,
        ..config
    })
    .await
    .expect("the simulator starts");
    (sim, reqwest::Client::new())
}

/// Sends `request` and returns the status and the JSON body (`Null` when there is none).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the simulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends `request` (rebuilt by `make`) every 20 ms until `done` says the answer is final,
/// and returns that answer. Gives up after 10 s, which only a broken simulator needs.
pub async fn poll_until(
    make: impl Fn() -> reqwest::RequestBuilder,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..500 {
        let (status, body) = send(make()).await;
        assert!((200..300).contains(&status), "{status}: {body}");
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the task never finished");
}
