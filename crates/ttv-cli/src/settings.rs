//! Settings for one run: the configuration resolved into what the commands need.

use std::path::PathBuf;

use ttv::registry::{Registry, RegistrySettings};
use ttv::router::Preference;
use ttv::{AspectRatio, ResolutionSpec, VideoDuration};

use crate::cli::Cli;

/// Request values the configuration supplies when the command line does not.
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults {
    /// `segment_duration_seconds`.
    pub duration: Option<VideoDuration>,
    /// `video_aspect_ratio`.
    pub aspect: Option<AspectRatio>,
    /// `size`.
    pub resolution: Option<ResolutionSpec>,
    /// `base_seed`.
    pub seed: Option<u64>,
}

/// What the commands need.
pub struct Settings {
    /// The backends.
    pub registry: Registry,
    /// `default_backend`.
    pub default_backend: String,
    /// How `auto` ranks backends.
    pub preference: Preference,
    /// Where videos go when `--out` is not given.
    pub output_dir: PathBuf,
    /// Request defaults.
    pub defaults: RequestDefaults,
}

/// Loads the settings for this run.
pub fn load(_cli: &Cli) -> anyhow::Result<Settings> {
    Ok(Settings {
        // Hosted backends read their standard variables (RUNWAYML_API_SECRET, MINIMAX_API_KEY,
        // FAL_KEY, RUNWAYML_BASE_URL, MINIMAX_API_HOST) until the YAML loader lands.
        registry: Registry::new(&RegistrySettings::from_env()),
        default_backend: "auto".to_owned(),
        preference: Preference::default(),
        output_dir: PathBuf::from("."),
        defaults: RequestDefaults::default(),
    })
}
