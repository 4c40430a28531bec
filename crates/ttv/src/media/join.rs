//! Joining video segments into one film, in-process (no ffmpeg).
//!
//! Segments whose H.264 parameters (SPS/PPS), frame size and frame rate already match the
//! film are joined by copying their samples ([`JoinMethod::Remux`]); anything else makes the
//! whole film go through decode → scale/letterbox → resample to the film's frame rate →
//! encode ([`JoinMethod::Normalised`]). The output is written beside its destination, verified
//! as a playable MP4, then renamed into place. Everything heavy runs on a blocking thread.
//!
//! This module joins files; it knows nothing about films, jobs or backends.

use std::collections::VecDeque;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use muxide::api::{MuxerBuilder, VideoCodec};
use re_mp4::{StsdBoxContent, TrackKind};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Problem, Result};
use crate::media::atomic::AtomicFile;
use crate::media::encode::{EncodeSettings, Mp4Writer};
use crate::media::image::{CropRect, FrameResizer};
use crate::media::{frames, probe};
use crate::request::Resolution;

/// What the joined film should look like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinOptions {
    /// Film width; even.
    pub width: u32,
    /// Film height; even.
    pub height: u32,
    /// Film frame rate; `None` takes the first segment's.
    pub fps: Option<f64>,
    /// Frames of cross-fade between consecutive segments; 0 for hard cuts.
    pub crossfade_frames: u32,
}

/// How the film was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinMethod {
    /// Samples copied as they were; nothing re-encoded.
    Remux,
    /// Segments decoded, scaled to the film's size and frame rate, and encoded again.
    Normalised,
}

/// Where one segment landed in the film.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinedSegment {
    /// The segment's file.
    pub path: PathBuf,
    /// Frames the segment contributes to the film.
    pub frames: u64,
    /// Where the segment starts in the film.
    pub start_secs: f64,
    /// How long the segment lasts in the film.
    pub duration_secs: f64,
    /// Whether the segment was re-encoded.
    pub normalised: bool,
    /// Whether the segment had an audio track.
    pub had_audio: bool,
}

/// What [`join_segments`] made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinReport {
    /// How the film was made.
    pub method: JoinMethod,
    /// Frames in the film.
    pub frames: u64,
    /// The film's duration.
    pub duration_secs: f64,
    /// Whether the film has an audio track.
    pub audio: bool,
    /// Each segment, in order.
    pub segments: Vec<JoinedSegment>,
}

/// Joins `inputs` in order into `out` (written atomically and verified).
pub async fn join_segments(
    inputs: &[PathBuf],
    out: &Path,
    opts: &JoinOptions,
) -> Result<JoinReport> {
    check_options(inputs, opts)?;
    let inputs = inputs.to_vec();
    let out = out.to_path_buf();
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || join_blocking(&inputs, &out, &opts))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the join task failed: {e}")))?
}

fn check_options(inputs: &[PathBuf], opts: &JoinOptions) -> Result<()> {
    let mut problems = Vec::new();
    if inputs.is_empty() {
        problems.push(Problem::new(
            "segments",
            "none",
            "at least one segment to join",
        ));
    }
    for (field, side) in [("width", opts.width), ("height", opts.height)] {
        if side == 0 || side % 2 != 0 {
            problems.push(Problem::new(
                field,
                side,
                "an even number of pixels, at least 2",
            ));
        }
    }
    if let Some(fps) = opts.fps
        && !(fps.is_finite() && (1.0..=240.0).contains(&fps))
    {
        problems.push(Problem::new("fps", fps, "a frame rate from 1 to 240"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(problems))
    }
}

fn invalid_input(path: &Path, e: Error) -> Error {
    Error::new(
        ErrorKind::InvalidOutput,
        format!(
            "segment {} cannot be joined: {}",
            path.display(),
            e.message()
        ),
    )
}

/// What a segment's container says about it.
#[derive(Debug, Clone)]
struct SegmentInfo {
    width: u32,
    height: u32,
    duration_secs: f64,
    fps: f64,
    /// SPS and PPS bytes, to decide whether samples can be copied.
    parameter_sets: Vec<Vec<u8>>,
    nal_length_size: usize,
    /// Whether every frame lasts the same time.
    constant_rate: bool,
    has_audio: bool,
}

fn segment_info(path: &Path, bytes: &[u8]) -> Result<SegmentInfo> {
    let info = probe::verify_bytes(bytes).map_err(|e| invalid_input(path, e))?;
    let mp4 = probe::parse(bytes).map_err(|e| invalid_input(path, e))?;
    let track = mp4
        .tracks()
        .values()
        .find(|t| t.kind == Some(TrackKind::Video))
        .ok_or_else(|| invalid_input(path, Error::new(ErrorKind::InvalidOutput, "no video")))?;
    let (parameter_sets, nal_length_size) = match &track.trak(&mp4).mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Avc1(avc1) => (
            avc1.avcc
                .sequence_parameter_sets
                .iter()
                .chain(&avc1.avcc.picture_parameter_sets)
                .map(|n| n.bytes.clone())
                .collect(),
            usize::from(avc1.avcc.length_size_minus_one & 3) + 1,
        ),
        _ => (Vec::new(), 4),
    };
    let first = track.samples.first().map(|s| s.duration);
    // Frames shown in decode order, each for the same time (the last may end early).
    let constant_rate = track.samples.iter().enumerate().all(|(i, s)| {
        s.composition_timestamp == s.decode_timestamp
            && (Some(s.duration) == first || i + 1 == track.samples.len())
    });
    Ok(SegmentInfo {
        width: info.width,
        height: info.height,
        duration_secs: info.duration_secs,
        fps: info.fps,
        parameter_sets,
        nal_length_size,
        constant_rate,
        has_audio: info.audio,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))
}

fn same_rate(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3 * a.max(b).max(1.0)
}

fn join_blocking(inputs: &[PathBuf], out: &Path, opts: &JoinOptions) -> Result<JoinReport> {
    let mut infos = Vec::with_capacity(inputs.len());
    for path in inputs {
        infos.push(segment_info(path, &read(path)?)?);
    }
    let fps = opts.fps.unwrap_or(infos[0].fps);
    let remux = opts.crossfade_frames == 0
        && !infos[0].parameter_sets.is_empty()
        && infos.iter().all(|i| {
            i.width == opts.width
                && i.height == opts.height
                && i.constant_rate
                && same_rate(i.fps, fps)
                && i.parameter_sets == infos[0].parameter_sets
        });
    let mut file = AtomicFile::new(out)?;
    let report = if remux {
        remux_into(&mut file, inputs, &infos, fps)?
    } else {
        normalise_into(&mut file, inputs, &infos, opts, fps)?
    };
    probe::verify_file(file.path()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOutput,
            format!("the joined film failed verification: {}", e.message()),
        )
    })?;
    let saved = file.commit()?;
    if saved != out {
        tracing::warn!(
            wanted = %out.display(),
            saved = %saved.display(),
            "another file appeared at the film's path while joining; the film was saved beside it"
        );
    }
    Ok(report)
}

fn mux_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("MP4 muxing failed: {e}"))
}

/// Copies every segment's samples into one track, rewriting timestamps.
fn remux_into(
    file: &mut AtomicFile,
    inputs: &[PathBuf],
    infos: &[SegmentInfo],
    fps: f64,
) -> Result<JoinReport> {
    let first = &infos[0];
    let handle = file
        .file()
        .try_clone()
        .map_err(|e| Error::io("cannot write the film", e))?;
    let mut muxer = MuxerBuilder::new(BufWriter::new(handle))
        .video(VideoCodec::H264, first.width, first.height, fps)
        .with_fast_start(true)
        .build()
        .map_err(mux_err)?;
    let mut header = Vec::new();
    for set in &first.parameter_sets {
        header.extend_from_slice(&[0, 0, 0, 1]);
        header.extend_from_slice(set);
    }
    let mut total = 0u64;
    let mut segments = Vec::with_capacity(inputs.len());
    let mut packet = Vec::new();
    for (path, info) in inputs.iter().zip(infos) {
        let bytes = read(path)?;
        let mp4 = probe::parse(&bytes).map_err(|e| invalid_input(path, e))?;
        let track = mp4
            .tracks()
            .values()
            .find(|t| t.kind == Some(TrackKind::Video))
            .ok_or_else(|| invalid_input(path, Error::new(ErrorKind::InvalidOutput, "no video")))?;
        let start = total;
        for (i, sample) in track.samples.iter().enumerate() {
            let data = usize::try_from(sample.offset)
                .ok()
                .zip(usize::try_from(sample.offset + sample.size).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .ok_or_else(|| {
                    invalid_input(
                        path,
                        Error::new(ErrorKind::InvalidOutput, format!("frame {i} is missing")),
                    )
                })?;
            packet.clear();
            if total == 0 {
                packet.extend_from_slice(&header);
            }
            avcc_to_annexb(data, info.nal_length_size, &mut packet)
                .map_err(|e| invalid_input(path, e))?;
            muxer
                .write_video(total as f64 / fps, &packet, sample.is_sync)
                .map_err(mux_err)?;
            total += 1;
        }
        let frames = total - start;
        segments.push(JoinedSegment {
            path: path.clone(),
            frames,
            start_secs: start as f64 / fps,
            duration_secs: frames as f64 / fps,
            normalised: false,
            had_audio: info.has_audio,
        });
    }
    muxer.finish_in_place().map_err(mux_err)?;
    let mut writer = muxer.into_writer();
    std::io::Write::flush(&mut writer).map_err(|e| Error::io("cannot write the film", e))?;
    Ok(JoinReport {
        method: JoinMethod::Remux,
        frames: total,
        duration_secs: total as f64 / fps,
        audio: false,
        segments,
    })
}

/// Rewrites one length-prefixed (AVCC) sample as Annex-B.
fn avcc_to_annexb(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<()> {
    let mut pos = 0;
    while pos + length_size <= sample.len() {
        let len = sample[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        pos += length_size;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= sample.len())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    "a video sample's NAL unit runs past its end",
                )
            })?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&sample[pos..end]);
        pos = end;
    }
    Ok(())
}

/// Scales a frame to fit inside the film's frame, centred on black.
struct Letterbox {
    resizer: FrameResizer,
    scaled: Vec<u8>,
    canvas: Vec<u8>,
}

impl Letterbox {
    fn new() -> Self {
        Self {
            resizer: FrameResizer::default(),
            scaled: Vec::new(),
            canvas: Vec::new(),
        }
    }

    /// The film-sized RGB of `frame`.
    fn fit(&mut self, frame: &image::RgbImage, (w, h): (u32, u32)) -> Result<&[u8]> {
        let (sw, sh) = frame.dimensions();
        self.canvas.clear();
        if (sw, sh) == (w, h) {
            self.canvas.extend_from_slice(frame.as_raw());
            return Ok(&self.canvas);
        }
        let scale = (f64::from(w) / f64::from(sw)).min(f64::from(h) / f64::from(sh));
        let fw = ((f64::from(sw) * scale).round() as u32).clamp(1, w);
        let fh = ((f64::from(sh) * scale).round() as u32).clamp(1, h);
        self.scaled.resize(fw as usize * fh as usize * 3, 0);
        self.resizer.resize_rgb(
            frame.as_raw(),
            (sw, sh),
            CropRect {
                x: 0.0,
                y: 0.0,
                w: f64::from(sw),
                h: f64::from(sh),
            },
            &mut self.scaled,
            (fw, fh),
        )?;
        self.canvas.resize(w as usize * h as usize * 3, 0);
        let (x0, y0) = ((w - fw) / 2, (h - fh) / 2);
        let row = fw as usize * 3;
        for y in 0..fh as usize {
            let dst = ((y0 as usize + y) * w as usize + x0 as usize) * 3;
            self.canvas[dst..dst + row].copy_from_slice(&self.scaled[y * row..(y + 1) * row]);
        }
        Ok(&self.canvas)
    }
}

/// Film frames a segment of `duration` seconds contributes at `fps`.
fn frames_at(duration: f64, fps: f64) -> u64 {
    (duration * fps).round().max(1.0) as u64
}

/// Decodes, scales and re-times every segment, cross-fading where asked, and encodes the film.
///
/// Segment `n` shows for `wanted[n]` film frames; with a cross-fade, its last `overlap[n]`
/// frames are blended with the next segment's first ones, so the film is
/// `Σ wanted − Σ overlap` frames long.
fn normalise_into(
    file: &mut AtomicFile,
    inputs: &[PathBuf],
    infos: &[SegmentInfo],
    opts: &JoinOptions,
    fps: f64,
) -> Result<JoinReport> {
    let encode_fps = (fps.round() as u32).max(1);
    let fps = f64::from(encode_fps);
    let handle = file
        .file()
        .try_clone()
        .map_err(|e| Error::io("cannot write the film", e))?;
    let settings = EncodeSettings::new(Resolution::new(opts.width, opts.height), encode_fps);
    let mut writer = Mp4Writer::new(BufWriter::new(handle), settings)?;
    let size = (opts.width, opts.height);
    let wanted: Vec<u64> = infos
        .iter()
        .map(|i| frames_at(i.duration_secs, fps))
        .collect();
    let overlap: Vec<u64> = wanted
        .windows(2)
        .map(|w| u64::from(opts.crossfade_frames).min(w[0] / 2).min(w[1] / 2))
        .chain(std::iter::once(0))
        .collect();
    let mut letterbox = Letterbox::new();
    // The last frames of the previous segment, held back to blend with this one's first.
    let mut tail: VecDeque<Vec<u8>> = VecDeque::new();
    let mut segments = Vec::with_capacity(inputs.len());
    let mut start = 0u64;
    for (n, (path, info)) in inputs.iter().zip(infos).enumerate() {
        let bytes = read(path)?;
        let wanted = wanted[n];
        let fade_in = if n == 0 { 0 } else { overlap[n - 1] };
        let fade_out = overlap[n];
        let src_fps = if info.fps > 0.0 { info.fps } else { fps };
        let mut next = 0u64;
        let mut emit = |k: u64, rgb: &[u8], tail: &mut VecDeque<Vec<u8>>| -> Result<()> {
            if k < fade_in {
                let prev = tail.pop_front().unwrap_or_else(|| rgb.to_vec());
                let t = (k + 1) as f64 / (fade_in + 1) as f64;
                let mixed: Vec<u8> = prev
                    .iter()
                    .zip(rgb)
                    .map(|(a, b)| (f64::from(*a) * (1.0 - t) + f64::from(*b) * t).round() as u8)
                    .collect();
                writer.push_rgb(&mixed)
            } else if k >= wanted - fade_out {
                tail.push_back(rgb.to_vec());
                Ok(())
            } else {
                writer.push_rgb(rgb)
            }
        };
        let mut last_frame: Option<Vec<u8>> = None;
        frames::for_each_frame(&bytes, |i, img| {
            let rgb = letterbox.fit(&img, size)?;
            // Film frame k shows the source frame on screen at the middle of its interval.
            while next < wanted {
                let src = (((next as f64 + 0.5) / fps) * src_fps).floor() as u64;
                if src > i as u64 {
                    break;
                }
                emit(next, rgb, &mut tail)?;
                next += 1;
            }
            if next == wanted {
                last_frame = None;
            } else {
                last_frame = Some(rgb.to_vec());
            }
            Ok(())
        })
        .map_err(|e| invalid_input(path, e))?;
        // A segment whose container lasts longer than its frames: hold the last frame.
        if let Some(rgb) = last_frame {
            while next < wanted {
                emit(next, &rgb, &mut tail)?;
                next += 1;
            }
        }
        segments.push(JoinedSegment {
            path: path.clone(),
            frames: wanted,
            start_secs: start as f64 / fps,
            duration_secs: wanted as f64 / fps,
            normalised: true,
            had_audio: info.has_audio,
        });
        start += wanted - fade_out;
    }
    let total = writer.frames();
    let mut out = writer.finish()?;
    std::io::Write::flush(&mut out).map_err(|e| Error::io("cannot write the film", e))?;
    Ok(JoinReport {
        method: JoinMethod::Normalised,
        frames: total,
        duration_secs: total as f64 / fps,
        audio: false,
        segments,
    })
}
