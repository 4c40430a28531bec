//! Keyframe images: the frames at the boundaries of a film's segments. Keyframe `0` is the
//! film's first frame; keyframe `k` ends segment `k` and starts segment `k + 1` (the original
//! pipeline's `segment_00.png`, `segment_01.png`, ...).
//!
//! A [`KeyframeSource`] makes or finds them: the user's images ([`UserImages`]), a still
//! rendered by the embedded animatic from the keyframe prompt ([`AnimaticStills`]), and —
//! through the same trait — image models. [`Keyframes`] asks its sources in order.
//! Every source writes deterministic files, so a resumed run sends the same images again
//! and its segment jobs are recognised as the same jobs.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::media::atomic::write_atomically;
use crate::request::Resolution;
use crate::services::animatic::title::TitleCard;

/// What one keyframe should show.
#[derive(Debug, Clone)]
pub struct KeyframeRequest {
    /// Which keyframe: 0 is the film's first frame, `k` ends segment `k` (counting from 1).
    pub index: usize,
    /// What it shows.
    pub prompt: String,
    /// Its size.
    pub size: Resolution,
    /// Seed for sources that draw.
    pub seed: u64,
}

/// Makes or finds keyframe images.
#[async_trait]
pub trait KeyframeSource: Send + Sync + std::fmt::Debug {
    /// The source's name, for records (`user`, `animatic`, an image backend's name).
    fn name(&self) -> &str;

    /// The image for `request`: `Ok(None)` when this source has none (the next one is
    /// asked). A source that makes images writes them into `dir`.
    async fn keyframe(&self, request: &KeyframeRequest, dir: &Path) -> Result<Option<PathBuf>>;
}

/// The user's images: `initial_image` as keyframe 0, and in `reference_images_dir` the
/// original pipeline's names (`provided_start_image.png` or `segment_00.png` for keyframe 0,
/// `segment_NN.png` for keyframe NN; PNG, JPEG or WebP).
#[derive(Debug, Clone, Default)]
pub struct UserImages {
    /// The film's first frame.
    pub initial_image: Option<PathBuf>,
    /// A folder of keyframes.
    pub dir: Option<PathBuf>,
}

impl UserImages {
    /// The user's image for keyframe `index`, if there is one.
    pub fn find(&self, index: usize) -> Option<PathBuf> {
        if index == 0
            && let Some(p) = &self.initial_image
        {
            return Some(p.clone());
        }
        let dir = self.dir.as_ref()?;
        let mut stems = vec![format!("segment_{index:02}")];
        if index == 0 {
            stems.insert(0, "provided_start_image".to_owned());
        }
        stems
            .iter()
            .flat_map(|stem| {
                ["png", "jpg", "jpeg", "webp"]
                    .iter()
                    .map(move |ext| dir.join(format!("{stem}.{ext}")))
            })
            .find(|p| p.is_file())
    }
}

#[async_trait]
impl KeyframeSource for UserImages {
    fn name(&self) -> &str {
        "user"
    }

    async fn keyframe(&self, request: &KeyframeRequest, _dir: &Path) -> Result<Option<PathBuf>> {
        Ok(self.find(request.index))
    }
}

/// Stills rendered by the embedded animatic: a designed card of the keyframe prompt. Free,
/// offline and deterministic.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnimaticStills;

/// The frame of the card drawn as the still: two seconds in at 24 fps, when the text has
/// fully appeared.
const STILL_FRAME: (u32, u32) = (48, 24);

impl AnimaticStills {
    /// Renders the still for `prompt` as PNG bytes.
    pub fn render_png(prompt: &str, size: Resolution, seed: u64) -> Result<Vec<u8>> {
        let mut card = TitleCard::new(prompt, seed, size)?;
        let mut rgb = vec![0u8; size.pixels() as usize * 3];
        card.render(STILL_FRAME.0, STILL_FRAME.1, &mut rgb)?;
        let image = image::RgbImage::from_raw(size.width, size.height, rgb)
            .ok_or_else(|| Error::new(ErrorKind::Io, "the still has the wrong size"))?;
        let mut png = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the still: {e}")))?;
        Ok(png)
    }
}

#[async_trait]
impl KeyframeSource for AnimaticStills {
    fn name(&self) -> &str {
        crate::services::animatic::NAME
    }

    async fn keyframe(&self, request: &KeyframeRequest, dir: &Path) -> Result<Option<PathBuf>> {
        let dest = dir.join(format!("keyframe_{:02}.png", request.index));
        let req = request.clone();
        let png =
            tokio::task::spawn_blocking(move || Self::render_png(&req.prompt, req.size, req.seed))
                .await
                .map_err(|e| {
                    Error::new(ErrorKind::Io, format!("a background task failed: {e}"))
                })??;
        // The same still is the same bytes: rewriting it on a resume changes nothing.
        if std::fs::read(&dest).ok().as_deref() != Some(&png[..]) {
            write_atomically(&dest, &png)?;
        }
        Ok(Some(dest))
    }
}

/// Keyframe sources asked in order.
#[derive(Debug, Clone)]
pub struct Keyframes {
    sources: Vec<Arc<dyn KeyframeSource>>,
}

impl Keyframes {
    /// Sources asked in the order given.
    pub fn new(sources: Vec<Arc<dyn KeyframeSource>>) -> Self {
        Self { sources }
    }

    /// The user's images first, then animatic stills.
    pub fn standard(user: UserImages) -> Self {
        Self::new(vec![Arc::new(user), Arc::new(AnimaticStills)])
    }

    /// Puts `source` before the animatic stills (an image backend, say).
    pub fn with_source(mut self, source: Arc<dyn KeyframeSource>) -> Self {
        let at = self.sources.len().saturating_sub(1);
        self.sources.insert(at, source);
        self
    }

    /// The keyframe for `request` and the name of the source that gave it.
    pub async fn get(&self, request: &KeyframeRequest, dir: &Path) -> Result<(PathBuf, String)> {
        for source in &self.sources {
            if let Some(path) = source.keyframe(request, dir).await? {
                return Ok((path, source.name().to_owned()));
            }
        }
        Err(Error::new(
            ErrorKind::InvalidRequest,
            format!(
                "no keyframe source had an image for keyframe {}",
                request.index
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn user_images_come_first_and_stills_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let refs = dir.path().join("input");
        std::fs::create_dir_all(&refs).unwrap();
        let png = AnimaticStills::render_png("a user image", Resolution::new(64, 36), 1).unwrap();
        std::fs::write(refs.join("segment_01.png"), &png).unwrap();
        let keyframes = Keyframes::standard(UserImages {
            initial_image: None,
            dir: Some(refs.clone()),
        });
        let request = |index| KeyframeRequest {
            index,
            prompt: format!("scene {index}"),
            size: Resolution::new(128, 72),
            seed: 3,
        };
        let (one, source) = keyframes.get(&request(1), dir.path()).await.unwrap();
        assert_eq!(
            (one, source.as_str()),
            (refs.join("segment_01.png"), "user")
        );
        let (two, source) = keyframes.get(&request(2), dir.path()).await.unwrap();
        assert_eq!(source, "animatic");
        let first = std::fs::read(&two).unwrap();
        let decoded = image::load_from_memory(&first).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (128, 72));
        // Deterministic: made again, the same bytes.
        keyframes.get(&request(2), dir.path()).await.unwrap();
        assert_eq!(std::fs::read(&two).unwrap(), first);
    }
}
