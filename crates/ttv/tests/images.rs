//! Image backends against the simulator: the exact requests each provider gets (JSON bodies,
//! multipart parts, headers, reference images as each API expects), the image decoded back,
//! image jobs in the store (never paying twice, the fault rows, budgets counting image
//! spend), and the embedded still.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use ttv::budget::Budget;
use ttv::http::ApiKey;
use ttv::images::jobs::{ImageJobSpec, ImageJobs};
use ttv::images::registry::ImageRegistry;
use ttv::images::still::Still;
use ttv::images::{ImageBackend, ImageRequest};
use ttv::media::image::{ImageFormat, ImageInput};
use ttv::retry::RetryPolicy;
use ttv::services::gemini_image::{GeminiImage, GeminiImageOptions};
use ttv::services::openai_images::{OpenAiImages, OpenAiImagesOptions};
use ttv::services::stability::{Stability, StabilityOptions};
use ttv::store::{JobKind, JobState, Store};
use ttv::{AspectRatio, ErrorKind, Resolution, Spend};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, png, sim};

fn openai(sim: &Sim) -> OpenAiImages {
    OpenAiImages::new(OpenAiImagesOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: Some(sim.api_base(Provider::OpenAi)),
        ..OpenAiImagesOptions::default()
    })
    .unwrap()
}

fn gemini(sim: &Sim) -> GeminiImage {
    GeminiImage::new(GeminiImageOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: Some(sim.base_url(Provider::Gemini)),
        model: Some("gemini-2.5-flash-image-preview".into()),
    })
    .unwrap()
}

fn stability(sim: &Sim) -> Stability {
    Stability::new(StabilityOptions {
        api_key: Some(ApiKey::new(KEY)),
        base_url: Some(sim.base_url(Provider::Stability)),
        model: None,
    })
    .unwrap()
}

fn backend(sim: &Sim, provider: Provider) -> Arc<dyn ImageBackend> {
    match provider {
        Provider::OpenAi => Arc::new(openai(sim)),
        Provider::Gemini => Arc::new(gemini(sim)),
        _ => Arc::new(stability(sim)),
    }
}

fn decoded(path: &std::path::Path) -> ImageInput {
    ImageInput::from_bytes("out", "out", std::fs::read(path).unwrap()).unwrap()
}

/// The text of each multipart part with its headers, in order: `(name, headers, body)`.
fn parts(record: &ttv_sim::Record) -> Vec<(String, String, String)> {
    let ct = &record.headers["content-type"];
    let boundary = format!(
        "--{}",
        ct.split("boundary=").nth(1).unwrap().trim_matches('"')
    );
    record
        .body
        .split(&boundary)
        .filter_map(|chunk| {
            let (head, body) = chunk.split_once("\r\n\r\n")?;
            let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
            Some((
                name,
                head.trim().to_owned(),
                body.trim_end_matches("\r\n").to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn openai_text_to_image_posts_the_documented_json_and_saves_a_decoded_png() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("key.png");
    let made = openai(&sim)
        .generate(&ImageRequest::text("a lighthouse at dusk"), &dest)
        .await
        .unwrap();
    let r = &sim.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/openai/v1/images/generations")
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(
        r.json(),
        json!({
            "model": "gpt-image-1", "prompt": "a lighthouse at dusk", "n": 1,
            "size": "1536x1024", "quality": "medium", "output_format": "png"
        })
    );
    let image = decoded(&dest);
    assert_eq!(image.resolution(), Resolution::new(1536, 1024));
    assert_eq!(image.format(), ImageFormat::Png);
    assert_eq!(made.sha256, image.sha256());
    // Charged from the answer's usage: 1584 output tokens at $40 per million, plus input.
    assert!(made.charged.unwrap().micros >= 63_360);
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
}

#[tokio::test]
async fn openai_sends_every_reference_as_an_image_array_file_part_of_an_edit() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = ImageRequest {
        references: vec![png("hero", [200, 10, 10]), png("street", [10, 200, 10])],
        aspect_ratio: AspectRatio::new(1, 1),
        extra: [("quality".to_owned(), json!("high"))]
            .into_iter()
            .collect(),
        ..ImageRequest::text("the hero on the street")
    };
    openai(&sim)
        .generate(&req, &dir.path().join("k.png"))
        .await
        .unwrap();
    let r = &sim.requests()[0];
    assert_eq!(r.path, "/openai/v1/images/edits");
    assert!(r.headers["content-type"].starts_with("multipart/form-data; boundary="));
    let parts = parts(r);
    let names: Vec<_> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "model",
            "prompt",
            "n",
            "size",
            "quality",
            "output_format",
            "image[]",
            "image[]"
        ]
    );
    let text: Vec<_> = parts[..6].iter().map(|p| p.2.as_str()).collect();
    assert_eq!(
        text,
        [
            "gpt-image-1",
            "the hero on the street",
            "1",
            "1024x1024",
            "high",
            "png"
        ]
    );
    for (i, part) in parts[6..].iter().enumerate() {
        assert!(
            part.1
                .contains(&format!("filename=\"reference-{}.png\"", i + 1)),
            "{}",
            part.1
        );
        assert!(part.1.contains("Content-Type: image/png"), "{}", part.1);
    }
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
}

#[tokio::test]
async fn gemini_sends_references_as_inline_data_and_the_aspect_in_image_config() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let hero = png("hero", [1, 2, 3]);
    let req = ImageRequest {
        references: vec![hero.clone()],
        aspect_ratio: AspectRatio::new(9, 16),
        ..ImageRequest::text("the hero, standing")
    };
    let dest = dir.path().join("k.png");
    gemini(&sim).generate(&req, &dest).await.unwrap();
    let r = &sim.requests()[0];
    assert_eq!(
        r.path,
        "/gemini/v1beta/models/gemini-2.5-flash-image-preview:generateContent"
    );
    assert_eq!(r.headers["x-goog-api-key"], KEY);
    assert_eq!(
        r.json(),
        json!({
            "contents": [{ "role": "user", "parts": [
                { "text": "the hero, standing" },
                { "inlineData": { "mimeType": "image/png",
                  "data": base64::engine::general_purpose::STANDARD.encode(hero.bytes()) } }
            ] }],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": { "aspectRatio": "9:16" }
            }
        })
    );
    assert_eq!(decoded(&dest).resolution(), Resolution::new(768, 1344));
    assert_eq!(sim.paid_submits(Provider::Gemini), 1);
}

#[tokio::test]
async fn stability_text_to_image_is_multipart_with_accept_image_and_the_aspect() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = ImageRequest {
        negative_prompt: Some("blur".into()),
        seed: Some(7),
        ..ImageRequest::text("a fox in snow")
    };
    let dest = dir.path().join("k.png");
    let made = stability(&sim).generate(&req, &dest).await.unwrap();
    let r = &sim.requests()[0];
    assert_eq!(r.path, "/stability/v2beta/stable-image/generate/sd3");
    assert_eq!(r.headers["accept"], "image/*");
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    let fields: Vec<_> = parts(r)
        .into_iter()
        .map(|(name, _, body)| (name, body))
        .collect();
    let expected: Vec<(String, String)> = [
        ("prompt", "a fox in snow"),
        ("negative_prompt", "blur"),
        ("model", "sd3.5-large"),
        ("mode", "text-to-image"),
        ("aspect_ratio", "16:9"),
        ("seed", "7"),
        ("output_format", "png"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(fields, expected);
    assert_eq!(made.seed, Some(7));
    assert_eq!(decoded(&dest).resolution(), Resolution::new(1344, 768));
}

#[tokio::test]
async fn stability_image_to_image_sends_the_start_image_and_the_strength() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = ImageRequest {
        references: vec![png("start", [9, 9, 200])],
        extra: [("strength".to_owned(), json!(0.35))].into_iter().collect(),
        ..ImageRequest::text("the same scene at night")
    };
    stability(&sim)
        .generate(&req, &dir.path().join("k.png"))
        .await
        .unwrap();
    let parts = parts(&sim.requests()[0]);
    let names: Vec<_> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "prompt",
            "model",
            "mode",
            "image",
            "strength",
            "output_format"
        ]
    );
    assert_eq!(parts[2].2, "image-to-image");
    assert!(
        parts[3].1.contains("filename=\"image.png\""),
        "{}",
        parts[3].1
    );
    assert!(
        parts[3].1.contains("Content-Type: image/png"),
        "{}",
        parts[3].1
    );
    assert_eq!(parts[4].2, "0.35");
}

#[tokio::test]
async fn every_problem_is_reported_before_anything_is_sent() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = ImageRequest {
        references: vec![png("a", [1, 1, 1]), png("b", [2, 2, 2])],
        size: Some(Resolution::new(1000, 1000)),
        extra: [("strength".to_owned(), json!(3))].into_iter().collect(),
        ..ImageRequest::text("x")
    };
    let err = stability(&sim)
        .generate(&req, &dir.path().join("k.png"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["references", "size", "extra.strength"]);
    assert!(sim.requests().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn the_still_is_a_deterministic_png_of_the_asked_shape() {
    let dir = tempfile::tempdir().unwrap();
    let still = Still::default();
    let req = ImageRequest {
        aspect_ratio: AspectRatio::new(1, 1),
        seed: Some(3),
        ..ImageRequest::text("INT. KITCHEN - NIGHT")
    };
    let a = still
        .generate(&req, &dir.path().join("a.png"))
        .await
        .unwrap();
    let b = still
        .generate(&req, &dir.path().join("b.png"))
        .await
        .unwrap();
    assert_eq!(a.size, Resolution::new(960, 960));
    assert_eq!(a.sha256, b.sha256);
    assert!(a.charged.is_none());
    let estimate = still
        .estimate_cost(&req, &still.validate(&req).unwrap())
        .unwrap();
    assert!(estimate.usd.is_zero());
}

fn jobs_for(sim: &Sim, provider: Provider, budget: Budget, retries: u32) -> ImageJobs {
    jobs_in(sim, provider, budget, retries, Store::in_memory().unwrap())
}

fn jobs_in(sim: &Sim, provider: Provider, budget: Budget, retries: u32, store: Store) -> ImageJobs {
    let registry = ImageRegistry::with_backends(vec![backend(sim, provider)]);
    let retry = RetryPolicy {
        max_retries: retries,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    ImageJobs::new(registry, budget, retry).with_store(store, None)
}

fn spec(dir: &tempfile::TempDir, id: &str) -> ImageJobSpec {
    ImageJobSpec {
        request: ImageRequest::text("a paper boat"),
        backend: None,
        out: dir.path().join(format!("{id}.png")),
        job_id: Some(id.to_owned()),
        inputs: Vec::new(),
    }
}

/// One fault row: the fault on the first submit, and the job's end.
struct Row {
    fault: FaultKind,
    kind: Option<ErrorKind>,
    state: JobState,
    paid: usize,
}

const ROWS: &[Row] = &[
    Row {
        fault: FaultKind::RateLimited,
        kind: None,
        state: JobState::Done,
        paid: 1,
    },
    Row {
        fault: FaultKind::Unavailable,
        kind: None,
        state: JobState::Done,
        paid: 1,
    },
    Row {
        fault: FaultKind::ServerError,
        kind: Some(ErrorKind::Unsettled),
        state: JobState::Unknown,
        paid: 1,
    },
    Row {
        fault: FaultKind::ConnectionReset,
        kind: Some(ErrorKind::Unsettled),
        state: JobState::Unknown,
        paid: 1,
    },
    Row {
        fault: FaultKind::Moderation,
        kind: Some(ErrorKind::ContentRejected),
        state: JobState::Failed,
        paid: 0,
    },
    Row {
        fault: FaultKind::InsufficientBalance,
        kind: Some(ErrorKind::QuotaExceeded),
        state: JobState::Failed,
        paid: 0,
    },
    Row {
        fault: FaultKind::InvalidKey,
        kind: Some(ErrorKind::Auth),
        state: JobState::Failed,
        paid: 0,
    },
    Row {
        fault: FaultKind::Malformed,
        kind: Some(ErrorKind::InvalidOutput),
        state: JobState::Failed,
        paid: 1,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_image_provider_meets_every_fault_with_the_expected_outcome() {
    let mut failures = Vec::new();
    for provider in [Provider::OpenAi, Provider::Gemini, Provider::Stability] {
        for row in ROWS {
            let rule = FaultRule::nth(Endpoint::Submit, 1, row.fault).with_retry_after(0);
            let sim = sim(SimConfig::default().with_fault(provider, rule)).await;
            let dir = tempfile::tempdir().unwrap();
            let store = Store::in_memory().unwrap();
            let jobs = jobs_in(&sim, provider, Budget::default(), 2, store.clone());
            let plan = jobs.plan(spec(&dir, "j1")).unwrap();
            let result = jobs.run(plan).await;
            if let Ok(made) = &result {
                assert_eq!(decoded(&made.image.path).sha256(), made.image.sha256);
            }
            let state = store.job("j1").unwrap().state;
            let kind = result.as_ref().err().map(|e| e.kind());
            let fired = sim
                .faults_fired()
                .iter()
                .any(|f| f.provider == provider && f.fault == row.fault);
            let paid = sim.paid_submits(provider);
            let leftovers = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with('.'))
                })
                .count();
            if kind != row.kind || paid != row.paid || !fired || state != row.state || leftovers > 0
            {
                failures.push(format!(
                    "{provider} {:?}: kind {kind:?} (want {:?}), state {state} (want {}), paid {paid} (want {}), fired {fired}, temp files {leftovers}",
                    row.fault, row.kind, row.state, row.paid
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_store_records_image_jobs_and_an_ambiguous_submit_is_never_sent_again() {
    let rule = FaultRule::nth(Endpoint::Submit, 1, FaultKind::ServerError);
    let sim = sim(SimConfig::default().with_fault(Provider::OpenAi, rule)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::in_memory().unwrap();
    let registry = ImageRegistry::with_backends(vec![backend(&sim, Provider::OpenAi)]);
    let jobs = ImageJobs::new(registry, Budget::default(), RetryPolicy::default())
        .with_store(store.clone(), None);
    let err = jobs
        .run(jobs.plan(spec(&dir, "k1")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsettled);
    assert_eq!(err.spend(), Spend::Maybe);
    let job = store.job("k1").unwrap();
    assert_eq!(
        (job.kind, job.state, job.submits),
        (JobKind::Image, JobState::Unknown, 1)
    );
    // Running the same id again does not send it again.
    let again = jobs
        .run(jobs.plan(spec(&dir, "k1")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Unsettled);
    assert!(again.to_string().contains("ttv jobs resolve k1"), "{again}");
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
}

#[tokio::test]
async fn a_done_image_job_run_again_is_reported_without_paying_and_copied_to_a_new_path() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_for(&sim, Provider::Stability, Budget::default(), 0);
    let first = jobs
        .run(jobs.plan(spec(&dir, "d1")).unwrap())
        .await
        .unwrap();
    assert!(!first.already_done);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&first.sidecar).unwrap()).unwrap();
    assert_eq!(sidecar["kind"], "image");
    assert_eq!(sidecar["backend"], "stability");
    assert_eq!(sidecar["sha256"], first.image.sha256);
    let mut elsewhere = spec(&dir, "d1");
    elsewhere.out = dir.path().join("copy.png");
    let second = jobs.run(jobs.plan(elsewhere).unwrap()).await.unwrap();
    assert!(second.already_done);
    assert_eq!(second.image.sha256, first.image.sha256);
    assert_eq!(second.image.path, dir.path().join("copy.png"));
    assert_eq!(sim.paid_submits(Provider::Stability), 1);
}

#[tokio::test]
async fn budgets_count_image_spend_from_the_ledger() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget {
        per_day_usd: Some(0.10),
        ..Budget::default()
    };
    let jobs = jobs_for(&sim, Provider::OpenAi, budget, 0);
    jobs.run(jobs.plan(spec(&dir, "b1")).unwrap())
        .await
        .unwrap();
    let err = jobs
        .run(jobs.plan(spec(&dir, "b2")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.to_string().contains("per-day budget"), "{err}");
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
    assert!(!dir.path().join("b2.png").exists());
}

#[tokio::test]
async fn keyframes_carry_the_previous_keyframe_and_the_references_and_fit_the_video_size() {
    use ttv::images::keyframes::ImageKeyframes;
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::write(refs.join("hero.png"), png("hero", [200, 0, 0]).bytes()).unwrap();
    // A user's keyframe file in the same folder is not a reference.
    std::fs::write(refs.join("segment_03.png"), png("s", [0, 0, 200]).bytes()).unwrap();
    let store = Store::in_memory().unwrap();
    let jobs = jobs_in(&sim, Provider::OpenAi, Budget::default(), 0, store.clone());
    let keyframes = ImageKeyframes::new(jobs, None, "film-1")
        .with_reference_dir(&refs)
        .unwrap();
    let video_size = Resolution::new(1280, 720);
    let k0 = keyframes
        .make(0, "EXT. HARBOUR - DAWN", video_size, 1, dir.path())
        .await
        .unwrap();
    let k1 = keyframes
        .make(1, "the hero on the pier", video_size, 1, dir.path())
        .await
        .unwrap();
    for k in [&k0, &k1] {
        assert_eq!(decoded(k).resolution(), video_size);
    }
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    // Keyframe 0: the hero as reference; keyframe 1: keyframe 0 first, then the hero.
    let image_parts = |r: &ttv_sim::Record| {
        parts(r)
            .into_iter()
            .filter(|p| p.0 == "image[]")
            .map(|p| p.2.len())
            .collect::<Vec<_>>()
    };
    let k0_bytes = std::fs::read(&k0).unwrap();
    let hero = png("hero", [200, 0, 0]);
    assert_eq!(requests[0].path, "/openai/v1/images/edits");
    assert_eq!(image_parts(&requests[0]).len(), 1);
    assert_eq!(image_parts(&requests[1]).len(), 2);
    assert!(requests[1].body.contains("filename=\"reference-1.png\""));
    // The first part of keyframe 1's request is keyframe 0 (compared by size, since the log
    // keeps bodies as text).
    let sizes = image_parts(&requests[1]);
    assert_eq!(
        sizes[1],
        String::from_utf8_lossy(hero.bytes()).len(),
        "second reference is the hero"
    );
    assert_eq!(sizes[0], String::from_utf8_lossy(&k0_bytes).len());
    // Made again (a resumed film): nothing is sent, nothing is paid.
    keyframes
        .make(1, "the hero on the pier", video_size, 1, dir.path())
        .await
        .unwrap();
    assert_eq!(sim.paid_submits(Provider::OpenAi), 2);
    let job = store.job("film-1-kf-01").unwrap();
    assert_eq!((job.kind, job.state), (JobKind::Image, JobState::Done));
}

#[tokio::test]
async fn the_films_keyframe_seam_gets_its_keyframes_from_the_image_api_before_the_stills() {
    use ttv::film::{KeyframeRequest, Keyframes, UserImages};
    use ttv::images::keyframes::ImageKeyframes;
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_for(&sim, Provider::Stability, Budget::default(), 0);
    let keyframes = Keyframes::standard(UserImages::default())
        .with_source(Arc::new(ImageKeyframes::new(jobs, None, "film")));
    let size = Resolution::new(640, 360);
    for index in 0..2 {
        let request = KeyframeRequest {
            index,
            prompt: format!("scene {index}"),
            size,
            seed: 5,
        };
        let (path, source) = keyframes.get(&request, dir.path()).await.unwrap();
        assert_eq!(source, "stability");
        assert_eq!(decoded(&path).resolution(), size);
    }
    // Keyframe 1 started from keyframe 0 (image-to-image), as the original pipeline chains.
    let second = parts(&sim.requests()[1]);
    assert!(
        second.iter().any(|p| p.0 == "image"),
        "{:?}",
        second.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    assert_eq!(sim.paid_submits(Provider::Stability), 2);
}
