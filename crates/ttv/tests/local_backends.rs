//! The local GPU backends end to end with no GPU: fake `generate.py`, `sample_video.py` and
//! `torchrun` scripts (Python, written here) check the exact argv they receive against what
//! the test expects, print tqdm bars the way the real scripts do, and copy a real MP4 (made
//! by the animatic) to where the real scripts save. The backend then verifies it like any
//! output. Needs `python3` on PATH, as CI has.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ttv::backend::{Event, no_events};
use ttv::services::animatic::Animatic;
use ttv::services::hunyuan::{Hunyuan, HunyuanOptions};
use ttv::services::local::{GpuMemory, GpuProbe, LocalRun};
use ttv::services::ltx::{Ltx, LtxOptions};
use ttv::services::wan::{Wan, WanOptions};
use ttv::{
    Availability, ErrorKind, GenerationRequest, ResolutionSpec, Status, VideoBackend, VideoDuration,
};

/// The flags of Wan's `generate.py` that ttv uses, declared so that an unknown flag fails
/// as it would with the real parser; then the whole argv is compared with the expectation.
const FAKE_GENERATE: &str = include_str!("fixtures/local/fake_generate.py");

/// HunyuanVideo's `sample_video.py`: `--save-path` is a folder and the script names the file.
const FAKE_SAMPLE_VIDEO: &str = include_str!("fixtures/local/fake_sample_video.py");

/// `torchrun --nproc_per_node=N script ...`: checks N against `expected_world.txt` beside it,
/// then runs the script as rank 0 with `WORLD_SIZE` set.
const FAKE_TORCHRUN: &str = include_str!("fixtures/local/fake_torchrun.py");

/// A small real MP4 made by the animatic: 1 s at 16 fps, 256x144.
async fn fixture_mp4(dir: &Path) -> PathBuf {
    let path = dir.join("fixture.mp4");
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(1)),
        resolution: Some(ResolutionSpec::Exact(ttv::Resolution::new(256, 144))),
        fps: Some(16),
        seed: Some(1),
        ..GenerationRequest::text("fixture")
    };
    Animatic::default()
        .generate(&req, &path, &no_events)
        .await
        .unwrap();
    path
}

/// What the fake script in `dir` must receive; `{JOB}` stands for the job folder.
fn expect_argv<S: serde::Serialize>(dir: &Path, argv: &[S]) {
    let json = serde_json::to_string(argv).unwrap();
    std::fs::write(dir.join("expected_argv.json"), json).unwrap();
}

/// Job folders in `work`, polled every 10 ms.
fn quick_run(work: &Path) -> LocalRun {
    LocalRun {
        work_dir: work.to_path_buf(),
        poll_interval: Duration::from_millis(10),
        ..LocalRun::default()
    }
}

fn one_big_gpu() -> GpuProbe {
    GpuProbe::fixed(Ok(vec![GpuMemory {
        free_mib: 80_000,
        total_mib: 81_559,
    }]))
}

struct FakeWan {
    root: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl FakeWan {
    async fn new(behaviour: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("generate.py"), FAKE_GENERATE).unwrap();
        std::fs::create_dir_all(r.join("wan/configs")).unwrap();
        std::fs::write(
            r.join("wan/configs/__init__.py"),
            "WAN_CONFIGS = {'t2v-14B': None, 't2v-1.3B': None}\n",
        )
        .unwrap();
        let ckpt = r.join("Wan2.1-T2V-1.3B");
        std::fs::create_dir_all(&ckpt).unwrap();
        std::fs::write(ckpt.join("models_t5_umt5-xxl-enc-bf16.pth"), b"").unwrap();
        std::fs::write(r.join("behaviour.txt"), behaviour).unwrap();
        fixture_mp4(r).await;
        Self {
            root,
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn expect(&self, argv: &[String]) {
        let json = serde_json::to_string(argv).unwrap();
        std::fs::write(self.root.path().join("expected_argv.json"), json).unwrap();
    }

    fn ckpt(&self) -> String {
        self.root
            .path()
            .join("Wan2.1-T2V-1.3B")
            .display()
            .to_string()
    }

    /// The pid of `generate.py` once it hangs ("hang" behaviour), waiting for it to get there.
    async fn hung_pid(&self) -> i32 {
        let file = self.root.path().join("hung.pid");
        for _ in 0..2000 {
            if let Some(pid) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("generate.py never reached its hang");
    }

    fn run(&self) -> LocalRun {
        LocalRun {
            work_dir: self.work.path().to_path_buf(),
            poll_interval: Duration::from_millis(10),
            ..LocalRun::default()
        }
    }

    fn options(&self) -> WanOptions {
        WanOptions {
            sample_steps: Some(10),
            run: self.run(),
            ..WanOptions::new(self.root.path())
        }
    }
}

/// The argv `generate.py` gets for a one-GPU t2v-1.3B job with 10 steps, `{JOB}` standing
/// for the job folder.
fn one_gpu_argv(ckpt: &str, size: &str, frames: u32, seed: u64, prompt: &str) -> Vec<String> {
    [
        "generate.py",
        "--task",
        "t2v-1.3B",
        "--size",
        size,
        "--ckpt_dir",
        ckpt,
        "--frame_num",
        &frames.to_string(),
        "--sample_steps",
        "10",
        "--base_seed",
        &seed.to_string(),
        "--save_file",
        "{JOB}/output.mp4",
        "--prompt",
        prompt,
        "--offload_model",
        "False",
    ]
    .map(String::from)
    .to_vec()
}

fn job_dirs(work: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test]
async fn wan_runs_generate_py_and_returns_its_verified_video_with_progress() {
    let fake = FakeWan::new("ok").await;
    let ckpt = fake.ckpt();
    fake.expect(&one_gpu_argv(
        &ckpt,
        "832*480",
        33,
        1234,
        "a paper boat on a river",
    ));
    let wan = Wan::with_gpu_probe(fake.options(), one_big_gpu());
    assert_eq!(wan.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(1234),
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("a paper boat on a river")
    };
    let progress = Mutex::new(Vec::new());
    let events = |e: Event| {
        if let Event::Running { progress: Some(p) } = e {
            progress.lock().unwrap().push(p);
        }
    };
    let dest = fake.work.path().join("out/boat.mp4");
    let got = wan.generate(&req, &dest, &events).await.unwrap();
    assert_eq!(got.path, dest);
    assert_eq!((got.video.width, got.video.height), (256, 144));
    assert_eq!(got.video.frames, 16);
    assert_eq!(got.ticket.model.as_deref(), Some("t2v-1.3B"));
    assert_eq!(got.resolved.frames, 33);
    let seen = progress.into_inner().unwrap();
    assert!(
        seen.iter().any(|p| *p > 0.0 && *p <= 1.0),
        "no progress read from the tqdm bar: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

    // The job folder keeps the command and both logs.
    let jobs: Vec<_> = job_dirs(fake.work.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("wan-"))
        .collect();
    assert_eq!(jobs.len(), 1);
    let stdout = std::fs::read_to_string(jobs[0].join("stdout.log")).unwrap();
    assert!(stdout.contains("Saving generated video"), "{stdout}");
    let stderr = std::fs::read_to_string(jobs[0].join("stderr.log")).unwrap();
    assert!(stderr.contains("10/10"), "{stderr}");
    let command = std::fs::read_to_string(jobs[0].join("command.txt")).unwrap();
    assert!(command.contains("generate.py --task t2v-1.3B"), "{command}");
}

#[tokio::test]
async fn wan_on_two_gpus_goes_through_torchrun() {
    let fake = FakeWan::new("ok").await;
    let torchrun = fake.root.path().join("torchrun");
    std::fs::write(&torchrun, FAKE_TORCHRUN).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&torchrun, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ckpt = fake.ckpt();
    let mut argv = one_gpu_argv(&ckpt, "480*832", 81, 5, "rain on glass");
    // Several GPUs: the sharding flags come before the explicit no-offload.
    argv.truncate(argv.len() - 2);
    argv.extend(
        [
            "--dit_fsdp",
            "--t5_fsdp",
            "--ulysses_size",
            "2",
            "--offload_model",
            "False",
        ]
        .map(String::from),
    );
    fake.expect(&argv);
    let opts = WanOptions {
        run: LocalRun {
            total_gpus: 2,
            torchrun,
            ..fake.run()
        },
        ..fake.options()
    };
    let two = GpuProbe::fixed(Ok(vec![
        GpuMemory {
            free_mib: 80_000,
            total_mib: 81_559
        };
        2
    ]));
    std::fs::write(fake.root.path().join("expected_world.txt"), "2").unwrap();
    let wan = Wan::with_gpu_probe(opts, two);
    assert_eq!(wan.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(5),
        aspect_ratio: Some(ttv::AspectRatio::PORTRAIT),
        ..GenerationRequest::text("rain on glass")
    };
    let dest = fake.work.path().join("rain.mp4");
    let got = wan.generate(&req, &dest, &no_events).await.unwrap();
    assert_eq!(got.video.frames, 16);
}

#[tokio::test]
async fn a_failing_wan_run_reports_the_scripts_last_words_and_leaves_no_output() {
    let fake = FakeWan::new("oom").await;
    let ckpt = fake.ckpt();
    fake.expect(&one_gpu_argv(&ckpt, "832*480", 81, 9, "x"));
    let wan = Wan::with_gpu_probe(fake.options(), one_big_gpu());
    let req = GenerationRequest {
        seed: Some(9),
        ..GenerationRequest::text("x")
    };
    let dest = fake.work.path().join("never.mp4");
    let err = wan.generate(&req, &dest, &no_events).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JobFailed);
    assert!(err.to_string().contains("CUDA out of memory"), "{err}");
    assert!(err.to_string().contains("logs are in"), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn a_wan_run_past_its_timeout_is_stopped_with_a_timeout_error() {
    let fake = FakeWan::new("hang").await;
    let ckpt = fake.ckpt();
    fake.expect(&one_gpu_argv(&ckpt, "832*480", 81, 3, "x"));
    let opts = WanOptions {
        run: LocalRun {
            timeout: Duration::from_millis(1500),
            ..fake.run()
        },
        ..fake.options()
    };
    let wan = Wan::with_gpu_probe(opts, one_big_gpu());
    let req = GenerationRequest {
        seed: Some(3),
        ..GenerationRequest::text("x")
    };
    let err = wan
        .generate(&req, &fake.work.path().join("t.mp4"), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // It hung, and the process itself is gone: stopped, not abandoned.
    let pid = fake.hung_pid().await;
    assert!(gone(pid).await, "generate.py (pid {pid}) still runs");
}

/// Whether process `pid` ends (waiting a while for the kill to land).
async fn gone(pid: i32) -> bool {
    for _ in 0..500 {
        if !ttv::services::local::job::process_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn a_cancelled_wan_job_stops_and_says_so() {
    let fake = FakeWan::new("hang").await;
    let ckpt = fake.ckpt();
    fake.expect(&one_gpu_argv(&ckpt, "832*480", 81, 11, "x"));
    let wan = Wan::with_gpu_probe(fake.options(), one_big_gpu());
    let req = GenerationRequest {
        seed: Some(11),
        ..GenerationRequest::text("x")
    };
    let resolved = wan.validate(&req).unwrap();
    let ticket = wan.submit(&req, &resolved).await.unwrap();
    let pid = fake.hung_pid().await;
    wan.cancel(&ticket).await.unwrap();
    let mut last = None;
    for _ in 0..200 {
        match wan.poll(&ticket).await.unwrap() {
            Status::Cancelled => {
                last = Some("cancelled");
                break;
            }
            Status::Failed(e) => panic!("{e}"),
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    assert_eq!(last, Some("cancelled"));
    assert!(gone(pid).await, "generate.py (pid {pid}) still runs");
}

#[tokio::test]
async fn hunyuan_runs_sample_video_py_and_finds_the_file_it_names_itself() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (base, dit) = fake_hunyuan(r).await;
    let base_s = base.display().to_string();
    let dit_s = dit.display().to_string();
    let argv = [
        "sample_video.py",
        "--video-size",
        "544",
        "960",
        "--video-length",
        "33",
        "--infer-steps",
        "8",
        "--prompt",
        "a lantern/festival",
        "--embedded-cfg-scale",
        "6",
        "--flow-shift",
        "7",
        "--flow-reverse",
        "--seed",
        "77",
        "--model-base",
        &base_s,
        "--dit-weight",
        &dit_s,
        "--save-path",
        "{JOB}/out",
    ];
    expect_argv(r, &argv);
    let work = tempfile::tempdir().unwrap();
    let opts = HunyuanOptions {
        repo_dir: Some(r.to_path_buf()),
        infer_steps: Some(8),
        run: quick_run(work.path()),
        ..HunyuanOptions::default()
    };
    let hy = Hunyuan::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(hy.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(77),
        resolution: Some("540p".parse().unwrap()),
        duration: Some(VideoDuration::from_millis(1400)),
        ..GenerationRequest::text("a lantern/festival")
    };
    let dest = work.path().join("lantern.mp4");
    let got = hy.generate(&req, &dest, &no_events).await.unwrap();
    assert_eq!(got.video.frames, 16);
    assert_eq!(got.resolved.frames, 33);
    assert_eq!(got.resolved.fps, 24);
}

/// A HunyuanVideo checkout with the fake `sample_video.py` and the weights layout of its
/// `ckpts/README.md`; returns the weights folder and the transformer file.
async fn fake_hunyuan(r: &Path) -> (PathBuf, PathBuf) {
    std::fs::write(r.join("sample_video.py"), FAKE_SAMPLE_VIDEO).unwrap();
    let base = r.join("ckpts");
    let dit = base.join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt");
    std::fs::create_dir_all(dit.parent().unwrap()).unwrap();
    std::fs::write(&dit, b"").unwrap();
    for dir in [
        "text_encoder",
        "text_encoder_2",
        "hunyuan-video-t2v-720p/vae",
    ] {
        std::fs::create_dir_all(base.join(dir)).unwrap();
    }
    fixture_mp4(r).await;
    (base, dit)
}

#[tokio::test]
async fn hunyuan_saves_a_cjk_prompt_starting_with_a_dash_under_the_scripts_own_name() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (base, dit) = fake_hunyuan(r).await;
    // 60 CJK characters: 180 bytes in the file name, which fits.
    let prompt = format!("-{}", "灯笼在夜空中缓缓升起".repeat(6));
    let argv = [
        "sample_video.py".to_owned(),
        "--video-size".into(),
        "544".into(),
        "960".into(),
        "--video-length".into(),
        "17".into(),
        "--infer-steps".into(),
        "4".into(),
        format!("--prompt={prompt}"),
        "--embedded-cfg-scale".into(),
        "6".into(),
        "--flow-shift".into(),
        "7".into(),
        "--flow-reverse".into(),
        "--seed".into(),
        "1".into(),
        "--model-base".into(),
        base.display().to_string(),
        "--dit-weight".into(),
        dit.display().to_string(),
        "--save-path".into(),
        "{JOB}/out".into(),
    ];
    expect_argv(r, &argv);
    let work = tempfile::tempdir().unwrap();
    let opts = HunyuanOptions {
        repo_dir: Some(r.to_path_buf()),
        infer_steps: Some(4),
        run: quick_run(work.path()),
        ..HunyuanOptions::default()
    };
    let hy = Hunyuan::with_gpu_probe(opts, one_big_gpu());
    let req = GenerationRequest {
        seed: Some(1),
        resolution: Some("540p".parse().unwrap()),
        duration: Some(VideoDuration::from_millis(700)),
        ..GenerationRequest::text(&prompt)
    };
    let got = hy
        .generate(&req, &work.path().join("lantern.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(got.video.frames, 16);
    let saved: Vec<String> =
        std::fs::read_dir(Path::new(got.ticket.data["save_dir"].as_str().unwrap()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(saved.len(), 1);
    assert!(
        saved[0].ends_with(&format!("_seed1_{prompt}.mp4")),
        "{saved:?}"
    );

    // Ten more characters would not fit: refused before any job folder exists.
    let long = GenerationRequest {
        seed: Some(1),
        ..GenerationRequest::text("灯笼在夜空中缓缓升起".repeat(8))
    };
    let before = job_dirs(work.path()).len();
    let err = hy
        .generate(&long, &work.path().join("never.mp4"), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(job_dirs(work.path()).len(), before);
}

/// Upstream's `configs/ltxv-13b-0.9.8-distilled.yaml`, the keys ttv reads.
const LTX_DISTILLED: &str = include_str!("fixtures/local/ltxv-13b-0.9.8-distilled.yaml");

#[tokio::test]
async fn ltx_runs_inference_py_with_local_weights_and_progress_over_both_passes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::write(
        r.join("inference.py"),
        include_str!("fixtures/local/fake_ltx_inference.py"),
    )
    .unwrap();
    std::fs::create_dir_all(r.join("configs")).unwrap();
    std::fs::write(
        r.join("configs/ltxv-13b-0.9.8-distilled.yaml"),
        LTX_DISTILLED,
    )
    .unwrap();
    let weights = r.join("weights");
    std::fs::create_dir_all(&weights).unwrap();
    for w in [
        "ltxv-13b-0.9.8-distilled.safetensors",
        "ltxv-spatial-upscaler-0.9.8.safetensors",
    ] {
        std::fs::write(weights.join(w), b"").unwrap();
    }
    std::fs::write(r.join("passes.txt"), "7 3").unwrap();
    fixture_mp4(r).await;
    let argv = [
        "inference.py",
        "--prompt",
        "a kite over dunes",
        "--height",
        "768",
        "--width",
        "1024",
        "--num_frames",
        "65",
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
    ];
    expect_argv(r, &argv);
    let work = tempfile::tempdir().unwrap();
    let opts = LtxOptions {
        repo_dir: Some(r.to_path_buf()),
        models_dir: Some(weights.clone()),
        run: quick_run(work.path()),
        ..LtxOptions::default()
    };
    let ltx = Ltx::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(ltx.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(3),
        fps: Some(24),
        duration: Some(VideoDuration::from_millis(2700)),
        image: Some(png_input(1600, 1200)),
        ..GenerationRequest::text("a kite over dunes")
    };
    // The script holds its second pass after one step until this test has seen it counted:
    // 7 + 1 of 10 steps. Without the hold a fast machine could finish between two polls.
    let go = work.path().join("go");
    std::fs::write(r.join("hold.txt"), go.display().to_string()).unwrap();
    let progress = Mutex::new(Vec::new());
    let events = |e: Event| {
        if let Event::Running { progress: Some(p) } = e {
            if p >= 0.8 {
                std::fs::write(&go, b"").unwrap();
            }
            progress.lock().unwrap().push(p);
        }
    };
    let got = ltx
        .generate(&req, &work.path().join("kite.mp4"), &events)
        .await
        .unwrap();
    assert_eq!(got.video.frames, 16);
    assert_eq!(got.resolved.frames, 65);
    let seen = progress.into_inner().unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        seen.contains(&0.8),
        "the second pass never counted: {seen:?}"
    );
    // The script read a copy of the config naming the local weights, with the prompt
    // enhancer off.
    let job = Path::new(got.ticket.data["job_dir"].as_str().unwrap());
    let copy = std::fs::read_to_string(job.join("pipeline_config.yaml")).unwrap();
    let copy: serde_json::Value = serde_saphyr::from_str(&copy).unwrap();
    assert_eq!(
        copy["checkpoint_path"],
        weights
            .join("ltxv-13b-0.9.8-distilled.safetensors")
            .display()
            .to_string()
    );
    assert_eq!(copy["prompt_enhancement_words_threshold"], 0);
}

fn png_input(w: u32, h: u32) -> ttv::media::image::ImageInput {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([90, 120, 200]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    ttv::media::image::ImageInput::from_bytes("image", "photo.png", bytes).unwrap()
}

/// Stands in for a Python that has torch and diffusers: speaks the worker protocol, logs
/// every request to `requests.jsonl` beside it, and "generates" by copying the fixture.
const FAKE_WORKER_PYTHON: &str = include_str!("fixtures/local/fake_worker_python.py");

#[tokio::test]
async fn a_diffusers_folder_is_served_by_one_worker_that_loads_once_for_many_segments() {
    let fake = FakeWan::new("ok").await;
    let r = fake.root.path();
    let diffusers = diffusers_folder(&r.join("Wan2.1-T2V-1.3B-Diffusers"));
    let python = fake_worker_python(r);
    let opts = WanOptions {
        t2v_model_dir: Some(diffusers.clone()),
        run: LocalRun {
            python,
            ..fake.run()
        },
        ..fake.options()
    };
    let wan = Wan::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(wan.availability(), Availability::Available);
    for seed in [1u64, 2] {
        let req = GenerationRequest {
            seed: Some(seed),
            ..GenerationRequest::text("segment")
        };
        let progress = Mutex::new(Vec::new());
        let events = |e: Event| {
            if let Event::Running { progress: Some(p) } = e {
                progress.lock().unwrap().push(p);
            }
        };
        let dest = fake.work.path().join(format!("seg{seed}.mp4"));
        let got = wan.generate(&req, &dest, &events).await.unwrap();
        assert_eq!(got.video.frames, 16);
        assert_eq!(got.ticket.data["via"], "worker");
    }
    wan.shutdown_worker().await;
    let log = std::fs::read_to_string(r.join("requests.jsonl")).unwrap();
    let ops: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |op: &str| ops.iter().filter(|o| o["op"] == op).count();
    assert_eq!(count("load"), 1, "{log}");
    assert_eq!(count("generate"), 2, "{log}");
    assert_eq!(count("shutdown"), 1, "{log}");
    let load = ops.iter().find(|o| o["op"] == "load").unwrap();
    assert_eq!(load["pipeline"], "wan");
    assert_eq!(load["model"], diffusers.display().to_string());
    assert_eq!(load["offload"], false);
    let generate = ops.iter().find(|o| o["op"] == "generate").unwrap();
    assert_eq!(
        (
            &generate["width"],
            &generate["height"],
            &generate["num_frames"],
            &generate["steps"],
            &generate["fps"]
        ),
        (
            &serde_json::json!(832),
            &serde_json::json!(480),
            &serde_json::json!(81),
            &serde_json::json!(10),
            &serde_json::json!(16)
        )
    );
}

#[tokio::test]
async fn hunyuan_with_a_diffusers_model_generates_through_the_worker() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fixture_mp4(r).await;
    let model = diffusers_folder(&r.join("HunyuanVideo"));
    let python = fake_worker_python(r);
    let work = tempfile::tempdir().unwrap();
    let opts = HunyuanOptions {
        diffusers_model: Some(model.clone()),
        infer_steps: Some(4),
        run: LocalRun {
            python,
            work_dir: work.path().to_path_buf(),
            poll_interval: Duration::from_millis(10),
            ..LocalRun::default()
        },
        ..HunyuanOptions::default()
    };
    let hy = Hunyuan::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(hy.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(3),
        ..GenerationRequest::text("a lighthouse")
    };
    let got = hy
        .generate(&req, &work.path().join("l.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(got.video.frames, 16);
    hy.shutdown_worker().await;
    let log = std::fs::read_to_string(r.join("requests.jsonl")).unwrap();
    let ops: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let load = ops.iter().find(|o| o["op"] == "load").unwrap();
    assert_eq!(load["pipeline"], "hunyuan");
    assert_eq!(load["model"], model.display().to_string());
    let generate = ops.iter().find(|o| o["op"] == "generate").unwrap();
    assert_eq!(generate["width"], 1280);
    assert_eq!(generate["height"], 720);
    assert_eq!(generate["num_frames"], 129);
    assert_eq!(generate["steps"], 4);
    assert_eq!(generate["guidance_scale"], 6.0);
    assert_eq!(generate["fps"], 24);
    assert_eq!(generate["seed"], 3);
}

/// A Python that speaks the worker protocol (see [`FAKE_WORKER_PYTHON`]), in `dir`.
fn fake_worker_python(dir: &Path) -> PathBuf {
    let python = dir.join("fake-python");
    std::fs::write(&python, FAKE_WORKER_PYTHON).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    python
}

/// The requests the fake worker received with `op`, the job folder written as `{JOB}` and
/// the request id dropped.
fn sent(dir: &Path, op: &str, job: &serde_json::Value) -> Vec<serde_json::Value> {
    let job = job.as_str().unwrap();
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l.replace(job, "{JOB}")).unwrap())
        .filter(|r| r["op"] == op)
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("id");
            r
        })
        .collect()
}

fn diffusers_folder(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("model_index.json"), "{}").unwrap();
    dir.to_path_buf()
}

#[tokio::test]
async fn the_wan_worker_is_sent_every_setting_generate_py_would_use() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fixture_mp4(r).await;
    std::fs::write(r.join("generate.py"), FAKE_GENERATE).unwrap();
    std::fs::create_dir_all(r.join("wan/configs")).unwrap();
    std::fs::write(
        r.join("wan/configs/__init__.py"),
        "WAN_CONFIGS = {'t2v-A14B': 1, 'i2v-A14B': 2, 'ti2v-5B': 3}\n",
    )
    .unwrap();
    let t2v = diffusers_folder(&r.join("Wan2.2-T2V-A14B-Diffusers"));
    let i2v = diffusers_folder(&r.join("Wan2.2-I2V-A14B-Diffusers"));
    let work = tempfile::tempdir().unwrap();
    let opts = WanOptions {
        t2v_model_dir: Some(t2v.clone()),
        i2v_model_dir: Some(i2v.clone()),
        sample_shift: Some(8.0),
        guide_scale: Some(6.0),
        run: LocalRun {
            python: fake_worker_python(r),
            ..quick_run(work.path())
        },
        ..WanOptions::new(r)
    };
    let wan = Wan::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(wan.availability(), Availability::Available);

    let mut text = GenerationRequest {
        seed: Some(4),
        negative_prompt: Some("blurry".into()),
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("a heron lands")
    };
    text.extra.insert("sample_solver".into(), "dpm++".into());
    text.extra.insert("sample_steps".into(), 12.into());
    let got = wan
        .generate(&text, &work.path().join("heron.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(
        sent(r, "generate", &got.ticket.data["job_dir"]),
        [serde_json::json!({
            "op": "generate",
            "prompt": "a heron lands",
            "negative_prompt": "blurry",
            "image_fit": "resize",
            "width": 1280,
            "height": 720,
            "num_frames": 33,
            "steps": 12,
            "guidance_scale": 6.0,
            "seed": 4,
            "fps": 16,
            "output": "{JOB}/output.mp4",
            "scheduler": {
                "class": "DPMSolverMultistepScheduler",
                "overrides": {"flow_shift": 8.0},
            },
            "pipeline_args": {"guidance_scale_2": 6.0},
        })]
    );
    assert_eq!(
        sent(r, "load", &got.ticket.data["job_dir"])[0],
        serde_json::json!({
            "op": "load",
            "pipeline": "wan",
            "model": t2v.display().to_string(),
            // A14B wants 96 GiB resident; the 78 GiB GPU offloads.
            "offload": true,
        })
    );

    // Image-to-video: the frame takes the 4:3 photo's shape over 1280*720's area, as
    // image2video.py computes it, and the worker is told so; nothing is stretched.
    std::fs::remove_file(r.join("requests.jsonl")).unwrap();
    let image = GenerationRequest {
        seed: Some(5),
        image: Some(png_input(1600, 1200)),
        ..GenerationRequest::text("the heron takes off")
    };
    let got = wan
        .generate(&image, &work.path().join("off.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(got.resolved.resolution, ttv::Resolution::new(1104, 816));
    let generate = &sent(r, "generate", &got.ticket.data["job_dir"])[0];
    assert_eq!(generate["image"], "{JOB}/image.png");
    assert_eq!(
        (&generate["width"], &generate["height"]),
        (&1104.into(), &816.into())
    );
    assert_eq!(
        generate["negative_prompt"],
        ttv::services::wan::task::DEFAULT_NEGATIVE_PROMPT
    );
    assert_eq!(generate["steps"], 40);
    assert_eq!(generate["scheduler"]["class"], "UniPCMultistepScheduler");
    assert_eq!(generate["scheduler"]["overrides"]["flow_shift"], 8.0);
    assert_eq!(generate["pipeline_args"]["guidance_scale_2"], 6.0);
    wan.shutdown_worker().await;
}

#[tokio::test]
async fn the_hunyuan_worker_is_sent_true_cfg_the_default_negative_prompt_and_the_shift() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fixture_mp4(r).await;
    let model = diffusers_folder(&r.join("HunyuanVideo"));
    let work = tempfile::tempdir().unwrap();
    let opts = HunyuanOptions {
        diffusers_model: Some(model),
        cfg_scale: Some(6.0),
        flow_shift: Some(9.0),
        infer_steps: Some(4),
        run: LocalRun {
            python: fake_worker_python(r),
            ..quick_run(work.path())
        },
        ..HunyuanOptions::default()
    };
    let hy = Hunyuan::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(hy.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(2),
        duration: Some(VideoDuration::from_millis(700)),
        ..GenerationRequest::text("-a lighthouse")
    };
    let got = hy
        .generate(&req, &work.path().join("l.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(
        sent(r, "generate", &got.ticket.data["job_dir"]),
        [serde_json::json!({
            "op": "generate",
            "prompt": "-a lighthouse",
            "negative_prompt": ttv::services::hunyuan::DEFAULT_NEGATIVE_PROMPT,
            "image_fit": "resize",
            "width": 1280,
            "height": 720,
            "num_frames": 17,
            "steps": 4,
            "guidance_scale": 6.0,
            "seed": 2,
            "fps": 24,
            "output": "{JOB}/out/output.mp4",
            "scheduler": {
                "class": "FlowMatchEulerDiscreteScheduler",
                "overrides": {"shift": 9.0},
            },
            "pipeline_args": {"true_cfg_scale": 6.0},
        })]
    );
    hy.shutdown_worker().await;

    // flow_reverse: false cannot be honoured by diffusers: refused, not ignored.
    let opts = HunyuanOptions {
        diffusers_model: Some(r.join("HunyuanVideo")),
        flow_reverse: false,
        ..HunyuanOptions::default()
    };
    let Availability::Unavailable { reason } =
        Hunyuan::with_gpu_probe(opts, one_big_gpu()).availability()
    else {
        panic!("flow_reverse: false was ignored")
    };
    assert!(reason.contains("flow_reverse"), "{reason}");
}

#[tokio::test]
async fn the_ltx_worker_gets_first_and_last_frame_images_it_can_open() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fixture_mp4(r).await;
    let model = diffusers_folder(&r.join("LTX-Video-0.9.8-13B-distilled"));
    let work = tempfile::tempdir().unwrap();
    let opts = LtxOptions {
        diffusers_model: Some(model.clone()),
        run: LocalRun {
            python: fake_worker_python(r),
            ..quick_run(work.path())
        },
        ..LtxOptions::default()
    };
    let ltx = Ltx::with_gpu_probe(opts, one_big_gpu());
    assert_eq!(ltx.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(8),
        image: Some(png_input(1216, 704)),
        last_frame: Some(png_input(1216, 704)),
        ..GenerationRequest::text("dawn to dusk")
    };
    let got = ltx
        .generate(&req, &work.path().join("d.mp4"), &no_events)
        .await
        .unwrap();
    let job = &got.ticket.data["job_dir"];
    let load = &sent(r, "load", job)[0];
    assert_eq!(
        (&load["pipeline"], &load["model"]),
        (&"ltx".into(), &model.display().to_string().into())
    );
    let generate = &sent(r, "generate", job)[0];
    assert_eq!(generate["image"], "{JOB}/first_frame.png");
    assert_eq!(generate["last_image"], "{JOB}/last_frame.png");
    assert_eq!(
        (&generate["width"], &generate["height"]),
        (&1216.into(), &704.into())
    );
    assert_eq!(generate["num_frames"], 121);
    assert_eq!(generate["guidance_scale"], 1.0);
    ltx.shutdown_worker().await;
}
