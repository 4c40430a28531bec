//! Runway's models: endpoints, ratios, durations, frame positions and prices.
//!
//! Facts from the `runwayml` Python SDK 5.24 type definitions (3.22/4.18 for gen3a_turbo), as
//! summarised in `shared/providers/runway.md`. gen4_turbo durations 2–10 s follow third-party
//! docs (the SDK has no enum): UNCONFIRMED.

use crate::cost::PriceSource;

/// One Runway model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub name: &'static str,
    /// Offered on `/v1/text_to_video`.
    pub t2v: bool,
    /// Ratios (`W:H` in pixels) for image-to-video.
    pub i2v_ratios: &'static [&'static str],
    /// Ratios for text-to-video.
    pub t2v_ratios: &'static [&'static str],
    /// Allowed whole-second durations.
    pub durations: &'static [u32],
    /// Default duration.
    pub default_duration: u32,
    /// Whether `promptText` is required.
    pub needs_text: bool,
    /// Whether a `last` prompt image is accepted.
    pub last_frame: bool,
    /// Whether `audio` and `negativePrompt` are accepted (Veo on Runway).
    pub veo: bool,
    /// Credits per second without / with audio. UNCONFIRMED (see [`PRICE_SOURCE`]).
    pub credits_per_sec: (u32, u32),
}

const GEN4: &[&str] = &[
    "1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672",
];
const VEO: &[&str] = &["1280:720", "720:1280", "1080:1920", "1920:1080"];
const TWO_TO_TEN: &[u32] = &[2, 3, 4, 5, 6, 7, 8, 9, 10];

const VEO31: Model = Model {
    name: "veo3.1",
    t2v: true,
    i2v_ratios: VEO,
    t2v_ratios: VEO,
    durations: &[4, 6, 8],
    default_duration: 8,
    needs_text: false,
    last_frame: true,
    veo: true,
    credits_per_sec: (20, 40),
};

/// Every supported model.
pub const MODELS: &[Model] = &[
    Model {
        name: "gen4_turbo",
        t2v: false,
        i2v_ratios: GEN4,
        t2v_ratios: &[],
        durations: TWO_TO_TEN,
        default_duration: 5,
        needs_text: false,
        last_frame: false,
        veo: false,
        credits_per_sec: (5, 5),
    },
    Model {
        name: "gen4.5",
        t2v: true,
        i2v_ratios: GEN4,
        t2v_ratios: &["1280:720", "720:1280"],
        durations: TWO_TO_TEN,
        default_duration: 5,
        needs_text: true,
        last_frame: false,
        veo: false,
        credits_per_sec: (12, 12),
    },
    VEO31,
    Model {
        name: "veo3.1_fast",
        credits_per_sec: (10, 15),
        ..VEO31
    },
    Model {
        name: "gen3a_turbo",
        t2v: false,
        i2v_ratios: &["1280:768", "768:1280"],
        t2v_ratios: &[],
        durations: &[5, 10],
        default_duration: 5,
        needs_text: true,
        last_frame: true,
        veo: false,
        credits_per_sec: (5, 5),
    },
];

/// The default model: the newest that does both text and image to video.
pub const DEFAULT_MODEL: &str = "gen4.5";

/// US dollars per credit, in micro-dollars. UNCONFIRMED: widely reported as $0.01.
pub const USD_MICROS_PER_CREDIT: i64 = 10_000;

/// Where the credit prices come from. UNCONFIRMED: read from a third-party mirror of
/// Runway's API docs, not from the first-party page named here.
pub fn price_source() -> PriceSource {
    PriceSource {
        url: PRICE_SOURCE.to_owned(),
        as_of: "2026-11-25".to_owned(),
    }
}

/// Runway's pricing page.
pub const PRICE_SOURCE: &str = "https://docs.dev.runwayml.com/guides/pricing";

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}
