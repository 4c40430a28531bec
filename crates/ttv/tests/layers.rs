//! Library users get the same layers as the job runner: `Registry::new` wraps every backend,
//! so `VideoBackend::generate` retries what may be retried and never buys twice.

mod common;

use std::time::Duration;

use ttv::backend::no_events;
use ttv::layers::LayerSettings;
use ttv::registry::{Registry, RegistrySettings};
use ttv::retry::RetryPolicy;
use ttv::services::runway::RunwayOptions;
use ttv::{ErrorKind, GenerationRequest, Spend, VideoDuration};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

use common::{KEY, sim};

/// The registry a library user builds, pointed at the simulator, with a call deadline.
fn registry(sim: &Sim) -> Registry {
    Registry::new(&RegistrySettings {
        runway: Some(RunwayOptions {
            api_key: Some(ttv::http::ApiKey::new(KEY)),
            base_url: sim.base_url(Provider::Runway),
            model: "gen4.5".into(),
            poll_interval: Duration::from_millis(50),
        }),
        layers: LayerSettings {
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                call_timeout: Some(Duration::from_millis(700)),
                ..RetryPolicy::default()
            },
            ..LayerSettings::default()
        },
        ..RegistrySettings::default()
    })
}

fn request() -> GenerationRequest {
    GenerationRequest {
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("a lighthouse at dusk")
    }
}

#[tokio::test]
async fn generate_retries_a_refused_submit_and_a_broken_download() {
    let sim = sim(SimConfig::default()
        .with_timings(0.0, 0.1)
        .with_fault(
            Provider::Runway,
            FaultRule::nth(Endpoint::Submit, 1, FaultKind::RateLimited).with_retry_after(0),
        )
        .with_fault(
            Provider::Runway,
            FaultRule::nth(Endpoint::Download, 1, FaultKind::TruncatedDownload),
        ))
    .await;
    let runway = registry(&sim).get("backend", "runway").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let made = runway
        .generate(&request(), &dir.path().join("out.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!((made.video.width, made.video.height), (256, 144));
    assert_eq!(made.video.frames, 16, "2 s at the simulator's 8 fps");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    let submits = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::Submit))
        .count();
    assert_eq!(submits, 2, "the 429 was sent again");
    let fired: Vec<_> = sim.faults_fired().iter().map(|f| f.fault).collect();
    assert_eq!(
        fired,
        [FaultKind::RateLimited, FaultKind::TruncatedDownload]
    );
}

#[tokio::test]
async fn generate_never_resends_a_submit_slower_than_the_call_deadline() {
    let mut slow = FaultRule::nth(Endpoint::Submit, 1, FaultKind::SlowBody);
    slow.delay_ms = Some(3_000);
    let sim = sim(SimConfig::default()
        .with_timings(0.0, 0.1)
        .with_fault(Provider::Runway, slow))
    .await;
    let runway = registry(&sim).get("backend", "runway").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = runway
        .generate(&request(), &dir.path().join("out.mp4"), &no_events)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.spend()),
        (ErrorKind::Unsettled, Spend::Maybe)
    );
    assert!(err.to_string().contains("call_timeout"), "{err}");
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    assert_eq!(sim.requests().len(), 1, "nothing else was sent");
    assert!(!dir.path().join("out.mp4").exists());
}
