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
        adaptive_polling: false,
    };
    ttv::layers::Stack::new(&settings)
        .expect("valid layers")
        .wrap(std::sync::Arc::new(backend))
}

/// A job façade over the configuration `yaml` (with the environment `env`), keeping jobs in
/// `dir/data`.
pub fn jobs_in(dir: &std::path::Path, yaml: &str, env: &[(&str, &str)]) -> ttv::facade::Jobs {
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let loaded = ttv::config::from_yaml(yaml, &env);
    loaded.check().expect("the test configuration is valid");
    let registry = ttv::registry::Registry::new(&loaded.settings.registry);
    let store = ttv::store::Store::open_in(&dir.join("data")).unwrap();
    ttv::facade::Jobs::new(loaded.settings, registry)
        .with_store(store)
        .unwrap()
}

/// The key every test uses; not a real key.
pub const KEY: &str = "sim-test-key";
/// The Kling secret key the simulator checks token signatures with; not a real key.
pub const KLING_SECRET: &str = "sim-secret";

/// A simulator with short queue and run times and small videos.
pub async fn sim(config: SimConfig) -> Sim {
    let config = SimConfig {
        api_key: Some(KEY.to_owned()),
        video_max_side: 256,
        kling_secret_key: config
            .kling_secret_key
            .clone()
            .or_else(|| Some(KLING_SECRET.to_owned())),
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

/// A PNG of noise (it does not compress, so its size is about `w × h × 3` bytes).
pub fn noise_png(field: &str, w: u32, h: u32) -> ImageInput {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        image::Rgb([b[0], b[1], b[2]])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .expect("png encodes");
    ImageInput::from_bytes(field, format!("{field}.png"), bytes).expect("png is valid")
}

/// Submit faults of a provider that refuses moderated input at submit: `(fault, kind, spend,
/// paid submits)`.
pub const SUBMIT_FAULTS: &[(ttv_sim::FaultKind, ttv::ErrorKind, ttv::Spend, usize)] = &[
    (
        ttv_sim::FaultKind::RateLimited,
        ttv::ErrorKind::RateLimited,
        ttv::Spend::No,
        0,
    ),
    (
        ttv_sim::FaultKind::Unavailable,
        ttv::ErrorKind::Transient,
        ttv::Spend::No,
        0,
    ),
    (
        ttv_sim::FaultKind::ServerError,
        ttv::ErrorKind::Unsettled,
        ttv::Spend::Maybe,
        1,
    ),
    (
        ttv_sim::FaultKind::ConnectionReset,
        ttv::ErrorKind::Unsettled,
        ttv::Spend::Maybe,
        1,
    ),
    (
        ttv_sim::FaultKind::BadGateway,
        ttv::ErrorKind::Unsettled,
        ttv::Spend::Maybe,
        1,
    ),
    (
        ttv_sim::FaultKind::InvalidKey,
        ttv::ErrorKind::Auth,
        ttv::Spend::No,
        0,
    ),
    (
        ttv_sim::FaultKind::InsufficientBalance,
        ttv::ErrorKind::QuotaExceeded,
        ttv::Spend::No,
        0,
    ),
    (
        ttv_sim::FaultKind::Moderation,
        ttv::ErrorKind::ContentRejected,
        ttv::Spend::No,
        0,
    ),
];

/// [`SUBMIT_FAULTS`] for a provider that creates the task and then fails it for moderation
/// (it was bought).
pub fn submit_faults_moderated_after_create()
-> Vec<(ttv_sim::FaultKind, ttv::ErrorKind, ttv::Spend, usize)> {
    let mut cases = SUBMIT_FAULTS.to_vec();
    if let Some(last) = cases.last_mut() {
        *last = (
            ttv_sim::FaultKind::Moderation,
            ttv::ErrorKind::ContentRejected,
            ttv::Spend::Yes,
            1,
        );
    }
    cases
}

/// Task and download faults every provider meets the same way.
pub const JOB_FAULTS: &[(ttv_sim::Endpoint, ttv_sim::FaultKind, ttv::ErrorKind)] = &[
    (
        ttv_sim::Endpoint::Poll,
        ttv_sim::FaultKind::TaskFailure,
        ttv::ErrorKind::JobFailed,
    ),
    (
        ttv_sim::Endpoint::Poll,
        ttv_sim::FaultKind::Moderation,
        ttv::ErrorKind::ContentRejected,
    ),
    (
        ttv_sim::Endpoint::Poll,
        ttv_sim::FaultKind::ServerError,
        ttv::ErrorKind::Transient,
    ),
    (
        ttv_sim::Endpoint::Download,
        ttv_sim::FaultKind::TruncatedDownload,
        ttv::ErrorKind::Transient,
    ),
    (
        ttv_sim::Endpoint::Download,
        ttv_sim::FaultKind::ExpiredUrl,
        ttv::ErrorKind::OutputExpired,
    ),
];

/// The error of every fault in `cases` on `provider`'s submit, checked against the expected
/// kind, spend and paid count.
pub async fn submit_faults<B: VideoBackend>(
    provider: ttv_sim::Provider,
    make: impl Fn(&Sim) -> B + Copy,
    cases: &[(ttv_sim::FaultKind, ttv::ErrorKind, ttv::Spend, usize)],
) {
    for &(fault, kind, spend, paid) in cases {
        let rule = ttv_sim::FaultRule::always(ttv_sim::Endpoint::Submit, fault).with_retry_after(2);
        let (err, sim) = fails_with(provider, rule, make).await;
        assert_eq!((err.kind(), err.spend()), (kind, spend), "{fault:?}: {err}");
        assert_eq!(sim.paid_submits(provider), paid, "{fault:?}");
        assert!(
            !format!("{err:?}{err}").contains(KEY),
            "{fault:?}: the key leaked"
        );
        if fault == ttv_sim::FaultKind::RateLimited {
            assert_eq!(
                err.retry_after(),
                Some(std::time::Duration::from_secs(2)),
                "{fault:?}"
            );
        }
    }
}

/// The error of every fault in `cases` (on poll or download), checked against the kind; one
/// paid submit each.
pub async fn job_faults<B: VideoBackend>(
    provider: ttv_sim::Provider,
    make: impl Fn(&Sim) -> B + Copy,
    cases: &[(ttv_sim::Endpoint, ttv_sim::FaultKind, ttv::ErrorKind)],
) {
    for &(on, fault, kind) in cases {
        let (err, sim) = fails_with(provider, ttv_sim::FaultRule::always(on, fault), make).await;
        assert_eq!(err.kind(), kind, "{fault:?} on {on:?}: {err}");
        assert_eq!(sim.paid_submits(provider), 1, "{fault:?} on {on:?}");
    }
}

/// The S3-compatible server of the object-store tests (`.ci/run` starts moto and sets
/// `TTV_TEST_S3_ENDPOINT`). Without it the test is skipped, except in CI, where a missing
/// server fails the test.
pub fn s3_endpoint() -> Option<String> {
    match std::env::var("TTV_TEST_S3_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().trim_end_matches('/').to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "TTV_TEST_S3_ENDPOINT is not set: .ci/run must start moto_server for the object-store tests"
            )
        }
        _ => {
            eprintln!(
                "skipped: set TTV_TEST_S3_ENDPOINT to an S3-compatible server (moto_server) to run this test"
            );
            None
        }
    }
}

/// Creates a fresh bucket on `endpoint` and returns the bucket options for it.
pub async fn s3_bucket(endpoint: &str) -> ttv::services::bucket::BucketOptions {
    let bucket = format!("ttv-test-{}", uuid_like());
    let put = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        put.status().is_success(),
        "creating bucket {bucket}: {}",
        put.status()
    );
    ttv::services::bucket::BucketOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        access_key_id: Some(ttv::http::ApiKey::new("testing")),
        secret_access_key: Some(ttv::http::ApiKey::new("testing")),
        ..ttv::services::bucket::BucketOptions::new(format!("s3://{bucket}/inputs"))
    }
}

/// A name part unique to this moment (nanoseconds since the epoch, in hex).
pub fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

/// Peak signal-to-noise ratio of two frames of the same size, in dB (infinite when identical).
pub fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = sum / a.as_raw().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// The PostgreSQL server of the database tests (`.ci/run` starts one and sets
/// `TTV_TEST_POSTGRES_URL`, a superuser's URL). Without it the test is skipped, except in CI,
/// where a missing server fails the test.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TTV_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "TTV_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL for the database tests"
            )
        }
        _ => {
            eprintln!(
                "skipped: set TTV_TEST_POSTGRES_URL to a PostgreSQL superuser URL to run this test"
            );
            None
        }
    }
}

/// A new, empty database on the server of `admin_url`; its URL.
pub async fn fresh_database(admin_url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL server answers");
    let task = tokio::spawn(connection);
    let name = format!("ttv_test_{}_{}", std::process::id(), uuid_like());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating a test database");
    drop(client);
    let _ = task.await;
    let mut url = url::Url::parse(admin_url).expect("TTV_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
