//! Wan models on Model Studio: modes, tiers, durations and prices.
//!
//! Model ids from the DashScope SDK and the Vercel AI SDK (2026). Prices in US dollars per
//! second of output, international region, from third-party pages quoting Alibaba's price list
//! (lumenfall.ai and empiriolabs.ai, read 2026-12-02): UNCONFIRMED.

use crate::cost::PriceSource;
use crate::request::{Mode, Resolution};

/// One Wan model id.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub id: &'static str,
    /// The family it belongs to (`wan2.6`).
    pub family: &'static str,
    /// The one mode it serves.
    pub mode: Mode,
    /// Tiers offered, with US dollars per second (UNCONFIRMED).
    pub tiers: &'static [(u32, f64)],
    /// Whole-second durations.
    pub durations: &'static [u32],
    /// Takes `parameters.audio`.
    pub audio: bool,
}

const T2V: Mode = Mode::TextToVideo;
const I2V: Mode = Mode::ImageToVideo;
const FLF: Mode = Mode::FirstLastFrame;

/// Every supported model id.
pub const MODELS: &[Model] = &[
    Model {
        id: "wan2.6-t2v",
        family: "wan2.6",
        mode: T2V,
        tiers: &[(720, 0.10), (1080, 0.15)],
        durations: &[5, 10, 15],
        audio: true,
    },
    Model {
        id: "wan2.6-i2v",
        family: "wan2.6",
        mode: I2V,
        tiers: &[(720, 0.10), (1080, 0.15)],
        durations: &[5, 10, 15],
        audio: true,
    },
    Model {
        id: "wan2.5-t2v-preview",
        family: "wan2.5",
        mode: T2V,
        tiers: &[(480, 0.05), (720, 0.10), (1080, 0.15)],
        durations: &[5, 10],
        audio: true,
    },
    Model {
        id: "wan2.5-i2v-preview",
        family: "wan2.5",
        mode: I2V,
        tiers: &[(480, 0.05), (720, 0.10), (1080, 0.15)],
        durations: &[5, 10],
        audio: true,
    },
    Model {
        id: "wan2.2-t2v-plus",
        family: "wan2.2",
        mode: T2V,
        tiers: &[(480, 0.02), (1080, 0.10)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wan2.2-i2v-plus",
        family: "wan2.2",
        mode: I2V,
        tiers: &[(480, 0.02), (1080, 0.10)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wanx2.1-t2v-turbo",
        family: "wan2.1",
        mode: T2V,
        tiers: &[(480, 0.036), (720, 0.036)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wanx2.1-t2v-plus",
        family: "wan2.1-plus",
        mode: T2V,
        tiers: &[(720, 0.10)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wanx2.1-i2v-turbo",
        family: "wan2.1",
        mode: I2V,
        tiers: &[(480, 0.036), (720, 0.036)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wanx2.1-i2v-plus",
        family: "wan2.1-plus",
        mode: I2V,
        tiers: &[(720, 0.10)],
        durations: &[5],
        audio: false,
    },
    Model {
        id: "wanx2.1-kf2v-plus",
        family: "wan2.1",
        mode: FLF,
        tiers: &[(720, 0.10)],
        durations: &[5],
        audio: false,
    },
];

/// The default: the newest family.
pub const DEFAULT_MODEL: &str = "wan2.6";

/// Largest image sent inline as a data URI (UNCONFIRMED); larger go through the bucket.
pub const INLINE_MAX: u64 = crate::media::delivery::inline_max_for_data_uri(10 * 1024 * 1024);
/// Largest image accepted (UNCONFIRMED: 10 MB per Alibaba's image-input notes).
pub const IMAGE_MAX: u64 = 10 * 1024 * 1024;

/// The `size` values per tier (`W*H`, from the AI SDK's map).
const SIZES: &[(u32, &[(u32, u32)])] = &[
    (480, &[(832, 480), (480, 832), (624, 624)]),
    (
        720,
        &[
            (1280, 720),
            (720, 1280),
            (960, 960),
            (1088, 832),
            (832, 1088),
        ],
    ),
    (
        1080,
        &[
            (1920, 1080),
            (1080, 1920),
            (1440, 1440),
            (1632, 1248),
            (1248, 1632),
        ],
    ),
];

/// The models `name` stands for: one id, or every id of a family.
pub fn resolve(name: &str) -> Vec<&'static Model> {
    match MODELS.iter().find(|m| m.id == name) {
        Some(m) => vec![m],
        None => MODELS.iter().filter(|m| m.family == name).collect(),
    }
}

/// The sizes a model makes.
pub fn sizes(model: &Model) -> Vec<Resolution> {
    SIZES
        .iter()
        .filter(|(tier, _)| model.tiers.iter().any(|(t, _)| t == tier))
        .flat_map(|(_, list)| list.iter().map(|(w, h)| Resolution::new(*w, *h)))
        .collect()
}

/// The tier of a size, such as 720.
pub fn tier_of(size: Resolution) -> Option<u32> {
    SIZES
        .iter()
        .find(|(_, list)| list.iter().any(|(w, h)| Resolution::new(*w, *h) == size))
        .map(|(tier, _)| *tier)
}

/// Where the prices come from.
pub fn price_source() -> PriceSource {
    PriceSource {
        url: "https://www.alibabacloud.com/help/en/model-studio/models".to_owned(),
        as_of: "2026-12-02".to_owned(),
    }
}
