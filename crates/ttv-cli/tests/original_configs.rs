//! The original pipeline's configuration files run unchanged: its sample file and the
//! examples of its backend documentation pass `ttv config check` with only useful
//! warnings, and the keys and variable names it uses mean what they meant there.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use ttv_sim::{Provider, Sim, SimConfig};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ttv/tests/fixtures/original")
        .join(name)
}

const EXAMPLES: &[&str] = &[
    "pipeline_config.yaml.sample",
    "schema.yaml",
    "wan21.yaml",
    "runway.yaml",
    "veo3.yaml",
    "minimax.yaml",
    "fal.yaml",
    "hunyuan.yaml",
    "fallback_at_top.yaml",
];

/// Warnings worth having for these files: a placeholder instead of a key, and a variable the
/// example expects but this machine does not set.
fn useful(line: &str) -> bool {
    line.contains("looks like a placeholder") || line.contains("is not set; set it")
}

#[test]
fn the_sample_and_every_documented_example_load_with_only_useful_warnings() {
    let dir = tempfile::tempdir().unwrap();
    for name in EXAMPLES {
        let out = common::ttv(dir.path())
            .args(["config", "check", "--config"])
            .arg(fixture(name))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}:\n{text}{}",
            stderr(&out)
        );
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("warning: "))
        {
            let first = text.lines().next() == Some(line);
            assert!(first || useful(line), "{name}: {line}");
        }
        assert!(!text.contains("  error: "), "{name}:\n{text}");
        // None of these defaults can run on a bare machine, and that is said first.
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("warning: the default backend ") && first.contains("cannot run here"),
            "{name}: first line {first:?}"
        );
    }
}

#[test]
fn an_unset_variable_in_a_section_the_command_does_not_use_does_not_block_it() {
    let dir = tempfile::tempdir().unwrap();
    let runway = fixture("runway.yaml");
    let out = common::ttv(dir.path())
        .arg("--config")
        .arg(&runway)
        .args([
            "generate", "-b", "animatic", "-p", "x", "-d", "1", "-r", "240p",
        ])
        .args(["--fps", "8", "-o", "a.mp4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("a.mp4").exists());
    // The command that needs Runway stops, naming the variable.
    let out = common::ttv(dir.path())
        .arg("--config")
        .arg(&runway)
        .args(["generate", "-b", "runway", "-p", "x", "-o", "b.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: runway cannot be used: its configuration has an error: runway_ml.api_key: environment variable RUNWAY_API_KEY is not set"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("b.mp4").exists());
}

/// `ttv --json backends` in `dir` with `env`, by name.
fn backends(dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Vec<Value> {
    let mut cmd = common::ttv(dir);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(["--json", "backends"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter().find(|r| r["name"] == name).unwrap()
}

#[test]
fn runway_api_key_is_read_as_a_runway_key_after_runwayml_api_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rows = backends(dir.path(), None, &[("RUNWAY_API_KEY", "rk-test")]);
    assert_eq!(row(&rows, "runway")["available"], true, "{rows:?}");
    // With both set, Runway's own variable wins.
    let out = common::ttv(dir.path())
        .args(["--json", "config", "check"])
        .env("RUNWAY_API_KEY", "rk-test")
        .env("RUNWAYML_API_SECRET", "rs-test")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let source = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "runway_ml.api_key")
        .unwrap();
    assert_eq!(source["from"], "environment variable RUNWAYML_API_SECRET");
}

#[test]
fn model_ids_are_matched_without_case_and_a_near_miss_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let rows = backends(
        dir.path(),
        Some(&fixture("minimax.yaml")),
        &[("MINIMAX_API_KEY", "mm-test")],
    );
    let minimax = row(&rows, "minimax");
    assert_eq!(minimax["available"], true, "{minimax}");
    assert_eq!(minimax["model"], "I2V-01-Director");

    std::fs::write(
        dir.path().join("ttv.yaml"),
        "minimax:\n  model: I2V-01-Directr\n",
    )
    .unwrap();
    let rows = backends(dir.path(), None, &[("MINIMAX_API_KEY", "mm-test")]);
    let reason = row(&rows, "minimax")["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("unknown model \"I2V-01-Directr\" (did you mean \"I2V-01-Director\"?)"),
        "{reason}"
    );
}

#[test]
fn a_top_level_fallback_backend_stands_in_for_a_default_that_cannot_run_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ttv(dir.path())
        .arg("--config")
        .arg(fixture("fallback_at_top.yaml"))
        .args(["generate", "-p", "x", "-d", "1", "-r", "240p", "--fps", "8"])
        .args(["-o", "a.mp4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("unknown key"), "{err}");
    assert!(
        err.contains("the video was made by animatic, a placeholder renderer (camera moves and title cards), not a generative model"),
        "{err}"
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["backend"], "animatic");
    assert_eq!(sidecar["fallback"]["from"], "veo");
    assert_eq!(sidecar["fallback"]["to"], "animatic");
    assert_eq!(sidecar["fallback"]["placeholder"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fal_address_can_come_from_the_environment() {
    const KEY: &str = "sim-fal-key";
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = sim.base_url(Provider::Fal);
    let mut cmd = common::ttv(dir.path());
    cmd.env("FAL_KEY", KEY)
        .env("FAL_QUEUE_BASE_URL", &base)
        .args([
            "generate", "-b", "fal", "-p", "a kite", "-d", "5", "-o", "kite.mp4",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    assert!(dir.path().join("kite.mp4").exists());

    // The original pipeline's synchronous fal address is read as fal's queue API.
    let sample = fixture("pipeline_config.yaml.sample");
    let out = common::ttv(dir.path())
        .args(["--json", "config", "check", "--config"])
        .arg(&sample)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["fal"]["base_url"], "https://queue.fal.run");
}
