//! The embedded backend end to end through the library: render, verify, decode.

use std::io::Cursor;

use image::{Rgb, RgbImage};
use ttv::backend::no_events;
use ttv::media::frames::{self, Which};
use ttv::media::image::ImageInput;
use ttv::media::probe;
use ttv::services::animatic::Animatic;
use ttv::{AspectRatio, ErrorKind, GenerationRequest, ResolutionSpec, VideoBackend, VideoDuration};

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A picture with structure, so that a wrong crop or a wrong colour shows.
fn scene(w: u32, h: u32, tint: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let band = ((x * 6 / w) + (y * 4 / h)).is_multiple_of(2);
        let base = if band { 200u8 } else { 60 };
        Rgb([
            base / 2 + tint[0] / 2,
            base / 2 + tint[1] / 2,
            base / 2 + tint[2] / 2,
        ])
    })
}

/// Mean absolute difference per channel, 0–255.
fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[tokio::test]
async fn text_prompt_renders_a_title_card_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("title.mp4");
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(2)),
        resolution: Some(ResolutionSpec::Tier(360)),
        fps: Some(24),
        seed: Some(7),
        ..GenerationRequest::text("A lighthouse at dusk, waves on the sea")
    };
    let got = Animatic::default()
        .generate(&req, &dest, &no_events)
        .await
        .unwrap();
    assert_eq!(got.path, dest);
    assert_eq!((got.video.width, got.video.height), (640, 360));
    assert_eq!(got.video.frames, 48);
    assert!(
        (got.video.duration_secs - 2.0).abs() < 1e-6,
        "{:?}",
        got.video
    );
    assert!(got.video.codec.starts_with("avc1"), "{}", got.video.codec);
    assert!(got.video.fast_start);
    assert_eq!(got.video.keyframes, 1);
    let bytes = std::fs::read(&dest).unwrap();
    let decoded = frames::for_each_frame(&bytes, |_, f| {
        assert_eq!(f.dimensions(), (640, 360));
        Ok(())
    })
    .unwrap();
    assert_eq!(decoded, 48);
    // The only file in the folder is the video: no scratch or partial files are left.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn same_seed_renders_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(1)),
        resolution: Some(ResolutionSpec::Tier(144)),
        seed: Some(42),
        ..GenerationRequest::text("determinism")
    };
    let a = Animatic::default()
        .generate(&req, &dir.path().join("a.mp4"), &no_events)
        .await
        .unwrap();
    let b = Animatic::default()
        .generate(&req, &dir.path().join("b.mp4"), &no_events)
        .await
        .unwrap();
    assert_eq!(a.sha256, b.sha256);
    let other = GenerationRequest {
        seed: Some(43),
        ..req
    };
    let c = Animatic::default()
        .generate(&other, &dir.path().join("c.mp4"), &no_events)
        .await
        .unwrap();
    assert_ne!(a.sha256, c.sha256);
}

#[tokio::test]
async fn image_clip_starts_on_the_first_image_and_ends_on_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let first_img = scene(800, 450, [255, 40, 40]);
    let last_img = scene(800, 450, [40, 40, 255]);
    let req = GenerationRequest {
        prompt: "slow push through the scene".into(),
        image: Some(ImageInput::from_bytes("image", "first.png", png(&first_img)).unwrap()),
        last_frame: Some(ImageInput::from_bytes("last_frame", "last.png", png(&last_img)).unwrap()),
        duration: Some(VideoDuration::from_secs(2)),
        aspect_ratio: Some(AspectRatio::LANDSCAPE),
        resolution: Some(ResolutionSpec::Tier(360)),
        fps: Some(12),
        ..GenerationRequest::default()
    };
    let dest = dir.path().join("clip.mp4");
    let got = Animatic::default()
        .generate(&req, &dest, &no_events)
        .await
        .unwrap();
    assert_eq!(got.video.frames, 24);
    let first = frames::extract_frame(&dest, Which::First).unwrap();
    let last = frames::extract_frame(&dest, Which::Last).unwrap();
    let want_first =
        ttv::media::image::fit_cover(&first_img, ttv::Resolution::new(640, 360)).unwrap();
    let want_last =
        ttv::media::image::fit_cover(&last_img, ttv::Resolution::new(640, 360)).unwrap();
    assert!(
        mad(&first, &want_first) < 6.0,
        "first frame differs by {}",
        mad(&first, &want_first)
    );
    assert!(
        mad(&last, &want_last) < 6.0,
        "last frame differs by {}",
        mad(&last, &want_last)
    );
    assert!(
        mad(&first, &want_last) > 20.0,
        "the clip must change from first to last image"
    );
    let (info, _) = probe::verify_file(&dest).unwrap();
    assert_eq!(info, got.video);
}

#[tokio::test]
async fn unsupported_settings_are_all_reported_before_rendering() {
    let req = GenerationRequest {
        duration: Some(VideoDuration::from_secs(45)),
        fps: Some(120),
        resolution: Some(ResolutionSpec::Tier(2160)),
        audio: true,
        ..GenerationRequest::text("too much")
    };
    let dir = tempfile::tempdir().unwrap();
    let err = Animatic::default()
        .generate(&req, &dir.path().join("x.mp4"), &no_events)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["audio", "duration", "fps", "resolution"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
