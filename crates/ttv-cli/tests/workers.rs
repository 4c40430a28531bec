//! `ttv serve --store postgres://...` in front of `ttv worker` processes sharing one real
//! PostgreSQL database (started by `.ci/run`, see `ttv::store::testing`), against the
//! simulator: workers killed with SIGKILL mid-poll and mid-download leave nothing behind
//! (every job finishes once, with exactly one paid submit by the simulator's count); two
//! workers racing a daily budget never pass it together (spend from the simulator's count);
//! a worker drains on SIGTERM and serves its health and metrics.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use ttv::store::{JobState, QueueState, Store};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-worker-key";

/// A `ttv` process with its own folder (data, outputs), the runway simulator and the store.
fn ttv_in(dir: &Path, base: &str, store: &str) -> std::process::Command {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = common::ttv_std(dir);
    cmd.env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", base)
        .env("TTV_STORE_URL", store)
        .env("TTV_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Kept for a failing test's reader.
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap());
    cmd
}

fn serve(dir: &Path, base: &str, store: &str, port: u16) -> Child {
    ttv_in(dir, base, store)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--model", "sora-2=runway"])
        .spawn()
        .unwrap()
}

fn worker(dir: &Path, base: &str, store: &str, name: &str, extra: &[&str]) -> Child {
    let mut cmd = ttv_in(dir, base, store);
    cmd.args(["worker", "--name", name, "--lease", "3"])
        .args(extra);
    if !extra.contains(&"--jobs") {
        cmd.args(["--jobs", "2"]);
    }
    cmd.spawn().unwrap()
}

/// What every test here starts with: a `ttv serve` in front of database `url` and the
/// simulator's Runway, in a folder of its own, and a store open on the same database.
struct Rig {
    url: String,
    base: String,
    work: tempfile::TempDir,
    store: Store,
    api: String,
    http: reqwest::Client,
    server: Child,
}

impl Rig {
    async fn start(sim: &Sim, url: String) -> Self {
        let base = sim.base_url(Provider::Runway);
        let work = tempfile::tempdir().unwrap();
        let u = url.clone();
        let store = tokio::task::spawn_blocking(move || Store::connect(&u).unwrap())
            .await
            .unwrap();
        let port = common::free_port();
        let api = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut server = serve(&work.path().join("server"), &base, &url, port);
        common::wait_up(&http, &api, &mut server).await;
        Self {
            url,
            base,
            work,
            store,
            api,
            http,
            server,
        }
    }
}

async fn post_jobs(http: &reqwest::Client, url: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let resp = http
            .post(format!("{url}/v1/videos"))
            .json(&json!({ "model": "sora-2", "prompt": format!("shot {i}"), "seconds": "5" }))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{status}: {v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Polls `check` on the store (off the async threads) until it gives `Some`. On a timeout it
/// prints what the store holds and what each process under `dir` logged, for the reader of a
/// failure that happened on another machine.
async fn wait_for<T: Send + 'static>(
    store: &Store,
    dir: &Path,
    what: &str,
    check: impl Fn(&Store) -> Option<T> + Send + Sync + 'static,
) -> T {
    let check = std::sync::Arc::new(check);
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    while std::time::Instant::now() < deadline {
        let (s, c) = (store.clone(), check.clone());
        if let Some(v) = tokio::task::spawn_blocking(move || c(&s)).await.unwrap() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = store.clone();
    let held = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        for row in s.queue().unwrap_or_default() {
            let job = s.get(&row.id).ok().flatten();
            let history = s.history(&row.id).unwrap_or_default();
            out.push_str(&format!(
                "{} queue={:?} owner={:?} claims={} outcome={:?} job={:?} history={:?}\n",
                row.id,
                row.state,
                row.owner,
                row.claims,
                row.outcome,
                job.map(|j| (j.state, j.submits, j.error)),
                history
                    .iter()
                    .map(|h| format!("{}:{}", h.event, h.to))
                    .collect::<Vec<_>>(),
            ));
        }
        out
    })
    .await
    .unwrap_or_default();
    eprintln!("the store:\n{held}");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let log = std::fs::read_to_string(entry.path().join("stderr.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        eprintln!("--- {} (last lines, newest first):", entry.path().display());
        for line in tail {
            eprintln!("{line}");
        }
    }
    panic!("timed out waiting for {what}");
}

/// Runs blocking store calls from the async test (the PostgreSQL client must not block an
/// async thread).
fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn kill9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The worker (by name) holding a job in `state` in the queue, and the job.
fn holder_in(
    store: &Store,
    ids: &[String],
    state: JobState,
    live: &[&str],
) -> Option<(String, String)> {
    for id in ids {
        let job = store.get(id).ok()??;
        if job.state != state {
            continue;
        }
        let row = store.queued(id).ok()??;
        if row.state == QueueState::Claimed
            && let Some(owner) = row.owner
            && live.contains(&owner.as_str())
        {
            return Some((owner, id.clone()));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_poll_and_mid_download_leave_every_job_finished_once_and_paid_once() {
    let Some(url) = ttv::store::testing::fresh_database("workers_killed_mid_poll") else {
        return;
    };
    // Runs take 2 s; downloads crawl, so one is caught mid-download.
    let mut config = SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 2.0)
    };
    for n in 1..=8 {
        config.runway.faults.push(FaultRule {
            delay_ms: Some(30),
            ..FaultRule::nth(Endpoint::Download, n, FaultKind::SlowBody)
        });
    }
    let sim = Sim::start(config).await.unwrap();
    let Rig {
        url,
        base,
        work,
        store,
        api,
        http,
        mut server,
    } = Rig::start(&sim, url).await;
    let dir = work.path();
    let mut workers: Vec<(String, Child)> = ["w1", "w2", "w3"]
        .iter()
        .map(|name| {
            let child = worker(&dir.join(name), &base, &url, name, &[]);
            ((*name).to_owned(), child)
        })
        .collect();
    let ids = post_jobs(&http, &api, 6).await;

    // The server queued them and ran none itself.
    let jobs_in_queue = sync(|| store.queue().unwrap().len());
    assert_eq!(jobs_in_queue, 6);

    // One worker is killed while its job is polling the provider, another while its job is
    // downloading.
    let (_, polling_job) = kill_holder(&store, dir, &mut workers, JobState::Running).await;
    let (_, downloading_job) = kill_holder(&store, dir, &mut workers, JobState::Downloading).await;

    // The last worker carries every job to its end once the dead workers' leases run out.
    let expected = ids.clone();
    wait_for(&store, dir, "every job done and off the queue", move |s| {
        expected
            .iter()
            .all(|id| {
                let done = s
                    .get(id)
                    .ok()
                    .flatten()
                    .is_some_and(|j| j.state == JobState::Done);
                let off = s
                    .queued(id)
                    .ok()
                    .flatten()
                    .is_some_and(|q| q.state == QueueState::Finished);
                done && off
            })
            .then_some(())
    })
    .await;
    sync(|| {
        for id in &ids {
            let job = store.job(id).unwrap();
            assert_eq!((job.state, job.submits), (JobState::Done, 1), "{id}");
            let history = store.history(id).unwrap();
            let done = history.iter().filter(|h| h.event == "done").count();
            let submits = history.iter().filter(|h| h.event == "begin_submit").count();
            assert_eq!((done, submits), (1, 1), "{id}: {history:?}");
            let row = store.queued(id).unwrap().unwrap();
            assert_eq!(
                (row.state, row.outcome.as_deref()),
                (QueueState::Finished, Some("done")),
                "{id}"
            );
        }
    });
    // The two jobs the dead workers held were claimed again and carried on from their tickets.
    for id in [&polling_job, &downloading_job] {
        assert!(
            sync(|| store.queued(id).unwrap().unwrap().claims) >= 2,
            "{id}"
        );
    }
    assert_eq!(
        sim.paid_submits(Provider::Runway),
        ids.len(),
        "exactly one paid submit per job, by the simulator's count"
    );
    // The server shows them done from the shared store.
    let v: Value = http
        .get(format!("{api}/v1/videos/{polling_job}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    for (_, mut child) in workers {
        kill9(&mut child);
    }
    kill9(&mut server);
}

/// Sends `signal` (`-STOP`, `-CONT`) to `child`.
fn signal(child: &Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
}

/// SIGKILLs a live worker that holds a job in `state`, at a moment when every job it holds
/// has its ticket saved, and returns (worker, job). A worker killed while another of its jobs
/// is mid-submit rightly leaves that job `unknown` (the provider may have it), which is not
/// what this test is about; so the worker is frozen (SIGSTOP) while its jobs are read, and
/// killed only if none is mid-submit, else thawed to try again.
async fn kill_holder(
    store: &Store,
    dir: &Path,
    workers: &mut Vec<(String, Child)>,
    state: JobState,
) -> (String, String) {
    for _ in 0..1000 {
        let live: Vec<String> = workers.iter().map(|(n, _)| n.clone()).collect();
        let (owner, job) = wait_for(store, dir, &format!("a job {state}"), move |s| {
            let live: Vec<&str> = live.iter().map(String::as_str).collect();
            holder_in(s, &ids_of(s), state, &live)
        })
        .await;
        let i = workers.iter().position(|(n, _)| *n == owner).unwrap();
        signal(&workers[i].1, "-STOP");
        let (s, o, j) = (store.clone(), owner.clone(), job.clone());
        let safe = tokio::task::spawn_blocking(move || {
            let still = s.get(&j).ok().flatten().is_some_and(|x| x.state == state);
            let held = s.queue().unwrap_or_default().into_iter().filter(|r| {
                r.state == QueueState::Claimed && r.owner.as_deref() == Some(o.as_str())
            });
            still
                && held.into_iter().all(|r| {
                    s.get(&r.id)
                        .ok()
                        .flatten()
                        .is_some_and(|x| x.state.has_remote_job())
                })
        })
        .await
        .unwrap();
        if safe {
            let (_, mut child) = workers.remove(i);
            kill9(&mut child);
            return (owner, job);
        }
        signal(&workers[i].1, "-CONT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no worker held a job {state} with none of its jobs mid-submit");
}

fn ids_of(store: &Store) -> Vec<String> {
    store
        .queue()
        .map(|rows| rows.into_iter().map(|r| r.id).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_a_daily_budget_never_spend_past_it() {
    let Some(url) = ttv::store::testing::fresh_database("two_workers_racing_a_daily_budget") else {
        return;
    };
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 160,
        ..SimConfig::default().with_timings(0.0, 0.2)
    })
    .await
    .unwrap();
    let Rig {
        url,
        base,
        work,
        store,
        api,
        http,
        mut server,
    } = Rig::start(&sim, url).await;
    let dir = work.path();
    let ids = post_jobs(&http, &api, 1).await;
    let mut first = worker(&dir.join("w0"), &base, &url, "w0", &[]);
    let first_id = ids[0].clone();
    let price = wait_for(&store, dir, "the first job done", move |s| {
        s.get(&first_id)
            .ok()
            .flatten()
            .filter(|j| j.state == JobState::Done)
            .map(|j| j.estimate.usd.micros)
    })
    .await;
    kill9(&mut first);
    assert!(price > 0);
    // Room for about five jobs at this estimate today (the first one counts); 20 queued.
    let budget_usd = (price * 5 + price / 2) as f64 / 1e6;
    let config = format!("budget:\n  per_day_usd: {budget_usd}\n");
    let ids = post_jobs(&http, &api, 20).await;
    let mut racers = Vec::new();
    for name in ["r1", "r2"] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ttv.yaml"), &config).unwrap();
        racers.push(worker(&d, &base, &url, name, &["--jobs", "8"]));
    }
    let expected = ids.clone();
    wait_for(&store, dir, "every job ended", move |s| {
        expected
            .iter()
            .all(|id| {
                s.queued(id)
                    .ok()
                    .flatten()
                    .is_some_and(|q| q.state == QueueState::Finished)
            })
            .then_some(())
    })
    .await;
    let paid = sim.paid_submits(Provider::Runway);
    let (jobs, ledger) = sync(|| (store.list(&[]).unwrap(), store.ledger().unwrap()));
    // Every paid request the simulator saw is one job's one submit.
    let submitted: u32 = jobs.iter().map(|j| j.submits).sum();
    assert_eq!(paid, submitted as usize);
    // What the jobs cost, as the provider charged it, stays within the day's budget.
    let spent: i64 = ledger.iter().map(|e| e.usd_micros).sum();
    assert!(
        spent as f64 <= budget_usd * 1e6,
        "{paid} paid submits cost {spent} micro-dollars, past the budget of {budget_usd} $"
    );
    assert!(paid >= 2, "the budget leaves room for several jobs: {paid}");
    // The rest were refused, with nothing sent: when planned, or (racing) at submit time.
    let refused: Vec<_> = ids
        .iter()
        .filter(|id| {
            sync(|| store.queued(id).unwrap())
                .is_some_and(|q| q.outcome.as_deref() == Some("failed"))
        })
        .collect();
    assert_eq!(refused.len() + paid - 1, ids.len(), "{paid} paid");
    for id in refused {
        if let Some(job) = jobs.iter().find(|j| &j.id == id) {
            assert_eq!(job.submits, 0, "{id}");
            assert!(
                job.error
                    .as_deref()
                    .unwrap_or("")
                    .contains("per-day budget"),
                "{:?}",
                job.error
            );
        }
    }
    for mut child in racers {
        kill9(&mut child);
    }
    kill9(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_health_and_metrics_and_drains_on_sigterm() {
    let Some(url) = ttv::store::testing::fresh_database("a_worker_drains_on_sigterm") else {
        return;
    };
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 160,
        ..SimConfig::default().with_timings(0.0, 30.0)
    })
    .await
    .unwrap();
    let Rig {
        url,
        base,
        work,
        store,
        api,
        http,
        mut server,
    } = Rig::start(&sim, url).await;
    let dir = work.path();
    let metrics_port = common::free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut child = worker(
        &dir.join("w"),
        &base,
        &url,
        "w",
        &["--listen", &format!("127.0.0.1:{metrics_port}")],
    );
    common::wait_up(&http, &metrics, &mut child).await;
    let started = std::time::Instant::now();
    let ids = post_jobs(&http, &api, 1).await;
    let id = ids[0].clone();
    let key = id.clone();
    wait_for(&store, dir, "the job submitted", move |s| {
        s.get(&key)
            .ok()
            .flatten()
            .filter(|j| j.submits == 1)
            .map(drop)
    })
    .await;
    // Woken by NOTIFY, not by its 5 s look at the queue.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let key = id.clone();
    wait_for(&store, dir, "the job running", move |s| {
        s.get(&key)
            .ok()
            .flatten()
            .filter(|j| j.state == JobState::Running)
            .map(drop)
    })
    .await;
    let health: Value = http
        .get(format!("{metrics}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["store"], "postgres");
    let text = http
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ttv_jobs{state=\"running\"} 1",
        "ttv_queue_jobs{state=\"claimed\"} 1",
        "ttv_worker_claims_total 1",
        "ttv_worker_running 1",
        "ttv_spend_usd{backend=\"runway\"}",
        "ttv_worker_claim_seconds_count",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopping = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    // Only waiting on the provider: handed back at once, not after the 30 s grace.
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let (row, job) = sync(|| (store.queued(&id).unwrap().unwrap(), store.job(&id).unwrap()));
    assert_eq!((row.state, row.owner), (QueueState::Queued, None));
    assert_eq!((job.state, job.submits), (JobState::Running, 1));
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    kill9(&mut server);
}

#[test]
fn a_store_url_password_never_shows_in_config_output_or_errors() {
    let work = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: opening the store fails.
    let url = "postgres://ttv:hunter2-secret@127.0.0.1:9/jobs";
    for args in [&["config", "check"][..], &["--json", "config", "check"][..]] {
        let out = common::ttv(work.path())
            .env("TTV_STORE_URL", url)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("postgres://ttv:***@127.0.0.1:9/jobs"),
            "{text}"
        );
    }
    let out = common::ttv(work.path())
        .args(["jobs", "list", "--store", url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("postgres://ttv:***@127.0.0.1:9/jobs"),
        "{text}"
    );
    // A worker without a shared store says what it needs.
    let out = common::ttv(work.path()).arg("worker").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--store postgres://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_in_front_of_one_store_see_every_job_and_share_idempotency_keys() {
    let Some(url) = ttv::store::testing::fresh_database("two_servers_in_front_of_one_store") else {
        return;
    };
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let base = sim.base_url(Provider::Runway);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let http = reqwest::Client::new();
    let (port_a, port_b) = (common::free_port(), common::free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut server_a = serve(&dir.join("a"), &base, &url, port_a);
    let mut server_b = serve(&dir.join("b"), &base, &url, port_b);
    common::wait_up(&http, &a, &mut server_a).await;
    common::wait_up(&http, &b, &mut server_b).await;
    let create = |api: &str, prompt: &str| {
        http.post(format!("{api}/v1/ttv/jobs"))
            .header("Idempotency-Key", "order-7")
            .json(&json!({ "prompt": prompt, "duration": 5, "backend": "runway" }))
            .send()
    };
    let get = |url: String| async {
        let resp = http.get(url).send().await.unwrap();
        let status = resp.status();
        (status, resp.json::<Value>().await.unwrap())
    };

    // Accepted by one server, the same key on the other gives the same job, and another
    // body under it is refused there too.
    let first = create(&a, "a lighthouse").await.unwrap();
    assert_eq!(first.status(), 202);
    let id = first.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = create(&b, "a lighthouse").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    let other = create(&b, "a different lighthouse").await.unwrap();
    assert_eq!(other.status(), 409);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );

    // The other server shows it and lists it (no worker runs here: it waits in the queue).
    let (status, v) = get(format!("{b}/v1/ttv/jobs/{id}")).await;
    assert_eq!(
        (status.as_u16(), v["phase"].as_str()),
        (200, Some("queued")),
        "{v}"
    );
    let (_, all) = get(format!("{b}/v1/ttv/jobs")).await;
    let listed: Vec<&str> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(listed, [id.as_str()], "{all}");

    // Cancelled on one server, it is cancelled on the other, and off the queue.
    let cancelled = http
        .post(format!("{b}/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    let (_, v) = get(format!("{a}/v1/ttv/jobs/{id}")).await;
    assert_eq!(v["phase"], "cancelled", "{v}");
    let store = {
        let u = url.clone();
        tokio::task::spawn_blocking(move || Store::connect(&u).unwrap())
            .await
            .unwrap()
    };
    let key = id.clone();
    let row = tokio::task::spawn_blocking(move || store.queued(&key).unwrap().unwrap())
        .await
        .unwrap();
    assert_ne!(row.state, QueueState::Queued, "{row:?}");
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
    kill9(&mut server_a);
    kill9(&mut server_b);
}
