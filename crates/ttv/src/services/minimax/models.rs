//! MiniMax video models: modes, durations, resolutions and prices.
//!
//! From platform.minimax.io docs as summarised in `shared/providers/minimax.md`. Prices are
//! UNCONFIRMED: no first-party price page was read; figures are third-party reseller quotes.

use crate::cost::PriceSource;
use crate::request::Resolution;

/// One resolution tier of a model.
#[derive(Debug, Clone, Copy)]
pub struct Tier {
    /// The API's name (`768P`).
    pub name: &'static str,
    /// The landscape frame size it produces.
    pub size: Resolution,
    /// Only with a first-frame image.
    pub needs_image: bool,
    /// Only at 6 seconds.
    pub six_secs_only: bool,
    /// Price per 6 s / 10 s clip in US cents (UNCONFIRMED).
    pub cents: (i64, i64),
}

/// One MiniMax model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub name: &'static str,
    /// Takes a prompt alone.
    pub t2v: bool,
    /// Takes a first-frame image.
    pub i2v: bool,
    /// Takes a last-frame image too.
    pub last_frame: bool,
    /// The image is a subject reference (S2V-01), not a first frame.
    pub subject: bool,
    /// Allowed durations.
    pub durations: &'static [u32],
    /// Resolution tiers, default first.
    pub tiers: &'static [Tier],
}

const HAILUO_02: &[Tier] = &[
    Tier {
        name: "768P",
        size: Resolution::new(1366, 768),
        needs_image: false,
        six_secs_only: false,
        cents: (28, 56),
    },
    Tier {
        name: "1080P",
        size: Resolution::new(1920, 1080),
        needs_image: false,
        six_secs_only: true,
        cents: (49, 49),
    },
    Tier {
        name: "512P",
        size: Resolution::new(912, 512),
        needs_image: true,
        six_secs_only: false,
        cents: (10, 15),
    },
];

const LEGACY: &[Tier] = &[Tier {
    name: "720P",
    size: Resolution::new(1280, 720),
    needs_image: false,
    six_secs_only: true,
    cents: (43, 43),
}];

const fn legacy(name: &'static str, t2v: bool, subject: bool) -> Model {
    Model {
        name,
        t2v,
        i2v: !t2v || subject,
        last_frame: false,
        subject,
        durations: &[6],
        tiers: LEGACY,
    }
}

/// Every supported model.
pub const MODELS: &[Model] = &[
    Model {
        name: "MiniMax-Hailuo-02",
        t2v: true,
        i2v: true,
        last_frame: true,
        subject: false,
        durations: &[6, 10],
        tiers: HAILUO_02,
    },
    legacy("T2V-01", true, false),
    legacy("T2V-01-Director", true, false),
    legacy("I2V-01", false, false),
    legacy("I2V-01-Director", false, false),
    legacy("I2V-01-live", false, false),
    Model {
        t2v: false,
        ..legacy("S2V-01", false, true)
    },
];

/// The default model.
pub const DEFAULT_MODEL: &str = "MiniMax-Hailuo-02";

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

/// Where the prices come from (a reseller page; UNCONFIRMED).
pub fn price_source() -> PriceSource {
    PriceSource {
        url: "https://wavespeed.ai/models/minimax/hailuo-02".to_owned(),
        as_of: "2026-11-25".to_owned(),
    }
}
