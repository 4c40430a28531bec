//! The simulator spoken to directly over HTTP: provider error bodies, scripted faults, queue
//! positions, expiring output URLs and the admin endpoints.

mod common;

use serde_json::{Value, json};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::start;

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn runway_post(client: &reqwest::Client, sim: &Sim, body: Value) -> reqwest::RequestBuilder {
    client
        .post(format!(
            "{}/v1/text_to_video",
            sim.base_url(Provider::Runway)
        ))
        .bearer_auth("k")
        .header("X-Runway-Version", "2024-11-06")
        .json(&body)
}

#[tokio::test]
async fn the_second_submit_gets_the_scripted_429_with_retry_after() {
    let rule = FaultRule::nth(Endpoint::Submit, 2, FaultKind::RateLimited).with_retry_after(3);
    let (sim, client) = start(SimConfig::default().with_fault(Provider::Runway, rule)).await;
    let body = json!({ "model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5 });
    let first = runway_post(&client, &sim, body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = runway_post(&client, &sim, body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "3");
    let third = runway_post(&client, &sim, body).send().await.unwrap();
    assert_eq!(third.status(), 200);
    assert_eq!(sim.paid_submits(Provider::Runway), 2);
    let admin = json_of(client.get(format!("http://{}/_sim/paid_submits", sim.addr()))).await;
    assert_eq!(
        admin,
        json!({
            "dashscope": 0, "fal": 0, "gemini": 0, "kling": 0, "luma": 0, "minimax": 0,
            "openai": 0, "replicate": 0, "runway": 2, "seedance": 0, "stability": 0, "vertex": 0
        })
    );
    let log = json_of(client.get(format!("http://{}/_sim/requests", sim.addr()))).await;
    assert_eq!(log.as_array().unwrap().len(), 4);
    assert_eq!(log[1]["status"], 429);
}

#[tokio::test]
async fn runway_validation_answers_400_with_an_error_member() {
    let (sim, client) = start(SimConfig::default()).await;
    let bad = runway_post(
        &client,
        &sim,
        json!({ "model": "gen4.5", "promptText": "x", "ratio": "960:960" }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().starts_with("ratio:"),
        "{body}"
    );
    let unversioned = client
        .post(format!(
            "{}/v1/text_to_video",
            sim.base_url(Provider::Runway)
        ))
        .bearer_auth("k")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), 400);
    let anonymous = client
        .get(format!("{}/v1/tasks/x", sim.base_url(Provider::Runway)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
}

#[tokio::test]
async fn fal_reports_queue_positions_in_submit_order() {
    let (sim, client) = start(SimConfig::default().with_timings(30.0, 1.0)).await;
    let mut status_urls = Vec::new();
    for _ in 0..3 {
        let r = json_of(
            client
                .post(format!(
                    "{}/fal-ai/wan/v2.2-a14b/text-to-video",
                    sim.base_url(Provider::Fal)
                ))
                .header("Authorization", "Key k")
                .json(&json!({ "prompt": "x" })),
        )
        .await;
        assert!(
            r["status_url"]
                .as_str()
                .unwrap()
                .contains("/fal/fal-ai/wan/requests/")
        );
        status_urls.push(r["status_url"].as_str().unwrap().to_owned());
    }
    let third = client
        .get(&status_urls[2])
        .header("Authorization", "Key k")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 202);
    let body: Value = third.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["queue_position"].as_u64()),
        (Some("IN_QUEUE"), Some(2))
    );
}

#[tokio::test]
async fn minimax_output_urls_expire_after_their_ttl() {
    let mut config = SimConfig::default().with_timings(0.0, 0.0);
    config.minimax.output_ttl_secs = 0.0;
    let (sim, client) = start(config).await;
    let base = sim.base_url(Provider::Minimax);
    let created = json_of(
        client
            .post(format!("{base}/v1/video_generation"))
            .bearer_auth("k")
            .json(&json!({ "model": "T2V-01", "prompt": "x" })),
    )
    .await;
    assert_eq!(created["base_resp"]["status_code"], 0);
    let task = created["task_id"].as_str().unwrap();
    let query = json_of(
        client
            .get(format!("{base}/v1/query/video_generation?task_id={task}"))
            .bearer_auth("k"),
    )
    .await;
    assert_eq!(query["status"], "Success");
    let file = query["file_id"].as_str().unwrap();
    let retrieved = json_of(
        client
            .get(format!("{base}/v1/files/retrieve?file_id={file}"))
            .bearer_auth("k"),
    )
    .await;
    let url = retrieved["file"]["download_url"].as_str().unwrap();
    assert_eq!(client.get(url).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn minimax_errors_are_http_200_with_base_resp_codes() {
    let (sim, client) = start(SimConfig::default()).await;
    let r = json_of(
        client
            .post(format!(
                "{}/v1/video_generation",
                sim.base_url(Provider::Minimax)
            ))
            .bearer_auth("k")
            .json(&json!({ "model": "I2V-01", "prompt": "x" })),
    )
    .await;
    assert_eq!(r["base_resp"]["status_code"], 2013);
    assert_eq!(sim.paid_submits(Provider::Minimax), 0);
}

#[tokio::test]
async fn runway_tasks_beyond_the_concurrency_limit_are_throttled() {
    let mut config = SimConfig::default().with_timings(30.0, 1.0);
    config.runway.concurrency = Some(1);
    let (sim, client) = start(config).await;
    let body = json!({ "model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5 });
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let created = json_of(runway_post(&client, &sim, body.clone())).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let task = json_of(
            client
                .get(format!("{}/v1/tasks/{id}", sim.base_url(Provider::Runway)))
                .bearer_auth("k")
                .header("X-Runway-Version", "2024-11-06"),
        )
        .await;
        statuses.push(task["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["PENDING", "THROTTLED"]);
}

#[tokio::test]
async fn fal_streams_status_changes_as_server_sent_events_and_closes_after_completed() {
    let (sim, client) = start(SimConfig::default().with_timings(0.3, 0.3)).await;
    let r = json_of(
        client
            .post(format!(
                "{}/fal-ai/wan/v2.2-a14b/text-to-video",
                sim.base_url(Provider::Fal)
            ))
            .header("Authorization", "Key k")
            .json(&json!({ "prompt": "x" })),
    )
    .await;
    let stream = client
        .get(format!("{}/stream", r["status_url"].as_str().unwrap()))
        .header("Authorization", "Key k")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // The whole body arrives because the server closes the stream after COMPLETED.
    let text = stream.text().await.unwrap();
    let statuses: Vec<Value> = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"IN_QUEUE"));
    assert!(names.contains(&"IN_PROGRESS"), "{names:?}");
    assert_eq!(names.last(), Some(&"COMPLETED"));
    assert_eq!(names.iter().filter(|n| **n == "COMPLETED").count(), 1);
    let done = statuses.last().unwrap();
    assert!(
        done["response_url"]
            .as_str()
            .unwrap()
            .ends_with(r["request_id"].as_str().unwrap())
    );
    // The stream is logged as one `stream` call, not as polls.
    let endpoints: Vec<_> = sim.requests().iter().map(|r| r.endpoint).collect();
    assert_eq!(endpoints, [Some(Endpoint::Submit), Some(Endpoint::Stream)]);
}
