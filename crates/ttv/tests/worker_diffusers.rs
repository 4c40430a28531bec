//! The persistent worker with a real diffusers `WanPipeline`: tiny, randomly initialised
//! components (a few small layers, as in diffusers' own fast tests) on the CPU, two segments
//! from one load.
//!
//! Runs only where the interpreter has torch and diffusers; otherwise it prints why and
//! passes. CI does not install them. To run it:
//!
//! ```text
//! python3 -m venv .venv && .venv/bin/pip install torch diffusers transformers imageio imageio-ffmpeg
//! TTV_WORKER_PYTHON=.venv/bin/python cargo test -p ttv --test worker_diffusers -- --nocapture
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ttv::services::local::worker::{
    LoadRequest, Worker, WorkerOptions, WorkerPipeline, WorkerRequest,
};

fn python() -> PathBuf {
    std::env::var_os("TTV_WORKER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[tokio::test]
async fn the_worker_serves_two_segments_from_one_tiny_wan_pipeline_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let options = WorkerOptions {
        python: python(),
        startup_timeout: Duration::from_secs(30),
        load_timeout: Duration::from_secs(120),
        generate_timeout: Duration::from_secs(120),
        ..WorkerOptions::new(dir.path())
    };
    let mut worker = match Worker::start(options).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("skipped: cannot start the worker with {:?}: {e}", python());
            return;
        }
    };
    let health = worker.health().await.unwrap();
    if !(health.torch && health.diffusers) {
        eprintln!(
            "skipped: {:?} (Python {}) lacks {}; see this file's header to run it",
            python(),
            health.python,
            if health.torch { "diffusers" } else { "torch" }
        );
        worker.stop().await.unwrap();
        return;
    }
    let loaded = worker
        .load(&LoadRequest {
            pipeline: WorkerPipeline::Wan,
            model: "tiny-random".into(),
            device: Some("cpu".into()),
            dtype: Some("float32".into()),
            offload: false,
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
                    prompt: "a tiny test".into(),
                    negative_prompt: None,
                    image: None,
                    width: 16,
                    height: 16,
                    num_frames: 9,
                    steps: 2,
                    guidance_scale: Some(6.0),
                    seed: segment,
                    fps: 16,
                    output: output.clone(),
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
