//! Outputs in object storage (`output.url`): the verified video and then its sidecar land in
//! the S3-compatible server `.ci/run` starts (moto, `TTV_TEST_S3_ENDPOINT`) or a `file://`
//! folder; presigned URLs serve the exact bytes; nothing partial is ever visible under a key;
//! a failed upload is retried by running the job again; no credential leaks.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use ttv::backend::no_events;
use ttv::facade::{Cancel, JobSpec, Jobs, Outcome};
use ttv::output_store::{OutputOptions, OutputStore};
use ttv::{GenerationRequest, VideoDuration};

use common::jobs_in;

/// The S3 secret the tests configure (moto accepts any); it must never show up anywhere.
const SECRET: &str = "moto-secret-never-shown-0123456789";

fn spec(out: &Path, id: &str) -> JobSpec {
    JobSpec {
        out: Some(out.to_path_buf()),
        job_id: Some(id.to_owned()),
        ..JobSpec::new(GenerationRequest {
            duration: Some(VideoDuration::from_secs(2)),
            ..GenerationRequest::text("a paper boat on a rainy street")
        })
    }
}

/// The animatic at 8 fps, its videos stored in bucket `bucket` under `videos/`.
fn s3_config(endpoint: &str, bucket: &str) -> String {
    format!(
        "animatic: {{ fps: 8 }}\noutput:\n  url: s3://{bucket}/videos\n  endpoint: {endpoint}\n  \
         region: us-east-1\n  access_key_id: testing\n  secret_access_key: {SECRET}\n"
    )
}

/// A fresh bucket on `endpoint`; its name.
async fn bucket(endpoint: &str) -> String {
    let options = common::s3_bucket(endpoint).await;
    options
        .store
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn made(jobs: &Jobs, out: &Path, id: &str) -> ttv::facade::Made {
    let plan = jobs.plan(spec(out, id)).await.unwrap();
    match jobs.run(plan, &no_events, &Cancel::new()).await.unwrap() {
        Outcome::Made(made) => *made,
        other => panic!("a new job is made: {other:?}"),
    }
}

/// Every byte of a stream read from the store.
async fn collect(
    stream: futures_util::stream::BoxStream<'static, ttv::Result<bytes::Bytes>>,
) -> Vec<u8> {
    futures_util::TryStreamExt::try_fold(stream, Vec::new(), |mut all, chunk| async move {
        all.extend_from_slice(&chunk);
        Ok(all)
    })
    .await
    .unwrap()
}

/// The keys in `bucket`, read through the S3 listing API.
async fn keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml.split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_video_lands_in_the_bucket_with_its_sidecar_and_its_presigned_url_serves_the_exact_bytes()
{
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let name = bucket(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs_in(dir.path(), &s3_config(&endpoint, &name), &[]);
    let out = dir.path().join("boat.mp4");
    let made = made(&jobs, &out, "boat").await;

    let url = format!("s3://{name}/videos/boat.mp4");
    assert_eq!(made.stored.as_deref(), Some(url.as_str()));
    assert_eq!(made.sidecar.video.url.as_deref(), Some(url.as_str()));
    assert_eq!(jobs.stored_url("boat").await.unwrap(), Some(url.clone()));
    assert_eq!(
        keys(&endpoint, &name).await,
        ["videos/boat.mp4", "videos/boat.mp4.json"],
        "the video and its sidecar, and nothing else"
    );

    // The presigned URL serves exactly the verified local file, a playable 16-frame video.
    let local = std::fs::read(&out).unwrap();
    let store = jobs.output_store().unwrap().expect("an output store");
    let signed = store.presign(&url, None).await.unwrap().expect("S3 signs");
    assert!(
        signed.starts_with(&format!("{endpoint}/{name}/videos/boat.mp4?")),
        "{signed}"
    );
    assert!(signed.contains("X-Amz-Signature="), "{signed}");
    let served = reqwest::get(&signed).await.unwrap();
    assert_eq!(served.status(), 200);
    let served = served.bytes().await.unwrap();
    assert_eq!(served.as_ref(), local.as_slice());
    let copy = dir.path().join("downloaded.mp4");
    std::fs::write(&copy, &served).unwrap();
    let (video, sha256) = ttv::media::probe::verify_file(&copy).unwrap();
    assert_eq!(
        (video.frames, sha256.as_str()),
        (16, made.generated.sha256.as_str())
    );

    // The sidecar next to it says where the video is and what it holds; no secret in it.
    let sidecar_url = store
        .presign(&format!("{url}.json"), Some(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    let text = reqwest::get(&sidecar_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(SECRET));
    let sidecar: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(sidecar["video"]["url"], url.as_str());
    assert_eq!(sidecar["video"]["sha256"], made.generated.sha256.as_str());
    assert_eq!(sidecar["job_id"], "boat");
    let on_disk = std::fs::read_to_string(&made.sidecar_path).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&on_disk).unwrap(), sidecar);
    assert!(!format!("{jobs:?}{store:?}").contains(SECRET));
}

/// A two-segment animatic film run `run_id` over `jobs`, to `dir/out/<run_id>.mp4`.
async fn film(jobs: &Jobs, dir: &Path, run_id: &str) -> ttv::film::FilmMade {
    use ttv::film::{Film, FilmRequest, FilmSettings, Segment, Storyboard};
    let film = Film::new(jobs.clone());
    let request = FilmRequest {
        storyboard: Storyboard {
            size: Some("160x96".into()),
            fps: Some(8),
            segments: ["a paper boat sets off", "it rounds the drain"]
                .iter()
                .map(|p| Segment {
                    prompt: (*p).into(),
                    duration: Some(1.0),
                    ..Segment::default()
                })
                .collect(),
            ..Storyboard::default()
        },
        settings: FilmSettings::default(),
        run_id: Some(run_id.into()),
        out: Some(dir.join(format!("out/{run_id}.mp4"))),
        backend: Some("animatic".into()),
        max_cost_usd: None,
        planning: None,
    };
    let plan = film.plan(&request).await.unwrap();
    film.run(plan, &request, std::sync::Arc::new(|_| {}), &Cancel::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_films_segments_and_the_joined_film_land_in_the_bucket_under_names_of_their_own() {
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let name = bucket(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "output_dir: {}\n{}",
        dir.path().join("out").display(),
        s3_config(&endpoint, &name)
    );
    let jobs = jobs_in(dir.path(), &yaml, &[]);
    let first = film(&jobs, dir.path(), "harbour").await;
    let second = film(&jobs, dir.path(), "drain").await;

    // Every segment under its run's folder (segment_01.mp4 is in every film), each film and
    // each sidecar beside its video.
    let mut expected = Vec::new();
    for run in ["drain", "harbour"] {
        expected.push(format!("videos/{run}.mp4"));
        expected.push(format!("videos/{run}.mp4.json"));
        for n in 1..=2 {
            expected.push(format!("videos/{run}/segment_0{n}.mp4"));
            expected.push(format!("videos/{run}/segment_0{n}.mp4.json"));
        }
    }
    let mut found = keys(&endpoint, &name).await;
    found.sort();
    expected.sort();
    assert_eq!(found, expected);

    // The film's record says where it is, on disk and in the bucket; its presigned URL
    // serves exactly the verified film.
    let url = format!("s3://{name}/videos/harbour.mp4");
    assert_eq!(first.record["video"]["url"], url.as_str());
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(&first.sidecar_path).unwrap()).unwrap();
    assert_eq!(on_disk["video"]["url"], url.as_str());
    let store = jobs.output_store().unwrap().unwrap();
    let (_, stream) = store.read(&format!("{url}.json")).await.unwrap();
    let stored: Value = serde_json::from_slice(&collect(stream).await).unwrap();
    assert_eq!(stored, on_disk);
    let signed = store.presign(&url, None).await.unwrap().unwrap();
    let served = reqwest::get(&signed).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        served.as_ref(),
        std::fs::read(&first.path).unwrap().as_slice()
    );
    assert_eq!(first.record["video"]["frames"], 16, "2 × 1 s at 8 fps");
    assert_eq!(
        second.record["segments"][0]["video"],
        dir.path()
            .join("out/drain/segment_01.mp4")
            .display()
            .to_string()
    );
}

#[tokio::test]
async fn a_large_upload_is_never_visible_under_its_key_until_it_is_whole() {
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let name = bucket(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 MiB: three parts of the multipart upload.
    let big = dir.path().join("big.mp4");
    let bytes: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    let options = OutputOptions {
        access: ttv::services::bucket::BucketOptions {
            endpoint: Some(endpoint.clone()),
            access_key_id: Some(ttv::http::ApiKey::new("testing")),
            secret_access_key: Some(ttv::http::ApiKey::new(SECRET)),
            ..ttv::services::bucket::BucketOptions::new("")
        },
        ..OutputOptions::new(format!("s3://{name}/big"))
    };
    let store = OutputStore::open(&options).unwrap();

    let watch = {
        let object = format!("{endpoint}/{name}/big/big.mp4");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            loop {
                let head = client.head(&object).send().await.unwrap();
                // The header itself: a HEAD response's body is empty.
                let len = head
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                seen.push((head.status().as_u16(), len));
                if head.status() == 200 {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let stored = store.put_video(&big).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("the object appears")
        .unwrap();
    assert_eq!(stored.bytes, bytes.len() as u64);
    for (status, len) in &seen {
        match status {
            404 => {}
            200 => assert_eq!(
                *len,
                Some(bytes.len() as u64),
                "only the whole object shows"
            ),
            other => panic!("unexpected HEAD status {other}: {seen:?}"),
        }
    }
    let (size, stream) = store.read(&stored.url).await.unwrap();
    assert_eq!(size, bytes.len() as u64);
    let got = collect(stream).await;
    assert!(got == bytes, "the stored object holds the file's bytes");
}

#[tokio::test]
async fn a_failed_upload_is_retried_by_running_the_job_again_and_names_no_secret() {
    let Some(endpoint) = common::s3_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("ttv-later-{}", common::uuid_like());
    let jobs = jobs_in(dir.path(), &s3_config(&endpoint, &name), &[]);
    let out = dir.path().join("boat.mp4");
    let plan = jobs.plan(spec(&out, "boat")).await.unwrap();
    let err = jobs
        .run(plan, &no_events, &Cancel::new())
        .await
        .expect_err("the bucket does not exist yet");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        err.to_string().contains(&format!(
            "job boat's video is verified at {}, but storing it in s3://{name}/videos failed",
            out.display()
        )),
        "{err}"
    );
    assert!(out.is_file(), "the verified video stays on disk");
    assert_eq!(jobs.stored_url("boat").await.unwrap(), None);

    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let plan = jobs.plan(spec(&out, "boat")).await.unwrap();
    let Outcome::AlreadyDone(done) = jobs.run(plan, &no_events, &Cancel::new()).await.unwrap()
    else {
        panic!("the job was done; only its upload was missing")
    };
    let url = format!("s3://{name}/videos/boat.mp4");
    assert_eq!(done.stored.as_deref(), Some(url.as_str()));
    assert_eq!(
        keys(&endpoint, &name).await,
        ["videos/boat.mp4", "videos/boat.mp4.json"]
    );
    let local = std::fs::read(&out).unwrap();
    let store = jobs.output_store().unwrap().unwrap();
    let signed = store.presign(&url, None).await.unwrap().unwrap();
    let served = reqwest::get(&signed).await.unwrap().bytes().await.unwrap();
    assert_eq!(served.as_ref(), local.as_slice());
}

#[tokio::test]
async fn a_file_output_gets_the_video_and_its_sidecar_and_no_staging_files() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared/videos");
    let url_base = format!("file://{}", folder.display());
    let yaml = format!("animatic: {{ fps: 8 }}\noutput:\n  url: {url_base}\n");
    let jobs = jobs_in(dir.path(), &yaml, &[]);
    let out = dir.path().join("boat.mp4");
    let made = made(&jobs, &out, "boat").await;

    let url = format!("{url_base}/boat.mp4");
    assert_eq!(made.stored.as_deref(), Some(url.as_str()));
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["boat.mp4", "boat.mp4.json"]);
    let local = std::fs::read(&out).unwrap();
    assert_eq!(std::fs::read(folder.join("boat.mp4")).unwrap(), local);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(folder.join("boat.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["video"]["url"], url.as_str());
    assert_eq!(sidecar["video"]["sha256"], made.generated.sha256.as_str());

    let store = jobs.output_store().unwrap().unwrap();
    assert_eq!(
        store.presign(&url, None).await.unwrap(),
        None,
        "a folder cannot sign"
    );
    let (size, stream) = store.read(&url).await.unwrap();
    assert_eq!(size, local.len() as u64);
    assert_eq!(collect(stream).await, local);
}

#[test]
fn a_bad_output_url_is_a_configuration_error_naming_the_key_the_value_and_the_schemes() {
    let loaded = ttv::config::from_yaml(
        "output:\n  url: s4://x\n",
        &std::collections::HashMap::<String, String>::new(),
    );
    let err = loaded.check().expect_err("s4 is no scheme");
    assert!(
        err.to_string()
            .contains("output.url: \"s4://x\" — allowed schemes: s3, gs, az, file"),
        "{err}"
    );
    let env = std::collections::HashMap::from([(
        ttv::config::OUTPUT_URL_ENV.to_owned(),
        "file:///srv/videos".to_owned(),
    )]);
    let loaded = ttv::config::from_yaml("", &env);
    loaded.check().unwrap();
    assert_eq!(
        loaded.settings.output_store.map(|o| o.url).as_deref(),
        Some("file:///srv/videos")
    );
    let flag = ttv::config::from_yaml("", &std::collections::HashMap::<String, String>::new())
        .output_at("--output-url", "ftp://host/x")
        .unwrap_err();
    assert_eq!(
        flag.to_string(),
        "--output-url: \"ftp://host/x\" — allowed schemes: s3, gs, az, file"
    );
}
