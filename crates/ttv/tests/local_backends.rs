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
use ttv::services::wan::{Wan, WanOptions};
use ttv::{
    Availability, ErrorKind, GenerationRequest, ResolutionSpec, Status, VideoBackend, VideoDuration,
};

/// The flags of Wan's `generate.py` that ttv uses, declared so that an unknown flag fails
/// as it would with the real parser; then the whole argv is compared with the expectation.
const FAKE_GENERATE: &str = r##"
import argparse, json, os, shutil, sys, time
here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
for f in ["--task", "--size", "--ckpt_dir", "--save_file", "--prompt", "--image",
          "--first_frame", "--last_frame", "--sample_solver", "--offload_model"]:
    p.add_argument(f)
for f in ["--frame_num", "--sample_steps", "--base_seed", "--ulysses_size", "--ring_size"]:
    p.add_argument(f, type=int)
for f in ["--sample_shift", "--sample_guide_scale"]:
    p.add_argument(f, type=float)
for f in ["--t5_cpu", "--t5_fsdp", "--dit_fsdp", "--convert_model_dtype"]:
    p.add_argument(f, action="store_true")
args = p.parse_args()
job = os.path.dirname(args.save_file)
want = [a.replace("{JOB}", job) for a in json.load(open(os.path.join(here, "expected_argv.json")))]
got = [sys.argv[0]] + sys.argv[1:]
if got != want:
    sys.stderr.write("argv mismatch\n got  %s\n want %s\n" % (json.dumps(got), json.dumps(want)))
    sys.exit(2)
world = os.path.join(here, "expected_world.txt")
if os.environ.get("WORLD_SIZE", "1") != (open(world).read().strip() if os.path.exists(world) else "1"):
    sys.stderr.write("wrong world size\n")
    sys.exit(2)
behaviour = open(os.path.join(here, "behaviour.txt")).read().strip()
print("[2025-01-01 00:00:00] INFO: Generating video ...", flush=True)
if behaviour == "oom":
    sys.stderr.write("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    sys.exit(1)
steps = args.sample_steps
for i in range(steps + 1):
    pct = i * 100 // steps
    sys.stderr.write("\r%3d%%|%-10s| %d/%d [00:%02d<00:00,  1.00s/it]" % (pct, "#" * (pct // 10), i, steps, i))
    sys.stderr.flush()
    time.sleep(0.05)
sys.stderr.write("\n")
if behaviour == "hang":
    with open(os.path.join(here, "hung.pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
shutil.copy(os.path.join(here, "fixture.mp4"), args.save_file)
print("[2025-01-01 00:00:09] INFO: Saving generated video to %s" % args.save_file, flush=True)
"##;

/// HunyuanVideo's `sample_video.py`: `--save-path` is a folder and the script names the file.
const FAKE_SAMPLE_VIDEO: &str = r#"
import argparse, json, os, shutil, sys, time
here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--video-size", type=int, nargs="+")
for f in ["--video-length", "--infer-steps", "--seed", "--ulysses-degree", "--ring-degree"]:
    p.add_argument(f, type=int)
for f in ["--prompt", "--neg-prompt", "--model-base", "--dit-weight", "--save-path"]:
    p.add_argument(f)
for f in ["--embedded-cfg-scale", "--flow-shift", "--cfg-scale"]:
    p.add_argument(f, type=float)
for f in ["--flow-reverse", "--use-cpu-offload"]:
    p.add_argument(f, action="store_true")
args = p.parse_args()
job = os.path.dirname(args.save_path)
want = [a.replace("{JOB}", job) for a in json.load(open(os.path.join(here, "expected_argv.json")))]
got = [sys.argv[0]] + sys.argv[1:]
if got != want:
    sys.stderr.write("argv mismatch\n got  %s\n want %s\n" % (json.dumps(got), json.dumps(want)))
    sys.exit(2)
if os.environ.get("MODEL_BASE") != args.model_base:
    sys.stderr.write("MODEL_BASE is not set to --model-base\n")
    sys.exit(2)
print(args, flush=True)
steps = args.infer_steps
for i in range(steps + 1):
    sys.stderr.write("\r%3d%%|          | %d/%d [00:00<00:00, 9.99it/s]" % (i * 100 // steps, i, steps))
    sys.stderr.flush()
    time.sleep(0.03)
name = "2025-01-01-00:00:00_seed%d_%s.mp4" % (args.seed, args.prompt[:100].replace("/", ""))
shutil.copy(os.path.join(here, "fixture.mp4"), os.path.join(args.save_path, name))
"#;

/// `torchrun --nproc_per_node=N script ...`: checks N against `expected_world.txt` beside it,
/// then runs the script as rank 0 with `WORLD_SIZE` set.
const FAKE_TORCHRUN: &str = r#"#!/usr/bin/env python3
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
want = open(os.path.join(here, "expected_world.txt")).read().strip()
if sys.argv[1] != "--nproc_per_node=" + want:
    sys.stderr.write("torchrun got %r\n" % sys.argv[1:])
    sys.exit(2)
os.environ["WORLD_SIZE"] = want
os.execvp(sys.executable, [sys.executable] + sys.argv[2:])
"#;

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
    std::fs::write(r.join("sample_video.py"), FAKE_SAMPLE_VIDEO).unwrap();
    let base = r.join("ckpts");
    let dit = base.join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt");
    std::fs::create_dir_all(dit.parent().unwrap()).unwrap();
    std::fs::write(&dit, b"").unwrap();
    std::fs::create_dir_all(base.join("text_encoder")).unwrap();
    std::fs::create_dir_all(base.join("text_encoder_2")).unwrap();
    fixture_mp4(r).await;
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
    std::fs::write(
        r.join("expected_argv.json"),
        serde_json::to_string(&argv).unwrap(),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let opts = HunyuanOptions {
        repo_dir: Some(r.to_path_buf()),
        infer_steps: Some(8),
        run: LocalRun {
            work_dir: work.path().to_path_buf(),
            poll_interval: Duration::from_millis(10),
            ..LocalRun::default()
        },
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

/// Stands in for a Python that has torch and diffusers: speaks the worker protocol, logs
/// every request to `requests.jsonl` beside it, and "generates" by copying the fixture.
const FAKE_WORKER_PYTHON: &str = r#"#!/usr/bin/env python3
import json, os, shutil, sys
here = os.path.dirname(os.path.abspath(__file__))
log = open(os.path.join(here, "requests.jsonl"), "a")
for line in sys.stdin:
    req = json.loads(line)
    log.write(line)
    log.flush()
    rid, op = req["id"], req["op"]
    def reply(result):
        print(json.dumps({"id": rid, "ok": True, "result": result}), flush=True)
    if op == "ping":
        reply({"pid": os.getpid(), "python": "3.fake", "torch": True, "diffusers": True, "loaded": None})
    elif op == "load":
        reply({"pipeline": req["pipeline"], "seconds": 0.0, "reused": False})
    elif op == "generate":
        for i in range(req["steps"]):
            print(json.dumps({"id": rid, "event": "progress", "step": i + 1, "total": req["steps"]}), flush=True)
        shutil.copy(os.path.join(here, "fixture.mp4"), req["output"])
        reply({"output": req["output"], "frames": req["num_frames"], "seconds": 0.1})
    elif op == "shutdown":
        reply({})
        break
"#;

#[tokio::test]
async fn a_diffusers_folder_is_served_by_one_worker_that_loads_once_for_many_segments() {
    let fake = FakeWan::new("ok").await;
    let r = fake.root.path();
    let diffusers = r.join("Wan2.1-T2V-1.3B-Diffusers");
    std::fs::create_dir_all(&diffusers).unwrap();
    std::fs::write(diffusers.join("model_index.json"), "{}").unwrap();
    let python = r.join("fake-python");
    std::fs::write(&python, FAKE_WORKER_PYTHON).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
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
    let model = r.join("HunyuanVideo");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("model_index.json"), "{}").unwrap();
    let python = r.join("fake-python");
    std::fs::write(&python, FAKE_WORKER_PYTHON).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
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
