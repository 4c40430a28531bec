//! The job façade as every front end uses it: plan, run, cancel, resume, against the
//! simulator and the embedded renderer, with the job store and sidecars checked.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use ttv::backend::no_events;
use ttv::facade::{Cancel, JobSpec, Jobs, Outcome};
use ttv::registry::Registry;
use ttv::store::{JobState, Store};
use ttv::{ErrorKind, Event, GenerationRequest, VideoDuration};
use ttv_sim::{Endpoint, Provider, Sim, SimConfig};

use common::{KEY, sim};

/// A façade over `yaml` (with `env`), keeping jobs in `dir/data`.
fn jobs_in(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> Jobs {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let loaded = ttv::config::from_yaml(yaml, &env);
    loaded.check().expect("the test configuration is valid");
    let registry = Registry::new(&loaded.settings.registry);
    let store = Store::open_in(&dir.join("data")).unwrap();
    Jobs::new(loaded.settings, registry)
        .with_store(store)
        .unwrap()
}

/// Runway on the simulator, polled every 50 ms.
fn runway_config(sim: &Sim) -> String {
    format!(
        "runway_ml:\n  api_key: {KEY}\n  base_url: {}\nremote_api_settings:\n  polling_interval: 0.05\n",
        sim.base_url(Provider::Runway)
    )
}

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text(prompt)
    }
}

fn spec(prompt: &str, out: &Path, id: &str) -> JobSpec {
    JobSpec {
        out: Some(out.to_path_buf()),
        job_id: Some(id.to_owned()),
        ..JobSpec::new(request(prompt))
    }
}

#[tokio::test]
async fn a_planned_job_is_run_recorded_and_described_in_its_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_in(dir.path(), "animatic: { fps: 8 }\n", &[]);
    let out = dir.path().join("boat.mp4");
    let plan = jobs.plan(spec("a paper boat", &out, "boat")).await.unwrap();
    assert_eq!(plan.job_id, "boat");
    assert_eq!(plan.selection.backend.id(), "animatic");
    assert_eq!(plan.selection.resolved.frames, 16);
    assert!(plan.existing.is_none());

    let Outcome::Made(made) = jobs.run(plan, &no_events, &Cancel::new()).await.unwrap() else {
        panic!("a new job is made")
    };
    assert_eq!(made.path, out);
    assert_eq!(made.generated.video.frames, 16);
    let sidecar: Value = serde_json::from_slice(&std::fs::read(&made.sidecar_path).unwrap())
        .expect("the sidecar is JSON");
    assert_eq!(sidecar["job_id"], "boat");
    assert_eq!(sidecar["backend"], "animatic");
    assert_eq!(sidecar["video"]["sha256"], made.generated.sha256);
    let job = jobs.runner().unwrap().job("boat").await.unwrap();
    assert_eq!(job.state, JobState::Done);
}

#[tokio::test]
async fn a_dry_run_is_planned_without_a_store_and_cannot_be_run() {
    let loaded = ttv::config::from_yaml("", &HashMap::new());
    let jobs = Jobs::new(
        loaded.settings.clone(),
        Registry::new(&loaded.settings.registry),
    );
    let plan = jobs
        .plan(JobSpec {
            dry_run: true,
            ..JobSpec::new(request("a plan"))
        })
        .await
        .unwrap();
    assert!(plan.job_id.starts_with("j-"), "{}", plan.job_id);
    assert!(plan.out.to_string_lossy().ends_with(".mp4"));
    let err = jobs
        .run(plan, &no_events, &Cancel::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_job_id_carries_the_job_on_and_never_buys_it_twice() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_in(dir.path(), &runway_config(&sim), &[]);
    let out = dir.path().join("tram.mp4");
    let spec = JobSpec {
        backend: Some("runway".into()),
        ..spec("a tram in the fog", &out, "tram")
    };
    let plan = jobs.plan(spec.clone()).await.unwrap();
    let Outcome::Made(made) = jobs.run(plan, &no_events, &Cancel::new()).await.unwrap() else {
        panic!("a new job is made")
    };
    assert_eq!(made.selection.backend.id(), "runway");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);

    let again = jobs.plan(spec).await.unwrap();
    assert_eq!(
        again.existing.as_ref().map(|j| j.state),
        Some(JobState::Done)
    );
    let outcome = jobs.run(again, &no_events, &Cancel::new()).await.unwrap();
    assert!(matches!(outcome, Outcome::AlreadyDone(_)), "{outcome:?}");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);

    let other = JobSpec {
        backend: Some("runway".into()),
        ..spec_with_other_prompt(&out)
    };
    let err = jobs.plan(other).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("different request"), "{err}");
}

fn spec_with_other_prompt(out: &Path) -> JobSpec {
    spec("a bus in the rain", out, "tram")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_remote_job_and_records_it() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_in(dir.path(), &runway_config(&sim), &[]);
    let out = dir.path().join("sunset.mp4");
    let plan = jobs
        .plan(JobSpec {
            backend: Some("runway".into()),
            ..spec("a slow sunset", &out, "sunset")
        })
        .await
        .unwrap();
    let cancel = Cancel::new();
    let running = Mutex::new(false);
    let sink = |event: Event| {
        if matches!(event, Event::Running { .. }) {
            *running.lock().unwrap() = true;
            cancel.cancel();
        }
    };
    let err = tokio::time::timeout(Duration::from_secs(20), jobs.run(plan, &sink, &cancel))
        .await
        .expect("the run stops once cancelled")
        .unwrap_err();
    assert!(*running.lock().unwrap());
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(err.to_string().contains("was cancelled"), "{err}");
    let job = jobs.runner().unwrap().job("sunset").await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    let cancels = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Cancel))
        .count();
    assert_eq!(cancels, 1);
    assert!(!out.exists());
}

#[test]
fn adaptive_polling_is_the_default_and_a_polling_interval_or_false_gives_a_fixed_one() {
    let pacing = |yaml: &str| {
        let loaded = ttv::config::from_yaml(yaml, &HashMap::new());
        loaded.check().expect("the test configuration is valid");
        let registry = Registry::new(&loaded.settings.registry);
        let runway = registry.get("backend", "runway").unwrap();
        let animatic = registry.get("backend", "animatic").unwrap();
        (runway.pacing(), animatic.pacing())
    };
    let runway = format!("runway_ml:\n  api_key: {KEY}\n");
    let (hosted, local) = pacing(&format!(
        "{runway}remote_api_settings:\n  adaptive_polling: true\n"
    ));
    assert_eq!(
        hosted,
        ttv::polling::typical_pacing("runway", Some("gen4.5"))
    );
    assert!(matches!(local, ttv::polling::Pacing::Fixed(_)), "{local:?}");
    let (forced, _) = pacing(&format!(
        "{runway}remote_api_settings:\n  adaptive_polling: true\n  polling_interval: 2\n"
    ));
    assert_eq!(forced, ttv::polling::Pacing::Fixed(Duration::from_secs(2)));
    // Adaptive is the default; `adaptive_polling: false` keeps the provider's interval.
    let (default, _) = pacing(&runway);
    assert_eq!(
        default,
        ttv::polling::typical_pacing("runway", Some("gen4.5"))
    );
    let (off, _) = pacing(&format!(
        "{runway}remote_api_settings:\n  adaptive_polling: false\n"
    ));
    assert_eq!(off, ttv::polling::Pacing::Fixed(Duration::from_secs(6)));
}
