//! The fal backend against the simulator: the queue protocol with sub-path app ids, input
//! mapping, `extra` passthrough, and every fault.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::fal::{Fal, FalOptions};
use ttv::{ErrorKind, GenerationRequest, Spend, VideoBackend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim};

use common::{KEY, generate, png, quick, sim};

const KLING_T2V: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";
const KLING_I2V: &str = "fal-ai/kling-video/v2.1/standard/image-to-video";

fn backend(sim: &Sim, model: &str) -> Fal {
    Fal::new(FalOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Fal),
        model: model.to_owned(),
        poll_interval: Duration::from_millis(50),
        ..FalOptions::default()
    })
    .unwrap()
}

async fn fails_with(rule: FaultRule) -> (ttv::Error, Sim) {
    common::fails_with(Provider::Fal, rule, |sim| backend(sim, KLING_T2V)).await
}

#[tokio::test]
async fn text_to_video_uses_the_queue_urls_returned_by_submit() {
    let sim = sim(quick()).await;
    let kling = backend(&sim, KLING_T2V);
    let mut req = GenerationRequest::text("a lighthouse at night");
    req.extra.insert("cfg_scale".into(), json!(0.5));
    let (out, seen, _dir) = generate(&kling, &req).await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(submit.method, "POST");
    assert_eq!(submit.path, format!("/fal/{KLING_T2V}"));
    assert_eq!(submit.headers["authorization"], format!("Key {KEY}"));
    assert_eq!(
        submit.json(),
        json!({ "prompt": "a lighthouse at night", "duration": "5", "aspect_ratio": "16:9", "cfg_scale": 0.5 })
    );
    let id = &generated.ticket.id;
    // The status stream is waited on; when it says the request completed, one status call
    // and the result call follow.
    let stream = &records[1];
    assert_eq!(
        stream.path,
        format!("/fal/fal-ai/kling-video/requests/{id}/status/stream")
    );
    assert_eq!(stream.query.as_deref(), Some("logs=1"));
    assert_eq!(stream.headers["accept"], "text/event-stream");
    assert_eq!(stream.headers["authorization"], format!("Key {KEY}"));
    let status = &records[2];
    assert_eq!(
        status.path,
        format!("/fal/fal-ai/kling-video/requests/{id}/status")
    );
    assert_eq!(status.query.as_deref(), Some("logs=1"));
    let polls = records
        .iter()
        .filter(|r| r.endpoint == Some(ttv_sim::Endpoint::Poll))
        .count();
    assert_eq!(polls, 1, "the stream replaces polling");
    assert!(
        records.iter().any(
            |r| r.method == "GET" && r.path == format!("/fal/fal-ai/kling-video/requests/{id}")
        )
    );
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
}

#[tokio::test]
async fn image_to_video_sends_the_image_as_a_data_uri() {
    let sim = sim(quick()).await;
    let kling = backend(&sim, KLING_I2V);
    let image = png("image", [10, 120, 10]);
    let req = GenerationRequest {
        prompt: "leaves move".into(),
        image: Some(image.clone()),
        duration: Some(VideoDuration::from_secs(10)),
        negative_prompt: Some("blur".into()),
        ..GenerationRequest::default()
    };
    let (out, _, _dir) = generate(&kling, &req).await;
    out.unwrap();
    assert_eq!(
        sim.requests()[0].json(),
        json!({ "prompt": "leaves move", "image_url": image.data_uri(), "duration": "10", "negative_prompt": "blur" })
    );
    let est = kling.estimate_cost(&req).unwrap();
    assert_eq!(est.usd.to_string(), "$0.56");
}

#[tokio::test]
async fn default_input_goes_with_every_request_and_the_request_extra_wins() {
    let sim = sim(quick()).await;
    let mut options = FalOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Fal),
        model: KLING_T2V.to_owned(),
        poll_interval: Duration::from_millis(50),
        ..FalOptions::default()
    };
    options.default_input.insert("cfg_scale".into(), json!(0.3));
    options.default_input.insert("duration".into(), json!("10"));
    let kling = Fal::new(options).unwrap();
    let mut req = GenerationRequest::text("a lighthouse at night");
    req.extra.insert("cfg_scale".into(), json!(0.7));
    let (out, _, _dir) = generate(&kling, &req).await;
    out.unwrap();
    assert_eq!(
        sim.requests()[0].json(),
        json!({ "prompt": "a lighthouse at night", "duration": "10", "aspect_ratio": "16:9", "cfg_scale": 0.7 })
    );
}

#[tokio::test]
async fn missing_inputs_are_refused_before_spending() {
    let sim = sim(quick()).await;
    let kling = backend(&sim, KLING_I2V);
    assert_eq!(
        kling
            .validate(&GenerationRequest::text("no image"))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn a_cancelled_request_reports_cancelled() {
    let sim = sim(ttv_sim::SimConfig::default().with_timings(0.0, 30.0)).await;
    let kling = backend(&sim, KLING_T2V);
    let req = GenerationRequest::text("x");
    let ticket = kling
        .submit(&req, &kling.validate(&req).unwrap())
        .await
        .unwrap();
    kling.cancel(&ticket).await.unwrap();
    assert!(matches!(
        kling.poll(&ticket).await.unwrap(),
        ttv::Status::Cancelled
    ));
    let put = &sim.requests()[1];
    assert_eq!((put.method.as_str(), put.status), ("PUT", 202));
    assert!(put.path.ends_with("/cancel"));
}

#[tokio::test]
async fn submit_faults_end_in_the_right_kind_and_spend() {
    for (fault, kind, spend, paid) in [
        (FaultKind::RateLimited, ErrorKind::RateLimited, Spend::No, 0),
        // May have been bought: never sent again, and the run says the job is unsettled.
        (
            FaultKind::ServerError,
            ErrorKind::Unsettled,
            Spend::Maybe,
            1,
        ),
        (
            FaultKind::ConnectionReset,
            ErrorKind::Unsettled,
            Spend::Maybe,
            1,
        ),
        (FaultKind::InvalidKey, ErrorKind::Auth, Spend::No, 0),
        (
            FaultKind::InsufficientBalance,
            ErrorKind::QuotaExceeded,
            Spend::No,
            0,
        ),
        (
            FaultKind::Moderation,
            ErrorKind::ContentRejected,
            Spend::No,
            0,
        ),
    ] {
        let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, fault)).await;
        assert_eq!((err.kind(), err.spend()), (kind, spend), "{fault:?}: {err}");
        assert_eq!(sim.paid_submits(Provider::Fal), paid, "{fault:?}");
    }
    let rule = FaultRule::always(Endpoint::Submit, FaultKind::Unavailable).with_retry_after(3);
    let (err, _) = fails_with(rule).await;
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Transient, Spend::No));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    for (on, fault, kind) in [
        (Endpoint::Poll, FaultKind::TaskFailure, ErrorKind::JobFailed),
        (
            Endpoint::Poll,
            FaultKind::Moderation,
            ErrorKind::ContentRejected,
        ),
        (
            Endpoint::Download,
            FaultKind::TruncatedDownload,
            ErrorKind::Transient,
        ),
        // Every address handed out is refused: a fresh one is asked for twice, then it stops.
        (
            Endpoint::Download,
            FaultKind::ExpiredUrl,
            ErrorKind::OutputExpired,
        ),
        (
            Endpoint::Result,
            FaultKind::ServerError,
            ErrorKind::Transient,
        ),
    ] {
        let (err, sim) = fails_with(FaultRule::always(on, fault)).await;
        assert_eq!(err.kind(), kind, "{fault:?}: {err}");
        assert_eq!(sim.paid_submits(Provider::Fal), 1);
    }
}

#[tokio::test]
async fn a_refused_or_broken_status_stream_falls_back_to_polling() {
    for fault in [FaultKind::ServerError, FaultKind::ConnectionReset] {
        let sim = sim(quick().with_fault(
            Provider::Fal,
            FaultRule::always(ttv_sim::Endpoint::Stream, fault),
        ))
        .await;
        let kling = backend(&sim, KLING_T2V);
        let (out, _, _dir) = generate(&kling, &GenerationRequest::text("a lighthouse")).await;
        out.unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        let records = sim.requests();
        assert_eq!(
            records
                .iter()
                .filter(|r| r.endpoint == Some(ttv_sim::Endpoint::Stream))
                .count(),
            1,
            "{fault:?}"
        );
        assert!(
            records
                .iter()
                .any(|r| r.endpoint == Some(ttv_sim::Endpoint::Poll)),
            "{fault:?}: polled instead"
        );
        assert_eq!(sim.paid_submits(Provider::Fal), 1);
    }
}
