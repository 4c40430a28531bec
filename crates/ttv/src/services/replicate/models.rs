//! Popular video models on Replicate: how a request maps onto their inputs, and their prices.
//!
//! Input names and prices (US dollars per second of output at the default tier) from each
//! model's Replicate page, read 2026-12-02: UNCONFIRMED against the models' schemas. Any other
//! model gets the generic mapping and no price.

use crate::request::Mode;

/// How request fields map onto a model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Kling: `start_image`, `end_image`, `duration` 5|10, `aspect_ratio`, `negative_prompt`.
    Kling,
    /// Wan: `image`, `resolution` 480p|720p, `aspect_ratio`, `seed`, `negative_prompt`.
    Wan,
    /// Hailuo: `first_frame_image`, `last_frame_image`, `duration` 6|10, `resolution`.
    Hailuo,
    /// Seedance: `image`, `last_frame_image`, `duration`, `resolution`, `aspect_ratio`, `seed`.
    Seedance,
    /// Veo: `image`, `last_frame`, `duration` 4|6|8, `aspect_ratio`, `resolution`,
    /// `negative_prompt`, `seed`, `generate_audio`.
    Veo,
    /// Anything else: `prompt`, `image`, and `-x`.
    Generic,
}

/// One known model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// `owner/name`.
    pub name: &'static str,
    /// Input mapping.
    pub style: Style,
    /// Modes.
    pub modes: &'static [Mode],
    /// Whole-second durations.
    pub durations: &'static [u32],
    /// US dollars per second of output (UNCONFIRMED).
    pub usd_per_sec: f64,
}

const ALL: &[Mode] = &[Mode::TextToVideo, Mode::ImageToVideo, Mode::FirstLastFrame];
const T2V_I2V: &[Mode] = &[Mode::TextToVideo, Mode::ImageToVideo];

/// The known models.
pub const MODELS: &[Model] = &[
    Model {
        name: "kwaivgi/kling-v2.1",
        style: Style::Kling,
        modes: &[Mode::ImageToVideo, Mode::FirstLastFrame],
        durations: &[5, 10],
        usd_per_sec: 0.05,
    },
    Model {
        name: "kwaivgi/kling-v2.5-turbo-pro",
        style: Style::Kling,
        modes: ALL,
        durations: &[5, 10],
        usd_per_sec: 0.07,
    },
    Model {
        name: "wan-video/wan-2.2-t2v-fast",
        style: Style::Wan,
        modes: &[Mode::TextToVideo],
        durations: &[5],
        usd_per_sec: 0.02,
    },
    Model {
        name: "wan-video/wan-2.2-i2v-fast",
        style: Style::Wan,
        modes: &[Mode::ImageToVideo],
        durations: &[5],
        usd_per_sec: 0.02,
    },
    Model {
        name: "minimax/hailuo-02",
        style: Style::Hailuo,
        modes: ALL,
        durations: &[6, 10],
        usd_per_sec: 0.045,
    },
    Model {
        name: "bytedance/seedance-1-pro",
        style: Style::Seedance,
        modes: ALL,
        durations: &[5, 10],
        usd_per_sec: 0.06,
    },
    Model {
        name: "bytedance/seedance-1-lite",
        style: Style::Seedance,
        modes: ALL,
        durations: &[5, 10],
        usd_per_sec: 0.036,
    },
    Model {
        name: "google/veo-3",
        style: Style::Veo,
        modes: T2V_I2V,
        durations: &[8],
        usd_per_sec: 0.75,
    },
    Model {
        name: "google/veo-3-fast",
        style: Style::Veo,
        modes: T2V_I2V,
        durations: &[8],
        usd_per_sec: 0.40,
    },
    Model {
        name: "google/veo-3.1",
        style: Style::Veo,
        modes: ALL,
        durations: &[4, 6, 8],
        usd_per_sec: 0.40,
    },
];

/// The default model.
pub const DEFAULT_MODEL: &str = "kwaivgi/kling-v2.5-turbo-pro";

/// Largest image sent inline as a data URL (Replicate's advice: 256 kB).
pub const INLINE_MAX: u64 = 256 * 1024;
/// Largest image uploaded through the files API (UNCONFIRMED).
pub const UPLOAD_MAX: u64 = 100 * 1024 * 1024;

/// The known model for an identifier (`owner/name` or `owner/name:version`).
pub fn find(id: &str) -> Option<&'static Model> {
    let name = id.split(':').next().unwrap_or(id);
    MODELS.iter().find(|m| m.name == name)
}

/// The page a model's price is read from.
pub fn price_url(id: &str) -> String {
    format!(
        "https://replicate.com/{}",
        id.split(':').next().unwrap_or(id)
    )
}
