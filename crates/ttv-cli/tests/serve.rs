//! `ttv serve` killed with SIGKILL while its jobs are queued, running and downloading, then
//! started again: every job finishes, each with exactly one paid submit (counted by the
//! simulator), and the videos are served.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use ttv::store::{JobState, Store};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-serve-key";

fn serve(dir: &Path, base: &str, port: u16) -> Child {
    common::ttv_std(dir)
        .env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", base)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .args(["--model", "sora-2=runway"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finishes_every_job_after_a_restart_without_paying_twice() {
    // Runs take a second; the first download crawls so the kill finds it mid-download.
    let mut config = SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 1.0)
    };
    config.runway.faults.push(FaultRule {
        delay_ms: Some(40),
        ..FaultRule::nth(Endpoint::Download, 1, FaultKind::SlowBody)
    });
    let sim = Sim::start(config).await.unwrap();
    let base = sim.base_url(Provider::Runway);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let store = Store::open_in(&dir.join("data")).unwrap();
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let mut child = serve(dir, &base, port);
    common::wait_up(&http, &url, &mut child).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let v: Value = http
            .post(format!("{url}/v1/videos"))
            .json(&json!({ "model": "sora-2", "prompt": format!("shot {i}"), "seconds": "5" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    // Two workers: two jobs run, three wait. Kill once one is downloading (and others queued).
    let states = || -> Vec<Option<JobState>> {
        ids.iter()
            .map(|id| store.get(id).unwrap().map(|j| j.state))
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..1500 {
        seen = states();
        if seen.contains(&Some(JobState::Downloading))
            && seen.iter().any(Option::is_none)
            && !seen.contains(&Some(JobState::Submitting))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.contains(&Some(JobState::Downloading)),
        "killed mid-download: {seen:?}"
    );
    assert!(
        seen.iter().any(Option::is_none),
        "killed with jobs queued: {seen:?}"
    );
    assert!(
        !seen.contains(&Some(JobState::Submitting)),
        "never killed mid-submit: {seen:?}"
    );

    let mut child = serve(dir, &base, port);
    common::wait_up(&http, &url, &mut child).await;
    for id in &ids {
        let mut last = Value::Null;
        for _ in 0..1500 {
            last = http
                .get(format!("{url}/v1/videos/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if last["status"] == "completed" || last["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(last["status"], "completed", "{id}: {last}");
        let video = http
            .get(format!("{url}/v1/videos/{id}/content"))
            .send()
            .await
            .unwrap();
        assert_eq!(video.status(), reqwest::StatusCode::OK);
        let bytes = video.bytes().await.unwrap();
        assert_eq!(&bytes[4..8], b"ftyp");
        let job = store.job(id).unwrap();
        assert_eq!((job.state, job.submits), (JobState::Done, 1), "{id}");
    }
    assert_eq!(
        sim.paid_submits(Provider::Runway),
        ids.len(),
        "one paid submit per job"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_taking_jobs_and_leaves_the_rest_for_the_next_start() {
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
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = serve(dir, &base, port);
    common::wait_up(&http, &url, &mut child).await;
    let v: Value = http
        .post(format!("{url}/jobs"))
        .json(&json!({ "prompt": "a long take", "backend": "runway", "duration": 5 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        if store
            .get(&id)
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    // The job is left running at the provider with its ticket, for the next start.
    let job = store.job(&id).unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.ticket.is_some());
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}
