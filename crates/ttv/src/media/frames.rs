//! Decoding frames back out of an H.264 MP4: the first and last frame for chaining segments,
//! or every frame for checks.
//!
//! Decoding starts at the keyframe before the wanted frame, so pulling the last frame of a
//! long clip decodes at most one keyframe interval.

use std::path::Path;

use image::RgbImage;
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::formats::YUVSource;
use re_mp4::{Mp4, Sample, StsdBoxContent, TrackKind};
use yuvutils_rs::{YuvPlanarImage, YuvRange, YuvStandardMatrix};

use crate::error::{Error, ErrorKind, Result};
use crate::media::probe;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOutput, message)
}

/// Which frame to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first frame.
    First,
    /// The last frame.
    Last,
    /// Frame `n`, counting from zero in decode order.
    Index(usize),
}

struct H264Track {
    samples: Vec<Sample>,
    /// SPS and PPS as Annex-B.
    parameter_sets: Vec<u8>,
    nal_length_size: usize,
}

fn h264_track(mp4: &Mp4) -> Result<H264Track> {
    let track = mp4
        .tracks()
        .values()
        .find(|t| t.kind == Some(TrackKind::Video))
        .ok_or_else(|| invalid("the MP4 has no video track"))?;
    let StsdBoxContent::Avc1(avc1) = &track.trak(mp4).mdia.minf.stbl.stsd.contents else {
        return Err(invalid("only H.264 video can be decoded here"));
    };
    let mut parameter_sets = Vec::new();
    for nal in avc1
        .avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avc1.avcc.picture_parameter_sets)
    {
        parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
        parameter_sets.extend_from_slice(&nal.bytes);
    }
    Ok(H264Track {
        samples: track.samples.clone(),
        parameter_sets,
        nal_length_size: usize::from(avc1.avcc.length_size_minus_one & 3) + 1,
    })
}

/// Rewrites one length-prefixed (AVCC) sample as Annex-B.
fn to_annexb(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<()> {
    let mut pos = 0;
    while pos + length_size <= sample.len() {
        let len = sample[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        pos += length_size;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= sample.len())
            .ok_or_else(|| invalid("a video sample's NAL unit runs past its end"))?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&sample[pos..end]);
        pos = end;
    }
    Ok(())
}

fn to_rgb(yuv: &impl YUVSource) -> Result<RgbImage> {
    let (w, h) = yuv.dimensions();
    let (ys, us, vs) = yuv.strides();
    let planar = YuvPlanarImage {
        y_plane: yuv.y(),
        y_stride: ys as u32,
        u_plane: yuv.u(),
        u_stride: us as u32,
        v_plane: yuv.v(),
        v_stride: vs as u32,
        width: w as u32,
        height: h as u32,
    };
    let mut rgb = vec![0u8; w * h * 3];
    yuvutils_rs::yuv420_to_rgb(
        &planar,
        &mut rgb,
        (w * 3) as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt709,
    )
    .map_err(|e| invalid(format!("colour conversion failed: {e}")))?;
    RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| invalid("decoded frame has the wrong size"))
}

/// Decodes samples `from..=to` and returns the RGB frames of those in `keep`.
fn decode_range(
    bytes: &[u8],
    track: &H264Track,
    from: usize,
    to: usize,
    mut keep: impl FnMut(usize, RgbImage) -> Result<()>,
) -> Result<()> {
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
        .map_err(|e| invalid(format!("cannot start the H.264 decoder: {e}")))?;
    let mut packet = Vec::new();
    let mut decoded = 0usize;
    for (i, sample) in track.samples.iter().enumerate().take(to + 1).skip(from) {
        let range = sample.offset as usize..(sample.offset + sample.size) as usize;
        let data = bytes
            .get(range)
            .ok_or_else(|| invalid(format!("frame {i} lies past the end of the file")))?;
        packet.clear();
        if i == from {
            packet.extend_from_slice(&track.parameter_sets);
        }
        to_annexb(data, track.nal_length_size, &mut packet)?;
        let frame = decoder
            .decode(&packet)
            .map_err(|e| invalid(format!("frame {i} does not decode: {e}")))?;
        if let Some(yuv) = frame {
            keep(from + decoded, to_rgb(&yuv)?)?;
            decoded += 1;
        }
    }
    let rest = decoder
        .flush_remaining()
        .map_err(|e| invalid(format!("the decoder failed at the end: {e}")))?;
    for yuv in rest {
        keep(from + decoded, to_rgb(&yuv)?)?;
        decoded += 1;
    }
    Ok(())
}

/// Decodes one frame of the MP4 in `bytes`.
pub fn frame_from_bytes(bytes: &[u8], which: Which) -> Result<RgbImage> {
    let mp4 = probe::parse(bytes)?;
    let track = h264_track(&mp4)?;
    let count = track.samples.len();
    let target = match which {
        Which::First => 0,
        Which::Last => count
            .checked_sub(1)
            .ok_or_else(|| invalid("the video has no frames"))?,
        Which::Index(n) if n < count => n,
        Which::Index(n) => {
            return Err(invalid(format!(
                "frame {n} asked for, the video has {count}"
            )));
        }
    };
    let start = track.samples[..=target]
        .iter()
        .rposition(|s| s.is_sync)
        .unwrap_or(0);
    let mut found = None;
    decode_range(bytes, &track, start, target, |i, img| {
        if i == target {
            found = Some(img);
        }
        Ok(())
    })?;
    found.ok_or_else(|| invalid(format!("frame {target} could not be decoded")))
}

/// Decodes one frame of the MP4 file at `path`.
pub fn extract_frame(path: &Path, which: Which) -> Result<RgbImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
    frame_from_bytes(&bytes, which)
}

/// Decodes every frame of an MP4 held in memory, calling `each` with its index and pixels.
pub fn for_each_frame(
    bytes: &[u8],
    each: impl FnMut(usize, RgbImage) -> Result<()>,
) -> Result<usize> {
    let mp4 = probe::parse(bytes)?;
    let track = h264_track(&mp4)?;
    let count = track.samples.len();
    if count == 0 {
        return Ok(0);
    }
    let mut seen = 0;
    let mut each = each;
    decode_range(bytes, &track, 0, count - 1, |i, img| {
        seen += 1;
        each(i, img)
    })?;
    Ok(seen)
}
