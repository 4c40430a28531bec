//! The persistent worker with a real diffusers `WanPipeline`: tiny, randomly initialised
//! components (a few small layers, as in diffusers' own fast tests) on the CPU, two segments
//! from one load.
//!
//! It needs a Python with torch and diffusers, which CI does not install (torch alone is
//! gigabytes), so it is `#[ignore]`d with that reason: `cargo test` lists it as ignored rather
//! than passing it unseen, and run on purpose it fails, never skips, when they are missing.
//! The Rust side of the protocol is exercised on every run by `local_backends.rs`, whose fake
//! Python speaks it and records every request. To run this one:
//!
//! ```text
//! python3 -m venv .venv && .venv/bin/pip install torch diffusers transformers imageio imageio-ffmpeg
//! TTV_WORKER_PYTHON=.venv/bin/python cargo test -p ttv --test worker_diffusers -- --ignored --nocapture
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ttv::services::local::worker::{
    LoadRequest, SchedulerSpec, Worker, WorkerOptions, WorkerPipeline, WorkerRequest,
};

fn python() -> PathBuf {
    std::env::var_os("TTV_WORKER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[tokio::test]
#[ignore = "needs a Python with torch and diffusers (TTV_WORKER_PYTHON); run with --ignored"]
async fn the_worker_serves_two_segments_from_one_tiny_wan_pipeline_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let options = WorkerOptions {
        python: python(),
        startup_timeout: Duration::from_secs(30),
        load_timeout: Duration::from_secs(120),
        generate_timeout: Duration::from_secs(120),
        ..WorkerOptions::new(dir.path())
    };
    let mut worker = Worker::start(options)
        .await
        .unwrap_or_else(|e| panic!("cannot start the worker with {:?}: {e}", python()));
    let health = worker.health().await.unwrap();
    assert!(
        health.torch && health.diffusers,
        "{:?} (Python {}) lacks {}; see this file's header",
        python(),
        health.python,
        if health.torch { "diffusers" } else { "torch" }
    );
    let loaded = worker
        .load(&LoadRequest {
            pipeline: WorkerPipeline::Wan,
            model: "tiny-random".into(),
            device: Some("cpu".into()),
            dtype: Some("float32".into()),
            offload: false,
            upsampler: None,
        })
        .await
        .unwrap();
    assert_eq!(loaded["reused"], false);

    for segment in 0..2u64 {
        let progress = Mutex::new(Vec::new());
        let output = dir.path().join(format!("segment{segment}.mp4"));
        let got = worker
            .generate(
                &WorkerRequest {
                    guidance_scale: Some(6.0),
                    // The scheduler swap a Wan request always carries.
                    scheduler: Some(SchedulerSpec {
                        class: "UniPCMultistepScheduler".into(),
                        overrides: [("flow_shift".to_owned(), serde_json::json!(3.0))]
                            .into_iter()
                            .collect(),
                    }),
                    ..WorkerRequest::new(
                        "a tiny test",
                        ttv::Resolution::new(16, 16),
                        9,
                        2,
                        segment,
                        16,
                        output.clone(),
                    )
                },
                &|p| progress.lock().unwrap().push(p),
            )
            .await
            .unwrap();
        assert_eq!(got.frames, 9);
        assert!(std::fs::metadata(&output).unwrap().len() > 0);
        assert_eq!(progress.into_inner().unwrap(), [0.5, 1.0]);
    }
    let health = worker.health().await.unwrap();
    assert_eq!(health.loaded.as_deref(), Some("wan"));
    worker.stop().await.unwrap();
}
