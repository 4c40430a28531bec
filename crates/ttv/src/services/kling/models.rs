//! Kling models: modes, tiers per mode, durations and units per clip.
//!
//! Capabilities from Kling's capability map (first-party, as copied in
//! `shared/providers/kling.md`). Units per 5-second clip (std, pro) and the dollar price of a
//! unit are from third-party copies of Kling's developer price page (read 2026-12-02):
//! UNCONFIRMED. Ten seconds cost twice five; sound (kling-v2-6 pro and later) twice silence.

use crate::cost::PriceSource;

/// One Kling model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's `model_name`.
    pub name: &'static str,
    /// Offered on text2video.
    pub t2v: bool,
    /// Offered on image2video.
    pub i2v: bool,
    /// Tier (short side) of std and pro output.
    pub tiers: (u32, u32),
    /// Takes `image_tail` (a last frame), and in which mode (`pro` only for most).
    pub last_frame_pro_only: Option<bool>,
    /// Durations in whole seconds.
    pub durations: &'static [u32],
    /// Output frame rate.
    pub fps: u32,
    /// Takes `sound: on` (pro mode).
    pub sound: bool,
    /// Units per 5 s clip, std and pro (UNCONFIRMED).
    pub units_per_5s: (f64, f64),
}

const FIVE_TEN: &[u32] = &[5, 10];

/// Every supported model.
pub const MODELS: &[Model] = &[
    Model {
        name: "kling-v2-6",
        t2v: true,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 24,
        sound: true,
        units_per_5s: (1.5, 2.5),
    },
    Model {
        name: "kling-v2-5-turbo",
        t2v: true,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 24,
        sound: false,
        units_per_5s: (1.5, 2.5),
    },
    Model {
        name: "kling-v3",
        t2v: true,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(false),
        durations: &[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        fps: 24,
        sound: true,
        units_per_5s: (3.0, 4.0),
    },
    Model {
        name: "kling-v2-1-master",
        t2v: true,
        i2v: true,
        tiers: (1080, 1080),
        last_frame_pro_only: None,
        durations: FIVE_TEN,
        fps: 24,
        sound: false,
        units_per_5s: (10.0, 10.0),
    },
    Model {
        name: "kling-v2-1",
        t2v: false,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 24,
        sound: false,
        units_per_5s: (2.0, 3.5),
    },
    Model {
        name: "kling-v2-master",
        t2v: true,
        i2v: true,
        tiers: (720, 720),
        last_frame_pro_only: None,
        durations: FIVE_TEN,
        fps: 24,
        sound: false,
        units_per_5s: (10.0, 10.0),
    },
    Model {
        name: "kling-v1-6",
        t2v: true,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 30,
        sound: false,
        units_per_5s: (2.0, 3.5),
    },
    Model {
        name: "kling-v1-5",
        t2v: false,
        i2v: true,
        tiers: (720, 1080),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 30,
        sound: false,
        units_per_5s: (2.0, 3.5),
    },
    Model {
        name: "kling-v1",
        t2v: true,
        i2v: true,
        tiers: (720, 720),
        last_frame_pro_only: Some(true),
        durations: FIVE_TEN,
        fps: 30,
        sound: false,
        units_per_5s: (1.0, 3.5),
    },
];

/// The default model.
pub const DEFAULT_MODEL: &str = "kling-v2-6";

/// US dollars per unit (standard resource packs; UNCONFIRMED).
pub const USD_PER_UNIT: f64 = 0.14;

/// Largest image (Kling: 10 MB, by URL or inline base64 alike).
pub const IMAGE_MAX: u64 = 10 * 1024 * 1024;

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

/// Where the prices come from.
pub fn price_source() -> PriceSource {
    PriceSource {
        url:
            "https://app.klingai.com/global/dev/document-api/productBilling/prePaidResourcePackage"
                .to_owned(),
        as_of: "2026-12-02".to_owned(),
    }
}
