//! The job runner with the store against the simulator: one paid submit per job, resume
//! after a crash polls the saved ticket, and ambiguous submits wait for a person.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use ttv::backend::no_events;
use ttv::jobs::{Finished, JobRunner, Resolution};
use ttv::retry::RetryPolicy;
use ttv::services::minimax::{Minimax, MinimaxOptions};
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::store::{JobState, NewJob, Store};
use ttv::{ErrorKind, GenerationRequest, Spend, VideoBackend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, layered, sim};

fn runway_with(sim: &Sim, limits: serde_json::Value) -> Arc<dyn VideoBackend> {
    let runway = Runway::new(RunwayOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Runway),
        model: "gen4.5".to_owned(),
        poll_interval: Duration::from_millis(50),
    })
    .unwrap();
    layered(runway, None, limits)
}

/// Runway inside the layers the registry puts around it.
fn runway(sim: &Sim) -> Arc<dyn VideoBackend> {
    runway_with(sim, json!({}))
}

fn minimax(sim: &Sim) -> Arc<dyn VideoBackend> {
    let minimax = Minimax::new(MinimaxOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Minimax),
        model: "MiniMax-Hailuo-02".to_owned(),
        poll_interval: Duration::from_millis(50),
        ..MinimaxOptions::default()
    })
    .unwrap();
    layered(minimax, None, json!({}))
}

fn request() -> GenerationRequest {
    GenerationRequest {
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("a lighthouse at dusk")
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    }
}

async fn new_job(runner: &JobRunner, backend: &dyn VideoBackend, dir: &Path, id: &str) {
    new_job_for(runner, backend, dir, id, &request()).await;
}

async fn new_job_for(
    runner: &JobRunner,
    backend: &dyn VideoBackend,
    dir: &Path,
    id: &str,
    req: &GenerationRequest,
) {
    runner
        .create(NewJob {
            id: id.to_owned(),
            backend: backend.id().to_owned(),
            model: backend.model().map(str::to_owned),
            request: serde_json::to_value(req).unwrap(),
            resolved: backend.validate(req).unwrap(),
            estimate: backend.estimate_cost(req).unwrap(),
            out: dir.join(format!("{id}.mp4")),
        })
        .await
        .unwrap();
}

/// A job runner over a job store in `dir`.
fn runner_in(dir: &Path) -> JobRunner {
    JobRunner::new(Store::open_in(dir).unwrap(), policy())
}

/// Records job `id` for `req` on `backend` and runs it once, with the request at hand.
async fn create_and_run(
    runner: &JobRunner,
    backend: &dyn VideoBackend,
    dir: &Path,
    id: &str,
    req: &GenerationRequest,
) -> ttv::Result<Finished> {
    new_job_for(runner, backend, dir, id, req).await;
    runner.run(backend, id, Some(req), &no_events).await
}

fn paid(sim: &Sim) -> usize {
    sim.paid_submits(Provider::Runway)
}

#[tokio::test]
async fn a_job_runs_to_done_with_one_paid_submit_and_its_ticket_saved() {
    let sim = sim(SimConfig::default().with_timings(0.1, 0.2)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "j1").await;

    let made = runner
        .run(&*backend, "j1", Some(&request()), &no_events)
        .await
        .unwrap();
    let Finished::Made(generated) = made else {
        panic!("expected a new video")
    };
    assert_eq!(generated.video.frames, 16, "2 s at the simulator's 8 fps");
    let job = runner.job("j1").await.unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.submits, 1);
    assert_eq!(job.ticket.unwrap().id, generated.ticket.id);
    assert_eq!(paid(&sim), 1);

    // Running it again is a no-op that reports the finished job.
    let again = runner
        .run(&*backend, "j1", Some(&request()), &no_events)
        .await
        .unwrap();
    assert!(matches!(again, Finished::AlreadyDone(_)));
    assert_eq!(paid(&sim), 1);

    let store_bytes = std::fs::read(dir.path().join(ttv::store::FILE_NAME)).unwrap();
    let wal = std::fs::read(dir.path().join(format!("{}-wal", ttv::store::FILE_NAME)))
        .unwrap_or_default();
    for bytes in [store_bytes, wal] {
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the API key must never reach the store"
        );
    }
}

#[tokio::test]
async fn a_run_stopped_mid_poll_resumes_from_the_saved_ticket() {
    let sim = sim(SimConfig::default().with_timings(0.0, 2.0)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "j2").await;

    // Stopped (the future dropped, as a crash would) as soon as the provider reports it running.
    let running = tokio::sync::Notify::new();
    let sink = |e: ttv::Event| {
        if matches!(e, ttv::Event::Running { .. } | ttv::Event::Queued { .. }) {
            running.notify_one();
        }
    };
    let req = request();
    tokio::select! {
        done = runner.run(&*backend, "j2", Some(&req), &sink) => {
            panic!("the job should still be running: {done:?}")
        }
        () = running.notified() => {}
    }
    let job = runner.job("j2").await.unwrap();
    assert_eq!(job.state, JobState::Running);

    // A new runner (another process after a crash) with no request at hand.
    let runner = runner_in(dir.path());
    let resumable: Vec<_> = runner
        .resumable()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(resumable, ["j2"]);
    runner.run(&*backend, "j2", None, &no_events).await.unwrap();
    assert_eq!(runner.job("j2").await.unwrap().state, JobState::Done);
    assert!(dir.path().join("j2.mp4").is_file());
    assert_eq!(paid(&sim), 1);
}

#[tokio::test]
async fn an_ambiguous_submit_goes_to_unknown_and_is_not_repeated() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Runway,
        FaultRule::nth(Endpoint::Submit, 1, FaultKind::ServerError),
    ))
    .await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "j3").await;

    let err = runner
        .run(&*backend, "j3", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.spend(), Spend::Maybe);
    assert!(err.to_string().contains("ttv jobs resolve j3"), "{err}");
    let job = runner.job("j3").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Unknown, 1));
    assert_eq!(
        paid(&sim),
        1,
        "the simulator created the task before failing"
    );

    // Running it again does not submit again.
    let again = runner
        .run(&*backend, "j3", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert_eq!(again.spend(), Spend::Maybe);
    assert_eq!(sim.requests().len(), 1);

    // The person decides it never arrived: it is submitted once more and finishes.
    runner
        .resolve("j3", Resolution::NotSubmitted)
        .await
        .unwrap();
    runner
        .run(&*backend, "j3", Some(&request()), &no_events)
        .await
        .unwrap();
    let job = runner.job("j3").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 2));
}

#[tokio::test]
async fn resolving_with_the_providers_task_id_polls_that_task() {
    // The ticket made from a bare task id must be enough to poll and fetch, on every
    // provider whose task ids a person can read off its dashboard.
    for provider in [Provider::Runway, Provider::Fal, Provider::Minimax] {
        resolve_with_task_id(provider).await;
    }
}

async fn resolve_with_task_id(provider: Provider) {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        provider,
        FaultRule::nth(Endpoint::Submit, 2, FaultKind::ConnectionReset),
    ))
    .await;
    let backend = match provider {
        Provider::Runway => runway(&sim),
        Provider::Fal => fal(&sim),
        _ => minimax(&sim),
    };
    let backend = backend.as_ref();
    // Each provider's default duration, so every model can take it.
    let req = GenerationRequest::text("a lighthouse at dusk");
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    // A first, healthy job gives us a real task id to point the second one at.
    new_job_for(&runner, backend, dir.path(), "a", &req).await;
    runner
        .run(backend, "a", Some(&req), &no_events)
        .await
        .unwrap();
    let task = runner.job("a").await.unwrap().ticket.unwrap().id;

    new_job_for(&runner, backend, dir.path(), "b", &req).await;
    let err = runner
        .run(backend, "b", Some(&req), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.spend(), Spend::Maybe, "{provider}");
    runner
        .resolve(
            "b",
            Resolution::Submitted {
                task_id: task.clone(),
            },
        )
        .await
        .unwrap();
    runner
        .run(backend, "b", None, &no_events)
        .await
        .unwrap_or_else(|e| panic!("{provider}: {e}"));
    let job = runner.job("b").await.unwrap();
    assert_eq!(job.state, JobState::Done, "{provider}");
    assert_eq!(job.ticket.unwrap().id, task);
    assert_eq!(sim.paid_submits(provider), 2, "{provider}");
}

#[tokio::test]
async fn a_rate_limited_submit_is_retried_because_nothing_was_bought() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Runway,
        FaultRule::nth(Endpoint::Submit, 1, FaultKind::RateLimited).with_retry_after(0),
    ))
    .await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "r").await;
    runner
        .run(&*backend, "r", Some(&request()), &no_events)
        .await
        .unwrap();
    let job = runner.job("r").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 1));
    assert_eq!(paid(&sim), 1);
    // From the simulator's side: the first submit was refused with 429 and bought nothing.
    let submits: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Some(Endpoint::Submit))
        .map(|r| (r.status, r.paid))
        .collect();
    assert_eq!(submits, [(429, false), (200, true)]);
}

#[tokio::test]
async fn a_failed_task_and_a_cancel_are_recorded() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Runway,
        FaultRule::always(Endpoint::Poll, FaultKind::TaskFailure),
    ))
    .await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "f").await;
    let err = runner
        .run(&*backend, "f", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JobFailed);
    assert_eq!(runner.job("f").await.unwrap().state, JobState::Failed);

    new_job(&runner, &*backend, dir.path(), "c").await;
    let job = runner.cancel(Some(&*backend), "c").await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert!(!dir.path().join("c.mp4").exists());
}

fn fal(sim: &Sim) -> Arc<dyn VideoBackend> {
    fal_with(sim, None)
}

#[tokio::test]
async fn an_empty_balance_falls_back_to_the_next_backend_and_both_attempts_are_recorded() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Runway,
        FaultRule::always(Endpoint::Submit, FaultKind::InsufficientBalance),
    ))
    .await;
    let backends = vec![runway(&sim), fal(&sim)];
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, backends[0].as_ref(), dir.path(), "fb").await;
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(5)),
        ..request()
    };
    let (_, used) = runner
        .run_with_fallback(&backends, "fb", &req, false, &no_events)
        .await
        .unwrap();
    assert_eq!(used.id(), "fal");
    let job = runner.job("fb").await.unwrap();
    assert_eq!((job.state, job.backend.as_str()), (JobState::Done, "fal"));
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    let history: Vec<_> = runner
        .store()
        .history("fb")
        .unwrap()
        .into_iter()
        .map(|h| format!("{}@{}", h.event, h.backend))
        .collect();
    assert_eq!(
        &history[..5],
        [
            "created@runway",
            "begin_submit@runway",
            "submit_not_sent@runway",
            "fallback@fal",
            "begin_submit@fal"
        ]
    );
}

#[tokio::test]
async fn a_job_over_budget_is_refused_before_anything_is_sent() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path()).with_budget(ttv::budget::Budget {
        per_job_usd: Some(0.01),
        ..Default::default()
    });
    new_job(&runner, &*backend, dir.path(), "big").await;
    let err = runner
        .run(&*backend, "big", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.to_string().contains("per-job budget of $0.01"), "{err}");
    assert!(sim.requests().is_empty());
    assert_eq!(runner.job("big").await.unwrap().state, JobState::Failed);
}

#[tokio::test]
async fn a_broken_off_download_continues_with_a_range_request() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Runway,
        FaultRule::nth(Endpoint::Download, 1, FaultKind::TruncatedDownload),
    ))
    .await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "rg").await;
    let made = runner
        .run(&*backend, "rg", Some(&request()), &no_events)
        .await
        .unwrap();
    let Finished::Made(generated) = made else {
        panic!("expected a new video")
    };
    let downloads: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Some(Endpoint::Download))
        .collect();
    assert_eq!(downloads.len(), 2);
    assert_eq!(downloads[0].headers.get("range"), None);
    // The simulator sent half the video before dropping the connection.
    let half = generated.bytes / 2;
    assert_eq!(downloads[1].headers["range"], format!("bytes={half}-"));
    assert_eq!(downloads[1].status, 206);
    assert_eq!(paid(&sim), 1);

    // The two halves make exactly the video the simulator serves.
    let saved = std::fs::read(dir.path().join("rg.mp4")).unwrap();
    let ttv::Status::Succeeded {
        output: ttv::Output::Url { url },
        ..
    } = backend.poll(&generated.ticket).await.unwrap()
    else {
        panic!("the task is done")
    };
    let served = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(saved.len() as u64, generated.bytes);
    assert!(
        saved == served,
        "the resumed file differs from what was served"
    );
}

#[tokio::test]
async fn a_job_past_its_deadline_is_kept_with_its_ticket_for_resume() {
    let sim = sim(SimConfig::default().with_timings(0.0, 30.0)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = JobRunner::new(
        Store::open_in(dir.path()).unwrap(),
        RetryPolicy {
            job_timeout: Some(Duration::from_millis(300)),
            ..policy()
        },
    );
    new_job(&runner, &*backend, dir.path(), "slow").await;
    let err = runner
        .run(&*backend, "slow", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("ttv jobs resume slow"), "{err}");
    let job = runner.job("slow").await.unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.ticket.is_some());
    assert_eq!(paid(&sim), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_limited_to_one_job_runs_jobs_one_after_another() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.2)).await;
    let backend = runway_with(&sim, json!({ "backends": { "runway": { "max_jobs": 1 } } }));
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    new_job(&runner, &*backend, dir.path(), "one").await;
    new_job(&runner, &*backend, dir.path(), "two").await;
    let req = request();
    let (a, b) = tokio::join!(
        runner.run(&*backend, "one", Some(&req), &no_events),
        runner.run(&*backend, "two", Some(&req), &no_events),
    );
    a.unwrap();
    b.unwrap();
    let order: Vec<_> = sim
        .requests()
        .into_iter()
        .filter_map(|r| match r.endpoint {
            Some(Endpoint::Submit) => Some("submit"),
            Some(Endpoint::Download) => Some("download"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["submit", "download", "submit", "download"]);
}

#[tokio::test]
async fn a_job_run_elsewhere_is_not_run_twice() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let runner = JobRunner::new(store.clone(), policy());
    new_job(&runner, &*backend, dir.path(), "busy").await;
    let held = store.lock_job("busy").unwrap().expect("free at first");
    let err = runner
        .run(&*backend, "busy", Some(&request()), &no_events)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another ttv process"), "{err}");
    assert!(sim.requests().is_empty());
    drop(held);
    runner
        .run(&*backend, "busy", Some(&request()), &no_events)
        .await
        .unwrap();
    assert_eq!(paid(&sim), 1);
}

/// fal inside the layers, with a call deadline.
fn fal_in_time(sim: &Sim, call_timeout: Duration) -> Arc<dyn VideoBackend> {
    fal_with(sim, Some(call_timeout))
}

fn fal_with(sim: &Sim, call_timeout: Option<Duration>) -> Arc<dyn VideoBackend> {
    let fal = ttv::services::fal::Fal::new(ttv::services::fal::FalOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Fal),
        platform_url: sim.fal_platform_url(),
        model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video".to_owned(),
        poll_interval: Duration::from_millis(50),
        ..ttv::services::fal::FalOptions::default()
    })
    .unwrap();
    layered(fal, call_timeout, json!({}))
}

fn events(runner: &JobRunner, id: &str) -> Vec<String> {
    runner
        .store()
        .history(id)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect()
}

#[tokio::test]
async fn a_fal_submit_without_an_answer_is_found_in_the_request_listing_and_carried_on() {
    let mut rule = FaultRule::nth(Endpoint::Submit, 1, FaultKind::NoAnswer);
    rule.delay_ms = Some(2_000);
    let sim = sim(SimConfig::default()
        .with_timings(0.0, 0.1)
        .with_fault(Provider::Fal, rule))
    .await;
    let backend = fal_in_time(&sim, Duration::from_millis(500));
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    let req = GenerationRequest::text("a lighthouse at dusk");
    create_and_run(&runner, &*backend, dir.path(), "lost", &req)
        .await
        .unwrap();

    let job = runner.job("lost").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 1));
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    assert_eq!(sim.task_ids(Provider::Fal), [job.ticket.unwrap().id]);
    // (Whether a poll saw it running depends on how soon the look-up ran.)
    let history = events(&runner, "lost");
    assert_eq!(
        history[..4],
        ["created", "begin_submit", "submit_ambiguous", "settled"]
    );
    assert_eq!(history[history.len() - 2..], ["downloading", "done"]);
    // The look-up asked for this app's requests with their inputs, as fal documents it.
    let lookup = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/v1/models/requests/by-endpoint"))
        .expect("the request listing was read");
    let query = lookup.query.unwrap();
    assert!(
        query.contains("endpoint_id=fal-ai%2Fkling-video%2Fv2.5-turbo%2Fpro%2Ftext-to-video"),
        "{query}"
    );
    assert!(query.contains("expand=payloads"), "{query}");
    assert_eq!(lookup.headers["authorization"], format!("Key {KEY}"));
}

#[tokio::test]
async fn a_lost_fal_submit_matching_two_requests_stays_unknown() {
    // The second job's submit is reset after fal created it; the listing then holds two
    // requests with exactly its input, so neither is provably this job's.
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1).with_fault(
        Provider::Fal,
        FaultRule::nth(Endpoint::Submit, 2, FaultKind::ConnectionReset),
    ))
    .await;
    let backend = fal_in_time(&sim, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    let req = GenerationRequest::text("the same harbour");
    create_and_run(&runner, &*backend, dir.path(), "first", &req)
        .await
        .unwrap();
    let err = create_and_run(&runner, &*backend, dir.path(), "second", &req)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
    assert!(err.to_string().contains("ttv jobs resolve second"), "{err}");
    let job = runner.job("second").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Unknown, 1));
    assert_eq!(sim.paid_submits(Provider::Fal), 2);
}

#[tokio::test]
async fn a_run_that_died_while_sending_to_fal_is_settled_by_the_next_run_with_the_request() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let backend = fal_in_time(&sim, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    let req = GenerationRequest::text("a pier at noon");
    new_job_for(&runner, &*backend, dir.path(), "died", &req).await;
    // What a process killed mid-submit leaves: the job in `submitting`, the request at fal.
    runner
        .store()
        .apply("died", &ttv::store::JobEvent::BeginSubmit)
        .unwrap();
    let job = runner.job("died").await.unwrap();
    backend.submit(&req, &job.resolved).await.unwrap();

    // Without the request at hand it can only wait for a person.
    let err = runner
        .run(&*backend, "died", None, &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsettled);
    assert_eq!(runner.job("died").await.unwrap().state, JobState::Unknown);
    // With it (`ttv generate --job-id` again), fal's listing settles it.
    runner
        .run(&*backend, "died", Some(&req), &no_events)
        .await
        .unwrap();
    let job = runner.job("died").await.unwrap();
    assert_eq!((job.state, job.submits), (JobState::Done, 1));
    assert_eq!(sim.paid_submits(Provider::Fal), 1);
    let history = events(&runner, "died");
    assert_eq!(
        history[..4],
        ["created", "begin_submit", "interrupted", "settled"]
    );
    assert_eq!(history[history.len() - 2..], ["downloading", "done"]);
}

#[tokio::test]
async fn the_store_keeps_what_adaptive_polling_learns_per_kind_of_job() {
    let sim = sim(SimConfig::default().with_timings(0.0, 0.3)).await;
    let backend = runway(&sim);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_in(dir.path());
    for i in 0..ttv::polling::MIN_SAMPLES {
        new_job(&runner, &*backend, dir.path(), &format!("j{i}")).await;
        runner
            .run(&*backend, &format!("j{i}"), Some(&request()), &no_events)
            .await
            .unwrap();
    }
    let resolved = backend.validate(&request()).unwrap();
    let times = runner
        .store()
        .finished_times("runway", Some("gen4.5"), &resolved, 50)
        .unwrap();
    assert_eq!(times.len(), ttv::polling::MIN_SAMPLES);
    // From submit to the success ttv saw: never less than the simulated run.
    assert!(times.iter().all(|t| *t >= 0.3), "{times:?}");
    let learned = ttv::polling::Expected::from_samples(&times).expect("enough jobs");
    assert!(learned.p20 <= learned.p50 && learned.p50 <= learned.p95);

    // Another duration, another model: nothing learned yet.
    let longer = backend
        .validate(&GenerationRequest {
            duration: Some(VideoDuration::from_secs(5)),
            ..request()
        })
        .unwrap();
    let store = runner.store();
    assert!(
        store
            .finished_times("runway", Some("gen4.5"), &longer, 50)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .finished_times("runway", Some("gen4_turbo"), &resolved, 50)
            .unwrap()
            .is_empty()
    );
}
