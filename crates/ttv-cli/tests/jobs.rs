//! `ttv generate --job-id` and `ttv jobs ...` against the simulator: an ambiguous submit is
//! not repeated, `resolve` settles it, re-running a done job pays nothing, and `spend` sums it.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sim-jobs-key";

fn ttv(dir: &Path, base: &str, args: &[&str]) -> Output {
    common::ttv(dir)
        .env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", base)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const GENERATE: &[&str] = &[
    "--json",
    "generate",
    "--backend",
    "runway",
    "-p",
    "a tram in the fog",
    "-d",
    "2",
    "--out",
    "tram.mp4",
    "--job-id",
    "tram",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_submit_waits_for_resolve_and_a_job_id_never_pays_twice() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0).with_fault(
            Provider::Runway,
            FaultRule::nth(Endpoint::Submit, 1, FaultKind::ServerError),
        )
    })
    .await
    .unwrap();
    let base = sim.base_url(Provider::Runway);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_owned();
    let run = |args: Vec<&'static str>| {
        let (dir, base) = (dir.clone(), base.clone());
        tokio::task::spawn_blocking(move || ttv(&dir, &base, &args))
    };

    // The submit fails with a 500 after the simulator created the task: unknown, not retried,
    // and the run ends with its own exit code.
    let out = run(GENERATE.to_vec()).await.unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = json(&out);
    assert_eq!(err["error"]["kind"], "unsettled");
    assert_eq!(err["error"]["spend"], "maybe");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ttv jobs resolve tram --submitted TASK_ID"),
        "{err}"
    );
    let list = json(&run(vec!["--json", "jobs", "list"]).await.unwrap());
    assert_eq!(list[0]["id"], "tram");
    assert_eq!(list[0]["state"], "unknown");

    // Running the same job again sends nothing.
    let again = run(GENERATE.to_vec()).await.unwrap();
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(sim.requests().len(), 1);

    // A different request under the same id is refused.
    let mut other = GENERATE.to_vec();
    other[5] = "a bus in the rain";
    let refused = run(other).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("different request"));

    // Settled as never submitted: the next run submits it and finishes.
    let settled = run(vec!["--json", "jobs", "resolve", "tram", "--not-submitted"])
        .await
        .unwrap();
    assert_eq!(json(&settled)["state"], "created");
    let made = run(GENERATE.to_vec()).await.unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let made = json(&made);
    assert_eq!(
        (made["status"].as_str(), made["job_id"].as_str()),
        (Some("succeeded"), Some("tram"))
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 2);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tram.mp4.json")).unwrap()).unwrap();
    let attempts: Vec<&str> = sidecar["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        attempts,
        ["submit_ambiguous", "resolve_not_submitted", "submitted"]
    );

    // Once done, the same id reports the video and buys nothing.
    let done = json(&run(GENERATE.to_vec()).await.unwrap());
    assert_eq!(done["already_done"], true);
    assert_eq!(sim.paid_submits(Provider::Runway), 2);

    let show = json(&run(vec!["--json", "jobs", "show", "tram"]).await.unwrap());
    let events: Vec<&str> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "created",
            "begin_submit",
            "submit_ambiguous",
            "resolve_not_submitted",
            "begin_submit",
            "submitted",
            "downloading",
            "done"
        ]
    );
    assert_eq!(show["submits"], 2);

    // The ledger counts Runway's charge in credits, converted at the price table's rate.
    let spend = json(&run(vec!["--json", "spend"]).await.unwrap());
    assert_eq!(spend["lines"][0]["backend"], "runway");
    assert_eq!(spend["lines"][0]["jobs"], 1);
    assert_eq!(spend["jobs"][0]["basis"], "charged_in_credits");
    let micros = |v: &Value| v["micros"].as_i64().unwrap();
    let converted = micros(&show["charged"]) * micros(&show["estimate"]["usd"])
        / micros(&show["estimate"]["native"]);
    assert_eq!(micros(&spend["total"]), converted);
    assert!(converted > 0 && converted != micros(&show["estimate"]["usd"]));
}
