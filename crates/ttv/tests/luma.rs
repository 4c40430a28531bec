//! The luma backend against the simulator: the Agents API (inline frames) and Dream Machine
//! (URL-only keyframes through the upload bucket, a real S3 server in CI), validation before
//! spending, cancel, every mapped error.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::media::delivery::How;
use ttv::services::bucket::BucketOptions;
use ttv::services::luma::{Luma, LumaOptions};
use ttv::{ErrorKind, GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

use common::{KEY, generate, png, quick, sim};

fn with(sim: &Sim, model: &str, uploads: Option<BucketOptions>) -> Luma {
    Luma::new(LumaOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.api_base(Provider::Luma),
        legacy_api_key: Some(ttv::http::ApiKey::new(KEY)),
        legacy_base_url: sim.luma_legacy_base(),
        model: model.to_owned(),
        poll_interval: Duration::from_millis(50),
        uploads,
    })
    .unwrap()
}

fn backend(sim: &Sim) -> Luma {
    with(sim, "ray-3.2", None)
}

#[tokio::test]
async fn ray_3_2_text_to_video_sends_the_agents_api_body() {
    let sim = sim(quick()).await;
    let (out, seen, _dir) = generate(
        &backend(&sim),
        &GenerationRequest::text("a greenhouse at dawn"),
    )
    .await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    let records = sim.requests();
    assert_eq!(
        (records[0].method.as_str(), records[0].path.as_str()),
        ("POST", "/luma/v1/generations")
    );
    assert_eq!(records[0].headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(
        records[0].json(),
        json!({ "model": "ray-3.2", "prompt": "a greenhouse at dawn", "aspect_ratio": "16:9", "type": "video",
                "video": { "duration": "5s", "resolution": "720p" } })
    );
    assert_eq!(
        records[1].path,
        format!("/luma/v1/generations/{}", generated.ticket.id)
    );
    assert_eq!(sim.paid_submits(Provider::Luma), 1);
}

#[tokio::test]
async fn agents_frames_go_inline_as_base64_with_their_media_type() {
    let sim = sim(quick()).await;
    let (first, last) = (png("image", [5, 5, 5]), png("last_frame", [9, 9, 9]));
    let req = GenerationRequest {
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        ..GenerationRequest::text("turn")
    };
    let (out, _, _dir) = generate(&backend(&sim), &req).await;
    let generated = out.unwrap();
    let video = sim.requests()[0].json()["video"].clone();
    assert_eq!(
        video["start_frame"],
        json!({ "data": first.base64(), "media_type": "image/png" })
    );
    assert_eq!(
        video["end_frame"],
        json!({ "data": last.base64(), "media_type": "image/png" })
    );
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!(inputs[0].how, How::Inline);
}

#[tokio::test]
async fn requests_luma_cannot_take_are_refused_before_spending() {
    let sim = sim(quick()).await;
    let with_image = GenerationRequest {
        image: Some(png("image", [1, 1, 1])),
        duration: Some(VideoDuration::from_secs(10)),
        ..GenerationRequest::text("x")
    };
    let err = backend(&sim).validate(&with_image).unwrap_err();
    assert!(
        err.problems()
            .iter()
            .any(|p| p.allowed.contains("text only")),
        "{err}"
    );
    // Dream Machine takes images only by URL: without a bucket the message says what to set.
    let legacy = with(&sim, "ray-2", None);
    let err = legacy
        .validate(&GenerationRequest {
            image: Some(png("image", [1, 1, 1])),
            ..GenerationRequest::text("x")
        })
        .unwrap_err();
    assert!(
        err.problems()[0]
            .allowed
            .contains("uploads.store: s3://bucket/prefix"),
        "{err}"
    );
    assert!(sim.requests().is_empty());
    let est = legacy.estimate_cost(&GenerationRequest::text("x")).unwrap();
    assert_eq!(est.usd.to_string(), "$0.71");
}

#[tokio::test]
async fn dream_machine_text_to_video_and_delete_as_cancel() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let legacy = with(&sim, "ray-flash-2", None);
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(9)),
        ..GenerationRequest::text("a fox")
    };
    let ticket = legacy
        .submit(&req, &legacy.validate(&req).unwrap())
        .await
        .unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(submit.path, "/luma/dream-machine/v1/generations/video");
    assert_eq!(
        submit.json(),
        json!({ "model": "ray-flash-2", "prompt": "a fox", "aspect_ratio": "16:9", "generation_type": "video",
                "resolution": "720p", "duration": "9s" })
    );
    assert!(matches!(
        legacy.poll(&ticket).await.unwrap(),
        ttv::Status::Running { .. }
    ));
    legacy.cancel(&ticket).await.unwrap();
    let delete = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .unwrap();
    assert_eq!(
        (delete.path.as_str(), delete.status),
        (
            format!("/luma/dream-machine/v1/generations/{}", ticket.id).as_str(),
            204
        )
    );
    // The Agents API has no cancel.
    let agents = backend(&sim);
    let t2 = agents
        .submit(
            &GenerationRequest::text("y"),
            &agents.validate(&GenerationRequest::text("y")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        agents.cancel(&t2).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn dream_machine_keyframes_travel_as_presigned_urls_from_the_bucket() {
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let bucket = common::s3_bucket(&endpoint).await;
    let sim = sim(quick()).await;
    let legacy = with(&sim, "ray-2", Some(bucket.clone()));
    let first = png("image", [200, 100, 0]);
    let req = GenerationRequest {
        image: Some(first.clone()),
        ..GenerationRequest::text("sunrise")
    };
    let (out, _, _dir) = generate(&legacy, &req).await;
    let generated = out.unwrap();
    let body = sim.requests()[0].json();
    let url = body["keyframes"]["frame0"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["keyframes"]["frame0"]["type"], "image");
    assert!(
        url.starts_with(&endpoint) && url.contains("X-Amz-Signature="),
        "{url}"
    );
    // The simulator fetched the URL as Luma would; fetch it again and compare the bytes.
    let fetched = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&fetched[..], first.bytes());
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!(inputs[0].how, How::Upload);
    assert_eq!(inputs[0].via, "object_store");
    let reference = inputs[0].reference.clone().unwrap();
    assert!(
        reference.starts_with("s3://") && reference.ends_with(&format!("{}.png", first.sha256())),
        "{reference}"
    );
    assert!(!reference.contains("Signature"));
}

#[tokio::test]
async fn an_agents_image_over_the_inline_limit_goes_through_the_bucket() {
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let bucket = common::s3_bucket(&endpoint).await;
    let sim = sim(quick()).await;
    let big = common::noise_png("image", 1900, 1500);
    let req = GenerationRequest {
        image: Some(big.clone()),
        ..GenerationRequest::text("noise")
    };
    let (out, _, _dir) = generate(&with(&sim, "ray-3.2", Some(bucket)), &req).await;
    out.unwrap();
    let start = sim.requests()[0].json()["video"]["start_frame"].clone();
    assert!(
        start["url"].as_str().unwrap().contains("X-Amz-Signature="),
        "{start}"
    );
}

#[tokio::test]
async fn submit_faults_map_to_kinds_and_spend() {
    common::submit_faults(
        Provider::Luma,
        backend,
        &common::submit_faults_moderated_after_create(),
    )
    .await;
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    common::job_faults(Provider::Luma, backend, common::JOB_FAULTS).await;
}
