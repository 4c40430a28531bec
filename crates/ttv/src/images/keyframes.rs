//! Keyframes from an image backend: what the film's keyframe mode asks of image models, kept
//! here so that the film pipeline's keyframe seam only has to call [`ImageKeyframes::make`].
//!
//! For keyframe `index` it sends the keyframe prompt with reference images as the backend
//! accepts them: the previous keyframe first when `sequential` (the original pipeline's
//! consistency from one keyframe to the next; for an image-to-image backend it is the image to
//! start from), then the images of `reference_images_dir` (characters, settings), up to the
//! backend's limit. The image is made at the backend's size closest to the video's shape,
//! then fitted (centre crop and scale) to exactly the size the video backend accepts, so the
//! keyframe can be a segment's first or last frame as it is. Each keyframe is an image job
//! with a deterministic id, so a resumed film never pays for a keyframe twice, and the file
//! `keyframe_NN.png` once written is used again as it is.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::images::ImageRequest;
use crate::images::jobs::{ImageJobSpec, ImageJobs};
use crate::media::atomic::write_atomically;
use crate::media::image::{ImageInput, fit_cover};
use crate::request::Resolution;

/// Extensions read from the reference folder.
const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp"];

/// Keyframes made by one image backend.
#[derive(Debug, Clone)]
pub struct ImageKeyframes {
    jobs: ImageJobs,
    backend: Option<String>,
    name: String,
    references: Vec<PathBuf>,
    sequential: bool,
    job_prefix: String,
}

impl ImageKeyframes {
    /// Keyframes from `backend` (the image registry's default when `None`) through `jobs`;
    /// `job_prefix` makes each keyframe's job id (`PREFIX-kf-NN`), the same on every resume.
    pub fn new(jobs: ImageJobs, backend: Option<String>, job_prefix: impl Into<String>) -> Self {
        let name = backend
            .as_deref()
            .and_then(crate::images::registry::lookup)
            .map_or_else(
                || jobs.registry().default_backend().to_owned(),
                |k| k.name.to_owned(),
            );
        Self {
            jobs,
            backend,
            name,
            references: Vec::new(),
            sequential: true,
            job_prefix: job_prefix.into(),
        }
    }

    /// Sends the images in `dir` (PNG, JPEG, WebP, by name) as references where the backend
    /// takes them. Keyframe files the user put there for the film (`segment_NN.*`,
    /// `provided_start_image.*`) are not references.
    pub fn with_reference_dir(mut self, dir: &Path) -> Result<Self> {
        if !dir.exists() {
            // The original sample names a folder that need not exist: no references then.
            return Ok(self);
        }
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Error::io(
                format_args!("reference_images_dir {} cannot be read", dir.display()),
                e,
            )
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let ext = p
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                p.is_file()
                    && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
                    && !stem.starts_with("segment_")
                    && stem != "provided_start_image"
            })
            .collect();
        found.sort();
        self.references = found;
        Ok(self)
    }

    /// The image backend's canonical name (for records).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the previous keyframe is sent as a reference for the next (default: yes).
    pub fn sequential(mut self, yes: bool) -> Self {
        self.sequential = yes;
        self
    }

    /// The file keyframe `index` is written to in `dir`.
    pub fn path(dir: &Path, index: usize) -> PathBuf {
        dir.join(format!("keyframe_{index:02}.png"))
    }

    /// Makes keyframe `index` showing `prompt` at exactly `size` in `dir` (or returns the one
    /// already there), and its path.
    pub async fn make(
        &self,
        index: usize,
        prompt: &str,
        size: Resolution,
        seed: u64,
        dir: &Path,
    ) -> Result<PathBuf> {
        let dest = Self::path(dir, index);
        if let Ok(bytes) = std::fs::read(&dest)
            && ImageInput::from_bytes("keyframe", dest.display().to_string(), bytes)
                .is_ok_and(|i| i.resolution() == size)
        {
            return Ok(dest);
        }
        let backend = self
            .jobs
            .registry()
            .get("image_generation_model", self.backend.as_deref())?;
        let caps = backend.capabilities();
        let mut references = Vec::new();
        let previous = index
            .checked_sub(1)
            .map(|i| Self::path(dir, i))
            .filter(|p| self.sequential && p.is_file());
        for (i, path) in previous.iter().chain(&self.references).enumerate() {
            if references.len() >= caps.max_references {
                break;
            }
            let field = format!("references[{i}]");
            let path = path.clone();
            let image = tokio::task::spawn_blocking(move || ImageInput::from_path(&field, &path))
                .await
                .map_err(|e| {
                    Error::new(ErrorKind::Io, format!("a background task failed: {e}"))
                })??;
            if image
                .check_limits("reference", &caps.reference_limits)
                .is_empty()
            {
                references.push(image);
            }
        }
        let mut request = ImageRequest {
            references,
            aspect_ratio: size.aspect(),
            ..ImageRequest::text(prompt)
        };
        if caps.seed {
            request.seed = Some(seed);
        }
        if caps.any_size {
            request.size = Some(size);
        }
        let raw = dir.join(format!("keyframe_{index:02}.source.png"));
        let plan = self.jobs.plan(ImageJobSpec {
            request,
            backend: Some(backend.id().to_owned()),
            out: raw.clone(),
            job_id: Some(format!("{}-kf-{index:02}", self.job_prefix)),
            inputs: Vec::new(),
        })?;
        let made = self.jobs.run(plan).await?;
        let source = made.image.path;
        let dest2 = dest.clone();
        tokio::task::spawn_blocking(move || fit_to(&source, size, &dest2))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("a background task failed: {e}")))??;
        Ok(dest)
    }
}

/// Writes the image at `source` fitted to exactly `size` (centre crop, then scale) as PNG.
fn fit_to(source: &Path, size: Resolution, dest: &Path) -> Result<()> {
    let image = ImageInput::from_path("keyframe", source)?;
    let rgb = image.decode_rgb()?;
    let fitted = if (rgb.width(), rgb.height()) == (size.width, size.height) {
        rgb
    } else {
        fit_cover(&rgb, size)?
    };
    let mut png = Vec::new();
    fitted
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the keyframe failed: {e}")))?;
    write_atomically(dest, &png)?;
    Ok(())
}

/// The film's keyframe seam: keyframe `index` of a film run made by this image backend in the
/// run's folder. The job id comes from the folder, so a resumed run finds its own jobs.
#[async_trait::async_trait]
impl crate::film::KeyframeSource for ImageKeyframes {
    fn name(&self) -> &str {
        &self.name
    }

    async fn keyframe(
        &self,
        request: &crate::film::KeyframeRequest,
        dir: &Path,
    ) -> Result<Option<PathBuf>> {
        use sha2::Digest as _;
        let run = hex::encode(sha2::Sha256::digest(dir.to_string_lossy().as_bytes()));
        let per_run = Self {
            job_prefix: format!("{}-{}", self.job_prefix, &run[..12]),
            ..self.clone()
        };
        per_run
            .make(
                request.index,
                &request.prompt,
                request.size,
                request.seed,
                dir,
            )
            .await
            .map(Some)
    }
}
