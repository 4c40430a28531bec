//! What a caller asks for: [`GenerationRequest`] and the small value types it is made of.
//!
//! These types parse and print the forms people type (`16:9`, `1280x720`, `720p`, `5s`), and
//! they know nothing about any backend. Whether a value is acceptable to a given backend is
//! decided by [`crate::Capabilities::check`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problem};
use crate::media::image::ImageInput;

/// A width-to-height ratio such as 16:9, kept in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AspectRatio {
    w: u32,
    h: u32,
}

impl AspectRatio {
    /// 16:9 landscape.
    pub const LANDSCAPE: Self = Self { w: 16, h: 9 };
    /// 9:16 portrait.
    pub const PORTRAIT: Self = Self { w: 9, h: 16 };
    /// 1:1 square.
    pub const SQUARE: Self = Self { w: 1, h: 1 };

    /// A ratio `w:h`, reduced; `None` when either side is zero.
    pub fn new(w: u32, h: u32) -> Option<Self> {
        if w == 0 || h == 0 {
            return None;
        }
        let g = gcd(w, h);
        Some(Self { w: w / g, h: h / g })
    }

    /// Width term.
    pub fn width(self) -> u32 {
        self.w
    }

    /// Height term.
    pub fn height(self) -> u32 {
        self.h
    }

    /// Width divided by height.
    pub fn value(self) -> f64 {
        f64::from(self.w) / f64::from(self.h)
    }

    /// The ratio among `choices` closest to `self` (by log distance), if any.
    pub fn closest(self, choices: &[AspectRatio]) -> Option<AspectRatio> {
        choices.iter().copied().min_by(|a, b| {
            let da = (a.value().ln() - self.value().ln()).abs();
            let db = (b.value().ln() - self.value().ln()).abs();
            da.total_cmp(&db)
        })
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl fmt::Display for AspectRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.w, self.h)
    }
}

impl FromStr for AspectRatio {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(vec![Problem::new(
                "aspect",
                format!("{s:?}"),
                "a ratio W:H of two positive whole numbers, such as 16:9, 9:16 or 1:1",
            )])
        };
        let (w, h) = s.trim().split_once(':').ok_or_else(bad)?;
        let w = w.trim().parse().map_err(|_| bad())?;
        let h = h.trim().parse().map_err(|_| bad())?;
        AspectRatio::new(w, h).ok_or_else(bad)
    }
}

/// A frame size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resolution {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Resolution {
    /// A `width`×`height` frame size.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// The reduced aspect ratio of this size.
    pub fn aspect(self) -> Option<AspectRatio> {
        AspectRatio::new(self.width, self.height)
    }

    /// Pixels per frame.
    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The length of the shorter side.
    pub fn short_side(self) -> u32 {
        self.width.min(self.height)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// What the user asked for as a resolution: an exact size, or a named tier such as `720p`
/// whose orientation follows the aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolutionSpec {
    /// An exact frame size.
    Exact(Resolution),
    /// A tier named by its short side (`480p`, `720p`, `1080p`).
    Tier(u32),
}

impl ResolutionSpec {
    /// The frame size for `aspect`: exact sizes are returned as they are; a tier gets its
    /// short side and a long side from the aspect, rounded to an even number of pixels.
    pub fn resolve(self, aspect: AspectRatio) -> Resolution {
        match self {
            Self::Exact(r) => r,
            Self::Tier(short) => {
                let long = |s: u32, num: u32, den: u32| {
                    let exact = f64::from(s) * f64::from(num) / f64::from(den);
                    even(exact.round() as u32)
                };
                if aspect.width() >= aspect.height() {
                    Resolution::new(long(short, aspect.width(), aspect.height()), short)
                } else {
                    Resolution::new(short, long(short, aspect.height(), aspect.width()))
                }
            }
        }
    }
}

fn even(v: u32) -> u32 {
    v + (v & 1)
}

impl fmt::Display for ResolutionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(r) => r.fmt(f),
            Self::Tier(short) => write!(f, "{short}p"),
        }
    }
}

impl FromStr for ResolutionSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::invalid(vec![Problem::new(
                "resolution",
                format!("{s:?}"),
                "WIDTHxHEIGHT such as 1280x720, or a tier such as 480p, 720p or 1080p",
            )])
        };
        if let Some(short) = t.strip_suffix('p') {
            let short: u32 = short.parse().map_err(|_| bad())?;
            if short == 0 {
                return Err(bad());
            }
            return Ok(Self::Tier(short));
        }
        let (w, h) = t
            .split_once('x')
            .or_else(|| t.split_once('*'))
            .or_else(|| t.split_once(':'))
            .ok_or_else(bad)?;
        let w: u32 = w.trim().parse().map_err(|_| bad())?;
        let h: u32 = h.trim().parse().map_err(|_| bad())?;
        if w == 0 || h == 0 {
            return Err(bad());
        }
        Ok(Self::Exact(Resolution::new(w, h)))
    }
}

/// The length of a clip, kept in whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VideoDuration {
    millis: u32,
}

impl VideoDuration {
    /// A duration of whole seconds.
    pub const fn from_secs(secs: u32) -> Self {
        Self {
            millis: secs.saturating_mul(1000),
        }
    }

    /// A duration in milliseconds.
    pub const fn from_millis(millis: u32) -> Self {
        Self { millis }
    }

    /// Milliseconds.
    pub fn as_millis(self) -> u32 {
        self.millis
    }

    /// Seconds, with fractions.
    pub fn as_secs_f64(self) -> f64 {
        f64::from(self.millis) / 1000.0
    }

    /// Whole seconds when the duration is a whole number of seconds.
    pub fn whole_secs(self) -> Option<u32> {
        self.millis
            .is_multiple_of(1000)
            .then_some(self.millis / 1000)
    }

    /// The number of frames this lasts at `fps`, rounded to the nearest frame.
    pub fn frames_at(self, fps: u32) -> u32 {
        ((u64::from(self.millis) * u64::from(fps) + 500) / 1000) as u32
    }
}

impl fmt::Display for VideoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.whole_secs() {
            Some(s) => write!(f, "{s}s"),
            None => write!(f, "{}s", self.as_secs_f64()),
        }
    }
}

impl FromStr for VideoDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(vec![Problem::new(
                "duration",
                format!("{s:?}"),
                "a number of seconds such as 5, 5s or 2.5s",
            )])
        };
        let t = s.trim();
        let t = t.strip_suffix('s').unwrap_or(t).trim();
        let secs: f64 = t.parse().map_err(|_| bad())?;
        Self::try_from_secs_f64(secs).ok_or_else(bad)
    }
}

impl VideoDuration {
    /// A duration from fractional seconds; `None` unless finite, positive and under a day.
    pub fn try_from_secs_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
            return None;
        }
        Some(Self::from_millis((secs * 1000.0).round() as u32))
    }
}

/// Serialises a type as its display string and parses it back with `FromStr`.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_string!(AspectRatio);
serde_as_string!(ResolutionSpec);

impl Serialize for VideoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

impl<'de> Deserialize<'de> for VideoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        Self::try_from_secs_f64(secs).ok_or_else(|| {
            serde::de::Error::custom(format!("{secs} is not a positive number of seconds"))
        })
    }
}

/// What kind of generation a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// From a prompt alone.
    TextToVideo,
    /// From a first-frame image (and usually a prompt).
    ImageToVideo,
    /// From a first-frame and a last-frame image.
    FirstLastFrame,
}

impl Mode {
    /// The short name used in tables: `t2v`, `i2v`, `flf2v`.
    pub fn short(self) -> &'static str {
        match self {
            Self::TextToVideo => "t2v",
            Self::ImageToVideo => "i2v",
            Self::FirstLastFrame => "flf2v",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// A request for one video clip, independent of any backend.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationRequest {
    /// What the video shows. May be empty when an image carries the content.
    pub prompt: String,
    /// What the video must not show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// The first frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInput>,
    /// The last frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<ImageInput>,
    /// Clip length; the backend's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<VideoDuration>,
    /// Frame shape; taken from the first image, or the backend's default, when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<AspectRatio>,
    /// Frame size; the backend's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionSpec>,
    /// Frames per second; the backend's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    /// Seed for reproducible output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to generate an audio track.
    pub audio: bool,
    /// Backend-specific options, passed through to the backend as they are.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl GenerationRequest {
    /// A text-to-video request.
    pub fn text(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Self::default()
        }
    }

    /// Reads the first frame (`image`) and the last frame from files, off the async
    /// threads. A file that cannot be used is added to `problems` rather than returned, so
    /// that a front end reports it with every other problem at once; returns the files read.
    pub async fn read_images(
        &mut self,
        image: Option<std::path::PathBuf>,
        last_frame: Option<std::path::PathBuf>,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<std::path::PathBuf>, Error> {
        let mut inputs = Vec::new();
        for (field, path) in [("image", image), ("last_frame", last_frame)] {
            let Some(path) = path else { continue };
            inputs.push(path.clone());
            let loaded = tokio::task::spawn_blocking(move || ImageInput::from_path(field, &path))
                .await
                .map_err(|e| {
                    Error::new(
                        crate::error::ErrorKind::Io,
                        format!("image loading crashed: {e}"),
                    )
                })?;
            match loaded {
                Ok(img) if field == "image" => self.image = Some(img),
                Ok(img) => self.last_frame = Some(img),
                Err(e) if e.problems().is_empty() => return Err(e),
                Err(e) => problems.extend(e.problems().iter().cloned()),
            }
        }
        Ok(inputs)
    }

    /// The mode implied by the images present.
    pub fn mode(&self) -> Mode {
        match (&self.image, &self.last_frame) {
            (Some(_), Some(_)) => Mode::FirstLastFrame,
            (Some(_), None) => Mode::ImageToVideo,
            // A last frame alone is reported as first+last so that backends which cannot
            // take it say so; the check names the missing first frame.
            (None, Some(_)) => Mode::FirstLastFrame,
            (None, None) => Mode::TextToVideo,
        }
    }

    /// The aspect ratio to render: the one asked for, else the exact resolution's, else the
    /// first image's closest among `choices`, else `fallback`.
    pub fn effective_aspect(&self, choices: &[AspectRatio], fallback: AspectRatio) -> AspectRatio {
        if let Some(a) = self.aspect_ratio {
            return a;
        }
        if let Some(ResolutionSpec::Exact(r)) = self.resolution
            && let Some(a) = r.aspect()
        {
            return a;
        }
        if let Some(img) = &self.image
            && let Some(a) = img.resolution().aspect()
        {
            if choices.is_empty() {
                return a;
            }
            return a.closest(choices).unwrap_or(fallback);
        }
        fallback
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorKind;

    proptest! {
        #[test]
        fn sizes_parse_whatever_the_separator_case_or_spacing(
            w in 1u32..20_000,
            h in 1u32..20_000,
            sep in prop::sample::select(vec!["x", "X", "*", ":"]),
            pad in prop::sample::select(vec!["", " ", "  "]),
        ) {
            let spec: ResolutionSpec = format!("{pad}{w}{sep}{h}{pad}").parse().unwrap();
            prop_assert_eq!(spec, ResolutionSpec::Exact(Resolution::new(w, h)));
            prop_assert_eq!(spec.to_string(), format!("{w}x{h}"));
            prop_assert_eq!(spec.to_string().parse::<ResolutionSpec>().unwrap(), spec);
        }

        #[test]
        fn tiers_parse_and_follow_the_aspect(
            short in 1u32..5_000,
            w in 1u32..50,
            h in 1u32..50,
        ) {
            let spec: ResolutionSpec = format!("{short}P").parse().unwrap();
            prop_assert_eq!(spec, ResolutionSpec::Tier(short));
            prop_assert_eq!(spec.to_string(), format!("{short}p"));
            let aspect = AspectRatio::new(w, h).unwrap();
            let size = spec.resolve(aspect);
            // The short side is the tier; the long one is even and follows the ratio.
            prop_assert_eq!(size.short_side(), short);
            let long = size.width.max(size.height);
            prop_assert_eq!(long % 2, 0);
            let want = f64::from(short) * f64::from(w.max(h)) / f64::from(w.min(h));
            prop_assert!((f64::from(long) - want).abs() <= 1.5, "{} vs {}", long, want);
        }

        #[test]
        fn aspect_ratios_parse_reduced(w in 1u32..10_000, h in 1u32..10_000, k in 1u32..50) {
            let a: AspectRatio = format!(" {} : {} ", w * k, h * k).parse().unwrap();
            prop_assert_eq!(a, AspectRatio::new(w, h).unwrap());
            let g = gcd(w, h);
            prop_assert_eq!(a.to_string(), format!("{}:{}", w / g, h / g));
            prop_assert_eq!(a.to_string().parse::<AspectRatio>().unwrap(), a);
        }

        #[test]
        fn durations_parse_with_or_without_the_s(millis in 1u32..86_400_000) {
            let secs = f64::from(millis) / 1000.0;
            let want = VideoDuration::from_millis(millis);
            prop_assert_eq!(format!("{secs}").parse::<VideoDuration>().unwrap(), want);
            prop_assert_eq!(format!("{secs}s").parse::<VideoDuration>().unwrap(), want);
            prop_assert_eq!(format!(" {secs} s ").parse::<VideoDuration>().unwrap(), want);
            prop_assert_eq!(want.to_string().parse::<VideoDuration>().unwrap(), want);
        }

        #[test]
        fn bad_values_are_refused_naming_the_field_never_a_panic(text in ".*") {
            for (field, result) in [
                ("duration", text.parse::<VideoDuration>().err()),
                ("aspect", text.parse::<AspectRatio>().err()),
                ("resolution", text.parse::<ResolutionSpec>().err()),
            ] {
                if let Some(err) = result {
                    prop_assert_eq!(err.kind(), ErrorKind::InvalidRequest);
                    prop_assert_eq!(err.problems()[0].field.as_str(), field);
                }
            }
        }
    }

    #[test]
    fn zero_and_negative_values_are_refused() {
        for bad in ["0", "0s", "-5", "-5s", "nan", "inf", "86401"] {
            assert!(bad.parse::<VideoDuration>().is_err(), "{bad}");
        }
        for bad in ["0x720", "1280x0", "0p", "-720p", "1280x"] {
            assert!(bad.parse::<ResolutionSpec>().is_err(), "{bad}");
        }
        for bad in ["0:9", "16:0", "16x9", ":", "16:-9"] {
            assert!(bad.parse::<AspectRatio>().is_err(), "{bad}");
        }
    }

    #[test]
    fn aspect_ratio_parses_and_reduces() {
        let a: AspectRatio = "1920:1080".parse().unwrap();
        assert_eq!(a, AspectRatio::LANDSCAPE);
        assert_eq!(a.to_string(), "16:9");
        assert!("16x9".parse::<AspectRatio>().is_err());
        assert!("0:9".parse::<AspectRatio>().is_err());
    }

    #[test]
    fn closest_aspect_uses_log_distance() {
        let a = AspectRatio::new(4, 3).unwrap();
        let choices = [
            AspectRatio::LANDSCAPE,
            AspectRatio::PORTRAIT,
            AspectRatio::SQUARE,
        ];
        assert_eq!(a.closest(&choices), Some(AspectRatio::SQUARE));
        let wide = AspectRatio::new(2, 1).unwrap();
        assert_eq!(wide.closest(&choices), Some(AspectRatio::LANDSCAPE));
    }

    #[test]
    fn resolution_tiers_follow_orientation() {
        let r: ResolutionSpec = "720p".parse().unwrap();
        assert_eq!(
            r.resolve(AspectRatio::LANDSCAPE),
            Resolution::new(1280, 720)
        );
        assert_eq!(r.resolve(AspectRatio::PORTRAIT), Resolution::new(720, 1280));
        assert_eq!(
            "1080p"
                .parse::<ResolutionSpec>()
                .unwrap()
                .resolve(AspectRatio::SQUARE),
            Resolution::new(1080, 1080)
        );
        let exact: ResolutionSpec = "1280*720".parse().unwrap();
        assert_eq!(exact, ResolutionSpec::Exact(Resolution::new(1280, 720)));
        assert!("big".parse::<ResolutionSpec>().is_err());
        assert!("0x720".parse::<ResolutionSpec>().is_err());
    }

    #[test]
    fn durations_parse_seconds_and_count_frames() {
        let d: VideoDuration = "2.5s".parse().unwrap();
        assert_eq!(d.as_millis(), 2500);
        assert_eq!(d.frames_at(24), 60);
        assert_eq!("5".parse::<VideoDuration>().unwrap().to_string(), "5s");
        assert!("-1".parse::<VideoDuration>().is_err());
        assert!("NaN".parse::<VideoDuration>().is_err());
        assert!("soon".parse::<VideoDuration>().is_err());
    }

    #[test]
    fn mode_follows_images() {
        let r = GenerationRequest::text("a fox");
        assert_eq!(r.mode(), Mode::TextToVideo);
    }
}
