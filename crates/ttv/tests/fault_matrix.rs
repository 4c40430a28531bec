//! Every hosted backend × every simulator fault, run through the job runner and the store:
//! the job's final state and the paid submits the simulator counted. The matrix is printed
//! (`cargo test --test fault_matrix -- --nocapture`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use ttv::backend::no_events;
use ttv::jobs::JobRunner;
use ttv::retry::RetryPolicy;
use ttv::services::alibaba::{Alibaba, AlibabaOptions};
use ttv::services::fal::{Fal, FalOptions};
use ttv::services::kling::auth::Credentials;
use ttv::services::kling::{Kling, KlingOptions};
use ttv::services::luma::{Luma, LumaOptions};
use ttv::services::minimax::{Minimax, MinimaxOptions};
use ttv::services::replicate::{Replicate, ReplicateOptions};
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::services::seedance::{Seedance, SeedanceOptions};
use ttv::services::veo::{Veo, VeoOptions};
use ttv::store::{JobState, NewJob, Store};
use ttv::{GenerationRequest, VideoBackend};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, google_sim, key_file};

const POLL: Duration = Duration::from_millis(20);

/// The backend that speaks `provider`'s protocol; `dir` holds the Vertex key file.
fn backend(sim: &Sim, provider: Provider, dir: &tempfile::TempDir) -> Arc<dyn VideoBackend> {
    let key = Some(ttv::http::ApiKey::new(KEY));
    let base_url = sim.base_url(provider);
    match provider {
        Provider::Runway => Arc::new(
            Runway::new(RunwayOptions {
                api_key: key,
                base_url,
                model: "gen4.5".into(),
                poll_interval: POLL,
            })
            .unwrap(),
        ),
        Provider::Minimax => Arc::new(
            Minimax::new(MinimaxOptions {
                api_key: key,
                base_url,
                model: "MiniMax-Hailuo-02".into(),
                poll_interval: POLL,
            })
            .unwrap(),
        ),
        Provider::Fal => Arc::new(
            Fal::new(FalOptions {
                api_key: key,
                base_url,
                model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video".into(),
                poll_interval: POLL,
                ..FalOptions::default()
            })
            .unwrap(),
        ),
        Provider::Gemini => Arc::new(
            Veo::new(VeoOptions {
                api_key: key,
                base_url,
                poll_interval: POLL,
                ..VeoOptions::default()
            })
            .unwrap(),
        ),
        Provider::Kling => Arc::new(
            Kling::new(KlingOptions {
                credentials: Credentials {
                    access_key: key,
                    secret_key: Some(ttv::http::ApiKey::new("sim-secret")),
                    api_key: None,
                },
                base_url,
                poll_interval: POLL,
                ..KlingOptions::default()
            })
            .unwrap(),
        ),
        Provider::Luma => Arc::new(
            Luma::new(LumaOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..LumaOptions::default()
            })
            .unwrap(),
        ),
        Provider::Replicate => Arc::new(
            Replicate::new(ReplicateOptions {
                api_key: key,
                base_url,
                wait_secs: 0,
                poll_interval: POLL,
                ..ReplicateOptions::default()
            })
            .unwrap(),
        ),
        Provider::Seedance => Arc::new(
            Seedance::new(SeedanceOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..SeedanceOptions::default()
            })
            .unwrap(),
        ),
        Provider::Dashscope => Arc::new(
            Alibaba::new(AlibabaOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..AlibabaOptions::default()
            })
            .unwrap(),
        ),
        Provider::Vertex => Arc::new(
            Veo::new(VeoOptions {
                credentials_path: Some(key_file(sim, dir)),
                project_id: Some("sim-project".into()),
                vertex_base_url: Some(base_url.clone()),
                storage_base_url: base_url,
                output_bucket: Some("gs://sim-bucket/matrix".into()),
                poll_interval: POLL,
                ..VeoOptions::default()
            })
            .unwrap(),
        ),
    }
}

/// One row: a fault on the first call of one endpoint, and what must become of the job.
struct Case {
    on: Endpoint,
    fault: FaultKind,
    state: JobState,
    paid: usize,
}

const fn case(on: Endpoint, fault: FaultKind, state: JobState, paid: usize) -> Case {
    Case {
        on,
        fault,
        state,
        paid,
    }
}

fn cases() -> Vec<Case> {
    use Endpoint::*;
    use FaultKind::*;
    use JobState::{Created, Done, Failed, Unknown};
    vec![
        // Provably not received: retried, one purchase.
        case(Submit, RateLimited, Done, 1),
        case(Submit, Unavailable, Done, 1),
        case(Submit, SlowBody, Done, 1),
        // The provider may have the job: never sent again, a person decides.
        case(Submit, ServerError, Unknown, 1),
        case(Submit, ConnectionReset, Unknown, 1),
        // Refused before anything was bought: the job may go to another backend.
        case(Submit, InvalidKey, Created, 0),
        case(Submit, InsufficientBalance, Created, 0),
        case(Submit, Moderation, Created, 0),
        // Reads are retried freely.
        case(Poll, RateLimited, Done, 1),
        case(Poll, ServerError, Done, 1),
        case(Poll, Unavailable, Done, 1),
        case(Poll, ConnectionReset, Done, 1),
        case(Poll, SlowBody, Done, 1),
        case(Poll, TaskFailure, Failed, 1),
        case(Poll, Moderation, Failed, 1),
        case(Result, ServerError, Done, 1),
        case(Result, ConnectionReset, Done, 1),
        case(Download, RateLimited, Done, 1),
        case(Download, ServerError, Done, 1),
        case(Download, ConnectionReset, Done, 1),
        case(Download, SlowBody, Done, 1),
        case(Download, TruncatedDownload, Done, 1),
        case(Download, ExpiredUrl, Done, 1),
    ]
}

/// Known, deliberate differences between providers' protocols.
fn expected(provider: Provider, c: &Case) -> (JobState, usize) {
    match (provider, c.on, c.fault) {
        // Runway, Luma and Replicate create the task and then fail it for moderation: it was
        // bought.
        (
            Provider::Runway | Provider::Luma | Provider::Replicate,
            Endpoint::Submit,
            FaultKind::Moderation,
        ) => (JobState::Failed, 1),
        // Veo's safety filter runs on the operation: it is created, then ends filtered.
        (Provider::Gemini | Provider::Vertex, Endpoint::Submit, FaultKind::Moderation) => {
            (JobState::Failed, 1)
        }
        // Google answers both rate limits and spent quota with 429 RESOURCE_EXHAUSTED: on a
        // submit ttv treats it as quota, worth another backend, and buys nothing.
        (Provider::Gemini | Provider::Vertex, Endpoint::Submit, FaultKind::RateLimited) => {
            (JobState::Created, 0)
        }
        // A refused access token is renewed and the submit sent again: it never got in.
        (Provider::Vertex, Endpoint::Submit, FaultKind::InvalidKey) => (JobState::Done, 1),
        _ => (c.state, c.paid),
    }
}

async fn run_case(provider: Provider, c: &Case) -> (JobState, usize, String) {
    let mut rule = FaultRule::nth(c.on, 1, c.fault).with_retry_after(0);
    rule.delay_ms = Some(1);
    let sim = google_sim(
        SimConfig::default()
            .with_timings(0.0, 0.05)
            .with_fault(provider, rule),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(&sim, provider, &dir);
    let runner = JobRunner::new(
        Store::in_memory().unwrap(),
        RetryPolicy {
            base_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
    );
    let req = GenerationRequest::text("a harbour at night");
    runner
        .create(NewJob {
            id: "m".into(),
            backend: backend.id().into(),
            model: backend.model().map(str::to_owned),
            request: serde_json::to_value(&req).unwrap(),
            resolved: backend.validate(&req).unwrap(),
            estimate: backend.estimate_cost(&req).unwrap(),
            out: dir.path().join("m.mp4"),
        })
        .await
        .unwrap();
    let result = runner
        .run(backend.as_ref(), "m", Some(&req), &no_events)
        .await;
    let job = runner.job("m").await.unwrap();
    if job.state == JobState::Done {
        assert!(dir.path().join("m.mp4").is_file());
    }
    let note = result
        .err()
        .map(|e| e.kind().to_string())
        .unwrap_or_default();
    (job.state, sim.paid_submits(provider), note)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hosted_backend_meets_every_fault_with_the_expected_outcome() {
    let providers = Provider::ALL;
    let mut table = format!("{:<32}", "fault @ endpoint");
    for p in providers {
        table.push_str(&format!(" | {:<34}", p.to_string()));
    }
    table.push('\n');
    let mut wrong = Vec::new();
    for c in cases() {
        table.push_str(&format!("{:<32}", format!("{:?} @ {:?}", c.fault, c.on)));
        for p in providers {
            let (state, paid, note) = run_case(p, &c).await;
            let want = expected(p, &c);
            let mark = if (state, paid) == want { "" } else { " ✗" };
            if !mark.is_empty() {
                wrong.push(format!(
                    "{p}: {:?} @ {:?}: got {state}/{paid} paid ({note}), want {}/{}",
                    c.fault, c.on, want.0, want.1
                ));
            }
            table.push_str(&format!(
                " | {:<34}",
                format!(
                    "{state}, {paid} paid{}{mark}",
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(" ({note})")
                    }
                )
            ));
        }
        table.push('\n');
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
}
