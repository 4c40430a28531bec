//! `ttv image generate | estimate | backends` end to end: the real binary, the embedded still
//! with no keys, and each simulated image API reached through the providers' standard
//! environment variables only; images decoded, sidecars read, exit codes and JSON as for
//! `ttv generate`, paid requests counted by the simulator.

mod common;

use std::path::Path;

use serde_json::Value;
use ttv::media::image::ImageInput;
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-cli-key";

async fn start_sim(config: SimConfig) -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        ..config
    })
    .await
    .unwrap()
}

/// The provider's standard variables, pointed at the simulator.
fn env(sim: &Sim, provider: Provider) -> Vec<(&'static str, String)> {
    match provider {
        Provider::OpenAi => vec![
            ("OPENAI_API_KEY", KEY.into()),
            ("OPENAI_BASE_URL", sim.api_base(provider)),
        ],
        Provider::Gemini => vec![
            ("GEMINI_API_KEY", KEY.into()),
            ("GOOGLE_GEMINI_BASE_URL", sim.base_url(provider)),
        ],
        _ => vec![
            ("STABILITY_API_KEY", KEY.into()),
            ("STABILITY_API_BASE", sim.base_url(provider)),
        ],
    }
}

/// Runs `ttv ARGS` in `dir` with `env` off the async threads; (exit code, stdout, stderr).
async fn ttv(dir: &Path, env: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::ttv_std(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn decoded(path: &Path) -> ImageInput {
    ImageInput::from_bytes("out", "out", std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn with_no_keys_the_still_makes_the_keyframe() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = ttv(
        dir.path(),
        &[],
        &[
            "image",
            "generate",
            "-p",
            "EXT. HARBOUR - DAWN",
            "-o",
            "key.png",
            "-a",
            "1:1",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), dir.path().join("key.png").display().to_string());
    let image = decoded(&dir.path().join("key.png"));
    assert_eq!(image.resolution(), ttv::Resolution::new(960, 960));
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("key.png.json")).unwrap()).unwrap();
    assert_eq!(sidecar["backend"], "still");
    assert_eq!(sidecar["sha256"], image.sha256());
}

#[tokio::test]
async fn each_simulated_image_api_makes_the_image_with_references() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("hero.png");
    let png = ttv::images::still::render_png("HERO", 1, ttv::Resolution::new(320, 320)).unwrap();
    std::fs::write(&reference, png).unwrap();
    for (provider, name, size) in [
        (Provider::OpenAi, "openai", (1024, 1024)),
        (Provider::Gemini, "gemini", (1024, 1024)),
        (Provider::Stability, "stability", (1024, 1024)),
    ] {
        let out = format!("{name}.png");
        let (code, stdout, err) = ttv(
            dir.path(),
            &env(&sim, provider),
            &[
                "--json",
                "image",
                "generate",
                "-p",
                "the hero, closer",
                "-b",
                name,
                "-i",
                "hero.png",
                "-o",
                &out,
                "-a",
                "1:1",
            ],
        )
        .await;
        assert_eq!(code, 0, "{name}: {err}");
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["status"], "succeeded", "{json}");
        assert_eq!(json["image"]["backend"], name);
        let image = decoded(&dir.path().join(&out));
        assert_eq!(
            image.resolution(),
            ttv::Resolution::new(size.0, size.1),
            "{name}"
        );
        assert_eq!(json["image"]["sha256"], image.sha256());
        assert_eq!(sim.paid_submits(provider), 1, "{name}");
    }
}

#[tokio::test]
async fn a_job_id_run_again_does_not_pay_twice() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&sim, Provider::OpenAi);
    let args = [
        "image", "generate", "-p", "a kite", "-b", "openai", "-o", "k.png", "--job-id", "kite-1",
    ];
    assert_eq!(ttv(dir.path(), &env, &args).await.0, 0);
    let (code, _, err) = ttv(dir.path(), &env, &args).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already made"), "{err}");
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
    let (code, out, _) = ttv(dir.path(), &env, &["--json", "jobs", "show", "kite-1"]).await;
    assert_eq!(code, 0);
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["kind"], "image", "{job}");
    assert_eq!(job["state"], "done", "{job}");
}

#[tokio::test]
async fn exit_codes_follow_ttv_generate() {
    let rule = FaultRule::nth(Endpoint::Submit, 1, FaultKind::ServerError);
    let sim = start_sim(SimConfig::default().with_fault(Provider::Stability, rule)).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&sim, Provider::Stability);
    // Bad input: 2, every problem named, nothing sent.
    let (code, _, err) = ttv(
        dir.path(),
        &env,
        &[
            "image",
            "generate",
            "-p",
            "x",
            "-b",
            "stability",
            "-s",
            "77x77",
            "-x",
            "strength=2",
            "-o",
            "a.png",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("size") && err.contains("extra.strength"),
        "{err}"
    );
    // A backend that cannot be used here: 3.
    let (code, _, err) = ttv(
        dir.path(),
        &[],
        &["image", "generate", "-p", "x", "-b", "sd3", "-o", "b.png"],
    )
    .await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("STABILITY_API_KEY"), "{err}");
    // An answer lost after the provider took the request: 4, unsettled, not resent.
    let (code, _, err) = ttv(
        dir.path(),
        &env,
        &[
            "image",
            "generate",
            "-p",
            "x",
            "-b",
            "stability",
            "-o",
            "c.png",
            "--job-id",
            "lost",
        ],
    )
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("ttv jobs resolve lost"), "{err}");
    assert_eq!(sim.paid_submits(Provider::Stability), 1);
    assert!(!dir.path().join("c.png").exists());
}

#[tokio::test]
async fn estimate_prices_every_image_backend_and_backends_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = ttv(
        dir.path(),
        &[],
        &["--json", "image", "estimate", "-p", "a kite", "-a", "1:1"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let rows = json["estimates"].as_array().unwrap();
    let micros = |name: &str| {
        rows.iter()
            .find(|r| r["backend"] == name)
            .map(|r| r["estimate"]["usd"]["micros"].as_i64().unwrap())
    };
    assert_eq!(micros("still"), Some(0));
    assert_eq!(micros("openai"), Some(42_000));
    assert_eq!(micros("gemini"), Some(39_000));
    assert_eq!(micros("stability"), Some(65_000));
    let (code, out, _) = ttv(dir.path(), &[], &["backends"]).await;
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("still *") && l.ends_with("available")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("openai")
            && l.ends_with("unavailable: set OPENAI_API_KEY or openai_api_key")),
        "{out}"
    );
}
