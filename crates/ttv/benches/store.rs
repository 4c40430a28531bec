//! The job store's cost: durable state transitions per second, and the time the store adds
//! to one job's life (a row plus every state change, each its own fsynced transaction).
//! Prints figures; asserts nothing.
//!
//! `cargo bench -p ttv --bench store`. Runs on a file in the system temp folder (the same
//! settings as the real store: WAL, synchronous=FULL) and, for comparison, in memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use ttv::backend::Ticket;
use ttv::capabilities::Resolved;
use ttv::cost::CostEstimate;
use ttv::request::{Mode, Resolution, VideoDuration};
use ttv::store::{JobEvent, NewJob, Store};

const JOBS: usize = 300;

fn new_job(i: usize) -> NewJob {
    NewJob {
        id: format!("bench-{i}"),
        backend: "runway".into(),
        model: Some("gen4.5".into()),
        request: serde_json::json!({ "prompt": "a lighthouse at dusk", "duration": 5 }),
        resolved: Resolved {
            mode: Mode::TextToVideo,
            duration: VideoDuration::from_secs(5),
            resolution: Resolution::new(1280, 720),
            fps: 24,
            frames: 120,
        },
        estimate: CostEstimate::free("bench"),
        out: PathBuf::from(format!("/videos/bench-{i}.mp4")),
    }
}

fn lifecycle(i: usize) -> Vec<JobEvent> {
    vec![
        JobEvent::BeginSubmit,
        JobEvent::Submitted(Ticket {
            backend: "runway".into(),
            id: format!("task-{i}"),
            model: Some("gen4.5".into()),
            data: serde_json::Value::Null,
            submitted_at: Utc::now(),
        }),
        JobEvent::Running,
        JobEvent::Downloading { charged: None },
        JobEvent::Done,
    ]
}

fn run(label: &str, store: &Store) {
    let mut per_job = Vec::with_capacity(JOBS);
    let mut transitions = 0usize;
    let started = Instant::now();
    for i in 0..JOBS {
        let t = Instant::now();
        store.create(&new_job(i)).expect("create");
        transitions += 1;
        for e in lifecycle(i) {
            store.apply(&format!("bench-{i}"), &e).expect("apply");
            transitions += 1;
        }
        per_job.push(t.elapsed());
    }
    let total = started.elapsed();
    per_job.sort();
    let pct = |p: f64| per_job[((per_job.len() - 1) as f64 * p) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<7} {JOBS} jobs, {transitions} transactions in {:.2} s: {:.0} transitions/s; per job (row + 5 changes): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        total.as_secs_f64(),
        transitions as f64 / total.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(pct(1.0)),
    );
    let t = Instant::now();
    let listed = store.list(&[]).expect("list").len();
    println!(
        "{label:<7} listing {listed} jobs: {:.2} ms; ledger: {:.2} ms",
        ms(t.elapsed()),
        {
            let t = Instant::now();
            store.ledger().expect("ledger");
            ms(t.elapsed())
        }
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = Store::open_in(dir.path()).expect("store");
    run("file", &file);
    let memory = Store::in_memory().expect("store");
    run("memory", &memory);
}
