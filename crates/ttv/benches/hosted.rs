//! 1,000 concurrent Runway jobs through the library against the simulator, 2 s simulated run
//! time each. Prints wall time against the 2 s ideal, CPU time per job and peak memory per
//! in-flight job; asserts nothing.
//!
//! Polls are adaptive (paced by Runway's progress: one poll just after the extrapolated end);
//! `TTV_BENCH_FIXED_MS=200` polls at a fixed interval instead, as before.
//!
//! `cargo bench -p ttv --bench hosted`. The simulator runs in a child process (this same
//! binary, re-executed) so that the CPU and memory figures belong to the library alone.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttv::backend::no_events;
use ttv::http::ApiKey;
use ttv::polling::{Adaptive, Expected};
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::{GenerationRequest, VideoBackend, VideoDuration};
use ttv_sim::{Provider, Sim, SimConfig};

const JOBS: usize = 1000;
const RUN_SECS: f64 = 2.0;
/// The backend's own fixed interval, which the adaptive layer replaces.
const POLL_MS: u64 = 200;
const CHILD_ENV: &str = "TTV_BENCH_SIM_CHILD";

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
    // utime and stime are fields 14 and 15 of the whole line; 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn serve_child() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let sim = Sim::start(SimConfig {
            api_key: Some("bench".into()),
            video_max_side: 320,
            ..SimConfig::default().with_timings(0.0, RUN_SECS)
        })
        .await
        .expect("simulator starts");
        println!("{}", sim.base_url(Provider::Runway));
        // Serve until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    });
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return serve_child();
    }
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("simulator child starts");
    let mut base = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut base)
        .expect("base URL");
    let base = base.trim().to_owned();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Fixed polls every `TTV_BENCH_FIXED_MS` when set (the old figure), else adaptive polling
    // paced by Runway's progress, set for jobs of about 2 s.
    let fixed_ms: Option<u64> = std::env::var("TTV_BENCH_FIXED_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    rt.block_on(async {
        let bare: Arc<dyn VideoBackend> = Arc::new(
            Runway::new(RunwayOptions {
                api_key: Some(ApiKey::new("bench")),
                base_url: base,
                model: "gen4.5".into(),
                poll_interval: Duration::from_millis(fixed_ms.unwrap_or(POLL_MS)),
            })
            .expect("backend"),
        );
        let runway = match fixed_ms {
            Some(_) => bare,
            None => ttv::polling::adaptive(
                bare,
                Some(Adaptive {
                    expected: Expected::log_normal(Duration::from_secs_f64(RUN_SECS), 0.1),
                    floor: Duration::from_millis(20),
                    ceiling: Duration::from_secs(1),
                    dense: Duration::from_millis(100),
                    guard: Duration::from_millis(10),
                    jitter: 0.1,
                }),
            ),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let req = Arc::new(GenerationRequest {
            duration: Some(VideoDuration::from_secs(2)),
            ..GenerationRequest::text("benchmark")
        });
        // Warm up: the simulator renders its video once; connections open.
        runway
            .generate(&req, &dir.path().join("warm.mp4"), &no_events)
            .await
            .expect("warm-up job");

        let rss_before = proc_status("VmRSS:").unwrap_or(0.0);
        let cpu_before = cpu_secs();
        let started = Instant::now();
        let tasks: Vec<_> = (0..JOBS)
            .map(|i| {
                let (runway, req) = (runway.clone(), req.clone());
                let dest = dir.path().join(format!("job-{i}.mp4"));
                tokio::spawn(async move { runway.generate(&req, &dest, &no_events).await })
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
        match fixed_ms {
            Some(ms) => println!("jobs                 {JOBS} ({failed} failed), polling every {ms} ms"),
            None => println!("jobs                 {JOBS} ({failed} failed), adaptive polling"),
        }
        println!(
            "wall                 {wall:.2} s against {RUN_SECS:.2} s ideal = {:.2}x (target <= 1.25x)",
            wall / RUN_SECS
        );
        println!(
            "cpu per job          {:.3} ms (target < 1 ms; {cpu:.2} s in all)",
            cpu * 1000.0 / JOBS as f64
        );
        println!(
            "peak memory per job  {:.1} KiB (target < 64 KiB; peak RSS {:.1} MiB, {:.1} MiB before)",
            (peak - rss_before).max(0.0) / JOBS as f64,
            peak / 1024.0,
            rss_before / 1024.0
        );
    });
    drop(child.stdin.take());
    let _ = child.wait();
}
