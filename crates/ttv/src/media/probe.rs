//! Reading back an MP4: what it holds, and whether it is a playable video.
//!
//! Every video ttv writes or downloads passes [`verify_file`] before a job is called done.
//! The container is parsed by a pure-Rust reader; a parser panic on a hostile file is caught
//! and reported as an invalid output rather than taking the process down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use re_mp4::{Mp4, StsdBoxContent, TrackKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// What a video file holds, as read from its container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// RFC 6381 codec string (`avc1.42C01F`).
    pub codec: String,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Track duration in seconds.
    pub duration_secs: f64,
    /// Number of frames (samples) in the track.
    pub frames: u64,
    /// Average frames per second.
    pub fps: f64,
    /// Number of keyframes.
    pub keyframes: u64,
    /// Whether the index (`moov`) comes before the media data, so playback can start while
    /// downloading.
    pub fast_start: bool,
    /// Whether the file has an audio track.
    pub audio: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOutput, message)
}

/// Parses an MP4 held in memory, guarding against parser panics.
pub(crate) fn parse(bytes: &[u8]) -> Result<Mp4> {
    match catch_unwind(AssertUnwindSafe(|| Mp4::read_bytes(bytes))) {
        Ok(Ok(mp4)) => Ok(mp4),
        Ok(Err(e)) => Err(invalid(format!("not a readable MP4: {e}"))),
        Err(_) => Err(invalid("not a readable MP4: the container is malformed")),
    }
}

/// Describes the first video track of an MP4 held in memory.
pub fn probe_bytes(bytes: &[u8]) -> Result<VideoInfo> {
    let mp4 = parse(bytes)?;
    let tracks = mp4.tracks();
    let audio = tracks.values().any(|t| t.kind == Some(TrackKind::Audio));
    let track = tracks
        .values()
        .find(|t| t.kind == Some(TrackKind::Video))
        .ok_or_else(|| invalid("the MP4 has no video track"))?;
    let codec = catch_unwind(AssertUnwindSafe(|| track.codec_string(&mp4)))
        .ok()
        .flatten()
        .ok_or_else(|| invalid("the video track's codec is unknown"))?;
    let frames = track.samples.len() as u64;
    let keyframes = track.samples.iter().filter(|s| s.is_sync).count() as u64;
    let duration_secs = if track.timescale == 0 {
        0.0
    } else {
        track.duration as f64 / track.timescale as f64
    };
    let fps = if duration_secs > 0.0 {
        frames as f64 / duration_secs
    } else {
        0.0
    };
    Ok(VideoInfo {
        codec,
        width: u32::from(track.width),
        height: u32::from(track.height),
        duration_secs,
        frames,
        fps,
        keyframes,
        fast_start: moov_before_mdat(bytes),
        audio,
    })
}

/// Reads a file, describes it, and checks it is a playable video: a known video codec,
/// non-zero size, at least one frame starting with a keyframe, and a positive duration.
/// Returns the description and the file's SHA-256 (hex).
pub fn verify_file(path: &Path) -> Result<(VideoInfo, String)> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
    let info = verify_bytes(&bytes)?;
    Ok((info, hex::encode(Sha256::digest(&bytes))))
}

/// [`verify_file`] for bytes in memory.
pub fn verify_bytes(bytes: &[u8]) -> Result<VideoInfo> {
    let info = probe_bytes(bytes)?;
    let mp4 = parse(bytes)?;
    let known_codec = ["avc1", "avc3", "hvc1", "hev1", "av01", "vp09"]
        .iter()
        .any(|c| info.codec.starts_with(c));
    if !known_codec {
        return Err(invalid(format!("unsupported video codec {}", info.codec)));
    }
    if info.width == 0 || info.height == 0 {
        return Err(invalid("the video track has no frame size"));
    }
    if info.frames == 0 || info.duration_secs <= 0.0 {
        return Err(invalid("the video track has no frames"));
    }
    let track = mp4
        .tracks()
        .values()
        .find(|t| t.kind == Some(TrackKind::Video))
        .ok_or_else(|| invalid("the MP4 has no video track"))?;
    if !track.samples.first().is_some_and(|s| s.is_sync) {
        return Err(invalid("the video does not start with a keyframe"));
    }
    let end = track
        .samples
        .iter()
        .map(|s| s.offset + s.size)
        .max()
        .unwrap_or(0);
    if end > bytes.len() as u64 {
        return Err(invalid(format!(
            "the file is truncated: its index points {} bytes past the end",
            end - bytes.len() as u64
        )));
    }
    if matches!(track.trak(&mp4).mdia.minf.stbl.stsd.contents, StsdBoxContent::Avc1(ref c) if c.avcc.sequence_parameter_sets.is_empty())
    {
        return Err(invalid("the H.264 track has no sequence parameter set"));
    }
    Ok(info)
}

/// Whether the top-level `moov` box precedes the first `mdat` box.
fn moov_before_mdat(bytes: &[u8]) -> bool {
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let size32 =
            u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
        let name = &bytes[pos + 4..pos + 8];
        match name {
            b"moov" => return true,
            b"mdat" => return false,
            _ => {}
        }
        let size = match size32 {
            0 => return false,
            1 if pos + 16 <= bytes.len() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[pos + 8..pos + 16]);
                u64::from_be_bytes(b) as usize
            }
            1 => return false,
            s => s as usize,
        };
        if size < 8 {
            return false;
        }
        pos = pos.saturating_add(size);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_invalid_output() {
        let err = verify_bytes(b"definitely not an mp4 file at all").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOutput);
    }

    #[test]
    fn box_order_is_read_from_top_level_headers() {
        let mut b = Vec::new();
        b.extend_from_slice(&16u32.to_be_bytes());
        b.extend_from_slice(b"ftypisom\0\0\0\0");
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(b"moov");
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(b"mdat");
        assert!(moov_before_mdat(&b));
        let mut late = b[..16].to_vec();
        late.extend_from_slice(&8u32.to_be_bytes());
        late.extend_from_slice(b"mdat");
        assert!(!moov_before_mdat(&late));
    }
}
