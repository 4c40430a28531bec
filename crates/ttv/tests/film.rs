//! The film pipeline end to end in the library: chained segments start on the exact last
//! frame of the one before; keyframe mode makes segments in parallel on two simulated
//! providers and the animatic at different sizes and joins them into one film.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use common::psnr;
use image::RgbImage;
use ttv::facade::{Cancel, Jobs};
use ttv::film::{
    Film, FilmEvent, FilmEvents, FilmRequest, FilmSettings, GenerationMode, Segment, Storyboard,
};
use ttv::media::frames::{self, Which};
use ttv::registry::Registry;
use ttv::store::Store;
use ttv_sim::{Provider, Sim, SimConfig};

const KEY: &str = "sim-film-key";

fn film(dir: &Path, yaml: &str, env: HashMap<String, String>) -> Film {
    let yaml = format!("output_dir: {}\n{yaml}", dir.join("out").display());
    let loaded = ttv::config::from_yaml(&yaml, &env);
    loaded.check().unwrap();
    let registry = Registry::new(&loaded.settings.registry);
    let store = Store::open_in(&dir.join("data")).unwrap();
    Film::new(
        Jobs::new(loaded.settings, registry)
            .with_store(store)
            .unwrap(),
    )
}

fn events() -> (FilmEvents, Arc<std::sync::Mutex<Vec<FilmEvent>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    (
        Arc::new(move |e: FilmEvent| sink.lock().unwrap().push(e)),
        seen,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_segments_start_on_the_previous_segments_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let film = film(
        dir.path(),
        "default_backend: animatic\nbase_seed: 7\n",
        HashMap::new(),
    );
    // The film starts from a picture; each segment holds the camera still, so the check is
    // of the hand-over alone.
    let start = dir.path().join("start.png");
    RgbImage::from_fn(256, 144, |x, y| {
        image::Rgb([
            (x % 256) as u8,
            (y * 255 / 143) as u8,
            ((x + y) / 2 % 256) as u8,
        ])
    })
    .save(&start)
    .unwrap();
    let mut extra = serde_json::Map::new();
    extra.insert("camera".into(), "static".into());
    let board = Storyboard {
        size: Some("256x144".into()),
        fps: Some(12),
        segments: [
            "a lighthouse at dusk",
            "the beam sweeps the sea",
            "a ship turns home",
        ]
        .iter()
        .map(|p| Segment {
            prompt: (*p).into(),
            duration: Some(1.0),
            extra: extra.clone(),
            ..Segment::default()
        })
        .collect(),
        ..Storyboard::default()
    };
    let request = FilmRequest {
        storyboard: board,
        settings: FilmSettings {
            mode: GenerationMode::Chaining,
            initial_image: Some(start),
            ..FilmSettings::default()
        },
        run_id: Some("chain-1".into()),
        out: Some(dir.path().join("chain.mp4")),
        backend: None,
        max_cost_usd: None,
        planning: None,
    };
    let plan = film.plan(&request).await.unwrap();
    let (sink, seen) = events();
    let made = film
        .run(plan, &request, sink, &Cancel::new())
        .await
        .unwrap();

    let segment = |n: usize| dir.path().join(format!("out/chain-1/segment_{n:02}.mp4"));
    for n in 2..=3 {
        let last = frames::extract_frame(&segment(n - 1), Which::Last).unwrap();
        let first = frames::extract_frame(&segment(n), Which::First).unwrap();
        let db = psnr(&last, &first);
        println!("segment {n}: {db:.1} dB");
        assert!(
            db >= 40.0,
            "segment {n} starts {db:.1} dB from segment {}'s end",
            n - 1
        );
    }
    assert_eq!(made.record["totals"]["segments"], 3);
    assert_eq!(made.record["video"]["frames"], 36, "3 × 1 s at 12 fps");
    let done = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e,
                FilmEvent::Segment {
                    state: ttv::film::SegmentState::Done,
                    ..
                }
            )
        })
        .count();
    assert_eq!(done, 3);
    assert_eq!(made.record["segments"][1]["job_id"], "chain-1-s02");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_segments_on_two_providers_and_the_animatic_join_into_one_film() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.5)
    })
    .await
    .unwrap();
    let env: HashMap<String, String> = [
        // Sub-second simulated jobs: the providers' fixed intervals, not adaptive polling.
        ("TTV_ADAPTIVE_POLLING", "false".to_owned()),
        ("RUNWAYML_API_SECRET", KEY.to_owned()),
        ("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway)),
        ("GEMINI_API_KEY", KEY.to_owned()),
        ("GOOGLE_GEMINI_BASE_URL", sim.base_url(Provider::Gemini)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let film = film(dir.path(), "", env);
    let segment = |prompt: &str, backend: &str, duration: f64| Segment {
        prompt: prompt.into(),
        backend: Some(backend.into()),
        duration: Some(duration),
        ..Segment::default()
    };
    let board = Storyboard {
        size: Some("256x144".into()),
        fps: Some(8),
        segments: vec![
            segment("a kite rises", "runway", 2.0),
            segment("the kite loops", "veo", 4.0),
            segment("the kite lands", "animatic", 2.0),
        ],
        ..Storyboard::default()
    };
    let request = FilmRequest {
        storyboard: board,
        settings: FilmSettings {
            parallel: 3,
            ..FilmSettings::default()
        },
        run_id: Some("kites".into()),
        out: Some(dir.path().join("kites.mp4")),
        backend: None,
        max_cost_usd: None,
        planning: None,
    };
    let plan = film.plan(&request).await.unwrap();
    assert!(plan.total.micros > 0, "hosted segments cost something");
    let (sink, _) = events();
    let made = film
        .run(plan, &request, sink, &Cancel::new())
        .await
        .unwrap();

    assert_eq!(sim.paid_submits(Provider::Runway), 1);
    assert_eq!(sim.paid_submits(Provider::Gemini), 1);
    // Three sizes (runway's, veo's and the animatic's), normalised to the film's.
    let sizes: Vec<_> = (1..=3)
        .map(|n| {
            let path = dir.path().join(format!("out/kites/segment_{n:02}.mp4"));
            ttv::media::probe::verify_file(&path).unwrap().0
        })
        .map(|v| (v.width, v.height, v.frames))
        .collect();
    let film_bytes = std::fs::read(dir.path().join("kites.mp4")).unwrap();
    let mut count = 0;
    frames::for_each_frame(&film_bytes, |_, frame| {
        assert_eq!(frame.dimensions(), (256, 144));
        count += 1;
        Ok(())
    })
    .unwrap();
    let expected: u64 = sizes.iter().map(|s| s.2).sum();
    assert_eq!(count as u64, expected, "every segment's frames: {sizes:?}");
    assert_eq!(count, 64, "8 s at 8 fps");
    assert_eq!(made.record["video"]["frames"], 64);
    assert_eq!(made.record["join"]["method"], "normalised");
    let backends: Vec<_> = made.record["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["backend"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backends, ["runway", "veo", "animatic"]);
}
