//! The alibaba backend against the simulator's DashScope protocol: the async header, the
//! model chosen per mode from a family, exact bodies, cancel of a pending task, every mapped
//! error.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::alibaba::{Alibaba, AlibabaOptions};
use ttv::{ErrorKind, GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

use common::{KEY, generate, png, quick, sim};

fn with_model(sim: &Sim, model: &str) -> Alibaba {
    Alibaba::new(AlibabaOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.api_base(Provider::Dashscope),
        model: model.to_owned(),
        workspace: Some("ws-123".into()),
        poll_interval: Duration::from_millis(50),
        ..AlibabaOptions::default()
    })
    .unwrap()
}

fn backend(sim: &Sim) -> Alibaba {
    with_model(sim, "wan2.6")
}

#[tokio::test]
async fn text_to_video_is_an_async_task_with_size_and_the_async_header() {
    let sim = sim(quick()).await;
    let req = GenerationRequest {
        negative_prompt: Some("blur".into()),
        seed: Some(42),
        duration: Some(VideoDuration::from_secs(10)),
        ..GenerationRequest::text("a paper boat")
    };
    let (out, seen, _dir) = generate(&backend(&sim), &req).await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    assert_eq!(generated.ticket.model.as_deref(), Some("wan2.6-t2v"));
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        submit.path,
        "/dashscope/api/v1/services/aigc/video-generation/video-synthesis"
    );
    assert_eq!(submit.headers["x-dashscope-async"], "enable");
    assert_eq!(submit.headers["x-dashscope-workspace"], "ws-123");
    assert_eq!(submit.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(
        submit.json(),
        json!({
            "model": "wan2.6-t2v",
            "input": { "prompt": "a paper boat", "negative_prompt": "blur" },
            "parameters": { "size": "1280*720", "duration": 10, "seed": 42, "audio": false }
        })
    );
    assert_eq!(
        records[1].path,
        format!("/dashscope/api/v1/tasks/{}", generated.ticket.id)
    );
    assert_eq!(sim.paid_submits(Provider::Dashscope), 1);
}

#[tokio::test]
async fn an_image_picks_the_family_image_model_and_a_resolution_tier() {
    let sim = sim(quick()).await;
    let image = png("image", [9, 9, 200]);
    let req = GenerationRequest {
        image: Some(image.clone()),
        ..GenerationRequest::text("waves")
    };
    let (out, _, _dir) = generate(&backend(&sim), &req).await;
    assert_eq!(out.unwrap().ticket.model.as_deref(), Some("wan2.6-i2v"));
    assert_eq!(
        sim.requests()[0].json(),
        json!({
            "model": "wan2.6-i2v",
            "input": { "prompt": "waves", "img_url": image.data_uri() },
            "parameters": { "resolution": "720P", "duration": 5, "audio": false }
        })
    );
}

#[tokio::test]
async fn first_and_last_frame_use_the_image2video_task_of_kf2v_models() {
    let sim = sim(quick()).await;
    let (first, last) = (png("image", [1, 1, 1]), png("last_frame", [250, 250, 250]));
    let req = GenerationRequest {
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        ..GenerationRequest::text("fade")
    };
    let (out, _, _dir) = generate(&with_model(&sim, "wan2.1"), &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(
        submit.path,
        "/dashscope/api/v1/services/aigc/image2video/video-synthesis"
    );
    assert_eq!(
        submit.json()["input"]["first_frame_url"],
        json!(first.data_uri())
    );
    assert_eq!(
        submit.json()["input"]["last_frame_url"],
        json!(last.data_uri())
    );
    assert_eq!(submit.json()["model"], "wanx2.1-kf2v-plus");
}

#[tokio::test]
async fn validation_names_the_model_and_spends_nothing() {
    let sim = sim(quick()).await;
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(10)),
        audio: true,
        ..GenerationRequest::text("x")
    };
    let err = with_model(&sim, "wan2.2").validate(&req).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"audio") && fields.contains(&"duration"),
        "{err}"
    );
    assert!(
        Alibaba::new(AlibabaOptions {
            model: "wan9".into(),
            ..AlibabaOptions::default()
        })
        .is_err()
    );
    let est = backend(&sim)
        .estimate_cost(&GenerationRequest::text("x"))
        .unwrap();
    assert_eq!(est.usd.to_string(), "$0.50");
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn a_pending_task_is_cancelled_and_a_running_one_says_it_cannot_be() {
    let sim = sim(SimConfig::default().with_timings(30.0, 1.0)).await;
    let b = backend(&sim);
    let req = GenerationRequest::text("wait");
    let ticket = b.submit(&req, &b.validate(&req).unwrap()).await.unwrap();
    b.cancel(&ticket).await.unwrap();
    assert!(matches!(
        b.poll(&ticket).await.unwrap(),
        ttv::Status::Cancelled
    ));
    let cancel = &sim.requests()[1];
    assert_eq!(
        (cancel.method.as_str(), cancel.path.as_str()),
        (
            "POST",
            format!("/dashscope/api/v1/tasks/{}/cancel", ticket.id).as_str()
        )
    );
    let running = common::sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let b = backend(&running);
    let ticket = b.submit(&req, &b.validate(&req).unwrap()).await.unwrap();
    let err = b.cancel(&ticket).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.message().contains("PENDING"), "{err}");
}

#[tokio::test]
async fn submit_faults_map_to_kinds_and_spend() {
    common::submit_faults(Provider::Dashscope, backend, common::SUBMIT_FAULTS).await;
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    common::job_faults(Provider::Dashscope, backend, common::JOB_FAULTS).await;
}
