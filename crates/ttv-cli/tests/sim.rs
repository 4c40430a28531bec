//! `ttv generate --backend runway` end to end against an in-process simulator: the real
//! binary, the Runway protocol over HTTP, and the downloaded video decoded frame by frame.

mod common;

use std::path::Path;

use serde_json::Value;
use ttv::media::frames;
use ttv_sim::{Provider, Sim, SimConfig};

/// A simulator that accepts only the test key, serving small videos at once.
async fn start_sim() -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap()
}

/// Runs `ttv generate ARGS --out kite.mp4` in `dir` with no configuration or key but `env`,
/// the job store inside `dir`, and returns the video's bytes.
async fn generate(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Vec<u8> {
    let mut cmd = common::ttv(dir);
    cmd.env("TTV_DATA_DIR", dir.join(".ttv"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("generate").args(args).args(["--out", "kite.mp4"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("kite.mp4")).unwrap()
}

const KEY: &str = "sim-cli-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_runway_downloads_and_decodes_the_simulated_video() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RUNWAYML_API_SECRET", KEY.to_owned()),
        ("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway)),
    ];
    let args = [
        "--backend",
        "runway",
        "-p",
        "a kite over the sea",
        "-d",
        "2",
    ];
    let bytes = generate(dir.path(), &env, &args).await;
    let mut count = 0;
    frames::for_each_frame(&bytes, |_, f| {
        assert_eq!(f.dimensions(), (320, 180));
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 16, "2 s at the simulator's 8 fps");

    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("kite.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["backend"], "runway");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    let submit = &sim.requests()[0];
    assert_eq!(
        submit.json(),
        serde_json::json!({ "model": "gen4.5", "promptText": "a kite over the sea", "ratio": "1280:720", "duration": 2 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_veo_on_the_gemini_api_downloads_the_simulated_video() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("GEMINI_API_KEY", KEY.to_owned()),
        ("GOOGLE_GEMINI_BASE_URL", sim.base_url(Provider::Gemini)),
    ];
    let args = ["--backend", "veo3", "-p", "a kite over the sea", "-d", "4"];
    let bytes = generate(dir.path(), &env, &args).await;
    let mut count = 0;
    frames::for_each_frame(&bytes, |_, _| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 32, "4 s at the simulator's 8 fps");
    assert_eq!(sim.paid_submits(Provider::Gemini), 1);
    let submit = &sim.requests()[0];
    assert_eq!(
        submit.path,
        "/gemini/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning"
    );
    assert_eq!(submit.json()["parameters"]["durationSeconds"], 4);
}
