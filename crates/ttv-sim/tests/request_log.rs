//! The simulator's own record, read over HTTP like any client would and in-process: request
//! arrival times, each task's state-change times on the same clock, the latency from "done" to
//! "noticed" computed from the log alone, and which keys the simulator accepts.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use ttv_sim::{Endpoint, Outcome, Provider, Record, Sim, SimConfig, TaskTimeline};

use common::{poll_until, send, start};

fn runway(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .bearer_auth("any-key")
        .header("X-Runway-Version", "2024-11-06")
}

fn submit(sim: &Sim, client: &reqwest::Client) -> reqwest::RequestBuilder {
    submit_with_key(sim, client, "any-key")
}

fn submit_with_key(sim: &Sim, client: &reqwest::Client, key: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/v1/text_to_video", sim.base_url(Provider::Runway)))
        .bearer_auth(key)
        .header("X-Runway-Version", "2024-11-06")
        .json(&json!({ "model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 5 }))
}

async fn admin(sim: &Sim, client: &reqwest::Client, path: &str) -> (u16, Value) {
    send(client.get(format!("http://{}{path}", sim.addr()))).await
}

#[tokio::test]
async fn requests_and_task_state_changes_are_timed_on_one_clock() {
    let (sim, client) = start(SimConfig::default().with_timings(0.2, 0.3)).await;
    let (_, created) = send(submit(&sim, &client)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let task_url = format!("{}/v1/tasks/{id}", sim.base_url(Provider::Runway));
    poll_until(
        || runway(&client, reqwest::Method::GET, task_url.clone()),
        |task| task["status"] == "SUCCEEDED",
    )
    .await;

    // Over HTTP, in the documented shape, and the same as in-process.
    let (status, raw_log) = admin(&sim, &client, "/_sim/requests").await;
    assert_eq!(status, 200);
    let at = &raw_log[0]["received_at"];
    assert!(at["since_start_us"].is_u64(), "{at}");
    assert!(at["utc"].as_str().unwrap().ends_with('Z'), "{at}");
    assert_eq!(raw_log[0]["task"], id.as_str());
    let log: Vec<Record> = serde_json::from_value(raw_log).unwrap();
    let (_, raw_tasks) = admin(&sim, &client, "/_sim/tasks").await;
    let tasks: Vec<TaskTimeline> = serde_json::from_value(raw_tasks.clone()).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(raw_tasks[0]["outcome"], "succeeded");
    assert_eq!(log, sim.requests()[..log.len()]);
    assert_eq!(tasks, sim.tasks());
    let (status, one) = admin(&sim, &client, &format!("/_sim/tasks/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_value::<TaskTimeline>(one).unwrap(),
        tasks[0]
    );
    assert_eq!(admin(&sim, &client, "/_sim/tasks/nope").await.0, 404);

    // The timeline follows the knobs exactly: 0.2 s queued, 0.3 s running.
    let task = &tasks[0];
    assert_eq!(
        (task.provider, task.id.as_str()),
        (Provider::Runway, id.as_str())
    );
    let running = task.running_at.unwrap();
    let done = task.done_at.unwrap();
    assert_eq!(
        running.duration_since(task.queued_at),
        Duration::from_millis(200)
    );
    assert_eq!(done.duration_since(running), Duration::from_millis(300));
    assert_eq!(
        (done.utc - task.queued_at.utc).to_std().unwrap(),
        Duration::from_millis(500),
        "wall-clock and monotonic times agree"
    );
    assert_eq!(task.outcome, Some(Outcome::Succeeded));
    assert_eq!(task.deleted_at, None);

    // Arrivals are in order, the task was created while its submit was handled, and every
    // poll is named after the task.
    assert!(log.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    let submit = &log[0];
    assert_eq!(
        (submit.endpoint, submit.paid),
        (Some(Endpoint::Submit), true)
    );
    assert!(submit.received_at <= task.queued_at && task.queued_at < log[1].received_at);
    let polls: Vec<&Record> = log
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Poll))
        .collect();
    assert!(polls.iter().all(|r| r.task.as_deref() == Some(id.as_str())));

    // "Noticed": the first successful poll received at or after `done`.
    let noticing = polls
        .iter()
        .find(|r| r.received_at >= done)
        .expect("a poll after done");
    assert_eq!(
        task.noticed_after(&log),
        Some(noticing.received_at.duration_since(done))
    );
    let before: Vec<_> = polls.iter().filter(|r| r.received_at < done).collect();
    assert!(
        !before.is_empty(),
        "polls before done are not the noticing one"
    );
}

#[tokio::test]
async fn a_task_still_running_shows_only_the_changes_that_happened() {
    let (sim, client) = start(SimConfig::default().with_timings(0.0, 30.0)).await;
    let (_, created) = send(submit(&sim, &client)).await;
    let id = created["id"].as_str().unwrap();
    let task = sim.task(id).unwrap();
    assert!(task.running_at.is_some());
    assert_eq!((task.done_at, task.outcome), (None, None));
    assert_eq!(task.noticed_after(&sim.requests()), None);
    assert!(sim.now() >= task.queued_at);
}

#[tokio::test]
async fn any_non_empty_key_is_accepted_unless_one_is_configured() {
    let (open, client) = start(SimConfig::default()).await;
    assert_eq!(send(submit(&open, &client)).await.0, 200);
    let anonymous = client
        .post(format!(
            "{}/v1/text_to_video",
            open.base_url(Provider::Runway)
        ))
        .header("X-Runway-Version", "2024-11-06")
        .json(&json!({}));
    assert_eq!(send(anonymous).await.0, 401);

    let (strict, client) = start(SimConfig {
        api_key: Some("the-one-key".into()),
        ..SimConfig::default()
    })
    .await;
    let (status, body) = send(submit(&strict, &client)).await;
    assert_eq!(status, 401, "{body}");
    let right = submit_with_key(&strict, &client, "the-one-key");
    assert_eq!(send(right).await.0, 200);
}
