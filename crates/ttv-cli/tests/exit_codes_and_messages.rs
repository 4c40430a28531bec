//! Exit codes (2 for what the user can fix here, including the local environment; 3 for
//! backends) and messages in the user's words: JSON for argument errors, hints, plain words
//! for configuration types, capped warnings, and every problem of a request at once.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    common::ttv(dir).args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

#[test]
fn argument_errors_are_json_with_json_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--json", "generate", "--bogus"][..], "--bogus"),
        (
            &["--json", "generate", "-p", "x", "--job-id"][..],
            "--job-id",
        ),
        (&["--json"][..], "subcommand"),
    ] {
        let out = run(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["status"], "failed", "{args:?}");
        assert_eq!(v["error"]["kind"], "invalid_request", "{args:?}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{args:?}: {v}"
        );
    }
    // Help is not an error.
    let out = run(dir.path(), &["--json", "generate", "--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_value_that_starts_with_a_dash_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["generate", "-p", "-foo", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("hint: to give -p a value that starts with '-', join them with '=': -p=-foo"),
        "{}",
        stderr(&out)
    );
    let out = run(dir.path(), &["--json", "generate", "-p=-foo", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_job_id_may_not_start_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["generate", "-p", "x", "--job-id=-abc", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("job_id: \"-abc\"; expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn probe_and_frame_of_what_is_not_a_video_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notes.mp4"), "not a video").unwrap();
    assert_eq!(run(d, &["probe", "missing.mp4"]).status.code(), Some(2));
    assert_eq!(run(d, &["probe", "notes.mp4"]).status.code(), Some(2));
    let made = run(
        d,
        &[
            "generate", "-p", "x", "-d", "1", "-r", "240p", "--fps", "8", "-o", "a.mp4",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let out = run(d, &["frame", "a.mp4", "--which", "9999", "-o", "f.png"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("9999"), "{}", stderr(&out));
    assert!(!d.join("f.png").exists());
}

#[test]
fn a_damaged_job_store_is_bad_input_says_how_to_recover_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(".ttv-data");
    std::fs::create_dir_all(&data).unwrap();
    let garbage = b"this was a job store before the disk failed".repeat(100);
    std::fs::write(data.join("jobs.sqlite3"), &garbage).unwrap();
    let out = run(dir.path(), &["jobs", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is damaged"), "{err}");
    assert!(err.contains("jobs.sqlite3.damaged"), "{err}");
    assert_eq!(std::fs::read(data.join("jobs.sqlite3")).unwrap(), garbage);
}

#[test]
fn bad_environment_variables_and_a_folder_as_config_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ttv(dir.path())
        .args(["generate", "-p", "x", "--dry-run"])
        .env("TTV_DEFAULT_BACKEND", "bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TTV_DEFAULT_BACKEND: unknown backend \"bogus\""),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let out = run(
        dir.path(),
        &["--config", "conf", "generate", "-p", "x", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--config: conf is a folder; expected a configuration file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_extra_value_that_looks_like_json_but_is_not_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["validate", "-p", "x", "-x", "camera={pan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("extra.camera: \"{pan\"; expected valid JSON, since it starts with '{'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn configuration_mistakes_are_said_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ttv.yaml"),
        "total_gpus: two\nstore: 5\nremote_api_settings:\n  timeout: fast\nanimatic:\n  fps: [1]\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "  error: total_gpus: \"two\"; expected a whole number, 0 or more",
        "  error: store: 5; expected a mapping of keys to values",
        "  error: remote_api_settings.timeout: \"fast\"; expected a number",
        "  error: animatic.fps: a list; expected a whole number, 0 or more",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    for jargon in ["u32", "f64", "struct", "sequence", "invalid type"] {
        assert!(!text.contains(jargon), "{jargon:?} in:\n{text}");
    }
}

#[test]
fn unknown_keys_are_one_line_each_and_warnings_stop_at_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let keys: String = (0..30).map(|i| format!("zz_unknown_{i}: 1\n")).collect();
    std::fs::write(
        dir.path().join("ttv.yaml"),
        format!("runway_ml:\n  api_kye: x\n{keys}"),
    )
    .unwrap();
    let out = run(dir.path(), &["generate", "-p", "x", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 21, "{err}");
    assert!(
        warnings[20].contains("... and 11 more warnings about the configuration"),
        "{err}"
    );
    assert!(
        err.contains(
            "warning: runway_ml.api_kye: unknown key, ignored; did you mean runway_ml.api_key?"
        ),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l == "warning: zz_unknown_0: unknown key, ignored"),
        "{err}"
    );
}

#[test]
fn a_file_too_deep_or_too_large_is_said_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("a: {}{}\n", "[".repeat(2000), "]".repeat(2000));
    std::fs::write(dir.path().join("deep.yaml"), deep).unwrap();
    let out = run(dir.path(), &["--config", "deep.yaml", "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the file nests too deeply"), "{text}");
    let big: String = std::iter::once("a:\n".to_owned())
        .chain((0..300_000).map(|i| format!("  - {i}\n")))
        .collect();
    std::fs::write(dir.path().join("big.yaml"), big).unwrap();
    let out = run(dir.path(), &["--config", "big.yaml", "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the file is too large"), "{text}");
    assert!(!text.contains("Nodes {"), "{text}");
}

#[test]
fn an_image_problem_does_not_hide_the_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "generate",
            "-i",
            "missing.png",
            "-d",
            "31",
            "--fps",
            "75",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        "3 problems",
        "image: missing.png",
        "duration: 31s; expected 1s to 30s",
        "fps: 75; expected 8 to 60",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }
}

#[test]
fn with_auto_the_request_problems_are_not_buried_under_unusable_backends() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["generate", "-p", "x", "-d", "31", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("duration: 31s; expected 1s to 30s"), "{err}");
    assert!(err.contains("(not usable here: runway, veo"), "{err}");
    assert!(!err.contains("RUNWAYML_API_SECRET"), "{err}");
}

#[test]
fn an_image_over_the_size_limit_names_its_size_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    image::GrayImage::new(16_500, 2)
        .save_with_format(dir.path().join("wide.png"), image::ImageFormat::Png)
        .unwrap();
    let out = run(dir.path(), &["validate", "-p", "x", "-i", "wide.png"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("16384 pixels a side (this one is 16500x2)"),
        "{}",
        stderr(&out)
    );
}
