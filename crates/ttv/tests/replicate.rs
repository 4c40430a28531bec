//! The replicate backend against the simulator: official models and versions, `Prefer: wait`,
//! input mapping and `-x`, the files API for large images, progress from logs, cancel, every
//! mapped error.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::media::delivery::How;
use ttv::services::replicate::{Replicate, ReplicateOptions};
use ttv::{ErrorKind, Event, GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

use common::{KEY, generate, png, quick, sim};

fn with(sim: &Sim, model: &str, wait_secs: u64) -> Replicate {
    Replicate::new(ReplicateOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Replicate),
        model: model.to_owned(),
        wait_secs,
        poll_interval: Duration::from_millis(50),
        ..ReplicateOptions::default()
    })
    .unwrap()
}

fn backend(sim: &Sim) -> Replicate {
    with(sim, "kwaivgi/kling-v2.5-turbo-pro", 0)
}

#[tokio::test]
async fn an_official_model_is_run_by_owner_and_name_with_its_mapped_input() {
    let sim = sim(quick()).await;
    let mut req = GenerationRequest {
        negative_prompt: Some("blur".into()),
        ..GenerationRequest::text("a lighthouse")
    };
    req.extra.insert("cfg_scale".into(), json!(0.4));
    let (out, seen, _dir) = generate(&backend(&sim), &req).await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        submit.path,
        "/replicate/v1/models/kwaivgi/kling-v2.5-turbo-pro/predictions"
    );
    assert_eq!(submit.headers["authorization"], format!("Bearer {KEY}"));
    assert!(!submit.headers.contains_key("prefer"));
    assert_eq!(submit.status, 201);
    assert_eq!(
        submit.json(),
        json!({ "input": { "prompt": "a lighthouse", "duration": 5, "aspect_ratio": "16:9", "negative_prompt": "blur", "cfg_scale": 0.4 } })
    );
    assert_eq!(
        records[1].path,
        format!("/replicate/v1/predictions/{}", generated.ticket.id)
    );
    assert_eq!(sim.paid_submits(Provider::Replicate), 1);
}

#[tokio::test]
async fn prefer_wait_returns_a_short_job_finished_from_the_create_call() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.2)).await;
    let r = with(&sim, "kwaivgi/kling-v2.5-turbo-pro", 5);
    let (out, seen, _dir) = generate(&r, &GenerationRequest::text("quick")).await;
    out.unwrap();
    assert_eq!(sim.requests()[0].headers["prefer"], "wait=5");
    assert_eq!(
        seen.queued + seen.running,
        0,
        "the first poll found it done: {seen:?}"
    );
}

#[tokio::test]
async fn a_version_runs_on_the_predictions_endpoint_with_the_generic_mapping() {
    let sim = sim(quick()).await;
    let version = "a".repeat(64);
    let r = with(&sim, &format!("someone/video-model:{version}"), 0);
    let mut req = GenerationRequest::text("anything");
    req.extra.insert("num_frames".into(), json!(81));
    let (out, _, _dir) = generate(&r, &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(submit.path, "/replicate/v1/predictions");
    assert_eq!(
        submit.json(),
        json!({ "version": version, "input": { "prompt": "anything", "num_frames": 81 } })
    );
    assert_eq!(
        r.estimate_cost(&req).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn small_images_go_inline_and_large_ones_through_the_files_api() {
    let sim = sim(quick()).await;
    let small = png("image", [1, 2, 3]);
    let large = common::noise_png("last_frame", 400, 300);
    assert!(large.bytes().len() > 256 * 1024);
    let req = GenerationRequest {
        image: Some(small.clone()),
        last_frame: Some(large.clone()),
        ..GenerationRequest::text("morph")
    };
    let (out, _, _dir) = generate(&with(&sim, "bytedance/seedance-1-pro", 0), &req).await;
    let generated = out.unwrap();
    let records = sim.requests();
    let upload = &records[0];
    assert_eq!(
        (upload.method.as_str(), upload.path.as_str(), upload.status),
        ("POST", "/replicate/v1/files", 201)
    );
    assert!(upload.headers["content-type"].starts_with("multipart/form-data"));
    let input = records[1].json()["input"].clone();
    assert_eq!(input["image"], json!(small.data_uri()));
    let file_url = input["last_frame_image"].as_str().unwrap();
    assert!(file_url.contains("/replicate/v1/files/"), "{file_url}");
    assert_eq!(
        sim.uploads(),
        vec![(Provider::Replicate, large.bytes().len())]
    );
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!((inputs[0].how, inputs[1].how), (How::Inline, How::Upload));
    assert_eq!(inputs[1].via, "replicate_files");
}

#[tokio::test]
async fn progress_is_read_from_the_logs() {
    let sim = sim(SimConfig::default().with_timings(0.0, 1.0)).await;
    let r = backend(&sim);
    let progress = std::sync::Mutex::new(Vec::new());
    let sink = |e: Event| {
        if let Event::Running { progress: Some(p) } = e {
            progress.lock().unwrap().push(p);
        }
    };
    let dir = tempfile::tempdir().unwrap();
    r.generate(
        &GenerationRequest::text("p"),
        &dir.path().join("p.mp4"),
        &sink,
    )
    .await
    .unwrap();
    let seen = progress.into_inner().unwrap();
    assert!(
        !seen.is_empty() && seen.iter().all(|p| (0.0..=1.0).contains(p)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn cancel_posts_to_the_cancel_url_and_polls_report_canceled() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let r = backend(&sim);
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(10)),
        ..GenerationRequest::text("long")
    };
    let ticket = r.submit(&req, &r.validate(&req).unwrap()).await.unwrap();
    r.cancel(&ticket).await.unwrap();
    assert!(matches!(
        r.poll(&ticket).await.unwrap(),
        ttv::Status::Cancelled
    ));
    let cancel = &sim.requests()[1];
    assert_eq!(
        (cancel.method.as_str(), cancel.path.as_str()),
        (
            "POST",
            format!("/replicate/v1/predictions/{}/cancel", ticket.id).as_str()
        )
    );
}

#[tokio::test]
async fn submit_faults_map_to_kinds_and_spend() {
    common::submit_faults(
        Provider::Replicate,
        backend,
        &common::submit_faults_moderated_after_create(),
    )
    .await;
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    common::job_faults(Provider::Replicate, backend, common::JOB_FAULTS).await;
}
