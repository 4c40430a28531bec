//! Every route over real HTTP against a server started in-process: the animatic backend for
//! whole jobs, the simulator for a hosted one, and the refusals (bad JSON, wrong types,
//! unknown fields and models, oversize bodies, non-images, tokens, idempotency conflicts).

mod common;

use common::{Setup, png, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use ttv_server::TokenSpec;

fn is_mp4(bytes: &[u8]) -> bool {
    bytes.len() > 12 && &bytes[4..8] == b"ftyp"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_sdk_sequence_creates_polls_lists_downloads_and_deletes_a_video() {
    let s = start(Setup::default()).await;
    // What openai-python's client.videos.create(model=..., prompt=..., seconds=..., size=...) sends.
    let resp = s
        .http
        .post(s.url("/v1/videos"))
        .json(&json!({ "model": "sora-2", "prompt": "A calico cat playing a piano on stage", "seconds": "2", "size": "640x360" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("video_"), "{id}");
    assert_eq!(created["object"], "video");
    assert_eq!(created["model"], "sora-2");
    // A free worker may already have taken it.
    assert!(["queued", "in_progress"].contains(&created["status"].as_str().unwrap()));
    assert_eq!(created["size"], "640x360");
    assert_eq!(created["seconds"], "2");
    assert!(created["created_at"].is_i64());
    assert_eq!(created["error"], Value::Null);

    let done = s
        .poll_until(&format!("/v1/videos/{id}"), None, |v| {
            v["status"] == "completed" || v["status"] == "failed"
        })
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    assert!(done["completed_at"].as_i64().unwrap() >= created["created_at"].as_i64().unwrap());

    // A second video, then the list (newest first) and its pagination.
    let second: Value = s
        .http
        .post(s.url("/v1/videos"))
        .json(&json!({ "prompt": "a second one", "seconds": "1" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Value = s
        .http
        .get(s.url("/v1/videos?limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], second["id"]);
    assert_eq!(list["first_id"], second["id"]);
    assert_eq!(list["last_id"], second["id"]);
    assert_eq!(list["has_more"], true);
    let page2: Value = s
        .http
        .get(s.url(&format!(
            "/v1/videos?limit=1&after={}",
            second["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["data"][0]["id"], id.as_str());
    assert_eq!(page2["has_more"], false);
    let asc: Value = s
        .http
        .get(s.url("/v1/videos?order=asc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asc["first_id"], id.as_str());

    // The content, whole and by range.
    let whole = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let bytes = whole.bytes().await.unwrap();
    assert!(is_mp4(&bytes));
    let part = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content?variant=video")))
        .header("Range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 4-11/{}", bytes.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &bytes[4..12]);
    let beyond = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content")))
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Delete: OpenAI's deleted object, then the video is gone.
    let deleted: Value = s
        .http
        .delete(s.url(&format!("/v1/videos/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({ "id": id, "object": "video.deleted", "deleted": true })
    );
    let gone = s
        .http
        .get(s.url(&format!("/v1/videos/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"].as_object().unwrap().contains_key("param"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_request_with_an_input_reference_makes_an_image_to_video_job() {
    let s = start(Setup::default()).await;
    let form = reqwest::multipart::Form::new()
        .text("model", "ttv/animatic")
        .text("prompt", "the harbour wakes up")
        .text("seconds", "1")
        .part(
            "input_reference",
            reqwest::multipart::Part::bytes(png(128, 72))
                .file_name("ref.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = s
        .http
        .post(s.url("/v1/videos"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "ttv/animatic");
    let id = v["id"].as_str().unwrap();
    let native = s
        .poll_until(&format!("/v1/ttv/jobs/{id}"), None, |v| {
            v["phase"] == "done" || v["phase"] == "failed"
        })
        .await;
    assert_eq!(native["phase"], "done", "{native}");
    assert_eq!(native["backend"], "animatic");
    assert_eq!(native["resolved"]["mode"], "image_to_video");

    // Not an image: refused by content, naming the field.
    let form = reqwest::multipart::Form::new().text("prompt", "x").part(
        "input_reference",
        reqwest::multipart::Part::bytes(b"GIF89a not really".to_vec()).file_name("a.png"),
    );
    let resp = s
        .http
        .post(s.url("/v1/videos"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["param"], "input_reference", "{e}");

    // An unknown form field is named.
    let form = reqwest::multipart::Form::new()
        .text("prompt", "x")
        .text("quality", "hd");
    let e: Value = s
        .http
        .post(s.url("/v1/videos"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["error"]["param"], "quality");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_in_openais_error_shape_naming_the_field() {
    let s = start(Setup {
        max_body: Some(64 * 1024),
        ..Setup::default()
    })
    .await;
    let post = |body: &'static str| {
        s.http
            .post(s.url("/v1/videos"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |resp: reqwest::Response, status: StatusCode, code: &'static str, param: Value| async move {
        assert_eq!(resp.status(), status);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{e}");
        assert_eq!(e["error"]["param"], param, "{e}");
        assert!(e["error"]["type"].is_string());
        e
    };
    check(
        post("{\"prompt\": ").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
        Value::Null,
    )
    .await;
    check(
        post("{\"prompt\": 5}").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
        json!("prompt"),
    )
    .await;
    let e = check(
        post("{\"prompt\": \"x\", \"colour\": 1}").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
        json!("colour"),
    )
    .await;
    assert!(e["error"]["message"].as_str().unwrap().contains("colour"));
    check(
        post("{\"prompt\": \"x\", \"model\": \"gpt-9\"}")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "model_not_found",
        json!("model"),
    )
    .await;
    check(
        post("{\"prompt\": \"x\", \"model\": \"ttv/nosuch\"}")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "model_not_found",
        json!("model"),
    )
    .await;
    check(
        post("{\"prompt\": \"x\", \"seconds\": \"soon\"}")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
        json!("seconds"),
    )
    .await;
    check(
        post("{\"prompt\": \"x\", \"size\": \"big\"}")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
        json!("size"),
    )
    .await;
    // Over the body limit (an image too big to take).
    let big = s
        .http
        .post(s.url("/v1/ttv/jobs"))
        .json(&json!({ "prompt": "x", "image": "A".repeat(100_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let e: Value = big.json().await.unwrap();
    assert_eq!(e["error"]["code"], "body_too_large", "{e}");
    // Nothing was accepted.
    let list: Value = s
        .http
        .get(s.url("/v1/videos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    let ended: Value = s
        .http
        .get(s.url("/v1/ttv/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ended["jobs"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_pipelines_routes_answer_as_its_openapi_says() {
    let s = start(Setup::default()).await;
    let resp = s
        .http
        .post(s.url("/jobs"))
        .json(&json!({ "prompt": "  a   lighthouse\n at night " , "duration": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["status"], "queued");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["created_at"].is_string());
    let done = s
        .poll_until(&format!("/jobs/{id}"), None, |v| {
            v["status"] == "finished" || v["status"] == "failed"
        })
        .await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["progress"], 100);
    for key in ["started_at", "finished_at", "gcs_uri", "error"] {
        assert!(done.as_object().unwrap().contains_key(key), "{key}");
    }
    let native: Value = s
        .http
        .get(s.url(&format!("/v1/ttv/jobs/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(native["prompt"], "a lighthouse at night");

    let list: Value = s
        .http
        .get(s.url("/jobs?limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    let bad = s.http.get(s.url("/jobs?limit=0")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"], "invalid_value");
    assert_eq!(e["details"]["field"], "limit");

    let cancel: Value = s
        .http
        .post(s.url(&format!("/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancel["status"], "finished");
    assert!(
        cancel["message"]
            .as_str()
            .unwrap()
            .contains("already ended")
    );

    // The signed URL works with no token, and not once tampered with.
    let url: Value = s
        .http
        .get(s.url(&format!("/jobs/{id}/video-url?expiration_seconds=60")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(url["content_type"], "video/mp4");
    let signed = url["url"].as_str().unwrap();
    let got = reqwest::get(signed).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert!(is_mp4(&got.bytes().await.unwrap()));
    let tampered = reqwest::get(format!("{}0", signed)).await.unwrap();
    assert_eq!(tampered.status(), StatusCode::FORBIDDEN);
    let short = s
        .http
        .get(s.url(&format!("/jobs/{id}/video-url?expiration_seconds=5")))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);

    let unknown = s
        .http
        .post(s.url("/jobs"))
        .json(&json!({ "prompt": "x", "priority": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let e: Value = unknown.json().await.unwrap();
    assert_eq!(e["details"]["field"], "priority");
    let empty = s
        .http
        .post(s.url("/jobs"))
        .json(&json!({ "prompt": "   " }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let health: Value = reqwest::get(s.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    let ready = reqwest::get(s.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = reqwest::get(s.url("/metrics/prometheus"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ttv_jobs_accepted_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("ttv_jobs_ended_total{outcome=\"done\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_every_job_and_each_sees_only_its_own() {
    let mut tokens = TokenSpec::parse_list("alice=alice-secret,bob=bob-secret", false);
    tokens.extend(TokenSpec::parse_list("ops=admin-secret", true));
    let s = start(Setup {
        tokens,
        ..Setup::default()
    })
    .await;
    let missing = s.http.get(s.url("/v1/videos")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let e: Value = missing.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    let wrong = s
        .http
        .get(s.url("/v1/videos"))
        .bearer_auth("alice-secreT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let text = wrong.text().await.unwrap();
    assert!(!text.contains("alice-secret"));

    let v: Value = s
        .http
        .post(s.url("/v1/videos"))
        .bearer_auth("alice-secret")
        .json(&json!({ "prompt": "alice's", "seconds": "1" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let bob = s
        .http
        .get(s.url(&format!("/v1/videos/{id}")))
        .bearer_auth("bob-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), StatusCode::NOT_FOUND);
    let bob_list: Value = s
        .http
        .get(s.url("/v1/videos"))
        .bearer_auth("bob-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob_list["data"], json!([]));
    let done = s
        .poll_until(&format!("/v1/videos/{id}"), Some("admin-secret"), |v| {
            v["status"] == "completed"
        })
        .await;
    assert_eq!(done["status"], "completed");
    let content = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content")))
        .bearer_auth("bob-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), StatusCode::NOT_FOUND);
    let content = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content")))
        .bearer_auth("alice-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), StatusCode::OK);
    // Health and the document stay open.
    assert_eq!(
        reqwest::get(s.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(s.url("/openapi.json")).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_the_server_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = common::jobs_in(dir.path(), &[]);
    let opts = ttv_server::Options::new("0.0.0.0:0".parse().unwrap(), dir.path().join("server"));
    let err = match ttv_server::Server::start(jobs, opts, Vec::new()).await {
        Ok(_) => panic!("started on 0.0.0.0 without tokens"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without bearer tokens"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_gives_the_same_job_for_the_same_body_and_409_for_another() {
    let s = start(Setup::default()).await;
    let send = |body: Value| {
        s.http
            .post(s.url("/v1/ttv/jobs"))
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = send(json!({ "prompt": "a kite", "duration": 1, "backend": "animatic" }))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = send(json!({ "prompt": "a kite", "duration": 1, "backend": "animatic" }))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other = send(json!({ "prompt": "a different kite", "duration": 1, "backend": "animatic" }))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let e: Value = other.json().await.unwrap();
    assert_eq!(e["error"]["code"], "idempotency_key_reused");
    let all: Value = s
        .http
        .get(s.url("/v1/ttv/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_spend_and_backends_answer_without_running_anything() {
    let s = start(Setup::default()).await;
    let est: Value = s
        .http
        .post(s.url("/v1/estimate"))
        .json(&json!({ "prompt": "a kite", "duration": 2, "backend": "animatic" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(est["backend"], "animatic");
    assert_eq!(est["resolved"]["duration"], 2.0);
    assert_eq!(est["estimate"]["usd"]["micros"], 0);
    let bad = s
        .http
        .post(s.url("/v1/estimate"))
        .json(&json!({ "prompt": "a kite", "duration": -1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"]["param"], "duration");
    let backends: Value = reqwest::get(s.url("/v1/backends"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let animatic = backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "animatic")
        .unwrap();
    assert_eq!(animatic["available"], true);
    let runway = backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "runway")
        .unwrap();
    assert_eq!(runway["available"], false);
    assert!(runway["reason"].is_string());
    let spend: Value = reqwest::get(s.url("/v1/spend"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spend["lines"], json!([]));
    let jobs: Value = reqwest::get(s.url("/v1/ttv/jobs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"], json!([]));
}

/// The events of an SSE body: (id, event, data).
fn parse_sse(text: &str) -> Vec<(u64, String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data = serde_json::from_str(v).ok();
                }
            }
            Some((id?, event?, data?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_arrive_in_order_and_a_reconnect_with_last_event_id_misses_nothing() {
    let s = start(Setup {
        workers: Some(1),
        ..Setup::default()
    })
    .await;
    // Two jobs on one worker: the second waits in the queue at position 2.
    let mut ids = Vec::new();
    for prompt in ["first", "second"] {
        let v: Value = s
            .http
            .post(s.url("/v1/ttv/jobs"))
            .json(&json!({ "prompt": prompt, "duration": 1, "backend": "animatic" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let second = &ids[1];
    let all = s
        .http
        .get(s.url(&format!("/jobs/{second}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(all.headers()["content-type"], "text/event-stream");
    let events = parse_sse(&all.text().await.unwrap());
    let numbers: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        numbers,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "numbered in order"
    );
    assert_eq!(events[0].1, "queued");
    // Second in line, or first once the other job took the worker.
    assert!([1, 2].contains(&events[0].2["position"].as_u64().unwrap()));
    assert_eq!(events[1].1, "started");
    assert_eq!(events.last().unwrap().1, "done");
    let kinds: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert!(
        kinds.contains(&"progress") && kinds.contains(&"downloading"),
        "{kinds:?}"
    );
    let progress: Vec<u64> = events
        .iter()
        .filter_map(|e| e.2["progress"].as_u64())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {progress:?}"
    );

    // Reconnecting after event 3 gives exactly events 4.. again.
    let tail = s
        .http
        .get(s.url(&format!("/v1/ttv/jobs/{second}/events")))
        .header("Last-Event-ID", "3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tail = parse_sse(&tail);
    assert_eq!(tail, events[3..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_in_the_openapi_document_and_answers() {
    let s = start(Setup::default()).await;
    let doc: Value = reqwest::get(s.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in ttv_server::routes::ROUTES {
        let op = &doc["paths"][route.path][route.method];
        assert!(
            op.is_object(),
            "{} {} is missing from /openapi.json",
            route.method,
            route.path
        );
        let path = route.path.replace("{id}", "nosuch");
        let req = match route.method {
            "get" => s.http.get(s.url(&path)),
            "post" => s.http.post(s.url(&path)).json(&json!({ "prompt": "" })),
            "delete" => s.http.delete(s.url(&path)),
            other => panic!("method {other}"),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        // The router's own 404/405 have empty bodies; every route answers with content.
        assert!(
            !body.is_empty(),
            "{} {path}: {status} with an empty body (no such route?)",
            route.method
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_is_served_with_its_form_and_script() {
    let s = start(Setup::default()).await;
    let resp = reqwest::get(s.url("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    for needle in [
        "<form id=\"submit\"",
        "/v1/estimate",
        "/v1/ttv/jobs",
        "/events",
        "<video",
    ] {
        assert!(
            html.contains(needle) || html.contains(&needle.replace('<', "createElement(\"")),
            "{needle}"
        );
    }
}

const KEY: &str = "sim-server-key";

async fn runway_sim(run_secs: f64) -> ttv_sim::Sim {
    ttv_sim::Sim::start(ttv_sim::SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..ttv_sim::SimConfig::default().with_timings(0.0, run_secs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_job_runs_once_and_a_running_one_is_cancelled_at_the_provider() {
    use ttv_sim::Provider;
    let sim = runway_sim(30.0).await;
    let s = start(Setup {
        env: vec![
            ("RUNWAYML_API_SECRET", KEY.into()),
            ("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway)),
        ],
        models: vec![("sora-2", "runway")],
        ..Setup::default()
    })
    .await;
    let v: Value = s
        .http
        .post(s.url("/v1/videos"))
        .json(&json!({ "model": "sora-2", "prompt": "a slow sunset", "seconds": "5" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let running = s
        .poll_until(&format!("/v1/ttv/jobs/{id}"), None, |v| {
            v["state"] == "running"
        })
        .await;
    assert_eq!(running["backend"], "runway");
    assert_eq!(running["submits"], 1);
    let cancelled: Value = s
        .http
        .post(s.url(&format!("/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "canceled", "{cancelled}");
    let task = sim.task_ids(Provider::Runway).pop().unwrap();
    let state: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/tasks/{task}",
            sim.base_url(Provider::Runway)
        ))
        .bearer_auth(KEY)
        .header("X-Runway-Version", "2024-11-06")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["status"], "CANCELLED", "{state}");
    let openai: Value = s
        .http
        .get(s.url(&format!("/v1/videos/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["status"], "failed");
    assert_eq!(openai["error"]["code"], "cancelled");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_has_its_own_rate_and_daily_budget() {
    use ttv_sim::Provider;
    let sim = runway_sim(30.0).await;
    let s = start(Setup {
        env: vec![
            ("RUNWAYML_API_SECRET", KEY.into()),
            ("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway)),
        ],
        tokens: TokenSpec::parse_list("alice=a-secret,bob=b-secret", false),
        rate_per_minute: Some(3),
        // Room for one 5 s Runway clip a day (checked against the estimate below).
        token_daily_usd_micros: Some(1_000_000),
        ..Setup::default()
    })
    .await;
    let create = |token: &'static str, body: Value| {
        s.http
            .post(s.url("/v1/ttv/jobs"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let paid = json!({ "prompt": "a paid clip", "backend": "runway", "duration": 5 });
    let est: Value = s
        .http
        .post(s.url("/v1/estimate"))
        .bearer_auth("a-secret")
        .json(&paid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let micros = est["estimate"]["usd"]["micros"].as_i64().unwrap();
    assert!(
        (500_001..=1_000_000).contains(&micros),
        "one clip fits, two do not: {est}"
    );
    assert_eq!(
        create("a-secret", paid.clone()).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let over = create("a-secret", paid.clone()).await.unwrap();
    assert_eq!(over.status(), StatusCode::PAYMENT_REQUIRED);
    let e: Value = over.json().await.unwrap();
    assert_eq!(e["error"]["code"], "token_budget_exceeded", "{e}");
    // Bob's budget is his own.
    assert_eq!(
        create("b-secret", paid).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    // Free jobs count against the rate: alice has made one job this minute.
    let free = json!({ "prompt": "free", "backend": "animatic", "duration": 1 });
    assert_eq!(
        create("a-secret", free.clone()).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        create("a-secret", free.clone()).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let limited = create("a-secret", free.clone()).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let e: Value = limited.json().await.unwrap();
    assert_eq!(e["error"]["type"], "rate_limit_error");
    assert_eq!(
        create("b-secret", free).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert!(sim.paid_submits(Provider::Runway) <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_in_object_storage_is_answered_with_a_redirect_to_a_presigned_url_of_its_bytes() {
    let Some((env, bucket_url)) = common::s3_output_env().await else {
        return;
    };
    let s = start(Setup {
        env,
        ..Setup::default()
    })
    .await;
    let created: Value = s
        .http
        .post(s.url("/v1/videos"))
        .json(&json!({ "prompt": "a lighthouse at dusk", "seconds": "1", "size": "640x360" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let done = s
        .poll_until(&format!("/v1/videos/{id}"), None, |v| {
            v["status"] == "completed" || v["status"] == "failed"
        })
        .await;
    assert_eq!(done["status"], "completed", "{done}");

    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The job reads as completed once its video is verified; the upload follows at once, and
    // until it is done the local copy is served.
    let mut answer = None;
    for _ in 0..200 {
        let got = manual
            .get(s.url(&format!("/v1/videos/{id}/content")))
            .send()
            .await
            .unwrap();
        if got.status() == StatusCode::TEMPORARY_REDIRECT {
            answer = Some(got);
            break;
        }
        assert_eq!(got.status(), StatusCode::OK, "{done}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let answer = answer.expect("the stored video is answered with a redirect");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{bucket_url}/videos/"))
            && location.contains("X-Amz-Signature="),
        "{location}"
    );
    // The local verified file, byte for byte.
    let local = std::fs::read_dir(s.dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .expect("the verified video on local disk");
    let bytes = std::fs::read(&local).unwrap();
    let served = s
        .http
        .get(s.url(&format!("/v1/videos/{id}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The video-url route hands out the store's own presigned URL, for as long as asked.
    let url: Value = s
        .http
        .get(s.url(&format!("/jobs/{id}/video-url?expiration_seconds=120")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed = url["url"].as_str().unwrap();
    assert!(
        signed.starts_with(&format!("{bucket_url}/videos/")),
        "{signed}"
    );
    assert!(signed.contains("X-Amz-Expires=120"), "{signed}");
    let got = reqwest::get(signed).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
}
