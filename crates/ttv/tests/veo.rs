//! The veo backend against the simulator, on both of Google's surfaces: exact requests and
//! headers, the service-account token flow with refresh, inline and bucket outputs, safety
//! filtering and quota errors. The service-account key is generated here; nothing is real.

mod common;

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use ttv::http::ApiKey;
use ttv::services::veo::{Veo, VeoOptions};
use ttv::{ErrorKind, GenerationRequest, Spend, VideoBackend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, generate, google_sim, key_file, png, quick, sim, submits, test_key};

fn gemini(sim: &Sim, model: &str) -> Veo {
    Veo::new(VeoOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Gemini),
        model: model.to_owned(),
        poll_interval: Duration::from_millis(50),
        ..VeoOptions::default()
    })
    .unwrap()
}

fn vertex(sim: &Sim, dir: &tempfile::TempDir, bucket: Option<&str>) -> Veo {
    Veo::new(VeoOptions {
        credentials_path: Some(key_file(sim, dir)),
        project_id: Some("sim-project".into()),
        region: "us-central1".into(),
        vertex_base_url: Some(sim.base_url(Provider::Vertex)),
        storage_base_url: sim.base_url(Provider::Vertex),
        model: "veo-3.1-generate-001".into(),
        output_bucket: bucket.map(str::to_owned),
        poll_interval: Duration::from_millis(50),
        ..VeoOptions::default()
    })
    .unwrap()
}

fn token_requests(sim: &Sim) -> Vec<ttv_sim::Record> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path == "/vertex/token")
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The claims of the JWT in a token request's form body.
fn jwt_claims(form: &str) -> serde_json::Value {
    let assertion = form.split("assertion=").nth(1).expect("an assertion");
    let payload = assertion.split('.').nth(1).expect("a JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Polls until the operation is no longer running.
async fn finish(veo: &Veo, ticket: &ttv::Ticket) -> ttv::Status {
    loop {
        match veo.poll(ticket).await.unwrap() {
            ttv::Status::Running { .. } | ttv::Status::Queued { .. } => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            done => return done,
        }
    }
}

#[tokio::test]
async fn gemini_downloads_the_file_named_in_the_uri_from_the_configured_base_url_with_the_key() {
    let sim = google_sim(quick()).await;
    let veo = gemini(&sim, "veo-3.0-fast-generate-001");
    let req = GenerationRequest::text("a fox");
    let resolved = veo.validate(&req).unwrap();
    let ticket = veo.submit(&req, &resolved).await.unwrap();
    let ttv::Status::Succeeded { output, .. } = finish(&veo, &ticket).await else {
        panic!("the operation succeeds");
    };
    // The URI names Google's host, as the real service's does; nothing is fetched from it.
    let op_id = ticket.id.rsplit('/').next().unwrap();
    let ttv::Output::Url { url } = &output else {
        panic!("a file URI: {output:?}");
    };
    assert_eq!(
        url,
        &format!(
            "https://generativelanguage.googleapis.com/v1beta/files/{op_id}:download?alt=media"
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("out.mp4");
    let bytes = veo.fetch(&output, &into, &|_| {}).await.unwrap();
    assert_eq!(bytes, std::fs::metadata(&into).unwrap().len());
    let records = sim.requests();
    let file = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Result))
        .expect("the file was asked for");
    assert_eq!(
        (
            file.method.as_str(),
            file.path.as_str(),
            file.query.as_deref()
        ),
        (
            "GET",
            format!("/gemini/v1beta/files/{op_id}:download").as_str(),
            Some("alt=media")
        )
    );
    assert_eq!(file.headers["x-goog-api-key"], KEY);
    assert_eq!(file.status, 302);
    let video = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Download))
        .expect("the redirect was followed");
    assert_eq!(video.status, 200);
}

#[tokio::test]
async fn gemini_text_to_video_sends_the_documented_request_and_saves_a_playable_video() {
    let sim = google_sim(quick()).await;
    let veo = gemini(&sim, "veo-3.0-generate-001");
    let req = GenerationRequest {
        negative_prompt: Some("rain".into()),
        ..GenerationRequest::text("a red fox in the snow")
    };
    let (out, seen, _dir) = generate(&veo, &req).await;
    let generated = out.unwrap();
    // Veo 3's default 8 s at the simulator's 8 fps, 1280x720 served at its 256 px cap.
    assert_eq!(
        (
            generated.video.frames,
            generated.video.width,
            generated.video.height
        ),
        (64, 256, 144)
    );
    assert!(seen.running > 0 && seen.downloading > 0, "{seen:?}");
    assert!(
        generated
            .ticket
            .id
            .starts_with("models/veo-3.0-generate-001/operations/")
    );

    let records = sim.requests();
    let submit = &records[0];
    assert_eq!(
        (submit.method.as_str(), submit.path.as_str()),
        (
            "POST",
            "/gemini/v1beta/models/veo-3.0-generate-001:predictLongRunning"
        )
    );
    // Text-to-video on Veo 3, 8 s by default: the original pipeline's 5 s cap is gone.
    assert_eq!(
        submit.json(),
        json!({
            "instances": [{ "prompt": "a red fox in the snow" }],
            "parameters": {
                "aspectRatio": "16:9",
                "durationSeconds": 8,
                "resolution": "720p",
                "negativePrompt": "rain",
                "sampleCount": 1
            }
        })
    );
    assert_eq!(submit.headers["x-goog-api-key"], KEY);
    assert_eq!(submit.headers["content-type"], "application/json");
    assert!(!submit.headers.contains_key("authorization"));
    let poll = &records[1];
    assert_eq!(poll.method, "GET");
    assert_eq!(poll.path, format!("/gemini/v1beta/{}", generated.ticket.id));
    let file = records
        .iter()
        .find(|r| r.path.ends_with(":download"))
        .expect("the file was fetched");
    assert_eq!(file.query.as_deref(), Some("alt=media"));
    assert_eq!(file.headers["x-goog-api-key"], KEY);
    assert_eq!(file.status, 302);
    assert_eq!(sim.paid_submits(Provider::Gemini), 1);
}

#[tokio::test]
async fn gemini_first_and_last_frames_go_inline_with_person_generation() {
    let sim = google_sim(quick()).await;
    let veo = gemini(&sim, "veo-3.1-fast-generate-preview");
    let first = png("image", [200, 30, 30]);
    let last = png("last_frame", [30, 30, 200]);
    let mut extra = serde_json::Map::new();
    extra.insert("personGeneration".into(), json!("allow_adult"));
    let req = GenerationRequest {
        prompt: "the sky turns blue".into(),
        image: Some(first.clone()),
        last_frame: Some(last.clone()),
        duration: Some(VideoDuration::from_secs(4)),
        aspect_ratio: Some(ttv::AspectRatio::PORTRAIT),
        extra,
        ..GenerationRequest::default()
    };
    let (out, _, _dir) = generate(&veo, &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(
        submit.json(),
        json!({
            "instances": [{
                "prompt": "the sky turns blue",
                "image": { "bytesBase64Encoded": b64(first.bytes()), "mimeType": "image/png" },
                "lastFrame": { "bytesBase64Encoded": b64(last.bytes()), "mimeType": "image/png" }
            }],
            "parameters": {
                "aspectRatio": "9:16",
                "durationSeconds": 4,
                "resolution": "720p",
                "sampleCount": 1,
                "personGeneration": "allow_adult"
            }
        })
    );
}

#[tokio::test]
async fn vertex_signs_a_service_account_jwt_and_saves_the_inline_video() {
    let sim = google_sim(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, None);
    assert!(veo.is_vertex());
    let req = GenerationRequest {
        seed: Some(42),
        audio: true,
        ..GenerationRequest::text("a lighthouse at dusk")
    };
    let (out, _, _out_dir) = generate(&veo, &req).await;
    let generated = out.unwrap();
    assert_eq!(
        (
            generated.video.frames,
            generated.video.width,
            generated.video.height
        ),
        (64, 256, 144)
    );

    // One token, exchanged once and reused for submit and every poll.
    let tokens = token_requests(&sim);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].status, 200);
    assert_eq!(
        tokens[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(
        tokens[0].body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
        ),
        "{}",
        tokens[0].body
    );
    // Sent to the key file's token_uri (the simulator), addressed to Google's token endpoint.
    let claims = jwt_claims(&tokens[0].body);
    assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
    assert_eq!(claims["iss"], common::EMAIL);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    let records = sim.requests();
    let model_path = "/vertex/v1/projects/sim-project/locations/us-central1/publishers/google/models/veo-3.1-generate-001";
    let submit = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Submit))
        .unwrap();
    assert_eq!(submit.path, format!("{model_path}:predictLongRunning"));
    assert!(submit.headers["authorization"].starts_with("Bearer ya29.sim-"));
    assert!(!submit.headers.contains_key("x-goog-api-key"));
    assert_eq!(
        submit.json(),
        json!({
            "instances": [{ "prompt": "a lighthouse at dusk" }],
            "parameters": {
                "aspectRatio": "16:9",
                "durationSeconds": 8,
                "resolution": "720p",
                "sampleCount": 1,
                "seed": 42,
                "generateAudio": true
            }
        })
    );
    let poll = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Poll))
        .unwrap();
    assert_eq!(poll.method, "POST");
    assert_eq!(poll.path, format!("{model_path}:fetchPredictOperation"));
    assert_eq!(poll.json(), json!({ "operationName": generated.ticket.id }));
    assert!(
        generated
            .ticket
            .id
            .starts_with("projects/sim-project/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/")
    );
    assert_eq!(sim.paid_submits(Provider::Vertex), 1);
}

#[tokio::test]
async fn vertex_bucket_outputs_are_downloaded_through_the_storage_api_with_the_token() {
    let sim = google_sim(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, Some("gs://sim-bucket/renders"));
    let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a harbour")).await;
    let generated = out.unwrap();
    let records = sim.requests();
    let submit = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Submit))
        .unwrap();
    assert_eq!(
        submit.json()["parameters"]["storageUri"],
        "gs://sim-bucket/renders"
    );
    let op_id = generated.ticket.id.rsplit('/').next().unwrap().to_owned();
    let download = records
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Download))
        .expect("the object was fetched");
    assert_eq!(download.method, "GET");
    assert_eq!(
        download.path,
        format!("/vertex/storage/v1/b/sim-bucket/o/renders%2F{op_id}%2Fsample_0.mp4")
    );
    assert_eq!(download.query.as_deref(), Some("alt=media"));
    assert!(download.headers["authorization"].starts_with("Bearer ya29.sim-"));
    assert_eq!(download.status, 200);
    assert_eq!(token_requests(&sim).len(), 1);
}

/// Moves tokio's clock (which the token cache and the simulator both read) `by` forward at
/// once, then lets it run on: time passes for the test without waiting for it.
async fn skip(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

// A current-thread runtime, whose clock a test may move.
#[tokio::test]
async fn access_tokens_are_renewed_a_minute_before_they_expire() {
    // Tokens live 120 s, so the backend treats each as fresh for 60 s.
    let sim = google_sim(SimConfig {
        google_token_ttl_secs: Some(120),
        ..quick()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, None);
    let req = GenerationRequest::text("a fox");
    let resolved = veo.validate(&req).unwrap();
    let ticket = veo.submit(&req, &resolved).await.unwrap();
    veo.poll(&ticket).await.unwrap();
    assert_eq!(token_requests(&sim).len(), 1);
    skip(Duration::from_secs(59)).await;
    veo.poll(&ticket).await.unwrap();
    assert_eq!(
        token_requests(&sim).len(),
        1,
        "still fresh a second before its time"
    );
    skip(Duration::from_secs(2)).await;
    veo.poll(&ticket).await.unwrap();
    veo.poll(&ticket).await.unwrap();
    let tokens = token_requests(&sim);
    assert_eq!(tokens.len(), 2);
    let bearers: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.endpoint.is_some())
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(bearers.len(), 5);
    assert_eq!(bearers[0], bearers[1]);
    assert_eq!(bearers[1], bearers[2]);
    assert_ne!(bearers[2], bearers[3]);
    assert_eq!(bearers[3], bearers[4]);
    // The old token was replaced while the simulator still took it: every call was served.
    assert!(
        sim.requests().iter().all(|r| r.status == 200),
        "{:?}",
        sim.requests()
    );
}

#[tokio::test]
async fn a_jwt_the_token_endpoint_cannot_verify_is_an_auth_error_and_nothing_is_submitted() {
    // The simulator knows no public key, so the signature cannot be verified.
    let sim = sim(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, None);
    let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("Invalid JWT Signature"), "{err}");
    assert_eq!(err.spend(), Spend::No);
    assert_eq!(submits(&sim), 0);
}

#[tokio::test]
async fn a_safety_filtered_result_is_content_rejected_with_the_providers_reason() {
    for surface in [Provider::Gemini, Provider::Vertex] {
        let sim = google_sim(quick().with_fault(
            surface,
            FaultRule::always(Endpoint::Submit, FaultKind::Moderation),
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let veo = match surface {
            Provider::Gemini => gemini(&sim, "veo-3.0-fast-generate-001"),
            _ => vertex(&sim, &dir, None),
        };
        let (out, _, out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
        let err = out.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ContentRejected, "{surface}: {err}");
        assert!(
            err.to_string()
                .contains("safety settings for person and face generation"),
            "{err}"
        );
        assert!(!out_dir.path().join("out.mp4").exists());
        assert_eq!(sim.paid_submits(surface), 1);
    }
}

#[tokio::test]
async fn resource_exhausted_is_a_fallback_worthy_quota_error_and_is_not_resubmitted() {
    for surface in [Provider::Gemini, Provider::Vertex] {
        let rule = FaultRule::always(Endpoint::Submit, FaultKind::RateLimited).with_retry_after(3);
        let sim = google_sim(quick().with_fault(surface, rule)).await;
        let dir = tempfile::tempdir().unwrap();
        let veo = match surface {
            Provider::Gemini => gemini(&sim, "veo-2.0-generate-001"),
            _ => vertex(&sim, &dir, None),
        };
        let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
        let err = out.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
        assert!(err.is_fallback_worthy());
        assert_eq!(err.spend(), Spend::No);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(err.to_string().contains("RESOURCE_EXHAUSTED"), "{err}");
        assert_eq!(submits(&sim), 1);
        assert_eq!(sim.paid_submits(surface), 0);
    }
}

#[tokio::test]
async fn gemini_faults_map_to_the_right_kinds() {
    let make = |sim: &Sim| gemini(sim, "veo-3.0-generate-001");
    let cases = [
        (
            Endpoint::Submit,
            FaultKind::InvalidKey,
            ErrorKind::Auth,
            Spend::No,
        ),
        (
            Endpoint::Submit,
            FaultKind::InsufficientBalance,
            ErrorKind::QuotaExceeded,
            Spend::No,
        ),
        (
            Endpoint::Submit,
            FaultKind::ServerError,
            ErrorKind::Unsettled,
            Spend::Maybe,
        ),
        (
            Endpoint::Submit,
            FaultKind::TaskFailure,
            ErrorKind::JobFailed,
            Spend::Yes,
        ),
        (
            Endpoint::Download,
            FaultKind::TruncatedDownload,
            ErrorKind::Transient,
            Spend::No,
        ),
        (
            Endpoint::Download,
            FaultKind::ExpiredUrl,
            ErrorKind::OutputExpired,
            Spend::No,
        ),
    ];
    for (on, fault, kind, spend) in cases {
        let (err, _sim) =
            common::fails_with(Provider::Gemini, FaultRule::always(on, fault), make).await;
        assert_eq!((err.kind(), err.spend()), (kind, spend), "{fault:?}: {err}");
    }
}

#[tokio::test]
async fn invalid_requests_are_refused_before_anything_is_sent() {
    let sim = google_sim(quick()).await;
    let veo2 = gemini(&sim, "veo-2.0-generate-001");
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(4)),
        ..GenerationRequest::text("a fox")
    };
    let err = veo2.validate(&req).unwrap_err();
    assert_eq!(err.problems()[0].field, "duration");
    assert_eq!(err.problems()[0].allowed, "5s, 6s, 7s, 8s");
    let with_last = GenerationRequest {
        image: Some(png("image", [1, 2, 3])),
        last_frame: Some(png("last_frame", [3, 2, 1])),
        ..GenerationRequest::text("a fox")
    };
    assert_eq!(
        gemini(&sim, "veo-3.0-generate-001")
            .validate(&with_last)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    let (out, _, _dir) = generate(&veo2, &req).await;
    assert_eq!(out.unwrap_err().kind(), ErrorKind::InvalidRequest);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn the_estimate_is_per_second_at_the_resolution_and_names_its_source() {
    let sim = google_sim(quick()).await;
    let veo = gemini(&sim, "veo-3.1-generate-preview");
    let est = veo
        .estimate_cost(&GenerationRequest::text("a fox"))
        .unwrap();
    assert_eq!(est.usd, ttv::Money::usd_cents(320));
    assert_eq!(
        est.source.unwrap().url,
        "https://ai.google.dev/gemini-api/docs/pricing"
    );
    let fourk = GenerationRequest {
        resolution: Some(ttv::ResolutionSpec::Tier(2160)),
        ..GenerationRequest::text("a fox")
    };
    assert_eq!(
        veo.estimate_cost(&fourk).unwrap().usd,
        ttv::Money::usd_cents(480)
    );
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output_or_errors() {
    let sim = sim(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let options = VeoOptions {
        api_key: Some(ApiKey::new("AIza-very-secret")),
        base_url: sim.base_url(Provider::Gemini),
        credentials_path: Some(key_file(&sim, &dir)),
        project_id: Some("sim-project".into()),
        vertex_base_url: Some(sim.base_url(Provider::Vertex)),
        storage_base_url: sim.base_url(Provider::Vertex),
        ..VeoOptions::default()
    };
    let veo = Veo::new(options.clone()).unwrap();
    assert!(veo.is_vertex());
    let (_, private_pem) = (&test_key().1, &test_key().0);
    let secret_line = private_pem.lines().nth(5).unwrap();
    for text in [format!("{options:?}"), format!("{veo:?}")] {
        assert!(!text.contains("AIza-very-secret"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains(secret_line), "{text}");
    }
    let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
    let err = out.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(secret_line) && !text.contains("AIza-very-secret"),
        "{text}"
    );
    // The assertion sent to the token endpoint is signed, never the key itself; every
    // request went to the simulator.
    assert!(!token_requests(&sim)[0].body.contains("PRIVATE"));
    assert!(sim.requests().iter().all(|r| !r.body.contains(secret_line)));
}

#[tokio::test]
async fn reference_images_pass_through_on_veo_3_1_at_eight_seconds() {
    let sim = google_sim(quick()).await;
    let veo = gemini(&sim, "veo-3.1-generate-preview");
    let asset = png("reference", [10, 200, 10]);
    let refs = json!([{
        "image": { "bytesBase64Encoded": b64(asset.bytes()), "mimeType": "image/png" },
        "referenceType": "ASSET"
    }]);
    let mut extra = serde_json::Map::new();
    extra.insert("referenceImages".into(), refs.clone());
    let req = GenerationRequest {
        extra: extra.clone(),
        ..GenerationRequest::text("the green box walks")
    };
    let (out, _, _dir) = generate(&veo, &req).await;
    out.unwrap();
    let submit = &sim.requests()[0];
    assert_eq!(submit.json()["instances"][0]["referenceImages"], refs);

    let short = GenerationRequest {
        duration: Some(VideoDuration::from_secs(6)),
        extra: extra.clone(),
        ..GenerationRequest::text("the green box walks")
    };
    let err = veo.validate(&short).unwrap_err();
    assert!(
        err.problems()[0].allowed.contains("reference images"),
        "{err}"
    );
    let veo3 = gemini(&sim, "veo-3.0-generate-001");
    let err = veo3.validate(&req).unwrap_err();
    assert_eq!(err.problems()[0].field, "extra.referenceImages", "{err}");
}

#[tokio::test]
async fn a_token_refused_with_401_is_renewed_once_and_then_reported() {
    // Tokens that expire at once: the submit is refused, renewed once, refused again.
    let sim = google_sim(SimConfig {
        google_token_ttl_secs: Some(0),
        ..quick()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, None);
    let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");
    assert_eq!(err.spend(), Spend::No);
    assert_eq!(submits(&sim), 2);
    assert_eq!(token_requests(&sim).len(), 2);
    assert_eq!(sim.paid_submits(Provider::Vertex), 0);
}

#[tokio::test]
async fn vertex_faults_map_to_the_right_kinds_and_never_resubmit_a_paid_call() {
    let cases = [
        (
            Endpoint::Submit,
            FaultKind::Unavailable,
            ErrorKind::Transient,
            Spend::No,
        ),
        (
            Endpoint::Submit,
            FaultKind::ServerError,
            ErrorKind::Unsettled,
            Spend::Maybe,
        ),
        (
            Endpoint::Submit,
            FaultKind::ConnectionReset,
            ErrorKind::Unsettled,
            Spend::Maybe,
        ),
        (
            Endpoint::Submit,
            FaultKind::InsufficientBalance,
            ErrorKind::QuotaExceeded,
            Spend::No,
        ),
        (
            Endpoint::Submit,
            FaultKind::TaskFailure,
            ErrorKind::JobFailed,
            Spend::Yes,
        ),
        (
            Endpoint::Poll,
            FaultKind::ServerError,
            ErrorKind::Transient,
            Spend::No,
        ),
        (
            Endpoint::Download,
            FaultKind::TruncatedDownload,
            ErrorKind::Transient,
            Spend::No,
        ),
        (
            Endpoint::Download,
            FaultKind::ExpiredUrl,
            ErrorKind::OutputExpired,
            Spend::No,
        ),
    ];
    for (on, fault, kind, spend) in cases {
        let rule = FaultRule::always(on, fault).with_retry_after(1);
        let sim = google_sim(quick().with_fault(Provider::Vertex, rule)).await;
        let dir = tempfile::tempdir().unwrap();
        let veo = vertex(&sim, &dir, Some("gs://sim-bucket/out"));
        let (out, _, out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
        let err = out.expect_err("the job fails");
        assert_eq!((err.kind(), err.spend()), (kind, spend), "{fault:?}: {err}");
        assert!(!out_dir.path().join("out.mp4").exists());
        assert_eq!(submits(&sim), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_slow_vertex_poll_still_finishes() {
    let rule = FaultRule {
        delay_ms: Some(5),
        ..FaultRule::always(Endpoint::Poll, FaultKind::SlowBody)
    };
    let sim = google_sim(quick().with_fault(Provider::Vertex, rule)).await;
    let dir = tempfile::tempdir().unwrap();
    let veo = vertex(&sim, &dir, Some("gs://sim-bucket/out"));
    let (out, _, _out_dir) = generate(&veo, &GenerationRequest::text("a fox")).await;
    assert_eq!(
        out.unwrap().video.frames,
        64,
        "8 s at the simulator's 8 fps"
    );
    let slowed = sim
        .faults_fired()
        .iter()
        .filter(|f| f.fault == FaultKind::SlowBody)
        .count();
    assert!(slowed >= 1, "the slow answers were served");
}
