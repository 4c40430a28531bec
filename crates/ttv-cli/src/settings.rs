//! Settings for one run: the configuration resolved into what the commands need.

use std::path::{Path, PathBuf};

use ttv::budget::Budget;
use ttv::limits::LimitSettings;
use ttv::registry::{Registry, RegistrySettings};
use ttv::retry::RetryPolicy;
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

    // --- Jobs, retries (issue 6). The YAML loader fills these from `store{data_dir}` and
    // `remote_api_settings{max_retries, timeout}`; `load()` gives the defaults and env. ---
    /// Folder of the job store: `--data-dir`, `TTV_DATA_DIR`, config `store.data_dir`, else
    /// the platform data folder.
    pub data_dir: PathBuf,
    /// Retries of polls, downloads and provably-unsent submits
    /// (`remote_api_settings.max_retries`; `timeout` is `call_timeout`, in seconds).
    pub retry: RetryPolicy,
    /// Spending limits checked before every submit (`budget`).
    pub budget: Budget,
    /// Backends to try, in order, when the chosen one fails in a way another may not
    /// (`remote_api_settings.fallback_backend`, a name or a list).
    pub fallback: Vec<String>,
    /// Whether a content rejection also moves on to the next backend
    /// (`routing.fallback_on_content_rejection`).
    pub fallback_on_content_rejection: bool,
    /// Jobs in flight and request rates, overall and per backend (`limits`).
    pub limits: LimitSettings,
    // --- end of issue 6 fields ---
}

/// Loads the settings for this run.
pub fn load(cli: &Cli) -> anyhow::Result<Settings> {
    Ok(Settings {
        // Hosted backends read their standard variables (RUNWAYML_API_SECRET, MINIMAX_API_KEY,
        // FAL_KEY, RUNWAYML_BASE_URL, MINIMAX_API_HOST) until the YAML loader lands.
        registry: Registry::new(&RegistrySettings::from_env()),
        default_backend: "auto".to_owned(),
        preference: Preference::default(),
        output_dir: PathBuf::from("."),
        defaults: RequestDefaults::default(),
        data_dir: data_dir(cli.data_dir.as_deref()),
        retry: RetryPolicy::default(),
        budget: Budget::default(),
        fallback: Vec::new(),
        fallback_on_content_rejection: false,
        limits: LimitSettings::default(),
    })
}

/// The job store folder: the flag, else `TTV_DATA_DIR`, else the platform data folder
/// (`$XDG_DATA_HOME/ttv`, `~/.local/share/ttv`, `~/Library/Application Support/ttv`,
/// `%APPDATA%\ttv`), else `./.ttv`.
pub fn data_dir(flag: Option<&Path>) -> PathBuf {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = env("TTV_DATA_DIR") {
        return dir;
    }
    let platform = if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Application Support"))
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local").join("share")))
    };
    platform.map_or_else(|| PathBuf::from(".ttv"), |d| d.join("ttv"))
}
