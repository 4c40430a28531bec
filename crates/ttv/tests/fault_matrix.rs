//! Every hosted backend × every simulator fault, run through the job runner, the store and the
//! layers the registry builds (with `call_timeout` set): the job's final state, the paid
//! submits the simulator counted, and the simulator's own record that the fault really fired.
//! The matrix is printed (`cargo test --test fault_matrix -- --nocapture`).
//!
//! Cells run a few at a time, each against its own simulator (queue time 0, short run time).

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
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

use common::{KEY, google_sim, key_file, layered};

const POLL: Duration = Duration::from_millis(20);
/// The matrix's `remote_api_settings.call_timeout`.
const CALL_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a late answer takes: past the call deadline.
const LATE_MS: u64 = 1800;
/// Cells run at once (each waits mostly on the network and its simulator).
const AT_ONCE: usize = 6;

/// The backend that speaks `provider`'s protocol, inside the layers the registry puts around
/// it; `dir` holds the Vertex key file.
fn backend(sim: &Sim, provider: Provider, dir: &tempfile::TempDir) -> Arc<dyn VideoBackend> {
    let key = Some(ttv::http::ApiKey::new(KEY));
    let base_url = sim.base_url(provider);
    let no_limits = serde_json::json!({});
    let timeout = Some(CALL_TIMEOUT);
    match provider {
        Provider::Runway => layered(
            Runway::new(RunwayOptions {
                api_key: key,
                base_url,
                model: "gen4.5".into(),
                poll_interval: POLL,
            })
            .unwrap(),
            timeout,
            no_limits,
        ),
        Provider::Minimax => layered(
            Minimax::new(MinimaxOptions {
                api_key: key,
                base_url,
                model: "MiniMax-Hailuo-02".into(),
                poll_interval: POLL,
                ..MinimaxOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits,
        ),
        Provider::Fal => layered(
            Fal::new(FalOptions {
                api_key: key,
                base_url,
                platform_url: sim.fal_platform_url(),
                model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video".into(),
                poll_interval: POLL,
                ..FalOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits,
        ),
        Provider::Gemini => layered(
            Veo::new(VeoOptions {
                api_key: key,
                base_url,
                poll_interval: POLL,
                ..VeoOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits,
        ),
        Provider::Kling => layered(
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
            timeout,
            no_limits.clone(),
        ),
        Provider::Luma => layered(
            Luma::new(LumaOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..LumaOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits.clone(),
        ),
        Provider::Replicate => layered(
            Replicate::new(ReplicateOptions {
                api_key: key,
                base_url,
                wait_secs: 0,
                poll_interval: POLL,
                ..ReplicateOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits.clone(),
        ),
        Provider::Seedance => layered(
            Seedance::new(SeedanceOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..SeedanceOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits.clone(),
        ),
        Provider::Dashscope => layered(
            Alibaba::new(AlibabaOptions {
                api_key: key,
                base_url: sim.api_base(provider),
                poll_interval: POLL,
                ..AlibabaOptions::default()
            })
            .unwrap(),
            timeout,
            no_limits.clone(),
        ),
        Provider::Vertex => layered(
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
            timeout,
            no_limits,
        ),
        Provider::OpenAi | Provider::Stability => {
            unreachable!(
                "image providers are not in Provider::ALL (their rows are in tests/images.rs)"
            )
        }
    }
}

/// Whether `provider` has a call of kind `on` (only fal and MiniMax fetch a result apart
/// from the status: fal's result URL, MiniMax's files/retrieve).
fn has(provider: Provider, on: Endpoint) -> bool {
    on != Endpoint::Result || matches!(provider, Provider::Fal | Provider::Minimax)
}

/// One row: a fault on the first call of one endpoint, and what must become of the job.
#[derive(Clone, Copy)]
struct Case {
    on: Endpoint,
    fault: FaultKind,
    delay_ms: u64,
    state: JobState,
    paid: usize,
}

const fn case(on: Endpoint, fault: FaultKind, state: JobState, paid: usize) -> Case {
    Case {
        on,
        fault,
        delay_ms: 1,
        state,
        paid,
    }
}

/// A fault whose answer is later than the call deadline.
const fn late(on: Endpoint, fault: FaultKind, state: JobState, paid: usize) -> Case {
    Case {
        delay_ms: LATE_MS,
        ..case(on, fault, state, paid)
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
        // The provider may have the job: never sent again; it waits to be settled.
        late(Submit, NoAnswer, Unknown, 1),
        late(Submit, SlowBody, Unknown, 1),
        case(Submit, ConnectionReset, Unknown, 1),
        case(Submit, ServerError, Unknown, 1),
        case(Submit, BadGateway, Unknown, 1),
        case(Submit, GatewayTimeout, Unknown, 1),
        // Refused before anything was bought: the job may go to another backend.
        case(Submit, InvalidKey, Created, 0),
        case(Submit, InsufficientBalance, Created, 0),
        case(Submit, Moderation, Created, 0),
        // Reads are retried freely, late ones too.
        case(Poll, RateLimited, Done, 1),
        case(Poll, ServerError, Done, 1),
        case(Poll, Unavailable, Done, 1),
        case(Poll, ConnectionReset, Done, 1),
        case(Poll, SlowBody, Done, 1),
        late(Poll, NoAnswer, Done, 1),
        late(Poll, SlowBody, Done, 1),
        case(Poll, BadGateway, Done, 1),
        case(Poll, GatewayTimeout, Done, 1),
        case(Poll, TaskFailure, Failed, 1),
        case(Poll, Moderation, Failed, 1),
        case(Result, ServerError, Done, 1),
        case(Result, ConnectionReset, Done, 1),
        late(Result, NoAnswer, Done, 1),
        case(Result, BadGateway, Done, 1),
        case(Download, RateLimited, Done, 1),
        case(Download, ServerError, Done, 1),
        case(Download, ConnectionReset, Done, 1),
        case(Download, SlowBody, Done, 1),
        late(Download, NoAnswer, Done, 1),
        case(Download, BadGateway, Done, 1),
        case(Download, GatewayTimeout, Done, 1),
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
        // fal lists the requests it received: ttv finds the lost one and carries on with it.
        (Provider::Fal, Endpoint::Submit, _) if c.state == JobState::Unknown => (JobState::Done, 1),
        _ => (c.state, c.paid),
    }
}

/// What one cell came to.
struct Outcome {
    state: JobState,
    paid: usize,
    fired: bool,
    note: String,
}

async fn run_case(provider: Provider, c: Case) -> Outcome {
    let mut rule = FaultRule::nth(c.on, 1, c.fault).with_retry_after(0);
    rule.delay_ms = Some(c.delay_ms);
    let sim = google_sim(
        SimConfig::default()
            .with_timings(0.0, 0.05)
            .with_fault(provider, rule),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(&sim, provider, &dir);
    // The layers retry; the runner only bounds the whole job.
    let runner = JobRunner::new(Store::in_memory().unwrap(), RetryPolicy::default());
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
    let file = dir.path().join("m.mp4");
    assert_eq!(
        job.state == JobState::Done,
        file.is_file(),
        "{provider}: {:?} @ {:?}: a file exists exactly when the job is done",
        c.fault,
        c.on
    );
    let fired = sim
        .faults_fired()
        .iter()
        .any(|f| f.provider == provider && f.endpoint == c.on && f.fault == c.fault);
    Outcome {
        state: job.state,
        paid: sim.paid_submits(provider),
        fired,
        note: result
            .err()
            .map(|e| e.kind().to_string())
            .unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hosted_backend_meets_every_fault_with_the_expected_outcome() {
    let providers = Provider::ALL;
    let rows = cases();
    let cells: Vec<(usize, Provider)> = (0..rows.len())
        .flat_map(|r| providers.into_iter().map(move |p| (r, p)))
        .filter(|&(r, p)| has(p, rows[r].on))
        .collect();
    // A first cell per provider, one at a time, renders the simulator's videos that all the
    // others share (rendering is the only heavy work; it must not starve the calls).
    for p in providers {
        let _ = run_case(p, rows[0]).await;
    }
    let outcomes: Vec<_> = futures_util::stream::iter(cells.clone())
        .map(|(r, p)| {
            let c = rows[r];
            async move { ((r, p), run_case(p, c).await) }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;

    let mut table = format!("{:<36}", "fault @ endpoint");
    for p in providers {
        table.push_str(&format!(" | {:<26}", p.to_string()));
    }
    table.push('\n');
    let mut wrong = Vec::new();
    for (r, c) in rows.iter().enumerate() {
        let late = if c.delay_ms == LATE_MS { " (late)" } else { "" };
        table.push_str(&format!(
            "{:<36}",
            format!("{:?}{late} @ {:?}", c.fault, c.on)
        ));
        for p in providers {
            let Some((_, o)) = outcomes.iter().find(|(k, _)| *k == (r, p)) else {
                table.push_str(&format!(" | {:<26}", "(no such call)"));
                continue;
            };
            let want = expected(p, c);
            let right = (o.state, o.paid) == want && o.fired;
            if !right {
                wrong.push(format!(
                    "{p}: {:?}{late} @ {:?}: got {}/{} paid ({}), fault fired: {}; want {}/{}",
                    c.fault, c.on, o.state, o.paid, o.note, o.fired, want.0, want.1
                ));
            }
            let note = if o.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.note)
            };
            let mark = if right { "" } else { " ✗" };
            table.push_str(&format!(
                " | {:<26}",
                format!("{}, {} paid{note}{mark}", o.state, o.paid)
            ));
        }
        table.push('\n');
    }
    println!("{table}{} cells", outcomes.len());
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
}
