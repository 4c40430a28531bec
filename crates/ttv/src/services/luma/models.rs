//! Luma's Ray models: which API serves each, tiers, durations, and price per clip.
//!
//! Prices are US dollars per clip (UNCONFIRMED, read 2026-12-02): Ray 3.2 from fal's Ray 3.2
//! pages (5 s: $0.72 at 540p, $1.08 at 720p, $2.16 at 1080p; 10 s twice that); Ray 2 and Ray
//! Flash 2 from Comfy's API-node price list (ray-2 5 s / 9 s: 540p $0.40/$0.72, 720p
//! $0.71/$1.27, 1080p $1.59/$2.87, 4k $6.37/$11.47; ray-flash-2 4k $2.19/$3.94, the lower
//! tiers scaled from it); Ray 1.6 720p 5 s $0.35.

use crate::cost::PriceSource;

/// Which API a model lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The Agents API.
    Agents,
    /// The legacy Dream Machine API.
    DreamMachine,
}

/// One Ray model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The API's model id.
    pub id: &'static str,
    /// Where it is served.
    pub surface: Surface,
    /// `(tier, [(seconds, US dollars)])`.
    pub prices: &'static [(u32, &'static [(u32, f64)])],
    /// Aspect ratios.
    pub aspects: &'static [&'static str],
}

const AGENT_ASPECTS: &[&str] = &["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"];
const DREAM_ASPECTS: &[&str] = &["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21"];

/// Every supported model.
pub const MODELS: &[Model] = &[
    Model {
        id: "ray-3.2",
        surface: Surface::Agents,
        prices: &[
            (540, &[(5, 0.72), (10, 1.44)]),
            (720, &[(5, 1.08), (10, 2.16)]),
            (1080, &[(5, 2.16), (10, 4.32)]),
        ],
        aspects: AGENT_ASPECTS,
    },
    Model {
        id: "ray-2",
        surface: Surface::DreamMachine,
        prices: &[
            (540, &[(5, 0.40), (9, 0.72)]),
            (720, &[(5, 0.71), (9, 1.27)]),
            (1080, &[(5, 1.59), (9, 2.87)]),
            (2160, &[(5, 6.37), (9, 11.47)]),
        ],
        aspects: DREAM_ASPECTS,
    },
    Model {
        id: "ray-flash-2",
        surface: Surface::DreamMachine,
        prices: &[
            (540, &[(5, 0.14), (9, 0.25)]),
            (720, &[(5, 0.24), (9, 0.44)]),
            (1080, &[(5, 0.55), (9, 0.99)]),
            (2160, &[(5, 2.19), (9, 3.94)]),
        ],
        aspects: DREAM_ASPECTS,
    },
    Model {
        id: "ray-1-6",
        surface: Surface::DreamMachine,
        prices: &[(720, &[(5, 0.35)])],
        aspects: DREAM_ASPECTS,
    },
];

/// The default model.
pub const DEFAULT_MODEL: &str = "ray-3.2";

/// Largest image sent inline on the Agents API (UNCONFIRMED); larger go through the bucket.
pub const INLINE_MAX: u64 = crate::media::delivery::inline_max_for_data_uri(10 * 1024 * 1024);
/// Largest image ttv hands Luma by URL.
pub const IMAGE_MAX: u64 = 32 * 1024 * 1024;

/// The model called `id`.
pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

/// The wire name of a tier (`720p`, `4k`).
pub fn tier_name(tier: u32) -> String {
    if tier == 2160 {
        "4k".to_owned()
    } else {
        format!("{tier}p")
    }
}

/// Where the prices come from.
pub fn price_source(model: &Model) -> PriceSource {
    PriceSource {
        url: match model.surface {
            Surface::Agents => "https://fal.ai/models/fal-ai/luma-ray-3.2/llms.txt",
            Surface::DreamMachine => "https://docs.comfy.org/tutorials/api-nodes/pricing",
        }
        .to_owned(),
        as_of: "2026-12-02".to_owned(),
    }
}
