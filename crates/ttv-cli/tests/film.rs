//! `ttv film`: a previz film from a prompt on a clean machine, the plan with its estimates,
//! a run killed with SIGKILL and resumed without paying twice, and the original pipeline's
//! sample configuration running unchanged against the simulator.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use ttv::film::Storyboard;
use ttv::media::frames::{self, Which};
use ttv::store::{JobState, Store};
use ttv_sim::{Provider, Sim, SimConfig};

const KEY: &str = "sim-film-key";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn frame_count(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    frames::for_each_frame(&bytes, |_, _| Ok(())).unwrap()
}

async fn output(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[test]
fn a_prompt_becomes_a_multi_scene_film_on_the_animatic_with_no_keys() {
    let dir = tempfile::tempdir().unwrap();
    // Small frames keep the test quick; the film is the README's showcase otherwise.
    std::fs::write(dir.path().join("ttv.yaml"), "size: 256x144\n").unwrap();
    let out = common::ttv(dir.path())
        .args([
            "film",
            "run",
            "--run-id",
            "harbour",
            "--duration",
            "30",
            "--prompt",
        ])
        .arg(
            "A foggy harbour at dawn, watercolour style. A ferry leaves the pier. Gulls follow it. \
             The sun breaks through the fog. Children wave from the quay. The ferry vanishes.",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let film = dir.path().join("harbour.mp4");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        film.display().to_string()
    );
    assert_eq!(frame_count(&film), 720, "6 segments × 5 s × 24 fps");
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("harbour.mp4.json")).unwrap())
            .unwrap();
    assert_eq!(record["totals"]["segments"], 6);
    assert_eq!(record["video"]["width"], 256);
    let segments = record["segments"].as_array().unwrap();
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["job_id"], format!("harbour-s{:02}", i + 1));
        assert_eq!(s["backend"], "animatic");
        assert!(Path::new(s["sidecar"].as_str().unwrap()).is_file());
    }
    // Scenes, not one card: each segment ends on its own keyframe.
    let last = |n: usize| {
        frames::extract_frame(
            &dir.path().join(format!("harbour/segment_{n:02}.mp4")),
            Which::Last,
        )
        .unwrap()
    };
    assert_ne!(last(1).as_raw(), last(2).as_raw());

    // list and show know the run; running it again pays nothing and changes nothing.
    let list = common::ttv(dir.path())
        .args(["--json", "film", "list"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["films"][0]["id"], "harbour");
    assert_eq!(list["films"][0]["state"], "done");
    let again = common::ttv(dir.path())
        .args(["--json", "film", "resume", "harbour"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["status"], "already_done");
}

#[test]
fn film_plan_writes_an_editable_storyboard_with_every_estimate_and_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        common::ttv(dir.path())
            .env("RUNWAYML_API_SECRET", "rw-test")
            .args(["film", "plan", "--backend", "runway", "--duration", "15"])
            .args(["--segment-duration", "5", "--prompt"])
            .arg("Night market, neon light. A cook flips noodles. Steam rises. A cat steals a prawn.")
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    let board = Storyboard::parse(&yaml, "plan", Path::new(".")).unwrap();
    assert_eq!(board.style.as_deref(), Some("Night market, neon light."));
    assert_eq!(board.segments.len(), 3);
    for seg in &board.segments {
        assert_eq!(seg.estimate.as_ref().unwrap()["backend"], "runway");
        assert!(seg.estimate.as_ref().unwrap()["usd"].as_f64().unwrap() > 0.0);
    }
    let totals = board.estimate.as_ref().unwrap();
    assert_eq!(totals["segments"], 3);
    assert_eq!(totals["budget"], "within every budget");
    assert!(stderr(&out).contains("3 segments (keyframe), estimated $"));
    assert!(
        !dir.path().join(".ttv-data").exists(),
        "a plan touches no store"
    );

    let capped = run(&["--max-cost", "0.01"]);
    assert!(capped.status.success());
    let board = Storyboard::parse(
        &String::from_utf8_lossy(&capped.stdout),
        "p",
        Path::new("."),
    )
    .unwrap();
    let budget = board.estimate.unwrap()["budget"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        budget.starts_with("over budget: the run is estimated at $"),
        "{budget}"
    );
    assert!(budget.contains("over --max-cost $0.01"), "{budget}");

    // A run over --max-cost stops before anything is recorded or sent.
    let refused = common::ttv(dir.path())
        .env("RUNWAYML_API_SECRET", "rw-test")
        .args([
            "film",
            "run",
            "--backend",
            "runway",
            "--max-cost",
            "0.01",
            "-p",
            "a b. c d.",
        ])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(3),
        "as generate's budget refusals: {}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("over --max-cost"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn bad_film_input_names_the_field_the_value_and_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("board.yaml"),
        "segments:\n  - prompt: a\n    duration: -2\n  - prompt: b\n    first_frame: nope.png\n",
    )
    .unwrap();
    let out = common::ttv(dir.path())
        .args(["film", "plan", "--storyboard", "board.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("segments[0].duration"), "{err}");
    assert!(err.contains("segments[1].first_frame"), "{err}");
    let out = common::ttv(dir.path())
        .args(["film", "run", "--mode", "sideways", "-p", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keyframe or chaining"),
        "{}",
        stderr(&out)
    );
}

fn sim_cmd(dir: &Path, sim: &Sim) -> std::process::Command {
    let mut cmd = common::ttv_std(dir);
    cmd.env("TTV_DATA_DIR", dir.join("data"))
        .env("RUNWAYML_API_SECRET", KEY)
        .env("RUNWAYML_BASE_URL", sim.base_url(Provider::Runway))
        .env("GEMINI_API_KEY", KEY)
        .env("GOOGLE_GEMINI_BASE_URL", sim.base_url(Provider::Gemini))
        .stdin(Stdio::null());
    cmd
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_film_killed_mid_run_resumes_with_one_paid_submit_per_segment() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 1.5)
    })
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let store = Store::open_in(&dir.join("data")).unwrap();
    let mut child = sim_cmd(dir, &sim)
        .args(["film", "run", "--run-id", "ferry", "--backend", "runway"])
        .args([
            "--parallel",
            "2",
            "--duration",
            "12",
            "--segment-duration",
            "2",
        ])
        .args(["--prompt", "Dawn. One. Two. Three. Four. Five. Six."])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once two segments are done and others are on their way.
    let state = |id: &str| store.get(id).unwrap().map(|j| j.state);
    let ids: Vec<String> = (1..=6).map(|n| format!("ferry-s{n:02}")).collect();
    let mut killed = false;
    for _ in 0..3000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ttv ended before the kill"
        );
        let done = ids
            .iter()
            .filter(|id| state(id) == Some(JobState::Done))
            .count();
        let running = ids
            .iter()
            .filter(|id| matches!(state(id), Some(JobState::Running | JobState::Submitted)))
            .count();
        let submitting = ids.iter().any(|id| state(id) == Some(JobState::Submitting));
        if done >= 2 && running >= 1 && !submitting {
            child.kill().unwrap();
            child.wait().unwrap();
            killed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(killed, "never saw two segments done and one running");
    assert!(sim.paid_submits(Provider::Runway) < 6);
    assert!(!dir.join("ferry.mp4").exists());

    let mut cmd = sim_cmd(dir, &sim);
    cmd.args(["--json", "film", "resume", "ferry"]);
    let out = output(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One JSON event per segment state change, then the result.
    let events: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"event\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["state"] == "already_done"),
        "{stdout}"
    );
    assert_eq!(
        sim.paid_submits(Provider::Runway),
        6,
        "one paid submit per segment"
    );
    for id in &ids {
        let job = store.job(id).unwrap();
        assert_eq!((job.state, job.submits), (JobState::Done, 1), "{id}");
    }
    let film = dir.join("ferry.mp4");
    let segment_frames: usize = (1..=6)
        .map(|n| frame_count(&dir.join(format!("ferry/segment_{n:02}.mp4"))))
        .sum();
    assert_eq!(frame_count(&film), segment_frames);
    let names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(names, [film], "one film");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_sample_config_makes_a_chained_film_unchanged() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        video_max_side: 320,
        ..SimConfig::default().with_timings(0.0, 0.0)
    })
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ttv/tests/fixtures/original/pipeline_config.yaml.sample");
    std::fs::copy(&sample, dir.join("pipeline_config.yaml")).unwrap();
    let mut cmd = sim_cmd(dir, &sim);
    // Its own prompt, mode (chaining), backend (veo3), size and output_dir; two segments.
    cmd.args([
        "--json",
        "film",
        "run",
        "--run-id",
        "milo",
        "--duration",
        "10",
    ]);
    let out = output(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let film = dir.join("output/milo.mp4");
    assert!(film.is_file(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(sim.paid_submits(Provider::Gemini), 2);
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("output/milo.mp4.json")).unwrap()).unwrap();
    assert_eq!(record["mode"], "chaining");
    assert_eq!(record["segments"][0]["backend"], "veo");
    assert_eq!(record["video"]["width"], 1280);
    // The second segment was sent the exact last frame of the first.
    let submits: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":predictLongRunning"))
        .collect();
    assert_eq!(submits.len(), 2);
    assert!(submits[0].json()["instances"][0]["image"].is_null());
    assert!(!submits[1].json()["instances"][0]["image"].is_null());
}

/// Requests the simulator's chat-completions endpoint received.
fn chat_calls(sim: &Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planning_call_is_in_the_ledger_and_a_resume_never_plans_again() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("ttv.yaml"),
        format!(
            "size: 256x144\nopenai_api_key: {KEY}\nopenai_base_url: {}\n\
             prompt_enhancement_model: gpt-4o-mini\n",
            sim.api_base(Provider::OpenAi)
        ),
    )
    .unwrap();
    let mut run = sim_cmd(dir, &sim);
    run.args(["film", "run", "--run-id", "fox", "--backend", "animatic"])
        .args(["--duration", "10", "--segment-duration", "5", "--prompt"])
        .arg("A red fox wakes in a misty forest. At dusk it curls up under the stars.");
    let out = output(run).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(chat_calls(&sim), 1);

    let mut spend = sim_cmd(dir, &sim);
    spend.args(["--json", "spend"]);
    let out = output(spend).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let ledger: Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = ledger["jobs"].as_array().unwrap();
    let plan = jobs
        .iter()
        .find(|j| j["job_id"] == "fox-plan")
        .unwrap_or_else(|| panic!("no planning job in {ledger}"));
    assert_eq!(plan["backend"], "openai", "{plan}");
    assert_eq!(plan["model"], "gpt-4o-mini", "{plan}");
    let cost = plan["usd"]["micros"]
        .as_i64()
        .or_else(|| plan["usd_micros"].as_i64())
        .unwrap_or_else(|| panic!("no cost in {plan}"));
    assert!(cost > 0, "{plan}");
    assert_eq!(ledger["total"]["micros"].as_i64(), Some(cost), "{ledger}");

    let record = || -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("fox.mp4.json")).unwrap()).unwrap()
    };
    let first = record();
    assert_eq!(first["planning"]["job_id"], "fox-plan");
    assert_eq!(first["planning"]["cost"]["micros"].as_i64(), Some(cost));
    assert_eq!(first["totals"]["cost"]["micros"].as_i64(), Some(cost));

    // The film gone, a resume joins it again from the stored plan: no second planning call.
    std::fs::remove_file(dir.join("fox.mp4")).unwrap();
    let mut resume = sim_cmd(dir, &sim);
    resume.args(["film", "resume", "fox"]);
    let out = output(resume).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(chat_calls(&sim), 1, "the resume asked the model again");
    assert_eq!(record()["planning"]["cost"]["micros"].as_i64(), Some(cost));
    let paid: Vec<_> = Store::open_in(&dir.join("data"))
        .unwrap()
        .ledger()
        .unwrap()
        .into_iter()
        .filter(|e| e.usd_micros > 0)
        .map(|e| (e.job_id, e.usd_micros))
        .collect();
    assert_eq!(
        paid,
        [("fox-plan".to_owned(), cost)],
        "one paid call: the plan (the animatic is free)"
    );
}

#[test]
fn a_crossfade_overlaps_the_segments_by_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ttv.yaml"), "size: 256x144\n").unwrap();
    let out = common::ttv(dir.path())
        .args(["film", "run", "--run-id", "fade", "--crossfade", "4"])
        .args(["--duration", "10", "--segment-duration", "5", "--prompt"])
        .arg("A lighthouse in a storm. The morning after, a calm sea.")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // 2 segments × 5 s × 24 fps, less the 4 frames the cut's fade overlaps.
    assert_eq!(frame_count(&dir.path().join("fade.mp4")), 2 * 120 - 4);
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("fade.mp4.json")).unwrap()).unwrap();
    assert_eq!(record["crossfade_frames"], 4);
    assert_eq!(record["settings"]["crossfade_frames"], 4);
    assert_eq!(record["video"]["frames"], 236);
}

/// A field of a JSON or multipart request body, as text.
fn body_field(body: &str, name: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(body) {
        return json[name].as_str().map(str::to_owned);
    }
    let marker = format!("name=\"{name}\"\r\n\r\n");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find("\r\n--")? + start;
    Some(body[start..end].to_owned())
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = sum / a.as_raw().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_keyframe_comes_from_the_image_api_and_is_a_segments_first_and_last_frame() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(
        dir.join("ttv.yaml"),
        format!(
            "default_backend: animatic\nimage_generation_model: openai/gpt-image-1\n\
            openai_api_key: {KEY}\nopenai_base_url: {}\n",
            sim.api_base(Provider::OpenAi)
        ),
    )
    .unwrap();
    let segment = |prompt: &str, keyframe: &str| ttv::film::Segment {
        prompt: prompt.into(),
        keyframe_prompt: Some(keyframe.into()),
        duration: Some(1.0),
        ..ttv::film::Segment::default()
    };
    let board = Storyboard {
        size: Some("256x144".into()),
        fps: Some(8),
        segments: vec![
            segment(
                "a red kite rises over the dunes",
                "the kite high above the dunes",
            ),
            segment(
                "the kite loops in the wind",
                "the kite caught in a pine tree",
            ),
            segment(
                "a child climbs for the kite",
                "the child holds the kite, smiling",
            ),
        ],
        ..Storyboard::default()
    };
    std::fs::write(dir.join("board.json"), serde_json::to_vec(&board).unwrap()).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = common::ttv_std(dir);
        cmd.env("TTV_DATA_DIR", dir.join("data"))
            .args(args)
            .stdin(Stdio::null());
        output(cmd)
    };
    let out = run(&[
        "film",
        "run",
        "--run-id",
        "kite",
        "--mode",
        "keyframe",
        "--storyboard",
        "board.json",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Keyframe 0 shows the first segment's prompt, keyframe k the k-th keyframe prompt: one
    // paid image request each, nothing else paid.
    let expected_prompts = [
        "a red kite rises over the dunes",
        "the kite high above the dunes",
        "the kite caught in a pine tree",
        "the child holds the kite, smiling",
    ];
    assert_eq!(sim.paid_submits(Provider::OpenAi), 4);
    let requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == Some(Provider::OpenAi) && r.paid)
        .collect();
    assert_eq!(requests.len(), 4);
    let size = ttv::Resolution::new(256, 144);
    let mut keyframes = Vec::new();
    for want in expected_prompts {
        let request = requests
            .iter()
            .find(|r| body_field(&r.body, "prompt").is_some_and(|p| p.contains(want)))
            .unwrap_or_else(|| panic!("no image request for {want:?}"));
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {KEY}"),
            "{want}"
        );
        let prompt = body_field(&request.body, "prompt").unwrap();
        let asked = body_field(&request.body, "size").unwrap();
        let (w, h) = asked.split_once('x').unwrap();
        let (w, h) = (w.parse().unwrap(), h.parse().unwrap());
        // What the simulator answered: its card of the prompt, fitted to the film's size as
        // the pipeline fits a keyframe.
        let answered = ttv::images::still::render_png(
            &format!("SIM openai: {prompt}"),
            0,
            ttv::Resolution::new(w, h),
        )
        .unwrap();
        let answered = image::load_from_memory(&answered).unwrap().to_rgb8();
        keyframes.push(ttv::media::image::fit_cover(&answered, size).unwrap());
    }
    for (k, want) in keyframes.iter().enumerate() {
        let file = dir.join(format!("kite/keyframes/keyframe_{k:02}.png"));
        let used = image::open(&file).unwrap().to_rgb8();
        let db = psnr(&used, want);
        println!("keyframe {k}: file vs the simulator's image {db:.1} dB");
        assert!(db >= 40.0, "keyframe {k}: {db:.1} dB");
    }
    for n in 1..=3 {
        let video = dir.join(format!("kite/segment_{n:02}.mp4"));
        let first = frames::extract_frame(&video, Which::First).unwrap();
        let last = frames::extract_frame(&video, Which::Last).unwrap();
        let (a, b) = (psnr(&first, &keyframes[n - 1]), psnr(&last, &keyframes[n]));
        println!("segment {n}: first frame {a:.1} dB, last frame {b:.1} dB");
        assert!(
            a >= 30.0,
            "segment {n} starts {a:.1} dB from keyframe {}",
            n - 1
        );
        assert!(b >= 30.0, "segment {n} ends {b:.1} dB from keyframe {n}");
    }
    assert_eq!(frame_count(&dir.join("kite.mp4")), 24, "3 × 1 s at 8 fps");

    // A resume pays for no keyframe again.
    let again = run(&["--json", "film", "resume", "kite"]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(sim.paid_submits(Provider::OpenAi), 4);
}
