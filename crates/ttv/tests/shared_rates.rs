//! Request rates shared across processes through PostgreSQL (`TTV_TEST_POSTGRES_URL`): ten
//! independent runners, each with its own connections and its own backends, against a
//! simulated provider that answers 429 beyond N requests per second.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ttv::backend::no_events;
use ttv::layers::LayerSettings;
use ttv::layers::shared_rate::SharedRates;
use ttv::registry::{Registry, RegistrySettings};
use ttv::services::runway::RunwayOptions;
use ttv::{GenerationRequest, VideoDuration};
use ttv_sim::{Provider, SimConfig};

use common::{KEY, fresh_database, postgres_url, sim};

/// The provider's limit in the simulator: requests per second.
const PROVIDER_RPS: u32 = 20;
/// What ttv is configured to send, below the provider's limit as its documentation advises.
const TTV_RPS: f64 = 16.0;
/// Independent runners, each as a separate worker process would be.
const RUNNERS: usize = 10;

fn settings(sim: &ttv_sim::Sim) -> RegistrySettings {
    RegistrySettings {
        runway: Some(RunwayOptions {
            api_key: Some(ttv::http::ApiKey::new(KEY)),
            base_url: sim.base_url(Provider::Runway),
            model: "gen4.5".to_owned(),
            poll_interval: Duration::from_millis(100),
        }),
        layers: LayerSettings {
            retry: ttv::retry::RetryPolicy {
                base_delay: Duration::from_millis(5),
                ..ttv::retry::RetryPolicy::default()
            },
            limits: serde_json::from_value(serde_json::json!({
                "backends": { "runway": { "requests_per_second": TTV_RPS } }
            }))
            .unwrap(),
            adaptive_polling: false,
        },
        ..RegistrySettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_runners_sharing_a_postgres_bucket_stay_under_the_providers_rate_and_get_no_429s() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let db = fresh_database(&admin).await;
    let mut config = SimConfig::default().with_timings(0.0, 0.2);
    config.runway.requests_per_second = Some(PROVIDER_RPS);
    let sim = sim(config).await;
    let settings = settings(&sim);

    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for i in 0..RUNNERS {
        // Each runner connects on its own, as a worker on another machine would.
        let shared = SharedRates::connect(&db).await.unwrap();
        let registry = Registry::with_shared_rates(&settings, &shared);
        let runway = registry.get("backend", "runway").unwrap();
        let out = dir.path().join(format!("clip-{i}.mp4"));
        runs.push(tokio::spawn(async move {
            let request = GenerationRequest {
                duration: Some(VideoDuration::from_secs(5)),
                ..GenerationRequest::text(format!("shot {i}: a lighthouse at dusk"))
            };
            runway.generate(&request, &out, &no_events).await
        }));
    }
    for run in runs {
        let video = run.await.unwrap().expect("every job finishes");
        assert!(video.video.frames > 0);
    }

    let served: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == Some(Provider::Runway))
        .collect();
    let limited: Vec<_> = served
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| {
            (
                r.endpoint,
                r.method.clone(),
                r.path.clone(),
                r.received_at.since_start,
            )
        })
        .collect();
    assert!(limited.is_empty(), "ttv caused 429s: {limited:?}");
    assert_eq!(sim.paid_submits(Provider::Runway), RUNNERS);
    // At most N in any one-second window, counted by the simulator.
    let times: Vec<Duration> = served.iter().map(|r| r.received_at.since_start).collect();
    let busiest = times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|t| **t >= *start && **t - *start < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= PROVIDER_RPS as usize,
        "{busiest} requests in one second"
    );
    // And the runners really shared one bucket: the calls took as long as one bucket allows
    // (ten separate buckets would have gone ten times as fast).
    let first = times.iter().min().unwrap();
    let last = times.iter().max().unwrap();
    let floor = Duration::from_secs_f64((times.len() - 1) as f64 / TTV_RPS * 0.9);
    assert!(
        *last - *first >= floor,
        "{} calls in {:?}, faster than {TTV_RPS}/s",
        times.len(),
        *last - *first
    );
}

#[tokio::test]
async fn booking_spaces_requests_by_the_period_after_the_burst_across_connections() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let db = fresh_database(&admin).await;
    let (a, b) = (
        SharedRates::connect(&db).await.unwrap(),
        Arc::new(SharedRates::connect(&db).await.unwrap()),
    );
    // A second connect finds the table made by the first.
    let period = Duration::from_millis(100);
    let tolerance = Duration::from_millis(100); // a burst of two
    let started = std::time::Instant::now();
    let mut waits = Vec::new();
    for i in 0..6 {
        let rates = if i % 2 == 0 { &a } else { b.as_ref() };
        let wait = rates.book("fal", period, tolerance).await.unwrap();
        waits.push((wait, started.elapsed()));
    }
    // Two at once, then one every 100 ms: each wait is its slot less the time the bookings
    // before it took.
    let slack = Duration::from_millis(5);
    for (i, (wait, elapsed)) in waits.iter().enumerate() {
        let slot = period * u32::try_from(i.saturating_sub(1)).unwrap();
        assert!(*wait <= slot + slack, "booking {i}: {waits:?}");
        assert!(*wait + *elapsed + slack >= slot, "booking {i}: {waits:?}");
    }
    assert_eq!(waits[1].0, Duration::ZERO, "the burst: {waits:?}");
    // Another backend has its own bucket.
    assert_eq!(
        a.book("runway", period, Duration::ZERO).await.unwrap(),
        Duration::ZERO
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_rate_database_is_gone_a_call_fails_as_retryable_having_sent_nothing() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let db = fresh_database(&admin).await;
    let sim = sim(SimConfig::default().with_timings(0.0, 0.2)).await;
    let shared = SharedRates::connect(&db).await.unwrap();
    let registry = Registry::with_shared_rates(&settings(&sim), &shared);
    let runway = registry.get("backend", "runway").unwrap();

    // The database goes away under the connected pool: its sessions are ended and it is
    // dropped, so neither the pooled connections nor new ones reach it.
    let name = url::Url::parse(&db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;

    let dir = tempfile::tempdir().unwrap();
    let request = GenerationRequest {
        duration: Some(VideoDuration::from_secs(5)),
        ..GenerationRequest::text("a lighthouse at dusk")
    };
    let err = runway
        .generate(&request, &dir.path().join("clip.mp4"), &no_events)
        .await
        .expect_err("no token, no request");
    assert_eq!(err.kind(), ttv::ErrorKind::Transient, "{err}");
    assert_eq!(err.spend(), ttv::Spend::No, "{err}");
    assert!(err.to_string().contains("rate-limit database"), "{err}");
    // Nothing reached the provider, paid or not.
    assert_eq!(sim.paid_submits(Provider::Runway), 0);
    let sent = sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == Some(Provider::Runway))
        .count();
    assert_eq!(sent, 0);
}
