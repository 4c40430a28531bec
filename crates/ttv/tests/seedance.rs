//! The seedance backend against the simulator's ModelArk protocol: exact requests, the task
//! lifecycle, cancel, every mapped error, and images inline or through the bucket.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::seedance::{Seedance, SeedanceOptions};
use ttv::{ErrorKind, GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

use common::{KEY, generate, png, quick, sim};

fn backend(sim: &Sim) -> Seedance {
    Seedance::new(SeedanceOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.api_base(Provider::Seedance),
        poll_interval: Duration::from_millis(50),
        ..SeedanceOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn text_to_video_sends_content_items_and_top_level_parameters() {
    let sim = sim(quick()).await;
    let seedance = backend(&sim);
    let req = GenerationRequest {
        seed: Some(11),
        duration: Some(VideoDuration::from_secs(6)),
        ..GenerationRequest::text("a kitten yawning")
    };
    let (out, seen, _dir) = generate(&seedance, &req).await;
    let generated = out.unwrap();
    assert!(
        seen.queued > 0 && seen.running > 0 && seen.downloading > 0,
        "{seen:?}"
    );
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        (submit.method.as_str(), submit.path.as_str()),
        ("POST", "/seedance/api/v3/contents/generations/tasks")
    );
    assert_eq!(submit.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(
        submit.json(),
        json!({
            "model": "seedance-1-5-pro-251215",
            "content": [{ "type": "text", "text": "a kitten yawning" }],
            "resolution": "720p", "ratio": "16:9", "duration": 6, "seed": 11, "generate_audio": false
        })
    );
    assert_eq!(
        records[1].path,
        format!(
            "/seedance/api/v3/contents/generations/tasks/{}",
            generated.ticket.id
        )
    );
    assert!(generated.ticket.id.starts_with("cgt-"));
    assert_eq!(sim.paid_submits(Provider::Seedance), 1);
    // Charged from usage.completion_tokens at $1.2 per million (1248x704 is the size asked;
    // the simulator bills the 16:9 720p tier it renders).
    assert!(generated.charged.is_some());
}

#[tokio::test]
async fn first_and_last_frames_go_inline_with_their_roles() {
    let sim = sim(quick()).await;
    let first = png("image", [200, 10, 10]);
    let last = png("last_frame", [10, 10, 200]);
    let req = GenerationRequest {
        prompt: "dusk to night".into(),
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        ..GenerationRequest::default()
    };
    let (out, _, _dir) = generate(&backend(&sim), &req).await;
    let generated = out.unwrap();
    assert_eq!(
        sim.requests()[0].json()["content"],
        json!([
            { "type": "text", "text": "dusk to night" },
            { "type": "image_url", "image_url": { "url": first.data_uri() }, "role": "first_frame" },
            { "type": "image_url", "image_url": { "url": last.data_uri() }, "role": "last_frame" }
        ])
    );
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!(inputs.len(), 2);
    assert!(
        inputs
            .iter()
            .all(|d| d.how == ttv::media::delivery::How::Inline && d.via == "data_uri")
    );
}

#[tokio::test]
async fn a_single_image_has_no_role_and_bad_requests_are_refused_before_spending() {
    let sim = sim(quick()).await;
    let seedance = backend(&sim);
    let image = png("image", [1, 200, 1]);
    let req = GenerationRequest {
        image: Some(image.clone()),
        ..GenerationRequest::text("grass")
    };
    let ticket = seedance
        .submit(&req, &seedance.validate(&req).unwrap())
        .await
        .unwrap();
    assert_eq!(
        sim.requests()[0].json()["content"][1],
        json!({ "type": "image_url", "image_url": { "url": image.data_uri() } })
    );
    assert!(!ticket.id.is_empty());
    sim.clear_requests();
    let bad = GenerationRequest {
        duration: Some(VideoDuration::from_secs(20)),
        negative_prompt: Some("blur".into()),
        ..GenerationRequest::text("x")
    };
    let err = seedance.validate(&bad).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["negative_prompt", "duration"], "{err}");
    assert_eq!(err.problems()[1].allowed, "4s to 12s in steps of 1s");
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn the_estimate_counts_tokens_and_names_its_source() {
    let sim = sim(quick()).await;
    let est = backend(&sim)
        .estimate_cost(&GenerationRequest::text("x"))
        .unwrap();
    // 1248 × 704 × 24 fps × 5 s / 1024 = 102,960 tokens at $1.2/M.
    assert_eq!(est.usd.micros, 123_552);
    assert!(est.basis.contains("102960 tokens"), "{}", est.basis);
    assert_eq!(
        est.source.unwrap().url,
        "https://docs.comfy.org/tutorials/partner-nodes/pricing"
    );
}

#[tokio::test]
async fn a_queued_task_is_cancelled_and_a_running_one_cannot_be() {
    let sim = sim(SimConfig::default().with_timings(30.0, 1.0)).await;
    let seedance = backend(&sim);
    let req = GenerationRequest::text("wait");
    let ticket = seedance
        .submit(&req, &seedance.validate(&req).unwrap())
        .await
        .unwrap();
    seedance.cancel(&ticket).await.unwrap();
    assert!(matches!(
        seedance.poll(&ticket).await.unwrap(),
        ttv::Status::Cancelled
    ));
    let delete = &sim.requests()[1];
    assert_eq!((delete.method.as_str(), delete.status), ("DELETE", 200));

    let running = common::sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let seedance = backend(&running);
    let ticket = seedance
        .submit(&req, &seedance.validate(&req).unwrap())
        .await
        .unwrap();
    let err = seedance.cancel(&ticket).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

#[tokio::test]
async fn submit_faults_map_to_kinds_and_spend() {
    common::submit_faults(Provider::Seedance, backend, common::SUBMIT_FAULTS).await;
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    common::job_faults(Provider::Seedance, backend, common::JOB_FAULTS).await;
}

#[tokio::test]
async fn an_image_too_big_to_inline_without_a_bucket_is_refused_naming_what_to_configure() {
    let sim = sim(quick()).await;
    let big = common::noise_png("image", 1900, 1500);
    assert!(big.bytes().len() as u64 > ttv::services::seedance::models::INLINE_MAX);
    let req = GenerationRequest {
        image: Some(big),
        ..GenerationRequest::text("big")
    };
    let err = backend(&sim).validate(&req).unwrap_err();
    assert!(err.problems()[0].allowed.contains("uploads.store"), "{err}");
    assert!(sim.requests().is_empty());
}
