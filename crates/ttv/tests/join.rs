//! Joining segments into a film: remux when the codec parameters match, normalising re-encode
//! otherwise, cross-fades. Every check decodes the output.

mod common;

use std::path::{Path, PathBuf};

use common::psnr;
use image::{Rgb, RgbImage};
use ttv::ErrorKind;
use ttv::media::encode::{EncodeSettings, Mp4Writer};
use ttv::media::frames;
use ttv::media::join::{JoinMethod, JoinOptions, join_segments};
use ttv::media::probe;
use ttv::request::Resolution;

/// A frame with structure: a tinted checkerboard and a bar that moves with `n`, so a frame
/// from the wrong place or the wrong segment shows.
fn picture(w: u32, h: u32, tint: [u8; 3], n: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let bar = (x + w - (n * 4) % w) % w < w / 8;
        let band = ((x * 4 / w) + (y * 3 / h)).is_multiple_of(2);
        let base = if bar {
            240u8
        } else if band {
            160
        } else {
            60
        };
        Rgb([
            base / 2 + tint[0] / 2,
            base / 2 + tint[1] / 2,
            base / 2 + tint[2] / 2,
        ])
    })
}

/// Encodes `frames` frames of [`picture`] as an MP4 segment.
fn segment(
    dir: &Path,
    name: &str,
    (w, h): (u32, u32),
    fps: u32,
    count: u32,
    tint: [u8; 3],
) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = Mp4Writer::new(file, EncodeSettings::new(Resolution::new(w, h), fps)).unwrap();
    for n in 0..count {
        writer.push_rgb(picture(w, h, tint, n).as_raw()).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn decode_all(path: &Path) -> Vec<RgbImage> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    frames::for_each_frame(&bytes, |_, img| {
        out.push(img);
        Ok(())
    })
    .unwrap();
    out
}

const RED: [u8; 3] = [220, 40, 40];
const GREEN: [u8; 3] = [40, 200, 60];
const BLUE: [u8; 3] = [40, 60, 220];

fn opts(width: u32, height: u32) -> JoinOptions {
    JoinOptions {
        width,
        height,
        fps: None,
        crossfade_frames: 0,
    }
}

#[tokio::test]
async fn matching_segments_are_remuxed_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        segment(dir.path(), "a.mp4", (160, 96), 24, 12, RED),
        segment(dir.path(), "b.mp4", (160, 96), 24, 30, GREEN),
        segment(dir.path(), "c.mp4", (160, 96), 24, 6, BLUE),
    ];
    let out = dir.path().join("film.mp4");
    let report = join_segments(&inputs, &out, &opts(160, 96)).await.unwrap();
    assert_eq!(report.method, JoinMethod::Remux);
    assert_eq!(report.frames, 48);
    assert!((report.duration_secs - 2.0).abs() < 1e-9);
    let starts: Vec<f64> = report.segments.iter().map(|s| s.start_secs).collect();
    assert_eq!(starts, vec![0.0, 0.5, 1.75]);
    assert!(
        report
            .segments
            .iter()
            .all(|s| !s.normalised && !s.had_audio)
    );

    let (info, _) = probe::verify_file(&out).unwrap();
    assert_eq!((info.width, info.height, info.frames), (160, 96, 48));
    assert!(
        (info.duration_secs - 2.0).abs() < 1e-3,
        "{}",
        info.duration_secs
    );
    assert!(info.fast_start);

    // Copied samples decode to exactly the sources' pixels, on both sides of every join.
    let film = decode_all(&out);
    assert_eq!(film.len(), 48);
    let sources: Vec<RgbImage> = inputs.iter().flat_map(|p| decode_all(p)).collect();
    for (i, (got, want)) in film.iter().zip(&sources).enumerate() {
        assert_eq!(got, want, "film frame {i} differs from its source");
    }
}

#[tokio::test]
async fn mixed_sizes_and_rates_are_normalised_to_the_film() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        segment(dir.path(), "wide.mp4", (160, 96), 24, 24, RED),
        // Square and at half the frame rate: letterboxed, each frame shown twice.
        segment(dir.path(), "square.mp4", (96, 96), 12, 6, GREEN),
        // Twice the size: scaled down.
        segment(dir.path(), "big.mp4", (320, 192), 24, 12, BLUE),
    ];
    let out = dir.path().join("film.mp4");
    let report = join_segments(&inputs, &out, &opts(160, 96)).await.unwrap();
    assert_eq!(report.method, JoinMethod::Normalised);
    assert_eq!(report.frames, 24 + 12 + 12);
    assert!((report.duration_secs - 2.0).abs() < 1e-9);
    let frames: Vec<u64> = report.segments.iter().map(|s| s.frames).collect();
    assert_eq!(frames, vec![24, 12, 12]);
    assert!(report.segments.iter().all(|s| s.normalised));

    let (info, _) = probe::verify_file(&out).unwrap();
    assert_eq!((info.width, info.height, info.frames), (160, 96, 48));
    assert!((info.duration_secs - 2.0).abs() < 1e-3);

    let film = decode_all(&out);
    assert_eq!(film.len(), 48);
    assert!(film.iter().all(|f| f.dimensions() == (160, 96)));
    // Frames at the joins show their own segment's source frames.
    let a = decode_all(&inputs[0]);
    assert!(
        psnr(&film[23], &a[23]) > 30.0,
        "{}",
        psnr(&film[23], &a[23])
    );
    let square = decode_all(&inputs[1]);
    for (k, src) in [(24, 0), (25, 0), (26, 1), (35, 5)] {
        let got = &film[k];
        // The letterboxed picture sits in the middle 96 columns; the sides are black.
        let centre = image::imageops::crop_imm(got, 32, 0, 96, 96).to_image();
        assert!(
            psnr(&centre, &square[src]) > 28.0,
            "film frame {k}: {}",
            psnr(&centre, &square[src])
        );
        for x in [0, 10, 150, 159] {
            let p = got.get_pixel(x, 48);
            assert!(p.0.iter().all(|c| *c < 24), "bar at x={x} is {:?}", p.0);
        }
    }
    let big = decode_all(&inputs[2]);
    let scaled = image::imageops::resize(&big[0], 160, 96, image::imageops::FilterType::Triangle);
    assert!(
        psnr(&film[36], &scaled) > 24.0,
        "{}",
        psnr(&film[36], &scaled)
    );
}

#[tokio::test]
async fn a_different_film_rate_resamples_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        segment(dir.path(), "a.mp4", (160, 96), 24, 24, RED),
        segment(dir.path(), "b.mp4", (160, 96), 24, 12, GREEN),
    ];
    let out = dir.path().join("film.mp4");
    let options = JoinOptions {
        fps: Some(12.0),
        ..opts(160, 96)
    };
    let report = join_segments(&inputs, &out, &options).await.unwrap();
    assert_eq!(report.method, JoinMethod::Normalised);
    assert_eq!(report.frames, 18);
    let (info, _) = probe::verify_file(&out).unwrap();
    assert_eq!(info.frames, 18);
    assert!((info.duration_secs - 1.5).abs() < 1e-3);
    // Film frame 1 at 12 fps covers source frames 2 and 3; it shows the one on screen at its
    // middle (0.125 s), frame 3.
    let a = decode_all(&inputs[0]);
    let film = decode_all(&out);
    assert!(psnr(&film[1], &a[3]) > 30.0);
    assert!(psnr(&film[1], &a[3]) > psnr(&film[1], &a[2]));
}

#[tokio::test]
async fn a_cross_fade_overlaps_consecutive_segments() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        segment(dir.path(), "a.mp4", (160, 96), 24, 24, RED),
        segment(dir.path(), "b.mp4", (160, 96), 24, 24, BLUE),
    ];
    let out = dir.path().join("film.mp4");
    let options = JoinOptions {
        crossfade_frames: 5,
        ..opts(160, 96)
    };
    let report = join_segments(&inputs, &out, &options).await.unwrap();
    assert_eq!(report.method, JoinMethod::Normalised);
    assert_eq!(report.frames, 43);
    assert!((report.segments[1].start_secs - 19.0 / 24.0).abs() < 1e-9);
    let film = decode_all(&out);
    assert_eq!(film.len(), 43);
    let (a, b) = (decode_all(&inputs[0]), decode_all(&inputs[1]));
    assert!(psnr(&film[18], &a[18]) > 30.0);
    assert!(psnr(&film[24], &b[5]) > 30.0);
    // The middle of the fade is half of each.
    let mid = RgbImage::from_fn(160, 96, |x, y| {
        let (p, q) = (a[21].get_pixel(x, y).0, b[2].get_pixel(x, y).0);
        Rgb([0, 1, 2].map(|c| ((u16::from(p[c]) + u16::from(q[c])) / 2) as u8))
    });
    assert!(psnr(&film[21], &mid) > 30.0, "{}", psnr(&film[21], &mid));
}

#[tokio::test]
async fn a_failed_join_leaves_nothing_at_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let good = segment(dir.path(), "a.mp4", (160, 96), 24, 4, RED);
    let bad = dir.path().join("bad.mp4");
    std::fs::write(&bad, b"not a video").unwrap();
    let out = dir.path().join("film.mp4");
    let err = join_segments(&[good, bad], &out, &opts(160, 96))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOutput);
    assert!(err.to_string().contains("bad.mp4"), "{err}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn bad_options_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.mp4");
    let err = join_segments(&[], &out, &opts(161, 0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["segments", "width", "height"]);
}

// ---- Audio -------------------------------------------------------------------------------

const RATE: u32 = 48_000;
const AAC_FRAME: f64 = 1024.0 / RATE as f64;

/// One AAC-LC mono frame with no spectral data (it decodes to silence) whose global gain is
/// `gain`: the bytes tell which segment a frame came from.
fn aac_frame(gain: u8) -> [u8; 4] {
    [gain >> 7, gain << 1, 0x00, 0x07]
}

/// The same frame behind an ADTS header (what muxide takes).
fn adts(raw: &[u8]) -> Vec<u8> {
    let len = raw.len() + 7;
    let (profile, rate_index, channels) = (1u8, 3u8, 1u8); // AAC-LC, 48 kHz, mono
    let mut out = vec![
        0xff,
        0xf1,
        (profile << 6) | (rate_index << 2) | (channels >> 2),
        ((channels & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        ((len as u8 & 7) << 5) | 0x1f,
        0xfc,
    ];
    out.extend_from_slice(raw);
    out
}

/// A segment with `audio_secs` of AAC (frames of `gain`) beside its video.
fn segment_with_audio(
    dir: &Path,
    name: &str,
    (w, h): (u32, u32),
    count: u32,
    tint: [u8; 3],
    audio_secs: f64,
    gain: u8,
) -> PathBuf {
    let plain = segment(dir, &format!("plain-{name}"), (w, h), 24, count, tint);
    let bytes = std::fs::read(&plain).unwrap();
    let mp4 = re_mp4::Mp4::read_bytes(&bytes).unwrap();
    let track = mp4.tracks().values().next().unwrap();
    let re_mp4::StsdBoxContent::Avc1(avc1) = &track.trak(&mp4).mdia.minf.stbl.stsd.contents else {
        panic!("not H.264")
    };
    let mut header = Vec::new();
    for nal in avc1
        .avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avc1.avcc.picture_parameter_sets)
    {
        header.extend_from_slice(&[0, 0, 0, 1]);
        header.extend_from_slice(&nal.bytes);
    }
    let path = dir.join(name);
    let mut muxer = muxide::api::MuxerBuilder::new(std::fs::File::create(&path).unwrap())
        .video(muxide::api::VideoCodec::H264, w, h, 24.0)
        .audio(
            muxide::api::AudioCodec::Aac(muxide::api::AacProfile::Lc),
            RATE,
            1,
        )
        .with_fast_start(true)
        .build()
        .unwrap();
    for (i, s) in track.samples.iter().enumerate() {
        let mut packet = if i == 0 { header.clone() } else { Vec::new() };
        let data = &bytes[s.offset as usize..(s.offset + s.size) as usize];
        let mut pos = 0;
        while pos + 4 <= data.len() {
            let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            packet.extend_from_slice(&[0, 0, 0, 1]);
            packet.extend_from_slice(&data[pos + 4..pos + 4 + len]);
            pos += 4 + len;
        }
        muxer
            .write_video(i as f64 / 24.0, &packet, s.is_sync)
            .unwrap();
    }
    let frames = (audio_secs / AAC_FRAME).round() as u32;
    for k in 0..frames {
        muxer
            .write_audio(f64::from(k) * AAC_FRAME, &adts(&aac_frame(gain)))
            .unwrap();
    }
    muxer.finish().unwrap();
    path
}

/// (start seconds, bytes) of every sample of the film's track of `kind`.
fn track_samples(path: &Path, kind: re_mp4::TrackKind) -> Vec<(f64, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mp4 = re_mp4::Mp4::read_bytes(&bytes).unwrap();
    let track = mp4
        .tracks()
        .values()
        .find(|t| t.kind == Some(kind))
        .unwrap();
    // The edit list's media time, when there is one, is where presentation starts.
    let skip = track
        .trak(&mp4)
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .and_then(|l| l.entries.first())
        .map_or(0, |e| e.media_time);
    let mut at = 0u64;
    track
        .samples
        .iter()
        .map(|s| {
            let start = (at as f64 - skip as f64) / track.timescale as f64;
            at += s.duration;
            (
                start,
                bytes[s.offset as usize..(s.offset + s.size) as usize].to_vec(),
            )
        })
        .collect()
}

/// Checks that every segment's audio starts with its own first frame within half an AAC
/// frame of its video, that silence fills segments without audio, and that both tracks end
/// within a video frame of each other.
fn assert_in_sync(film: &Path, starts: &[f64], gains: &[Option<u8>], duration: f64) {
    let video = track_samples(film, re_mp4::TrackKind::Video);
    let audio = track_samples(film, re_mp4::TrackKind::Audio);
    let frame = 1.0 / 24.0;
    for (n, (&start, gain)) in starts.iter().zip(gains).enumerate() {
        // The video frame that opens the segment starts exactly at its start.
        assert!(
            video.iter().any(|(t, _)| (t - start).abs() < 1e-6),
            "segment {n}: no video frame at {start}"
        );
        let end = starts.get(n + 1).copied().unwrap_or(duration);
        let inside: Vec<&(f64, Vec<u8>)> = audio
            .iter()
            .filter(|(t, _)| *t + AAC_FRAME / 2.0 > start && *t + AAC_FRAME / 2.0 <= end)
            .collect();
        assert!(!inside.is_empty(), "segment {n} has no audio frames");
        let first = inside[0];
        assert!(
            (first.0 - start).abs() <= AAC_FRAME / 2.0 + 1e-9,
            "segment {n}: audio starts at {}, video at {start}",
            first.0
        );
        assert!((first.0 - start).abs() < frame);
        match gain {
            Some(g) => assert_eq!(
                first.1,
                aac_frame(*g),
                "segment {n} opens with its own audio"
            ),
            None => assert!(
                inside
                    .iter()
                    .all(|(_, b)| b.as_slice() == [0x00, 0xc8, 0x00, 0x07]),
                "segment {n} has no audio: it gets silent frames"
            ),
        }
    }
    let audio_end = audio.last().map(|(t, _)| t + AAC_FRAME).unwrap();
    assert!(
        (audio_end - duration).abs() < frame,
        "audio ends at {audio_end}, video at {duration}"
    );
}

#[tokio::test]
async fn remuxed_segments_with_and_without_audio_keep_audio_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        // Audio a little longer than the video: cut where the next segment starts.
        segment_with_audio(dir.path(), "a.mp4", (160, 96), 24, RED, 1.1, 80),
        segment(dir.path(), "b.mp4", (160, 96), 24, 12, GREEN),
        // Audio shorter than the video: silence after it.
        segment_with_audio(dir.path(), "c.mp4", (160, 96), 24, BLUE, 0.6, 40),
    ];
    let out = dir.path().join("film.mp4");
    let report = join_segments(&inputs, &out, &opts(160, 96)).await.unwrap();
    assert_eq!(report.method, JoinMethod::Remux);
    assert!(report.audio);
    assert_eq!(report.frames, 60);
    let had: Vec<bool> = report.segments.iter().map(|s| s.had_audio).collect();
    assert_eq!(had, vec![true, false, true]);
    let (info, _) = probe::verify_file(&out).unwrap();
    assert!(info.audio && info.fast_start);
    assert_eq!(info.frames, 60);
    assert_in_sync(&out, &[0.0, 1.0, 1.5], &[Some(80), None, Some(40)], 2.5);
    // Video samples are the sources', byte for byte.
    let film = track_samples(&out, re_mp4::TrackKind::Video);
    let b = track_samples(&inputs[1], re_mp4::TrackKind::Video);
    assert_eq!(film[24].1, b[0].1);
}

#[tokio::test]
async fn a_normalised_film_keeps_audio_in_sync_too() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        segment(dir.path(), "a.mp4", (96, 96), 24, 12, GREEN),
        segment_with_audio(dir.path(), "b.mp4", (160, 96), 24, RED, 1.0, 60),
    ];
    let out = dir.path().join("film.mp4");
    let report = join_segments(&inputs, &out, &opts(160, 96)).await.unwrap();
    assert_eq!(report.method, JoinMethod::Normalised);
    assert!(report.audio);
    assert_eq!(report.frames, 36);
    assert_in_sync(&out, &[0.0, 0.5], &[None, Some(60)], 1.5);
    assert_eq!(decode_all(&out).len(), 36);
}
