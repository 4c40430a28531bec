//! Webhooks end to end: fal's signed webhook and MiniMax's challenge and callback, sent by
//! the simulator to the library's listener, wake the waiting job; polling stays the safety
//! net. The paid submits are counted by the simulator.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use ttv::backend::no_events;
use ttv::http::ApiKey;
use ttv::services::fal::{Fal, FalOptions};
use ttv::services::minimax::{Minimax, MinimaxOptions};
use ttv::webhooks::{WebhookSettings, Webhooks};
use ttv::{GenerationRequest, VideoBackend};
use ttv_server::WebhookListener;
use ttv_sim::{Endpoint, Provider, Sim, SimConfig};

const KEY: &str = "sim-webhook-key";
const FAL_T2V: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";
/// A fixed interval so long that a job is only seen early if something wakes it.
const POLLING_OFF: Duration = Duration::from_secs(600);

async fn sim(run_secs: f64) -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 256,
        ..SimConfig::default().with_timings(0.0, run_secs)
    })
    .await
    .unwrap()
}

/// A port nothing listens on (taken and given back).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Webhooks told to providers as `http://127.0.0.1:{port}`, checking fal's signatures
/// against the simulator's keys.
fn hooks(sim: &Sim, port: u16) -> Arc<Webhooks> {
    Webhooks::new(WebhookSettings {
        fal_jwks_url: sim.fal_jwks_url(),
        ..WebhookSettings::new(format!("http://127.0.0.1:{port}"))
    })
    .unwrap()
}

async fn listen(port: u16, hooks: &Arc<Webhooks>) -> WebhookListener {
    WebhookListener::start(([127, 0, 0, 1], port).into(), hooks.clone())
        .await
        .unwrap()
}

fn fal(sim: &Sim, hooks: &Arc<Webhooks>, poll: Duration) -> Fal {
    Fal::new(FalOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Fal),
        model: FAL_T2V.to_owned(),
        poll_interval: poll,
        // The stream would notice the end by itself; these tests are about the webhook.
        status_stream: false,
        webhooks: Some(hooks.clone()),
        ..FalOptions::default()
    })
    .unwrap()
}

fn minimax(sim: &Sim, hooks: &Arc<Webhooks>, poll: Duration) -> Minimax {
    Minimax::new(MinimaxOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Minimax),
        model: "MiniMax-Hailuo-02".to_owned(),
        poll_interval: poll,
        webhooks: Some(hooks.clone()),
    })
    .unwrap()
}

/// Runs the whole job (submit, wait, download, verify) into a temporary folder.
async fn generate(backend: &dyn VideoBackend) -> ttv::Generated {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let req = GenerationRequest::text("a lighthouse at night");
    tokio::time::timeout(
        Duration::from_secs(60),
        backend.generate(&req, &out, &no_events),
    )
    .await
    .expect("the job ends well before polling would see it")
    .expect("the job succeeds")
}

/// The webhook calls the simulator made, once there are `n` (a call is logged when its
/// answer came, which can be after the job it woke was done).
async fn webhooks_sent(sim: &Sim, n: usize) -> Vec<ttv_sim::WebhookSent> {
    for _ in 0..250 {
        let sent = sim.webhooks();
        if sent.len() >= n {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.webhooks()
}

fn status_calls(sim: &Sim, provider: Provider) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.provider == Some(provider) && r.endpoint == Some(Endpoint::Poll))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fal_job_is_noticed_through_its_signed_webhook_with_polling_off() {
    let sim = sim(1.0).await;
    let port = free_port();
    let hooks = hooks(&sim, port);
    let _listener = listen(port, &hooks).await;
    let made = generate(&fal(&sim, &hooks, POLLING_OFF)).await;

    let records = sim.requests();
    let submit = &records[0];
    let expected = format!("http://127.0.0.1:{port}/webhooks/fal");
    assert_eq!(
        submit.query.as_deref(),
        Some(
            format!(
                "fal_webhook={}",
                expected.replace(':', "%3A").replace('/', "%2F")
            )
            .as_str()
        )
    );
    // The webhook was signed and sent once, and accepted.
    let sent = webhooks_sent(&sim, 1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].url, expected);
    assert_eq!(sent[0].status, 200, "{}", sent[0].answer);
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["request_id"], made.ticket.id);
    assert_eq!(body["status"], "OK");
    // One status call at submit, one when the webhook came: never the 600 s interval.
    assert_eq!(status_calls(&sim, Provider::Fal), 2);
    let task = sim.task(&made.ticket.id).unwrap();
    let delay = task.noticed_after(&records).expect("noticed");
    assert!(delay < Duration::from_secs(1), "noticed {delay:?} after");
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    assert_eq!(hooks.pending(), 0, "nothing left waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimax_job_answers_the_challenge_and_is_noticed_through_its_callback() {
    let sim = sim(1.0).await;
    let port = free_port();
    let hooks = hooks(&sim, port);
    let _listener = listen(port, &hooks).await;
    let made = generate(&minimax(&sim, &hooks, POLLING_OFF)).await;

    let records = sim.requests();
    let expected = format!("http://127.0.0.1:{port}/webhooks/minimax");
    assert_eq!(records[0].json()["callback_url"], json!(expected));
    let sent = webhooks_sent(&sim, 3).await;
    assert_eq!(sent.len(), 3, "challenge, processing, success: {sent:?}");
    let challenge: Value = serde_json::from_str(&sent[0].body).unwrap();
    let answer: Value = serde_json::from_str(&sent[0].answer).unwrap();
    assert_eq!(answer, json!({ "challenge": challenge["challenge"] }));
    let statuses: Vec<Value> = sent[1..]
        .iter()
        .map(|s| serde_json::from_str::<Value>(&s.body).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("processing"), json!("success")]);
    assert!(sent.iter().all(|s| s.status == 200), "{sent:?}");
    // "processing" wakes nothing; "success" does.
    assert_eq!(status_calls(&sim, Provider::Minimax), 2);
    let task = sim.task(&made.ticket.id).unwrap();
    let delay = task.noticed_after(&records).expect("noticed");
    assert!(delay < Duration::from_secs(1), "noticed {delay:?} after");
    assert_eq!(sim.paid_submits(Provider::Minimax), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_unsigned_fal_webhooks_are_refused_and_polling_finishes_the_job() {
    let sim = sim(1.5).await;
    // Providers are told a port nobody listens on, so the simulator's own webhook is lost;
    // the test's forgeries reach the listener on another port.
    let hooks = hooks(&sim, free_port());
    let port = free_port();
    let _listener = listen(port, &hooks).await;
    let backend = Arc::new(fal(&sim, &hooks, Duration::from_secs(2)));
    let job = tokio::spawn({
        let backend = backend.clone();
        async move { generate(backend.as_ref()).await }
    });
    // Wait for the submit, then forge.
    let id = loop {
        if let Some(id) = sim.task_ids(Provider::Fal).first() {
            break id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let body = json!({ "request_id": id, "gateway_request_id": id, "status": "OK", "payload": {} })
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let forged = {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let message =
            ttv::services::fal::webhook::message(&id, "u", &now.to_string(), body.as_bytes());
        hex::encode(key.sign(&message).to_bytes())
    };
    let stale_at = (now - 600).to_string();
    let stale = sim.fal_webhook_signature(&id, "u", &stale_at, body.as_bytes());
    let url = format!("http://127.0.0.1:{port}/webhooks/fal");
    let http = reqwest::Client::new();
    let send = |ts: String, sig: Option<String>| {
        let mut r = http
            .post(&url)
            .header("x-fal-webhook-request-id", &id)
            .header("x-fal-webhook-user-id", "u")
            .header("x-fal-webhook-timestamp", ts)
            .body(body.clone());
        if let Some(sig) = sig {
            r = r.header("x-fal-webhook-signature", sig);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = send(now.to_string(), Some(forged)).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{answer}"
    );
    let (status, answer) = send(stale_at, Some(stale)).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"].as_str().unwrap().contains("600 s"),
        "{answer}"
    );
    let (status, answer) = send(now.to_string(), None).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("x-fal-webhook-signature"),
        "{answer}"
    );

    let made = job.await.unwrap();
    assert_eq!(made.ticket.id, id);
    let sent = webhooks_sent(&sim, 1).await;
    // Polled at submit and 2 s later (the job took 1.5 s): the forgeries woke nothing (a
    // wake would have polled at 1 s, and then again at 3 s).
    assert_eq!(status_calls(&sim, Provider::Fal), 2);
    assert!(
        !sent.is_empty() && sent.iter().all(|s| s.status == 0),
        "{sent:?}"
    );
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_listener_down_polling_finishes_both_jobs() {
    let sim = sim(0.5).await;
    // Nothing listens where the providers are told to call.
    let hooks = hooks(&sim, free_port());
    let poll = Duration::from_millis(300);
    let fal_made = generate(&fal(&sim, &hooks, poll)).await;
    let minimax_made = generate(&minimax(&sim, &hooks, poll)).await;
    assert!(fal_made.bytes > 0 && minimax_made.bytes > 0);
    let sent = webhooks_sent(&sim, 2).await;
    assert!(
        sent.iter().any(|s| s.provider == Provider::Fal) && sent.iter().all(|s| s.status == 0),
        "{sent:?}"
    );
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    assert_eq!(sim.paid_submits(Provider::Minimax), 1);
}

#[tokio::test]
async fn the_server_mounts_the_webhook_route_only_when_webhooks_are_configured() {
    let s = common::start(common::Setup::default()).await;
    let r = s
        .http
        .post(format!("{}/webhooks/minimax", s.base))
        .json(&json!({ "challenge": "abc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let sim = sim(1.0).await;
    let s = common::start(common::Setup {
        webhooks: Some(hooks(&sim, 9)),
        ..common::Setup::default()
    })
    .await;
    let r = s
        .http
        .post(format!("{}/webhooks/minimax", s.base))
        .json(&json!({ "challenge": "abc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "challenge": "abc" })
    );
    let r = s
        .http
        .post(format!("{}/webhooks/fal", s.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an unsigned fal call is refused");
}
