//! Runway's task delete, spoken to as Runway's API reference and SDKs describe it with a plain
//! HTTP client: a finished task is deleted and can no longer be fetched; a running one is
//! cancelled.

mod common;

use serde_json::{Value, json};
use ttv_sim::{Outcome, Provider, Sim, SimConfig};

use common::{poll_until, send, start};

const VERSION: &str = "2024-11-06";

fn call(client: &reqwest::Client, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .bearer_auth("key_sim")
        .header("X-Runway-Version", VERSION)
}

async fn create(sim: &Sim, client: &reqwest::Client) -> String {
    let (status, body) = send(
        call(
            client,
            reqwest::Method::POST,
            format!("{}/v1/text_to_video", sim.base_url(Provider::Runway)),
        )
        .json(&json!({ "model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 5 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn task_url(sim: &Sim, id: &str) -> String {
    format!("{}/v1/tasks/{id}", sim.base_url(Provider::Runway))
}

/// DELETE answers 204 with an empty body, which the SDKs expect.
async fn delete(sim: &Sim, client: &reqwest::Client, id: &str) -> (u16, String) {
    let response = call(client, reqwest::Method::DELETE, task_url(sim, id))
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn deleting_a_finished_task_makes_it_unfetchable() {
    let (sim, client) = start(SimConfig::default().with_timings(0.0, 0.1)).await;
    let id = create(&sim, &client).await;
    let done = poll_until(
        || call(&client, reqwest::Method::GET, task_url(&sim, &id)),
        |task| task["status"] == "SUCCEEDED",
    )
    .await;
    let output = done["output"][0].as_str().unwrap().to_owned();
    assert_eq!(client.get(&output).send().await.unwrap().status(), 200);

    assert_eq!(delete(&sim, &client, &id).await, (204, String::new()));
    let (status, body) = send(call(&client, reqwest::Method::GET, task_url(&sim, &id))).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(delete(&sim, &client, &id).await.0, 404);
    assert_eq!(client.get(&output).send().await.unwrap().status(), 404);

    let timeline = sim.task(&id).expect("deleted tasks stay in the timeline");
    assert_eq!(timeline.outcome, Some(Outcome::Succeeded));
    let deleted = timeline.deleted_at.expect("the deletion is recorded");
    assert!(deleted >= timeline.done_at.unwrap());
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn deleting_a_running_task_cancels_it_and_a_second_delete_removes_it() {
    let (sim, client) = start(SimConfig::default().with_timings(0.0, 30.0)).await;
    let id = create(&sim, &client).await;
    assert_eq!(delete(&sim, &client, &id).await, (204, String::new()));
    let (status, task) = send(call(&client, reqwest::Method::GET, task_url(&sim, &id))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (task["id"].as_str(), task["status"].as_str()),
        (Some(id.as_str()), Some("CANCELLED"))
    );
    let cancelled = sim.task(&id).unwrap();
    assert_eq!(cancelled.outcome, Some(Outcome::Cancelled));
    assert!(cancelled.done_at.is_some() && cancelled.deleted_at.is_none());

    // A cancelled task is no longer pending, throttled or running: deleting it removes it.
    assert_eq!(delete(&sim, &client, &id).await.0, 204);
    let (status, _): (u16, Value) =
        send(call(&client, reqwest::Method::GET, task_url(&sim, &id))).await;
    assert_eq!(status, 404);
    assert!(sim.task(&id).unwrap().deleted_at.is_some());
}

#[tokio::test]
async fn deleting_an_unknown_task_is_not_found() {
    let (sim, client) = start(SimConfig::default()).await;
    assert_eq!(delete(&sim, &client, "0f0e0d0c").await.0, 404);
}
