//! Joining video segments into one film, in-process (no ffmpeg).
//!
//! Segments whose H.264 parameters (SPS/PPS), frame size and frame rate already match the
//! film are joined by copying their samples ([`JoinMethod::Remux`]); anything else makes the
//! whole film go through decode → scale/letterbox → resample to the film's frame rate →
//! encode ([`JoinMethod::Normalised`]). Either way the film is written by [`mp4`], which
//! builds the index from the inputs' indexes and streams the samples from file to file, so
//! memory does not grow with the number of segments. AAC audio is copied in sync with the
//! video, with silent frames ([`aac`]) where a segment has none. A cross-fade goes through
//! the normalised path. The output is written beside its destination, verified as a
//! playable MP4, then renamed into place. Everything heavy runs on a blocking thread.
//!
//! This module joins files; it knows nothing about films, jobs or backends.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use re_mp4::{StsdBoxContent, TrackKind};
use serde::Serialize;

use self::aac::AacConfig;
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::media::atomic::AtomicFile;
use crate::media::encode::{EncodeSettings, Mp4Writer};
use crate::media::image::{CropRect, FrameResizer};
use crate::media::{frames, probe};
use crate::request::Resolution;

mod aac;
mod mp4;

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

/// One sample of an input, as the index describes it.
#[derive(Debug, Clone, Copy)]
struct SampleRef {
    offset: u64,
    size: u32,
    duration: u32,
    sync: bool,
}

/// An input's AAC track.
#[derive(Debug, Clone)]
struct AudioIn {
    /// `None` when it is not AAC in 1024-sample frames (it cannot be copied then).
    config: Option<AacConfig>,
    /// Encoder delay the input's edit list skips, in samples.
    priming: u32,
    samples: Vec<SampleRef>,
}

/// What a segment's container says about it: enough to copy its samples without reading
/// them.
#[derive(Debug, Clone)]
struct SegmentInfo {
    width: u32,
    height: u32,
    duration_secs: f64,
    fps: f64,
    /// The `avcC` payload: SPS, PPS and NAL length size, to decide whether samples can be
    /// copied.
    avcc: Vec<u8>,
    timescale: u32,
    video: Vec<SampleRef>,
    /// Whether every frame is shown in decode order for the same time (the last may end
    /// early).
    constant_rate: bool,
    audio: Option<AudioIn>,
    has_audio: bool,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidOutput,
        format!("segment {} cannot be joined: {message}", path.display()),
    )
}

fn refs(samples: &[re_mp4::Sample]) -> Vec<SampleRef> {
    samples
        .iter()
        .map(|s| SampleRef {
            offset: s.offset,
            size: u32::try_from(s.size).unwrap_or(u32::MAX),
            duration: u32::try_from(s.duration).unwrap_or(u32::MAX),
            sync: s.is_sync,
        })
        .collect()
}

/// Reads a segment's index (not its media data) and checks it can be joined.
fn segment_info(path: &Path) -> Result<SegmentInfo> {
    let file = File::open(path)
        .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?
        .len();
    let mp4 = match catch_unwind(AssertUnwindSafe(|| {
        re_mp4::Mp4::read(BufReader::new(file), len)
    })) {
        Ok(Ok(mp4)) => mp4,
        Ok(Err(e)) => return Err(bad(path, format_args!("not a readable MP4: {e}"))),
        Err(_) => return Err(bad(path, "not a readable MP4: the container is malformed")),
    };
    let tracks = mp4.tracks();
    let track = tracks
        .values()
        .find(|t| t.kind == Some(TrackKind::Video))
        .ok_or_else(|| bad(path, "it has no video track"))?;
    let StsdBoxContent::Avc1(avc1) = &track.trak(&mp4).mdia.minf.stbl.stsd.contents else {
        return Err(bad(path, "only H.264 video can be joined"));
    };
    let video = refs(&track.samples);
    if video.is_empty() || track.timescale == 0 {
        return Err(bad(path, "the video has no frames"));
    }
    if !video[0].sync {
        return Err(bad(path, "the video does not start with a keyframe"));
    }
    let end = video.iter().map(|s| s.offset + u64::from(s.size)).max();
    if end.is_some_and(|e| e > len) {
        return Err(bad(path, "the file is truncated"));
    }
    let first = video[0].duration;
    let constant_rate = track.samples.iter().enumerate().all(|(i, s)| {
        s.composition_timestamp == s.decode_timestamp
            && (s.duration == u64::from(first) || i + 1 == track.samples.len())
    });
    let total: u64 = video.iter().map(|s| u64::from(s.duration)).sum();
    let duration_secs = total as f64 / track.timescale as f64;
    let audio = tracks
        .values()
        .find(|t| t.kind == Some(TrackKind::Audio))
        .map(|t| audio_in(&mp4, t));
    Ok(SegmentInfo {
        width: u32::from(track.width),
        height: u32::from(track.height),
        duration_secs,
        fps: if duration_secs > 0.0 {
            video.len() as f64 / duration_secs
        } else {
            0.0
        },
        avcc: avc1.avcc.raw.clone(),
        timescale: u32::try_from(track.timescale).unwrap_or(u32::MAX),
        video,
        constant_rate,
        has_audio: audio.is_some(),
        audio,
    })
}

fn audio_in(mp4: &re_mp4::Mp4, track: &re_mp4::Track) -> AudioIn {
    let trak = track.trak(mp4);
    let config = match &trak.mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Mp4a(mp4a) => mp4a.esds.as_ref().map(|esds| {
            let d = &esds.es_desc.dec_config.dec_specific;
            AacConfig {
                object_type: d.profile,
                freq_index: d.freq_index,
                channels: d.chan_conf,
            }
        }),
        _ => None,
    }
    // AAC-LC frames hold 1024 samples each, whatever timescale the track counts in.
    .filter(|c| c.object_type == 2 && c.sample_rate().is_some());
    let rate = config.and_then(|c| c.sample_rate()).unwrap_or(0);
    let priming = trak
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .and_then(|elst| elst.entries.iter().find(|e| e.media_time != u64::MAX))
        .map_or(0, |e| {
            let samples =
                u128::from(e.media_time) * u128::from(rate) / u128::from(track.timescale.max(1));
            u32::try_from(samples).unwrap_or(0)
        });
    AudioIn {
        config,
        priming,
        samples: refs(&track.samples),
    }
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
        infos.push(segment_info(path)?);
    }
    let fps = opts.fps.unwrap_or(infos[0].fps);
    let remux = opts.crossfade_frames == 0
        && infos.iter().all(|i| {
            i.width == opts.width
                && i.height == opts.height
                && i.constant_rate
                && same_rate(i.fps, fps)
                && i.avcc == infos[0].avcc
        });
    let mut file = AtomicFile::new(out)?;
    let mut sources = inputs.to_vec();
    // The normalised video is encoded beside the film, then copied into it like a segment.
    let mut encoded = None;
    let (mut report, video) = if remux {
        remux_video(inputs, &infos)
    } else {
        let dir = file
            .path()
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let temp = tempfile::Builder::new()
            .prefix(".join-video.")
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(format_args!("cannot write in {}", dir.display()), e))?;
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(|e| Error::io("cannot write the film", e))?;
        let (report, starts) = normalise_into(handle, inputs, &infos, opts, fps)?;
        let info = segment_info(temp.path())?;
        sources.push(temp.path().to_path_buf());
        let video = split_video(&info, sources.len() - 1, &starts);
        encoded = Some(temp);
        (report, video)
    };
    let bounds: Vec<(f64, f64)> = report
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let end = report
                .segments
                .get(i + 1)
                .map_or(report.duration_secs, |n| n.start_secs);
            (s.start_secs, end)
        })
        .collect();
    let mut film = mp4::Film {
        tracks: vec![video.track],
        layout: Vec::new(),
        inputs: sources,
        frames: Vec::new(),
    };
    let audio = if infos.iter().any(|i| i.has_audio) {
        plan_audio(&infos, &bounds, &mut film.frames)
    } else {
        None
    };
    report.audio = audio.is_some();
    let audio_chunks = audio.as_ref().map_or(0, |a| a.chunks.len());
    if let Some(track) = audio {
        film.tracks.push(track);
    }
    // Interleave: each segment's video, then its audio.
    for n in 0..video.chunks_per_segment.len().max(audio_chunks) {
        for c in video.chunks_per_segment.get(n).cloned().unwrap_or(0..0) {
            film.layout.push((0, c));
        }
        if n < audio_chunks {
            film.layout.push((1, n));
        }
    }
    let handle = file
        .file()
        .try_clone()
        .map_err(|e| Error::io("cannot write the film", e))?;
    film.write(handle)?;
    drop(encoded);
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

/// The film's video track and which of its chunks belong to which segment.
struct VideoOut {
    track: mp4::TrackOut,
    chunks_per_segment: Vec<std::ops::Range<usize>>,
}

/// Adds `samples` of input `input` to `chunk`, merging byte runs that touch.
fn push_samples(chunk: &mut mp4::Chunk, input: usize, samples: &[SampleRef]) {
    for s in samples {
        let len = u64::from(s.size);
        match chunk.pieces.last_mut() {
            Some(mp4::Piece::File {
                input: i,
                offset,
                len: l,
            }) if *i == input && *offset + *l == s.offset => *l += len,
            _ => chunk.pieces.push(mp4::Piece::File {
                input,
                offset: s.offset,
                len,
            }),
        }
        chunk.samples += 1;
    }
}

fn video_track(info: &SegmentInfo, timescale: u32) -> mp4::TrackOut {
    mp4::TrackOut {
        kind: mp4::Kind::Video {
            width: u16::try_from(info.width).unwrap_or(u16::MAX),
            height: u16::try_from(info.height).unwrap_or(u16::MAX),
            avcc: info.avcc.clone(),
        },
        timescale,
        sizes: Vec::new(),
        durations: Vec::new(),
        sync: Some(Vec::new()),
        chunks: Vec::new(),
        media_start: 0,
    }
}

fn add_video(track: &mut mp4::TrackOut, samples: &[SampleRef], scale: (u32, u32)) {
    for s in samples {
        track.sizes.push(s.size);
        // Same rate, maybe another timescale: re-express each duration.
        let d = (u64::from(s.duration) * u64::from(scale.0) + u64::from(scale.1) / 2)
            / u64::from(scale.1.max(1));
        track.durations.push(u32::try_from(d).unwrap_or(u32::MAX));
        if s.sync
            && let Some(sync) = &mut track.sync
        {
            sync.push(track.sizes.len() as u32);
        }
    }
}

/// Every segment's samples, copied as they are, one chunk per segment.
fn remux_video(inputs: &[PathBuf], infos: &[SegmentInfo]) -> (JoinReport, VideoOut) {
    let timescale = infos[0].timescale;
    let mut track = video_track(&infos[0], timescale);
    let mut segments = Vec::with_capacity(inputs.len());
    let mut ranges = Vec::with_capacity(inputs.len());
    let mut at = 0u64;
    for (n, (path, info)) in inputs.iter().zip(infos).enumerate() {
        let before: u64 = track.durations.iter().map(|d| u64::from(*d)).sum();
        let mut chunk = mp4::Chunk::default();
        push_samples(&mut chunk, n, &info.video);
        add_video(&mut track, &info.video, (timescale, info.timescale));
        track.chunks.push(chunk);
        ranges.push(n..n + 1);
        let after: u64 = track.durations.iter().map(|d| u64::from(*d)).sum();
        let frames = info.video.len() as u64;
        segments.push(JoinedSegment {
            path: path.clone(),
            frames,
            start_secs: before as f64 / f64::from(timescale),
            duration_secs: (after - before) as f64 / f64::from(timescale),
            normalised: false,
            had_audio: info.has_audio,
        });
        at += frames;
    }
    let duration: u64 = track.durations.iter().map(|d| u64::from(*d)).sum();
    let report = JoinReport {
        method: JoinMethod::Remux,
        frames: at,
        duration_secs: duration as f64 / f64::from(timescale),
        audio: false,
        segments,
    };
    (
        report,
        VideoOut {
            track,
            chunks_per_segment: ranges,
        },
    )
}

/// The encoded film's video (input `input`), cut into one chunk per segment at `starts`.
fn split_video(info: &SegmentInfo, input: usize, starts: &[u64]) -> VideoOut {
    let mut track = video_track(info, info.timescale);
    let mut ranges = Vec::with_capacity(starts.len());
    for (n, &from) in starts.iter().enumerate() {
        let to = starts
            .get(n + 1)
            .copied()
            .unwrap_or(info.video.len() as u64);
        let part = info
            .video
            .get(from as usize..(to as usize).min(info.video.len()))
            .unwrap_or(&[]);
        let mut chunk = mp4::Chunk::default();
        push_samples(&mut chunk, input, part);
        add_video(&mut track, part, (info.timescale, info.timescale));
        let index = track.chunks.len();
        if chunk.samples > 0 {
            track.chunks.push(chunk);
            ranges.push(index..index + 1);
        } else {
            ranges.push(index..index);
        }
    }
    VideoOut {
        track,
        chunks_per_segment: ranges,
    }
}

/// The film's AAC track: each segment's frames copied from where its video starts, and
/// silence where a segment has none (or ends early). Every join lands within half an AAC
/// frame (about 11 ms at 48 kHz) of its video, whatever came before. `bounds` are the
/// segments' (start, end) in the film, in seconds. `None` when no segment's audio can be
/// copied (not AAC-LC, or a channel layout silence cannot be made for).
fn plan_audio(
    infos: &[SegmentInfo],
    bounds: &[(f64, f64)],
    frames: &mut Vec<Vec<u8>>,
) -> Option<mp4::TrackOut> {
    let config = infos
        .iter()
        .filter_map(|i| i.audio.as_ref()?.config)
        .find(|c| c.silent_frame().is_some());
    let Some(config) = config else {
        tracing::warn!("the segments' audio is not AAC-LC mono or stereo; the film has none");
        return None;
    };
    let silence = config.silent_frame()?;
    let rate = config.sample_rate()?;
    frames.push(silence.clone());
    let silent = frames.len() - 1;
    let half = u64::from(aac::FRAME_SAMPLES / 2);
    let step = u64::from(aac::FRAME_SAMPLES);
    fn usable(info: &SegmentInfo, config: AacConfig) -> Option<&AudioIn> {
        info.audio.as_ref().filter(|a| a.config == Some(config))
    }
    // Presentation starts after the first segment's encoder delay, when it has one.
    let media_start = usable(&infos[0], config).map_or(0, |a| a.priming);
    let mut track = mp4::TrackOut {
        kind: mp4::Kind::Audio {
            sample_rate: rate,
            channels: u16::from(config.channels),
            asc: config.audio_specific_config(),
        },
        timescale: rate,
        sizes: Vec::new(),
        durations: Vec::new(),
        sync: None,
        chunks: Vec::new(),
        media_start,
    };
    let at = |secs: f64| (secs * f64::from(rate)).round().max(0.0) as u64 + u64::from(media_start);
    let mut pos = 0u64;
    let pad = |chunk: &mut mp4::Chunk, track: &mut mp4::TrackOut, pos: &mut u64, to: u64| {
        let mut count = 0u32;
        while *pos + half < to {
            *pos += step;
            count += 1;
            track.sizes.push(silence.len() as u32);
            track.durations.push(aac::FRAME_SAMPLES);
        }
        if count > 0 {
            chunk.pieces.push(mp4::Piece::Repeat {
                frame: silent,
                count,
            });
            chunk.samples += count;
        }
    };
    for (n, info) in infos.iter().enumerate() {
        let (start, end) = bounds.get(n).copied().unwrap_or((0.0, 0.0));
        let (start, end) = (at(start), at(end));
        let mut chunk = mp4::Chunk::default();
        match usable(info, config) {
            Some(audio) => {
                // The input's first frame goes where its priming ends at the video's start.
                let first = start.saturating_sub(u64::from(audio.priming));
                pad(&mut chunk, &mut track, &mut pos, first);
                let skip = if pos > first + half {
                    ((pos - first + half) / step) as usize
                } else {
                    0
                };
                for s in audio.samples.iter().skip(skip) {
                    if pos + half >= end {
                        break;
                    }
                    push_samples(&mut chunk, n, std::slice::from_ref(s));
                    track.sizes.push(s.size);
                    track.durations.push(aac::FRAME_SAMPLES);
                    pos += step;
                }
            }
            None => {
                if info.has_audio {
                    tracing::warn!(
                        segment = n + 1,
                        "the segment's audio is in another format than the film's; it gets silence"
                    );
                }
            }
        }
        pad(&mut chunk, &mut track, &mut pos, end);
        track.chunks.push(chunk);
    }
    Some(track)
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
    fn fit<'a>(&'a mut self, frame: &'a image::RgbImage, (w, h): (u32, u32)) -> Result<&'a [u8]> {
        let (sw, sh) = frame.dimensions();
        if (sw, sh) == (w, h) {
            return Ok(frame.as_raw());
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
        self.canvas.clear();
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

/// A decoded frame at the film's size, or the end of a segment, from the decoding thread.
enum Decoded {
    Frame { index: usize, rgb: Vec<u8> },
    End,
}

/// Decodes every segment in turn and sends its frames, already at the film's size.
fn decode_all(
    inputs: &[PathBuf],
    size: (u32, u32),
    tx: &std::sync::mpsc::SyncSender<Decoded>,
) -> Result<()> {
    let stopped = || Error::new(ErrorKind::Io, "the encoder stopped");
    let mut letterbox = Letterbox::new();
    for path in inputs {
        let bytes = read(path)?;
        frames::for_each_frame(&bytes, |index, img| {
            let rgb = if img.dimensions() == size {
                img.into_raw()
            } else {
                letterbox.fit(&img, size)?.to_vec()
            };
            tx.send(Decoded::Frame { index, rgb })
                .map_err(|_| stopped())
        })
        .map_err(|e| invalid_input(path, e))?;
        tx.send(Decoded::End).map_err(|_| stopped())?;
    }
    Ok(())
}

/// Decodes, scales and re-times every segment, cross-fading where asked, and encodes the film.
///
/// Segment `n` shows for `wanted[n]` film frames; with a cross-fade, its last `overlap[n]`
/// frames are blended with the next segment's first ones, so the film is
/// `Σ wanted − Σ overlap` frames long. Decoding runs on a second thread, a few frames ahead
/// of the encoder, so the two share the machine's cores.
fn normalise_into(
    handle: File,
    inputs: &[PathBuf],
    infos: &[SegmentInfo],
    opts: &JoinOptions,
    fps: f64,
) -> Result<(JoinReport, Vec<u64>)> {
    let encode_fps = (fps.round() as u32).max(1);
    let fps = f64::from(encode_fps);
    let settings = EncodeSettings::new(Resolution::new(opts.width, opts.height), encode_fps);
    let size = (opts.width, opts.height);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    std::thread::scope(|scope| {
        let decoder = scope.spawn(move || decode_all(inputs, size, &tx));
        let encoded = encode_all(handle, settings, &rx, infos, inputs, opts, fps);
        // A failed encoder drops the channel, which stops the decoder; a failed decoder
        // closes it, which stops the encoder: the decoder's error is then the cause.
        drop(rx);
        let decoded = decoder
            .join()
            .unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, "the decoding thread failed")));
        match (encoded, decoded) {
            (Ok(done), Ok(())) => Ok(done),
            (Err(_), Err(e)) | (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(e),
        }
    })
}

fn encode_all(
    handle: File,
    settings: EncodeSettings,
    rx: &std::sync::mpsc::Receiver<Decoded>,
    infos: &[SegmentInfo],
    inputs: &[PathBuf],
    opts: &JoinOptions,
    fps: f64,
) -> Result<(JoinReport, Vec<u64>)> {
    let mut writer = Mp4Writer::new(BufWriter::new(handle), settings)?;
    let wanted: Vec<u64> = infos
        .iter()
        .map(|i| frames_at(i.duration_secs, fps))
        .collect();
    let overlap: Vec<u64> = wanted
        .windows(2)
        .map(|w| u64::from(opts.crossfade_frames).min(w[0] / 2).min(w[1] / 2))
        .chain(std::iter::once(0))
        .collect();
    let closed = || Error::new(ErrorKind::Io, "the decoding thread stopped");
    // The last frames of the previous segment, held back to blend with this one's first.
    let mut tail: VecDeque<Vec<u8>> = VecDeque::new();
    let mut segments = Vec::with_capacity(inputs.len());
    let mut starts = Vec::with_capacity(inputs.len());
    let mut start = 0u64;
    for (n, (path, info)) in inputs.iter().zip(infos).enumerate() {
        starts.push(start);
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
        let mut last: Option<Vec<u8>> = None;
        loop {
            match rx.recv().map_err(|_| closed())? {
                Decoded::End => break,
                Decoded::Frame { index, rgb } => {
                    // Film frame k shows the source frame on screen at the middle of its
                    // interval.
                    while next < wanted {
                        let src = (((next as f64 + 0.5) / fps) * src_fps).floor() as u64;
                        if src > index as u64 {
                            break;
                        }
                        emit(next, &rgb, &mut tail)?;
                        next += 1;
                    }
                    last = Some(rgb);
                }
            }
        }
        // A segment whose container lasts longer than its frames: hold the last frame.
        if let Some(rgb) = last {
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
    Ok((
        JoinReport {
            method: JoinMethod::Normalised,
            frames: total,
            duration_secs: total as f64 / fps,
            audio: false,
            segments,
        },
        starts,
    ))
}
