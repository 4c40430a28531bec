//! H.264 in a fast-start MP4, in-process: RGB frames in, a standard file out.
//!
//! RGB is converted to BT.709 limited-range 4:2:0 (and tagged so in the stream's VUI, so
//! players do not guess), encoded by OpenH264 built from source, and muxed by muxide with the
//! index (`moov`) ahead of the media data. A keyframe every two seconds keeps the file
//! seekable. Everything here is blocking: call it from `spawn_blocking` or a thread.

use std::io::Write;

use muxide::api::{Muxer, MuxerBuilder, VideoCodec};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use yuvutils_rs::{
    YuvChromaSubsampling, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use crate::error::{Error, ErrorKind, Result};
use crate::request::Resolution;

/// Largest frame the encoder accepts.
pub const MAX_RESOLUTION: Resolution = Resolution::new(1920, 1080);

/// How to encode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncodeSettings {
    /// Frame size; both sides even.
    pub resolution: Resolution,
    /// Frames per second.
    pub fps: u32,
    /// Target bit rate.
    pub bitrate_bps: u32,
    /// Frames between keyframes.
    pub keyframe_interval: u32,
}

impl EncodeSettings {
    /// Settings for `resolution` at `fps`: about 0.1 bit per pixel (2.8 Mbit/s at 720p30),
    /// a keyframe every two seconds.
    pub fn new(resolution: Resolution, fps: u32) -> Self {
        let bits = resolution.pixels() as f64 * f64::from(fps) * 0.1;
        Self {
            resolution,
            fps,
            bitrate_bps: bits.clamp(300_000.0, 12_000_000.0) as u32,
            keyframe_interval: (fps * 2).max(1),
        }
    }
}

fn encode_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("{what}: {e}"))
}

/// Writes RGB frames as an H.264 MP4 to `W`.
pub struct Mp4Writer<W: Write> {
    encoder: Encoder,
    muxer: Muxer<W>,
    settings: EncodeSettings,
    yuv: YuvPlanarImageMut<'static, u8>,
    annexb: Vec<u8>,
    frames: u64,
}

impl<W: Write> Mp4Writer<W> {
    /// Starts a file with `settings`.
    pub fn new(writer: W, settings: EncodeSettings) -> Result<Self> {
        let Resolution { width, height } = settings.resolution;
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("cannot encode {width}x{height}: both sides must be even and non-zero"),
            ));
        }
        if width.max(height) > MAX_RESOLUTION.width || width.min(height) > MAX_RESOLUTION.height {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("cannot encode {width}x{height}: the largest size is {MAX_RESOLUTION}"),
            ));
        }
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .rate_control_mode(RateControlMode::Off)
            .qp(QpRange::new(18, 26))
            .usage_type(UsageType::CameraVideoRealTime)
            .complexity(Complexity::Low)
            // Dropped frames would break the frame count and duration we promise.
            .skip_frames(false)
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                settings.keyframe_interval,
            ))
            .vui(VuiConfig::bt709());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| encode_err("cannot start the H.264 encoder", e))?;
        let muxer = MuxerBuilder::new(writer)
            .video(VideoCodec::H264, width, height, f64::from(settings.fps))
            .with_fast_start(true)
            .build()
            .map_err(|e| encode_err("cannot start the MP4 muxer", e))?;
        Ok(Self {
            encoder,
            muxer,
            settings,
            yuv: YuvPlanarImageMut::alloc(width, height, YuvChromaSubsampling::Yuv420),
            annexb: Vec::with_capacity(256 * 1024),
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes one frame of tightly packed RGB (`width × height × 3` bytes).
    pub fn push_rgb(&mut self, rgb: &[u8]) -> Result<()> {
        let Resolution { width, height } = self.settings.resolution;
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected {
            return Err(Error::new(
                ErrorKind::Io,
                format!("frame has {} bytes, expected {expected}", rgb.len()),
            ));
        }
        yuvutils_rs::rgb_to_yuv420(
            &mut self.yuv,
            rgb,
            width * 3,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| encode_err("colour conversion failed", e))?;
        let planes = (
            self.yuv.y_plane.borrow(),
            self.yuv.u_plane.borrow(),
            self.yuv.v_plane.borrow(),
        );
        let strides = (
            self.yuv.y_stride as usize,
            self.yuv.u_stride as usize,
            self.yuv.v_stride as usize,
        );
        let source = YUVSlices::new(planes, (width as usize, height as usize), strides);
        let bitstream = self
            .encoder
            .encode(&source)
            .map_err(|e| encode_err("H.264 encoding failed", e))?;
        let keyframe = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        self.annexb.clear();
        bitstream.write_vec(&mut self.annexb);
        if self.annexb.is_empty() {
            return Err(encode_err(
                "H.264 encoding failed",
                "the encoder dropped a frame",
            ));
        }
        let pts = self.frames as f64 / f64::from(self.settings.fps);
        self.muxer
            .write_video(pts, &self.annexb, keyframe)
            .map_err(|e| encode_err("MP4 muxing failed", e))?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the index and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.muxer
            .finish_in_place()
            .map_err(|e| encode_err("cannot finish the MP4", e))?;
        Ok(self.muxer.into_writer())
    }
}
