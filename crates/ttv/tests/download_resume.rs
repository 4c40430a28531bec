//! A download broken off at any byte continues from exactly there: whatever part of the video
//! is already in the file, `http::download` asks the simulator's storage for the rest with
//! `Range` and the file ends as the very bytes the simulator serves.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use ttv::backend::no_events;
use ttv::services::runway::{Runway, RunwayOptions};
use ttv::{GenerationRequest, Output, Status, VideoBackend};
use ttv_sim::{Endpoint, Provider, Sim, SimConfig};

use common::{KEY, sim};

/// A finished simulated task's output URL and the bytes served there.
async fn served(sim: &Sim) -> (String, Vec<u8>) {
    let runway = Runway::new(RunwayOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Runway),
        model: "gen4.5".into(),
        poll_interval: Duration::from_millis(10),
    })
    .unwrap();
    let req = GenerationRequest::text("a kite");
    let ticket = runway
        .submit(&req, &runway.validate(&req).unwrap())
        .await
        .unwrap();
    let url = loop {
        if let Status::Succeeded {
            output: Output::Url { url },
            ..
        } = runway.poll(&ticket).await.unwrap()
        {
            break url;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    (url, bytes.to_vec())
}

#[test]
fn a_download_continues_from_any_offset_to_the_exact_bytes_served() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(sim(SimConfig::default().with_timings(0.0, 0.0)));
    let (url, video) = rt.block_on(served(&sim));
    let client = ttv::http::client().unwrap();
    let len = video.len();
    proptest!(ProptestConfig::with_cases(24), |(have in 0..len)| {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("part");
        std::fs::write(&into, &video[..have]).unwrap();
        sim.clear_requests();
        let got = rt
            .block_on(ttv::http::download(&client, &url, &into, &no_events))
            .unwrap();
        prop_assert_eq!(got, len as u64);
        prop_assert!(std::fs::read(&into).unwrap() == video, "resumed at {} of {}", have, len);
        let asked = sim.requests();
        prop_assert_eq!(asked.len(), 1);
        prop_assert_eq!(asked[0].endpoint, Some(Endpoint::Download));
        let range = asked[0].headers.get("range").cloned();
        prop_assert_eq!(range, (have > 0).then(|| format!("bytes={have}-")));
        prop_assert_eq!(asked[0].status, if have > 0 { 206 } else { 200 });
    });
}
