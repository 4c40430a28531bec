//! The runway backend against the simulator: exact requests, lifecycles and every fault.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::{ErrorKind, GenerationRequest, Spend, VideoBackend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, generate, png, quick, sim, submits};

fn backend(sim: &Sim, model: &str) -> Runway {
    Runway::new(RunwayOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Runway),
        model: model.to_owned(),
        poll_interval: Duration::from_millis(50),
    })
    .unwrap()
}

#[tokio::test]
async fn text_to_video_sends_the_documented_request_and_saves_a_playable_video() {
    let sim = sim(quick()).await;
    let runway = backend(&sim, "gen4.5");
    let req = GenerationRequest::text("a red fox in the snow");
    let (out, seen, _dir) = generate(&runway, &req).await;
    let generated = out.unwrap();
    // gen4.5's default 5 s, at the simulator's 8 fps, 1280x720 served at its 256 px cap.
    assert_eq!(
        (
            generated.video.frames,
            generated.video.width,
            generated.video.height
        ),
        (40, 256, 144)
    );
    assert_eq!(generated.ticket.model.as_deref(), Some("gen4.5"));
    assert!(
        seen.queued > 0 && seen.running > 0 && seen.downloading > 0,
        "{seen:?}"
    );

    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        (submit.method.as_str(), submit.path.as_str()),
        ("POST", "/runway/v1/text_to_video")
    );
    assert_eq!(
        submit.json(),
        json!({ "model": "gen4.5", "promptText": "a red fox in the snow", "ratio": "1280:720", "duration": 5 })
    );
    assert_eq!(submit.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(submit.headers["x-runway-version"], "2024-11-06");
    assert_eq!(submit.headers["content-type"], "application/json");
    let poll = &records[1];
    assert_eq!(poll.method, "GET");
    assert_eq!(
        poll.path,
        format!("/runway/v1/tasks/{}", generated.ticket.id)
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    // The simulator charges 5 credits per second whatever the model.
    assert_eq!(generated.charged.map(|m| m.micros), Some(25_000_000));
}

#[tokio::test]
async fn first_and_last_frames_go_inline_as_data_uris_with_positions() {
    let sim = sim(quick()).await;
    let veo = backend(&sim, "veo3.1_fast");
    let first = png("image", [200, 30, 30]);
    let last = png("last_frame", [30, 30, 200]);
    let req = GenerationRequest {
        prompt: "the sky turns blue".into(),
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        duration: Some(VideoDuration::from_secs(4)),
        seed: Some(7),
        ..GenerationRequest::default()
    };
    let (out, _, _dir) = generate(&veo, &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(submit.path, "/runway/v1/image_to_video");
    assert_eq!(
        submit.json(),
        json!({
            "model": "veo3.1_fast",
            "promptText": "the sky turns blue",
            "promptImage": [
                { "uri": first.data_uri(), "position": "first" },
                { "uri": last.data_uri(), "position": "last" }
            ],
            "ratio": "1280:720",
            "duration": 4,
            "seed": 7,
            "audio": false
        })
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_before_anything_is_sent() {
    let sim = sim(quick()).await;
    let turbo = backend(&sim, "gen4_turbo");
    let text_only = GenerationRequest::text("a fox");
    assert_eq!(
        turbo.validate(&text_only).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    let veo = backend(&sim, "veo3.1");
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(5)),
        ..GenerationRequest::text("a fox")
    };
    let err = veo.validate(&req).unwrap_err();
    assert_eq!(err.problems()[0].field, "duration");
    assert_eq!(err.problems()[0].allowed, "4s, 6s, 8s");
    let (out, _, _dir) = generate(&veo, &req).await;
    assert_eq!(out.unwrap_err().kind(), ErrorKind::InvalidRequest);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn gen3a_turbo_requires_a_prompt_and_uses_its_own_ratios() {
    let sim = sim(quick()).await;
    let gen3 = backend(&sim, "gen3a_turbo");
    let req = GenerationRequest {
        image: Some(png("image", [1, 2, 3])),
        ..GenerationRequest::default()
    };
    let err = gen3.validate(&req).unwrap_err();
    assert!(err.problems().iter().any(|p| p.field == "prompt"), "{err}");
    let ok = GenerationRequest {
        prompt: "waves".into(),
        ..req
    };
    let resolved = gen3.validate(&ok).unwrap();
    assert_eq!(resolved.resolution, ttv::Resolution::new(1280, 768));
}

#[tokio::test]
async fn the_estimate_names_its_price_source() {
    let sim = sim(quick()).await;
    let est = backend(&sim, "gen4_turbo")
        .estimate_cost(&GenerationRequest {
            image: Some(png("image", [1, 2, 3])),
            duration: Some(VideoDuration::from_secs(10)),
            ..GenerationRequest::default()
        })
        .unwrap();
    assert_eq!(est.usd.to_string(), "$0.50");
    assert_eq!(est.native.unwrap().to_string(), "50 runway credits");
    assert_eq!(
        est.source.unwrap().url,
        "https://docs.dev.runwayml.com/guides/pricing"
    );
}

#[tokio::test]
async fn cancelling_a_running_task_deletes_it_and_polls_report_cancelled() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let runway = backend(&sim, "gen4.5");
    let req = GenerationRequest::text("a long one");
    let resolved = runway.validate(&req).unwrap();
    let ticket = runway.submit(&req, &resolved).await.unwrap();
    runway.cancel(&ticket).await.unwrap();
    assert!(matches!(
        runway.poll(&ticket).await.unwrap(),
        ttv::Status::Cancelled
    ));
    let delete = &sim.requests()[1];
    assert_eq!((delete.method.as_str(), delete.status), ("DELETE", 204));
}

async fn fails_with(rule: FaultRule) -> (ttv::Error, Sim) {
    common::fails_with(Provider::Runway, rule, |sim| backend(sim, "gen4.5")).await
}

#[tokio::test]
async fn a_429_on_submit_is_rate_limited_with_retry_after_and_spends_nothing() {
    let rule = FaultRule::nth(Endpoint::Submit, 1, FaultKind::RateLimited).with_retry_after(3);
    let (err, sim) = fails_with(rule).await;
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(err.spend(), Spend::No);
    assert!(err.is_retryable());
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
}

#[tokio::test]
async fn a_503_with_retry_after_on_submit_is_transient_and_spends_nothing() {
    let rule = FaultRule::always(Endpoint::Submit, FaultKind::Unavailable).with_retry_after(1);
    let (err, sim) = fails_with(rule).await;
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Transient, Spend::No));
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
}

#[tokio::test]
async fn a_500_on_submit_is_ambiguous_and_is_not_repeated() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, FaultKind::ServerError)).await;
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    assert_eq!(submits(&sim), 1);
}

#[tokio::test]
async fn a_connection_reset_after_submit_is_ambiguous_and_is_not_repeated() {
    let (err, sim) = fails_with(FaultRule::always(
        Endpoint::Submit,
        FaultKind::ConnectionReset,
    ))
    .await;
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn a_refused_key_is_an_auth_error_worth_falling_back_from() {
    let (err, _) = fails_with(FaultRule::always(Endpoint::Submit, FaultKind::InvalidKey)).await;
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Auth, Spend::No));
    assert!(err.is_fallback_worthy());
    assert!(!format!("{err:?}{err}").contains(KEY));
}

#[tokio::test]
async fn an_empty_balance_is_quota_exceeded() {
    let (err, _) = fails_with(FaultRule::always(
        Endpoint::Submit,
        FaultKind::InsufficientBalance,
    ))
    .await;
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.is_fallback_worthy());
}

#[tokio::test]
async fn a_moderated_prompt_is_content_rejected_with_the_providers_reason() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Submit, FaultKind::Moderation)).await;
    assert_eq!(err.kind(), ErrorKind::ContentRejected);
    assert!(err.message().contains("SAFETY.INPUT.TEXT"), "{err}");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn a_failed_task_is_job_failed() {
    let (err, _) = fails_with(FaultRule::always(Endpoint::Poll, FaultKind::TaskFailure)).await;
    assert_eq!(err.kind(), ErrorKind::JobFailed);
    assert!(err.message().contains("INTERNAL.BAD_OUTPUT"), "{err}");
}

#[tokio::test]
async fn a_truncated_download_fails_and_leaves_no_file() {
    let (err, sim) = fails_with(FaultRule::always(
        Endpoint::Download,
        FaultKind::TruncatedDownload,
    ))
    .await;
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn an_expired_output_url_says_to_poll_again() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Download, FaultKind::ExpiredUrl)).await;
    assert_eq!(err.kind(), ErrorKind::OutputExpired);
    assert!(err.message().contains("expired"), "{err}");
    // Each refused address was replaced by a fresh one from a new poll, twice.
    let calls: Vec<_> = sim
        .requests()
        .iter()
        .filter_map(|r| r.endpoint)
        .filter(|e| matches!(e, Endpoint::Poll | Endpoint::Download))
        .collect();
    assert_eq!(
        &calls[calls.len() - 5..],
        [
            Endpoint::Download,
            Endpoint::Poll,
            Endpoint::Download,
            Endpoint::Poll,
            Endpoint::Download
        ]
    );
}

#[tokio::test]
async fn a_failing_poll_is_retryable_and_free() {
    let (err, sim) = fails_with(FaultRule::always(Endpoint::Poll, FaultKind::ServerError)).await;
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Transient, Spend::No));
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn a_slow_status_body_still_completes() {
    let mut rule = FaultRule::nth(Endpoint::Poll, 1, FaultKind::SlowBody);
    rule.delay_ms = Some(5);
    let sim = sim(quick().with_fault(Provider::Runway, rule)).await;
    let (out, _, _dir) = generate(&backend(&sim, "gen4.5"), &GenerationRequest::text("slow")).await;
    out.unwrap();
}

#[tokio::test]
async fn the_key_never_appears_in_debug_output() {
    let sim = sim(quick()).await;
    let runway = backend(&sim, "gen4.5");
    assert!(!format!("{runway:?}").contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_jobs_each_pay_exactly_once() {
    let sim = sim(SimConfig::default().with_timings(0.0, 1.0)).await;
    let mut options = RunwayOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Runway),
        ..RunwayOptions::default()
    };
    options.poll_interval = Duration::from_millis(250);
    let runway = std::sync::Arc::new(Runway::new(options).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let req = std::sync::Arc::new(GenerationRequest {
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("many")
    });
    let jobs: Vec<_> = (0..1000)
        .map(|i| {
            let (runway, req) = (runway.clone(), req.clone());
            let dest = dir.path().join(format!("{i}.mp4"));
            tokio::spawn(
                async move { runway.generate(&req, &dest, &ttv::backend::no_events).await },
            )
        })
        .collect();
    for job in jobs {
        job.await.unwrap().unwrap();
    }
    assert_eq!(sim.paid_submits(Provider::Runway), 1000);
    assert_eq!(submits(&sim), 1000);
}

#[tokio::test]
async fn a_throttled_task_is_reported_as_queued() {
    let mut config = SimConfig::default().with_timings(30.0, 1.0);
    config.runway.concurrency = Some(0);
    let sim = sim(config).await;
    let runway = backend(&sim, "gen4.5");
    let req = GenerationRequest::text("wait");
    let ticket = runway
        .submit(&req, &runway.validate(&req).unwrap())
        .await
        .unwrap();
    let status = runway.poll(&ticket).await.unwrap();
    assert!(
        matches!(status, ttv::Status::Queued { position: None }),
        "{status:?}"
    );
    assert!(sim.requests()[1].status == 200);
}
