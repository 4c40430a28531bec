//! `still`: the embedded image backend, a styled title card of the prompt drawn by the
//! animatic's title renderer ([`crate::services::animatic::title`]). No keys, free, always
//! available, deterministic for a seed: the keyframe a fresh machine can always make.
//!
//! It takes no reference images; a keyframe planned with references is made without them
//! (the keyframe source only passes references to backends that list them).

use async_trait::async_trait;

use crate::backend::BackendKind;
use crate::capabilities::ImageLimits;
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Result};
use crate::images::{ImageBackend, ImageCapabilities, ImageOutput, ImageRequest, ResolvedImage};
use crate::media::image::ImageFormat;
use crate::request::Resolution;
use crate::services::animatic::title::TitleCard;

/// Canonical name.
pub const NAME: &str = "still";

/// The embedded title-card still.
#[derive(Debug, Clone)]
pub struct Still {
    caps: ImageCapabilities,
}

impl Default for Still {
    fn default() -> Self {
        Self {
            caps: ImageCapabilities {
                // The default area first (1280x720 at 16:9), the largest size last.
                sizes: vec![Resolution::new(1280, 720), Resolution::new(3840, 2160)],
                any_size: true,
                max_references: 0,
                image_to_image: false,
                max_prompt_chars: 4000,
                negative_prompt: false,
                seed: true,
                reference_limits: ImageLimits::default(),
                extras: &[],
                outputs: vec![ImageFormat::Png],
            },
        }
    }
}

/// Draws the card for `prompt` at `size` as PNG bytes. Blocking and CPU-bound.
pub fn render_png(prompt: &str, seed: u64, size: Resolution) -> Result<Vec<u8>> {
    let mut card = TitleCard::new(prompt, seed, size)?;
    let mut rgb = vec![0u8; size.pixels() as usize * 3];
    // Two seconds in, the title has faded in fully and the rule has grown.
    card.render(2, 1, &mut rgb)?;
    let img = image::RgbImage::from_raw(size.width, size.height, rgb)
        .ok_or_else(|| Error::new(ErrorKind::Io, "the still's frame has the wrong size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the still failed: {e}")))?;
    Ok(png)
}

#[async_trait]
impl ImageBackend for Still {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn capabilities(&self) -> &ImageCapabilities {
        &self.caps
    }

    fn estimate_cost(&self, _: &ImageRequest, _: &ResolvedImage) -> Result<CostEstimate> {
        Ok(CostEstimate::free("embedded renderer: free"))
    }

    async fn create(&self, req: &ImageRequest, resolved: &ResolvedImage) -> Result<ImageOutput> {
        let prompt = req.prompt.clone();
        let seed = req.seed.unwrap_or(0);
        let size = resolved.size;
        let bytes = tokio::task::spawn_blocking(move || render_png(&prompt, seed, size))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("drawing the still failed: {e}")))?
            .map_err(|e| e.with_backend(NAME))?;
        Ok(ImageOutput {
            bytes,
            provider_id: None,
            charged: None,
            seed: Some(seed),
        })
    }
}
