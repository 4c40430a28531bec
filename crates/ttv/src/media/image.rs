//! Input images: checked by content, never by file name.
//!
//! [`ImageInput`] holds the encoded bytes of a validated image (format sniffed from the bytes,
//! fully decoded once under memory and pixel limits so that truncated and corrupt files and
//! decompression bombs are refused up front) and its size after EXIF orientation. Decoding to
//! pixels and fitting to a frame size live here too, so every backend prepares images the same
//! way.

use std::fmt;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{ImageDecoder, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::capabilities::ImageLimits;
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::request::Resolution;

/// Largest image file ttv reads at all.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest decoded image ttv accepts (decompression-bomb guard): 64 megapixels.
pub const MAX_PIXELS: u64 = 64_000_000;
/// Largest side ttv accepts.
pub const MAX_SIDE: u32 = 16_384;

/// An image encoding ttv accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl ImageFormat {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    fn from_image(f: image::ImageFormat) -> Option<Self> {
        match f {
            image::ImageFormat::Png => Some(Self::Png),
            image::ImageFormat::Jpeg => Some(Self::Jpeg),
            image::ImageFormat::WebP => Some(Self::Webp),
            _ => None,
        }
    }

    fn to_image(self) -> image::ImageFormat {
        match self {
            Self::Png => image::ImageFormat::Png,
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Webp => image::ImageFormat::WebP,
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Webp => "WebP",
        })
    }
}

/// A validated input image: its bytes, what they are, and its upright size.
#[derive(Clone, Serialize)]
pub struct ImageInput {
    source: String,
    format: ImageFormat,
    width: u32,
    height: u32,
    #[serde(rename = "bytes", serialize_with = "ser_len")]
    data: Arc<[u8]>,
    sha256: String,
    #[serde(rename = "exif_orientation")]
    orientation: u8,
}

fn ser_len<S: serde::Serializer>(d: &Arc<[u8]>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.len() as u64)
}

impl fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageInput")
            .field("source", &self.source)
            .field("format", &self.format)
            .field("size", &format_args!("{}x{}", self.width, self.height))
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl ImageInput {
    /// Reads and validates the image at `path`; `field` names it in errors (`image`,
    /// `last_frame`).
    pub fn from_path(field: &str, path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| {
            let allowed = if e.kind() == std::io::ErrorKind::NotFound {
                "the path of an existing PNG, JPEG or WebP file".to_owned()
            } else {
                format!("a readable file ({e})")
            };
            Error::invalid(vec![Problem::new(field, &shown, allowed)])
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(vec![Problem::new(
                field,
                &shown,
                "a file, not a folder",
            )]));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(Error::invalid(vec![Problem::new(
                field,
                format!("{shown} ({} bytes)", meta.len()),
                format!("a file of at most {} MiB", MAX_FILE_BYTES / 1024 / 1024),
            )]));
        }
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format_args!("cannot read {shown}"), e))?;
        Self::from_bytes(field, shown, bytes)
    }

    /// Validates encoded image bytes; `source` is how the image is named in messages.
    pub fn from_bytes(field: &str, source: impl Into<String>, bytes: Vec<u8>) -> Result<Self> {
        let source = source.into();
        let refuse = |why: String| Error::invalid(vec![Problem::new(field, &source, why)]);
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(refuse(format!(
                "a file of at most {} MiB",
                MAX_FILE_BYTES / 1024 / 1024
            )));
        }
        let guessed = image::guess_format(&bytes).ok();
        let format = guessed.and_then(ImageFormat::from_image).ok_or_else(|| {
            refuse(match guessed {
                Some(other) => format!("a PNG, JPEG or WebP image (this is {other:?})"),
                None => {
                    "a PNG, JPEG or WebP image (the content is not a known image format)".to_owned()
                }
            })
        })?;

        // The size from the header first, so that an image over the limits is refused with
        // its size and the limit rather than the decoder's bare "exceeds limit".
        let (w, h) = ImageReader::with_format(Cursor::new(&bytes[..]), format.to_image())
            .into_dimensions()
            .map_err(|e| refuse(format!("a readable {format} image ({e})")))?;
        check_pixel_budget(w, h).map_err(&refuse)?;
        let mut decoder = reader(&bytes, format)
            .into_decoder()
            .map_err(|e| refuse(format!("a readable {format} image ({e})")))?;
        let orientation = decoder.orientation().map(orientation_code).unwrap_or(1);
        // Decode once, fully, so a truncated or corrupt file is refused now rather than
        // half-way through a paid job.
        let mut pixels = vec![0u8; decoder.total_bytes() as usize];
        decoder
            .read_image(&mut pixels)
            .map_err(|e| refuse(format!("a complete, uncorrupted {format} image ({e})")))?;
        drop(pixels);
        // JPEG decoders fill a cut-off scan with grey instead of failing; require the end
        // marker after the last scan.
        if format == ImageFormat::Jpeg && !jpeg_has_end_after_last_scan(&bytes) {
            return Err(refuse(format!(
                "a complete, uncorrupted {format} image (the file ends before the image data does)"
            )));
        }

        let (width, height) = if orientation >= 5 { (h, w) } else { (w, h) };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Self {
            source,
            format,
            width,
            height,
            data: bytes.into(),
            sha256,
            orientation,
        })
    }

    /// Where the image came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The encoding.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// The upright size (after EXIF orientation).
    pub fn resolution(&self) -> Resolution {
        Resolution::new(self.width, self.height)
    }

    /// The encoded bytes as read.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The EXIF orientation code (1 = upright), already applied by [`Self::decode_rgb`].
    pub fn exif_orientation(&self) -> u8 {
        self.orientation
    }

    /// SHA-256 of the encoded bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The image as a `data:` URI, the form most hosted APIs accept inline.
    pub fn data_uri(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.format.mime(),
            base64::engine::general_purpose::STANDARD.encode(&self.data)
        )
    }

    /// The encoded bytes as plain base64, for APIs that take images without a `data:` prefix.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.data)
    }

    /// Checks this image against a backend's limits.
    pub fn check_limits(&self, field: &str, limits: &ImageLimits) -> Vec<Problem> {
        let mut problems = Vec::new();
        let name = || {
            format!(
                "{} ({}, {}x{})",
                self.source, self.format, self.width, self.height
            )
        };
        if !limits.formats.contains(&self.format) {
            let allowed: Vec<_> = limits.formats.iter().map(ToString::to_string).collect();
            problems.push(Problem::new(
                field,
                name(),
                format!("one of the formats {}", allowed.join(", ")),
            ));
        }
        if self.data.len() as u64 > limits.max_bytes {
            problems.push(Problem::new(
                field,
                format!("{} ({})", self.source, megabytes(self.data.len() as u64)),
                format!("a file of at most {}", megabytes(limits.max_bytes)),
            ));
        }
        if self.width.min(self.height) < limits.min_side {
            problems.push(Problem::new(
                field,
                name(),
                format!("a shorter side of at least {} pixels", limits.min_side),
            ));
        }
        let pixels = u64::from(self.width) * u64::from(self.height);
        if pixels > limits.max_pixels {
            problems.push(Problem::new(
                field,
                format!("{} = {:.1} megapixels", name(), pixels as f64 / 1e6),
                format!(
                    "at most {:.1} megapixels ({} pixels)",
                    limits.max_pixels as f64 / 1e6,
                    limits.max_pixels
                ),
            ));
        }
        problems
    }

    /// Decodes to upright 8-bit RGB.
    pub fn decode_rgb(&self) -> Result<RgbImage> {
        let mut decoder = reader(&self.data, self.format)
            .into_decoder()
            .map_err(decode_err)?;
        let orientation = decoder.orientation().ok();
        let mut img = image::DynamicImage::from_decoder(decoder).map_err(decode_err)?;
        if let Some(o) = orientation {
            img.apply_orientation(o);
        }
        Ok(img.into_rgb8())
    }
}

fn reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image());
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + 16 * 1024 * 1024);
    reader.limits(limits);
    reader
}

/// Whether an end-of-image marker (FF D9) follows the last start-of-scan marker (FF DA).
/// Markers inside entropy-coded data are byte-stuffed, so a raw FF DA / FF D9 pair is a marker.
fn jpeg_has_end_after_last_scan(bytes: &[u8]) -> bool {
    let last = |marker: u8| {
        bytes
            .windows(2)
            .rposition(|w| w[0] == 0xFF && w[1] == marker)
    };
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

/// `12.3 MB` for a byte count.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn check_pixel_budget(w: u32, h: u32) -> std::result::Result<(), String> {
    let pixels = u64::from(w) * u64::from(h);
    if w == 0 || h == 0 {
        return Err("an image with a non-zero width and height".to_owned());
    }
    if pixels > MAX_PIXELS || w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!(
            "at most {} megapixels and {MAX_SIDE} pixels a side (this one is {w}x{h})",
            MAX_PIXELS / 1_000_000
        ));
    }
    Ok(())
}

fn orientation_code(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation as O;
    match o {
        O::NoTransforms => 1,
        O::FlipHorizontal => 2,
        O::Rotate180 => 3,
        O::FlipVertical => 4,
        O::Rotate90FlipH => 5,
        O::Rotate90 => 6,
        O::Rotate270FlipH => 7,
        O::Rotate270 => 8,
    }
}

fn decode_err(e: image::ImageError) -> Error {
    Error::new(
        ErrorKind::InvalidRequest,
        format!("cannot decode image: {e}"),
    )
}

/// A rectangle in source pixels, with fractional edges for smooth camera moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropRect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl CropRect {
    /// The largest rectangle of `aspect` (width / height) centred in a `w`×`h` image.
    pub fn cover(w: u32, h: u32, aspect: f64) -> Self {
        let (w, h) = (f64::from(w), f64::from(h));
        if w / h > aspect {
            let cw = h * aspect;
            Self {
                x: (w - cw) / 2.0,
                y: 0.0,
                w: cw,
                h,
            }
        } else {
            let ch = w / aspect;
            Self {
                x: 0.0,
                y: (h - ch) / 2.0,
                w,
                h: ch,
            }
        }
    }
}

/// Resizes RGB images with SIMD, reusing its buffers between frames.
pub struct FrameResizer {
    resizer: Resizer,
    alg: ResizeAlg,
}

impl Default for FrameResizer {
    fn default() -> Self {
        Self {
            resizer: Resizer::new(),
            alg: ResizeAlg::Convolution(FilterType::Bilinear),
        }
    }
}

impl FrameResizer {
    /// A resizer using a higher-quality filter, for stills.
    pub fn high_quality() -> Self {
        Self {
            resizer: Resizer::new(),
            alg: ResizeAlg::Convolution(FilterType::CatmullRom),
        }
    }

    /// Scales the `crop` region of `src` (tightly packed RGB, `src_w`×`src_h`) into `dst`
    /// (tightly packed RGB, `dst_w`×`dst_h`).
    pub fn resize_rgb(
        &mut self,
        src: &[u8],
        (src_w, src_h): (u32, u32),
        crop: CropRect,
        dst: &mut [u8],
        (dst_w, dst_h): (u32, u32),
    ) -> Result<()> {
        let fail =
            |e: &dyn fmt::Display| Error::new(ErrorKind::Io, format!("image resize failed: {e}"));
        let src = fast_image_resize::images::ImageRef::new(src_w, src_h, src, PixelType::U8x3)
            .map_err(|e| fail(&e))?;
        let mut out =
            FirImage::from_slice_u8(dst_w, dst_h, dst, PixelType::U8x3).map_err(|e| fail(&e))?;
        let options = ResizeOptions::new()
            .resize_alg(self.alg)
            .crop(crop.x, crop.y, crop.w, crop.h);
        self.resizer
            .resize(&src, &mut out, &options)
            .map_err(|e| fail(&e))
    }
}

/// Centre-crops `img` to the aspect of `target` and scales it to exactly that size.
pub fn fit_cover(img: &RgbImage, target: Resolution) -> Result<RgbImage> {
    let crop = CropRect::cover(
        img.width(),
        img.height(),
        f64::from(target.width) / f64::from(target.height),
    );
    let mut out = vec![0u8; target.pixels() as usize * 3];
    FrameResizer::high_quality().resize_rgb(
        img.as_raw(),
        img.dimensions(),
        crop,
        &mut out,
        (target.width, target.height),
    )?;
    RgbImage::from_raw(target.width, target.height, out)
        .ok_or_else(|| Error::new(ErrorKind::Io, "resized image has the wrong size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn valid_png_reports_format_and_size() {
        let img = ImageInput::from_bytes("image", "test.png", png(320, 200)).unwrap();
        assert_eq!(img.format(), ImageFormat::Png);
        assert_eq!(img.resolution(), Resolution::new(320, 200));
        assert!(img.data_uri().starts_with("data:image/png;base64,iVBOR"));
    }

    #[test]
    fn truncated_png_is_refused_naming_the_field() {
        let mut bytes = png(320, 200);
        bytes.truncate(bytes.len() / 2);
        let err = ImageInput::from_bytes("last_frame", "cut.png", bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.problems()[0].field, "last_frame");
        assert_eq!(err.problems()[0].value, "cut.png");
    }

    #[test]
    fn truncated_jpeg_is_refused_although_it_decodes() {
        let img = RgbImage::from_fn(200, 150, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .unwrap();
        assert!(ImageInput::from_bytes("image", "ok.jpg", bytes.clone()).is_ok());
        bytes.truncate(bytes.len() * 2 / 3);
        let err = ImageInput::from_bytes("image", "cut.jpg", bytes).unwrap_err();
        assert!(
            err.problems()[0]
                .allowed
                .contains("ends before the image data does"),
            "{err}"
        );
    }

    #[test]
    fn text_file_is_refused_by_content() {
        let err =
            ImageInput::from_bytes("image", "notes.png", b"hello there".to_vec()).unwrap_err();
        assert!(
            err.problems()[0]
                .allowed
                .contains("not a known image format"),
            "{err}"
        );
    }

    #[test]
    fn decompression_bomb_is_refused_before_decoding() {
        // A valid PNG header claiming 20000x20000 pixels.
        let img = image::GrayImage::new(1, 1);
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        // Patch IHDR width/height (bytes 16..24) and its CRC: a valid header over image data
        // far too small, so only the size check can stop it before decoding.
        bytes[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = ImageInput::from_bytes("image", "bomb.png", bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.problems()[0].allowed.contains("20000x20000"), "{err}");
    }

    /// CRC-32 (IEEE), as PNG chunks carry it.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_side_over_the_limit_is_refused_with_its_size_and_the_limit() {
        let img = image::GrayImage::new(MAX_SIDE + 100, 2);
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        let err = ImageInput::from_bytes("image", "wide.png", bytes).unwrap_err();
        assert_eq!(
            err.problems()[0].allowed,
            "at most 64 megapixels and 16384 pixels a side (this one is 16484x2)"
        );
    }

    #[test]
    fn cover_crop_centres_the_target_aspect() {
        let c = CropRect::cover(400, 400, 16.0 / 9.0);
        assert_eq!((c.x, c.w), (0.0, 400.0));
        assert!((c.h - 225.0).abs() < 1e-9);
        assert!((c.y - 87.5).abs() < 1e-9);
    }

    #[test]
    fn fit_cover_makes_the_exact_size() {
        let img = RgbImage::from_pixel(300, 300, image::Rgb([10, 20, 30]));
        let out = fit_cover(&img, Resolution::new(160, 90)).unwrap();
        assert_eq!(out.dimensions(), (160, 90));
        assert_eq!(out.get_pixel(80, 45).0, [10, 20, 30]);
    }
}
