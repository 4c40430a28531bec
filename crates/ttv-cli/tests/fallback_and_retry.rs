//! Fallback only when the user allows it (and loudly when the stand-in is the placeholder
//! renderer), failed jobs run again as new attempts under the same id, and `jobs resume
//! --all` steps around jobs another process is running — against the Runway simulator.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use ttv::store::{JobState, Store};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-fallback-key";

async fn sim(config: SimConfig) -> Sim {
    Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..config
    })
    .await
    .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ttv ARGS` in `dir` against the simulator's Runway, the job store in `dir/data`.
async fn ttv(dir: &Path, sim: &Sim, args: &[&str]) -> Output {
    let mut cmd = common::ttv(dir);
    cmd.env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway))
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

const CLIP: &[&str] = &["-p", "a lighthouse at dusk", "-d", "2"];

fn sidecar(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_backend_that_fails_is_replaced_only_with_fallback_and_then_loudly() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.0).with_fault(
        Provider::Runway,
        FaultRule::always(Endpoint::Submit, FaultKind::InsufficientBalance),
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    // A small, fast stand-in: 8 frames a second.
    std::fs::write(
        d.join("ttv.yaml"),
        "remote_api_settings: { fallback_backend: animatic }\nanimatic: { fps: 8 }\n",
    )
    .unwrap();

    let mut args = vec!["generate", "-b", "runway", "-o", "named.mp4"];
    args.extend(CLIP);
    let out = ttv(d, &sim, &args).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        !d.join("named.mp4").exists(),
        "no title card in place of Runway"
    );
    assert!(!stderr(&out).contains("falling back"), "{}", stderr(&out));

    let mut args = vec![
        "generate",
        "-b",
        "runway",
        "--fallback",
        "-o",
        "allowed.mp4",
    ];
    args.extend(CLIP);
    let out = ttv(d, &sim, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: runway was not used (runway: ")
            && stderr(&out).contains("the video was made by animatic, a placeholder renderer"),
        "{}",
        stderr(&out)
    );
    let record = sidecar(&d.join("allowed.mp4.json"));
    assert_eq!(record["backend"], "animatic");
    assert_eq!(record["fallback"]["from"], "runway");
    assert_eq!(record["fallback"]["placeholder"], true);
    assert!(
        record["fallback"]["reason"]
            .as_str()
            .unwrap()
            .contains("credits"),
        "{record}"
    );

    // The default backend falls back as configured, without being asked on the command.
    std::fs::write(
        d.join("ttv.yaml"),
        "default_backend: runway\nfallback_backend: animatic\nanimatic: { fps: 8 }\n",
    )
    .unwrap();
    let mut args = vec!["generate", "-o", "default.mp4"];
    args.extend(CLIP);
    let out = ttv(d, &sim, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sidecar(&d.join("default.mp4.json"))["fallback"]["to"],
        "animatic"
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_says_falling_back_when_there_is_no_fallback() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.0).with_fault(
        Provider::Runway,
        FaultRule::always(Endpoint::Submit, FaultKind::InsufficientBalance),
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    for allowed in [&[][..], &["--fallback"][..]] {
        let mut args = vec!["-v", "generate", "-o", "x.mp4", "-b", "runway"];
        args.extend(allowed);
        args.extend(CLIP);
        let out = ttv(work.path(), &sim, &args).await;
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(!stderr(&out).contains("falling back"), "{}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_runs_again_under_the_same_id_as_a_new_attempt() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.0).with_fault(
        Provider::Runway,
        FaultRule::nth(Endpoint::Submit, 1, FaultKind::TaskFailure),
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let mut args = vec![
        "generate", "-b", "runway", "--job-id", "again", "-o", "a.mp4",
    ];
    args.extend(CLIP);
    let out = ttv(d, &sim, &args).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // Carrying it on says the truth: it failed, and how to run it again.
    let resumed = ttv(d, &sim, &["jobs", "resume", "again"]).await;
    assert_eq!(resumed.status.code(), Some(3));
    let err = stderr(&resumed);
    assert!(
        err.contains(
            "`ttv generate --job-id again` with the same arguments runs it again as a new attempt"
        ),
        "{err}"
    );
    assert_eq!(
        err.matches("job again failed").count(),
        1,
        "said once: {err}"
    );

    let out = ttv(d, &sim, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sim.paid_submits(Provider::Runway), 2);
    let events: Vec<String> = sidecar(&d.join("a.mp4.json"))["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["submitted", "retry", "submitted"]);
    let store = Store::open_in(&d.join("data")).unwrap();
    let job = store.job("again").unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_submit_may_have_arrived_is_never_bought_again_but_can_be_resolved_again() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.0).with_fault(
        Provider::Runway,
        FaultRule::nth(Endpoint::Submit, 2, FaultKind::ServerError),
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    // A healthy job first: its task id stands for the one a person finds on the dashboard.
    let mut ok = vec!["generate", "-b", "runway", "--job-id", "ok", "-o", "ok.mp4"];
    ok.extend(CLIP);
    assert!(ttv(d, &sim, &ok).await.status.success());
    let task = Store::open_in(&d.join("data"))
        .unwrap()
        .job("ok")
        .unwrap()
        .ticket
        .unwrap()
        .id;

    let mut args = vec!["generate", "-b", "runway", "--job-id", "u", "-o", "u.mp4"];
    args.extend(CLIP);
    // An ambiguous submit leaves the job waiting to be settled (exit 4).
    assert_eq!(ttv(d, &sim, &args).await.status.code(), Some(4));
    // Settled with a wrong task id: the poll finds nothing and the job fails.
    let wrong = ttv(
        d,
        &sim,
        &["jobs", "resolve", "u", "--submitted", "no-such-task"],
    )
    .await;
    assert!(wrong.status.success(), "{}", stderr(&wrong));
    assert_eq!(
        ttv(d, &sim, &["jobs", "resume", "u"]).await.status.code(),
        Some(3)
    );

    // Running it again would buy it twice if the first submit did arrive: refused.
    let out = ttv(d, &sim, &args).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("may have reached the provider and was never settled"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 2);

    // Resolved again with the right task id, it is fetched, not bought.
    let named = ttv(d, &sim, &["jobs", "resolve", "u", "--submitted", &task]).await;
    assert!(named.status.success(), "{}", stderr(&named));
    let resumed = ttv(d, &sim, &["jobs", "resume", "u"]).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(d.join("u.mp4").exists());
    assert_eq!(sim.paid_submits(Provider::Runway), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_all_skips_a_job_another_process_is_running_and_says_so() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let store = Store::open_in(&d.join("data")).unwrap();
    let child = common::ttv_std(d)
        .env("TTV_DATA_DIR", d.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway))
        .args([
            "generate", "-b", "runway", "--job-id", "busy", "-o", "busy.mp4",
        ])
        .args(CLIP)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    for _ in 0..500 {
        if store
            .get("busy")
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.job("busy").unwrap().state, JobState::Running);
    let out = ttv(d, &sim, &["--json", "jobs", "resume", "--all"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["jobs"][0]["id"], "busy");
    assert_eq!(
        report["jobs"][0]["skipped"],
        "another ttv process is running it"
    );
    let text = ttv(d, &sim, &["jobs", "resume", "--all"]).await;
    assert!(
        stderr(&text).contains("job busy: skipped, another ttv process is running it"),
        "{}",
        stderr(&text)
    );
}

/// A child process that is killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_lost_in_a_crash_is_made_again_when_the_job_is_run_again() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let store = Store::open_in(&d.join("data")).unwrap();
    let args = [
        "generate",
        "-p",
        "a slow render",
        "-d",
        "2",
        "-r",
        "360p",
        "--fps",
        "16",
        "--job-id",
        "lost",
        "-o",
        "lost.mp4",
    ];
    let child = common::ttv_std(d)
        .env("TTV_DATA_DIR", d.join("data"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    for _ in 0..500 {
        if store
            .get("lost")
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert_eq!(store.job("lost").unwrap().state, JobState::Running);

    let mut again = common::ttv(d);
    again.env("TTV_DATA_DIR", d.join("data")).args(args);
    let out = tokio::task::spawn_blocking(move || again.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (info, _) = ttv::media::probe::verify_file(&d.join("lost.mp4")).unwrap();
    assert_eq!(info.frames, 32);
    let job = store.job("lost").unwrap();
    assert_eq!(job.state, JobState::Done);
    let events: Vec<String> = store
        .history("lost")
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert!(events.contains(&"retry".to_owned()), "{events:?}");
}
