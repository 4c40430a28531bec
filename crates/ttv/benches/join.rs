//! Joining 20 × 5 s 720p segments: by remux (samples copied) and by normalising re-encode,
//! with ffmpeg's concat demuxer (`-c copy`) as a reference row when ffmpeg is installed.
//! Prints figures; asserts nothing.
//!
//! `cargo bench -p ttv --bench join` prepares the segments once, then runs every case in its
//! own process so that each peak-memory figure (VmHWM) belongs to that case alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{Rgb, RgbImage};
use ttv::media::encode::{EncodeSettings, Mp4Writer};
use ttv::media::join::{JoinOptions, join_segments};
use ttv::request::Resolution;

const SEGMENTS: usize = 20;
const SECONDS: u32 = 5;
const FPS: u32 = 30;
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

/// CPU seconds this process used (user + system), from `/proc/self/stat`: on a busy
/// machine, frames per CPU second say more than frames per wall second.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A moving gradient with a bar, so the encoder has real work.
fn frame(w: u32, h: u32, n: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let bar = (x + n * 8) % w < w / 10;
        Rgb([
            ((x + n * 3) * 255 / w) as u8,
            (y * 255 / h) as u8,
            if bar { 255 } else { tint },
        ])
    })
}

fn encode(path: &Path, (w, h): (u32, u32), tint: u8) {
    let file = std::fs::File::create(path).expect("create segment");
    let mut writer = Mp4Writer::new(
        std::io::BufWriter::new(file),
        EncodeSettings::new(Resolution::new(w, h), FPS),
    )
    .expect("encoder");
    for n in 0..SECONDS * FPS {
        writer
            .push_rgb(frame(w, h, n, tint).as_raw())
            .expect("encode");
    }
    writer.finish().expect("finish");
}

/// Segment files: `same` are 20 copies of one 720p clip (remux), `mixed` has one 960x540
/// segment among them (so the whole film is normalised).
fn prepare(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let first = dir.join("seg-00.mp4");
    encode(&first, (WIDTH, HEIGHT), 40);
    let odd = dir.join("odd-540p.mp4");
    encode(&odd, (960, 540), 200);
    let mut same = vec![first.clone()];
    for i in 1..SEGMENTS {
        let p = dir.join(format!("seg-{i:02}.mp4"));
        std::fs::copy(&first, &p).expect("copy segment");
        same.push(p);
    }
    let mut mixed = same.clone();
    mixed[SEGMENTS / 2] = odd;
    (same, mixed)
}

fn list(dir: &Path, name: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir.join(name)).expect("segment list");
    text.lines().map(PathBuf::from).collect()
}

fn run_case(dir: &Path, case: &str) {
    let film = dir.join(format!("film-{case}.mp4"));
    let remux = case.starts_with("remux");
    let mut inputs = list(dir, if remux { "same.txt" } else { "mixed.txt" });
    if case == "remux (5 segments)" {
        inputs.truncate(5);
    }
    let opts = JoinOptions {
        width: WIDTH,
        height: HEIGHT,
        fps: None,
        crossfade_frames: 0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cpu_before = cpu_secs().unwrap_or(0.0);
    let started = Instant::now();
    let report = runtime
        .block_on(join_segments(&inputs, &film, &opts))
        .expect("join");
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs().unwrap_or(f64::NAN) - cpu_before;
    let bytes = std::fs::metadata(&film).map_or(0, |m| m.len());
    println!(
        "{case:<24} {method:<10} {frames:>5} frames ({video:>5.1} s) in {secs:>7.3} s = {speed:>7.1}x real time, {fps:>7.1} fps (cpu {cpu:>6.2} s: {cfps:>7.1} fps/cpu-s)   film {mb:>6.1} MB   peak RSS {rss:>6.1} MiB",
        method = format!("{:?}", report.method),
        frames = report.frames,
        video = report.duration_secs,
        speed = report.duration_secs / secs,
        fps = report.frames as f64 / secs,
        cfps = report.frames as f64 / cpu,
        mb = bytes as f64 / 1e6,
        rss = peak_rss_mib().unwrap_or(f64::NAN),
    );
}

fn ffmpeg_row(dir: &Path) {
    let available = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        println!(
            "{:<22} skipped: ffmpeg is not installed",
            "ffmpeg concat -c copy"
        );
        return;
    }
    let concat = dir.join("concat.txt");
    let lines: String = list(dir, "same.txt")
        .iter()
        .map(|p| format!("file '{}'\n", p.display()))
        .collect();
    std::fs::write(&concat, lines).expect("concat list");
    let out = dir.join("film-ffmpeg.mp4");
    let started = Instant::now();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&concat)
        .args(["-c", "copy"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    let secs = started.elapsed().as_secs_f64();
    let video = f64::from(SECONDS) * SEGMENTS as f64;
    println!(
        "{:<24} {:>5} frames ({video:>5.1} s) in {secs:>7.3} s = {:>7.1}x real time{}",
        "ffmpeg concat -c copy",
        SEGMENTS as u32 * SECONDS * FPS,
        video / secs,
        if status.success() {
            ""
        } else {
            "  (ffmpeg failed)"
        },
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--case") {
        let dir = PathBuf::from(args.get(pos + 2).expect("--case NAME DIR"));
        run_case(&dir, args.get(pos + 1).expect("--case NAME DIR"));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let (same, mixed) = prepare(dir.path());
    for (name, files) in [("same.txt", &same), ("mixed.txt", &mixed)] {
        let text: String = files.iter().map(|p| format!("{}\n", p.display())).collect();
        std::fs::write(dir.path().join(name), text).expect("segment list");
    }
    println!(
        "join: {SEGMENTS} segments x {SECONDS} s at {WIDTH}x{HEIGHT} {FPS} fps (prepared in {:.1} s), {} cores",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let exe = std::env::current_exe().expect("own path");
    for case in ["remux (5 segments)", "remux", "normalise (1 of 20 off)"] {
        let status = std::process::Command::new(&exe)
            .args(["--case", case])
            .arg(dir.path())
            .status()
            .expect("run case");
        if !status.success() {
            eprintln!("case {case} failed");
        }
    }
    ffmpeg_row(dir.path());
}
