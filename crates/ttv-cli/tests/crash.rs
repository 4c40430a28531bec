//! A `ttv generate` killed with SIGKILL mid-submit, mid-poll and mid-download, then carried on
//! by `ttv jobs resume` (and, after a killed submit, settled by hand): one video, decoded frame
//! by frame and byte for byte what the simulator served, and one paid submit.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use serde_json::Value;
use ttv::media::frames;
use ttv::store::{JobState, Store};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-crash-key";
const JOB: &str = "crash-1";

fn ttv_std(dir: &Path, base: &str) -> StdCommand {
    let mut cmd = common::ttv_std(dir);
    cmd.env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", base)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Waits until the job is in `state` and `also` holds (the child still running), then kills
/// it with SIGKILL.
async fn kill_when(child: &mut Child, store: &Store, state: JobState, also: impl Fn() -> bool) {
    let what = format!("the job reached {state}");
    kill_once(child, &what, || {
        store.get(JOB).unwrap().is_some_and(|j| j.state == state) && also()
    })
    .await;
}

/// Waits until `event` holds (the child still running), then kills it with SIGKILL.
async fn kill_once(child: &mut Child, what: &str, event: impl Fn() -> bool) {
    for _ in 0..1500 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ttv exited ({status}) before {what}");
        }
        if event() {
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw {what}");
}

/// Runway task `task` as the simulator reports it, asked as any client would.
async fn task_state(sim: &Sim, task: &str) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/v1/tasks/{task}",
            sim.base_url(Provider::Runway)
        ))
        .bearer_auth(KEY)
        .header("X-Runway-Version", "2024-11-06")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The video the simulator serves for Runway task `task`, fetched as any client would.
async fn served_video(sim: &Sim, task: &str) -> Vec<u8> {
    let state = task_state(sim, task).await;
    let url = state["output"][0].as_str().expect("the task is done");
    reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Decodes every frame of `bytes`, checking each one's size; returns the count.
fn decoded_frames(bytes: &[u8], size: (u32, u32)) -> usize {
    let mut count = 0;
    frames::for_each_frame(bytes, |_, frame| {
        assert_eq!(frame.dimensions(), size);
        count += 1;
        Ok(())
    })
    .unwrap();
    count
}

/// Runs `ttv ARGS` to the end, capturing its output.
async fn run(dir: &Path, base: &str, args: &[&str]) -> std::process::Output {
    let (dir, base) = (dir.to_owned(), base.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        ttv_std(&dir, &base)
            .args(&args)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Waits until the simulator reports Runway task `task` finished.
async fn until_finished(sim: &Sim, task: &str) {
    for _ in 0..1500 {
        if task_state(sim, task).await["status"] == "SUCCEEDED" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {task} never finished");
}

/// A simulator serving small Runway videos with `fault`, a folder for the run and its store.
async fn setup(run_secs: f64, fault: FaultRule) -> (Sim, tempfile::TempDir, Store) {
    let mut config = SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, run_secs)
    };
    config.runway.faults.push(fault);
    let sim = Sim::start(config).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("data")).unwrap();
    let store = Store::open_in(&work.path().join("data")).unwrap();
    (sim, work, store)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "data")
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_generate_is_resumed_without_paying_twice() {
    // The first download crawls, so the process can be killed in the middle of it.
    let crawl = FaultRule {
        delay_ms: Some(40),
        ..FaultRule::nth(Endpoint::Download, 1, FaultKind::SlowBody)
    };
    let (sim, work, store) = setup(1.0, crawl).await;
    let base = sim.base_url(Provider::Runway);
    let dir = work.path();

    // 1. Killed while polling: the ticket is already saved.
    let mut child = ttv_std(dir, &base)
        .args(["generate", "--backend", "runway", "-p", "a ferry at dawn"])
        .args(["-d", "2", "--out", "ferry.mp4", "--job-id", JOB])
        .spawn()
        .unwrap();
    kill_when(&mut child, &store, JobState::Running, || true).await;
    let job = store.job(JOB).unwrap();
    assert!(job.ticket.is_some(), "the ticket is saved before polling");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);

    // Let the simulated task finish so the resume's first poll finds it done.
    until_finished(&sim, &job.ticket.as_ref().unwrap().id).await;

    // 2. Resumed, and killed again in the middle of the (slow) download.
    let mut child = ttv_std(dir, &base)
        .args(["jobs", "resume", JOB])
        .spawn()
        .unwrap();
    let partial_bytes = || {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    kill_when(&mut child, &store, JobState::Downloading, || {
        partial_bytes() > 0
    })
    .await;
    assert!(partial_bytes() > 0, "killed with part of the video on disk");
    assert!(
        !dir.join("ferry.mp4").exists(),
        "nothing at the output path yet"
    );

    // 3. Resumed to the end.
    let out = tokio::task::spawn_blocking({
        let dir = dir.to_owned();
        let base = base.clone();
        move || {
            ttv_std(&dir, &base)
                .args(["--json", "jobs", "resume", "--all"])
                .stderr(Stdio::piped())
                .stdout(Stdio::piped())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["jobs"][0]["id"], JOB);
    assert_eq!(report["jobs"][0]["state"], "done");
    let downloads = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Download))
        .count();
    assert_eq!(downloads, 2, "one killed download, one complete");

    // One video, decoded frame by frame and byte for byte what the simulator served (the
    // killed download's part was thrown away, not spliced in); its sidecar; no temp files.
    let video = std::fs::read(dir.join("ferry.mp4")).unwrap();
    assert_eq!(decoded_frames(&video, (320, 180)), 16, "2 s at 8 fps");
    let task = job.ticket.as_ref().unwrap().id.clone();
    assert!(
        video == served_video(&sim, &task).await,
        "the file is what was served"
    );
    assert_eq!(files_in(dir), ["ferry.mp4", "ferry.mp4.json"]);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.join("ferry.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["job_id"], JOB);
    let attempts = sidecar["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(
        (
            attempts[0]["event"].as_str(),
            attempts[0]["backend"].as_str()
        ),
        (Some("submitted"), Some("runway"))
    );

    // Exactly one paid submit, and the whole life of the job in the store.
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    let job = store.job(JOB).unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_remote_job_and_records_it() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 30.0)
    })
    .await
    .unwrap();
    let base = sim.base_url(Provider::Runway);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let store = Store::open_in(&dir.join("data")).unwrap();
    let child = ttv_std(dir, &base)
        .args(["generate", "--backend", "runway", "-p", "a slow sunset"])
        .args(["-d", "2", "--out", "sunset.mp4", "--job-id", JOB])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if store
            .get(JOB)
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.job(JOB).unwrap().state, JobState::Running);
    let interrupted = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("was cancelled"), "{stderr}");
    assert_eq!(store.job(JOB).unwrap().state, JobState::Cancelled);
    let cancels = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Cancel))
        .count();
    assert_eq!(cancels, 1);
    assert_eq!(files_in(dir), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generate_killed_while_its_submit_was_in_flight_is_never_submitted_again() {
    // The task is created and the answer held back: the process is killed waiting for it.
    let held = FaultRule {
        delay_ms: Some(60_000),
        ..FaultRule::nth(Endpoint::Submit, 1, FaultKind::NoAnswer)
    };
    let (sim, work, store) = setup(0.0, held).await;
    let base = sim.base_url(Provider::Runway);
    let dir = work.path();
    let generate = [
        "generate",
        "--backend",
        "runway",
        "-p",
        "a lighthouse",
        "-d",
        "2",
        "--out",
        "light.mp4",
        "--job-id",
        JOB,
    ];

    // 1. Killed after the provider received the paid request, before its answer came.
    let mut child = ttv_std(dir, &base).args(generate).spawn().unwrap();
    kill_once(&mut child, "the submit reached the simulator", || {
        store
            .get(JOB)
            .unwrap()
            .is_some_and(|j| j.state == JobState::Submitting)
            && sim.paid_submits(Provider::Runway) == 1
    })
    .await;
    assert_eq!(store.job(JOB).unwrap().state, JobState::Submitting);

    // 2. Resuming cannot know whether it was bought: unknown, nothing sent, exit code 4.
    let out = run(dir, &base, &["--json", "jobs", "resume", JOB]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = store.job(JOB).unwrap();
    assert_eq!((job.state, job.submits), (JobState::Unknown, 1));
    // Running the same generate again sends nothing either.
    let again = run(dir, &base, &generate).await;
    assert_eq!(again.status.code(), Some(4));
    let submits = || {
        sim.requests()
            .iter()
            .filter(|r| r.endpoint == Some(Endpoint::Submit))
            .count()
    };
    assert_eq!(submits(), 1);

    // 3. A person finds the task on the provider's dashboard and settles the job with it.
    let tasks = sim.task_ids(Provider::Runway);
    assert_eq!(tasks.len(), 1);
    let out = run(
        dir,
        &base,
        &["jobs", "resolve", JOB, "--submitted", &tasks[0]],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(dir, &base, &["jobs", "resume", JOB]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One video, decoded frame by frame, byte for byte the one served; one purchase.
    let video = std::fs::read(dir.join("light.mp4")).unwrap();
    assert_eq!(decoded_frames(&video, (320, 180)), 16, "2 s at 8 fps");
    assert!(
        video == served_video(&sim, &tasks[0]).await,
        "the file is what was served"
    );
    assert_eq!(files_in(dir), ["light.mp4", "light.mp4.json"]);
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    assert_eq!(submits(), 1);
    let job = store.job(JOB).unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 1));
    let history: Vec<_> = store
        .history(JOB)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(
        history,
        [
            "created",
            "begin_submit",
            "interrupted",
            "resolve_submitted",
            "downloading",
            "done"
        ]
    );
}
