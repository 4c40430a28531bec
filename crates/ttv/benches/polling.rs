//! Adaptive polling against fixed intervals: 1,000 concurrent Runway jobs through the library
//! against the simulator, run times drawn from a log-normal (median 60 s of model time,
//! spread 0.3), the simulator's clock running `TTV_BENCH_TIME_SCALE` (10) times faster than
//! the model's. For each way of polling it prints the delay between the simulator marking a
//! job done and ttv noticing it (mean and p95, in model seconds), status requests per job,
//! CPU and peak memory per job, and wall time against the ideal (the longest job). Asserts
//! nothing.
//!
//! Rows: `adaptive` (Runway's progress, typical times as the prior), `adaptive-no-progress`
//! (progress hidden, as for providers that report none, with the quantiles the job store has
//! learned), `fixed-6s` (Runway's SDK), `fixed-0.1s` (fal's client).
//!
//! `cargo bench -p ttv --bench polling`. `TTV_BENCH_JOBS` changes the number of jobs,
//! `TTV_BENCH_MODES` the rows (comma-separated: adaptive, adaptive-no-progress, fixed-6s,
//! fixed-0.1s). Each row runs in its own process (this binary, re-executed) with its own
//! simulator child, so that CPU and memory figures belong to the library alone.
//!
//! `python_reference.py`, beside this file, runs the same load through the providers' official
//! async Python clients (runwayml, fal-client) as reference rows; see its docstring.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ttv::backend::{Status, no_events};
use ttv::http::ApiKey;
use ttv::layers::{Answer, Layer, Layered, Next, Op};
use ttv::polling::{Adaptive, Expected, FixedLayer};
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::{GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

const MEDIAN_SECS: f64 = 60.0;
const SPREAD: f64 = 0.3;
const SIM_ENV: &str = "TTV_BENCH_SIM_CHILD";
const MODE_ENV: &str = "TTV_BENCH_MODE";

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn scale() -> f64 {
    env_f64("TTV_BENCH_TIME_SCALE", 10.0)
}

fn jobs() -> usize {
    env_f64("TTV_BENCH_JOBS", 1000.0) as usize
}

fn proc_status(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of this process.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn serve_sim() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut config = SimConfig {
            api_key: Some("bench".into()),
            video_max_side: 160,
            time_scale: scale(),
            seed: Some(16),
            ..SimConfig::default().with_timings(0.0, MEDIAN_SECS)
        };
        config.runway.run_spread = SPREAD;
        let sim = Sim::start(config).await.expect("simulator starts");
        println!("{}", sim.base_url(Provider::Runway));
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    });
}

/// Counts status requests and notes when each job's success was first seen.
#[derive(Debug, Default)]
struct Meter {
    polls: AtomicU64,
    noticed: Mutex<Vec<(String, DateTime<Utc>)>>,
    hide_progress: bool,
}

#[derive(Debug, Clone)]
struct Metered(Arc<Meter>);

#[async_trait]
impl Layer for Metered {
    async fn around(&self, op: Op, next: Next<'_>) -> ttv::Result<Answer> {
        if op != Op::Poll {
            return next().await;
        }
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        let answer = next().await;
        match answer {
            Ok(Answer::Status(Status::Succeeded { ref output, .. })) => {
                let at = Utc::now();
                if let ttv::backend::Output::Url { url } = output {
                    // The simulator's output URLs end in `/files/{task}.mp4?...`.
                    let task = url
                        .rsplit_once("/files/")
                        .and_then(|(_, r)| r.split_once(".mp4"))
                        .map(|(id, _)| id.to_owned())
                        .unwrap_or_default();
                    if let Ok(mut n) = self.0.noticed.lock() {
                        n.push((task, at));
                    }
                }
                answer
            }
            Ok(Answer::Status(Status::Running { .. })) if self.0.hide_progress => {
                Ok(Answer::Status(Status::Running { progress: None }))
            }
            other => other,
        }
    }
}

fn run_mode(mode: &str) {
    let scale = scale();
    let jobs = jobs();
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env(SIM_ENV, "1")
        .env_remove(MODE_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("simulator child starts");
    let mut base = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut base)
        .expect("base URL");
    let base = base.trim().to_owned();
    let root = base
        .split_once("/runway")
        .map_or(base.clone(), |(r, _)| r.to_owned());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let runway: Arc<dyn VideoBackend> = Arc::new(
            Runway::new(RunwayOptions {
                api_key: Some(ApiKey::new("bench")),
                base_url: base.clone(),
                model: "gen4.5".into(),
                poll_interval: Duration::from_secs(6),
            })
            .expect("backend"),
        );
        let meter = Arc::new(Meter {
            hide_progress: mode == "adaptive-no-progress",
            ..Meter::default()
        });
        let metered: Arc<dyn VideoBackend> = Arc::new(Layered::new(Metered(meter.clone()), runway));
        // With progress: Runway's typical times (median 60 s, spread 0.5), not the
        // simulator's. Without: the quantiles the job store learns after a few jobs (the
        // simulator's own distribution), as a user's second batch would poll.
        let (median, spread) = ttv::polling::typical("runway", Some("gen4.5"));
        let expected = if mode == "adaptive-no-progress" {
            Expected::log_normal(Duration::from_secs_f64(MEDIAN_SECS), SPREAD)
        } else {
            Expected::log_normal(median, spread)
        };
        let adaptive = Adaptive::new(expected).scaled(scale);
        let backend: Arc<dyn VideoBackend> = match mode {
            "fixed-6s" => Arc::new(Layered::new(
                FixedLayer(Duration::from_secs_f64(6.0 / scale)),
                metered,
            )),
            "fixed-0.1s" => Arc::new(Layered::new(
                FixedLayer(Duration::from_secs_f64(0.1 / scale)),
                metered,
            )),
            _ => ttv::polling::adaptive(metered, Some(adaptive)),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let req = Arc::new(GenerationRequest {
            duration: Some(VideoDuration::from_secs(5)),
            ..GenerationRequest::text("benchmark")
        });

        let rss_before = proc_status("VmRSS:").unwrap_or(0.0);
        let cpu_before = cpu_secs();
        let started = Instant::now();
        let tasks: Vec<_> = (0..jobs)
            .map(|i| {
                let (backend, req) = (backend.clone(), req.clone());
                let dest = dir.path().join(format!("job-{i}.mp4"));
                tokio::spawn(async move { backend.generate(&req, &dest, &no_events).await })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            if !matches!(t.await, Ok(Ok(_))) {
                failed += 1;
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu_before;
        let peak = proc_status("VmHWM:").unwrap_or(0.0);

        let tasks: serde_json::Value = reqwest::get(format!("{root}/_sim/tasks"))
            .await
            .expect("task list")
            .json()
            .await
            .expect("task JSON");
        let mut done = std::collections::HashMap::new();
        let mut longest: f64 = 0.0;
        for t in tasks.as_array().into_iter().flatten() {
            let id = t["id"].as_str().unwrap_or_default().to_owned();
            let at = |k: &str| {
                t[k]["utc"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.with_timezone(&Utc))
            };
            if let (Some(q), Some(d)) = (at("queued_at"), at("done_at")) {
                longest = longest.max((d - q).as_seconds_f64());
                done.insert(id, d);
            }
        }
        let noticed = meter.noticed.lock().map(|n| n.clone()).unwrap_or_default();
        let mut delays: Vec<f64> = noticed
            .iter()
            .filter_map(|(id, at)| done.get(id).map(|d| (*at - *d).as_seconds_f64() * scale))
            .collect();
        delays.sort_by(f64::total_cmp);
        let mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        let p95 = delays
            .get(((delays.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN);
        let polls = meter.polls.load(Ordering::Relaxed) as f64 / jobs as f64;
        println!(
            "{}",
            serde_json::json!({
                "mode": mode,
                "jobs": jobs,
                "failed": failed,
                "mean_delay": mean,
                "p95_delay": p95,
                "polls_per_job": polls,
                "cpu_ms_per_job": cpu * 1000.0 / jobs as f64,
                "kib_per_job": (peak - rss_before).max(0.0) / jobs as f64,
                "wall": wall,
                "ideal": longest,
            })
        );
    });
    drop(child.stdin.take());
    let _ = child.wait();
}

fn main() {
    if std::env::var_os(SIM_ENV).is_some() {
        return serve_sim();
    }
    if let Ok(mode) = std::env::var(MODE_ENV) {
        return run_mode(&mode);
    }
    let modes = std::env::var("TTV_BENCH_MODES")
        .unwrap_or_else(|_| "adaptive,adaptive-no-progress,fixed-6s,fixed-0.1s".into());
    let (scale, jobs) = (scale(), jobs());
    println!(
        "{jobs} concurrent Runway jobs, log-normal run times (median {MEDIAN_SECS} s, spread {SPREAD}), simulator clock x{scale}; delays in model seconds"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>10} {:>9} {:>9} {:>16}",
        "polling", "mean s", "p95 s", "polls/job", "cpu ms", "KiB/job", "wall/ideal"
    );
    let exe = std::env::current_exe().expect("own path");
    for mode in modes.split(',') {
        let out = Command::new(&exe)
            .env(MODE_ENV, mode)
            .stderr(Stdio::inherit())
            .output()
            .expect("bench child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(v) = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        else {
            println!("{mode:<22} (no result: {})", text.trim());
            continue;
        };
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<22} {:>9.2} {:>9.2} {:>10.1} {:>9.3} {:>9.1} {:>7.2}/{:<5.2}={:.2}x{}",
            mode,
            f("mean_delay"),
            f("p95_delay"),
            f("polls_per_job"),
            f("cpu_ms_per_job"),
            f("kib_per_job"),
            f("wall"),
            f("ideal"),
            f("wall") / f("ideal"),
            match v["failed"].as_u64() {
                Some(0) | None => String::new(),
                Some(n) => format!(" ({n} failed)"),
            }
        );
    }
}
