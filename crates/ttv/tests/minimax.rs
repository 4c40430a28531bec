//! The minimax backend against the simulator: exact requests, the three-call lifecycle and
//! the base_resp error codes.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::minimax::{Minimax, MinimaxOptions};
use ttv::{ErrorKind, GenerationRequest, Spend, VideoBackend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim};

use common::{KEY, generate, png, quick, sim};

fn backend(sim: &Sim, model: &str) -> Minimax {
    Minimax::new(MinimaxOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Minimax),
        model: model.to_owned(),
        poll_interval: Duration::from_millis(50),
        ..MinimaxOptions::default()
    })
    .unwrap()
}

async fn fails_with(rule: FaultRule) -> (ttv::Error, Sim) {
    common::fails_with(Provider::Minimax, rule, |sim| {
        backend(sim, "MiniMax-Hailuo-02")
    })
    .await
}

#[tokio::test]
async fn text_to_video_submits_queries_retrieves_and_downloads() {
    let sim = sim(quick()).await;
    let hailuo = backend(&sim, "MiniMax-Hailuo-02");
    let (out, seen, _dir) = generate(&hailuo, &GenerationRequest::text("a cat on a piano")).await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        (submit.method.as_str(), submit.path.as_str()),
        ("POST", "/minimax/v1/video_generation")
    );
    assert_eq!(
        submit.json(),
        json!({ "model": "MiniMax-Hailuo-02", "prompt": "a cat on a piano", "duration": 6, "resolution": "768P" })
    );
    assert_eq!(submit.headers["authorization"], format!("Bearer {KEY}"));
    let query = &records[1];
    assert_eq!(query.path, "/minimax/v1/query/video_generation");
    assert_eq!(
        query.query.as_deref(),
        Some(format!("task_id={}", generated.ticket.id).as_str())
    );
    assert!(
        records
            .iter()
            .any(|r| r.path == "/minimax/v1/files/retrieve"
                && r.query.as_deref() == Some(&*format!("file_id=9{}", generated.ticket.id)))
    );
    assert_eq!(sim.paid_submits(Provider::Minimax), 1);
}

#[tokio::test]
async fn first_and_last_frames_are_sent_as_data_uris() {
    let sim = sim(quick()).await;
    let hailuo = backend(&sim, "MiniMax-Hailuo-02");
    let (first, last) = (png("image", [9, 9, 9]), png("last_frame", [200, 200, 9]));
    let req = GenerationRequest {
        prompt: "[Push in] dawn".into(),
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        duration: Some(VideoDuration::from_secs(10)),
        ..GenerationRequest::default()
    };
    let (out, _, _dir) = generate(&hailuo, &req).await;
    out.unwrap();
    assert_eq!(
        sim.requests()[0].json(),
        json!({
            "model": "MiniMax-Hailuo-02",
            "prompt": "[Push in] dawn",
            "first_frame_image": first.data_uri(),
            "last_frame_image": last.data_uri(),
            "duration": 10,
            "resolution": "768P"
        })
    );
}

#[tokio::test]
async fn model_rules_are_checked_before_spending() {
    let sim = sim(quick()).await;
    let hailuo = backend(&sim, "MiniMax-Hailuo-02");
    let req = GenerationRequest {
        resolution: Some("1080p".parse().unwrap()),
        duration: Some(VideoDuration::from_secs(10)),
        ..GenerationRequest::text("x")
    };
    let err = hailuo.validate(&req).unwrap_err();
    assert_eq!(
        err.problems()[0].allowed,
        "6s at 1080P with MiniMax-Hailuo-02"
    );
    let i2v = backend(&sim, "I2V-01");
    assert_eq!(
        i2v.validate(&GenerationRequest::text("x"))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    let est = hailuo.estimate_cost(&GenerationRequest::text("x")).unwrap();
    assert_eq!(est.usd.to_string(), "$0.28");
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn rate_limit_code_1002_is_rate_limited_and_unpaid() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, FaultKind::RateLimited)).await;
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::RateLimited, Spend::No)
    );
    assert_eq!(sim.paid_submits(Provider::Minimax), 0);
}

#[tokio::test]
async fn a_500_on_submit_is_ambiguous_and_not_repeated() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, FaultKind::ServerError)).await;
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
    assert_eq!(sim.paid_submits(Provider::Minimax), 1);
}

#[tokio::test]
async fn a_503_with_retry_after_is_transient_and_unpaid() {
    let rule = FaultRule::always(Endpoint::Submit, FaultKind::Unavailable).with_retry_after(2);
    let (err, _) = fails_with(rule).await;
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Transient, Spend::No));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn a_connection_reset_on_submit_is_ambiguous() {
    let (err, _) = fails_with(FaultRule::always(
        Endpoint::Submit,
        FaultKind::ConnectionReset,
    ))
    .await;
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
}

#[tokio::test]
async fn base_resp_codes_map_to_kinds() {
    for (fault, kind) in [
        (FaultKind::InvalidKey, ErrorKind::Auth),
        (FaultKind::InsufficientBalance, ErrorKind::QuotaExceeded),
        (FaultKind::Moderation, ErrorKind::ContentRejected),
    ] {
        let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, fault)).await;
        assert_eq!(err.kind(), kind, "{fault:?}: {err}");
        assert_eq!(sim.paid_submits(Provider::Minimax), 0);
    }
}

#[tokio::test]
async fn failed_and_moderated_tasks_end_the_job() {
    let (err, _) = fails_with(FaultRule::always(Endpoint::Poll, FaultKind::TaskFailure)).await;
    assert_eq!(err.kind(), ErrorKind::JobFailed);
    let (err, _) = fails_with(FaultRule::always(Endpoint::Poll, FaultKind::Moderation)).await;
    assert_eq!(err.kind(), ErrorKind::ContentRejected);
    assert!(err.message().contains("1027"), "{err}");
}

#[tokio::test]
async fn broken_downloads_fail_cleanly() {
    for (fault, kind) in [
        (FaultKind::TruncatedDownload, ErrorKind::Transient),
        // Refused every time: a fresh address is asked for twice, then the run stops.
        (FaultKind::ExpiredUrl, ErrorKind::OutputExpired),
    ] {
        let (err, sim) = fails_with(FaultRule::always(Endpoint::Download, fault)).await;
        assert_eq!(err.kind(), kind, "{fault:?}");
        let downloads = sim
            .requests()
            .iter()
            .filter(|r| r.endpoint == Some(Endpoint::Download))
            .count();
        // The bare backend, outside the retry layer: one try per address.
        let want = if fault == FaultKind::ExpiredUrl { 3 } else { 1 };
        assert_eq!(downloads, want, "{fault:?}");
    }
}

#[tokio::test]
async fn cancel_is_unsupported() {
    let sim = sim(quick()).await;
    let hailuo = backend(&sim, "MiniMax-Hailuo-02");
    let req = GenerationRequest::text("x");
    let ticket = hailuo
        .submit(&req, &hailuo.validate(&req).unwrap())
        .await
        .unwrap();
    assert_eq!(
        hailuo.cancel(&ticket).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}
