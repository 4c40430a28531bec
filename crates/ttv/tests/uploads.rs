//! Images beyond the data-URI limit: a 12 MB PNG keyframe goes to Runway through its uploads
//! API and to fal through its storage, the simulator refusing oversized data URIs as the
//! providers do; the choice is recorded for the sidecar.

mod common;

use std::time::Duration;

use serde_json::json;
use ttv::GenerationRequest;
use ttv::media::delivery::How;
use ttv::services::fal::{Fal, FalOptions};
use ttv::services::runway::{Runway, RunwayOptions};
use ttv_sim::{Provider, Sim};

use common::{KEY, generate, quick, sim};

fn twelve_mb_png() -> ttv::media::image::ImageInput {
    let img = common::noise_png("image", 2000, 2000);
    assert!(
        img.bytes().len() > 12_000_000,
        "{} bytes",
        img.bytes().len()
    );
    img
}

fn runway(sim: &Sim) -> Runway {
    Runway::new(RunwayOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Runway),
        model: "gen4_turbo".into(),
        poll_interval: Duration::from_millis(50),
    })
    .unwrap()
}

fn fal(sim: &Sim) -> Fal {
    Fal::new(FalOptions {
        api_key: Some(ttv::http::ApiKey::new(KEY)),
        base_url: sim.base_url(Provider::Fal),
        storage_url: sim.fal_storage_url(),
        model: "fal-ai/kling-video/v2.1/standard/image-to-video".into(),
        poll_interval: Duration::from_millis(50),
        ..FalOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_12_mb_png_goes_to_runway_through_the_uploads_api() {
    let sim = sim(quick()).await;
    let image = twelve_mb_png();
    let req = GenerationRequest {
        image: Some(image.clone()),
        ..GenerationRequest::text("noise")
    };
    let (out, _, _dir) = generate(&runway(&sim), &req).await;
    let generated = out.unwrap();
    let records = sim.requests();
    assert_eq!(
        (records[0].method.as_str(), records[0].path.as_str()),
        ("POST", "/runway/v1/uploads")
    );
    assert_eq!(
        records[0].json(),
        json!({ "filename": "image.png", "type": "ephemeral" })
    );
    assert_eq!(records[0].headers["x-runway-version"], "2024-11-06");
    assert!(
        records[1].path.starts_with("/uploads/runway/") && records[1].status == 204,
        "{:?}",
        records[1].path
    );
    assert!(
        !records[1].headers.contains_key("authorization"),
        "the presigned POST carries no key"
    );
    let submit = &records[2];
    assert_eq!(submit.path, "/runway/v1/image_to_video");
    let uri = submit.json()["promptImage"][0]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.starts_with("runway://"), "{uri}");
    assert_eq!(sim.uploads(), vec![(Provider::Runway, image.bytes().len())]);
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!(inputs[0].how, How::Upload);
    assert_eq!(
        (inputs[0].via.as_str(), inputs[0].reference.as_deref()),
        ("runway_uploads", Some(uri.as_str()))
    );
    assert_eq!(sim.paid_submits(Provider::Runway), 1);
}

#[tokio::test]
async fn a_12_mb_png_goes_to_fal_through_its_storage() {
    let sim = sim(quick()).await;
    let image = twelve_mb_png();
    let req = GenerationRequest {
        image: Some(image.clone()),
        ..GenerationRequest::text("noise")
    };
    let (out, _, _dir) = generate(&fal(&sim), &req).await;
    let generated = out.unwrap();
    let records = sim.requests();
    let token = &records[0];
    assert_eq!(token.path, "/uploads/fal-rest/storage/auth/token");
    assert_eq!(token.query.as_deref(), Some("storage_type=fal-cdn-v3"));
    assert_eq!(token.headers["authorization"], format!("Key {KEY}"));
    let upload = &records[1];
    assert_eq!(
        (upload.path.as_str(), upload.status),
        ("/uploads/fal-cdn/files/upload", 200)
    );
    assert!(
        upload.headers["authorization"].starts_with("Bearer ya29.sim-"),
        "a storage token, not the key"
    );
    assert_eq!(upload.headers["x-fal-file-name"], "image.png");
    assert_eq!(upload.headers["content-type"], "image/png");
    let url = records[2].json()["image_url"].as_str().unwrap().to_owned();
    assert!(
        url.contains("/uploads/fal-cdn/files/") && url.ends_with("/image.png"),
        "{url}"
    );
    assert_eq!(sim.uploads(), vec![(Provider::Fal, image.bytes().len())]);
    let inputs = ttv::media::delivery::recorded(&generated.ticket.data);
    assert_eq!(
        (inputs[0].how, inputs[0].via.as_str()),
        (How::Upload, "fal_storage")
    );
}

#[tokio::test]
async fn the_simulator_refuses_oversized_data_uris_as_the_providers_do() {
    let sim = sim(quick()).await;
    let uri = twelve_mb_png().data_uri();
    let client = reqwest::Client::new();
    let runway = client
        .post(format!(
            "{}/v1/image_to_video",
            sim.base_url(Provider::Runway)
        ))
        .bearer_auth(KEY)
        .header("X-Runway-Version", "2024-11-06")
        .json(&json!({ "model": "gen4_turbo", "promptImage": uri, "ratio": "1280:720" }))
        .send()
        .await
        .unwrap();
    assert_eq!(runway.status(), 400);
    let text = runway.text().await.unwrap();
    assert!(text.contains("5MB"), "{text}");
    let fal = client
        .post(format!(
            "{}/fal-ai/kling-video/v2.1/standard/image-to-video",
            sim.base_url(Provider::Fal)
        ))
        .header("Authorization", format!("Key {KEY}"))
        .json(&json!({ "prompt": "x", "image_url": uri }))
        .send()
        .await
        .unwrap();
    assert_eq!(fal.status(), 422);
    assert_eq!(
        sim.paid_submits(Provider::Runway) + sim.paid_submits(Provider::Fal),
        0
    );
}

#[tokio::test]
async fn small_images_stay_inline_and_say_so() {
    let sim = sim(quick()).await;
    let image = common::png("image", [10, 20, 30]);
    let req = GenerationRequest {
        image: Some(image.clone()),
        ..GenerationRequest::text("small")
    };
    let (out, _, _dir) = generate(&runway(&sim), &req).await;
    let inputs = ttv::media::delivery::recorded(&out.unwrap().ticket.data);
    assert_eq!(
        (inputs[0].how, inputs[0].via.as_str()),
        (How::Inline, "data_uri")
    );
    assert_eq!(sim.requests()[0].path, "/runway/v1/image_to_video");
    assert!(sim.uploads().is_empty());
}
