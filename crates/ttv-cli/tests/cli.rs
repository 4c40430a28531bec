//! End-to-end tests of the `ttv` binary as a user runs it: real processes, real files, and
//! the videos decoded back frame by frame.

mod common;

use std::io::Cursor;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use image::{Rgb, RgbImage};
use serde_json::Value;
use ttv::Resolution;
use ttv::media::frames::{self, Which};
use ttv::media::image::fit_cover;

/// A job store shared by the tests, outside their output folders and the user's own.
fn data_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A `ttv` command running in `dir` with a clean environment and the shared job store.
fn ttv(dir: &Path) -> Command {
    let mut cmd = common::ttv(dir);
    cmd.env("TTV_DATA_DIR", data_dir());
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn save_png(path: &Path, img: &RgbImage) {
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

/// A picture with large features in a dominant colour.
fn picture(w: u32, h: u32, tint: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let on = ((x * 5 / w) + (y * 3 / h)).is_multiple_of(2);
        let k = if on { 1.0 } else { 0.35 };
        Rgb(tint.map(|c| (f32::from(c) * k) as u8))
    })
}

fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn text_prompt_makes_a_playable_mp4_with_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let out = ttv(dir.path())
        .args([
            "generate",
            "--prompt",
            "A paper boat on a rainy street",
            "--duration",
            "2",
        ])
        .args([
            "--resolution",
            "480p",
            "--fps",
            "12",
            "--seed",
            "11",
            "--out",
            "boat.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "boat.mp4");
    assert_eq!(files_in(dir.path()), ["boat.mp4", "boat.mp4.json"]);

    let bytes = std::fs::read(dir.path().join("boat.mp4")).unwrap();
    let mut count = 0;
    frames::for_each_frame(&bytes, |_, f| {
        assert_eq!(f.dimensions(), (854, 480));
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 24);

    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("boat.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["backend"], "animatic");
    assert_eq!(sidecar["seed"], 11);
    assert_eq!(
        sidecar["request"]["prompt"],
        "A paper boat on a rainy street"
    );
    assert_eq!(sidecar["video"]["probe"]["frames"], 24);
    assert_eq!(sidecar["video"]["probe"]["duration_secs"], 2.0);
    assert_eq!(sidecar["video"]["probe"]["width"], 854);
    assert_eq!(sidecar["video"]["bytes"], bytes.len() as u64);
    assert_eq!(sidecar["cost"]["estimate"]["usd"]["micros"], 0);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(sidecar["video"]["sha256"], sha);
}

#[test]
fn image_and_last_frame_make_a_clip_that_starts_and_ends_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let first = picture(1000, 750, [230, 120, 40]);
    let last = picture(1000, 750, [40, 120, 230]);
    save_png(&dir.path().join("first.png"), &first);
    save_png(&dir.path().join("last.png"), &last);
    let out = ttv(dir.path())
        .args([
            "generate",
            "--image",
            "first.png",
            "--last-frame",
            "last.png",
            "--prompt",
            "zoom out slowly",
        ])
        .args([
            "--aspect",
            "16:9",
            "--resolution",
            "360p",
            "--duration",
            "1.5",
            "--fps",
            "16",
            "-o",
            "clip.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let clip = dir.path().join("clip.mp4");
    let (info, _) = ttv::media::probe::verify_file(&clip).unwrap();
    assert_eq!((info.width, info.height, info.frames), (640, 360, 24));
    assert!((info.duration_secs - 1.5).abs() < 1e-6);

    // zoom out starts 1.25x in: compare against the centre of the first image.
    let got_first = frames::extract_frame(&clip, Which::First).unwrap();
    let cover = fit_cover(&first, Resolution::new(800, 450)).unwrap();
    let centre = image::imageops::crop_imm(&cover, 80, 45, 640, 360).to_image();
    assert!(
        mad(&got_first, &centre) < 8.0,
        "first frame off by {}",
        mad(&got_first, &centre)
    );

    let got_last = frames::extract_frame(&clip, Which::Last).unwrap();
    let want_last = fit_cover(&last, Resolution::new(640, 360)).unwrap();
    assert!(
        mad(&got_last, &want_last) < 6.0,
        "last frame off by {}",
        mad(&got_last, &want_last)
    );

    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("clip.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["ticket"]["data"]["camera"], "zoom_out");
    assert_eq!(sidecar["request"]["image"]["source"], "first.png");
    assert_eq!(sidecar["request"]["image"]["width"], 1000);
}

#[test]
fn json_output_describes_the_video() {
    let dir = tempfile::tempdir().unwrap();
    let out = ttv(dir.path())
        .args([
            "--json",
            "generate",
            "-p",
            "json please",
            "-d",
            "1",
            "-r",
            "240p",
            "-o",
            "j.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["path"], "j.mp4");
    assert_eq!(v["sidecar"], "j.mp4.json");
    assert_eq!(v["video"]["probe"]["height"], 240);
}

#[test]
fn dry_run_plans_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = ttv(dir.path())
        .args([
            "--json",
            "generate",
            "-p",
            "plan",
            "-d",
            "3",
            "--dry-run",
            "-o",
            "never.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "dry_run");
    assert_eq!(v["backend"], "animatic");
    assert_eq!(v["resolved"]["frames"], 72);
    assert!(files_in(dir.path()).is_empty());
}

/// Runs `generate` with `args` in a fresh folder and checks it fails with `code`, says
/// everything in `says`, and leaves no video behind.
fn refuses(setup: impl Fn(&Path), args: &[&str], code: i32, says: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let before = files_in(dir.path());
    let out = ttv(dir.path())
        .arg("generate")
        .args(args)
        .args(["-o", "out.mp4"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "args {args:?}: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    for s in says {
        assert!(err.contains(s), "args {args:?}: expected {s:?} in:\n{err}");
    }
    assert_eq!(
        files_in(dir.path()),
        before,
        "args {args:?} left files behind"
    );
}

fn no_setup(_: &Path) {}

#[test]
fn missing_image_is_a_clear_error() {
    refuses(
        no_setup,
        &["-i", "nowhere.png"],
        2,
        &["image: nowhere.png", "existing PNG, JPEG or WebP"],
    );
}

#[test]
fn corrupt_image_is_a_clear_error() {
    refuses(
        |d| std::fs::write(d.join("bad.png"), b"this is not a picture").unwrap(),
        &["-i", "bad.png"],
        2,
        &["image: bad.png", "not a known image format"],
    );
}

#[test]
fn truncated_image_is_a_clear_error() {
    refuses(
        |d| {
            let mut bytes = Vec::new();
            picture(400, 300, [200, 50, 50])
                .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
                .unwrap();
            bytes.truncate(bytes.len() * 2 / 3);
            std::fs::write(d.join("cut.jpg"), bytes).unwrap();
        },
        &["--last-frame", "cut.jpg", "-i", "cut.jpg"],
        2,
        &[
            "image: cut.jpg",
            "last_frame: cut.jpg",
            "complete, uncorrupted JPEG",
        ],
    );
}

#[test]
fn oversized_image_is_a_clear_error() {
    refuses(
        |d| {
            // 9000x8000 = 72 megapixels: over the decompression-bomb limit, yet tiny on disk.
            let img = image::GrayImage::new(9000, 8000);
            img.save_with_format(d.join("huge.png"), image::ImageFormat::Png)
                .unwrap();
        },
        &["-i", "huge.png"],
        2,
        &["image: huge.png", "at most 64 megapixels", "9000x8000"],
    );
}

#[test]
fn unsupported_settings_are_reported_together() {
    refuses(
        no_setup,
        &["-p", "x", "-d", "31", "-r", "2000x2000", "--fps", "75"],
        2,
        &[
            "3 problems",
            "duration: 31s; expected 1s to 30s",
            "fps: 75; expected 8 to 60",
            "resolution: 2000x2000",
        ],
    );
    refuses(
        no_setup,
        &["-p", "x", "-d", "soon", "--fps", "fast"],
        2,
        &["duration: \"soon\"", "fps: \"fast\""],
    );
}

#[test]
fn unknown_backend_is_a_clear_error() {
    refuses(
        no_setup,
        &["-p", "x", "-b", "runwy"],
        2,
        &["unknown backend \"runwy\"", "did you mean \"runway\"?"],
    );
}

#[test]
fn backends_that_cannot_run_here_are_listed_as_unavailable_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = ttv(dir.path()).arg("backends").output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let animatic = table.lines().find(|l| l.starts_with("animatic")).unwrap();
    assert!(
        animatic.contains("available") && animatic.contains("free"),
        "{animatic}"
    );
    let runway = table.lines().find(|l| l.starts_with("runway")).unwrap();
    assert!(
        runway.contains("unavailable: set RUNWAYML_API_SECRET or runway_ml.api_key"),
        "{runway}"
    );
    let veo = table.lines().find(|l| l.starts_with("veo")).unwrap();
    assert!(
        veo.contains("unavailable: set GEMINI_API_KEY or google_veo.api_key"),
        "{veo}"
    );

    refuses(
        no_setup,
        &["-p", "x", "-b", "runway_ml"],
        3,
        &["runway cannot be used here"],
    );
}

#[test]
fn validate_lists_problems_and_estimate_prices_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = ttv(dir.path())
        .args(["validate", "-p", "x", "--audio", "-x", "camera=spin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("audio: true; expected false"), "{err}");
    assert!(
        err.contains("extra.camera: \"spin\"; expected one of zoom_in"),
        "{err}"
    );

    let out = ttv(dir.path())
        .args(["validate", "-p", "x", "-d", "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("animatic would make 4 s of 1280x720 at 24 fps (96 frames")
    );

    let out = ttv(dir.path())
        .args(["--json", "estimate", "-p", "x"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["estimates"][0]["backend"], "animatic");
    assert_eq!(v["estimates"][0]["estimate"]["usd"]["micros"], 0);
}

#[cfg(unix)]
#[test]
fn interrupt_stops_the_render_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = common::ttv_std(dir.path())
        .env("TTV_DATA_DIR", data.path())
        .args([
            "generate",
            "--job-id",
            "long",
            "-p",
            "a long render",
            "-d",
            "30",
            "-r",
            "1080p",
            "--fps",
            "60",
            "-o",
            "long.mp4",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the render is under way, as the job store shows it.
    let store = ttv::store::Store::open_in(data.path()).unwrap();
    let rendering = || {
        store
            .get("long")
            .unwrap()
            .is_some_and(|j| j.state == ttv::store::JobState::Running)
    };
    while !rendering() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ttv ended before rendering"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    // The render stopped and the job says so.
    let job = store.job("long").unwrap();
    assert_eq!(job.state, ttv::store::JobState::Cancelled);
}

const PIPELINE_CONFIG: &str = include_str!("../../ttv/tests/fixtures/pipeline_config.yaml");

#[test]
fn config_check_reads_the_original_pipeline_file_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline_config.yaml"), PIPELINE_CONFIG).unwrap();
    let out = ttv(dir.path())
        .args(["config", "check"])
        .env("RUNWAYML_API_SECRET", "rw-very-secret")
        .env("FAL_KEY", "fal-very-secret")
        .env("OPENAI_API_KEY", "sk-very-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr(&out));
    for line in [
        "# configuration: pipeline_config.yaml",
        "default backend: runway",
        "  api_key: \"***\"",
        "  runway_ml.api_key      *** (from configuration file)",
        "  fal.api_key            *** (from configuration file)",
        "  runway     available",
        "  warning: minimax.api_key: looks like a placeholder, not a key; ignored (set it here or in MINIMAX_API_KEY)",
        "  note: task: read but not used by ttv: the pipeline's task switch; ttv picks the task from the request",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
    let all = format!("{stdout}{}", stderr(&out));
    assert!(!all.contains("very-secret"), "a secret leaked:\n{all}");

    let json = ttv(dir.path())
        .args(["--json", "config", "check"])
        .env("RUNWAYML_API_SECRET", "rw-very-secret")
        .env("OPENAI_API_KEY", "sk-very-secret")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["config"]["runway_ml"]["api_key"], "***");
    assert_eq!(v["config"]["runway_ml"]["model"], "gen4_turbo");
    assert_eq!(v["default_backend"], "runway");
    assert!(v["data_dir"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    assert!(!String::from_utf8_lossy(&json.stdout).contains("very-secret"));
}

#[test]
fn config_check_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.yaml");
    std::fs::write(
        &file,
        "total_gpus: two\nruntime: 3\nrunway_ml:\n  api_kye: x\ndefault_backend: runwya\n",
    )
    .unwrap();
    let out = ttv(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "  error: total_gpus: \"two\"; expected a whole number, 0 or more",
        "  error: default_backend: unknown backend \"runwya\" (did you mean \"runway\"?)",
        "  warning: runway_ml.api_kye: unknown key, ignored; did you mean runway_ml.api_key?",
        "  warning: runtime: unknown key, ignored",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(want)),
            "no line starting {want:?} in:\n{stdout}"
        );
    }
}

#[test]
fn a_missing_environment_variable_stops_the_commands_that_need_it_before_anything_is_written() {
    refuses(
        |dir| {
            std::fs::write(
                dir.join("ttv.yaml"),
                "runway_ml:\n  api_key: ${MY_RUNWAY_KEY}\n",
            )
            .unwrap()
        },
        &["-p", "a lighthouse", "-b", "runway"],
        2,
        &[
            "runway_ml.api_key: environment variable MY_RUNWAY_KEY is not set",
            "ttv config check",
        ],
    );
    refuses(
        |dir| std::fs::write(dir.join("ttv.yaml"), "size: [1, 2]\n").unwrap(),
        &["-p", "a lighthouse"],
        2,
        &["size: a list; expected"],
    );
}

#[test]
fn the_configuration_supplies_request_defaults_and_the_default_backend() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ttv.yaml"),
        "default_backend: ${BACKEND:-animatic}\nsize: 640*360\nsegment_duration_seconds: 2\n\
         base_seed: 7\nanimatic:\n  fps: 12\n  camera: orbit\nrunway_ml:\n  api_kye: typo\n",
    )
    .unwrap();
    let out = ttv(dir.path())
        .args(["--json", "generate", "-p", "defaults", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "animatic");
    assert_eq!(
        (
            &v["resolved"]["resolution"]["width"],
            &v["resolved"]["resolution"]["height"]
        ),
        (&Value::from(640), &Value::from(360))
    );
    assert_eq!(v["resolved"]["fps"], 12);
    assert_eq!(v["resolved"]["frames"], 24);
    assert!(
        stderr(&out).contains(
            "warning: runway_ml.api_kye: unknown key, ignored; did you mean runway_ml.api_key?"
        ),
        "{}",
        stderr(&out)
    );
    // TTV_DEFAULT_BACKEND beats the file; --backend beats both.
    let out = ttv(dir.path())
        .args(["--json", "generate", "-p", "defaults", "--dry-run"])
        .env("TTV_DEFAULT_BACKEND", "runway")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "runway has no key here: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("runway cannot be used here"),
        "{}",
        stderr(&out)
    );
}
