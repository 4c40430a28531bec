//! Still images (keyframes): the [`ImageBackend`] trait beside [`crate::VideoBackend`], its
//! request and capability types, the image registry ([`registry`]), image jobs in the job
//! store ([`jobs`]) and the embedded no-key default, the animatic still ([`still`]).
//!
//! The shape follows the video trait: capabilities, `validate` reporting every problem at
//! once, `estimate_cost`, and one paid call. The image APIs ttv speaks (OpenAI Images, Gemini
//! `generateContent`, Stability's Stable Image) all answer the paid request with the image
//! itself, so the paid step is a single [`ImageBackend::create`] rather than submit → poll →
//! fetch; the provided [`ImageBackend::generate`] claims the destination before anything is
//! spent, verifies the answer by decoding it (the same checks as input images, so a truncated
//! or fake image is refused) and writes it atomically.
//!
//! This module knows no provider: provider quirks live in `services/<provider>`.

pub mod jobs;
pub mod keyframes;
pub mod registry;
pub mod still;

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Serialize;

use crate::backend::{Availability, BackendKind};
use crate::capabilities::ImageLimits;
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Problem, Result, Spend};
use crate::media::atomic::AtomicFile;
use crate::media::image::{ImageFormat, ImageInput};
use crate::request::{AspectRatio, Resolution};

/// A request for one still image, independent of any backend.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageRequest {
    /// What the image shows.
    pub prompt: String,
    /// What the image must not show (backends that take one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// Reference images: characters, settings, the previous keyframe. Backends that take one
    /// input image use the first as the image to start from (image-to-image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ImageInput>,
    /// An exact size in pixels; else picked from the aspect ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<Resolution>,
    /// The shape wanted when no exact size is given (landscape 16:9 when neither is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<AspectRatio>,
    /// Seed, for backends that take one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Backend-specific options (`quality`, `strength`, `model` ...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ImageRequest {
    /// A text-to-image request.
    pub fn text(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Self::default()
        }
    }
}

/// What an image backend can do.
#[derive(Debug, Clone)]
pub struct ImageCapabilities {
    /// The sizes it makes, the default first.
    pub sizes: Vec<Resolution>,
    /// Whether any size within `sizes`' limits is accepted (the embedded still); otherwise
    /// only the listed sizes are.
    pub any_size: bool,
    /// How many reference images one request may carry (0: none).
    pub max_references: usize,
    /// Whether the first reference is an image to start from (image-to-image) rather than a
    /// loose reference.
    pub image_to_image: bool,
    /// Longest prompt, in characters.
    pub max_prompt_chars: usize,
    /// Whether a negative prompt is taken.
    pub negative_prompt: bool,
    /// Whether a seed is taken.
    pub seed: bool,
    /// Limits on reference images.
    pub reference_limits: ImageLimits,
    /// The `extra` keys accepted.
    pub extras: &'static [&'static str],
    /// The formats the backend answers with.
    pub outputs: Vec<ImageFormat>,
}

/// A request made concrete for one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResolvedImage {
    /// The size asked of the provider.
    pub size: Resolution,
    /// Reference images sent.
    pub references: usize,
}

impl ImageCapabilities {
    /// Checks `req` against these capabilities and picks the size, reporting every problem
    /// found rather than the first.
    pub fn resolve(&self, req: &ImageRequest) -> Result<ResolvedImage> {
        let mut problems = Vec::new();
        if req.prompt.trim().is_empty() {
            problems.push(Problem::new(
                "prompt",
                "an empty prompt",
                "a description of the image",
            ));
        }
        let chars = req.prompt.chars().count();
        if chars > self.max_prompt_chars {
            problems.push(Problem::new(
                "prompt",
                format!("{chars} characters"),
                format!("at most {} characters", self.max_prompt_chars),
            ));
        }
        if req.negative_prompt.is_some() && !self.negative_prompt {
            problems.push(Problem::new(
                "negative_prompt",
                "given",
                "no negative prompt: this backend takes none",
            ));
        }
        if req.seed.is_some() && !self.seed {
            problems.push(Problem::new(
                "seed",
                req.seed.unwrap_or_default(),
                "no seed: this backend takes none",
            ));
        }
        if req.references.len() > self.max_references {
            problems.push(Problem::new(
                "references",
                format!("{} images", req.references.len()),
                if self.max_references == 0 {
                    "no reference images: this backend makes images from text only".to_owned()
                } else {
                    format!("at most {}", self.max_references)
                },
            ));
        }
        for (i, image) in req.references.iter().enumerate() {
            problems
                .extend(image.check_limits(&format!("references[{i}]"), &self.reference_limits));
        }
        for (key, value) in &req.extra {
            if !self.extras.contains(&key.as_str()) {
                let allowed = if self.extras.is_empty() {
                    "no such option: this backend takes no extra options".to_owned()
                } else {
                    format!("one of {}", self.extras.join(", "))
                };
                problems.push(Problem::new(format!("extra.{key}"), value, allowed));
            }
        }
        let size = self.pick_size(req, &mut problems);
        match size {
            Some(size) if problems.is_empty() => Ok(ResolvedImage {
                size,
                references: req.references.len(),
            }),
            _ => Err(Error::invalid(problems)),
        }
    }

    fn pick_size(&self, req: &ImageRequest, problems: &mut Vec<Problem>) -> Option<Resolution> {
        let listed = self
            .sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(size) = req.size {
            if self.sizes.contains(&size) {
                return Some(size);
            }
            if self.any_size {
                let max = self.sizes.iter().map(|s| s.pixels()).max().unwrap_or(0);
                if size.width >= 16 && size.height >= 16 && size.pixels() <= max {
                    return Some(size);
                }
                problems.push(Problem::new(
                    "size",
                    size,
                    format!("at least 16x16 and at most {max} pixels"),
                ));
                return None;
            }
            problems.push(Problem::new("size", size, format!("one of {listed}")));
            return None;
        }
        let wanted = req
            .aspect_ratio
            .or_else(|| req.references.first().and_then(|r| r.resolution().aspect()))
            .unwrap_or(AspectRatio::LANDSCAPE);
        if self.any_size
            && let Some(largest) = self.sizes.first()
        {
            return Some(fit_aspect(*largest, wanted));
        }
        let best = self.sizes.iter().copied().min_by(|a, b| {
            let d = |s: &Resolution| {
                (s.aspect().map_or(1.0, AspectRatio::value).ln() - wanted.value().ln()).abs()
            };
            d(a).total_cmp(&d(b))
        });
        if best.is_none() {
            problems.push(Problem::new("size", "any", "a size this backend lists"));
        }
        best
    }
}

/// The size of `aspect` with the pixel count of `area`, both sides even.
fn fit_aspect(area: Resolution, aspect: AspectRatio) -> Resolution {
    let pixels = area.pixels() as f64;
    let a = aspect.value();
    let h = (pixels / a).sqrt();
    let w = h * a;
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(16);
    Resolution::new(even(w), even(h))
}

/// What the paid call answered: the encoded image and what the provider said about it.
#[derive(Clone)]
pub struct ImageOutput {
    /// The encoded image, as received.
    pub bytes: Vec<u8>,
    /// The provider's id for the generation, when it gives one.
    pub provider_id: Option<String>,
    /// What the provider said it charged, when it says.
    pub charged: Option<Money>,
    /// The seed used, when the provider says.
    pub seed: Option<u64>,
}

impl fmt::Debug for ImageOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageOutput")
            .field("bytes", &self.bytes.len())
            .field("provider_id", &self.provider_id)
            .field("charged", &self.charged)
            .field("seed", &self.seed)
            .finish()
    }
}

/// A finished, verified image on disk.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedImage {
    /// Where the image is.
    pub path: PathBuf,
    /// Canonical backend name.
    pub backend: String,
    /// The model, when the backend has several.
    pub model: Option<String>,
    /// What was asked of the backend.
    pub resolved: ResolvedImage,
    /// The size read back from the file.
    pub size: Resolution,
    /// The encoding read back from the file.
    pub format: ImageFormat,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// The provider's id for the generation, when it gave one.
    pub provider_id: Option<String>,
    /// What the provider said it charged.
    pub charged: Option<Money>,
    /// The seed, when known.
    pub seed: Option<u64>,
    /// Seconds the paid call took.
    pub generation_secs: f64,
}

/// One text-to-image / image-to-image generator.
#[async_trait]
pub trait ImageBackend: Send + Sync {
    /// Canonical name (`still`, `openai`, ...).
    fn id(&self) -> &'static str;

    /// How the backend runs.
    fn kind(&self) -> BackendKind;

    /// The model used, for backends that have several.
    fn model(&self) -> Option<&str> {
        None
    }

    /// What the backend can do.
    fn capabilities(&self) -> &ImageCapabilities;

    /// Whether the backend can be used here.
    fn availability(&self) -> Availability {
        Availability::Available
    }

    /// Checks a request and picks the size, reporting every problem at once. Spends nothing.
    fn validate(&self, req: &ImageRequest) -> Result<ResolvedImage> {
        self.capabilities()
            .resolve(req)
            .map_err(|e| e.with_backend(self.id()))
    }

    /// What the request would cost here.
    fn estimate_cost(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<CostEstimate>;

    /// Makes the image. The only step that may spend money; never repeated by ttv after a
    /// failure whose [`Spend`] is `Maybe`.
    async fn create(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<ImageOutput>;

    /// Runs the whole job: validate, claim `dest`'s folder, create, verify the answer by
    /// decoding it, and rename it into place. On any failure nothing is left at `dest`. An
    /// answer that may have been paid for and was lost ends with [`ErrorKind::Unsettled`].
    async fn generate(&self, req: &ImageRequest, dest: &Path) -> Result<GeneratedImage> {
        let resolved = self.validate(req)?;
        let file = AtomicFile::new(dest)?;
        let started = std::time::Instant::now();
        let output = match self.create(req, &resolved).await {
            Ok(o) => o,
            Err(err) if err.spend() == Spend::Maybe => {
                return Err(crate::backend::unsettled(err.message(), None).with_backend(self.id()));
            }
            Err(err) => return Err(err),
        };
        let generation_secs = started.elapsed().as_secs_f64();
        let mut made = save_verified(self.id(), output, file, &resolved).await?;
        made.model = self.model().map(str::to_owned);
        made.generation_secs = generation_secs;
        Ok(made)
    }
}

/// Verifies `output` decodes as a complete image and writes it through `file`. The image was
/// paid for, so an answer that is not an image is `InvalidOutput` with `Spend::Yes`.
pub async fn save_verified(
    backend: &'static str,
    output: ImageOutput,
    file: AtomicFile,
    resolved: &ResolvedImage,
) -> Result<GeneratedImage> {
    let resolved = *resolved;
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let ImageOutput {
            bytes,
            provider_id,
            charged,
            seed,
        } = output;
        let len = bytes.len() as u64;
        let image = ImageInput::from_bytes("output", format!("{backend}'s answer"), bytes)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOutput,
                    format!("the provider's image is unusable: {e}"),
                )
                .with_spend(Spend::Yes)
                .with_backend(backend)
            })?;
        let size = image.resolution();
        if size != resolved.size {
            tracing::warn!(backend, asked = %resolved.size, got = %size, "the image's size differs from the one requested");
        }
        let mut file = file;
        file.file()
            .write_all(image.bytes())
            .map_err(|e| Error::io("cannot write the image", e))?;
        let path = file.commit()?;
        Ok(GeneratedImage {
            path,
            backend: backend.to_owned(),
            model: None,
            resolved,
            size,
            format: image.format(),
            sha256: image.sha256().to_owned(),
            bytes: len,
            provider_id,
            charged,
            seed,
            generation_secs: 0.0,
        })
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("saving the image failed: {e}")))?
}

impl fmt::Debug for dyn ImageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageBackend")
            .field("id", &self.id())
            .field("kind", &self.kind())
            .field("model", &self.model())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(sizes: &[(u32, u32)], any: bool) -> ImageCapabilities {
        ImageCapabilities {
            sizes: sizes.iter().map(|&(w, h)| Resolution::new(w, h)).collect(),
            any_size: any,
            max_references: 0,
            image_to_image: false,
            max_prompt_chars: 20,
            negative_prompt: false,
            seed: false,
            reference_limits: ImageLimits::default(),
            extras: &["quality"],
            outputs: vec![ImageFormat::Png],
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = caps(&[(1024, 1024)], false);
        let mut req = ImageRequest::text("x".repeat(30));
        req.seed = Some(1);
        req.negative_prompt = Some("blur".into());
        req.size = Some(Resolution::new(10, 10));
        req.extra.insert("strength".into(), 0.5.into());
        let err = c.resolve(&req).unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "prompt",
                "negative_prompt",
                "seed",
                "extra.strength",
                "size"
            ]
        );
    }

    #[test]
    fn the_closest_listed_aspect_is_picked() {
        let c = caps(&[(1024, 1024), (1536, 1024), (1024, 1536)], false);
        let mut req = ImageRequest::text("a boat");
        assert_eq!(c.resolve(&req).unwrap().size, Resolution::new(1536, 1024));
        req.aspect_ratio = AspectRatio::new(9, 16);
        assert_eq!(c.resolve(&req).unwrap().size, Resolution::new(1024, 1536));
        req.aspect_ratio = AspectRatio::new(1, 1);
        assert_eq!(c.resolve(&req).unwrap().size, Resolution::new(1024, 1024));
    }

    #[test]
    fn any_size_backends_keep_the_pixel_count_and_take_the_aspect() {
        let c = caps(&[(1280, 720)], true);
        let mut req = ImageRequest::text("a boat");
        req.aspect_ratio = AspectRatio::new(1, 1);
        let size = c.resolve(&req).unwrap().size;
        assert_eq!((size.width, size.height), (960, 960));
        req.size = Some(Resolution::new(640, 360));
        assert_eq!(c.resolve(&req).unwrap().size, Resolution::new(640, 360));
    }
}
