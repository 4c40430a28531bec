//! What a backend can do, and the one check of a request against it.
//!
//! Every backend describes itself with a [`Capabilities`] value; [`Capabilities::resolve`]
//! turns a request into concrete settings or returns every problem at once, each naming the
//! field, the value and what is allowed. Backends add their own checks on top (a model that
//! ties 1080p to 8 s, say) but never re-implement these.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problem, Result};
use crate::media::image::ImageFormat;
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};

/// Which clip lengths a backend accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationSupport {
    /// Any length from `min` to `max`, in steps of `step`.
    Range {
        /// Shortest clip.
        min: VideoDuration,
        /// Longest clip.
        max: VideoDuration,
        /// Granularity; one millisecond allows fractional seconds.
        step: VideoDuration,
    },
    /// Exactly these lengths.
    OneOf(Vec<VideoDuration>),
}

impl DurationSupport {
    /// Whether `d` is accepted.
    pub fn allows(&self, d: VideoDuration) -> bool {
        match self {
            Self::Range { min, max, step } => {
                d >= *min
                    && d <= *max
                    && (step.as_millis() <= 1
                        || (d.as_millis() - min.as_millis()).is_multiple_of(step.as_millis()))
            }
            Self::OneOf(list) => list.contains(&d),
        }
    }
}

impl fmt::Display for DurationSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Range { min, max, step } if step.as_millis() <= 1 => write!(f, "{min} to {max}"),
            Self::Range { min, max, step } => write!(f, "{min} to {max} in steps of {step}"),
            Self::OneOf(list) => write!(f, "{}", join(list, ", ")),
        }
    }
}

/// Which frame sizes a backend produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionSupport {
    /// Any size within bounds whose sides are multiples of `multiple_of`.
    Bounded {
        /// Largest width × height (either orientation).
        max: Resolution,
        /// Smallest allowed side.
        min_side: u32,
        /// Both sides must be a multiple of this.
        multiple_of: u32,
    },
    /// Exactly these sizes.
    OneOf(Vec<Resolution>),
}

impl ResolutionSupport {
    fn check(&self, r: Resolution) -> Option<String> {
        match self {
            Self::Bounded {
                max,
                min_side,
                multiple_of,
            } => {
                let (long, short) = (r.width.max(r.height), r.short_side());
                let fits = long <= max.width.max(max.height) && short <= max.width.min(max.height);
                let aligned =
                    r.width.is_multiple_of(*multiple_of) && r.height.is_multiple_of(*multiple_of);
                (!fits || short < *min_side || !aligned).then(|| {
                    format!(
                        "a size up to {max} (or {}x{}) with both sides at least {min_side} and multiples of {multiple_of}",
                        max.height, max.width
                    )
                })
            }
            Self::OneOf(list) => (!list.contains(&r)).then(|| self.to_string()),
        }
    }
}

impl fmt::Display for ResolutionSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bounded { max, .. } => write!(f, "any up to {max}"),
            Self::OneOf(list) => write!(f, "{}", join(list, ", ")),
        }
    }
}

/// Which frame rates a backend produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FpsSupport {
    /// Any whole rate from `min` to `max`.
    Range {
        /// Lowest rate.
        min: u32,
        /// Highest rate.
        max: u32,
    },
    /// Exactly these rates.
    OneOf(Vec<u32>),
}

impl FpsSupport {
    /// Whether `fps` is accepted.
    pub fn allows(&self, fps: u32) -> bool {
        match self {
            Self::Range { min, max } => (*min..=*max).contains(&fps),
            Self::OneOf(list) => list.contains(&fps),
        }
    }
}

impl fmt::Display for FpsSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Range { min, max } => write!(f, "{min} to {max}"),
            Self::OneOf(list) => write!(f, "{}", join(list, ", ")),
        }
    }
}

/// Limits on input images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageLimits {
    /// Largest encoded file.
    pub max_bytes: u64,
    /// Smallest allowed short side.
    pub min_side: u32,
    /// Largest allowed width × height.
    pub max_pixels: u64,
    /// Accepted encodings.
    pub formats: Vec<ImageFormat>,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            min_side: 64,
            max_pixels: 40_000_000,
            formats: vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp],
        }
    }
}

/// Everything a backend can do, in one value.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Generation modes offered.
    pub modes: Vec<Mode>,
    /// Clip lengths.
    pub durations: DurationSupport,
    /// Length used when the request gives none.
    pub default_duration: VideoDuration,
    /// Frame sizes.
    pub resolutions: ResolutionSupport,
    /// Size used when the request gives none.
    pub default_resolution: ResolutionSpec,
    /// Aspect ratios; empty means any that the resolutions allow.
    pub aspect_ratios: Vec<AspectRatio>,
    /// Frame rates.
    pub fps: FpsSupport,
    /// Rate used when the request gives none.
    pub default_fps: u32,
    /// Longest prompt in characters.
    pub max_prompt_chars: usize,
    /// Input image limits.
    pub images: ImageLimits,
    /// Whether an audio track can be generated.
    pub audio: bool,
    /// Whether a seed is honoured.
    pub seed: bool,
    /// Whether a negative prompt is honoured.
    pub negative_prompt: bool,
    /// One line on price, for tables (`free`, `$0.05/s`).
    pub price_summary: String,
}

/// A request made concrete for one backend: every default filled in and checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// The generation mode.
    pub mode: Mode,
    /// Clip length.
    pub duration: VideoDuration,
    /// Frame size.
    pub resolution: Resolution,
    /// Frame rate.
    pub fps: u32,
    /// Frame count (`duration × fps`, rounded).
    pub frames: u32,
}

impl Capabilities {
    /// Checks `req` against these capabilities and fills in defaults, reporting every problem
    /// found rather than the first.
    pub fn resolve(&self, req: &GenerationRequest) -> Result<Resolved> {
        let mut problems = Vec::new();
        let mode = req.mode();

        if !self.modes.contains(&mode) {
            problems.push(Problem::new(
                "mode",
                mode_description(mode),
                format!("one of this backend's modes: {}", join(&self.modes, ", ")),
            ));
        }
        if req.last_frame.is_some() && req.image.is_none() {
            problems.push(Problem::new(
                "last_frame",
                "a last frame without a first frame",
                "a first frame (--image) as well",
            ));
        }
        let prompt_chars = req.prompt.chars().count();
        if req.prompt.trim().is_empty() && mode == Mode::TextToVideo {
            problems.push(Problem::new(
                "prompt",
                "an empty prompt",
                "a prompt for text-to-video (or an --image)",
            ));
        }
        if prompt_chars > self.max_prompt_chars {
            problems.push(Problem::new(
                "prompt",
                format!("{prompt_chars} characters"),
                format!("at most {} characters", self.max_prompt_chars),
            ));
        }
        if req.negative_prompt.is_some() && !self.negative_prompt {
            problems.push(Problem::new(
                "negative_prompt",
                "a negative prompt",
                "none: this backend takes no negative prompt",
            ));
        }
        if req.audio && !self.audio {
            problems.push(Problem::new(
                "audio",
                "true",
                "false: this backend makes silent video only",
            ));
        }
        if req.seed.is_some() && !self.seed {
            problems.push(Problem::new(
                "seed",
                "a seed",
                "none: this backend ignores seeds",
            ));
        }

        for (field, image) in [("image", &req.image), ("last_frame", &req.last_frame)] {
            if let Some(image) = image {
                problems.extend(image.check_limits(field, &self.images));
            }
        }

        let duration = req.duration.unwrap_or(self.default_duration);
        if !self.durations.allows(duration) {
            problems.push(Problem::new(
                "duration",
                duration,
                self.durations.to_string(),
            ));
        }

        let fps = req.fps.unwrap_or(self.default_fps);
        if !self.fps.allows(fps) {
            problems.push(Problem::new("fps", fps, self.fps.to_string()));
        }

        let default_aspect = self.default_aspect();
        let aspect = req.effective_aspect(&self.aspect_ratios, default_aspect);
        if let Some(asked) = req.aspect_ratio
            && !self.aspect_ratios.is_empty()
            && !self.aspect_ratios.contains(&asked)
        {
            problems.push(Problem::new(
                "aspect",
                asked,
                join(&self.aspect_ratios, ", "),
            ));
        }
        let spec = req.resolution.unwrap_or(self.default_resolution);
        let resolution = spec.resolve(aspect);
        if let (Some(asked), ResolutionSpec::Exact(r)) = (req.aspect_ratio, spec)
            && r.aspect() != Some(asked)
        {
            problems.push(Problem::new(
                "resolution",
                r,
                format!("a size with the requested aspect {asked}"),
            ));
        }
        if let Some(allowed) = self.resolutions.check(resolution) {
            let value = match spec {
                ResolutionSpec::Tier(_) => format!("{spec} ({resolution} at {aspect})"),
                ResolutionSpec::Exact(_) => resolution.to_string(),
            };
            problems.push(Problem::new("resolution", value, allowed));
        }

        if !problems.is_empty() {
            return Err(Error::invalid(problems));
        }
        Ok(Resolved {
            mode,
            duration,
            resolution,
            fps,
            frames: duration.frames_at(fps).max(1),
        })
    }

    fn default_aspect(&self) -> AspectRatio {
        match self.default_resolution {
            ResolutionSpec::Exact(r) => r.aspect().unwrap_or(AspectRatio::LANDSCAPE),
            ResolutionSpec::Tier(_) => self
                .aspect_ratios
                .first()
                .copied()
                .unwrap_or(AspectRatio::LANDSCAPE),
        }
    }
}

fn mode_description(mode: Mode) -> &'static str {
    match mode {
        Mode::TextToVideo => "text-to-video (t2v)",
        Mode::ImageToVideo => "image-to-video (i2v)",
        Mode::FirstLastFrame => "first+last-frame (flf2v)",
    }
}

pub(crate) fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Capabilities {
        Capabilities {
            modes: vec![Mode::TextToVideo, Mode::ImageToVideo],
            durations: DurationSupport::OneOf(vec![
                VideoDuration::from_secs(5),
                VideoDuration::from_secs(10),
            ]),
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::OneOf(vec![
                Resolution::new(1280, 720),
                Resolution::new(720, 1280),
            ]),
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: vec![AspectRatio::LANDSCAPE, AspectRatio::PORTRAIT],
            fps: FpsSupport::OneOf(vec![24]),
            default_fps: 24,
            max_prompt_chars: 20,
            images: ImageLimits::default(),
            audio: false,
            seed: true,
            negative_prompt: false,
            price_summary: "free".into(),
        }
    }

    #[test]
    fn defaults_fill_a_minimal_request() {
        let r = caps().resolve(&GenerationRequest::text("a fox")).unwrap();
        assert_eq!(r.resolution, Resolution::new(1280, 720));
        assert_eq!(r.frames, 120);
        assert_eq!(r.mode, Mode::TextToVideo);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let req = GenerationRequest {
            prompt: "x".repeat(30),
            duration: Some(VideoDuration::from_secs(7)),
            fps: Some(60),
            audio: true,
            negative_prompt: Some("blur".into()),
            aspect_ratio: Some(AspectRatio::SQUARE),
            ..GenerationRequest::default()
        };
        let err = caps().resolve(&req).unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "prompt",
                "negative_prompt",
                "audio",
                "duration",
                "fps",
                "aspect",
                "resolution"
            ]
        );
        assert_eq!(err.problems()[3].value, "7s");
        assert_eq!(err.problems()[3].allowed, "5s, 10s");
    }

    #[test]
    fn bounded_resolutions_check_alignment_and_size() {
        let b = ResolutionSupport::Bounded {
            max: Resolution::new(1920, 1080),
            min_side: 64,
            multiple_of: 2,
        };
        assert!(b.check(Resolution::new(1080, 1920)).is_none());
        assert!(b.check(Resolution::new(1921, 1080)).is_some());
        assert!(b.check(Resolution::new(641, 360)).is_some());
        assert!(b.check(Resolution::new(32, 32)).is_some());
    }
}
