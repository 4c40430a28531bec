//! Queue figures for `ttv worker` (prints, asserts nothing): N jobs queued in a real PostgreSQL
//! database (`TTV_TEST_POSTGRES_URL`, a fresh database per worker count), run by 1, 2 and 4
//! in-process workers against the simulator's Runway with a short run time. Prints jobs/s,
//! p50/p99 claim latency (8 claimers on a queue of N, on their own), PostgreSQL round trips
//! per job and CPU per job (workers and simulator together: they share this process).
//!
//! `cargo bench -p ttv-server --bench workers` (`TTV_BENCH_JOBS=300` for a shorter run; the
//! default is 10,000 jobs per worker count).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use ttv::facade::Jobs;
use ttv::registry::Registry;
use ttv::store::{QueueState, Store};
use ttv_server::queue::Payload;
use ttv_server::records::{Api, Input, Record};
use ttv_server::worker::{Worker, WorkerOptions};
use ttv_sim::{Provider, Sim, SimConfig};

const KEY: &str = "bench-key";

/// User + system CPU seconds of this process (Linux), else 0.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn payload(i: usize) -> serde_json::Value {
    let record = Record {
        id: format!("bench-{i:06}"),
        owner: "bench".into(),
        api: Api::Native,
        model: None,
        input: Input {
            prompt: format!("bench shot {i}"),
            duration: Some(5.0),
            backend: Some("runway".into()),
            ..Input::default()
        },
        idempotency: None,
        created_at: Utc::now(),
        estimate_usd_micros: 0,
        cancelled: false,
        deleted: false,
    };
    serde_json::to_value(Payload::new(record, None, None)).unwrap_or_default()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("TTV_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 64,
        ..SimConfig::default().with_timings(0.0, 0.05)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = [
        ("RUNWAYML_API_SECRET".to_owned(), KEY.to_owned()),
        (
            "RUNWAYML_BASE_URL".to_owned(),
            sim.base_url(Provider::Runway),
        ),
    ]
    .into();
    let yaml = format!("output_dir: {}\n", dir.path().join("out").display());
    let loaded = ttv::config::from_yaml_in(&yaml, &env, dir.path());
    loaded.check().unwrap();

    println!("{total} jobs per run, simulated Runway (run time 0.05 s)");
    for workers in [1usize, 2, 4] {
        let Some(url) = blocking(|| ttv::store::testing::fresh_database("bench workers")).await
        else {
            println!("TTV_TEST_POSTGRES_URL is not set: no PostgreSQL to measure against");
            return;
        };
        let u = url.clone();
        let store = blocking(move || Store::connect(&u).unwrap()).await;
        let s = store.clone();
        blocking(move || {
            for i in 0..total {
                s.enqueue(&format!("bench-{i:06}"), &payload(i)).unwrap();
            }
        })
        .await;
        let trips_before = ttv::store::postgres_round_trips();
        let cpu_before = cpu_secs();
        let started = Instant::now();
        let mut running = Vec::new();
        for w in 0..workers {
            let u = url.clone();
            let store = blocking(move || Store::connect(&u).unwrap()).await;
            let jobs = Jobs::new(
                loaded.settings.clone(),
                Registry::new(&loaded.settings.registry),
            )
            .with_store(store)
            .unwrap();
            let mut opts = WorkerOptions::new();
            opts.name = format!("bench-w{w}");
            opts.jobs = 16;
            opts.idle_poll = Duration::from_millis(200);
            running.push(Worker::start(jobs, opts).await.unwrap());
        }
        loop {
            let s = store.clone();
            let counts = blocking(move || s.queue_counts().unwrap()).await;
            let finished = counts
                .iter()
                .find(|(q, _)| *q == QueueState::Finished)
                .map_or(0, |(_, n)| *n);
            if finished as usize >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu_before;
        // The polling loop above is in the count too; it is small next to the workers'.
        let trips = ttv::store::postgres_round_trips() - trips_before;
        for worker in running {
            worker.drain().await;
        }

        // Claim latency on its own: 8 claimers empty a queue of the same size.
        let u = url.clone();
        let claim_url = blocking(move || {
            let store = Store::connect(&u).unwrap();
            for i in 0..total {
                store
                    .enqueue(&format!("claim-{i:06}"), &serde_json::json!({}))
                    .unwrap();
            }
            u
        })
        .await;
        let latencies = blocking(move || {
            let all = std::sync::Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for c in 0..8 {
                    let (all, url) = (&all, &claim_url);
                    scope.spawn(move || {
                        let store = Store::connect(url).unwrap();
                        let mut mine = Vec::new();
                        loop {
                            let t = Instant::now();
                            let got = store
                                .claim(&format!("c{c}"), Duration::from_secs(60), None)
                                .unwrap();
                            mine.push(t.elapsed());
                            if got.is_none() {
                                break;
                            }
                        }
                        all.lock().unwrap().extend(mine);
                    });
                }
            });
            let mut v = all.into_inner().unwrap();
            v.sort();
            v
        })
        .await;
        println!(
            "{workers} worker(s): {:.1} jobs/s ({total} in {secs:.1} s); claim p50 {:.2} ms, p99 {:.2} ms; \
             {:.1} PostgreSQL round trips per job; {:.1} ms CPU per job (all workers and the simulator)",
            total as f64 / secs,
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            trips as f64 / total as f64,
            cpu * 1e3 / total as f64,
        );
    }
    println!(
        "paid submits seen by the simulator: {}",
        sim.paid_submits(Provider::Runway)
    );
}
