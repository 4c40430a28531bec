//! Ctrl-C and what is recorded about a job, against the Runway simulator: a second Ctrl-C
//! right after the first does not skip the remote cancel, the interrupted JSON's `spend`
//! agrees with the ledger, sidecars say which seed was sent, the ledger converts the
//! provider's charge and says so, and `-v` shows ttv's own steps as log lines.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use ttv::store::{JobState, Store};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-records-key";

async fn sim(config: SimConfig) -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..config
    })
    .await
    .unwrap()
}

fn ttv_std(dir: &Path, sim: &Sim) -> StdCommand {
    let mut cmd = common::ttv_std(dir);
    cmd.env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway));
    cmd
}

async fn output(mut cmd: StdCommand) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until job `id` is running at the provider.
async fn until_running(store: &Store, id: &str) {
    for _ in 0..500 {
        if store
            .get(id)
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never ran");
}

fn interrupt(pid: u32) {
    let sent = StdCommand::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn cancels(sim: &Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Cancel))
        .count()
}

const SLOW: &[&str] = &["generate", "-b", "runway", "-p", "a slow sunset", "-d", "2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_right_after_the_first_does_not_skip_the_remote_cancel() {
    // The provider takes its time to answer the cancel, as real ones do.
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0).with_fault(
        Provider::Runway,
        FaultRule {
            delay_ms: Some(1500),
            ..FaultRule::always(Endpoint::Cancel, FaultKind::NoAnswer)
        },
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let store = Store::open_in(&d.join("data")).unwrap();
    let child = ttv_std(d, &sim)
        .args(SLOW)
        .args(["--job-id", "twice", "-o", "sunset.mp4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_running(&store, "twice").await;
    // As `timeout -s INT` or a terminal does: the signal twice, close together.
    interrupt(child.id());
    tokio::time::sleep(Duration::from_millis(150)).await;
    interrupt(child.id());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(store.job("twice").unwrap().state, JobState::Cancelled);
    assert_eq!(cancels(&sim), 1);
    assert!(stderr(&out).contains("was cancelled"), "{}", stderr(&out));
    assert!(!d.join("sunset.mp4").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interrupted_json_says_money_was_spent_as_the_ledger_does() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let store = Store::open_in(&d.join("data")).unwrap();
    let child = ttv_std(d, &sim)
        .arg("--json")
        .args(SLOW)
        .args(["--job-id", "paid", "-o", "sunset.mp4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_running(&store, "paid").await;
    interrupt(child.id());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "cancelled");
    assert_eq!(v["error"]["spend"], "yes");

    let mut spend = ttv_std(d, &sim);
    spend.args(["--json", "spend"]);
    let ledger: Value = serde_json::from_slice(&output(spend).await.stdout).unwrap();
    assert_eq!(ledger["jobs"][0]["job_id"], "paid");
    assert!(ledger["total"]["micros"].as_i64().unwrap() > 0, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_sidecars_say_which_seed_was_sent_and_the_ledger_which_charge_it_counts() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.0)).await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let clip = ["generate", "-b", "runway", "-p", "a kite", "-d", "2"];
    let mut none = ttv_std(d, &sim);
    none.args(clip).args(["-o", "none.mp4"]);
    let out = output(none).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut given = ttv_std(d, &sim);
    given.args(clip).args(["--seed", "7", "-o", "given.mp4"]);
    let out = output(given).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let sidecar = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(d.join(name)).unwrap()).unwrap()
    };
    let none = sidecar("none.mp4.json");
    assert_eq!(
        (&none["seed"], &none["seed_source"]),
        (&Value::Null, &Value::from("none"))
    );
    let given = sidecar("given.mp4.json");
    assert_eq!(
        (&given["seed"], &given["seed_source"]),
        (&Value::from(7), &Value::from("given"))
    );
    let submits: Vec<Value> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Submit))
        .map(|r| r.json())
        .collect();
    assert_eq!(submits[0].get("seed"), None);
    assert_eq!(submits[1]["seed"], 7);

    let mut spend = ttv_std(d, &sim);
    spend.args(["--json", "spend"]);
    let ledger: Value = serde_json::from_slice(&output(spend).await.stdout).unwrap();
    for job in ledger["jobs"].as_array().unwrap() {
        assert_eq!(job["basis"], "charged_in_credits", "{job}");
    }
    let mut text = ttv_std(d, &sim);
    text.arg("spend");
    let out = output(text).await;
    assert!(
        stderr(&out).contains("charges in provider credits are converted to dollars"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_show_ttvs_own_steps_where_there_is_no_progress_bar() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.2)).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("ttv.yaml"),
        "remote_api_settings: { polling_interval: 0.05 }\n",
    )
    .unwrap();
    let mut cmd = ttv_std(work.path(), &sim);
    cmd.args(["-v", "generate", "-b", "runway", "-p", "a kite", "-d", "2"])
        .args(["--job-id", "loud", "-o", "kite.mp4"]);
    let out = output(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let task = Store::open_in(&work.path().join("data"))
        .unwrap()
        .job("loud")
        .unwrap()
        .ticket
        .unwrap()
        .id;
    for step in [
        format!("submitted job=loud backend=runway task={task}"),
        "running job=loud".to_owned(),
        "downloading job=loud".to_owned(),
        "verifying the video job=loud".to_owned(),
        "done job=loud".to_owned(),
    ] {
        assert!(err.contains(&step), "no {step:?} in:\n{err}");
    }
    // Only ttv's own lines, not the HTTP stack's.
    assert!(!err.contains("hyper"), "{err}");
}
