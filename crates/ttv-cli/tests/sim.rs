//! `ttv generate --backend runway` end to end against an in-process simulator: the real
//! binary, the Runway protocol over HTTP, and the downloaded video decoded frame by frame.

use assert_cmd::Command;
use serde_json::Value;
use ttv::media::frames;
use ttv_sim::{Provider, Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_runway_downloads_and_decodes_the_simulated_video() {
    let sim = Sim::start(SimConfig {
        api_key: Some("sim-cli-key".into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = sim.base_url(Provider::Runway);
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("ttv")
            .unwrap()
            .current_dir(&path)
            .env_remove("TTV_CONFIG")
            .env("TTV_DATA_DIR", path.join(".ttv"))
            .env_remove("MINIMAX_API_KEY")
            .env_remove("FAL_KEY")
            .env("RUNWAYML_API_SECRET", "sim-cli-key")
            .env("RUNWAYML_BASE_URL", base)
            .args([
                "generate",
                "--backend",
                "runway",
                "-p",
                "a kite over the sea",
            ])
            .args(["-d", "2", "--out", "kite.mp4"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bytes = std::fs::read(dir.path().join("kite.mp4")).unwrap();
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
    let sim = Sim::start(SimConfig {
        api_key: Some("sim-cli-key".into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = sim.base_url(Provider::Gemini);
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("ttv")
            .unwrap()
            .current_dir(&path)
            .env_remove("TTV_CONFIG")
            .env_remove("GOOGLE_API_KEY")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .env("GEMINI_API_KEY", "sim-cli-key")
            .env("GOOGLE_GEMINI_BASE_URL", base)
            .args(["generate", "--backend", "veo3", "-p", "a kite over the sea"])
            .args(["-d", "4", "--out", "kite.mp4"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.path().join("kite.mp4")).unwrap();
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
