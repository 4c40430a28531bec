//! Seedance models on ModelArk: what each takes and what it costs.
//!
//! Model ids from the Vercel AI SDK's `@ai-sdk/bytedance` settings (2026). Prices in US dollars
//! per million output tokens from Comfy's partner-node price list (Comfy charges the maker's
//! list price; read 2026-12-02): UNCONFIRMED against BytePlus's own page. Durations and frame
//! sizes from third-party mirrors of BytePlus's docs: UNCONFIRMED.

use crate::cost::PriceSource;
use crate::request::Resolution;

/// One Seedance model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub id: &'static str,
    /// Takes text alone.
    pub t2v: bool,
    /// Takes a first frame.
    pub i2v: bool,
    /// Takes a last frame too.
    pub last_frame: bool,
    /// Whole seconds from, to.
    pub durations: (u32, u32),
    /// Resolution tiers (short side).
    pub tiers: &'static [u32],
    /// Makes sound (`generate_audio`).
    pub audio: bool,
    /// US dollars per million tokens, silent and with sound.
    pub usd_per_m_tokens: (f64, f64),
}

/// Every supported model.
pub const MODELS: &[Model] = &[
    Model {
        id: "seedance-1-5-pro-251215",
        t2v: true,
        i2v: true,
        last_frame: true,
        durations: (4, 12),
        tiers: &[480, 720],
        audio: true,
        usd_per_m_tokens: (1.2, 2.4),
    },
    Model {
        id: "dreamina-seedance-2-0-260128",
        t2v: true,
        i2v: true,
        last_frame: true,
        durations: (4, 15),
        tiers: &[480, 720, 1080],
        audio: true,
        usd_per_m_tokens: (7.0, 7.0),
    },
    Model {
        id: "dreamina-seedance-2-0-fast-260128",
        t2v: true,
        i2v: true,
        last_frame: true,
        durations: (4, 15),
        tiers: &[480, 720],
        audio: true,
        usd_per_m_tokens: (5.6, 5.6),
    },
    Model {
        id: "seedance-1-0-pro-250528",
        t2v: true,
        i2v: true,
        last_frame: true,
        durations: (2, 12),
        tiers: &[480, 720, 1080],
        audio: false,
        usd_per_m_tokens: (2.5, 2.5),
    },
    Model {
        id: "seedance-1-0-pro-fast-251015",
        t2v: true,
        i2v: true,
        last_frame: false,
        durations: (2, 12),
        tiers: &[480, 720, 1080],
        audio: false,
        usd_per_m_tokens: (1.0, 1.0),
    },
    Model {
        id: "seedance-1-0-lite-t2v-250428",
        t2v: true,
        i2v: false,
        last_frame: false,
        durations: (2, 12),
        tiers: &[480, 720, 1080],
        audio: false,
        usd_per_m_tokens: (1.8, 1.8),
    },
    Model {
        id: "seedance-1-0-lite-i2v-250428",
        t2v: false,
        i2v: true,
        last_frame: true,
        durations: (2, 12),
        tiers: &[480, 720, 1080],
        audio: false,
        usd_per_m_tokens: (1.8, 1.8),
    },
];

/// The default model: the newest with sound at a moderate price.
pub const DEFAULT_MODEL: &str = "seedance-1-5-pro-251215";

/// Largest image sent inline as a data URI (UNCONFIRMED; larger ones go through the bucket).
pub const INLINE_MAX: u64 = crate::media::delivery::inline_max_for_data_uri(10 * 1024 * 1024);
/// Largest image accepted at all (UNCONFIRMED).
pub const IMAGE_MAX: u64 = 30 * 1024 * 1024;

/// One frame size: `(ratio, width, height)`.
type Size = (&'static str, u32, u32);

/// Frame sizes per ratio at each tier.
const SIZES: &[(u32, &[Size])] = &[
    (
        480,
        &[
            ("16:9", 864, 480),
            ("4:3", 736, 544),
            ("1:1", 640, 640),
            ("3:4", 544, 736),
            ("9:16", 480, 864),
            ("21:9", 960, 416),
        ],
    ),
    (
        720,
        &[
            ("16:9", 1248, 704),
            ("4:3", 1120, 832),
            ("1:1", 960, 960),
            ("3:4", 832, 1120),
            ("9:16", 704, 1248),
            ("21:9", 1504, 640),
        ],
    ),
    (
        1080,
        &[
            ("16:9", 1920, 1088),
            ("4:3", 1664, 1248),
            ("1:1", 1440, 1440),
            ("3:4", 1248, 1664),
            ("9:16", 1088, 1920),
            ("21:9", 2176, 928),
        ],
    ),
];

/// Every size `model` can make.
pub fn sizes(model: &Model) -> Vec<Resolution> {
    SIZES
        .iter()
        .filter(|(tier, _)| model.tiers.contains(tier))
        .flat_map(|(_, list)| list.iter().map(|(_, w, h)| Resolution::new(*w, *h)))
        .collect()
}

/// `(tier name, ratio)` of a size, such as `("720p", "16:9")`.
pub fn tier_and_ratio(size: Resolution) -> Option<(String, &'static str)> {
    SIZES.iter().find_map(|(tier, list)| {
        list.iter()
            .find(|(_, w, h)| Resolution::new(*w, *h) == size)
            .map(|(ratio, _, _)| (format!("{tier}p"), *ratio))
    })
}

/// Output tokens of a clip, by the published formula (UNCONFIRMED).
pub fn tokens(size: Resolution, fps: u32, secs: u32) -> u64 {
    size.pixels() * u64::from(fps) * u64::from(secs) / 1024
}

/// The model called `id`.
pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

/// Where the prices come from.
pub fn price_source() -> PriceSource {
    PriceSource {
        url: "https://docs.comfy.org/tutorials/partner-nodes/pricing".to_owned(),
        as_of: "2026-12-02".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_720p_five_second_clip_is_about_a_hundred_thousand_tokens() {
        let size = Resolution::new(1248, 704);
        assert_eq!(tokens(size, 24, 5), 102_960);
        assert_eq!(tier_and_ratio(size), Some(("720p".to_owned(), "16:9")));
    }
}
