//! Issue 10's reproduction, exactly as a user runs it: `ttv sim` with a submit that answers
//! slower than `remote_api_settings.call_timeout`, then `ttv generate -b runway`. The
//! simulator's own count shows one paid submit, and the job waits in `unknown`.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::Value;

const KEY: &str = "sim-repro-key";

/// The `ttv sim` child, killed when the test ends however it ends.
struct SimProcess(Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ttv sim ARGS` in `dir` and reads the addresses it prints: (runway, admin root).
fn start_sim(dir: &std::path::Path, args: &[&str]) -> (SimProcess, String, String) {
    let mut child = common::ttv_std(dir)
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let sim = SimProcess(child);
    let (mut runway, mut admin) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        match line.split_once('\t') {
            Some(("runway", url)) => runway = Some(url.to_owned()),
            Some(("admin", url)) => {
                admin = Some(url.trim_end_matches("/_sim/requests").to_owned());
                break;
            }
            _ => {}
        }
    }
    (
        sim,
        runway.expect("ttv sim prints runway's address"),
        admin.expect("ttv sim prints its admin address"),
    )
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_slower_than_call_timeout_is_paid_once_and_the_job_waits_in_unknown() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_owned();
    std::fs::write(
        dir.join("scn.yaml"),
        "runway:\n  faults: [{ on: submit, nth: 1, fault: slow_body, delay_ms: 4000 }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ttv.yaml"),
        "remote_api_settings: { call_timeout: 1 }\n",
    )
    .unwrap();
    let (_sim, runway, admin) = start_sim(
        &dir,
        &[
            "--queue-secs",
            "0",
            "--run-secs",
            "1",
            "--scenario",
            "scn.yaml",
        ],
    );

    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let runway = runway.clone();
        move || {
            common::ttv(&dir)
                .env("RUNWAYML_API_SECRET", KEY)
                .env("RUNWAYML_BASE_URL", runway)
                .args(["--config", "ttv.yaml", "--json", "generate", "-b", "runway"])
                .args(["-p", "slow submit", "-d", "5", "-o", "out.mp4"])
                .args(["--job-id", "slow"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "unsettled", "{report}");
    assert_eq!(report["error"]["spend"], "maybe");
    assert!(
        stderr.contains("ttv jobs resolve slow --submitted TASK_ID"),
        "{stderr}"
    );

    // The simulator's count, as the issue read it with curl: one video, one charge.
    let paid = get(&format!("{admin}/_sim/paid_submits")).await;
    assert_eq!(paid["runway"], 1, "{paid}");
    let requests = get(&format!("{admin}/_sim/requests")).await;
    let submits: Vec<_> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "submit")
        .collect();
    assert_eq!(submits.len(), 1, "{requests}");
    let faults = get(&format!("{admin}/_sim/faults")).await;
    assert_eq!(
        faults[0]["fault"], "slow_body",
        "the slow answer was served"
    );

    // The job waits to be settled; nothing is at the output path.
    let list = common::ttv(&dir)
        .args(["--json", "jobs", "list"])
        .output()
        .unwrap();
    let jobs: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        (jobs[0]["id"].as_str(), jobs[0]["state"].as_str()),
        (Some("slow"), Some("unknown"))
    );
    assert_eq!(jobs[0]["submits"], 1);
    assert!(!dir.join("out.mp4").exists());
}
