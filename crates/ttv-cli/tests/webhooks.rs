//! `ttv generate --webhook-url`: the command's own listener takes MiniMax's challenge and
//! callback, and the job is noticed through it with polling effectively off; bad webhook
//! options exit 2 naming the option.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv_sim::{Endpoint, Provider, Sim, SimConfig};

const KEY: &str = "sim-cli-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_listens_for_the_minimax_callback_and_notices_the_job_through_it() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 256,
        ..SimConfig::default().with_timings(0.0, 1.0)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Polling every 10 minutes: only the callback can finish the job in time.
    std::fs::write(
        dir.path().join("ttv.yaml"),
        "remote_api_settings:\n  polling_interval: 600\n",
    )
    .unwrap();
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = common::ttv(dir.path());
    cmd.env("MINIMAX_API_KEY", KEY)
        .env("MINIMAX_API_HOST", sim.base_url(Provider::Minimax))
        .args(["generate", "-b", "minimax", "-p", "a fox in the snow"])
        .args(["--webhook-url", &url, "-o", "fox.mp4"])
        .timeout(Duration::from_secs(120));
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "listening for webhooks on http://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(dir.path().join("fox.mp4").exists());
    let records = sim.requests();
    assert_eq!(
        records[0].json()["callback_url"],
        json!(format!("{url}/webhooks/minimax"))
    );
    let polls = records
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Poll))
        .count();
    assert_eq!(polls, 2, "one at submit, one on the callback");
    let sent = sim.webhooks();
    assert!(
        sent.len() >= 2 && sent.iter().all(|s| s.status == 200),
        "{sent:?}"
    );
    assert_eq!(sim.paid_submits(Provider::Minimax), 1);
}

#[test]
fn bad_webhook_options_exit_2_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ttv(dir.path())
        .args(["generate", "-p", "x", "--webhook-url", "ftp://example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--webhook-url") && stderr.contains("ftp://example.com"),
        "{stderr}"
    );
    let out = common::ttv(dir.path())
        .args([
            "generate",
            "-p",
            "x",
            "--webhook-url",
            "https://abc.tunnel.example",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--webhook-listen") && stderr.contains("names no port"),
        "{stderr}"
    );
}
