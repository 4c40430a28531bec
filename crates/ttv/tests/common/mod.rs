//! Helpers shared by the simulator tests: a simulator with fast, cheap settings, test images
//! and a run of the whole `generate` loop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::json;

use ttv::media::image::ImageInput;
use ttv::{Event, Generated, GenerationRequest, Result, VideoBackend};
use ttv_sim::{Sim, SimConfig};

/// `backend` inside ttv's layers as the registry builds them (retries with short waits, the
/// given call deadline and limits), for tests that build backends themselves.
pub fn layered(
    backend: impl VideoBackend + 'static,
    call_timeout: Option<std::time::Duration>,
    limits: serde_json::Value,
) -> std::sync::Arc<dyn VideoBackend> {
    let settings = ttv::layers::LayerSettings {
        retry: ttv::retry::RetryPolicy {
            base_delay: std::time::Duration::from_millis(5),
            call_timeout,
            ..ttv::retry::RetryPolicy::default()
        },
        limits: serde_json::from_value(limits).expect("limits"),
    };
    ttv::layers::Stack::new(&settings)
        .expect("valid layers")
        .wrap(std::sync::Arc::new(backend))
}

/// The key every test uses; not a real key.
pub const KEY: &str = "sim-test-key";

/// A simulator with short queue and run times and small videos.
pub async fn sim(config: SimConfig) -> Sim {
    let config = SimConfig {
        api_key: Some(KEY.to_owned()),
        video_max_side: 256,
        ..config
    };
    Sim::start(config).await.expect("simulator starts")
}

/// Timings for tests: 0.2 s in the queue, 0.3 s running.
pub fn quick() -> SimConfig {
    SimConfig::default().with_timings(0.2, 0.3)
}

/// A small PNG of one colour.
pub fn png(field: &str, rgb: [u8; 3]) -> ImageInput {
    let img = image::RgbImage::from_pixel(640, 360, image::Rgb(rgb));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .expect("png encodes");
    ImageInput::from_bytes(field, format!("{field}.png"), bytes).expect("png is valid")
}

/// What `generate` reported, by kind.
#[derive(Debug, Default)]
pub struct Seen {
    pub queued: usize,
    pub running: usize,
    pub downloading: usize,
}

/// Runs `generate` into a temporary folder, counting events.
pub async fn generate(
    backend: &dyn VideoBackend,
    req: &GenerationRequest,
) -> (Result<Generated>, Seen, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let seen = Mutex::new(Seen::default());
    let sink = |e: Event| {
        let mut s = seen.lock().expect("lock");
        match e {
            Event::Queued { .. } => s.queued += 1,
            Event::Running { .. } => s.running += 1,
            Event::Downloading { .. } => s.downloading += 1,
            _ => {}
        }
    };
    let out = backend
        .generate(req, &dir.path().join("out.mp4"), &sink)
        .await;
    (out, seen.into_inner().expect("lock"), dir)
}

/// How many submits reached the simulator, paid or not.
pub fn submits(sim: &Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.endpoint == Some(ttv_sim::Endpoint::Submit))
        .count()
}

/// Runs one text-to-video job against a simulator with `rule` injected for `provider`, checks
/// that it failed without leaving a file or submitting twice, and returns the error.
pub async fn fails_with<B: VideoBackend>(
    provider: ttv_sim::Provider,
    rule: ttv_sim::FaultRule,
    make: impl Fn(&Sim) -> B,
) -> (ttv::Error, Sim) {
    let sim = sim(quick().with_fault(provider, rule)).await;
    let backend = make(&sim);
    let (out, _, dir) = generate(&backend, &GenerationRequest::text("a fox")).await;
    let err = out.expect_err("the job fails");
    // Nothing at the output path, and no temporary file beside it either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("output folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(submits(&sim) <= 1, "resubmitted: {:?}", sim.requests());
    (err, sim)
}

/// The service account of the Google tests (generated here; nothing is real).
pub const EMAIL: &str = "veo-test@sim-project.iam.gserviceaccount.com";

/// The simulator's test service-account key: (PKCS#8 private PEM, SPKI public PEM).
pub fn test_key() -> &'static (String, String) {
    ttv_sim::test_service_account_key()
}

/// A simulator that trusts the test key, with `config`'s knobs.
pub async fn google_sim(config: SimConfig) -> Sim {
    sim(SimConfig {
        google_public_key_pem: Some(test_key().1.clone()),
        ..config
    })
    .await
}

/// Writes a service-account key file whose token_uri points at the simulator.
pub fn key_file(sim: &Sim, dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("sa.json");
    let key = json!({
        "type": "service_account",
        "project_id": "sim-project",
        "private_key_id": "0123456789abcdef",
        "private_key": test_key().0,
        "client_email": EMAIL,
        "token_uri": sim.token_uri(),
    });
    std::fs::write(&path, key.to_string()).expect("key file written");
    path
}
