//! A handful of popular fal video models: their modes, how a request maps onto their input
//! schema, and prices. Any other app id is accepted with a generic mapping (`prompt`,
//! `image_url`) plus the request's `extra` map, and has no price table.
//!
//! Kling prices are from each model's llms.txt page (read 2026-11-25, per
//! `shared/providers/fal.md`); the others are UNCONFIRMED and marked so.

use crate::request::Mode;

/// How request fields map onto a model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Kling: `duration` `"5"`/`"10"`, `aspect_ratio` for text-to-video, `negative_prompt`.
    Kling,
    /// MiniMax Hailuo-02 on fal: `duration` `"6"`/`"10"`, no aspect.
    Hailuo,
    /// Wan 2.2: `aspect_ratio`, `resolution` (`480p`/`720p`), `seed`, `negative_prompt`.
    Wan,
    /// Veo 3: `duration` `"8s"`, `aspect_ratio`, `generate_audio`, `seed`, `negative_prompt`.
    Veo,
    /// Anything else: `prompt`, `image_url`, `end_image_url`, and `extra`.
    Generic,
}

/// One known fal model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The fal app id.
    pub id: &'static str,
    /// Input mapping.
    pub style: Style,
    /// Modes offered.
    pub modes: &'static [Mode],
    /// Whole-second durations.
    pub durations: &'static [u32],
    /// US dollars in micros: (price of the base clip, base seconds, price per extra second).
    pub price: Option<(i64, u32, i64)>,
    /// Whether the price is confirmed from the model's own page.
    pub price_confirmed: bool,
}

const T2V: &[Mode] = &[Mode::TextToVideo];
const I2V: &[Mode] = &[Mode::ImageToVideo];

/// The known models.
pub const MODELS: &[Model] = &[
    Model {
        id: "fal-ai/kling-video/v2.1/standard/image-to-video",
        style: Style::Kling,
        modes: I2V,
        durations: &[5, 10],
        price: Some((280_000, 5, 56_000)),
        price_confirmed: true,
    },
    Model {
        id: "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        style: Style::Kling,
        modes: I2V,
        durations: &[5, 10],
        price: Some((350_000, 5, 70_000)),
        price_confirmed: true,
    },
    Model {
        id: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
        style: Style::Kling,
        modes: T2V,
        durations: &[5, 10],
        // UNCONFIRMED: assumed equal to the image-to-video price.
        price: Some((350_000, 5, 70_000)),
        price_confirmed: false,
    },
    Model {
        id: "fal-ai/minimax/hailuo-02/standard/text-to-video",
        style: Style::Hailuo,
        modes: T2V,
        durations: &[6, 10],
        // UNCONFIRMED: $0.045/s.
        price: Some((270_000, 6, 45_000)),
        price_confirmed: false,
    },
    Model {
        id: "fal-ai/minimax/hailuo-02/standard/image-to-video",
        style: Style::Hailuo,
        modes: I2V,
        durations: &[6, 10],
        // UNCONFIRMED: $0.045/s.
        price: Some((270_000, 6, 45_000)),
        price_confirmed: false,
    },
    Model {
        id: "fal-ai/wan/v2.2-a14b/text-to-video",
        style: Style::Wan,
        modes: T2V,
        durations: &[5],
        // UNCONFIRMED: $0.08/s at 720p.
        price: Some((400_000, 5, 80_000)),
        price_confirmed: false,
    },
    Model {
        id: "fal-ai/wan/v2.2-a14b/image-to-video",
        style: Style::Wan,
        modes: I2V,
        durations: &[5],
        // UNCONFIRMED: $0.08/s at 720p.
        price: Some((400_000, 5, 80_000)),
        price_confirmed: false,
    },
    Model {
        id: "fal-ai/veo3",
        style: Style::Veo,
        modes: T2V,
        durations: &[8],
        // UNCONFIRMED: $0.75/s with audio ($0.50/s without is not modelled).
        price: Some((6_000_000, 8, 750_000)),
        price_confirmed: false,
    },
];

/// The default model.
pub const DEFAULT_MODEL: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";

/// The known model with app id `id`.
pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

/// The page a model's price is read from.
pub fn price_url(id: &str) -> String {
    format!("https://fal.ai/models/{id}/llms.txt")
}

/// `owner/alias` of an app id: the part status, result and cancel URLs use. `workflows/` and
/// `comfy/` ids keep their namespace; legacy `123-myapp` ids become `123/myapp`.
pub fn owner_alias(app_id: &str) -> String {
    let parts: Vec<&str> = app_id.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [ns @ ("workflows" | "comfy"), owner, alias, ..] => format!("{ns}/{owner}/{alias}"),
        [owner, alias, ..] => format!("{owner}/{alias}"),
        [single] => match single.split_once('-') {
            Some((num, app)) if num.chars().all(|c| c.is_ascii_digit()) => format!("{num}/{app}"),
            _ => (*single).to_owned(),
        },
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_urls_use_only_owner_and_alias() {
        assert_eq!(
            owner_alias("fal-ai/kling-video/v2.1/standard/image-to-video"),
            "fal-ai/kling-video"
        );
        assert_eq!(owner_alias("fal-ai/veo3"), "fal-ai/veo3");
        assert_eq!(owner_alias("workflows/me/flow/x"), "workflows/me/flow");
        assert_eq!(owner_alias("123-myapp"), "123/myapp");
    }
}
