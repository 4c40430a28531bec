//! Animatic render + encode speed and peak memory. Prints figures; asserts nothing.
//!
//! `cargo bench -p ttv --bench animatic` runs every case in its own process so that each
//! peak-memory figure (VmHWM) belongs to that case alone.

use std::io::Cursor;
use std::time::Instant;

use image::{Rgb, RgbImage};
use ttv::backend::no_events;
use ttv::media::image::ImageInput;
use ttv::services::animatic::Animatic;
use ttv::{GenerationRequest, ResolutionSpec, VideoBackend, VideoDuration};

const CASES: &[(&str, u32, bool)] = &[
    ("title 1280x720", 720, false),
    ("image 1280x720", 720, true),
    ("title 1920x1080", 1080, false),
    ("image 1920x1080", 1080, true),
];
const SECONDS: u32 = 10;
const FPS: u32 = 30;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run_case(index: usize) {
    let (name, tier, with_image) = CASES[index];
    let mut req = GenerationRequest {
        prompt: "Morning fog over a mountain lake, slow push in".into(),
        duration: Some(VideoDuration::from_secs(SECONDS)),
        fps: Some(FPS),
        resolution: Some(ResolutionSpec::Tier(tier)),
        seed: Some(1),
        ..GenerationRequest::default()
    };
    if with_image {
        let img = RgbImage::from_fn(3000, 2000, |x, y| {
            Rgb([(x / 12) as u8, (y / 8) as u8, ((x + y) / 20) as u8])
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode test image");
        req.image = Some(ImageInput::from_bytes("image", "bench.png", png).expect("valid image"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let got = runtime
        .block_on(Animatic::default().generate(&req, &dir.path().join("bench.mp4"), &no_events))
        .expect("render");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<18} {frames:>4} frames in {secs:>6.2} s = {fps:>6.1} fps   file {kb:>7.0} KB   peak RSS {rss:>6.1} MiB",
        frames = got.video.frames,
        fps = got.video.frames as f64 / secs,
        kb = got.bytes as f64 / 1000.0,
        rss = peak_rss_mib().unwrap_or(f64::NAN),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--case") {
        let index = args
            .get(pos + 1)
            .and_then(|s| s.parse().ok())
            .expect("--case N");
        run_case(index);
        return;
    }
    println!(
        "animatic: {SECONDS} s at {FPS} fps per case (render + H.264 encode + MP4 mux + verify), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let exe = std::env::current_exe().expect("own path");
    for index in 0..CASES.len() {
        let status = std::process::Command::new(&exe)
            .args(["--case", &index.to_string()])
            .status()
            .expect("run case");
        if !status.success() {
            eprintln!("case {index} failed");
        }
    }
}
