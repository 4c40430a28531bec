//! Queue figures for `ttv worker` (prints, asserts nothing): N jobs queued in a real PostgreSQL
//! database (`TTV_TEST_POSTGRES_URL`, a fresh database per worker count), run by 1, 2 and 4
//! in-process workers against the simulator's Runway (run time 0.05 s, fixed 0.05 s polling,
//! so that the figures are the queue's and not the provider's). Prints, per worker count,
//! jobs/s, p50/p99 claim latency (8 claimers on a queue of N, on their own), PostgreSQL round
//! trips per job, CPU per job of the workers alone (the simulator runs as a process of its
//! own: `TTV_SIM_BIN`, else the `ttv-sim` built beside this bench), the paid submits the
//! simulator saw against the jobs, and where the jobs ended.
//!
//! `TTV_BENCH_JOBS=N cargo bench --workspace --bench workers --profile dev` (the default is
//! 10,000 jobs per worker count).

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// The simulator the workers call: a process of its own where the binary is there (so this
/// process's CPU is the workers'), else in this process.
enum Simulator {
    Process {
        child: Child,
        runway: String,
        admin: String,
        _dir: tempfile::TempDir,
    },
    InProcess(Sim),
}

impl Simulator {
    async fn start() -> Self {
        match sim_binary() {
            Some(binary) => Self::spawn(&binary),
            None => {
                println!(
                    "(no ttv-sim binary: set TTV_SIM_BIN or `cargo build --workspace --bins`; \
                     the simulator runs in this process and its CPU is counted with the workers')"
                );
                let sim = Sim::start(SimConfig {
                    api_key: Some(KEY.into()),
                    video_max_side: 64,
                    ..SimConfig::default().with_timings(0.0, 0.05)
                })
                .await
                .unwrap();
                Self::InProcess(sim)
            }
        }
    }

    fn spawn(binary: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("scenario.yaml");
        std::fs::write(&scenario, "video_max_side: 64\n").unwrap();
        let mut child = Command::new(binary)
            .args([
                "--json",
                "--queue-secs",
                "0",
                "--run-secs",
                "0.05",
                "--api-key",
                KEY,
            ])
            .arg("--scenario")
            .arg(&scenario)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let urls: HashMap<String, String> = serde_json::from_str(&line).unwrap();
        let admin = urls["admin"].rsplit_once("/_sim/").unwrap().0.to_owned();
        Self::Process {
            child,
            runway: urls["runway"].clone(),
            admin,
            _dir: dir,
        }
    }

    fn runway_url(&self) -> String {
        match self {
            Self::Process { runway, .. } => runway.clone(),
            Self::InProcess(sim) => sim.base_url(Provider::Runway),
        }
    }

    fn in_process(&self) -> bool {
        matches!(self, Self::InProcess(_))
    }

    async fn paid_submits(&self) -> usize {
        match self {
            Self::Process { admin, .. } => {
                let counts: HashMap<String, usize> =
                    reqwest::get(format!("{admin}/_sim/paid_submits"))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                counts.get("runway").copied().unwrap_or(0)
            }
            Self::InProcess(sim) => sim.paid_submits(Provider::Runway),
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Self::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `TTV_SIM_BIN`, else `ttv-sim` in the target folder this bench was built into.
fn sim_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("TTV_SIM_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    // This bench is target/<profile>/deps/workers-<hash>.
    let exe = std::env::current_exe().ok()?;
    let built = exe.parent()?.parent()?.join("ttv-sim");
    built.exists().then_some(built)
}

/// Claim latencies, sorted: 8 claimers empty a queue of `total` on their own.
fn claim_latencies(url: &str, total: usize) -> Vec<Duration> {
    let store = Store::connect(url).unwrap();
    for i in 0..total {
        store
            .enqueue(&format!("claim-{i:06}"), &serde_json::json!({}))
            .unwrap();
    }
    let all = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for c in 0..8 {
            let all = &all;
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
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("TTV_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = Simulator::start().await;
    let env: HashMap<String, String> = [
        ("RUNWAYML_API_SECRET".to_owned(), KEY.to_owned()),
        ("RUNWAYML_BASE_URL".to_owned(), sim.runway_url()),
    ]
    .into();
    // Fixed, short polling: adaptive polling would wait as long as real Runway jobs take.
    // A fresh output folder per worker count: each run starts from the same empty folder.
    let configure = |dir: &std::path::Path| {
        let yaml = format!(
            "output_dir: {}\nremote_api_settings: {{ polling_interval: 0.05, adaptive_polling: false }}\n",
            dir.join("out").display()
        );
        let loaded = ttv::config::from_yaml_in(&yaml, &env, dir);
        loaded.check().unwrap();
        loaded
    };

    println!(
        "{total} jobs per run, simulated Runway (run time 0.05 s, polled every 0.05 s), simulator {}",
        if sim.in_process() {
            "in this process"
        } else {
            "in a process of its own"
        }
    );
    for workers in [1usize, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let loaded = configure(dir.path());
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
        let paid_before = sim.paid_submits().await;
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
        let mut looks = 0u64;
        loop {
            let s = store.clone();
            let counts = blocking(move || s.queue_counts().unwrap()).await;
            looks += 1;
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
        // This loop's own looks at the queue are not the workers'.
        let trips = ttv::store::postgres_round_trips() - trips_before - looks;
        for worker in running {
            worker.drain().await;
        }
        let paid = sim.paid_submits().await - paid_before;
        let s = store.clone();
        let (states, submitted) = blocking(move || {
            let states = s.state_counts().unwrap();
            let submitted = s
                .list(&[])
                .unwrap()
                .iter()
                .filter(|j| j.submits > 0)
                .count();
            (states, submitted)
        })
        .await;

        let u = url.clone();
        let latencies = blocking(move || claim_latencies(&u, total)).await;
        let ended: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "{workers} worker(s): {:.1} jobs/s ({total} in {secs:.1} s); claim p50 {:.2} ms, p99 {:.2} ms; \
             {:.1} PostgreSQL round trips per job; {:.2} ms CPU per job ({}); \
             paid submits {paid} for {total} jobs ({submitted} with a submit recorded); jobs ended: {}",
            total as f64 / secs,
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            trips as f64 / total as f64,
            cpu * 1e3 / total as f64,
            if sim.in_process() {
                "workers and simulator"
            } else {
                "the workers alone"
            },
            ended.join(", "),
        );
    }
}
