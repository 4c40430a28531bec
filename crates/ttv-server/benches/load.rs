//! Load figures for `ttv serve` (prints, asserts nothing): 1,000 jobs submitted over HTTP to a
//! server whose backend is the simulator's Runway; submit throughput, p50/p99 latency of
//! `GET /jobs/{id}` while those jobs run, memory per job in flight and CPU per job.
//!
//! `cargo bench -p ttv-server --bench load` (`TTV_BENCH_JOBS=200` for a shorter run). The
//! server, the simulator and the client share this process, so memory and CPU include all
//! three: the figures are upper bounds for the server alone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ttv::facade::Jobs;
use ttv::registry::Registry;
use ttv::store::Store;
use ttv_server::{Options, Server};
use ttv_sim::{Provider, Sim, SimConfig};

const KEY: &str = "bench-key";

/// Resident memory in bytes (Linux), else 0.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

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
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("TTV_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 128,
        ..SimConfig::default().with_timings(0.5, 2.0)
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
    let registry = Registry::new(&loaded.settings.registry);
    let store = Store::open_in(&dir.path().join("data")).unwrap();
    let jobs = Jobs::new(loaded.settings, registry)
        .with_store(store)
        .unwrap();
    let mut opts = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("data").join("server"),
    );
    opts.workers = 64;
    let server = Server::start(jobs, opts, Vec::new()).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();

    let rss_before = rss();
    let cpu_before = cpu_secs();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(total);
    let mut pending = Vec::new();
    for i in 0..total {
        let (http, base) = (http.clone(), base.clone());
        pending.push(tokio::spawn(async move {
            let v: Value = http
                .post(format!("{base}/v1/ttv/jobs"))
                .json(&json!({ "prompt": format!("bench shot {i}"), "backend": "runway", "duration": 5 }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["id"].as_str().unwrap().to_owned()
        }));
        if pending.len() == 32 {
            for p in pending.drain(..) {
                ids.push(p.await.unwrap());
            }
        }
    }
    for p in pending.drain(..) {
        ids.push(p.await.unwrap());
    }
    let submit_secs = started.elapsed().as_secs_f64();
    let rss_loaded = rss();

    // GET /jobs/{id} latency while the jobs run.
    let mut latencies = Vec::new();
    let mut finished = 0;
    let mut made = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut round = 0usize;
    while Instant::now() < deadline {
        round += 1;
        for (_, id) in ids.iter().enumerate().filter(|(k, _)| k % 50 == round % 50) {
            let t = Instant::now();
            let _: Value = http
                .get(format!("{base}/jobs/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            latencies.push(t.elapsed());
        }
        let list: Value = http
            .get(format!("{base}/jobs?limit=1000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let count = |what: &[&str]| {
            list.as_array().map_or(0, |a| {
                a.iter()
                    .filter(|j| what.iter().any(|w| j["status"] == *w))
                    .count()
            })
        };
        finished = count(&["finished", "failed"]);
        made = count(&["finished"]);
        if finished >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    latencies.sort();
    let paid = sim.paid_submits(Provider::Runway);
    println!(
        "jobs: {total} submitted over HTTP, {finished} ended ({made} with a video), {paid} paid submits at the simulator"
    );
    println!(
        "submit throughput: {:.0} jobs/s ({total} in {submit_secs:.2} s, 32 requests in flight)",
        total as f64 / submit_secs
    );
    println!(
        "GET /jobs/{{id}} under load: p50 {:.2} ms, p99 {:.2} ms ({} requests)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len()
    );
    println!(
        "memory per job in flight: {:.1} KiB (resident {} MiB -> {} MiB; server, simulator and client together)",
        rss_loaded.saturating_sub(rss_before) as f64 / 1024.0 / total as f64,
        rss_before / 1024 / 1024,
        rss_loaded / 1024 / 1024
    );
    println!(
        "CPU per job: {:.1} ms ({cpu:.1} s over {all_secs:.1} s wall; the simulator's video rendering included)",
        cpu * 1e3 / total as f64
    );
    server.shutdown().await;
}
