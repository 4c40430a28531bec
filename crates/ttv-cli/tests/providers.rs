//! `ttv generate -b NAME` end to end for Kling, Luma, Replicate, Seedance and Alibaba against
//! an in-process simulator: the real binary, each provider's protocol over HTTP with only the
//! providers' standard environment variables, the video decoded frame by frame, and the
//! sidecar. Also `ttv backends`, `estimate` and `config check` for the five.

mod common;

use std::path::Path;

use serde_json::Value;
use ttv::media::frames;
use ttv_sim::{Provider, Sim, SimConfig};

const KEY: &str = "sim-cli-key";

async fn start_sim() -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap()
}

/// The provider's standard variables, pointed at the simulator.
fn env(sim: &Sim, provider: Provider) -> Vec<(&'static str, String)> {
    match provider {
        Provider::Kling => vec![
            ("KLINGAI_ACCESS_KEY", KEY.into()),
            ("KLINGAI_SECRET_KEY", "sim-secret".into()),
            ("KLINGAI_BASE_URL", sim.base_url(provider)),
        ],
        Provider::Luma => vec![
            ("LUMA_AGENTS_API_KEY", KEY.into()),
            ("LUMA_BASE_URL", sim.api_base(provider)),
        ],
        Provider::Replicate => vec![
            ("REPLICATE_API_TOKEN", KEY.into()),
            ("REPLICATE_BASE_URL", sim.base_url(provider)),
        ],
        Provider::Seedance => vec![
            ("ARK_API_KEY", KEY.into()),
            ("ARK_BASE_URL", sim.api_base(provider)),
        ],
        Provider::Dashscope => vec![
            ("DASHSCOPE_API_KEY", KEY.into()),
            ("DASHSCOPE_HTTP_BASE_URL", sim.api_base(provider)),
        ],
        _ => Vec::new(),
    }
}

/// Runs `ttv ARGS` in `dir` with `env`; returns stdout, after checking it succeeded.
async fn ttv(dir: &Path, env: &[(&str, String)], args: &[&str]) -> String {
    let mut cmd = common::ttv(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ttv generate -b NAME` into `clip.mp4`; returns the frame count and the sidecar.
async fn generate(
    sim: &Sim,
    provider: Provider,
    name: &str,
    extra: &[&str],
) -> (usize, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "generate",
        "-b",
        name,
        "-p",
        "a kite over the sea",
        "--out",
        "clip.mp4",
    ];
    args.extend_from_slice(extra);
    ttv(dir.path(), &env(sim, provider), &args).await;
    let bytes = std::fs::read(dir.path().join("clip.mp4")).unwrap();
    let mut count = 0;
    frames::for_each_frame(&bytes, |_, _| {
        count += 1;
        Ok(())
    })
    .unwrap();
    let sidecar =
        serde_json::from_slice(&std::fs::read(dir.path().join("clip.mp4.json")).unwrap()).unwrap();
    assert_eq!(sim.paid_submits(provider), 1, "exactly one paid submit");
    (count, sidecar, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_kling_signs_a_jwt_and_saves_a_playable_video() {
    let sim = start_sim().await;
    let (frames, sidecar, _dir) = generate(&sim, Provider::Kling, "kling", &["-d", "5"]).await;
    assert_eq!(frames, 40, "5 s at the simulator's 8 fps");
    assert_eq!(sidecar["backend"], "kling");
    assert_eq!(sidecar["model"], "kling-v2-6");
    let auth = &sim.requests()[0].headers["authorization"];
    assert_eq!(auth.matches('.').count(), 2, "a JWT: {auth}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_luma_uses_the_agents_api() {
    let sim = start_sim().await;
    let (frames, sidecar, _dir) = generate(&sim, Provider::Luma, "luma", &["-d", "5"]).await;
    assert_eq!(frames, 40);
    assert_eq!(sidecar["model"], "ray-3.2");
    assert_eq!(sim.requests()[0].path, "/luma/v1/generations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_replicate_uploads_a_large_keyframe_and_records_it_in_the_sidecar() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut state = 7u32;
    let img = image::RgbImage::from_fn(400, 300, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let b = state.to_le_bytes();
        image::Rgb([b[1], b[2], b[3]])
    });
    let keyframe = dir.path().join("key.png");
    img.save(&keyframe).unwrap();
    let path = keyframe.to_string_lossy().into_owned();
    let (frames, sidecar, _out) = generate(
        &sim,
        Provider::Replicate,
        "replicate",
        &["-d", "5", "-i", &path],
    )
    .await;
    assert_eq!(frames, 40);
    assert_eq!(sidecar["inputs"][0]["field"], "image");
    assert_eq!(sidecar["inputs"][0]["how"], "upload");
    assert_eq!(sidecar["inputs"][0]["via"], "replicate_files");
    assert!(
        sidecar["inputs"][0]["reference"]
            .as_str()
            .unwrap()
            .contains("/replicate/v1/files/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_seedance_through_its_alias() {
    let sim = start_sim().await;
    let (frames, sidecar, _dir) =
        generate(&sim, Provider::Seedance, "bytedance", &["-d", "4"]).await;
    assert_eq!(frames, 32);
    assert_eq!(sidecar["backend"], "seedance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_alibaba_wan_through_dashscope() {
    let sim = start_sim().await;
    let (frames, sidecar, _dir) =
        generate(&sim, Provider::Dashscope, "dashscope", &["-d", "5"]).await;
    assert_eq!(frames, 40);
    assert_eq!(sidecar["backend"], "alibaba");
    assert_eq!(sim.requests()[0].headers["x-dashscope-async"], "enable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_estimate_and_config_check_know_the_five_providers() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<_> = [
        Provider::Kling,
        Provider::Luma,
        Provider::Replicate,
        Provider::Seedance,
        Provider::Dashscope,
    ]
    .into_iter()
    .flat_map(|p| env(&sim, p))
    .collect();
    let listed: Value =
        serde_json::from_str(&ttv(dir.path(), &all, &["--json", "backends"]).await).unwrap();
    for name in ["kling", "luma", "replicate", "seedance", "alibaba"] {
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap();
        assert_eq!(row["available"], true, "{name}: {row}");
    }
    let none: Value =
        serde_json::from_str(&ttv(dir.path(), &[], &["--json", "backends"]).await).unwrap();
    let kling = none
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "kling")
        .unwrap();
    assert_eq!(
        kling["reason"],
        "set KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY, or kling.access_key and kling.secret_key"
    );
    let estimates: Value = serde_json::from_str(
        &ttv(
            dir.path(),
            &all,
            &["--json", "estimate", "-p", "x", "-d", "5"],
        )
        .await,
    )
    .unwrap();
    let priced: Vec<&str> = estimates["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["backend"].as_str())
        .collect();
    for name in ["kling", "luma", "replicate", "seedance", "alibaba"] {
        assert!(priced.contains(&name), "{name} priced: {estimates}");
    }
    let check: Value =
        serde_json::from_str(&ttv(dir.path(), &all, &["--json", "config", "check"]).await).unwrap();
    let secrets: Vec<&str> = check["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    for path in [
        "kling.access_key",
        "kling.secret_key",
        "luma.api_key",
        "replicate.api_key",
        "seedance.api_key",
        "alibaba.api_key",
    ] {
        assert!(secrets.contains(&path), "{path}: {check}");
    }
    assert!(
        !check.to_string().contains(KEY),
        "no secret in config check"
    );
}
