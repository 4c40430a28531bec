//! The local backends through the `ttv` binary, as a user of the original pipeline sets them
//! up: a configuration file with relative paths (`wan2_dir: ./Wan2.1`), and `ttv` started
//! from another folder. The fake model scripts (the fixtures of the library's tests) refuse
//! any relative or missing path and compare their whole argv with the expectation, as the
//! real scripts, running inside their checkouts, would fail on a relative one.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ttv::VideoBackend;

const FAKE_GENERATE: &str = include_str!("../../ttv/tests/fixtures/local/fake_generate.py");
const FAKE_SAMPLE_VIDEO: &str = include_str!("../../ttv/tests/fixtures/local/fake_sample_video.py");
const FAKE_LTX_INFERENCE: &str =
    include_str!("../../ttv/tests/fixtures/local/fake_ltx_inference.py");

/// Upstream's `configs/ltxv-13b-0.9.8-distilled.yaml`, the keys ttv reads.
const LTX_CONFIG: &str =
    include_str!("../../ttv/tests/fixtures/local/ltxv-13b-0.9.8-distilled.yaml");

/// The configuration, every path relative to its own folder.
const CONFIG: &str = "wan2_dir: ./Wan2.1\n\
    sample_steps: 4\n\
    hunyuan_video:\n  hunyuan_dir: ./HunyuanVideo\n  ckpt_path: ./HunyuanVideo/ckpts\n  infer_steps: 4\n\
    ltx_video:\n  repo_dir: ./LTX-Video\n  models_dir: weights\n\
    local:\n  python: ./bin/python\n  nvidia_smi: bin/nvidia-smi\n  work_dir: ./jobs\n";

fn write(path: &Path, text: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn executable(path: &Path, text: &str) {
    write(path, text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `root/proj` (the configuration, checkouts, weights, programs) and `root/elsewhere`,
/// where `ttv` runs.
struct Setup {
    root: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("proj");
        write(&p.join("ttv.yaml"), CONFIG);
        executable(&p.join("bin/python"), "#!/bin/sh\nexec python3 \"$@\"\n");
        executable(
            &p.join("bin/nvidia-smi"),
            "#!/bin/sh\necho '80000, 81559'\n",
        );
        let fixture = p.join("fixture.mp4");
        let req = ttv::GenerationRequest {
            duration: Some(ttv::VideoDuration::from_secs(1)),
            resolution: Some(ttv::ResolutionSpec::Exact(ttv::Resolution::new(256, 144))),
            fps: Some(16),
            ..ttv::GenerationRequest::text("fixture")
        };
        ttv::services::animatic::Animatic::default()
            .generate(&req, &fixture, &ttv::backend::no_events)
            .await
            .unwrap();

        let wan = p.join("Wan2.1");
        write(&wan.join("generate.py"), FAKE_GENERATE);
        write(
            &wan.join("wan/configs/__init__.py"),
            "WAN_CONFIGS = {'t2v-14B': 1, 't2v-1.3B': 2}\n",
        );
        write(
            &wan.join("Wan2.1-T2V-1.3B/models_t5_umt5-xxl-enc-bf16.pth"),
            "",
        );
        write(&wan.join("behaviour.txt"), "ok");

        let hy = p.join("HunyuanVideo");
        write(&hy.join("sample_video.py"), FAKE_SAMPLE_VIDEO);
        let ckpts = hy.join("ckpts");
        write(
            &ckpts.join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt"),
            "",
        );
        for dir in [
            "hunyuan-video-t2v-720p/vae",
            "text_encoder",
            "text_encoder_2",
        ] {
            std::fs::create_dir_all(ckpts.join(dir)).unwrap();
        }

        let ltx = p.join("LTX-Video");
        write(&ltx.join("inference.py"), FAKE_LTX_INFERENCE);
        write(
            &ltx.join("configs/ltxv-13b-0.9.8-distilled.yaml"),
            LTX_CONFIG,
        );
        write(&ltx.join("passes.txt"), "7 3");
        for w in [
            "ltxv-13b-0.9.8-distilled.safetensors",
            "ltxv-spatial-upscaler-0.9.8.safetensors",
        ] {
            write(&p.join("weights").join(w), "");
        }
        for checkout in [&wan, &hy, &ltx] {
            std::fs::copy(&fixture, checkout.join("fixture.mp4")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("elsewhere")).unwrap();
        Self { root }
    }

    fn proj(&self) -> PathBuf {
        self.root.path().join("proj")
    }

    fn elsewhere(&self) -> PathBuf {
        self.root.path().join("elsewhere")
    }

    /// `ttv --config ../proj/ttv.yaml ARGS` in `elsewhere`.
    fn ttv(&self, args: &[&str]) -> Command {
        let mut cmd = common::ttv(&self.elsewhere());
        cmd.arg("--config").arg("../proj/ttv.yaml").args(args);
        cmd
    }

    /// What the script in `checkout` must receive; `{JOB}` stands for the job folder.
    fn expect(&self, checkout: &str, argv: &[String]) {
        write(
            &self.proj().join(checkout).join("expected_argv.json"),
            serde_json::to_string(argv).unwrap(),
        );
    }

    fn jobs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.proj().join("jobs"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn config_check_shows_the_absolute_paths_the_backends_use_and_all_three_are_available() {
    let s = Setup::new().await;
    let proj = s.proj().canonicalize().unwrap();
    let out = s.ttv(&["config", "check"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for line in [
        format!("wan2_dir: {}/Wan2.1", proj.display()),
        format!("  python: {}/bin/python", proj.display()),
        format!("  work_dir: {}/jobs", proj.display()),
        format!("  repo_dir: {}/LTX-Video", proj.display()),
        format!("  models_dir: {}/weights", proj.display()),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    for backend in ["wan", "hunyuan", "ltx"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(backend) && l.ends_with("available")),
            "{backend} is not available:\n{text}"
        );
    }

    let out = s.ttv(&["backends"]).output().unwrap();
    let ltx = stdout(&out)
        .lines()
        .find(|l| l.starts_with("ltx "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        ltx.contains("t2v,i2v,flf") && ltx.ends_with("available"),
        "{ltx}"
    );

    let out = s
        .ttv(&["estimate", "-p", "a kite", "-d", "2"])
        .output()
        .unwrap();
    let priced = stdout(&out);
    for backend in ["wan", "hunyuan", "ltx"] {
        assert!(
            priced.lines().any(|l| l.starts_with(backend)),
            "{backend} not priced:\n{priced}{}",
            stderr(&out)
        );
    }
}

#[tokio::test]
async fn wan_runs_from_another_folder_with_a_dash_prompt_and_every_path_absolute() {
    let s = Setup::new().await;
    let proj = s.proj().canonicalize().unwrap();
    let ckpt = proj.join("Wan2.1/Wan2.1-T2V-1.3B").display().to_string();
    s.expect(
        "Wan2.1",
        &strings(&[
            "generate.py",
            "--task",
            "t2v-1.3B",
            "--size",
            "832*480",
            "--ckpt_dir",
            &ckpt,
            "--frame_num",
            "33",
            "--sample_steps",
            "4",
            "--base_seed",
            "7",
            "--save_file",
            "{JOB}/output.mp4",
            "--prompt=-a paper boat",
            "--offload_model",
            "False",
        ]),
    );
    let out = s
        .ttv(&[
            "generate",
            "-b",
            "wan",
            "--prompt=-a paper boat",
            "--seed",
            "7",
            "-d",
            "2",
            "-o",
            "boat.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.elsewhere().join("boat.mp4").is_file());
    // The job folder is where the configuration put it.
    assert_eq!(s.jobs().len(), 1, "{:?}", s.jobs());
}

#[tokio::test]
async fn hunyuan_takes_the_pipelines_ckpt_path_and_a_cjk_prompt_refusing_one_too_long_to_save() {
    let s = Setup::new().await;
    let proj = s.proj().canonicalize().unwrap();
    let ckpts = proj.join("HunyuanVideo/ckpts");
    let prompt = "灯笼在夜空中缓缓升起".repeat(6);
    s.expect(
        "HunyuanVideo",
        &strings(&[
            "sample_video.py",
            "--video-size",
            "544",
            "960",
            "--video-length",
            "25",
            "--infer-steps",
            "4",
            "--prompt",
            &prompt,
            "--embedded-cfg-scale",
            "6",
            "--flow-shift",
            "7",
            "--flow-reverse",
            "--seed",
            "1",
            "--model-base",
            &ckpts.display().to_string(),
            "--dit-weight",
            &ckpts
                .join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt")
                .display()
                .to_string(),
            "--save-path",
            "{JOB}/out",
        ]),
    );
    let out = s
        .ttv(&[
            "generate",
            "-b",
            "hunyuan",
            "-p",
            &prompt,
            "-r",
            "540p",
            "-d",
            "1",
            "--seed",
            "1",
            "-o",
            "lantern.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.elsewhere().join("lantern.mp4").is_file());

    let long = "灯笼在夜空中缓缓升起".repeat(8);
    let before = s.jobs().len();
    let out = s
        .ttv(&["generate", "-b", "hunyuan", "-p", &long, "-o", "never.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("prompt"), "{}", stderr(&out));
    assert!(stderr(&out).contains("255 bytes"), "{}", stderr(&out));
    assert_eq!(
        s.jobs().len(),
        before,
        "a job started for a prompt that cannot be saved"
    );
    assert!(!s.elsewhere().join("never.mp4").exists());
}

#[tokio::test]
async fn ltx_runs_inference_py_with_a_relative_image_and_local_weights() {
    let s = Setup::new().await;
    image::RgbImage::from_pixel(1600, 1200, image::Rgb([40, 80, 120]))
        .save(s.elsewhere().join("photo.png"))
        .unwrap();
    s.expect(
        "LTX-Video",
        &strings(&[
            "inference.py",
            "--prompt",
            "a kite",
            "--height",
            "768",
            "--width",
            "1024",
            "--num_frames",
            "49",
            "--frame_rate",
            "24",
            "--seed",
            "3",
            "--pipeline_config",
            "{JOB}/pipeline_config.yaml",
            "--output_path",
            "{JOB}/out",
            "--conditioning_media_paths",
            "{JOB}/image.png",
            "--conditioning_start_frames",
            "0",
        ]),
    );
    let out = s
        .ttv(&[
            "generate",
            "-b",
            "ltx",
            "-p",
            "a kite",
            "-i",
            "photo.png",
            "--fps",
            "24",
            "-d",
            "2",
            "--seed",
            "3",
            "-o",
            "kite.mp4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.elsewhere().join("kite.mp4").is_file());
}
