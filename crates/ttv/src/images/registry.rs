//! Image backends by name: canonical names, aliases (the original pipeline's
//! `image_generation_model` values among them) and what is available here.
//!
//! Like the video registry, every image backend ttv knows is listed, built or not, and one
//! that cannot be used here says exactly why.

use std::sync::Arc;

use crate::backend::{Availability, BackendKind};
use crate::error::{Error, ErrorKind, Result};
use crate::images::ImageBackend;
use crate::images::still::{self, Still};
use crate::services::gemini_image::{self, GeminiImage, GeminiImageOptions};
use crate::services::openai_images::{self, OpenAiImages, OpenAiImagesOptions};
use crate::services::stability::{self, Stability, StabilityOptions};

/// An image backend ttv knows of.
#[derive(Debug, Clone, Copy)]
pub struct KnownImage {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
    /// How it runs.
    pub kind: BackendKind,
    /// One line on what it is.
    pub summary: &'static str,
}

/// Every image backend ttv knows, in display order.
pub const KNOWN_IMAGES: &[KnownImage] = &[
    KnownImage {
        name: still::NAME,
        aliases: &["animatic", "animatic_still", "title_card"],
        kind: BackendKind::Embedded,
        summary: "built-in title card of the prompt (no key, free)",
    },
    KnownImage {
        name: openai_images::NAME,
        aliases: &[
            "openai_images",
            "gpt-image-1",
            "openai/gpt-image-1",
            "gpt_image_1",
        ],
        kind: BackendKind::Hosted,
        summary: "OpenAI Images API (gpt-image-1): generations, edits with reference images",
    },
    KnownImage {
        name: gemini_image::NAME,
        aliases: &[
            "gemini_image",
            "gemini-2.5-flash-image",
            "gemini-2.5-flash-image-preview",
            "gemini-2.0-flash-preview-image-generation",
            "nano-banana",
            "nano_banana",
        ],
        kind: BackendKind::Hosted,
        summary: "Google Gemini image models through generateContent, with reference images",
    },
    KnownImage {
        name: stability::NAME,
        aliases: &[
            "stabilityai",
            "stability_ai",
            "stability.ai",
            "sd3",
            "stabilityai/sd3",
            "sd3.5",
            "stable_image",
        ],
        kind: BackendKind::Hosted,
        summary: "Stability AI Stable Image (SD3.5, Core, Ultra), image-to-image strength",
    },
];

/// Finds a known image backend by name or alias, ignoring case.
pub fn lookup(name: &str) -> Option<&'static KnownImage> {
    let name = name.trim().to_ascii_lowercase();
    KNOWN_IMAGES
        .iter()
        .find(|k| k.name == name || k.aliases.contains(&name.as_str()))
}

/// A `Config` error for a name that matches no image backend, with a suggestion.
pub fn unknown_image_backend(field: &str, name: &str) -> Error {
    let best = KNOWN_IMAGES
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
        .map(|n| (strsim::jaro_winkler(&name.to_ascii_lowercase(), n), n))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, n)| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    let names: Vec<_> = KNOWN_IMAGES.iter().map(|k| k.name).collect();
    Error::config(format!(
        "{field}: unknown image backend {name:?}{best}; known image backends are {}",
        names.join(", ")
    ))
}

/// Settings the image registry needs.
#[derive(Debug, Clone, Default)]
pub struct ImageSettings {
    /// The image backend used when none is named (`image_generation_model`; `still` when
    /// absent).
    pub default_backend: Option<String>,
    /// OpenAI Images; unavailable without a key.
    pub openai: Option<OpenAiImagesOptions>,
    /// Gemini image models; unavailable without a key.
    pub gemini: Option<GeminiImageOptions>,
    /// Stability AI; unavailable without a key.
    pub stability: Option<StabilityOptions>,
}

/// One registry row.
#[derive(Clone)]
pub struct ImageEntry {
    /// What it is.
    pub known: &'static KnownImage,
    /// The instance, when built here.
    pub backend: Option<Arc<dyn ImageBackend>>,
    /// Whether it can be used, and why not.
    pub availability: Availability,
}

impl std::fmt::Debug for ImageEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageEntry")
            .field("name", &self.known.name)
            .field("availability", &self.availability)
            .finish()
    }
}

/// The image backends of this process.
#[derive(Debug, Clone)]
pub struct ImageRegistry {
    entries: Vec<ImageEntry>,
    default_backend: String,
}

fn hosted<O: Clone, B: ImageBackend + 'static>(
    options: &Option<O>,
    build: impl FnOnce(O) -> Result<B>,
    missing: &str,
) -> std::result::Result<Arc<dyn ImageBackend>, String> {
    let options = options.clone().ok_or_else(|| missing.to_owned())?;
    build(options)
        .map(|b| Arc::new(b) as Arc<dyn ImageBackend>)
        .map_err(|e| e.to_string())
}

impl ImageRegistry {
    /// Builds every image backend, listing the ones that cannot be used with the reason.
    pub fn new(settings: &ImageSettings) -> Self {
        let entries = KNOWN_IMAGES
            .iter()
            .map(|known| {
                let built = match known.name {
                    still::NAME => Ok(Arc::new(Still::default()) as Arc<dyn ImageBackend>),
                    openai_images::NAME => hosted(
                        &settings.openai,
                        OpenAiImages::new,
                        "set OPENAI_API_KEY or openai_api_key",
                    ),
                    gemini_image::NAME => hosted(
                        &settings.gemini,
                        GeminiImage::new,
                        "set GEMINI_API_KEY or gemini_api_key",
                    ),
                    stability::NAME => hosted(
                        &settings.stability,
                        Stability::new,
                        "set STABILITY_API_KEY or stability_api_key",
                    ),
                    other => Err(format!("not built yet: no {other} image backend")),
                };
                let (backend, availability) = match built {
                    Ok(b) => {
                        let a = b.availability();
                        (Some(b), a)
                    }
                    Err(reason) => (None, Availability::Unavailable { reason }),
                };
                ImageEntry {
                    known,
                    backend,
                    availability,
                }
            })
            .collect();
        Self {
            entries,
            default_backend: settings
                .default_backend
                .clone()
                .unwrap_or_else(|| still::NAME.to_owned()),
        }
    }

    /// A registry holding exactly `backends` (tests and embedding); the first is the default.
    pub fn with_backends(backends: Vec<Arc<dyn ImageBackend>>) -> Self {
        let default_backend = backends.first().map_or(still::NAME, |b| b.id()).to_owned();
        let entries = backends
            .into_iter()
            .filter_map(|b| {
                Some(ImageEntry {
                    known: lookup(b.id())?,
                    availability: b.availability(),
                    backend: Some(b),
                })
            })
            .collect();
        Self {
            entries,
            default_backend,
        }
    }

    /// Every row, in display order.
    pub fn entries(&self) -> &[ImageEntry] {
        &self.entries
    }

    /// The name used when none is given.
    pub fn default_backend(&self) -> &str {
        &self.default_backend
    }

    /// The usable image backend called `name` (the default when `None`), or why it cannot
    /// be used. `field` names the setting in errors.
    pub fn get(&self, field: &str, name: Option<&str>) -> Result<Arc<dyn ImageBackend>> {
        let name = name.unwrap_or(&self.default_backend);
        let known = lookup(name).ok_or_else(|| unknown_image_backend(field, name))?;
        let entry = self
            .entries
            .iter()
            .find(|e| e.known.name == known.name)
            .ok_or_else(|| unknown_image_backend(field, name))?;
        match (&entry.backend, &entry.availability) {
            (Some(b), Availability::Available) => Ok(b.clone()),
            (_, Availability::Unavailable { reason }) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("{} cannot be used here: {reason}", entry.known.name),
            )),
            (None, Availability::Available) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("{} cannot be used here", entry.known.name),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_pipelines_image_model_names_resolve() {
        for (alias, name) in [
            ("gemini-2.5-flash-image-preview", "gemini"),
            ("openai/gpt-image-1", "openai"),
            ("stabilityai/sd3", "stability"),
            ("animatic", "still"),
        ] {
            assert_eq!(lookup(alias).map(|k| k.name), Some(name), "{alias}");
        }
    }

    #[test]
    fn without_keys_only_the_still_is_usable_and_the_others_say_why() {
        let reg = ImageRegistry::new(&ImageSettings::default());
        assert_eq!(reg.get("--backend", None).unwrap().id(), "still");
        let err = reg.get("--backend", Some("sd3")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("STABILITY_API_KEY"), "{err}");
        let err = reg.get("--backend", Some("stabilty")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("did you mean"), "{err}");
    }
}
