//! Veo models: durations, resolutions, which inputs each accepts, and prices.
//!
//! Facts from `shared/providers/google-veo.md` (google-genai SDK 2.34 / 1.40 converters and
//! Google's docs). The per-model matrix is partly UNCONFIRMED; prices are third-party reports
//! of Google's Gemini API pricing page (see [`PRICE_SOURCE`]) and UNCONFIRMED.

use crate::cost::PriceSource;

/// One Veo model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub name: &'static str,
    /// Allowed whole-second durations.
    pub durations: &'static [u32],
    /// Default duration.
    pub default_duration: u32,
    /// Resolution tiers by short side (720, 1080, 2160).
    pub tiers: &'static [u32],
    /// Tiers above 720p need this duration (Veo 3 and 3.1: 8 s).
    pub high_res_duration: Option<u32>,
    /// Whether a last frame (`lastFrame`) is accepted.
    pub last_frame: bool,
    /// Whether `referenceImages` are accepted (up to 3, 8 s only).
    pub reference_images: bool,
    /// Whether the model makes sound (always on through the Gemini API).
    pub audio: bool,
    /// Whether `resolution` may be sent (Veo 2 has only 720p and no such parameter).
    pub resolution_param: bool,
    /// US dollars per second, in micro-dollars, at 720p / 1080p / 4k.
    pub usd_micros_per_sec: [i64; 3],
}

const VEO3: Model = Model {
    name: "veo-3.0-generate-001",
    durations: &[4, 6, 8],
    default_duration: 8,
    tiers: &[720, 1080],
    high_res_duration: Some(8),
    last_frame: false,
    reference_images: false,
    audio: true,
    resolution_param: true,
    usd_micros_per_sec: [400_000, 400_000, 400_000],
};

const VEO3_FAST: Model = Model {
    name: "veo-3.0-fast-generate-001",
    usd_micros_per_sec: [150_000, 150_000, 150_000],
    ..VEO3
};

const VEO31: Model = Model {
    name: "veo-3.1-generate-preview",
    tiers: &[720, 1080, 2160],
    last_frame: true,
    reference_images: true,
    usd_micros_per_sec: [400_000, 400_000, 600_000],
    ..VEO3
};

const VEO31_FAST: Model = Model {
    name: "veo-3.1-fast-generate-preview",
    usd_micros_per_sec: [100_000, 120_000, 300_000],
    ..VEO31
};

/// Every supported model. The `-001` 3.1 ids are Vertex GA names with the same abilities.
pub const MODELS: &[Model] = &[
    Model {
        name: "veo-2.0-generate-001",
        durations: &[5, 6, 7, 8],
        default_duration: 8,
        tiers: &[720],
        high_res_duration: None,
        last_frame: false,
        reference_images: false,
        audio: false,
        resolution_param: false,
        usd_micros_per_sec: [350_000, 350_000, 350_000],
    },
    VEO3,
    VEO3_FAST,
    Model {
        name: "veo-3.0-generate-preview",
        ..VEO3
    },
    Model {
        name: "veo-3.0-fast-generate-preview",
        ..VEO3_FAST
    },
    VEO31,
    VEO31_FAST,
    Model {
        name: "veo-3.1-generate-001",
        ..VEO31
    },
    Model {
        name: "veo-3.1-fast-generate-001",
        ..VEO31_FAST
    },
];

/// The default model: the newest that does text, image, first+last frame and references.
pub const DEFAULT_MODEL: &str = "veo-3.1-fast-generate-preview";

/// Where the prices come from. UNCONFIRMED: Google's page was not read directly; the figures
/// are third-party transcriptions of it (reapi.ai, May 2026, for 3.1; aifreeapi.com for 3.0
/// and Veo 2's widely reported $0.35/s).
pub fn price_source() -> PriceSource {
    PriceSource {
        url: PRICE_SOURCE.to_owned(),
        as_of: "2026-11-25".to_owned(),
    }
}

/// Google's Gemini API pricing page.
pub const PRICE_SOURCE: &str = "https://ai.google.dev/gemini-api/docs/pricing";

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

impl Model {
    /// The price per second at a short side of `tier` pixels.
    pub fn usd_micros_per_sec_at(&self, tier: u32) -> i64 {
        match tier {
            0..=720 => self.usd_micros_per_sec[0],
            721..=1080 => self.usd_micros_per_sec[1],
            _ => self.usd_micros_per_sec[2],
        }
    }
}

/// The wire name of a resolution tier.
pub fn tier_name(short_side: u32) -> &'static str {
    match short_side {
        0..=720 => "720p",
        721..=1080 => "1080p",
        _ => "4k",
    }
}
