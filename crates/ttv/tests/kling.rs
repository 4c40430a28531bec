//! The kling backend against the simulator: the signed JWT, exact bodies, std/pro from the
//! resolution, every mapped error, no cancel.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::services::kling::auth::Credentials;
use ttv::services::kling::{Kling, KlingOptions};
use ttv::{ErrorKind, GenerationRequest, ResolutionSpec, Spend, VideoBackend};
use ttv_sim::{Provider, Sim, SimConfig};

use common::{KEY, KLING_SECRET, generate, png, quick, sim};

fn backend(sim: &Sim) -> Kling {
    Kling::new(KlingOptions {
        credentials: Credentials {
            access_key: Some(ttv::http::ApiKey::new(KEY)),
            secret_key: Some(ttv::http::ApiKey::new(KLING_SECRET)),
            api_key: None,
        },
        base_url: sim.base_url(Provider::Kling),
        poll_interval: Duration::from_millis(50),
        ..KlingOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn text_to_video_is_signed_with_an_hs256_jwt_and_sends_the_documented_body() {
    let sim = sim(quick()).await;
    let req = GenerationRequest {
        negative_prompt: Some("blur".into()),
        ..GenerationRequest::text("a red kite")
    };
    let (out, seen, _dir) = generate(&backend(&sim), &req).await;
    let generated = out.unwrap();
    assert!(seen.queued > 0 && seen.running > 0, "{seen:?}");
    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        (submit.method.as_str(), submit.path.as_str()),
        ("POST", "/kling/v1/videos/text2video")
    );
    assert_eq!(
        submit.json(),
        json!({ "model_name": "kling-v2-6", "prompt": "a red kite", "negative_prompt": "blur", "mode": "std",
                "duration": "5", "aspect_ratio": "16:9", "sound": "off" })
    );
    let token = submit.headers["authorization"]
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(KLING_SECRET.as_bytes()),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["iss"], KEY);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
        1805
    );
    assert_eq!(
        records[1].path,
        format!("/kling/v1/videos/text2video/{}", generated.ticket.id)
    );
    assert_eq!(sim.paid_submits(Provider::Kling), 1);
    assert!(generated.charged.is_some(), "final_unit_deduction is read");
}

#[tokio::test]
async fn images_go_as_raw_base64_and_1080p_means_pro_mode() {
    let sim = sim(quick()).await;
    let (first, last) = (png("image", [1, 2, 3]), png("last_frame", [3, 2, 1]));
    let req = GenerationRequest {
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        resolution: Some(ResolutionSpec::Tier(1080)),
        ..GenerationRequest::text("turn")
    };
    let (out, _, _dir) = generate(&backend(&sim), &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(submit.path, "/kling/v1/videos/image2video");
    let body = submit.json();
    assert_eq!(body["mode"], "pro");
    assert_eq!(body["image"], json!(first.base64()));
    assert_eq!(body["image_tail"], json!(last.base64()));
    assert!(body.get("aspect_ratio").is_none());
}

#[tokio::test]
async fn a_last_frame_in_std_mode_is_refused_before_spending() {
    let sim = sim(quick()).await;
    let req = GenerationRequest {
        image: Some(png("image", [1, 2, 3])),
        last_frame: Some(png("last_frame", [3, 2, 1])),
        ..GenerationRequest::text("turn")
    };
    let err = backend(&sim).validate(&req).unwrap_err();
    assert_eq!(err.problems()[0].field, "last_frame", "{err}");
    assert!(sim.requests().is_empty());
    let est = backend(&sim)
        .estimate_cost(&GenerationRequest::text("x"))
        .unwrap();
    assert_eq!(est.usd.to_string(), "$0.21");
}

#[tokio::test]
async fn kling_has_no_cancel_and_says_so() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let b = backend(&sim);
    let req = GenerationRequest::text("long");
    let ticket = b.submit(&req, &b.validate(&req).unwrap()).await.unwrap();
    let err = b.cancel(&ticket).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_auth() {
    let sim = sim(SimConfig {
        kling_secret_key: Some("other".into()),
        ..quick()
    })
    .await;
    let b = backend(&sim);
    let req = GenerationRequest::text("x");
    let err = b
        .submit(&req, &b.validate(&req).unwrap())
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.spend()), (ErrorKind::Auth, Spend::No));
    assert!(!format!("{err:?}").contains(KLING_SECRET));
}

#[tokio::test]
async fn submit_faults_map_to_kinds_and_spend() {
    common::submit_faults(Provider::Kling, backend, common::SUBMIT_FAULTS).await;
}

#[tokio::test]
async fn task_and_download_faults_end_the_job_cleanly() {
    common::job_faults(Provider::Kling, backend, common::JOB_FAULTS).await;
}
